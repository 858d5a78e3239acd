// The traps every host meets, each as a test: the seed scenario, Stats, unbound
// methods, positional Sync arguments, readSync into the caller's buffer, callback timing and Sync
// calls inside callbacks, pending async calls keeping Node alive, Promise rules and rejections
// nobody awaits, storage type revival, large files.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawnSync } = require('child_process');
const { sandbox, freshRoot, config, outcome, thrown, wxfs } = require('./helpers');

const U = 'wxfile://usr';
const INDEX = path.resolve(__dirname, '..');

/** Run a script in a child Node with the binding at hand; returns {status, signal, stdout, stderr}. */
function child(script, root) {
  const prelude = `const wxfs = require(${JSON.stringify(INDEX)}); const CONFIG = ${JSON.stringify(config(root))};\n`;
  const r = spawnSync(process.execPath, ['-e', prelude + script], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

test('seed scenario: downloadFile (host.createTempFile) -> saveFile -> setStorageSync -> close, reopen -> getStorageSync -> identical bytes', async () => {
  const base = freshRoot('seed');
  const image = new Uint8Array(777777).map((_, i) => (i * 131 + (i >> 9)) & 255);
  let sb = wxfs.open(config(base));
  // What the host's wx.downloadFile does: the bytes land in a temp file the mini-program gets a path to.
  const downloadFile = ({ success }) => {
    const r = sb.invoke('host.createTempFile', { data: image.buffer, extension: 'jpg' });
    setImmediate(() => success({ tempFilePath: r.tempFilePath, statusCode: 200 }));
  };
  // The mini-program, in its own words.
  const savedFilePath = await new Promise((resolve, reject) => {
    downloadFile({
      success(res) {
        sb.wx.getFileSystemManager().saveFile({
          tempFilePath: res.tempFilePath,
          success(saved) {
            sb.wx.setStorageSync('image_cache', saved.savedFilePath);
            resolve(saved.savedFilePath);
          },
          fail: reject,
        });
      },
    });
  });
  assert.match(savedFilePath, /^wxfile:\/\/store_[0-9a-f]+\.jpg$/);
  assert.equal(sb.close(), 0);
  sb = wxfs.open(config(base));
  const cached = sb.wx.getStorageSync('image_cache');
  assert.equal(cached, savedFilePath);
  const back = sb.wx.getFileSystemManager().readFileSync(cached);
  assert.ok(back instanceof ArrayBuffer);
  assert.ok(Buffer.from(back).equals(Buffer.from(image)), 'the saved file reads back identical');
  sb.close();
});

test('Stats: isFile() and isDirectory() come from mode, on stat, statSync (recursive) and fstat', async () => {
  const { fs } = sandbox('stats');
  fs.mkdirSync(`${U}/d`);
  fs.writeFileSync(`${U}/d/f`, 'x');
  const dir = fs.statSync(`${U}/d`);
  assert.equal(dir.mode & 0o170000, 0o040000);
  assert.equal(dir.isDirectory(), true);
  assert.equal(dir.isFile(), false);
  const file = (await outcome(fs.stat, { path: `${U}/d/f` })).res.stats;
  assert.equal(file.mode & 0o170000, 0o100000);
  assert.deepEqual([file.isFile(), file.isDirectory()], [true, false]);
  assert.deepEqual(Object.keys(file).sort(), ['lastAccessedTime', 'lastModifiedTime', 'mode', 'size']);
  const tree = fs.statSync(`${U}/d`, true);
  assert.deepEqual(tree.map((e) => [e.path, e.stats.isFile(), e.stats.isDirectory()]).sort(), [
    ['/', false, true],
    ['/f', true, false],
  ]);
  const fd = fs.openSync({ filePath: `${U}/d/f` });
  assert.equal(fs.fstatSync({ fd }).isFile(), true);
  // The methods work detached too (SDKs pass them around).
  const { isFile } = file;
  assert.equal(isFile.call(file), true);
});

test('unbound methods: FileSystemManager and wx methods called without their object', async () => {
  const { fs, wx } = sandbox('unbound');
  for (const append of [false, true]) {
    const r = await new Promise((resolve) =>
      (append ? fs.appendFile : fs.writeFile)({ filePath: `${U}/log`, data: append ? 'b' : 'a', complete: resolve }),
    );
    assert.equal(r.errMsg, append ? 'appendFile:ok' : 'writeFile:ok');
  }
  const { readFileSync, statSync } = fs;
  assert.equal(readFileSync(`${U}/log`, 'utf8'), 'ab');
  assert.equal(statSync.call(undefined, `${U}/log`).size, 2);
  const { setStorageSync, getStorageSync, getFileSystemManager } = wx;
  setStorageSync('k', 1);
  assert.equal(getStorageSync.call(null, 'k'), 1);
  assert.equal(getFileSystemManager(), fs, 'one manager');
  const p = [wx.getStorage][0]({ key: 'k' });
  assert.equal((await p).data, 1);
});

test('positional Sync arguments in WeChat’s order, and an option object where WeChat takes one', () => {
  const { sb, fs } = sandbox('positional');
  fs.writeFileSync(`${U}/p`, '414243', 'hex');
  assert.equal(fs.readFileSync(`${U}/p`, 'utf8', 1, 2), 'BC');
  fs.appendFileSync(`${U}/p`, 'RA==', 'base64');
  assert.equal(fs.readFileSync(`${U}/p`, 'latin1'), 'ABCD');
  fs.mkdirSync(`${U}/a/b`, true);
  fs.copyFileSync(`${U}/p`, `${U}/a/b/q`);
  fs.renameSync(`${U}/a/b/q`, `${U}/a/r`);
  assert.deepEqual(fs.readdirSync(`${U}/a`).sort(), ['b', 'r']);
  assert.equal(fs.statSync(`${U}/a`, true).length, 3);
  fs.rmdirSync(`${U}/a`, true);
  fs.unlinkSync(`${U}/p`);
  fs.accessSync('a.txt');
  const t = sb.invoke('host.createTempFile', { data: 'z' }).tempFilePath;
  assert.equal(fs.saveFileSync(t, `${U}/z`), `${U}/z`);
  // The option-object forms.
  const fd = fs.openSync({ filePath: `${U}/z`, flag: 'r+' });
  assert.deepEqual(fs.writeSync({ fd, data: 'Y', position: 0 }), { bytesWritten: 1 });
  fs.ftruncateSync({ fd, length: 1 });
  assert.equal(fs.fstatSync({ fd }).size, 1);
  fs.closeSync({ fd });
  fs.truncateSync({ filePath: `${U}/z`, length: 0 });
  // An object where WeChat takes positional arguments fails as WeChat's parameter check does.
  const e = thrown(() => fs.readFileSync({ filePath: `${U}/z` }));
  assert.equal(e.errMsg, 'readFileSync:fail parameter error: parameter.filePath should be String instead of Object;');
});

test('readSync and read fill the caller’s own ArrayBuffer, in place, at offset', async () => {
  const { fs } = sandbox('readsync');
  const content = new Uint8Array(100000).map((_, i) => i % 253);
  fs.writeFileSync(`${U}/f`, content.buffer);
  const fd = fs.openSync({ filePath: `${U}/f` });
  const mine = new ArrayBuffer(200000);
  const view = new Uint8Array(mine);
  view.fill(7);
  const r = fs.readSync({ fd, arrayBuffer: mine, offset: 50000, length: 100000, position: 0 });
  assert.equal(r.arrayBuffer, mine);
  assert.equal(r.bytesRead, 100000);
  assert.ok(Buffer.from(mine, 50000, 100000).equals(Buffer.from(content)));
  assert.equal(view[49999], 7);
  assert.equal(view[150000], 7);
  const again = await outcome(fs.read, { fd, arrayBuffer: mine, offset: 0, length: 10, position: 99995 });
  assert.equal(again.res.bytesRead, 5, 'a short read at the end of the file');
  assert.equal(again.res.arrayBuffer, mine);
  assert.deepEqual([...view.subarray(0, 6)], [...content.subarray(99995), 7]);
});

test('callbacks never run during the call, and a Sync call inside success does not wait on itself', { timeout: 30000 }, async () => {
  const { fs, wx } = sandbox('timing');
  let returned = false;
  const seen = await new Promise((resolve) => {
    wx.setStorage({
      key: 'k',
      data: 'v',
      success() {
        // A Sync call while the library's worker delivered this result.
        const inside = wx.getStorageSync('k');
        fs.writeFileSync(`${U}/inside`, 'w');
        resolve({ returned, inside, file: fs.readFileSync(`${U}/inside`, 'utf8') });
      },
    });
    returned = true;
  });
  assert.deepEqual(seen, { returned: true, inside: 'v', file: 'w' });
  // One tick: async calls, then a Sync call that must see them (issue order) and not hang.
  for (let i = 0; i < 40; i++) wx.setStorage({ key: 'n', data: i });
  assert.equal(wx.getStorageSync('n'), 39);
  for (let i = 0; i < 40; i++) fs.writeFile({ filePath: `${U}/w`, data: String(i) });
  assert.equal(fs.readFileSync(`${U}/w`, 'utf8'), '39');
  // complete runs after success, each exactly once; order of results is issue order.
  const order = [];
  await new Promise((resolve) => {
    for (let i = 0; i < 10; i++) {
      fs.access({ path: i % 2 ? `${U}/w` : `${U}/nope`, success: () => order.push(`s${i}`), fail: () => order.push(`f${i}`), complete: () => order.push(`c${i}`) });
    }
    fs.access({ path: `${U}/w`, complete: resolve });
  });
  assert.deepEqual(order, Array.from({ length: 10 }, (_, i) => [i % 2 ? `s${i}` : `f${i}`, `c${i}`]).flat());
});

test('a host with no async twin: bindings/js still calls back later, never during the call', async () => {
  const { sb } = sandbox('notwin');
  const addon = wxfs.native();
  // A host whose native side is sync only (bindings/js runs async forms through it).
  const wx = require('../../js').createWx({
    invokeBinary: (api, json, buffers) => addon.invoke(sb.handle, api, json, buffers),
    apis: addon.apiList(sb.handle),
  });
  let returned = false;
  const got = await new Promise((resolve) => {
    wx.setStorage({ key: 'k', data: 1, success: () => resolve({ returned, value: wx.getStorageSync('k') }) });
    returned = true;
  });
  assert.deepEqual(got, { returned: true, value: 1 });
  returned = false;
  const failed = await new Promise((resolve) => {
    wx.getFileSystemManager().readFile({ filePath: `${U}/nope`, fail: (r) => resolve({ returned, errMsg: r.errMsg }) });
    returned = true;
  });
  assert.deepEqual(failed, { returned: true, errMsg: 'readFile:fail no such file or directory, open wxfile://usr/nope' });
});

test('an exception thrown by a callback does not stop complete or later deliveries', async () => {
  const base = freshRoot('throws');
  const r = child(
    `const sb = wxfs.open(CONFIG);
     process.on('uncaughtException', (e) => console.log('uncaught', e.message));
     sb.wx.setStorage({ key: 'a', data: 1, success() { throw new Error('boom'); }, complete() { console.log('complete ran'); } });
     sb.wx.getStorage({ key: 'a', success(r) { console.log('next', r.data); } });`,
    base,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), ['complete ran', 'next 1', 'uncaught boom']);
});

test('a pending async call keeps Node alive, and Node exits once none is pending', () => {
  const base = freshRoot('alive');
  // Nothing else holds the event loop: without a reference Node would exit before the results.
  const r = child(
    `const sb = wxfs.open(CONFIG);
     const fs = sb.wx.getFileSystemManager();
     fs.writeFile({ filePath: 'wxfile://usr/big', data: new ArrayBuffer(32 << 20), success() { console.log('written'); } });
     fs.readFile({ filePath: 'wxfile://usr/big', success(r) { console.log('read', r.data.byteLength); } });
     sb.wx.setStorage({ key: 'k', data: 1 }).then(() => console.log('stored'));`,
    base,
  );
  assert.equal(r.signal, null, 'not killed (a hang would be killed by the timeout)');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['written', `read ${32 << 20}`, 'stored']);
});

