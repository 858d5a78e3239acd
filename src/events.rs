//! What the host must hear about: every recovery a sandbox goes through when it opens, and every
//! byte the library drops or moves on its own (a torn tail cut, a damaged log moved aside, the
//! temp area trimmed).
//!
//! Each event goes to the [`log`] facade (target `"wxfs"`, message `"<sandbox>: <text>"`), where a
//! Rust host's logger picks it up, and to the one [`Sink`] installed with [`set_sink`] (the C ABI's
//! `wxfs_log_set` installs one). `sandbox` is the sandbox directory relative to the root,
//! `<user-dir>/<app-dir>`, and every path in a message is relative to the root too: a log line
//! never reveals the host's directories.
//!
//! Recovery events are emitted after the sandbox is open and no library lock is held, so a sink
//! may call back into the library (except [`set_sink`] itself, which then fails).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! let heard = Arc::new(Mutex::new(Vec::new()));
//! let sink = heard.clone();
//! wxfs::events::set_sink(Some(Box::new(move |e: &wxfs::events::Event| {
//!     sink.lock().unwrap().push(format!("{:?} {}: {}", e.level, e.sandbox, e.message));
//! })))
//! .unwrap();
//! let root = std::env::temp_dir().join(format!("wxfs-events-doc-{}", std::process::id()));
//! drop(wxfs::Session::open(wxfs::Config::new(&root, "u1", "wx1")).unwrap());
//! wxfs::events::set_sink(None).unwrap();
//! assert_eq!(*heard.lock().unwrap(), ["Debug u1/wx1: sandbox created"]);
//! # std::fs::remove_dir_all(&root).unwrap();
//! ```

use std::cell::Cell;
use std::path::Path;

use parking_lot::RwLock;

use crate::fs;
use crate::sandbox::eventlog::Recorder;
use crate::storage;

/// How much an event matters; the numbers are the C ABI's `WXFS_LOG_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Data the mini-program had acknowledged is gone or set aside (a store started empty).
    Error = 1,
    /// A recovery: the library repaired what a crash or an outside change left behind.
    Warn = 2,
    /// Bytes removed by policy (temp files trimmed at close or by gc).
    Info = 3,
    /// Routine facts (a sandbox created, a log compacted at open).
    Debug = 4,
}

impl Level {
    fn to_log(self) -> log::Level {
        match self {
            Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
        }
    }
}

/// One event, borrowed for the duration of the sink call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// How much it matters.
    pub level: Level,
    /// `<user-dir>/<app-dir>` relative to the root; empty for an event about no one sandbox.
    pub sandbox: &'a str,
    /// What happened, with counts and root-relative paths.
    pub message: &'a str,
}

/// Receives every event, from whichever thread produced it.
pub type Sink = Box<dyn Fn(&Event) + Send + Sync>;

/// Readers are emitters (any number at once, recursively); the writer is `set_sink`, which
/// therefore returns only once no emitter is still inside the sink it replaces.
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

thread_local! {
    /// How many sink calls this thread is inside: `set_sink` from within one would wait on itself.
    static IN_SINK: Cell<u32> = const { Cell::new(0) };
}

/// `set_sink` was called from inside the sink, where it would wait for itself forever.
#[derive(Debug, PartialEq, Eq)]
pub struct Reentrant;

/// Install `sink` (or none) in place of the current one. When this returns, the previous sink is
/// no longer running on any thread and will never be called again, so whatever it refers to may
/// be released.
pub fn set_sink(sink: Option<Sink>) -> Result<(), Reentrant> {
    if IN_SINK.with(Cell::get) > 0 {
        return Err(Reentrant);
    }
    let old = std::mem::replace(&mut *SINK.write(), sink);
    drop(old);
    Ok(())
}

/// Report one event to the log facade and the sink.
pub fn emit(level: Level, sandbox: &str, message: &str) {
    if sandbox.is_empty() {
        log::log!(target: "wxfs", level.to_log(), "{message}");
    } else {
        log::log!(target: "wxfs", level.to_log(), "{sandbox}: {message}");
    }
    // Recursive: a sink that opens a sandbox emits from inside itself, and a plain read would
    // deadlock behind a writer queued in between.
    let guard = SINK.read_recursive();
    if let Some(sink) = guard.as_ref() {
        IN_SINK.with(|d| d.set(d.get() + 1));
        // A sink that unwinds must not leave this thread marked as inside it.
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                IN_SINK.with(|d| d.set(d.get() - 1));
            }
        }
        let _leave = Leave;
        sink(&Event { level, sandbox, message });
    }
}

/// [`emit`], kept first in the sandbox's own record (`sandbox::eventlog`) when it is a WARN or an
/// ERROR, so that a tool reading the sandbox from another process sees what the host heard.
pub fn emit_recorded(level: Level, sandbox: &str, message: &str, record: &Recorder) {
    record.record(level as u8, message);
    emit(level, sandbox, message);
}

