//! The key-value engine behind `wx.setStorage*` (docs/storage-engine.md): an append-only log
//! with a CRC per record, copied into a shared mapping of a preallocated file, and an index of
//! where each key's latest item lies in that mapping.
//!
//! A set is a memory copy and no system call, as in MMKV. Unlike MMKV, the log is never
//! rewritten in place: a compaction writes a new file and renames it, so a kill (or, once
//! flushed, a power cut) at any instant leaves every acknowledged write and never an empty store.
//!
//! Locks, always taken in this order: `inner` (written by every change, read by every get; a
//! get waits at most for one copy into the mapping, never for disk), then `flushed` (group
//! commit). A flusher never holds `flushed` while it takes `inner`.

pub mod buffer_urls;
mod index;
mod log;
mod record;
pub mod sealed;
mod v1;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock, RwLockWriteGuard};

use self::index::Index;
use self::log::Log;
pub use self::log::{Damage, LogFile, LogIo, StdIo};
pub use crate::io::Durability;

/// Compaction runs once the log is longer than 1.5 times what a compacted log would take, plus a
/// slack: `SLACK_RECORDS` times the longest record in the log, but at least `COMPACT_SLACK` and at
/// most `COMPACT_SLACK_MAX`. So the log never exceeds 1.5 x its live data + 16 MiB (+ one
/// record), and only 1.5 x + 2 MiB while no record in it is longer than 32 KiB; its file is
/// that plus the growth step. The slack sets how often a store pays for a compaction (a new
/// file, synced: milliseconds on a virtual disk): every ~50,000 sets of a 40-byte record, and,
/// thanks to the scaling, at least every `SLACK_RECORDS` sets of the longest record (16 keys of
/// 100 KiB: every ~80 sets, not every ~28 as with a fixed 2 MiB).
/// Unit tests use a 32 times smaller slack so that they reach compaction quickly; the rule is the same.
#[cfg(not(test))]
const COMPACT_SLACK: u64 = 2 << 20;
#[cfg(test)]
const COMPACT_SLACK: u64 = 64 << 10;
#[cfg(not(test))]
const COMPACT_SLACK_MAX: u64 = 16 << 20;
#[cfg(test)]
const COMPACT_SLACK_MAX: u64 = 512 << 10;
/// Records of the longest size the slack holds (see `COMPACT_SLACK`).
const SLACK_RECORDS: u64 = 64;
/// Compaction also runs once the changes in the log outnumber its live items by half of them
/// plus this many: an open replays every change with a probe of the index, and a slack of
/// bytes alone let 16 MiB of 13-byte records (1.5 million) build up beside one large record.
const SLACK_CHANGES: u64 = 65_536;

/// The garbage a log whose longest record is `largest` bytes may carry beyond half its live
/// data before it is compacted.
fn compact_slack(largest: usize) -> u64 {
    (SLACK_RECORDS * largest as u64).clamp(COMPACT_SLACK, COMPACT_SLACK_MAX)
}

/// Bytes of the total per item: the total admits at most `total / ITEM_OVERHEAD` items (and
/// never fewer than [`MIN_ITEMS`]), a share of what the engine spends on each (a 24-byte index
/// entry in a table at most 7/8 full, and 9 to 15 bytes of record framing in the log). Without
/// it the total bounded bytes but not items: 2,097,152 one-byte values fit in 10 MiB and cost
/// 217 MiB of index and 2.3-2.9 s per open. With it, at the default 10 MiB, at most 327,680
/// items fit; the index stays within 12.5 MiB and the log within the 1.5 x 10 MiB + 16 MiB its
/// compaction allows (docs/wechat-behaviour.md §10, docs/storage-engine.md). Bytes are counted
/// as WeChat counts them, so `currentSize` reaches `limitSize` exactly when a set fails.
pub const ITEM_OVERHEAD: u64 = 32;

/// The fewest items any total admits (a small configured total keeps WeChat's byte rule alone).
pub const MIN_ITEMS: u64 = 1024;

/// Storage quotas: `item` and `total` in bytes of key + data + dataType; `total` also bounds the
/// number of items ([`Limits::max_items`]).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most bytes of one item.
    pub item: u64,
    /// Most bytes of all items together; at most one item per [`ITEM_OVERHEAD`] of it.
    pub total: u64,
}

impl Limits {
    /// The store's share of a sandbox's limits: its `storage_item` and `storage_total`.
    pub fn of(sandbox: &crate::quota::Limits) -> Limits {
        Limits { item: sandbox.storage_item, total: sandbox.storage_total }
    }

    /// The most items the total admits: `total / ITEM_OVERHEAD`, at least [`MIN_ITEMS`].
    pub fn max_items(&self) -> u64 {
        (self.total / ITEM_OVERHEAD).max(MIN_ITEMS)
    }
}

impl Default for Limits {
    /// WeChat's, the share of a sandbox's default limits: 1 MiB per item, 10 MiB in all.
    fn default() -> Limits {
        Limits::of(&crate::quota::Limits::default())
    }
}

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// JSON text, opaque to the engine.
    pub data: String,
    /// Type tag a JavaScript shim uses to revive what JSON cannot carry ("Date", "Undefined", ...).
    pub data_type: Option<String>,
}

/// A stored value borrowed from the log (see `Store::with`): the bytes of UTF-8 text, checked
/// when the record was written or read back at open, and not checked again on every read (for
/// a 100 KiB value that check was most of a get).
#[derive(Clone, Copy, Debug)]
pub struct ValueRef<'a> {
    /// JSON text, as [`Value::data`].
    pub data: &'a [u8],
    /// Type tag, as [`Value::data_type`].
    pub data_type: Option<&'a [u8]>,
}

impl ValueRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> Value {
        Value { data: text(self.data).into_owned(), data_type: self.data_type.map(|t| text(t).into_owned()) }
    }
}

/// Why a change to the store failed; the store is as it was before the call.
#[derive(Debug)]
pub enum StoreError {
    /// key + data + dataType exceed `Limits::item` (or one log record's cap, 64 MiB).
    ItemTooLarge,
    /// The store would exceed `Limits::total`.
    TotalExceeded,
    /// The key is empty.
    EmptyKey,
    /// The log could not be written.
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::ItemTooLarge => f.write_str("item exceeds the storage item limit"),
            StoreError::TotalExceeded => f.write_str("storage total limit exceeded"),
            StoreError::EmptyKey => f.write_str("key is empty"),
            StoreError::Io(e) => write!(f, "storage io error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> StoreError {
        StoreError::Io(e)
    }
}

/// What `Store::open` found and did.
#[derive(Debug, Default, Clone)]
pub struct OpenReport {
    /// Good records replayed (a batch counts once).
    pub records: u64,
    /// Bytes after the last good record (a torn or damaged tail), now zeroes.
    pub truncated_bytes: u64,
    /// The log was compacted at open.
    pub compacted: bool,
    /// The log had a header we do not recognise; it was kept at this path and the store started empty.
    pub corrupt_moved_to: Option<PathBuf>,
    /// The log was in this older format version and was rewritten in the current one.
    pub upgraded_from: Option<u32>,
    /// Damage in the middle of the log: the records it cost, the whole records after it that
    /// were recovered, and where its bytes were kept (docs/design.md §5, recovery).
    pub damaged: Option<Damage>,
}

/// Figures for the inspector, the benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Length of the log in `data.log` (its records).
    pub file_len: u64,
    /// Length of `data.log` on disk: the log and its preallocated zero tail.
    pub capacity: u64,
    /// Length a freshly compacted log would have.
    pub live_len: u64,
    /// Compactions since open.
    pub compactions: u64,
}

/// The key-value storage of one sandbox (`wx.*Storage*`): an append-only log in `kv/` with an
/// index in memory. [`Session::store`](crate::session::Parts::store) is the open sandbox's.
///
/// # Examples
///
/// Values a mini-program set are read back as the JSON text it sent:
///
/// ```
/// use wxfs::{bridge, Config, Session};
///
/// let root = std::env::temp_dir().join(format!("wxfs-doc-store-{}", std::process::id()));
/// let session = Session::open(Config::new(&root, "user-1", "wx1234567890")).unwrap();
/// let (status, _) = bridge::invoke(&session, "setStorageSync", r#"{"key": "user", "data": {"name": "Ann"}}"#);
/// assert_eq!(status, 0);
///
/// let value = session.store.get("user").unwrap();
/// assert_eq!(value.data, r#"{"name":"Ann"}"#);
/// assert_eq!(session.store.keys(), ["user"]);
/// assert!(session.store.get("missing").is_none());
/// # drop(session);
/// # std::fs::remove_dir_all(&root).unwrap();
/// ```
pub struct Store {
    durability: Durability,
    inner: RwLock<Inner>,
    flushed: Mutex<Flushed>,
    flushed_cv: Condvar,
    /// Writers between wanting the lock and releasing it: a flush leader lingers for them
    /// (briefly) so that one flush covers their records too.
    writing: AtomicUsize,
    /// Threads inside `flush_to`.
    waiting: AtomicUsize,
}

struct Inner {
    log: Log,
    index: Index,
    /// Where records are encoded before they are copied into the mapping; kept to spare an
    /// allocation per write.
    scratch: Vec<u8>,
    /// After a failed compaction, don't try again before the log reaches this length.
    compact_after: usize,
}

/// Longest a flush leader waits for writers in progress; a flush takes ~100 µs and more.
const LINGER: Duration = Duration::from_micros(100);

/// The write lock, counted in `writing` from before it is taken until it is released.
struct WriteGuard<'a> {
    guard: RwLockWriteGuard<'a, Inner>,
    writing: &'a AtomicUsize,
}

impl std::ops::Deref for WriteGuard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl std::ops::DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.writing.fetch_sub(1, Ordering::Release);
    }
}

/// Group commit state. Positions are `Log::pos` values, which survive a switch of files.
struct Flushed {
    /// Everything written up to here is on stable storage.
    upto: u64,
    /// A flusher is at work; others wait for it instead of syncing themselves.
    busy: bool,
}

impl Store {
    /// Opens the store in `dir` (created if missing) on the real file system.
    pub fn open(dir: &Path, durability: Durability) -> io::Result<(Store, OpenReport)> {
        Store::open_with_io(dir, durability, Arc::new(StdIo))
    }

