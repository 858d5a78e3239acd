//! `wxfs ls`, `wxfs storage`, `wxfs invoke`: looking into sandboxes without creating any.
//!
//! `ls` and `storage` never take a sandbox's lock and never write into it, so they work while the
//! mini-program runs in another process: the quota journal and the storage log are each read in
//! one go (each is append-only or replaced by a rename, so one read is a state it was in), and a
//! file listing is a snapshot that stayed the same over two walks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use wxfs::platform::Platform;
use wxfs::quota::journal;
use wxfs::sandbox::{self, naming};
use wxfs::{bridge, Config, Session};

use crate::Target;

/// The config of the sandbox a command names: the one `wxfs::Config` with that platform and
/// plugin opens (its directory is `Config::sandbox_dir`, the library's one definition).
pub fn config(root: &Path, user: &str, app: &str, target: &Target) -> Config {
    let mut cfg = Config::new(root, user, app).with_platform(target.platform.unwrap_or_default());
    cfg.plugin_id = target.plugin.clone();
    cfg
}

/// The options that name `cfg`'s sandbox, as typed on a command line (empty for WeChat's app).
fn target_flags(cfg: &Config) -> String {
    let mut flags = String::new();
    if cfg.platform != Platform::default() {
        flags += &format!(" --platform {}", cfg.platform.name());
    }
    if let Some(p) = &cfg.plugin_id {
        flags += &format!(" --plugin {p}");
    }
    flags
}

/// Prints `v` as the command's one JSON document on stdout.
pub fn print_json(v: &serde_json::Value) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(v).map_err(|e| e.to_string())?);
    Ok(())
}

fn lossy(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

/// Fails, naming it, when `root` is not a directory. Nothing is created.
pub fn existing_root(root: &Path) -> Result<(), String> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(format!("no such root: {} (nothing was created)", root.display()))
    }
}

/// The display names of the ids whose directories sit in `dir` (users of a root, apps of a user).
fn ids_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // Another platform's app directory is `<app>@<platform>`: shown so.
            let (platform, base) = Platform::of_dir_name(&name);
            naming::decode_id(base).map(|id| format!("{:?}{}", lossy(&id), platform.dir_suffix())).unwrap_or(name)
        })
        .collect();
    names.sort();
    names
}

fn listing(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The directory of the existing sandbox `cfg` names, or an error naming what is missing: the
/// root, the user, the app (on its platform) or the plugin. Nothing is created.
pub fn existing_sandbox(cfg: &Config) -> Result<PathBuf, String> {
    let (root, user, app) = (cfg.root.as_path(), cfg.user_id.as_str(), cfg.app_id.as_str());
    existing_root(root)?;
    let user_dir = root.join(naming::encode_id(user.as_bytes()));
    if !user_dir.is_dir() {
        return Err(format!("no user {user:?} under {} (users there: {})", root.display(), listing(&ids_in(root))));
    }
    let on = if cfg.platform == Platform::default() { String::new() } else { format!(" on {}", cfg.platform.name()) };
    let app_dir = Config { plugin_id: None, ..cfg.clone() }.sandbox_dir();
    let dir = cfg.sandbox_dir();
    if dir.join(sandbox::LOCK).is_file() {
        return Ok(dir);
    }
    Err(match &cfg.plugin_id {
        None => format!(
            "user {user:?} has no mini-program {app:?}{on} under {} (theirs: {})",
            root.display(),
            listing(&ids_in(&user_dir))
        ),
        Some(plugin) => {
            let plugins: Vec<String> = sandbox::plugin_sandboxes(&app_dir)
                .iter()
                .filter_map(|p| p.file_name()?.to_str().and_then(naming::decode_id))
                .map(|id| format!("{:?}", lossy(&id)))
                .collect();
            format!(
                "user {user:?} has no plugin {plugin:?} in mini-program {app:?}{on} under {} (its plugins: {})",
                root.display(),
                listing(&plugins)
            )
        }
    })
}

/// Who holds a sandbox's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: the sandbox is closed.
    Idle,
    /// This process id (as /proc/locks names it).
    Process(u32),
    /// This system does not say (not Linux, or /proc unreadable).
    Unknown,
}

/// The locks taken on this system, read once: (device, inode) of each `flock`ed file -> the pid
/// that took it. Reading them takes no lock, so the mini-program's own open never finds the
/// sandbox busy because the inspector looked.
pub struct Locks(Option<HashMap<(u64, u64), u32>>);

