//! The bridge's storage path alone, quickly: `getStorageSync` and `setStorageSync` through
//! `wxfs_invoke` and `wxfs_invoke_v2` (JSON in, JSON envelope out, as a host calls them), beside
//! the typed C API on the same store, and beside Tencent MMKV when `WXFS_BENCH_MMKV_SHIM` names
//! the shim `benches/run.sh` builds. One process, sides interleaved round by round, keys in
//! order, median round. `benches/mmkv.rs` is the full comparison; this one is for profiling
//! (`WXFS_BENCH_BRIDGE=get` or `=set` runs that bridge row alone, e.g. under `perf record`, for
//! `WXFS_BENCH_BRIDGE_CALLS` calls).

use std::ffi::{c_char, c_long, c_void, CString};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use libloading::Library;
use serde_json::json;

const KEYS: usize = 100_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[repr(C)]
struct Bytes {
    data: *mut u8,
    len: usize,
}

#[repr(C)]
struct Slice {
    data: *const u8,
    len: usize,
}

#[repr(C)]
struct Result2 {
    json: Bytes,
    buffers: *mut Bytes,
    buffers_len: usize,
}

type InvokeFn = unsafe extern "C" fn(u64, *const c_char, usize, *const c_char, usize, *mut Bytes) -> i32;
type InvokeV2Fn = unsafe extern "C" fn(u64, *const c_char, usize, *const c_char, usize, *const Slice, usize, *mut Result2) -> i32;

struct Wx {
    _lib: Library,
    free: unsafe extern "C" fn(Bytes),
    result_free: unsafe extern "C" fn(Result2),
    invoke: InvokeFn,
    invoke_v2: InvokeV2Fn,
    set: unsafe extern "C" fn(u64, *const c_char, usize, *const c_char, usize, *const c_char, usize) -> i32,
    get: unsafe extern "C" fn(u64, *const c_char, usize, *mut Bytes, *mut Bytes) -> i32,
    h: u64,
}

impl Wx {
    fn load(root: &Path) -> Wx {
        let name = format!("{}wxfs{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let path = [deps.join(&name), deps.parent().unwrap().join(&name)].into_iter().find(|p| p.exists()).unwrap();
        // SAFETY: our own library; the symbol types are those of include/wxfs.h.
        unsafe {
            let lib = Library::new(&path).unwrap();
            let open: unsafe extern "C" fn(*const c_char, usize, *mut u64) -> i32 = *lib.get(b"wxfs_open\0").unwrap();
            let cfg =
                json!({"root": root, "userId": "bench", "appId": "wxbench", "limits": {"storageTotal": 1u64 << 30}}).to_string();
            let mut h = 0;
            assert_eq!(open(cfg.as_ptr().cast(), cfg.len(), &mut h), 0);
            Wx {
                free: *lib.get(b"wxfs_bytes_free\0").unwrap(),
                result_free: *lib.get(b"wxfs_result_free\0").unwrap(),
                invoke: *lib.get(b"wxfs_invoke\0").unwrap(),
                invoke_v2: *lib.get(b"wxfs_invoke_v2\0").unwrap(),
                set: *lib.get(b"wxfs_storage_set\0").unwrap(),
                get: *lib.get(b"wxfs_storage_get\0").unwrap(),
                _lib: lib,
                h,
            }
        }
    }

    fn invoke(&self, api: &str, args: &str) -> usize {
        let mut out = Bytes { data: std::ptr::null_mut(), len: 0 };
        // SAFETY: valid buffers for the call; the result is freed once.
        unsafe {
            assert_eq!((self.invoke)(self.h, api.as_ptr().cast(), api.len(), args.as_ptr().cast(), args.len(), &mut out), 0);
            let n = out.len;
            (self.free)(out);
            n
        }
    }

    fn invoke_v2(&self, api: &str, args: &str) -> usize {
        let mut out =
            Result2 { json: Bytes { data: std::ptr::null_mut(), len: 0 }, buffers: std::ptr::null_mut(), buffers_len: 0 };
        // SAFETY: valid buffers for the call; the result is freed once.
        unsafe {
            let rc = (self.invoke_v2)(
                self.h,
                api.as_ptr().cast(),
                api.len(),
                args.as_ptr().cast(),
                args.len(),
                std::ptr::null(),
                0,
                &mut out,
            );
            assert_eq!(rc, 0);
            let n = out.json.len;
            (self.result_free)(out);
            n
        }
    }

    fn set(&self, k: &str, v: &str) {
        // SAFETY: valid buffers for the call.
        assert_eq!(unsafe { (self.set)(self.h, k.as_ptr().cast(), k.len(), v.as_ptr().cast(), v.len(), std::ptr::null(), 0) }, 0);
    }

    fn get(&self, k: &str) -> usize {
        let mut out = Bytes { data: std::ptr::null_mut(), len: 0 };
        // SAFETY: valid buffers for the call; the result is freed once.
        unsafe {
            assert_eq!((self.get)(self.h, k.as_ptr().cast(), k.len(), &mut out, std::ptr::null_mut()), 0);
            let n = out.len;
            (self.free)(out);
            n
        }
    }
}

/// MMKV, when the shim is there: set, get into a fresh string, and (if the shim has it) get into
/// a string the caller reuses.
struct Mk {
    _lib: Library,
    set: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const c_char, usize) -> i32,
    get: unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> c_long,
    get_reused: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> c_long>,
    kv: *mut c_void,
}

