//! Recovery the host can see, for the events a C program cannot stage by itself (tests/c/log_test.c
//! covers the rest through the C harness): a crash between an append's reservation and its
//! commit, reported through the C ABI's log callback of the shared library; and the `log` facade
//! a Rust host receives the same events through.

mod common;

use std::sync::Mutex;

use common::crash::{tear_storage_log, two_interrupted_appends};
use common::files::copy_tree;
use common::logger::{heard, listen};
use serde_json::json;
use wxfs::{Config, Session};

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

#[test]
fn the_c_log_callback_hears_of_settled_writes_and_rolled_back_appends() {
    let root = common::fresh_dir("host-log-c");
    two_interrupted_appends(Config::new(&root, "c-host", "wx1"));
    let lib = common::abi::Lib::load();
    assert_eq!(unsafe { (lib.log_set)(Some(record), std::ptr::null_mut(), 2) }, 0);
    let h = lib.open(&json!({"root": root, "userId": "c-host", "appId": "wx1"})).unwrap();
    assert_eq!(unsafe { (lib.log_set)(None, std::ptr::null_mut(), 0) }, 0);
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

#[test]
fn a_rust_host_hears_the_same_events_through_the_log_facade() {
    listen();
    let root = common::fresh_dir("host-log-rust");
    two_interrupted_appends(Config::new(&root, "rust-host", "wx1"));
    tear_storage_log(&root.join("rust-host/wx1/kv/data.log"), &[1, 2, 3]);
    let s = Session::open(Config::new(&root, "rust-host", "wx1")).unwrap();
    drop(s);
    // The other test of this binary logs too, about its own user.
    let logged: Vec<_> = heard("rust-host/");
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
    listen();
    let root = common::fresh_dir("host-log-upgrade");
    copy_tree(&common::repo_dir().join("tests/fixtures/v0.1.0/root"), &root);
    for _ in 0..2 {
        drop(Session::open(Config::new(&root, "user-1", "wx0000000000000001")).unwrap());
    }
    let logged: Vec<_> = heard("user-1/");
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
