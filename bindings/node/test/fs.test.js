// Every FileSystemManager method through bindings/node: async (success and a failure with its
// exact errMsg and errCode) and, where WeChat has one, its Sync form (return value, and the thrown
// Error of a failure).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('zlib');
const { sandbox, outcome, thrown } = require('./helpers');

const U = 'wxfile://usr';

// A stored zip: a.bin = 00 01 02 ff, b.txt = "hi" (Python's zipfile).
const ZIP = Buffer.from(
  '504b0304140000000000845981592438b23f040000000400000005000000612e62696e000102ff504b030414000000000084598159ac2a93d8020000' +
    '000200000005000000622e7478746869504b01021403140000000000845981592438b23f040000000400000005000000000000000000000080010000' +
    '0000612e62696e504b0102140314000000000084598159ac2a93d80200000002000000050000000000000000000000800127000000622e747874504b' +
    '05060000000002000200660000004c0000000000',
  'hex',
);

function bytes(ab) {
  return Buffer.from(ab);
}

async function fails(fn, option, errMsg, errCode) {
  const o = await outcome(fn, option);
  assert.equal(o.kind, 'fail', JSON.stringify(o.res));
  assert.deepEqual(o.res, { errMsg, errCode });
  assert.ok(o.completed, 'complete receives the same object');
}

async function succeeds(fn, option) {
  const o = await outcome(fn, option);
  assert.equal(o.kind, 'success', JSON.stringify(o.res));
  assert.ok(o.completed);
  return o.res;
}

function syncFails(f, errMsg, errCode) {
  const e = thrown(f);
  assert.ok(e instanceof Error);
  assert.equal(e.message, errMsg);
  assert.equal(e.errMsg, errMsg);
  assert.equal(e.errCode, errCode);
}

test('access / accessSync', async () => {
  const { fs } = sandbox('access');
  fs.writeFileSync(`${U}/a`, 'x');
  assert.deepEqual(await succeeds(fs.access, { path: `${U}/a` }), { errMsg: 'access:ok' });
  await fails(fs.access, { path: `${U}/nope` }, 'access:fail no such file or directory wxfile://usr/nope', 1300002);
  assert.equal(fs.accessSync(`${U}/a`), undefined);
  assert.equal(fs.accessSync('a.txt'), undefined, 'package files are readable');
  syncFails(() => fs.accessSync(`${U}/nope`), 'accessSync:fail no such file or directory wxfile://usr/nope', 1300002);
});

test('appendFile / appendFileSync', async () => {
  const { fs } = sandbox('append');
  fs.writeFileSync(`${U}/f`, 'a');
  await succeeds(fs.appendFile, { filePath: `${U}/f`, data: 'b' });
  await succeeds(fs.appendFile, { filePath: `${U}/f`, data: new Uint8Array([0x63]).buffer });
  assert.equal(fs.appendFileSync(`${U}/f`, '6400', 'hex'), undefined);
  assert.equal(bytes(fs.readFileSync(`${U}/f`)).toString('latin1'), 'abc\x64\x00');
  await fails(fs.appendFile, { filePath: `${U}/nope`, data: 'x' }, 'appendFile:fail no such file or directory, open wxfile://usr/nope', 1300002);
  syncFails(() => fs.appendFileSync(`${U}/nope`, 'x'), 'appendFileSync:fail no such file or directory, open wxfile://usr/nope', 1300002);
});

test('open / close / openSync / closeSync', async () => {
  const { fs } = sandbox('open');
  fs.writeFileSync(`${U}/f`, 'x');
  const r = await succeeds(fs.open, { filePath: `${U}/f`, flag: 'r' });
  assert.equal(typeof r.fd, 'string');
  assert.deepEqual(await succeeds(fs.close, { fd: r.fd }), { errMsg: 'close:ok' });
  await fails(fs.close, { fd: r.fd }, 'close:fail bad file descriptor', 1300009);
  await fails(fs.open, { filePath: `${U}/nope` }, 'open:fail no such file or directory "wxfile://usr/nope"', 1300002);
  const fd = fs.openSync({ filePath: `${U}/f` });
  assert.equal(typeof fd, 'string');
  assert.equal(fs.closeSync({ fd }), undefined);
  syncFails(() => fs.closeSync({ fd }), 'closeSync:fail bad file descriptor', 1300009);
  syncFails(() => fs.openSync({ filePath: `${U}/nope` }), 'openSync:fail no such file or directory "wxfile://usr/nope"', 1300002);
  syncFails(() => fs.openSync({ filePath: `${U}/f`, flag: 'q' }), 'openSync:fail invalid flag', 1302003);
});

