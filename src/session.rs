//! One open (user, app): its sandbox, file system and store, shared by every handle that opened it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use crate::fs::{Durability, FileSystem};
use crate::platform::Platform;
use crate::quota::Limits;
use crate::sandbox::{OpenError, Protocol, Sandbox};
use crate::storage::{self, Store};

#[derive(Clone, Debug)]
pub struct Config {
    pub root: PathBuf,
    pub app_id: String,
    pub user_id: String,
    pub package_dir: Option<PathBuf>,
    pub protocol: Protocol,
    pub durability: Durability,
    pub limits: Limits,
    /// Whose mini-programs: path protocol, result envelope, errors, limits (docs/platforms/).
    pub platform: Platform,
}

impl Config {
    pub fn new(root: impl Into<PathBuf>, user_id: &str, app_id: &str) -> Config {
        Config {
            root: root.into(),
            app_id: app_id.to_string(),
            user_id: user_id.to_string(),
            package_dir: None,
            protocol: Protocol::Wxfile,
            durability: Durability::Process,
            limits: Limits::default(),
            platform: Platform::Wechat,
        }
    }

    /// Where this config's sandbox lives: `<root>/<user>/<app>`, `@<platform>` appended to the
    /// app's name for every platform but WeChat (`Platform::dir_suffix`).
    pub fn sandbox_dir(&self) -> PathBuf {
        crate::platform::sandbox_dir(&self.root, &self.user_id, &self.app_id, self.platform)
    }

    /// This config for `platform`, with that platform's path protocol and default limits (what
    /// `"platform"` in the JSON config does; set `limits` afterwards to override).
    pub fn with_platform(mut self, platform: Platform) -> Config {
        self.platform = platform;
        self.protocol = platform.protocol();
        self.limits = platform.default_limits();
        self
    }
}

pub struct Session {
    /// The sandbox directory: the key of this session in `OPEN`.
    dir: PathBuf,
    pub config: Config,
    pub sandbox: Arc<Sandbox>,
    pub fs: FileSystem,
    pub store: Store,
}

/// Sandboxes open in this process, by directory: a second open shares the first (DESIGN.md §6).
static OPEN: Lazy<Mutex<HashMap<PathBuf, Weak<Session>>>> = Lazy::new(|| Mutex::new(HashMap::new()));

impl Session {
    pub fn open(config: Config) -> Result<Arc<Session>, OpenError> {
        let dir = config.sandbox_dir();
        let mut open = OPEN.lock();
        while let Some(w) = open.get(&dir) {
            match w.upgrade() {
                Some(existing) => return Ok(existing),
                // Its last handle is being closed on another thread: wait until it is gone.
                None => {
                    drop(open);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    open = OPEN.lock();
                }
            }
        }
        if config.user_id.is_empty() || config.app_id.is_empty() {
            return Err(OpenError::Invalid("userId and appId must not be empty".into()));
        }
        let sandbox = Arc::new(Sandbox::open_in(&dir, config.package_dir.as_deref())?);
        let fs = FileSystem::new(sandbox.clone(), config.protocol, config.limits, config.durability)?;
        let durability = match config.durability {
            Durability::Process => storage::Durability::Process,
            Durability::Power => storage::Durability::Power,
        };
        let (store, store_report) = Store::open(&sandbox.kv_dir(), durability)?;
        sandbox.touch_last_use();
        let session = Arc::new(Session { dir: dir.clone(), config, sandbox, fs, store });
        open.insert(dir, Arc::downgrade(&session));
        drop(open); // the host's log sink may open sandboxes itself
        crate::events::opened(&session.config.root, &session.sandbox, session.fs.open_report(), &store_report);
        Ok(session)
    }

