// Devtools-style Node and Electron hosts run mini-program code in a `vm` context of its own.
// There, binary data made in the context must cross the bridge, and the `wx` built for the context
// (wxfs.open(config, { context }) or sb.apiFor(context)) hands back that context's Dates, Errors,
// ArrayBuffers and Promises, so `instanceof` in mini-program code answers as it does in WeChat.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const vm = require('vm');
const { freshRoot, config, wxfs } = require('./helpers');

const U = 'wxfile://usr';

/** A fresh context with `wx` built for it; `run(code)` evaluates mini-program code there. */
function inContext(tag) {
  const context = vm.createContext({});
  const sb = wxfs.open(config(freshRoot(tag)), { context });
  context.wx = sb.wx;
  return { sb, context, run: (code) => vm.runInContext(code, context) };
}

test('an ArrayBuffer and a typed array made in another context cross the bridge', () => {
  // The plain package object, as a host that ignores realms has it.
  const context = vm.createContext({});
  const sb = wxfs.open(config(freshRoot('realm-bin')));
  context.fs = sb.wx.getFileSystemManager();
  vm.runInContext(
    `fs.writeFileSync('${U}/ab', new Uint8Array([104, 105]).buffer);
     fs.writeFileSync('${U}/view', new Uint8Array([1, 2, 3, 4]).subarray(1, 3));
     fs.appendFileSync('${U}/ab', new Uint8Array([33]).buffer);`,
    context,
  );
  assert.equal(sb.wx.getFileSystemManager().readFileSync(`${U}/ab`, 'utf8'), 'hi!');
  assert.deepEqual([...new Uint8Array(sb.wx.getFileSystemManager().readFileSync(`${U}/view`))], [2, 3]);
  const buf = vm.runInContext('new ArrayBuffer(3)', context);
  const fd = sb.wx.getFileSystemManager().openSync({ filePath: `${U}/ab` });
  assert.equal(sb.wx.getFileSystemManager().readSync({ fd, arrayBuffer: buf, length: 3, position: 0 }).bytesRead, 3);
  assert.deepEqual([...new Uint8Array(buf)], [104, 105, 33]);
  assert.equal(sb.invoke('host.createTempFile', { data: vm.runInContext('new Uint8Array([7]).buffer', context) }).errMsg, 'host.createTempFile:ok');
  sb.close();
});

test('wx built for a context: Dates, Errors, ArrayBuffers, result objects and Promises of that context', async () => {
  const { run, sb } = inContext('realm-wx');
  assert.equal(
    run(`wx.setStorageSync('when', new Date(86400000));
         var d = wx.getStorageSync('when');
         d instanceof Date && d.getTime() === 86400000`),
    true,
  );
  assert.equal(run(`var e; try { wx.getFileSystemManager().readFileSync('${U}/none'); } catch (x) { e = x; }
    e instanceof Error && e.errCode === 1300002 && e.message === 'readFileSync:fail no such file or directory, open ${U}/none'`), true);
  run(`wx.getFileSystemManager().writeFileSync('${U}/f', 'abc')`);
  assert.equal(run(`var b = wx.getFileSystemManager().readFileSync('${U}/f'); b instanceof ArrayBuffer && b.byteLength === 3`), true);
  assert.equal(run(`var s = wx.getFileSystemManager().statSync('${U}/f'); s.isFile() && s.size === 3`), true);
  assert.equal(run(`wx.getStorageInfoSync() instanceof Object && Array.isArray(wx.getStorageInfoSync().keys)`), true);
  const viaPromise = await run(`var p = wx.getStorage({ key: 'when' }); p instanceof Promise ? p.then(function (r) { return r.data instanceof Date; }) : 'not the context Promise'`);
  assert.equal(viaPromise, true);
  const asyncRead = await run(`new Promise(function (resolve) {
      wx.getFileSystemManager().readFile({ filePath: '${U}/f', success: function (r) { resolve(r.data instanceof ArrayBuffer && r instanceof Object); } });
    })`);
  assert.equal(asyncRead, true);
  // The host's own object is unchanged: host-realm values.
  const hostWx = wxfs.open(config(freshRoot('realm-host'))).wx;
  hostWx.setStorageSync('when', new Date(5));
  assert.ok(hostWx.getStorageSync('when') instanceof Date);
  sb.close();
});

test('apiFor(context) builds another object over the same sandbox', () => {
  const sb = wxfs.open(config(freshRoot('realm-apifor')));
  const context = vm.createContext({});
  context.wx = sb.apiFor(context);
  sb.wx.setStorageSync('k', new Date(42));
  assert.equal(vm.runInContext(`var d = wx.getStorageSync('k'); d instanceof Date && +d === 42`, context), true);
  assert.ok(sb.wx.getStorageSync('k') instanceof Date);
  assert.throws(() => sb.apiFor({}), /vm context/);
  sb.close();
});
