//! Usage accounting against the limits of docs/design.md §4.
//!
//! `Usage` is plain data: callers hold it under the lock that also covers the write it admits,
//! so a check and its write are one atomic step.

// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod cleanup;
// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod journal;

/// Limits of one sandbox, in bytes (`open_files` is a count). Every one is configurable at open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of `usr` and `store` files together (default 200 MiB).
    pub user_files: u64,
    /// Bytes of temp files while the mini-program runs (default 4 GiB).
    pub temp_runtime: u64,
    /// Bytes of temp files kept after close; least recently used go first (default 2 GiB).
    pub temp_keep: u64,
    /// Bytes of temp files of all sandboxes under the root, kept by `wxfs_gc` given 0
    /// (default 6 GiB).
    pub temp_all_sandboxes: u64,
    /// Bytes of one storage item, key and value (default 1 MiB).
    pub storage_item: u64,
    /// Bytes of all storage items together (default 10 MiB).
    pub storage_total: u64,
    /// Most bytes one readFile returns (default 100 MiB).
    pub read_file: u64,
    /// Open fds of one sandbox (a count).
    pub open_files: u64,
    /// Files and directories in usr and store together (a count); the quota lowers it further
    /// (see [`Limits::entries_allowed`]).
    pub entries: u64,
    /// Bytes the sandbox's `createBufferURL` URLs may hold in memory together.
    pub buffer_urls: u64,
    /// Bytes of one file of usr or store: none (`u64::MAX`) for WeChat, the platform's own
    /// limit elsewhere (Alipay's 10 MB). No call makes or grows a file past it.
    pub single_file: u64,
}

/// One mebibyte, in bytes.
pub const MIB: u64 = 1024 * 1024;
/// One gibibyte, in bytes.
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
            buffer_urls: 64 * MIB,
            single_file: u64::MAX,
        }
    }
}

/// Bytes of quota that each entry (file or directory) of usr and store stands for: a sandbox
/// holds at most one entry per KiB of `user_files` ...
pub const QUOTA_PER_ENTRY: u64 = 1024;
/// ... and never fewer than this many, whatever its quota.
pub const ENTRIES_FLOOR: u64 = 1024;

impl Limits {
    /// The entries (files and directories of usr and store) a sandbox may hold: `entries`, and
    /// at most one per KiB of `user_files`, never fewer than 1,024. An entry needs no byte of
    /// quota (an empty file, a directory), yet the file system spends blocks and an inode on it:
    /// a directory's first block, the unused tail of a file's last block, its name in its
    /// parent. Bounding the entries by the quota bounds what the sandbox occupies on disk by its
    /// quota plus a stated slack (docs/design.md §4): at most two 4 KiB blocks and 264 bytes of
    /// directory per entry. WeChat's default (200 MiB) allows 204,800, so `entries` (200,000)
    /// is what binds there, as before.
    pub fn entries_allowed(&self) -> u64 {
        self.entries.min((self.user_files / QUOTA_PER_ENTRY).max(ENTRIES_FLOOR))
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

/// What a sandbox uses: bytes of usr + store together (one quota), bytes of tmp (its own), and
/// entries (files and directories) of usr + store. This is what the journal keeps; bytes that
/// open fds hold after their file was unlinked or replaced are counted apart, in memory (they
/// are gone after any restart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of usr + store.
    pub user: u64,
    /// Bytes of tmp.
    pub temp: u64,
    /// Files and directories of usr + store.
    pub entries: u64,
}

/// A signed change of each [`Usage`] figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Change of [`Usage::user`].
    pub user: i64,
    /// Change of [`Usage::temp`].
    pub temp: i64,
    /// Change of [`Usage::entries`].
    pub entries: i64,
}

impl Delta {
    /// No change.
    pub const ZERO: Delta = Delta { user: 0, temp: 0, entries: 0 };

    /// A change of user bytes and entries only.
    pub fn user(user: i64, entries: i64) -> Delta {
        Delta { user, temp: 0, entries }
    }

    /// Whether nothing changes.
    pub fn is_zero(&self) -> bool {
        *self == Delta::ZERO
    }
}

impl std::ops::Add for Delta {
    type Output = Delta;
    fn add(self, o: Delta) -> Delta {
        Delta {
            user: self.user.saturating_add(o.user),
            temp: self.temp.saturating_add(o.temp),
            entries: self.entries.saturating_add(o.entries),
        }
    }
}

impl std::ops::AddAssign for Delta {
    fn add_assign(&mut self, o: Delta) {
        *self = *self + o;
    }
}

impl Usage {
    /// Add `d` to each figure, saturating at 0 and `u64::MAX`.
    pub fn apply(&mut self, d: Delta) {
        self.user = apply(self.user, d.user);
        self.temp = apply(self.temp, d.temp);
        self.entries = apply(self.entries, d.entries);
    }
}

fn apply(v: u64, delta: i64) -> u64 {
    if delta >= 0 {
        v.saturating_add(delta as u64)
    } else {
        v.saturating_sub(delta.unsigned_abs())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entries_allowed_scale_with_the_quota_above_a_floor() {
        let with = |user_files, entries| Limits { user_files, entries, ..Limits::default() }.entries_allowed();
        // WeChat's defaults: unchanged, the 200,000 of limits.entries binds.
        assert_eq!(Limits::default().entries_allowed(), 200_000);
        assert_eq!(with(52_428_800, 200_000), 51_200); // Alipay's 50 MB
        assert_eq!(with(10 * MIB, 200_000), 10_240); // Douyin, Baidu, QQ
        assert_eq!(with(1024, 200_000), 1024);
        assert_eq!(with(0, 200_000), 1024);
        assert_eq!(with(GIB, 200_000), 200_000);
        assert_eq!(with(GIB, 2_000_000), 1_048_576);
        assert_eq!(with(1024, 40), 40);
    }
}
