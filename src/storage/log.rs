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

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::{self, Header};
use super::{v1, Value};
use crate::io::{unframe, MapFlush, FRAME_HEADER};

pub const LOG_NAME: &str = "data.log";
pub const COMPACT_NAME: &str = "data.log.compact";
pub const CORRUPT_PREFIX: &str = "data.log.corrupt-";
/// A compaction's output that is already the live log but not yet synced and renamed over
/// `data.log` (process mode); the name ends with the length of its compacted part, so that an
/// open after a kill or a power cut can tell whether that part is whole.
pub const NEXT_PREFIX: &str = "data.log.next-";
/// Damaged bytes found in the middle of the log at open, kept aside before the log is rewritten
/// without them; the name ends with the CRC-32 of the bytes kept, in hex, so that an open that
/// meets the same damage again (its rewrite failed) finds them kept already.
pub const DAMAGED_PREFIX: &str = "data.log.damaged-";
/// A resynchronisation after damage checks the CRC of candidate frames; over a log whose damage
/// was made to look like frames, it stops after CRC-ing this many times the file's length (the
/// rest then counts as a damaged tail). Real damage costs a few candidates at most.
const RESYNC_BUDGET: usize = 8;

/// A new log is written in pieces of about this size rather than one buffer of the whole store.
const CHUNK: usize = 1 << 20;
/// File lengths are multiples of this.
const PAGE: usize = 4096;
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
    /// The sync and rename of `next`, under way on its own thread.
    promotion: Option<Promotion>,
    /// The I/O layer lists directories, so a compacted log may go live before it is synced.
    can_defer: bool,
    /// Tests: a promotion is run by `settle` (or stepped by the test) instead of a thread.
    manual_promotion: bool,
}

/// The promotion of a compacted log that went live before it was synced.
enum Promotion {
    Thread(std::thread::JoinHandle<io::Result<()>>),
    /// Tests: run by `settle`, and meanwhile step by step by the test (`Log::promoter`).
    Manual(Arc<parking_lot::Mutex<Promoter>>),
}

/// The promotion of a compacted log that went live as `next` before it was synced, in its I/O
/// steps: sync the file, rename it over `data.log`, sync the directory. Each step starts only
/// once the one before it has returned, and run again after a failure the steps pick up where
/// they stopped: the rename is skipped once `next` is gone.
pub struct Promoter {
    io: Arc<dyn LogIo>,
    file: Arc<dyn LogFile>,
    next: PathBuf,
    dir: PathBuf,
    /// Steps done.
    done: usize,
}

impl Promoter {
    fn new(io: Arc<dyn LogIo>, file: Arc<dyn LogFile>, next: PathBuf, dir: PathBuf) -> Promoter {
        Promoter { io, file, next, dir, done: 0 }
    }

    /// Does the next step; returns whether the promotion is complete.
    pub fn step(&mut self) -> io::Result<bool> {
        match self.done {
            0 => self.file.sync()?,
            1 => {
                if self.io.exists(&self.next)? {
                    self.io.rename(&self.next, &self.dir.join(LOG_NAME))?;
                }
            }
            2 => self.io.sync_dir(&self.dir)?,
            _ => return Ok(true),
        }
        self.done += 1;
        Ok(self.done == 3)
    }

    /// Does the steps not yet done.
    fn run(&mut self) -> io::Result<()> {
        while !self.step()? {}
        Ok(())
    }
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

/// Damage met in the middle of the log at open (not a torn tail): stretches of bytes that are no
/// whole record, each followed by a whole record. Recovery skips them; the records after them
/// are read as usual.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Records the damaged stretches held, as far as their length fields tell (at least one a
    /// stretch).
    pub records_lost: u64,
    /// Whole records read after the first damaged stretch.
    pub records_after: u64,
    /// Bytes in the damaged stretches.
    pub bytes: u64,
    /// Where they were kept, or why they could not be (then the log still holds them: the store
    /// does not rewrite it, and the next open tries again).
    pub kept: Result<PathBuf, String>,
}

/// What `recover` found in a whole file.
#[derive(Debug, Default)]
pub struct Recovery {
    /// End of the last whole record: where the next one goes.
    pub end: usize,
    /// Whole records read.
    pub records: u64,
    /// Damaged stretches skipped, in order.
    pub spans: Vec<Range<usize>>,
    pub records_lost: u64,
    pub records_after: u64,
    /// Bytes from `end` to the last non-zero byte: a torn tail (or damage no whole record follows).
    pub torn: usize,
}

/// Where the log ends in `bytes` (a whole file): calls `apply` with each record's payload range
/// until a frame is empty, fails its CRC, or `apply` refuses the payload. Returns the end and
/// the number of records.
pub fn scan(bytes: &[u8], mut apply: impl FnMut(Range<usize>) -> bool) -> (usize, u64) {
    let mut off = record::HEADER_LEN;
    let mut records = 0;
    while let Some((payload, n)) = unframe(&bytes[off..], record::MAX_PAYLOAD) {
        if !apply(off + FRAME_HEADER..off + FRAME_HEADER + payload.len()) {
            break;
        }
        off += n;
        records += 1;
    }
    (off, records)
}

/// Bytes from `end` to the last non-zero byte: what a kill or a damage left after the log.
pub fn garbage_after(bytes: &[u8], end: usize) -> usize {
    let tail = &bytes[end..];
    // Word at a time from the back: a clean tail is all zeros and may be megabytes long.
    let mut n = tail.len();
    while n >= 8 && tail[n - 8..n] == [0; 8] {
        n -= 8;
    }
    while n > 0 && tail[n - 1] == 0 {
        n -= 1;
    }
    n
}

