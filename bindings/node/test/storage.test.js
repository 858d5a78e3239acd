// Every storage api through bindings/node, async and Sync, each with the exact errMsg of a
// failure; values JSON cannot carry (Date, undefined) revived through dataType.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sandbox, outcome, thrown, config } = require('./helpers');
const wxfs = require('..');

async function fails(fn, option, errMsg, errCode) {
  const o = await outcome(fn, option);
  assert.equal(o.kind, 'fail', JSON.stringify(o.res));
  assert.deepEqual(o.res, { errMsg, errCode });
}

async function succeeds(fn, option) {
  const o = await outcome(fn, option);
  assert.equal(o.kind, 'success', JSON.stringify(o.res));
  return o.res;
}

function syncFails(f, errMsg, errCode) {
  const e = thrown(f);
  assert.equal(e.message, errMsg);
  assert.equal(e.errMsg, errMsg);
  assert.equal(e.errCode, errCode);
}

test('setStorage / setStorageSync / getStorage / getStorageSync', async () => {
  const { wx } = sandbox('kv');
  assert.deepEqual(await succeeds(wx.setStorage, { key: 'a', data: { n: 1, s: 'é' } }), { errMsg: 'setStorage:ok' });
  assert.deepEqual(await succeeds(wx.getStorage, { key: 'a' }), { errMsg: 'getStorage:ok', data: { n: 1, s: 'é' } });
  assert.equal(wx.setStorageSync('b', [1, 'two', null]), undefined);
  assert.deepEqual(wx.getStorageSync('b'), [1, 'two', null]);
  assert.equal(wx.getStorageSync('missing'), '', 'a missing key reads as ""');
  await fails(wx.getStorage, { key: 'missing' }, 'getStorage:fail data not found', 1400001);
  await fails(wx.setStorage, { key: '', data: 1 }, 'setStorage:fail parameter error: key should not be empty', 1400004);
  syncFails(() => wx.setStorageSync('', 1), 'setStorageSync:fail parameter error: key should not be empty', 1400004);
  syncFails(() => wx.getStorageSync(''), 'getStorageSync:fail parameter error: key should not be empty', 1400004);
});

test('the item limit: the old value is kept', async () => {
  const { wx } = sandbox('kvlimit', { limits: { storageItem: 64 } });
  wx.setStorageSync('k', 'small');
  const e = thrown(() => wx.setStorageSync('k', 'x'.repeat(100)));
  assert.equal(e.errCode, 1400002);
  assert.match(e.errMsg, /^setStorageSync:fail /);
  const o = await outcome(wx.setStorage, { key: 'k', data: 'y'.repeat(100) });
  assert.equal(o.kind, 'fail');
  assert.equal(o.res.errMsg, e.errMsg.replace('setStorageSync', 'setStorage'));
  assert.equal(wx.getStorageSync('k'), 'small');
});

test('removeStorage / removeStorageSync / clearStorage / clearStorageSync / getStorageInfo / getStorageInfoSync', async () => {
  const { sb, wx } = sandbox('kvinfo');
  wx.setStorageSync('a', 'x'.repeat(2000));
  wx.setStorageSync('b', 1);
  const info = await succeeds(wx.getStorageInfo, {});
  assert.deepEqual(info.keys.sort(), ['a', 'b']);
  assert.equal(info.limitSize, 10240);
  assert.equal(info.currentSize, 2);
  const sync = wx.getStorageInfoSync();
  assert.deepEqual(Object.keys(sync).sort(), ['currentSize', 'keys', 'limitSize'], 'the Sync form returns the info, no errMsg');
  await succeeds(wx.removeStorage, { key: 'a' });
  assert.equal(wx.removeStorageSync('b'), undefined);
  assert.deepEqual(wx.getStorageInfoSync().keys, []);
  await fails(wx.removeStorage, { key: '' }, 'removeStorage:fail parameter error: key should not be empty', 1400004);
  syncFails(() => wx.removeStorageSync(''), 'removeStorageSync:fail parameter error: key should not be empty', 1400004);
  wx.setStorageSync('c', 3);
  await succeeds(wx.clearStorage, {});
  assert.equal(wx.getStorageSync('c'), '');
  wx.setStorageSync('d', 4);
  assert.equal(wx.clearStorageSync(), undefined);
  assert.equal(wx.getStorageSync('d'), '');
  sb.close();
  await fails(wx.clearStorage, {}, 'clearStorage:fail invalid sandbox handle', -2);
  await fails(wx.getStorageInfo, {}, 'getStorageInfo:fail invalid sandbox handle', -2);
  syncFails(() => wx.clearStorageSync(), 'clearStorageSync:fail invalid sandbox handle', -2);
  syncFails(() => wx.getStorageInfoSync(), 'getStorageInfoSync:fail invalid sandbox handle', -2);
});

