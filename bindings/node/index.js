// wxfs for Node hosts (desktop, devtools, Electron, tests):
//
//   const wxfs = require('wxfs-node');     // or require('<checkout>/bindings/node')
//   const sb = wxfs.open({ root, appId, userId, packageDir });   // the config of wxfs_open
//   sb.wx                  // getFileSystemManager(), setStorageSync, ... (bindings/js)
//                          // with config `platform` 'alipay' | 'douyin' | 'baidu' | 'qq': sb.my | sb.tt |
//                          // sb.swan | sb.qq instead (sb.api is the object whatever the platform)
//   sb.invoke(api, args)   // the raw bridge, host.* included; ArrayBuffers in and out as ArrayBuffers
//   sb.close()
//
// The library is WXFS_LIB; else, in a checkout, the newer of its target/release and
// target/debug builds; else the prebuild of the package for this platform (the optional
// dependency wxfs-node-<platform>, napi-rs's layout). The addon (bindings/node/addon, built by the
// same `cargo build`) is WXFS_NODE_ADDON or lies beside that library. See README.md for why an
// addon and not an FFI package.
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const core = require('./js');

const PACKAGE = 'wxfs-node';
/** The platforms the npm package ships a prebuild for: `${PACKAGE}-<triple>` packages. */
const PREBUILDS = ['linux-x64-gnu'];
const CHECKOUT = path.resolve(__dirname, '..', '..');
/** Whether this file runs from a wxfs checkout (bindings/node), not from an installed package. */
const IN_CHECKOUT = fs.existsSync(path.join(CHECKOUT, 'include', 'wxfs.h')) && fs.existsSync(path.join(CHECKOUT, 'Cargo.toml'));

/**
 * napi-rs's name for a platform: `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`,
 * `win32-x64-msvc`. `sys` ({platform, arch, glibc}) defaults to this process.
 */
