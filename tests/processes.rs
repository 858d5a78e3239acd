//! Two processes on one sandbox (issue 20, items 1 and 2; docs/design.md §7): a host process
//! removing the mini-program or collecting temp files while a mini-program process opens it,
//! writes and clears its storage, and both are killed at random instants.
//!
//! A writer child opens the app's sandbox and one of its plugin's (retrying while they are
//! busy), reports everything it finds there, fills the app with ballast files when it finds it
//! empty (so that a removal takes a while), then makes acknowledged writes: storage sets and
//! removes in both sandboxes, a rare clearStorage, user files, a temp file it reads back at the
//! end of its session; then it closes both and starts again. A maintainer child meanwhile calls
//! `remove_sandbox` and `gc` in a loop. The parent kills each at its own random instant (seeded),
//! then opens the sandboxes itself. Every state found, by the writer at each open and by the
//! parent, must be exactly what was acknowledged (plus, after a kill, the one write in flight)
//! or wholly empty, and an empty one only where a removal that succeeded or was cut short could
//! have run since the sandbox was last held; a removal never answers -8; no tombstone is listed
//! as a sandbox or outlives the next open beside it; the quota journal equals the files.
//!
//! `cargo test --test processes` runs a short form (WXFS_PROCESS_ROUNDS, default 8 rounds);
//! `WXFS_PROCESS_ROUNDS=300 cargo test --release --test processes -- --nocapture` is the long run.
//! WXFS_PROCESS_SEED replays a failure: every failure message names its seed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Rng;
use serde_json::{json, Value};
use wxfs::{bridge, Config, Session};

const USER: &str = "u1";
const APP: &str = "wxproc";
const PLUGIN: &str = "plug";
/// Files a writer puts in an empty app sandbox, so that a removal has something to delete.
const BALLAST: usize = 600;

fn app_config(root: &Path) -> Config {
    Config::new(root, USER, APP)
}

