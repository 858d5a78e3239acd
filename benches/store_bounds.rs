//! What an open store costs at the default limits (1 MiB per item, 10 MiB in all), for the
//! stores that cost the most (docs/wechat-behaviour.md §10, "Items count"):
//! - *most items*: the most items the total admits (327,680: 3-byte keys, data `0`), then as many
//!   overwrites as the log keeps before it compacts: the most records an open replays;
//! - *largest log*: one 1 MiB item, as many small items as fit beside it, the same overwrites,
//!   then overwrites of the large item up to the byte slack: the longest log an open maps.
//!
//! Each store is opened in a child process of this bench (so nothing of the setup is counted),
//! which reports its peak RSS (VmHWM, the whole process) and the open's wall time. The open is
//! compared with reading the log file (`std::fs::read`, the file in the page cache), measured
//! in the same child, and each is given as wall and CPU time (a shared machine makes the wall
//! time wait for a core). The README states the bounds: peak RSS ≤ 64 MiB and open ≤ 500 ms
//! (CPU time, what the open takes on a machine it has to itself).
//! `cargo bench --bench store_bounds` (benches/run.sh runs it too); `WXFS_BENCH_KEEP=1` keeps
//! the stores (to profile an open: `WXFS_BENCH_BOUNDS_CHILD=<dir> <bench binary>`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wxfs::storage::{Durability, Limits, Store, Value};

const RSS_BOUND_KIB: u64 = 64 << 10;
const OPEN_BOUND: Duration = Duration::from_millis(500);
const RUNS: usize = 5;

/// The `i`th 3-byte key (94 printable ASCII characters: 830,584 keys).
fn key(mut i: usize) -> String {
    let mut k = String::with_capacity(3);
    for _ in 0..3 {
        k.push((b'!' + (i % 94) as u8) as char);
        i /= 94;
    }
    k
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Fills the store with as many 4-byte items as fit, then overwrites them until `keep` more
/// changes would compact the log. Returns the number of items.
fn fill_and_churn(s: &Store, lim: Limits, keep: usize) -> usize {
    let zero = || Value { data: "0".into(), data_type: None };
    let mut n = 0;
    loop {
        let batch: Vec<(String, Value)> = (n..n + 1000).map(|i| (key(i), zero())).collect();
        if s.set_batch(batch, lim).is_err() {
            break;
        }
        n += 1000;
    }
    while s.set_parts(&key(n), None, "0", lim).is_ok() {
        n += 1;
    }
    // Compaction runs once the changes since the last one exceed items * 1.5 + 65,536
    // (storage::SLACK_CHANGES); the fill made one per item, so this many more are kept.
    let changes = s.len() / 2 + 65_536 - keep;
    let before = s.stats().compactions;
    for i in 0..changes {
        s.set_parts(&key(i % n), None, "1", lim).unwrap();
    }
    assert_eq!(s.stats().compactions, before, "the churn compacted: the store is not the worst");
    n
}

fn build_most_items(dir: &Path) -> String {
    let (s, _) = Store::open(dir, Durability::Process).unwrap();
    let n = fill_and_churn(&s, Limits::default(), 0);
    s.settle().unwrap();
    format!("most items: {n} items of 4 bytes, {} bytes of log", s.stats().file_len)
}

fn build_largest_log(dir: &Path) -> String {
    let lim = Limits::default();
    let (s, _) = Store::open(dir, Durability::Process).unwrap();
    // Key "big" + a JSON string of 1 MiB - 3 bytes: exactly the item limit.
    let big = |c: char| format!("\"{}\"", c.to_string().repeat((1 << 20) - 3 - 2));
    s.set_parts("big", None, &big('a'), lim).unwrap();
    // Each overwrite of the large item is a change too: keep room for them.
    let n = fill_and_churn(&s, lim, 64);
    // Overwrite the large item while the log stays within its byte slack (16 MiB beside a
    // 1 MiB record): the next overwrite past that would compact.
    let mut overwrites = 0;
    loop {
        let st = s.stats();
        let next = st.file_len + (1 << 20) + 16;
        if next > st.live_len + st.live_len / 2 + (16 << 20) || overwrites == 64 {
            break;
        }
        s.set_parts("big", None, &big(if overwrites % 2 == 0 { 'b' } else { 'a' }), lim).unwrap();
        overwrites += 1;
    }
    assert_eq!(s.stats().compactions, 0, "the large overwrites compacted: the store is not the worst");
    s.settle().unwrap();
    format!(
        "largest log: one 1 MiB item, {n} items of 4 bytes, {overwrites} overwrites of the large one, {} bytes of log",
        s.stats().file_len
    )
}

/// Time this thread has run on a CPU (the open runs on the calling thread): on a machine
/// shared with other work, wall time also counts the waits for a core.
fn cpu_time() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(s.split_whitespace().next().unwrap().parse().unwrap())
}