test('copyFile / copyFileSync', async () => {
  const { fs } = sandbox('copy');
  fs.writeFileSync(`${U}/a`, 'copy me');
  await succeeds(fs.copyFile, { srcPath: `${U}/a`, destPath: `${U}/b` });
  assert.equal(fs.copyFileSync('a.txt', `${U}/c`), undefined);
  assert.equal(fs.readFileSync(`${U}/b`, 'utf8'), 'copy me');
  assert.equal(fs.readFileSync(`${U}/c`, 'utf8'), 'package file');
  await fails(
    fs.copyFile,
    { srcPath: `${U}/nope`, destPath: `${U}/b` },
    'copyFile:fail no such file or directory, copyFile wxfile://usr/nope -> wxfile://usr/b',
    1300002,
  );
  syncFails(
    () => fs.copyFileSync(`${U}/nope`, `${U}/b`),
    'copyFileSync:fail no such file or directory, copyFile wxfile://usr/nope -> wxfile://usr/b',
    1300002,
  );
});

test('fstat / fstatSync / ftruncate / ftruncateSync', async () => {
  const { fs } = sandbox('fstat');
  fs.writeFileSync(`${U}/f`, '12345');
  const fd = fs.openSync({ filePath: `${U}/f`, flag: 'r+' });
  const r = await succeeds(fs.fstat, { fd });
  assert.equal(r.stats.size, 5);
  assert.equal(r.stats.isFile(), true);
  assert.equal(fs.fstatSync({ fd }).size, 5);
  await succeeds(fs.ftruncate, { fd, length: 2 });
  assert.equal(fs.fstatSync({ fd }).size, 2);
  assert.equal(fs.ftruncateSync({ fd, length: 4 }), undefined);
  assert.deepEqual([...bytes(fs.readFileSync(`${U}/f`))], [0x31, 0x32, 0, 0]);
  await fails(fs.fstat, { fd: '999' }, 'fstat:fail bad file descriptor', 1300009);
  await fails(fs.ftruncate, { fd: '999', length: 0 }, 'ftruncate:fail bad file descriptor', 1300009);
  syncFails(() => fs.fstatSync({ fd: '999' }), 'fstatSync:fail bad file descriptor', 1300009);
  syncFails(() => fs.ftruncateSync({ fd: '999', length: 0 }), 'ftruncateSync:fail bad file descriptor', 1300009);
  const ro = fs.openSync({ filePath: `${U}/f`, flag: 'r' });
  syncFails(() => fs.ftruncateSync({ fd: ro, length: 0 }), 'ftruncateSync:fail permission denied', 1302001);
});

