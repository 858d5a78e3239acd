//! Many open sandboxes (docs/design.md §7, "File descriptors"): the fds and resident memory of
//! 1,000 open sandboxes, each opened and given its first storage set, and what a file write
//! costs when its area handles come from the cache (one sandbox) and when they must be opened
//! again (the writes go round every sandbox), each as a ratio against the same write done with
//! `std::fs` in the same run. Prints figures; asserts no timing.
//! `cargo bench --bench sandboxes` (`WXFS_BENCH_SANDBOXES` sandboxes, 1,000 by default).
//! Linux: fds and RSS are read from `/proc/self`.

use std::time::{Duration, Instant};

use serde_json::json;
use wxfs::{bridge, Config, Session};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Resident memory in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok()).unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ok(s: &Session, api: &str, args: serde_json::Value) {
    let (c, r) = bridge::invoke(s, api, &args.to_string());
    assert_eq!(c, 0, "{api}: {r}");
}

fn main() {
    let n: usize = std::env::var("WXFS_BENCH_SANDBOXES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    let want = hard.unwrap_or(u64::MAX).min(65_536);
    rustix::process::setrlimit(rustix::process::Resource::Nofile, rustix::process::Rlimit { current: Some(want), maximum: hard })
        .expect("raise RLIMIT_NOFILE");
    let root = std::env::temp_dir().join(format!("wxfs-bench-sandboxes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();

    // Warm the library's process-wide state with one sandbox opened and closed.
    drop(Session::open(Config::new(&root, "warm", "wx")).unwrap());
    let (fds0, rss0) = (open_fds(), rss_kib());
    let t = Instant::now();
    let sessions: Vec<std::sync::Arc<Session>> = (0..n)
        .map(|i| {
            let s = Session::open(Config::new(&root, "u", &format!("wx{i}"))).unwrap();
            ok(&s, "setStorageSync", json!({"key": "k", "data": "v"}));
            s
        })
        .collect();
    let open_each = t.elapsed() / n as u32;
    let (fds1, rss1) = (open_fds(), rss_kib());
    println!(
        "{n} open sandboxes (open + first set): {} fds ({:.2} a sandbox), +{:.1} MiB RSS ({:.1} KiB a sandbox), {:.2} ms an open + first set (RLIMIT_NOFILE {want})",
        fds1 - fds0,
        (fds1 - fds0) as f64 / n as f64,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0,
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        open_each.as_secs_f64() * 1e3,
    );

    // File writes: 1 KiB writeFileSync, 2,000 a repetition, 5 repetitions interleaved.
    const WRITES: usize = 2000;
    let data = "x".repeat(1024);
    let plain = root.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let (mut hot, mut round, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        for i in 0..WRITES {
            ok(&sessions[0], "writeFileSync", json!({"filePath": format!("wxfile://usr/f{}", i % 16), "data": data}));
        }
        hot.push(t.elapsed() / WRITES as u32);
        let t = Instant::now();
        for i in 0..WRITES {
            let s = &sessions[(i * 7919) % n];
            ok(s, "writeFileSync", json!({"filePath": format!("wxfile://usr/f{}", i % 16), "data": data}));
        }
        round.push(t.elapsed() / WRITES as u32);
        // What a replacing write costs with std::fs: a new file written, then renamed over.
        let t = Instant::now();
        for i in 0..WRITES {
            let tmp = plain.join("staged");
            std::fs::write(&tmp, &data).unwrap();
            std::fs::rename(&tmp, plain.join(format!("f{}", i % 16))).unwrap();
        }
        base.push(t.elapsed() / WRITES as u32);
    }
    let (hot, round, base) = (median(hot), median(round), median(base));
    println!(
        "writeFileSync 1 KiB: one sandbox {:.2} µs ({:.2}x std::fs), round {n} sandboxes {:.2} µs ({:.2}x std::fs), std::fs write+rename {:.2} µs",
        hot.as_secs_f64() * 1e6,
        hot.as_secs_f64() / base.as_secs_f64(),
        round.as_secs_f64() * 1e6,
        round.as_secs_f64() / base.as_secs_f64(),
        base.as_secs_f64() * 1e6,
    );
    drop(sessions);
    let _ = std::fs::remove_dir_all(&root);
}
