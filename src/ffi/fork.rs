//! `fork()`: a handle belongs to the process that opened it (docs/design.md §7).
//!
//! The host may fork at any instant, from any thread, while other threads are inside the
//! library. flock locks belong to the open file description, which the child shares, and the
//! storage log is a shared mapping: a child that closed, or wrote through, a handle it inherited
//! would unlock or overwrite its parent's sandbox. So:
//!
//! - In the child every handle the parent was given is refused with `WXFS_E_FORKED`, by one
//!   atomic load (`Registry::forked`) before any lock is taken. Its session is never looked up,
//!   closed or dropped there; `Session`'s own drop does nothing outside its opener's process.
//! - Around the fork (`pthread_atfork`) the library's process-wide tables are held by the forking
//!   thread: the registries (sandboxes and completion queues), the open sessions, the lock and claim tables, the async pool and the
//!   tables of buffers handed out. None is changing at the instant of fork, so the child finds
//!   each whole; the child's handler clears what was the parent's alone (its open sessions, its
//!   locks and claims, its pool's queues and threads) and lets them go. These are `std` locks,
//!   whose unlock hands the lock to no thread (a waiter of the parent's does not exist in the
//!   child). No code path holds one of them while taking another, so taking them all in the
//!   prepare handler cannot deadlock against the threads it waits for.
//! - So the child may open sandboxes of its own (one the parent holds answers `WXFS_E_BUSY`,
//!   as to any process) and use them, sync and async: its first async call starts its own
//!   workers. The parent's async calls never run in the child and their callbacks are not
//!   called there. Buffers the parent was given may be freed in the child (its copies).

use std::cell::RefCell;
use std::sync::Once;

use super::registry::{QUEUES, SANDBOXES};

static REGISTER: Once = Once::new();

/// Install the fork handlers, once, before the first handle is given.
pub(super) fn register() {
    REGISTER.call_once(|| {
        // SAFETY: the three handlers are `extern "C"` functions with no arguments that never
        // unwind (each body is wrapped in `catch_unwind`), as pthread_atfork requires.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        assert_eq!(rc, 0, "pthread_atfork failed ({rc})");
    });
}

/// What the prepare handler holds until the parent's or the child's handler runs (on the
/// same thread, the one that forks).
struct Held {
    claims_and_locks: crate::sandbox::ForkGuard,
    open: crate::session::ForkGuard,
    registry: std::sync::RwLockWriteGuard<'static, std::collections::BTreeMap<u64, std::sync::Arc<crate::session::Session>>>,
    queues:
        std::sync::RwLockWriteGuard<'static, std::collections::BTreeMap<u64, std::sync::Arc<super::completion::CompletionQueue>>>,
    pool: std::sync::MutexGuard<'static, super::pool::State>,
    handed: super::handed::ForkGuard,
    /// Last: nothing is locked while the handle cache is.
    handles: crate::sandbox::handles::ForkGuard,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

extern "C" fn prepare() {
    let _ = std::panic::catch_unwind(|| {
        let held = Held {
            claims_and_locks: crate::sandbox::fork_prepare(),
            open: crate::session::fork_prepare(),
            registry: SANDBOXES.fork_prepare(),
            queues: QUEUES.fork_prepare(),
            pool: super::pool::POOL.fork_prepare(),
            handed: super::handed::fork_prepare(),
            handles: crate::sandbox::handles::fork_prepare(),
        };
        // Not kept when this thread's locals are gone (a fork from an atexit handler): the
        // tables are then let go at once, and the child refuses inherited handles all the same.
        let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
    });
}

extern "C" fn parent() {
    let _ = std::panic::catch_unwind(|| HELD.try_with(|h| drop(h.borrow_mut().take())));
}

extern "C" fn child() {
    // First, and whatever else fails: every handle given so far is the parent's. The child has
    // one thread, this one, so the registry's counter is read unlocked.
    SANDBOXES.forked();
    QUEUES.forked();
    let _ = std::panic::catch_unwind(|| {
        let Some(mut held) = HELD.try_with(|h| h.borrow_mut().take()).ok().flatten() else { return };
        super::pool::POOL.forked(&mut held.pool);
        held.claims_and_locks.child();
        held.open.child();
        drop((held.registry, held.queues, held.pool, held.handed, held.handles));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table changing at the instant of fork would be inherited locked (its writer does not
    /// exist in the child), and the child's first call on it would hang: the prepare handler
    /// holds each one until the parent's (or the child's) handler lets it go.
    #[test]
    fn the_prepare_handler_holds_both_registries_until_the_parent_handler() {
        prepare();
        let (sandboxes, queues) = std::thread::spawn(|| (SANDBOXES.is_held(), QUEUES.is_held())).join().unwrap();
        parent();
        assert!(sandboxes, "the sandbox registry was not held across the fork");
        assert!(queues, "the completion-queue registry was not held across the fork");
        let after = std::thread::spawn(|| (SANDBOXES.is_held(), QUEUES.is_held())).join().unwrap();
        assert_eq!(after, (false, false), "the parent handler let the registries go");
    }
}
