//! Tests of the store under failures, kills and power cuts at every step (on the shared I/O
//! double `MemIo`), concurrency, and the upgrade of a version-1 log. The helpers here are
//! shared by `promotion_tests.rs` and `power_cut_tests.rs`.

use std::fs;
use std::time::Duration;

use super::files::LOG_NAME;
use super::tests::*;
use super::*;
use crate::io::mem::MemIo;

pub(super) const KV: &str = "/mem/kv";

pub(super) fn mem_open(io: &MemIo, d: Durability) -> (Store, LogReport) {
    Store::open_with_io(Path::new(KV), d, io.arc()).unwrap()
}

/// What a settled store's directory holds: its log, and maybe a spare, all zeros.
pub(super) fn assert_one_log(io: &MemIo, what: &str) {
    let mut names = io.names();
    let spare = Path::new(KV).join(promote::SPARE_NAME);
    if let Some(at) = names.iter().position(|n| *n == spare) {
        let bytes = io.bytes(&spare).unwrap();
        assert!(bytes.iter().all(|&b| b == 0), "{what}: a spare that is not all zeros");
        names.remove(at);
    }
    assert_eq!(names, vec![Path::new(KV).join(LOG_NAME)], "{what}: one log");
}

/// The log in the simulated file, without its zero tail.
pub(super) fn mem_log(io: &MemIo) -> Vec<u8> {
    let mut bytes = io.bytes(&Path::new(KV).join(LOG_NAME)).unwrap();
    let (end, _) = recovery::scan(&bytes, |r| record::parse(&bytes, r, |_| {}));
    bytes.truncate(end);
    bytes
}

#[test]
fn failed_write_changes_nothing_and_the_next_write_works() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Process);
    s.set("a", v("1"), BIG).unwrap();
    s.set("b", v("2"), BIG).unwrap();
    let before = snapshot(&s);
    let log = mem_log(&io);
    let attempts: [&dyn Fn() -> Result<(), StoreError>; 4] = [
        &|| s.set("a", v("999"), BIG),
        &|| s.set_batch(vec![kv("c", v("3")), kv("a", v("4"))], BIG),
        &|| s.remove("a").map(drop),
        &|| s.clear(),
    ];
    // The copy of the payload fails (step 1), or that of the frame header after it (step 2).
    for step in [1, 2] {
        for (i, attempt) in attempts.iter().enumerate() {
            io.faults().crash_at = Some(io.ops() + step);
            assert!(matches!(attempt(), Err(StoreError::Io(_))), "attempt {i} step {step}");
            io.faults().crash_at = None;
            assert_eq!(snapshot(&s), before, "attempt {i} step {step}");
            assert_eq!(s.size(), 4);
            assert_eq!(mem_log(&io), log, "attempt {i} step {step}: the log ends where it did");
        }
    }
    // The disk is full when the file must grow: nothing changes, and the write after works.
    io.faults().fail_allocate = 1;
    assert!(matches!(s.set("big", v(&"x".repeat(10_000)), BIG), Err(StoreError::Io(_))));
    assert_eq!((snapshot(&s), mem_log(&io)), (before.clone(), log.clone()));
    s.set("c", v("3"), BIG).unwrap();
    let mut want = log.clone();
    want.extend_from_slice(&set_bytes("c", &v("3")));
    assert_eq!(mem_log(&io), want);
    drop(s);
    let (s, r) = mem_open(&io, Durability::Process);
    assert_eq!((r.records, r.truncated_bytes), (3, 0), "stale bytes of the failed copies were zeroed");
    assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("b", v("2")), kv("c", v("3"))]);
}

#[test]
fn process_mode_survives_a_kill_but_only_sync_survives_a_power_cut() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Process);
    for i in 0..10 {
        s.set(&format!("k{i}"), v("1"), BIG).unwrap();
    }
    drop(s);
    // Killed: the OS still has everything.
    let (s, r) = mem_open(&io, Durability::Process);
    assert_eq!((r.records, s.len()), (10, 10));
    drop(s);
    io.power_cut();
    let (s, r) = mem_open(&io, Durability::Process);
    assert_eq!((r.records, s.len()), (0, 0), "nothing was ever synced");
    for i in 0..3 {
        s.set(&format!("k{i}"), v("1"), BIG).unwrap();
    }
    s.sync().unwrap();
    s.set("lost", v("1"), BIG).unwrap();
    drop(s);
    io.power_cut();
    let (s, _) = mem_open(&io, Durability::Process);
    assert_eq!(s.keys(), ["k0", "k1", "k2"]);
}

