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

/// Run an export's body; a panic becomes `Status::Panic` plus a last-error message.
pub fn guard(f: impl FnOnce() -> i32) -> i32 {
    super::fork::register();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(p) => {
            set_last_error(format!("internal error (panic): {}", panic_text(&*p)));
            Status::Panic as i32
        }
    }
}

/// The same for exports that return nothing.
pub fn guard_void(f: impl FnOnce()) {
    super::fork::register();
    let _ = catch_unwind(AssertUnwindSafe(f));
}