impl Mk {
    fn load(root: &Path) -> Option<Mk> {
        let path = std::env::var_os("WXFS_BENCH_MMKV_SHIM")?;
        // SAFETY: the shim's functions, declared as in benches/mmkv/shim.cpp.
        unsafe {
            let lib = Library::new(PathBuf::from(path)).unwrap();
            let init: unsafe extern "C" fn(*const c_char) = *lib.get(b"mk_init\0").unwrap();
            let open: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut c_void = *lib.get(b"mk_open\0").unwrap();
            let root = CString::new(root.to_str().unwrap()).unwrap();
            init(root.as_ptr());
            let kv = open(c"bridge".as_ptr(), root.as_ptr());
            assert!(!kv.is_null());
            Some(Mk {
                set: *lib.get(b"mk_set\0").unwrap(),
                get: *lib.get(b"mk_get\0").unwrap(),
                get_reused: lib.get(b"mk_get_reused\0").ok().map(|f| *f),
                _lib: lib,
                kv,
            })
        }
    }

    fn set(&self, k: &str, v: &str) {
        // SAFETY: an open instance and valid buffers.
        assert_eq!(unsafe { (self.set)(self.kv, k.as_ptr().cast(), k.len(), v.as_ptr().cast(), v.len()) }, 0);
    }

    fn get(&self, k: &str) -> c_long {
        // SAFETY: an open instance and valid buffers.
        unsafe { (self.get)(self.kv, k.as_ptr().cast(), k.len()) }
    }

    fn get_reused(&self, k: &str) -> c_long {
        // SAFETY: an open instance and valid buffers.
        unsafe { (self.get_reused.unwrap())(self.kv, k.as_ptr().cast(), k.len()) }
    }
}

/// One side of a race: the call for index `i`.
type Side<'a> = Box<dyn FnMut(usize) -> usize + 'a>;