#[test]
fn power_mode_group_commit_shares_flushes() {
    let io = MemIo::new();
    io.set_sync_delay(Duration::from_millis(1));
    let (s, _) = mem_open(&io, Durability::Power);
    let syncs_at_open = io.syncs();
    std::thread::scope(|sc| {
        for t in 0..8 {
            let s = &s;
            sc.spawn(move || {
                for i in 0..200 {
                    s.set(&format!("t{t}-{i}"), vt(&format!("{}", t * 1000 + i), "Number"), BIG).unwrap();
                }
            });
        }
    });
    let syncs = io.syncs() - syncs_at_open;
    assert!(syncs >= 1);
    assert!(syncs < 1600, "every set flushed alone: {syncs} syncs");
    drop(s);
    io.power_cut();
    let (s, r) = mem_open(&io, Durability::Power);
    assert_eq!((r.records, r.truncated_bytes, s.len()), (1600, 0, 1600));
    for t in 0..8 {
        for i in 0..200 {
            assert_eq!(s.get(&format!("t{t}-{i}")).unwrap(), vt(&format!("{}", t * 1000 + i), "Number"));
        }
    }
}

#[test]
fn power_mode_failed_flush_is_reported() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Power);
    s.set("a", v("1"), BIG).unwrap();
    // The next mutating calls are the two copies (payload, then header), then the flush.
    io.faults().crash_at = Some(io.ops() + 3);
    assert!(matches!(s.set("b", v("2"), BIG), Err(StoreError::Io(_))));
    io.faults().crash_at = None;
    // Not durable yet, so it was reported; the next flush covers it.
    s.set("c", v("3"), BIG).unwrap();
    drop(s);
    io.power_cut();
    let (s, _) = mem_open(&io, Durability::Power);
    assert_eq!(s.keys(), ["a", "b", "c"]);
}

/// Kills the process at every single IO call of a compaction (and of the write that triggers
/// it), then cuts the power: the log must come back whole, old or new.
#[test]
fn crash_at_any_step_of_compaction_leaves_a_complete_log() {
    let hot = |i: usize| v(&format!("{i:02000}"));
    let fill = |io: &MemIo, upto: usize| {
        let (s, _) = mem_open(io, Durability::Power);
        s.set("a", vt("1", "Number"), BIG).unwrap();
        s.set("hot", hot(0), BIG).unwrap();
        s.set("z", v("2"), BIG).unwrap();
        for i in 1..upto {
            s.set("hot", hot(i), BIG).unwrap();
        }
        s
    };
    // Find the set that triggers the compaction.
    let io = MemIo::new();
    let s = fill(&io, 1);
    let mut trigger = 1;
    loop {
        s.set("hot", hot(trigger), BIG).unwrap();
        if s.stats().compactions == 1 {
            break;
        }
        trigger += 1;
    }
    drop(s);
    let state = |i| vec![kv("a", vt("1", "Number")), kv("hot", hot(i)), kv("z", v("2"))];
    let (old, new) = (state(trigger - 1), state(trigger));

    let mut crash_points = 0;
    for step in 1.. {
        let io = MemIo::new();
        let s = fill(&io, trigger);
        let crash_at = io.ops() + step;
        io.faults().crash_at = Some(crash_at);
        let r = s.set("hot", hot(trigger), BIG);
        let crashed = io.ops() >= crash_at;
        drop(s);
        io.power_cut();
        let (s, rep) = mem_open(&io, Durability::Power);
        let got = snapshot(&s);
        assert!(got == old || got == new, "step {step}");
        if r.is_ok() {
            assert_eq!(got, new, "step {step}: acknowledged but lost");
        }
        assert_eq!(rep.truncated_bytes, 0, "step {step}: not a complete log");
        assert_eq!(io.names(), vec![Path::new(KV).join(LOG_NAME)], "step {step}");
        if !crashed {
            assert!(r.is_ok());
            assert_eq!(got, new);
            break;
        }
        crash_points += 1;
    }
    // append, compact (remove, create, write, sync, rename, sync dir), flush
    assert!(crash_points >= 7, "{crash_points}");
}

