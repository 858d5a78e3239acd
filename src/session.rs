//! One open (user, app): its sandbox, file system and store, shared by every handle that opened it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use std::sync::{Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;

use crate::error::{code, Error};
use crate::fs::{Durability, FileSystem};
use crate::platform::Platform;
use crate::quota::Limits;
use crate::sandbox::eventlog::{self, Recorder};
use crate::sandbox::{OpenError, Protocol, Sandbox, Site};
use crate::storage::buffer_urls::{BufferUrls, Refused};
use crate::storage::sealed::{EncryptionKey, Owner, Sealed};
use crate::storage::{self, Store, StoreError};

/// How to open one sandbox: where, whose, and with which limits.
///
/// Build one with [`Config::new`] and change the fields that differ from the defaults.
///
/// # Examples
///
/// ```
/// use wxfs::quota::{Limits, MIB};
/// use wxfs::{bridge, Config, Session};
///
/// let root = std::env::temp_dir().join(format!("wxfs-doc-config-{}", std::process::id()));
/// let mut config = Config::new(&root, "user-1", "wx1234567890");
/// config.limits = Limits { user_files: MIB, ..Limits::default() };
/// let session = Session::open(config).unwrap();
///
/// // A write beyond the 1 MiB user-file quota fails with WeChat's storage-limit error.
/// let big = "x".repeat(2 * MIB as usize);
/// let args = serde_json::json!({"filePath": "wxfile://usr/big.txt", "data": big}).to_string();
/// let (status, result) = bridge::invoke(&session, "writeFileSync", &args);
/// assert_eq!(status, 1_300_202);
/// assert_eq!(result["errMsg"], "writeFileSync:fail the maximum size of the file storage limit is exceeded");
/// # drop(session);
/// # std::fs::remove_dir_all(&root).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// The directory that holds every sandbox (created if missing).
    pub root: PathBuf,
    /// The mini-program's appId (any non-empty string).
    pub app_id: String,
    /// The user's id (any non-empty string).
    pub user_id: String,
    /// The unpacked code package, readable by relative paths; `None` for none.
    pub package_dir: Option<PathBuf>,
    /// The path protocol: `wxfile://` (default) or `http://` (devtools).
    pub protocol: Protocol,
    /// Whether a completed write survives a process kill (default) or also a power cut.
    pub durability: Durability,
    /// Quotas of the sandbox (docs/design.md §4); [`Limits::default`] is WeChat's.
    pub limits: Limits,
    /// `encryptionKey`: what `setStorage`/`getStorage` with `encrypt: true` use.
    pub encryption_key: Option<EncryptionKey>,
    /// `pluginId`: the sandbox of this plugin inside the app's (its own storage and file areas).
    pub plugin_id: Option<String>,
    /// Whose mini-programs: path protocol, result envelope, errors, limits (docs/platforms/).
    pub platform: Platform,
}

impl Config {
    /// The sandbox of (`user_id`, `app_id`) under `root`, with the default protocol,
    /// durability and limits.
    pub fn new(root: impl Into<PathBuf>, user_id: &str, app_id: &str) -> Config {
        Config {
            root: root.into(),
            app_id: app_id.to_string(),
            user_id: user_id.to_string(),
            package_dir: None,
            protocol: Protocol::Wxfile,
            durability: Durability::Process,
            limits: Limits::default(),
            encryption_key: None,
            plugin_id: None,
            platform: Platform::Wechat,
        }
    }

    /// Where this config's sandbox lives: `<root>/<user>/<app>`, `@<platform>` appended to the
    /// app's name for every platform but WeChat (`Platform::dir_suffix`).
    /// A plugin's sandbox is its app's sandbox directory's own `plugin/<pluginId>`.
    pub fn sandbox_dir(&self) -> PathBuf {
        self.site().dir
    }

