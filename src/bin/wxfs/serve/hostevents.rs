//! The events host processes heard about their sandboxes, for the Events view: each sandbox keeps
//! its recent warnings and errors in its own record (`wxfs::sandbox::eventlog`, docs/design.md
//! §6), which this reads as it reads storage, without the lock and writing nothing. While the page
//! is open (it asked for events within [`LISTENING`]) the records are looked at every [`EVERY`],
//! and those not seen before join the view; a sandbox whose files have not changed costs two
//! `stat`s. Records this inspector made itself are not taken again: its own sink heard them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wxfs::sandbox::eventlog::{self, Record};

use super::sandboxes;
use super::EventLog;

/// How often the records are looked at while the page listens.
pub const EVERY: Duration = Duration::from_millis(250);
/// How long after its last request for events the page counts as listening.
pub const LISTENING: Duration = Duration::from_secs(30);

/// What identifies one of a sandbox's two files as unchanged: length, mtime, inode.
type Stamp = [Option<(u64, std::time::SystemTime, u64)>; 2];

/// A record's identity: the process, its serial there, and the time.
type Key = (u32, u64, u64);

/// What was seen of one sandbox: its files' stamp, and the last record read from them (records
/// are appended in order, so the new ones are those after it; a few bytes a sandbox, however
/// many records).
struct Seen {
    stamp: Stamp,
    last: Option<Key>,
}

/// The records seen so far, per sandbox, and when the page last asked.
pub struct HostEvents {
    seen: Mutex<HashMap<PathBuf, Seen>>,
    started: Instant,
    /// Milliseconds after `started` of the page's last request for events (0: none yet).
    asked: AtomicU64,
}

fn stamp(dir: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    [eventlog::EVENTS_OLD, eventlog::EVENTS].map(|name| {
        let m = dir.join(name).symlink_metadata().ok().filter(|m| m.is_file())?;
        Some((m.len(), m.modified().ok()?, m.ino()))
    })
}

impl HostEvents {
    pub fn new() -> HostEvents {
        HostEvents { seen: Mutex::new(HashMap::new()), started: Instant::now(), asked: AtomicU64::new(0) }
    }

    /// The page asked for events now.
    pub fn asked(&self) {
        self.asked.store(self.started.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
    }

    fn listening(&self) -> bool {
        let at = self.asked.load(Ordering::Relaxed);
        at > 0 && self.started.elapsed().as_millis() as u64 <= at + LISTENING.as_millis() as u64
    }

    /// Reads the records of every sandbox under `root` whose files changed, and adds the new
    /// ones (of other processes) to `log`, oldest first. Returns how many were added.
    pub fn scan(&self, root: &Path, log: &EventLog) -> usize {
        let Ok(list) = sandboxes::list(root) else { return 0 };
        let own = std::process::id();
        let mut seen = self.seen.lock().unwrap();
        // The newest EVENTS_KEPT at most: the view keeps no more.
        let mut fresh: Vec<(String, Record)> = Vec::new();
        let order = |(_, r): &(String, Record)| (r.time_ms, r.pid, r.serial);
        let listed: HashSet<&PathBuf> = list.iter().map(|s| &s.dir).collect();
        seen.retain(|dir, _| listed.contains(dir));
        for sb in &list {
            let now = stamp(&sb.dir);
            if seen.get(&sb.dir).is_some_and(|s| s.stamp == now) {
                continue;
            }
            let mut records = eventlog::read(&sb.dir).records;
            let entry = seen.entry(sb.dir.clone()).or_insert(Seen { stamp: [None, None], last: None });
            let key = |r: &Record| (r.pid, r.serial, r.time_ms);
            let last = records.last().map(key);
            // After the last one seen; all of them if it has rotated out since.
            let start = entry.last.and_then(|k| records.iter().position(|r| key(r) == k)).map_or(0, |i| i + 1);
            fresh.extend(records.drain(start..).filter(|r| r.pid != own).map(|r| (sb.id.clone(), r)));
            *entry = Seen { stamp: now, last };
            if fresh.len() > 2 * super::EVENTS_KEPT {
                fresh.sort_by_key(order);
                fresh.drain(..fresh.len() - super::EVENTS_KEPT);
            }
        }
        drop(seen);
        fresh.sort_by_key(order);
        for (id, r) in &fresh {
            let level = if r.level == 1 { "error" } else { "warn" };
            log.push_at(r.time_ms, &format!("process {}", r.pid), level, id, &r.message);
        }
        fresh.len()
    }

    /// Looks at the records now (what they hold already is the view's history), then every
    /// [`EVERY`] while the page listens, on a thread of its own.
    pub fn watch(self: Arc<Self>, root: PathBuf, log: Arc<EventLog>) {
        self.scan(&root, &log);
        std::thread::Builder::new()
            .name("wxfs-serve-events".into())
            .spawn(move || loop {
                std::thread::sleep(EVERY);
                if self.listening() {
                    self.scan(&root, &log);
                }
            })
            .expect("a thread for the events of host processes");
    }
}
