//! Kill test (issues 3, 9 and 13): a child process runs a random mix of storage operations (plain
//! and `encrypt: true` sets of the same names, which replace each other) and file
//! operations — writes, appends, copies, saves from temp files, renames of files and directories,
//! unlinks, `mkdir -p`, `rmdir -r`, unzips, and fds held open across renames, replaces and
//! unlinks of their paths — and reports each operation it begins and each it has been
//! acknowledged. The parent SIGKILLs it at a random instant, reopens the sandbox and checks that
//! the state equals the model of all acknowledged operations, with the one operation in flight
//! either fully applied or not at all (nothing torn), and that the quota journal's usage (bytes
//! and entries) equals what is on disk exactly.
//!
//! `cargo test --test kill` runs a short form (WXFS_KILL_ROUNDS, default 25 kills);
//! `WXFS_KILL_ROUNDS=2000 cargo test --release --test kill -- --nocapture` is the long run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use common::bridge::b64;
use common::crash::run_killed;
use common::zip::zip_of;
use common::Rng;
use serde_json::{json, Value};
use wxfs::{bridge, Config, Session};

/// What the sandbox should hold. Files are objects with an identity, so that an fd follows its
/// file across renames and keeps writing to it after its name is gone.
#[derive(Clone, Debug, Default)]
struct Model {
    kv: BTreeMap<String, String>,
    /// usr path -> file object.
    files: BTreeMap<String, u64>,
    dirs: BTreeSet<String>,
    contents: BTreeMap<u64, Vec<u8>>,
    /// fd -> (file object, append mode).
    fds: BTreeMap<String, (u64, bool)>,
    next: u64,
}

/// What can be seen after a restart: storage, and usr's files and directories.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    kv: BTreeMap<String, String>,
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
}

impl Model {
    fn seen(&self) -> Seen {
        Seen {
            kv: self.kv.clone(),
            files: self.files.iter().map(|(p, id)| (p.clone(), self.contents[id].clone())).collect(),
            dirs: self.dirs.clone(),
        }
    }

    fn new_file(&mut self, path: &str, bytes: Vec<u8>) {
        self.next += 1;
        self.contents.insert(self.next, bytes);
        self.files.insert(path.to_string(), self.next);
    }

    /// After a restart no fd is open: files only fds held are gone.
    fn restarted(&mut self) {
        self.fds.clear();
        let live: BTreeSet<u64> = self.files.values().copied().collect();
        self.contents.retain(|id, _| live.contains(id));
    }
}

fn bytes_of(op: &Value, key: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(op[key].as_str().unwrap()).unwrap()
}

