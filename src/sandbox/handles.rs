//! Handles a sandbox opens on demand (its area directories, its quota journal) and the one
//! process-wide cache that keeps the recently used ones open (docs/design.md §7, "File
//! descriptors").
//!
//! An idle open sandbox holds only what it cannot give back: its `LOCK` (the lock is the open
//! fd) and its own directory, which every area handle is opened from again. Whatever else a
//! call needs it asks of [`Owner::get`]: a handle in the cache is shared, a missing one is opened
//! and kept while the cache is within its bound. The bound is process-wide, not per sandbox,
//! and shrinks as the process nears its `RLIMIT_NOFILE`: at each miss it is recomputed from the
//! soft limit and the lowest free fd number (every fd below it is open: the number a directory
//! handle just opened was given, else a probe's), as
//! `min(limit / 8, (limit - lowest free) / 4)`, least recently used handles closing first. A
//! handle a call holds stays open until that call lets it go, so the fds in use beyond the
//! bound are at most the handles of the calls running at that instant. An open that fails for
//! want of fds (`EMFILE`, `ENFILE`) closes every cached handle and is tried once more.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;

/// What a slot of an owner holds (one handle each).
pub type Slot = u8;

type Key = (u64, Slot);

#[derive(Default)]
struct Cache {
    held: HashMap<Key, (Arc<dyn Any + Send + Sync>, u64)>,
    /// Last use -> key: the least recently used first.
    order: BTreeMap<u64, Key>,
    clock: u64,
    /// The bound computed at the last miss.
    bound: usize,
}

static CACHE: Lazy<Mutex<Cache>> = Lazy::new(|| Mutex::new(Cache { bound: usize::MAX, ..Cache::default() }));
static OWNERS: AtomicU64 = AtomicU64::new(1);

fn cache() -> MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cache {
    fn touch(&mut self, key: Key) -> Option<Arc<dyn Any + Send + Sync>> {
        self.clock += 1;
        let clock = self.clock;
        let (h, used) = self.held.get_mut(&key)?;
        self.order.remove(used);
        *used = clock;
        self.order.insert(clock, key);
        Some(h.clone())
    }

    fn remove(&mut self, key: Key) -> Option<Arc<dyn Any + Send + Sync>> {
        let (h, used) = self.held.remove(&key)?;
        self.order.remove(&used);
        Some(h)
    }

    /// Close the least recently used handles until at most `keep` remain; returns them so the
    /// caller drops (closes) them outside the lock.
    fn evict_to(&mut self, keep: usize) -> Vec<Arc<dyn Any + Send + Sync>> {
        let mut out = Vec::new();
        while self.held.len() > keep {
            let Some((_, key)) = self.order.pop_first() else { break };
            if let Some((h, _)) = self.held.remove(&key) {
                out.push(h);
            }
        }
        out
    }
}

/// A handle the cache holds: the fd number it has, when the cache may read it.
pub trait Held: Any + Send + Sync {
    /// The fd this handle was given, if known: the kernel gives the lowest free number, so it
    /// tells, for free, how many fds were open when it was opened.
    fn fd_number(&self) -> Option<u64> {
        None
    }
}

impl Held for cap_std::fs::Dir {
    fn fd_number(&self) -> Option<u64> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self) as u64)
    }
}

/// The soft fd limit (1,024 where unlimited or unreadable), and the lowest fd number that was
/// free when the handle numbered `opened` was opened, or is free now (`None` when none is: the
/// process is at its limit).
fn pressure(opened: Option<u64>) -> (u64, Option<u64>) {
    let limit = match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        Some(n) if n > 0 => n,
        _ => 1024,
    };
    // The kernel gives the lowest free number: every fd below it is open.
    let probe = || {
        let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
        let fd = rustix::fs::open("/dev/null", flags, rustix::fs::Mode::empty()).ok()?;
        Some(std::os::fd::AsRawFd::as_raw_fd(&fd) as u64)
    };
    (limit, opened.or_else(probe))
}

/// How many handles the cache may keep at a soft limit `limit` with `lowest` the lowest free
/// fd number (`None`: none free).
pub fn bound_at(limit: u64, lowest: Option<u64>) -> usize {
    let cap = (limit / 8).clamp(4, 1024);
    let headroom = lowest.map_or(0, |l| limit.saturating_sub(l));
    cap.min(headroom / 4) as usize
}

fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Close every cached handle (those a call holds close when it lets them go). For a caller
/// whose own open met `EMFILE`.
pub fn shed() {
    let dropped = cache().evict_to(0);
    drop(dropped);
}

