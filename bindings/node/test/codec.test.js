// bindings/js's codec for hosts with only wxfs_invoke (ArrayBuffers as base64 inside the JSON):
// the exact shapes the library reads and writes (src/bridge/reply.rs), and base64 itself.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { codec } = require('../../js');

test('base64 round trip for every length 0..300 and every byte value, as Node encodes it', () => {
  for (let n = 0; n <= 300; n++) {
    const b = new Uint8Array(n).map((_, i) => (i * 97 + n) & 255);
    const text = codec.toBase64(b.buffer);
    assert.equal(text, Buffer.from(b).toString('base64'));
    assert.deepEqual(new Uint8Array(codec.fromBase64(text)), b);
  }
  assert.throws(() => codec.fromBase64('a$=='), /invalid base64/);
});

test('arguments: only binary fields are lifted, as base64 or by index', () => {
  const data = new Uint8Array([1, 2, 255]);
  const b64 = codec.encodeArgs({ filePath: 'wxfile://usr/a', data: data.buffer, encoding: 'utf8' }, ['data'], false);
  assert.equal(b64.json, '{"filePath":"wxfile://usr/a","encoding":"utf8","__nativeBuffers__":[{"key":"data","base64":"AQL/"}]}');
  assert.equal(b64.buffers, undefined);
  const bin = codec.encodeArgs({ data: data.subarray(1) }, null, true);
  assert.equal(bin.json, '{"__nativeBuffers__":[{"key":"data","index":0}]}');
  assert.deepEqual([...bin.buffers[0]], [2, 255]);
  const plain = codec.encodeArgs({ key: 'k', data: { nested: data.buffer } }, ['data'], true);
  assert.equal(plain.buffers, undefined, 'a value inside data is not a field of the call');
});

test('results: a top-level list and readZipEntry entries’ own lists (wxfs_invoke), or indexes with paths (v2)', () => {
  const v1 = codec.decodeBase64(
    '{"errMsg":"readZipEntry:ok","entries":{"a.bin":{"errMsg":"readZipEntry:ok","__nativeBuffers__":[{"key":"data","base64":"QUI="}]},' +
      '"b.txt":{"data":"text","errMsg":"readZipEntry:ok"}},"__nativeBuffers__":[{"key":"top","base64":"Bw=="}]}',
  );
  assert.deepEqual([...new Uint8Array(v1.entries['a.bin'].data)], [65, 66]);
  assert.deepEqual(Object.keys(v1.entries['a.bin']), ['errMsg', 'data']);
  assert.deepEqual([...new Uint8Array(v1.top)], [7]);
  assert.equal(v1.entries['b.txt'].data, 'text');
  const ab = new Uint8Array([9]).buffer;
  const v2 = codec.decodeBinary('{"errMsg":"x:ok","entries":{"a.bin":{"errMsg":"x:ok"}},"__nativeBuffers__":[{"key":"data","index":0,"at":["entries","a.bin"]}]}', [ab]);
  assert.equal(v2.entries['a.bin'].data, ab);
  assert.ok(!('__nativeBuffers__' in v2));
  const stored = codec.decodeBinary('{"errMsg":"getStorageSync:ok","data":{"__nativeBuffers__":[{"key":"x","index":0}]}}', []);
  assert.deepEqual(stored.data, { __nativeBuffers__: [{ key: 'x', index: 0 }] }, 'storage data is never walked');
});
