//! Tests of the group commit in `power` mode (`Store::flush_to`): a write returns only once a
//! flush that began after it was appended has completed; a failed or panicking flush reaches
//! every writer that waited on it, and no one is left waiting. On the I/O double `MemIo`, whose
//! hook stops a sync between taking what it covers and making that durable.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::commit::Stage;
use super::crash_tests::{mem_open, KV};
use super::files::LOG_NAME;
use super::tests::*;
use super::*;
use crate::io::mem::{MemIo, Point};

/// Whether the set of `key` to `val` would survive a power cut now.
fn durable(io: &MemIo, key: &str, val: &Value) -> bool {
    let log = io.image(true).bytes(&Path::new(KV).join(LOG_NAME)).unwrap_or_default();
    let rec = set_bytes(key, val);
    log.windows(rec.len()).any(|w| w == rec)
}

/// Holds the syncs of named threads at `Point::InSync` (what they cover taken, not yet durable)
/// until released.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
}

#[derive(Default)]
struct GateState {
    held: HashSet<String>,
    arrived: Vec<String>,
}

impl Gate {
    fn install(self: &Arc<Self>, io: &MemIo) {
        let gate = self.clone();
        io.set_hook(Some(Arc::new(move |at| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            if at != Point::InSync {
                return;
            }
            let mut st = gate.state.lock();
            if !st.held.contains(&name) {
                return;
            }
            st.arrived.push(name.clone());
            gate.cv.notify_all();
            while st.held.contains(&name) {
                gate.cv.wait(&mut st);
            }
        })));
    }

    fn hold(&self, name: &str) {
        self.state.lock().held.insert(name.to_string());
    }

    fn release(&self, name: &str) {
        self.state.lock().held.remove(name);
        self.cv.notify_all();
    }

    fn arrived(&self, name: &str) -> bool {
        self.state.lock().arrived.iter().any(|n| n == name)
    }

    fn release_all(&self) {
        self.state.lock().held.clear();
        self.cv.notify_all();
    }
}

/// Opens the gate when dropped: a failed assertion then does not leave held threads behind,
/// which the scope would wait for forever.
struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.release_all();
    }
}

/// Polls `cond` for up to 10 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A writer whose record is appended while another writer's flush is in flight (that flush
/// took what it covers before the record was there) must not return when that flush
/// completes: only once a flush that covers its record has.
#[test]
fn a_set_appended_during_a_flush_waits_for_a_flush_that_covers_it() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Power);
    let gate = Arc::new(Gate::default());
    gate.install(&io);
    gate.hold("a");
    gate.hold("b");
    let (a_done, b_done) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|sc| {
        let _open = OpenOnDrop(&gate);
        let (s, a_done, b_done) = (&s, &a_done, &b_done);
        std::thread::Builder::new()
            .name("a".into())
            .spawn_scoped(sc, move || {
                s.set("a", v("1"), BIG).unwrap();
                a_done.store(true, Ordering::SeqCst);
            })
            .unwrap();
        wait_until("a's flush in flight", || gate.arrived("a"));
        std::thread::Builder::new()
            .name("b".into())
            .spawn_scoped(sc, move || {
                s.set("b", v("2"), BIG).unwrap();
                b_done.store(true, Ordering::SeqCst);
            })
            .unwrap();
        // b is appended (its flush, if it started one, is held too), or waits for a's flush.
        wait_until("b appended", || s.stats().file_len as usize >= record::HEADER_LEN + 2 * set_bytes("a", &v("1")).len());
        std::thread::sleep(Duration::from_millis(20));
        assert!(!a_done.load(Ordering::SeqCst) && !b_done.load(Ordering::SeqCst), "returned before any flush completed");

        gate.release("a");
        wait_until("a returns", || a_done.load(Ordering::SeqCst));
        assert!(durable(&io, "a", &v("1")));
        // b's own flush is held: b may not return, whatever a's flush did.
        wait_until("b's flush in flight", || gate.arrived("b") || b_done.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!durable(&io, "b", &v("2")), "a's flush began before b was appended");
        assert!(!b_done.load(Ordering::SeqCst), "b was acknowledged though no flush covering it had completed");

        gate.release("b");
        wait_until("b returns", || b_done.load(Ordering::SeqCst));
        assert!(durable(&io, "b", &v("2")));
    });
}

/// A writer that appended while a flush was in flight but reaches the group commit only after
/// that flush completed (it was descheduled in between) must not take that flush for its own:
/// the flush began before its record was there. (`Process` mode, whose sets do not flush, lets
/// the test place the append and the wait on either side of the flush; `sync` waits through
/// the same group commit as a set in `power` mode.)
#[test]
fn a_writer_arriving_after_a_flush_that_began_before_its_append_flushes_again() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Process);
    let gate = Arc::new(Gate::default());
    gate.install(&io);
    gate.hold("a");
    gate.hold("b");
    let b_done = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let _open = OpenOnDrop(&gate);
        let (s, b_done) = (&s, &b_done);
        s.set("a", v("1"), BIG).unwrap();
        let a = std::thread::Builder::new().name("a".into()).spawn_scoped(sc, move || s.sync().unwrap()).unwrap();
        wait_until("a's flush in flight", || gate.arrived("a"));
        s.set("b", v("2"), BIG).unwrap();
        gate.release("a");
        a.join().unwrap();
        assert!(durable(&io, "a", &v("1")) && !durable(&io, "b", &v("2")));
        std::thread::Builder::new()
            .name("b".into())
            .spawn_scoped(sc, move || {
                s.sync().unwrap();
                b_done.store(true, Ordering::SeqCst);
            })
            .unwrap();
        wait_until("b's flush in flight", || gate.arrived("b") || b_done.load(Ordering::SeqCst));
        assert!(!b_done.load(Ordering::SeqCst), "b was acknowledged by a flush that began before it was appended");
        gate.release("b");
        wait_until("b returns", || b_done.load(Ordering::SeqCst));
        assert!(durable(&io, "b", &v("2")));
    });
}

