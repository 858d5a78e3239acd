//! Usage accounting against the limits of DESIGN.md §4.
//!
//! `Usage` is plain data: callers hold it under the lock that also covers the write it admits,
//! so a check and its write are one atomic step.

use std::io;

use cap_std::fs::Dir;

pub mod cleanup;
pub mod journal;

/// Limits of one sandbox, in bytes (`open_files` is a count). Every one is configurable at open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub user_files: u64,
    pub temp_runtime: u64,
    pub temp_keep: u64,
    pub temp_all_sandboxes: u64,
    pub storage_item: u64,
    pub storage_total: u64,
    pub read_file: u64,
    /// Open fds of one sandbox (a count).
    pub open_files: u64,
    /// Files and directories in usr and store together (a count).
    pub entries: u64,
}

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            user_files: 200 * MIB,
            temp_runtime: 4 * GIB,
            temp_keep: 2 * GIB,
            temp_all_sandboxes: 6 * GIB,
            storage_item: MIB,
            storage_total: 10 * MIB,
            read_file: 100 * MIB,
            open_files: default_open_files(),
            entries: 200_000,
        }
    }
}

/// The process's soft fd limit (`RLIMIT_NOFILE`); 1,024 where it cannot be read or is unlimited.
pub fn process_fd_limit() -> u64 {
    match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        Some(n) if n > 0 => n,
        _ => 1024,
    }
}

/// One sandbox may hold a quarter of the process's fds, between 16 and 1,024: the host keeps
/// the rest (1,024 on Linux gives 256; iOS's 256 gives 64).
pub fn default_open_files() -> u64 {
    (process_fd_limit() / 4).clamp(16, 1024)
}

/// Bytes in use: usr + store together (one quota) and tmp (its own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub user: u64,
    pub temp: u64,
}

impl Usage {
    /// Whether growing user+saved files by `delta` bytes stays within `limit`.
    pub fn user_fits(&self, delta: i64, limit: u64) -> bool {
        delta <= 0 || self.user.saturating_add(delta as u64) <= limit
    }

    pub fn add_user(&mut self, delta: i64) {
        self.user = apply(self.user, delta);
    }

    pub fn add_temp(&mut self, delta: i64) {
        self.temp = apply(self.temp, delta);
    }
}

fn apply(v: u64, delta: i64) -> u64 {
    if delta >= 0 {
        v.saturating_add(delta as u64)
    } else {
        v.saturating_sub(delta.unsigned_abs())
    }
}

/// Logical bytes of the regular files beneath `dir`, not following symlinks.
pub fn measure(dir: &Dir) -> io::Result<u64> {
    let mut total = 0u64;
    for entry in dir.entries()? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            total += measure(&entry.open_dir()?)?;
        } else if ft.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// Signed difference `new - old`, saturating.
pub fn delta(new: u64, old: u64) -> i64 {
    if new >= old {
        i64::try_from(new - old).unwrap_or(i64::MAX)
    } else {
        -i64::try_from(old - new).unwrap_or(i64::MAX)
    }
}

/// Bytes of the regular files directly in `dir` (the flat temp area), without a capability handle.
pub fn measure_flat(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}
