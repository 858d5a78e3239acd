//! One (user, app) sandbox on disk: the area layout, the process lock, and capability handles
//! through which every path is resolved beneath its area.

// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod eventlog;
pub mod handles;
mod lock;
#[doc(hidden)]
pub mod naming;
pub mod path;
pub mod removal;
// Not a stable API (docs/compatibility.md §4): public only for the tests that stop a process at
// each step of a protocol while another process acts.
#[doc(hidden)]
pub mod steps;

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

pub use path::{Area, PathError, Protocol, VPath};

/// Names inside a sandbox directory (docs/design.md §2).
pub const USR: &str = "usr";
/// Temp files (`wxfile://tmp_*`), created by the host.
pub const TMP: &str = "tmp";
/// Saved files (`wxfile://store_*`), created by saveFile.
pub const STORE: &str = "store";
/// The key-value storage log.
pub const KV: &str = "kv";
/// Where replacing writes are prepared before their rename: same file system as the areas,
/// outside them so readdir never shows a half-written file.
pub const STAGING: &str = "staging";
/// The lock file: the process that has the sandbox open holds an OS file lock on it.
pub const LOCK: &str = "LOCK";
/// In an app's `plugin/` directory: held shared by every holder of one of the app's plugins'
/// sandboxes, exclusive by the app's removal (`lock.rs`).
pub const TREE_LOCK: &str = "TREE_LOCK";
/// What a removal renames a sandbox to before deleting it (`removal.rs`): a name no id encodes
/// to (an encoded name never starts with `.`), so no open ever finds it.
pub const TOMBSTONE_PREFIX: &str = ".wxfs-removed-";
/// Its modification time is when the sandbox was last opened or closed by a mini-program
/// (not by gc or fsck): the order of the cross-sandbox temp trim.
pub const LAST_USE: &str = "LAST_USE";
/// The sandbox's on-disk format version (docs/compatibility.md): `wxfs sandbox format N\n`.
/// A release refuses a sandbox whose format is newer than [`FORMAT_VERSION`] rather than touch
/// files it cannot read; a sandbox without one was written by 0.1.0, which is format 1.
pub const FORMAT: &str = "FORMAT";
/// Bumped whenever a file in a sandbox changes in a way an older release would misread.
pub const FORMAT_VERSION: u32 = 1;

/// Why a sandbox could not be opened (or removed).
#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the sandbox; the path of its lock file.
    Busy(PathBuf),
    /// This process holds the sandbox (it is open, or under maintenance); the lock file.
    InUse(PathBuf),
    /// The request itself is wrong (an empty id, a config that differs from the open one, a
    /// newer `FORMAT`); the message says why.
    Invalid(String),
    /// The operating system refused.
    Io(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Busy(p) => {
                write!(f, "sandbox is busy: locked by another process ({})", p.display())
            }
            OpenError::InUse(p) => {
                write!(f, "sandbox is busy: open in this process ({})", p.display())
            }
            OpenError::Invalid(s) => f.write_str(s),
            OpenError::Io(e) => write!(f, "cannot open sandbox: {e}"),
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// An open sandbox directory. Holds the cross-process lock for its lifetime, and one more fd:
/// its own directory. The area directories are opened from it on demand ([`Sandbox::area_dir`],
/// `handles.rs`), so an idle sandbox holds two fds here.
pub struct Sandbox {
    dir: PathBuf,
    /// The sandbox directory itself, for the files beside the areas (journal, ballast), and
    /// the one handle every area handle is opened from.
    base: Dir,
    /// The configured code package's directory, opened on demand by this path.
    package: Option<PathBuf>,
    /// The area handles' slots in the process-wide cache.
    handles: handles::Owner,
    /// The sandbox's `LOCK`; unlocked when dropped.
    _held: lock::Lock,
    /// A plugin's: its app's plugin tree lock, shared; unlocked when dropped.
    _tree: Option<lock::Lock>,
    /// This open made the sandbox directory.
    created: bool,
}

/// A sandbox directory and what it is: an app's (`<root>/<user>/<app>`) or a plugin's
/// (`<app dir>/plugin/<plugin>`). The two cannot be told apart by their paths alone (a user
/// may be called `plugin`), so whoever names a sandbox says which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The sandbox directory.
    pub dir: PathBuf,
    /// Whether it is a plugin's sandbox inside its app's directory.
    pub plugin: bool,
}

