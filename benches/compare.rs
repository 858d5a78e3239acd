//! Comparative benchmark (docs/design.md §9): wxfs against baselines run in the same process, as
//! ratios. `cargo bench --bench compare`; BENCHMARKS.md records a run and what each ratio means.
//!
//! Storage goes through the Rust API (`Session.store`), the typed C API and the bridge (both
//! through the built libwxfs shared library, loaded as a host loads it) against SQLite (rusqlite,
//! WAL, synchronous=NORMAL) and two physical floors: one O_APPEND write(2) of the same number of
//! bytes per set, and a `HashMap<String, Vec<u8>>` lookup + copy per get. Files: readFile (a saved
//! file, mapped) against `std::fs::read`, writeFile against write + rename, saveFile against a
//! bare rename, sandbox open against a directory walk; power-mode sets from 1 and 8 threads.
//!
//! MMKV is measured by `benches/mmkv.rs`, against Tencent MMKV's own C++ core (`benches/run.sh`
//! builds it). The in-bench stand-in for its technique (`mmap-kv`) and the `mmkv` crate (a Rust
//! re-implementation, not Tencent MMKV) are gone: their rows only blurred that comparison.
//!
//! The sides of one measurement run interleaved, round by round, and each figure is the median
//! round: a neighbour's build slowing the machine for a moment hits every side alike.

use std::collections::HashMap;
use std::ffi::c_char;
use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libloading::Library;
use serde_json::json;
use wxfs::fs::{Durability, TempSource};
use wxfs::storage::Value;
use wxfs::{bridge, Config, Session};

// ---- timing -------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

type Side<'a> = Box<dyn FnMut(usize) + 'a>;

