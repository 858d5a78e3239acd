//! `verify`: the read-only check of a storage log that fsck runs.

use std::io;
use std::path::Path;

use super::files::{COMPACT_NAME, LOG_NAME, NEXT_PREFIX};
use super::recovery::recover;
use super::{record, v1};
use crate::io::{LogIo, StdIo};

/// What a read-only check of a storage log found (fsck).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verify {
    /// Whole records, as open would read them (past damage in the middle, see `damaged`).
    pub records: u64,
    /// Bytes between the last whole record and the last non-zero byte, which open would zero.
    pub bad_tail: u64,
    /// Damaged bytes in the middle of the log, which open would keep aside and skip.
    pub damaged: u64,
    /// The header is not ours (open would set the file aside).
    pub bad_header: bool,
    /// A leftover compaction file (open removes it).
    pub leftover_compact: bool,
    /// A compacted log that went live under `data.log.next-<n>` and was not yet renamed over
    /// `data.log` when the process stopped: open takes it if its compacted part is whole (the
    /// counts here are those of `data.log`), else removes it.
    pub pending_next: bool,
    /// The log is in an older format version that open upgrades.
    pub old_version: Option<u32>,
}

/// Check the log in `dir` without changing anything.
pub fn verify(dir: &Path) -> io::Result<Verify> {
    let pending_next = StdIo.list(dir).is_ok_and(|names| names.iter().any(|n| n.starts_with(NEXT_PREFIX)));
    let mut v = Verify { leftover_compact: dir.join(COMPACT_NAME).exists(), pending_next, ..Verify::default() };
    let bytes = match std::fs::read(dir.join(LOG_NAME)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(e),
    };
    match record::check_header(&bytes) {
        record::Header::Valid => {}
        record::Header::Version(v1::VERSION) => {
            v.old_version = Some(v1::VERSION);
            let mut off = record::HEADER_LEN;
            while let Some((_, n)) = v1::decode(&bytes[off..]) {
                v.records += 1;
                off += n;
            }
            v.bad_tail = (bytes.len() - off) as u64;
            return Ok(v);
        }
        record::Header::Torn => return Ok(v),
        _ => {
            v.bad_header = true;
            return Ok(v);
        }
    }
    let found = recover(&bytes, |r| record::parse(&bytes, r, |_| {}));
    v.records = found.records;
    v.bad_tail = found.torn as u64;
    v.damaged = found.spans.iter().map(|s| s.len() as u64).sum();
    Ok(v)
}