    /// [`Config::sandbox_dir`], and whether it is a plugin's.
    pub fn site(&self) -> Site {
        let app = crate::platform::sandbox_dir(&self.root, &self.user_id, &self.app_id, self.platform);
        match &self.plugin_id {
            Some(p) => Site::plugin(crate::sandbox::sandbox_dir(&app, crate::sandbox::PLUGINS, p.as_bytes())),
            None => Site::app(app),
        }
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

/// An open sandbox: its files, its storage and their quotas.
///
/// [`Session::open`] returns it shared (`Arc`); the sandbox stays locked to this process until the
/// last clone is dropped. Calls reach it through [`crate::bridge::invoke`] with WeChat's api names.
/// Its parts ([`Parts`]: files, storage, config) are reached through it (`session.fs`,
/// `session.store`, ...).
///
/// A session belongs to the process that opened it: in a child that process forks, dropping a
/// copy of it does nothing at all (no file is written, synced, renamed or trimmed, and the lock
/// stays the parent's).
///
/// # Examples
///
/// ```
/// use wxfs::{bridge, Config, Session};
///
/// let root = std::env::temp_dir().join(format!("wxfs-doc-session-{}", std::process::id()));
/// let session = Session::open(Config::new(&root, "user-1", "wx1234567890")).unwrap();
///
/// let args = r#"{"filePath": "wxfile://usr/hello.txt", "data": "hello", "encoding": "utf8"}"#;
/// let (status, result) = bridge::invoke(&session, "writeFileSync", args);
/// assert_eq!((status, result["errMsg"].as_str()), (0, Some("writeFileSync:ok")));
///
/// let args = r#"{"filePath": "wxfile://usr/hello.txt", "encoding": "utf8"}"#;
/// let (status, result) = bridge::invoke(&session, "readFileSync", args);
/// assert_eq!(status, 0);
/// assert_eq!(result["data"], "hello");
///
/// let (status, _) = bridge::invoke(&session, "setStorageSync", r#"{"key": "score", "data": 42}"#);
/// assert_eq!(status, 0);
/// let (status, result) = bridge::invoke(&session, "getStorageSync", r#"{"key": "score"}"#);
/// assert_eq!(status, 0);
/// assert_eq!(result["data"], 42);
/// # drop(session);
/// # std::fs::remove_dir_all(&root).unwrap();
/// ```
pub struct Session {
    /// The sandbox directory: the key of this session in `OPEN`.
    dir: PathBuf,
    /// The process that opened it.
    owner: u32,
    /// Its events at WARN and above, kept in the sandbox for tools that read it (`wxfs serve`).
    recorder: Recorder,
    /// `None` only while it is dropped.
    parts: Option<Parts>,
}

/// What an open session holds; reached through [`Session`], which dereferences to it.
pub struct Parts {
    /// The config it was opened with (`root` canonicalised).
    pub config: Config,
    /// The sandbox directory and its lock.
    pub sandbox: Arc<Sandbox>,
    /// The file system (FileSystemManager) of the sandbox.
    pub fs: FileSystem,
    /// The key-value storage (`wx.*Storage*`) of the sandbox.
    pub store: Store,
    /// The encrypted items of `store` (the plain ones are reached through it too, so that a name
    /// keeps one value).
    pub crypt: Sealed,
    /// `createBufferURL`'s buffers: in memory, freed with the session.
    pub buffer_urls: BufferUrls,
}

impl std::ops::Deref for Session {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        self.parts.as_ref().expect("a session's parts live until it is dropped")
    }
}

/// Sandboxes open in this process, by directory: a second open shares the first (docs/design.md §7).
/// A `std` mutex: it is locked around `fork` (`crate::ffi`), and cleared in the child, whose
/// opens never share the parent's sessions.
static OPEN: Lazy<Mutex<HashMap<PathBuf, Weak<Session>>>> = Lazy::new(|| Mutex::new(HashMap::new()));

fn open_table() -> MutexGuard<'static, HashMap<PathBuf, Weak<Session>>> {
    OPEN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The table of open sessions, locked around `fork` (see `OPEN`).
pub(crate) struct ForkGuard(MutexGuard<'static, HashMap<PathBuf, Weak<Session>>>);

/// Before `fork`: lock the table of open sessions (no code path holds it while taking another lock).
pub(crate) fn fork_prepare() -> ForkGuard {
    ForkGuard(open_table())
}

impl ForkGuard {
    /// In the child: none of the parent's sessions is open here (the entries are weak: clearing
    /// them drops no session).
    pub(crate) fn child(mut self) {
        self.0.clear();
    }
}

impl Config {
    /// What differs between this config and `other` for the same sandbox, as `name: this vs
    /// other` (camelCase names, as in the open config); the root's spelling is not a difference.
    pub fn differences(&self, other: &Config) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} vs {b}"));
            }
        };
        let package = |p: &Option<PathBuf>| match p {
            None => "none".to_string(),
            Some(p) => format!("{:?}", std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        };
        check("packageDir", package(&self.package_dir), package(&other.package_dir));
        check("platform", format!("{:?}", self.platform), format!("{:?}", other.platform));
        check("protocol", format!("{:?}", self.protocol), format!("{:?}", other.protocol));
        check("durability", format!("{:?}", self.durability), format!("{:?}", other.durability));
        let (a, b) = (&self.limits, &other.limits);
        for (name, x, y) in [
            ("limits.userFiles", a.user_files, b.user_files),
            ("limits.tempRuntime", a.temp_runtime, b.temp_runtime),
            ("limits.tempKeep", a.temp_keep, b.temp_keep),
            ("limits.tempAllSandboxes", a.temp_all_sandboxes, b.temp_all_sandboxes),
            ("limits.storageItem", a.storage_item, b.storage_item),
            ("limits.storageTotal", a.storage_total, b.storage_total),
            ("limits.readFile", a.read_file, b.read_file),
            ("limits.openFiles", a.open_files, b.open_files),
            ("limits.entries", a.entries, b.entries),
            ("limits.bufferUrls", a.buffer_urls, b.buffer_urls),
            ("limits.singleFile", a.single_file, b.single_file),
        ] {
            check(name, x.to_string(), y.to_string());
        }
        // Never the key itself in a message.
        match (&self.encryption_key, &other.encryption_key) {
            (None, None) => {}
            (Some(a), Some(b)) if a.0 == b.0 => {}
            (a, b) => {
                let said = |k: &Option<EncryptionKey>| if k.is_some() { "a key" } else { "none" };
                let (a, b) = if a.is_some() && b.is_some() { ("one key", "another") } else { (said(a), said(b)) };
                check("encryptionKey", a.to_string(), b.to_string());
            }
        }
        out
    }
}

