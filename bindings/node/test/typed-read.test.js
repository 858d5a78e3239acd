// readFileSync(filePath) in bindings/node reads through the typed wxfs_read_file_alloc, straight
// into an ArrayBuffer. It must answer exactly as the bridge does: the same bytes from every area,
// the same errMsg and errCode for every failure, and the bridge's own path whenever an encoding,
// a position or a length is given.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { sandbox, thrown } = require('./helpers');

const U = 'wxfile://usr';

function bytes(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

test('readFileSync(filePath) gives the bridge\'s bytes from every area', () => {
  const { sb, wx, fs } = sandbox('typed-read', { limits: { readFile: 1 << 20 } });
  const small = bytes(1000, 1);
  const big = bytes(300 * 1024, 2);
  fs.writeFileSync(`${U}/small.bin`, small.buffer);
  fs.writeFileSync(`${U}/big.bin`, big.buffer);
  fs.writeFileSync(`${U}/empty.bin`, new ArrayBuffer(0));
  // A temp file and a saved file of 64 KiB and more (the library maps those in wxfs_read_file).
  const temp = sb.invoke('host.createTempFile', { data: big.buffer }).tempFilePath;
  const saved = fs.saveFileSync(sb.invoke('host.createTempFile', { data: big.buffer }).tempFilePath);
  for (const p of [`${U}/small.bin`, `${U}/big.bin`, `${U}/empty.bin`, temp, saved, 'a.txt']) {
    const got = fs.readFileSync(p);
    assert.ok(got instanceof ArrayBuffer, p);
    const viaBridge = sb.invoke('readFileSync', { filePath: p });
    assert.equal(viaBridge.errMsg, 'readFileSync:ok', p);
    assert.deepEqual(new Uint8Array(got), new Uint8Array(viaBridge.data), p);
  }
  assert.deepEqual(new Uint8Array(fs.readFileSync(`${U}/big.bin`)), big);
  assert.equal(fs.readFileSync(`${U}/empty.bin`).byteLength, 0);
  // Each call its own buffer.
  const a = fs.readFileSync(`${U}/small.bin`);
  new Uint8Array(a).fill(0);
  assert.deepEqual(new Uint8Array(fs.readFileSync(`${U}/small.bin`)), small);
  // With an encoding, a position or a length: the bridge's answer, as before.
  fs.writeFileSync(`${U}/t.txt`, 'hello typed read', 'utf8');
  assert.equal(fs.readFileSync(`${U}/t.txt`, 'utf8'), 'hello typed read');
  assert.deepEqual(new Uint8Array(fs.readFileSync(`${U}/small.bin`, undefined, 10, 5)), small.slice(10, 15));
  assert.equal(fs.readFileSync(`${U}/t.txt`, 'utf8', 6), 'typed read');
  sb.close();
  void wx;
});

test('readFileSync(filePath) fails with the bridge\'s errMsg and errCode', () => {
  const { sb, fs } = sandbox('typed-read-fail', { limits: { readFile: 1000 } });
  fs.writeFileSync(`${U}/over.bin`, bytes(1001, 3).buffer);
  fs.mkdirSync(`${U}/dir`);
  const cases = [`${U}/none`, `${U}/over.bin`, `${U}/dir`, '', 'wxfile://nowhere/x', `${U}/../../etc/passwd`, 'http://usr/x'];
  for (const p of cases) {
    const viaBridge = sb.invoke('readFileSync', { filePath: p });
    assert.notEqual(viaBridge.errMsg, 'readFileSync:ok', p);
    const e = thrown(() => fs.readFileSync(p));
    assert.ok(e instanceof Error, p);
    assert.equal(e.errMsg, viaBridge.errMsg, p);
    assert.equal(e.message, viaBridge.errMsg, p);
    assert.equal(e.errCode, viaBridge.errCode, p);
  }
  assert.equal(thrown(() => fs.readFileSync(`${U}/over.bin`)).errCode, 1300202);
  sb.close();
});
