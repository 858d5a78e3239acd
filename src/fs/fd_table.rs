//! Open fds and the files they refer to (after mozilla ffi-support's handle map, and our own
//! `src/ffi/registry.rs`).
//!
//! Guarantees:
//! - fds are decimal strings from a per-sandbox counter, never reused while the sandbox is open,
//!   so a closed fd never aliases a newer file;
//! - each fd holds its open file and the file's identity (`dev`, `ino` from `fstat` at open),
//!   never a path;
//! - [`Tracking`] knows, for every file an fd holds, where it is now: its path (kept current by
//!   every rename, whatever was renamed: the file or a directory above it) or nothing, once it
//!   was unlinked or replaced. Journal entries and recovery follow that, never the path the fd
//!   was opened by;
//! - bytes of unlinked or replaced usr/store files that fds still hold count against the quota
//!   ("held") until their last fd closes. They live in memory only: after any restart they are
//!   gone from disk too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use cap_std::fs::Dir;
use parking_lot::Mutex;

use crate::sandbox::{Area, VPath};

/// A file's identity on its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(m: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId { dev: m.dev(), ino: m.ino() }
    }
    pub fn of_cap(m: &cap_std::fs::Metadata) -> FileId {
        use cap_std::fs::MetadataExt;
        FileId { dev: m.dev(), ino: m.ino() }
    }
}

/// How an fd was opened: the access and the creation its flag string asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    /// The fd may be read.
    pub read: bool,
    /// The fd may be written.
    pub write: bool,
    /// Every write goes to the end of the file.
    pub append: bool,
    /// A missing file is created.
    pub create: bool,
    /// Fails when the file exists (`x`).
    pub exclusive: bool,
    /// An existing file is cut to 0 bytes at open.
    pub truncate: bool,
    /// Every write is synced before it returns (`s`).
    pub sync: bool,
}

impl Flag {
    /// Node.js `fs.open` flag strings (docs/wechat-behaviour.md §1, open flags).
    pub fn parse(s: &str) -> Option<Flag> {
        let f = |read, write, append, create, exclusive, truncate, sync| Flag {
            read,
            write,
            append,
            create,
            exclusive,
            truncate,
            sync,
        };
        Some(match s {
            "r" => f(true, false, false, false, false, false, false),
            "r+" => f(true, true, false, false, false, false, false),
            "w" => f(false, true, false, true, false, true, false),
            "wx" => f(false, true, false, true, true, true, false),
            "w+" => f(true, true, false, true, false, true, false),
            "wx+" => f(true, true, false, true, true, true, false),
            "a" => f(false, true, true, true, false, false, false),
            "ax" => f(false, true, true, true, true, false, false),
            "a+" => f(true, true, true, true, false, false, false),
            "ax+" => f(true, true, true, true, true, false, false),
            "as" => f(false, true, true, true, false, false, true),
            "as+" => f(true, true, true, true, false, false, true),
            _ => return None,
        })
    }
}

pub(crate) struct FdEntry {
    pub file: std::fs::File,
    pub id: FileId,
    pub flag: Flag,
    /// The current file pointer for reads/writes without an explicit position.
    pub pos: u64,
}

/// Where a file held by fds is, and how many fds hold it.
#[derive(Debug)]
struct Tracked {
    /// Its path now; `None` once it is reachable no more (unlinked or replaced).
    path: Option<VPath>,
    fds: usize,
    /// Its bytes count against the user+saved quota (it is, or was when it left, in usr/store).
    counted: bool,
}

/// The files open fds hold, kept under the file system's state lock together with usage.
#[derive(Default)]
pub(crate) struct Tracking {
    files: HashMap<FileId, Tracked>,
    /// Bytes of counted files that are reachable no more but still held open.
    pub held: u64,
}

/// A file that a mutation may leave unreachable, measured before the mutation.
pub(crate) struct Watched {
    id: FileId,
    size: u64,
}

fn counted(area: Area) -> bool {
    matches!(area, Area::Usr | Area::Store)
}

impl Tracking {
    pub fn opened(&mut self, id: FileId, vp: &VPath) {
        let t = self.files.entry(id).or_insert(Tracked { path: Some(vp.clone()), fds: 0, counted: counted(vp.area) });
        t.fds += 1;
    }

    /// An fd closed; `size` is its file's length now. Releases held bytes with the last fd.
    pub fn closed(&mut self, id: FileId, size: u64) {
        let Some(t) = self.files.get_mut(&id) else { return };
        t.fds -= 1;
        if t.fds == 0 {
            if t.path.is_none() && t.counted {
                self.held = self.held.saturating_sub(size);
            }
            self.files.remove(&id);
        }
    }

    /// Where the file is now (`None`: unlinked or replaced), and whether its bytes count.
    pub fn path_of(&self, id: FileId) -> (Option<&VPath>, bool) {
        match self.files.get(&id) {
            Some(t) => (t.path.as_ref(), t.counted),
            None => (None, false),
        }
    }