test('Node exits cleanly, never aborts, when the last result or process.exit races a worker', () => {
  const base = freshRoot('exitrace');
  // The last delivery lets Node exit while the worker that posted it may still be returning;
  // process.exit() tears the environment down with calls in flight. Neither may abort.
  for (let round = 0; round < 10; round++) {
    const done = child(
      `const fs = wxfs.open(CONFIG).wx.getFileSystemManager();
       for (let i = 0; i < 8; i++) fs.writeFile({ filePath: 'wxfile://usr/d' + i, data: new ArrayBuffer(1 << 20) });`,
      base,
    );
    assert.deepEqual([done.status, done.signal], [0, null], done.stderr);
    const exited = child(
      `const fs = wxfs.open(CONFIG).wx.getFileSystemManager();
       for (let i = 0; i < 20; i++) fs.writeFile({ filePath: 'wxfile://usr/e' + i, data: new ArrayBuffer(1 << 20) });
       setImmediate(() => process.exit(3));`,
      base,
    );
    assert.deepEqual([exited.status, exited.signal], [3, null], exited.stderr);
  }
});

test('Promises: wx.* async apis without callbacks return one, FileSystemManager methods never do', async () => {
  const { fs, wx } = sandbox('promise');
  const p = wx.setStorage({ key: 'a', data: 1 });
  assert.ok(p instanceof Promise);
  assert.deepEqual(await p, { errMsg: 'setStorage:ok' });
  assert.equal(wx.setStorage({ key: 'a', data: 2, success() {} }), undefined, 'with a callback: no Promise');
  assert.ok(wx.getStorageInfo() instanceof Promise, 'no argument at all');
  assert.deepEqual((await wx.getStorage({ key: 'a' })).data, 2);
  await assert.rejects(wx.getStorage({ key: 'missing' }), (e) => {
    assert.deepEqual(e, { errMsg: 'getStorage:fail data not found', errCode: 1400001 });
    return true;
  });
  assert.ok(wx.getSavedFileList() instanceof Promise, 'legacy file apis are ordinary wx.* apis');
  assert.equal(fs.writeFile({ filePath: `${U}/x`, data: 'x' }), undefined);
  assert.equal(fs.readFile({ filePath: `${U}/x` }), undefined);
  assert.equal(fs.getSavedFileList(), undefined);
});

