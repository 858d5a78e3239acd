// Edges of the `wx` object that mini-program code meets: canIUse of the FileSystemManager class
// itself, and read/readSync given no buffer of their own (the bridge-only `arrayBufferLength`
// included), in the Sync form and in the async form, whose callbacks must run whatever happens.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const path = require('path');
const { sandbox, outcome, thrown, freshRoot, config } = require('./helpers');

const U = 'wxfile://usr';

test('canIUse: the FileSystemManager class is there when its methods are', () => {
  const { wx } = sandbox('caniuse');
  assert.equal(wx.canIUse('FileSystemManager.readFile'), true);
  assert.equal(wx.canIUse('FileSystemManager'), true);
  assert.equal(wx.canIUse('FileSystemManager.noSuchMethod'), false);
  assert.equal(wx.canIUse('FileSystemManager.'), false);
});

/** A sandbox holding `hello` in usr/a, opened for reading. */
function withFile(tag) {
  const s = sandbox(tag);
  s.fs.writeFileSync(`${U}/a`, 'hello');
  s.fd = s.fs.openSync({ filePath: `${U}/a` });
  return s;
}

test('readSync with arrayBufferLength and no arrayBuffer: the library\'s failure, not a TypeError', () => {
  const { fs, fd } = withFile('readsync-nobuf');
  for (const args of [{ fd, arrayBufferLength: 4 }, { fd, arrayBufferLength: 4, length: 4 }, { fd, arrayBufferLength: 4, length: 4, position: 0 }]) {
    const e = thrown(() => fs.readSync(args));
    assert.equal(e.constructor, Error, `${JSON.stringify(args)}: ${e.stack}`);
    assert.equal(e.message, 'readSync:fail array buffer does not exist');
    assert.equal(e.errCode, 1302005);
  }
  // The same answer as with no length at all, and a real buffer still works.
  assert.equal(thrown(() => fs.readSync({ fd })).message, 'readSync:fail array buffer does not exist');
  const buf = new ArrayBuffer(5);
  assert.equal(fs.readSync({ fd, arrayBuffer: buf, length: 5, position: 0 }).bytesRead, 5);
  assert.equal(Buffer.from(buf).toString(), 'hello');
});

test('read with arrayBufferLength and no arrayBuffer: fail and complete run with the library\'s errMsg', async () => {
  const { fs, fd } = withFile('read-nobuf');
  const r = await outcome(fs.read, { fd, arrayBufferLength: 4, length: 4, position: 0 });
  assert.deepEqual(r, { kind: 'fail', res: { errMsg: 'read:fail array buffer does not exist', errCode: 1302005 }, completed: true });
});

test('an async call whose result cannot be shaped still calls fail and complete, and the host lives', () => {
  // In a child so that a throw inside the addon's dispatcher (fatal under Node-API's strict
  // exception policy) shows as the child dying rather than as this runner's uncaught exception.
  const root = freshRoot('read-child');
  const script = `
    const wxfs = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    const sb = wxfs.open(${JSON.stringify(config(root))});
    const fs = sb.wx.getFileSystemManager();
    fs.writeFileSync('${U}/a', 'hello');
    const fd = fs.openSync({ filePath: '${U}/a' });
    const seen = [];
    fs.read({ fd, arrayBufferLength: 4, length: 4, position: 0,
      success: () => seen.push('success'), fail: (r) => seen.push('fail ' + r.errMsg),
      complete: () => { seen.push('complete'); console.log(JSON.stringify(seen)); sb.close(); } });
  `;
  const r = spawnSync(process.execPath, ['--force-node-api-uncaught-exceptions-policy=true', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), JSON.stringify(['fail read:fail array buffer does not exist', 'complete']));
});
