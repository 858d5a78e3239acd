//! The host's log callback: how a C host hears of recovery at open and of bytes the library
//! dropped or moved (`crate::events`). One callback per process, as sqlite's `SQLITE_CONFIG_LOG`
//! and MMKV's log handler.

use std::ffi::{c_char, c_void};

use super::guard::{clear_last_error, guard, set_last_error};
use super::{WXFS_E_CONFIG, WXFS_E_REENTRANT, WXFS_OK};
use crate::events::{self, Event, Level};

/// Data the mini-program had acknowledged is gone or set aside (a damaged storage log was moved
/// aside and storage started empty).
pub const WXFS_LOG_ERROR: i32 = 1;
/// A recovery: a torn tail cut, a journal rebuilt, an interrupted write settled or rolled back,
/// leftover staging files removed.
pub const WXFS_LOG_WARN: i32 = 2;
/// Bytes removed by policy: temp files trimmed at close or by `wxfs_gc`.
pub const WXFS_LOG_INFO: i32 = 3;
/// Routine facts: a sandbox created, a storage log compacted at open.
pub const WXFS_LOG_DEBUG: i32 = 4;

/// Receives one log event. `level` is a `WXFS_LOG_*`. `sandbox` (`sandbox_len` bytes, UTF-8,
/// NUL-terminated) names the sandbox the event concerns as its directory relative to the root,
/// `<user-dir>/<app-dir>` (empty when the event concerns no one sandbox); `message` (likewise)
/// says what happened with counts, and names files by their path relative to the root. Both are
/// valid only during the call: copy what you keep.
pub type wxfs_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: i32,
        sandbox: *const c_char,
        sandbox_len: usize,
        message: *const c_char,
        message_len: usize,
    ),
>;

/// The host's callback and the pointer it asked to get back.
struct Host {
    cb: unsafe extern "C" fn(*mut c_void, i32, *const c_char, usize, *const c_char, usize),
    userdata: *mut c_void,
    max_level: i32,
}

// SAFETY: `userdata` is only handed back to the host's callback, never dereferenced here; by
// installing the callback the host declared it safe to call from any thread (see `wxfs_log_set`).
unsafe impl Send for Host {}
// SAFETY: as above; the struct is never mutated after it is installed.
unsafe impl Sync for Host {}

impl Host {
    fn deliver(&self, e: &Event) {
        let level = e.level as i32;
        if level > self.max_level {
            return;
        }
        let (sandbox, message) = (nul_terminated(e.sandbox), nul_terminated(e.message));
        // SAFETY: the host's callback with its own pointer and two buffers valid for the call.
        unsafe {
            (self.cb)(
                self.userdata,
                level,
                sandbox.as_ptr() as *const c_char,
                sandbox.len() - 1,
                message.as_ptr() as *const c_char,
                message.len() - 1,
            )
        };
    }
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// Install `cb` as the process's log callback, replacing any earlier one; `cb` NULL removes it.
/// Events of a level above `max_level` (a `WXFS_LOG_*`; ignored when `cb` is NULL) are not
/// delivered. With no callback installed, events are dropped.
///
/// Which events: every recovery a sandbox goes through when `wxfs_open` opens it (the quota
/// journal rebuilt, its torn tail cut, interrupted writes settled, torn appends rolled back, the
/// storage log's torn tail cut or a damaged log moved aside, leftover staging files removed), and
/// every byte removed by policy (temp files trimmed at close or by `wxfs_gc`). Each names its
/// sandbox and gives counts and paths relative to the root.
///
/// Threads: `cb` is called on the thread that opens, closes or collects the sandbox (a worker
/// thread when the last async call finishes a close), possibly from several threads at once; it
/// must be thread-safe. It may call any wxfs function except `wxfs_log_set`, which returns
/// `WXFS_E_REENTRANT` there. It must return normally (no `longjmp`, no C++ exception).
///
/// Lifetime: `userdata` is passed back untouched. When `wxfs_log_set` returns, the previous
/// callback is running on no thread and will never be called again, so its `userdata` may be
/// freed. Returns 0, `WXFS_E_CONFIG` when `max_level` is not a `WXFS_LOG_*` (nothing changed),
/// or `WXFS_E_REENTRANT`. Thread-safe.
///
/// # Safety
/// `cb`, if not NULL, is a function with this signature that stays callable until it is replaced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_log_set(cb: wxfs_log_callback, userdata: *mut c_void, max_level: i32) -> i32 {
    guard(|| {
        clear_last_error();
        let sink: Option<events::Sink> = match cb {
            None => None,
            Some(cb) => {
                if !(WXFS_LOG_ERROR..=WXFS_LOG_DEBUG).contains(&max_level) {
                    set_last_error(format!("max_level {max_level} is not a WXFS_LOG_* level (1 to 4)"));
                    return WXFS_E_CONFIG;
                }
                let host = Host { cb, userdata, max_level };
                Some(Box::new(move |e: &Event| host.deliver(e)))
            }
        };
        match events::set_sink(sink) {
            Ok(()) => WXFS_OK,
            Err(events::Reentrant) => {
                set_last_error("wxfs_log_set called from inside the log callback");
                WXFS_E_REENTRANT
            }
        }
    })
}

// The numbers hosts see are the core's levels.
const _: () = assert!(
    Level::Error as i32 == WXFS_LOG_ERROR
        && Level::Warn as i32 == WXFS_LOG_WARN
        && Level::Info as i32 == WXFS_LOG_INFO
        && Level::Debug as i32 == WXFS_LOG_DEBUG
);