/// Nanoseconds per call of each side: `rounds` rounds of `n` calls, sides interleaved round by
/// round, median round. Each side is called with a running index (for key choice). One
/// untimed warm-up round of up to `n` calls goes first.
fn race(label: &str, rounds: usize, n: usize, sides: &mut [Side<'_>]) -> Vec<f64> {
    eprintln!("  {label}: {} sides x {rounds} rounds x {n} calls", sides.len());
    let warm = n.min(2000);
    for s in sides.iter_mut() {
        for i in 0..warm {
            s(i);
        }
    }
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    for r in 0..rounds {
        let base = warm + r * n;
        for (k, s) in sides.iter_mut().enumerate() {
            let t = Instant::now();
            for i in base..base + n {
                s(i);
            }
            per[k].push(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    per.into_iter().map(median).collect()
}

type TimedSide<'a> = Box<dyn FnMut(usize) -> Duration + 'a>;

/// As `race`, for calls that need untimed preparation: each call returns the time it measured.
fn race_timed(label: &str, rounds: usize, n: usize, sides: &mut [TimedSide<'_>]) -> Vec<f64> {
    eprintln!("  {label}: {} sides x {rounds} rounds x {n} calls", sides.len());
    for s in sides.iter_mut() {
        for i in 0..n.min(3) {
            s(i);
        }
    }
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    for r in 0..rounds {
        for (k, s) in sides.iter_mut().enumerate() {
            let mut total = Duration::ZERO;
            for i in 0..n {
                total += s(1000 + r * n + i);
            }
            per[k].push(total.as_nanos() as f64 / n as f64);
        }
    }
    per.into_iter().map(median).collect()
}

fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Touch one byte per page, as a caller that uses the whole result does.
fn touch(data: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut i = 0;
    while i < data.len() {
        sum = sum.wrapping_add(data[i] as u64);
        i += 4096;
    }
    black_box(sum)
}

// ---- the table ----------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Target {
    None,
    /// wxfs / baseline at most this.
    AtMost(f64),
    /// wxfs / baseline at least this (throughput figures).
    AtLeast(f64),
    /// The wxfs figure itself (ns) below this.
    Under(f64),
    /// Both: figure under `.0` ns and ratio at most `.1`.
    UnderAndAtMost(f64, f64),
}

struct Row {
    what: String,
    wx: String,
    base: String,
    ratio: f64,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Table(Vec<Row>);

impl Table {
    /// A row of times (ns per call); the ratio is wxfs / baseline.
    fn time(&mut self, what: impl Into<String>, wx: f64, base_name: &str, base: f64, target: Target) {
        let ratio = wx / base;
        let (target, met) = match target {
            Target::None => ("—".to_string(), None),
            Target::AtMost(t) => (format!("≤ {t}"), Some(ratio <= t)),
            Target::AtLeast(t) => (format!("≥ {t}"), Some(ratio >= t)),
            Target::Under(t) => (format!("< {}", fmt_ns(t)), Some(wx < t)),
            Target::UnderAndAtMost(t, r) => (format!("< {} and ≤ {r}", fmt_ns(t)), Some(wx < t && ratio <= r)),
        };
        self.0.push(Row {
            what: what.into(),
            wx: fmt_ns(wx),
            base: format!("{base_name}: {}", fmt_ns(base)),
            ratio,
            target,
            met,
        });
    }

    /// A row of throughputs (ops/s); the ratio is wxfs / baseline.
    fn rate(&mut self, what: impl Into<String>, wx: f64, base_name: &str, base: f64, target: Target) {
        let ratio = wx / base;
        let (target, met) = match target {
            Target::AtLeast(t) => (format!("≥ {t}"), Some(ratio >= t)),
            _ => ("—".to_string(), None),
        };
        self.0.push(Row {
            what: what.into(),
            wx: format!("{wx:.0} ops/s"),
            base: format!("{base_name}: {base:.0} ops/s"),
            ratio,
            target,
            met,
        });
    }

    fn print(&self) {
        println!("| measurement | wxfs | baseline | ratio wxfs/baseline | target | met? |");
        println!("|---|---|---|---|---|---|");
        for r in &self.0 {
            let met = match r.met {
                None => "—",
                Some(true) => "yes",
                Some(false) => "**no**",
            };
            let ratio = if r.ratio >= 100.0 {
                format!("{:.0}", r.ratio)
            } else if r.ratio >= 0.1 {
                format!("{:.2}", r.ratio)
            } else {
                format!("{:.4}", r.ratio)
            };
            println!("| {} | {} | {} | {ratio} | {} | {met} |", r.what, r.wx, r.base, r.target);
        }
    }
}

// ---- libwxfs through its C ABI ------------------------------------------------------------

#[repr(C)]
struct Bytes {
    data: *mut u8,
    len: usize,
}

impl Bytes {
    fn empty() -> Bytes {
        Bytes { data: std::ptr::null_mut(), len: 0 }
    }
    fn slice(&self) -> &[u8] {
        if self.data.is_null() {
            return &[];
        }
        // SAFETY: the library handed out `len` bytes at `data`, valid until freed.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

type OpenFn = unsafe extern "C" fn(*const c_char, usize, *mut u64) -> i32;
type CloseFn = unsafe extern "C" fn(u64) -> i32;
type FreeFn = unsafe extern "C" fn(Bytes);
type InvokeFn = unsafe extern "C" fn(u64, *const c_char, usize, *const c_char, usize, *mut Bytes) -> i32;
type SetFn = unsafe extern "C" fn(u64, *const c_char, usize, *const c_char, usize, *const c_char, usize) -> i32;
type GetFn = unsafe extern "C" fn(u64, *const c_char, usize, *mut Bytes, *mut Bytes) -> i32;
type PathOutFn = unsafe extern "C" fn(u64, *const c_char, usize, *mut Bytes) -> i32;
type TempFn = unsafe extern "C" fn(u64, *const u8, usize, *const c_char, usize, *mut Bytes) -> i32;
type SaveFn = unsafe extern "C" fn(u64, *const c_char, usize, *const c_char, usize, *mut Bytes) -> i32;

/// The built libwxfs, loaded at run time as tests/common does (and as a host does).
struct Wx {
    _lib: Library,
    open: OpenFn,
    close: CloseFn,
    free: FreeFn,
    invoke: InvokeFn,
    set: SetFn,
    get: GetFn,
    read_file: PathOutFn,
    real_path: PathOutFn,
    temp_create: TempFn,
    save_file: SaveFn,
}

/// The shared library cargo built with this bench: beside the bench executable in
/// target/<profile>/deps/ (a bench build does not copy it up to target/<profile>/, which may
/// hold an older one).
fn shared_library() -> PathBuf {
    let name = format!("{}wxfs{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps.join(&name), deps.parent().unwrap().join(&name)].into_iter().find(|p| p.exists()).expect("libwxfs shared library built")
}

impl Wx {
    fn load() -> Wx {
        let path = shared_library();
        eprintln!("libwxfs: {}", path.display());
        // SAFETY: our own library; the symbol types are those of include/wxfs.h.
        unsafe {
            let lib = Library::new(&path).expect("load libwxfs");
            macro_rules! sym {
                ($name:literal) => {{
                    let f = *lib.get($name).expect(std::str::from_utf8($name).unwrap());
                    f
                }};
            }
            let open = sym!(b"wxfs_open\0");
            let close = sym!(b"wxfs_close\0");
            let free = sym!(b"wxfs_bytes_free\0");
            let invoke = sym!(b"wxfs_invoke\0");
            let set = sym!(b"wxfs_storage_set\0");
            let get = sym!(b"wxfs_storage_get\0");
            let read_file = sym!(b"wxfs_read_file\0");
            let real_path = sym!(b"wxfs_real_path\0");
            let temp_create = sym!(b"wxfs_temp_create\0");
            let save_file = sym!(b"wxfs_save_file\0");
            Wx { _lib: lib, open, close, free, invoke, set, get, read_file, real_path, temp_create, save_file }
        }
    }

    fn open(&self, root: &Path, app: &str, durability: &str) -> u64 {
        let cfg = json!({"root": root, "userId": "bench", "appId": app, "durability": durability}).to_string();
        let mut h = 0;
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.open)(cfg.as_ptr().cast(), cfg.len(), &mut h) };
        assert_eq!(rc, 0, "wxfs_open");
        h
    }

    fn text(&self, b: Bytes) -> String {
        let s = String::from_utf8(b.slice().to_vec()).unwrap();
        // SAFETY: handed out by the library, freed once.
        unsafe { (self.free)(b) };
        s
    }

    fn storage_set(&self, h: u64, key: &str, json: &str) {
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.set)(h, key.as_ptr().cast(), key.len(), json.as_ptr().cast(), json.len(), std::ptr::null(), 0) };
        assert_eq!(rc, 0, "wxfs_storage_set");
    }

    fn storage_get(&self, h: u64, key: &str) {
        let mut out = Bytes::empty();
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.get)(h, key.as_ptr().cast(), key.len(), &mut out, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "wxfs_storage_get");
        black_box(out.slice().first());
        // SAFETY: handed out by the library, freed once.
        unsafe { (self.free)(out) };
    }

    /// One bridge call; the result is freed unread (a host would parse it).
    fn invoke(&self, h: u64, api: &str, args: &str) {
        let mut out = Bytes::empty();
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.invoke)(h, api.as_ptr().cast(), api.len(), args.as_ptr().cast(), args.len(), &mut out) };
        if rc != 0 {
            panic!("{api}: {rc} {}", String::from_utf8_lossy(out.slice()));
        }
        black_box(out.slice().first());
        // SAFETY: handed out by the library, freed once.
        unsafe { (self.free)(out) };
    }

    /// A saved file (wxfile://store_...) holding `data`, made as a host would: temp, then saveFile.
    fn saved_file(&self, h: u64, data: &[u8]) -> String {
        let mut tmp = Bytes::empty();
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.temp_create)(h, data.as_ptr(), data.len(), "bin".as_ptr().cast(), 3, &mut tmp) };
        assert_eq!(rc, 0, "wxfs_temp_create");
        let tmp = self.text(tmp);
        let mut saved = Bytes::empty();
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.save_file)(h, tmp.as_ptr().cast(), tmp.len(), std::ptr::null(), 0, &mut saved) };
        assert_eq!(rc, 0, "wxfs_save_file");
        self.text(saved)
    }

    fn real_path(&self, h: u64, path: &str) -> PathBuf {
        let mut out = Bytes::empty();
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.real_path)(h, path.as_ptr().cast(), path.len(), &mut out) };
        assert_eq!(rc, 0, "wxfs_real_path");
        PathBuf::from(self.text(out))
    }

    /// wxfs_read_file, optionally touching every page, then wxfs_bytes_free.
    fn read_file(&self, h: u64, path: &str, touch_pages: bool) -> usize {
        let mut out = Bytes::empty();
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.read_file)(h, path.as_ptr().cast(), path.len(), &mut out) };
        assert_eq!(rc, 0, "wxfs_read_file");
        let n = out.len;
        if touch_pages {
            touch(out.slice());
        }
        // SAFETY: handed out by the library, freed once.
        unsafe { (self.free)(out) };
        n
    }

    fn close(&self, h: u64) {
        // SAFETY: a handle from `open`, closed once.
        unsafe { (self.close)(h) };
    }
}