/// ns per call of each side, `rounds` rounds of `n` calls, sides interleaved; median round.
fn race(rounds: usize, n: usize, sides: &mut [&mut dyn FnMut(usize) -> usize]) -> Vec<f64> {
    let mut t = vec![Vec::new(); sides.len()];
    for r in 0..rounds {
        for (s, f) in sides.iter_mut().enumerate() {
            let start = Instant::now();
            for i in r * n..(r + 1) * n {
                black_box(f(i));
            }
            t[s].push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    t.into_iter().map(median).collect()
}

fn main() {
    let root = std::env::temp_dir().join(format!("wxfs-bench-bridge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let wx = Wx::load(&root.join("wx"));
    let mk = Mk::load(&root.join("mmkv"));
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i:06}")).collect();
    let vals: Vec<String> = (0..2 * KEYS).map(|i| format!("\"v{i:014}\"")).collect();
    for (i, k) in keys.iter().enumerate() {
        wx.set(k, &vals[i]);
        if let Some(mk) = &mk {
            mk.set(k, &vals[i]);
        }
    }
    let get_args: Vec<String> = keys.iter().map(|k| json!({ "key": k }).to_string()).collect();
    let set_args: Vec<String> =
        (0..KEYS).map(|i| json!({"key": keys[i], "data": format!("v{:014}", i + KEYS)}).to_string()).collect();
    let k = |i: usize| i % KEYS;

    // Profiling: one bridge row alone, WXFS_BENCH_BRIDGE_CALLS calls (default 5,000,000).
    if let Ok(only) = std::env::var("WXFS_BENCH_BRIDGE") {
        let t = Instant::now();
        let n =
            std::env::var("WXFS_BENCH_BRIDGE_CALLS").map_or(50 * KEYS, |n| n.parse().expect("WXFS_BENCH_BRIDGE_CALLS: a count"));
        for i in 0..n {
            black_box(match only.as_str() {
                "get" => wx.invoke("getStorageSync", &get_args[k(i)]),
                "set" => wx.invoke("setStorageSync", &set_args[k(i)]),
                other => panic!("WXFS_BENCH_BRIDGE={other}: get or set"),
            });
        }
        eprintln!("{only}: {:.0} ns a call", t.elapsed().as_nanos() as f64 / n as f64);
        return;
    }

    let (rounds, n) = (7, KEYS / 5);
    let mut rows: Vec<(&str, f64)> = Vec::new();
    {
        let mut sides: Vec<(&str, Side)> = vec![
            ("bridge getStorageSync (wxfs_invoke)", Box::new(|i| wx.invoke("getStorageSync", &get_args[k(i)]))),
            ("bridge getStorageSync (wxfs_invoke_v2)", Box::new(|i| wx.invoke_v2("getStorageSync", &get_args[k(i)]))),
            ("typed get (wxfs_storage_get)", Box::new(|i| wx.get(&keys[k(i)]))),
        ];
        if let Some(mk) = &mk {
            sides.push(("MMKV get (fresh std::string)", Box::new(|i| mk.get(&keys[k(i)]) as usize)));
            if mk.get_reused.is_some() {
                sides.push(("MMKV get (reused std::string)", Box::new(|i| mk.get_reused(&keys[k(i)]) as usize)));
            }
        }
        let mut fns: Vec<&mut dyn FnMut(usize) -> usize> = sides.iter_mut().map(|(_, f)| &mut **f as _).collect();
        let t = race(rounds, n, &mut fns);
        rows.extend(sides.iter().map(|(w, _)| *w).zip(t));
    }
    {
        let mut sides: Vec<(&str, Side)> = vec![
            ("bridge setStorageSync (wxfs_invoke)", Box::new(|i| wx.invoke("setStorageSync", &set_args[k(i)]))),
            ("bridge setStorageSync (wxfs_invoke_v2)", Box::new(|i| wx.invoke_v2("setStorageSync", &set_args[k(i)]))),
            (
                "typed set (wxfs_storage_set)",
                Box::new(|i| {
                    wx.set(&keys[k(i)], &vals[k(i) + KEYS]);
                    0
                }),
            ),
        ];
        if let Some(mk) = &mk {
            sides.push((
                "MMKV set",
                Box::new(|i| {
                    mk.set(&keys[k(i)], &vals[k(i) + KEYS]);
                    0
                }),
            ));
        }
        let mut fns: Vec<&mut dyn FnMut(usize) -> usize> = sides.iter_mut().map(|(_, f)| &mut **f as _).collect();
        let t = race(rounds, n, &mut fns);
        rows.extend(sides.iter().map(|(w, _)| *w).zip(t));
    }
    let of = |name: &str| rows.iter().find(|(w, _)| *w == name).map(|r| r.1);
    println!("{KEYS} keys of 10 bytes, values of 18 bytes of JSON, keys in order; median of {rounds} rounds of {n} calls");
    for (what, ns) in &rows {
        println!("  {what:<42} {ns:>8.0} ns");
    }
    for (what, base, target) in [
        ("bridge getStorageSync (wxfs_invoke)", "MMKV get (reused std::string)", 2.0),
        ("bridge getStorageSync (wxfs_invoke)", "MMKV get (fresh std::string)", 2.0),
        ("bridge setStorageSync (wxfs_invoke)", "MMKV set", 1.0),
        ("bridge getStorageSync (wxfs_invoke)", "typed get (wxfs_storage_get)", f64::NAN),
        ("bridge setStorageSync (wxfs_invoke)", "typed set (wxfs_storage_set)", f64::NAN),
    ] {
        if let (Some(a), Some(b)) = (of(what), of(base)) {
            let verdict = match target {
                t if t.is_nan() => String::new(),
                t => format!(" (target ≤ {t}: {})", if a / b <= t { "met" } else { "not met" }),
            };
            println!("  {what} / {base}: {:.2}{verdict}", a / b);
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
