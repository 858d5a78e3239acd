// The engine-neutral core: a host hands it its native invoke (and, if it has one, the async twin)
// and gets back the object mini-program code calls (`wx`, `my`, `tt`, `swan` or `qq`, built from
// a dialect table in dialects/). No Node,
// browser or FFI API is used; the only globals touched are the optional schedulers a host may
// leave to the defaults (setImmediate, setTimeout, Promise).
//
// The contract it gives (docs/wechat-behaviour.md §1, §5.3): success/fail/complete callbacks, each called once,
// never during the call that started it and never inside the native callback (a Sync call in a
// `success` must not wait on the library's worker that is delivering it); a Promise exactly where
// the dialect says (never for FileSystemManager), marked handled so that a rejection nobody awaits
// does not kill a Node host; Sync failures thrown as an Error with `errMsg` and `errCode` (or, where
// the dialect says so, returned: Baidu returns the Error, Alipay's storage Sync forms return the
// failure object). `host.*` apis are never reachable from the object built here.
'use strict';

var codec = require('./codec');

/** No argument field is lifted out as bytes (storage arguments). */
var NO_FIELDS = [];

var S_IFMT = 0xf000;
var S_IFREG = 0x8000;
var S_IFDIR = 0x4000;

/** WeChat's Stats: the bridge's fields, with isFile()/isDirectory() derived from `mode`. */
function Stats(raw) {
  this.mode = raw.mode;
  this.size = raw.size;
  this.lastAccessedTime = raw.lastAccessedTime;
  this.lastModifiedTime = raw.lastModifiedTime;
}
Stats.prototype.isFile = function () {
  return (this.mode & S_IFMT) === S_IFREG;
};
Stats.prototype.isDirectory = function () {
  return (this.mode & S_IFMT) === S_IFDIR;
};

/** Stats of one path, a recursive array of {path, stats} (WeChat) or {path, stat} (Douyin), or an
 * object keyed by relative path (Alipay). */
function reviveStats(stats) {
  if (Array.isArray(stats)) {
    return stats.map(function (e) {
      var o = { path: e.path };
      if (e.stats) o.stats = new Stats(e.stats);
      if (e.stat) o.stat = new Stats(e.stat);
      return o;
    });
  }
  if (!stats || typeof stats !== 'object') return stats;
  if (typeof stats.mode === 'number') return new Stats(stats);
  var out = {};
  Object.keys(stats).forEach(function (k) {
    out[k] = new Stats(stats[k]);
  });
  return out;
}

function isOkMessage(res) {
  var m = res && res.errMsg;
  if (typeof m !== 'string') return false;
  // m ends with ':ok' (no substring made: this runs twice for every async result).
  var n = m.length;
  return n >= 3 && m.charCodeAt(n - 3) === 58 && m.charCodeAt(n - 2) === 111 && m.charCodeAt(n - 1) === 107;
}

/** The Error a Sync form throws: the failure's errMsg as message, with errMsg and errCode; an
 * Error of `realm` when given (the realm the api object is for). */
function syncError(res, realm) {
  var e = new (realm ? realm.Error : Error)(res.errMsg);
  e.errMsg = res.errMsg;
  if (res.errCode !== undefined) e.errCode = res.errCode;
  return e;
}

function defaultDefer() {
  if (typeof setImmediate === 'function') return setImmediate;
  if (typeof setTimeout === 'function') {
    return function (f) {
      setTimeout(f, 0);
    };
  }
  return function (f) {
    Promise.resolve().then(f);
  };
}

function defaultReport(e) {
  // Like an exception thrown from any other event: the host's uncaught-error handling sees it.
  defaultDefer()(function () {
    throw e;
  });
}

/**
 * The transport: api + argument object in, result object out, over whichever native form the
 * host has. Returns {call(api, args, lift), callAsync(api, args, lift, done), ...}; with a binary
 * host, callAsync's `done` gets the native's (json, buffers), which decodeAsync makes a result.
 */