impl Site {
    /// An app's sandbox directory.
    pub fn app(dir: impl Into<PathBuf>) -> Site {
        Site { dir: dir.into(), plugin: false }
    }

    /// A plugin's sandbox directory (`<app dir>/plugin/<plugin>`).
    pub fn plugin(dir: impl Into<PathBuf>) -> Site {
        Site { dir: dir.into(), plugin: true }
    }

    /// The app directory this sandbox belongs to (itself for an app).
    pub fn app_dir(&self) -> &Path {
        match self.plugin {
            true => self.dir.parent().and_then(Path::parent).unwrap_or(&self.dir),
            false => &self.dir,
        }
    }

    /// A plugin's: its app's plugin tree lock.
    fn tree_lock(&self) -> Option<PathBuf> {
        self.plugin.then(|| self.dir.parent().unwrap_or(&self.dir).join(TREE_LOCK))
    }
}

/// Plugins' sandboxes live in their app's sandbox directory, as the sandboxes of this "user"
/// under a root that is the app's directory: `<root>/<user>/<app>/plugin/<pluginId>`. So a
/// plugin's data is per (user, app, plugin), and goes with the app's when the app is removed.
pub const PLUGINS: &[u8] = b"plugin";

/// The plugins' sandboxes of the app whose sandbox directory is `app_dir`.
pub fn plugin_sandboxes(app_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(app_dir.join(naming::encode_id(PLUGINS))) else { return Vec::new() };
    let mut out: Vec<PathBuf> =
        entries.flatten().filter(|e| !is_tombstone(&e.file_name())).map(|e| e.path()).filter(|p| p.join(LOCK).exists()).collect();
    out.sort();
    out
}

/// Where the (WeChat) sandbox of (user, app) lives under `root`.
pub fn sandbox_dir(root: &Path, user_id: &[u8], app_id: &[u8]) -> PathBuf {
    sandbox_dir_on(root, user_id, app_id, None)
}

/// `sandbox_dir` of a sandbox that carries a `tag` after the app's name (`<app>@<tag>`): the
/// platform layer tags every platform's sandbox but WeChat's (docs/platforms/dialects.json,
/// `shapes.dirTag`), so WeChat's sandboxes stay where they were before platforms existed.
pub fn sandbox_dir_on(root: &Path, user_id: &[u8], app_id: &[u8], tag: Option<&str>) -> PathBuf {
    let app = naming::encode_id(app_id);
    root.join(naming::encode_id(user_id)).join(match tag {
        Some(tag) => format!("{app}{TAG_MARK}{tag}"),
        None => app,
    })
}

/// What separates an app's directory name from its tag: a character [`naming::encode_id`] never
/// writes, so no appId's directory can be taken for another's tagged one.
pub const TAG_MARK: char = '@';

/// An app directory's name cut into the app part and its tag (after the last [`TAG_MARK`]), if any.
pub fn split_tag(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once(TAG_MARK) {
        Some((app, tag)) => (app, Some(tag)),
        None => (name, None),
    }
}

impl Sandbox {
    /// Create or open the sandbox of (`user_id`, `app_id`) under `root` and lock it to this
    /// process; `package_dir` is the code package, if any.
    pub fn open(root: &Path, user_id: &[u8], app_id: &[u8], package_dir: Option<&Path>) -> Result<Sandbox, OpenError> {
        if user_id.is_empty() || app_id.is_empty() {
            return Err(OpenError::Invalid("userId and appId must not be empty".into()));
        }
        Sandbox::open_in(&sandbox_dir(root, user_id, app_id), package_dir)
    }

