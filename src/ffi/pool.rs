//! The async worker pool behind `wxfs_invoke_async` and `wxfs_invoke_async_v2` (docs/design.md §7).
//!
//! A call has two parts: the *operation* (what the call does to the sandbox) and its *delivery*
//! (the host's callback with the result). They are ordered and waited on separately:
//!
//! - Operations are queued per (session, calling thread); a queue's operations run one at a time,
//!   so the calls one thread issues on one sandbox take effect in issue order, while other
//!   threads' and other sandboxes' calls run in parallel on up to [`WORKERS`] threads.
//! - A sync call from a thread waits only until that thread's queued *operations* on the sandbox
//!   have taken effect ([`Pool::wait_settled`]), never for a callback. So a sync call made inside
//!   a callback, or on a JS thread while a callback waits to be run there, never waits on itself.
//! - Deliveries of one queue happen in issue order too. A worker that delivers leaves the count
//!   of operation workers, so callbacks that block (on the host's JS thread, on each other) never
//!   stop operations from running: a worker is started in its place. Threads blocked in
//!   callbacks are bounded by [`MAX_THREADS`], and a worker beyond [`WORKERS`] ends when it
//!   comes back from its callbacks.
//! - Admission is bounded by calls ([`Budget::calls`]) and by bytes ([`Budget::bytes`]): a call's
//!   argument bytes count from submission until its operation ends, its result bytes from then
//!   until its callback returns. Past either bound a submission is refused (`WXFS_E_QUEUE_FULL`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;

use crate::session::Session;

/// Most threads running operations at once.
pub(crate) const WORKERS: usize = 4;

/// Most threads the pool has at once, those inside callbacks included. Past it a worker that
/// finishes an operation still delivers its callbacks, but no thread is started in its place:
/// callbacks blocked on that many (sandbox, thread) queues at once slow operations down rather
/// than cost the host a thread each.
pub(crate) const MAX_THREADS: usize = 64;

/// What the pool admits at once. From the environment at first use: `WXFS_ASYNC_QUEUE_BYTES`
/// (default 64 MiB) and `WXFS_ASYNC_QUEUE_CALLS` (default 100,000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub bytes: usize,
    pub calls: usize,
}

pub(crate) const DEFAULT_BUDGET: Budget = Budget { bytes: 64 << 20, calls: 100_000 };

fn budget_from_env() -> Budget {
    let read = |name: &str, default: usize| {
        std::env::var(name).ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(default)
    };
    Budget {
        bytes: read("WXFS_ASYNC_QUEUE_BYTES", DEFAULT_BUDGET.bytes),
        calls: read("WXFS_ASYNC_QUEUE_CALLS", DEFAULT_BUDGET.calls),
    }
}

/// (session, calling thread).
pub type Key = (usize, u64);

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// A number for the calling thread, host-created threads included.
    static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

pub fn key(session: &Arc<Session>) -> Key {
    (Arc::as_ptr(session) as usize, THREAD.with(|t| *t))
}

/// The host's callback with its result, and the bytes that result holds until it returns.
pub struct Delivery {
    pub deliver: Box<dyn FnOnce() + Send>,
    pub bytes: usize,
}

/// An operation: runs on a worker and returns its delivery. It must not panic (callers catch
/// panics inside, so that the callback is always called exactly once).
pub type Operation = Box<dyn FnOnce() -> Delivery + Send>;

/// A completion handed to a completion queue (`queue.rs`): until it is released it counts as one
/// call and as `bytes` of undelivered results, as it did while the pool held it.
#[must_use = "a Held is released with Pool::release"]
pub struct Held {
    bytes: usize,
}

/// Why a submission was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Calls(usize),
    Bytes(usize),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Calls(n) => write!(f, "too many async calls pending (at most {n}; WXFS_ASYNC_QUEUE_CALLS)"),
            Refused::Bytes(n) => write!(
                f,
                "async calls pending hold too many bytes (at most {n} of arguments and undelivered \
                 results; WXFS_ASYNC_QUEUE_BYTES)"
            ),
        }
    }
}