    /// [`Store::open`] with a replaceable I/O layer under the log (tests inject faults there).
    pub fn open_with_io(dir: &Path, durability: Durability, io: Arc<dyn LogIo>) -> io::Result<(Store, OpenReport)> {
        let mut index = Index::default();
        let opened = Log::open(io, dir, |file, payload| record::parse(file, payload, |op| apply(&mut index, file, op)))?;
        let mut report = OpenReport {
            records: opened.records,
            truncated_bytes: opened.truncated_bytes,
            compacted: false,
            corrupt_moved_to: opened.corrupt_moved_to,
            upgraded_from: opened.upgraded_from,
            damaged: opened.damage,
        };
        let store = Store {
            durability,
            inner: RwLock::new(Inner { log: opened.log, index, scratch: Vec::new(), compact_after: 0 }),
            // Nothing is known to be flushed: what we read may sit only in the OS cache, so the
            // first flush covers it too.
            flushed: Mutex::new(Flushed { upto: 0, busy: false }),
            flushed_cv: Condvar::new(),
            writing: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        };
        report.compacted = match &report.damaged {
            // The damaged bytes are kept: the log is rewritten without them, so that the next
            // open does not meet them again.
            Some(Damage { kept: Ok(_), .. }) => store.compact(&mut store.inner.write()),
            _ => store.maybe_compact(&mut store.inner.write()),
        };
        Ok((store, report))
    }

    /// Set `key` to `value` within `limits`; on failure the old value is kept.
    pub fn set(&self, key: &str, value: Value, limits: Limits) -> Result<(), StoreError> {
        self.set_parts(key, value.data_type.as_deref(), &value.data, limits)
    }

    /// `set` of borrowed parts: what the C API and the bridge call, with nothing to allocate.
    pub fn set_parts(&self, key: &str, data_type: Option<&str>, data: &str, limits: Limits) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        let size = (key.len() + data.len() + data_type.map_or(0, str::len)) as u64;
        if size > limits.item {
            return Err(StoreError::ItemTooLarge);
        }
        let mut w = self.lock_write();
        let inner = &mut *w;
        let hash = inner.index.hash(key.as_bytes());
        let old = inner.index.find(inner.log.bytes(), hash, key.as_bytes()).copied();
        if (inner.index.size - old.map_or(0, |e| e.size())).saturating_add(size) > limits.total
            || (old.is_none() && inner.index.len() as u64 >= limits.max_items())
        {
            return Err(StoreError::TotalExceeded);
        }
        inner.scratch.clear();
        let item = record::encode_set(&mut inner.scratch, key.as_bytes(), data_type.map(str::as_bytes), data.as_bytes());
        check_record_len(&inner.scratch)?;
        let (at, end) = inner.log.append(&inner.scratch)?;
        inner.index.put_found(inner.log.bytes(), hash, old, &shift(&item, at));
        self.maybe_compact(inner);
        drop(w);
        self.commit(end)
    }

    /// Sets every item or none, as one log record. A key given twice takes its last value and
    /// its first position. Limits apply to the batch as a whole.
    pub fn set_batch(&self, items: Vec<(String, Value)>, limits: Limits) -> Result<(), StoreError> {
        let items = dedup(items);
        if items.is_empty() {
            return Ok(());
        }
        for (key, value) in &items {
            if key.is_empty() {
                return Err(StoreError::EmptyKey);
            }
            if item_size(key, value) > limits.item {
                return Err(StoreError::ItemTooLarge);
            }
        }
        let new: u64 = items.iter().map(|(k, v)| item_size(k, v)).sum();
        // A batch over the total (bytes or items) on its own fails without a lookup per item
        // (2,097,152 of them in the batch that showed it).
        if new > limits.total || items.len() as u64 > limits.max_items() {
            return Err(StoreError::TotalExceeded);
        }
        let mut w = self.lock_write();
        let inner = &mut *w;
        let log = inner.log.bytes();
        let old: u64 = items.iter().filter_map(|(k, _)| inner.index.get(log, k.as_bytes()).map(|e| e.size())).sum();
        let replaced = items.iter().filter(|(k, _)| inner.index.get(log, k.as_bytes()).is_some()).count() as u64;
        let count = inner.index.len() as u64 + items.len() as u64 - replaced;
        if (inner.index.size - old).saturating_add(new) > limits.total
            || (count > limits.max_items() && replaced < items.len() as u64)
        {
            return Err(StoreError::TotalExceeded);
        }
        inner.scratch.clear();
        let at_rel = record::encode_batch(&mut inner.scratch, &items);
        check_record_len(&inner.scratch)?;
        let (at, end) = inner.log.append(&inner.scratch)?;
        for item in &at_rel {
            inner.index.put(inner.log.bytes(), &shift(item, at));
        }
        self.maybe_compact(inner);
        drop(w);
        self.commit(end)
    }

    /// Calls `f` with the value of `key`, borrowed from the log under the read lock: no copy
    /// unless `f` makes one.
    pub fn with<R>(&self, key: &str, f: impl FnOnce(ValueRef<'_>) -> R) -> Option<R> {
        let inner = self.inner.read();
        let log = inner.log.bytes();
        let item = inner.index.get(log, key.as_bytes())?.item(log);
        Some(f(ValueRef { data: &log[item.data], data_type: item.ty.map(|t| &log[t]) }))
    }

    /// The value of `key`, copied; `None` if it is not set.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.with(key, |v| v.to_owned())
    }

    /// Tests: a compaction's new log waits for `settle` to be synced and renamed.
    #[cfg(test)]
    fn manual_promotion(&self) {
        self.inner.write().log.set_manual_promotion(true);
    }

    /// Waits until the last compaction's new log is synced and renamed over `data.log`. In
    /// `process` mode a compaction's new log goes live at once and a thread does that (the set
    /// that triggered it does not wait for an `fdatasync`); close waits for it too. For a host
    /// that copies the store's directory, or a test that reads `data.log`.
    pub fn settle(&self) -> io::Result<()> {
        self.inner.write().log.settle()
    }

    /// `Ok(false)`, writing nothing, when the key is missing.
    pub fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let mut w = self.lock_write();
        let inner = &mut *w;
        if inner.index.get(inner.log.bytes(), key.as_bytes()).is_none() {
            return Ok(false);
        }
        inner.scratch.clear();
        record::encode_remove(&mut inner.scratch, key);
        let (_, end) = inner.log.append(&inner.scratch)?;
        inner.index.remove(inner.log.bytes(), key.as_bytes());
        self.maybe_compact(inner);
        drop(w);
        self.commit(end).map(|()| true)
    }

    /// Remove every item.
    pub fn clear(&self) -> Result<(), StoreError> {
        let mut w = self.lock_write();
        let inner = &mut *w;
        if inner.index.len() == 0 {
            return Ok(());
        }
        inner.scratch.clear();
        record::encode_clear(&mut inner.scratch);
        let (_, end) = inner.log.append(&inner.scratch)?;
        inner.index.clear();
        self.maybe_compact(inner);
        drop(w);
        self.commit(end)
    }

    /// Keys in insertion order: overwriting keeps a key's place, removing and setting again
    /// moves it to the end.
    pub fn keys(&self) -> Vec<String> {
        let inner = self.inner.read();
        let log = inner.log.bytes();
        inner.index.ordered().iter().map(|e| String::from_utf8_lossy(e.key(log)).into_owned()).collect()
    }

    /// Hands each key to `f` in insertion order, stopping at its first error: the keys without
    /// a copy of them all (getStorageInfo writes each into its result as it comes).
    pub fn try_each_key<E>(&self, mut f: impl FnMut(&str) -> std::result::Result<(), E>) -> std::result::Result<(), E> {
        let inner = self.inner.read();
        let log = inner.log.bytes();
        for e in inner.index.ordered() {
            f(&String::from_utf8_lossy(e.key(log)))?;
        }
        Ok(())
    }

    /// The keys that begin with `prefix`, in insertion order (what `keys` would list of them,
    /// without a copy of every other key).
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let inner = self.inner.read();
        let log = inner.log.bytes();
        inner.index.with_prefix(log, prefix.as_bytes()).iter().map(|e| String::from_utf8_lossy(e.key(log)).into_owned()).collect()
    }

    /// Sum of key + data + dataType bytes over live items.
    pub fn size(&self) -> u64 {
        self.inner.read().index.size
    }

    /// How many items are set.
    pub fn len(&self) -> usize {
        self.inner.read().index.len()
    }

    /// Whether no item is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Flushes everything written so far to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        let upto = self.inner.read().log.pos();
        self.flush_to(upto)
    }

    /// Figures of the log now.
    pub fn stats(&self) -> LogStats {
        let inner = self.inner.read();
        LogStats {
            file_len: inner.log.len() as u64,
            capacity: inner.log.capacity() as u64,
            live_len: record::HEADER_LEN as u64 + inner.index.live_len,
            compactions: inner.log.generation(),
        }
    }

    /// Makes a write that ended at `end` as durable as the store promises.
    ///
    /// In `Power` mode a failed flush is reported, but the change stays applied in memory (and
    /// in the OS): later writers may already have written behind it, so it cannot be taken back.
    fn commit(&self, end: u64) -> Result<(), StoreError> {
        match self.durability {
            Durability::Process => Ok(()),
            Durability::Power => self.flush_to(end).map_err(StoreError::Io),
        }
    }

    /// Group commit: returns once everything up to `upto` is flushed. One caller at a time
    /// flushes, for itself and everyone who wrote before it started; the others wait for it.
    fn flush_to(&self, upto: u64) -> io::Result<()> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let res = self.flush_to_inner(upto);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        res
    }

    fn flush_to_inner(&self, upto: u64) -> io::Result<()> {
        let mut f = self.flushed.lock();
        loop {
            if f.upto >= upto {
                return Ok(());
            }
            if f.busy {
                self.flushed_cv.wait(&mut f);
                continue;
            }
            f.busy = true;
            // A panicking LogIo must not leave `busy` set: every later flush would hang.
            let res = MutexGuard::unlocked(&mut f, || panic::catch_unwind(AssertUnwindSafe(|| self.flush_once())));
            f.busy = false;
            self.flushed_cv.notify_all();
            match res {
                Ok(Ok(done)) => f.upto = f.upto.max(done),
                Ok(Err(e)) => return Err(e),
                Err(payload) => {
                    drop(f);
                    panic::resume_unwind(payload)
                }
            }
        }
    }

    fn lock_write(&self) -> WriteGuard<'_> {
        self.writing.fetch_add(1, Ordering::Acquire);
        WriteGuard { guard: self.inner.write(), writing: &self.writing }
    }

    /// Flushes the live file outside the lock; returns the position now durable.
    fn flush_once(&self) -> io::Result<u64> {
        // With other writers about (waiting for a flush, or writing), let them append first:
        // their records ride in this flush (PostgreSQL's commit_delay / commit_siblings).
        if self.waiting.load(Ordering::Acquire) > 1 || self.writing.load(Ordering::Acquire) > 0 {
            let start = Instant::now();
            loop {
                let t = start.elapsed();
                if t >= LINGER || (t >= LINGER / 3 && self.writing.load(Ordering::Acquire) == 0) {
                    break;
                }
                std::thread::yield_now();
            }
        }
        let plan = self.inner.read().log.flush_plan();
        plan.flusher.flush(0, plan.len)?;
        if let Some((dir, generation)) = plan.dir {
            plan.io.sync_dir(&dir)?;
            self.inner.write().log.dir_synced(generation);
        }
        Ok(plan.upto)
    }

    /// Compacts when the log has grown past 1.5 times its live size plus `compact_slack`. A
    /// failure leaves a consistent log; the write that triggered it has succeeded regardless.
    fn maybe_compact(&self, inner: &mut Inner) -> bool {
        let live = record::HEADER_LEN as u64 + inner.index.live_len;
        let len = inner.log.len() as u64;
        let slack = compact_slack(inner.log.largest_record());
        let items = inner.index.len() as u64;
        let changes_due = inner.index.changes > items + items / 2 + SLACK_CHANGES;
        if (len <= live + live / 2 + slack && !changes_due) || (len as usize) < inner.compact_after {
            return false;
        }
        self.compact(inner)
    }

    /// Rewrites the log with the live items only (see `maybe_compact`).
    fn compact(&self, inner: &mut Inner) -> bool {
        let live = record::HEADER_LEN as u64 + inner.index.live_len;
        let slack = compact_slack(inner.log.largest_record());
        let entries = inner.index.ordered();
        let log = inner.log.bytes();
        let items: Vec<record::Item> = entries.iter().map(|e| e.item(log)).collect();
        // Room for the live data to grow by a quarter before the file must.
        let cap = (live + live / 4) as usize + (64 << 10);
        match inner.log.rewrite(&items, cap, self.durability == Durability::Process) {
            Ok(moved) => {
                inner.index.relocate(inner.log.bytes(), &moved);
                inner.compact_after = 0;
                // The new file was synced whole before the rename. In power mode the rename is
                // made durable now (or, if that fails, by the next flush, which retries it); in
                // process mode by the next explicit flush.
                if self.durability == Durability::Power && inner.log.sync_dir().is_ok() {
                    let mut f = self.flushed.lock();
                    f.upto = f.upto.max(inner.log.pos());
                }
                true
            }
            Err(_) => {
                // Don't pay for a doomed rewrite (full disk) on every append.
                let len = inner.log.len();
                inner.compact_after = len + len / 2 + slack as usize;
                false
            }
        }
    }
}

