// bindings/js's own test suite (bindings/node/test/*.test.js, unchanged) inside JavaScriptCore,
// over the real library through bindings/jsc. Loaded by suite_host.c, which gives it `__host`:
//   readText(path) -> string | undefined; compile(source, url) -> function(module, exports,
//   require, __filename, __dirname); open(configJson, platform, protocol) -> {handle, name, api};
//   close(handle) -> code; mkdirs(path); writeText(path, text); bytesEqual(a, b) (memcmp of two
//   typed arrays); bridge (wxfs_jsc_bridge);
//   tmp (a fresh directory for roots); testDir; jsDir; files (the test files to run).
//
// What Node gives the tests and JavaScriptCore does not: `node:test` (test(name, [options], fn),
// run one after another) and the tests' helpers.js over bindings/jsc are here; `node:assert/strict`,
// `path`, `Buffer`, TextEncoder/TextDecoder, structuredClone of one transferred ArrayBuffer and
// setTimeout/setImmediate are bindings/engine-test/stand-ins.js, which the QuickJS runner loads
// too. Everything else Node has (child processes, `vm`, zlib, crypto, the file system, npm
// packages, bindings/node's loader) is a stand-in whose use throws a NeedsNode error: a test that
// throws it is reported as needing Node, never as a pass, and tests/jsc_host.rs lists exactly
// which tests those are.
'use strict';

(function (global) {
  var H = __host;

  // ---- Node's pieces the tests use (bindings/engine-test/stand-ins.js, shared with QuickJS) -------
  var standInsPath = H.jsDir + '/../engine-test/stand-ins.js';
  var standInsText = H.readText(standInsPath);
  if (typeof standInsText !== 'string') throw new Error('runner: cannot read ' + standInsPath);
  var S = H.compile(standInsText, standInsPath)()(global, { now: H.now, bytesEqual: H.bytesEqual });
  var NeedsNode = S.NeedsNode;
  var nodeOnly = S.nodeOnly;
  var assert = S.assert;
  var pathShim = S.path;
  var show = S.show;
  // The loop in suite_host.c asks for the next deadline and runs what is due.
  global.__timers = S.timers;
  global.process = nodeOnly('process');

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