#[derive(Default)]
struct Queue {
    /// Operations not yet started, with their argument bytes.
    operations: VecDeque<(usize, Operation)>,
    /// An operation of this queue is running.
    running: bool,
    /// Deliveries not yet made, in issue order.
    deliveries: VecDeque<Delivery>,
    /// A worker is making this queue's deliveries.
    delivering: bool,
    /// Threads in `wait_settled` for this queue: its operations start even while results fill
    /// the byte budget (the waiter may be a callback holding those results).
    waiters: usize,
}

impl Queue {
    fn settled(&self) -> bool {
        !self.running && self.operations.is_empty()
    }
    fn finished(&self) -> bool {
        self.settled() && !self.delivering && self.deliveries.is_empty()
    }
}

#[derive(Default)]
pub struct State {
    queues: HashMap<Key, Queue>,
    /// Queues with an operation to start and none running.
    ready: VecDeque<Key>,
    /// Calls admitted whose callback has not yet returned.
    calls: usize,
    /// Argument bytes of operations not yet ended, plus result bytes not yet delivered.
    bytes: usize,
    /// Of those, the result bytes not yet delivered. While they fill the byte budget no new
    /// operation starts (except for a waiter), so results cannot pile up behind slow callbacks.
    results: usize,
    /// Threads alive, threads waiting for work, threads inside callbacks.
    workers: usize,
    idle: usize,
    delivering: usize,
}

pub struct Pool {
    budget: Budget,
    /// `std` locks: the state is held around `fork` (`fork.rs`), and a `std` lock let go in the
    /// child hands itself to no thread the child does not have.
    state: Mutex<State>,
    /// `State::calls`, readable without the lock: while it is 0 no thread has anything queued,
    /// so `wait_settled` returns at once (every sync call asks).
    calls_out: AtomicUsize,
    work: Condvar,
    /// Signalled whenever an operation ends.
    settled: Condvar,
}

pub static POOL: Lazy<Pool> = Lazy::new(|| Pool::new(budget_from_env()));

impl Pool {
    pub fn new(budget: Budget) -> Pool {
        Pool {
            budget,
            state: Mutex::new(State::default()),
            calls_out: AtomicUsize::new(0),
            work: Condvar::new(),
            settled: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, cv: &Condvar, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        cv.wait(st).unwrap_or_else(PoisonError::into_inner)
    }

    /// Before `fork`: hold the state, so no thread is changing it at the instant of fork.
    pub fn fork_prepare(&self) -> MutexGuard<'_, State> {
        self.lock()
    }

    /// In the child, with the state held: the parent's threads are not here. Its queued
    /// operations and undelivered callbacks are forgotten, never run or dropped (they hold the
    /// parent's sessions); the child starts its own workers for its own calls.
    pub fn forked(&self, st: &mut State) {
        let parents = std::mem::take(st);
        // Kept where it stays reachable (a leak checker in the child does not report it), and
        // never run or dropped. Only this handler touches it, on the one thread of the child.
        static PARENTS: std::sync::Mutex<Vec<State>> = std::sync::Mutex::new(Vec::new());
        PARENTS.lock().unwrap_or_else(PoisonError::into_inner).push(parents);
        self.calls_out.store(0, Ordering::Release);
    }