test('batchSetStorage / batchSetStorageSync / batchGetStorage / batchGetStorageSync', async () => {
  const { wx } = sandbox('batch');
  const when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6));
  await succeeds(wx.batchSetStorage, { kvList: [{ key: 'a', value: 1 }, { key: 'd', value: when }] });
  assert.equal(wx.batchSetStorageSync([{ key: 'b', value: { x: [2] } }, { key: 'u', value: undefined }]), undefined);
  const got = await succeeds(wx.batchGetStorage, { keyList: ['a', 'b', 'missing', 'd', 'u'] });
  assert.equal(got.dataList.length, 5);
  assert.deepEqual(got.dataList.slice(0, 3), [1, { x: [2] }, '']);
  assert.ok(got.dataList[3] instanceof Date);
  assert.equal(got.dataList[3].getTime(), when.getTime());
  assert.equal(got.dataList[4], undefined);
  assert.ok(!('dataTypeList' in got), 'the revival data stays inside the binding');
  const sync = wx.batchGetStorageSync(['d', 'a']);
  assert.equal(sync[0].toISOString(), when.toISOString());
  assert.equal(sync[1], 1);
  await fails(wx.batchSetStorage, { kvList: [{ key: '', value: 1 }] }, 'batchSetStorage:fail parameter error: key should not be empty', 1400004);
  syncFails(
    () => wx.batchGetStorageSync([1]),
    'batchGetStorageSync:fail parameter error: parameter.keyList[] should be String instead of Number;',
    1400004,
  );
  await fails(
    wx.batchGetStorage,
    { keyList: [1] },
    'batchGetStorage:fail parameter error: parameter.keyList[] should be String instead of Number;',
    1400004,
  );
  syncFails(() => wx.batchSetStorageSync([{ key: '', value: 1 }]), 'batchSetStorageSync:fail parameter error: key should not be empty', 1400004);
});

test('Date and undefined come back as Date and undefined, async and Sync, across a reopen', async () => {
  const { sb, wx, reopen } = sandbox('types');
  const when = new Date(1700000000123);
  wx.setStorageSync('date', when);
  wx.setStorageSync('undef', undefined);
  await succeeds(wx.setStorage, { key: 'date2', data: new Date(5) });
  wx.setStorageSync('null', null);
  wx.setStorageSync('nested', { at: when });
  sb.close();
  const w2 = reopen().wx;
  const d = w2.getStorageSync('date');
  assert.ok(d instanceof Date);
  assert.equal(d.getTime(), 1700000000123);
  assert.equal(w2.getStorageSync('undef'), undefined);
  assert.ok(w2.getStorageInfoSync().keys.includes('undef'), 'undefined is stored, not dropped');
  const r = await succeeds(w2.getStorage, { key: 'date2' });
  assert.ok(r.data instanceof Date);
  assert.equal(r.data.getTime(), 5);
  assert.deepEqual(Object.keys(r), ['errMsg', 'data']);
  assert.equal(w2.getStorageSync('null'), null);
  assert.deepEqual(w2.getStorageSync('nested'), { at: when.toISOString() }, 'nested Dates go through JSON, as in WeChat');
  const invalid = new Date(NaN);
  w2.setStorageSync('bad', invalid);
  assert.ok(Number.isNaN(w2.getStorageSync('bad').getTime()));
});

