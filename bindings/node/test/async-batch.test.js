// bindings/node queues async calls with the library at the end of each turn of JavaScript (or at
// the next sync call or close), and takes their results from the library's workers in batches.
// What a mini-program sees must not change: every callback once, in issue order, each result its
// own object; a sync call sees every async call issued before it; an async call's ArrayBuffer is
// read when the call is made.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sandbox } = require('./helpers');

const U = 'wxfile://usr';

test('a burst of async calls: every callback once, in issue order, each result its own object', async () => {
  const { sb, wx, fs } = sandbox('burst');
  fs.writeFileSync(`${U}/r.bin`, new Uint8Array([1, 2, 3]).buffer);
  const N = 3000;
  const seen = [];
  const results = [];
  await new Promise((resolve) => {
    let left = N;
    const end = () => {
      if (--left === 0) resolve();
    };
    for (let i = 0; i < N; i++) {
      const record = (kind) => (res) => {
        seen.push(`${kind}${i}`);
        if (kind !== 'c') results[i] = res;
      };
      const complete = (res) => {
        record('c')(res);
        end();
      };
      if (i % 10 === 3) {
        // A failure (an empty key) among the successes.
        wx.setStorage({ key: '', data: i, success: record('s'), fail: record('f'), complete });
      } else if (i % 10 === 7) {
        // A result with an ArrayBuffer among results without.
        fs.readFile({ filePath: `${U}/r.bin`, success: record('s'), fail: record('f'), complete });
      } else {
        wx.setStorage({ key: `k${i}`, data: { i }, success: record('s'), fail: record('f'), complete });
      }
    }
  });
  const expected = [];
  for (let i = 0; i < N; i++) expected.push(i % 10 === 3 ? `f${i}` : `s${i}`, `c${i}`);
  assert.deepEqual(seen, expected);
  for (let i = 0; i < N; i++) {
    if (i % 10 === 3) assert.deepEqual(results[i], results[3]);
    else if (i % 10 === 7) assert.deepEqual([...new Uint8Array(results[i].data)], [1, 2, 3]);
    else assert.deepEqual(results[i], { errMsg: 'setStorage:ok' });
  }
  // Each result is its own object, and each buffer its own.
  assert.notEqual(results[0], results[1]);
  results[0].errMsg = 'changed';
  assert.equal(results[1].errMsg, 'setStorage:ok');
  assert.notEqual(results[7].data, results[17].data);
  // The failure is the one a lone call gets.
  const alone = await new Promise((resolve) => wx.setStorage({ key: '', data: 1, fail: resolve }));
  assert.deepEqual(results[3], alone);
  assert.equal(wx.getStorageSync('k4').i, 4);
  sb.close();
});

test('a sync call sees every async call issued before it in the same turn', async () => {
  const { sb, wx, fs } = sandbox('sync-after-async');
  const done = [];
  for (let i = 0; i < 50; i++) wx.setStorage({ key: `a${i}`, data: i, complete: () => done.push(i) });
  // No turn has ended: the calls are still this module's, and the typed get must see them.
  assert.equal(wx.getStorageSync('a49'), 49);
  wx.removeStorage({ key: 'a0' });
  assert.equal(wx.getStorageSync('a0'), '');
  fs.writeFile({ filePath: `${U}/t.txt`, data: 'async text', encoding: 'utf8' });
  assert.equal(fs.readFileSync(`${U}/t.txt`, 'utf8'), 'async text');
  wx.setStorage({ key: 'raw', data: 'x' });
  assert.equal(sb.invoke('getStorageSync', { key: 'raw' }).data, 'x');
  wx.setStorage({ key: 'typed', data: 1 });
  wx.setStorageSync('typed', 2);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(wx.getStorageSync('typed'), 2, 'the Sync set issued after the async one wins');
  assert.equal(done.length, 50);
  sb.close();
});

test('an async call reads its ArrayBuffer when it is made, not when the turn ends', async () => {
  const { sb, fs } = sandbox('buffer-at-call');
  const bytes = new Uint8Array([9, 8, 7, 6]);
  const written = new Promise((resolve, reject) => fs.writeFile({ filePath: `${U}/b.bin`, data: bytes.buffer, success: resolve, fail: reject }));
  bytes.fill(0);
  await written;
  assert.deepEqual([...new Uint8Array(fs.readFileSync(`${U}/b.bin`))], [9, 8, 7, 6]);
  sb.close();
});

test('close in the turn that issued async calls: they still complete, and their effects last', async () => {
  const { sb, wx, reopen } = sandbox('close-after-async');
  const outcomes = [];
  const all = [];
  for (let i = 0; i < 20; i++) {
    all.push(new Promise((resolve) => wx.setStorage({ key: `c${i}`, data: i, success: () => outcomes.push('s'), fail: (r) => outcomes.push(r.errMsg), complete: resolve })));
  }
  sb.close();
  await Promise.all(all);
  assert.deepEqual(outcomes, Array(20).fill('s'));
  const again = reopen();
  assert.equal(again.wx.getStorageSync('c19'), 19);
  again.close();
});

test('async calls on two sandboxes in one burst: each sandbox\'s callbacks in its issue order', async () => {
  const one = sandbox('two-a');
  const two = sandbox('two-b');
  const order = { a: [], b: [] };
  const all = [];
  for (let i = 0; i < 500; i++) {
    for (const [name, s] of [['a', one], ['b', two]]) {
      all.push(new Promise((resolve) => s.wx.setStorage({ key: 'k', data: i, success: () => order[name].push(i), complete: resolve })));
    }
  }
  await Promise.all(all);
  const expected = Array.from({ length: 500 }, (_, i) => i);
  assert.deepEqual(order.a, expected);
  assert.deepEqual(order.b, expected);
  assert.equal(one.wx.getStorageSync('k'), 499);
  assert.equal(two.wx.getStorageSync('k'), 499);
  one.sb.close();
  two.sb.close();
});
