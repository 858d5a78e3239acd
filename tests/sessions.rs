//! Sessions through the C ABI as a host drives it: the async pool never waits
//! on a callback (11), handles never reach another sandbox and fit a JavaScript number (12),
//! and opens share by the canonical root, refuse a differing config and never fail beside the
//! host's own maintenance (13).

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::linked::{invoke, invoke_async, last_error, open};
use serde_json::{json, Value};
use wxfs::ffi;

/// Submits an async call; `then` gets the code and the parsed result (`null` where it is not JSON).
fn submit(h: u64, api: &str, args: &Value, then: impl FnOnce(i32, Value) + Send + 'static) -> i32 {
    invoke_async(h, api, &args.to_string(), move |code, result| then(code, serde_json::from_slice(result).unwrap_or(Value::Null)))
}

fn user_config(root: &Path, user: &str) -> Value {
    json!({"root": root, "appId": "wx1", "userId": user})
}

/// Run `f` on a thread; fail the test (instead of hanging it) if it does not finish in time.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).unwrap_or_else(|_| panic!("deadlock: {what} did not finish in {secs} s"))
}

// ---- class 11: the order wait covers the operation, not the callback ---------------------

#[test]
fn a_sync_call_never_waits_on_a_pending_callback_of_its_own_thread() {
    // A JS host whose callbacks run on its JS thread: the callback of setStorage cannot run
    // until the JS thread is free, and the JS thread next calls getStorageSync.
    let root = common::fresh_dir("sess-js-thread");
    let h = open(&user_config(&root, "u")).unwrap();
    let got = within(20, "getStorageSync after setStorage with its callback pending", move || {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let code = submit(h, "setStorage", &json!({"key": "k", "data": "v1"}), move |code, r| {
            release_rx.recv().unwrap(); // "the JS thread is busy"
            done_tx.send((code, r)).unwrap();
        });
        assert_eq!(code, 0);
        let got = invoke(h, "getStorageSync", &json!({"key": "k"}).to_string());
        release_tx.send(()).unwrap();
        let (code, r) = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!((code, r["errMsg"].as_str()), (0, Some("setStorage:ok")));
        got
    });
    assert_eq!(got.0, 0, "{}", got.1);
    assert_eq!(got.1["data"], "v1", "the async set took effect before the sync get (issue order)");
    assert_eq!(ffi::wxfs_close(h), 0);
}

#[test]
fn overlapping_callbacks_that_queue_and_then_call_sync_never_deadlock_the_pool() {
    // More callbacks at once than the pool has workers, each waiting until all are inside
    // their callbacks, each then queuing an async call and making a sync call on the sandbox.
    let root = common::fresh_dir("sess-overlap");
    let h = open(&user_config(&root, "u")).unwrap();
    let n = 12;
    let results = within(60, "overlapping callbacks", move || {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
        let (tx, rx) = mpsc::channel();
        let submitters: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, tx) = (barrier.clone(), tx.clone());
                // One submitting thread per call: each is its own (sandbox, thread) queue.
                std::thread::spawn(move || {
                    let key = format!("k{i}");
                    let code = submit(h, "setStorage", &json!({"key": key, "data": i}), move |code, _| {
                        assert_eq!(code, 0);
                        barrier.wait();
                        let (inner_tx, inner_rx) = mpsc::channel();
                        let c = submit(h, "setStorage", &json!({"key": format!("{key}-inner"), "data": i}), move |c, _| {
                            inner_tx.send(c).unwrap();
                        });
                        assert_eq!(c, 0);
                        let (c, r) = invoke(h, "getStorageSync", &json!({"key": format!("{key}-inner")}).to_string());
                        tx.send((c, r["data"].clone(), inner_rx.recv_timeout(Duration::from_secs(20)).unwrap())).unwrap();
                    });
                    assert_eq!(code, 0);
                })
            })
            .collect();
        for s in submitters {
            s.join().unwrap();
        }
        (0..n).map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap()).collect::<Vec<_>>()
    });
    let mut seen: Vec<i64> = results
        .iter()
        .map(|(c, data, inner)| {
            assert_eq!((*c, *inner), (0, 0));
            data.as_i64().unwrap()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (0..n as i64).collect::<Vec<_>>(), "each callback's sync get saw its own async set");
    assert_eq!(ffi::wxfs_close(h), 0);
}

