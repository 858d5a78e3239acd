//! Named instants of the protocols that two processes can run against each other on one
//! sandbox (an open, a removal), so that a test can stop a process at each step in turn, or
//! kill it there, while another process acts: interleavings explored on purpose rather than
//! left to the scheduler (`tests/processes.rs`). Outside such a test a step is one
//! thread-local read.

use std::cell::RefCell;

/// An instant between two steps of a protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A lock file is open and not yet locked.
    LockFileOpened,
    /// A lock is taken and not yet checked against its path.
    LockTaken,
    /// A removal holds every lock it needs; nothing is changed yet.
    RemovalLocked,
    /// A removal renamed the sandbox to its tombstone; nothing is deleted yet.
    RemovalRenamed,
    /// A removal is deleting its tombstone: one more entry is gone.
    RemovalDeleting,
    /// A removal deleted its tombstone, lock files included; the directory is next.
    RemovalDeleted,
}

type Hook = Box<dyn FnMut(Step)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Run `f` with `hook` called at every step this thread reaches inside it.
pub fn observe<R>(hook: impl FnMut(Step) + 'static, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<Hook>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let old = self.0.take();
            HOOK.with(|h| *h.borrow_mut() = old);
        }
    }
    let old = HOOK.with(|h| h.borrow_mut().replace(Box::new(hook)));
    let _reset = Reset(old);
    f()
}

/// This thread reached `s`. The hook runs without the cell borrowed, so it may call the library.
pub(crate) fn step(s: Step) {
    let Some(mut hook) = HOOK.with(|h| h.borrow_mut().take()) else { return };
    hook(s);
    HOOK.with(|h| {
        let mut slot = h.borrow_mut();
        if slot.is_none() {
            *slot = Some(hook);
        }
    });
}