// ---- storage ------------------------------------------------------------------------------

struct Env<'a> {
    root: PathBuf,
    wx: &'a Wx,
    table: Table,
}

/// Set and get of `value_len`-byte values over `keys` keys, every side.
fn storage(env: &mut Env<'_>, label: &str, value_len: usize, nkeys: usize, rounds: usize, n: usize, targets: bool) {
    eprintln!("storage {label}: {nkeys} keys, values of {value_len} B");
    let dir = env.root.join(format!("kv-{label}"));
    std::fs::create_dir_all(&dir).unwrap();
    let wx = env.wx;
    let keys: Vec<String> = (0..nkeys).map(|i| format!("key{i:05}")).collect();
    // The value is the JSON text of a string, `value_len` bytes with its quotes.
    let inner = "x".repeat(value_len - 2);
    let data = format!("\"{inner}\"");
    let set_args: Vec<String> = keys.iter().map(|k| json!({"key": k, "data": inner}).to_string()).collect();
    let get_args: Vec<String> = keys.iter().map(|k| json!({"key": k}).to_string()).collect();
    // What the engine appends for one set: frame 8 + op 1 + key (4 + len) + data (4 + len) + type tag 1.
    let record = vec![b'r'; 18 + keys[0].len() + value_len];

    let rust = Session::open(Config::new(&dir, "bench", "rust")).unwrap();
    let limits = rust.storage_limits(false);
    let typed = wx.open(&dir, "typed", "process");
    let br = wx.open(&dir, "bridge", "process");
    let raw = OpenOptions::new().append(true).create(true).open(dir.join("raw.log")).unwrap();
    let sql = rusqlite::Connection::open(dir.join("sqlite.db")).unwrap();
    let mode: String = sql.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    sql.execute_batch("PRAGMA synchronous=NORMAL; CREATE TABLE kv (k TEXT PRIMARY KEY NOT NULL, v BLOB NOT NULL);").unwrap();
    let mut map: HashMap<String, Vec<u8>> = HashMap::new();
    for k in &keys {
        map.insert(k.clone(), data.as_bytes().to_vec());
    }

    // -- set
    let k = |i: usize| &keys[i % nkeys];
    let set = {
        let mut sides: Vec<Side<'_>> = vec![
            Box::new(|i| rust.store.set(k(i), Value { data: data.clone(), data_type: None }, limits).unwrap()),
            Box::new(|i| wx.storage_set(typed, k(i), &data)),
            Box::new(|i| wx.invoke(br, "setStorageSync", &set_args[i % nkeys])),
            Box::new(|_| {
                let n = (&raw).write(&record).unwrap();
                assert_eq!(n, record.len());
            }),
            Box::new(|i| {
                let mut st = sql.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)").unwrap();
                st.execute(rusqlite::params![k(i), data.as_bytes()]).unwrap();
            }),
        ];
        race(&format!("set {label}"), rounds, n, &mut sides)
    };
    let (rs, ts, bs, raw_s, sql_s) = (set[0], set[1], set[2], set[3], set[4]);
    let t = &mut env.table;
    let big = |x| if targets { x } else { Target::None };
    t.time(format!("set {label}: Rust API vs raw append"), rs, "O_APPEND write(2)", raw_s, big(Target::AtMost(1.5)));
    t.time(format!("set {label}: typed C API vs raw append"), ts, "O_APPEND write(2)", raw_s, big(Target::AtMost(1.5)));
    t.time(format!("set {label}: bridge setStorageSync vs raw append"), bs, "O_APPEND write(2)", raw_s, Target::None);
    t.time(format!("set {label}: Rust API vs SQLite"), rs, "SQLite", sql_s, big(Target::AtMost(0.1)));
    t.time(format!("set {label}: typed C API vs SQLite"), ts, "SQLite", sql_s, big(Target::AtMost(0.1)));

    // -- get
    let get = {
        let mut sides: Vec<Side<'_>> = vec![
            Box::new(|i| {
                black_box(rust.store.get(k(i)).unwrap());
            }),
            Box::new(|i| wx.storage_get(typed, k(i))),
            Box::new(|i| wx.invoke(br, "getStorageSync", &get_args[i % nkeys])),
            Box::new(|i| {
                black_box(map.get(k(i).as_str()).unwrap().clone());
            }),
            Box::new(|i| {
                let mut st = sql.prepare_cached("SELECT v FROM kv WHERE k = ?1").unwrap();
                black_box(st.query_row([k(i)], |r| r.get::<_, Vec<u8>>(0)).unwrap());
            }),
        ];
        race(&format!("get {label}"), rounds, n, &mut sides)
    };
    let (rg, tg, bg, hm, sql_g) = (get[0], get[1], get[2], get[3], get[4]);
    let t = &mut env.table;
    t.time(
        format!("get {label}: Rust API (Arc, no copy) vs HashMap lookup + copy"),
        rg,
        "HashMap + copy",
        hm,
        big(Target::AtMost(3.0)),
    );
    t.time(format!("get {label}: typed C API vs HashMap lookup + copy"), tg, "HashMap + copy", hm, big(Target::AtMost(3.0)));
    t.time(
        format!("get {label}: bridge getStorageSync (vs HashMap + copy)"),
        bg,
        "HashMap + copy",
        hm,
        if targets { Target::Under(3000.0) } else { Target::None },
    );
    t.time(format!("get {label}: typed C API vs SQLite"), tg, "SQLite", sql_g, Target::None);
    let st = rust.store.stats();
    eprintln!(
        "  wxfs log after the run: {} B, live {} B, {} compactions (Rust API sandbox)",
        st.file_len, st.live_len, st.compactions
    );

    wx.close(typed);
    wx.close(br);
    drop(rust);
}