/// How a deferred compaction's crash test stops the store: a kill, or a power cut (after the OS
/// wrote the directory back on its own, or not), at mutating call `step` of the window.
#[derive(Clone, Copy)]
struct Cut {
    power: bool,
    written_back: bool,
    step: u64,
}

/// The window of a deferred compaction's crash tests, from a store `s` one set short of a
/// compaction: the set of "hot" to `first` (which compacts), a set, a flush, a set, the settle;
/// then the cut, the reopen and its checks. `m` is the store's state, `states` every state since
/// the synced base, `durable` the index of the last one acknowledged durable (by the flush, or
/// by the promotion: the state the compaction wrote). A kill must leave
/// what was acknowledged; a power cut a state at or after `durable`; either, one log (and
/// perhaps a spare of zeros). Returns whether the cut fell inside the window.
#[allow(clippy::too_many_arguments)]
fn compaction_window(
    io: &MemIo,
    s: Store,
    crash_at: u64,
    first: Value,
    mut m: Model,
    mut states: Vec<Vec<(String, Value)>>,
    mut durable: usize,
    cut: Cut,
) -> bool {
    let step = cut.step;
    let mut acked = m.0.clone();
    let mut step_ok = |r: bool, m: &Model, states: &mut Vec<_>| {
        if r {
            states.push(m.0.clone());
            acked = m.0.clone();
        }
    };
    m.set("hot", first.clone());
    step_ok(s.set("hot", first, BIG).is_ok(), &m, &mut states);
    // What the compaction wrote: the state it left, all the promotion makes durable.
    let compacted = states.len() - 1;
    m.set("b", v("3"));
    step_ok(s.set("b", v("3"), BIG).is_ok(), &m, &mut states);
    if s.sync().is_ok() {
        durable = states.len() - 1;
    }
    m.set("c", v("4"));
    step_ok(s.set("c", v("4"), BIG).is_ok(), &m, &mut states);
    // A promotion syncs the new log's compacted part (when there is one: the compaction may
    // have failed), and not the records stored into it since.
    let pending = s.inner.read().log.promotion_pending();
    if s.settle().is_ok() && pending {
        durable = durable.max(compacted);
    }
    let crashed = io.ops() >= crash_at;
    drop(s);
    if cut.written_back {
        io.write_back_dir(Path::new(KV));
    }
    if cut.power {
        io.power_cut();
    } else {
        io.faults().crash_at = None;
    }
    let (s, _) = mem_open(io, Durability::Process);
    let got = snapshot(&s);
    if cut.power {
        let at = states.iter().position(|st| *st == got);
        assert!(at.is_some_and(|i| i >= durable), "step {step}: {at:?} not a state at or after {durable}");
    } else {
        assert_eq!(got, acked, "step {step}: acknowledged but lost, or applied but not acknowledged");
    }
    // (The reopen may compact again: the compaction this step broke is still due.)
    s.settle().unwrap();
    assert_one_log(io, &format!("step {step}"));
    // Past the window, a kill leaves every set; a power cut what was flushed (checked above:
    // process durability makes a set durable at a flush, and the last set came after it).
    if !crashed && !cut.power {
        assert_eq!(got, m.0);
    }
    crashed
}

