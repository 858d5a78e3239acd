//! The log file: a preallocated file, mapped shared, that records are copied into.
//!
//! Invariants kept here:
//! - `data.log` always starts with a valid header once it exists: a new log (fresh, compacted or
//!   upgraded) is written to `data.log.compact`, synced, and renamed over `data.log`. A kill or
//!   power cut at any instant leaves the old complete log or the new complete log, never a
//!   rewritten one (MMKV's in-place write-back is what can wipe an MMKV store).
//! - The file is longer than its log: after the last record comes a zero tail, reserved on disk
//!   (`LogFile::allocate`), so a store through the mapping never meets a full disk. The end of
//!   the log is the last whole record that only zeros or a torn tail follow: open skips damage
//!   in the middle (a bad frame a whole record follows, `recover`), keeping its bytes aside.
//! - Every byte after the end is zero before anything is appended there: open zeroes a damaged
//!   tail (cut and re-extend), and a failed copy is zeroed before the next one. So a record
//!   never lands in front of stale bytes that could read as a record after the next kill.
//! - A record is copied payload first, frame header last: a kill between the two leaves a zero
//!   length, which reads as the end of the log.
//! - A version-1 log (release 0.1.0, read by `v1.rs`) is upgraded at open by the same
//!   write-then-rename as a compaction: a kill during the upgrade leaves the old log or the new.
//!
//! The promotion of a deferred compaction (its sync and rename over `data.log`, on a thread)
//! and the spare log it leaves behind are in `promote.rs`: this file starts and waits for them.
//! Writing a new log's file, what open does with the files it finds, and their names are in
//! `files.rs`: this file calls them.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{
    install, install_parts, keep_aside, read_v1, release, resolve_next, round_up, set_aside, Part, COMPACT_NAME, LOG_NAME,
    NEXT_PREFIX, PAGE,
};
use super::promote::{ignore_missing, Promoter, Promotion, RETIRED_NAME};
use super::record::{self, Header};
use super::recovery::{recover, Damage};
use super::v1;
use crate::io::{MapFlush, FRAME_HEADER};

/// The smallest step by which a full log grows.
const MIN_GROWTH: usize = 64 << 10;
/// A record's payload at least this long is copied with a write call (`LogMap::write_through`)
/// rather than through the mapping: a store into each fresh page of the mapping costs a read
/// fault (the page is read, or zeroed, into the cache) and a write fault (the file system
/// readies its block), several microseconds a page, where a write call fills the same pages in
/// one pass. Measured (set of one value, 16 keys churned): 12 KB 42 -> 31 µs, 100 KiB 320 ->
/// 168 µs; at 5 KB the two are even, and below it the mapping wins.
const WRITE_THROUGH: usize = 2 * PAGE;
/// Records copied through the mapping find their pages readied this many bytes at a time
/// (`LogMap::prefault`): one call instead of a fault or two on every fresh page. Measured: a
/// hot-key set through the C API 354-400 -> 284-358 ns. Only ahead of such records: readying
/// the pages a large record then writes through the file made a 100 KiB set 70% slower.
const PREFAULT: usize = 256 << 10;

pub use crate::io::{LogFile, LogIo, LogMap, StdIo};

/// The live log: its file, its mapping and where its end is.
pub struct Log {
    io: Arc<dyn LogIo>,
    dir: PathBuf,
    file: Arc<dyn LogFile>,
    map: Box<dyn LogMap>,
    /// Offset of the end of the last whole record: where the next one goes.
    len: usize,
    /// Bytes appended since open, plus the length at open. Unlike `len` it never goes back at a
    /// compaction, so "synced up to position p" stays meaningful across a switch of files.
    pos: u64,
    /// Bytes after `len` that a failed copy may have left: zeroed before the next append.
    dirty: usize,
    /// Number of logs installed by compaction since open.
    generation: u64,
    /// Set when the rename that installed this generation is not known to be durable yet.
    dir_unsynced: Option<u64>,
    /// Length of the longest record in this file (framing included): what compaction scales
    /// its slack by.
    largest: usize,
    /// The mapping's pages before this offset have been readied for stores (`PREFAULT`).
    prefaulted: usize,
    /// Set while the live file is a compaction's output not yet renamed over `data.log`.
    next: Option<PathBuf>,
    /// The length of that output's compacted part (its records from before it went live).
    compacted: usize,
    /// The sync and rename of `next`, under way on its own thread (`promote.rs`).
    promotion: Option<Promotion>,
    /// The I/O layer lists directories, so a compacted log may go live before it is synced.
    can_defer: bool,
    /// Tests: a promotion is run by `settle` (or stepped by the test) instead of a thread.
    manual_promotion: bool,
    /// The thread of the last promotion, which goes on after it to make the retired log a spare
    /// (`promote.rs`, `Promoter::make_spare`): a log is retired again only once it is done.
    maker: Option<std::thread::JoinHandle<()>>,
}

