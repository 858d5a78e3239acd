// bindings/js's own test suite (bindings/node/test/*.test.js, unchanged) inside JavaScriptCore,
// over the real library through bindings/jsc. Loaded by suite_host.c, which gives it `__host`:
//   readText(path) -> string | undefined; compile(source, url) -> function(module, exports,
//   require, __filename, __dirname); open(configJson, platform, protocol) -> {handle, name, api};
//   close(handle) -> code; mkdirs(path); writeText(path, text); bytesEqual(a, b) (memcmp of two
//   typed arrays); bridge (wxfs_jsc_bridge);
//   tmp (a fresh directory for roots); testDir; jsDir; files (the test files to run).
//
// What Node gives the tests and JavaScriptCore does not is provided here, small: `node:test`
// (test(name, [options], fn), run one after another), `node:assert/strict` (the assertions the
// files use), `path` (string functions), the tests' helpers.js over bindings/jsc, `Buffer`
// (from/toString/equals over Uint8Array), TextEncoder/TextDecoder (UTF-8), structuredClone of one
// transferred ArrayBuffer, setTimeout/setImmediate. Everything else Node has (child processes,
// `vm`, zlib, crypto, the file system, npm packages, bindings/node's loader) is a stand-in whose
// use throws a NeedsNode error: a test that throws it is reported as needing Node, never as a
// pass, and tests/jsc_host.rs lists exactly which tests those are.
'use strict';

