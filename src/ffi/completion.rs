//! One completion queue: the completions of async calls waiting for the host's thread, and the
//! fd that is readable exactly while they wait (the C functions are in `queue.rs`).
//!
//! Signal: an eventfd on Linux and Android, a non-blocking pipe elsewhere. It is written when the
//! queue goes from empty to non-empty and read back when it becomes empty, both under the queue's
//! lock, so "readable" and "non-empty" never disagree.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use parking_lot::Mutex;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

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
