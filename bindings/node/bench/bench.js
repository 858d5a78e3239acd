// Ratios, in one run, of bindings/node against Node's own baselines on the same data:
// - 20 MiB readFileSync / writeFileSync vs fs.readFileSync / fs.writeFileSync of the same file;
// - getStorageSync / setStorageSync of a 100-byte value vs a Map + JSON.parse / JSON.stringify.
// Each figure is the median of ROUNDS rounds; the two sides of a measurement alternate round by
// round, so a neighbour that slows the machine slows both. Run against a release build:
//   cargo build --release && node bindings/node/bench/bench.js   (re-runs itself with --expose-gc)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const wxfs = require('..');

// Each timed batch starts from a collected heap, so neither side reads into memory the other
// side's garbage left warm (20 MiB buffers are freed only by a GC): without this the ratio of
// the two sides' reads swung from 1.1 to 3.3 between runs on the same build.
if (typeof global.gc !== 'function') {
  const r = require('child_process').spawnSync(process.execPath, ['--expose-gc', __filename], { stdio: 'inherit' });
  process.exit(r.status === null ? 1 : r.status);
}

const ROUNDS = Number(process.env.WXFS_BENCH_ROUNDS || 15);
const MiB = 1 << 20;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function time(f, reps) {
  global.gc();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) f(i);
  return Number(process.hrtime.bigint() - t0) / reps;
}

/** Median ns per call of `ours` and `base`, measured alternately. */
function compare(ours, base, reps) {
  time(ours, reps);
  time(base, reps);
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(time(ours, reps));
    b.push(time(base, reps));
  }
  return { ours: median(a), base: median(b) };
}

function show(ns) {
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wxfs-node-bench-'));
const sb = wxfs.open({ root, appId: 'wxbench', userId: 'bench', limits: { readFile: 64 * MiB } });
const wfs = sb.wx.getFileSystemManager();
const rows = [];

try {
  const big = Buffer.alloc(20 * MiB);
  for (let i = 0; i < big.length; i += 8) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  const bigAb = big.buffer.slice(big.byteOffset, big.byteOffset + big.length);
  wfs.writeFileSync('wxfile://usr/big.bin', bigAb);
  const real = sb.invoke('host.realPath', { path: 'wxfile://usr/big.bin' }).realPath;
  const nodeOut = path.join(path.dirname(real), 'node-out.bin');

  const read = compare(() => wfs.readFileSync('wxfile://usr/big.bin'), () => fs.readFileSync(real), 3);
  rows.push(['20 MiB readFileSync', read, 'fs.readFileSync', 3]);
  const write = compare(() => wfs.writeFileSync('wxfile://usr/out.bin', bigAb), () => fs.writeFileSync(nodeOut, big), 3);
  rows.push(['20 MiB writeFileSync', write, 'fs.writeFileSync', 3]);
  if (!Buffer.from(wfs.readFileSync('wxfile://usr/out.bin')).equals(big)) throw new Error('20 MiB round trip differs');

  // A value whose JSON is 100 bytes.
  const value = { id: 12345, name: 'image_cache_entr', tags: ['a', 'b', 'c'], path: 'wxfile://store_0123456789ab.png' };
  const json = JSON.stringify(value);
  if (json.length !== 100) throw new Error(`value JSON is ${json.length} bytes, not 100`);
  const map = new Map();
  const keys = Array.from({ length: 1000 }, (_, i) => `key${i}`);
  for (const k of keys) {
    sb.wx.setStorageSync(k, value);
    map.set(k, json);
  }
  const get = compare((i) => sb.wx.getStorageSync(keys[i % 1000]), (i) => JSON.parse(map.get(keys[i % 1000])), 20000);
  rows.push(['getStorageSync 100 B', get, 'Map.get + JSON.parse', 5]);
  const set = compare((i) => sb.wx.setStorageSync(keys[i % 1000], value), (i) => map.set(keys[i % 1000], JSON.stringify(value)), 20000);
  rows.push(['setStorageSync 100 B', set, 'Map.set + JSON.stringify', 5]);
  if (JSON.stringify(sb.wx.getStorageSync('key7')) !== json) throw new Error('storage round trip differs');
} finally {
  sb.close();
  fs.rmSync(root, { recursive: true, force: true });
}

console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0].model}), library ${wxfs.locate().lib}`);
console.log(`median of ${ROUNDS} rounds, sides alternating\n`);
console.log('| measurement | bindings/node | baseline | ratio | target | met? |');
console.log('|---|---|---|---|---|---|');
let missed = 0;
for (const [name, r, baseName, target] of rows) {
  const ratio = r.ours / r.base;
  const met = ratio <= target;
  if (!met) missed++;
  console.log(`| ${name} | ${show(r.ours)} | ${baseName}: ${show(r.base)} | ${ratio.toFixed(2)} | ≤ ${target} | ${met ? 'yes' : 'no'} |`);
}
process.exitCode = missed ? 1 : 0;