// ---- files --------------------------------------------------------------------------------

fn read_file(env: &mut Env<'_>, label: &str, size: usize, rounds: usize, n: usize, target: Target) {
    eprintln!("readFile {label}");
    let wx = env.wx;
    let h = wx.open(&env.root.join("files-c"), "read", "process");
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let saved = wx.saved_file(h, &data);
    let os = wx.real_path(h, &saved);
    assert_eq!(std::fs::read(&os).unwrap(), data);
    let r = {
        let mut sides: Vec<Side<'_>> = vec![
            Box::new(|_| assert_eq!(wx.read_file(h, &saved, false), size)),
            Box::new(|_| assert_eq!(black_box(std::fs::read(&os).unwrap()).len(), size)),
            Box::new(|_| assert_eq!(wx.read_file(h, &saved, true), size)),
            Box::new(|_| {
                let v = std::fs::read(&os).unwrap();
                touch(&v);
            }),
        ];
        race(&format!("readFile {label}"), rounds, n, &mut sides)
    };
    let t = &mut env.table;
    t.time(format!("readFile {label}: typed (mapped), untouched, vs std::fs::read"), r[0], "std::fs::read", r[1], Target::None);
    t.time(
        format!("readFile {label}: typed (mapped), every page touched, vs std::fs::read + same touch"),
        r[2],
        "std::fs::read + touch",
        r[3],
        target,
    );
    wx.close(h);
}