/// The session open in this process on `dir`, if any. One whose last handle is being closed
/// on another thread is waited for until it is gone.
fn live(dir: &Path) -> Option<Arc<Session>> {
    let mut open = open_table();
    loop {
        match open.get(dir).map(Weak::upgrade) {
            None => return None,
            Some(Some(session)) => return Some(session),
            Some(None) => {
                drop(open);
                std::thread::sleep(std::time::Duration::from_millis(1));
                open = open_table();
            }
        }
    }
}

/// A second open of an open sandbox shares it, if it asks for the same config.
fn share(existing: Arc<Session>, config: &Config) -> Result<Arc<Session>, OpenError> {
    let diff = existing.config.differences(config);
    if diff.is_empty() {
        return Ok(existing);
    }
    Err(OpenError::Invalid(format!(
        "invalid config: the sandbox is already open in this process with another config ({}; open vs requested)",
        diff.join(", ")
    )))
}

impl Session {
    /// Open the sandbox of (user, app) under the config's root, or share it if this process has
    /// it open already. Sandboxes are keyed by the canonical root, so any spelling of the same
    /// root (relative, through a symlink) shares. A second open whose config differs from the
    /// first is refused with `OpenError::Invalid` naming the differences. An open beside this
    /// process's own gc, fsck or removal of the sandbox (or of its app, for a plugin's) waits
    /// for it rather than failing; beside another process's removal it fails `Busy` or opens
    /// the new, empty sandbox made in the removed one's place. Tombstones that killed removals
    /// left beside the sandbox are deleted.
    ///
    /// The limits it is opened with are recorded in the sandbox (`sandbox::eventlog`), for a
    /// tool that reads it from another process to show (docs/design.md §2).
    pub fn open(config: Config) -> Result<Arc<Session>, OpenError> {
        Session::open_recording(config, true)
    }

    /// [`Session::open`] for a tool that opens a host's sandbox briefly on its behalf (`wxfs
    /// serve --write`): the limits the host recorded are left as they are. Not a stable API.
    #[doc(hidden)]
    pub fn open_as_tool(config: Config) -> Result<Arc<Session>, OpenError> {
        Session::open_recording(config, false)
    }