function transport(host, binaryFields, realm) {
  var binary = typeof host.invokeBinary === 'function';
  if (!binary && typeof host.invokeJson !== 'function') {
    throw new TypeError('wxfs: the host must provide invokeBinary(api, json, buffers) or invokeJson(api, json)');
  }
  function decodeBinary(out) {
    return typeof out === 'string' ? codec.decodeBinary(out, undefined, realm) : codec.decodeBinary(out[0], out.slice(1), realm);
  }
  var asyncNative = binary ? host.invokeBinaryAsync : host.invokeJsonAsync;
  function callRaw(api, json) {
    return binary ? host.invokeBinary(api, json) : host.invokeJson(api, json);
  }
  function decode(out) {
    return binary ? decodeBinary(out) : codec.decodeBase64(out, realm);
  }
  function callJson(api, json) {
    return decode(callRaw(api, json));
  }
  return {
    host: host,
    binary: binary,
    binaryFields: binaryFields,
    realm: realm,
    // By api: the library's whole answer to its success with nothing to return, and its errMsg
    // (decodeAsync).
    okTexts: Object.create(null),
    call: function (api, args, lift) {
      if (!lift) return callJson(api, JSON.stringify(args));
      var e = codec.encodeArgs(args, binaryFields, binary);
      return binary ? decodeBinary(host.invokeBinary(api, e.json, e.buffers)) : codec.decodeBase64(host.invokeJson(api, e.json), realm);
    },
    /** A call whose arguments are JSON text already (no ArrayBuffer among them). */
    callJson: callJson,
    /**
     * callJson, with the result as the native call gave it: `decode(out)` gives the object. A
     * caller that knows the exact text of a success may skip the parse.
     */
    callRaw: callRaw,
    decode: decode,
    hasAsync: typeof asyncNative === 'function',
  };
}

// The async path (callAsync, decodeAsync, runAsync, settle) is module-level functions that take
// the transport or the api object's state as an argument, not closures made by each createApi: an
// engine's optimizing compiler inlines a call into the function it saw there, and a closure made
// per api object is a new function each time a sandbox opens, so every sandbox opened threw the
// compiled path away and compiled it again.

/** Send an async call through transport `t`; `done` gets the native's (json, buffers), or, from a JSON host, the result object. */
function callAsync(t, api, args, lift, done) {
  var e = codec.encodeArgs(args, lift ? t.binaryFields : NO_FIELDS, t.binary);
  if (t.binary) {
    t.host.invokeBinaryAsync(api, e.json, e.buffers, done);
  } else {
    var realm = t.realm;
    t.host.invokeJsonAsync(api, e.json, function (json) {
      done(codec.decodeBase64(json, realm));
    });
  }
}

/**
 * The result object of an async call from what the binary host's async native gave (the JSON
 * text and its buffers; callAsync hands `done` those as they come). A bare success (most async
 * calls' whole answer) is made, not parsed: the same object.
 */
function decodeAsync(t, api, json, buffers) {
  var ok = t.okTexts[api];
  if (ok === undefined) {
    // The errMsg made once: one concatenated for each result was flattened again by the
    // isOkMessage that read it.
    ok = t.okTexts[api] = { text: '{"errMsg":' + JSON.stringify(api + ':ok') + '}', errMsg: api + ':ok' };
  }
  if (json === ok.text && !buffers) {
    var r = t.realm ? new t.realm.Object() : {};
    r.errMsg = ok.errMsg;
    return r;
  }
  return codec.decodeBinary(json, buffers, t.realm);
}

function callSafely(k, f, res) {
  if (typeof f !== 'function') return;
  try {
    f(res);
  } catch (e) {
    k.report(e);
  }
}

/** Hand a result to the caller's callbacks (or Promise), later, on the JS thread. */
function settle(k, res, opts, promise) {
  if (k.isOk(res)) {
    callSafely(k, opts.success, res);
    callSafely(k, opts.complete, res);
    if (promise) promise.resolve(res);
  } else {
    callSafely(k, opts.fail, res);
    callSafely(k, opts.complete, res);
    if (promise) promise.reject(res);
  }
}