fn write_file(env: &mut Env<'_>, s: &Session, label: &str, size: usize, rounds: usize, n: usize, target: Target) {
    eprintln!("writeFile {label}");
    let data = vec![b'w'; size];
    let usr = s.sandbox.dir().join("usr");
    let (tmp, target_path) = (usr.join(".raw-tmp"), usr.join("raw.bin"));
    let r = {
        let mut sides: Vec<Side<'_>> = vec![
            Box::new(|_| s.fs.write_file("wxfile://usr/w.bin", &data).unwrap()),
            Box::new(|_| {
                let mut f = File::create(&tmp).unwrap();
                f.write_all(&data).unwrap();
                drop(f);
                std::fs::rename(&tmp, &target_path).unwrap();
            }),
        ];
        race(&format!("writeFile {label}"), rounds, n, &mut sides)
    };
    env.table.time(format!("writeFile {label} (atomic) vs write + rename of a temp file"), r[0], "write + rename", r[1], target);
}

fn save_file(env: &mut Env<'_>, s: &Session, size: usize, rounds: usize, n: usize) {
    eprintln!("saveFile {} MiB", size >> 20);
    let data = vec![b's'; size];
    let host = env.root.join("host-downloads");
    let (src, dst) = (env.root.join("rename-src"), env.root.join("rename-dst"));
    for d in [&host, &src, &dst] {
        std::fs::create_dir_all(d).unwrap();
    }
    let r = {
        let mut sides: Vec<TimedSide<'_>> = vec![
            Box::new(|i| {
                // Untimed: a download lands in temp (moved in, as a host's downloader does).
                let file = host.join(format!("dl{i}.bin"));
                std::fs::write(&file, &data).unwrap();
                let temp = s.fs.create_temp(TempSource::File { path: file, take: true }, Some("bin")).unwrap();
                let t = Instant::now();
                let saved = s.fs.save_file(&temp, None).unwrap();
                let e = t.elapsed();
                s.fs.remove_saved_file(&saved).unwrap();
                e
            }),
            Box::new(|i| {
                let (a, b) = (src.join(format!("f{i}.bin")), dst.join(format!("f{i}.bin")));
                std::fs::write(&a, &data).unwrap();
                let t = Instant::now();
                std::fs::rename(&a, &b).unwrap();
                let e = t.elapsed();
                std::fs::remove_file(&b).unwrap();
                e
            }),
        ];
        race_timed(&format!("saveFile {} MiB", size >> 20), rounds, n, &mut sides)
    };
    env.table.time(
        format!("saveFile {} MiB (temp -> saved) vs bare rename", size >> 20),
        r[0],
        "rename(2)",
        r[1],
        Target::AtMost(1.5),
    );
}