/// Process mode: a compaction's new log goes live before it is synced and renamed over
/// `data.log`. A kill at any I/O call of the compaction, of the writes and the flush made
/// while it is live under its temporary name, or of its promotion, loses nothing
/// acknowledged and leaves one log; a power cut at any of them leaves a state the store was
/// in, no older than the last acknowledged flush.
#[test]
fn kill_or_power_cut_at_any_step_of_a_deferred_compaction() {
    let hot = |i: usize| v(&format!("{i:02000}"));
    let base = vec![kv("a", vt("1", "Number")), kv("z", v("2"))];
    let fill = |io: &MemIo, upto: usize| {
        let (s, _) = mem_open(io, Durability::Process);
        s.manual_promotion();
        for (k, val) in &base {
            s.set(k, val.clone(), BIG).unwrap();
        }
        s.sync().unwrap();
        for i in 0..upto {
            s.set("hot", hot(i), BIG).unwrap();
        }
        s
    };
    // The set that triggers the compaction, and the new log's temporary name.
    let io = MemIo::new();
    let s = fill(&io, 0);
    let mut trigger = 0;
    while s.stats().compactions == 0 {
        s.set("hot", hot(trigger), BIG).unwrap();
        trigger += 1;
    }
    let trigger = trigger - 1;
    let names = io.names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[1].to_string_lossy().contains(files::NEXT_PREFIX), "{names:?}");
    drop(s);

    let mut crash_points = 0;
    // A kill; a power cut; a power cut after the OS wrote the directory back on its own.
    for (power_cut, written_back) in [(false, false), (true, false), (true, true)] {
        for step in 1.. {
            let io = MemIo::new();
            let s = fill(&io, trigger);
            let crash_at = io.ops() + step;
            io.faults().crash_at = Some(crash_at);
            // Every state the store went through since the synced base.
            let mut m = Model(base.clone());
            let mut states = vec![m.0.clone()];
            for i in 0..trigger {
                m.set("hot", hot(i));
                states.push(m.0.clone());
            }
            let cut = Cut { power: power_cut, written_back, step };
            if !compaction_window(&io, s, crash_at, hot(trigger), m, states, 0, cut) {
                break;
            }
            crash_points += 1;
        }
    }
    // set (append, compaction: remove, create, write, allocate, open, map), set, flush
    // (msync, directory sync), set, promotion (sync, link, rename, directory sync), spare (open,
    // write, sync, rename): three times.
    assert!(crash_points >= 3 * 12, "{crash_points}");
}

/// Process mode, a compaction into the spare: the second compaction writes into the log the
/// first one retired, whose records were durable and are now zeros, synced. A kill at any I/O
/// call from that compaction through its promotion and the making of the next spare loses
/// nothing acknowledged and leaves one log (and perhaps a spare, all zeros); a power cut at any
/// of them leaves a state the store was in, no older than the last acknowledged flush: never a
/// record of the retired log come back.
#[test]
fn kill_or_power_cut_at_any_step_of_a_compaction_into_the_spare() {
    let hot = |i: usize| v(&format!("{i:02000}"));
    let base = vec![kv("a", vt("1", "Number")), kv("z", v("2"))];
    // The synced base, the hot key set until the first compaction, that compaction settled
    // (the base log becomes the spare), then `more` sets; with every state since the base and
    // the index of the last one durable.
    let fill = |io: &MemIo, more: usize| {
        let (s, _) = mem_open(io, Durability::Process);
        s.manual_promotion();
        for (k, val) in &base {
            s.set(k, val.clone(), BIG).unwrap();
        }
        s.sync().unwrap();
        let mut m = Model(base.clone());
        let mut states = vec![m.0.clone()];
        let mut i = 0;
        while s.stats().compactions == 0 {
            s.set("hot", hot(i), BIG).unwrap();
            m.set("hot", hot(i));
            states.push(m.0.clone());
            i += 1;
        }
        s.settle().unwrap();
        let durable = states.len() - 1;
        for j in 0..more {
            s.set("hot", hot(1000 + j), BIG).unwrap();
            m.set("hot", hot(1000 + j));
            states.push(m.0.clone());
        }
        (s, m, states, durable)
    };
    // How many more sets make the second compaction, which takes the spare.
    let io = MemIo::new();
    let (s, ..) = fill(&io, 0);
    let spare = Path::new(KV).join(promote::SPARE_NAME);
    assert!(io.names().contains(&spare), "the first compaction's promotion made a spare: {:?}", io.names());
    let mut more = 0;
    while s.stats().compactions == 1 {
        s.set("hot", hot(1000 + more), BIG).unwrap();
        more += 1;
    }
    let more = more - 1;
    assert!(!io.names().contains(&spare), "the second compaction took the spare: {:?}", io.names());
    drop(s);

    let mut crash_points = 0;
    // A kill; a power cut; a power cut after the OS wrote the directory back on its own (the
    // spare's name durable, whatever its bytes are).
    for (power_cut, written_back) in [(false, false), (true, false), (true, true)] {
        for step in 1.. {
            let io = MemIo::new();
            let (s, m, states, durable) = fill(&io, more);
            let crash_at = io.ops() + step;
            io.faults().crash_at = Some(crash_at);
            let cut = Cut { power: power_cut, written_back, step };
            if !compaction_window(&io, s, crash_at, hot(1000 + more), m, states, durable, cut) {
                break;
            }
            crash_points += 1;
        }
    }
    // set (append, compaction: remove, spare: open, rename, write, allocate, open, map), set,
    // flush, set, promotion (sync, remove, link, rename, directory sync), spare (open, write,
    // sync, rename): three times.
    assert!(crash_points >= 3 * 18, "{crash_points}");
}

