//! The promotion of a deferred compaction against the writer, with every
//! interleaving chosen by the test. The promotion is run by the test, one I/O step at a time,
//! not by a thread; its syncs are split into the call (what it captures) and the return (when
//! that becomes durable), since a real fsync takes time while the writer goes on. The writer's
//! calls are points too (a hook before each of them, and one inside each of its syncs). At
//! every point of every schedule, the state a kill and the state a power cut would leave are
//! opened and checked.

use parking_lot::Mutex as PMutex;

use super::crash_tests::*;
use super::files::LOG_NAME;
use super::promote::Promoter;
use super::tests::*;
use super::*;
use crate::io::mem::{Hook, MemIo, Point};

type State = Vec<(String, Value)>;

/// A promotion's steps as the test runs them: the file's sync called, that sync returned,
/// the rename, the directory's sync called, that sync returned.
const PHASES: usize = 5;
const PHASE_NAMES: [&str; PHASES] = ["sync called", "sync returned", "rename", "dir sync called", "dir sync returned"];

fn run_phase(io: &MemIo, p: &PMutex<Promoter>, phase: usize) {
    match phase {
        0 | 3 => {
            io.defer_next_sync();
            p.lock().step().unwrap();
        }
        1 | 4 => io.complete_deferred(),
        _ => drop(p.lock().step().unwrap()),
    }
}