    fn open_recording(mut config: Config, record_limits: bool) -> Result<Arc<Session>, OpenError> {
        if config.user_id.is_empty() || config.app_id.is_empty() {
            return Err(OpenError::Invalid("userId and appId must not be empty".into()));
        }
        std::fs::create_dir_all(&config.root)?;
        config.root = std::fs::canonicalize(&config.root)?;
        let site = config.site();
        let dir = site.dir.clone();
        if let Some(existing) = live(&dir) {
            return share(existing, &config);
        }
        // Another open of this sandbox, or this process's maintenance of it, finishes first.
        let claim = crate::sandbox::claim(&site);
        if let Some(existing) = live(&dir) {
            return share(existing, &config);
        }
        let sandbox = Arc::new(Sandbox::open_site_in(&site, config.package_dir.as_deref())?);
        if let Some(beside) = dir.parent() {
            crate::sandbox::removal::clean_tombstones(beside);
        }
        let fs = FileSystem::new(sandbox.clone(), config.protocol, config.limits, config.durability)?;
        let (store, store_report) = Store::open(&sandbox.kv_dir(), config.durability)?;
        let owner = Owner {
            user: &config.user_id,
            app: &config.app_id,
            platform: config.platform.name(),
            plugin: config.plugin_id.as_deref(),
        };
        let kv_dir = sandbox.kv_dir();
        let format_one = storage::sealed::FormatOne::of(&kv_dir);
        let (crypt, _) = Sealed::open(&store, config.encryption_key.as_ref(), owner, format_one).map_err(|e| match e {
            storage::StoreError::Io(e) => OpenError::Io(e),
            e => OpenError::Io(std::io::Error::other(e.to_string())),
        })?;
        if format_one == storage::sealed::FormatOne::Taken && crypt.all_bound() {
            // Every sealed value is format 2 now: made durable first, then the marker that
            // refuses format 1 from here on (storage-engine.md, encrypted items).
            store.sync()?;
            storage::sealed::mark_bound(&kv_dir)?;
        }
        sandbox.touch_last_use();
        if record_limits {
            // A diagnostic: a sandbox whose record cannot be written opens all the same.
            let _ = eventlog::write_limits(&dir, &limit_pairs(&config.limits));
        }
        let buffer_urls = BufferUrls::new(config.limits.buffer_urls);
        let parts = Parts { config, sandbox, fs, store, crypt, buffer_urls };
        let recorder = Recorder::new(&dir);
        let session = Arc::new(Session { dir: dir.clone(), owner: std::process::id(), recorder, parts: Some(parts) });
        open_table().insert(dir, Arc::downgrade(&session));
        drop(claim); // the host's log sink may open sandboxes itself
        crate::events::opened(&session.config.root, &session.sandbox, session.fs.open_report(), &store_report, &session.recorder);
        Ok(session)
    }

    /// A call refused by one of the sandbox's limits (docs/design.md §4), as an event the host
    /// hears and the sandbox records (§6): the first of each errCode, then at most one a second,
    /// saying how many were refused in between. Any other failure is not an event.
    pub fn refused(&self, api: &str, e: &Error) {
        use crate::error::code::*;
        use crate::sandbox::{KV, TMP, USR};
        if ![STORAGE_LIMIT, FILE_TOO_LARGE, TEMP_LIMIT, STORAGE_ITEM_TOO_LARGE, STORAGE_FULL, BUFFER_URL_LIMIT].contains(&e.code)
        {
            return;
        }
        // A forked child's copy writes nothing into the parent's sandbox (docs/design.md §7).
        if std::process::id() != self.owner {
            return;
        }
        let Some(held) = self.recorder.pass(e.code) else { return };
        let name = crate::events::relative(&self.config.root, &self.dir);
        let (l, u) = (&self.config.limits, self.fs.usage());
        let (area, figures) = match e.code {
            STORAGE_ITEM_TOO_LARGE | STORAGE_FULL => (KV, format!("storage {} of {} bytes", self.store.size(), l.storage_total)),
            TEMP_LIMIT => (TMP, format!("temp files {} of {} bytes", u.temp, l.temp_runtime)),
            BUFFER_URL_LIMIT => ("", format!("buffer URLs limited to {} bytes", l.buffer_urls)),
            _ => (
                USR,
                format!("user files {} of {} bytes, {} of {} entries", u.user, l.user_files, u.entries, l.entries_allowed()),
            ),
        };
        let at = if area.is_empty() { name.clone() } else { format!("{name}/{area}") };
        let mut message = format!("{at}: {api} refused ({} {}); {figures}", e.code, e.reason);
        if held > 0 {
            message.push_str(&format!("; {held} more refused since the last report"));
        }
        crate::events::emit_recorded(crate::events::Level::Warn, &name, &message, &self.recorder);
    }