/// Reads a whole file as the log: calls `apply` with each whole record's payload range, in
/// order, as `scan` does; but where a frame is damaged (its length insane, its CRC wrong, or its
/// payload not a record: `apply` refused it) and a whole record follows further on, the damaged
/// bytes are skipped and reading goes on from that record (LevelDB's reader resynchronises the
/// same way). Only damage that no whole record follows is a tail.
///
/// A whole record to resume at is a frame of sane length whose CRC matches and whose payload
/// decodes, followed by another such frame or by the zero tail: bytes inside a payload that
/// happen to look like a frame header are not enough. A frame whose CRC matches but whose payload
/// does not decode is whole, so the search resumes right after it.
pub fn recover(bytes: &[u8], mut apply: impl FnMut(Range<usize>) -> bool) -> Recovery {
    let mut rec = Recovery::default();
    let mut off = record::HEADER_LEN;
    // Everything from here on is zero: the preallocated tail.
    let content_end = off + garbage_after(bytes, off);
    let mut budget = bytes.len().saturating_mul(RESYNC_BUDGET);
    loop {
        let from = match unframe(&bytes[off..], record::MAX_PAYLOAD) {
            Some((payload, n)) => {
                if apply(off + FRAME_HEADER..off + FRAME_HEADER + payload.len()) {
                    off += n;
                    rec.records += 1;
                    rec.records_after += !rec.spans.is_empty() as u64;
                    continue;
                }
                off + n
            }
            None if off >= content_end => break,
            None => off + 1,
        };
        let Some(next) = resync(bytes, from, content_end, &mut budget) else { break };
        rec.records_lost += records_in(&bytes[off..next]);
        rec.spans.push(off..next);
        off = next;
    }
    rec.end = off;
    rec.torn = content_end.saturating_sub(off);
    rec
}

/// The first offset at or after `from` where a whole record begins that is followed by another
/// or by the zero tail (which starts at `content_end`).
fn resync(bytes: &[u8], from: usize, content_end: usize, budget: &mut usize) -> Option<usize> {
    let whole = |at: usize, budget: &mut usize| -> Option<usize> {
        let b = bytes.get(at..at + FRAME_HEADER)?;
        let len = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
        if len == 0 || len > record::MAX_PAYLOAD || len > bytes.len() - at - FRAME_HEADER {
            return None;
        }
        if *budget < len {
            // Searched enough: give up (the caller treats the rest as a damaged tail).
            *budget = 0;
            return None;
        }
        *budget -= len;
        let (_, n) = unframe(&bytes[at..], record::MAX_PAYLOAD)?;
        record::parse(bytes, at + FRAME_HEADER..at + n, |_| {}).then_some(at + n)
    };
    for at in from..content_end {
        if *budget == 0 {
            return None;
        }
        let Some(after) = whole(at, budget) else { continue };
        if after >= content_end || whole(after, budget).is_some() {
            return Some(at);
        }
    }
    None
}

/// How many records a damaged stretch held, as far as its length fields can be followed (at least
/// one).
fn records_in(span: &[u8]) -> u64 {
    let (mut n, mut at) = (0u64, 0usize);
    while at < span.len() {
        n += 1;
        let Some(b) = span.get(at..at + 4) else { break };
        let len = u32::from_le_bytes(b.try_into().unwrap()) as usize;
        match (FRAME_HEADER + len).checked_add(at) {
            Some(next) if len > 0 && next <= span.len() => at = next,
            _ => break,
        }
    }
    n.max(1)
}

