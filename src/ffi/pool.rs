//! The async worker pool behind `wxfs_invoke_async` (DESIGN.md §6).
//!
//! Jobs are queued per (session, calling thread); a queue is served by at most one worker at a
//! time, so the calls one thread issues on one sandbox take effect in issue order, while calls
//! from other threads or on other sandboxes run in parallel on the other workers. A sync call
//! from a thread with async calls still queued on that sandbox waits its turn in the same queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

use crate::session::Session;

/// Most worker threads.
pub(crate) const WORKERS: usize = 4;
/// Most jobs waiting at once; beyond it a submission is refused (the host is outrunning disk).
pub(crate) const MAX_QUEUED: usize = 100_000;

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

pub type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queues: HashMap<Key, VecDeque<Job>>,
    ready: VecDeque<Key>,
    running: HashSet<Key>,
    queued: usize,
    workers: usize,
    idle: usize,
}

pub struct Pool {
    state: Mutex<State>,
    work: Condvar,
    /// Signalled whenever some key's queue drains.
    drained: Condvar,
}

pub static POOL: Lazy<Pool> =
    Lazy::new(|| Pool { state: Mutex::new(State::default()), work: Condvar::new(), drained: Condvar::new() });

impl Pool {
    /// Queue a job behind the earlier jobs of its key. `Err(job)` when the pool is full.
    pub fn submit(&'static self, key: Key, job: Job) -> Result<(), Job> {
        let mut st = self.state.lock();
        if st.queued >= MAX_QUEUED {
            return Err(job);
        }
        st.queued += 1;
        let q = st.queues.entry(key).or_default();
        q.push_back(job);
        if q.len() == 1 && !st.running.contains(&key) {
            st.ready.push_back(key);
        }
        if st.idle == 0 && st.workers < WORKERS {
            st.workers += 1;
            let spawned = std::thread::Builder::new().name("wxfs-worker".into()).spawn(move || self.work_loop());
            if spawned.is_err() {
                st.workers -= 1;
            }
        }
        drop(st);
        self.work.notify_one();
        Ok(())
    }

    /// Block until no job of `key` is queued or running. A sync call runs after this, so the
    /// calls one thread issues on one sandbox take effect in issue order: while the thread
    /// waits here it cannot queue anything new under its key.
    pub fn wait_idle(&self, key: &Key) {
        let mut st = self.state.lock();
        while st.running.contains(key) || st.queues.contains_key(key) {
            self.drained.wait(&mut st);
        }
    }

    fn work_loop(&self) {
        let mut st = self.state.lock();
        loop {
            let Some(key) = st.ready.pop_front() else {
                st.idle += 1;
                self.work.wait(&mut st);
                st.idle -= 1;
                continue;
            };
            let job = st.queues.get_mut(&key).and_then(VecDeque::pop_front);
            let Some(job) = job else { continue };
            st.running.insert(key);
            drop(st);
            // Jobs catch their own panics (they must call their callback exactly once).
            job();
            st = self.state.lock();
            st.queued -= 1;
            st.running.remove(&key);
            match st.queues.get(&key) {
                Some(q) if !q.is_empty() => st.ready.push_back(key),
                _ => {
                    st.queues.remove(&key);
                    self.drained.notify_all();
                }
            }
        }
    }
}
