// bindings/js is for any JavaScript engine: its README promises ES2015 and CommonJS-free loading
// from a list of files. Both are checked here, from the files themselves.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const acorn = require('acorn');

const JS = path.resolve(__dirname, '..', '..', 'js');

/** Every file index.js loads, following relative require() calls, as paths relative to bindings/js. */
function loadedFiles() {
  const seen = new Set();
  const visit = (rel) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const text = fs.readFileSync(path.join(JS, rel), 'utf8');
    for (const m of text.matchAll(/require\('(\.[^']*)'\)/g)) {
      let next = path.posix.normalize(path.posix.join(path.posix.dirname(rel), m[1]));
      if (!next.endsWith('.js')) next += '.js';
      visit(next);
    }
  };
  visit('index.js');
  return [...seen].sort();
}

test('every file of bindings/js parses as ES2015 (the README\'s claim)', () => {
  const files = loadedFiles();
  assert.ok(files.length >= 9, files.join(' '));
  for (const f of files) {
    const text = fs.readFileSync(path.join(JS, f), 'utf8');
    assert.doesNotThrow(() => acorn.parse(text, { ecmaVersion: 2015, sourceType: 'script' }), `${f} is not ES2015`);
  }
  // The check bites: ES2017's trailing comma in a call does not parse at 2015.
  assert.throws(() => acorn.parse('f(a,\n);', { ecmaVersion: 2015 }), SyntaxError);
});

test('no built-in newer than ES2015 runs when bindings/js loads or builds an object', () => {
  // Built-ins acorn cannot see: those of ES2016+ that a port to an older engine trips on.
  const newer = /\.(includes|padStart|padEnd|flat|flatMap|at|findLast|replaceAll)\(|Object\.(values|entries|fromEntries|getOwnPropertyDescriptors)\(/;
  for (const f of loadedFiles()) {
    const text = fs.readFileSync(path.join(JS, f), 'utf8');
    const line = text.split('\n').findIndex((l) => newer.test(l.replace(/\/\/.*$/, '')));
    assert.equal(line, -1, `${f}:${line + 1} uses a built-in newer than ES2015`);
  }
});

test('the README lists every file an engine without CommonJS must load', () => {
  const readme = fs.readFileSync(path.join(JS, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('An engine without CommonJS'));
  const paragraph = section.slice(0, section.indexOf('\n\n'));
  const missing = loadedFiles().filter((f) => !paragraph.includes('`' + f + '`'));
  assert.deepEqual(missing, [], `README's list for engines without CommonJS:\n${paragraph}`);
});
