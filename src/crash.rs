//! Crash points: the instants between two steps of a multi-step mutation (or of the repairs
//! open makes) that a kill can separate. In the library's own unit tests, `arm(n)` makes the
//! `n`-th point reached on this thread "kill" the operation: it unwinds at once, skipping every
//! clean-up the code would have done, and the journal drops its unwritten record as a killed
//! process would. A test stops an operation at each point in turn and checks what the next open
//! makes of the files left behind (`src/fs/crash_tests.rs`). Outside tests a point is nothing.

#[cfg(test)]
pub(crate) use armed::{arm, disarm, killed, point, Killed};

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn point() {}

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn killed() -> bool {
    false
}

#[cfg(test)]
mod armed {
    use std::cell::Cell;

    thread_local! {
        /// Points left to pass before the kill; `None`: not armed.
        static LEFT: Cell<Option<u32>> = const { Cell::new(None) };
        /// The kill happened and its unwinding is not over.
        static KILLED: Cell<bool> = const { Cell::new(false) };
    }

    /// What a kill unwinds with.
    pub struct Killed;

    pub fn point() {
        LEFT.with(|left| match left.get() {
            Some(0) => {
                left.set(None);
                KILLED.with(|k| k.set(true));
                // resume_unwind: no panic hook, no message; nothing is written on the way out.
                std::panic::resume_unwind(Box::new(Killed));
            }
            Some(n) => left.set(Some(n - 1)),
            None => {}
        })
    }

    /// Kill at the `n`-th point from now (0: the next one).
    pub fn arm(n: u32) {
        LEFT.with(|l| l.set(Some(n)));
        KILLED.with(|k| k.set(false));
    }

    /// Disarm; true if the kill happened since `arm`.
    pub fn disarm() -> bool {
        LEFT.with(|l| l.set(None));
        KILLED.with(|k| k.replace(false))
    }

    /// Whether a kill is unwinding (or was, and `disarm` has not been called): what a killed
    /// process would not write is not written.
    pub fn killed() -> bool {
        KILLED.with(|k| k.get())
    }
}
