//! Two processes on one sandbox (docs/design.md §7): a host process
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
//! `WXFS_SOAK=1 cargo test --release --test processes -- --nocapture` is the long run (300
//! rounds). WXFS_PROCESS_SEED replays a failure: every failure message names its seed.
//!
//! Below them, three tests meet the two protocols at each of their steps on purpose instead
//! (every kill point of a removal; an open at every step of a removal; a removal at every step
//! of an open), through the named steps of `wxfs::sandbox::steps`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::crash::run_killed;
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
    let soak = std::env::var_os("WXFS_SOAK").is_some_and(|v| v == "1");
    let n = std::env::var("WXFS_PROCESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(if soak { 300 } else { 8 });
    let seed = std::env::var("WXFS_PROCESS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_1234_abcd_0001);
    rounds(n, seed);
}

// ---- Each step of a removal, and of an open, against the other process -------------------
//
// The rounds above meet the two protocols where the scheduler and the kills happen to put them.
// The tests below meet them at every step on purpose: a child process runs one removal (or
// open) with a hook at each named step of the protocol (`wxfs::sandbox::steps`), and is killed,
// or paused while this process acts, at the k-th step it reaches, for every k until it finishes.

const STEP_ROUNDS_MAX: u64 = 1000;

/// Fill the app and its plugin with the same items and files every time (and drop the items a
/// step test adds), and return what they then hold.
fn fill_app_and_plugin(root: &Path) -> Value {
    let app = Session::open(app_config(root)).unwrap();
    let plugin = Session::open(plugin_config(root)).unwrap();
    for i in 0..4 {
        for (s, key) in [(&app, format!("k{i}")), (&plugin, format!("p{i}"))] {
            let (code, res) = bridge::invoke(s, "setStorageSync", &json!({"key": key, "data": format!("item {i}")}).to_string());
            assert_eq!(code, 0, "{res}");
        }
        let args = json!({"filePath": format!("wxfile://usr/f{i}"), "data": format!("file {i}"), "encoding": "utf8"});
        let (code, res) = bridge::invoke(&app, "writeFileSync", &args.to_string());
        assert_eq!(code, 0, "{res}");
    }
    for s in [&app, &plugin] {
        let (code, res) = bridge::invoke(s, "removeStorageSync", r#"{"key": "mine"}"#);
        assert_eq!(code, 0, "{res}");
    }
    both(&app, &plugin)
}

/// The step child: one removal or open, killed or paused at its `WXFS_STEP_AT`-th step.
#[test]
#[ignore]
fn step_child() {
    use std::cell::Cell;
    use std::rc::Rc;
    use wxfs::sandbox::steps::{observe, Step};
    let Ok(root) = std::env::var("WXFS_STEP_ROOT") else { return };
    let root = PathBuf::from(root);
    let what = std::env::var("WXFS_STEP_WHAT").unwrap();
    let at: u64 = std::env::var("WXFS_STEP_AT").unwrap().parse().unwrap();
    let kill = std::env::var("WXFS_STEP_ACTION").unwrap() == "kill";
    let hits = Rc::new(Cell::new(0u64));
    let counted = hits.clone();
    let hook = move |s: Step| {
        let n = counted.get();
        counted.set(n + 1);
        if n == at {
            let mut out = std::io::stdout().lock();
            writeln!(out, "@@at {n} {s:?}").unwrap();
            out.flush().unwrap();
            drop(out);
            if kill {
                // SAFETY: raising a signal on this process; SIGKILL ends it here.
                unsafe { libc::raise(libc::SIGKILL) };
            }
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
        }
    };
    let answer = |r: Result<bool, wxfs::sandbox::OpenError>| match r {
        Ok(true) => "removed".to_string(),
        Ok(false) => "none".to_string(),
        Err(wxfs::sandbox::OpenError::Busy(_) | wxfs::sandbox::OpenError::InUse(_)) => "busy".to_string(),
        Err(e) => format!("error {e}"),
    };
    let result = observe(hook, || match what.as_str() {
        "remove-app" => answer(wxfs::session::remove_sandbox(&root, USER, APP)),
        "remove-plugin" => answer(wxfs::session::remove_sandbox_of(&plugin_config(&root))),
        "open" => {
            let opened = Session::open(app_config(&root)).and_then(|a| Session::open(plugin_config(&root)).map(|p| (a, p)));
            match opened {
                Ok((app, plugin)) => {
                    for s in [&app, &plugin] {
                        let (code, res) = bridge::invoke(s, "setStorageSync", r#"{"key": "child", "data": "written"}"#);
                        assert_eq!(code, 0, "{res}");
                    }
                    "ok".to_string()
                }
                Err(e) => format!("error {e}"),
            }
        }
        _ => unreachable!(),
    });
    println!("@@done {} {result}", hits.get());
}

/// A step child, and its lines.
struct StepChild {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    stdin: Option<std::process::ChildStdin>,
}

impl StepChild {
    fn spawn(root: &Path, what: &str, at: u64, action: &str) -> StepChild {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "step_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("WXFS_STEP_ROOT", root)
            .env("WXFS_STEP_WHAT", what)
            .env("WXFS_STEP_AT", at.to_string())
            .env("WXFS_STEP_ACTION", action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        StepChild { stdin: child.stdin.take(), child, out }
    }

    /// The next report (`@@...`), `None` when the child is gone.
    fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line).unwrap_or(0) == 0 {
                return None;
            }
            if let Some(i) = line.find("@@") {
                return Some(line[i..].trim_end().to_string());
            }
        }
    }

    /// Let a paused child go on.
    fn resume(&mut self) {
        let _ = writeln!(self.stdin.as_mut().unwrap(), "go");
    }

    /// Its `@@done` report, and how it ended.
    fn finish(mut self) -> (Option<String>, std::process::ExitStatus) {
        drop(self.stdin.take());
        let mut done = None;
        while let Some(l) = self.next() {
            if l.starts_with("@@done") {
                done = Some(l);
            }
        }
        (done, self.child.wait().unwrap())
    }
}

/// `@@done <steps> <result>`: the result.
fn result_of(done: &str) -> &str {
    done.splitn(3, ' ').nth(2).unwrap()
}

fn assert_no_tombstone_listed(root: &Path, what: &str) {
    let listed = wxfs::sandbox::list_with_plugins(root).unwrap();
    assert!(
        listed.iter().all(|d| !d.to_string_lossy().contains(".wxfs-removed-")),
        "{what}: a tombstone is listed as a sandbox: {listed:?}"
    );
}

fn tombstones_under(root: &Path) -> Vec<String> {
    wxfs::sandbox::tombstone_dirs(root).unwrap().iter().flat_map(|d| tombstones(d)).collect()
}

/// docs/design.md §7: a removal killed at any instant leaves the sandbox whole or gone (for an
/// app: with its plugins; for a plugin: the app untouched), and what it leaves is never opened
/// as a sandbox and is deleted by the next gc (even steps) or the next open beside it (odd).
#[test]
fn a_removal_killed_at_each_step_leaves_the_sandbox_whole_or_gone() {
    for what in ["remove-app", "remove-plugin"] {
        let root = common::fresh_dir("removal-kill-steps");
        let (mut whole, mut gone, mut left) = (0, 0, 0);
        let mut k = 0;
        loop {
            assert!(k < STEP_ROUNDS_MAX, "{what}: the removal never finished");
            let full = fill_app_and_plugin(&root);
            let child = StepChild::spawn(&root, what, k, "kill");
            let (done, status) = child.finish();
            if let Some(done) = done {
                // Past its last step: it ran whole.
                assert_eq!(result_of(&done), "removed", "{what}: {done}");
                break;
            }
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}, step {k}: the child was not killed there: {status}");
            let ctx = format!("{what} killed at step {k}");
            assert_no_tombstone_listed(&root, &ctx);
            left += usize::from(!tombstones_under(&root).is_empty());
            if k % 2 == 0 {
                wxfs::session::gc(&root, 1, |_, _| {}).unwrap();
                assert_eq!(tombstones_under(&root), Vec::<String>::new(), "{ctx}: gc left a tombstone");
            }
            let app = Session::open(app_config(&root)).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
            let plugin = Session::open(plugin_config(&root)).unwrap_or_else(|e| panic!("{ctx}: plugin open: {e}"));
            let found = both(&app, &plugin);
            let removed = match what {
                "remove-app" => both_empty(),
                _ => json!({"app": full["app"], "plugin": empty()}),
            };
            if found == full {
                whole += 1;
            } else if found == removed {
                gone += 1;
            } else {
                panic!("{ctx}: neither whole nor gone\n  found: {found}\n  whole: {full}\n  gone:  {removed}");
            }
            drop(plugin);
            drop(app);
            assert_eq!(tombstones_under(&root), Vec::<String>::new(), "{ctx}: a tombstone outlived the next open beside it");
            k += 1;
        }
        println!("{what}: killed at each of its {k} steps: {whole} whole, {gone} gone, {left} left a tombstone, 0 half-removed");
        assert!(whole > 0 && gone > 0 && left > 0, "{what}: the kills did not reach both sides of the rename");
        let _ = std::fs::remove_dir_all(root);
    }
}