test('arguments JSON cannot carry fail the call, they do not throw from an async form', async () => {
  const { wx, fs } = sandbox('badargs');
  const cyclic = {};
  cyclic.self = cyclic;
  const r = await outcome(wx.setStorage, { key: 'k', data: cyclic });
  assert.equal(r.kind, 'fail');
  assert.match(r.res.errMsg, /^setStorage:fail .*circular/i);
  await assert.rejects(wx.setStorage({ key: 'k', data: 10n }), (e) => /^setStorage:fail .*BigInt/i.test(e.errMsg));
  const w = await outcome(fs.writeFile, { filePath: `${U}/x`, data: 'x', encoding: 1n });
  assert.equal(w.kind, 'fail');
  assert.throws(() => wx.setStorageSync('k', 10n), /BigInt/);
});

test('a rejected Promise nobody awaits does not kill a Node host', () => {
  const base = freshRoot('reject');
  const r = child(
    `const sb = wxfs.open(CONFIG);
     sb.wx.getStorage({ key: 'missing' });          // rejected, never awaited
     sb.wx.removeStorage({ key: '' });              // rejected, never awaited
     sb.wx.getFileSystemManager().readFile({ filePath: 'wxfile://usr/nope' }); // fails, no callback
     setTimeout(() => console.log('still running'), 50);`,
    base,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'still running');
  assert.doesNotMatch(r.stderr, /Unhandled|ERR_UNHANDLED_REJECTION/);
});

