//! `wxfs gc` and `wxfs fsck`: the maintenance a host runs over a whole root.

use std::path::Path;

use crate::inspect::existing_root;
use crate::progress;

/// `limit` 0 means the default, as `wxfs_gc(root, 0, ...)` does: one meaning for both.
pub fn gc(root: &Path, limit: u64) -> Result<(), String> {
    existing_root(root)?;
    let limit = if limit == 0 { wxfs::quota::Limits::default().temp_all_sandboxes } else { limit };
    let r = wxfs::session::gc(root, limit, progress("gc")).map_err(|e| format!("gc failed: {e}"))?;
    println!("temp files: {} bytes before, {} after (limit {limit})", r.before, r.after);
    for d in &r.trimmed {
        println!("  trimmed {}", wxfs::events::relative(root, d));
    }
    for d in &r.busy {
        println!("  skipped (open) {}", wxfs::events::relative(root, d));
    }
    Ok(())
}

pub fn fsck(root: &Path, repair: bool) -> Result<(), String> {
    existing_root(root)?;
    let reports = wxfs::fsck::fsck(root, repair, progress("fsck")).map_err(|e| format!("fsck failed: {e}"))?;
    let mut bad = 0;
    for r in &reports {
        let problems = r.problems();
        let state = if r.busy {
            "open elsewhere, not checked".to_string()
        } else if problems.is_empty() {
            format!("ok ({} user bytes, {} temp bytes, {} storage records)", r.real.user, r.real.temp, r.storage.records)
        } else {
            format!("{} problem(s)", problems.len())
        };
        println!("{}: {state}", wxfs::events::relative(root, &r.dir));
        for p in &problems {
            println!("  - {p}");
        }
        for f in &r.repaired {
            println!("  + {f}");
        }
        if !problems.is_empty() && r.repaired.is_empty() {
            bad += 1;
        }
    }
    println!("{} sandboxes checked, {} with unrepaired problems", reports.len(), bad);
    if bad > 0 {
        Err("fsck found problems; run with --repair to fix them".into())
    } else {
        Ok(())
    }
}
