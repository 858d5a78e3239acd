//! Sandbox open time with 100,000 files and a full 10 MiB store, against a directory walk of
//! the same tree (the baseline, measured in the same run), and the open after the quota journal
//! was deleted (the rebuild walks once). `cargo bench --bench open`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use wxfs::{bridge, Config, Session};

const FILES: usize = 100_000;
const DIRS: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

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

fn main() {
    let root = std::env::temp_dir().join(format!("wxfs-bench-open-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cfg = || Config::new(&root, "bench", "wxbench");
    let t = Instant::now();
    let s = Session::open(cfg()).unwrap();
    // Files are planted directly (as an old install would have them), then the journal is
    // rebuilt once; storage goes through the API until it is full.
    let usr = s.sandbox.dir().join("usr");
    drop(s);
    for d in 0..DIRS {
        let dir = usr.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES / DIRS {
            std::fs::write(dir.join(format!("f{f:04}.bin")), [b'x'; 100]).unwrap();
        }
    }
    std::fs::remove_file(root.join("bench/wxbench/quota.journal").as_path()).ok();
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
    eprintln!("setup: {FILES} files, {n} storage items ({store} bytes, the 10 MiB store full) in {:.1?}", t.elapsed());

    let sandbox = wxfs::sandbox::sandbox_dir(&root, b"bench", b"wxbench");
    let runs = 7;
    let walk_t = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let r = walk(&sandbox.join("usr"));
                assert_eq!(r.0 as usize, FILES);
                t.elapsed()
            })
            .collect(),
    );
    let open_t = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let s = Session::open(cfg()).unwrap();
                let e = t.elapsed();
                assert_eq!(s.fs.usage().user, (FILES * 100) as u64);
                assert_eq!(s.store.size(), store);
                assert!(s.fs.open_report().rebuilt.is_none());
                drop(s);
                e
            })
            .collect(),
    );
    let rebuild_t = median(
        (0..3)
            .map(|_| {
                std::fs::remove_file(sandbox.join("quota.journal")).unwrap();
                let t = Instant::now();
                let s = Session::open(cfg()).unwrap();
                let e = t.elapsed();
                assert!(s.fs.open_report().rebuilt.is_some());
                drop(s);
                e
            })
            .collect(),
    );
    println!("| measurement | median | ratio to walk |");
    println!("|---|---|---|");
    println!("| directory walk of usr/ ({FILES} files), baseline | {walk_t:.2?} | 1.00 |");
    println!("| open: {FILES} files + full 10 MiB store | {open_t:.2?} | {:.3} |", open_t.as_secs_f64() / walk_t.as_secs_f64());
    println!(
        "| open after the journal was deleted (rebuild) | {rebuild_t:.2?} | {:.3} |",
        rebuild_t.as_secs_f64() / walk_t.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&root);
}