/// The spare's name against the thread that makes spares: another spare may take the name at
/// any instant (the maker renames over it). Before each of the first I/O calls of the
/// compaction that takes the spare, a new spare of zeros takes the name; whatever the instant,
/// the compacted log is the one that goes live: every value reads back, before and after a
/// reopen. (Opened by its name and then renamed by it, the spare was two files at that
/// instant: the compacted log went into one and the other, all zeros, went live.)
#[test]
fn a_spare_replaced_at_any_instant_of_the_compaction_that_takes_it() {
    let hot = |i: usize| v(&format!("{i:02000}"));
    let spare = Path::new(KV).join(promote::SPARE_NAME);
    // A store whose first compaction made a spare, given the hot key's first `upto` values or
    // until its second compaction; with its model and the number of values given.
    let ready = |io: &MemIo, upto: usize| {
        let (s, _) = mem_open(io, Durability::Process);
        s.manual_promotion();
        let mut m = Model(vec![kv("a", v("1"))]);
        s.set("a", v("1"), BIG).unwrap();
        let mut i = 0;
        while i < upto && s.stats().compactions < 2 {
            if s.stats().compactions == 1 && io.bytes(&spare).is_none() {
                s.settle().unwrap();
            }
            s.set("hot", hot(i), BIG).unwrap();
            m.set("hot", hot(i));
            i += 1;
        }
        (s, m, i)
    };
    // The value whose set makes the second compaction.
    let last = ready(&MemIo::new(), usize::MAX).2 - 1;
    let mut taken = 0;
    for at in 1..=12u64 {
        let io = MemIo::new();
        let (s, mut m, _) = ready(&io, last);
        assert!(io.bytes(&spare).is_some(), "a spare before the second compaction");
        let len = io.bytes(&spare).unwrap().len();
        // Before the `at`th I/O call from here on, a new spare takes the name.
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (hook_io, hook_calls, hook_spare) = (io.clone(), calls.clone(), spare.clone());
        io.set_hook(Some(std::sync::Arc::new(move |point| {
            if point == crate::io::mem::Point::Call && hook_calls.fetch_add(1, Ordering::SeqCst) + 1 == at {
                hook_io.put(&hook_spare, &vec![0; len]);
            }
        })));
        s.set("hot", hot(last), BIG).unwrap();
        m.set("hot", hot(last));
        io.set_hook(None);
        assert_eq!(s.stats().compactions, 2);
        taken += usize::from(io.bytes(&spare).is_none());
        assert_eq!(snapshot(&s), m.0, "a new spare before call {at}: the live log");
        drop(s);
        let (s, _) = mem_open(&io, Durability::Process);
        assert_eq!(snapshot(&s), m.0, "a new spare before call {at}: after a reopen");
    }
    assert!(taken > 0, "no compaction took the spare");
}