/**
 * The Promise an async form returns when `promiseCapable` and no callback was given, as
 * `{result, resolve, reject}`; null otherwise. Handled from birth: an unawaited rejection is the
 * caller's choice, as in WeChat, and must not become Node's fatal unhandled rejection. Awaiting it
 * still throws.
 */
function promiseFor(k, o, promiseCapable) {
  if (!promiseCapable || typeof o.success === 'function' || typeof o.fail === 'function' || typeof o.complete === 'function') {
    return null;
  }
  var p = { result: null, resolve: null, reject: null };
  p.result = new k.PromiseOf(function (resolve, reject) {
    p.resolve = resolve;
    p.reject = reject;
  });
  p.result.catch(function () {});
  return p;
}

/**
 * Run an async form for the api object whose state is `k` (createApi's): `prepare(k, api, opts)`
 * gives the bridge arguments, `finish(k, api, res, opts)` shapes the result. Returns a Promise
 * when `promiseCapable` and no callback was given.
 */
function runAsync(k, api, opts, promiseCapable, lift, prepare, finish) {
  var o = opts && typeof opts === 'object' ? opts : {};
  var promise = promiseFor(k, o, promiseCapable);
  var result = promise === null ? undefined : promise.result;
  var t = k.t;
  // `res`: the result object; or, from a binary host's async native, its JSON text and buffers
  // (one closure a call, not one to decode and one to deliver).
  var deliver = function (res, buffers) {
    // This runs inside the host's native callback: nothing may throw out of it, or the
    // callbacks never run (and a Node host under the strict exception policy exits).
    var shaped;
    try {
      if (typeof res === 'string') res = decodeAsync(t, api, res, buffers);
      shaped = k.isOk(res) ? finish(k, api, res, o) : res;
    } catch (e) {
      shaped = k.failure(api, e && e.message ? e.message : String(e));
    }
    // Never inside the native callback, never before the call returned.
    k.defer(function () {
      settle(k, shaped, o, promise);
    });
  };
  try {
    var args = prepare(k, api, o);
    if (t.hasAsync) {
      callAsync(t, api, args, lift, deliver);
    } else {
      deliver(t.call(api, args, lift));
    }
  } catch (e) {
    // Arguments JSON cannot carry (a BigInt, a cycle): a failure like any other, not a throw.
    deliver(k.failure(api, e && e.message ? e.message : String(e)));
  }
  return result;
}

/**
 * An async setStorage through the host's `storageSetNow` (createApi): the typed set run during
 * the call, its callbacks deferred as any async call's are. Only a bare set qualifies (a string
 * key, no `encrypt`); anything else, a set the host declines (null) and a set that fails go the
 * ordinary async way, where the bridge answers in the platform's words (a failed typed set
 * changes nothing, as for setStorageSync).
 */
function runSetStorageNow(k, opts, promiseCapable) {
  var o = opts;
  if (o !== null && typeof o === 'object' && typeof o.key === 'string' && o.key !== '' && o.encrypt === undefined) {
    var code = null;
    try {
      var v = k.types.encode(o.data);
      var text = JSON.stringify(v.data);
      if (text !== undefined) code = k.t.host.storageSetNow(o.key, text, v.dataType);
    } catch (e) {
      code = null; // a BigInt, a cycle: the ordinary path answers it
    }
    if (code === 0) {
      var promise = promiseFor(k, o, promiseCapable);
      var res = k.realm ? new k.realm.Object() : {};
      res.errMsg = 'setStorage:ok';
      k.defer(function () {
        settle(k, res, o, promise);
      });
      return promise === null ? undefined : promise.result;
    }
  }
  return runAsync(k, 'setStorage', opts, promiseCapable, false, prepareStorage, finishStorage);
}