impl Locks {
    #[cfg(target_os = "linux")]
    pub fn read() -> Locks {
        let Ok(text) = std::fs::read_to_string("/proc/locks") else { return Locks(None) };
        let mut held = HashMap::new();
        // "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF" (a blocked waiter's line has "->"
        // after the number): device in hex, inode in decimal.
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "FLOCK") else { continue };
            if words.get(at.wrapping_sub(1)).is_some_and(|w| *w == "->") {
                continue;
            }
            let (Some(pid), Some(id)) = (words.get(at + 3), words.get(at + 4)) else { continue };
            let mut f = id.split(':');
            let (Some(major), Some(minor), Some(ino)) = (f.next(), f.next(), f.next()) else { continue };
            let (Ok(major), Ok(minor), Ok(ino), Ok(pid)) =
                (u32::from_str_radix(major, 16), u32::from_str_radix(minor, 16), ino.parse::<u64>(), pid.parse::<u32>())
            else {
                continue;
            };
            held.insert((libc::makedev(major, minor), ino), pid);
        }
        Locks(Some(held))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn read() -> Locks {
        Locks(None)
    }

    /// Who holds the lock of the sandbox in `dir`.
    pub fn holder(&self, dir: &Path) -> Holder {
        let Some(held) = &self.0 else { return Holder::Unknown };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let Ok(meta) = dir.join(sandbox::LOCK).symlink_metadata() else { return Holder::Unknown };
            match held.get(&(meta.dev(), meta.ino())) {
                Some(&pid) => Holder::Process(pid),
                None => Holder::Idle,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (held, dir);
            Holder::Unknown
        }
    }
}

fn state(dir: &Path) -> &'static str {
    state_in(&Locks::read(), dir)
}