/// `item`, whose ranges are relative to a record, moved to where that record lies.
fn shift(item: &record::Item, at: usize) -> record::Item {
    let s = |r: &std::ops::Range<usize>| r.start + at..r.end + at;
    record::Item { key: s(&item.key), ty: item.ty.as_ref().map(s), data: s(&item.data) }
}

/// Text stored in the log: checked as UTF-8 when the record was read or written, so the lossy
/// branch is never taken; it is what lets this stay safe code. (`from_utf8` first: it is the
/// vectorised check: `from_utf8_lossy` alone took 85 µs for a 100 KiB value, this 9.3.)
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn apply(index: &mut Index, file: &[u8], op: record::Op) {
    match op {
        record::Op::Set(item) => index.put(file, &item),
        record::Op::Remove(key) => {
            index.remove(file, &file[key]);
        }
        record::Op::Clear => index.clear(),
    }
}

fn item_size(key: &str, value: &Value) -> u64 {
    (key.len() + value.data.len() + value.data_type.as_ref().map_or(0, String::len)) as u64
}

fn check_record_len(rec: &[u8]) -> Result<(), StoreError> {
    if rec.len() - crate::io::FRAME_HEADER > record::MAX_PAYLOAD {
        return Err(StoreError::ItemTooLarge);
    }
    Ok(())
}

/// Keeps each key once, at its first position, with its last value: the result of applying the
/// items one after another.
fn dedup(items: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut at: HashMap<String, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<(String, Value)> = Vec::with_capacity(items.len());
    for (key, value) in items {
        match at.get(&key) {
            Some(&i) => out[i].1 = value,
            None => {
                at.insert(key.clone(), out.len());
                out.push((key, value));
            }
        }
    }
    out
}