/// What `Log::open` found.
pub struct Opened {
    pub log: Log,
    pub records: u64,
    pub truncated_bytes: u64,
    pub corrupt_moved_to: Option<PathBuf>,
    /// The log was in this older format and has been rewritten in the current one.
    pub upgraded_from: Option<u32>,
    /// Damage in the middle of the log, skipped: the store must rewrite the log without it.
    pub damage: Option<Damage>,
}

impl Log {
    /// Opens (or creates) `dir/data.log`, calling `apply` with the whole file and each good
    /// record's payload range in order (`apply` returns false for a payload that does not
    /// decode: the log ends there), and zeroes whatever follows the last good record.
    pub fn open(io: Arc<dyn LogIo>, dir: &Path, mut apply: impl FnMut(&[u8], Range<usize>) -> bool) -> io::Result<Opened> {
        io.create_dir_all(dir)?;
        let path = dir.join(LOG_NAME);
        // A leftover compaction output never became live: the rename is what makes it live.
        ignore_missing(io.remove(&dir.join(COMPACT_NAME)))?;
        // A retired log not yet a spare: its zeros may not all be there.
        ignore_missing(io.remove(&dir.join(RETIRED_NAME)))?;
        let can_defer = resolve_next(&io, dir)?;
        let mut corrupt_moved_to = None;
        let mut upgraded = None;
        loop {
            let fresh = |io: &Arc<dyn LogIo>, truncated, corrupt_moved_to| -> io::Result<Opened> {
                let (file, map, len) = install(&**io, dir, &[], record::HEADER_LEN)?;
                io.sync_dir(dir)?;
                let mut log = Log::new(io.clone(), dir, file, map, len);
                log.can_defer = can_defer;
                Ok(Opened { log, records: 0, truncated_bytes: truncated, corrupt_moved_to, upgraded_from: None, damage: None })
            };
            if !io.exists(&path)? {
                return fresh(&io, 0, corrupt_moved_to);
            }
            let file = io.open_rw(&path)?;
            let flen = file.size()? as usize;
            if flen < record::HEADER_LEN {
                let bytes = io.read(&path)?.unwrap_or_default();
                if record::check_header(&bytes) == Header::Torn {
                    // Only a prefix of a header: a creation that never finished; nothing to keep.
                    return fresh(&io, bytes.len() as u64, None);
                }
                corrupt_moved_to = Some(set_aside(&*io, dir)?);
                continue;
            }
            let map = file.map(flen)?;
            match record::check_header(map.bytes()) {
                Header::Valid => {}
                Header::Version(v1::VERSION) if upgraded.is_none() => {
                    let (items, records, end) = read_v1(map.bytes());
                    let truncated = (flen - end) as u64;
                    drop(map);
                    let (file, map, _) = install(&*io, dir, &items, 0)?;
                    io.sync_dir(dir)?;
                    drop((file, map));
                    upgraded = Some((records, truncated));
                    continue;
                }
                Header::Version(v) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} has format version {v}; this build reads versions 1 and {}", path.display(), record::VERSION),
                    ));
                }
                Header::Torn | Header::Corrupt => {
                    // Not ours to interpret, and not ours to delete.
                    drop(map);
                    corrupt_moved_to = Some(set_aside(&*io, dir)?);
                    continue;
                }
            }
            let mut largest = 0;
            let found = recover(map.bytes(), |r| {
                let n = FRAME_HEADER + r.len();
                let ok = apply(map.bytes(), r);
                largest = largest.max(if ok { n } else { 0 });
                ok
            });
            let (end, mut records) = (found.end, found.records);
            let mut truncated_bytes = found.torn as u64;
            let damage = (!found.spans.is_empty()).then(|| Damage {
                records_lost: found.records_lost,
                records_after: found.records_after,
                bytes: found.spans.iter().map(|s| s.len() as u64).sum(),
                kept: keep_aside(&*io, dir, map.bytes(), &found.spans).map_err(|e| e.to_string()),
            });
            let mut log = Log::new(io.clone(), dir, file, map, end);
            log.largest = largest;
            log.can_defer = can_defer;
            if truncated_bytes > 0 {
                log.zero_tail(flen)?;
            }
            if let Some((v1_records, v1_truncated)) = upgraded {
                records = v1_records;
                truncated_bytes = v1_truncated;
            }
            let upgraded_from = upgraded.map(|_| v1::VERSION);
            return Ok(Opened { log, records, truncated_bytes, corrupt_moved_to, upgraded_from, damage });
        }
    }

    fn new(io: Arc<dyn LogIo>, dir: &Path, file: Arc<dyn LogFile>, map: Box<dyn LogMap>, len: usize) -> Log {
        Log {
            io,
            dir: dir.to_owned(),
            file,
            map,
            len,
            pos: len as u64,
            dirty: 0,
            generation: 0,
            dir_unsynced: None,
            largest: 0,
            prefaulted: 0,
            next: None,
            compacted: 0,
            promotion: None,
            can_defer: false,
            manual_promotion: false,
            maker: None,
        }
    }

    /// Cuts the file at the end of the log and extends it again to `cap`: the damaged tail
    /// becomes zeros, durably.
    fn zero_tail(&mut self, cap: usize) -> io::Result<()> {
        // Unmap first: the mapped pages past the cut would no longer be backed by the file.
        self.map = Box::new(Unmapped);
        self.file.set_len(self.len as u64)?;
        self.file.allocate(cap as u64)?;
        self.file.sync()?;
        self.map = self.file.map(cap)?;
        self.prefaulted = 0;
        Ok(())
    }

    /// The whole mapped file; the log is `bytes()[..len()]`.
    pub fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    /// Copies one encoded record to the end of the log, growing the file first if it must.
    /// On failure nothing of it counts and the log is as before. Returns the record's offset
    /// and its end position (see `pos`).
    pub fn append(&mut self, rec: &[u8]) -> io::Result<(usize, u64)> {
        let at = self.len;
        if at + rec.len() > self.map.bytes().len() {
            self.grow(at + rec.len())?;
        }
        if self.dirty > 0 {
            self.map.write(at, &vec![0; self.dirty])?;
            self.dirty = 0;
        }
        let payload = &rec[FRAME_HEADER..];
        let copied = if payload.len() >= WRITE_THROUGH {
            self.map.write_through(at + FRAME_HEADER, payload)
        } else {
            if at + rec.len() > self.prefaulted {
                let from = at / PAGE * PAGE;
                let to = (from + PREFAULT).min(self.map.bytes().len());
                self.map.prefault(from, to - from, at);
                self.prefaulted = to;
            }
            self.map.write(at + FRAME_HEADER, payload)
        };
        if let Err(e) = copied.and_then(|()| self.map.write(at, &rec[..FRAME_HEADER])) {
            self.dirty = rec.len();
            return Err(e);
        }
        self.len += rec.len();
        self.pos += rec.len() as u64;
        self.largest = self.largest.max(rec.len());
        Ok((at, self.pos))
    }

    /// Makes room for a log of `needed` bytes: the file grows by half (at least `MIN_GROWTH`),
    /// its new blocks reserved, and is mapped again.
    fn grow(&mut self, needed: usize) -> io::Result<()> {
        let cap = self.map.bytes().len();
        let new_cap = round_up(needed.max(cap + (cap / 2).max(MIN_GROWTH)), PAGE);
        self.file.allocate(new_cap as u64)?;
        self.map = self.file.map(new_cap)?;
        self.prefaulted = 0;
        Ok(())
    }

    /// Replaces the log with one set record per item, written to a new file of at least `cap`
    /// bytes: `count` items, in order, the `i`th where `item(current file, i)` says, which a log
    /// of `whole` bytes holds. The new file, now live, is that log: its `i`th item is the set
    /// record after those of the items before it (`record::set_key_offset`). A record that is
    /// already the set record of its item is copied as it is (`record::whole_set`), not
    /// encoded again. On `Err` the old log is still live and unchanged.
    ///
    /// Not `deferred`: the new file is synced and renamed over `data.log` first; the rename is
    /// durable once `sync_dir` (or a flush) has run. `deferred` (process mode, when the I/O
    /// layer lists directories): the new file goes live at once under `data.log.next-<length of
    /// its compacted part>`, and a thread syncs it, renames it over `data.log` and syncs the
    /// directory (`settle` waits for that). Until then `data.log` is the old log, whole: a kill
    /// leaves both, and the next open takes the new one, whose compacted part is then whole
    /// (every byte written is in the OS); a power cut may take part of the new one, and the
    /// next open then takes the old one, a state the store was in. The set does not wait for
    /// the new file's `fdatasync` (86 of 170 µs of a 100 KiB set, measured). A deferred
    /// compaction writes into the spare (see `Promoter`) when there is one no longer than
    /// `spare_up_to` bytes (a longer one is removed: the store has shrunk), and its promotion
    /// retires the old log to be the next spare if it is no longer than that either.
    pub fn rewrite(
        &mut self,
        count: usize,
        item: impl Fn(&[u8], usize) -> record::Item,
        whole: usize,
        cap: usize,
        deferred: bool,
        spare_up_to: u64,
    ) -> io::Result<()> {
        self.settle()?;
        let deferred = deferred && self.can_defer;
        let target = deferred.then(|| self.dir.join(format!("{NEXT_PREFIX}{whole}")));
        let spare = deferred.then_some(spare_up_to);
        let mut largest = 0;
        let (file, map, len) = {
            let old = self.map.bytes();
            let parts = (0..count).map(|i| {
                let i = item(old, i);
                let part = match record::whole_set(old, &i) {
                    Some(rec) => Part::Whole(rec),
                    None => Part::Parts(&old[i.key.clone()], i.ty.clone().map(|t| &old[t]), &old[i.data.clone()]),
                };
                largest = largest.max(record::set_len(i.key.len(), i.ty.map(|t| t.len()), i.data.len()) as usize);
                part
            });
            install_parts(&*self.io, &self.dir, parts, cap, target.as_deref(), spare)?
        };
        if len != whole {
            // The name would misstate the compacted part: never let such a file go live.
            if let Some(t) = &target {
                let _ = self.io.remove(t);
            }
            return Err(io::Error::other(format!("compaction wrote {len} bytes, expected {whole}")));
        }
        self.largest = largest;
        let retired_used = (self.len + self.dirty) as u64;
        let old = (std::mem::replace(&mut self.file, file), std::mem::replace(&mut self.map, map));
        self.prefaulted = 0;
        release(old);
        self.pos += len as u64;
        self.len = len;
        self.dirty = 0;
        self.generation += 1;
        self.dir_unsynced = Some(self.generation);
        if let Some(next) = target {
            self.next = Some(next);
            self.compacted = len;
            self.start_promotion(retired_used, spare_up_to);
        }
        Ok(())
    }

    /// Starts syncing and renaming the live `next` file over `data.log` on its own thread (or,
    /// if no thread can be started, does it now).
    fn start_promotion(&mut self, retired_used: u64, retired_max: u64) {
        let Some(next) = self.next.clone() else { return };
        let mut promoter = Promoter::new(self.io.clone(), self.file.clone(), next, self.dir.join(LOG_NAME), self.dir.clone())
            .through(self.map.flusher(), self.compacted);
        // One retired log at a time: the last one's spare is made (or given up) first.
        if self.maker.as_ref().is_none_or(|t| t.is_finished()) {
            if let Some(t) = self.maker.take() {
                let _ = t.join();
            }
            promoter.retire(retired_used, retired_max);
        }
        self.promotion = Promotion::start(promoter, self.manual_promotion);
        if self.promotion.is_none() {
            // `settle` does it in place when it finds no promotion under way.
            let _ = self.settle();
        }
    }

    /// Waits until a compacted log that went live before it was synced is synced and renamed
    /// over `data.log`, doing it here if that failed or never started. `Ok` means `data.log`
    /// is the live file and the directory is synced.
    pub fn settle(&mut self) -> io::Result<()> {
        let Some(next) = self.next.clone() else { return Ok(()) };
        let done = match self.promotion.take() {
            Some(promotion) => promotion.wait(&mut self.maker),
            None => Err(io::Error::other("log promotion not started")),
        };
        if done.is_err() {
            Promoter::new(self.io.clone(), self.file.clone(), next, self.dir.join(LOG_NAME), self.dir.clone())
                .through(self.map.flusher(), self.compacted)
                .run()?;
        }
        self.next = None;
        self.dir_synced(self.generation);
        Ok(())
    }

    /// `settle`, and waits for the spare being made from the log the last compaction replaced:
    /// nothing then runs in the store's directory but what the store's calls do.
    pub fn settle_all(&mut self) -> io::Result<()> {
        let settled = self.settle();
        if let Some(t) = self.maker.take() {
            let _ = t.join();
        }
        settled
    }

    /// Tests: promotions wait for `settle` rather than starting on a thread.
    #[cfg(test)]
    pub fn set_manual_promotion(&mut self, on: bool) {
        self.manual_promotion = on;
    }

    /// Whether the live file is a compacted log not yet renamed over `data.log`.
    #[cfg(test)]
    pub fn promotion_pending(&self) -> bool {
        self.next.is_some()
    }

    /// Tests: the pending promotion, when promotions are manual, for the test to step.
    #[cfg(test)]
    pub fn promoter(&self) -> Option<Arc<parking_lot::Mutex<Promoter>>> {
        match &self.promotion {
            Some(Promotion::Manual(p)) => Some(p.clone()),
            _ => None,
        }
    }

    /// Makes the rename of the last compaction durable.
    pub fn sync_dir(&mut self) -> io::Result<()> {
        if self.dir_unsynced.is_some() {
            self.io.sync_dir(&self.dir)?;
            self.dir_unsynced = None;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Length of the longest record in the current file: the largest appended since it was
    /// installed, or written into it by the compaction that installed it.
    pub fn largest_record(&self) -> usize {
        self.largest
    }

    /// Length of the file: the log and its zero tail.
    pub fn capacity(&self) -> usize {
        self.map.bytes().len()
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What a flusher needs, taken under the store lock and used outside it.
    pub fn flush_plan(&self) -> FlushPlan {
        FlushPlan {
            io: self.io.clone(),
            flusher: self.map.flusher(),
            len: self.len,
            upto: self.pos,
            dir: self.dir_unsynced.map(|g| (self.dir.clone(), g)),
        }
    }

    /// Records that the directory was synced after generation `g` was installed.
    pub fn dir_synced(&mut self, g: u64) {
        if self.dir_unsynced.is_some_and(|pending| pending <= g) {
            self.dir_unsynced = None;
        }
    }
}

impl Drop for Log {
    /// A store is not let go of (its sandbox lock released) while its live file is not yet
    /// `data.log`; if the promotion fails here too, the next open finishes it.
    fn drop(&mut self) {
        // Nothing of this store is left running once it is let go of.
        let _ = self.settle_all();
    }
}

/// Stands in for the mapping while the file is cut and extended again.
struct Unmapped;

impl LogMap for Unmapped {
    fn bytes(&self) -> &[u8] {
        &[]
    }
    fn write(&mut self, _off: usize, _src: &[u8]) -> io::Result<()> {
        Err(io::Error::other("the log is not mapped"))
    }
    fn flusher(&self) -> Arc<dyn MapFlush> {
        Arc::new(Unmapped)
    }
}

impl MapFlush for Unmapped {
    fn flush(&self, _off: usize, _len: usize) -> io::Result<()> {
        Ok(())
    }
}

pub struct FlushPlan {
    pub io: Arc<dyn LogIo>,
    pub flusher: Arc<dyn MapFlush>,
    /// The log's length: the range to flush.
    pub len: usize,
    /// The position that flush covers.
    pub upto: u64,
    pub dir: Option<(PathBuf, u64)>,
}
