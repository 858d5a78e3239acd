// my, tt, swan and qq through bindings/node: the object named by the config's
// `platform`, built by bindings/js from the same core as wx, with each platform's paths,
// envelope, argument shapes and Sync failure behaviour (docs/platforms/).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { freshRoot, config, outcome, thrown, wxfs } = require('./helpers');

function open(platform, extra) {
  const base = freshRoot(platform);
  return { sb: wxfs.open(config(base, { platform, ...extra })), base };
}

test('each platform gets its own object, env.USER_DATA_PATH and only its documented methods', () => {
  const expected = { alipay: ['my', 'https://usr'], douyin: ['tt', 'ttfile://user'], baidu: ['swan', 'bdfile://usr'], qq: ['qq', 'qqfile://usr'] };
  for (const [platform, [name, usr]] of Object.entries(expected)) {
    const { sb } = open(platform);
    assert.equal(sb.wx, undefined, `${platform} has no wx`);
    assert.equal(sb[name], sb.api);
    assert.equal(sb.platform, platform);
    assert.equal(sb.api.env.USER_DATA_PATH, usr);
    const fsm = sb.api.getFileSystemManager();
    assert.equal(typeof fsm.writeFileSync, 'function');
    assert.equal(fsm.readZipEntry, undefined, `${platform}: readZipEntry is WeChat's`);
    assert.equal(sb.api.batchGetStorageSync, undefined, `${platform}: batch storage is WeChat's`);
    sb.close();
  }
  const { sb } = open('alipay');
  const fsm = sb.my.getFileSystemManager();
  assert.equal(fsm.openSync, undefined, 'Alipay has no fd apis');
  assert.equal(typeof fsm.getFileInfoSync, 'function', 'Alipay-only Sync forms');
  assert.equal(typeof fsm.removeSavedFileSync, 'function');
  assert.equal(typeof sb.my.getSavedFileInfo, 'function', 'legacy my.getSavedFileInfo');
  sb.close();
  assert.throws(() => wxfs.open(config(freshRoot('bad'), { platform: 'toutiao' })), /platform "toutiao"/);
  const js = require('../../js');
  assert.throws(() => js.createFor('toutiao', {}), /unknown platform "toutiao"/);
  assert.equal(js.dialects.alipay.name, 'my');
  assert.equal(typeof js.createSwan, 'function');
});

test('my: Alipay envelope, object or positional FS Sync arguments, whole-result Sync returns', async () => {
  const { sb } = open('alipay');
  const fs = sb.my.getFileSystemManager();
  assert.deepEqual(fs.writeFileSync('https://usr/a.txt', 'hello', 'utf8'), { success: true });
  assert.deepEqual(fs.writeFileSync({ filePath: 'https://usr/b.txt', data: 'obj' }), { success: true });
  assert.deepEqual(fs.readFileSync('https://usr/a.txt', 'utf8'), { data: 'hello', dataType: 'string' });
  assert.deepEqual(fs.readFileSync({ filePath: 'https://usr/b.txt', encoding: 'utf8' }), { data: 'obj', dataType: 'string' });
  const bin = fs.readFileSync('https://usr/a.txt');
  assert.equal(bin.dataType, 'ArrayBuffer');
  assert.equal(Buffer.from(bin.data).toString(), 'hello');
  assert.deepEqual(fs.readdirSync('https://usr').files.sort(), ['a.txt', 'b.txt']);
  const st = fs.statSync('https://usr/a.txt').stats;
  assert.ok(st.isFile());
  // A FileSystemManager Sync failure is thrown (the decision in docs/platforms/alipay.md).
  const e = thrown(() => fs.readFileSync('https://usr/missing.txt', 'utf8'));
  assert.equal(e.error, 10022);
  assert.equal(e.errorMessage, '文件/目录不存在');
  assert.equal(e.message, '文件/目录不存在');
  // Async: the fail callback receives {error, errorMessage}; success the payload.
  const f = await outcome(fs.mkdir, { dirPath: 'https://usr/x/y' });
  assert.equal(f.kind, 'fail');
  assert.deepEqual(f.res, { errorMessage: '上级目录不存在', error: 10022 });
  const s = await outcome(fs.access, { path: 'https://usr/a.txt' });
  assert.deepEqual([s.kind, s.res], ['success', { success: true }]);
  const tree = fs.statSync('https://usr', true).stats;
  assert.ok(tree['/a.txt'].isFile(), 'recursive stat is an object keyed by relative path');
  assert.ok(tree['/'].isDirectory());
  sb.close();
});

test('my: storage Sync forms take one object and RETURN their failure', async () => {
  const { sb } = open('alipay');
  const my = sb.my;
  assert.deepEqual(my.setStorageSync({ key: 'city', data: { name: '杭州' } }), { success: true });
  assert.deepEqual(my.getStorageSync({ key: 'city' }), { data: { name: '杭州' } });
  const when = new Date(1700000000000);
  my.setStorageSync({ key: 'when', data: when });
  assert.deepEqual(my.getStorageSync({ key: 'when' }).data, when, 'a Date comes back a Date');
  assert.deepEqual(my.getStorageSync({ key: 'nope' }), { data: null }, 'a missing key reads as null (decision)');
  // 200 KB per key: returned, not thrown (ALI-D my.setStorageSync.md), the old value kept.
  assert.deepEqual(my.setStorageSync({ key: 'city', data: 'x'.repeat(205000) }), { errorMessage: 'data长度超限', error: 14 });
  assert.deepEqual(my.setStorageSync({ key: '', data: 1 }), { errorMessage: '必填参数为空', error: 2 });
  assert.deepEqual(my.getStorageSync({ key: 'city' }).data, { name: '杭州' });
  const info = my.getStorageInfoSync();
  assert.deepEqual([info.keys.sort(), info.limitSize], [['city', 'when'], 10240]);
  assert.deepEqual(my.removeStorageSync({ key: 'when' }), { success: true });
  const got = await outcome(my.getStorage, { key: 'city' });
  assert.deepEqual([got.kind, got.res], ['success', { data: { name: '杭州' } }]);
  const bad = await outcome(my.setStorage, { key: '', data: 1 });
  assert.deepEqual([bad.kind, bad.res], ['fail', { errorMessage: '必填参数为空', error: 2 }]);
  sb.close();
});

