// bindings/js's own test suite (bindings/node/test/*.test.js) inside QuickJS, over the real
// library through bindings/quickjs: runner.c evaluates this file with `__host` (files, temp dirs,
// sandboxes opened through the glue, the raw bridge) and drives the event loop; this file gives
// the test files the few modules they ask for, in QuickJS terms:
// - `node:test`: test(name, [options], fn), run one after another, each awaited;
// - `..` (bindings/node): open(config) -> {wx|my|..., api, platform, handle, invoke, close}, the
//   sandbox's object built by the glue (wxfs_qjs_api), exactly what a QuickJS host gets;
// - helpers.js itself, over a small `fs`/`os`/`process` for its temp roots;
// - `node:assert/strict`, `path`, Buffer, TextEncoder/TextDecoder, setImmediate/setTimeout:
//   bindings/engine-test/stand-ins.js, which the JavaScriptCore runner loads too.
// Anything else Node (child processes, zlib, vm, the addon, npm packages, reading the typings)
// throws a NeedsNode error, and a test that meets one is reported as needing Node, with what it
// asked for, not as passed or failed.
(function (host) {
  'use strict';

  // ---- Node's pieces the tests use (bindings/engine-test/stand-ins.js, shared with JavaScriptCore) -
  var touched = null; // what the running test asked of Node, if anything
  var standInsPath = host.repo + '/bindings/engine-test/stand-ins.js';
  var S = host.compile(host.readFile(standInsPath), standInsPath)()(globalThis, {
    now: host.now,
    onNeedsNode: function (what) {
      if (touched === null) touched = what;
    },
  });
  var NeedsNode = S.NeedsNode;
  var nodeOnly = S.nodeOnly;
  var assert = S.assert;
  /** Run the timers due (in due order); the ms until the next, or -1 when none. */
  function runTimers() {
    S.timers.run();
    return S.timers.next();
  }

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
  var pathModule = S.path;
  var normalize = S.path.normalize;
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