/// `dir` relative to `root`, with `/` separators: how events name a sandbox or a file.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// What a sandbox's open found and repaired, as events: the reports of the sandbox layer, the
/// quota journal (`fs`) and the storage log, in that order; those at WARN and above are kept in
/// the sandbox's record too (`record`).
pub fn opened(
    root: &Path,
    sandbox: &crate::sandbox::Sandbox,
    fs: &fs::OpenReport,
    store: &storage::LogReport,
    record: &Recorder,
) {
    let name = relative(root, sandbox.dir());
    let emit = |level: Level, name: &str, message: &str| emit_recorded(level, name, message, record);
    let at = |file: &str| format!("{name}/{file}");
    if sandbox.created() {
        emit(Level::Debug, &name, "sandbox created");
    }
    let (count, bytes) = fs.staging_removed;
    if count > 0 {
        emit(
            Level::Warn,
            &name,
            &format!("{}: {count} file(s) of interrupted writes removed ({bytes} bytes)", at(crate::sandbox::STAGING)),
        );
    }
    for (target, placed) in &fs.unzips_completed {
        emit(
            Level::Warn,
            &name,
            &format!(
                "{}: unzip interrupted by a crash completed ({placed} files placed)",
                at(&format!("{}/{target}", crate::sandbox::USR))
            ),
        );
    }
    let journal = at(crate::quota::journal::Journal::FILE);
    match &fs.rebuilt {
        // A new sandbox has no journal to lose: that is its creation, not a recovery.
        Some(_) if sandbox.created() => {}
        // An earlier release's journal format upgraded is routine, not a repair.
        // So is the recount after a restart in process durability (docs/design.md §5).
        Some(why) if why.starts_with("quota journal format ") || why.starts_with("quota recounted ") => {
            emit(Level::Info, &name, &format!("{journal}: {why}"))
        }
        Some(why) => emit(Level::Warn, &name, &format!("{journal}: {why}; usage rebuilt from the files")),
        None => {}
    }
    if fs.truncated > 0 {
        emit(Level::Warn, &name, &format!("{journal}: torn tail of {} bytes cut", fs.truncated));
    }
    if fs.settled > 0 {
        emit(
            Level::Warn,
            &name,
            &format!("{journal}: {} write(s) interrupted by a crash settled from the files' sizes", fs.settled),
        );
    }
    // Appends happen only in usr, the one area a mini-program writes (docs/design.md §3).
    for (rel, cut) in &fs.rolled_back {
        emit(
            Level::Warn,
            &name,
            &format!("{}: torn append rolled back, {cut} bytes cut", at(&format!("{}/{rel}", crate::sandbox::USR))),
        );
    }
    // The storage directory, not a file in it: the engine's file names are its own.
    let log = at(crate::sandbox::KV);
    if store.truncated_bytes > 0 {
        emit(
            Level::Warn,
            &name,
            &format!(
                "{log}: storage log: {} bytes after the last whole record cut ({} records kept)",
                store.truncated_bytes, store.records
            ),
        );
    }
    if let Some(d) = &store.damaged {
        let kept = match &d.kept {
            Ok(path) => format!("{} bytes kept as {}", d.bytes, relative(root, path)),
            Err(why) => format!("{} damaged bytes could not be kept aside ({why}), the log keeps them", d.bytes),
        };
        emit(
            Level::Error,
            &name,
            &format!(
                "{log}: storage log damaged in the middle: {} record(s) lost, {} whole record(s) after the damage recovered, {kept}",
                d.records_lost, d.records_after
            ),
        );
    }
    if let Some(moved) = &store.corrupt_moved_to {
        let size = std::fs::metadata(moved).map(|m| m.len()).unwrap_or(0);
        emit(
            Level::Error,
            &name,
            &format!(
                "{log}: storage log header not recognised; storage starts empty, the old log ({size} bytes) is kept as {}",
                relative(root, moved)
            ),
        );
    }
    if let Some(from) = store.upgraded_from {
        emit(Level::Info, &name, &format!("{log}: storage log upgraded from format {from}"));
    }
    if store.compacted {
        emit(Level::Debug, &name, &format!("{log}: storage log compacted at open"));
    }
}

/// Temp files removed by policy: `freed` bytes of the sandbox at `dir`, `how` says by what.
pub fn trimmed(root: &Path, dir: &Path, freed: u64, how: &str) {
    let name = relative(root, dir);
    emit(Level::Info, &name, &format!("{name}/{}: {freed} bytes of temp files removed {how}", crate::sandbox::TMP));
}

/// A removal renamed a sandbox away but could not delete all of it (the sandbox is gone all the
/// same; the next gc, or open beside it, deletes the rest).
pub fn tombstone_left(root: &Path, tomb: &Path, why: &std::io::Error) {
    let name = relative(root, tomb);
    emit(Level::Warn, "", &format!("{name}: removed sandbox not deleted whole ({why}); the next gc deletes the rest"));
}

/// The sink is process-wide: unit tests that install one take turns.
#[cfg(test)]
pub(crate) static SINK_TURN: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use std::sync::Arc;

    #[test]
    fn a_sink_receives_events_and_may_not_replace_itself() {
        let _turn = SINK_TURN.lock();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        set_sink(Some(Box::new(move |e: &Event| {
            seen.lock().push((e.level, e.sandbox.to_string(), e.message.to_string()));
            // From inside the sink, replacing it would wait on this very call.
            assert_eq!(set_sink(None), Err(Reentrant));
        })))
        .unwrap();
        emit(Level::Warn, "u1/wx1", "something recovered");
        emit(Level::Info, "", "about no sandbox");
        set_sink(None).unwrap();
        emit(Level::Error, "u1/wx1", "after removal");
        assert_eq!(
            *got.lock(),
            vec![
                (Level::Warn, "u1/wx1".to_string(), "something recovered".to_string()),
                (Level::Info, String::new(), "about no sandbox".to_string()),
            ]
        );
    }

    #[test]
    fn paths_are_named_relative_to_the_root() {
        assert_eq!(relative(Path::new("/data/wxfs"), Path::new("/data/wxfs/u1/wx1/kv/data.log")), "u1/wx1/kv/data.log");
    }
}