/// Copies the damaged stretches, in order, into `data.log.damaged-<crc32>` (written under a
/// temporary name, synced, renamed, the directory synced). Kept already if that file exists.
fn keep_aside(io: &dyn LogIo, dir: &Path, bytes: &[u8], spans: &[Range<usize>]) -> io::Result<PathBuf> {
    let mut kept = Vec::with_capacity(spans.iter().map(|s| s.len()).sum());
    for s in spans {
        kept.extend_from_slice(&bytes[s.clone()]);
    }
    let name = format!("{DAMAGED_PREFIX}{:08x}", crc32fast::hash(&kept));
    let path = dir.join(&name);
    if io.exists(&path)? {
        return Ok(path);
    }
    let tmp = dir.join(format!("{name}.tmp"));
    ignore_missing(io.remove(&tmp))?;
    let file = io.open_append(&tmp)?;
    file.append(&kept)?;
    file.sync()?;
    drop(file);
    io.rename(&tmp, &path)?;
    io.sync_dir(dir)?;
    Ok(path)
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
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
            promotion: None,
            can_defer: false,
            manual_promotion: false,
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
                self.map.prefault(from, to - from);
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

    /// Replaces the log with one set record per item (given as parts of the current file, in
    /// order), written to a new file of at least `cap` bytes. Returns where each item's parts
    /// lie in the new file, now live. On `Err` the old log is still live and unchanged.
    ///
    /// Not `deferred`: the new file is synced and renamed over `data.log` first; the rename is
    /// durable once `sync_dir` (or a flush) has run. `deferred` (process mode, when the I/O
    /// layer lists directories): the new file goes live at once under `data.log.next-<length of
    /// its compacted part>`, and a thread syncs it, renames it over `data.log` and syncs the
    /// directory (`settle` waits for that). Until then `data.log` is the old log, whole: a kill
    /// leaves both, and the next open takes the new one, whose compacted part is then whole
    /// (every byte written is in the OS); a power cut may take part of the new one, and the
    /// next open then takes the old one, a state the store was in. The set does not wait for
    /// the new file's `fdatasync` (86 of 170 µs of a 100 KiB set, measured).
    pub fn rewrite(&mut self, items: &[record::Item], cap: usize, deferred: bool) -> io::Result<Vec<record::Item>> {
        self.settle()?;
        let deferred = deferred && self.can_defer;
        let (mut whole, mut largest) = (record::HEADER_LEN, 0);
        for i in items {
            let n = record::set_len(i.key.len(), i.ty.as_ref().map(|t| t.len()), i.data.len()) as usize;
            whole += n;
            largest = largest.max(n);
        }
        let target = deferred.then(|| self.dir.join(format!("{NEXT_PREFIX}{whole}")));
        let (file, map, len, at) = {
            let old = self.map.bytes();
            let parts = items.iter().map(|i| (&old[i.key.clone()], i.ty.clone().map(|t| &old[t]), &old[i.data.clone()]));
            install_parts(&*self.io, &self.dir, parts, cap, target.as_deref())?
        };
        if len != whole {
            // The name would misstate the compacted part: never let such a file go live.
            if let Some(t) = &target {
                let _ = self.io.remove(t);
            }
            return Err(io::Error::other(format!("compaction wrote {len} bytes, expected {whole}")));
        }
        self.largest = largest;
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
            self.start_promotion();
        }
        Ok(at)
    }

    /// Starts syncing and renaming the live `next` file over `data.log` on its own thread (or,
    /// if no thread can be started, does it now).
    fn start_promotion(&mut self) {
        let Some(next) = self.next.clone() else { return };
        let mut promoter = Promoter::new(self.io.clone(), self.file.clone(), next, self.dir.clone());
        if self.manual_promotion {
            self.promotion = Some(Promotion::Manual(Arc::new(parking_lot::Mutex::new(promoter))));
            return;
        }
        match std::thread::Builder::new().name("wxfs-log-promote".into()).spawn(move || promoter.run()) {
            Ok(h) => self.promotion = Some(Promotion::Thread(h)),
            // `settle` does it in place when it finds no promotion under way.
            Err(_) => {
                let _ = self.settle();
            }
        }
    }

    /// Waits until a compacted log that went live before it was synced is synced and renamed
    /// over `data.log`, doing it here if that failed or never started. `Ok` means `data.log`
    /// is the live file and the directory is synced.
    pub fn settle(&mut self) -> io::Result<()> {
        let Some(next) = self.next.clone() else { return Ok(()) };
        let done = match self.promotion.take() {
            Some(Promotion::Thread(h)) => h.join().unwrap_or_else(|_| Err(io::Error::other("log promotion panicked"))),
            Some(Promotion::Manual(p)) => p.lock().run(),
            None => Err(io::Error::other("log promotion not started")),
        };
        if done.is_err() {
            Promoter::new(self.io.clone(), self.file.clone(), next, self.dir.clone()).run()?;
        }
        self.next = None;
        self.dir_synced(self.generation);
        Ok(())
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
        let _ = self.settle();
    }
}

