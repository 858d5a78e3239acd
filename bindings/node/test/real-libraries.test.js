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

test('cos-wx-sdk-v5 (Tencent COS) uploads a user file read through FileSystemManager, whole and in slices', async () => {
  const s = sandbox('cos');
  const requests = [];
  const respond = (opt, data) =>
    setImmediate(() => {
      opt.success({ statusCode: 200, header: { etag: '"e"', 'x-cos-request-id': 'r' }, data });
      if (opt.complete) opt.complete({});
    });
  // The host's own wx: network apis stubbed (no traffic leaves the process), file and storage
  // apis from bindings/node. The SDK calls the latter exactly as in a mini-program.
  global.wx = {
    ...s.wx,
    canIUse: (x) => ['getAppBaseInfo', 'getDeviceInfo'].includes(x) || s.wx.canIUse(x),
    getAppBaseInfo: () => ({ SDKVersion: '3.0.0' }),
    getDeviceInfo: () => ({ platform: 'devtools' }),
    getSystemInfoSync: () => ({ platform: 'devtools', SDKVersion: '3.0.0' }),
    request(opt) {
      requests.push({ method: opt.method, url: opt.url.replace(/^https:\/\/[^/]+/, ''), data: opt.data });
      let body = '';
      if (opt.method === 'POST' && /\?uploads$/.test(opt.url)) body = '<InitiateMultipartUploadResult><UploadId>up1</UploadId></InitiateMultipartUploadResult>';
      if (opt.method === 'GET' && /uploads/.test(opt.url)) body = '<ListMultipartUploadsResult></ListMultipartUploadsResult>';
      respond(opt, body);
      return { abort() {}, onProgressUpdate() {}, offProgressUpdate() {} };
    },
  };
  // The package's source entry: its webpack bundle expects a `window` global.
  const COS = require('cos-wx-sdk-v5/index.js');
  const cos = new COS({ SecretId: 'id', SecretKey: 'key' });
  const file = Buffer.alloc(2500000);
  for (let i = 0; i < file.length; i += 4) file.writeUInt32LE((i * 2654435761) >>> 0, i);
  s.fs.writeFileSync('wxfile://usr/photo.jpg', new Uint8Array(file).buffer);
  const call = (method, params) =>
    new Promise((resolve, reject) => cos[method]({ Bucket: 'b-1250000000', Region: 'ap-guangzhou', ...params }, (err, res) => (err ? reject(err) : resolve(res))));

  const put = await call('putObject', { Key: 'photo.jpg', FilePath: 'wxfile://usr/photo.jpg' });
  assert.equal(put.statusCode, 200);
  assert.equal(requests.length, 1);
  assert.equal(requests[0].method, 'PUT');
  assert.ok(Buffer.from(requests[0].data).equals(file), 'the body is the file, read by fs.readFile');

  requests.length = 0;
  const sliced = await call('sliceUploadFile', { Key: 'big.jpg', FilePath: 'wxfile://usr/photo.jpg', SliceSize: 1 << 20, AsyncLimit: 1 });
  assert.equal(sliced.statusCode, 200);
  const parts = requests.filter((r) => /partNumber=/.test(r.url));
  assert.deepEqual(parts.map((p) => p.url), [1, 2, 3].map((n) => `/big.jpg?partNumber=${n}&uploadId=up1`));
  parts.forEach((p, i) => {
    const want = file.subarray(i << 20, Math.min((i + 1) << 20, file.length));
    assert.ok(Buffer.from(p.data).equals(want), `part ${i + 1} is the file slice read by fs.readFile({position, length})`);
  });
  delete global.wx;
});
