//! The buffers the library has handed out that `wxfs_bytes_free` cannot free by their address
//! alone: files handed out mapped (`wxfs_read_file`), and `_v2` result buffers, which are
//! exact-length allocations (a file read is not copied to make room for a terminator). Each is
//! kept here, by data address, until the host frees it.
//!
//! Both tables are `std` mutexes: they are held around `fork` (`fork.rs`), and the child keeps
//! them (a buffer the parent was given may be freed there).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};

use memmap2::Mmap;
use once_cell::sync::Lazy;

use crate::session::Session;

/// A mapping handed out by `wxfs_read_file`, and the file system that keeps its file out of
/// reach of in-place changes until it is freed.
struct Mapped {
    _map: Mmap,
    pin: Option<(Weak<Session>, crate::fs::FileId)>,
    /// The process that mapped it: only there does freeing it unpin the file (in a forked
    /// child the session is the parent's, never touched).
    owner: u32,
}

/// One table of buffers handed out, by data address, and how many it holds: frees of other
/// buffers skip the lock while that is 0.
struct Table<T> {
    entries: Lazy<Mutex<HashMap<usize, T>>>,
    live: AtomicUsize,
}

impl<T> Table<T> {
    const fn new() -> Table<T> {
        Table { entries: Lazy::new(|| Mutex::new(HashMap::new())), live: AtomicUsize::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<usize, T>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, data: usize, value: T) {
        self.live.fetch_add(1, SeqCst);
        self.lock().insert(data, value);
    }

    fn remove(&self, data: *mut u8) -> Option<T> {
        if self.live.load(SeqCst) == 0 {
            return None;
        }
        let gone = self.lock().remove(&(data as usize));
        if gone.is_some() {
            self.live.fetch_sub(1, SeqCst);
        }
        gone
    }
}

static MAPPED: Table<Mapped> = Table::new();
static RESULTS: Table<Vec<u8>> = Table::new();

/// Hand out `map`, the mapping of a file that `pin` (when given) keeps from changing in place
/// until the host frees it: its first byte (its length is the mapping's).
pub(super) fn mapping(map: Mmap, pin: Option<(Weak<Session>, crate::fs::FileId)>) -> *mut u8 {
    let data = map.as_ptr() as *mut u8;
    MAPPED.insert(data as usize, Mapped { _map: map, pin, owner: std::process::id() });
    data
}

/// Hand out a `_v2` result buffer as it is: its first byte (NULL for an empty one).
pub(super) fn result_buffer(v: Vec<u8>) -> *mut u8 {
    if v.is_empty() {
        return std::ptr::null_mut();
    }
    let data = v.as_ptr() as *mut u8;
    RESULTS.insert(data as usize, v);
    data
}

/// Take back and release a buffer if `data` is one of these; false when it is not (then it is
/// a buffer of `bytes_out`).
pub(super) fn release(data: *mut u8) -> bool {
    if let Some(gone) = MAPPED.remove(data) {
        if let Some((session, id)) = gone.pin {
            if gone.owner == std::process::id() {
                if let Some(s) = session.upgrade() {
                    s.fs.unpin(id);
                }
            }
        }
        return true;
    }
    RESULTS.remove(data).is_some()
}

/// Both tables, held by the thread that forks until its parent's or child's handler runs.
pub(super) struct ForkGuard {
    _mapped: MutexGuard<'static, HashMap<usize, Mapped>>,
    _results: MutexGuard<'static, HashMap<usize, Vec<u8>>>,
}

/// Before `fork`: hold the tables, mappings first.
pub(super) fn fork_prepare() -> ForkGuard {
    ForkGuard { _mapped: MAPPED.lock(), _results: RESULTS.lock() }
}