/// A store that shrinks lets go of its long logs: once a compaction's slack is that of small
/// records, neither a long spare nor a long retired log is kept, and the log's file is short again.
#[test]
fn a_shrunk_store_keeps_no_long_spare() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Process);
    s.manual_promotion();
    let spare = Path::new(KV).join(promote::SPARE_NAME);
    let compact_with = |s: &Store, val: &dyn Fn(usize) -> Value| {
        let n = s.stats().compactions;
        let mut i = 0;
        while s.stats().compactions == n {
            s.set(&format!("k{}", i % 8), val(i), BIG).unwrap();
            i += 1;
        }
        s.settle().unwrap();
    };
    let big = |i: usize| v(&format!("\"{}\"", "b".repeat(30_000 + i % 7)));
    compact_with(&s, &big);
    compact_with(&s, &big);
    let long = io.bytes(&spare).expect("a spare after two compactions of large values").len();
    s.clear().unwrap();
    let small = |i: usize| v(&i.to_string());
    // The first compaction after the clear still has the large records' slack (and takes the
    // long spare); the second has a small one: it writes a new file, and lets go of the long one
    // it replaced rather than make it the spare.
    compact_with(&s, &small);
    compact_with(&s, &small);
    let log_len = io.bytes(&Path::new(KV).join(LOG_NAME)).unwrap().len();
    assert!(log_len < long / 4, "the log's file is {log_len} bytes, the long spare was {long}");
    if let Some(b) = io.bytes(&spare) {
        assert!(b.len() < long / 4, "a spare of {} bytes kept (the long one was {long})", b.len());
    }
    assert_one_log(&io, "after the shrink");
}

/// On the real file system: the process stops (the store is never dropped) while a
/// compacted log is live under its temporary name, with writes after it. `verify` reports it,
/// and the next open takes it, with every write, and leaves one log.
#[test]
fn a_stop_before_the_rename_keeps_the_new_log_and_its_writes() {
    let t = TempDir::new("pending-next");
    let (s, _) = open(t.path());
    s.manual_promotion();
    let mut m = Model::default();
    let mut i = 0;
    while s.stats().compactions == 0 {
        let val = v(&format!("{i:01000}"));
        s.set(&format!("k{}", i % 3), val.clone(), BIG).unwrap();
        m.set(&format!("k{}", i % 3), val);
        i += 1;
    }
    s.set("after", v("1"), BIG).unwrap();
    m.set("after", v("1"));
    // A kill: no close, no promotion; everything written is in the OS.
    std::mem::forget(s);
    let names = || {
        let mut n: Vec<String> =
            fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        n.sort();
        n
    };
    assert_eq!(names().len(), 2, "{:?}", names());
    assert!(verify(t.path()).unwrap().pending_next);
    let (s, r) = open(t.path());
    assert_eq!(snapshot(&s), m.0);
    assert_eq!(r.truncated_bytes, 0);
    assert_eq!(names(), vec![LOG_NAME.to_string()]);
    assert!(!verify(t.path()).unwrap().pending_next);
}

/// The rename of a compaction is in place but the directory sync fails: the next flush must
/// sync the directory before it acknowledges anything.
#[test]
fn failed_directory_sync_after_compaction_is_retried_by_the_flush() {
    let io = MemIo::new();
    let (s, _) = mem_open(&io, Durability::Power);
    s.set("a", v("1"), BIG).unwrap();
    // Only a compaction syncs the directory from here on.
    io.faults().fail_sync_dir = 1;
    let mut val = v("");
    for i in 0..1000 {
        val = v(&format!("{i:02000}"));
        s.set("hot", val.clone(), BIG).unwrap();
        if s.stats().compactions == 1 {
            break;
        }
    }
    assert_eq!(s.stats().compactions, 1);
    assert_eq!(io.faults().fail_sync_dir, 0, "the compaction's dir sync failed");
    drop(s);
    io.power_cut();
    let (s, r) = mem_open(&io, Durability::Power);
    assert_eq!(r.records, 2, "the compacted log is the live one");
    assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("hot", val)]);
}

#[test]
fn concurrent_sets_and_removes_match_after_reopen() {
    let t = TempDir::new("mixed");
    let (s, _) = open(t.path());
    std::thread::scope(|sc| {
        for th in 0..8u64 {
            let s = &s;
            sc.spawn(move || {
                let mut x = th.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                for i in 0..500 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = format!("key-{}", x % 24);
                    if x % 3 == 0 {
                        s.remove(&key).unwrap();
                    } else {
                        let val =
                            Value { data: format!("{th}-{i}-{:0100}", x % 1000), data_type: (x % 2 == 0).then(|| "T".into()) };
                        s.set(&key, val, BIG).unwrap();
                    }
                }
            });
        }
    });
    let st = s.stats();
    assert!(st.compactions >= 1, "the run should cross a compaction: {st:?}");
    let before = snapshot(&s);
    let size: u64 = before.iter().map(|(k, val)| item_size(k, val)).sum();
    assert_eq!((s.size(), s.len()), (size, before.len()));
    drop(s);
    let (s, r) = open(t.path());
    assert_eq!(r.truncated_bytes, 0);
    assert_eq!(snapshot(&s), before);
    assert_eq!(s.size(), size);
}