/// A writer whose record a flush in flight covers waits for that flush to complete, not only
/// to begin. (`Process` mode and `sync`, as above.)
#[test]
fn a_writer_covered_by_a_flush_in_flight_waits_until_it_completes() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Process);
    let gate = Arc::new(Gate::default());
    gate.install(&io);
    gate.hold("a");
    let c_done = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let _open = OpenOnDrop(&gate);
        let (s, c_done) = (&s, &c_done);
        s.set("a", v("1"), BIG).unwrap();
        std::thread::Builder::new().name("a".into()).spawn_scoped(sc, move || s.sync().unwrap()).unwrap();
        wait_until("a's flush in flight", || gate.arrived("a"));
        std::thread::Builder::new()
            .name("c".into())
            .spawn_scoped(sc, move || {
                s.sync().unwrap();
                c_done.store(true, Ordering::SeqCst);
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!durable(&io, "a", &v("1")));
        assert!(!c_done.load(Ordering::SeqCst), "acknowledged while the flush covering it was still in flight");
        gate.release("a");
        wait_until("c returns", || c_done.load(Ordering::SeqCst));
        assert!(durable(&io, "a", &v("1")));
    });
}

/// Eight writers on slow flushes: every set is durable the moment it returns.
#[test]
fn every_set_is_durable_when_it_returns() {
    let io = MemIo::new();
    io.set_sync_delay(Duration::from_micros(300));
    let (s, _) = mem_open(&io, Durability::Power);
    let syncs_at_open = io.syncs();
    let early = Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for t in 0..8 {
            let (s, io, early) = (&s, &io, &early);
            sc.spawn(move || {
                for i in 0..60 {
                    let (key, val) = (format!("t{t}-{i}"), v(&format!("{i}")));
                    s.set(&key, val.clone(), BIG).unwrap();
                    if !durable(io, &key, &val) {
                        early.lock().push(key);
                    }
                }
            });
        }
    });
    assert_eq!(*early.lock(), Vec::<String>::new(), "acknowledged before durable");
    let syncs = io.syncs() - syncs_at_open;
    assert!(syncs < 480, "every set flushed alone: {syncs} syncs");
}

/// The pending flight (both flights held in flight, a third writer opens it, a fourth joins
/// it) fails, then panics: each time its error reaches the writer that joined it, and every
/// writer returns.
#[test]
fn a_failed_or_panicking_flush_reaches_its_waiters_and_hangs_no_one() {
    for panics in [false, true] {
        let io = MemIo::new();
        let (s, _) = mem_open(&io, Durability::Power);
        let gate = Arc::new(Gate::default());
        gate.install(&io);
        let held: Vec<String> = (0..FLIGHTS).map(|k| format!("held{k}")).collect();
        for name in &held {
            gate.hold(name);
        }
        let (tx, rx) = mpsc::channel::<(String, Result<(), String>)>();
        std::thread::scope(|sc| {
            let _open = OpenOnDrop(&gate);
            let set = |name: String, key: String| {
                let (s, tx) = (&s, tx.clone());
                std::thread::Builder::new()
                    .name(name.clone())
                    .spawn_scoped(sc, move || {
                        let r = panic::catch_unwind(AssertUnwindSafe(|| s.set(&key, v("1"), BIG)));
                        let r = match r {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(_) => Err("panicked".to_string()),
                        };
                        tx.send((name, r)).unwrap();
                    })
                    .unwrap();
            };
            for name in &held {
                set(name.clone(), name.clone());
                let name = name.clone();
                wait_until("flight held", || gate.arrived(&name));
            }
            set("leader".into(), "c".into());
            wait_until("pending flight opened", || s.flushed.lock().flights.iter().any(|f| f.stage == Stage::Pending));
            set("joiner".into(), "d".into());
            wait_until("joined", || s.flushed.lock().flights.iter().any(|f| f.stage == Stage::Pending && f.waiters == 1));
            // The pending flight's flush fails (every call fails from here), or panics.
            if panics {
                io.set_hook(Some(Arc::new(|at| {
                    if at == Point::Call && std::thread::current().name() == Some("leader") {
                        panic!("injected panic in a flush");
                    }
                })));
                // The held flights go on.
                gate.release_all();
            } else {
                io.faults().crash_at = Some(0);
                for name in &held {
                    gate.release(name);
                }
            }
            let mut results = HashMap::new();
            for _ in 0..held.len() + 2 {
                let (name, r) = rx.recv_timeout(Duration::from_secs(10)).expect("a writer is left waiting");
                results.insert(name, r);
            }
            let want = if panics { "panicked" } else { "storage io error: crashed (injected)" };
            assert_eq!(results["leader"], Err(want.to_string()), "panics: {panics}");
            let want = if panics { "storage io error: a flush of the storage log panicked" } else { want };
            assert_eq!(results["joiner"], Err(want.to_string()), "panics: {panics}: the joiner's flush failed");
        });
        io.faults().crash_at = None;
        io.set_hook(None);
        // The store goes on: a set now is flushed and survives a power cut, with everything
        // acknowledged before.
        s.set("e", v("1"), BIG).unwrap();
        drop(s);
        io.power_cut();
        let (s, _) = mem_open(&io, Durability::Power);
        assert!(s.get("e").is_some());
    }
}