// ---- open ---------------------------------------------------------------------------------

const FILES: usize = 100_000;
const DIRS: usize = 100;

fn walk(dir: &Path) -> (u64, u64) {
    let (mut n, mut bytes) = (0, 0);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            let (a, b) = walk(&e.path());
            n += a;
            bytes += b;
        } else {
            n += 1;
            bytes += m.len();
        }
    }
    (n, bytes)
}

/// As benches/open.rs: 100,000 files planted in usr/ and a full 10 MiB store; open against a
/// walk of usr/ (stat of every entry), 7 runs each, interleaved.
fn open(env: &mut Env<'_>) {
    eprintln!("open: planting {FILES} files and filling the store");
    let root = env.root.join("open");
    let cfg = || Config::new(&root, "bench", "wxbench");
    let t = Instant::now();
    let s = Session::open(cfg()).unwrap();
    let sandbox = s.sandbox.dir().to_path_buf();
    drop(s);
    let usr = sandbox.join("usr");
    for d in 0..DIRS {
        let dir = usr.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES / DIRS {
            std::fs::write(dir.join(format!("f{f:04}.bin")), [b'x'; 100]).unwrap();
        }
    }
    std::fs::remove_file(sandbox.join("quota.journal")).ok();
    let s = Session::open(cfg()).unwrap();
    let item = "v".repeat(1000);
    let mut n = 0;
    loop {
        let (c, _) = bridge::invoke(&s, "setStorageSync", &json!({"key": format!("key{n:06}"), "data": item}).to_string());
        if c != 0 {
            break;
        }
        n += 1;
    }
    let store = s.store.size();
    drop(s);
    eprintln!("  setup: {FILES} files, {n} storage items ({store} B, the 10 MiB store full) in {:.1?}", t.elapsed());
    let (mut opens, mut walks) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t = Instant::now();
        assert_eq!(walk(&usr).0 as usize, FILES);
        walks.push(t.elapsed().as_nanos() as f64);
        let t = Instant::now();
        let s = Session::open(cfg()).unwrap();
        opens.push(t.elapsed().as_nanos() as f64);
        assert_eq!(s.fs.usage().user, (FILES * 100) as u64);
        assert_eq!(s.store.size(), store);
        assert!(s.fs.open_report().rebuilt.is_none());
        drop(s);
    }
    env.table.time(
        format!("open: {FILES} files + full 10 MiB store vs walk of usr/"),
        median(opens),
        "directory walk",
        median(walks),
        Target::UnderAndAtMost(50e6, 0.1),
    );
}

// ---- power mode ---------------------------------------------------------------------------

/// Sets per second from `threads` threads over `dur`, each thread on its own 100 keys.
fn power_rate(s: &Session, threads: usize, dur: Duration, data: &str) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let limits = s.storage_limits(false);
    let t = Instant::now();
    std::thread::scope(|sc| {
        for th in 0..threads {
            let (stop, done) = (&stop, &done);
            sc.spawn(move || {
                let keys: Vec<String> = (0..100).map(|i| format!("t{th}-key{i:03}")).collect();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    s.store.set(&keys[i % 100], Value { data: data.to_string(), data_type: None }, limits).unwrap();
                    i += 1;
                }
                done.fetch_add(i as u64, Ordering::Relaxed);
            });
        }
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
}

