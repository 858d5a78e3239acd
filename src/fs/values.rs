//! Plain values the file system hands out: stats, saved-file records, temp sources, what open found.

use std::path::PathBuf;

use cap_std::fs::{Metadata, MetadataExt};

/// What `stat` reports for one file or directory (docs/wechat-behaviour.md §1 Stats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The Unix mode: file type and permission bits.
    pub mode: u32,
    /// Bytes (of a file).
    pub size: u64,
    /// Last access, in seconds since the Unix epoch.
    pub last_accessed_time: i64,
    /// Last modification, in seconds since the Unix epoch.
    pub last_modified_time: i64,
}

impl Stats {
    pub(crate) fn from_meta(m: &Metadata) -> Stats {
        Stats { mode: m.mode(), size: m.len(), last_accessed_time: m.atime(), last_modified_time: m.mtime() }
    }

    pub(crate) fn from_std(m: &std::fs::Metadata) -> Stats {
        use std::os::unix::fs::MetadataExt as _;
        Stats { mode: m.mode(), size: m.len(), last_accessed_time: m.atime(), last_modified_time: m.mtime() }
    }

    /// Whether the mode says directory.
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
}

/// What `stat` returns: one entry, or a whole tree with `recursive`.
pub enum StatResult {
    /// Stats of the path itself.
    One(Stats),
    /// Recursive stat of a directory: its entries went to the [`Listing`], `"/"` first, then
    /// `"/<rel>"` parents before children.
    Tree,
}

/// Receives a recursive listing entry by entry, while the walk runs, so nothing is gathered
/// first (docs/design.md §4, one call's result). Each entry is charged when its directory is
/// read, before the walk keeps it; a charge that fails (the result's budget is spent) stops the
/// walk there with that error.
pub trait Listing {
    /// Charge the entry `name` beneath the shown path `parent` (`""` for the top of the walk,
    /// so the entry shows as `"{parent}/{name}"`; the top itself is charged as `("", "")`).
    fn charge(&mut self, parent: &str, name: &str, stats: &Stats) -> crate::error::Result<()>;
    /// The entry at `shown` (`"/"`, or `"/<path relative to the top>"`), in pre-order: parents
    /// before children, siblings by name.
    fn entry(&mut self, shown: &str, stats: &Stats);
}

/// One entry of getSavedFileList.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedFile {
    /// Its path (`wxfile://store_...`).
    pub file_path: String,
    /// Bytes.
    pub size: u64,
    /// When it was saved (the file's ctime), in seconds since the Unix epoch.
    pub create_time: i64,
}

/// Bytes to write, or a host file to take them from.
pub enum TempSource<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// A host file.
    File {
        /// The host file.
        path: PathBuf,
        /// Move it in (rename, or copy and delete) rather than copy it.
        take: bool,
    },
}

/// Durability of file replacement: `power` flushes data and directory before returning. One
/// definition for the file system, the store and the quota journal.
pub use crate::io::Durability;

/// What open found and repaired: the figures a host log reports (paths relative to the sandbox).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Why the journal was rebuilt from a scan (missing, corrupt, an earlier format), if it was.
    pub rebuilt: Option<String>,
    /// Reservations cut short by a crash and settled from real sizes.
    pub settled: usize,
    /// Bytes of a torn journal tail that were cut off.
    pub truncated: u64,
    /// Journal records replayed.
    pub replayed: u64,
    /// Appends torn by a crash and cut back: (path in its area, bytes removed).
    pub rolled_back: Vec<(String, u64)>,
    /// Unzips a crash interrupted, completed from their staged files: (target in usr, files placed).
    pub unzips_completed: Vec<(String, u64)>,
    /// Interrupted writes removed from staging: (count, bytes).
    pub staging_removed: (u64, u64),
}
