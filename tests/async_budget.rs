//! The async queue: what `wxfs_invoke_async` holds is bounded in bytes, not
//! only in calls. Past `WXFS_ASYNC_QUEUE_BYTES` of arguments and undelivered results a
//! submission is refused with `WXFS_E_QUEUE_FULL` and a text that names the budget; results
//! waiting behind slow callbacks hold back new operations instead of piling up; every admitted
//! call is called back exactly once.
//!
//! This binary sets the budget to 8 MiB before the pool's first use and counts every live heap
//! byte of the process (a counting global allocator), so a test reads the peak while its calls
//! are in flight. Its tests run one at a time (the counter and the pool are process-wide).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::linked::{invoke, invoke_async, last_error, open};
use common::process_heap::{peak, reset_peak};
use serde_json::{json, Value};
use wxfs::ffi;

#[global_allocator]
static ALLOC: common::Counting = common::Counting(common::process_heap::track);

const MIB: usize = 1 << 20;
const BUDGET: usize = 8 * MIB;
/// The pool's operation workers; each may hold one call's working memory beyond the budget.
const WORKERS: usize = 4;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Set the budget before the pool reads it, and run one test at a time.
fn setup() -> std::sync::MutexGuard<'static, ()> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: set before any thread of this test binary reads the environment for it.
    unsafe { std::env::set_var("WXFS_ASYNC_QUEUE_BYTES", BUDGET.to_string()) };
    guard
}

/// A fresh sandbox with 1 GiB for files.
fn roomy(tag: &str) -> u64 {
    let root = common::fresh_dir(tag);
    open(&json!({"root": root, "appId": "wx1", "userId": "u", "limits": {"userFiles": 1u64 << 30}})).unwrap()
}

/// A gate callbacks wait at until the test opens it.
#[derive(Default)]
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    fn wait(&self) {
        let mut open = self.0.lock().unwrap();
        while !*open {
            open = self.1.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}

/// Waits until `n` callbacks came. A liveness check, not a timing one: it fails only when no
/// callback at all comes for 60 s (the pool stalled), however long all of them take on a slow or
/// loaded machine (each of the reads below parses 1.3 MB of JSON in a debug build, and how many are
/// admitted before the budget refuses depends on how fast the operations run meanwhile).
fn wait_for(count: &AtomicUsize, n: usize, what: &str) {
    let (mut seen, mut last_progress) = (count.load(Ordering::SeqCst), Instant::now());
    while seen < n {
        assert!(last_progress.elapsed() < Duration::from_secs(60), "{what}: {seen} of {n} callbacks came, and none for 60 s");
        std::thread::sleep(Duration::from_millis(5));
        let now = count.load(Ordering::SeqCst);
        if now != seen {
            (seen, last_progress) = (now, Instant::now());
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count.load(Ordering::SeqCst), n, "{what}: every admitted call is called back exactly once");
}

#[test]
fn results_waiting_behind_slow_callbacks_stay_within_the_byte_budget() {
    let _one = setup();
    let h = roomy("budget-read");
    let data = base64::engine::general_purpose::STANDARD.encode(vec![7u8; MIB]);
    let write = json!({"filePath": "wxfile://usr/big.bin", "data": data, "encoding": "base64"}).to_string();
    assert_eq!(invoke(h, "writeFileSync", &write).0, 0);
    drop(write);

    let gate = Arc::new(Gate::default());
    let called = Arc::new(AtomicUsize::new(0));
    let read = json!({"filePath": "wxfile://usr/big.bin", "encoding": "base64"}).to_string();
    let start = reset_peak();
    let (mut admitted, mut refused) = (0usize, None);
    // Each result is 1.33 MiB of base64 text; the callbacks hold them back. Submissions go on
    // until one is refused (400 such results would be half a gigabyte).
    for _ in 0..400 {
        let (gate, called, expect) = (gate.clone(), called.clone(), data.len());
        let code = invoke_async(h, "readFile", &read, move |code, result| {
            gate.wait();
            let v: Value = serde_json::from_slice(result).unwrap();
            assert_eq!(code, 0, "{v}");
            assert_eq!(v["data"].as_str().map(str::len), Some(expect));
            called.fetch_add(1, Ordering::SeqCst);
        });
        match code {
            0 => admitted += 1,
            c => {
                refused = Some((c, last_error()));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let peak = (peak() - start) as usize;
    let (code, why) = refused.expect("400 submissions of 1.33 MiB results behind blocked callbacks were all admitted");
    assert_eq!(code, ffi::WXFS_E_QUEUE_FULL);
    assert!(why.contains("WXFS_ASYNC_QUEUE_BYTES"), "{why}");
    assert!(admitted >= 2, "admitted {admitted}");
    // The budget, plus one result of each operation worker past it, plus its working copies.
    let bound = BUDGET + WORKERS * 5 * MIB;
    assert!(peak <= bound, "peak heap {peak} bytes with {admitted} calls admitted; bound {bound}");

    gate.open();
    wait_for(&called, admitted, "reads");
    // Delivered: the budget is free again.
    let (tx, rx) = std::sync::mpsc::channel();
    assert_eq!(invoke_async(h, "readFile", &read, move |code, _| tx.send(code).unwrap()), 0, "{}", last_error());
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), 0);
    assert_eq!(ffi::wxfs_close(h), 0);
}

#[test]
fn arguments_queued_faster_than_they_run_stay_within_the_byte_budget() {
    let _one = setup();
    let h = roomy("budget-write");
    let data = base64::engine::general_purpose::STANDARD.encode(vec![9u8; 3 * MIB / 4]); // 1 MiB of text
    let called = Arc::new(AtomicUsize::new(0));
    let start = reset_peak();
    let (mut admitted, mut refused) = (Vec::new(), 0usize);
    for i in 0..300 {
        let args = json!({"filePath": format!("wxfile://usr/w{i}.bin"), "data": data, "encoding": "base64"}).to_string();
        let called = called.clone();
        match invoke_async(h, "writeFile", &args, move |code, result| {
            assert_eq!(code, 0, "{}", String::from_utf8_lossy(result));
            called.fetch_add(1, Ordering::SeqCst);
        }) {
            0 => admitted.push(i),
            c => {
                assert_eq!(c, ffi::WXFS_E_QUEUE_FULL);
                assert!(last_error().contains("WXFS_ASYNC_QUEUE_BYTES"), "{}", last_error());
                refused += 1;
            }
        }
    }
    let peak = (peak() - start) as usize;
    let bound = BUDGET + WORKERS * 5 * MIB;
    assert!(peak <= bound, "peak heap {peak} bytes for 300 writes of 1 MiB ({refused} refused); bound {bound}");
    wait_for(&called, admitted.len(), "writes");
    // What was admitted was written whole, what was refused not at all.
    let (code, v) = invoke(h, "readdirSync", &json!({"dirPath": "wxfile://usr"}).to_string());
    assert_eq!(code, 0, "{v}");
    let mut files: Vec<String> = v["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    files.sort();
    let mut expect: Vec<String> = admitted.iter().map(|i| format!("w{i}.bin")).collect();
    expect.sort();
    assert_eq!(files, expect);
    let (code, v) =
        invoke(h, "statSync", &json!({"path": format!("wxfile://usr/w{}.bin", admitted[admitted.len() - 1])}).to_string());
    assert_eq!((code, v["stats"]["size"].as_u64()), (0, Some(3 * MIB as u64 / 4)), "{v}");
    assert_eq!(ffi::wxfs_close(h), 0);
}