fn plugin_config(root: &Path) -> Config {
    let mut c = Config::new(root, USER, APP);
    c.plugin_id = Some(PLUGIN.into());
    c
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the test.
fn now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Open, waiting while another process holds the sandbox (what a mini-program process does
/// while the host's maintenance runs).
fn open_retrying(config: &Config) -> std::sync::Arc<Session> {
    loop {
        match Session::open(config.clone()) {
            Ok(s) => return s,
            Err(wxfs::sandbox::OpenError::Busy(_) | wxfs::sandbox::OpenError::InUse(_)) => {
                std::thread::sleep(Duration::from_micros(500))
            }
            Err(e) => {
                println!("@@fail open: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// What one sandbox holds: storage items, user files (ballast apart) and the ballast count.
fn state_of(s: &Session) -> Value {
    let mut kv = serde_json::Map::new();
    // Every key (getStorageInfoSync is not available to plugins), each read as a mini-program would.
    for k in s.crypt.keys(&s.store) {
        let (code, v) = bridge::invoke(s, "getStorageSync", &json!({"key": k}).to_string());
        assert_eq!(code, 0, "{v}");
        kv.insert(k, v["data"].clone());
    }
    let usr = s.sandbox.dir().join("usr");
    let mut files = serde_json::Map::new();
    for e in std::fs::read_dir(&usr).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            files.insert(e.file_name().to_string_lossy().into_owned(), json!(std::fs::read_to_string(e.path()).unwrap()));
        }
    }
    // The ballast is written in order, each file whole (atomic replace): a prefix of it is there.
    let mut ballast = 0;
    let mut names: Vec<String> = std::fs::read_dir(usr.join("bal"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| n[1..].parse::<usize>().unwrap_or(usize::MAX));
    for (i, n) in names.iter().enumerate() {
        let body = std::fs::read_to_string(usr.join("bal").join(n)).unwrap_or_default();
        if *n != format!("b{i}") || body != format!("ballast {i}") {
            ballast = usize::MAX; // not a whole prefix: reported as such
            break;
        }
        ballast = i + 1;
    }
    json!({"kv": kv, "files": files, "ballast": ballast})
}

fn empty() -> Value {
    json!({"kv": {}, "files": {}, "ballast": 0})
}

fn both(app: &Session, plugin: &Session) -> Value {
    json!({"app": state_of(app), "plugin": state_of(plugin)})
}

fn both_empty() -> Value {
    json!({"app": empty(), "plugin": empty()})
}

/// The writer child (run by the parent with WXFS_PROC_ROOT set).
#[test]
#[ignore]
fn process_writer() {
    let Ok(root) = std::env::var("WXFS_PROC_ROOT") else { return };
    let root = PathBuf::from(root);
    let mut r = Rng(std::env::var("WXFS_PROC_SEED").unwrap().parse::<u64>().unwrap() | 1);
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        writeln!(o, "{line}").unwrap();
        o.flush().unwrap();
    };
    loop {
        let app = open_retrying(&app_config(&root));
        let plugin = open_retrying(&plugin_config(&root));
        let state = both(&app, &plugin);
        say(format!("@@opened {} {state}", now()));
        let have = state["app"]["ballast"].as_u64().unwrap() as usize;
        if have < BALLAST {
            for i in have..BALLAST {
                let args =
                    json!({"filePath": format!("wxfile://usr/bal/b{i}"), "data": format!("ballast {i}"), "encoding": "utf8"});
                let _ = bridge::invoke(&app, "mkdirSync", r#"{"dirPath": "wxfile://usr/bal", "recursive": true}"#);
                say(format!("@@begin {}", json!({"op": "ballast", "i": i})));
                let (code, res) = bridge::invoke(&app, "writeFileSync", &args.to_string());
                say(format!("@@ack {code} {}", res["errMsg"]));
            }
        }
        let mut temps = Vec::new();
        for _ in 0..r.below(40) {
            let (who, s) = if r.below(3) == 0 { ("plugin", &plugin) } else { ("app", &app) };
            let key = format!("k{}", r.below(10));
            let op = match r.below(20) {
                // clearStorage is not available to plugins.
                0 => json!({"op": "clear", "in": "app"}),
                1..=3 => json!({"op": "remove", "in": who, "key": key}),
                4..=6 => {
                    json!({"op": "write", "in": "app", "name": format!("f{}", r.below(4)), "data": format!("file {}", r.next())})
                }
                7 => json!({"op": "temp", "in": "app"}),
                _ => json!({"op": "set", "in": who, "key": key, "data": format!("v{}", r.next() % 100_000)}),
            };
            say(format!("@@begin {op}"));
            let (code, res) = match op["op"].as_str().unwrap() {
                "clear" => bridge::invoke(&app, "clearStorageSync", "{}"),
                "remove" => bridge::invoke(s, "removeStorageSync", &json!({"key": op["key"]}).to_string()),
                "write" => bridge::invoke(
                    &app,
                    "writeFileSync",
                    &json!({"filePath": format!("wxfile://usr/{}", op["name"].as_str().unwrap()), "data": op["data"], "encoding": "utf8"})
                        .to_string(),
                ),
                "temp" => {
                    let (code, res) = bridge::invoke(&app, "host.createTempFile", r#"{"data": "temp bytes", "encoding": "utf8"}"#);
                    if code == 0 {
                        temps.push(res["tempFilePath"].as_str().unwrap().to_string());
                    }
                    (code, res)
                }
                _ => bridge::invoke(s, "setStorageSync", &json!({"key": op["key"], "data": op["data"]}).to_string()),
            };
            say(format!("@@ack {code} {}", res["errMsg"]));
        }
        // A temp file made in this session is still there while the session holds the sandbox
        // (gc trims only closed sandboxes).
        for t in &temps {
            let (code, res) = bridge::invoke(&app, "readFileSync", &json!({"filePath": t, "encoding": "utf8"}).to_string());
            if code != 0 || res["data"] != "temp bytes" {
                say(format!("@@fail temp file {t} lost while open: {res}"));
            }
        }
        drop(plugin);
        drop(app);
        say(format!("@@closed {}", now()));
    }
}

/// The maintainer child: removals and gc in a loop.
#[test]
#[ignore]
fn process_maintainer() {
    let Ok(root) = std::env::var("WXFS_PROC_ROOT") else { return };
    let root = PathBuf::from(root);
    let mode = std::env::var("WXFS_PROC_MODE").unwrap();
    let mut r = Rng(std::env::var("WXFS_PROC_SEED").unwrap().parse::<u64>().unwrap() | 1);
    let out = std::io::stdout();
    loop {
        std::thread::sleep(Duration::from_micros(r.below(3000)));
        let op = match mode.as_str() {
            "remove" => "remove",
            "gc" => "gc",
            _ if r.below(2) == 0 => "remove",
            _ => "gc",
        };
        writeln!(out.lock(), "@@begin {op} {}", now()).unwrap();
        let result = match op {
            "remove" => match wxfs::session::remove_sandbox(&root, USER, APP) {
                Ok(true) => "removed".to_string(),
                Ok(false) => "none".to_string(),
                Err(wxfs::sandbox::OpenError::Busy(_) | wxfs::sandbox::OpenError::InUse(_)) => "busy".to_string(),
                Err(e) => format!("error {e}"),
            },
            _ => match wxfs::session::gc(&root, 1, |_, _| {}) {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("error {e}"),
            },
        };
        writeln!(out.lock(), "@@ack {op} {} {result}", now()).unwrap();
    }
}

/// A child's lines, each with the time it was read; the child is killed after `after`.
fn run_killed(exe: &Path, test: &str, env: &[(&str, String)], after: Duration) -> Vec<String> {
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"]).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(after);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    });
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') {
            break; // cut short by the kill: not a report
        }
        let line = String::from_utf8_lossy(&buf[..buf.len() - 1]).into_owned();
        if let Some(i) = line.find("@@") {
            lines.push(line[i..].to_string());
        }
    }
    killer.join().unwrap();
    lines
}

/// The acknowledged state of both sandboxes.
#[derive(Clone, Debug, PartialEq)]
struct Model(Value);

impl Model {
    fn apply(&self, op: &Value) -> Model {
        let mut m = self.0.clone();
        let who = op["in"].as_str().unwrap_or("app");
        let s = &mut m[who];
        match op["op"].as_str().unwrap() {
            "ballast" => s["ballast"] = json!(op["i"].as_u64().unwrap() + 1),
            "clear" => s["kv"] = json!({}),
            "remove" => drop(s["kv"].as_object_mut().unwrap().remove(op["key"].as_str().unwrap())),
            "write" => drop(s["files"].as_object_mut().unwrap().insert(op["name"].as_str().unwrap().into(), op["data"].clone())),
            "temp" => {}
            _ => drop(s["kv"].as_object_mut().unwrap().insert(op["key"].as_str().unwrap().into(), op["data"].clone())),
        }
        Model(m)
    }
}

/// A removal that answered, or was cut short, and when it ran.
struct Removal {
    begin: u64,
    /// `None`: killed before it answered.
    end: Option<u64>,
    removed: bool,
}

impl Removal {
    /// Could it have removed the sandbox between `from` and `to`?
    fn could_remove(&self, from: u64, to: u64) -> bool {
        (self.removed || self.end.is_none()) && self.begin < to && self.end.is_none_or(|e| e > from)
    }
}

/// Check one state found at `at`, with the sandbox not held since `free_since`: it is the model
/// (or the model with the op in flight, `after`), or it is empty and a removal explains it.
fn judge(
    found: &Value,
    model: &Model,
    after: Option<&Model>,
    removals: &[Removal],
    free_since: u64,
    at: u64,
    what: &str,
) -> Model {
    if *found == model.0 {
        return model.clone();
    }
    if let Some(a) = after.filter(|a| *found == a.0) {
        return a.clone();
    }
    if *found == both_empty() {
        assert!(
            removals.iter().any(|r| r.could_remove(free_since, at)),
            "{what}: the sandboxes are empty, but no removal could have run since they were last held\n  model: {}",
            model.0
        );
        return Model(both_empty());
    }
    panic!(
        "{what}: state is neither what was acknowledged{} nor empty (a removal seen half done, or acknowledged writes lost)\n  found: {found}\n  model: {}\n  after: {}",
        if after.is_some() { " (with or without the write in flight)" } else { "" },
        model.0,
        after.map(|a| a.0.to_string()).unwrap_or_default()
    );
}

/// Entries of `dir` that are tombstones (`.wxfs-removed-*`).
fn tombstones(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".wxfs-removed-"))
        .collect()
}

fn rounds(rounds: usize, seed0: u64) {
    let root = common::fresh_dir("processes");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(seed0);
    let mut model = Model(both_empty());
    let mut free_since = now();
    let (mut opens, mut wipes, mut acked, mut removed, mut busy) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for round in 0..rounds {
        let seed = rng.next();
        let mode = ["remove", "gc", "both"][round % 3];
        let env = vec![
            ("WXFS_PROC_ROOT", root.display().to_string()),
            ("WXFS_PROC_SEED", seed.to_string()),
            ("WXFS_PROC_MODE", mode.into()),
        ];
        let (w_after, m_after) = (Duration::from_millis(50 + rng.below(600)), Duration::from_millis(20 + rng.below(600)));
        let maint = {
            let (exe, env) = (exe.clone(), env.clone());
            let env: Vec<(&'static str, String)> = env.into_iter().collect();
            std::thread::spawn(move || run_killed(&exe, "process_maintainer", &env, m_after))
        };
        let writer = run_killed(&exe, "process_writer", &env, w_after);
        let maint = maint.join().unwrap();
        let what = |s: &str| format!("round {round} (seed {seed0}, round seed {seed}, {mode}): {s}");

        // The maintainer's removals, and what it answered.
        let mut removals = Vec::new();
        for line in &maint {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["@@begin", "remove", t] => removals.push(Removal { begin: t.parse().unwrap(), end: None, removed: false }),
                ["@@ack", op, t, result, ..] => {
                    assert!(!result.starts_with("error"), "{}", what(&format!("{op} failed: {line}")));
                    if *op == "remove" {
                        let r = removals.last_mut().unwrap();
                        r.end = Some(t.parse().unwrap());
                        r.removed = *result == "removed";
                        removed += u64::from(r.removed);
                        busy += u64::from(*result == "busy");
                    }
                }
                _ => {}
            }
        }

        // The writer's sessions.
        let mut inflight: Option<Value> = None;
        let mut last_held = free_since;
        for line in &writer {
            if let Some(rest) = line.strip_prefix("@@opened ") {
                let (t, state) = rest.split_once(' ').unwrap();
                let (t, state): (u64, Value) = (t.parse().unwrap(), serde_json::from_str(state).unwrap());
                let before = model.clone();
                model = judge(&state, &model, None, &removals, free_since, t, &what("the writer's open"));
                opens += 1;
                wipes += u64::from(model != before && model.0 == both_empty());
                last_held = t;
            } else if let Some(op) = line.strip_prefix("@@begin ") {
                inflight = Some(serde_json::from_str(op).unwrap());
            } else if let Some(ack) = line.strip_prefix("@@ack ") {
                let op = inflight.take().unwrap();
                assert!(ack.starts_with("0 "), "{}", what(&format!("the writer's {op} failed: {ack}")));
                model = model.apply(&op);
                acked += 1;
            } else if let Some(t) = line.strip_prefix("@@closed ") {
                free_since = t.parse().unwrap();
                last_held = free_since;
            } else if line.starts_with("@@fail") {
                panic!("{}", what(line));
            }
        }
        // Killed while it held the sandboxes: free from its last report on.
        free_since = free_since.max(last_held);

        // No tombstone is a sandbox, in the library's list or the inspector's.
        let listed = wxfs::sandbox::list_with_plugins(&root).unwrap();
        assert!(
            listed.iter().all(|d| !d.to_string_lossy().contains(".wxfs-removed-")),
            "{}",
            what(&format!("a tombstone is listed as a sandbox: {listed:?}"))
        );

        // The parent opens both, as the next mini-program process would.
        let after = inflight.as_ref().map(|op| model.apply(op));
        let app = Session::open(app_config(&root)).unwrap_or_else(|e| panic!("{}", what(&format!("open: {e}"))));
        let plugin = Session::open(plugin_config(&root)).unwrap_or_else(|e| panic!("{}", what(&format!("plugin open: {e}"))));
        let found = both(&app, &plugin);
        let at = now();
        let before = model.clone();
        model = judge(&found, &model, after.as_ref(), &removals, free_since, at, &what("after the kills"));
        wipes += u64::from(model != before && model.0 == both_empty());
        assert_eq!(app.fs.usage(), wxfs::fs::scan(&app.sandbox).unwrap(), "{}", what("quota journal != files"));
        let user_dir = app.sandbox.dir().parent().unwrap().to_path_buf();
        let plugin_parent = plugin.sandbox.dir().parent().unwrap().to_path_buf();
        drop(plugin);
        drop(app);
        free_since = now();
        for dir in [&user_dir, &plugin_parent] {
            assert!(
                tombstones(dir).is_empty(),
                "{}",
                what(&format!("tombstones left after an open beside them: {:?}", tombstones(dir)))
            );
        }
    }
    println!(
        "processes: {rounds} rounds, {opens} opens by the writer, {acked} writes acknowledged, {removed} removals ({busy} busy), {wipes} found removed, 0 lost, 0 half-removed"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn removal_gc_and_clear_against_open_with_kills_lose_nothing() {
    let n = std::env::var("WXFS_PROCESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let seed = std::env::var("WXFS_PROCESS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_1234_abcd_0001);
    rounds(n, seed);
}
