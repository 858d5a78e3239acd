//! The panic guard every export runs inside, and the per-thread last-error message.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::bridge::Status;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

// The message is this thread's until its thread-locals are destroyed: on the main thread, `exit`
// destroys them before it runs the host's atexit handlers and C++ static destructors, which may
// still call the library (closing a handle, typically). There the message is dropped and reads
// as empty, rather than the access panicking inside a function that cannot unwind.

pub fn set_last_error(msg: impl Into<String>) {
    let msg = msg.into();
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = msg);
}

pub fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|e| e.borrow_mut().clear());
}

pub fn last_error() -> String {
    LAST_ERROR.try_with(|e| e.borrow().clone()).unwrap_or_default()
}

pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// A panic caught at the boundary: its message goes to the last error and, at ERROR, to the log
/// callback (the one report a host gets from an export that returns nothing).
fn caught(p: &(dyn std::any::Any + Send)) {
    let why = format!("internal error (panic): {}", panic_text(p));
    crate::events::emit(crate::events::Level::Error, "", &why);
    set_last_error(why);
}

/// Run an export's body; a panic becomes `Status::Panic` plus a last-error message and an event.
pub fn guard(f: impl FnOnce() -> i32) -> i32 {
    super::fork::register();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(p) => {
            caught(&*p);
            Status::Panic as i32
        }
    }
}

/// The same for exports that return nothing: a panic is reported the same way.
pub fn guard_void(f: impl FnOnce()) {
    super::fork::register();
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        caught(&*p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_panic_in_an_export_that_returns_nothing_reaches_the_log() {
        let _turn = crate::events::SINK_TURN.lock();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        crate::events::set_sink(Some(Box::new(move |e: &crate::events::Event<'_>| {
            if e.message.contains("guard-void-probe") {
                s.lock().unwrap().push((e.level, e.message.to_string()));
            }
        })))
        .unwrap();
        guard_void(|| panic!("guard-void-probe"));
        assert_eq!(guard(|| panic!("guard-void-probe 2")), Status::Panic as i32);
        crate::events::set_sink(None).unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            [
                (crate::events::Level::Error, "internal error (panic): guard-void-probe".to_string()),
                (crate::events::Level::Error, "internal error (panic): guard-void-probe 2".to_string()),
            ]
        );
        assert_eq!(last_error(), "internal error (panic): guard-void-probe 2");
    }
}