/// The same without wxfs: `threads` threads each appending a record of the same size to one
/// file and calling fdatasync after every append (the file system batches concurrent syncs
/// into one journal commit by itself).
fn fsync_rate(path: &Path, threads: usize, len: usize, dur: Duration) -> f64 {
    let f = OpenOptions::new().append(true).create(true).open(path).unwrap();
    let rec = vec![b'p'; len];
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let t = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..threads {
            let (f, rec, stop, done) = (&f, &rec, &stop, &done);
            sc.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut w = f;
                    w.write_all(rec).unwrap();
                    f.sync_data().unwrap();
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
}

fn power(env: &mut Env<'_>) {
    eprintln!("power mode: sets of 100 B from 1 and 8 threads");
    let dir = env.root.join("power");
    let mut cfg = Config::new(&dir, "bench", "power");
    cfg.durability = Durability::Power;
    let s = Session::open(cfg).unwrap();
    let data = format!("\"{}\"", "x".repeat(98));
    // fsync latency on a shared disk drifts a lot: many short windows, interleaved, medians.
    let (rounds, dur) = (7, Duration::from_millis(600));
    power_rate(&s, 8, Duration::from_millis(300), &data);
    let (mut one, mut eight, mut raw1, mut raw8) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let raw = dir.join("fsync.log");
    let len = 18 + 12 + 100;
    for r in 0..rounds {
        eprintln!("  round {}/{rounds}", r + 1);
        one.push(power_rate(&s, 1, dur, &data));
        eight.push(power_rate(&s, 8, dur, &data));
        raw1.push(fsync_rate(&raw, 1, len, dur));
        raw8.push(fsync_rate(&raw, 8, len, dur));
    }
    eprintln!("  wxfs 1 thread: {one:.0?}\n  wxfs 8 threads: {eight:.0?}");
    eprintln!("  write + fdatasync 1 thread: {raw1:.0?}\n  write + fdatasync 8 threads: {raw8:.0?}");
    let (one, eight, raw1, raw8) = (median(one), median(eight), median(raw1), median(raw8));
    let t = &mut env.table;
    t.rate("power mode set 100 B: 8 threads vs 1 thread (group commit)", eight, "1 thread", one, Target::AtLeast(6.0));
    t.rate("power mode set 100 B: 1 thread vs write + fdatasync", one, "write + fdatasync", raw1, Target::None);
    t.rate(
        "power mode set 100 B: 8 threads vs 8 threads each write + fdatasync",
        eight,
        "8 x (write + fdatasync)",
        raw8,
        Target::None,
    );
    t.rate("(baseline) write + fdatasync: 8 threads vs 1 thread", raw8, "1 thread", raw1, Target::None);
}

fn main() {
    let started = Instant::now();
    let root = std::env::temp_dir().join(format!("wxfs-bench-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let wx = Wx::load();
    let mut env = Env { root: root.clone(), wx: &wx, table: Table::default() };

    // WXFS_BENCH_ONLY=kv-small,kv-large,read,write,save,power,open (any subset) runs only those parts,
    // e.g. under a profiler.
    let only = std::env::var("WXFS_BENCH_ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p.trim() == part));

    if run("kv-small") {
        storage(&mut env, "100 B", 100, 1000, 7, 10_000, true);
    }
    if run("kv-large") {
        storage(&mut env, "100 KiB", 100 << 10, 16, 7, 300, false);
    }
    if run("read") {
        read_file(&mut env, "1 MiB", 1 << 20, 7, 100, Target::None);
        read_file(&mut env, "50 MiB", 50 << 20, 7, 3, Target::AtMost(0.5));
    }
    let files = Session::open(Config::new(root.join("files-rust"), "bench", "files")).unwrap();
    if run("write") {
        write_file(&mut env, &files, "4 KiB", 4 << 10, 7, 300, Target::AtMost(2.0));
        write_file(&mut env, &files, "1 MiB", 1 << 20, 7, 30, Target::None);
    }
    if run("save") {
        save_file(&mut env, &files, 10 << 20, 7, 12);
    }
    drop(files);
    if run("power") {
        power(&mut env);
    }
    if run("open") {
        open(&mut env);
    }

    eprintln!("done in {:.1?}", started.elapsed());
    env.table.print();
    let _ = std::fs::remove_dir_all(&root);
}