    pub fn storage_limits(&self, encrypt: bool) -> storage::Limits {
        let l = &self.config.limits;
        if encrypt {
            // WeChat: encrypted values grow ~1.4x, so the limits become 0.7 MiB / 7.1 MiB.
            storage::Limits { item: l.storage_item * 7 / 10, total: l.storage_total * 71 / 100 }
        } else {
            storage::Limits { item: l.storage_item, total: l.storage_total }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Temp files kept after the mini-program exits are trimmed, least recently used first.
        let trimmed = self.fs.trim_temp(self.config.limits.temp_keep);
        self.sandbox.touch_last_use();
        // A clean close leaves a checkpoint, so the next open replays nothing.
        let _ = self.fs.checkpoint();
        let _ = self.store.sync();
        // Release the process lock before leaving `OPEN`: an open waiting on this session may
        // take the sandbox the moment the entry is gone.
        self.sandbox.unlock();
        let mut open = OPEN.lock();
        if open.get(&self.dir).is_some_and(|w| w.strong_count() == 0) {
            open.remove(&self.dir);
        }
        drop(open);
        // Last, when the host's log sink could reopen this sandbox without waiting on this close.
        if let Ok(freed @ 1..) = trimmed {
            crate::events::trimmed(&self.config.root, &self.dir, freed, "at close, least recently used first");
        }
    }
}

/// What `gc` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Temp bytes of all sandboxes under the root before and after.
    pub before: u64,
    pub after: u64,
    /// Sandboxes whose temp area was cleared, in the order they were.
    pub trimmed: Vec<PathBuf>,
    /// Sandboxes skipped because they are open (here or in another process).
    pub busy: Vec<PathBuf>,
}

/// Trim the temp areas of all sandboxes under `root` to at most `limit` bytes together, least
/// recently used sandbox first (DESIGN.md §4). Open sandboxes are in use and are skipped.
/// `progress(done, total)` is called as sandboxes are measured.
pub fn gc(root: &std::path::Path, limit: u64, mut progress: impl FnMut(usize, usize)) -> std::io::Result<GcReport> {
    use crate::quota::cleanup::{lru_victims, Candidate};
    let dirs = crate::sandbox::list(root)?;
    let mut report = GcReport::default();
    let mut items = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        progress(i + 1, dirs.len());
        let temp = crate::quota::measure_flat(&dir.join(crate::sandbox::TMP));
        report.before += temp;
        let t = Sandbox::last_use(dir).duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        items.push(Candidate { key: dir.clone(), size: temp, last_use: (t.as_secs() as i64, t.subsec_nanos() as i64) });
    }
    let mut left = report.before;
    // Every sandbox in least-recently-used order (not just the few that would suffice if all
    // were closed): an open one is skipped and the next one trimmed in its place.
    for victim in lru_victims(items, report.before, 0) {
        if left <= limit {
            break;
        }
        if victim.size == 0 {
            continue;
        }
        let sandbox = match Sandbox::open_dir(&victim.key) {
            Ok(s) => Arc::new(s),
            Err(OpenError::Busy(_)) => {
                report.busy.push(victim.key);
                continue;
            }
            Err(OpenError::Io(e)) => return Err(e),
            Err(OpenError::Invalid(e)) => return Err(std::io::Error::other(e)),
        };
        // Through the sandbox's own journal, so its usage stays exact.
        let fs = FileSystem::new(sandbox, Protocol::Wxfile, Limits::default(), Durability::Process)?;
        let freed = fs.trim_temp(0)?;
        fs.checkpoint()?;
        drop(fs); // unlocked first: the host's log sink may open this sandbox
        crate::events::trimmed(root, &victim.key, freed, "by gc, least recently used sandbox first");
        left = left.saturating_sub(freed);
        report.trimmed.push(victim.key);
    }
    report.after = left;
    Ok(report)
}

/// Delete everything of one (user, app): the user deleted the mini-program. Fails with
/// `OpenError::Busy` while the sandbox is open anywhere.
pub fn remove_sandbox(root: &std::path::Path, user_id: &str, app_id: &str) -> Result<bool, OpenError> {
    remove_sandbox_dir(&crate::sandbox::sandbox_dir(root, user_id.as_bytes(), app_id.as_bytes()))
}

/// `remove_sandbox` for the sandbox a config names (its platform included).
pub fn remove_sandbox_of(config: &Config) -> Result<bool, OpenError> {
    remove_sandbox_dir(&config.sandbox_dir())
}

fn remove_sandbox_dir(dir: &std::path::Path) -> Result<bool, OpenError> {
    let dir = dir.to_path_buf();
    if !dir.join(crate::sandbox::LOCK).exists() {
        return Ok(false);
    }
    let _held = Sandbox::open_dir(&dir)?;
    std::fs::remove_dir_all(&dir)?;
    if let Some(user_dir) = dir.parent() {
        let _ = std::fs::remove_dir(user_dir); // only if no other app of this user is left
    }
    Ok(true)
}