/// Decode one storage-log record at the start of `buf` (for the fuzzers): the frame's length
/// when a record is accepted.
#[doc(hidden)]
pub fn fuzz_decode_record(buf: &[u8]) -> Option<usize> {
    let (payload, n) = crate::io::unframe(buf, record::MAX_PAYLOAD)?;
    let range = crate::io::FRAME_HEADER..crate::io::FRAME_HEADER + payload.len();
    record::parse(buf, range, |_| {}).then_some(n)
}

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
    let pending_next = StdIo.list(dir).is_ok_and(|names| names.iter().any(|n| n.starts_with(log::NEXT_PREFIX)));
    let mut v = Verify { leftover_compact: dir.join(log::COMPACT_NAME).exists(), pending_next, ..Verify::default() };
    let bytes = match std::fs::read(dir.join(log::LOG_NAME)) {
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
    let found = log::recover(&bytes, |r| record::parse(&bytes, r, |_| {}));
    v.records = found.records;
    v.bad_tail = found.torn as u64;
    v.damaged = found.spans.iter().map(|s| s.len() as u64).sum();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::log::tests::{MemIo, TempDir};
    use super::log::{COMPACT_NAME, LOG_NAME};
    use super::*;
    use std::fs;
    use std::time::Duration;

    const BIG: Limits = Limits { item: u64::MAX, total: u64::MAX };

    fn v(data: &str) -> Value {
        Value { data: data.to_owned(), data_type: None }
    }

    fn vt(data: &str, t: &str) -> Value {
        Value { data: data.to_owned(), data_type: Some(t.to_owned()) }
    }

    fn kv(k: &str, val: Value) -> (String, Value) {
        (k.to_owned(), val)
    }

    fn snapshot(s: &Store) -> Vec<(String, Value)> {
        s.keys().into_iter().map(|k| (k.clone(), s.get(&k).unwrap())).collect()
    }

    fn open(dir: &Path) -> (Store, OpenReport) {
        Store::open(dir, Durability::Process).unwrap()
    }

    /// The log in `data.log`: its records, without the zero tail.
    fn log_bytes(dir: &Path) -> Vec<u8> {
        let mut bytes = fs::read(dir.join(LOG_NAME)).unwrap();
        let (end, _) = log::scan(&bytes, |r| record::parse(&bytes, r, |_| {}));
        assert_eq!(log::garbage_after(&bytes, end), 0, "bytes after the log");
        bytes.truncate(end);
        bytes
    }

    fn file_len(dir: &Path) -> u64 {
        log_bytes(dir).len() as u64
    }

    fn set_bytes(key: &str, val: &Value) -> Vec<u8> {
        let mut b = Vec::new();
        record::encode_set(&mut b, key.as_bytes(), val.data_type.as_ref().map(|t| t.as_bytes()), val.data.as_bytes());
        b
    }

    /// The exact bytes of a compacted log holding `items`.
    fn compacted(items: &[(String, Value)]) -> Vec<u8> {
        let mut b = record::header().to_vec();
        for (k, val) in items {
            b.extend_from_slice(&set_bytes(k, val));
        }
        b
    }

    /// Reference semantics, written independently of `Index`.
    #[derive(Clone, Default, Debug, PartialEq)]
    struct Model(Vec<(String, Value)>);

    impl Model {
        fn set(&mut self, k: &str, val: Value) {
            match self.0.iter_mut().find(|(key, _)| key == k) {
                Some(e) => e.1 = val,
                None => self.0.push(kv(k, val)),
            }
        }
        fn remove(&mut self, k: &str) {
            self.0.retain(|(key, _)| key != k);
        }
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Store>();
    }

    #[test]
    fn every_field_round_trips_and_persists() {
        let t = TempDir::new("roundtrip");
        let items = vec![
            kv("a", v("{\"n\":1,\"s\":[true,null]}")),
            kv("b", vt("\"x\"", "")),
            kv("c", vt("1700000000000", "Date")),
            kv("键🔑", v("\"ü\"")),
            kv("e", v("")),
        ];
        let (s, r) = open(t.path());
        assert_eq!((r.records, r.truncated_bytes, r.compacted, r.corrupt_moved_to), (0, 0, false, None));
        for (k, val) in &items {
            s.set(k, val.clone(), BIG).unwrap();
        }
        assert_eq!(snapshot(&s), items);
        assert_eq!(s.get("b").unwrap().data_type, Some(String::new()));
        assert_eq!(s.get("a").unwrap().data_type, None);
        assert_eq!(s.get("missing"), None);
        assert_eq!(s.len(), 5);
        // Key, data and dataType bytes: "Date" counts too.
        assert_eq!(s.size(), (1 + 23) + (1 + 3) + (1 + 13 + 4) + (7 + 4) + 1);
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!((r.records, r.truncated_bytes, r.compacted), (5, 0, false));
        assert_eq!(snapshot(&s), items);
        assert_eq!(s.size(), 58);
        // The log is exactly the header and one set record per call.
        assert_eq!(log_bytes(t.path()), compacted(&items));
    }

    #[test]
    fn insertion_order_overwrite_remove_readd_and_reopen() {
        let t = TempDir::new("order");
        let (s, _) = open(t.path());
        for k in ["a", "b", "c"] {
            s.set(k, v(k), BIG).unwrap();
        }
        s.set("b", v("B"), BIG).unwrap();
        assert_eq!(s.keys(), ["a", "b", "c"]);
        assert!(s.remove("a").unwrap());
        s.set("a", v("A"), BIG).unwrap();
        assert_eq!(s.keys(), ["b", "c", "a"]);
        let len = file_len(t.path());
        assert!(!s.remove("zz").unwrap());
        assert!(!s.remove("").unwrap());
        assert_eq!(file_len(t.path()), len, "removing a missing key writes nothing");
        let before = snapshot(&s);
        assert_eq!(before, vec![kv("b", v("B")), kv("c", v("c")), kv("a", v("A"))]);
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!(r.records, 6);
        assert_eq!(snapshot(&s), before);
    }

    #[test]
    fn clear_empties_and_persists() {
        let t = TempDir::new("clear");
        let (s, _) = open(t.path());
        s.set("a", v("1"), BIG).unwrap();
        s.set("b", v("2"), BIG).unwrap();
        s.clear().unwrap();
        assert_eq!((s.len(), s.size(), s.keys()), (0, 0, Vec::<String>::new()));
        let len = file_len(t.path());
        s.clear().unwrap();
        assert_eq!(file_len(t.path()), len, "clearing an empty store writes nothing");
        s.set("b", v("3"), BIG).unwrap();
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!(r.records, 4);
        assert_eq!(snapshot(&s), vec![kv("b", v("3"))]);
    }

    #[test]
    fn limits_reject_without_writing() {
        let t = TempDir::new("limits");
        let (s, _) = open(t.path());
        let lim = Limits { item: 11, total: 30 };
        let loose_item = Limits { item: 100, total: 30 };

        s.set("k", v("0123456789"), lim).unwrap(); // 11: exactly the item limit
        let len = file_len(t.path());
        assert!(matches!(s.set("k", v("0123456789A"), lim), Err(StoreError::ItemTooLarge)));
        assert!(matches!(s.set("", v("1"), lim), Err(StoreError::EmptyKey)));
        assert_eq!(s.get("k").unwrap(), v("0123456789"));
        assert_eq!(file_len(t.path()), len);

        s.set("a", v("0123456789"), lim).unwrap(); // 22
        let len = file_len(t.path());
        assert!(matches!(s.set("b", v("0123456789"), lim), Err(StoreError::TotalExceeded))); // 33
        assert_eq!(s.get("b"), None);
        assert_eq!(file_len(t.path()), len);

        s.set("b", v("1234567"), lim).unwrap(); // 30: exactly the total limit
        assert_eq!(s.size(), 30);
        let len = file_len(t.path());
        assert!(matches!(s.set("c", v(""), lim), Err(StoreError::TotalExceeded))); // 31
                                                                                   // An overwrite counts the new size against the total without the old one.
        assert!(matches!(s.set("a", v("0123456789A"), loose_item), Err(StoreError::TotalExceeded))); // 31
        assert_eq!(s.get("a").unwrap(), v("0123456789"));
        assert_eq!(file_len(t.path()), len);
        s.set("a", v("abcdefghij"), lim).unwrap(); // 30 again
        s.set("a", v("x"), lim).unwrap(); // 21
        assert_eq!(s.size(), 21);
        s.set("c", v("12345678"), lim).unwrap(); // 30
        assert_eq!((s.size(), s.len()), (30, 4));

        let before = snapshot(&s);
        drop(s);
        let (s, _) = open(t.path());
        assert_eq!(snapshot(&s), before);
        assert_eq!(s.size(), 30);
    }

    #[test]
    fn concurrent_checks_admit_only_what_fits() {
        let t = TempDir::new("admit");
        let (s, _) = open(t.path());
        let lim = Limits { item: 100, total: 35 };
        for round in 0..20 {
            s.clear().unwrap();
            let ok = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..8)
                    .map(|i| {
                        let s = &s;
                        sc.spawn(move || s.set(&format!("k{i}"), v(&format!("{round:08}")), lim).is_ok())
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).filter(|&ok| ok).count()
            });
            // Each item is 2 + 8 = 10 bytes: exactly three fit in 35.
            assert_eq!((ok, s.len(), s.size()), (3, 3, 30), "round {round}");
        }
    }

    #[test]
    fn batch_is_one_record_and_all_or_nothing() {
        let t = TempDir::new("batch");
        let (s, _) = open(t.path());
        s.set("a", v("0"), BIG).unwrap();
        let len = file_len(t.path());
        s.set_batch(vec![kv("a", v("1")), kv("b", vt("2", "Number")), kv("a", v("333"))], BIG).unwrap();
        assert_eq!(snapshot(&s), vec![kv("a", v("333")), kv("b", vt("2", "Number"))]);
        // Exactly one record, holding each key once.
        let mut want = Vec::new();
        record::encode_batch(&mut want, &[kv("a", v("333")), kv("b", vt("2", "Number"))]);
        assert_eq!(log_bytes(t.path())[len as usize..], want[..]);
        assert_eq!(s.size(), 4 + 2 + 6);

        let before = snapshot(&s);
        let len = file_len(t.path());
        let fails = [
            (vec![kv("c", v("1")), kv("", v("2"))], BIG, "empty"),
            (vec![kv("c", v("1")), kv("d", v(&"x".repeat(60)))], Limits { item: 50, total: u64::MAX }, "item"),
            // 12 - 4 (old a) + 4 (new a) + 3 (c) = 15 > 8
            (vec![kv("c", v("12")), kv("a", v("123"))], Limits { item: 100, total: 8 }, "total"),
        ];
        for (items, lim, what) in fails {
            let r = s.set_batch(items, lim);
            match what {
                "empty" => assert!(matches!(r, Err(StoreError::EmptyKey))),
                "item" => assert!(matches!(r, Err(StoreError::ItemTooLarge))),
                _ => assert!(matches!(r, Err(StoreError::TotalExceeded))),
            }
            assert_eq!(snapshot(&s), before, "{what}");
            assert_eq!(file_len(t.path()), len, "{what}");
        }
        s.set_batch(vec![], BIG).unwrap();
        assert_eq!(file_len(t.path()), len);
        // At exactly the total (3 + 4 + 8, "Number" included) it fits; a too-large value overwritten later in the batch is never stored.
        s.set_batch(vec![kv("c", v("12")), kv("a", v(&"y".repeat(99))), kv("a", v("123"))], Limits { item: 10, total: 15 })
            .unwrap();
        let after = vec![kv("a", v("123")), kv("b", vt("2", "Number")), kv("c", v("12"))];
        assert_eq!(snapshot(&s), after);
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!(r.records, 3);
        assert_eq!(snapshot(&s), after);
    }

    enum Op {
        Set(&'static str, Value),
        Batch(Vec<(String, Value)>),
        Remove(&'static str),
        Clear,
    }

    /// Writes `ops` through a store and returns the log's bytes, the end offset of each record
    /// (`ends[0]` is the header) and the model state after each record.
    fn write_ops(dir: &Path, ops: Vec<Op>) -> (Vec<u8>, Vec<u64>, Vec<Model>) {
        let (s, _) = open(dir);
        let mut ends = vec![file_len(dir)];
        let mut models = vec![Model::default()];
        for op in ops {
            let mut m = models.last().unwrap().clone();
            match op {
                Op::Set(k, val) => {
                    m.set(k, val.clone());
                    s.set(k, val, BIG).unwrap();
                }
                Op::Batch(items) => {
                    for (k, val) in &items {
                        m.set(k, val.clone());
                    }
                    s.set_batch(items, BIG).unwrap();
                }
                Op::Remove(k) => {
                    m.remove(k);
                    assert!(s.remove(k).unwrap());
                }
                Op::Clear => {
                    m.0.clear();
                    s.clear().unwrap();
                }
            }
            assert_eq!(snapshot(&s), m.0);
            ends.push(file_len(dir));
            models.push(m);
        }
        drop(s);
        (log_bytes(dir), ends, models)
    }

    fn sample_ops() -> Vec<Op> {
        vec![
            Op::Set("a", v("1")),
            Op::Set("b", vt("\"two\"", "Date")),
            Op::Batch(vec![kv("c", v("[3]")), kv("a", vt("", ""))]),
            Op::Remove("b"),
            Op::Set("d", v("\"ü日本\"")),
            Op::Clear,
            Op::Set("e", vt("{}", "Object")),
        ]
    }

    #[test]
    fn torn_tail_at_every_offset_keeps_exactly_the_whole_records() {
        let t = TempDir::new("torn");
        let (bytes, ends, models) = write_ops(t.path(), sample_ops());
        assert_eq!(ends.len(), 8);
        assert_eq!(*ends.last().unwrap(), bytes.len() as u64);
        let path = t.path().join(LOG_NAME);
        for cut in 0..=bytes.len() {
            // What a kill leaves: a prefix of the log in a preallocated file, zeros after it.
            let mut file = bytes[..cut].to_vec();
            if cut >= 8 {
                file.resize(bytes.len() + 4096, 0);
            }
            fs::write(&path, &file).unwrap();
            let (s, r) = open(t.path());
            if cut < 8 {
                // A torn header: the log was being created; nothing to keep, nothing to set aside.
                assert_eq!((r.records, r.truncated_bytes, s.len()), (0, cut as u64, 0), "cut {cut}");
                assert_eq!(log_bytes(t.path()), record::header());
            } else {
                // The records whose bytes are all there. A record whose missing bytes are all
                // zeros is whole: the zero tail holds exactly what was cut.
                let k = (0..ends.len()).rev().find(|&k| file[..ends[k] as usize] == bytes[..ends[k] as usize]).unwrap();
                let end = ends[k] as usize;
                assert_eq!(snapshot(&s), models[k].0, "cut {cut}");
                assert_eq!(r.records, k as u64, "cut {cut}");
                // The torn record's bytes up to its last non-zero one are reported and zeroed.
                let torn = file[end..].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                assert_eq!(r.truncated_bytes, torn as u64, "cut {cut}");
                assert_eq!(file_len(t.path()), ends[k], "cut {cut}");
            }
            assert_eq!(r.corrupt_moved_to, None);
            // The store stays writable after the cut, and the write lands on a clean tail.
            s.set("z", v("9"), BIG).unwrap();
            drop(s);
            let (s, r) = open(t.path());
            assert_eq!(r.truncated_bytes, 0);
            assert_eq!(s.keys().last().map(String::as_str), Some("z"));
        }
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1, "no stray files");
    }

    /// A damaged record costs only itself, wherever in it the damage is (its length, its CRC,
    /// its payload): the records after it are recovered, its bytes kept aside, the log rewritten
    /// without them.
    #[test]
    fn flipped_byte_costs_only_that_record() {
        let t = TempDir::new("flip");
        let ops = (0..5).map(|i| Op::Set(["k0", "k1", "k2", "k3", "k4"][i], v(&format!("value-{i}")))).collect();
        let (bytes, ends, models) = write_ops(t.path(), ops);
        let (start, end) = (ends[2] as usize, ends[3] as usize); // the middle record
        let path = t.path().join(LOG_NAME);
        let mut want = models[2].0.clone();
        want.extend(models[5].0[3..].iter().cloned());
        for i in [start, start + 1, start + 3, start + 4, start + 7, start + 8, (start + end) / 2, end - 1] {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            for e in fs::read_dir(t.path()).unwrap().flatten() {
                fs::remove_file(e.path()).unwrap();
            }
            fs::write(&path, &b).unwrap();
            let (s, r) = open(t.path());
            assert_eq!(snapshot(&s), want, "byte {i}");
            let d = r.damaged.clone().unwrap_or_else(|| panic!("byte {i}: no damage reported"));
            assert_eq!((r.records, r.truncated_bytes, d.records_after, d.bytes), (4, 0, 2, (end - start) as u64), "byte {i}");
            if i >= start + 8 {
                assert_eq!(d.records_lost, 1, "byte {i}");
            }
            let kept = d.kept.unwrap();
            assert_eq!(fs::read(&kept).unwrap(), b[start..end], "byte {i}");
            assert!(r.compacted, "byte {i}");
            drop(s);
            let (s, r) = open(t.path());
            assert_eq!((snapshot(&s), r.damaged, r.truncated_bytes), (want.clone(), None, 0), "byte {i}");
        }
    }

    /// Bytes inside a payload that form a whole frame are not where recovery resumes: a value
    /// holding a valid "set a" record (CRC and all) whose own record's header is damaged costs
    /// that record only; the forged set is never applied.
    #[test]
    fn a_frame_inside_a_damaged_record_is_not_taken_for_a_record() {
        let t = TempDir::new("forged");
        // A frame whose bytes are all ASCII, so that it can sit inside a value.
        let forged = (0..)
            .map(|n| {
                let mut f = Vec::new();
                record::encode_set(&mut f, b"a", None, format!("\"forged {n}\"").as_bytes());
                f
            })
            .find(|f| f.is_ascii())
            .unwrap();
        let inner = format!("\"{}tail\"", std::str::from_utf8(&forged).unwrap());
        let ops = vec![Op::Set("a", v("1")), Op::Set("x", v(&inner)), Op::Set("b", v("2")), Op::Set("c", v("3"))];
        let (bytes, ends, _) = write_ops(t.path(), ops);
        let (start, end) = (ends[1] as usize, ends[2] as usize);
        let mut b = bytes.clone();
        b[start + 4] ^= 0xff; // the CRC of x's record
        fs::write(t.path().join(LOG_NAME), &b).unwrap();
        let (s, r) = open(t.path());
        assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("b", v("2")), kv("c", v("3"))]);
        let d = r.damaged.unwrap();
        assert_eq!((d.records_lost, d.records_after, d.bytes), (1, 2, (end - start) as u64));
    }

    #[test]
    fn bad_header_is_set_aside_never_deleted() {
        let t = TempDir::new("corrupt");
        let path = t.path().join(LOG_NAME);
        fs::create_dir_all(t.path()).unwrap();
        let garbage = b"{\"this\":\"is not a WXKV log\"}".to_vec();
        for n in 1..=2 {
            fs::write(&path, &garbage).unwrap();
            let (s, r) = open(t.path());
            let aside = t.path().join(format!("data.log.corrupt-{n}"));
            assert_eq!(r.corrupt_moved_to.as_deref(), Some(aside.as_path()));
            assert_eq!((r.records, s.len()), (0, 0));
            assert_eq!(fs::read(&aside).unwrap(), garbage);
            assert_eq!(log_bytes(t.path()), record::header());
            s.set("a", v("1"), BIG).unwrap();
        }
        let (s, r) = open(t.path());
        assert_eq!((r.records, r.corrupt_moved_to), (1, None));
        assert_eq!(snapshot(&s), vec![kv("a", v("1"))]);
    }

    #[test]
    fn other_format_version_is_refused_and_untouched() {
        let t = TempDir::new("version");
        fs::create_dir_all(t.path()).unwrap();
        let path = t.path().join(LOG_NAME);
        let mut newer = b"WXKV\x03\x00\x00\x00".to_vec();
        newer.extend_from_slice(&set_bytes("a", &v("1")));
        fs::write(&path, &newer).unwrap();
        let err = Store::open(t.path(), Durability::Process).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(fs::read(&path).unwrap(), newer);
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    fn leftover_compact_file_is_ignored_and_removed() {
        let t = TempDir::new("leftover");
        let (s, _) = open(t.path());
        s.set("a", v("1"), BIG).unwrap();
        s.set("b", v("2"), BIG).unwrap();
        drop(s);
        let leftover = t.path().join(COMPACT_NAME);
        fs::write(&leftover, compacted(&[kv("x", v("never live"))])).unwrap();
        let (s, r) = open(t.path());
        assert_eq!((r.records, r.truncated_bytes, r.compacted), (2, 0, false));
        assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("b", v("2"))]);
        assert!(!leftover.exists());
    }

    /// Records long enough to go through the file (`LogMap::write_through`) and short ones that
    /// go through the mapping, interleaved on the real file system: each reads back at once, the
    /// file holds them back to back with nothing after, and a reopen finds them all.
    #[test]
    fn records_written_through_the_file_and_through_the_mapping_interleave() {
        let t = TempDir::new("write-through");
        let (s, _) = open(t.path());
        let mut m = Model::default();
        let sizes = [10, 8 << 10, (8 << 10) - 20, 100 << 10, 3, 70_000, (8 << 10) + 1, 17];
        for (i, n) in sizes.iter().enumerate() {
            let data = format!("\"{}\"", char::from(b'a' + i as u8).to_string().repeat(*n));
            let key = format!("k{}", i % 5);
            s.set(&key, v(&data), BIG).unwrap();
            m.set(&key, v(&data));
            assert_eq!(s.get(&key).unwrap().data, data, "read back at once");
        }
        let want = snapshot(&s);
        assert_eq!(want, m.0);
        let records = log_bytes(t.path());
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!((r.records, r.truncated_bytes), (sizes.len() as u64, 0));
        assert_eq!(snapshot(&s), want);
        assert_eq!(log_bytes(t.path()), records);
    }

    #[test]
    fn compaction_triggers_and_keeps_content_and_order() {
        let t = TempDir::new("compact");
        let (s, _) = open(t.path());
        let mut m = Model::default();
        for i in 0..10 {
            let k = format!("k{i}");
            s.set(&k, vt(&i.to_string(), "Number"), BIG).unwrap();
            m.set(&k, vt(&i.to_string(), "Number"));
        }
        assert!(s.remove("k1").unwrap());
        m.remove("k1");
        s.set("k1", v("again"), BIG).unwrap();
        m.set("k1", v("again"));

        let slack = compact_slack(set_bytes("k5", &v(&format!("{:01024}", 0))).len());
        let mut sets = 0;
        while s.stats().compactions == 0 {
            let val = v(&format!("{sets:01024}"));
            let before = s.stats();
            s.set("k5", val.clone(), BIG).unwrap();
            m.set("k5", val);
            sets += 1;
            if s.stats().compactions == 0 {
                // No compaction while the log is within bounds.
                assert!(before.file_len <= before.live_len + before.live_len / 2 + slack);
            }
            assert!(sets < 1000, "compaction never ran");
        }
        // 1 KiB records: it takes half the live data (~1 KiB) plus the slack (64 KiB, or 64
        // records of 1 KiB) of garbage.
        assert!((60..=66).contains(&sets), "{sets}");
        assert_eq!(snapshot(&s), m.0);
        let st = s.stats();
        assert_eq!((st.compactions, st.file_len), (1, st.live_len));
        s.settle().unwrap();
        assert_eq!(log_bytes(t.path()), compacted(&m.0));
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1, "no leftover");

        // Appends after the switch go to the new file.
        s.set("new", v("1"), BIG).unwrap();
        m.set("new", v("1"));
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!((r.records, r.truncated_bytes, r.compacted), (11, 0, false));
        assert_eq!(snapshot(&s), m.0);
        assert_eq!(s.keys()[..3], ["k0", "k2", "k3"]);
        assert_eq!(s.keys()[9..], ["k1", "new"]);
    }

    /// Sets `n` keys round-robin with values of `len` bytes until a compaction runs; returns
    /// the number of sets and the longest log seen before it. Asserts that the log stayed within
    /// 1.5 x live + `slack` before the compaction and went past it to trigger it.
    fn churn_until_compaction(s: &Store, n: usize, len: usize, slack: u64) -> (usize, u64) {
        let c = s.stats().compactions;
        let (mut sets, mut longest) = (0, 0);
        loop {
            let before = s.stats();
            s.set(&format!("c{}", sets % n), v(&format!("{sets:0len$}")), BIG).unwrap();
            sets += 1;
            let after = s.stats();
            if after.compactions > c {
                assert!(after.file_len == after.live_len, "compacted whole");
                let grown = before.file_len + set_bytes("c0", &v(&format!("{:0len$}", 0))).len() as u64;
                assert!(grown > before.live_len + before.live_len / 2 + slack, "compacted early: {grown} {before:?}");
                return (sets, longest);
            }
            assert!(after.file_len <= after.live_len + after.live_len / 2 + slack, "{after:?}");
            longest = longest.max(after.file_len);
            assert!(sets < 10_000, "compaction never ran");
        }
    }

    #[test]
    fn the_slack_grows_with_the_longest_record_up_to_its_cap() {
        let t = TempDir::new("slack");
        let (s, _) = open(t.path());
        // 4 KiB records: 64 of them (256 KiB) of slack, not 64 KiB; and 64 sets or more
        // between compactions, not 16.
        let rec4 = set_bytes("c0", &v(&format!("{:04096}", 0))).len();
        let slack4 = compact_slack(rec4);
        assert_eq!(slack4, 64 * rec4 as u64);
        assert!(slack4 > 3 * COMPACT_SLACK);
        let (sets, longest) = churn_until_compaction(&s, 4, 4096, slack4);
        assert!((64..=72).contains(&sets), "{sets}");
        assert!(longest > 3 * COMPACT_SLACK, "the fixed slack would have compacted at {longest}");
        // The same again, but the store is reopened halfway: the slack is the file's, so open
        // does not compact it.
        for i in 0..40 {
            s.set(&format!("c{}", i % 4), v(&format!("{i:04096}")), BIG).unwrap();
        }
        let before = s.stats();
        assert!(before.file_len > before.live_len + before.live_len / 2 + COMPACT_SLACK);
        drop(s);
        let (s, r) = open(t.path());
        assert!(!r.compacted);
        assert_eq!(s.stats().file_len, before.file_len);
        let (sets, _) = churn_until_compaction(&s, 4, 4096, slack4);
        assert!((20..=30).contains(&sets), "{sets}");

        // 16 KiB records: 64 of them would be 1 MiB; the slack stops at its cap.
        let (sets, _) = churn_until_compaction(&s, 4, 16 << 10, COMPACT_SLACK_MAX);
        assert!((30..=40).contains(&sets), "{sets}");

        // Once compaction has left only small records, the slack is back to its floor.
        s.clear().unwrap();
        churn_until_compaction(&s, 4, 1000, COMPACT_SLACK_MAX);
        let (sets, _) = churn_until_compaction(&s, 4, 1000, COMPACT_SLACK);
        assert!((60..=70).contains(&sets), "{sets}");
    }

    #[test]
    fn oversized_log_is_compacted_at_open() {
        let t = TempDir::new("compact-open");
        fs::create_dir_all(t.path()).unwrap();
        let mut b = record::header().to_vec();
        for i in 0..100 {
            b.extend_from_slice(&set_bytes("k", &v(&format!("{i:01000}"))));
        }
        b.extend_from_slice(&set_bytes("z", &v("1")));
        fs::write(t.path().join(LOG_NAME), &b).unwrap();
        let (s, r) = open(t.path());
        assert_eq!((r.records, r.truncated_bytes, r.compacted), (101, 0, true));
        let want = vec![kv("k", v(&format!("{:01000}", 99))), kv("z", v("1"))];
        assert_eq!(snapshot(&s), want);
        s.settle().unwrap();
        assert_eq!(log_bytes(t.path()), compacted(&want));
    }

    const KV: &str = "/mem/kv";

    fn mem_open(io: &MemIo, d: Durability) -> (Store, OpenReport) {
        Store::open_with_io(Path::new(KV), d, io.arc()).unwrap()
    }

    /// The log in the simulated file, without its zero tail.
    fn mem_log(io: &MemIo) -> Vec<u8> {
        let mut bytes = io.bytes(&Path::new(KV).join(LOG_NAME)).unwrap();
        let (end, _) = log::scan(&bytes, |r| record::parse(&bytes, r, |_| {}));
        bytes.truncate(end);
        bytes
    }

    #[test]
    fn failed_write_changes_nothing_and_the_next_write_works() {
        let io = MemIo::new();
        let (s, _) = mem_open(&io, Durability::Process);
        s.set("a", v("1"), BIG).unwrap();
        s.set("b", v("2"), BIG).unwrap();
        let before = snapshot(&s);
        let log = mem_log(&io);
        let attempts: [&dyn Fn() -> Result<(), StoreError>; 4] = [
            &|| s.set("a", v("999"), BIG),
            &|| s.set_batch(vec![kv("c", v("3")), kv("a", v("4"))], BIG),
            &|| s.remove("a").map(drop),
            &|| s.clear(),
        ];
        // The copy of the payload fails (step 1), or that of the frame header after it (step 2).
        for step in [1, 2] {
            for (i, attempt) in attempts.iter().enumerate() {
                io.faults().crash_at = Some(io.ops() + step);
                assert!(matches!(attempt(), Err(StoreError::Io(_))), "attempt {i} step {step}");
                io.faults().crash_at = None;
                assert_eq!(snapshot(&s), before, "attempt {i} step {step}");
                assert_eq!(s.size(), 4);
                assert_eq!(mem_log(&io), log, "attempt {i} step {step}: the log ends where it did");
            }
        }
        // The disk is full when the file must grow: nothing changes, and the write after works.
        io.faults().fail_allocate = 1;
        assert!(matches!(s.set("big", v(&"x".repeat(10_000)), BIG), Err(StoreError::Io(_))));
        assert_eq!((snapshot(&s), mem_log(&io)), (before.clone(), log.clone()));
        s.set("c", v("3"), BIG).unwrap();
        let mut want = log.clone();
        want.extend_from_slice(&set_bytes("c", &v("3")));
        assert_eq!(mem_log(&io), want);
        drop(s);
        let (s, r) = mem_open(&io, Durability::Process);
        assert_eq!((r.records, r.truncated_bytes), (3, 0), "stale bytes of the failed copies were zeroed");
        assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("b", v("2")), kv("c", v("3"))]);
    }

    #[test]
    fn process_mode_survives_a_kill_but_only_sync_survives_a_power_cut() {
        let io = MemIo::new();
        let (s, _) = mem_open(&io, Durability::Process);
        for i in 0..10 {
            s.set(&format!("k{i}"), v("1"), BIG).unwrap();
        }
        drop(s);
        // Killed: the OS still has everything.
        let (s, r) = mem_open(&io, Durability::Process);
        assert_eq!((r.records, s.len()), (10, 10));
        drop(s);
        io.power_cut();
        let (s, r) = mem_open(&io, Durability::Process);
        assert_eq!((r.records, s.len()), (0, 0), "nothing was ever synced");
        for i in 0..3 {
            s.set(&format!("k{i}"), v("1"), BIG).unwrap();
        }
        s.sync().unwrap();
        s.set("lost", v("1"), BIG).unwrap();
        drop(s);
        io.power_cut();
        let (s, _) = mem_open(&io, Durability::Process);
        assert_eq!(s.keys(), ["k0", "k1", "k2"]);
    }

    #[test]
    fn power_mode_group_commit_shares_flushes() {
        let io = MemIo::new();
        io.set_sync_delay(Duration::from_millis(1));
        let (s, _) = mem_open(&io, Durability::Power);
        let syncs_at_open = io.syncs();
        std::thread::scope(|sc| {
            for t in 0..8 {
                let s = &s;
                sc.spawn(move || {
                    for i in 0..200 {
                        s.set(&format!("t{t}-{i}"), vt(&format!("{}", t * 1000 + i), "Number"), BIG).unwrap();
                    }
                });
            }
        });
        let syncs = io.syncs() - syncs_at_open;
        assert!(syncs >= 1);
        assert!(syncs < 1600, "every set flushed alone: {syncs} syncs");
        drop(s);
        io.power_cut();
        let (s, r) = mem_open(&io, Durability::Power);
        assert_eq!((r.records, r.truncated_bytes, s.len()), (1600, 0, 1600));
        for t in 0..8 {
            for i in 0..200 {
                assert_eq!(s.get(&format!("t{t}-{i}")).unwrap(), vt(&format!("{}", t * 1000 + i), "Number"));
            }
        }
    }

    #[test]
    fn power_mode_failed_flush_is_reported() {
        let io = MemIo::new();
        let (s, _) = mem_open(&io, Durability::Power);
        s.set("a", v("1"), BIG).unwrap();
        // The next mutating calls are the two copies (payload, then header), then the flush.
        io.faults().crash_at = Some(io.ops() + 3);
        assert!(matches!(s.set("b", v("2"), BIG), Err(StoreError::Io(_))));
        io.faults().crash_at = None;
        // Not durable yet, so it was reported; the next flush covers it.
        s.set("c", v("3"), BIG).unwrap();
        drop(s);
        io.power_cut();
        let (s, _) = mem_open(&io, Durability::Power);
        assert_eq!(s.keys(), ["a", "b", "c"]);
    }

    /// Kills the process at every single IO call of a compaction (and of the write that triggers
    /// it), then cuts the power: the log must come back whole, old or new.
    #[test]
    fn crash_at_any_step_of_compaction_leaves_a_complete_log() {
        let hot = |i: usize| v(&format!("{i:02000}"));
        let fill = |io: &MemIo, upto: usize| {
            let (s, _) = mem_open(io, Durability::Power);
            s.set("a", vt("1", "Number"), BIG).unwrap();
            s.set("hot", hot(0), BIG).unwrap();
            s.set("z", v("2"), BIG).unwrap();
            for i in 1..upto {
                s.set("hot", hot(i), BIG).unwrap();
            }
            s
        };
        // Find the set that triggers the compaction.
        let io = MemIo::new();
        let s = fill(&io, 1);
        let mut trigger = 1;
        loop {
            s.set("hot", hot(trigger), BIG).unwrap();
            if s.stats().compactions == 1 {
                break;
            }
            trigger += 1;
        }
        drop(s);
        let state = |i| vec![kv("a", vt("1", "Number")), kv("hot", hot(i)), kv("z", v("2"))];
        let (old, new) = (state(trigger - 1), state(trigger));

        let mut crash_points = 0;
        for step in 1.. {
            let io = MemIo::new();
            let s = fill(&io, trigger);
            let crash_at = io.ops() + step;
            io.faults().crash_at = Some(crash_at);
            let r = s.set("hot", hot(trigger), BIG);
            let crashed = io.ops() >= crash_at;
            drop(s);
            io.power_cut();
            let (s, rep) = mem_open(&io, Durability::Power);
            let got = snapshot(&s);
            assert!(got == old || got == new, "step {step}");
            if r.is_ok() {
                assert_eq!(got, new, "step {step}: acknowledged but lost");
            }
            assert_eq!(rep.truncated_bytes, 0, "step {step}: not a complete log");
            assert_eq!(io.names(), vec![Path::new(KV).join(LOG_NAME)], "step {step}");
            if !crashed {
                assert!(r.is_ok());
                assert_eq!(got, new);
                break;
            }
            crash_points += 1;
        }
        // append, compact (remove, create, write, sync, rename, sync dir), flush
        assert!(crash_points >= 7, "{crash_points}");
    }

    /// Process mode: a compaction's new log goes live before it is synced and renamed over
    /// `data.log`. A kill at any I/O call of the compaction, of the writes and the flush made
    /// while it is live under its temporary name, or of its promotion, loses nothing
    /// acknowledged and leaves one log; a power cut at any of them leaves a state the store was
    /// in, no older than the last acknowledged flush.
    #[test]
    fn kill_or_power_cut_at_any_step_of_a_deferred_compaction() {
        let hot = |i: usize| v(&format!("{i:02000}"));
        let base = vec![kv("a", vt("1", "Number")), kv("z", v("2"))];
        let fill = |io: &MemIo, upto: usize| {
            let (s, _) = mem_open(io, Durability::Process);
            s.manual_promotion();
            for (k, val) in &base {
                s.set(k, val.clone(), BIG).unwrap();
            }
            s.sync().unwrap();
            for i in 0..upto {
                s.set("hot", hot(i), BIG).unwrap();
            }
            s
        };
        // The set that triggers the compaction, and the new log's temporary name.
        let io = MemIo::new();
        let s = fill(&io, 0);
        let mut trigger = 0;
        while s.stats().compactions == 0 {
            s.set("hot", hot(trigger), BIG).unwrap();
            trigger += 1;
        }
        let trigger = trigger - 1;
        let names = io.names();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[1].to_string_lossy().contains(log::NEXT_PREFIX), "{names:?}");
        drop(s);

        let mut crash_points = 0;
        for power_cut in [false, true] {
            for step in 1.. {
                let io = MemIo::new();
                let s = fill(&io, trigger);
                let crash_at = io.ops() + step;
                io.faults().crash_at = Some(crash_at);
                // Each step's state, and the index of the last one acknowledged durable.
                // Every state the store went through since the synced base.
                let mut m = Model(base.clone());
                let mut states = vec![m.0.clone()];
                for i in 0..trigger {
                    m.set("hot", hot(i));
                    states.push(m.0.clone());
                }
                let mut durable = 0;
                let mut acked = m.0.clone();
                let step_ok = |r: bool, m: &Model, states: &mut Vec<_>, acked: &mut Vec<_>| {
                    if r {
                        states.push(m.0.clone());
                        *acked = m.0.clone();
                    }
                    r
                };
                m.set("hot", hot(trigger));
                step_ok(s.set("hot", hot(trigger), BIG).is_ok(), &m, &mut states, &mut acked);
                m.set("b", v("3"));
                step_ok(s.set("b", v("3"), BIG).is_ok(), &m, &mut states, &mut acked);
                if s.sync().is_ok() {
                    durable = states.len() - 1;
                }
                m.set("c", v("4"));
                step_ok(s.set("c", v("4"), BIG).is_ok(), &m, &mut states, &mut acked);
                // A promotion syncs the new log (when there is one: the compaction may have failed).
                let pending = s.inner.read().log.promotion_pending();
                if s.settle().is_ok() && pending {
                    durable = states.len() - 1;
                }
                let crashed = io.ops() >= crash_at;
                drop(s);
                if power_cut {
                    io.power_cut();
                } else {
                    io.faults().crash_at = None;
                }
                let (s, _) = mem_open(&io, Durability::Process);
                let got = snapshot(&s);
                if power_cut {
                    let at = states.iter().position(|st| *st == got);
                    assert!(at.is_some_and(|i| i >= durable), "step {step}: {:?} not a state at or after {durable}", at);
                } else {
                    assert_eq!(got, acked, "step {step}: acknowledged but lost, or applied but not acknowledged");
                }
                // (The reopen may compact again: the compaction this step broke is still due.)
                s.settle().unwrap();
                assert_eq!(io.names(), vec![Path::new(KV).join(LOG_NAME)], "step {step}: one log");
                if !crashed {
                    assert_eq!(got, m.0);
                    break;
                }
                crash_points += 1;
            }
        }
        // set (append, compaction: remove, create, write, allocate, open, map), set, flush
        // (msync, directory sync), set, promotion (sync, rename, directory sync): twice.
        assert!(crash_points >= 2 * 12, "{crash_points}");
    }

    /// On the real file system: the process stops (the store is never dropped) while a
    /// compacted log is live under its temporary name, with writes after it. `verify` reports it,
    /// and the next open takes it, with every write, and leaves one log.
    #[test]
    fn a_stop_before_the_rename_keeps_the_new_log_and_its_writes() {
        let t = TempDir::new("pending-next");
        let (s, _) = open(t.path());
        s.manual_promotion();
        let mut m = Model::default();
        let mut i = 0;
        while s.stats().compactions == 0 {
            let val = v(&format!("{i:01000}"));
            s.set(&format!("k{}", i % 3), val.clone(), BIG).unwrap();
            m.set(&format!("k{}", i % 3), val);
            i += 1;
        }
        s.set("after", v("1"), BIG).unwrap();
        m.set("after", v("1"));
        // A kill: no close, no promotion; everything written is in the OS.
        std::mem::forget(s);
        let names = || {
            let mut n: Vec<String> =
                fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            n.sort();
            n
        };
        assert_eq!(names().len(), 2, "{:?}", names());
        assert!(verify(t.path()).unwrap().pending_next);
        let (s, r) = open(t.path());
        assert_eq!(snapshot(&s), m.0);
        assert_eq!(r.truncated_bytes, 0);
        assert_eq!(names(), vec![LOG_NAME.to_string()]);
        assert!(!verify(t.path()).unwrap().pending_next);
    }

    /// The rename of a compaction is in place but the directory sync fails: the next flush must
    /// sync the directory before it acknowledges anything.
    #[test]
    fn failed_directory_sync_after_compaction_is_retried_by_the_flush() {
        let io = MemIo::new();
        let (s, _) = mem_open(&io, Durability::Power);
        s.set("a", v("1"), BIG).unwrap();
        // Only a compaction syncs the directory from here on.
        io.faults().fail_sync_dir = 1;
        let mut val = v("");
        for i in 0..1000 {
            val = v(&format!("{i:02000}"));
            s.set("hot", val.clone(), BIG).unwrap();
            if s.stats().compactions == 1 {
                break;
            }
        }
        assert_eq!(s.stats().compactions, 1);
        assert_eq!(io.faults().fail_sync_dir, 0, "the compaction's dir sync failed");
        drop(s);
        io.power_cut();
        let (s, r) = mem_open(&io, Durability::Power);
        assert_eq!(r.records, 2, "the compacted log is the live one");
        assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("hot", val)]);
    }

    #[test]
    fn concurrent_sets_and_removes_match_after_reopen() {
        let t = TempDir::new("mixed");
        let (s, _) = open(t.path());
        std::thread::scope(|sc| {
            for th in 0..8u64 {
                let s = &s;
                sc.spawn(move || {
                    let mut x = th.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    for i in 0..500 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let key = format!("key-{}", x % 24);
                        if x % 3 == 0 {
                            s.remove(&key).unwrap();
                        } else {
                            let val = Value {
                                data: format!("{th}-{i}-{:0100}", x % 1000),
                                data_type: (x % 2 == 0).then(|| "T".into()),
                            };
                            s.set(&key, val, BIG).unwrap();
                        }
                    }
                });
            }
        });
        let st = s.stats();
        assert!(st.compactions >= 1, "the run should cross a compaction: {st:?}");
        let before = snapshot(&s);
        let size: u64 = before.iter().map(|(k, val)| item_size(k, val)).sum();
        assert_eq!((s.size(), s.len()), (size, before.len()));
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!(r.truncated_bytes, 0);
        assert_eq!(snapshot(&s), before);
        assert_eq!(s.size(), size);
    }

    /// A version-1 log as release 0.1.0 wrote it, ending in a torn record, and the items it holds.
    fn v1_log() -> (Vec<u8>, Vec<(String, Value)>) {
        use super::v1::{write, Record};
        let mut b = write::header();
        let recs = [
            Record::Set { key: "a".into(), value: v("1") },
            Record::Set { key: "b".into(), value: vt("\"2026-01-02T03:04:05.000Z\"", "Date") },
            Record::Batch(vec![kv("c", v("[3]")), kv("a", vt("", ""))]),
            Record::Remove { key: "c".into() },
            Record::Clear,
            Record::Set { key: "日本".into(), value: v("{\"x\":\"ü\"}") },
            Record::Batch(vec![kv("b", vt("2", "Number")), kv("e", v("null"))]),
            Record::Set { key: "日本".into(), value: v("true") },
        ];
        for r in &recs {
            write::record(&mut b, r);
        }
        // A kill in the middle of the next set.
        let mut torn = Vec::new();
        write::record(&mut torn, &Record::Set { key: "lost".into(), value: v("1") });
        b.extend_from_slice(&torn[..torn.len() - 3]);
        (b, vec![kv("日本", v("true")), kv("b", vt("2", "Number")), kv("e", v("null"))])
    }

    #[test]
    fn a_v1_log_is_upgraded_with_every_record() {
        let t = TempDir::new("upgrade");
        fs::create_dir_all(t.path()).unwrap();
        let (old, items) = v1_log();
        fs::write(t.path().join(LOG_NAME), &old).unwrap();
        let (s, r) = open(t.path());
        assert_eq!((r.upgraded_from, r.records, r.truncated_bytes), (Some(1), 8, 20));
        assert_eq!(snapshot(&s), items);
        assert_eq!(s.size(), (6 + 4) + (1 + 1 + 6) + (1 + 4));
        drop(s);
        assert_eq!(log_bytes(t.path()), compacted(&items), "rewritten in the current format");
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1, "no stray files");
        let (s, r) = open(t.path());
        assert_eq!((r.upgraded_from, r.records, r.truncated_bytes), (None, 3, 0));
        assert_eq!(snapshot(&s), items);
    }

    /// A kill, or a power cut, at every I/O call of the upgrade: the next open finds the old
    /// log or the new one, each with every record, and finishes the job.
    #[test]
    fn a_kill_or_power_cut_at_every_step_of_the_upgrade_leaves_the_old_log_or_the_new() {
        let (old, items) = v1_log();
        let path = Path::new(KV).join(LOG_NAME);
        for step in 1u64.. {
            for power_cut in [false, true] {
                let io = MemIo::new();
                io.put(&path, &old);
                io.faults().crash_at = Some(io.ops() + step);
                let first = Store::open_with_io(Path::new(KV), Durability::Process, io.arc());
                let crashed = io.ops() >= io.faults().crash_at.unwrap();
                drop(first);
                if power_cut {
                    io.power_cut();
                } else {
                    io.faults().crash_at = None;
                }
                // Either file is whole: the old one byte for byte, or a new one.
                let on_disk = io.bytes(&path).unwrap();
                assert!(on_disk == old || on_disk.starts_with(&compacted(&items)), "step {step}, cut {power_cut}");
                let (s, r) = mem_open(&io, Durability::Process);
                assert_eq!(snapshot(&s), items, "step {step}, cut {power_cut}");
                assert_eq!(r.upgraded_from.is_some(), on_disk == old, "step {step}, cut {power_cut}");
                assert_eq!(io.names(), vec![path.clone()], "step {step}, cut {power_cut}");
                if !crashed {
                    assert!(step >= 7, "remove, create, write, allocate, sync, rename, sync dir: {step}");
                    return;
                }
            }
        }
    }

    /// The promotion of a deferred compaction against the writer, with every
    /// interleaving chosen by the test. The promotion is run by the test, one I/O step at a time,
    /// not by a thread; its syncs are split into the call (what it captures) and the return (when
    /// that becomes durable), since a real fsync takes time while the writer goes on. The writer's
    /// calls are points too (a hook before each of them, and one inside each of its syncs). At
    /// every point of every schedule, the state a kill and the state a power cut would leave are
    /// opened and checked.
    mod promotion_schedules {
        use super::*;
        use crate::storage::log::tests::{Hook, Point};
        use crate::storage::log::Promoter;
        use parking_lot::Mutex as PMutex;

        type State = Vec<(String, Value)>;

        /// A promotion's steps as the test runs them: the file's sync called, that sync returned,
        /// the rename, the directory's sync called, that sync returned.
        const PHASES: usize = 5;
        const PHASE_NAMES: [&str; PHASES] = ["sync called", "sync returned", "rename", "dir sync called", "dir sync returned"];

        fn run_phase(io: &MemIo, p: &PMutex<Promoter>, phase: usize) {
            match phase {
                0 | 3 => {
                    io.defer_next_sync();
                    p.lock().step().unwrap();
                }
                1 | 4 => io.complete_deferred(),
                _ => drop(p.lock().step().unwrap()),
            }
        }

        enum W {
            Set(&'static str, Value),
            Sync,
        }

        /// What the writer does while the compacted log is live under its temporary name: sets
        /// through the mapping and through the file (9 KB), and two flushes (the first also syncs
        /// the directory, since the compaction's rename is not known durable).
        fn writer() -> Vec<W> {
            vec![
                W::Set("b", v("3")),
                W::Sync,
                W::Set("c", v(&"7".repeat(9000))),
                W::Set("d", v("5")),
                W::Sync,
                W::Set("e", v("6")),
            ]
        }

        fn hot(i: usize) -> Value {
            v(&format!("{i:05}{}", "0".repeat(1995)))
        }

        /// Sets `a`, `z`, syncs, then sets `hot` until one set compacts (manual promotion).
        /// Returns the store, every state since the sync (index 0 is the synced one), and the
        /// promotion.
        fn to_compaction(io: &MemIo) -> (Store, Vec<State>, Arc<PMutex<Promoter>>) {
            let (s, _) = mem_open(io, Durability::Process);
            s.manual_promotion();
            let mut m = Model::default();
            for (k, val) in [("a", vt("1", "Number")), ("z", v("2"))] {
                s.set(k, val.clone(), BIG).unwrap();
                m.set(k, val);
            }
            s.sync().unwrap();
            let mut states = vec![m.0.clone()];
            for i in 0.. {
                s.set("hot", hot(i), BIG).unwrap();
                m.set("hot", hot(i));
                states.push(m.0.clone());
                if s.stats().compactions == 1 {
                    break;
                }
            }
            let p = s.inner.read().log.promoter().expect("a deferred compaction");
            (s, states, p)
        }

        #[derive(Default)]
        struct Track {
            /// Every state since the last sync before the compaction; the last is acknowledged.
            states: Vec<State>,
            /// Index in `states` of the state the last `sync` that returned made durable.
            synced: usize,
            /// The state the writer's step in flight leads to.
            inflight: Option<State>,
            /// Points passed.
            point: usize,
            failures: Vec<String>,
        }

        /// Opens what a kill and what a power cut would leave now; returns what is wrong.
        fn check(io: &MemIo, t: &Track) -> Option<String> {
            for power_cut in [false, true] {
                let image = io.image(power_cut);
                let what = if power_cut { "power cut" } else { "kill" };
                let s = match Store::open_with_io(Path::new(KV), Durability::Process, image.arc()) {
                    Ok((s, _)) => s,
                    Err(e) => return Some(format!("{what}: open failed: {e}")),
                };
                let got = snapshot(&s);
                let acked = t.states.last().unwrap();
                let ok = if power_cut { t.states[t.synced..].contains(&got) } else { &got == acked };
                if !ok && t.inflight.as_ref() != Some(&got) {
                    let at = t.states.iter().position(|st| *st == got);
                    return Some(format!(
                        "{what}: the store shows state {at:?} of {} (last sync: {}), keys {:?}",
                        t.states.len() - 1,
                        t.synced,
                        s.keys()
                    ));
                }
                if let Err(e) = s.settle() {
                    return Some(format!("{what}: settle after the open failed: {e}"));
                }
                drop(s);
                if image.names() != vec![Path::new(KV).join(LOG_NAME)] {
                    return Some(format!("{what}: files after the open: {:?}", image.names()));
                }
            }
            None
        }

        /// Runs one schedule: phase `i` of the promotion runs at writer point `at[i]` (points past
        /// the writer's last run after it, before the close). Returns the points passed and the
        /// failures.
        fn run(at: [usize; PHASES]) -> (usize, Vec<String>) {
            let io = MemIo::new();
            let (s, states, p) = to_compaction(&io);
            let track = Arc::new(PMutex::new(Track { states, ..Track::default() }));
            let done = Arc::new(PMutex::new(0usize));
            let step_phases = {
                let (io, p, done) = (io.clone(), p.clone(), done.clone());
                move |point: usize| {
                    let mut done = done.lock();
                    while *done < PHASES && at[*done] <= point {
                        run_phase(&io, &p, *done);
                        *done += 1;
                    }
                }
            };
            let hook: Hook = {
                let (io, track, step_phases) = (io.clone(), track.clone(), step_phases.clone());
                let first = at[0];
                Arc::new(move |point: Point| {
                    let k = track.lock().point;
                    step_phases(k);
                    let mut t = track.lock();
                    t.point += 1;
                    // Before the first phase every schedule is the writer alone: checked once.
                    if first != usize::MAX && k < first {
                        return;
                    }
                    if let Some(f) = check(&io, &t) {
                        t.failures.push(format!("point {k} ({point:?}): {f}"));
                    }
                })
            };
            io.set_hook(Some(hook));
            let mut m = Model(track.lock().states.last().unwrap().clone());
            for w in writer() {
                match w {
                    W::Set(k, val) => {
                        m.set(k, val.clone());
                        track.lock().inflight = Some(m.0.clone());
                        s.set(k, val, BIG).unwrap();
                        let mut t = track.lock();
                        t.inflight = None;
                        t.states.push(m.0.clone());
                    }
                    W::Sync => {
                        s.sync().unwrap();
                        let mut t = track.lock();
                        t.synced = t.states.len() - 1;
                    }
                }
            }
            io.set_hook(None);
            let points = track.lock().point;
            step_phases(usize::MAX);
            let mut failures = std::mem::take(&mut track.lock().failures);
            if let Some(f) = check(&io, &track.lock()) {
                failures.push(format!("after the writer: {f}"));
            }
            // The close finds the promotion complete.
            drop(s);
            assert_eq!(io.names(), vec![Path::new(KV).join(LOG_NAME)]);
            let (s, _) = mem_open(&io, Durability::Process);
            assert_eq!(&snapshot(&s), track.lock().states.last().unwrap());
            (points, failures)
        }

        /// Every schedule in which the promotion pauses at most once: phases `..i` at writer point
        /// `a`, phases `i..` at point `b >= a`, for every `i`, `a` and `b`. That runs each phase
        /// at each point, and puts each stretch of the writer's calls between any two phases.
        #[test]
        fn every_schedule_of_the_promotion_against_the_writer_keeps_every_synced_record() {
            // The points the writer passes, whatever the promotion does meanwhile.
            let (points, failures) = run([usize::MAX; PHASES]);
            assert!(failures.is_empty(), "{failures:?}");
            // set, sync (msync and its inside, directory sync and its inside), set, set, sync, set
            assert_eq!(points, 2 + 4 + 2 + 2 + 2 + 2);
            let mut schedules = std::collections::BTreeSet::new();
            for i in 0..=PHASES {
                for a in 0..=points {
                    for b in a..=points {
                        let mut at = [b; PHASES];
                        at[..i].fill(a);
                        schedules.insert(at);
                    }
                }
            }
            let mut bad = Vec::new();
            for at in &schedules {
                let (n, failures) = run(*at);
                assert_eq!(n, points);
                if let Some(f) = failures.first() {
                    let phases: Vec<String> = PHASE_NAMES.iter().zip(at).map(|(p, k)| format!("{p} at {k}")).collect();
                    bad.push(format!("[{}] {f}", phases.join(", ")));
                }
            }
            assert!(
                bad.is_empty(),
                "{} of {} schedules fail; first: {:#?}",
                bad.len(),
                schedules.len(),
                &bad[..bad.len().min(5)]
            );
            assert!(schedules.len() > 400, "{}", schedules.len());
        }
    }

    /// Power cuts at every mutating call of a scripted workload.
    mod power_cuts {
        use super::*;

        /// One scripted step and its effect on a model of (key -> data) in insertion order.
        enum Step {
            Set(&'static str, String),
            Remove(&'static str),
            Batch(Vec<(&'static str, String)>),
            Clear,
            Sync,
        }

        fn script() -> Vec<Step> {
            let mut v = Vec::new();
            for i in 0..40 {
                let k = ["a", "b", "c", "d", "e"][i % 5];
                match i % 9 {
                    3 => v.push(Step::Remove(k)),
                    5 => v.push(Step::Batch(vec![("x", format!("\"b{i}\"")), (k, format!("\"{}\"", "z".repeat(i * 500)))])),
                    7 => v.push(Step::Sync),
                    _ => v.push(Step::Set(k, format!("\"{}\"", "y".repeat(i * 3000)))),
                }
                if i == 30 {
                    v.push(Step::Clear);
                }
            }
            v
        }

        type Model = Vec<(String, String)>;

        fn apply(m: &mut Model, step: &Step) {
            let mut put = |k: &str, d: &str| match m.iter_mut().find(|(mk, _)| mk == k) {
                Some(e) => e.1 = d.to_string(),
                None => m.push((k.to_string(), d.to_string())),
            };
            match step {
                Step::Set(k, d) => put(k, d),
                Step::Batch(items) => items.iter().for_each(|(k, d)| put(k, d)),
                Step::Remove(k) => m.retain(|(mk, _)| mk != k),
                Step::Clear => m.clear(),
                Step::Sync => {}
            }
        }

        fn observed(s: &Store) -> Model {
            s.keys()
                .into_iter()
                .map(|k| {
                    let d = s.get(&k).unwrap().data;
                    (k, d)
                })
                .collect()
        }

        /// Run the script until the simulated process dies at mutating call `crash`; returns the
        /// models after each acknowledged step (index 0: empty), and the model when the last
        /// successful `sync` returned.
        ///
        /// A deferred compaction's promotion runs in place, when the next compaction or the
        /// close settles it, never on a thread: the calls counted, and so each cut point, are
        /// the same in every run. The promotion's steps against each of the writer's are
        /// `promotion_schedules`.
        fn run_until_crash(io: &MemIo, d: Durability, crash: u64) -> (Vec<Model>, usize) {
            let (s, _) = mem_open(io, d);
            s.manual_promotion();
            io.faults().crash_at = Some(io.ops().saturating_add(crash));
            let mut models = vec![Model::new()];
            let mut synced = 0;
            for step in script() {
                let ok = match &step {
                    Step::Set(k, d) => s.set(k, Value { data: d.clone(), data_type: None }, BIG).is_ok(),
                    Step::Remove(k) => s.remove(k).is_ok(),
                    Step::Batch(items) => s
                        .set_batch(
                            items.iter().map(|(k, d)| (k.to_string(), Value { data: d.clone(), data_type: None })).collect(),
                            BIG,
                        )
                        .is_ok(),
                    Step::Clear => s.clear().is_ok(),
                    Step::Sync => s.sync().is_ok(),
                };
                if !ok {
                    break;
                }
                let mut m = models.last().unwrap().clone();
                apply(&mut m, &step);
                if matches!(step, Step::Sync) {
                    synced = models.len();
                }
                models.push(m);
            }
            (models, synced)
        }

        #[test]
        fn power_cut_at_every_point_of_a_scripted_workload_loses_nothing_acknowledged_in_power_mode() {
            let probe = MemIo::new();
            let (_, _) = run_until_crash(&probe, Durability::Power, u64::MAX);
            let total = probe.ops();
            assert!(total > 60, "the script makes {total} mutating calls");
            for crash in 1..=total {
                let io = MemIo::new();
                let (models, _) = run_until_crash(&io, Durability::Power, crash);
                io.power_cut();
                let (s, _) = mem_open(&io, Durability::Power);
                let seen = observed(&s);
                let acked = models.last().unwrap();
                // Everything acknowledged survived; at most the step in flight also made it.
                let next = script().get(models.len() - 1).map(|st| {
                    let mut m = acked.clone();
                    apply(&mut m, st);
                    m
                });
                assert!(
                    &seen == acked || Some(&seen) == next.as_ref(),
                    "cut at call {crash}: {} acknowledged steps, store shows {seen:?}",
                    models.len() - 1
                );
            }
        }

        #[test]
        fn power_cut_at_every_point_in_process_mode_keeps_a_prefix_and_every_synced_record() {
            let probe = MemIo::new();
            run_until_crash(&probe, Durability::Process, u64::MAX);
            let total = probe.ops();
            for crash in 1..=total {
                let io = MemIo::new();
                let (models, synced) = run_until_crash(&io, Durability::Process, crash);
                io.power_cut();
                let (s, _) = mem_open(&io, Durability::Process);
                let seen = observed(&s);
                // The store opens and shows the state after some prefix of the steps (never a torn or
                // reordered one), at least everything up to the last sync that returned.
                let mut all = models.clone();
                if let Some(st) = script().get(models.len() - 1) {
                    let mut m = models.last().unwrap().clone();
                    apply(&mut m, st);
                    all.push(m);
                }
                let at = all.iter().rposition(|m| m == &seen);
                assert!(
                    at.is_some_and(|i| i >= synced),
                    "cut at call {crash}: store shows no prefix at or after the last sync ({synced}): {seen:?}"
                );
            }
        }
    }
}