test('large files: 20 MiB through writeFileSync/readFileSync and async, as bytes', async () => {
  const { fs } = sandbox('large', { limits: { readFile: 32 << 20 } });
  const big = new Uint8Array(20 << 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 255;
  big[big.length - 1] = 0xab;
  fs.writeFileSync(`${U}/big`, big.buffer);
  const back = fs.readFileSync(`${U}/big`);
  assert.equal(back.byteLength, big.length);
  assert.ok(Buffer.from(back).equals(Buffer.from(big)));
  const asyncBack = await outcome(fs.readFile, { filePath: `${U}/big` });
  assert.ok(Buffer.from(asyncBack.res.data).equals(Buffer.from(big)));
  assert.equal(fs.readFileSync(`${U}/big`, 'hex', big.length - 2, 2), '00ab');
  fs.writeFileSync(`${U}/bigger`, new ArrayBuffer(33 << 20));
  const e = thrown(() => fs.readFileSync(`${U}/bigger`));
  assert.equal(e.errMsg, 'readFileSync:fail native buffer exceed size limit');
  assert.equal(e.errCode, 1300202);
});

test('a buffer a getter detaches while the buffer list is read is passed as it is then (empty), not as memory it no longer owns', () => {
  const { sb, fs } = sandbox('detach');
  const addon = wxfs.native();
  const views = { ArrayBuffer: (b) => b, Uint8Array: (b) => new Uint8Array(b, 2), DataView: (b) => new DataView(b, 1, 5), Float64Array: (b) => new Float64Array(b) };
  for (const [kind, view] of Object.entries(views)) {
    const lent = new TextEncoder().encode('stale bytes 0123').buffer;
    const moved = [];
    const list = [view(lent)];
    // Reading element 1 runs JavaScript that moves element 0's memory to another ArrayBuffer.
    Object.defineProperty(list, 1, {
      get() {
        moved.push(structuredClone(lent, { transfer: [lent] }));
        return new ArrayBuffer(0);
      },
      enumerable: true,
    });
    const json = JSON.stringify({ filePath: `${U}/detached`, __nativeBuffers__: [{ key: 'data', index: 0 }] });
    assert.equal(addon.invoke(sb.handle, 'writeFileSync', json, list), '{"errMsg":"writeFileSync:ok"}', kind);
    assert.equal(lent.byteLength, 0, kind);
    assert.equal(new TextDecoder().decode(moved[0]), 'stale bytes 0123', kind);
    assert.equal(fs.readFileSync(`${U}/detached`, 'utf8'), '', kind);
  }
});

test('a buffer list claiming 2^32 - 1 elements gets an exception, and the host stays alive', () => {
  const base = freshRoot('sparse');
  const r = child(
    `const sb = wxfs.open(CONFIG);
     const list = [];
     list.length = 2 ** 32 - 1;
     try { wxfs.native().invoke(sb.handle, 'accessSync', '{"path":"wxfile://usr"}', list); } catch (e) { console.log(e.message); }
     console.log(sb.wx.getFileSystemManager().accessSync('wxfile://usr') === undefined ? 'alive' : 'odd');`,
    base,
  );
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['wxfs addon: a buffer must be an ArrayBuffer, a typed array or a DataView', 'alive']);
});
