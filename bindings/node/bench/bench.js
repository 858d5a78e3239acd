// Ratios, in one run, of bindings/node against Node's own baselines on the same data:
// - 20 MiB readFileSync / writeFileSync to / from an ArrayBuffer vs fs.readFileSync /
//   fs.writeFileSync of the same file;
// - getStorageSync / setStorageSync of a 100-byte value vs a Map that keeps each value as its JSON
//   text, as a storage does: Map.get + JSON.parse / Map.set + JSON.stringify;
// - 10,000 async setStorage calls, timed until the last `success` has run, vs the same 10,000
//   setStorageSync calls.
// Each figure is the median of ROUNDS rounds; the two sides of a measurement alternate round by
// round, so a neighbour that slows the machine slows both. The targets are on wall time; the CPU
// time of the process (every thread) is printed beside it. The storage rows open a fresh sandbox
// (and a fresh Map) for every round. Run against a release build:
//   cargo build --release && node bindings/node/bench/bench.js   (re-runs itself with --expose-gc)
// WXFS_BENCH_ROUNDS sets the rounds (default 15); WXFS_BENCH_ONLY=read,write,get,set,async runs
// only the rows named.
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
const ONLY = process.env.WXFS_BENCH_ONLY ? process.env.WXFS_BENCH_ONLY.split(',') : null;
const MiB = 1 << 20;
const wanted = (row) => ONLY === null || ONLY.includes(row);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** CPU time of the whole process (every thread) in ns since `from` (a process.cpuUsage()). */
function cpuNs(from) {
  const c = process.cpuUsage(from);
  return (c.user + c.system) * 1000;
}

/**
 * [wall ns, CPU ns] per call of `f(i)` for i in 0..reps, after `setup()` (untimed), from a
 * collected heap. The CPU time (all threads) is printed beside the wall time: on a machine shared
 * with other work the wall time also counts the waits for a CPU.
 */
function time(f, reps, setup) {
  const ctx = setup ? setup() : undefined;
  global.gc();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) f(i, ctx);
  const ns = Number(process.hrtime.bigint() - t0) / reps;
  const cpu = cpuNs(c0) / reps;
  if (ctx && ctx.done) ctx.done();
  return [ns, cpu];
}

/** As `time`, for `f(ctx, resolve)` that calls `resolve()` when its `reps` calls are over. */
function timeAsync(f, reps, setup) {
  const ctx = setup ? setup() : undefined;
  global.gc();
  return new Promise((resolve) => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    f(ctx, () => {
      const ns = Number(process.hrtime.bigint() - t0) / reps;
      const cpu = cpuNs(c0) / reps;
      if (ctx && ctx.done) ctx.done();
      resolve([ns, cpu]);
    });
  });
}

/** Median ns per call of `ours` and `base`, measured alternately (each `{f, setup}` or a function). */
async function compare(ours, base, reps) {
  const run = (side) => (side.async ? timeAsync(side.async, reps, side.setup) : time(side.f || side, reps, side.setup));
  await run(ours);
  await run(base);
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await run(ours));
    b.push(await run(base));
  }
  const at = (xs, k) => median(xs.map((x) => x[k]));
  return { ours: at(a, 0), base: at(b, 0), oursCpu: at(a, 1), baseCpu: at(b, 1) };
}

function show(ns) {
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}

const roots = [];
function freshRoot() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wxfs-node-bench-'));
  roots.push(root);
  return root;
}