/// Apply one acknowledged operation (with its result, for `open`) to the model.
fn apply(m: &Model, op: &Value, result: &str) -> Model {
    let mut m = m.clone();
    let s = |k: &str| op[k].as_str().unwrap().to_string();
    match op["op"].as_str().unwrap() {
        "set" | "eset" => drop(m.kv.insert(s("key"), s("data"))),
        "remove" => drop(m.kv.remove(&s("key"))),
        "batch" => {
            for item in op["items"].as_array().unwrap() {
                m.kv.insert(item["key"].as_str().unwrap().to_string(), item["value"].as_str().unwrap().to_string());
            }
        }
        "clear" => m.kv.clear(),
        "write" | "save" => m.new_file(&s("path"), bytes_of(op, "data")),
        "append" => {
            if let Some(id) = m.files.get(&s("path")) {
                m.contents.get_mut(id).unwrap().extend(bytes_of(op, "data"));
            }
        }
        "copy" => {
            if let Some(bytes) = m.files.get(&s("from")).map(|id| m.contents[id].clone()) {
                m.new_file(&s("to"), bytes);
            }
        }
        "rename" => {
            let (from, to) = (s("from"), s("to"));
            if from == to {
                // renaming a path to itself changes nothing
            } else if m.dirs.contains(&from) {
                let moved = |p: &str| p == from || p.starts_with(&format!("{from}/"));
                let rebase = |p: &str| format!("{to}{}", &p[from.len()..]);
                m.dirs.remove(&to);
                m.dirs = m.dirs.iter().map(|d| if moved(d) { rebase(d) } else { d.clone() }).collect();
                m.files = m.files.iter().map(|(p, id)| (if moved(p) { rebase(p) } else { p.clone() }, *id)).collect();
            } else if let Some(id) = m.files.remove(&from) {
                m.files.insert(to, id);
            }
        }
        "unlink" => drop(m.files.remove(&s("path"))),
        "mkdir" => {
            let path = s("path");
            let mut acc = String::new();
            for part in path.split('/') {
                acc = if acc.is_empty() { part.to_string() } else { format!("{acc}/{part}") };
                m.dirs.insert(acc.clone());
            }
        }
        "rmdir" => {
            let dir = s("path");
            let under = |p: &str| p == dir || p.starts_with(&format!("{dir}/"));
            m.dirs.retain(|d| !under(d));
            m.files.retain(|p, _| !under(p));
        }
        "unzip" => {
            let target = s("target");
            for (rel, data) in op["entries"].as_object().unwrap() {
                let path = format!("{target}/{rel}");
                let mut acc = String::new();
                for part in path.split('/').take(path.split('/').count() - 1) {
                    acc = if acc.is_empty() { part.to_string() } else { format!("{acc}/{part}") };
                    m.dirs.insert(acc.clone());
                }
                m.new_file(&path, data.as_str().unwrap().as_bytes().to_vec());
            }
        }
        "open" => {
            let path = s("path");
            let flag = s("flag");
            if !m.files.contains_key(&path) {
                m.new_file(&path, Vec::new());
            }
            let id = m.files[&path];
            if flag == "w" {
                m.contents.insert(id, Vec::new());
            }
            m.fds.insert(result.to_string(), (id, flag == "a"));
        }
        "fdwrite" => {
            if let Some(&(id, append)) = m.fds.get(&s("fd")) {
                let data = bytes_of(op, "data");
                let c = m.contents.get_mut(&id).unwrap();
                if data.is_empty() {
                    // pwrite(2) of no bytes: the file keeps its length wherever the position is
                } else if append {
                    c.extend(data);
                } else {
                    let at = op["position"].as_u64().unwrap() as usize;
                    if c.len() < at + data.len() {
                        c.resize(at + data.len(), 0);
                    }
                    c[at..at + data.len()].copy_from_slice(&data);
                }
            }
        }
        "ftruncate" => {
            if let Some(&(id, _)) = m.fds.get(&s("fd")) {
                m.contents.get_mut(&id).unwrap().resize(op["length"].as_u64().unwrap() as usize, 0);
            }
        }
        "close" => drop(m.fds.remove(&s("fd"))),
        other => panic!("unknown op {other}"),
    }
    m
}

const NAMES: [&str; 4] = ["f0", "f1", "d0/f2", "d0/d1/f3"];
const DIRS: [&str; 3] = ["d0", "d0/d1", "e0"];

fn random_text(r: &mut Rng, max: u64) -> Vec<u8> {
    let n = r.below(max) as usize;
    let c = b'a' + r.below(26) as u8;
    (0..n).map(|i| if i % 97 == 0 { b'0' + (i % 10) as u8 } else { c }).collect()
}

/// The child's own view, enough to pick operations that make sense (most of them succeed).
#[derive(Default)]
struct Child {
    fds: Vec<(String, bool)>,
}