    /// Open (creating it if needed) the sandbox directory `dir` (`<root>/<user>/<app>[@<tag>]`).
    pub fn open_in(dir: &Path, package_dir: Option<&Path>) -> Result<Sandbox, OpenError> {
        Sandbox::open_site_in(&Site::app(dir), package_dir)
    }

    /// Open (creating it if needed) the sandbox at `site` and lock it to this process: the
    /// plugin tree lock first (a plugin's), then `LOCK`, each checked to be the file its path
    /// names (`lock.rs`), so a sandbox that a removal renames away meanwhile is never the one
    /// opened: its place is taken by a new, empty sandbox, or the open fails busy.
    pub fn open_site_in(site: &Site, package_dir: Option<&Path>) -> Result<Sandbox, OpenError> {
        let dir = site.dir.clone();
        // Before anything is made, so a refused sandbox is left exactly as it is (checked again under the lock).
        check_format(&dir)?;
        let tree = match site.tree_lock() {
            Some(path) => Some(held(lock::take(&path, lock::Kind::Shared, lock::Create::Path)?, &path)?),
            None => None,
        };
        let lock_path = dir.join(LOCK);
        let held = held(lock::take(&lock_path, lock::Kind::Exclusive, lock::Create::Path)?, &lock_path)?;
        let created = held.created;
        // The layout, under the lock: what a crash left in staging is the file system's to
        // finish or clear (it knows unzip plans).
        for name in [USR, TMP, STORE, KV, STAGING] {
            match std::fs::create_dir(dir.join(name)) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e.into()),
                _ => {}
            }
        }
        let mut sb = Sandbox::with_locks(&dir, held, tree)?;
        sb.created = created;
        if !dir.join(FORMAT).exists() {
            write_format(&dir)?;
        }
        if let Some(p) = package_dir {
            // Checked now, held only while used (`area_dir`).
            Dir::open_ambient_dir(p, ambient_authority())
                .map_err(|e| OpenError::Invalid(format!("invalid config: packageDir \"{}\": {e}", p.display())))?;
            sb.package = Some(p.to_path_buf());
        }
        Ok(sb)
    }

    /// Release the cross-process locks early (the sandbox is closing; nothing will touch it
    /// again). In a forked child this does nothing: the locks are the parent's.
    pub fn unlock(&self) {
        self._held.release();
        if let Some(tree) = &self._tree {
            tree.release();
        }
    }

    /// Record that the mini-program used this sandbox now.
    pub fn touch_last_use(&self) {
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(self.dir.join(LAST_USE));
        if let Ok(f) = f {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// The sandbox directory (`<root>/<user>/<app>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A capability handle on the sandbox directory.
    pub fn dir_handle(&self) -> &Dir {
        &self.base
    }

    /// The directory of the key-value storage log.
    pub fn kv_dir(&self) -> PathBuf {
        self.dir.join(KV)
    }

    /// The capability handle of an area, opened on demand (`handles.rs`): a package area that
    /// was not configured is `NotFound`. usr, tmp and store are opened from the sandbox's own
    /// directory handle, never by a path (`open_area`).
    pub fn area_dir(&self, area: Area) -> io::Result<Arc<Dir>> {
        match area {
            Area::Usr => self.handles.get(SLOT_USR, || open_area(&self.base, USR)),
            Area::Tmp => self.handles.get(SLOT_TMP, || open_area(&self.base, TMP)),
            Area::Store => self.handles.get(SLOT_STORE, || open_area(&self.base, STORE)),
            Area::Package => match &self.package {
                // The host's own directory, named by its config (as at open): read-only to the
                // mini-program, so the path it names now is the package.
                Some(p) => self.handles.get(SLOT_PACKAGE, || Dir::open_ambient_dir(p, ambient_authority())),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no packageDir configured")),
            },
        }
    }

    /// The file `name` beside the areas (the quota journal), opened for appending (created if
    /// missing) from the sandbox's directory handle, never by a path, and never through a
    /// symlink: `openat(dir, name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW)`.
    pub fn open_append(&self, name: &str) -> io::Result<std::fs::File> {
        use rustix::fs::{openat, Mode, OFlags};
        debug_assert!(!name.contains('/'));
        let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(std::fs::File::from(openat(&self.base, name, flags, Mode::from_raw_mode(0o666))?))
    }

    /// Whether the sandbox has a package area (a `packageDir` was configured).
    pub fn has_package(&self) -> bool {
        self.package.is_some()
    }

    /// The capability handle of the staging directory, opened on demand as the areas are.
    pub fn staging(&self) -> io::Result<Arc<Dir>> {
        self.handles.get(SLOT_STAGING, || open_area(&self.base, STAGING))
    }

    /// Whether this open created the sandbox.
    pub fn created(&self) -> bool {
        self.created
    }

    /// The OS path behind a virtual path (host use only: `host.realPath`).
    pub fn os_path(&self, vp: &VPath) -> Option<PathBuf> {
        let base = match vp.area {
            Area::Package => self.package.as_ref()?.clone(),
            a => self.dir.join(a.dir_name()),
        };
        Some(vp.parts.iter().fold(base, |p, c| p.join(c)))
    }
}

const SLOT_USR: handles::Slot = 0;
const SLOT_TMP: handles::Slot = 1;
const SLOT_STORE: handles::Slot = 2;
const SLOT_STAGING: handles::Slot = 3;
const SLOT_PACKAGE: handles::Slot = 4;

/// Open the directory `name` (one fixed name, no `/`) of the sandbox whose directory handle is
/// `base`: `openat(base, name, O_DIRECTORY | O_NOFOLLOW)`. The kernel resolves the one name in
/// the directory `base` refers to, whatever path now leads there, and refuses a symlink in its
/// place (`ELOOP`) or anything but a directory (`ENOTDIR`): the handle is the sandbox's own
/// area, as the one opened with the sandbox was (docs/design.md §3).
fn open_area(base: &Dir, name: &str) -> io::Result<Dir> {
    use rustix::fs::{openat, Mode, OFlags};
    debug_assert!(!name.contains('/'));
    let fd = openat(base, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    Ok(Dir::from(fd))
}

/// A fresh unguessable name: 32 hex digits of OS randomness, plus the extension if one is given.
pub fn random_name(extension: Option<&str>) -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("OS random source unavailable");
    let mut name = hex::encode(bytes);
    if let Some(ext) = extension.filter(|e| !e.is_empty()) {
        name.push('.');
        name.push_str(ext);
    }
    name
}

/// The extension of a file name worth carrying over to a new name: short and plain.
pub fn plain_extension(name: &str) -> Option<&str> {
    let (_, ext) = name.rsplit_once('.')?;
    let ok = !ext.is_empty() && ext.len() <= 16 && ext.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(ext)
}

/// Every `<root>/<user>/<app>` directory, whether or not it holds a sandbox.
fn app_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for user in std::fs::read_dir(root)? {
        let user = user?;
        if !user.file_type()?.is_dir() {
            continue;
        }
        for app in std::fs::read_dir(user.path())? {
            let app = app?;
            if app.file_type()?.is_dir() && !is_tombstone(&app.file_name()) {
                out.push(app.path());
            }
        }
    }
    Ok(out)
}

