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
//! commit). A flusher never holds `flushed` while it takes `inner`, and a writer waiting for a
//! flush holds neither: it is parked, and learns that its flush landed from an atomic.
//!
//! Files: the log file and its compaction in `log.rs`; the log's files on disk (writing a new
//! one, what open finds, setting aside) in `files.rs`; the promotion of a deferred compaction
//! and the spare log in `promote.rs`; the group commit of `power` durability in `commit.rs`;
//! records in `record.rs`, their recovery in `recovery.rs`; the index in `index.rs`; sealed
//! values in `sealed.rs`; the tests in the `*_tests.rs` beside them.

pub mod buffer_urls;
mod commit;
mod error;
mod files;
mod index;
mod log;
mod promote;
mod record;
mod recovery;
pub mod sealed;
mod v1;
mod verify;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock, RwLockWriteGuard};

use self::commit::{Flushed, FLIGHTS};
pub use self::error::StoreError;
use self::index::Index;
use self::log::Log;
pub use self::log::{LogFile, LogIo, StdIo};
pub use self::recovery::Damage;
pub use self::verify::{verify, Verify};
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

/// What `Store::open` found and did.
#[derive(Debug, Default, Clone)]
pub struct LogReport {
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
    /// This store among every store the process opened (`Stamp::store`).
    id: u64,
    durability: Durability,
    inner: RwLock<Inner>,
    flushed: Mutex<Flushed>,
    /// Per slot of `Flushed::flights`: the ticket of the last flight that landed there, shifted
    /// left by one, with the low bit set if it failed.
    landed: Box<[AtomicU64]>,
    /// `Flushed::upto`, readable without the lock.
    durable: AtomicU64,
    /// The writer that opened the pending flight waits here for a flight to finish.
    slot_cv: Condvar,
    /// Writers between wanting the lock and releasing it, counted in `power` durability only: a
    /// flush leader lingers for them (briefly) so that one flush covers their records too.
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

/// Stores opened by this process: the next one's `id` (from 1, so an all-zero `Stamp` is none).
static STORES: AtomicU64 = AtomicU64::new(1);

/// Which stored value a get read, exactly: no two values any store of the process holds, now or
/// ever, share a stamp. A value is where its record lies in one log file: a log file is only
/// appended to while it is live (`generation`, the compactions since its store opened, names
/// the file) and a store's logs are never reused by another (`store`). So a caller that keeps a
/// value beside its stamp knows, from the stamp alone, whether that is still the key's value
/// (`Store::with_bytes_stamped`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The store, among those the process opened.
    pub store: u64,
    /// Its log file: compactions since it opened.
    pub generation: u64,
    /// The value's record: the offset of its key in that file.
    pub at: u64,
}

/// The write lock, counted in `writing` (in `power` durability, where a flush leader reads it)
/// from before it is taken until it is released.
struct WriteGuard<'a> {
    guard: RwLockWriteGuard<'a, Inner>,
    writing: Option<&'a AtomicUsize>,
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
        if let Some(writing) = self.writing {
            writing.fetch_sub(1, Ordering::Release);
        }
    }
}

impl Store {
    /// Opens the store in `dir` (created if missing) on the real file system.
    pub fn open(dir: &Path, durability: Durability) -> io::Result<(Store, LogReport)> {
        Store::open_with_io(dir, durability, Arc::new(StdIo))
    }

