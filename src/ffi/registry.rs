//! The global handle registries (docs/design.md §7): the sandboxes and the completion queues
//! the C ABI has handed out.
//!
//! Guarantees:
//! - A handle packs a type tag (bits 46..52) and a serial (bits 0..45): 53 bits in all, so a
//!   handle is exact in a JavaScript number (below 2^53) and positive in a Kotlin Long. The tag
//!   is never 0, so 0 is never a valid handle.
//! - Serials are issued in increasing order and never again: a stale handle never reaches a
//!   newer object, in any number of open/close cycles (2^46 of them before the registry refuses).
//! - Handles belong to the process that was given them. In a child forked after handle `h` was
//!   given, `h` (and every handle before it, closed or not) is inherited: [`Registry::forked`]
//!   records the first serial not inherited, and a lookup refuses a lower one with one atomic
//!   load, before it takes any lock (a lock that another thread of the parent held at the
//!   instant of fork would be held forever in the child). An inherited object is never removed
//!   or dropped in the child.
//! - A lookup clones the `Arc` and releases the lock before the caller does any work; a removed
//!   object is dropped by the caller, after the lock is released.
//! - A thread's lookups of the handle it looked up last take no lock ([`Registry::get_via`]):
//!   the thread keeps that object weakly, with the registry's count of removals when it found
//!   it, and takes it again while no handle has been removed since. A removed handle is never
//!   found again (the count moved), and a kept entry holds nothing of a closed object but its
//!   allocation (a `Weak`: the object itself, its files and its lock, go when it is closed).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard, Weak};

use super::completion::CompletionQueue;
use crate::session::Session;

const SERIAL_BITS: u32 = 46;
const SERIAL_MASK: u64 = (1 << SERIAL_BITS) - 1;

/// Why a handle names no object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// 0, never given, already released, or of another kind.
    Invalid,
    /// Given to the parent of this forked process.
    Forked,
}

/// The open sessions, by handle.
pub(super) static SANDBOXES: Registry<Session> = Registry::new(1);
/// The completion queues, by handle.
pub(super) static QUEUES: Registry<CompletionQueue> = Registry::new(2);

pub struct Registry<T> {
    tag: u8,
    /// The next serial to give.
    next: AtomicU64,
    /// Serials below this were given before the last fork that made this process (0: none).
    first_own: AtomicU64,
    /// A `std` lock: it is held around `fork` (`fork.rs`), and a `std` lock let go in the child
    /// hands itself to no thread that the child does not have.
    inner: RwLock<BTreeMap<u64, Arc<T>>>,
    /// Handles removed so far: a thread's kept lookup (`Last`) is good while this is unchanged.
    removals: AtomicU64,
}

/// A thread's last lookup in one registry (`Registry::get_via`): the handle, the registry's
/// `removals` when it was made, and the object, weakly.
pub struct Last<T>(RefCell<Option<(u64, u64, Weak<T>)>>);

impl<T> Last<T> {
    pub const fn new() -> Last<T> {
        Last(RefCell::new(None))
    }
}

impl<T> Registry<T> {
    pub const fn new(tag: u8) -> Registry<T> {
        assert!(tag > 0 && tag < 0x80);
        Registry {
            tag,
            next: AtomicU64::new(1),
            first_own: AtomicU64::new(0),
            inner: RwLock::new(BTreeMap::new()),
            removals: AtomicU64::new(0),
        }
    }

    /// The serial of a handle of this registry; `Forked` for one given before this process was
    /// forked. No lock is taken.
    fn serial(&self, handle: u64) -> Result<u64, Miss> {
        if handle >> SERIAL_BITS != self.tag as u64 {
            return Err(Miss::Invalid);
        }
        let serial = handle & SERIAL_MASK;
        if serial < self.first_own.load(Ordering::Acquire) {
            return Err(Miss::Forked);
        }
        Ok(serial)
    }

