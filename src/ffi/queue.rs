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
//! - Signal: an eventfd on Linux and Android, a non-blocking pipe elsewhere. It is written when
//!   the queue goes from empty to non-empty and read back when it becomes empty, both under the
//!   queue's lock, so "readable" and "non-empty" never disagree.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use parking_lot::Mutex;

use super::guard::{clear_last_error, guard, set_last_error};
use super::{queue_lookup, QUEUES, WXFS_E_IO, WXFS_E_NULL, WXFS_OK};

/// A completion: `run(true)` calls the host's callback with its result and frees what is left;
/// `run(false)` frees the result without calling it. Called exactly once either way.
pub(super) struct Completion {
    pub run: Box<dyn FnOnce(bool) + Send>,
    /// What it holds against the async budget (released by whoever runs or frees it).
    pub held: Option<super::pool::Held>,
}

fn release(held: Option<super::pool::Held>) {
    if let Some(h) = held {
        super::pool::POOL.release(h);
    }
}

pub struct CompletionQueue {
    state: Mutex<State>,
    signal: Signal,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Completion>,
    closed: bool,
}

impl CompletionQueue {
    pub(super) fn new() -> std::io::Result<CompletionQueue> {
        Ok(CompletionQueue { state: Mutex::new(State::default()), signal: Signal::new()? })
    }

    /// The fd the host polls for readability.
    pub(super) fn fd(&self) -> i32 {
        self.signal.poll_fd()
    }

    /// Put a completion on the queue, or free it at once when the queue is closed.
    pub(super) fn push(&self, c: Completion) {
        let mut st = self.state.lock();
        if st.closed {
            drop(st);
            (c.run)(false);
            release(c.held);
            return;
        }
        if st.waiting.is_empty() {
            self.signal.raise();
        }
        st.waiting.push_back(c);
    }

    /// Take the first waiting completion (clearing the signal when it was the last).
    fn pop(&self) -> Option<Completion> {
        let mut st = self.state.lock();
        let c = st.waiting.pop_front()?;
        if st.waiting.is_empty() {
            self.signal.clear();
        }
        Some(c)
    }

    /// Run up to `max` waiting callbacks (0: those waiting when it was called) on this thread, in
    /// order; how many ran. One at a time, so a callback that drains the same queue (or issues
    /// calls that complete meanwhile) keeps the order.
    pub(super) fn drain(&self, max: usize) -> usize {
        let limit = if max == 0 { self.state.lock().waiting.len() } else { max };
        let mut ran = 0;
        while ran < limit {
            let Some(c) = self.pop() else { break };
            ran += 1;
            // The budget is released after the callback, as for a callback on a worker: what it
            // holds counts until the host is done with it.
            (c.run)(true);
            release(c.held);
        }
        ran
    }

    /// Close: free what waits; later arrivals are freed as they come.
    pub(super) fn close(&self) -> usize {
        let waiting = {
            let mut st = self.state.lock();
            st.closed = true;
            if !st.waiting.is_empty() {
                self.signal.clear();
            }
            std::mem::take(&mut st.waiting)
        };
        let n = waiting.len();
        for c in waiting {
            (c.run)(false);
            release(c.held);
        }
        n
    }

    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.state.lock().waiting.len()
    }
}

/// The readiness signal: an eventfd, or a pipe where there is none.
struct Signal {
    read: OwnedFd,
    /// The pipe's write end (`None` for an eventfd, which is both).
    write: Option<OwnedFd>,
}

impl Signal {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn new() -> std::io::Result<Signal> {
        use rustix::event::{eventfd, EventfdFlags};
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Signal { read: fd, write: None })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn new() -> std::io::Result<Signal> {
        use rustix::fs::{fcntl_setfl, OFlags};
        let (read, write) = rustix::pipe::pipe()?;
        for fd in [&read, &write] {
            fcntl_setfl(fd, OFlags::NONBLOCK)?;
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
        }
        Ok(Signal { read, write: Some(write) })
    }