/// A version-1 log as release 0.1.0 wrote it, ending in a torn record, and the items it holds.
pub(super) fn v1_log() -> (Vec<u8>, Vec<(String, Value)>) {
    use super::v1::{write, Record};
    let mut b = write::header();
    let recs = [
        Record::Set { key: "a".into(), value: v("1") },
        Record::Set { key: "b".into(), value: vt("\"2026-01-02T03:04:05.000Z\"", "Date") },
        Record::Batch(vec![kv("c", v("[3]")), kv("a", vt("", ""))]),
        Record::Remove { key: "c".into() },
        Record::Clear,
        Record::Set { key: "日本".into(), value: v("{\"x\":\"ü\"}") },
        Record::Batch(vec![kv("b", vt("2", "Number")), kv("e", v("null"))]),
        Record::Set { key: "日本".into(), value: v("true") },
    ];
    for r in &recs {
        write::record(&mut b, r);
    }
    // A kill in the middle of the next set.
    let mut torn = Vec::new();
    write::record(&mut torn, &Record::Set { key: "lost".into(), value: v("1") });
    b.extend_from_slice(&torn[..torn.len() - 3]);
    (b, vec![kv("日本", v("true")), kv("b", vt("2", "Number")), kv("e", v("null"))])
}

#[test]
fn a_v1_log_is_upgraded_with_every_record() {
    let t = TempDir::new("upgrade");
    fs::create_dir_all(t.path()).unwrap();
    let (old, items) = v1_log();
    fs::write(t.path().join(LOG_NAME), &old).unwrap();
    let (s, r) = open(t.path());
    assert_eq!((r.upgraded_from, r.records, r.truncated_bytes), (Some(1), 8, 20));
    assert_eq!(snapshot(&s), items);
    assert_eq!(s.size(), (6 + 4) + (1 + 1 + 6) + (1 + 4));
    drop(s);
    assert_eq!(log_bytes(t.path()), compacted(&items), "rewritten in the current format");
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1, "no stray files");
    let (s, r) = open(t.path());
    assert_eq!((r.upgraded_from, r.records, r.truncated_bytes), (None, 3, 0));
    assert_eq!(snapshot(&s), items);
}

/// A kill, or a power cut, at every I/O call of the upgrade: the next open finds the old
/// log or the new one, each with every record, and finishes the job.
#[test]
fn a_kill_or_power_cut_at_every_step_of_the_upgrade_leaves_the_old_log_or_the_new() {
    let (old, items) = v1_log();
    let path = Path::new(KV).join(LOG_NAME);
    for step in 1u64.. {
        for power_cut in [false, true] {
            let io = MemIo::new();
            io.put(&path, &old);
            io.faults().crash_at = Some(io.ops() + step);
            let first = Store::open_with_io(Path::new(KV), Durability::Process, io.arc());
            let crashed = io.ops() >= io.faults().crash_at.unwrap();
            drop(first);
            if power_cut {
                io.power_cut();
            } else {
                io.faults().crash_at = None;
            }
            // Either file is whole: the old one byte for byte, or a new one.
            let on_disk = io.bytes(&path).unwrap();
            assert!(on_disk == old || on_disk.starts_with(&compacted(&items)), "step {step}, cut {power_cut}");
            let (s, r) = mem_open(&io, Durability::Process);
            assert_eq!(snapshot(&s), items, "step {step}, cut {power_cut}");
            assert_eq!(r.upgraded_from.is_some(), on_disk == old, "step {step}, cut {power_cut}");
            assert_eq!(io.names(), vec![path.clone()], "step {step}, cut {power_cut}");
            if !crashed {
                assert!(step >= 7, "remove, create, write, allocate, sync, rename, sync dir: {step}");
                return;
            }
        }
    }
}
