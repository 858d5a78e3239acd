// The pieces of Node that bindings/js's own test suite (bindings/node/test/*.test.js) uses and a
// bare engine lacks, written once for every engine runner: bindings/jsc/test/runner.js
// (JavaScriptCore) and bindings/quickjs/test/suite.js (QuickJS, QuickJS-ng). Test code only: it
// lives outside bindings/js and bindings/node, so no package ships it.
//
// Each runner compiles this file as the body of a function (its `compile(source, url)`, whichever
// parameters it gives) and calls it: the body returns `standIns(global, options)`, which installs
// the globals (setTimeout, setImmediate, clearTimeout, clearImmediate, TextEncoder, TextDecoder,
// structuredClone, Buffer, global) on `global` and returns the rest:
//   { NeedsNode, nodeOnly, assert, path, timers: { next(), run() } }
// options: {
//   now(): ms, monotonic (timers);
//   bytesEqual(a, b): optional, two Uint8Arrays hold the same bytes (a host's memcmp: Buffer.equals
//     of 20 MiB in an interpreter under valgrind takes minutes), else compared here;
//   onNeedsNode(what): optional, told each time a test reaches for something only Node has.
// }
//
// What needs Node throws a NeedsNode error (an Error whose `needsNode` says what was asked for):
// a runner reports the test as needing Node, never as passed or failed.
'use strict';

return function standIns(global, options) {
  var now = options.now;

  // ---- what needs Node ----------------------------------------------------------------------------
  function NeedsNode(what) {
    if (!(this instanceof NeedsNode)) return new NeedsNode(what);
    this.name = 'NeedsNode';
    this.message = 'needs Node: ' + what;
    this.needsNode = what;
    this.what = what;
    this.stack = new Error(this.message).stack;
    if (options.onNeedsNode) options.onNeedsNode(what);
  }
  NeedsNode.prototype = Object.create(Error.prototype);
  NeedsNode.prototype.constructor = NeedsNode;

  /** A stand-in for a Node module or object: using it in any way throws NeedsNode. */
  function nodeOnly(what) {
    var f = function () {
      throw NeedsNode(what);
    };
    return new Proxy(f, {
      get: function (t, k) {
        if (k === 'then' || k === '__esModule' || typeof k === 'symbol') return undefined; // not a thenable, not ESM
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

  // ---- timers: the runner's loop asks for the next deadline and runs what is due ------------------
  var timers = [];
  var timerSeq = 1;
  function addTimer(fn, ms, args) {
    var id = timerSeq++;
    timers.push({ id: id, at: now() + Math.max(0, Number(ms) || 0), fn: fn, args: args });
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
  var timerLoop = {
    /** ms until the next timer is due (0: now), or -1 when there is none. */
    next: function () {
      if (timers.length === 0) return -1;
      var at = Infinity;
      for (var i = 0; i < timers.length; i++) at = Math.min(at, timers[i].at);
      return Math.max(0, Math.ceil(at - now()));
    },
    /** Run the timers due now, earliest first (those they add wait for the next run); throws
     * what a timer throws (uncaught). */
    run: function () {
      var t0 = now();
      var due = timers.filter(function (t) {
        return t.at <= t0;
      });
      due.sort(function (a, b) {
        return a.at - b.at || a.id - b.id;
      });
      for (var i = 0; i < due.length; i++) {
        var still = timers.indexOf(due[i]);
        if (still < 0) continue; // cleared by an earlier one
        timers.splice(still, 1);
        due[i].fn.apply(null, due[i].args);
      }
    },
  };

  // ---- UTF-8, base64 -------------------------------------------------------------------------------
  function utf8Encode(s) {
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
  var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  function fromBase64(text) {
    var clean = text.replace(/[^A-Za-z0-9+/]/g, '');
    var u = new Uint8Array(Math.floor((clean.length * 3) / 4));
    var acc = 0;
    var bits = 0;
    var o = 0;
    for (var j = 0; j < clean.length; j++) {
      acc = ((acc << 6) | B64.indexOf(clean[j])) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        u[o++] = (acc >> bits) & 255;
      }
    }
    return u;
  }
  function toBase64(b) {
    var out = '';
    for (var i = 0; i < b.length; i += 3) {
      var n = (b[i] << 16) | ((i + 1 < b.length ? b[i + 1] : 0) << 8) | (i + 2 < b.length ? b[i + 2] : 0);
      out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < b.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < b.length ? B64[n & 63] : '=');
    }
    return out;
  }

  global.TextEncoder = function TextEncoder() {};
  global.TextEncoder.prototype.encode = function (s) {
    return utf8Encode(s === undefined ? '' : String(s));
  };
  global.TextDecoder = function TextDecoder() {};
  global.TextDecoder.prototype.decode = function (v) {
    return v === undefined ? '' : utf8Decode(bytesOf(v));
  };
  global.structuredClone = function (v, opts) {
    var t = opts && opts.transfer;
    if (t && t.length === 1 && t[0] === v && v instanceof ArrayBuffer && typeof v.transfer === 'function') return v.transfer();
    throw NeedsNode('structuredClone beyond one transferred ArrayBuffer');
  };

  // ---- Buffer: as far as the tests make and compare bytes with it ---------------------------------
  function sameBytes(a, b) {
    if (options.bytesEqual) return options.bytesEqual(a, b);
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  class Buffer extends Uint8Array {
    static from(v, enc, len) {
      if (typeof v === 'string') {
        if (enc === 'hex') {
          var h = new Buffer(v.length >> 1);
          for (var i = 0; i < h.length; i++) h[i] = parseInt(v.substr(2 * i, 2), 16);
          return h;
        }
        if (enc === 'base64') return Buffer.from(fromBase64(v));
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
        return new Buffer(v, off, len === undefined ? v.byteLength - off : len); // shares, as Node
      }
      if (ArrayBuffer.isView(v) || Array.isArray(v)) {
        var c = new Buffer(v.length === undefined ? v.byteLength : v.length); // copies, as Node
        c.set(ArrayBuffer.isView(v) ? bytesOf(v) : v);
        return c;
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
      return sameBytes(this, bytesOf(o));
    }
    toString(enc) {
      if (enc === 'hex') {
        var h = '';
        for (var i = 0; i < this.length; i++) h += (this[i] < 16 ? '0' : '') + this[i].toString(16);
        return h;
      }
      if (enc === 'base64') return toBase64(this);
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
  global.global = global; // Node's name for the global object

  // ---- path: string functions ---------------------------------------------------------------------
  var path = {
    sep: '/',
    join: function () {
      return path.normalize(Array.prototype.slice.call(arguments).join('/'));
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
      return path.normalize(p);
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
      if (v instanceof ArrayBuffer) return 'ArrayBuffer(' + v.byteLength + ')';
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
    if (a instanceof Map || a instanceof Set) {
      if (a.size !== b.size) return false;
      var ea = Array.from(a.entries());
      var eb = Array.from(b.entries());
      for (var m = 0; m < ea.length; m++) if (!deepStrict(ea[m], eb[m], seen)) return false;
    }
    var ka = Object.keys(a);
    var kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (var j = 0; j < ka.length; j++) {
      if (!Object.prototype.hasOwnProperty.call(b, ka[j])) return false;
      if (!deepStrict(a[ka[j]], b[ka[j]], seen)) return false;
    }
    return true;
  }
  /** Node's check of a thrown value against `expected` (a RegExp, a class, a function, an object). */
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
  assert.strict = assert;

  return { NeedsNode: NeedsNode, nodeOnly: nodeOnly, assert: assert, path: path, timers: timerLoop, show: show };
};