(function (global) {
  var H = __host;

  // ---- what needs Node --------------------------------------------------------------------------
  function NeedsNode(what) {
    var e = new Error('needs Node: ' + what);
    e.needsNode = what;
    return e;
  }
  function nodeOnly(what) {
    var f = function () {
      throw NeedsNode(what);
    };
    return new Proxy(f, {
      get: function (t, k) {
        if (k === 'then') return undefined; // not a thenable
        return nodeOnly(what + '.' + String(k));
      },
      apply: function () {
        throw NeedsNode(what);
      },
      construct: function () {
        throw NeedsNode(what);
      },
    });
  }

  // ---- timers: the loop in suite_host.c asks for the next deadline and runs what is due -------
  var timers = [];
  var timerSeq = 1;
  function addTimer(fn, ms, args) {
    var id = timerSeq++;
    timers.push({ id: id, at: H.now() + Math.max(0, Number(ms) || 0), seq: id, fn: fn, args: args });
    return id;
  }
  global.setTimeout = function (fn, ms) {
    return addTimer(fn, ms, Array.prototype.slice.call(arguments, 2));
  };
  global.setImmediate = function (fn) {
    return addTimer(fn, 0, Array.prototype.slice.call(arguments, 1));
  };
  global.clearTimeout = global.clearImmediate = function (id) {
    timers = timers.filter(function (t) {
      return t.id !== id;
    });
  };
  global.__timers = {
    /** ms until the next timer is due (0: now), or -1 when there is none. */
    next: function () {
      if (timers.length === 0) return -1;
      var at = Infinity;
      for (var i = 0; i < timers.length; i++) at = Math.min(at, timers[i].at);
      return Math.max(0, Math.ceil(at - H.now()));
    },
    /** Run the timers due now, earliest first; throws what a timer throws (uncaught). */
    run: function () {
      var now = H.now();
      var due = timers.filter(function (t) {
        return t.at <= now;
      });
      due.sort(function (a, b) {
        return a.at - b.at || a.seq - b.seq;
      });
      for (var i = 0; i < due.length; i++) {
        var t = due[i];
        var still = timers.indexOf(t);
        if (still < 0) continue; // cleared by an earlier one
        timers.splice(still, 1);
        t.fn.apply(null, t.args);
      }
    },
  };

  // ---- small web and Node pieces the tests use --------------------------------------------------
  function utf8Encode(s) {
    s = String(s);
    var out = [];
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd;
      } else if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  }
  function utf8Decode(b) {
    var s = '';
    for (var i = 0; i < b.length; ) {
      var c = b[i++];
      var n = c < 0x80 ? 0 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : -1;
      if (n < 0 || i + n > b.length) {
        s += '\ufffd';
        continue;
      }
      var cp = n === 0 ? c : c & (0x3f >> n);
      for (var k = 0; k < n; k++) cp = (cp << 6) | (b[i++] & 63);
      s += String.fromCodePoint(cp);
    }
    return s;
  }
  function bytesOf(v) {
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return new Uint8Array(v);
  }
  global.TextEncoder = function TextEncoder() {};
  global.TextEncoder.prototype.encode = utf8Encode;
  global.TextDecoder = function TextDecoder() {};
  global.TextDecoder.prototype.decode = function (v) {
    return utf8Decode(bytesOf(v));
  };
  global.structuredClone = function (v, options) {
    var t = options && options.transfer;
    if (t && t.length === 1 && t[0] === v && v instanceof ArrayBuffer) return v.transfer();
    throw NeedsNode('structuredClone beyond one transferred ArrayBuffer');
  };

  var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  class Buffer extends Uint8Array {
    static from(v, enc, len) {
      if (typeof v === 'string') {
        if (enc === 'hex') {
          var h = new Buffer(v.length >> 1);
          for (var i = 0; i < h.length; i++) h[i] = parseInt(v.substr(2 * i, 2), 16);
          return h;
        }
        if (enc === 'base64') return Buffer.from(codec().fromBase64(v.replace(/[^A-Za-z0-9+/]/g, '')));
        if (enc === 'latin1' || enc === 'binary') {
          var l = new Buffer(v.length);
          for (var j = 0; j < v.length; j++) l[j] = v.charCodeAt(j) & 255;
          return l;
        }
        var u = utf8Encode(v);
        return new Buffer(u.buffer, 0, u.length);
      }
      if (v instanceof ArrayBuffer || Object.prototype.toString.call(v) === '[object ArrayBuffer]') {
        var off = enc === undefined ? 0 : enc;
        return new Buffer(v, off, len === undefined ? v.byteLength - off : len);
      }
      if (ArrayBuffer.isView(v)) {
        var c = new Buffer(v.byteLength);
        c.set(bytesOf(v));
        return c;
      }
      if (Array.isArray(v)) {
        var a = new Buffer(v.length);
        a.set(v);
        return a;
      }
      throw NeedsNode('Buffer.from of ' + typeof v);
    }
    static alloc(n) {
      return new Buffer(n);
    }
    static isBuffer(v) {
      return v instanceof Buffer;
    }
    equals(o) {
      return H.bytesEqual(this, bytesOf(o));
    }
    toString(enc) {
      if (enc === 'hex') {
        var h = '';
        for (var i = 0; i < this.length; i++) h += (this[i] < 16 ? '0' : '') + this[i].toString(16);
        return h;
      }
      if (enc === 'base64') return codec().toBase64(this);
      if (enc === 'latin1' || enc === 'binary') {
        var s = '';
        for (var j = 0; j < this.length; j++) s += String.fromCharCode(this[j]);
        return s;
      }
      if (enc === undefined || enc === 'utf8' || enc === 'utf-8') return utf8Decode(this);
      throw NeedsNode('Buffer toString ' + enc);
    }
  }
  global.Buffer = Buffer;
  global.process = nodeOnly('process');
  global.global = global; // Node's name for the global object

  var pathShim = {
    sep: '/',
    join: function () {
      return pathShim.normalize(Array.prototype.slice.call(arguments).join('/'));
    },
    normalize: function (p) {
      var abs = p.charAt(0) === '/';
      var out = [];
      p.split('/').forEach(function (s) {
        if (s === '' || s === '.') return;
        if (s === '..' && out.length && out[out.length - 1] !== '..') out.pop();
        else out.push(s);
      });
      return (abs ? '/' : '') + out.join('/');
    },
    resolve: function () {
      var p = '';
      for (var i = 0; i < arguments.length; i++) p = arguments[i].charAt(0) === '/' ? arguments[i] : p + '/' + arguments[i];
      return pathShim.normalize(p);
    },
    dirname: function (p) {
      var i = p.lastIndexOf('/');
      return i <= 0 ? (i === 0 ? '/' : '.') : p.slice(0, i);
    },
    basename: function (p) {
      return p.slice(p.lastIndexOf('/') + 1);
    },
  };

  // ---- node:assert/strict -------------------------------------------------------------------------
  function AssertionError(message) {
    var e = new Error(message);
    e.name = 'AssertionError';
    return e;
  }
  function show(v) {
    try {
      if (typeof v === 'string') return JSON.stringify(v);
      if (typeof v === 'bigint') return String(v) + 'n';
      if (v instanceof Error) return String(v);
      var s = JSON.stringify(v, function (k, x) {
        return typeof x === 'bigint' ? String(x) + 'n' : x === undefined ? '(undefined)' : x;
      });
      return s === undefined ? String(v) : s;
    } catch (e) {
      return String(v);
    }
  }
  function fail(message, fallback) {
    if (message instanceof Error) throw message;
    throw AssertionError(message !== undefined ? String(message) + ' (' + fallback + ')' : fallback);
  }
  var tag = function (v) {
    return Object.prototype.toString.call(v);
  };
  function deepStrict(a, b, seen) {
    if (Object.is(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b) || tag(a) !== tag(b)) return false;
    for (var s = 0; s < seen.length; s++) if (seen[s][0] === a && seen[s][1] === b) return true;
    seen = seen.concat([[a, b]]);
    if (a instanceof Date) return a.getTime() === b.getTime();
    if (a instanceof RegExp) return String(a) === String(b);
    if (a instanceof Error && (a.message !== b.message || a.name !== b.name)) return false;
    if (tag(a) === '[object ArrayBuffer]') {
      a = new Uint8Array(a);
      b = new Uint8Array(b);
    }
    if (ArrayBuffer.isView(a)) {
      if (a.length !== b.length) return false;
      for (var i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
      return true;
    }
    if (a instanceof Map || a instanceof Set) throw NeedsNode('deepStrictEqual of a Map or Set');
    var ka = Object.keys(a);
    var kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (var j = 0; j < ka.length; j++) {
      if (!Object.prototype.hasOwnProperty.call(b, ka[j])) return false;
      if (!deepStrict(a[ka[j]], b[ka[j]], seen)) return false;
    }
    return true;
  }
  function matches(e, expected) {
    if (expected === undefined) return true;
    if (expected instanceof RegExp) return expected.test(String(e && e.message !== undefined ? e.message : e)) || expected.test(String(e));
    if (typeof expected === 'function') {
      if (expected.prototype !== undefined && e instanceof expected) return true;
      if (Error.isPrototypeOf(expected) || expected === Error) return false;
      return expected.call({}, e) === true;
    }
    if (typeof expected === 'object') {
      return Object.keys(expected).every(function (k) {
        var x = expected[k];
        return x instanceof RegExp && typeof e[k] === 'string' ? x.test(e[k]) : deepStrict(e[k], x, []);
      });
    }
    return false;
  }
  var assert = function (v, message) {
    assert.ok(v, message);
  };
  assert.ok = function (v, message) {
    if (!v) fail(message, 'expected a truthy value, got ' + show(v));
  };
  assert.equal = assert.strictEqual = function (a, b, message) {
    if (!Object.is(a, b)) fail(message, show(a) + ' !== ' + show(b));
  };
  assert.notEqual = assert.notStrictEqual = function (a, b, message) {
    if (Object.is(a, b)) fail(message, show(a) + ' === ' + show(b));
  };
  assert.deepEqual = assert.deepStrictEqual = function (a, b, message) {
    if (!deepStrict(a, b, [])) fail(message, 'not deep-equal:\n  actual   ' + show(a) + '\n  expected ' + show(b));
  };
  assert.notDeepEqual = assert.notDeepStrictEqual = function (a, b, message) {
    if (deepStrict(a, b, [])) fail(message, 'deep-equal: ' + show(a));
  };
  assert.match = function (s, re, message) {
    if (typeof s !== 'string' || !re.test(s)) fail(message, show(s) + ' does not match ' + re);
  };
  assert.doesNotMatch = function (s, re, message) {
    if (typeof s !== 'string' || re.test(s)) fail(message, show(s) + ' matches ' + re);
  };
  assert.throws = function (f, expected, message) {
    try {
      f();
    } catch (e) {
      if (e && e.needsNode) throw e;
      if (!matches(e, expected)) fail(typeof expected === 'string' ? expected : message, 'the error did not match: ' + show(e));
      return;
    }
    fail(typeof expected === 'string' ? expected : message, 'expected an exception');
  };
  assert.doesNotThrow = function (f) {
    f();
  };
  assert.rejects = function (p, expected, message) {
    return Promise.resolve(typeof p === 'function' ? p() : p).then(
      function () {
        fail(message, 'expected a rejection');
      },
      function (e) {
        if (e && e.needsNode) throw e;
        if (!matches(e, expected)) fail(message, 'the rejection did not match: ' + show(e));
      }
    );
  };
  assert.fail = function (message) {
    fail(message, 'failed');
  };

  // ---- node:test ------------------------------------------------------------------------------------
  var queue = [];
  var currentFile = '';
  function test(name, options, fn) {
    if (typeof options === 'function') {
      fn = options;
      options = {};
    }
    var t = { file: currentFile, name: name, fn: fn, options: options || {} };
    queue.push(t);
    return new Promise(function (resolve) {
      t.done = resolve;
    });
  }
  test.test = test;

  // ---- the tests' helpers and bindings/node, over bindings/jsc ----------------------------------
  var jsCache = {};
  function loadFile(path, dirname, filename) {
    if (jsCache[path]) return jsCache[path].exports;
    var text = H.readText(path);
    if (typeof text !== 'string') throw new Error('runner: cannot read ' + path);
    var m = { exports: {} };
    jsCache[path] = m;
    var fn = H.compile(text, path);
    fn.call(m.exports, m, m.exports, makeRequire(pathShim.dirname(path)), filename || path, dirname || pathShim.dirname(path));
    return m.exports;
  }
  function codec() {
    return loadFile(H.jsDir + '/codec.js');
  }
  var bridge = H.bridge;
  var roots = 0;
  var wxfsShim = {
    open: function (config) {
      var platform = (config && config.platform) || 'wechat';
      var o = H.open(JSON.stringify(config), platform, (config && config.protocol) || 'wxfile');
      var closed = false;
      var c = codec();
      var sb = {
        api: o.api,
        platform: platform,
        handle: o.handle,
        apiFor: function () {
          throw NeedsNode('vm (apiFor takes a vm context)');
        },
        invoke: function (api, args) {
          var e = c.encodeArgs(args, null, true);
          var out = bridge.invoke(o.handle, api, e.json, e.buffers);
          return typeof out === 'string' ? c.decodeBinary(out) : c.decodeBinary(out[0], out.slice(1));
        },
        close: function () {
          if (closed) return 0;
          closed = true;
          return H.close(o.handle);
        },
      };
      sb[o.name] = o.api;
      return sb;
    },
    native: function () {
      return bridge;
    },
  };
  var wxfsModule = new Proxy(wxfsShim, {
    get: function (t, k) {
      if (Object.prototype.hasOwnProperty.call(t, k)) return t[k];
      if (k === 'then' || typeof k === 'symbol') return undefined;
      return nodeOnly("bindings/node's " + String(k));
    },
  });
  var helpers = {
    freshRoot: function (tag) {
      var base = H.tmp + '/' + tag + '-' + roots++;
      H.mkdirs(base + '/pkg/dir');
      H.writeText(base + '/pkg/a.txt', 'package file');
      return base;
    },
    config: function (base, extra) {
      return Object.assign({ root: base + '/root', appId: 'wxtestapp', userId: 'user1', packageDir: base + '/pkg' }, extra);
    },
    sandbox: function (tag, extra) {
      var base = helpers.freshRoot(tag);
      var sb = wxfsModule.open(helpers.config(base, extra));
      return {
        sb: sb,
        base: base,
        wx: sb.wx,
        fs: sb.wx.getFileSystemManager(),
        reopen: function () {
          return wxfsModule.open(helpers.config(base, extra));
        },
      };
    },
    outcome: function (fn, option) {
      return new Promise(function (resolve) {
        var kind;
        var res;
        fn(
          Object.assign({}, option, {
            success: function (r) {
              kind = 'success';
              res = r;
            },
            fail: function (r) {
              kind = 'fail';
              res = r;
            },
            complete: function (r) {
              resolve({ kind: kind, res: res, completed: r === res });
            },
          })
        );
      });
    },
    thrown: function (f) {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error('expected the call to throw');
    },
    wxfs: wxfsModule,
  };

  var nodeDir = pathShim.dirname(H.testDir); // bindings/node
  function makeRequire(dir) {
    var req = function (name) {
      if (name === 'node:test') return test;
      if (name === 'node:assert/strict' || name === 'node:assert' || name === 'assert') return assert;
      if (name === 'path' || name === 'node:path') return pathShim;
      if (name.charAt(0) !== '.') return nodeOnly(name);
      var p = pathShim.resolve(dir, name);
      if (p === H.testDir + '/helpers') return helpers;
      if (p === nodeDir) return wxfsModule;
      if (p === H.jsDir || p === nodeDir + '/js') return loadFile(H.jsDir + '/index.js');
      if (p.indexOf(H.jsDir + '/') === 0) return loadFile(/\.js$/.test(p) ? p : p + '.js');
      return nodeOnly(name); // package.json and the like: the Node package's
    };
    req.resolve = function (name) {
      throw NeedsNode('require.resolve(' + name + ')');
    };
    return req;
  }

  // ---- run ----------------------------------------------------------------------------------------
  var counts = { passed: 0, needsNode: 0, failed: 0 };
  function print(line) {
    console.log(line);
  }
  function runAll() {
    var i = 0;
    function next() {
      if (i >= queue.length) {
        print('jsc suite: ' + counts.passed + ' passed, ' + counts.needsNode + ' need Node, ' + counts.failed + ' failed');
        return Promise.resolve();
      }
      var t = queue[i++];
      var label = t.file + ' > ' + t.name;
      var p;
      try {
        p = Promise.resolve(t.fn({ name: t.name }));
      } catch (e) {
        p = Promise.reject(e);
      }
      return p.then(
        function () {
          counts.passed++;
          print('ok ' + label);
          t.done();
          return next();
        },
        function (e) {
          if (e && e.needsNode) {
            counts.needsNode++;
            print('needs-node ' + label + ' (' + e.needsNode + ')');
          } else {
            counts.failed++;
            print('not ok ' + label + ': ' + (e && e.stack ? String(e) + '\n' + e.stack : show(e)));
          }
          t.done();
          return next();
        }
      );
    }
    return next();
  }

  H.files.forEach(function (file) {
    currentFile = file;
    var path = H.testDir + '/' + file;
    try {
      loadFile(path, H.testDir, path);
    } catch (e) {
      if (e && e.needsNode) {
        queue.push({ file: file, name: '(the file)', fn: function () { throw e; }, options: {}, done: function () {} });
      } else throw e;
    }
  });
  global.__suiteDone = false;
  runAll().then(function () {
    global.__suiteDone = true;
    global.__suiteFailed = counts.failed;
  });
})(globalThis);