    fn poll_fd(&self) -> i32 {
        self.read.as_raw_fd()
    }

    /// Make the fd readable (called only when the queue was empty, so at most one token is out).
    fn raise(&self) {
        let fd = self.write.as_ref().unwrap_or(&self.read);
        let one = 1u64.to_ne_bytes();
        // An eventfd takes 8 bytes, a pipe any: one byte of the same write is enough.
        let bytes: &[u8] = if self.write.is_some() { &one[..1] } else { &one };
        // EAGAIN would mean already readable (it cannot happen with one token out); nothing else
        // can fail on a valid fd we own. EINTR retries.
        while let Err(rustix::io::Errno::INTR) = rustix::io::write(fd.as_fd(), bytes) {}
    }

    /// Make the fd unreadable again.
    fn clear(&self) {
        let mut buf = [0u8; 8];
        loop {
            match rustix::io::read(self.read.as_fd(), &mut buf) {
                Err(rustix::io::Errno::INTR) => continue,
                Ok(n) if n > 0 && self.write.is_some() => continue, // drain a pipe to empty
                _ => break,
            }
        }
    }
}

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
        super::fork::register();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn readable(q: &CompletionQueue) -> bool {
        let mut fds = [rustix::event::PollFd::from_borrowed_fd(q.signal.read.as_fd(), rustix::event::PollFlags::IN)];
        rustix::event::poll(&mut fds, Some(&rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 })).unwrap() == 1
    }

    fn completion(log: &Arc<Mutex<Vec<(usize, bool)>>>, n: usize) -> Completion {
        let log = log.clone();
        Completion { run: Box::new(move |called| log.lock().push((n, called))), held: None }
    }

    #[test]
    fn the_fd_is_readable_exactly_while_completions_wait() {
        let q = CompletionQueue::new().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        assert!(!readable(&q));
        q.push(completion(&log, 1));
        assert!(readable(&q));
        q.push(completion(&log, 2));
        assert!(readable(&q));
        assert_eq!(q.drain(1), 1);
        assert!(readable(&q), "one still waits");
        assert_eq!(q.drain(0), 1);
        assert!(!readable(&q));
        assert_eq!(q.drain(0), 0);
        q.push(completion(&log, 3));
        assert!(readable(&q));
        assert_eq!(q.close(), 1);
        assert!(!readable(&q));
        q.push(completion(&log, 4)); // after close: freed at once
        assert!(!readable(&q));
        assert_eq!(*log.lock(), [(1, true), (2, true), (3, false), (4, false)]);
    }

    #[test]
    fn a_callback_that_drains_the_same_queue_keeps_the_order() {
        let q = Arc::new(CompletionQueue::new().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (q2, log2) = (q.clone(), log.clone());
        q.push(Completion {
            run: Box::new(move |_| {
                log2.lock().push((1, true));
                q2.drain(0);
            }),
            held: None,
        });
        for n in 2..5 {
            q.push(completion(&log, n));
        }
        let ran = q.drain(0);
        assert_eq!(*log.lock(), [(1, true), (2, true), (3, true), (4, true)]);
        assert_eq!(ran, 1, "the inner drain ran the other three");
        assert_eq!(q.waiting(), 0);
        assert!(!readable(&q));
    }

    #[test]
    fn each_completion_runs_once_whatever_races_the_close() {
        let q = Arc::new(CompletionQueue::new().unwrap());
        let runs = Arc::new(AtomicUsize::new(0));
        let pushers: Vec<_> = (0..4)
            .map(|_| {
                let (q, runs) = (q.clone(), runs.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let runs = runs.clone();
                        q.push(Completion {
                            run: Box::new(move |_| {
                                runs.fetch_add(1, Ordering::SeqCst);
                            }),
                            held: None,
                        });
                    }
                })
            })
            .collect();
        let mut drained = 0;
        while drained < 1500 {
            drained += q.drain(7);
        }
        q.close();
        for p in pushers {
            p.join().unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 4000);
        assert!(!readable(&q));
    }
}