function platformTriple(sys) {
  const s = sys || {};
  const platform = s.platform || process.platform;
  const arch = s.arch || process.arch;
  if (platform === 'linux') {
    let glibc = s.glibc;
    if (glibc === undefined) {
      const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null;
      glibc = !!(report && report.header && report.header.glibcVersionRuntime);
    }
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** {lib, addon} of the installed prebuild package for `triple`, or null when it is not installed. */
function prebuilt(triple, resolve) {
  const name = `${PACKAGE}-${triple}`;
  try {
    return (resolve || require)(name);
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(name)) return null;
    throw e;
  }
}

function libName(stem) {
  if (process.platform === 'win32') return `${stem}.dll`;
  if (process.platform === 'darwin') return `lib${stem}.dylib`;
  return `lib${stem}.so`;
}

function mtime(p) {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * {lib, addon}: where the library and the addon are, or an Error saying where they were looked
 * for. `sys` ({platform, arch, glibc, checkout, resolve}) is this process's unless a test says.
 */
function locate(env = process.env, sys = {}) {
  const inCheckout = sys.checkout === undefined ? IN_CHECKOUT : sys.checkout;
  if (!env.WXFS_LIB && !inCheckout) {
    const triple = platformTriple(sys);
    const found = prebuilt(triple, sys.resolve);
    if (found) return { lib: env.WXFS_LIB || found.lib, addon: env.WXFS_NODE_ADDON || found.addon };
    const fromSource =
      'build libwxfs and its Node addon from the wxfs sources (`cargo build --release`) and set WXFS_LIB ' +
      `and WXFS_NODE_ADDON to target/release/${libName('wxfs')} and ${libName('wxfs_node')}`;
    if (PREBUILDS.includes(triple)) {
      throw new Error(
        `wxfs: the prebuild for ${triple} (the optional dependency ${PACKAGE}-${triple}) is not installed: ` +
          `install it (npm install ${PACKAGE}-${triple}@${require('./package.json').version}, and do not omit optional dependencies), or ${fromSource}`,
      );
    }
    throw new Error(`wxfs: no prebuilt library for this platform, ${triple} (${PACKAGE} has prebuilds for ${PREBUILDS.join(', ')} only). To run here, ${fromSource}`);
  }
  const builds = ['release', 'debug'].map((p) => path.join(CHECKOUT, 'target', p));
  const newest = (name) =>
    builds
      .map((d) => path.join(d, name))
      .filter((p) => mtime(p) >= 0)
      .sort((a, b) => mtime(b) - mtime(a))[0];
  const lib = env.WXFS_LIB || newest(libName('wxfs'));
  if (!lib || mtime(lib) < 0) {
    throw new Error(
      `wxfs: library not found (WXFS_LIB is ${env.WXFS_LIB ? `${env.WXFS_LIB}, which does not exist` : 'unset'}; ` +
        `no ${libName('wxfs')} in ${builds.join(' or ')}): run \`cargo build --release\` in ${CHECKOUT}`,
    );
  }
  const beside = path.join(path.dirname(lib), libName('wxfs_node'));
  const addon = env.WXFS_NODE_ADDON || (mtime(beside) >= 0 ? beside : newest(libName('wxfs_node')));
  if (!addon || mtime(addon) < 0) {
    throw new Error(`wxfs: Node addon ${libName('wxfs_node')} not found beside ${lib} or in ${builds.join(' or ')}: run \`cargo build --release\` in ${CHECKOUT}`);
  }
  return { lib, addon };
}

let native = null;
// The `done` of each async call in flight, by the id its call was given: a dense array of slots
// whose ids are reused once their result has come (a Map of ids was a tenth of a burst's time).
const pending = [];
const freeIds = [];

function take(id) {
  const done = pending[id];
  if (done === undefined) return undefined;
  pending[id] = undefined;
  freeIds.push(id);
  return done;
}

// Async calls without argument buffers wait here (handle, api, json, done, dialect, ...) until
// this turn of JavaScript ends (a microtask), or until the next sync call or close through this
// module, whichever comes first. Then they go to the library back to back, in issue order: a
// worker woken for the first finds the rest queued, where one woken per call (and the wake's
// syscall on this thread) made 10,000 setStorage calls cost 9-11 times the Sync ones.
// A sync call still sees every async call issued before it, and a call with argument buffers is
// queued at once (the library copies its buffers before the call returns, as before).
let outbox = [];
let flushScheduled = false;

function flushOutbox() {
  if (outbox.length === 0) return;
  const calls = outbox;
  outbox = [];
  for (let i = 0; i < calls.length; i += 5) submitAsync(calls[i], calls[i + 1], calls[i + 2], undefined, calls[i + 3], calls[i + 4], false);
}

function scheduledFlush() {
  flushScheduled = false;
  flushOutbox();
}

/**
 * Queue one async call with the library. A refusal (bad handle, queue full) is answered through
 * `done` as the library would have answered; so, when `late` (the call has returned already), is
 * an argument the addon throws for, as bindings/js answers one thrown during the call.
 */
function submitAsync(handle, api, json, buffers, done, dialect, now) {
  const id = freeIds.length !== 0 ? freeIds.pop() : pending.length;
  pending[id] = done;
  let rc;
  try {
    rc = native.addon.invokeAsync(handle, api, json, buffers, id);
  } catch (e) {
    take(id);
    if (now) throw e;
    const message = e && e.message ? e.message : String(e);
    done(JSON.stringify(dialect.failure ? dialect.failure(api, message) : { errMsg: `${api}:fail ${message}` }));
    return;
  }
  if (rc !== 0) {
    // Refused before queuing (bad handle, queue full): answer as the library would have.
    take(id);
    const message = native.addon.lastError();
    done(JSON.stringify(dialect.failure ? dialect.failure(api, message, rc) : { errMsg: `${api}:fail ${message}`, errCode: rc }));
  }
}

// Callbacks (`defer` from bindings/js) wait here, in the order they were deferred, and the whole
// list then runs from one setImmediate, not one a call: 10,000 Immediate objects for 10,000 calls
// were avoided first for the results of one dispatch, and the same list now serves the
// setStorage calls run during their call (hostStorageSetNow). No wxfs callback runs between two
// of the list, so they run in the order, and no later, than an immediate each would have run
// them; a callback deferred while the list runs waits for the next immediate (never inside its
// own call).
let later = [];

function defer(f) {
  if (later.length === 0) setImmediate(runLater);
  later.push(f);
}

/**
 * Run the waiting callbacks. One that throws is uncaught as it was from its own immediate, and the
 * rest run after it, before any deferred since (they stay at the head of the list).
 */
function runLater() {
  const list = later;
  later = [];
  for (let i = 0; i < list.length; i++) {
    try {
      list[i]();
    } catch (e) {
      if (i + 1 < list.length) {
        if (later.length === 0) setImmediate(runLater);
        later = list.slice(i + 1).concat(later);
      }
      throw e;
    }
  }
}

function load() {
  if (native) return native;
  const where = locate();
  const m = { exports: {} };
  process.dlopen(m, where.addon);
  const a = m.exports;
  a.load(where.lib);
  // One dispatcher for every sandbox: the results waiting, in the order they came, each with the
  // id its call was given (`ids` a Float64Array; `jsons` an array of texts, or one text when all
  // are the same; `buffers[i]`: result i's ArrayBuffers, if any). Every result reaches
  // its call even if one call's handler throws; the first exception is then rethrown.
  a.setDispatcher((ids, jsons, buffers) => {
    let threw = false;
    let thrown;
    for (let i = 0; i < ids.length; i++) {
      const done = take(ids[i]);
      if (done === undefined) continue;
      try {
        done(typeof jsons === 'string' ? jsons : jsons[i], buffers === undefined ? undefined : buffers[i]);
      } catch (e) {
        if (!threw) thrown = e;
        threw = true;
      }
    }
    if (threw) throw thrown;
  });
  native = { addon: a, where };
  return native;
}

// The host bindings/js calls (core.createApi), one set of functions for every sandbox: each is
// called as the host's method and finds its sandbox in `this.handle`. Closures made by each open()
// were new functions for each sandbox, which V8 had to compile again for every sandbox opened.
// Each sync call first sends the async calls waiting in the outbox.

function hostInvokeBinary(api, json, buffers) {
  if (outbox.length !== 0) flushOutbox();
  return native.addon.invoke(this.handle, api, json, buffers);
}

function hostStorageSet(key, json, dataType) {
  if (outbox.length !== 0) flushOutbox();
  return native.addon.storageSet(this.handle, key, json, dataType);
}

/** The longest value JSON an async setStorage stores during its call (hostStorageSetNow). */
const SET_NOW_MAX = 16 * 1024;

/**
 * The typed set during an async setStorage (bindings/js's storageSetNow), or null to decline.
 * Declined while any async call of this module is in flight (its callbacks come first, and the
 * library would make this thread wait for its operation), for a value over SET_NOW_MAX (its copy
 * and check belong on a worker) and in `power` durability (each set waits for a flush).
 */
function hostStorageSetNow(key, json, dataType) {
  if (outbox.length !== 0 || pending.length !== freeIds.length || json.length > SET_NOW_MAX || this.power) return null;
  return native.addon.storageSet(this.handle, key, json, dataType);
}

function hostStorageGet(key) {
  if (outbox.length !== 0) flushOutbox();
  return native.addon.storageGet(this.handle, key);
}

function hostReadFile(filePath) {
  if (outbox.length !== 0) flushOutbox();
  return native.addon.readFile(this.handle, filePath);
}

function hostInvokeBinaryAsync(api, json, buffers, done) {
  if (buffers !== undefined && buffers !== null) {
    flushOutbox();
    submitAsync(this.handle, api, json, buffers, done, this.dialect, true);
    return;
  }
  outbox.push(this.handle, api, json, done, this.dialect);
  if (!flushScheduled) {
    flushScheduled = true;
    queueMicrotask(scheduledFlush);
  }
}

/**
 * The globals of a `vm` context that `wx` built for it must use, so that `instanceof Date`,
 * `instanceof Error`, `instanceof ArrayBuffer` and `instanceof Promise` hold in its code.
 */
function realmOf(context) {
  if (!vm.isContext(context)) throw new TypeError('wxfs: apiFor(context) takes a vm context (vm.createContext())');
  return vm.runInContext('({ JSON: JSON, Object: Object, Date: Date, Error: Error, ArrayBuffer: ArrayBuffer, Uint8Array: Uint8Array, Promise: Promise })', context);
}

/**
 * Open (or share) a sandbox; `config` is wxfs_open's JSON config as an object. `options.context`:
 * a `vm` context whose code will call the object (devtools-style hosts), as for `apiFor`.
 */
function open(config, options) {
  const { addon } = load();
  const platform = (config && config.platform) || 'wechat';
  const dialect = core.dialects[platform];
  const handle = addon.open(JSON.stringify(config));
  let closed = false;
  const host = {
    handle,
    dialect,
    invokeBinary: hostInvokeBinary,
    storageSet: hostStorageSet,
    storageSetNow: hostStorageSetNow,
    power: !!(config && config.durability === 'power'),
    storageGet: hostStorageGet,
    readFile: hostReadFile,
    invokeBinaryAsync: hostInvokeBinaryAsync,
    apis: addon.apiList(handle),
    protocol: config && config.protocol,
    defer,
  };
  // The library refused an unknown platform at open, so a dialect exists here.
  const apiFor = (context) => core.createApi(context === undefined ? host : { ...host, realm: realmOf(context) }, dialect);
  const api = apiFor(options && options.context);
  return {
    [dialect.name]: api,
    api,
    platform,
    handle,
    /**
     * Another api object over this sandbox, for code running in the `vm` context `context`: its
     * results, Dates, Sync Errors, ArrayBuffers and Promises are that context's.
     */
    apiFor,
    /** The raw bridge, host.* included: a result object, its ArrayBuffers as ArrayBuffers. */
    invoke(api, args) {
      flushOutbox();
      const e = core.codec.encodeArgs(args, null, true);
      const out = addon.invoke(handle, api, e.json, e.buffers);
      return typeof out === 'string' ? core.codec.decodeBinary(out) : core.codec.decodeBinary(out[0], out.slice(1));
    },
    /** Release the handle; calls in flight complete. Closing twice is a no-op. */
    close() {
      if (closed) return 0;
      closed = true;
      flushOutbox();
      return addon.close(handle);
    },
  };
}

/** The names the library answers to (wxfs_api_list), Sync twins and host.* included. */
function apiList() {
  return JSON.parse(load().addon.apiList());
}

module.exports = {
  open,
  apiList,
  locate,
  platformTriple,
  /** The library version string. */
  version: () => load().addon.load(load().where.lib),
  /** The addon itself (invoke/invokeAsync over wxfs_invoke_v2), for hosts that wire bindings/js their own way. */
  native: () => load().addon,
};