/// Whether a directory entry is a removal's tombstone (never a sandbox, whatever it holds).
pub fn is_tombstone(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(TOMBSTONE_PREFIX.as_bytes())
}

/// Every sandbox directory under `root` (`<root>/<user>/<app>` holding a LOCK file; never a
/// tombstone).
pub fn list(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = app_dirs(root)?.into_iter().filter(|app| app.join(LOCK).exists()).collect();
    out.sort();
    Ok(out)
}

/// [`list`] and every plugin sandbox under `root` (`<root>/<user>/<app>/plugin/<plugin>`, whether
/// or not the app itself was ever opened): what gc and fsck visit.
pub fn list_with_plugins(root: &Path) -> io::Result<Vec<PathBuf>> {
    let apps = app_dirs(root)?;
    let mut out: Vec<PathBuf> = apps.iter().filter(|app| app.join(LOCK).exists()).cloned().collect();
    for app in &apps {
        out.extend(plugin_sandboxes(app));
    }
    out.sort();
    Ok(out)
}

/// [`list_with_plugins`], each with what it is.
pub fn sites(root: &Path) -> io::Result<Vec<Site>> {
    let apps = app_dirs(root)?;
    let mut out: Vec<Site> = apps.iter().filter(|app| app.join(LOCK).exists()).cloned().map(Site::app).collect();
    for app in &apps {
        out.extend(plugin_sandboxes(app).into_iter().map(Site::plugin));
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

/// Every directory under `root` where a removal leaves its tombstone: each user's directory
/// and each app's `plugin/`.
pub fn tombstone_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for user in std::fs::read_dir(root)? {
        let user = user?;
        if user.file_type()?.is_dir() && !is_tombstone(&user.file_name()) {
            out.push(user.path());
        }
    }
    for app in app_dirs(root)? {
        let plugins = app.join(naming::encode_id(PLUGINS));
        if plugins.is_dir() {
            out.push(plugins);
        }
    }
    Ok(out)
}

/// The (userId, appId) a sandbox directory belongs to, when its names decode (the tag of a
/// tagged sandbox, [`split_tag`], is not part of the appId).
pub fn ids_of(dir: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
    let (app, _) = split_tag(dir.file_name()?.to_str()?);
    let user = dir.parent()?.file_name()?.to_str()?;
    Some((naming::decode_id(user)?, naming::decode_id(app)?))
}

impl Sandbox {
    /// Take the lock of an existing app's sandbox directory and its area handles.
    pub fn open_dir(dir: &Path) -> Result<Sandbox, OpenError> {
        Sandbox::open_site(&Site::app(dir))
    }

    /// Take the locks of an existing sandbox and its area handles (gc and fsck, on the sites
    /// [`sites`] finds). A sandbox gone meanwhile is `OpenError::Io` of kind `NotFound`.
    pub fn open_site(site: &Site) -> Result<Sandbox, OpenError> {
        let gone = || OpenError::Io(io::Error::new(io::ErrorKind::NotFound, format!("{}: no sandbox", site.dir.display())));
        let tree = match site.tree_lock() {
            Some(path) => match lock::take(&path, lock::Kind::Shared, lock::Create::File)? {
                lock::Taken::Held(l) => Some(l),
                lock::Taken::Missing => return Err(gone()),
            },
            None => None,
        };
        let held = match lock::take(&site.dir.join(LOCK), lock::Kind::Exclusive, lock::Create::No)? {
            lock::Taken::Held(l) => l,
            lock::Taken::Missing => return Err(gone()),
        };
        Sandbox::with_locks(&site.dir, held, tree)
    }

    /// The area handles of a sandbox whose locks this process now holds. An error drops the
    /// locks, which unlocks them.
    fn with_locks(dir: &Path, held: lock::Lock, tree: Option<lock::Lock>) -> Result<Sandbox, OpenError> {
        check_format(dir)?;
        let base = Dir::open_ambient_dir(dir, ambient_authority())?;
        // Each area is there and a directory now; held only while used (`area_dir`).
        for name in [USR, TMP, STORE, STAGING] {
            drop(open_area(&base, name)?);
        }
        Ok(Sandbox {
            package: None,
            handles: handles::Owner::new(),
            dir: dir.to_path_buf(),
            base,
            _held: held,
            _tree: tree,
            created: false,
        })
    }

    /// When the mini-program last used this sandbox (LAST_USE, else the directory's mtime).
    pub fn last_use(dir: &Path) -> std::time::SystemTime {
        std::fs::metadata(dir.join(LAST_USE))
            .or_else(|_| std::fs::metadata(dir))
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH)
    }
}