test('getFileInfo, getSavedFileList, removeSavedFile (no Sync form in WeChat)', async () => {
  const { sb, fs } = sandbox('saved');
  assert.equal(fs.getFileInfoSync, undefined);
  assert.equal(fs.getSavedFileListSync, undefined);
  assert.equal(fs.removeSavedFileSync, undefined);
  const { tempFilePath } = sb.invoke('host.createTempFile', { data: 'hello', extension: 'txt' });
  const info = await succeeds(fs.getFileInfo, { filePath: tempFilePath });
  assert.deepEqual(info, { errMsg: 'getFileInfo:ok', size: 5, digest: '5d41402abc4b2a76b9719d911017c592' });
  const sha1 = await succeeds(fs.getFileInfo, { filePath: tempFilePath, digestAlgorithm: 'sha1' });
  assert.equal(sha1.digest, 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d');
  await fails(fs.getFileInfo, { filePath: 'wxfile://tmp_nope' }, 'getFileInfo:fail file not exist', 1300002);
  const saved = fs.saveFileSync(tempFilePath);
  const list = await succeeds(fs.getSavedFileList, {});
  assert.equal(list.fileList.length, 1);
  assert.equal(list.fileList[0].filePath, saved);
  assert.equal(list.fileList[0].size, 5);
  assert.equal(typeof list.fileList[0].createTime, 'number');
  await succeeds(fs.removeSavedFile, { filePath: saved });
  await fails(fs.removeSavedFile, { filePath: saved }, 'removeSavedFile:fail file not exist', 1300002);
  sb.close();
  await fails(fs.getSavedFileList, {}, 'getSavedFileList:fail invalid sandbox handle', -2);
});

test('mkdir / mkdirSync / rmdir / rmdirSync / readdir / readdirSync', async () => {
  const { fs } = sandbox('dirs');
  await succeeds(fs.mkdir, { dirPath: `${U}/a` });
  assert.equal(fs.mkdirSync(`${U}/b/c/d`, true), undefined);
  await fails(fs.mkdir, { dirPath: `${U}/x/y` }, 'mkdir:fail no such file or directory wxfile://usr/x/y', 1300002);
  syncFails(() => fs.mkdirSync(`${U}/a`), 'mkdirSync:fail file already exists wxfile://usr/a', 1301005);
  assert.deepEqual((await succeeds(fs.readdir, { dirPath: U })).files.sort(), ['a', 'b']);
  assert.deepEqual(fs.readdirSync(`${U}/b`), ['c']);
  assert.deepEqual(fs.readdirSync('dir'), [], 'package directories are readable');
  await fails(fs.readdir, { dirPath: `${U}/nope` }, 'readdir:fail no such file or directory wxfile://usr/nope', 1300002);
  syncFails(() => fs.readdirSync(`${U}/nope`), 'readdirSync:fail no such file or directory wxfile://usr/nope', 1300002);
  syncFails(() => fs.rmdirSync(`${U}/b`), 'rmdirSync:fail directory not empty', 1300066);
  assert.equal(fs.rmdirSync(`${U}/b`, true), undefined);
  await succeeds(fs.rmdir, { dirPath: `${U}/a` });
  await fails(fs.rmdir, { dirPath: `${U}/a` }, 'rmdir:fail no such file or directory wxfile://usr/a', 1300002);
});

test('read / readSync fill the caller’s own buffer at offset', async () => {
  const { fs } = sandbox('read');
  fs.writeFileSync(`${U}/f`, '0123456789');
  const fd = fs.openSync({ filePath: `${U}/f` });
  const mine = new ArrayBuffer(8);
  new Uint8Array(mine).fill(0x2e);
  const r = await succeeds(fs.read, { fd, arrayBuffer: mine, offset: 2, length: 3, position: 4 });
  assert.equal(r.bytesRead, 3);
  assert.equal(r.arrayBuffer, mine, 'the same ArrayBuffer object comes back');
  assert.equal(bytes(mine).toString(), '..456...');
  const s = fs.readSync({ fd, arrayBuffer: mine, length: 2 });
  assert.equal(s.bytesRead, 2);
  assert.equal(s.arrayBuffer, mine);
  assert.equal(bytes(mine).toString(), '01456...', 'no position: the fd pointer, from 0');
  assert.equal(bytes(mine.slice(0, 2)).toString(), '01');
  await fails(fs.read, { fd, arrayBuffer: mine, offset: 9, length: 0 }, 'read:fail the value of "offset" is out of range', 1301007);
  syncFails(() => fs.readSync({ fd, arrayBuffer: mine, offset: 4, length: 5 }), 'readSync:fail the value of "length" is out of range', 1301006);
  syncFails(() => fs.readSync({ fd: '999', arrayBuffer: mine, length: 1 }), 'readSync:fail bad file descriptor', 1300009);
  syncFails(() => fs.readSync({ fd, length: 1 }), 'readSync:fail array buffer does not exist', 1302005);
  assert.equal(bytes(mine).toString(), '01456...', 'a failed read leaves the buffer alone');
});

test('readCompressedFile / readCompressedFileSync', async () => {
  const { fs } = sandbox('br');
  const text = 'compressed '.repeat(100);
  fs.writeFileSync(`${U}/t.br`, new Uint8Array(zlib.brotliCompressSync(Buffer.from(text))).buffer);
  const r = await succeeds(fs.readCompressedFile, { filePath: `${U}/t.br`, compressionAlgorithm: 'br' });
  assert.ok(r.data instanceof ArrayBuffer);
  assert.equal(bytes(r.data).toString(), text);
  assert.equal(bytes(fs.readCompressedFileSync({ filePath: `${U}/t.br`, compressionAlgorithm: 'br' })).toString(), text);
  await fails(
    fs.readCompressedFile,
    { filePath: `${U}/nope`, compressionAlgorithm: 'br' },
    'readCompressedFile:fail no such file or directory, open wxfile://usr/nope',
    1300002,
  );
  syncFails(() => fs.readCompressedFileSync({ filePath: `${U}/t.br`, compressionAlgorithm: 'gzip' }), 'readCompressedFileSync:fail decompress fail', 1301111);
});

test('readFile / readFileSync: ArrayBuffer without encoding, string with one, position/length', async () => {
  const { fs } = sandbox('readfile');
  fs.writeFileSync(`${U}/f`, 'héllo');
  const r = await succeeds(fs.readFile, { filePath: `${U}/f` });
  assert.ok(r.data instanceof ArrayBuffer);
  assert.equal(bytes(r.data).toString(), 'héllo');
  assert.equal((await succeeds(fs.readFile, { filePath: `${U}/f`, encoding: 'utf8' })).data, 'héllo');
  assert.equal(fs.readFileSync(`${U}/f`, 'base64'), Buffer.from('héllo').toString('base64'));
  assert.equal(fs.readFileSync(`${U}/f`, 'utf8', 3, 3), 'llo');
  assert.equal(bytes(fs.readFileSync('a.txt')).toString(), 'package file');
  await fails(fs.readFile, { filePath: `${U}/nope` }, 'readFile:fail no such file or directory, open wxfile://usr/nope', 1300002);
  syncFails(() => fs.readFileSync(`${U}/nope`), 'readFileSync:fail no such file or directory, open wxfile://usr/nope', 1300002);
});

test('readZipEntry and unzip (no Sync form in WeChat)', async () => {
  const { fs } = sandbox('zip');
  assert.equal(fs.readZipEntrySync, undefined);
  assert.equal(fs.unzipSync, undefined);
  fs.writeFileSync(`${U}/t.zip`, new Uint8Array(ZIP).buffer);
  const r = await succeeds(fs.readZipEntry, { filePath: `${U}/t.zip`, entries: [{ path: 'a.bin' }, { path: 'b.txt', encoding: 'utf8' }] });
  assert.deepEqual(Object.keys(r.entries).sort(), ['a.bin', 'b.txt']);
  assert.ok(r.entries['a.bin'].data instanceof ArrayBuffer);
  assert.deepEqual([...bytes(r.entries['a.bin'].data)], [0, 1, 2, 255]);
  assert.deepEqual(r.entries['b.txt'], { data: 'hi', errMsg: 'readZipEntry:ok' });
  const all = await succeeds(fs.readZipEntry, { filePath: `${U}/t.zip`, entries: 'all', encoding: 'hex' });
  assert.equal(all.entries['a.bin'].data, '000102ff');
  await fails(fs.readZipEntry, { filePath: `${U}/nope`, entries: 'all' }, 'readZipEntry:fail no such file or directory, open wxfile://usr/nope', 1300002);
  await succeeds(fs.unzip, { zipFilePath: `${U}/t.zip`, targetPath: `${U}/out` });
  assert.equal(fs.readFileSync(`${U}/out/b.txt`, 'utf8'), 'hi');
  await fails(
    fs.unzip,
    { zipFilePath: `${U}/nope.zip`, targetPath: `${U}/out` },
    'unzip:fail no such file or directory, unzip wxfile://usr/nope.zip -> "wxfile://usr/out',
    1300002,
  );
});

test('rename / renameSync / unlink / unlinkSync', async () => {
  const { fs } = sandbox('rename');
  fs.writeFileSync(`${U}/a`, 'x');
  await succeeds(fs.rename, { oldPath: `${U}/a`, newPath: `${U}/b` });
  assert.equal(fs.renameSync(`${U}/b`, `${U}/c`), undefined);
  await fails(
    fs.rename,
    { oldPath: `${U}/a`, newPath: `${U}/b` },
    'rename:fail no such file or directory, rename wxfile://usr/a -> wxfile://usr/b',
    1300002,
  );
  syncFails(() => fs.renameSync(`${U}/a`, `${U}/b`), 'renameSync:fail no such file or directory, rename wxfile://usr/a -> wxfile://usr/b', 1300002);
  await succeeds(fs.unlink, { filePath: `${U}/c` });
  fs.writeFileSync(`${U}/d`, 'x');
  assert.equal(fs.unlinkSync(`${U}/d`), undefined);
  await fails(fs.unlink, { filePath: `${U}/c` }, 'unlink:fail no such file or directory wxfile://usr/c', 1300002);
  fs.mkdirSync(`${U}/dir`);
  syncFails(() => fs.unlinkSync(`${U}/dir`), 'unlinkSync:fail operation not permitted, unlink wxfile://usr/dir', 1300001);
});

test('saveFile / saveFileSync move a temp file', async () => {
  const { sb, fs } = sandbox('savefile');
  const t1 = sb.invoke('host.createTempFile', { data: 'one', extension: 'png' }).tempFilePath;
  const r = await succeeds(fs.saveFile, { tempFilePath: t1 });
  assert.match(r.savedFilePath, /^wxfile:\/\/store_[0-9a-f]+\.png$/);
  await fails(fs.saveFile, { tempFilePath: t1 }, 'saveFile:fail tempFilePath file not exist', 1301112);
  const t2 = sb.invoke('host.createTempFile', { data: 'two' }).tempFilePath;
  assert.equal(fs.saveFileSync(t2, `${U}/two.txt`), `${U}/two.txt`);
  assert.equal(fs.readFileSync(`${U}/two.txt`, 'utf8'), 'two');
  syncFails(() => fs.saveFileSync(t2), 'saveFileSync:fail tempFilePath file not exist', 1301112);
});

test('stat / statSync, recursive', async () => {
  const { fs } = sandbox('stat');
  fs.mkdirSync(`${U}/d/e`, true);
  fs.writeFileSync(`${U}/d/f`, 'abc');
  const r = await succeeds(fs.stat, { path: `${U}/d/f` });
  assert.equal(r.stats.size, 3);
  assert.equal(r.stats.isFile(), true);
  assert.equal(r.stats.isDirectory(), false);
  const tree = fs.statSync(`${U}/d`, true);
  assert.ok(Array.isArray(tree));
  const byPath = Object.fromEntries(tree.map((e) => [e.path, e.stats]));
  assert.equal(byPath['/f'].isFile(), true);
  assert.equal(byPath['/e'].isDirectory(), true);
  assert.equal(fs.statSync('a.txt').size, 12);
  await fails(fs.stat, { path: `${U}/nope` }, 'stat:fail no such file or directory wxfile://usr/nope', 1300002);
  syncFails(() => fs.statSync(`${U}/nope`), 'statSync:fail no such file or directory wxfile://usr/nope', 1300002);
});

test('truncate / truncateSync', async () => {
  const { fs } = sandbox('truncate');
  fs.writeFileSync(`${U}/f`, '123456');
  await succeeds(fs.truncate, { filePath: `${U}/f`, length: 4 });
  assert.equal(fs.truncateSync({ filePath: `${U}/f`, length: 2 }), undefined);
  assert.equal(fs.readFileSync(`${U}/f`, 'utf8'), '12');
  await fails(fs.truncate, { filePath: `${U}/nope` }, 'truncate:fail no such file or directory, open wxfile://usr/nope', 1300002);
  syncFails(() => fs.truncateSync({ filePath: `${U}/nope` }), 'truncateSync:fail no such file or directory, open wxfile://usr/nope', 1300002);
});

test('write / writeSync: strings, ArrayBuffers with offset and length, positions', async () => {
  const { fs } = sandbox('write');
  const fd = fs.openSync({ filePath: `${U}/f`, flag: 'w+' });
  const r = await succeeds(fs.write, { fd, data: 'héllo' });
  assert.equal(r.bytesWritten, 6, 'bytes, not characters');
  const w = fs.writeSync({ fd, data: new Uint8Array([0x41, 0x42, 0x43, 0x44]).buffer, offset: 1, length: 2, position: 0 });
  assert.deepEqual(w, { bytesWritten: 2 });
  assert.equal(fs.readFileSync(`${U}/f`, 'hex'), '4243a96c6c6f');
  await fails(fs.write, { fd: '999', data: 'x' }, 'write:fail bad file descriptor', 1300009);
  const ro = fs.openSync({ filePath: `${U}/f`, flag: 'r' });
  syncFails(() => fs.writeSync({ fd: ro, data: 'x' }), 'writeSync:fail permission denied', 1302001);
});

test('writeFile / writeFileSync: encodings and ArrayBuffers; the package is read-only', async () => {
  const { fs } = sandbox('writefile');
  await succeeds(fs.writeFile, { filePath: `${U}/a`, data: 'aGk=', encoding: 'base64' });
  assert.equal(fs.readFileSync(`${U}/a`, 'utf8'), 'hi');
  assert.equal(fs.writeFileSync(`${U}/b`, new Uint8Array([0, 255]).buffer), undefined);
  assert.deepEqual([...bytes(fs.readFileSync(`${U}/b`))], [0, 255]);
  fs.writeFileSync(`${U}/c`, 'ff00', 'hex');
  assert.deepEqual([...bytes(fs.readFileSync(`${U}/c`))], [255, 0]);
  await fails(fs.writeFile, { filePath: 'a.txt', data: 'x' }, 'writeFile:fail permission denied, open a.txt', 1301004);
  syncFails(() => fs.writeFileSync(`${U}/x/y`, 'x'), 'writeFileSync:fail no such file or directory, open wxfile://usr/x/y', 1300002);
  syncFails(() => fs.writeFileSync(`${U}/d`, 'data:text/plain;base64,aGk=', 'base64'), 'writeFileSync:fail base64 encode error', 1300203);
});