enum W {
    Set(&'static str, Value),
    Sync,
}

/// What the writer does while the compacted log is live under its temporary name: sets
/// through the mapping and through the file (9 KB), and two flushes (the first also syncs
/// the directory, since the compaction's rename is not known durable).
fn writer() -> Vec<W> {
    vec![W::Set("b", v("3")), W::Sync, W::Set("c", v(&"7".repeat(9000))), W::Set("d", v("5")), W::Sync, W::Set("e", v("6"))]
}

fn hot(i: usize) -> Value {
    v(&format!("{i:05}{}", "0".repeat(1995)))
}

/// Sets `a`, `z`, syncs, then sets `hot` until one set compacts (manual promotion).
/// Returns the store, every state since the sync (index 0 is the synced one), and the
/// promotion.
fn to_compaction(io: &MemIo) -> (Store, Vec<State>, Arc<PMutex<Promoter>>) {
    let (s, _) = mem_open(io, Durability::Process);
    s.manual_promotion();
    let mut m = Model::default();
    for (k, val) in [("a", vt("1", "Number")), ("z", v("2"))] {
        s.set(k, val.clone(), BIG).unwrap();
        m.set(k, val);
    }
    s.sync().unwrap();
    let mut states = vec![m.0.clone()];
    for i in 0.. {
        s.set("hot", hot(i), BIG).unwrap();
        m.set("hot", hot(i));
        states.push(m.0.clone());
        if s.stats().compactions == 1 {
            break;
        }
    }
    let p = s.inner.read().log.promoter().expect("a deferred compaction");
    (s, states, p)
}

#[derive(Default)]
struct Track {
    /// Every state since the last sync before the compaction; the last is acknowledged.
    states: Vec<State>,
    /// Index in `states` of the state the last `sync` that returned made durable.
    synced: usize,
    /// The state the writer's step in flight leads to.
    inflight: Option<State>,
    /// Points passed.
    point: usize,
    failures: Vec<String>,
}

/// Opens what a kill and what a power cut would leave now; returns what is wrong.
fn check(io: &MemIo, t: &Track) -> Option<String> {
    for power_cut in [false, true] {
        let image = io.image(power_cut);
        let what = if power_cut { "power cut" } else { "kill" };
        let s = match Store::open_with_io(Path::new(KV), Durability::Process, image.arc()) {
            Ok((s, _)) => s,
            Err(e) => return Some(format!("{what}: open failed: {e}")),
        };
        let got = snapshot(&s);
        let acked = t.states.last().unwrap();
        let ok = if power_cut { t.states[t.synced..].contains(&got) } else { &got == acked };
        if !ok && t.inflight.as_ref() != Some(&got) {
            let at = t.states.iter().position(|st| *st == got);
            return Some(format!(
                "{what}: the store shows state {at:?} of {} (last sync: {}), keys {:?}",
                t.states.len() - 1,
                t.synced,
                s.keys()
            ));
        }
        if let Err(e) = s.settle() {
            return Some(format!("{what}: settle after the open failed: {e}"));
        }
        drop(s);
        if image.names() != vec![Path::new(KV).join(LOG_NAME)] {
            return Some(format!("{what}: files after the open: {:?}", image.names()));
        }
    }
    None
}

/// Runs one schedule: phase `i` of the promotion runs at writer point `at[i]` (points past
/// the writer's last run after it, before the close). Returns the points passed and the
/// failures.
fn run(at: [usize; PHASES]) -> (usize, Vec<String>) {
    let io = MemIo::new();
    let (s, states, p) = to_compaction(&io);
    let track = Arc::new(PMutex::new(Track { states, ..Track::default() }));
    let done = Arc::new(PMutex::new(0usize));
    let step_phases = {
        let (io, p, done) = (io.clone(), p.clone(), done.clone());
        move |point: usize| {
            let mut done = done.lock();
            while *done < PHASES && at[*done] <= point {
                run_phase(&io, &p, *done);
                *done += 1;
            }
        }
    };
    let hook: Hook = {
        let (io, track, step_phases) = (io.clone(), track.clone(), step_phases.clone());
        let first = at[0];
        Arc::new(move |point: Point| {
            let k = track.lock().point;
            step_phases(k);
            let mut t = track.lock();
            t.point += 1;
            // Before the first phase every schedule is the writer alone: checked once.
            if first != usize::MAX && k < first {
                return;
            }
            if let Some(f) = check(&io, &t) {
                t.failures.push(format!("point {k} ({point:?}): {f}"));
            }
        })
    };
    io.set_hook(Some(hook));
    let mut m = Model(track.lock().states.last().unwrap().clone());
    for w in writer() {
        match w {
            W::Set(k, val) => {
                m.set(k, val.clone());
                track.lock().inflight = Some(m.0.clone());
                s.set(k, val, BIG).unwrap();
                let mut t = track.lock();
                t.inflight = None;
                t.states.push(m.0.clone());
            }
            W::Sync => {
                s.sync().unwrap();
                let mut t = track.lock();
                t.synced = t.states.len() - 1;
            }
        }
    }
    io.set_hook(None);
    let points = track.lock().point;
    step_phases(usize::MAX);
    let mut failures = std::mem::take(&mut track.lock().failures);
    if let Some(f) = check(&io, &track.lock()) {
        failures.push(format!("after the writer: {f}"));
    }
    // The close finds the promotion complete.
    drop(s);
    assert_one_log(&io, "after the close");
    let (s, _) = mem_open(&io, Durability::Process);
    assert_eq!(&snapshot(&s), track.lock().states.last().unwrap());
    (points, failures)
}

/// Every schedule in which the promotion pauses at most once: phases `..i` at writer point
/// `a`, phases `i..` at point `b >= a`, for every `i`, `a` and `b`. That runs each phase
/// at each point, and puts each stretch of the writer's calls between any two phases.
#[test]
fn every_schedule_of_the_promotion_against_the_writer_keeps_every_synced_record() {
    // The points the writer passes, whatever the promotion does meanwhile.
    let (points, failures) = run([usize::MAX; PHASES]);
    assert!(failures.is_empty(), "{failures:?}");
    // set, sync (msync and its inside, directory sync and its inside), set, set, sync, set
    assert_eq!(points, 2 + 4 + 2 + 2 + 2 + 2);
    let mut schedules = std::collections::BTreeSet::new();
    for i in 0..=PHASES {
        for a in 0..=points {
            for b in a..=points {
                let mut at = [b; PHASES];
                at[..i].fill(a);
                schedules.insert(at);
            }
        }
    }
    let mut bad = Vec::new();
    for at in &schedules {
        let (n, failures) = run(*at);
        assert_eq!(n, points);
        if let Some(f) = failures.first() {
            let phases: Vec<String> = PHASE_NAMES.iter().zip(at).map(|(p, k)| format!("{p} at {k}")).collect();
            bad.push(format!("[{}] {f}", phases.join(", ")));
        }
    }
    assert!(bad.is_empty(), "{} of {} schedules fail; first: {:#?}", bad.len(), schedules.len(), &bad[..bad.len().min(5)]);
    assert!(schedules.len() > 400, "{}", schedules.len());
}