/** An option object's own fields but its callbacks. */
function copyFields(o) {
  var a = {};
  for (var k in o) {
    if (k === 'success' || k === 'fail' || k === 'complete') continue;
    if (Object.prototype.hasOwnProperty.call(o, k)) a[k] = o[k];
  }
  return a;
}

/** The bridge arguments of a storage call, values encoded with the dialect's dataTypes. */
function storageArgs(types, api, o) {
  var a = copyFields(o);
  if (api === 'setStorage') {
    var v = types.encode(o.data);
    a.data = v.data;
    if (v.dataType !== undefined) a.dataType = v.dataType;
  } else if (api === 'batchSetStorage' && Array.isArray(o.kvList)) {
    a.kvList = o.kvList.map(function (item) {
      if (!item || typeof item !== 'object') return item;
      var e = types.encode(item.value);
      var out = { key: item.key, value: e.data };
      if (e.dataType !== undefined) out.dataType = e.dataType;
      return out;
    });
  }
  return a;
}

/** A storage result, its data revived from its dataType. */
function shapeStorage(types, realm, api, res) {
  if (api === 'getStorage') {
    res.data = types.decode(res.data, res.dataType, realm);
    delete res.dataType;
  } else if (api === 'batchGetStorage' && Array.isArray(res.dataList)) {
    var dt = res.dataTypeList;
    if (Array.isArray(dt)) {
      res.dataList = res.dataList.map(function (d, i) {
        return types.decode(d, dt[i], realm);
      });
    }
    delete res.dataTypeList;
  }
  return res;
}

// The `prepare` and `finish` of the global apis' async forms (runAsync).
function prepareStorage(k, api, o) {
  return storageArgs(k.types, api, o);
}
function prepareCopy(k, api, o) {
  return copyFields(o);
}
function finishStorage(k, api, res) {
  return shapeStorage(k.types, k.realm, api, res);
}
function finishAsIs(k, api, res) {
  return res;
}

/**
 * Build the api object a dialect describes.
 *
 * host (its functions are called as its methods, `this` the host):
 * {
 *   invokeBinary(api, argsJson, buffers) -> json | [json, ...ArrayBuffer]   (wxfs_invoke_v2), or
 *   invokeJson(api, argsJson) -> json                                       (wxfs_invoke);
 *   invokeBinaryAsync(api, argsJson, buffers, done(json, buffers)) / invokeJsonAsync(api, argsJson, done(json)): optional;
 *   apis: the names the library answers to (wxfs_api_list), as an array or its JSON text;
 *   protocol: 'wxfile' (default) or 'http', as in the sandbox's config;
 *   defer(fn): optional, runs fn later on the JS thread (default setImmediate / setTimeout);
 *   reportError(e): optional, receives an exception thrown by a user callback (default: rethrown later);
 *   storageSet(key, dataJson, dataType) -> code: optional, the typed wxfs_storage_set (0 when stored),
 *     which setStorageSync uses first (a failure is then asked of the bridge for its errMsg).
 *   storageSetNow(key, dataJson, dataType) -> code | null: optional, the typed set run during an
 *     async setStorage (whose callbacks are then deferred like any async call's), for a host where a
 *     small set costs less than handing it to a worker: null when the host declines (a call of
 *     its still in flight, whose callbacks must come first; a set too large or too slow to run on
 *     this thread), else the code as storageSet's. Used only where the platform's success is an
 *     errMsg (the result `{errMsg: 'setStorage:ok'}` is made here); a failure is asked of the
 *     bridge through the ordinary async call.
 *   storageGet(key) -> json | [json, dataType] | code: optional, the typed wxfs_storage_get, which
 *     getStorageSync uses first (anything but a value found is then asked of the bridge).
 *   readFile(filePath) -> ArrayBuffer | code: optional, a whole file's bytes (wxfs_read_file_alloc),
 *     which readFileSync(filePath) uses first when the platform's readFileSync returns the bytes
 *     alone (a failure is then asked of the bridge).
 *   realm: optional, {JSON, Object, Date, Error, ArrayBuffer, Uint8Array, Promise} of the realm the object
 *     is for (a `vm` context, an iframe), when that is not this one: results, Dates, Sync Errors,
 *     ArrayBuffers (copied) and Promises are then made there, so `instanceof` there holds.
 * }
 */
