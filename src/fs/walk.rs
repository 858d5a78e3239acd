//! Walks of a directory tree beneath an area, with no recursion on the call stack and at most two
//! directory fds open at a time: each directory is opened by its path from the area's root. Paths
//! the API lets a mini-program build are at most `MAX_DEPTH` components and `MAX_REL_PATH` bytes,
//! so these walks are bounded in stack, fds and path length. A tree planted deeper behind the
//! library's back fails with the OS's error (ENAMETOOLONG), never a crash.

use std::io;

use cap_std::fs::Dir;

use super::values::{Listing, Stats};
use crate::error::{Error, Result};

/// The directory at `rel` beneath `area` (`"."` or `""` is the area itself).
pub(crate) fn open_sub(area: &Dir, rel: &str) -> io::Result<Dir> {
    if rel.is_empty() || rel == "." {
        area.try_clone()
    } else {
        area.open_dir(rel)
    }
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() || rel == "." {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// Bytes of the regular files and the number of entries (files, directories, links) at and
/// beneath `rel`: `(len, 1)` for a file, `(0, 0)` for nothing. `count_self` is false for an area
/// root, which is not an entry of its own.
pub(crate) fn measure(area: &Dir, rel: &str, count_self: bool) -> io::Result<(u64, u64)> {
    let top = match area.symlink_metadata(if rel.is_empty() { "." } else { rel }) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let own = count_self as u64;
    if !top.is_dir() {
        return Ok((if top.is_file() { top.len() } else { 0 }, own));
    }
    let (mut bytes, mut entries) = (0u64, own);
    let mut stack = vec![rel.to_string()];
    while let Some(dir) = stack.pop() {
        for entry in open_sub(area, &dir)?.entries()? {
            let entry = entry?;
            entries += 1;
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(join(&dir, &entry.file_name().to_string_lossy()));
            } else if ft.is_file() {
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((bytes, entries))
}

/// Hands every entry beneath `rel` to `list` as `"/<path relative to rel>"`, parents before
/// children and siblings by name (a pre-order walk, as recursion would give it). A directory's
/// entries are charged to `list` as they are read, before any is kept (they are kept only to be
/// sorted); the first charge that fails ends the walk with its error.
pub(crate) fn stats_each(area: &Dir, rel: &str, list: &mut dyn Listing) -> Result<()> {
    let sys = |e: io::Error| Error::system(&e);
    // One frame per directory on the way down: its shown path, its path from the area, and the
    // entries not yet handed out, sorted.
    let read = |dir_rel: &str, shown: &str, list: &mut dyn Listing| -> Result<std::vec::IntoIter<(String, Stats, bool)>> {
        let mut v = Vec::new();
        for entry in open_sub(area, dir_rel).map_err(sys)?.entries().map_err(sys)? {
            let entry = entry.map_err(sys)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stats = Stats::from_meta(&entry.metadata().map_err(sys)?);
            list.charge(shown, &name, &stats)?;
            let is_dir = entry.file_type().map_err(sys)?.is_dir();
            v.push((name, stats, is_dir));
        }
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(v.into_iter())
    };
    let mut frames = vec![(String::new(), rel.to_string(), read(rel, "", list)?)];
    while let Some((shown, dir_rel, rest)) = frames.last_mut() {
        let Some((name, stats, is_dir)) = rest.next() else {
            frames.pop();
            continue;
        };
        let child = format!("{shown}/{name}");
        list.entry(&child, &stats);
        if is_dir {
            let child_rel = join(dir_rel, &name);
            let children = read(&child_rel, &child, list)?;
            frames.push((child, child_rel, children));
        }
    }
    Ok(())
}

/// Remove the directory `rel` and everything beneath it, children before parents. Stops at the
/// first failure, leaving what it has not reached.
pub(crate) fn remove_tree(area: &Dir, rel: &str) -> io::Result<()> {
    let mut stack: Vec<(String, bool)> = vec![(rel.to_string(), false)];
    while let Some((dir, emptied)) = stack.pop() {
        if emptied {
            area.remove_dir(&dir)?;
            crate::crash::point();
            continue;
        }
        stack.push((dir.clone(), true));
        for entry in open_sub(area, &dir)?.entries()? {
            let entry = entry?;
            let child = join(&dir, &entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                stack.push((child, false));
            } else {
                area.remove_file(&child)?;
                crate::crash::point();
            }
        }
    }
    Ok(())
}

/// The deepest and the longest path beneath the directory `rel`, relative to it: (components,
/// bytes with one `/` per component). The walk stops, returning what it found so far, once
/// either passes its bound: the caller only needs to know that the subtree does not fit.
pub(crate) fn extent(area: &Dir, rel: &str, max_depth: usize, max_len: usize) -> io::Result<(usize, usize)> {
    let (mut depth, mut len) = (0usize, 0usize);
    let mut stack = vec![(rel.to_string(), 0usize, 0usize)];
    while let Some((dir, d, l)) = stack.pop() {
        for entry in open_sub(area, &dir)?.entries()? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let (cd, cl) = (d + 1, l + name.len() + 1);
            depth = depth.max(cd);
            len = len.max(cl);
            if depth > max_depth || len > max_len {
                return Ok((depth, len));
            }
            if entry.file_type()?.is_dir() {
                stack.push((join(&dir, &name), cd, cl));
            }
        }
    }
    Ok((depth, len))
}
