//! Recovery the host can see, for the events a C program cannot stage by itself (tests/c/log_test.c
//! covers the rest through the C harness): a crash between an append's reservation and its
//! commit, reported through the C ABI's log callback of the shared library; and the `log` facade
//! a Rust host receives the same events through.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::json;
use wxfs::quota::journal::{Area, Entry, Journal};
use wxfs::{bridge, Config, Session};

type LogCallback = unsafe extern "C" fn(*mut std::ffi::c_void, i32, *const u8, usize, *const u8, usize);
type LogSetFn = unsafe extern "C" fn(Option<LogCallback>, *mut std::ffi::c_void, i32) -> i32;

static SEEN: Mutex<Vec<(i32, String, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn record(
    _: *mut std::ffi::c_void,
    level: i32,
    sandbox: *const u8,
    sandbox_len: usize,
    message: *const u8,
    message_len: usize,
) {
    let text = |p: *const u8, n: usize| String::from_utf8(unsafe { std::slice::from_raw_parts(p, n) }.to_vec()).unwrap();
    SEEN.lock().unwrap().push((level, text(sandbox, sandbox_len), text(message, message_len)));
}

/// What a process killed in the middle of two appends leaves: both reservations written, one
/// file grown part of the way (torn), the other all the way (complete, its commit lost).
fn two_interrupted_appends(root: &Path, user: &str) {
    let s = Session::open(Config::new(root, user, "wx1")).unwrap();
    for f in ["torn", "whole"] {
        let args = json!({"filePath": format!("wxfile://usr/{f}"), "data": "a".repeat(100)});
        assert_eq!(bridge::invoke(&s, "writeFileSync", &args.to_string()).0, 0);
    }
    let dir = s.sandbox.dir().to_path_buf();
    drop(s);
    let io: std::sync::Arc<dyn wxfs::io::LogIo> = std::sync::Arc::new(wxfs::io::StdIo);
    let (mut j, _) = Journal::open(io, &dir.join(Journal::FILE), false).unwrap().unwrap();
    for f in ["torn", "whole"] {
        j.reserve(vec![Entry { after: Some(200), ..Entry::new(Area::Usr, f.into(), 100, 1) }]).unwrap();
    }
    drop(j);
    std::fs::OpenOptions::new().append(true).open(dir.join("usr/torn")).unwrap().write_all(&[b'b'; 37]).unwrap();
    std::fs::OpenOptions::new().append(true).open(dir.join("usr/whole")).unwrap().write_all(&[b'b'; 100]).unwrap();
}

#[test]
fn the_c_log_callback_hears_of_settled_writes_and_rolled_back_appends() {
    let root = common::fresh_dir("host-log-c");
    two_interrupted_appends(&root, "c-host");
    let lib_path = common::lib_path();
    let raw = unsafe { libloading::Library::new(&lib_path) }.unwrap();
    let log_set: libloading::Symbol<LogSetFn> = unsafe { raw.get(b"wxfs_log_set\0") }.unwrap();
    assert_eq!(unsafe { log_set(Some(record), std::ptr::null_mut(), 2) }, 0);
    let lib = common::Lib::load();
    let h = lib.open(&json!({"root": root, "userId": "c-host", "appId": "wx1"})).unwrap();
    assert_eq!(unsafe { log_set(None, std::ptr::null_mut(), 0) }, 0);
    let seen = std::mem::take(&mut *SEEN.lock().unwrap());
    let warn = |m: &str| (2, "c-host/wx1".to_string(), m.to_string());
    assert_eq!(
        seen,
        vec![
            warn("c-host/wx1/quota.journal: 2 write(s) interrupted by a crash settled from the files' sizes"),
            warn("c-host/wx1/usr/torn: torn append rolled back, 37 bytes cut"),
        ]
    );
    // What the events say is what the files hold.
    let (rc, v) = lib.invoke(h, "readFileSync", &json!({"filePath": "wxfile://usr/torn", "encoding": "utf8"}));
    assert_eq!((rc, v["data"].as_str().unwrap().len()), (0, 100));
    let (rc, v) = lib.invoke(h, "readFileSync", &json!({"filePath": "wxfile://usr/whole", "encoding": "utf8"}));
    assert_eq!((rc, v["data"].as_str().unwrap().len()), (0, 200));
    assert_eq!(lib.close(h), 0);
    let _ = std::fs::remove_dir_all(root);
}

/// A Rust host's logger: records what target "wxfs" says.
struct Capture;

static LOGGED: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "wxfs"
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            LOGGED.lock().unwrap().push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn a_rust_host_hears_the_same_events_through_the_log_facade() {
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Debug);
    let root = common::fresh_dir("host-log-rust");
    two_interrupted_appends(&root, "rust-host");
    tear_storage_log(&root.join("rust-host/wx1/kv/data.log"), &[1, 2, 3]);
    let s = Session::open(Config::new(&root, "rust-host", "wx1")).unwrap();
    drop(s);
    // The other test of this binary logs too, about its own user.
    let logged: Vec<_> = LOGGED.lock().unwrap().iter().filter(|(_, m)| m.starts_with("rust-host/")).cloned().collect();
    let warn = |m: &str| (log::Level::Warn, format!("rust-host/wx1: {m}"));
    assert_eq!(
        logged,
        vec![
            (log::Level::Debug, "rust-host/wx1: sandbox created".to_string()),
            warn("rust-host/wx1/quota.journal: 2 write(s) interrupted by a crash settled from the files' sizes"),
            warn("rust-host/wx1/usr/torn: torn append rolled back, 37 bytes cut"),
            warn("rust-host/wx1/kv: storage log: 3 bytes after the last whole record cut (0 records kept)"),
        ]
    );
    let _ = std::fs::remove_dir_all(root);
}

/// Opening a 0.1.0 sandbox upgrades its quota journal and its storage log: each reported once, as
/// routine (INFO), with nothing repaired.
#[test]
fn an_upgraded_journal_is_reported_at_info() {
    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                copy_tree(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Debug);
    let root = common::fresh_dir("host-log-upgrade");
    copy_tree(&common::repo_dir().join("tests/fixtures/v0.1.0/root"), &root);
    for _ in 0..2 {
        drop(Session::open(Config::new(&root, "user-1", "wx0000000000000001")).unwrap());
    }
    let logged: Vec<_> = LOGGED.lock().unwrap().iter().filter(|(_, m)| m.starts_with("user-1/")).cloned().collect();
    let journal = "user-1/wx0000000000000001/quota.journal";
    assert_eq!(
        logged,
        vec![
            (log::Level::Info, format!("user-1/wx0000000000000001: {journal}: quota journal format 1 upgraded to 2")),
            (
                log::Level::Info,
                "user-1/wx0000000000000001: user-1/wx0000000000000001/kv: storage log upgraded from format 1".to_string()
            ),
        ]
    );
    let _ = std::fs::remove_dir_all(root);
}

/// What a power cut can leave in the storage log: `garbage` where the next record would start (the
/// log is followed by a preallocated zero tail, so the end of the log is after its last non-zero
/// byte, never inside the 8-byte header).
fn tear_storage_log(log: &std::path::Path, garbage: &[u8]) {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(log).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1).max(8);
    std::fs::OpenOptions::new().write(true).open(log).unwrap().write_all_at(garbage, end as u64).unwrap();
}