fn state_in(locks: &Locks, dir: &Path) -> &'static str {
    match locks.holder(dir) {
        Holder::Process(_) => "open",
        Holder::Idle => "closed",
        Holder::Unknown => "?",
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// Bytes of the regular files at `path` (a file, or everything beneath a directory) and the
/// entries there (itself included unless `self_too` is false), not following symlinks.
fn measure(path: &Path, self_too: bool) -> (u64, u64) {
    let own = u64::from(self_too);
    match path.symlink_metadata() {
        Ok(m) if m.is_file() => (m.len(), own),
        Ok(m) if m.is_dir() => std::fs::read_dir(path).into_iter().flatten().flatten().fold((0, own), |(b, n), e| {
            let (eb, en) = measure(&e.path(), true);
            (b + eb, n + en)
        }),
        Ok(_) => (0, own),
        Err(_) => (0, 0),
    }
}

/// The quota journal's figures, read in one go without taking the lock: usage, with the writes
/// it has no commit for yet measured from the files as they are (a running mini-program's last
/// write is one: its commit rides with the next write), and how many those are.
pub fn journal_figures(dir: &Path) -> Result<(wxfs::quota::Usage, usize), String> {
    let path = dir.join(journal::Journal::FILE);
    if path.symlink_metadata().is_ok_and(|m| !m.is_file()) {
        return Err("quota journal is not a regular file".into());
    }
    let replay = match std::fs::read(&path) {
        Ok(bytes) => journal::replay_bytes(&bytes).map_err(|e| e.to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("quota journal missing".into()),
        Err(e) => return Err(format!("quota journal unreadable: {e}")),
    };
    let delta = journal::settle(&replay.pending, |e| measure(&dir.join(e.area.dir_name()).join(&e.rel), e.rel != "."));
    let mut usage = replay.usage;
    usage.apply(delta);
    Ok((usage, replay.pending.len()))
}

/// Uncommitted writes of a closed sandbox were cut short by a crash; in an open one they are
/// ordinary (in flight, or committed with the next write).
fn unsettled(state: &str, pending: usize) -> String {
    if pending == 0 || state == "open" {
        String::new()
    } else {
        format!(", {pending} interrupted writes (settled at the next open)")
    }
}

/// Bytes of the files in a sandbox's storage directory.
fn storage_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join(sandbox::KV))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Every sandbox under `root`: each app's, on its platform, and each plugin's inside an app's
/// (listed even when the app itself holds no sandbox), one row each.
pub fn ls_root(root: &Path, as_json: bool) -> Result<(), String> {
    existing_root(root)?;
    let sites = sandbox::sites(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let locks = Locks::read();
    let mut p = crate::progress("ls");
    let mut rows = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        p(i + 1, sites.len());
        let dir = &site.dir;
        let app_dir = site.app_dir();
        let (user, app) = sandbox::ids_of(app_dir)
            .map(|(u, a)| (lossy(&u), lossy(&a)))
            .unwrap_or_else(|| ("?".into(), wxfs::events::relative(root, dir)));
        let plugin = site.plugin.then(|| {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            naming::decode_id(name).map_or_else(|| name.to_string(), |id| lossy(&id))
        });
        // Another platform's sandbox (<app>@<platform>) says which, with that platform's quota.
        let (platform, _) = Platform::of_dir_name(app_dir.file_name().and_then(|n| n.to_str()).unwrap_or(""));
        let state = state_in(&locks, dir);
        let mut row = json!({
            "user": user, "app": app, "platform": platform.name(), "plugin": plugin,
            "dir": wxfs::events::relative(root, dir), "state": state,
            "userBytes": null, "userLimit": platform.default_limits().user_files, "tempBytes": null,
            "storageBytes": storage_bytes(dir), "interruptedWrites": null,
        });
        match journal_figures(dir) {
            Ok((usage, pending)) => {
                row["userBytes"] = json!(usage.user);
                row["tempBytes"] = json!(usage.temp);
                row["interruptedWrites"] = json!(pending);
            }
            Err(why) => row["journalProblem"] = json!(why),
        }
        rows.push(row);
    }
    if as_json {
        return print_json(&json!({"sandboxes": rows, "count": sites.len()}));
    }
    println!("{:<24} {:<20} {:<16} {:>22} {:>12} {:>12}  state", "user", "app", "plugin", "user+saved files", "temp", "storage");
    for r in &rows {
        let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let num = |k: &str| r[k].as_u64().unwrap_or(0);
        let app = match text("platform").as_str() {
            "wechat" => text("app"),
            p => format!("{}@{p}", text("app")),
        };
        let plugin = r["plugin"].as_str().unwrap_or("-").to_string();
        let (user, state) = (text("user"), text("state"));
        match r.get("journalProblem").and_then(|w| w.as_str()) {
            None => println!(
                "{user:<24} {app:<20} {plugin:<16} {:>10} / {:<9} {:>12} {:>12}  {state}{}",
                mib(num("userBytes")),
                mib(num("userLimit")).trim_end_matches(".0 MiB").to_string() + " MiB",
                mib(num("tempBytes")),
                format!("log {}", mib(num("storageBytes"))),
                unsettled(&state, num("interruptedWrites") as usize)
            ),
            Some(why) => {
                println!(
                    "{user:<24} {app:<20} {plugin:<16} {:>22} {:>12} {:>12}  {state} ({why})",
                    "?",
                    "?",
                    mib(num("storageBytes"))
                )
            }
        }
    }
    println!("{} sandboxes", rows.len());
    Ok(())
}

/// One entry of a sandbox listing: virtual path, size (None for a directory), modification time.
type Entry = (String, Option<u64>, Option<std::time::SystemTime>);

fn walk_area(dir: &Path, prefix: &str, deep: bool, out: &mut Vec<Entry>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(meta) = e.path().symlink_metadata() else { continue };
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if meta.is_dir() && deep {
            out.push((format!("{name}/"), None, meta.modified().ok()));
            walk_area(&e.path(), &format!("{name}/"), deep, out);
        } else {
            out.push((name, Some(meta.len()), meta.modified().ok()));
        }
    }
}

fn walk(dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    walk_area(&dir.join(sandbox::USR), "wxfile://usr/", true, &mut out);
    walk_area(&dir.join(sandbox::STORE), "wxfile://store_", false, &mut out);
    walk_area(&dir.join(sandbox::TMP), "wxfile://tmp_", false, &mut out);
    out
}

