//! Shared by the integration tests. Each test binary compiles this module (`mod common;`) and
//! uses part of it, hence the `dead_code` allowance. The library as a host loads it is in
//! [`abi`]; the bridge in-process in [`bridge`], the C ABI linked in in [`linked`]; zips made in
//! memory in [`zip`]; what a crash leaves in [`crash`]; a `log` facade listener in [`logger`];
//! trees on disk in [`files`]; outside programs in [`command`]; tests needing a tool in [`skip`].
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// Where the library cargo built for this test run lives: `target/<profile>/deps`. (`cargo test`
/// refreshes the cdylib and staticlib there but does not copy them up to `target/<profile>`,
/// so a copy there may be stale or missing.)
pub fn lib_dir() -> PathBuf {
    build_dir().join("deps")
}

/// `target/<profile>`, the parent of the test executable's `deps/`.
/// The shared library this run built (`libwxfs.so` in [`lib_dir`]).
pub fn lib_path() -> PathBuf {
    lib_dir().join(format!("{}wxfs{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX))
}

pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh empty directory under target/, removed by the caller when it likes.
pub fn fresh_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = build_dir().join("test-tmp").join(format!("{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn write_tree(dir: &Path, files: &serde_json::Map<String, Value>) {
    for (rel, content) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content.as_str().unwrap_or_default()).unwrap();
    }
}

/// A tiny deterministic generator (xorshift64), so a failing seed can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Run the ignored test `name` of the current test binary in a child process with `env` set;
/// returns its exit status and what it printed. The child is how a test plays a host process
/// that dies (`std::process::exit` with sandboxes still open is what a kill leaves behind).
pub fn run_child(name: &str, env: &[(&str, String)]) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status, text)
}

/// A small tmpfs of its own (a full disk, a root with few inodes), unmounted on drop. `None`
/// (after saying so) where this process may not mount; under CI that is a failure.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(tag: &str, size: &str, inodes: Option<u64>) -> Option<Tmpfs> {
        let dir = fresh_dir(tag);
        let mut opts = format!("size={size}");
        if let Some(n) = inodes {
            opts.push_str(&format!(",nr_inodes={n}"));
        }
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            assert!(std::env::var_os("CI").is_none(), "CI: cannot mount a tmpfs (root needed)");
            println!("skipped: cannot mount a tmpfs here (root needed)");
            return None;
        }
        Some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Heap bytes live on each thread, for [`Counting`]: a test binary that measures one thread's
/// peak installs `#[global_allocator] static A: common::Counting = common::Counting(common::thread_heap::track);`
/// and asks [`thread_heap::peak_during`].
pub mod thread_heap {
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<i64> = const { Cell::new(0) };
        static PEAK: Cell<i64> = const { Cell::new(0) };
    }

    /// The allocator's report: this thread's live bytes changed by `delta`.
    pub fn track(delta: i64) {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        });
    }

    /// The most heap bytes live at once on this thread while `f` runs, above what was live before.
    pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
        let start = LIVE.with(|l| l.get());
        PEAK.with(|p| p.set(start));
        let out = f();
        (out, (PEAK.with(|p| p.get()) - start).max(0) as u64)
    }
}

/// Heap bytes live in the whole process, for [`Counting`]: a test binary that measures what the
/// library's own threads hold installs
/// `#[global_allocator] static A: common::Counting = common::Counting(common::process_heap::track);`.
pub mod process_heap {
    use std::sync::atomic::{AtomicI64, Ordering};

    static LIVE: AtomicI64 = AtomicI64::new(0);
    static PEAK: AtomicI64 = AtomicI64::new(0);

    /// The allocator's report: the process's live bytes changed by `delta`.
    pub fn track(delta: i64) {
        let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    /// Starts a new peak from what is live now; returns that.
    pub fn reset_peak() -> i64 {
        let now = LIVE.load(Ordering::Relaxed);
        PEAK.store(now, Ordering::Relaxed);
        now
    }

    /// The most heap bytes live at once since the last [`reset_peak`].
    pub fn peak() -> i64 {
        PEAK.load(Ordering::Relaxed)
    }

    /// The most heap bytes live at once in the process while `f` runs, above what was live before.
    pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
        let start = reset_peak();
        let out = f();
        (out, (peak() - start).max(0) as u64)
    }
}

/// A global allocator that forwards to the system's and reports every change of live heap bytes
/// to its function (a test binary installs it with
/// `#[global_allocator] static A: common::Counting = common::Counting(track);`).
pub struct Counting(pub fn(i64));

// SAFETY: every call is forwarded to the system allocator unchanged; only the report is added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc(l) };
        if !p.is_null() {
            (self.0)(l.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(p, l) };
        (self.0)(-(l.size() as i64));
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        let q = unsafe { std::alloc::System.realloc(p, l, new) };
        if !q.is_null() {
            (self.0)(new as i64 - l.size() as i64);
        }
        q
    }
}
pub mod abi;
pub mod bridge;
pub mod command;
pub mod crash;
pub mod files;
pub mod linked;
pub mod logger;
pub mod skip;
pub mod zip;