    /// The storage limits a set must keep to: the configured ones, or for an encrypted value
    /// (`encrypt`) the smaller ones WeChat applies (0.7 of the item limit, 0.71 of the total).
    pub fn storage_limits(&self, encrypt: bool) -> storage::Limits {
        let l = storage::Limits::of(&self.config.limits);
        if encrypt {
            // WeChat: encrypted values grow ~1.4x, so the limits become 0.7 MiB / 7.1 MiB.
            storage::Limits { item: l.item * 7 / 10, total: l.total * 71 / 100 }
        } else {
            l
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(parts) = self.parts.take() else { return };
        if std::process::id() != self.owner {
            // A forked child's copy (docs/design.md §7): the sandbox is the parent's. Nothing is
            // trimmed, written, synced, renamed or unlocked; the memory stays as it is.
            std::mem::forget(parts);
            return;
        }
        let Parts { config, sandbox, fs, store, crypt, buffer_urls } = parts;
        // Temp files kept after the mini-program exits are trimmed, least recently used first.
        let trimmed = fs.trim_temp(config.limits.temp_keep);
        sandbox.touch_last_use();
        // A clean close leaves a checkpoint, so the next open replays nothing.
        let _ = fs.checkpoint();
        let _ = store.sync();
        // Every file of the sandbox is let go of (the storage log settled, the journal's last
        // record written) while the lock is still held: the next owner finds it at rest.
        drop((crypt, store, fs, buffer_urls));
        // Release the process lock before leaving `OPEN`: an open waiting on this session may
        // take the sandbox the moment the entry is gone.
        sandbox.unlock();
        let mut open = open_table();
        if open.get(&self.dir).is_some_and(|w| w.strong_count() == 0) {
            open.remove(&self.dir);
        }
        drop(open);
        // Last, when the host's log sink could reopen this sandbox without waiting on this close.
        if let Ok(freed @ 1..) = trimmed {
            crate::events::trimmed(&config.root, &self.dir, freed, "at close, least recently used first");
        }
    }
}

/// The limits as the sandbox records them (`sandbox::eventlog::write_limits`): the open
/// config's names (docs/design.md §8) and values.
pub fn limit_pairs(l: &Limits) -> [(&'static str, u64); 11] {
    [
        ("userFiles", l.user_files),
        ("tempRuntime", l.temp_runtime),
        ("tempKeep", l.temp_keep),
        ("tempAllSandboxes", l.temp_all_sandboxes),
        ("storageItem", l.storage_item),
        ("storageTotal", l.storage_total),
        ("readFile", l.read_file),
        ("openFiles", l.open_files),
        ("entries", l.entries),
        ("bufferUrls", l.buffer_urls),
        ("singleFile", l.single_file),
    ]
}

/// What `gc` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Temp bytes of all sandboxes under the root before and after.
    pub before: u64,
    /// Temp bytes of all sandboxes under the root after gc.
    pub after: u64,
    /// Sandboxes whose temp area was cleared, in the order they were.
    pub trimmed: Vec<PathBuf>,
    /// Sandboxes skipped because they are open (here or in another process).
    pub busy: Vec<PathBuf>,
}

/// Storage failures in the words of docs/wechat-behaviour.md §10, with this library's codes: the
/// store returns its own error, and this is the one wording of it for the bridge and the typed C
/// API alike.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::ItemTooLarge => Error::new(code::STORAGE_ITEM_TOO_LARGE, "exceed storage item max length"),
            StoreError::TotalExceeded => Error::new(code::STORAGE_FULL, "exceed storage max size 10Mb"),
            StoreError::EmptyKey => Error::new(code::STORAGE_INVALID, "parameter error: key should not be empty"),
            StoreError::Io(e) if is_device_full(&e) => {
                Error::new(code::STORAGE_FULL, "exceed storage max size 10Mb (no space left on device)")
            }
            StoreError::Io(e) => Error::new(code::STORAGE_IO, format!("storage I/O error: {}", e.kind())),
            StoreError::ReservedKey => Error::new(
                code::STORAGE_INVALID,
                "parameter error: key names beginning with U+0000 \"wxfs-sealed:\" are reserved",
            ),
            StoreError::NoKey => {
                Error::new(code::STORAGE_NO_KEY, "encrypt: true needs an encryptionKey in the sandbox's open config")
            }
            StoreError::WrongKey => Error::new(
                code::STORAGE_WRONG_KEY,
                "the encrypted storage of this sandbox was written with another encryptionKey (clearStorage discards it)",
            ),
            // One sealed value does not open while others do: it alone fails.
            StoreError::Damaged => Error::new(
                code::STORAGE_WRONG_KEY,
                "the encrypted value of this key does not open: it is damaged, or was written for another sandbox or with another encryptionKey (removeStorage or a new setStorage replaces it)",
            ),
            StoreError::NoRandom(e) => Error::new(code::STORAGE_IO, format!("no random nonce: {e}")),
            StoreError::Seal(e) => Error::new(code::STORAGE_INVALID, e),
        }
    }
}

