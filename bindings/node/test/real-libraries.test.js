// Real npm libraries written for WeChat, run unchanged against bindings/node: their storage
// adapters call wx.*StorageSync on the global `wx` exactly as in a mini-program.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sandbox } = require('./helpers');

test('@leancloud/platform-adapters-weapp storage keeps a session across a reopen', () => {
  const s = sandbox('leancloud');
  global.wx = s.wx;
  const { storage } = require('@leancloud/platform-adapters-weapp');
  const session = JSON.stringify({ sessionToken: 'r:abc', objectId: 'u1' });
  storage.setItem('AV/appid/currentUser', session);
  storage.setItem('AV/appid/installation', 'i1');
  assert.equal(storage.getItem('AV/appid/currentUser'), session);
  storage.removeItem('AV/appid/installation');
  assert.equal(storage.getItem('AV/appid/installation'), '', 'a removed key reads as WeChat gives it');
  s.sb.close();
  global.wx = s.reopen().wx;
  assert.equal(storage.getItem('AV/appid/currentUser'), session);
  storage.clear();
  assert.deepEqual(global.wx.getStorageInfoSync().keys, []);
  delete global.wx;
});

test('@cloudbase/adapter-wx_mp storage (wxMpStorage) stores and clears its tokens', () => {
  const s = sandbox('cloudbase');
  global.wx = s.wx;
  const { wxMpStorage } = require('@cloudbase/adapter-wx_mp');
  wxMpStorage.setItem('access_token_env1', 'tok');
  wxMpStorage.setItem('refresh_token_env1', { value: 'ref', expires: 3600 });
  assert.equal(wxMpStorage.getItem('access_token_env1'), 'tok');
  assert.deepEqual(wxMpStorage.getItem('refresh_token_env1'), { value: 'ref', expires: 3600 });
  wxMpStorage.removeItem('access_token_env1');
  assert.equal(wxMpStorage.getItem('access_token_env1'), '');
  wxMpStorage.clear();
  assert.equal(wxMpStorage.getItem('refresh_token_env1'), '');
  delete global.wx;
});