    /// Queue an operation behind the earlier ones of its key; `bytes` is what its arguments hold.
    /// Refused, with nothing queued, past the call or byte budget (a lone call is never refused
    /// for its size: with nothing pending it is admitted whatever it holds).
    pub fn submit(&'static self, key: Key, bytes: usize, op: Operation) -> Result<(), Refused> {
        let mut st = self.lock();
        if st.calls >= self.budget.calls {
            return Err(Refused::Calls(self.budget.calls));
        }
        if st.bytes > 0 && st.bytes.saturating_add(bytes) > self.budget.bytes {
            return Err(Refused::Bytes(self.budget.bytes));
        }
        st.calls += 1;
        self.calls_out.store(st.calls, Ordering::Release);
        st.bytes += bytes;
        let q = st.queues.entry(key).or_default();
        q.operations.push_back((bytes, op));
        // Behind an operation of its queue already queued or running, this one makes no new work
        // ready: the worker that runs that one takes it next. Only a queue that becomes ready
        // needs a worker, started or woken (a busy one looks for the next ready queue, under this
        // lock, before it waits). Waking or starting one per call in a burst on one queue cost a
        // futex syscall on this thread, and more on workers woken for nothing (34,818 futex calls
        // for 10,000 async setStorage calls from Node).
        let newly_ready = q.operations.len() == 1 && !q.running;
        if newly_ready {
            st.ready.push_back(key);
            self.spawn_if_needed(&mut st);
        }
        let wake = newly_ready && st.idle > 0;
        drop(st);
        if wake {
            self.work.notify_one();
        }
        Ok(())
    }

    /// Count a completion that leaves the pool for a completion queue: called by its delivery,
    /// before the pool forgets the call, so the budget never drops in between.
    pub fn hold(&self, bytes: usize) -> Held {
        let mut st = self.lock();
        st.calls += 1;
        st.bytes += bytes;
        st.results += bytes;
        self.calls_out.store(st.calls, Ordering::Release);
        Held { bytes }
    }

    /// The completion's callback has run, or it was freed: what it held is free again.
    pub fn release(&self, held: Held) {
        let mut st = self.lock();
        let full = st.results >= self.budget.bytes;
        st.calls -= 1;
        st.bytes -= held.bytes;
        st.results -= held.bytes;
        self.calls_out.store(st.calls, Ordering::Release);
        if full && st.results < self.budget.bytes {
            self.work.notify_all(); // operations held back by the budget may start
        }
    }

    /// Block until no operation of `key` is queued or running. A sync call runs after this, so
    /// the calls one thread issues on one sandbox take effect in issue order (while the thread
    /// waits here it cannot queue anything new under its key). Callbacks are not waited for.
    pub fn wait_settled(&'static self, key: &Key) {
        // What this thread queued it counted before it got here: 0 means none of it is left.
        if self.calls_out.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut st = self.lock();
        match st.queues.get_mut(key) {
            Some(q) if !q.settled() => q.waiters += 1,
            _ => return,
        }
        self.spawn_if_needed(&mut st);
        self.work.notify_all();
        while st.queues.get(key).is_some_and(|q| !q.settled()) {
            st = self.wait(&self.settled, st);
        }
        if let Some(q) = st.queues.get_mut(key) {
            q.waiters -= 1;
        }
    }

    /// The next queue whose operation may start: the first ready one, or while undelivered
    /// results fill the byte budget, the first ready one a thread waits on.
    fn next_ready(&self, st: &mut State) -> Option<Key> {
        let at = if st.results < self.budget.bytes {
            if st.ready.is_empty() {
                None
            } else {
                Some(0)
            }
        } else {
            st.ready.iter().position(|k| st.queues.get(k).is_some_and(|q| q.waiters > 0))
        };
        at.and_then(|i| st.ready.remove(i))
    }

    /// Operation workers are those alive and not inside a callback.
    fn spawn_if_needed(&'static self, st: &mut MutexGuard<'_, State>) {
        if st.idle == 0 && !st.ready.is_empty() && st.workers - st.delivering < WORKERS && st.workers < MAX_THREADS {
            st.workers += 1;
            let spawned = std::thread::Builder::new().name("wxfs-worker".into()).spawn(move || self.work_loop());
            if spawned.is_err() {
                st.workers -= 1;
            }
        }
    }

