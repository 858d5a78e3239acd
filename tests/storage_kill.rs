//! Storage across processes killed around a compaction: a writer process is
//! SIGKILLed the moment a compaction's `data.log.next-*` appears in its `kv/`; a second process
//! reopens the sandbox and is SIGKILLed 0-15 ms into its open (where an open may promote that
//! file, or compact again and start a promotion of its own); then this process opens the
//! sandbox and checks that storage is the acknowledged state, or that state plus the one set
//! in flight, and that a clean close leaves `data.log` alone in `kv/` (with perhaps a spare
//! log, all zeros).
//!
//! `cargo test --test storage_kill` runs a short form (WXFS_STORAGE_KILL_ROUNDS, default 6
//! rounds); `WXFS_STORAGE_KILL_ROUNDS=200 cargo test --release --test storage_kill -- --nocapture`
//! is the long run. A failure prints the seed; WXFS_STORAGE_KILL_SEED replays it.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Rng;
use wxfs::storage::Value;
use wxfs::{Config, Session};

fn store_config(root: &Path) -> Config {
    Config::new(root, "u1", "wxstorekill")
}

/// The data a writer sets for (`tag`, `len`): a JSON string the parent can rebuild from the
/// two numbers the writer reports.
fn value(tag: u64, len: usize) -> String {
    let fill = char::from(b'a' + (tag % 26) as u8).to_string().repeat(len);
    format!("\"{tag:016x}{fill}\"")
}

/// The writer: sets random keys with values of up to 120 KB, so that about 1 MiB is live and
/// the log compacts every few hundred sets; reports each set it begins and each acknowledged.
#[test]
#[ignore]
fn storage_kill_writer() {
    let Ok(root) = std::env::var("WXFS_SK_ROOT") else { return };
    let seed: u64 = std::env::var("WXFS_SK_SEED").unwrap().parse().unwrap();
    let s = Session::open(store_config(Path::new(&root))).unwrap();
    let mut r = Rng(seed | 1);
    let limits = s.storage_limits(false);
    loop {
        let key = format!("k{}", r.below(16));
        let (tag, len) = (r.next(), r.below(120_000) as usize);
        println!("@@begin {key} {tag} {len}");
        s.store.set(&key, Value { data: value(tag, len), data_type: None }, limits).unwrap();
        println!("@@ack");
    }
}

/// The reopening process: says when its open begins, opens, and waits to be killed.
#[test]
#[ignore]
fn storage_kill_reopener() {
    let Ok(root) = std::env::var("WXFS_SK_ROOT") else { return };
    println!("@@opening");
    let t = Instant::now();
    let s = Session::open(store_config(Path::new(&root))).unwrap();
    println!("@@opened {} {:?}", s.store.len(), t.elapsed());
    std::thread::sleep(Duration::from_secs(600));
}

fn spawn(name: &str, root: &Path, seed: u64) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .env("WXFS_SK_ROOT", root)
        .env("WXFS_SK_SEED", seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            // libtest may have printed "test name ... " in front of the first line.
            if let Some(i) = line.find("@@") {
                if tx.send(line[i..].to_string()).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

fn kill(mut child: Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

fn next_files(kv: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(kv)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.starts_with("data.log.next-"));
    v
}

type Model = BTreeMap<String, String>;

fn describe_items(m: &Model) -> String {
    m.iter().map(|(k, v)| format!("{k}={}", &v[..17.min(v.len())])).collect::<Vec<_>>().join(" ")
}

/// One round; returns whether the reopening process finished its open before the kill.
fn round(root: &Path, kv: &Path, model: &mut Model, r: &mut Rng, what: &str) -> bool {
    // 1. The writer, killed the moment a compaction's new log appears.
    let (writer, lines) = spawn("storage_kill_writer", root, r.next());
    let start = Instant::now();
    loop {
        if !next_files(kv).is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{what}: no compaction in 120 s");
    }
    kill(writer);
    let mut inflight: Option<(String, String)> = None;
    for line in lines.iter() {
        let mut w = line.split(' ');
        match w.next() {
            Some("@@begin") => {
                let key = w.next().unwrap().to_string();
                let tag: u64 = w.next().unwrap().parse().unwrap();
                let len: usize = w.next().unwrap().parse().unwrap();
                inflight = Some((key, value(tag, len)));
            }
            Some("@@ack") => {
                let (k, v) = inflight.take().expect("ack without begin");
                model.insert(k, v);
            }
            _ => {}
        }
    }
    // 2. A reopening process, killed 0-15 ms into its open.
    let (opener, lines) = spawn("storage_kill_reopener", root, 0);
    assert_eq!(lines.recv_timeout(Duration::from_secs(60)).as_deref(), Ok("@@opening"), "{what}");
    std::thread::sleep(Duration::from_micros(r.below(15_000)));
    kill(opener);
    let opened = lines.iter().any(|l| l.starts_with("@@opened"));
    // 3. The next open shows the acknowledged state, or that plus the set in flight.
    let s = Session::open(store_config(root)).unwrap();
    let seen: Model = s.store.keys().into_iter().map(|k| (k.clone(), s.store.get(&k).unwrap().data)).collect();
    let mut after = model.clone();
    if let Some((k, v)) = &inflight {
        after.insert(k.clone(), v.clone());
    }
    if seen == after {
        *model = after;
    } else {
        assert!(
            seen == *model,
            "{what}: storage is neither the acknowledged state nor that plus the set in flight\n  seen:  {}\n  acked: {}\n  in flight: {:?}",
            describe_items(&seen),
            describe_items(model),
            inflight.as_ref().map(|(k, v)| (k, &v[..17.min(v.len())]))
        );
    }
    drop(s);
    assert_eq!(common::files::store_files(kv), ["data.log"], "{what}: a clean close leaves one log (and perhaps a spare)");
    opened
}

#[test]
fn kills_around_a_compaction_and_a_reopen_lose_nothing_acknowledged() {
    let rounds: usize = std::env::var("WXFS_STORAGE_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let seed: u64 = std::env::var("WXFS_STORAGE_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    let root = common::fresh_dir("storage-kill");
    let kv: PathBuf = store_config(&root).sandbox_dir().join("kv");
    let mut model = Model::new();
    let mut r = Rng(seed | 1);
    let mut opened = 0;
    for n in 0..rounds {
        opened += round(&root, &kv, &mut model, &mut r, &format!("round {n} (WXFS_STORAGE_KILL_SEED={seed})")) as usize;
    }
    println!("storage kill test: {rounds} rounds (seed {seed}), {opened} reopening processes finished their open before the kill, 0 lost");
    let _ = std::fs::remove_dir_all(root);
}