/// A listing that no change interleaved with: the journal and the files were the same on two
/// consecutive walks. Every file is itself whole (replacing writes are renames); this makes the
/// set of files one state too. After `ATTEMPTS` changed walks, the last one, flagged.
fn snapshot(dir: &Path) -> (Result<(wxfs::quota::Usage, usize), String>, Vec<Entry>, bool) {
    const ATTEMPTS: usize = 5;
    let read_journal = || std::fs::read(dir.join(journal::Journal::FILE)).ok();
    let mut last = Vec::new();
    for _ in 0..ATTEMPTS {
        let before = read_journal();
        let first = walk(dir);
        let second = walk(dir);
        let stable = first == second && read_journal() == before;
        last = second;
        if stable {
            return (journal_figures(dir), last, true);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (journal_figures(dir), last, false)
}

pub fn ls_sandbox(cfg: &Config, as_json: bool) -> Result<(), String> {
    let dir = existing_sandbox(cfg)?;
    let (root, user, app) = (cfg.root.as_path(), cfg.user_id.as_str(), cfg.app_id.as_str());
    let (figures, entries, stable) = snapshot(&dir);
    let state = state(&dir);
    let (mut files, mut user_bytes, mut temp_bytes) = (0u64, 0u64, 0u64);
    for (path, size, _) in &entries {
        if let Some(n) = size {
            files += 1;
            if path.starts_with("wxfile://tmp_") {
                temp_bytes += n;
            } else {
                user_bytes += n;
            }
        }
    }
    if !stable {
        eprintln!("wxfs: the sandbox changed during every listing; this one may mix two states");
    }
    let rel = wxfs::events::relative(root, &dir);
    if as_json {
        let journal = match &figures {
            Ok((usage, pending)) => json!({
                "userBytes": usage.user, "userLimit": cfg.limits.user_files, "tempBytes": usage.temp, "interruptedWrites": pending,
            }),
            Err(why) => json!({"problem": why}),
        };
        let listed: Vec<_> = entries.iter().map(|(path, size, _)| json!({"path": path, "size": size})).collect();
        return print_json(&json!({
            "sandbox": rel, "user": user, "app": app, "platform": cfg.platform.name(), "plugin": cfg.plugin_id,
            "state": state, "journal": journal, "entries": listed,
            "files": {"count": files, "userBytes": user_bytes, "tempBytes": temp_bytes}, "stable": stable,
        }));
    }
    let mut named = format!("user {user:?}, app {app:?}");
    if cfg.platform != Platform::default() {
        named += &format!(", platform {:?}", cfg.platform.name());
    }
    if let Some(p) = &cfg.plugin_id {
        named += &format!(", plugin {p:?}");
    }
    println!("sandbox {rel} ({named}): {state}");
    match figures {
        Ok((usage, pending)) => println!(
            "quota journal: {} bytes of user and saved files (default limit {}), {} bytes of temp files{}",
            usage.user,
            cfg.limits.user_files,
            usage.temp,
            unsettled(state, pending)
        ),
        Err(why) => println!("quota journal: {why} (the next open rebuilds it from the files)"),
    }
    for (path, size, _) in &entries {
        match size {
            Some(n) => println!("{path:<60} {n:>12}"),
            None => println!("{path:<60} {:>12}", "-"),
        }
    }
    println!("{files} files: {user_bytes} bytes of user and saved files, {temp_bytes} bytes of temp files");
    Ok(())
}

/// A directory removed when dropped.
pub struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sandbox's store as of one instant, without its lock and without changing it: the storage
/// directory's files are each read in one go (the log is append-only and replaced only by a
/// rename, so one read is a state it was in) into a scratch directory, and the copy is opened.
/// The copy's open report says what the next real open would repair.
fn storage_snapshot(dir: &Path) -> Result<(wxfs::storage::Store, wxfs::storage::LogReport, ScratchDir), String> {
    open_copy(&read_kv_files(dir, u64::MAX)?)
}

/// The regular files of the sandbox's storage directory (symbolic links are not followed), each
/// read in one go; at most `max_bytes` together.
pub fn read_kv_files(dir: &Path, max_bytes: u64) -> Result<Vec<(std::ffi::OsString, Vec<u8>)>, String> {
    let kv = dir.join(sandbox::KV);
    let mut files = Vec::new();
    let mut total = 0u64;
    for e in std::fs::read_dir(&kv).map_err(|e| format!("{}: {e}", kv.display()))?.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        total = total.saturating_add(e.metadata().map_or(0, |m| m.len()));
        if total > max_bytes {
            return Err(format!("{}: more than {max_bytes} bytes of storage files", kv.display()));
        }
        match std::fs::read(e.path()) {
            Ok(bytes) => files.push((e.file_name(), bytes)),
            // Replaced or removed since the listing (a compaction finishing): skip it.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(format!("{}: {err}", e.path().display())),
        }
    }
    Ok(files)
}

/// Writes `files` into a new scratch directory (outside the root) and opens them as a store.
pub fn open_copy(
    files: &[(std::ffi::OsString, Vec<u8>)],
) -> Result<(wxfs::storage::Store, wxfs::storage::LogReport, ScratchDir), String> {
    let mut name = [0u8; 8];
    getrandom::getrandom(&mut name).map_err(|e| e.to_string())?;
    let scratch = ScratchDir(std::env::temp_dir().join(format!("wxfs-storage-{}-{}", std::process::id(), hex::encode(name))));
    let copy = scratch.0.join(sandbox::KV);
    std::fs::create_dir_all(&copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    for (name, bytes) in files {
        std::fs::write(copy.join(name), bytes).map_err(|e| e.to_string())?;
    }
    let (store, report) =
        wxfs::storage::Store::open(&copy, wxfs::storage::Durability::Process).map_err(|e| format!("storage: {e}"))?;
    Ok((store, report, scratch))
}

/// What the next real open would repair in the storage log, in words.
fn storage_notes(report: &wxfs::storage::LogReport) -> Vec<String> {
    let mut notes = Vec::new();
    if report.truncated_bytes > 0 {
        notes
            .push(format!("the storage log ends in {} bytes of a torn record (the next open cuts them)", report.truncated_bytes));
    }
    if report.corrupt_moved_to.is_some() {
        notes.push("the storage log's header is not recognised (the next open sets it aside and starts empty)".into());
    }
    notes
}

/// One item as `storage get` prints it: key, data (as JSON when it is JSON text), dataType.
fn item_json(key: &str, v: &wxfs::storage::Value) -> serde_json::Value {
    let data: serde_json::Value = serde_json::from_str(&v.data).unwrap_or_else(|_| json!(v.data));
    let mut shown = json!({"key": key, "data": data});
    if let Some(t) = &v.data_type {
        shown["dataType"] = json!(t);
    }
    shown
}

pub fn storage_list(cfg: &Config, as_json: bool) -> Result<(), String> {
    let dir = existing_sandbox(cfg)?;
    let (store, report, _scratch) = storage_snapshot(&dir)?;
    let keys = store.keys();
    // Encrypted items (`encrypt: true`) are counted, never shown: their names and values are sealed.
    let sealed = keys.iter().filter(|k| k.starts_with(wxfs::storage::sealed::PREFIX)).count();
    let shown: Vec<(String, wxfs::storage::Value)> = keys
        .iter()
        .filter(|k| !k.starts_with(wxfs::storage::sealed::PREFIX))
        .filter_map(|k| Some((k.clone(), store.get(k)?)))
        .collect();
    let limit = cfg.limits.storage_total;
    if as_json {
        return print_json(&json!({
            "keys": keys.len(), "encrypted": sealed, "bytes": store.size(), "limit": limit,
            "items": shown.iter().map(|(k, v)| item_json(k, v)).collect::<Vec<_>>(),
            "notes": storage_notes(&report),
        }));
    }
    println!(
        "{} keys{}, {} bytes of keys, data and dataTypes (default limit {limit})",
        keys.len(),
        if sealed > 0 { format!(" ({sealed} encrypted, not shown)") } else { String::new() },
        store.size(),
    );
    for (key, v) in &shown {
        let start: String = v.data.chars().take(80).collect();
        println!("{key:<32} {start}{}", if start.len() < v.data.len() { "..." } else { "" });
    }
    for note in storage_notes(&report) {
        println!("note: {note}");
    }
    Ok(())
}

/// One key's item as JSON on stdout (what the next open would repair goes to stderr, so stdout
/// stays one JSON document, the shape of an item of `storage --json`).
pub fn storage_get(cfg: &Config, key: &str) -> Result<(), String> {
    let dir = existing_sandbox(cfg)?;
    let (store, report, _scratch) = storage_snapshot(&dir)?;
    for note in storage_notes(&report) {
        eprintln!("wxfs: note: {note}");
    }
    let v =
        store.get(key).ok_or_else(|| format!("no key {key:?} in the storage of {}", wxfs::events::relative(&cfg.root, &dir)))?;
    print_json(&item_json(key, &v))
}

pub fn invoke(cfg: &Config, api: &str, args: &str, create: bool) -> Result<(), String> {
    if !create {
        existing_sandbox(cfg).map_err(|e| format!("{e}; pass --create to create it"))?;
    }
    let s: Arc<Session> = Session::open(cfg.clone()).map_err(|e| match e {
        sandbox::OpenError::Busy(_) => format!(
            "{e}\n`wxfs invoke` runs the api in this process, so it needs the sandbox to itself: close the \
             mini-program first. To look while it runs: `wxfs ls {root} {user} {app}{flags}` (files and quota) and \
             `wxfs storage {root} {user} {app}{flags}` (storage).",
            root = cfg.root.display(),
            user = cfg.user_id,
            app = cfg.app_id,
            flags = target_flags(cfg),
        ),
        e => e.to_string(),
    })?;
    let (code, result) = bridge::invoke(&s, api, args);
    print_json(&result)?;
    if code == 0 {
        Ok(())
    } else {
        Err(format!("{api} returned {code}"))
    }
}