test('legacy wx.saveFile / getSavedFileList / getSavedFileInfo / removeSavedFile / getFileInfo', async () => {
  const { sb, wx } = sandbox('legacy');
  assert.equal(wx.saveFileSync, undefined);
  const tmp = sb.invoke('host.createTempFile', { data: 'legacy', extension: 'txt' }).tempFilePath;
  const info = await succeeds(wx.getFileInfo, { filePath: tmp });
  assert.deepEqual(info, { errMsg: 'getFileInfo:ok', size: 6, digest: require('crypto').createHash('md5').update('legacy').digest('hex') });
  const saved = (await succeeds(wx.saveFile, { tempFilePath: tmp })).savedFilePath;
  assert.match(saved, /^wxfile:\/\/store_/);
  await fails(wx.saveFile, { tempFilePath: tmp }, 'saveFile:fail tempFilePath file not exist', 1301112);
  const list = await succeeds(wx.getSavedFileList, {});
  assert.deepEqual(list.fileList.map((f) => f.filePath), [saved]);
  const one = await succeeds(wx.getSavedFileInfo, { filePath: saved });
  assert.equal(one.size, 6);
  assert.equal(one.createTime, list.fileList[0].createTime);
  await succeeds(wx.removeSavedFile, { filePath: saved });
  await fails(wx.getSavedFileInfo, { filePath: saved }, 'getSavedFileInfo:fail file not exist', 1300002);
  await fails(wx.removeSavedFile, { filePath: saved }, 'removeSavedFile:fail file not exist', 1300002);
  await fails(wx.getFileInfo, { filePath: 'wxfile://tmp_nope' }, 'getFileInfo:fail file not exist', 1300002);
  sb.close();
  await fails(wx.getSavedFileList, {}, 'getSavedFileList:fail invalid sandbox handle', -2);
});

test('the wx subset never exposes host.* and derives its surface from the library', () => {
  const { wx, sb } = sandbox('surface');
  const names = Object.keys(wx).concat(Object.keys(wx.getFileSystemManager()));
  assert.ok(!names.some((n) => n.startsWith('host')), names.join());
  assert.equal(wx.env.USER_DATA_PATH, 'wxfile://usr');
  assert.equal(wx.canIUse('getFileSystemManager'), true);
  assert.equal(wx.canIUse('setStorageSync'), true);
  assert.equal(wx.canIUse('batchGetStorageSync'), true);
  assert.equal(wx.canIUse('FileSystemManager.readZipEntry'), true);
  assert.equal(wx.canIUse('FileSystemManager.readZipEntrySync'), false);
  assert.equal(wx.canIUse('FileSystemManager.readFileSync'), true);
  assert.equal(wx.canIUse('setStorage.object.encrypt'), true);
  assert.equal(wx.canIUse('setStorage.object.nope'), false);
  assert.equal(wx.canIUse('host.createTempFile'), false);
  assert.equal(wx.canIUse('request'), false);
  assert.equal(wx.canIUse('env.USER_DATA_PATH'), true);
  const http = sandbox('surfacehttp', { protocol: 'http' });
  assert.equal(http.wx.env.USER_DATA_PATH, 'http://usr');
  http.fs.writeFileSync('http://usr/a', 'x');
  assert.equal(http.fs.readFileSync('http://usr/a', 'utf8'), 'x');
  const raw = sb.invoke('host.realPath', { path: 'wxfile://usr' });
  assert.equal(raw.errMsg, 'host.realPath:ok');
  assert.equal(typeof raw.realPath, 'string');
});