/// The handles held in the cache now (tests and benches).
pub fn cached() -> usize {
    cache().held.len()
}

/// The holder of a set of slots in the cache: a sandbox, a quota journal. Its handles close when
/// it is dropped.
pub struct Owner(u64);

impl Default for Owner {
    fn default() -> Self {
        Owner::new()
    }
}

impl Owner {
    /// A new owner, with no handle cached.
    pub fn new() -> Owner {
        Owner(OWNERS.fetch_add(1, Ordering::Relaxed))
    }

    /// The handle in `slot`: the cached one, else `open`'s (cached when the bound allows). An
    /// `open` that fails for want of fds empties the cache and is tried once more.
    pub fn get<T: Held>(&self, slot: Slot, open: impl Fn() -> io::Result<T>) -> io::Result<Arc<T>> {
        let key = (self.0, slot);
        if let Some(h) = cache().touch(key) {
            if let Ok(h) = h.downcast::<T>() {
                return Ok(h);
            }
        }
        let made = match open() {
            Err(e) if out_of_fds(&e) => {
                shed();
                open()?
            }
            other => other?,
        };
        let fd = made.fd_number();
        let made = Arc::new(made);
        self.put_arc(slot, made.clone(), fd);
        Ok(made)
    }

    /// Put `h` in `slot` (replacing what was there), within the bound.
    pub fn put<T: Held>(&self, slot: Slot, h: T) {
        let fd = h.fd_number();
        self.put_arc(slot, Arc::new(h), fd);
    }

    fn put_arc(&self, slot: Slot, h: Arc<dyn Any + Send + Sync>, fd: Option<u64>) {
        let key = (self.0, slot);
        let (limit, lowest) = pressure(fd);
        let bound = bound_at(limit, lowest);
        let mut c = cache();
        c.bound = bound;
        let mut dropped = c.remove(key).into_iter().collect::<Vec<_>>();
        if bound > 0 {
            dropped.extend(c.evict_to(bound - 1));
            c.clock += 1;
            let clock = c.clock;
            c.held.insert(key, (h, clock));
            c.order.insert(clock, key);
        } else {
            dropped.push(h);
        }
        drop(c);
        drop(dropped);
    }

    /// Close the handle in `slot`, if cached (the file it names was replaced).
    pub fn forget(&self, slot: Slot) {
        let h = cache().remove((self.0, slot));
        drop(h);
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let mut c = cache();
        let keys: Vec<Key> = c.held.keys().filter(|k| k.0 == self.0).copied().collect();
        let dropped: Vec<_> = keys.into_iter().filter_map(|k| c.remove(k)).collect();
        drop(c);
        drop(dropped);
    }
}

/// Held around `fork` (`crate::ffi`), taken after every other table: no thread holds the cache
/// at the instant of fork. The child keeps what it inherited (copies of the parent's fds).
pub struct ForkGuard(#[allow(dead_code)] MutexGuard<'static, Cache>);

/// Before `fork`: lock the cache. Nothing is locked while it is held, so it is taken last.
pub fn fork_prepare() -> ForkGuard {
    ForkGuard(cache())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_shrinks_as_the_process_nears_its_limit() {
        assert_eq!(bound_at(256, Some(10)), 32, "an eighth of the limit while far from it");
        assert_eq!(bound_at(256, Some(200)), 14, "a quarter of the fds still free");
        assert_eq!(bound_at(256, Some(250)), 1);
        assert_eq!(bound_at(256, Some(253)), 0, "nothing kept within 4 fds of the limit");
        assert_eq!(bound_at(256, None), 0, "nothing kept at the limit");
        assert_eq!(bound_at(1 << 20, Some(10)), 1024, "never more than 1,024");
        assert_eq!(bound_at(16, Some(3)), 3);
    }

    impl Held for u32 {}

    #[test]
    fn an_owner_shares_its_handle_and_closes_it_when_dropped() {
        let a = Owner::new();
        let opened = std::sync::atomic::AtomicUsize::new(0);
        let open = || {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok(7u32)
        };
        let one = a.get(0, open).unwrap();
        let two = a.get(0, open).unwrap();
        // Another test's owners may evict it meanwhile; then it is opened again, never shared wrongly.
        assert!(opened.load(Ordering::SeqCst) >= 1);
        assert_eq!((*one, *two), (7, 7));
        let key = (a.0, 0);
        drop(a);
        assert!(!cache().held.contains_key(&key), "a dropped owner's handles stay cached");
    }
}