    /// The tracked files at or beneath `vp` whose bytes count, with their sizes now: what stays
    /// held if the mutation about to run makes them unreachable.
    pub fn watch(&self, vp: &VPath, area_dir: &Dir) -> Vec<Watched> {
        if self.files.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (id, t) in &self.files {
            if let Some(p) = &t.path {
                if t.counted && p.starts_with(vp) {
                    if let Ok(m) = area_dir.symlink_metadata(p.rel()) {
                        if FileId::of_cap(&m) == *id {
                            out.push(Watched { id: *id, size: m.len() });
                        }
                    }
                }
            }
        }
        out
    }

    /// Bytes the watched files hold.
    pub fn watched_bytes(w: &[Watched]) -> u64 {
        w.iter().map(|w| w.size).sum()
    }

    /// After the mutation: the watched files no longer at their path are held from now on.
    pub fn settle(&mut self, watched: Vec<Watched>, area_dir: &Dir) {
        for w in watched {
            let Some(t) = self.files.get_mut(&w.id) else { continue };
            let Some(p) = &t.path else { continue };
            let still = area_dir.symlink_metadata(p.rel()).map(|m| FileId::of_cap(&m) == w.id).unwrap_or(false);
            if !still {
                t.path = None;
                self.held += w.size;
            }
        }
    }

    /// A file (or a directory and everything beneath it) moved from `from` to `to`.
    pub fn renamed(&mut self, from: &VPath, to: &VPath) {
        for t in self.files.values_mut() {
            if let Some(p) = &t.path {
                if p.starts_with(from) {
                    let mut parts = to.parts.clone();
                    parts.extend_from_slice(&p.parts[from.parts.len()..]);
                    t.path = Some(VPath { area: to.area, parts });
                    t.counted = counted(to.area);
                }
            }
        }
    }

    /// The file was found elsewhere than tracked (or nowhere): it is held from now on.
    pub fn lost(&mut self, id: FileId, size: u64) {
        if let Some(t) = self.files.get_mut(&id) {
            if t.path.take().is_some() && t.counted {
                self.held += size;
            }
        }
    }

    /// Bytes written to (or cut from) an unreachable counted file.
    pub fn grow_held(&mut self, delta: i64) {
        self.held =
            if delta >= 0 { self.held.saturating_add(delta as u64) } else { self.held.saturating_sub(delta.unsigned_abs()) };
    }
}

/// fds of all sandboxes in this process, against a process-wide cap that leaves the host half
/// of its own limit whatever the sandboxes' limits say.
static PROCESS_FDS: AtomicUsize = AtomicUsize::new(0);

fn process_cap() -> usize {
    static CAP: once_cell::sync::Lazy<usize> =
        once_cell::sync::Lazy::new(|| (crate::quota::process_fd_limit() / 2).max(8) as usize);
    *CAP
}

/// One fd's place under both caps: taken before the file is opened, given back when it closes.
pub(crate) struct Slot<'a> {
    table: &'a FdTable,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.table.reserved.fetch_sub(1, Ordering::AcqRel);
        PROCESS_FDS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open fds of one sandbox.
#[derive(Default)]
pub struct FdTable {
    next: AtomicU64,
    /// Open fds plus opens in progress.
    reserved: AtomicUsize,
    open: Mutex<HashMap<u64, Arc<Mutex<FdEntry>>>>,
}

impl FdTable {
    /// How many fds are open.
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// Whether no fd is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A place for one more fd, or `None` at this sandbox's limit or the process-wide cap.
    pub(crate) fn reserve(&self, limit: u64) -> Option<Slot<'_>> {
        let mine = self.reserved.fetch_add(1, Ordering::AcqRel);
        let all = PROCESS_FDS.fetch_add(1, Ordering::AcqRel);
        let slot = Slot { table: self };
        (mine < limit as usize && all < process_cap()).then_some(slot)
    }

    /// Keep the fd: its slot stays taken until it is removed.
    pub(crate) fn insert(&self, slot: Slot<'_>, entry: FdEntry) -> u64 {
        std::mem::forget(slot);
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.open.lock().insert(n, Arc::new(Mutex::new(entry)));
        n
    }

    pub(crate) fn get(&self, n: u64) -> Option<Arc<Mutex<FdEntry>>> {
        self.open.lock().get(&n).cloned()
    }

    pub(crate) fn remove(&self, n: u64) -> Option<Arc<Mutex<FdEntry>>> {
        let e = self.open.lock().remove(&n)?;
        drop(Slot { table: self });
        Some(e)
    }
}

impl Drop for FdTable {
    fn drop(&mut self) {
        let n = self.open.get_mut().len();
        PROCESS_FDS.fetch_sub(n, Ordering::AcqRel);
    }
}