    fn work_loop(&'static self) {
        let mut st = self.lock();
        loop {
            let Some(key) = self.next_ready(&mut st) else {
                // A thread started while others were in callbacks ends once they are back.
                if st.workers - st.delivering > WORKERS {
                    st.workers -= 1;
                    return;
                }
                st.idle += 1;
                st = self.wait(&self.work, st);
                st.idle -= 1;
                continue;
            };
            let Some(q) = st.queues.get_mut(&key) else { continue };
            let Some((arg_bytes, op)) = q.operations.pop_front() else { continue };
            q.running = true;
            drop(st);
            let delivery = op();
            st = self.lock();
            st.bytes = st.bytes - arg_bytes + delivery.bytes;
            st.results += delivery.bytes;
            let q = st.queues.get_mut(&key).expect("a queue with a running operation stays");
            q.running = false;
            q.deliveries.push_back(delivery);
            let more = !q.operations.is_empty();
            let waited_on = q.waiters > 0;
            let deliver_here = !q.delivering;
            q.delivering |= deliver_here;
            if more {
                st.ready.push_back(key);
            }
            // Only threads in `wait_settled` for this queue wait for its operations to end.
            if waited_on {
                self.settled.notify_all();
            }
            if !deliver_here {
                // The worker already delivering this queue's callbacks makes this one too, in order.
                continue;
            }
            st.delivering += 1;
            // This worker leaves the operation workers for a while: one takes its place.
            self.spawn_if_needed(&mut st);
            if !st.ready.is_empty() && st.idle > 0 {
                self.work.notify_one();
            }
            loop {
                let q = st.queues.get_mut(&key).expect("a queue being delivered stays");
                let Some(d) = q.deliveries.pop_front() else {
                    q.delivering = false;
                    break;
                };
                drop(st);
                (d.deliver)();
                st = self.lock();
                let full = st.results >= self.budget.bytes;
                st.bytes -= d.bytes;
                st.results -= d.bytes;
                st.calls -= 1;
                self.calls_out.store(st.calls, Ordering::Release);
                if full && st.results < self.budget.bytes {
                    self.work.notify_all(); // operations held back by the budget may start
                }
            }
            st.delivering -= 1;
            if st.queues.get(&key).is_some_and(Queue::finished) {
                st.queues.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::{Condvar, Mutex};
    use std::sync::mpsc;
    use std::time::Duration;

    fn pool(budget: Budget) -> &'static Pool {
        Box::leak(Box::new(Pool::new(budget)))
    }

    fn op(bytes: usize, work: impl FnOnce() + Send + 'static, deliver: impl FnOnce() + Send + 'static) -> Operation {
        Box::new(move || {
            work();
            Delivery { deliver: Box::new(deliver), bytes }
        })
    }

    #[test]
    fn operations_of_a_key_run_in_order_and_settle_before_their_callbacks() {
        let p = pool(DEFAULT_BUDGET);
        let (tx, rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let key = (1, 1);
        for i in 0..3 {
            let (tx, tx2, release_rx) = (tx.clone(), tx.clone(), release_rx.clone());
            let deliver = move || {
                if i == 0 {
                    // The first callback blocks until the test has seen every operation end.
                    release_rx.lock().recv().unwrap();
                }
                tx2.send(format!("cb{i}")).unwrap();
            };
            p.submit(key, 10, op(0, move || tx.send(format!("op{i}")).unwrap(), deliver)).unwrap();
        }
        let seen: Vec<String> = (0..3).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        assert_eq!(seen, ["op0", "op1", "op2"], "operations run in issue order while a callback blocks");
        p.wait_settled(&key); // returns although callback 0 is still blocked
        release_tx.send(()).unwrap();
        let seen: Vec<String> = (0..3).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        assert_eq!(seen, ["cb0", "cb1", "cb2"], "callbacks of one key in issue order");
    }

    #[test]
    fn the_byte_budget_refuses_and_frees_after_delivery() {
        let p = pool(Budget { bytes: 100, calls: 1000 });
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let release_rx = Arc::new(Mutex::new(release_rx));
        // Results of 40 bytes whose callbacks block: two fit, the third submission is refused.
        let mut admitted = 0;
        let mut refused = None;
        for _ in 0..10 {
            let (r, d) = (release_rx.clone(), done_tx.clone());
            let deliver = move || {
                r.lock().recv().unwrap();
                d.send(()).unwrap();
            };
            match p.submit((2, 1), 40, op(40, || {}, deliver)) {
                Ok(()) => admitted += 1,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert_eq!((admitted, refused), (2, Some(Refused::Bytes(100))));
        for _ in 0..admitted {
            release_tx.send(()).unwrap();
            done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        // Everything delivered: the budget is free again (a lone call is admitted whatever its size).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while p.lock().bytes != 0 {
            assert!(std::time::Instant::now() < deadline, "bytes never released");
            std::thread::sleep(Duration::from_millis(1));
        }
        let (tx, rx) = mpsc::channel();
        p.submit((2, 1), 1000, op(0, || {}, move || tx.send(()).unwrap())).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn results_filling_the_budget_hold_operations_back_but_never_a_waiter() {
        let p = pool(Budget { bytes: 100, calls: 1000 });
        let key = (4, 1);
        let (tx, rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        // The first result fills the budget; its callback blocks, then (as a host's callback
        // making a sync call would) waits for its key's operations to settle.
        let tx0 = tx.clone();
        let deliver0 = move || {
            release_rx.recv().unwrap();
            assert_eq!(p.submit(key, 1, op(0, || {}, || {})), Err(Refused::Bytes(100)));
            p.wait_settled(&key);
            tx0.send("callback0 returned").unwrap();
        };
        p.submit(key, 1, op(100, || {}, deliver0)).unwrap();
        let tx1 = tx.clone();
        p.submit(key, 1, op(10, move || tx1.send("op1").unwrap(), || {})).unwrap();
        // With 100 result bytes undelivered, op1 does not start.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "an operation started past the budget");
        release_tx.send(()).unwrap();
        let seen: Vec<&str> = (0..2).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        assert_eq!(seen, ["op1", "callback0 returned"]);
    }

    #[test]
    fn callbacks_blocked_on_many_queues_never_take_more_than_max_threads() {
        let p = pool(DEFAULT_BUDGET);
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (tx, rx) = mpsc::channel();
        let n = MAX_THREADS * 2;
        for k in 0..n {
            let (gate, tx) = (gate.clone(), tx.clone());
            let deliver = move || {
                let mut open = gate.0.lock();
                while !*open {
                    gate.1.wait(&mut open);
                }
                tx.send(()).unwrap();
            };
            p.submit((5, k as u64), 1, op(0, || {}, deliver)).unwrap();
        }
        // Threads go into callbacks until MAX_THREADS are there; then no more are started.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while p.lock().delivering < MAX_THREADS {
            assert!(std::time::Instant::now() < deadline, "only {} callbacks started", p.lock().delivering);
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        let workers = p.lock().workers;
        assert!(workers <= MAX_THREADS, "{workers} threads for {n} blocked callbacks");
        // Released, the rest run and every callback comes, once.
        *gate.0.lock() = true;
        gate.1.notify_all();
        for _ in 0..n {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
    }

    #[test]
    fn the_call_budget_refuses() {
        let p = pool(Budget { bytes: 1 << 20, calls: 3 });
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for _ in 0..3 {
            let r = release_rx.clone();
            p.submit((3, 1), 1, op(0, || {}, move || r.lock().recv().unwrap())).unwrap();
        }
        assert_eq!(p.submit((3, 1), 1, op(0, || {}, || {})).err(), Some(Refused::Calls(3)));
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
    }

    #[test]
    fn callbacks_that_wait_on_each_other_do_not_stop_operations() {
        // More callbacks than workers, each waiting until all are inside their callbacks: only
        // possible if delivering workers are replaced.
        let p = pool(DEFAULT_BUDGET);
        let n = WORKERS * 3;
        let barrier = Arc::new(std::sync::Barrier::new(n));
        let (tx, rx) = mpsc::channel();
        for i in 0..n {
            let (b, tx) = (barrier.clone(), tx.clone());
            p.submit(
                (4, i as u64),
                1,
                op(
                    0,
                    || {},
                    move || {
                        b.wait();
                        tx.send(()).unwrap();
                    },
                ),
            )
            .unwrap();
        }
        for _ in 0..n {
            rx.recv_timeout(Duration::from_secs(20)).expect("callbacks deadlocked the pool");
        }
    }
}