/// The format version a sandbox directory declares: 1 when it has no marker (release 0.1.0).
pub fn format_version(dir: &Path) -> io::Result<u32> {
    match std::fs::read_to_string(dir.join(FORMAT)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(1),
        Err(e) => Err(e),
        // A marker that does not parse was damaged, not written by a newer release (which
        // writes the same line with a larger number): read as the format it sits beside.
        Ok(text) => Ok(text.trim_end().strip_prefix("wxfs sandbox format ").and_then(|n| n.parse().ok()).unwrap_or(1)),
    }
}

/// Refuse a sandbox written in a newer format, before anything in it is read or changed.
fn check_format(dir: &Path) -> Result<(), OpenError> {
    let found = format_version(dir)?;
    if found > FORMAT_VERSION {
        return Err(OpenError::Invalid(format!(
            "sandbox format {found} ({}) is newer than this release reads ({FORMAT_VERSION}); \
             open it with the release that wrote it or a later one",
            dir.join(FORMAT).display()
        )));
    }
    Ok(())
}

/// Write the format marker: into a temporary name, then renamed, so it is whole or absent.
fn write_format(dir: &Path) -> io::Result<()> {
    let tmp = dir.join(format!("{FORMAT}.tmp"));
    std::fs::write(&tmp, format!("wxfs sandbox format {FORMAT_VERSION}\n"))?;
    std::fs::rename(&tmp, dir.join(FORMAT))
}

