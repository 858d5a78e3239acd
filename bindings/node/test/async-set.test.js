// An async setStorage whatever way the host runs it: bindings/node stores a small value during
// the call when no other async call is in flight (bindings/js's storageSetNow), and hands the
// rest to the library's workers. What a mini-program sees must be the same either way: the
// callbacks later, never inside the call, in issue order with every other async call; the value
// readable when `success` runs; a failure in the bridge's words, with nothing changed.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sandbox, outcome, freshRoot, config, wxfs } = require('./helpers');

const U = 'wxfile://usr';

for (const durability of ['process', 'power']) {
  test(`async setStorage (${durability}): callbacks later, in issue order with other async calls, the value readable in success`, async () => {
    const { sb, wx, fs } = sandbox(`async-set-${durability}`, { durability });
    const seen = [];
    const read = {};
    let returned = false;
    const values = { a: { n: 1 }, b: 'two', c: new Date(5), d: undefined, e: [3], f: 'six' };
    const set = (key, then) =>
      wx.setStorage({
        key,
        data: values[key],
        success: (res) => {
          seen.push(returned ? key : `${key} inside its call`);
          read[key] = wx.getStorageSync(key);
          assert.deepEqual(res, { errMsg: 'setStorage:ok' });
        },
        complete: then,
      });
    await new Promise((resolve) => {
      set('a');
      returned = true;
      // An async call the library runs on a worker, then sets behind it, and a call after them.
      fs.writeFile({ filePath: `${U}/w.txt`, data: 'w', encoding: 'utf8', success: () => seen.push('writeFile') });
      returned = false;
      set('b');
      returned = true;
      set('c');
      wx.getStorage({ key: 'a', success: (res) => seen.push(`getStorage ${JSON.stringify(res.data)}`) });
      set('d', () => {
        // From a callback, with nothing else in flight: again later, and in order.
        returned = false;
        set('e');
        returned = true;
        set('f', resolve);
      });
    });
    assert.deepEqual(seen, ['a', 'writeFile', 'b', 'c', 'getStorage {"n":1}', 'd', 'e', 'f']);
    assert.deepEqual(read, values);
    assert.equal(fs.readFileSync(`${U}/w.txt`, 'utf8'), 'w');
    sb.close();
  });
}

test('a failing async setStorage fails with the bridge’s errMsg, changes nothing, and keeps its place', async () => {
  const { sb, wx } = sandbox('async-set-fail', { limits: { storageItem: 64 } });
  wx.setStorageSync('k', 'small');
  // The bridge's own answer to the same sets, made through it directly.
  const oversize = sb.invoke('setStorage', { key: 'k', data: 'x'.repeat(100) });
  assert.equal(oversize.errCode, 1400002);
  assert.match(oversize.errMsg, /^setStorage:fail /);
  const emptyKey = sb.invoke('setStorage', { key: '', data: 1 });
  assert.match(emptyKey.errMsg, /^setStorage:fail /);

  const seen = [];
  let returned = false;
  const call = (key, data) =>
    outcome((o) => {
      wx.setStorage({
        ...o,
        key,
        data,
        complete: (res) => {
          seen.push(returned ? key : `${key} inside its call`);
          o.complete(res);
        },
      });
    }, {});
  // A failure first (nothing in flight), then between two sets.
  const first = call('k', 'y'.repeat(100));
  returned = true;
  const got = await Promise.all([first, call('a', 1), call('', 2), call('b', 3)]);
  assert.deepEqual(seen, ['k', 'a', '', 'b']);
  assert.deepEqual(got[0], { kind: 'fail', res: oversize, completed: true });
  assert.deepEqual(got[2], { kind: 'fail', res: emptyKey, completed: true });
  assert.equal(got[1].kind, 'success');
  assert.equal(got[3].kind, 'success');
  assert.equal(wx.getStorageSync('k'), 'small');
  // The Promise form rejects with the same result.
  await assert.rejects(wx.setStorage({ key: 'k', data: 'z'.repeat(100) }), (res) => {
    assert.deepEqual(res, oversize);
    return true;
  });
  assert.deepEqual(await wx.setStorage({ key: 'k', data: 'fits' }), { errMsg: 'setStorage:ok' });
  assert.equal(wx.getStorageSync('k'), 'fits');
  sb.close();
});

test('async setStorage succeeds with the bridge’s own result on each platform whose results carry errMsg', async () => {
  for (const platform of ['wechat', 'douyin', 'baidu', 'qq']) {
    const sb = wxfs.open(config(freshRoot(`async-set-${platform}`), { platform }));
    const o = await outcome(sb.api.setStorage, { key: 'k', data: { v: platform } });
    assert.deepEqual(o, { kind: 'success', res: sb.invoke('setStorage', { key: 'k2', data: 1 }), completed: true }, platform);
    assert.deepEqual(sb.api.getStorageSync('k'), { v: platform }, platform);
    sb.close();
  }
});
