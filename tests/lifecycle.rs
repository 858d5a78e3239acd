//! Temp-file lifecycle rules of docs/design.md §4 with the limits configured small: the runtime
//! limit refuses host temp creation, close trims to the keep limit least recently used first,
//! gc trims across sandboxes least recently used sandbox first; removal of a sandbox.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::bridge::call;
use serde_json::json;
use wxfs::{Config, Session};

fn temp(s: &Session, bytes: usize) -> String {
    let (c, r) = call(s, "host.createTempFile", json!({"data": "t".repeat(bytes), "extension": "bin"}));
    assert_eq!(c, 0, "{r}");
    r["tempFilePath"].as_str().unwrap().to_string()
}

fn exists(s: &Session, p: &str) -> bool {
    call(s, "accessSync", json!({"path": p})).0 == 0
}

fn open_with(root: &Path, user: &str, f: impl FnOnce(&mut Config)) -> Arc<Session> {
    let mut c = Config::new(root, user, "wx1");
    f(&mut c);
    Session::open(c).unwrap()
}

fn pause() {
    // Access and modification times order the trims; keep events apart on coarse clocks.
    std::thread::sleep(std::time::Duration::from_millis(15));
}

#[test]
fn runtime_limit_refuses_host_temp_creation() {
    let root = common::fresh_dir("temp-runtime");
    let s = open_with(&root, "u", |c| c.limits.temp_runtime = 100);
    temp(&s, 60);
    let (c, r) = call(&s, "host.createTempFile", json!({"data": "x".repeat(41)}));
    assert_eq!(c, 1400101, "{r}");
    assert_eq!(r["errMsg"], "host.createTempFile:fail the maximum size of the temp file storage limit is exceeded");
    assert_eq!(std::fs::read_dir(s.sandbox.dir().join("tmp")).unwrap().count(), 1);
    assert_eq!(s.fs.usage().temp, 60);
    temp(&s, 40); // exactly at the limit is allowed
    assert_eq!(s.fs.usage().temp, 100);
}

#[test]
fn close_trims_to_the_keep_limit_least_recently_used_first() {
    let root = common::fresh_dir("temp-keep");
    let cfg = |c: &mut Config| c.limits.temp_keep = 250;
    let s = open_with(&root, "u", cfg);
    let a = temp(&s, 100);
    pause();
    let b = temp(&s, 100);
    pause();
    let c = temp(&s, 100);
    pause();
    let d = temp(&s, 100);
    pause();
    // Reading `a` makes it the most recently used; the order is now b, c, d, a.
    assert_eq!(call(&s, "readFileSync", json!({"filePath": a})).0, 0);
    drop(s);
    let s = open_with(&root, "u", cfg);
    assert!(!exists(&s, &b) && !exists(&s, &c), "the two least recently used went");
    assert!(exists(&s, &d) && exists(&s, &a));
    assert_eq!(s.fs.usage().temp, 200);
    assert_eq!(s.fs.open_report().rebuilt, None);
}

#[test]
fn last_use_survives_a_restart() {
    let root = common::fresh_dir("temp-restart");
    let cfg = |c: &mut Config| c.limits.temp_keep = 10_000;
    let s = open_with(&root, "u", cfg);
    let a = temp(&s, 100);
    pause();
    let b = temp(&s, 100);
    pause();
    assert_eq!(call(&s, "readFileSync", json!({"filePath": a})).0, 0);
    drop(s); // nothing trimmed: under the keep limit
    let s = open_with(&root, "u", |c| c.limits.temp_keep = 100);
    drop(s); // now only 100 bytes may stay: b was used least recently, before the restart
    let s = open_with(&root, "u", cfg);
    assert!(exists(&s, &a) && !exists(&s, &b));
}

#[test]
fn gc_trims_all_sandboxes_least_recently_used_sandbox_first() {
    let root = common::fresh_dir("gc");
    let keep = |c: &mut Config| c.limits.temp_keep = u64::MAX;
    let mut paths = Vec::new();
    for user in ["old", "mid", "new"] {
        let s = open_with(&root, user, keep);
        paths.push((user, temp(&s, 100), temp(&s, 50)));
        drop(s);
        pause();
    }
    // An open sandbox is in use and is never trimmed by gc.
    let busy = open_with(&root, "busy", keep);
    temp(&busy, 10);
    let report = wxfs::session::gc(&root, 200, |_, _| {}).unwrap();
    assert_eq!(report.before, 460);
    assert_eq!(report.after, 160);
    let trimmed: Vec<_> = report.trimmed.iter().map(|p| wxfs::sandbox::ids_of(p).unwrap().0).collect();
    assert_eq!(trimmed, [b"old".to_vec(), b"mid".to_vec()]);
    for (user, a, b) in &paths {
        let s = open_with(&root, user, keep);
        let kept = *user == "new";
        assert_eq!((exists(&s, a), exists(&s, b)), (kept, kept), "{user}");
        assert_eq!(s.fs.usage().temp, if kept { 150 } else { 0 }, "{user}: journal follows the trim");
    }
    assert_eq!(busy.fs.usage().temp, 10);
}

#[test]
fn removing_a_sandbox_deletes_its_data_and_refuses_while_open() {
    let root = common::fresh_dir("remove");
    let s = open_with(&root, "u", |_| {});
    assert_eq!(call(&s, "writeFileSync", json!({"filePath": "wxfile://usr/a", "data": "x"})).0, 0);
    assert_eq!(call(&s, "setStorageSync", json!({"key": "k", "data": 1})).0, 0);
    assert!(matches!(wxfs::session::remove_sandbox(&root, "u", "wx1"), Err(wxfs::sandbox::OpenError::InUse(_))));
    drop(s);
    assert!(wxfs::session::remove_sandbox(&root, "u", "wx1").unwrap());
    assert!(!wxfs::sandbox::sandbox_dir(&root, b"u", b"wx1").exists());
    assert!(!wxfs::session::remove_sandbox(&root, "u", "wx1").unwrap());
    let s = open_with(&root, "u", |_| {});
    assert_eq!(call(&s, "getStorageInfoSync", json!({})).1["keys"], json!([]));
    assert_eq!(s.fs.usage().user, 0);
}

#[test]
fn gc_skips_an_open_sandbox_and_trims_the_next_instead() {
    let root = common::fresh_dir("gc-busy");
    let keep = |c: &mut Config| c.limits.temp_keep = u64::MAX;
    // The least recently used sandbox is still open (in use): gc must reach its limit without it.
    let oldest = open_with(&root, "oldest", keep);
    temp(&oldest, 100);
    pause();
    let mut paths = Vec::new();
    for user in ["mid", "new"] {
        let s = open_with(&root, user, keep);
        paths.push(temp(&s, 100));
        drop(s);
        pause();
    }
    let report = wxfs::session::gc(&root, 150, |_, _| {}).unwrap();
    assert_eq!((report.before, report.after), (300, 100));
    assert_eq!(report.busy.len(), 1);
    let trimmed: Vec<_> = report.trimmed.iter().map(|p| wxfs::sandbox::ids_of(p).unwrap().0).collect();
    assert_eq!(trimmed, [b"mid".to_vec(), b"new".to_vec()]);
    assert_eq!(oldest.fs.usage().temp, 100);
}
