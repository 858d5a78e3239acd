//! A sandbox under a fresh root, with a sentinel directory beside the root: any file that
//! appears in the sentinel, or anywhere under the root outside the sandbox, is an escape.
//! Every call is measured: the heap it holds at its peak must stay within the bound the README
//! states (a small multiple of the readFile limit), whatever the input declares.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wxfs::{Config, Session};

/// Counts the live heap bytes of each thread and their peak.
pub struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn track(delta: i64) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            track(l.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        track(-(l.size() as i64));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            track(new as i64 - l.size() as i64);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most heap bytes this thread held at once while `f` ran, above what it held before.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let start = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(start));
    let out = f();
    (out, (PEAK.with(|p| p.get()) - start).max(0) as u64)
}

/// The readFile limit of the fuzzed sandbox, and what one call may hold at its peak: five times
/// it (bytes, text, JSON), plus room for the arguments themselves.
pub const READ_LIMIT: u64 = 4 << 20;
pub fn call_bound(args_len: usize) -> u64 {
    5 * READ_LIMIT + 16 * args_len as u64 + (1 << 20)
}

/// Bytes of usr and store files that this process holds open after they were unlinked or
/// replaced (the kernel keeps them until the fd closes).
pub fn held_on_disk(sandbox: &Path) -> u64 {
    let areas = [sandbox.join("usr"), sandbox.join("store")];
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/fd").into_iter().flatten().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        let t = target.to_string_lossy();
        if !t.ends_with(" (deleted)") || !areas.iter().any(|a| t.starts_with(&*a.to_string_lossy())) {
            continue;
        }
        if let Ok(m) = std::fs::metadata(e.path()) {
            use std::os::unix::fs::MetadataExt;
            if m.is_file() && seen.insert(m.ino()) {
                total += m.len();
            }
        }
    }
    total
}

pub struct World {
    pub session: Arc<Session>,
    pub outside: PathBuf,
    pub root: PathBuf,
}

pub fn world() -> World {
    let base = std::env::temp_dir().join(format!("wxfs-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    let outside = base.join("outside");
    let pkg = base.join("pkg");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(pkg.join("data")).unwrap();
    std::fs::write(pkg.join("data/app.json"), b"{}").unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    let mut cfg = Config::new(&root, "fuzz-user", "wxfuzz");
    cfg.package_dir = Some(pkg);
    cfg.limits.user_files = 4 << 20;
    cfg.limits.read_file = READ_LIMIT;
    let session = Session::open(cfg.clone()).unwrap();
    // Links a path could try to ride out of the area, planted behind the library's back; the
    // sandbox is then reopened without its journal so that usage counts them.
    let dir = session.sandbox.dir().to_path_buf();
    let _ = std::os::unix::fs::symlink(&outside, dir.join("usr/out"));
    let _ = std::os::unix::fs::symlink("../../..", dir.join("usr/up"));
    drop(session);
    std::fs::remove_file(dir.join("quota.journal")).unwrap();
    let session = Session::open(cfg).unwrap();
    World { session, outside, root }
}

impl World {
    /// The invariants after every input: nothing new outside, the journal is exact, and what
    /// the quota counts is what the disk holds, files open fds keep after their name went
    /// included.
    pub fn check(&self) {
        let n = std::fs::read_dir(&self.outside).unwrap().count();
        assert_eq!(n, 1, "a file appeared outside the sandbox");
        assert_eq!(std::fs::read(self.outside.join("secret")).unwrap(), b"secret");
        let users = std::fs::read_dir(&self.root).unwrap().count();
        assert_eq!(users, 1, "a directory appeared beside the sandbox's user directory");
        let real = wxfs::fs::scan(&self.session.sandbox).unwrap();
        assert_eq!(self.session.fs.usage(), real, "quota journal differs from the bytes on disk");
        let held = held_on_disk(self.session.sandbox.dir());
        assert_eq!(self.session.fs.held(), held, "bytes counted as held by fds differ from what the fds hold");
    }

    /// Call an api; the result is always an object whose errMsg names the api.
    pub fn call(&self, api: &str, args: &str) -> (i32, serde_json::Value) {
        let ((code, v), peak) = peak_during(|| wxfs::bridge::invoke(&self.session, api, args));
        assert!(peak <= call_bound(args.len()), "{api} held {peak} bytes for {} bytes of arguments", args.len());
        let msg = v["errMsg"].as_str().expect("errMsg is a string");
        if code == 0 {
            assert_eq!(msg, format!("{api}:ok"));
        } else {
            assert!(msg.starts_with(&format!("{api}:fail ")), "{msg} with code {code}");
            assert!(v["errCode"].as_i64() == Some(code as i64), "errCode differs from the return code: {v}");
        }
        (code, v)
    }
}