    /// [`Store::open`] with a replaceable I/O layer under the log (tests inject faults there).
    pub fn open_with_io(dir: &Path, durability: Durability, io: Arc<dyn LogIo>) -> io::Result<(Store, LogReport)> {
        let mut index = Index::default();
        let opened = Log::open(io, dir, |file, payload| record::parse(file, payload, |op| apply(&mut index, file, op)))?;
        let mut report = LogReport {
            records: opened.records,
            truncated_bytes: opened.truncated_bytes,
            compacted: false,
            corrupt_moved_to: opened.corrupt_moved_to,
            upgraded_from: opened.upgraded_from,
            damaged: opened.damage,
        };
        let store = Store {
            id: STORES.fetch_add(1, Ordering::Relaxed),
            durability,
            inner: RwLock::new(Inner { log: opened.log, index, scratch: Vec::new(), compact_after: 0 }),
            // Nothing is known to be flushed: what we read may sit only in the OS cache, so the
            // first flush covers it too.
            flushed: Mutex::new(Flushed::new(FLIGHTS)),
            landed: (0..=FLIGHTS).map(|_| AtomicU64::new(0)).collect(),
            durable: AtomicU64::new(0),
            slot_cv: Condvar::new(),
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
        self.with_bytes(key.as_bytes(), f)
    }

    /// `with` for a key given as bytes. Every stored key is UTF-8 (checked when it was set, or
    /// read back at open), so a key found is UTF-8: a caller that must refuse other keys can
    /// check only those not found (the C API's gets: the check was a fifth of a small get).
    pub fn with_bytes<R>(&self, key: &[u8], f: impl FnOnce(ValueRef<'_>) -> R) -> Option<R> {
        let inner = self.inner.read();
        let log = inner.log.bytes();
        let item = inner.index.get(log, key)?.item(log);
        Some(f(ValueRef { data: &log[item.data], data_type: item.ty.map(|t| &log[t]) }))
    }

    /// `with_bytes`, with the value's `Stamp`, both read under one lock: `f` gets `None` for the
    /// value when it is still the one `known` names (nothing to read), else the value.
    pub fn with_bytes_stamped<R>(&self, key: &[u8], known: Stamp, f: impl FnOnce(Option<ValueRef<'_>>, Stamp) -> R) -> Option<R> {
        let inner = self.inner.read();
        let log = inner.log.bytes();
        let item = inner.index.get(log, key)?.item(log);
        let stamp = Stamp { store: self.id, generation: inner.log.generation(), at: item.key.start as u64 };
        if stamp == known {
            return Some(f(None, stamp));
        }
        Some(f(Some(ValueRef { data: &log[item.data], data_type: item.ty.map(|t| &log[t]) }), stamp))
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
    /// that triggered it does not wait for an `fdatasync`); close waits for it too. Then waits
    /// for the spare being made from the log that compaction replaced (`promote::Promoter`):
    /// nothing runs in the store's directory afterwards but this store's calls. For a host that
    /// copies the store's directory, or a test that reads `data.log`.
    pub fn settle(&self) -> io::Result<()> {
        self.inner.write().log.settle_all()
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

    fn lock_write(&self) -> WriteGuard<'_> {
        // Only a `power` flush leader lingers for writers: in `process` durability the count's
        // two atomic updates were a tenth of a hot-key set through the C API (perf).
        let writing = (self.durability == Durability::Power).then_some(&self.writing);
        if let Some(writing) = writing {
            writing.fetch_add(1, Ordering::Acquire);
        }
        WriteGuard { guard: self.inner.write(), writing }
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
        let order = inner.index.order();
        // Room for the live data to grow by a quarter before the file must.
        let cap = (live + live / 4) as usize + (64 << 10);
        let entries = &order.entries;
        let deferred = self.durability == Durability::Process;
        // A spare up to twice the length at which this log compacts again: a longer one is of a
        // store that has shrunk, and would keep its disk.
        let spare_up_to = 2 * (live + live / 2 + slack);
        match inner.log.rewrite(entries.len(), |log, i| entries[i].item(log), live as usize, cap, deferred, spare_up_to) {
            Ok(()) => {
                inner.index.relocate(order);
                inner.compact_after = 0;
                // The new file was synced whole before the rename. In power mode the rename is
                // made durable now (or, if that fails, by the next flush, which retries it); in
                // process mode by the next explicit flush.
                if self.durability == Durability::Power && inner.log.sync_dir().is_ok() {
                    self.durable_up_to(inner.log.pos());
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

#[cfg(test)]
mod commit_tests;
#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod power_cut_tests;
#[cfg(test)]
mod promotion_tests;
#[cfg(test)]
mod tests;