    /// A handle for `value`; `None` when every serial has been given.
    pub fn insert(&self, value: Arc<T>) -> Option<u64> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let serial = self.next.load(Ordering::Relaxed);
        if serial > SERIAL_MASK {
            return None;
        }
        self.next.store(serial + 1, Ordering::Relaxed);
        inner.insert(serial, value);
        Some(((self.tag as u64) << SERIAL_BITS) | serial)
    }

    /// The object behind a handle; the lock is released before the caller does any work.
    pub fn get(&self, handle: u64) -> Result<Arc<T>, Miss> {
        let serial = self.serial(handle)?;
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.get(&serial).cloned().ok_or(Miss::Invalid)
    }

    /// As `get`, without the lock when `handle` is the one this thread looked up last (`last`,
    /// the thread's own) and no handle has been removed since: the lock's two atomic updates,
    /// the table's search and the `Arc`'s count were a tenth of a hot-key set through the C API
    /// (perf). The forked check comes first, as in `get`. Linearisable with `remove`: a lookup
    /// that saw the count before a removal's increment is a lookup made before that removal,
    /// which `get` allows too; the count moves before the table's lock is let go, so a lookup
    /// kept after it was read can only be of a handle the table still had.
    pub fn get_via(&self, handle: u64, last: &Last<T>) -> Result<Arc<T>, Miss> {
        self.serial(handle)?;
        let removals = self.removals.load(Ordering::Acquire);
        // `try_borrow`: a re-entrant lookup on this thread (none is made today) takes the lock.
        if let Ok(kept) = last.0.try_borrow() {
            if let Some((h, r, weak)) = &*kept {
                if *h == handle && *r == removals {
                    if let Some(found) = weak.upgrade() {
                        return Ok(found);
                    }
                }
            }
        }
        let found = self.get(handle)?;
        if let Ok(mut kept) = last.0.try_borrow_mut() {
            *kept = Some((handle, removals, Arc::downgrade(&found)));
        }
        Ok(found)
    }

    /// Remove a handle; the object is dropped by the caller, after the lock is released.
    pub fn remove(&self, handle: u64) -> Result<Arc<T>, Miss> {
        let serial = self.serial(handle)?;
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let removed = inner.remove(&serial).ok_or(Miss::Invalid)?;
        self.removals.fetch_add(1, Ordering::Release);
        Ok(removed)
    }

    /// Whether another thread holds the table (the fork handlers' test).
    #[cfg(test)]
    pub fn is_held(&self) -> bool {
        matches!(self.inner.try_write(), Err(std::sync::TryLockError::WouldBlock))
    }

    /// Before `fork`: hold the table, so no thread is changing it at the instant of fork.
    pub fn fork_prepare(&self) -> RwLockWriteGuard<'_, BTreeMap<u64, Arc<T>>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// In the child, with the table held: every handle given so far is inherited. Its objects
    /// stay in the table, never looked up, removed or dropped here.
    pub fn forked(&self) {
        self.first_own.store(self.next.load(Ordering::Relaxed), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_foreign_handles_miss() {
        let r: Registry<u32> = Registry::new(3);
        let h = r.insert(Arc::new(7)).unwrap();
        assert!(h != 0 && h < 1 << 53, "{h} is not exact in a JavaScript number");
        assert_eq!(*r.get(h).unwrap(), 7);
        assert_eq!(r.get(h + 1), Err(Miss::Invalid));
        assert_eq!(r.get(0), Err(Miss::Invalid));
        let other: Registry<u32> = Registry::new(4);
        assert_eq!(other.get(h), Err(Miss::Invalid));
        assert!(r.remove(h).is_ok());
        assert_eq!(r.remove(h), Err(Miss::Invalid));
        let h2 = r.insert(Arc::new(8)).unwrap();
        assert!(h2 > h, "serials only grow");
        assert_eq!(r.get(h), Err(Miss::Invalid));
        assert_eq!(*r.get(h2).unwrap(), 8);
    }

    #[test]
    fn a_kept_lookup_never_outlives_its_handle_nor_keeps_its_object() {
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let r: Registry<u32> = Registry::new(6);
        let last = Last::new();
        let a = r.insert(Arc::new(1)).unwrap();
        let b = r.insert(Arc::new(2)).unwrap();
        let first = r.get_via(a, &last).unwrap();
        assert!(Arc::ptr_eq(&first, &r.get_via(a, &last).unwrap()), "the kept object is the one in the table");
        assert_eq!(*r.get_via(b, &last).unwrap(), 2, "another handle replaces the kept one");
        assert_eq!(*r.get_via(a, &last).unwrap(), 1);
        // Another handle's removal: `a` is looked up in the table again, and found.
        assert!(r.remove(b).is_ok());
        assert_eq!(r.get_via(b, &last), Err(Miss::Invalid));
        assert_eq!(*r.get_via(a, &last).unwrap(), 1);
        // Removed while a caller still holds the object: never found again through the kept one.
        assert!(r.remove(a).is_ok());
        assert_eq!(r.get_via(a, &last), Err(Miss::Invalid), "kept, and alive in `first`, but closed");
        drop(first);

        // A kept lookup holds the object weakly: its drop (a sandbox's files and lock) comes at
        // removal, not at this thread's next lookup.
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f: Registry<Flag> = Registry::new(7);
        let kept = Last::new();
        let h = f.insert(Arc::new(Flag(dropped.clone()))).unwrap();
        drop(f.get_via(h, &kept).unwrap());
        drop(f.remove(h).unwrap());
        assert!(dropped.load(Ordering::SeqCst), "the kept lookup kept the object alive");
        assert!(f.get_via(h, &kept).is_err());

        // After a fork, the kept lookup of an inherited handle is refused like any other.
        let g: Registry<u32> = Registry::new(8);
        let mine = Last::new();
        let x = g.insert(Arc::new(9)).unwrap();
        assert_eq!(*g.get_via(x, &mine).unwrap(), 9);
        g.forked();
        assert_eq!(g.get_via(x, &mine), Err(Miss::Forked));
    }

    #[test]
    fn every_handle_is_exact_in_a_double_and_the_last_serial_is_the_last() {
        let r: Registry<u32> = Registry::new(0x7f);
        r.next.store(SERIAL_MASK, Ordering::Relaxed);
        let last = r.insert(Arc::new(1)).unwrap();
        assert!(last < 1 << 53 && (last as f64) as u64 == last, "{last} is not exact in a double");
        assert!(r.remove(last).is_ok());
        assert_eq!(r.insert(Arc::new(2)), None, "no serial is given twice");
        assert_eq!(r.get(last), Err(Miss::Invalid));
    }

    #[test]
    fn after_a_fork_every_earlier_handle_is_inherited() {
        let r: Registry<u32> = Registry::new(5);
        let a = r.insert(Arc::new(1)).unwrap();
        let b = r.insert(Arc::new(2)).unwrap();
        assert!(r.remove(b).is_ok());
        r.forked();
        assert_eq!(r.get(a), Err(Miss::Forked));
        assert_eq!(r.remove(a), Err(Miss::Forked), "an inherited object is never removed");
        assert_eq!(r.get(b), Err(Miss::Forked), "closed before the fork: still the parent's");
        let c = r.insert(Arc::new(3)).unwrap();
        assert_eq!(*r.get(c).unwrap(), 3, "the child's own handles work");
        assert_eq!(r.get(c ^ (1 << 50)), Err(Miss::Invalid), "another kind's tag is no handle here");
    }
}