/// The device (or the user's disk quota) is full.
fn is_device_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// A refused buffer URL, in this library's words and code.
impl From<Refused> for Error {
    fn from(e: Refused) -> Error {
        let reason = match e {
            Refused::TooMany { max } => format!("this sandbox holds {max} buffer URLs, the most it may; revoke some first"),
            Refused::TooLarge { would_hold, limit } => {
                format!("the buffer URLs of this sandbox would hold {would_hold} bytes, over their limit of {limit} (limits.bufferUrls)")
            }
        };
        Error::new(code::BUFFER_URL_LIMIT, reason)
    }
}

/// Trim the temp areas of all sandboxes under `root` to at most `limit` bytes together, least
/// recently used sandbox first (docs/design.md §4). Open sandboxes are in use and are skipped.
/// `progress(done, total)` is called as sandboxes are measured.
///
/// # Examples
///
/// ```
/// use wxfs::{bridge, session, Config, Session};
///
/// let root = std::env::temp_dir().join(format!("wxfs-doc-gc-{}", std::process::id()));
/// let session = Session::open(Config::new(&root, "user-1", "wx1234567890")).unwrap();
/// let args = r#"{"data": "0123456789", "encoding": "utf8"}"#;
/// let (status, result) = bridge::invoke(&session, "host.createTempFile", args);
/// assert_eq!(status, 0, "{result}");
/// drop(session); // closed: its temp area may now be trimmed
///
/// let report = session::gc(&root, 0, |_done, _total| {}).unwrap();
/// assert_eq!((report.before, report.after), (10, 0));
/// assert_eq!(report.trimmed.len(), 1);
/// # std::fs::remove_dir_all(&root).unwrap();
/// ```
pub fn gc(root: &std::path::Path, limit: u64, mut progress: impl FnMut(usize, usize)) -> std::io::Result<GcReport> {
    use crate::quota::cleanup::{lru_victims, Candidate};
    // What killed removals left: deleted unless a removal is still at work on it.
    for dir in crate::sandbox::tombstone_dirs(root)? {
        crate::sandbox::removal::clean_tombstones(&dir);
    }
    let sites = crate::sandbox::sites(root)?;
    let mut report = GcReport::default();
    let mut items = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        progress(i + 1, sites.len());
        let dir = &site.dir;
        let temp = crate::quota::measure_flat(&dir.join(crate::sandbox::TMP));
        report.before += temp;
        let t = Sandbox::last_use(dir).duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        items.push(Candidate { key: site.clone(), size: temp, last_use: (t.as_secs() as i64, t.subsec_nanos() as i64) });
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
        let site = victim.key;
        let claim = crate::sandbox::claim(&site);
        let sandbox = match Sandbox::open_site(&site) {
            Ok(s) => Arc::new(s),
            Err(OpenError::Busy(_) | OpenError::InUse(_)) => {
                report.busy.push(site.dir);
                continue;
            }
            // Removed since it was listed: its temp files went with it.
            Err(OpenError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                left = left.saturating_sub(victim.size);
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
        drop(claim);
        crate::events::trimmed(root, &site.dir, freed, "by gc, least recently used sandbox first");
        left = left.saturating_sub(freed);
        report.trimmed.push(site.dir);
    }
    report.after = left;
    Ok(report)
}

/// Delete everything of one (user, app), its plugins' sandboxes included: the user deleted the
/// mini-program. All or nothing as any open sees it (docs/design.md §7): the sandbox is renamed
/// to a tombstone in one step, then deleted. Fails with `OpenError::Busy` (another process) or
/// `OpenError::InUse` (this one) while the sandbox or one of its plugins' is open, changing
/// nothing.
pub fn remove_sandbox(root: &std::path::Path, user_id: &str, app_id: &str) -> Result<bool, OpenError> {
    remove_site(root, &Site::app(crate::sandbox::sandbox_dir(root, user_id.as_bytes(), app_id.as_bytes())))
}

/// `remove_sandbox` for the sandbox a config names (its platform included; with `pluginId`,
/// that plugin's sandbox alone).
pub fn remove_sandbox_of(config: &Config) -> Result<bool, OpenError> {
    remove_site(&config.root, &config.site())
}

fn remove_site(root: &Path, site: &Site) -> Result<bool, OpenError> {
    let removed = crate::sandbox::removal::remove(site)?;
    if let Some((tomb, why)) = &removed.left {
        crate::events::tombstone_left(root, tomb, why);
    }
    Ok(removed.existed)
}
