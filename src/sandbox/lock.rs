//! The cross-process locks of sandboxes (docs/design.md §7): `LOCK` in a sandbox directory,
//! exclusive, held by the one process that has the sandbox open (or is checking, trimming or
//! removing it); and a plugin tree lock, `plugin/TREE_LOCK` in an app's directory, held shared by
//! every holder of one of the app's plugins' sandboxes and exclusive by the app's removal, so
//! that no plugin sandbox can be created or held inside an app directory while it is renamed
//! away.
//!
//! Invariants, each with the failure it prevents:
//! - A lock counts only while the file it is on is the file its path names. [`take`] locks the
//!   open file, then compares it with what the path names now (device and inode) and tries
//!   again when they differ. Without this, an opener that opened `LOCK` just before a removal
//!   renamed the sandbox away would lock the renamed file once the removal let go, and write
//!   into a sandbox being deleted.
//! - The path of a lock file changes only under its exclusive lock (a removal's rename, or the
//!   removal deleting it last), so a verified lock stays verified for as long as it is held.
//! - A lock is taken and listed, and unlisted and released, under [`HELD`]'s mutex: a lock found
//!   taken while this process lists it is this process's (`InUse`), otherwise another
//!   process's (`Busy`); never a guess.
//! - Released explicitly (`flock(LOCK_UN)`), never by closing the descriptor, of which a child
//!   forked at that instant holds a copy; and released only by the process that took it: a
//!   forked child dropping a copy of its parent's `Lock` leaves the parent's lock alone.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;

use super::steps::{step, Step};
use super::OpenError;

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Any number of holders at once (a plugin tree lock while plugins are held).
    Shared,
    /// One holder (a sandbox's `LOCK`; the tree lock during an app's removal).
    Exclusive,
}

/// A lock held by this process, on the file its path names. Released when dropped.
pub(crate) struct Lock {
    /// The lock file, as this process's table knows it.
    key: PathBuf,
    file: File,
    /// The process that took it: only it releases it.
    owner: u32,
    live: AtomicBool,
    /// This `take` made the lock file.
    pub(crate) created: bool,
}

/// Whether [`take`] makes a missing lock file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Create {
    /// No: a missing file is `Taken::Missing`.
    No,
    /// The file, in its directory if that exists (else `Taken::Missing`).
    File,
    /// The file's directory too, but not beyond it (else `Taken::Missing`).
    Dir,
    /// The file and every directory above it that is missing.
    Path,
}

/// What [`take`] found.
pub(crate) enum Taken {
    /// Locked, and the file is the one the path names.
    Held(Lock),
    /// There is no lock file (and none was to be made): nothing to lock.
    Missing,
}

/// Lock files this process holds, by path, with how many holders (more than one only for a
/// shared lock): a lock found taken is then "in this process", never blamed on another.
/// A `std` mutex, not `parking_lot`'s: it is locked around `fork` (`crate::ffi`), and a `std`
/// mutex unlocked in the child hands itself to no thread that the child does not have.
static HELD: Lazy<Mutex<HashMap<PathBuf, usize>>> = Lazy::new(|| Mutex::new(HashMap::new()));

fn held() -> MutexGuard<'static, HashMap<PathBuf, usize>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many times `take` retries when the path has moved on between the open and the lock:
/// each retry follows a removal or creation that completed in between, so a few suffice;
/// past this the sandbox is reported busy.
const RETRIES: usize = 64;

/// Lock `path` (`kind`), making what `create` says when it is missing. Fails with `Busy` or
/// `InUse` when the lock is taken, naming `path`.
pub(crate) fn take(path: &Path, kind: Kind, create: Create) -> Result<Taken, OpenError> {
    for _ in 0..RETRIES {
        if let Some(taken) = take_once(path, kind, create)? {
            return Ok(taken);
        }
    }
    Err(OpenError::Busy(path.to_path_buf()))
}

/// One attempt; `None` when the path moved on meanwhile (try again).
fn take_once(path: &Path, kind: Kind, create: Create) -> Result<Option<Taken>, OpenError> {
    let dir = path.parent().expect("a lock file is in a directory");
    let name = path.file_name().expect("a lock file has a name");
    let (file, created) = match open(path, create) {
        Ok(opened) => opened,
        // A directory above went meanwhile (a removal, a user directory emptied): made again.
        Err(e) if e.kind() == io::ErrorKind::NotFound && create == Create::Path => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(Taken::Missing)),
        Err(e) => return Err(e.into()),
    };
    step(Step::LockFileOpened);
    let key = match std::fs::canonicalize(dir) {
        Ok(d) => d.join(name),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut table = held();
    let tried = match kind {
        Kind::Shared => file.try_lock_shared(),
        Kind::Exclusive => file.try_lock(),
    };
    match tried {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(if table.contains_key(&key) {
                OpenError::InUse(path.to_path_buf())
            } else {
                OpenError::Busy(path.to_path_buf())
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    *table.entry(key.clone()).or_default() += 1;
    drop(table);
    // From here an error or a retry drops `lock`, which unlocks and unlists.
    let lock = Lock { key, file, owner: std::process::id(), live: AtomicBool::new(true), created };
    step(Step::LockTaken);
    let now = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !same_file(&lock.file.metadata()?, &now) {
        return Ok(None);
    }
    Ok(Some(Taken::Held(lock)))
}

/// Open the lock file for locking; whether this call made it.
fn open(path: &Path, create: Create) -> io::Result<(File, bool)> {
    let dir = path.parent().expect("a lock file is in a directory");
    match create {
        Create::No | Create::File => {}
        Create::Dir => match std::fs::create_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        },
        Create::Path => std::fs::create_dir_all(dir)?,
    }
    if create != Create::No {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(f) => return Ok((f, true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok((OpenOptions::new().write(true).open(path)?, false))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

impl Lock {
    /// Unlock and unlist, as one step under HELD's mutex (see the module comment).
    pub(crate) fn release(&self) {
        if std::process::id() != self.owner {
            return; // a forked child's copy: the lock is the parent's
        }
        if self.live.swap(false, Ordering::AcqRel) {
            let mut table = held();
            let _ = self.file.unlock();
            if let Some(n) = table.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    table.remove(&self.key);
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.release();
    }
}

/// Around `fork`: the prepare handler locks HELD (returned), so no thread holds it at the
/// instant of fork.
pub(crate) fn fork_prepare() -> MutexGuard<'static, HashMap<PathBuf, usize>> {
    held()
}

/// In the child: none of the parent's locks is this process's (its copies of the descriptors
/// lock nothing of their own, and are never unlocked here).
pub(crate) fn fork_child(table: &mut HashMap<PathBuf, usize>) {
    table.clear();
}