fn random_op(r: &mut Rng, child: &Child) -> Value {
    let key = format!("k{}", r.below(12));
    let name = |r: &mut Rng| NAMES[r.below(NAMES.len() as u64) as usize].to_string();
    let dir = |r: &mut Rng| DIRS[r.below(DIRS.len() as u64) as usize].to_string();
    let string = |r: &mut Rng, max: u64| String::from_utf8(random_text(r, max)).unwrap();
    match r.below(21) {
        0 => json!({"op": "set", "key": key, "data": string(r, 3000)}),
        // An encrypted set of a name the plain ops use too: one name, one value.
        1 => json!({"op": "eset", "key": key, "data": string(r, 3000)}),
        2 => json!({"op": "remove", "key": key}),
        // Storage: batches (all or nothing), a rare clear, and overwrites that keep the store
        // near its total limit (STORAGE_TOTAL) so that compactions of a full store happen often.
        18 => {
            let n = 1 + r.below(3);
            let items: Vec<Value> =
                (0..n).map(|_| json!({"key": format!("k{}", r.below(12)), "value": string(r, 3000)})).collect();
            json!({"op": "batch", "items": items})
        }
        19 if r.below(8) == 0 => json!({"op": "clear"}),
        19 | 20 => json!({"op": "set", "key": key, "data": string(r, 6000)}),
        3 | 4 => json!({"op": "write", "path": name(r), "data": b64(&random_text(r, 20000))}),
        5 => json!({"op": "append", "path": name(r), "data": b64(&random_text(r, 4000))}),
        6 => json!({"op": "copy", "from": name(r), "to": name(r)}),
        7 => json!({"op": "save", "path": name(r), "data": b64(&random_text(r, 9000))}),
        8 => {
            if r.below(2) == 0 {
                json!({"op": "rename", "from": name(r), "to": name(r)})
            } else {
                json!({"op": "rename", "from": dir(r), "to": dir(r)})
            }
        }
        9 => json!({"op": "unlink", "path": name(r)}),
        10 => json!({"op": "mkdir", "path": dir(r)}),
        11 => json!({"op": "rmdir", "path": dir(r)}),
        12 => {
            let mut entries = serde_json::Map::new();
            for i in 0..1 + r.below(4) {
                let rel = if i % 2 == 0 { format!("u{i}") } else { format!("sub/u{i}") };
                entries.insert(rel, json!(String::from_utf8(random_text(r, 5000)).unwrap()));
            }
            json!({"op": "unzip", "target": dir(r), "entries": entries})
        }
        13 if child.fds.len() < 6 => {
            let flag = ["a", "r+", "w"][r.below(3) as usize];
            json!({"op": "open", "path": name(r), "flag": flag})
        }
        14 | 15 if !child.fds.is_empty() => {
            let (fd, _) = &child.fds[r.below(child.fds.len() as u64) as usize];
            json!({"op": "fdwrite", "fd": fd, "data": b64(&random_text(r, 6000)), "position": r.below(3000)})
        }
        16 if !child.fds.is_empty() => {
            let (fd, _) = &child.fds[r.below(child.fds.len() as u64) as usize];
            json!({"op": "ftruncate", "fd": fd, "length": r.below(8000)})
        }
        17 if !child.fds.is_empty() => {
            let (fd, _) = &child.fds[r.below(child.fds.len() as u64) as usize];
            json!({"op": "close", "fd": fd})
        }
        _ => json!({"op": "remove", "key": key}),
    }
}

/// Run one operation; returns its status and, for `open`, the fd.
fn run_op(s: &Session, op: &Value) -> (i32, String) {
    let usr = |p: &Value| format!("wxfile://usr/{}", p.as_str().unwrap());
    let call = |api: &str, args: Value| bridge::invoke(s, api, &args.to_string());
    let bufs = |key: &str| json!([{"key": key, "base64": op["data"]}]);
    let (code, result) = match op["op"].as_str().unwrap() {
        "set" => call("setStorageSync", json!({"key": op["key"], "data": op["data"]})),
        "eset" => call("setStorage", json!({"key": op["key"], "data": op["data"], "encrypt": true})),
        "remove" => call("removeStorageSync", json!({"key": op["key"]})),
        "batch" => call("batchSetStorageSync", json!({"kvList": op["items"]})),
        "clear" => call("clearStorageSync", json!({})),
        "write" => call("writeFileSync", json!({"filePath": usr(&op["path"]), "__nativeBuffers__": bufs("data")})),
        "append" => call("appendFileSync", json!({"filePath": usr(&op["path"]), "__nativeBuffers__": bufs("data")})),
        "copy" => call("copyFileSync", json!({"srcPath": usr(&op["from"]), "destPath": usr(&op["to"])})),
        "save" => {
            let (c, t) = call("host.createTempFile", json!({"__nativeBuffers__": bufs("data")}));
            assert_eq!(c, 0, "{t}");
            call("saveFileSync", json!({"tempFilePath": t["tempFilePath"], "filePath": usr(&op["path"])}))
        }
        "rename" => call("renameSync", json!({"oldPath": usr(&op["from"]), "newPath": usr(&op["to"])})),
        "unlink" => call("unlinkSync", json!({"filePath": usr(&op["path"])})),
        "mkdir" => call("mkdirSync", json!({"dirPath": usr(&op["path"]), "recursive": true})),
        "rmdir" => call("rmdirSync", json!({"dirPath": usr(&op["path"]), "recursive": true})),
        "unzip" => {
            // The zip lives in tmp, outside the model: what is modelled is only the unzip.
            let zip = b64(&zip_of(
                &op["entries"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(n, d)| (n.as_str(), d.as_str().unwrap().as_bytes()))
                    .collect::<Vec<_>>(),
            ));
            let (c, t) = call("host.createTempFile", json!({"__nativeBuffers__": [{"key": "data", "base64": zip}]}));
            assert_eq!(c, 0, "{t}");
            call("unzip", json!({"zipFilePath": t["tempFilePath"], "targetPath": usr(&op["target"])}))
        }
        "open" => call("openSync", json!({"filePath": usr(&op["path"]), "flag": op["flag"]})),
        "fdwrite" => call("writeSync", json!({"fd": op["fd"], "position": op["position"], "__nativeBuffers__": bufs("data")})),
        "ftruncate" => call("ftruncateSync", json!({"fd": op["fd"], "length": op["length"]})),
        _ => call("closeSync", json!({"fd": op["fd"]})),
    };
    (code, result["fd"].as_str().unwrap_or("-").to_string())
}

