//! Removing a sandbox (the user deleted the mini-program), as one atomic step seen from any
//! process (docs/design.md §7):
//!
//! 1. Take every lock that an open of anything inside the sandbox would need: for an app, its
//!    `LOCK`, the plugin tree lock exclusive (no plugin sandbox can be opened or made inside
//!    it; made if missing), `LOCK` made if it was missing (so that an app open racing the
//!    removal finds it held), and each plugin's `LOCK`; for a plugin, the tree lock shared and its `LOCK`. Any of them taken:
//!    `Busy` (another process) or `InUse` (this one), and nothing changed.
//! 2. Rename the sandbox directory to a tombstone beside it ([`TOMBSTONE_PREFIX`], a name no id
//!    encodes to): the one step that removes it. Before it, an open fails busy; after it, an
//!    open makes a new, empty sandbox in its place, which the removal never touches.
//! 3. Delete the tombstone, its `LOCK` last, while still holding it.
//!
//! A kill before step 2 leaves the sandbox whole; after it, a tombstone that the next open of
//! a sandbox beside it, or the next gc, deletes ([`clean_tombstones`]), unless its lock shows a
//! live removal still at work on it.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use super::lock::{self, Create, Kind, Taken};
use super::steps::{step, Step};
use super::{
    claim, is_tombstone, naming, plugin_sandboxes, random_name, OpenError, Site, LOCK, PLUGINS, TOMBSTONE_PREFIX, TREE_LOCK,
};

/// What a removal did.
#[derive(Debug)]
pub struct Removed {
    /// There was a sandbox (an app's `LOCK`, or a plugin's sandbox in it).
    pub existed: bool,
    /// The tombstone could not be deleted whole: where it is and why. The sandbox is gone all
    /// the same; the next gc or open beside it deletes the rest.
    pub left: Option<(PathBuf, io::Error)>,
}

/// Remove the sandbox at `site` (an app's takes its plugins' with it). `existed` is false when
/// there was nothing to remove.
pub fn remove(site: &Site) -> Result<Removed, OpenError> {
    let nothing = Removed { existed: false, left: None };
    let _claim = claim(site);
    let dir = &site.dir;
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(nothing),
        Err(e) => return Err(e.into()),
        Ok(m) if !m.is_dir() => return Ok(nothing),
        Ok(_) => {}
    }
    let Some(locks) = take_all(site)? else { return Ok(nothing) };
    let existed = locks.existed;
    step(Step::RemovalLocked);
    let parent = dir.parent().expect("a sandbox directory has a parent");
    let tomb = parent.join(format!("{TOMBSTONE_PREFIX}{}", random_name(None)));
    match std::fs::rename(dir, &tomb) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(nothing),
        Err(e) => return Err(e.into()),
    }
    step(Step::RemovalRenamed);
    let left = delete(&tomb).err().map(|e| (tomb.clone(), e));
    drop(locks);
    if !site.plugin {
        let _ = std::fs::remove_dir(parent); // the user's directory, if no other app of theirs is left
    }
    Ok(Removed { existed, left })
}

/// The locks a removal holds, released (on files by then deleted) when dropped.
struct Locks {
    _held: Vec<lock::Lock>,
    existed: bool,
}

/// Step 1; `None` when the sandbox went meanwhile.
fn take_all(site: &Site) -> Result<Option<Locks>, OpenError> {
    let dir = &site.dir;
    let mut held = Vec::new();
    let mut take = |path: PathBuf, kind: Kind, create: Create| -> Result<bool, OpenError> {
        match lock::take(&path, kind, create)? {
            Taken::Held(l) => {
                held.push(l);
                Ok(true)
            }
            Taken::Missing => Ok(false),
        }
    };
    let existed;
    if site.plugin {
        let tree = dir.parent().expect("a plugin's sandbox is in its app's plugin directory").join(TREE_LOCK);
        existed = dir.join(LOCK).exists();
        if !take(tree, Kind::Shared, Create::File)? || !take(dir.join(LOCK), Kind::Exclusive, Create::File)? {
            return Ok(None);
        }
    } else {
        // Its own lock first: a removal that meets the app open has made nothing. The plugin
        // tree lock next (made if missing, once the app is ours); `LOCK` made last if missing,
        // so that an app open racing the removal finds it held.
        let had_lock = take(dir.join(LOCK), Kind::Exclusive, Create::No)?;
        let plugins = dir.join(naming::encode_id(PLUGINS));
        if !take(plugins.join(TREE_LOCK), Kind::Exclusive, Create::Dir)? {
            return Ok(None);
        }
        if !had_lock && !take(dir.join(LOCK), Kind::Exclusive, Create::File)? {
            return Ok(None);
        }
        // With the tree lock held no plugin sandbox appears; those made by a release without
        // it are locked one by one.
        let found = plugin_sandboxes(dir);
        for p in &found {
            take(p.join(LOCK), Kind::Exclusive, Create::No)?;
        }
        existed = had_lock || !found.is_empty();
    }
    Ok(Some(Locks { _held: held, existed }))
}

/// Delete a tombstone (or the directory a tombstone was), its own `LOCK` last; entries another
/// cleaner deleted first are no error.
fn delete(tomb: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(tomb) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        r => r?,
    };
    for e in entries {
        let e = e?;
        if e.file_name() == OsStr::new(LOCK) {
            continue;
        }
        delete_entry(&e.path())?;
    }
    ignore_missing(std::fs::remove_file(tomb.join(LOCK)))?;
    step(Step::RemovalDeleted);
    ignore_missing(std::fs::remove_dir(tomb))
}

fn delete_entry(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        r => r?,
    };
    if meta.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            r => r?,
        };
        for e in entries {
            delete_entry(&e?.path())?;
        }
        ignore_missing(std::fs::remove_dir(path))?;
    } else {
        ignore_missing(std::fs::remove_file(path))?;
    }
    step(Step::RemovalDeleting);
    Ok(())
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Delete the tombstones in `dir` (a user's directory, or an app's `plugin/`) that no live
/// removal is deleting (its `LOCK` is free). Returns how many were deleted whole.
pub fn clean_tombstones(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut cleaned = 0;
    for e in entries.flatten() {
        if !is_tombstone(&e.file_name()) {
            continue;
        }
        let tomb = e.path();
        let _lock = match lock::take(&tomb.join(LOCK), Kind::Exclusive, Create::No) {
            Ok(Taken::Held(l)) => Some(l),
            Ok(Taken::Missing) => None,
            Err(_) => continue, // a removal is still at work on it
        };
        if delete(&tomb).is_ok() {
            cleaned += 1;
        }
    }
    cleaned
}