test('my: the legacy saveFile family speaks apFilePath', async () => {
  const { sb } = open('alipay');
  const t = sb.invoke('host.createTempFile', { data: 'abc', encoding: 'utf8', extension: 'txt' }).tempFilePath;
  assert.match(t, /^https:\/\/resource\/apml[0-9a-f]{32}\.txt$/);
  const saved = await outcome(sb.my.saveFile, { apFilePath: t });
  assert.equal(saved.kind, 'success', JSON.stringify(saved.res));
  const ap = saved.res.apFilePath;
  assert.match(ap, /^https:\/\/resource\//);
  const list = await outcome(sb.my.getSavedFileList, {});
  assert.equal(list.res.fileList[0].apFilePath, ap);
  const info = await outcome(sb.my.getFileInfo, { apFilePath: ap, digestAlgorithm: 'md5' });
  assert.deepEqual([info.res.size, info.res.digest], [3, '900150983cd24fb0d6963f7d28e17f72']);
  const gone = await outcome(sb.my.removeSavedFile, { apFilePath: ap });
  assert.equal(gone.kind, 'success');
  sb.close();
});

test('tt: WeChat shapes, errNo, missing storage key reads as an empty string', async () => {
  const { sb } = open('douyin');
  const tt = sb.tt;
  const fs = tt.getFileSystemManager();
  assert.equal(fs.writeFileSync('ttfile://user/a.txt', 'hi'), undefined);
  assert.equal(fs.readFileSync('ttfile://user/a.txt', 'utf8'), 'hi');
  const e = thrown(() => fs.readFileSync('ttfile://user/none.txt', 'utf8'));
  assert.equal(e.errMsg, 'readFileSync:fail no such file or directory, readFileSync ttfile://user/none.txt');
  assert.equal(e.errNo, 21102);
  assert.equal(e.errCode, undefined);
  assert.equal(fs.statSync('ttfile://user/a.txt').size, 2);
  fs.truncateSync('ttfile://user/a.txt', 1); // positional in TT-T, unlike WeChat's option object
  assert.equal(fs.readFileSync('ttfile://user/a.txt', 'utf8'), 'h');
  fs.writeFileSync('ttfile://user/a.txt', 'hi');
  const stat = await outcome(fs.stat, { path: 'ttfile://user/a.txt' });
  assert.ok(stat.res.stat.isFile() && stat.res.stats.isFile(), 'stat and stats');
  assert.equal(tt.getStorageSync('nope'), '');
  const got = await outcome(tt.getStorage, { key: 'nope' });
  assert.deepEqual([got.kind, got.res], ['success', { errMsg: 'getStorage:ok', data: '' }]);
  const t = sb.invoke('host.createTempFile', { data: 'x', encoding: 'utf8', extension: 'png' }).tempFilePath;
  assert.match(t, /^ttfile:\/\/temp\//);
  const saved = fs.saveFileSync(t);
  assert.match(saved, /^ttfile:\/\/user\/[0-9a-f]{32}\.png$/, 'saved into the user dir');
  sb.close();
});

test('swan: a failing Sync call returns an Error instead of throwing', () => {
  const { sb } = open('baidu', { limits: { storageTotal: 300 } });
  const swan = sb.swan;
  const fs = swan.getFileSystemManager();
  fs.writeFileSync('bdfile://usr/a.txt', 'hi');
  assert.equal(fs.readFileSync('bdfile://usr/a.txt', 'utf8'), 'hi');
  const e = fs.readFileSync('bdfile://usr/none.txt', 'utf8');
  assert.ok(e instanceof Error, 'returned, not thrown');
  assert.equal(e.errCode, 1300002);
  assert.match(e.errMsg, /^readFileSync:fail no such file or directory/);
  assert.equal(swan.setStorageSync('one', 'x'.repeat(250)), undefined);
  const full = swan.setStorageSync('two', 'y'.repeat(100));
  assert.ok(full instanceof Error);
  assert.equal(full.errCode, 1003);
  assert.equal(swan.getStorageSync('nope'), '');
  sb.close();
});

test('qq: WeChat behaviour under qqfile://; wechat and qq sandboxes of one appId stay apart', async () => {
  const base = freshRoot('qqwx');
  const q = wxfs.open(config(base, { platform: 'qq' }));
  const w = wxfs.open(config(base));
  q.qq.getFileSystemManager().writeFileSync('qqfile://usr/a.txt', 'qq');
  q.qq.setStorageSync('k', 'qq');
  const e = thrown(() => q.qq.getFileSystemManager().readFileSync('qqfile://usr/none'));
  assert.equal(e.errCode, 1300002);
  const miss = await outcome(q.qq.getStorage, { key: 'nope' });
  assert.deepEqual([miss.kind, miss.res.errMsg], ['fail', 'getStorage:fail data not found']);
  assert.equal(w.wx.getStorageSync('k'), '');
  assert.throws(() => w.wx.getFileSystemManager().readFileSync('wxfile://usr/a.txt'), /no such file/);
  assert.equal(q.qq.getStorageSync('k'), 'qq');
  q.close();
  w.close();
});
