// The npm package's own rules, checked in the checkout (packaging/test-artifacts.sh installs the
// built package): where the library is looked for outside a checkout, and what a platform without
// a prebuild is told.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const wxfs = require('..');

const notFound = (name) => Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });

test('napi-rs platform names', () => {
  assert.equal(wxfs.platformTriple({ platform: 'linux', arch: 'x64', glibc: true }), 'linux-x64-gnu');
  assert.equal(wxfs.platformTriple({ platform: 'linux', arch: 'arm64', glibc: false }), 'linux-arm64-musl');
  assert.equal(wxfs.platformTriple({ platform: 'darwin', arch: 'arm64' }), 'darwin-arm64');
  assert.equal(wxfs.platformTriple({ platform: 'win32', arch: 'x64' }), 'win32-x64-msvc');
});

test('outside a checkout: the prebuild package for the platform, else an error naming the platform', () => {
  const resolve = (name) => {
    if (name === 'wxfs-node-linux-x64-gnu') return { lib: '/p/libwxfs.so', addon: '/p/wxfs_node.linux-x64-gnu.node' };
    throw notFound(name);
  };
  const sys = (platform, arch, extra) => ({ checkout: false, platform, arch, glibc: true, resolve, ...extra });
  assert.deepEqual(wxfs.locate({}, sys('linux', 'x64')), { lib: '/p/libwxfs.so', addon: '/p/wxfs_node.linux-x64-gnu.node' });
  assert.throws(
    () => wxfs.locate({}, sys('linux', 'arm64')),
    (e) =>
      e.message.startsWith('wxfs: no prebuilt library for this platform, linux-arm64-gnu (wxfs-node has prebuilds for linux-x64-gnu only).') &&
      e.message.includes('set WXFS_LIB and WXFS_NODE_ADDON'),
  );
  assert.throws(() => wxfs.locate({}, sys('darwin', 'arm64')), /no prebuilt library for this platform, darwin-arm64 /);
  // A supported platform whose optional dependency was left out is told how to get it.
  assert.throws(
    () => wxfs.locate({}, sys('linux', 'x64', { resolve: (n) => { throw notFound(n); } })),
    /the prebuild for linux-x64-gnu \(the optional dependency wxfs-node-linux-x64-gnu\) is not installed: install it \(npm install wxfs-node-linux-x64-gnu@0\.2\.0/,
  );
  // A prebuild that is there but broken is not hidden behind "not installed".
  assert.throws(() => wxfs.locate({}, sys('linux', 'x64', { resolve: () => { throw new SyntaxError('bad'); } })), SyntaxError);
});

test('the package reaches bindings/js as ./js, never as ../js', () => {
  const index = fs.readFileSync(path.join(__dirname, '..', 'index.js'), 'utf8');
  assert.match(index, /require\('\.\/js'\)/);
  assert.doesNotMatch(index, /require\('\.\.\/js'\)/);
  const pkg = require('../package.json');
  for (const f of ['index.js', 'index.d.ts', 'js/', 'LICENSE-MIT', 'LICENSE-APACHE']) assert.ok(pkg.files.includes(f), f);
  assert.equal(pkg.types, 'index.d.ts');
  assert.equal(pkg.private, undefined);
});