#[test]
fn callbacks_of_one_thread_come_in_issue_order() {
    let root = common::fresh_dir("sess-order");
    let h = open(&user_config(&root, "u")).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..200 {
        let tx = tx.clone();
        let api = if i % 2 == 0 { "setStorage" } else { "getStorage" };
        let code = submit(h, api, &json!({"key": "k", "data": i}), move |_, r| tx.send((i, r)).unwrap());
        assert_eq!(code, 0);
    }
    for want in 0..200 {
        let (i, r) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(i, want, "callbacks out of order");
        if i % 2 == 1 {
            assert_eq!(r["data"], i - 1, "a get sees the set issued just before it");
        }
    }
    assert_eq!(ffi::wxfs_close(h), 0);
}

// ---- class 12: handles ---------------------------------------------------------------------

#[test]
fn handles_fit_a_javascript_number_and_stale_ones_never_reach_another_sandbox() {
    let root = common::fresh_dir("sess-handles");
    let mut seen = std::collections::HashSet::new();
    let first = open(&user_config(&root, "a")).unwrap();
    assert_eq!(invoke(first, "setStorageSync", &json!({"key": "who", "data": "a"}).to_string()).0, 0);
    assert_eq!(ffi::wxfs_close(first), 0);
    for i in 0..3000 {
        let user = if i % 2 == 0 { "b" } else { "c" };
        let h = open(&user_config(&root, user)).unwrap();
        assert!(h > 0 && h < 1 << 53, "handle {h:#x} is not below 2^53");
        assert_eq!((h as f64) as u64, h, "handle {h:#x} is not exact as a double");
        assert!(seen.insert(h), "handle {h:#x} given twice");
        // The stale handle of user a never reads user b's or c's storage.
        let (code, r) = invoke(first, "getStorageSync", &json!({"key": "who"}).to_string());
        assert_eq!(code, ffi::WXFS_E_HANDLE, "{r}");
        assert_eq!(ffi::wxfs_close(h), 0);
        assert_eq!(ffi::wxfs_close(h), ffi::WXFS_E_HANDLE, "a second close is an error");
    }
}

// ---- class 13: sessions --------------------------------------------------------------------

