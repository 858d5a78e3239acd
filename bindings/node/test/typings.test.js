// The WeChat dialect table (bindings/js/dialects/wechat.js) against WeChat's official typings
// (`miniprogram-api-typings`, a devDependency): every FileSystemManager method and Sync form,
// the positional parameters of each Sync form in their order, which apis return a Promise; and
// every one of them present on the object bindings/node builds.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const wechat = require('../../js/dialects/wechat');
const { sandbox } = require('./helpers');

const DTS = fs.readFileSync(require.resolve('miniprogram-api-typings/types/wx/lib.wx.api.d.ts'), 'utf8');

/** The body of `interface <name> { ... }`, comments removed. */
function iface(name) {
  const start = DTS.indexOf(`interface ${name} {`);
  assert.ok(start >= 0, `no interface ${name}`);
  const open = DTS.indexOf('{', start);
  for (let depth = 0, j = open; j < DTS.length; j++) {
    if (DTS[j] === '{') depth++;
    else if (DTS[j] === '}' && --depth === 0) return DTS.slice(open, j + 1).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  }
  throw new Error(`unterminated interface ${name}`);
}

/** {method: [{params: [names], returns}]} of an interface's method signatures. */
function methods(name) {
  const out = {};
  const re = /\n\s+([A-Za-z]+)(<[\s\S]*?>)?\(([\s\S]*?)\):\s*([^\n]+)/g;
  const body = iface(name);
  let m;
  while ((m = re.exec(body))) {
    const params = m[3]
      .split(/,(?![^{]*\})/)
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => p.split(/\??:/)[0].trim());
    (out[m[1]] = out[m[1]] || []).push({ params, returns: m[4].trim() });
  }
  return out;
}

test('every FileSystemManager method of the typings, and its Sync form, is in the table with WeChat’s positional order', () => {
  const typed = methods('FileSystemManager');
  const table = wechat.fileSystemManager;
  const asyncNames = Object.keys(typed).filter((n) => !n.endsWith('Sync'));
  assert.deepEqual(Object.keys(table).sort(), asyncNames.sort());
  for (const name of asyncNames) {
    const row = table[name];
    const sync = typed[`${name}Sync`];
    if (!sync) {
      assert.equal(row.sync, null, `${name}: the typings have no ${name}Sync`);
      continue;
    }
    const params = sync[0].params;
    if (params.length === 1 && params[0] === 'option') assert.equal(row.sync, 'option', `${name}Sync takes the option object`);
    else assert.deepEqual(row.sync, params, `${name}Sync positional parameters`);
    assert.match(typed[name][0].returns, /^void$/, `${name} returns void: no Promise`);
  }
  assert.equal(wechat.promise.fileSystemManager, false);
});

test('the storage apis: Sync positional parameters and Promise-returning async forms, as typed', () => {
  const wx = methods('Wx');
  for (const [name, row] of Object.entries(wechat.globals)) {
    if (!wx[name]) continue; // the legacy wx.saveFile family left the typings after 2022 (docs/wechat-behaviour.md §1.1)
    assert.match(wx[name][0].returns, /^PromisifySuccessResult</, `${name} returns a Promise without callbacks`);
    if (row.sync === null) continue;
    assert.ok(wx[`${name}Sync`], `${name}Sync is typed`);
    assert.deepEqual(row.sync, wx[`${name}Sync`][0].params, `${name}Sync positional parameters`);
  }
  assert.equal(wechat.promise.globals, true);
  for (const name of ['setStorage', 'getStorage', 'removeStorage', 'clearStorage', 'getStorageInfo', 'batchSetStorage', 'batchGetStorage']) {
    assert.ok(wx[name], `${name} is typed`);
  }
});

test('bindings/node offers every method the typings give FileSystemManager, and the storage apis', () => {
  const { wx, fs: manager } = sandbox('typings');
  for (const name of Object.keys(methods('FileSystemManager'))) assert.equal(typeof manager[name], 'function', name);
  for (const name of Object.keys(wechat.globals)) assert.equal(typeof wx[name], 'function', name);
  for (const name of ['setStorageSync', 'getStorageSync', 'removeStorageSync', 'clearStorageSync', 'getStorageInfoSync', 'batchSetStorageSync', 'batchGetStorageSync']) {
    assert.equal(typeof wx[name], 'function', name);
  }
});