test('wx.createBufferURL / wx.revokeBufferURL: a wxblob:// URL the host resolves, bounded, freed on revoke', () => {
  const { wx, sb } = sandbox('bufferurl', { limits: { bufferUrls: 8 } });
  assert.equal(wx.canIUse('createBufferURL'), true);
  assert.equal(wx.canIUse('revokeBufferURL'), true);
  const url = wx.createBufferURL(new Uint8Array([9, 1, 2, 3, 4, 5]).subarray(1, 5));
  assert.match(url, /^wxblob:\/\/[0-9a-f]{32}$/);
  const r = sb.invoke('host.resolveBufferURL', { url });
  assert.equal(r.errMsg, 'host.resolveBufferURL:ok');
  assert.deepEqual([...new Uint8Array(r.data)], [1, 2, 3, 4]);
  assert.throws(() => wx.createBufferURL(new ArrayBuffer(5)), (e) => e.errCode === 1400102);
  assert.equal(wx.revokeBufferURL(url), undefined);
  assert.equal(sb.invoke('host.resolveBufferURL', { url }).errCode, 1300002);
  assert.match(wx.createBufferURL(new ArrayBuffer(8)), /^wxblob:\/\//);
});

test('a plugin (config pluginId) has its own storage and lacks what WeChat plugins lack', () => {
  const { wx, base } = sandbox('plugin');
  const plugin = wxfs.open(config(base, { pluginId: 'wxPluginA' })).wx;
  wx.setStorageSync('k', 'app');
  plugin.setStorageSync('k', 'plugin');
  assert.equal(wx.getStorageSync('k'), 'app');
  assert.equal(plugin.getStorageSync('k'), 'plugin');
  for (const name of ['getStorageInfoSync', 'clearStorage', 'batchGetStorage', 'saveFile', 'getFileInfo', 'createBufferURL']) {
    assert.equal(plugin.canIUse(name), false, name);
    assert.equal(wx.canIUse(name), true, name);
  }
  assert.equal(typeof plugin.getFileSystemManager().saveFile, 'undefined');
  assert.equal(typeof plugin.getFileSystemManager().readFile, 'function');
});

test('wx.setStorage / wx.getStorage with encrypt: true, a Date revived, and the plain read told why', async () => {
  const { wx } = sandbox('encrypt', { encryptionKey: 'AAECAwQFBgcICQoLDA0ODw==' });
  const when = new Date('2024-05-06T07:08:09.000Z');
  assert.equal((await outcome(wx.setStorage, { key: 'when', data: when, encrypt: true })).kind, 'success');
  const got = await outcome(wx.getStorage, { key: 'when', encrypt: true });
  assert.equal(got.kind, 'success');
  assert.ok(got.res.data instanceof Date && got.res.data.getTime() === when.getTime(), String(got.res.data));
  const plain = await outcome(wx.getStorage, { key: 'when' });
  assert.equal(plain.kind, 'fail');
  assert.equal(plain.res.errCode, 1400008);
  assert.equal(wx.getStorageSync('when'), '');
  assert.deepEqual(wx.getStorageInfoSync().keys, ['when']);
  const noKey = sandbox('encrypt-nokey').wx;
  assert.equal((await outcome(noKey.setStorage, { key: 'k', data: 1, encrypt: true })).res.errCode, 1400006);
});

test('setStorageSync / getStorageSync (typed calls in bindings/node) answer exactly as the bridge does', () => {
  const { sb, wx } = sandbox('kv-typed', { limits: { storageItem: 200 } });
  const when = new Date(1733000000000);
  const values = [
    ['s', 'text with "quotes" and é'],
    ['n', 12.5],
    ['o', { a: [1, { b: null }], c: 'x' }],
    ['t', true],
    ['z', null],
    ['d', when],
    ['u', undefined],
  ];
  for (const [k, v] of values) {
    wx.setStorageSync(k, v);
    // What the typed set stored, read through the bridge, and what the typed get reads.
    const raw = sb.invoke('getStorageSync', { key: k });
    assert.equal(raw.errMsg, 'getStorageSync:ok');
    assert.deepEqual(wx.getStorageSync(k), v, k);
  }
  assert.equal(sb.invoke('getStorageSync', { key: 'd' }).dataType, 'Date');
  // Set through the bridge, read through the typed get.
  sb.invoke('setStorageSync', { key: 'b', data: 5, dataType: 'Date' });
  assert.deepEqual(wx.getStorageSync('b'), new Date(5));
  // A missing key is WeChat's '' and a refused set WeChat's words, from the bridge.
  assert.equal(wx.getStorageSync('missing'), '');
  syncFails(() => wx.setStorageSync('big', 'x'.repeat(300)), 'setStorageSync:fail exceed storage item max length', 1400002);
  assert.equal(wx.getStorageSync('s'), values[0][1], 'a refused set changed nothing');
  assert.deepEqual(sb.invoke('getStorageInfoSync', {}).keys.sort(), ['b', 'd', 'n', 'o', 's', 't', 'u', 'z']);
  sb.close();
});

test('getStorageSync never answers a value it read before once the key changed, by any path', async () => {
  const { wx } = sandbox('kv-kept');
  // Each value is read twice, so that a binding that keeps what it read (bindings/node,
  // bindings/jsc) answers the second read from what it kept.
  const reads = (key, v, what) => {
    assert.deepEqual(wx.getStorageSync(key), v, what);
    assert.deepEqual(wx.getStorageSync(key), v, what);
  };
  wx.setStorageSync('k', { v: 1 });
  reads('k', { v: 1 }, 'set');
  wx.setStorageSync('k', { v: 2 });
  reads('k', { v: 2 }, 'setStorageSync');
  wx.setStorageSync('k', { v: 2 });
  reads('k', { v: 2 }, 'the same value set again');
  await succeeds(wx.setStorage, { key: 'k', data: { v: 3 } });
  reads('k', { v: 3 }, 'setStorage');
  wx.removeStorageSync('k');
  reads('k', '', 'removeStorageSync');
  wx.setStorageSync('k', { v: 4 });
  reads('k', { v: 4 }, 'set after a removal');
  wx.clearStorageSync();
  reads('k', '', 'clearStorageSync');
  wx.setStorageSync('k', { v: 5 });
  reads('k', { v: 5 }, 'set after a clear');
  wx.batchSetStorageSync([{ key: 'k', value: { v: 6 } }]);
  reads('k', { v: 6 }, 'batchSetStorageSync');
  await succeeds(wx.batchSetStorage, { kvList: [{ key: 'k', value: { v: 7 } }] });
  reads('k', { v: 7 }, 'batchSetStorage');
  await succeeds(wx.removeStorage, { key: 'k' });
  reads('k', '', 'removeStorage');
  wx.setStorageSync('k', new Date(8));
  reads('k', new Date(8), 'a value with a dataType');
  wx.setStorageSync('k', 9);
  reads('k', 9, 'a plain value after one with a dataType');
  wx.setStorageSync('k', new Date(10));
  reads('k', new Date(10), 'a value with a dataType after a plain one');
  const long = 'x'.repeat(2000);
  wx.setStorageSync('k', long);
  reads('k', long, 'a value too long to keep');
  wx.setStorageSync('k', 11);
  reads('k', 11, 'a short value after a long one');
  await succeeds(wx.clearStorage, {});
  reads('k', '', 'clearStorage');

  // A compaction rewrites the log, the live items first to last (docs/storage-engine.md,
  // Compaction): 'k', the first item of a fresh store, is at the same offset in the new log as its
  // first value was in the old one. Its value changes unread, then sets of another key rewrite
  // the log: the log never grows past 1.5 x its live data + 64 of its longest records, so 200
  // sets of 40 KB compact it more than once.
  const c = sandbox('kv-kept-compact');
  c.wx.setStorageSync('k', { v: 'first' });
  assert.deepEqual(c.wx.getStorageSync('k'), { v: 'first' });
  assert.deepEqual(c.wx.getStorageSync('k'), { v: 'first' });
  c.wx.setStorageSync('k', { v: 'later' });
  const big = 'y'.repeat(40000);
  for (let i = 0; i < 200; i++) c.wx.setStorageSync('other', big + i);
  assert.deepEqual(c.wx.getStorageSync('k'), { v: 'later' }, 'after compactions');
  assert.deepEqual(c.wx.getStorageSync('k'), { v: 'later' }, 'after compactions');
  assert.equal(c.wx.getStorageSync('other'), big + 199);

  // The same key in two sandboxes, and in one sandbox reopened.
  const a = sandbox('kv-kept-a');
  const b = sandbox('kv-kept-b');
  a.wx.setStorageSync('k', 'in a');
  b.wx.setStorageSync('k', 'in b');
  for (let i = 0; i < 2; i++) {
    assert.equal(a.wx.getStorageSync('k'), 'in a');
    assert.equal(b.wx.getStorageSync('k'), 'in b');
  }
  b.wx.setStorageSync('k', 'in b again');
  assert.equal(a.wx.getStorageSync('k'), 'in a');
  assert.equal(b.wx.getStorageSync('k'), 'in b again');
  a.sb.close();
  const a2 = a.reopen();
  assert.equal(a2.wx.getStorageSync('k'), 'in a', 'reopened');
  a2.wx.setStorageSync('k', 'in a, reopened');
  assert.equal(a2.wx.getStorageSync('k'), 'in a, reopened');
  assert.equal(a2.wx.getStorageSync('k'), 'in a, reopened');
  assert.equal(b.wx.getStorageSync('k'), 'in b again');
  a2.close();
  b.sb.close();
  c.sb.close();
});