#[test]
fn any_spelling_of_the_root_shares_the_open_sandbox() {
    let root = common::fresh_dir("sess-spelling");
    std::fs::create_dir_all(&root).unwrap();
    let link = root.with_extension("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&root, &link).unwrap();
    let a = open(&user_config(&root, "u")).unwrap();
    assert_eq!(invoke(a, "setStorageSync", &json!({"key": "k", "data": 1}).to_string()).0, 0);
    let dotted = root.join("..").join(root.file_name().unwrap()).join(".");
    for spelling in [link.clone(), dotted] {
        let b = open(&user_config(&spelling, "u")).unwrap_or_else(|e| panic!("{}: {e:?}", spelling.display()));
        assert_eq!(invoke(b, "getStorageSync", &json!({"key": "k"}).to_string()).1["data"], 1);
        assert_eq!(ffi::wxfs_close(b), 0);
    }
    // A relative spelling, from the root's parent.
    let b = within(10, "relative open", {
        let root = root.clone();
        move || {
            let rel = Path::new(root.file_name().unwrap()).to_path_buf();
            std::env::set_current_dir(root.parent().unwrap()).unwrap();
            open(&user_config(&rel, "u"))
        }
    })
    .unwrap();
    assert_eq!(invoke(b, "getStorageSync", &json!({"key": "k"}).to_string()).1["data"], 1);
    assert_eq!(ffi::wxfs_close(b), 0);
    assert_eq!(ffi::wxfs_close(a), 0);
    let _ = std::fs::remove_file(link);
}

#[test]
fn a_second_open_with_another_config_is_refused_naming_the_difference() {
    let root = common::fresh_dir("sess-config");
    let a = open(&json!({"root": root, "appId": "wx1", "userId": "u", "limits": {"userFiles": 1048576}})).unwrap();
    let (code, why) =
        open(&json!({"root": root, "appId": "wx1", "userId": "u", "durability": "power", "limits": {"userFiles": 2097152}}))
            .unwrap_err();
    assert_eq!(code, ffi::WXFS_E_CONFIG, "{why}");
    assert!(why.contains("durability") && why.contains("limits.userFiles: 1048576 vs 2097152"), "{why}");
    // The same config, spelled with the defaults written out, shares.
    let b = open(&json!({"root": root, "appId": "wx1", "userId": "u", "durability": "process",
        "limits": {"userFiles": 1048576}}))
    .unwrap();
    assert_eq!(ffi::wxfs_close(b), 0);
    assert_eq!(ffi::wxfs_close(a), 0);
    // Closed: a new config is taken.
    let c = open(&json!({"root": root, "appId": "wx1", "userId": "u", "durability": "power"})).unwrap();
    assert_eq!(ffi::wxfs_close(c), 0);
    // The encryption key is part of the config; a message about it never shows a key.
    let (k1, k2) = ("AAECAwQFBgcICQoLDA0ODw==", "EBESExQVFhcYGRobHB0eHw==");
    let d = open(&json!({"root": root, "appId": "wx1", "userId": "u", "encryptionKey": k1})).unwrap();
    for (other, said) in [(Some(k2), "encryptionKey: one key vs another"), (None, "encryptionKey: a key vs none")] {
        let mut cfg = json!({"root": root, "appId": "wx1", "userId": "u"});
        if let Some(k) = other {
            cfg["encryptionKey"] = json!(k);
        }
        let (code, why) = open(&cfg).unwrap_err();
        assert_eq!(code, ffi::WXFS_E_CONFIG, "{why}");
        assert!(why.contains(said) && !why.contains(k1) && !why.contains(k2), "{why}");
    }
    let e = open(&json!({"root": root, "appId": "wx1", "userId": "u", "encryptionKey": k1})).unwrap();
    assert_eq!(ffi::wxfs_close(e), 0);
    assert_eq!(ffi::wxfs_close(d), 0);
}

#[test]
fn the_hosts_own_gc_and_removal_never_make_an_open_fail() {
    let root = common::fresh_dir("sess-maint");
    // Sandboxes with temp files for gc to trim.
    for user in ["u0", "u1", "u2", "u3"] {
        let h = open(&user_config(&root, user)).unwrap();
        let (code, r) = invoke(h, "host.createTempFile", &json!({"data": "x".repeat(4096), "extension": "txt"}).to_string());
        assert_eq!(code, 0, "{r}");
        assert_eq!(ffi::wxfs_close(h), 0);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let maint = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let r = root.to_str().unwrap().to_string();
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut freed = 0u64;
                let code = unsafe { ffi::wxfs_gc(r.as_ptr().cast(), r.len(), 1, &mut freed) };
                assert_eq!(code, 0, "gc: {}", last_error());
                let (u, a) = ("gone", "wx1");
                let code = unsafe {
                    ffi::wxfs_remove_sandbox(r.as_ptr().cast(), r.len(), u.as_ptr().cast(), u.len(), a.as_ptr().cast(), a.len())
                };
                assert!(code == 0 || code == ffi::WXFS_E_BUSY, "remove: {code} {}", last_error());
                if code == ffi::WXFS_E_BUSY {
                    let why = last_error();
                    assert!(!why.contains("another process"), "in-process work blamed on another process: {why}");
                }
                rounds += 1;
            }
            rounds
        })
    };
    for i in 0..400 {
        let user = ["u0", "u1", "u2", "u3", "gone"][i % 5];
        let h = open(&user_config(&root, user)).unwrap_or_else(|(c, why)| panic!("open {i} beside gc/remove failed: {c} {why}"));
        assert_eq!(ffi::wxfs_close(h), 0);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(maint.join().unwrap() > 0);
}

#[test]
fn busy_names_another_process_only_when_one_holds_the_lock() {
    let root = common::fresh_dir("sess-busy");
    let h = open(&user_config(&root, "u")).unwrap();
    // Removal while this process has it open: busy, and said to be open here.
    let (r, u, a) = (root.to_str().unwrap(), "u", "wx1");
    let code =
        unsafe { ffi::wxfs_remove_sandbox(r.as_ptr().cast(), r.len(), u.as_ptr().cast(), u.len(), a.as_ptr().cast(), a.len()) };
    assert_eq!(code, ffi::WXFS_E_BUSY);
    let why = last_error();
    assert!(why.contains("open in this process") && !why.contains("another process"), "{why}");
    assert_eq!(ffi::wxfs_close(h), 0);
    // Another process holding it: said so.
    let lock = wxfs::sandbox::sandbox_dir(&std::fs::canonicalize(&root).unwrap(), b"u", b"wx1").join("LOCK");
    let mut child = std::process::Command::new("flock")
        .arg(&lock)
        .args(["-c", "echo locked; sleep 30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let (code, why) = open(&user_config(&root, "u")).unwrap_err();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, ffi::WXFS_E_BUSY);
    assert!(why.contains("another process"), "{why}");
}