/// A lock `take` with creation must return: a missing file would have been made.
fn held(taken: lock::Taken, path: &Path) -> Result<lock::Lock, OpenError> {
    match taken {
        lock::Taken::Held(l) => Ok(l),
        lock::Taken::Missing => Err(OpenError::Io(io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))),
    }
}

/// Claims on app directories within this process: an open, gc, fsck or removal of a sandbox
/// takes the claim of its app's directory first (a plugin's sandbox is its app's too), so that
/// work inside one process is serialized rather than failing on the cross-process locks (an
/// open waits for the host's own gc or removal to finish instead of being told the sandbox is
/// busy; a plugin's open waits for its app's removal). `std` locks: they are taken around
/// `fork` (`crate::ffi`).
static CLAIMS: Lazy<(Mutex<HashSet<PathBuf>>, Condvar)> = Lazy::new(|| (Mutex::new(HashSet::new()), Condvar::new()));

fn claims() -> MutexGuard<'static, HashSet<PathBuf>> {
    CLAIMS.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A claim on an app directory; released when dropped.
pub struct Claim(PathBuf);

/// Wait until no other work of this process claims the app directory of `site`, then claim
/// it. Claims are held briefly (an open's recovery, one gc or removal), never for a sandbox's
/// whole life.
pub fn claim(site: &Site) -> Claim {
    let key = key_of(site.app_dir());
    let mut set = claims();
    while set.contains(&key) {
        set = CLAIMS.1.wait(set).unwrap_or_else(PoisonError::into_inner);
    }
    set.insert(key.clone());
    Claim(key)
}

/// A directory as this process's tables know it: canonical, whatever spelling of the root
/// found it (a directory not made yet is named under the canonical root by its opener).
fn key_of(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

impl Drop for Claim {
    fn drop(&mut self) {
        claims().remove(&self.0);
        CLAIMS.1.notify_all();
    }
}

/// The process-wide tables of this layer, locked around `fork` (`crate::ffi`): the prepare
/// handler takes them, so no thread holds one at the instant of fork; the parent's handler
/// lets go; the child's clears them (no claim and no lock of the parent is the child's) first.
pub(crate) struct ForkGuard {
    held: MutexGuard<'static, std::collections::HashMap<PathBuf, usize>>,
    claims: MutexGuard<'static, HashSet<PathBuf>>,
}

/// Before `fork`: lock the tables (claims, then locks; no code path nests them otherwise).
pub(crate) fn fork_prepare() -> ForkGuard {
    let claims = claims();
    let held = lock::fork_prepare();
    ForkGuard { held, claims }
}

impl ForkGuard {
    /// After `fork`, in the child: no claim or lock of the parent's is this process's.
    pub(crate) fn child(mut self) {
        lock::fork_child(&mut self.held);
        self.claims.clear();
    }
}