/** A fresh sandbox in a fresh root; `done()` closes it and removes the root. */
function freshSandbox(limits) {
  const root = freshRoot();
  const sb = wxfs.open({ root, appId: 'wxbench', userId: 'bench', limits });
  return {
    sb,
    wx: sb.wx,
    done() {
      sb.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

// A value whose JSON is 100 bytes.
const value = { id: 12345, name: 'image_cache_entr', tags: ['a', 'b', 'c'], path: 'wxfile://store_0123456789ab.png' };
const json = JSON.stringify(value);
if (json.length !== 100) throw new Error(`value JSON is ${json.length} bytes, not 100`);
const KEYS = 1000;
const keys = Array.from({ length: KEYS }, (_, i) => `key${i}`);
const ASYNC_CALLS = 10000;
const asyncKeys = Array.from({ length: ASYNC_CALLS }, (_, i) => `akey${i}`);

/** A fresh sandbox holding `keys`, each set to `value`. */
function filledSandbox() {
  const s = freshSandbox();
  for (const k of keys) s.wx.setStorageSync(k, value);
  return s;
}

/** A fresh Map holding `keys`, each as `value`'s JSON text. */
function filledMap() {
  const map = new Map();
  for (const k of keys) map.set(k, JSON.stringify(value));
  return map;
}

async function main() {
  const rows = [];
  if (wanted('read') || wanted('write')) {
    const s = freshSandbox({ readFile: 64 * MiB });
    const wfs = s.wx.getFileSystemManager();
    try {
      const big = Buffer.alloc(20 * MiB);
      for (let i = 0; i < big.length; i += 8) big.writeUInt32LE((i * 2654435761) >>> 0, i);
      const bigAb = big.buffer.slice(big.byteOffset, big.byteOffset + big.length);
      wfs.writeFileSync('wxfile://usr/big.bin', bigAb);
      const real = s.sb.invoke('host.realPath', { path: 'wxfile://usr/big.bin' }).realPath;
      const nodeOut = path.join(path.dirname(real), 'node-out.bin');
      if (wanted('read')) {
        const got = wfs.readFileSync('wxfile://usr/big.bin');
        if (!(got instanceof ArrayBuffer) || !Buffer.from(got).equals(big)) throw new Error('20 MiB readFileSync differs');
        const read = await compare(() => wfs.readFileSync('wxfile://usr/big.bin'), () => fs.readFileSync(real), 3);
        rows.push(['20 MiB readFileSync to an ArrayBuffer', read, 'fs.readFileSync', 1.1]);
      }
      if (wanted('write')) {
        const write = await compare(() => wfs.writeFileSync('wxfile://usr/out.bin', bigAb), () => fs.writeFileSync(nodeOut, big), 3);
        rows.push(['20 MiB writeFileSync', write, 'fs.writeFileSync', 3]);
        if (!Buffer.from(wfs.readFileSync('wxfile://usr/out.bin')).equals(big)) throw new Error('20 MiB round trip differs');
      }
    } finally {
      s.done();
    }
  }

  if (wanted('get')) {
    const get = await compare(
      { f: (i, s) => s.wx.getStorageSync(keys[i % KEYS]), setup: filledSandbox },
      { f: (i, map) => JSON.parse(map.get(keys[i % KEYS])), setup: filledMap },
      20000,
    );
    rows.push(['getStorageSync 100 B', get, 'Map.get + JSON.parse', 1.3]);
  }
  if (wanted('set')) {
    const set = await compare(
      {
        f: (i, s) => s.wx.setStorageSync(keys[i % KEYS], value),
        setup: () => {
          const s = filledSandbox();
          const done = s.done;
          // What the timed calls stored, checked before the sandbox goes.
          s.done = () => {
            if (JSON.stringify(s.wx.getStorageSync('key7')) !== json) throw new Error('storage round trip differs');
            done();
          };
          return s;
        },
      },
      { f: (i, map) => map.set(keys[i % KEYS], JSON.stringify(value)), setup: filledMap },
      20000,
    );
    rows.push(['setStorageSync 100 B', set, 'Map.set + JSON.stringify', 2]);
  }
  if (wanted('async')) {
    const check = (s) => {
      const last = asyncKeys[ASYNC_CALLS - 1];
      if (JSON.stringify(s.wx.getStorageSync(last)) !== json) throw new Error('setStorage round trip differs');
      s.done();
    };
    const asyncSet = await compare(
      {
        async: (s, end) => {
          let left = ASYNC_CALLS;
          const success = () => {
            if (--left === 0) end();
          };
          const fail = (res) => {
            throw new Error(`setStorage failed: ${res.errMsg}`);
          };
          for (let i = 0; i < ASYNC_CALLS; i++) s.wx.setStorage({ key: asyncKeys[i], data: value, success, fail });
        },
        setup: () => {
          const s = freshSandbox();
          return { ...s, done: () => check(s) };
        },
      },
      {
        f: (i, s) => s.wx.setStorageSync(asyncKeys[i], value),
        setup: () => {
          const s = freshSandbox();
          return { ...s, done: () => check(s) };
        },
      },
      ASYNC_CALLS,
    );
    rows.push([`${ASYNC_CALLS} async setStorage with success`, asyncSet, 'the same setStorageSync calls', 2]);
  }

  console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0].model}), library ${wxfs.locate().lib}`);
  console.log(`median of ${ROUNDS} rounds, sides alternating, a fresh sandbox and Map each storage round\n`);
  console.log('| measurement | bindings/node | baseline | ratio | target | met? | CPU time: bindings/node, baseline, ratio |');
  console.log('|---|---|---|---|---|---|---|');
  let missed = 0;
  for (const [name, r, baseName, target] of rows) {
    const ratio = r.ours / r.base;
    const met = ratio <= target;
    if (!met) missed++;
    const cpu = `${show(r.oursCpu)}, ${show(r.baseCpu)}, ${(r.oursCpu / r.baseCpu).toFixed(2)}`;
    console.log(`| ${name} | ${show(r.ours)} | ${baseName}: ${show(r.base)} | ${ratio.toFixed(2)} | ≤ ${target} | ${met ? 'yes' : 'no'} | ${cpu} |`);
  }
  process.exitCode = missed ? 1 : 0;
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });
