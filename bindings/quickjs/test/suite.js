// bindings/js's own test suite (bindings/node/test/*.test.js) inside QuickJS, over the real
// library through bindings/quickjs: runner.c evaluates this file with `__host` (files, temp dirs,
// sandboxes opened through the glue, the raw bridge) and drives the event loop; this file gives
// the test files the few modules they ask for, in QuickJS terms:
// - `node:test`: test(name, [options], fn), run one after another, each awaited;
// - `node:assert/strict`: the assertions the files use, with Node's strict semantics;
// - `..` (bindings/node): open(config) -> {wx|my|..., api, platform, handle, invoke, close}, the
//   sandbox's object built by the glue (wxfs_qjs_api), exactly what a QuickJS host gets;
// - helpers.js itself, over a small `fs`/`os`/`path`/`process` for its temp roots;
// - Buffer, TextEncoder/TextDecoder, setImmediate/setTimeout: test utilities only.
// Anything else Node (child processes, zlib, vm, the addon, npm packages, reading the typings)
// throws a NeedsNode error, and a test that meets one is reported as needing Node, with what it
// asked for, not as passed or failed.
(function (host) {
  'use strict';

  // ---- needs Node ------------------------------------------------------------------------------
  var touched = null; // what the running test asked of Node, if anything
  function NeedsNode(what) {
    this.name = 'NeedsNode';
    this.message = 'needs Node: ' + what;
    this.what = what;
    if (touched === null) touched = what;
  }
  NeedsNode.prototype = Object.create(Error.prototype);
  function nodeOnly(name) {
    return new Proxy(
      {},
      {
        get: function (_, prop) {
          if (prop === '__esModule' || typeof prop === 'symbol') return undefined;
          return function () {
            throw new NeedsNode(name + '.' + String(prop));
          };
        },
      }
    );
  }

  // ---- timers and Node's globals the tests use as utilities ------------------------------------
  var timers = [];
  var timerSeq = 0;
  function addTimer(f, ms, args) {
    var t = { id: ++timerSeq, at: host.now() + Math.max(0, ms || 0), f: f, args: args };
    timers.push(t);
    return t.id;
  }
  globalThis.setTimeout = function (f, ms) {
    return addTimer(f, ms, Array.prototype.slice.call(arguments, 2));
  };
  globalThis.setImmediate = function (f) {
    return addTimer(f, 0, Array.prototype.slice.call(arguments, 1));
  };
  globalThis.clearTimeout = globalThis.clearImmediate = function (id) {
    timers = timers.filter(function (t) {
      return t.id !== id;
    });
  };
  /** Run the timers due (in due order); the ms until the next, or -1 when none. */
  function runTimers() {
    var now = host.now();
    timers.sort(function (a, b) {
      return a.at - b.at || a.id - b.id;
    });
    while (timers.length && timers[0].at <= now) {
      var t = timers.shift();
      t.f.apply(null, t.args);
    }
    return timers.length ? Math.max(0, timers[0].at - now) : -1;
  }

  function utf8Encode(s) {
    var out = [];
    for (var i = 0; i < s.length; i++) {
      var c = s.codePointAt(i);
      if (c > 0xffff) i++;
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
      if (c >= 0xf0) c = ((c & 7) << 18) | ((b[i++] & 63) << 12) | ((b[i++] & 63) << 6) | (b[i++] & 63);
      else if (c >= 0xe0) c = ((c & 15) << 12) | ((b[i++] & 63) << 6) | (b[i++] & 63);
      else if (c >= 0xc0) c = ((c & 31) << 6) | (b[i++] & 63);
      s += String.fromCodePoint(c);
    }
    return s;
  }
  globalThis.TextEncoder = function () {};
  globalThis.TextEncoder.prototype.encode = function (s) {
    return utf8Encode(String(s === undefined ? '' : s));
  };
  globalThis.TextDecoder = function () {};
  globalThis.TextDecoder.prototype.decode = function (v) {
    return v === undefined ? '' : utf8Decode(ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v));
  };

  var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  /** Node's Buffer, as far as the tests compare bytes with it: from, toString, equals, indexing. */
  function Buffer() {}
  Buffer.from = function (v, a, b) {
    var u;
    if (typeof v === 'string') {
      if (a === 'hex') {
        u = new Uint8Array(v.length >> 1);
        for (var i = 0; i < u.length; i++) u[i] = parseInt(v.substr(2 * i, 2), 16);
      } else if (a === 'base64') {
        var clean = v.replace(/=+$/, '');
        u = new Uint8Array(Math.floor((clean.length * 3) / 4));
        var acc = 0, bits = 0, o = 0;
        for (var j = 0; j < clean.length; j++) {
          acc = (acc << 6) | B64.indexOf(clean[j]);
          bits += 6;
          if (bits >= 8) {
            bits -= 8;
            u[o++] = (acc >> bits) & 255;
          }
        }
      } else {
        u = utf8Encode(v);
      }
    } else if (ArrayBuffer.isView(v)) {
      u = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    } else if (v instanceof ArrayBuffer || Object.prototype.toString.call(v) === '[object ArrayBuffer]') {
      u = new Uint8Array(v, a || 0, b === undefined ? v.byteLength - (a || 0) : b);
    } else {
      u = new Uint8Array(v);
    }
    Object.setPrototypeOf(u, BufferProto);
    return u;
  };
  var BufferProto = Object.create(Uint8Array.prototype);
  BufferProto.toString = function (enc) {
    if (enc === 'base64') {
      var out = '';
      for (var i = 0; i < this.length; i += 3) {
        var n = (this[i] << 16) | ((i + 1 < this.length ? this[i + 1] : 0) << 8) | (i + 2 < this.length ? this[i + 2] : 0);
        out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < this.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < this.length ? B64[n & 63] : '=');
      }
      return out;
    }
    if (enc === 'hex') {
      var h = '';
      for (var k = 0; k < this.length; k++) h += (this[k] < 16 ? '0' : '') + this[k].toString(16);
      return h;
    }
    return utf8Decode(this);
  };
  BufferProto.equals = function (other) {
    if (this.length !== other.length) return false;
    for (var i = 0; i < this.length; i++) if (this[i] !== other[i]) return false;
    return true;
  };
  globalThis.Buffer = Buffer;
  globalThis.global = globalThis;
  globalThis.structuredClone = function () {
    throw new NeedsNode('structuredClone');
  };

  // ---- node:assert/strict --------------------------------------------------------------------------
  function AssertionError(message) {
    this.name = 'AssertionError';
    this.message = message;
    this.stack = new Error(message).stack;
  }
  AssertionError.prototype = Object.create(Error.prototype);
  function show(v) {
    try {
      if (typeof v === 'string') return JSON.stringify(v);
      if (v instanceof ArrayBuffer) return 'ArrayBuffer(' + v.byteLength + ')';
      var s = JSON.stringify(v);
      return s === undefined ? String(v) : s;
    } catch (e) {
      return String(v);
    }
  }
  function fail(message, dflt) {
    if (message instanceof Error) throw message;
    throw new AssertionError(message || dflt);
  }
  var tag = Object.prototype.toString;
  function deepStrict(a, b, seen) {
    if (Object.is(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b) || tag.call(a) !== tag.call(b)) return false;
    if (a instanceof Date) return a.getTime() === b.getTime();
    if (a instanceof RegExp) return String(a) === String(b);
    if (tag.call(a) === '[object ArrayBuffer]') {
      a = new Uint8Array(a);
      b = new Uint8Array(b);
    }
    if (ArrayBuffer.isView(a)) {
      if (a.length !== b.length) return false;
      for (var i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    }
    if (a instanceof Error && (a.message !== b.message || a.name !== b.name)) return false;
    if (a instanceof Map || a instanceof Set) {
      if (a.size !== b.size) return false;
      var ea = Array.from(a.entries()), eb = Array.from(b.entries());
      for (var m = 0; m < ea.length; m++) if (!deepStrict(ea[m], eb[m], seen)) return false;
    }
    for (var s = 0; s < seen.length; s++) if (seen[s][0] === a && seen[s][1] === b) return true;
    seen.push([a, b]);
    var ka = Object.keys(a), kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (var k = 0; k < ka.length; k++) {
      if (!Object.prototype.hasOwnProperty.call(b, ka[k])) return false;
      if (!deepStrict(a[ka[k]], b[ka[k]], seen)) return false;
    }
    return true;
  }
  /** Node's check of a thrown value against `expected` (a RegExp, a class, a function, an object). */
  function matches(err, expected, message) {
    if (expected === undefined) return;
    if (expected instanceof RegExp) {
      if (!expected.test(String(err))) fail(message, 'The error ' + show(String(err)) + ' does not match ' + expected);
    } else if (typeof expected === 'function') {
      if (expected.prototype !== undefined && err instanceof expected) return;
      if (Error.isPrototypeOf(expected) || expected === Error) fail(message, 'The error is not an instance of ' + expected.name + ': ' + err);
      if (expected.call({}, err) !== true) fail(message, 'The validation function rejected ' + err);
    } else if (typeof expected === 'object') {
      Object.keys(expected).forEach(function (k) {
        var want = expected[k];
        if (want instanceof RegExp && typeof err[k] === 'string') {
          if (!want.test(err[k])) fail(message, 'property ' + k + ': ' + show(err[k]) + ' does not match ' + want);
        } else if (!deepStrict(err[k], want, [])) {
          fail(message, 'property ' + k + ': ' + show(err[k]) + ' !== ' + show(want));
        }
      });
    }
  }
  function assert(v, message) {
    assert.ok(v, message);
  }
  assert.ok = function (v, message) {
    if (!v) fail(message, 'The expression evaluated to a falsy value: ' + show(v));
  };
  assert.equal = assert.strictEqual = function (a, b, message) {
    if (!Object.is(a, b)) fail(message, 'Expected values to be strictly equal: ' + show(a) + ' !== ' + show(b));
  };
  assert.notEqual = assert.notStrictEqual = function (a, b, message) {
    if (Object.is(a, b)) fail(message, 'Expected values to differ: ' + show(a));
  };
  assert.deepEqual = assert.deepStrictEqual = function (a, b, message) {
    if (!deepStrict(a, b, [])) fail(message, 'Expected values to be strictly deep-equal:\n  actual   ' + show(a) + '\n  expected ' + show(b));
  };
  assert.notDeepEqual = assert.notDeepStrictEqual = function (a, b, message) {
    if (deepStrict(a, b, [])) fail(message, 'Expected values not to be deep-equal: ' + show(a));
  };
  assert.match = function (s, re, message) {
    if (typeof s !== 'string' || !re.test(s)) fail(message, 'The input did not match ' + re + ': ' + show(s));
  };
  assert.doesNotMatch = function (s, re, message) {
    if (typeof s !== 'string' || re.test(s)) fail(message, 'The input was expected not to match ' + re + ': ' + show(s));
  };
  assert.throws = function (fn, expected, message) {
    if (typeof expected === 'string') {
      message = expected;
      expected = undefined;
    }
    try {
      fn();
    } catch (e) {
      if (e instanceof NeedsNode) throw e;
      matches(e, expected, message);
      return;
    }
    fail(message, 'Missing expected exception.');
  };
  assert.doesNotThrow = function (fn, message) {
    try {
      fn();
    } catch (e) {
      fail(typeof message === 'string' ? message : undefined, 'Got unwanted exception: ' + e);
    }
  };
  assert.rejects = function (p, expected, message) {
    if (typeof p === 'function') p = p();
    return Promise.resolve(p).then(
      function () {
        fail(message, 'Missing expected rejection.');
      },
      function (e) {
        if (e instanceof NeedsNode) throw e;
        matches(e, expected, message);
      }
    );
  };
  assert.fail = function (message) {
    fail(message, 'Failed');
  };
  assert.strict = assert;

  // ---- node:test -------------------------------------------------------------------------------------
  var tests = [];
  var currentFile = null;
  function test(name, options, fn) {
    if (typeof options === 'function') fn = options;
    tests.push({ file: currentFile, name: name, fn: fn });
  }
  test.test = test;

  // ---- the modules the test files and helpers.js ask for ---------------------------------------------
  var repo = host.repo;
  var js = null; // bindings/js, loaded as the test files load it
  var roots = [];
  var miniFs = {
    mkdtempSync: function (prefix) {
      return host.mkdtemp(prefix);
    },
    mkdirSync: function (p) {
      host.mkdirp(p);
    },
    writeFileSync: function (p, text) {
      host.writeFile(p, String(text));
    },
    rmSync: function () {}, // the runner removes every root at exit
  };
  var fsModule = new Proxy(miniFs, {
    get: function (t, prop) {
      if (prop in t) return t[prop];
      return function () {
        throw new NeedsNode('fs.' + String(prop));
      };
    },
  });
  var pathModule = {
    sep: '/',
    join: function () {
      return normalize(Array.prototype.slice.call(arguments).join('/'));
    },
    resolve: function () {
      var p = '';
      for (var i = 0; i < arguments.length; i++) p = arguments[i][0] === '/' ? arguments[i] : p + '/' + arguments[i];
      return normalize(p);
    },
    dirname: function (p) {
      return p.replace(/\/[^/]*$/, '') || '/';
    },
    basename: function (p) {
      return p.replace(/^.*\//, '');
    },
  };
  function normalize(p) {
    var abs = p[0] === '/';
    var out = [];
    p.split('/').forEach(function (s) {
      if (s === '..') out.pop();
      else if (s !== '.' && s !== '') out.push(s);
    });
    return (abs ? '/' : '') + out.join('/');
  }
  var processModule = {
    pid: host.pid,
    on: function (ev, f) {
      if (ev !== 'exit') throw new NeedsNode('process.on(' + ev + ')');
      // helpers.js removes its roots at exit; the runner does that for every root.
    },
  };

  globalThis.process = new Proxy(processModule, {
    get: function (t, prop) {
      if (prop in t) return t[prop];
      if (typeof prop === 'symbol') return undefined;
      throw new NeedsNode('process.' + String(prop));
    },
  });

  function decodeResult(out) {
    return typeof out === 'string' ? js.codec.decodeBinary(out) : js.codec.decodeBinary(out[0], out.slice(1));
  }
  function flat(buffers) {
    if (!buffers) return undefined;
    var o = [];
    buffers.forEach(function (b) {
      if (ArrayBuffer.isView(b)) o.push(b.buffer, b.byteOffset, b.byteLength);
      else o.push(b, 0, b.byteLength);
    });
    return o;
  }
  /** bindings/node's surface, over the glue: what a QuickJS host gets from wxfs_qjs_api. */
  var wxfsModule = {
    open: function (config) {
      var json = JSON.stringify(config);
      var handle = host.open(json);
      var api = host.api(handle, json);
      var closed = false;
      var sb = {
        api: api,
        platform: (config && config.platform) || 'wechat',
        handle: handle,
        apiFor: function () {
          throw new NeedsNode('vm contexts (apiFor)');
        },
        invoke: function (name, args) {
          var e = js.codec.encodeArgs(args, null, true);
          return decodeResult(host.invoke(handle, name, e.json, flat(e.buffers)));
        },
        close: function () {
          if (closed) return 0;
          closed = true;
          return host.close(handle);
        },
      };
      sb[api.__wxfsName] = api;
      return sb;
    },
    apiList: function () {
      return JSON.parse(host.apiList());
    },
    native: function () {
      throw new NeedsNode('the Node addon (wxfs.native())');
    },
    locate: function () {
      throw new NeedsNode('wxfs.locate');
    },
    platformTriple: function () {
      throw new NeedsNode('wxfs.platformTriple');
    },
    version: function () {
      throw new NeedsNode('wxfs.version');
    },
  };

  var NODE_MODULES = ['child_process', 'zlib', 'vm', 'crypto', 'acorn', 'util', 'worker_threads'];
  var cache = {};
  function resolveFrom(fromId, name) {
    if (name[0] !== '.') return name;
    return normalize(pathModule.dirname(fromId) + '/' + name);
  }
  function requireFrom(fromId) {
    var req = function (name) {
      var id = resolveFrom(fromId, name).replace(/\.js$/, '');
      switch (id) {
        case 'node:test':
          return test;
        case 'node:assert/strict':
        case 'node:assert':
        case 'assert':
        case 'assert/strict':
          return assert;
        case 'fs':
        case 'node:fs':
          return fsModule;
        case 'os':
        case 'node:os':
          return { tmpdir: host.tmpdir };
        case 'path':
        case 'node:path':
          return pathModule;
        case 'bindings/node':
          return wxfsModule;
        case 'bindings/js':
        case 'bindings/node/js':
          return load('bindings/js/index');
        default:
          if (/^bindings\/(js|node\/test)\//.test(id) && !/\.json$/.test(id)) return load(id);
          // Node's own modules fail when used (files require them at the top); an npm package
          // fails when required (tests require those inside their body).
          if (NODE_MODULES.indexOf(id.replace(/^node:/, '')) >= 0) return nodeOnly(name);
          throw new NeedsNode('the npm package ' + name);
      }
    };
    req.resolve = function (name) {
      throw new NeedsNode('require.resolve(' + JSON.stringify(name) + ')');
    };
    return req;
  }
  function load(id) {
    if (cache[id]) return cache[id].exports;
    var module = { exports: {} };
    cache[id] = module;
    var fn = host.compile(host.readFile(repo + '/' + id + '.js'), repo + '/' + id + '.js');
    fn.call(module.exports, module.exports, requireFrom(id), module, repo + '/' + id + '.js', repo + '/' + pathModule.dirname(id));
    return module.exports;
  }

  // ---- the run ---------------------------------------------------------------------------------------
  var results = { passed: 0, failed: 0, needsNode: 0, lines: [] };
  function say(line) {
    host.print(line);
  }
  var hang = null; // rejects the running test when the loop finds nothing left to wait for

  function runAll(files, skips) {
    js = load('bindings/js/index');
    files.forEach(function (f) {
      currentFile = f;
      var before = tests.length;
      touched = null;
      try {
        load('bindings/node/test/' + f.replace(/\.js$/, ''));
      } catch (e) {
        tests.length = before;
        if (e instanceof NeedsNode || touched !== null) {
          // Its tests, counted as the file declares them (top-level test( calls).
          var n = (host.readFile(repo + '/bindings/node/test/' + f).match(/^test\(/gm) || []).length;
          results.needsNode += n;
          say('needs Node - ' + f + ' (the whole file, ' + n + ' tests: ' + (touched || e.what) + ')');
        } else {
          results.failed++;
          say('not ok - ' + f + ' did not load: ' + (e && e.stack ? e + '\n' + e.stack : e));
        }
      }
    });
    var i = 0;
    function next() {
      if (i >= tests.length) {
        say(results.passed + ' passed, ' + results.failed + ' failed, ' + results.needsNode + ' skipped (need Node)');
        return Promise.resolve(results);
      }
      var t = tests[i++];
      touched = null;
      if ((skips || []).some(function (s) { return t.name.indexOf(s) >= 0; })) {
        say('left out - ' + t.file + ': ' + t.name + ' (--skip)');
        return next();
      }
      var run = new Promise(function (resolve, reject) {
        hang = reject;
        Promise.resolve()
          .then(function () {
            return t.fn({ name: t.name });
          })
          .then(resolve, reject);
      });
      return run.then(
        function () {
          hang = null;
          results.passed++;
          say('ok - ' + t.file + ': ' + t.name);
          return next();
        },
        function (e) {
          hang = null;
          if (touched !== null) {
            results.needsNode++;
            say('needs Node - ' + t.file + ': ' + t.name + ' (' + touched + ')');
          } else {
            results.failed++;
            say('not ok - ' + t.file + ': ' + t.name + '\n  ' + (e && e.stack ? String(e) + '\n' + e.stack : String(e)));
          }
          return next();
        }
      );
    }
    return next();
  }

  return {
    runAll: runAll,
    runTimers: runTimers,
    /** Nothing is left to wait for, yet the running test has not finished. */
    hung: function () {
      if (hang) hang(new Error('the test waits for something that can never happen (no call pending, no timer)'));
      hang = null;
    },
  };
});