/// What an open found of one sandbox while the other process's removal was paused.
#[derive(Debug, PartialEq)]
enum Found {
    Busy,
    Whole,
    Empty,
}

/// docs/design.md §7: while a removal is stopped at any of its steps, an open in another
/// process fails busy, or gets the sandbox whole (the removal has locked nothing yet; it then
/// meets the open and answers busy, changing nothing), or gets a new, empty sandbox whose writes
/// survive the rest of the removal. For an app's removal and a plugin's (whose app is never
/// touched: it is found whole and keeps its write).
#[test]
fn an_open_at_each_step_of_a_removal_fails_busy_or_keeps_its_writes() {
    for what in ["remove-app", "remove-plugin"] {
        let root = common::fresh_dir("removal-open-steps");
        let mut seen = std::collections::BTreeMap::new();
        let mut k = 0;
        loop {
            assert!(k < STEP_ROUNDS_MAX, "the removal never finished");
            let full = fill_app_and_plugin(&root);
            let mut child = StepChild::spawn(&root, what, k, "pause");
            let first = child.next().unwrap_or_else(|| panic!("step {k}: the removal child said nothing"));
            if first.starts_with("@@done") {
                assert_eq!(result_of(&first), "removed", "{first}");
                child.finish();
                break;
            }
            let ctx = format!("{what}: open at {first}");
            // The open a mini-program process makes meanwhile: it writes, and holds both until the
            // removal has answered.
            let mut held = Vec::new();
            let mut found = Vec::new();
            for (side, config) in [("app", app_config(&root)), ("plugin", plugin_config(&root))] {
                match Session::open(config) {
                    Ok(s) => {
                        let state = state_of(&s);
                        let f = if state == full[side] {
                            Found::Whole
                        } else if state == empty() {
                            Found::Empty
                        } else {
                            panic!("{ctx}: the {side} is half removed: {state}")
                        };
                        let (code, res) = bridge::invoke(&s, "setStorageSync", r#"{"key": "mine", "data": "kept"}"#);
                        assert_eq!(code, 0, "{ctx}: {res}");
                        found.push(f);
                        held.push(s);
                    }
                    Err(wxfs::sandbox::OpenError::Busy(_)) => found.push(Found::Busy),
                    Err(e) => panic!("{ctx}: the {side}'s open failed: {e}"),
                }
            }
            child.resume();
            let (done, status) = child.finish();
            let done = done.unwrap_or_else(|| panic!("{ctx}: the removal did not answer ({status})"));
            let answer = result_of(&done).to_string();
            drop(held);
            // What each sandbox holds now that the removal has answered.
            let app = Session::open(app_config(&root)).unwrap();
            let plugin = Session::open(plugin_config(&root)).unwrap();
            let now = both(&app, &plugin);
            drop((plugin, app));
            for (i, side) in ["app", "plugin"].into_iter().enumerate() {
                let mut with_mine = full[side].clone();
                with_mine["kv"]["mine"] = json!("kept");
                let removed_here = what == "remove-app" || side == "plugin";
                let expected = match (&found[i], answer.as_str()) {
                    (Found::Whole, _) if !removed_here => with_mine,
                    (Found::Whole, "busy") => with_mine,
                    (Found::Busy, "busy") => full[side].clone(),
                    (Found::Empty, "removed") => json!({"kv": {"mine": "kept"}, "files": {}, "ballast": 0}),
                    (Found::Busy, "removed") => empty(),
                    (f, a) => panic!("{ctx}: the {side}'s open found {f:?} and the removal answered {a}"),
                };
                assert_eq!(
                    now[side], expected,
                    "{ctx}: the {side} after the removal answered {answer} (the open found {:?})",
                    found[i]
                );
            }
            *seen.entry(format!("{found:?} -> {answer}")).or_insert(0) += 1;
            assert_eq!(tombstones_under(&root), Vec::<String>::new(), "{ctx}: a tombstone outlived the removal");
            k += 1;
        }
        println!("{what}: an open at each of the removal's {k} steps: {seen:?}");
        let cases: &[&str] = match what {
            "remove-app" => &["[Whole, Whole] -> busy", "[Busy, Busy] -> removed", "[Empty, Empty] -> removed"],
            _ => &["[Whole, Whole] -> busy", "[Whole, Busy] -> removed", "[Whole, Empty] -> removed"],
        };
        for case in cases {
            assert!(seen.contains_key(*case), "{what}: no step gave {case}: {seen:?}");
        }
        let _ = std::fs::remove_dir_all(root);
    }
}

/// docs/design.md §7: a removal made while another process's open is stopped at any of its
/// steps answers busy and changes nothing (the open holds a lock), or removes the sandbox whole
/// before the open takes it (the open then makes a new, empty one); the open's writes survive
/// either way, and a removal never answers -8. With a third open ("third"): when the removal
/// went first and a third open made and holds the new sandbox, the stopped open, which had the
/// removed sandbox's `LOCK` file open, must find the new one busy, not lock the removed file and
/// open the sandbox beside the third.
#[test]
fn a_removal_at_each_step_of_an_open_is_busy_or_whole() {
    for mode in ["alone", "third"] {
        let root = common::fresh_dir("open-removal-steps");
        let mut seen = std::collections::BTreeMap::new();
        let mut k = 0;
        loop {
            assert!(k < STEP_ROUNDS_MAX, "the open never finished");
            let full = fill_app_and_plugin(&root);
            let mut child = StepChild::spawn(&root, "open", k, "pause");
            let first = child.next().unwrap_or_else(|| panic!("step {k}: the open child said nothing"));
            if first.starts_with("@@done") {
                assert_eq!(result_of(&first), "ok", "{first}");
                child.finish();
                break;
            }
            let ctx = format!("{mode}: removal at the open's {first}");
            let answer = match wxfs::session::remove_sandbox(&root, USER, APP) {
                Ok(true) => "removed",
                Ok(false) => panic!("{ctx}: the removal found nothing"),
                Err(wxfs::sandbox::OpenError::Busy(_)) => "busy",
                Err(e) => panic!("{ctx}: the removal failed: {e}"),
            };
            let third = (mode == "third" && answer == "removed").then(|| {
                let s = Session::open(app_config(&root)).unwrap_or_else(|e| panic!("{ctx}: the third open: {e}"));
                let (code, res) = bridge::invoke(&s, "setStorageSync", r#"{"key": "third", "data": "here"}"#);
                assert_eq!(code, 0, "{res}");
                s
            });
            child.resume();
            let (done, status) = child.finish();
            let done = done.unwrap_or_else(|| panic!("{ctx}: the open did not finish ({status})"));
            let mut expected = match answer {
                "busy" => full.clone(),
                _ => both_empty(),
            };
            if third.is_some() {
                assert!(
                    result_of(&done).starts_with("error") && result_of(&done).contains("another process"),
                    "{ctx}: the stopped open, resumed while a third process holds the new sandbox, answered {done}"
                );
                expected["app"]["kv"]["third"] = json!("here");
            } else {
                assert_eq!(result_of(&done), "ok", "{ctx}: {done}");
                for side in ["app", "plugin"] {
                    expected[side]["kv"]["child"] = json!("written");
                }
            }
            drop(third);
            let app = Session::open(app_config(&root)).unwrap();
            let plugin = Session::open(plugin_config(&root)).unwrap();
            let now = both(&app, &plugin);
            drop((plugin, app));
            assert_eq!(now, expected, "{ctx}: the removal answered {answer}");
            *seen.entry(format!("{} -> {answer}", first.split_whitespace().nth(2).unwrap_or(""))).or_insert(0) += 1;
            k += 1;
        }
        println!("{mode}: a removal at each of the open's {k} steps: {seen:?}");
        assert!(seen.keys().any(|c| c.ends_with("busy")) && seen.keys().any(|c| c.ends_with("removed")), "{seen:?}");
        let _ = std::fs::remove_dir_all(root);
    }
}