function createApi(host, dialect) {
  var realm = host.realm || null;
  var PromiseOf = realm ? realm.Promise : Promise;
  var parseJson = realm ? realm.JSON.parse : JSON.parse;
  var newObject = realm
    ? function () {
        return new realm.Object();
      }
    : function () {
        return {};
      };
  var t = transport(host, dialect.binaryFields, realm);
  // The platform's envelope: WeChat's errMsg unless the dialect says otherwise (Alipay).
  var isOk = dialect.isOk || isOkMessage;
  var makeError = dialect.syncError || syncError;
  var failure =
    dialect.failure ||
    function (api, message) {
      return { errMsg: api + ':fail ' + message };
    };
  /** A failed Sync call: thrown, or returned where the platform returns it (dialect.syncFailure). */
  function syncFailed(api, res) {
    var how = dialect.syncFailure ? dialect.syncFailure(api) : 'throw';
    if (how === 'result') return res;
    var e = makeError(res, realm);
    if (how === 'error') return e;
    throw e;
  }
  var defer = host.defer || defaultDefer();
  var report = host.reportError || defaultReport;
  var known = host.apis === undefined ? null : typeof host.apis === 'string' ? JSON.parse(host.apis) : host.apis;
  var has = function (name) {
    return known === null || known.indexOf(name) >= 0;
  };
  var types = dialect.storageTypes;
  var storageSet = typeof host.storageSet === 'function' ? host.storageSet : null;
  var storageGet = typeof host.storageGet === 'function' ? host.storageGet : null;
  var readFile = typeof host.readFile === 'function' ? host.readFile : null;
  // The typed set during an async setStorage, where the platform's success is WeChat's errMsg
  // (runSetStorageNow makes that result itself).
  var setNow = typeof host.storageSetNow === 'function' && !dialect.isOk;

  // The api object's state that the module-level async path takes (see runAsync).
  var k = { PromiseOf: PromiseOf, t: t, isOk: isOk, failure: failure, defer: defer, report: report, types: types, realm: realm };

  function runSync(api, args, lift, finish) {
    var res = t.call(api, args, lift);
    if (!isOk(res)) return syncFailed(api, res);
    return finish(res);
  }

  /** The Sync form's return value from a success result ('*': the whole result, as Alipay's). */
  function pick(res, returns) {
    if (returns === null || returns === undefined) return undefined;
    if (returns === '*') return res;
    if (typeof returns === 'string') return res[returns];
    var out = newObject();
    for (var i = 0; i < returns.length; i++) out[returns[i]] = res[returns[i]];
    return out;
  }

  function positional(names, argv) {
    var o = {};
    for (var i = 0; i < names.length && i < argv.length; i++) if (argv[i] !== undefined) o[names[i]] = argv[i];
    return o;
  }

  // ---- FileSystemManager -----------------------------------------------------------------------

  /**
   * read: the library fills a buffer of the caller's size and this copies it into the caller's own.
   * `arrayBufferLength` is the bridge's stand-in for that buffer, never the caller's: one given
   * without a buffer is dropped, so the library answers as WeChat does for a missing arrayBuffer.
   */
  function readArgs(o) {
    var a = copyFields(o);
    var target = a.arrayBuffer;
    delete a.arrayBufferLength;
    if (codec.isBinary(target)) {
      delete a.arrayBuffer;
      a.arrayBufferLength = target.byteLength;
    }
    return { args: a, target: target };
  }

  function fillRead(res, target, offset) {
    var data = res.data;
    delete res.data;
    if (!codec.isBinary(target)) throw new TypeError('wxfs: read answered without a buffer to fill');
    if (data && res.bytesRead > 0) codec.bytesOf(target).set(new Uint8Array(data, 0, res.bytesRead), offset || 0);
    res.arrayBuffer = target;
    return res;
  }

  function shapeFs(method, res) {
    if (method === 'stat' || method === 'fstat') {
      res.stats = reviveStats(res.stats);
      if (res.stat !== undefined) res.stat = reviveStats(res.stat);
    }
    return res;
  }

  /** A Sync form's arguments: positional as the row says, or, where the platform also takes
   * one option object (Alipay's obj|pos overloads), that object. */
  function syncOption(row, argv) {
    if (row.sync === 'option') return argv[0] || {};
    var first = argv[0];
    if (dialect.syncTakesObject && argv.length === 1 && first && typeof first === 'object' && !codec.isBinary(first)) {
      return first;
    }
    return positional(row.sync, argv);
  }

  var fsm = {};
  Object.keys(dialect.fileSystemManager).forEach(function (method) {
    var row = dialect.fileSystemManager[method];
    var isRead = method === 'read';
    if (has(method)) {
      fsm[method] = function (option) {
        var target;
        runAsync(
          k,
          method,
          option,
          dialect.promise.fileSystemManager,
          true,
          function (k, api, o) {
            if (!isRead) return copyFields(o);
            var r = readArgs(o);
            target = r.target;
            return r.args;
          },
          function (k, api, res, o) {
            return isRead ? fillRead(res, target, o.offset) : shapeFs(method, res);
          }
        );
      };
    }
    var syncName = method + 'Sync';
    // readFileSync(filePath) with nothing else, returning the bytes alone: the host's typed read
    // when it has one. Anything but the bytes (a failure) is asked of the bridge, which answers
    // in the platform's words.
    var typedRead = method === 'readFile' && readFile !== null && row.returns === 'data' && Array.isArray(row.sync) && row.sync[0] === 'filePath';
    if (row.sync !== null && has(syncName)) {
      fsm[syncName] = function () {
        if (typedRead && typeof arguments[0] === 'string' && arguments[1] === undefined && arguments[2] === undefined && arguments[3] === undefined) {
          var got = host.readFile(arguments[0]);
          if (typeof got !== 'number') return codec.adopt(got, realm);
        }
        var o = syncOption(row, arguments);
        if (isRead) {
          var r = readArgs(o);
          return runSync(syncName, r.args, true, function (res) {
            return pick(fillRead(res, r.target, o.offset), row.returns);
          });
        }
        return runSync(syncName, o === arguments[0] ? copyFields(o) : o, true, function (res) {
          return pick(shapeFs(method, res), row.returns);
        });
      };
    }
  });

  // ---- global apis: storage with dataType revival, legacy files ---------------------------------

  var out = {};
  Object.keys(dialect.globals).forEach(function (name) {
    var row = dialect.globals[name];
    var prepare = row.storage ? prepareStorage : prepareCopy;
    var finish = row.storage ? finishStorage : finishAsIs;
    if (has(name) && name === 'setStorage' && setNow) {
      out[name] = function (option) {
        return runSetStorageNow(k, option, dialect.promise.globals);
      };
    } else if (has(name)) {
      out[name] = function (option) {
        return runAsync(k, name, option, dialect.promise.globals, !row.storage, prepare, finish);
      };
    }
    var syncName = name + 'Sync';
    if (name === 'getStorage' && has(syncName) && Array.isArray(row.sync)) {
      // The hottest call a mini-program makes: no intermediate objects on the way in.
      out[syncName] = function (key) {
        if (storageGet !== null && typeof key === 'string' && key !== '') {
          // The host's typed get: only the value's JSON is parsed. Anything but a value found (a
          // missing key, an error) is asked of the bridge, which answers in the platform's words.
          var got = host.storageGet(key);
          if (typeof got === 'string') return parseJson(got);
          if (got !== null && typeof got === 'object') return types.decode(parseJson(got[0]), got[1], realm);
        }
        var res = t.callJson(syncName, key === undefined ? '{}' : '{"key":' + JSON.stringify(key) + '}');
        if (!isOk(res)) return syncFailed(syncName, res);
        return types.decode(res.data, res.dataType, realm);
      };
      return;
    }
    if (name === 'setStorage' && has(syncName) && Array.isArray(row.sync)) {
      // The library's whole answer to a set that succeeded: no parse for the common case.
      var setOk = '{"errMsg":"' + syncName + ':ok"}';
      out[syncName] = function (key, data) {
        var v = types.encode(data);
        if (storageSet !== null && typeof key === 'string' && key !== '') {
          // The host's typed set: no argument object, no result text. A failure is asked of the
          // bridge below, which refuses the same set in the platform's words and changes nothing.
          var text = JSON.stringify(v.data);
          if (text !== undefined && host.storageSet(key, text, v.dataType) === 0) return;
        }
        var json =
          (key === undefined ? '{' : '{"key":' + JSON.stringify(key) + ',') +
          '"data":' +
          JSON.stringify(v.data) +
          (v.dataType === undefined ? '}' : ',"dataType":"' + v.dataType + '"}');
        var out = t.callRaw(syncName, json);
        if (out === setOk) return;
        var res = t.decode(out);
        if (!isOk(res)) return syncFailed(syncName, res);
      };
      return;
    }
    if (row.sync !== null && has(syncName)) {
      out[syncName] = function () {
        var o = syncOption(row, arguments);
        if (o === arguments[0] && !row.storage) o = copyFields(o);
        return runSync(syncName, row.storage ? storageArgs(types, name, o) : o, !row.storage, function (res) {
          return pick(finish(k, name, res), row.returns);
        });
      };
    }
  });

  // wx.createBufferURL(buffer) -> url and wx.revokeBufferURL(url) (storage category, base library
  // 2.14.0): synchronous and positional, and WeChat's alone, so they are not rows of a dialect
  // table. The buffer (an ArrayBuffer or a TypedArray) crosses as `data`, a binary field.
  if (dialect.name === 'wx' && has('createBufferURL')) {
    out.createBufferURL = function (buffer) {
      return runSync('createBufferURL', { data: buffer }, true, function (res) {
        return res.url;
      });
    };
  }
  if (dialect.name === 'wx' && has('revokeBufferURL')) {
    out.revokeBufferURL = function (url) {
      runSync('revokeBufferURL', { url: url }, false, function () {});
    };
  }

  out.getFileSystemManager = function () {
    return fsm;
  };
  out.env = { USER_DATA_PATH: dialect.userDataPath(host.protocol) };

  /** canIUse for this subset: `api`, `apiSync`, `FileSystemManager.method`, `api.object.param`. */
  out.canIUse = function (schema) {
    if (typeof schema !== 'string' || schema === '') return false;
    var parts = schema.split('.');
    var rows = dialect.globals;
    var target = out;
    if (parts[0] === dialect.fileSystemManagerClass) {
      // The class itself is there whenever one of its methods is.
      if (parts.length === 1) return Object.keys(fsm).length > 0;
      parts.shift();
      rows = dialect.fileSystemManager;
      target = fsm;
    } else if (parts[0] === 'getFileSystemManager' || parts[0] === 'canIUse') {
      return parts.length === 1;
    } else if (parts[0] === 'env') {
      return parts.length === 1 || (parts.length === 2 && parts[1] === 'USER_DATA_PATH');
    }
    var name = parts[0];
    if (!name || typeof target[name] !== 'function') return false;
    if (parts.length === 1) return true;
    var row = rows[name] || rows[name.replace(/Sync$/, '')];
    if (!row) return false;
    if (parts[1] === 'object') return parts.length === 2 || (parts.length === 3 && row.params.indexOf(parts[2]) >= 0);
    return parts[1] === 'success' || parts[1] === 'fail' || parts[1] === 'complete' || parts[1] === 'return';
  };

  return out;
}

module.exports = { createApi: createApi, Stats: Stats, syncError: syncError };
