//! Completion queues: async results delivered on the host's own thread (docs/design.md §7).
//!
//! A host that runs an event loop (ALooper, CFRunLoop, libuv, epoll, a JS engine's job queue)
//! creates a queue and passes it to `wxfs_invoke_async_queued`. The call's operation runs on a
//! worker as any async call's does; its completion (the callback, its userdata and its result) is
//! then put on the queue instead of being called on the worker. The queue's fd is readable exactly
//! while completions wait; the host adds it to its loop and, on its own thread, calls
//! `wxfs_queue_drain`, which runs the waiting callbacks there.
//!
//! - Order: the pool hands a (sandbox, calling thread) pair's results over in issue order, and the
//!   queue is first in, first out, so callbacks run in issue order per thread and sandbox.
//! - Budget: a completion on a queue still counts against the async budget (calls and bytes, see
//!   `pool.rs`) until its callback has run or it was freed, so results nobody drains are bounded
//!   by `WXFS_ASYNC_QUEUE_BYTES`: past it submissions are refused with `WXFS_E_QUEUE_FULL`.
//! - Close: `wxfs_queue_close` frees the completions waiting (results released, callbacks not
//!   called), and the completions of calls still running when it returns are freed as they
//!   arrive. Each exactly once.
//! - Signal: an eventfd, or a pipe where there is none (`completion.rs`).

use std::sync::Arc;

use super::completion::CompletionQueue;
use super::guard::{clear_last_error, guard, set_last_error};
use super::registry::QUEUES;
use super::{queue_lookup, WXFS_E_IO, WXFS_E_NULL, WXFS_OK};

/// Create a completion queue and write its handle to `*out_queue`: async calls made with
/// `wxfs_invoke_async_queued` on it deliver their callbacks on whichever thread calls
/// `wxfs_queue_drain`, typically the host's event-loop or JavaScript thread. Release it with
/// `wxfs_queue_close`. Returns 0, `WXFS_E_NULL`, or `WXFS_E_IO` when no fd could be made (the
/// process is out of fds). Thread-safe.
///
/// # Safety
/// `out_queue` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_queue_create(out_queue: *mut u64) -> i32 {
    guard(|| {
        clear_last_error();
        if out_queue.is_null() {
            set_last_error("out_queue is NULL");
            return WXFS_E_NULL;
        }
        match CompletionQueue::new() {
            Ok(q) => {
                let Some(handle) = QUEUES.insert(Arc::new(q)) else {
                    set_last_error("no completion queue handle left in this process");
                    return WXFS_E_IO;
                };
                // SAFETY: non-NULL and writable, as the caller promises.
                unsafe { out_queue.write(handle) };
                WXFS_OK
            }
            Err(e) => {
                set_last_error(format!("cannot make the queue's fd: {e}"));
                WXFS_E_IO
            }
        }
    })
}

/// Write to `*out_fd` the queue's file descriptor: it is readable exactly while completions wait
/// on the queue (an eventfd on Linux and Android, the read end of a pipe elsewhere). Add it to the
/// host's loop (epoll, ALooper_addFd, CFFileDescriptor, uv_poll) for readability, and call
/// `wxfs_queue_drain` when it fires. Never read, write or close it: it belongs to the queue and
/// stays open until `wxfs_queue_close` has returned and the calls still running on the queue have
/// completed; remove it from the loop before closing the queue. Returns 0, `WXFS_E_NULL` or
/// `WXFS_E_HANDLE`.
///
/// # Safety
/// `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_queue_fd(queue: u64, out_fd: *mut i32) -> i32 {
    guard(|| {
        clear_last_error();
        if out_fd.is_null() {
            set_last_error("out_fd is NULL");
            return WXFS_E_NULL;
        }
        let q = match queue_lookup(queue) {
            Ok(q) => q,
            Err((code, why)) => {
                set_last_error(why);
                return code;
            }
        };
        // SAFETY: non-NULL and writable, as the caller promises.
        unsafe { out_fd.write(q.fd()) };
        WXFS_OK
    })
}

/// Run the callbacks of the completions waiting on `queue`, on the calling thread, in the order
/// they arrived (issue order for the calls one thread made on one sandbox): at most `max` of them,
/// or with `max` 0 those waiting when the call began. Writes how many ran to `*out_ran` when it is
/// non-NULL. A callback may make sync calls, issue new async calls, and drain this queue again.
/// Returns 0, `WXFS_E_HANDLE` (a closed queue) or `WXFS_E_FORKED` (a queue of the parent of this
/// forked process: nothing is run). Thread-safe, but a host drains one queue from
/// one thread if it wants its callbacks in order.
///
/// # Safety
/// `out_ran` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_queue_drain(queue: u64, max: usize, out_ran: *mut usize) -> i32 {
    guard(|| {
        clear_last_error();
        let q = match queue_lookup(queue) {
            Ok(q) => q,
            Err((code, why)) => {
                set_last_error(why);
                return code;
            }
        };
        let ran = q.drain(max);
        if !out_ran.is_null() {
            // SAFETY: non-NULL and writable, as the caller promises.
            unsafe { out_ran.write(ran) };
        }
        WXFS_OK
    })
}

/// Close a completion queue: its handle is invalid from now on, the completions waiting on it
/// are freed (their results released, their callbacks never called), and so are those of calls
/// still running, as they complete. Each exactly once. Drain first if the callbacks must run
/// (for instance to free their userdata). Returns 0 or `WXFS_E_HANDLE`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_queue_close(queue: u64) -> i32 {
    guard(|| {
        clear_last_error();
        if let Err((code, why)) = queue_lookup(queue) {
            set_last_error(why);
            return code;
        }
        let Ok(q) = QUEUES.remove(queue) else {
            set_last_error("invalid completion queue handle");
            return super::WXFS_E_HANDLE;
        };
        q.close();
        WXFS_OK
    })
}
