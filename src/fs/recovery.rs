//! What open repairs after a crash, before the journal is replayed: unzips cut short are
//! completed from their staged files, interrupted writes are removed from staging, torn appends
//! are cut back. And how recovery measures what a path holds.

use std::io;

use cap_std::fs::{MetadataExt, OpenOptions};
use serde::{Deserialize, Serialize};

use super::values::OpenReport;
use super::walk;
use crate::quota::journal::Entry;
use crate::quota::Usage;
use crate::sandbox::{Area, Sandbox};

/// The plan of an unzip being moved into place (`staging/<unzip dir>/PLAN`): which staged file
/// goes where beneath usr, and the directories it needs. Written, whole, after every file is
/// staged and before the first one moves; removed once the last one is in place. An unzip whose
/// plan a crash left behind is completed at the next open.
#[derive(Serialize, Deserialize)]
pub(crate) struct Plan {
    /// The unzip's target, relative to usr.
    pub target: String,
    /// Directories to create beneath usr, parents first.
    pub dirs: Vec<String>,
    /// (name of the staged file in the unzip's folder, destination relative to usr).
    pub files: Vec<(String, String)>,
}

pub(crate) const PLAN: &str = "PLAN";
pub(crate) const UNZIP_PREFIX: &str = "unzip-";

/// Move every staged file of `plan` that is still staged into place. Returns the number moved.
pub(crate) fn roll_forward(sb: &Sandbox, folder: &str, plan: &Plan) -> io::Result<u64> {
    let usr = sb.area_dir(Area::Usr)?;
    let staging = sb.staging()?;
    for d in &plan.dirs {
        match usr.create_dir(d) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => crate::crash::point(),
        }
    }
    let mut moved = 0;
    for (name, to) in &plan.files {
        let from = format!("{folder}/{name}");
        match staging.rename(&from, &usr, to) {
            Ok(()) => {
                moved += 1;
                crate::crash::point();
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {} // moved before the crash
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}

/// Complete the unzips a crash interrupted and clear everything else out of staging.
pub(crate) fn finish_staging(sb: &Sandbox, report: &mut OpenReport) {
    let Ok(staging) = sb.staging() else { return };
    let staging = &*staging;
    let Ok(entries) = staging.entries() else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            let plan = staging
                .read(format!("{name}/{PLAN}"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Plan>(&b).ok())
                .filter(|_| name.starts_with(UNZIP_PREFIX));
            if let Some(plan) = plan {
                if let Ok(n) = roll_forward(sb, &name, &plan) {
                    report.unzips_completed.push((plan.target.clone(), n));
                    let _ = staging.remove_file(format!("{name}/{PLAN}"));
                    crate::crash::point();
                } else {
                    continue; // keep it: the next open tries again
                }
            } else {
                let (bytes, count) = walk::measure(staging, &name, false).unwrap_or((0, 0));
                report.staging_removed.0 += count;
                report.staging_removed.1 += bytes;
            }
            let _ = walk::remove_tree(staging, &name);
        } else {
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if staging.remove_file(&name).is_ok() {
                report.staging_removed.0 += 1;
                report.staging_removed.1 += len;
                crate::crash::point();
            }
        }
    }
}

/// Bytes and entries a journal entry's path holds now: a file's length and 1, a directory's
/// totals, or nothing.
pub fn measure_entry(sb: &Sandbox, e: &Entry) -> (u64, u64) {
    let Ok(dir) = sb.area_dir(e.area) else { return (0, 0) };
    walk::measure(&dir, &e.rel, e.rel != ".").unwrap_or((0, 0))
}

/// If `e` records a write (an append, or a write through an fd) that a crash tore, put the
/// file back as it was before it, and return the bytes taken back. Only the file the entry
/// names by inode is ever touched; a file that merely took the name since is left alone.
/// - A write with an `undo` record (an append, a write past the end, or a write over held bytes):
///   complete when the file reaches `end` and the range holds the bytes written (their CRC);
///   otherwise the old bytes (none for an append) go back and the length is restored. A power
///   cut can keep an append's new length with some of its sectors never written (zeros), so the
///   length alone does not tell.
/// - An append recorded by an older journal (`after` only): a file found strictly between the
///   length before and `after` is cut back.
pub(crate) fn roll_back_torn_write(sb: &Sandbox, e: &Entry) -> Option<u64> {
    if e.after.is_none() && e.undo.is_none() {
        return None;
    }
    let dir = sb.area_dir(e.area).ok()?;
    let meta = dir.symlink_metadata(&e.rel).ok()?;
    if !meta.is_file() || e.ino.is_some_and(|ino| ino != meta.ino()) {
        return None;
    }
    let len = meta.len();
    let mut opts = OpenOptions::new();
    opts.read(true).write(true);
    if let Some(u) = &e.undo {
        let f = dir.open_with(&e.rel, &opts).ok()?.into_std();
        let complete = len >= u.end && super::read_exact_at(&f, u.at, u.end - u.at).is_ok_and(|b| crc32fast::hash(&b) == u.crc);
        if complete {
            return None;
        }
        use std::os::unix::fs::FileExt;
        f.write_all_at(&u.old, u.at).ok()?;
        f.set_len(e.before).and_then(|_| f.sync_data()).ok()?;
        return Some(u.end - u.at);
    }
    let after = e.after?;
    if len > e.before && len < after {
        let f = dir.open_with(&e.rel, &opts).ok()?;
        f.set_len(e.before).and_then(|_| f.sync_data()).ok()?;
        return Some(len - e.before);
    }
    None
}

/// Usage from the files themselves: the rebuild when the journal is missing or corrupt.
pub fn scan(sb: &Sandbox) -> io::Result<Usage> {
    let (ub, ue) = walk::measure(&*sb.area_dir(Area::Usr)?, ".", false)?;
    let (sb_, se) = walk::measure(&*sb.area_dir(Area::Store)?, ".", false)?;
    let (tb, _) = walk::measure(&*sb.area_dir(Area::Tmp)?, ".", false)?;
    Ok(Usage { user: ub + sb_, temp: tb, entries: ue + se })
}
