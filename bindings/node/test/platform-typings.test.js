// The Alipay and Douyin dialect tables (bindings/js/dialects/alipay.js, douyin.js) against the
// platforms' own typings, devDependencies like WeChat's: `@mini-types/my` 3.0.14 (ALI-T,
// byte-identical to ant-mini-program/api-typings lib.my.d.ts) and `@douyin-microapp/typings`
// 1.3.1 (TT-T). Every FileSystemManager method the typings give is in the table and on the object
// bindings/node builds, with the Sync forms' positional parameters in the typings' order; the
// storage Sync forms take what the typings say (Alipay: one object).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const alipay = require('../../js/dialects/alipay');
const douyin = require('../../js/dialects/douyin');
const { freshRoot, config, wxfs } = require('./helpers');

const MY = fs.readFileSync(require.resolve('@mini-types/my/types/lib.my.d.ts'), 'utf8');
const TT = fs.readFileSync(require.resolve('@douyin-microapp/typings/api/fs.d.ts'), 'utf8');

/** The text from `start` to its matching close of `open`/`close`, comments removed. */
function block(text, start, open, close) {
  const from = text.indexOf(open, start);
  for (let depth = 0, j = from; j < text.length; j++) {
    if (text[j] === open) depth++;
    else if (text[j] === close && --depth === 0) return text.slice(from, j + 1).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  }
  throw new Error('unterminated block');
}

/** Parameter names of a parameter list's text (top-level commas only). */
function paramNames(list) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of list) {
    if ('{[(<'.includes(ch)) depth++;
    if ('}])>'.includes(ch)) depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter(Boolean).map((p) => p.split(/\??:/)[0].trim());
}

/** Alipay: {method: [params of each overload]} of `interface FileSystemManager`. */
function alipayMethods() {
  const body = block(MY, MY.indexOf('export interface FileSystemManager {'), '{', '}');
  const out = {};
  const re = /\n {4}([A-Za-z]+)\(/g;
  let m;
  while ((m = re.exec(body))) {
    const list = block(body, m.index + m[0].length - 1, '(', ')').slice(1, -1);
    (out[m[1]] = out[m[1]] || []).push(paramNames(list));
  }
  return out;
}

/** Douyin: {method: params or null (async)} of getFileSystemManager's object. */
function douyinMethods() {
  const start = TT.indexOf('export const getFileSystemManager');
  const body = block(TT, TT.indexOf('{', start), '{', '}');
  const out = {};
  const re = /\n {4}([A-Za-z]+): ([A-Za-z]+)/g;
  let m;
  while ((m = re.exec(body))) {
    if (m[2] === 'SyncAPI') {
      const list = block(body, body.indexOf('[', m.index), '[', ']').slice(1, -1);
      out[m[1]] = paramNames(list);
    } else out[m[1]] = null;
  }
  return out;
}

test('my: every FileSystemManager method of ALI-T, its Sync form and positional order (zip excepted)', () => {
  const typed = alipayMethods();
  const table = alipay.fileSystemManager;
  const asyncNames = Object.keys(typed).filter((n) => !n.endsWith('Sync') && n !== 'zip');
  assert.deepEqual(Object.keys(table).sort(), asyncNames.sort());
  for (const name of asyncNames) {
    const overloads = typed[`${name}Sync`];
    if (!overloads) {
      assert.equal(table[name].sync, null, `${name}: ALI-T has no ${name}Sync`);
      continue;
    }
    // One overload takes the object (`param`), the other the positional parameters.
    const positional = overloads.find((p) => p[0] !== 'param') || [];
    assert.deepEqual(table[name].sync, positional, `${name}Sync positional parameters`);
    assert.ok(overloads.length === 1 || overloads.some((p) => p[0] === 'param'), `${name}Sync also takes one object`);
  }
  assert.equal(alipay.syncTakesObject, true);
});

test('my: storage Sync forms take one object, as ALI-T declares them', () => {
  for (const name of ['setStorage', 'getStorage', 'removeStorage']) {
    const decl = MY.slice(MY.indexOf(`export function ${name}Sync(`));
    assert.match(decl, new RegExp(`^export function ${name}Sync\\(object: \\{`), `${name}Sync(object)`);
    assert.equal(alipay.globals[name].sync, 'option');
  }
  assert.ok(MY.includes('export function getStorageInfoSync(): {'));
  assert.ok(MY.includes('export function clearStorageSync(): {'));
});

test('tt: every FileSystemManager method of TT-T and its Sync positional order', () => {
  const typed = douyinMethods();
  const table = douyin.fileSystemManager;
  const asyncNames = Object.keys(typed).filter((n) => !n.endsWith('Sync'));
  // open/openSync/write are documented for mini-games (base lib 3.74.0), not in TT-T 1.3.1.
  const extra = Object.keys(table).filter((n) => !asyncNames.includes(n));
  assert.deepEqual(extra.sort(), ['open', 'write']);
  for (const name of asyncNames) {
    assert.ok(table[name], `${name} is in the table`);
    const sync = typed[`${name}Sync`];
    if (sync === undefined) assert.equal(table[name].sync, null, `${name}: TT-T has no ${name}Sync`);
    else assert.deepEqual(table[name].sync, sync, `${name}Sync positional parameters`);
  }
});

test('bindings/node offers every typed method on my and tt', () => {
  for (const [platform, names] of [
    ['alipay', Object.keys(alipayMethods()).filter((n) => n !== 'zip')],
    ['douyin', Object.keys(douyinMethods())],
  ]) {
    const sb = wxfs.open(config(freshRoot(`typed-${platform}`), { platform }));
    const fsm = sb.api.getFileSystemManager();
    for (const n of names) assert.equal(typeof fsm[n], 'function', `${platform}: ${n}`);
    sb.close();
  }
});