/// Storage limit of the killed sandbox: 12 keys of up to 6,000 bytes overflow it, so the store
/// is often full, and sets past it fail (and are not in the model).
const STORAGE_TOTAL: u64 = 40_000;

fn killer_config(root: &Path) -> Config {
    let mut c = Config::new(root, "killer", "wxkill");
    c.limits.user_files = 400_000;
    c.limits.storage_total = STORAGE_TOTAL;
    c.encryption_key = Some(wxfs::storage::sealed::EncryptionKey([13; 16]));
    c
}

/// The child: not a test of its own (ignored); the parent runs it with WXFS_KILL_ROOT set.
#[test]
#[ignore]
fn kill_child() {
    let Ok(root) = std::env::var("WXFS_KILL_ROOT") else { return };
    let seed: u64 = std::env::var("WXFS_KILL_SEED").unwrap().parse().unwrap();
    let s = Session::open(killer_config(Path::new(&root))).unwrap();
    let mut r = Rng(seed | 1);
    let mut child = Child::default();
    let out = std::io::stdout();
    loop {
        let op = random_op(&mut r, &child);
        writeln!(out.lock(), "@@begin {op}").unwrap();
        let (code, fd) = run_op(&s, &op);
        writeln!(out.lock(), "@@ack {code} {fd}").unwrap();
        if code == 0 {
            match op["op"].as_str().unwrap() {
                "open" => child.fds.push((fd, op["flag"] == "a")),
                "close" => child.fds.retain(|(f, _)| f != op["fd"].as_str().unwrap()),
                _ => {}
            }
        }
    }
}

/// What the sandbox holds now, read through a fresh open (as after a restart), and the
/// journal's usage against the files'.
fn observe(root: &Path) -> (Seen, wxfs::quota::Usage, wxfs::quota::Usage, u64) {
    let s = Session::open(killer_config(root)).unwrap();
    let mut seen = Seen { kv: BTreeMap::new(), files: BTreeMap::new(), dirs: BTreeSet::new() };
    let (_, info) = bridge::invoke(&s, "getStorageInfoSync", "{}");
    for k in info["keys"].as_array().unwrap() {
        // With encrypt: a name's value whichever way it was stored (the plain one has nothing to decrypt).
        let (_, v) = bridge::invoke(&s, "getStorage", &json!({"key": k, "encrypt": true}).to_string());
        seen.kv.insert(k.as_str().unwrap().to_string(), v["data"].as_str().unwrap().to_string());
    }
    let usr = s.sandbox.dir().join("usr");
    let mut stack = vec![usr.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let rel = e.path().strip_prefix(&usr).unwrap().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                seen.dirs.insert(rel);
                stack.push(e.path());
            } else {
                seen.files.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let journal = s.fs.usage();
    let real = wxfs::fs::scan(&s.sandbox).unwrap();
    (seen, journal, real, s.store.stats().file_len)
}

/// An op without its bytes, for failure messages.
fn brief(op: &Option<Value>) -> String {
    let Some(op) = op else { return "none".into() };
    let mut o = op.clone();
    for k in ["data", "entries"] {
        if let Some(v) = o.get(k) {
            let n = v.to_string().len();
            o[k] = json!(format!("<{n} chars>"));
        }
    }
    o.to_string()
}

fn describe_seen(m: &Seen) -> String {
    let kv: Vec<_> = m.kv.iter().map(|(k, v)| format!("{k}={}b", v.len())).collect();
    let f: Vec<_> = m.files.iter().map(|(k, v)| format!("{k}={}b", v.len())).collect();
    format!("kv[{}] files[{}] dirs{:?}", kv.join(","), f.join(","), m.dirs)
}

/// Copy the tree `from` to `to`, but hard-link the files of temp areas: the kill test never
/// changes a temp file in place (they are made, moved, read and removed), and they pile up (every
/// unzip leaves its zip), so linking keeps each round's copy cheap while what it shows is exact.
fn keep_copy(from: &Path, to: &Path) {
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf(), false)];
    while let Some((src, dst, link)) = stack.pop() {
        if std::fs::create_dir(&dst).is_err() {
            continue;
        }
        for e in std::fs::read_dir(&src).into_iter().flatten().flatten() {
            let (s, d) = (e.path(), dst.join(e.file_name()));
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push((s, d, link || e.file_name() == "tmp")),
                Ok(_) if link => drop(std::fs::hard_link(&s, &d)),
                Ok(_) => drop(std::fs::copy(&s, &d)),
                Err(_) => {}
            }
        }
    }
}

