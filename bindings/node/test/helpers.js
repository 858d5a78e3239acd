// Shared by the tests: a fresh sandbox per test, and async calls as promises of their outcome.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const wxfs = require('..');

let n = 0;

/** A fresh root (and package dir holding a.txt) under the OS temp dir; removed at exit. */
function freshRoot(tag) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `wxfs-node-${tag}-${process.pid}-${n++}-`));
  fs.mkdirSync(path.join(base, 'pkg', 'dir'), { recursive: true });
  fs.writeFileSync(path.join(base, 'pkg', 'a.txt'), 'package file');
  process.on('exit', () => fs.rmSync(base, { recursive: true, force: true }));
  return base;
}

function config(base, extra) {
  return { root: path.join(base, 'root'), appId: 'wxtestapp', userId: 'user1', packageDir: path.join(base, 'pkg'), ...extra };
}

/** Open a sandbox in a fresh root; `extra` is merged into the config. */
function sandbox(tag, extra) {
  const base = freshRoot(tag);
  const sb = wxfs.open(config(base, extra));
  return { sb, base, wx: sb.wx, fs: sb.wx.getFileSystemManager(), reopen: () => wxfs.open(config(base, extra)) };
}

/** Call an async api with callbacks; resolves to {kind: 'success'|'fail', res, completed}. */
function outcome(fn, option) {
  return new Promise((resolve) => {
    let kind;
    let res;
    fn({
      ...option,
      success(r) {
        kind = 'success';
        res = r;
      },
      fail(r) {
        kind = 'fail';
        res = r;
      },
      complete(r) {
        resolve({ kind, res, completed: r === res });
      },
    });
  });
}

/** The thrown error of a Sync call, or a failure if it did not throw. */
function thrown(f) {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}

module.exports = { freshRoot, config, sandbox, outcome, thrown, wxfs };
