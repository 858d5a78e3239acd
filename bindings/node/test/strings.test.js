// String arguments cross into the addon by a copy onto the stack when short, and results come
// back as Latin-1 when they are ASCII: keys and values of every length around the copy buffers'
// ends, ASCII or not, must come back exact and stay distinct keys.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sandbox } = require('./helpers');
const wxfs = require('..');

test('keys and values either side of the stack copy\'s length, ASCII or not, come back exact', () => {
  const { sb, wx } = sandbox('lengths');
  const cases = [];
  // Around 256 bytes (the addon's copy buffer before) and 512 (its stack copy): a character that
  // straddles the end of the buffer was dropped, and the value stored under another key.
  const lengths = [0, 1, 4000];
  for (let n = 248; n <= 258; n++) lengths.push(n, n + 256);
  for (const n of lengths) {
    cases.push('k'.repeat(n) + 'é');
    cases.push('k'.repeat(n) + '😀');
    cases.push('k'.repeat(n + 1));
  }
  for (const s of cases) {
    wx.setStorageSync(s, s);
    assert.equal(wx.getStorageSync(s), s, `${s.length} chars`);
    wx.setStorageSync(s, { v: s });
    assert.deepEqual(wx.getStorageSync(s), { v: s });
  }
  assert.deepEqual(sb.invoke('getStorageInfoSync', {}).keys.sort(), [...new Set(cases)].sort());
  sb.close();
});

test('the addon refuses a key that is not a string', () => {
  const { sb } = sandbox('addon-key');
  const addon = wxfs.native();
  assert.throws(() => addon.storageGet(sb.handle, 5), { message: 'wxfs addon: expected a string' });
  sb.close();
});