fn kill_rounds(rounds: usize, base_seed: u64) -> PathBuf {
    let root = common::fresh_dir("kill");
    let exe = std::env::current_exe().unwrap();
    let mut model = Model::default();
    let mut rng = Rng(base_seed);
    let (mut acked_total, mut inflight_applied) = (0u64, 0u64);
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    // Rounds after which the storage log was shorter than before: a compaction ran (and, when
    // the kill came during one, the store still opened whole).
    let (mut log_len, mut compacted_rounds) = (0u64, 0u64);
    for round in 0..rounds {
        let seed = rng.next();
        let wait = Duration::from_micros(2_000 + rng.below(60_000));
        let env = [("WXFS_KILL_ROOT", root.to_str().unwrap().to_string()), ("WXFS_KILL_SEED", seed.to_string())];
        let mut inflight: Option<Value> = None;
        let mut last: Option<Value> = None;
        // A line the kill cut short is not a report: a partial "begin" means the op never
        // started, a partial "ack" leaves the op in flight (either outcome is allowed).
        for line in run_killed(&exe, "kill_child", &env, wait) {
            if let Some(op) = line.strip_prefix("@@begin ") {
                if let Some(prev) = inflight.take() {
                    last = Some(prev);
                }
                inflight = Some(serde_json::from_str(op).unwrap());
            } else if let Some(ack) = line.strip_prefix("@@ack ") {
                let op = inflight.take().expect("ack without begin");
                last = Some(op.clone());
                let (code, fd) = ack.split_once(' ').unwrap();
                if code == "0" {
                    model = apply(&model, &op, fd);
                    *kinds.entry(op["op"].as_str().unwrap().to_string()).or_default() += 1;
                }
                acked_total += 1;
            }
        }
        // What the kill left, kept until the next round: a failure leaves it to look at.
        let crashed = root.with_extension("crashed");
        let _ = std::fs::remove_dir_all(&crashed);
        keep_copy(&root, &crashed);
        let (seen, journal, real, len) = observe(&root);
        if len < log_len {
            compacted_rounds += 1;
        }
        log_len = len;
        // The op in flight may have happened (an `open` in flight leaves at most a new empty
        // file); it may write through an fd, so it applies before the restart closes the fds.
        let mut after = inflight.as_ref().map(|op| apply(&model, op, "inflight"));
        if let Some(a) = after.as_mut() {
            a.restarted();
        }
        model.restarted();
        if seen == model.seen() {
            // the op in flight did not happen (or was a no-op)
        } else if after.as_ref().map(|a| a.seen()) == Some(seen.clone()) {
            model = after.unwrap();
            inflight_applied += 1;
        } else {
            panic!(
                "round {round} (seed {seed}): state matches neither the acknowledged model nor the model plus the op in flight\n  seen:  {}\n  model: {}\n  after: {}\n  in flight: {}",
                describe_seen(&seen),
                describe_seen(&model.seen()),
                after.as_ref().map(|a| describe_seen(&a.seen())).unwrap_or_default(),
                brief(&inflight)
            );
        }
        assert_eq!(
            journal,
            real,
            "round {round} (seed {seed}): journal usage != what is on disk; in flight: {}; before it: {}",
            brief(&inflight),
            brief(&last)
        );
        let files: u64 = model.seen().files.values().map(|f| f.len() as u64).sum();
        assert_eq!(real.user, files, "round {round}: bytes on disk != model");
    }
    println!(
        "kill test: {rounds} kills, {acked_total} acknowledged operations ({kinds:?} succeeded), {inflight_applied} in-flight operations found applied, {compacted_rounds} rounds with a storage compaction, 0 lost, 0 torn, journal exact after every kill"
    );
    root
}

#[test]
fn kills_lose_nothing_acknowledged() {
    let rounds = std::env::var("WXFS_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(25);
    let seed = std::env::var("WXFS_KILL_SEED0").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    let root = kill_rounds(rounds, seed);
    let _ = std::fs::remove_dir_all(root);
}