/// At open: a compacted log that went live under `data.log.next-<n>` before a kill or power cut.
/// If its first `n` bytes (its compacted part) are whole, it is the log, with everything
/// appended to it after: it is synced and renamed over `data.log`. If not, a power cut took
/// part of it before it was synced, and `data.log`, which nothing was written to after it
/// went live, holds a state the store was in: the partial file is removed. Returns whether
/// the I/O layer can list directories (without that, compactions sync before they rename).
fn resolve_next(io: &Arc<dyn LogIo>, dir: &Path) -> io::Result<bool> {
    let names = match io.list(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let mut promoted = false;
    for name in names.iter().filter(|n| n.starts_with(NEXT_PREFIX)) {
        let path = dir.join(name);
        let whole = name[NEXT_PREFIX.len()..].parse::<usize>().ok().filter(|_| !promoted);
        match whole.map(|n| whole_prefix(&**io, &path, n)).transpose()?.flatten() {
            Some(file) => {
                Promoter::new(io.clone(), file, path, dir.to_owned()).run()?;
                promoted = true;
            }
            None => ignore_missing(io.remove(&path))?,
        }
    }
    Ok(true)
}

/// The file at `path` if its first `n` bytes are a valid header and records that end exactly
/// at `n`.
fn whole_prefix(io: &dyn LogIo, path: &Path, n: usize) -> io::Result<Option<Arc<dyn LogFile>>> {
    let file = io.open_rw(path)?;
    if n < record::HEADER_LEN || (file.size()? as usize) < n {
        return Ok(None);
    }
    let whole = {
        let map = file.map(n)?;
        let bytes = map.bytes();
        record::check_header(bytes) == Header::Valid && scan(bytes, |r| record::parse(bytes, r, |_| {})).0 == n
    };
    Ok(whole.then_some(file))
}

/// Stands in for the mapping while the file is cut and extended again.
/// Lets go of a replaced log's file and mapping on another thread. The file is already renamed
/// over, so this is its last reference: closing it frees its blocks, and on a file system
/// mounted with `discard` (as this machine's, and many phones') that waits for the device to
/// discard them, milliseconds for a few MiB: measured, it was the longest stall of a
/// compaction, longer than its `fdatasync`. Nothing on disk that a crash could see depends on
/// when this happens. If no thread can be started, the closure, and `old` with it, is dropped
/// here: the caller pays for it as before.
fn release(old: (Arc<dyn LogFile>, Box<dyn LogMap>)) {
    let _ = std::thread::Builder::new().name("wxfs-log-release".into()).spawn(move || drop(old));
}

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

/// The items of a version-1 log in order, the number of good records, and where they end.
fn read_v1(bytes: &[u8]) -> (Vec<(String, Value)>, u64, usize) {
    type Items = Vec<Option<(String, Value)>>;
    let mut items: Items = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let put = |items: &mut Items, at: &mut std::collections::HashMap<String, usize>, k: String, v: Value| match at.get(&k) {
        Some(&i) => items[i] = Some((k, v)),
        None => {
            at.insert(k.clone(), items.len());
            items.push(Some((k, v)));
        }
    };
    let (mut off, mut records) = (record::HEADER_LEN, 0);
    while let Some((rec, n)) = v1::decode(&bytes[off..]) {
        match rec {
            v1::Record::Set { key, value } => put(&mut items, &mut at, key, value),
            v1::Record::Batch(list) => list.into_iter().for_each(|(k, v)| put(&mut items, &mut at, k, v)),
            v1::Record::Remove { key } => {
                if let Some(i) = at.remove(&key) {
                    items[i] = None;
                }
            }
            v1::Record::Clear => {
                items.clear();
                at.clear();
            }
        }
        off += n;
        records += 1;
    }
    (items.into_iter().flatten().collect(), records, off)
}

type Installed = (Arc<dyn LogFile>, Box<dyn LogMap>, usize);
/// `Installed` and where each item lies in the new file.
type InstalledAt = (Arc<dyn LogFile>, Box<dyn LogMap>, usize, Vec<record::Item>);

/// Writes a complete log holding `items` to `data.log.compact`, syncs it and renames it over
/// `data.log`. The caller syncs the directory.
fn install(io: &dyn LogIo, dir: &Path, items: &[(String, Value)], cap: usize) -> io::Result<Installed> {
    let parts = items.iter().map(|(k, v)| (k.as_bytes(), v.data_type.as_ref().map(|t| t.as_bytes()), v.data.as_bytes()));
    install_parts(io, dir, parts, cap, None).map(|(f, m, len, _)| (f, m, len))
}

/// Writes a log holding `items` to `data.log.compact`, syncs it and renames it over `data.log`;
/// or, given `live_as`, writes it there and does neither (see `Log::rewrite`).
fn install_parts<'a>(
    io: &dyn LogIo,
    dir: &Path,
    items: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>, &'a [u8])>,
    cap: usize,
    live_as: Option<&Path>,
) -> io::Result<InstalledAt> {
    let tmp = live_as.map_or_else(|| dir.join(COMPACT_NAME), Path::to_owned);
    ignore_missing(io.remove(&tmp))?;
    let written = (|| {
        let file = io.open_append(&tmp)?;
        let mut len = 0usize;
        let mut buf = record::header().to_vec();
        let mut at = Vec::new();
        for (key, ty, data) in items {
            let start = len + buf.len();
            let i = record::encode_set(&mut buf, key, ty, data);
            let shift = |r: Range<usize>| r.start + start..r.end + start;
            at.push(record::Item { key: shift(i.key), ty: i.ty.map(shift), data: shift(i.data) });
            if buf.len() >= CHUNK {
                file.append(&buf)?;
                len += buf.len();
                buf.clear();
            }
        }
        file.append(&buf)?;
        len += buf.len();
        let cap = round_up(cap.max(len + 1), PAGE);
        file.allocate(cap as u64)?;
        if live_as.is_none() {
            // Synced before the rename can make it live: a power cut never finds an empty log
            // under the name.
            file.sync()?;
        }
        drop(file);
        let file = io.open_rw(&tmp)?;
        let map = file.map(cap)?;
        if live_as.is_none() {
            io.rename(&tmp, &dir.join(LOG_NAME))?;
        }
        Ok((file, map, len, at))
    })();
    if written.is_err() {
        // Best effort: a leftover is also removed at the next open.
        let _ = io.remove(&tmp);
    }
    written
}