/// In the child: open the store once, print
/// `<open µs> <open CPU µs> <read µs> <read CPU µs> <VmHWM KiB> <items>`.
fn child(dir: &Path) {
    let (t, c) = (Instant::now(), cpu_time());
    let bytes = std::fs::read(dir.join("data.log")).unwrap();
    let (read, read_cpu) = (t.elapsed(), cpu_time() - c);
    drop(bytes);
    let (t, c) = (Instant::now(), cpu_time());
    let (s, report) = Store::open(dir, Durability::Process).unwrap();
    let (open, open_cpu) = (t.elapsed(), cpu_time() - c);
    assert!(!report.compacted, "the open compacted: the store was not left at its worst");
    // Touch what a get touches, so the index is resident as in use.
    assert!(s.with(&key(0), |_| ()).is_some());
    let us = |d: Duration| d.as_micros();
    println!("{} {} {} {} {} {}", us(open), us(open_cpu), us(read), us(read_cpu), status_kib("VmHWM:"), s.len());
}

struct Run {
    open: Duration,
    open_cpu: Duration,
    read: Duration,
    read_cpu: Duration,
    peak_kib: u64,
    items: usize,
}

/// The median run by open time, with the highest peak RSS of all runs.
fn measure(dir: &Path) -> Run {
    let mut runs: Vec<Run> = (0..RUNS)
        .map(|_| {
            let out = Command::new(std::env::current_exe().unwrap()).env("WXFS_BENCH_BOUNDS_CHILD", dir).output().unwrap();
            assert!(out.status.success(), "child: {}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8(out.stdout).unwrap();
            let f: Vec<u64> = text.split_whitespace().map(|x| x.parse().unwrap()).collect();
            let d = Duration::from_micros;
            Run { open: d(f[0]), open_cpu: d(f[1]), read: d(f[2]), read_cpu: d(f[3]), peak_kib: f[4], items: f[5] as usize }
        })
        .collect();
    let peak_kib = runs.iter().map(|r| r.peak_kib).max().unwrap();
    runs.sort_by_key(|r| r.open);
    Run { peak_kib, ..runs.swap_remove(RUNS / 2) }
}

fn main() {
    if let Some(dir) = std::env::var_os("WXFS_BENCH_BOUNDS_CHILD") {
        return child(Path::new(&dir));
    }
    let root = std::env::temp_dir().join(format!("wxfs-bench-bounds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let stores = [("most items", root.join("items")), ("largest log", root.join("log"))];
    eprintln!("setup: {}", build_most_items(&stores[0].1));
    eprintln!("setup: {}", build_largest_log(&stores[1].1));
    println!(
        "| store at the default limits | items | open: wall (median of {RUNS}) | open: CPU | read of the log file: wall, CPU | ratio open/read (CPU) | peak RSS of the process | bounds met |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut all = true;
    for (name, dir) in &stores {
        let r = measure(dir);
        // The open's CPU time: its wall time on this machine when no other work shares it.
        let met = r.open_cpu <= OPEN_BOUND && r.peak_kib <= RSS_BOUND_KIB;
        all &= met;
        println!(
            "| {name} | {} | {:.2?} | {:.2?} | {:.2?}, {:.2?} | {:.1} | {:.1} MiB | {} |",
            r.items,
            r.open,
            r.open_cpu,
            r.read,
            r.read_cpu,
            r.open_cpu.as_secs_f64() / r.read_cpu.as_secs_f64().max(1e-6),
            r.peak_kib as f64 / 1024.0,
            if met { "yes" } else { "NO" }
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "bounds: open CPU <= {OPEN_BOUND:?}, peak RSS <= {} MiB: {} (load average {})",
        RSS_BOUND_KIB >> 10,
        if all { "met" } else { "NOT met" },
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    if std::env::var_os("WXFS_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        eprintln!("kept: {}", root.display());
    }
}