/// Moves an unreadable `data.log` to `data.log.corrupt-<n>`, the smallest `n` not taken.
fn set_aside(io: &dyn LogIo, dir: &Path) -> io::Result<PathBuf> {
    for n in 1u32.. {
        let p = dir.join(format!("{CORRUPT_PREFIX}{n}"));
        if !io.exists(&p)? {
            io.rename(&dir.join(LOG_NAME), &p)?;
            return Ok(p);
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free name for a corrupt log"))
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! `MemIo`, the test double: an in-memory file system that counts calls, fails on demand and
    //! can lose power. A power cut keeps of each file only what was synced, and of each directory
    //! only the entries present at its last `sync_dir`.
    //!
    //! Durability is monotone, as on a real disk: every change to a file (or to a directory's
    //! entries) takes a new version from one clock; a sync captures the version and the bytes
    //! (or entries) when it is called and, when it returns, replaces the durable image only if
    //! that version is newer than the durable one. So two overlapping syncs (a writer's flush and
    //! a promotion's sync of the same file, or two directory syncs around a rename) never leave
    //! the older capture durable: a real fsync never makes durable data older.
    //!
    //! Tests can stop between the two halves of a sync: `defer_next_sync` makes the next sync
    //! capture and return, its durable half run at `complete_deferred` (a sync still in flight
    //! while other calls go on); and a `hook` is called before every mutating call and between
    //! the halves of every sync that is not deferred, so a test can run other steps exactly there.
    //! `image` copies the state a kill or a power cut would leave at that instant.

    use super::*;
    use crate::io::MapFlush;
    use parking_lot::Mutex;
    use std::cell::Cell;
    use std::collections::HashMap;
    use std::fs;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::time::Duration;

    #[derive(Default, Clone)]
    struct Inode {
        data: Vec<u8>,
        durable: Vec<u8>,
        /// The clock's value at the last change to `data`.
        version: u64,
        /// The version `durable` holds.
        durable_version: u64,
    }

    type Ino = Arc<Mutex<Inode>>;

    #[derive(Default)]
    struct Names {
        live: HashMap<PathBuf, Ino>,
        durable: HashMap<PathBuf, Ino>,
        /// Per directory: the clock's value at the last change to its entries, and the version
        /// its durable entries hold.
        version: HashMap<PathBuf, u64>,
        durable_version: HashMap<PathBuf, u64>,
    }

    impl Names {
        fn changed(&mut self, path: &Path, clock: u64) {
            if let Some(dir) = path.parent() {
                self.version.insert(dir.to_owned(), clock);
            }
        }
    }

    /// Failures to inject. Call numbers are 1-based and counted from `MemIo::new`.
    #[derive(Default)]
    pub(crate) struct Faults {
        /// This `append` call writes half its bytes, then fails like ENOSPC.
        pub fail_append: Option<u64>,
        /// The next this-many `set_len` calls fail.
        pub fail_set_len: u32,
        /// The next this-many `sync_dir` calls fail.
        pub fail_sync_dir: u32,
        /// The next this-many `allocate` calls fail like ENOSPC.
        pub fail_allocate: u32,
        /// From this mutating call on, every call fails and does nothing: the process died.
        pub crash_at: Option<u64>,
    }

    /// Where a hook is called.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Point {
        /// Before a mutating call.
        Call,
        /// Inside a sync or directory sync: its capture is taken, its durable half not yet run.
        InSync,
    }

    pub(crate) type Hook = Arc<dyn Fn(Point) + Send + Sync>;

    type Completion = Box<dyn FnOnce() + Send>;

    #[derive(Default)]
    struct Shared {
        names: Mutex<Names>,
        faults: Mutex<Faults>,
        appends: AtomicU64,
        syncs: AtomicU64,
        ops: AtomicU64,
        sync_delay_us: AtomicU64,
        /// Versions of files and directories.
        clock: AtomicU64,
        hook: Mutex<Option<Hook>>,
        /// Syncs still to be deferred, and the durable halves of those deferred.
        defer: AtomicU32,
        deferred: Mutex<Vec<Completion>>,
    }

    #[derive(Clone, Default)]
    pub(crate) struct MemIo(Arc<Shared>);

    struct MemFile {
        ino: Ino,
        fs: Arc<Shared>,
    }

    /// `data.resize(len, 0)`, but with zeroed memory from the allocator: `resize` fills byte by
    /// byte in a debug build, and the tests that open thousands of images spent most of their
    /// time there.
    fn resize(data: &mut Vec<u8>, len: usize) {
        if len <= data.len() {
            data.truncate(len);
            return;
        }
        let mut grown = vec![0u8; len];
        grown[..data.len()].copy_from_slice(data);
        *data = grown;
    }

    fn enospc() -> io::Error {
        io::Error::other("ENOSPC (injected)")
    }

    thread_local! {
        /// Set while this thread runs a hook: the calls the hook makes do not call it again.
        static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    }

    impl Shared {
        /// Counts a mutating call; fails it if the simulated process has died.
        fn op(&self) -> io::Result<u64> {
            self.call_hook(Point::Call);
            let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
            match self.faults.lock().crash_at {
                Some(c) if n >= c => Err(io::Error::other("crashed (injected)")),
                _ => Ok(n),
            }
        }

        fn call_hook(&self, at: Point) {
            let Some(hook) = self.hook.lock().clone() else { return };
            if IN_HOOK.with(|h| h.replace(true)) {
                return;
            }
            struct Leave;
            impl Drop for Leave {
                fn drop(&mut self) {
                    IN_HOOK.with(|h| h.set(false));
                }
            }
            let _leave = Leave;
            hook(at);
        }

        fn tick(&self) -> u64 {
            self.clock.fetch_add(1, Ordering::SeqCst) + 1
        }

        /// The durable half of a sync whose capture is taken: run now (after the disk's time and
        /// the hook), or at `complete_deferred`.
        fn complete(&self, durable_half: Completion) {
            if self.defer.load(Ordering::SeqCst) > 0 {
                self.defer.fetch_sub(1, Ordering::SeqCst);
                self.deferred.lock().push(durable_half);
                return;
            }
            let delay = self.sync_delay_us.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_micros(delay));
            }
            self.call_hook(Point::InSync);
            durable_half();
        }
    }

    impl MemIo {
        pub fn new() -> MemIo {
            MemIo::default()
        }

        pub fn arc(&self) -> Arc<dyn LogIo> {
            Arc::new(self.clone())
        }

        pub fn faults(&self) -> parking_lot::MutexGuard<'_, Faults> {
            self.0.faults.lock()
        }

        pub fn syncs(&self) -> u64 {
            self.0.syncs.load(Ordering::SeqCst)
        }

        pub fn ops(&self) -> u64 {
            self.0.ops.load(Ordering::SeqCst)
        }

        pub fn set_sync_delay(&self, d: Duration) {
            self.0.sync_delay_us.store(d.as_micros() as u64, Ordering::SeqCst);
        }

        /// Calls `hook` before every mutating call and inside every sync not deferred.
        pub fn set_hook(&self, hook: Option<Hook>) {
            *self.0.hook.lock() = hook;
        }

        /// The next sync (of a file or a directory) takes its capture and returns; its durable
        /// half runs at `complete_deferred`.
        pub fn defer_next_sync(&self) {
            self.0.defer.fetch_add(1, Ordering::SeqCst);
        }

        /// Runs the durable halves of the deferred syncs, in the order they were called.
        pub fn complete_deferred(&self) {
            let pending = std::mem::take(&mut *self.0.deferred.lock());
            for durable_half in pending {
                durable_half();
            }
        }

        pub fn bytes(&self, path: &Path) -> Option<Vec<u8>> {
            self.0.names.lock().live.get(path).map(|i| i.lock().data.clone())
        }

        pub fn names(&self) -> Vec<PathBuf> {
            let mut v: Vec<_> = self.0.names.lock().live.keys().cloned().collect();
            v.sort();
            v
        }

        /// Places a file as if it had been there, durably, all along.
        pub fn put(&self, path: &Path, bytes: &[u8]) {
            let ino = Arc::new(Mutex::new(Inode { data: bytes.to_vec(), durable: bytes.to_vec(), ..Inode::default() }));
            let mut n = self.0.names.lock();
            n.live.insert(path.to_owned(), ino.clone());
            n.durable.insert(path.to_owned(), ino);
        }

        /// Power is lost and comes back: unsynced bytes and unsynced directory entries are gone,
        /// handles opened before are detached, syncs in flight never complete, and a simulated
        /// crash is over.
        pub fn power_cut(&self) {
            let mut n = self.0.names.lock();
            let fresh: HashMap<PathBuf, Ino> = n
                .durable
                .iter()
                .map(|(p, ino)| {
                    let d = ino.lock().durable.clone();
                    (p.clone(), Arc::new(Mutex::new(Inode { data: d.clone(), durable: d, ..Inode::default() })))
                })
                .collect();
            n.live = fresh.clone();
            n.durable = fresh;
            n.version.clear();
            n.durable_version.clear();
            drop(n);
            self.0.deferred.lock().clear();
            self.0.defer.store(0, Ordering::SeqCst);
            self.0.faults.lock().crash_at = None;
        }

        /// A copy of the file system as a kill (`power_cut` false) or a power cut would leave it
        /// now: a process that dies takes its syncs in flight with it, and the OS keeps
        /// everything written.
        pub fn image(&self, power_cut: bool) -> MemIo {
            if power_cut {
                // Only what is durable: no need to copy the rest.
                let n = self.0.names.lock();
                let mut copies: HashMap<*const Mutex<Inode>, Ino> = HashMap::new();
                let durable = n
                    .durable
                    .iter()
                    .map(|(p, ino)| {
                        let copy = copies.entry(Arc::as_ptr(ino)).or_insert_with(|| {
                            let d = ino.lock().durable.clone();
                            Arc::new(Mutex::new(Inode { data: d.clone(), durable: d, ..Inode::default() }))
                        });
                        (p.clone(), copy.clone())
                    })
                    .collect::<HashMap<_, _>>();
                let names = Names { live: durable.clone(), durable, ..Names::default() };
                return MemIo(Arc::new(Shared { names: Mutex::new(names), ..Shared::default() }));
            }
            let n = self.0.names.lock();
            let mut copies: HashMap<*const Mutex<Inode>, Ino> = HashMap::new();
            let mut copy =
                |ino: &Ino| copies.entry(Arc::as_ptr(ino)).or_insert_with(|| Arc::new(Mutex::new(ino.lock().clone()))).clone();
            let live = n.live.iter().map(|(p, i)| (p.clone(), copy(i))).collect();
            let durable = n.durable.iter().map(|(p, i)| (p.clone(), copy(i))).collect();
            let names = Names { live, durable, version: n.version.clone(), durable_version: n.durable_version.clone() };
            MemIo(Arc::new(Shared {
                names: Mutex::new(names),
                clock: AtomicU64::new(self.0.clock.load(Ordering::SeqCst)),
                ..Shared::default()
            }))
        }
    }

    /// A mapping: reads see the inode's bytes as they were mapped plus every write made through
    /// this mapping (the only writer while it lives); writes land in the inode at once, as
    /// stores into a shared mapping land in the page cache.
    struct MemMap {
        ino: Ino,
        fs: Arc<Shared>,
        buf: Vec<u8>,
    }

    struct MemFlush {
        ino: Ino,
        fs: Arc<Shared>,
    }

    impl LogMap for MemMap {
        fn bytes(&self) -> &[u8] {
            &self.buf
        }

        fn write(&mut self, off: usize, src: &[u8]) -> io::Result<()> {
            self.fs.op()?;
            let mut ino = self.ino.lock();
            // A store past the end of the file would be SIGBUS.
            assert!(off + src.len() <= ino.data.len(), "write past the end of the file");
            ino.data[off..off + src.len()].copy_from_slice(src);
            ino.version = self.fs.tick();
            self.buf[off..off + src.len()].copy_from_slice(src);
            Ok(())
        }

        fn flusher(&self) -> Arc<dyn MapFlush> {
            Arc::new(MemFlush { ino: self.ino.clone(), fs: self.fs.clone() })
        }
    }

    impl MapFlush for MemFlush {
        fn flush(&self, _off: usize, _len: usize) -> io::Result<()> {
            MemFile { ino: self.ino.clone(), fs: self.fs.clone() }.sync()
        }
    }

    impl LogFile for MemFile {
        fn append(&self, buf: &[u8]) -> io::Result<()> {
            self.fs.op()?;
            let n = self.fs.appends.fetch_add(1, Ordering::SeqCst) + 1;
            let mut ino = self.ino.lock();
            ino.version = self.fs.tick();
            if self.fs.faults.lock().fail_append == Some(n) {
                ino.data.extend_from_slice(&buf[..buf.len() / 2]);
                return Err(enospc());
            }
            ino.data.extend_from_slice(buf);
            Ok(())
        }

        fn set_len(&self, len: u64) -> io::Result<()> {
            self.fs.op()?;
            {
                let mut f = self.fs.faults.lock();
                if f.fail_set_len > 0 {
                    f.fail_set_len -= 1;
                    return Err(io::Error::other("EIO (injected)"));
                }
            }
            let mut ino = self.ino.lock();
            resize(&mut ino.data, len as usize);
            ino.version = self.fs.tick();
            Ok(())
        }

        fn sync(&self) -> io::Result<()> {
            self.fs.op()?;
            self.fs.syncs.fetch_add(1, Ordering::SeqCst);
            // What the flush covers: everything written before it was called.
            let (version, snapshot) = {
                let ino = self.ino.lock();
                (ino.version, ino.data.clone())
            };
            let ino = self.ino.clone();
            self.fs.complete(Box::new(move || {
                let mut ino = ino.lock();
                if version > ino.durable_version {
                    ino.durable = snapshot;
                    ino.durable_version = version;
                }
            }));
            Ok(())
        }

        fn size(&self) -> io::Result<u64> {
            Ok(self.ino.lock().data.len() as u64)
        }

        fn allocate(&self, len: u64) -> io::Result<()> {
            self.fs.op()?;
            {
                let mut f = self.fs.faults.lock();
                if f.fail_allocate > 0 {
                    f.fail_allocate -= 1;
                    return Err(enospc());
                }
            }
            let mut ino = self.ino.lock();
            if ino.data.len() < len as usize {
                resize(&mut ino.data, len as usize);
                ino.version = self.fs.tick();
            }
            Ok(())
        }

        fn map(&self, len: usize) -> io::Result<Box<dyn LogMap>> {
            let buf = self.ino.lock().data[..len].to_vec();
            Ok(Box::new(MemMap { ino: self.ino.clone(), fs: self.fs.clone(), buf }))
        }
    }

    impl LogIo for MemIo {
        fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
            Ok(())
        }

        fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
            self.0.op()?;
            let mut n = self.0.names.lock();
            let ino = match n.live.get(path) {
                Some(ino) => ino.clone(),
                None => {
                    let ino = Ino::default();
                    n.live.insert(path.to_owned(), ino.clone());
                    n.changed(path, self.0.tick());
                    ino
                }
            };
            Ok(Arc::new(MemFile { ino, fs: self.0.clone() }))
        }

        fn open_rw(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
            self.0.op()?;
            let n = self.0.names.lock();
            let ino = n.live.get(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?.clone();
            Ok(Arc::new(MemFile { ino, fs: self.0.clone() }))
        }

        fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
            Ok(self.bytes(path))
        }

        fn exists(&self, path: &Path) -> io::Result<bool> {
            Ok(self.0.names.lock().live.contains_key(path))
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.0.op()?;
            let mut n = self.0.names.lock();
            let ino = n.live.remove(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            n.live.insert(to.to_owned(), ino);
            let t = self.0.tick();
            n.changed(from, t);
            n.changed(to, t);
            Ok(())
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            self.0.op()?;
            let mut n = self.0.names.lock();
            n.live.remove(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            n.changed(path, self.0.tick());
            Ok(())
        }

        fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
            let n = self.0.names.lock();
            Ok(n.live
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .collect())
        }

        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            self.0.op()?;
            {
                let mut f = self.0.faults.lock();
                if f.fail_sync_dir > 0 {
                    f.fail_sync_dir -= 1;
                    return Err(io::Error::other("EIO (injected)"));
                }
            }
            // What the sync covers: the entries as they are when it is called.
            let (version, entries) = {
                let n = self.0.names.lock();
                let entries: Vec<(PathBuf, Ino)> =
                    n.live.iter().filter(|(p, _)| p.parent() == Some(dir)).map(|(p, i)| (p.clone(), i.clone())).collect();
                (n.version.get(dir).copied().unwrap_or(0), entries)
            };
            let (fs, dir) = (self.0.clone(), dir.to_owned());
            self.0.complete(Box::new(move || {
                let mut n = fs.names.lock();
                if version <= n.durable_version.get(&dir).copied().unwrap_or(0) {
                    return;
                }
                n.durable.retain(|p, _| p.parent() != Some(&dir));
                n.durable.extend(entries);
                n.durable_version.insert(dir, version);
            }));
            Ok(())
        }
    }

    /// A directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("wxfs-storage-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            TempDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    // --- tests of the log itself ---

    /// Opens the log and lists the sets it replays as (key, data).
    fn open(io: &MemIo, dir: &Path) -> (Opened, Vec<(String, String)>) {
        let mut sets = Vec::new();
        let o = Log::open(io.arc(), dir, |file, r| {
            record::parse(file, r, |op| {
                if let record::Op::Set(i) = op {
                    let s = |r: Range<usize>| String::from_utf8(file[r].to_vec()).unwrap();
                    sets.push((s(i.key), s(i.data)));
                }
            })
        })
        .unwrap();
        (o, sets)
    }

    fn set_rec(key: &str, data: &str) -> Vec<u8> {
        let mut b = Vec::new();
        record::encode_set(&mut b, key.as_bytes(), None, data.as_bytes());
        b
    }

    #[test]
    fn fresh_log_is_a_durable_header_and_a_zero_tail() {
        let io = MemIo::new();
        let dir = Path::new("/m/kv");
        let (o, sets) = open(&io, dir);
        assert!(sets.is_empty());
        assert_eq!((o.records, o.truncated_bytes, o.log.len(), o.log.capacity()), (0, 0, 8, 4096));
        io.power_cut();
        assert_eq!(io.names(), vec![dir.join(LOG_NAME)]);
        let mut want = record::header().to_vec();
        want.resize(4096, 0);
        assert_eq!(io.bytes(&dir.join(LOG_NAME)).unwrap(), want);
    }

    #[test]
    fn appends_grow_the_file_and_a_failed_growth_changes_nothing() {
        let io = MemIo::new();
        let dir = Path::new("/m/kv");
        let path = dir.join(LOG_NAME);
        let (mut o, _) = open(&io, dir);
        let a = set_rec("a", &"1".repeat(3000));
        assert_eq!(o.log.append(&a).unwrap(), (8, 8 + a.len() as u64));
        let before = io.bytes(&path).unwrap();
        assert_eq!(before.len(), 4096);
        // The second record does not fit: the file must grow, and the disk is full.
        io.faults().fail_allocate = 1;
        assert!(o.log.append(&a).is_err());
        assert_eq!(io.bytes(&path).unwrap(), before);
        assert_eq!(o.log.len(), 8 + a.len());
        let (at, _) = o.log.append(&a).unwrap();
        assert_eq!(at, 8 + a.len());
        assert_eq!(o.log.capacity(), 4096 + (64 << 10), "grows by at least 64 KiB");
        drop(o);
        let (o, sets) = open(&io, dir);
        assert_eq!((o.records, o.truncated_bytes, sets.len()), (2, 0, 2));
    }

    #[test]
    fn a_failed_copy_is_zeroed_before_the_next_record() {
        let io = MemIo::new();
        let dir = Path::new("/m/kv");
        let (mut o, _) = open(&io, dir);
        let a = set_rec("a", "1");
        // The payload copy succeeds, the header copy fails (a kill between the two).
        io.faults().crash_at = Some(io.ops() + 2);
        assert!(o.log.append(&set_rec("zzzzzzzzzz", "garbage-garbage")).is_err());
        io.faults().crash_at = None;
        o.log.append(&a).unwrap();
        drop(o);
        let (o, sets) = open(&io, dir);
        assert_eq!((o.records, o.truncated_bytes), (1, 0), "the stale payload was zeroed");
        assert_eq!(sets, vec![("a".to_string(), "1".to_string())]);
    }

    #[test]
    fn damaged_tail_is_zeroed_durably() {
        let io = MemIo::new();
        let dir = Path::new("/m/kv");
        let mut good = record::header().to_vec();
        good.extend_from_slice(&set_rec("a", "1"));
        let mut file = good.clone();
        file.extend_from_slice(&[7, 0, 0, 0, 1, 2, 0, 0, 9]);
        file.resize(8192, 0);
        io.put(&dir.join(LOG_NAME), &file);
        let (o, sets) = open(&io, dir);
        assert_eq!(sets, vec![("a".to_string(), "1".to_string())]);
        assert_eq!((o.records, o.truncated_bytes, o.log.len()), (1, 9, good.len()));
        io.power_cut();
        let mut want = good.clone();
        want.resize(8192, 0);
        assert_eq!(io.bytes(&dir.join(LOG_NAME)).unwrap(), want);
    }

    #[test]
    fn std_io_appends_reads_renames_allocates_and_maps() {
        let t = TempDir::new("stdio");
        let io = StdIo;
        io.create_dir_all(t.path()).unwrap();
        let p = t.path().join("f");
        assert_eq!(io.read(&p).unwrap(), None);
        let f = io.open_append(&p).unwrap();
        f.append(b"abc").unwrap();
        f.append(b"def").unwrap();
        f.set_len(4).unwrap();
        f.append(b"X").unwrap();
        f.sync().unwrap();
        io.sync_dir(t.path()).unwrap();
        assert_eq!(io.read(&p).unwrap().unwrap(), b"abcdX");
        let q = t.path().join("g");
        io.rename(&p, &q).unwrap();
        assert!(!io.exists(&p).unwrap());
        assert!(io.exists(&q).unwrap());
        // The handle follows the file, not the name.
        f.append(b"Y").unwrap();
        assert_eq!(io.read(&q).unwrap().unwrap(), b"abcdXY");

        let rw = io.open_rw(&q).unwrap();
        rw.allocate(10000).unwrap();
        assert_eq!(rw.size().unwrap(), 10000);
        let mut m = rw.map(10000).unwrap();
        assert_eq!(&m.bytes()[..7], b"abcdXY\0");
        m.write(9998, b"ZZ").unwrap();
        m.flusher().flush(0, 10000).unwrap();
        let back = io.read(&q).unwrap().unwrap();
        assert_eq!((&back[..6], &back[9998..]), (&b"abcdXY"[..], &b"ZZ"[..]));
        assert!(back[6..9998].iter().all(|&b| b == 0));
        io.remove(&q).unwrap();
        assert_eq!(io.remove(&q).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
