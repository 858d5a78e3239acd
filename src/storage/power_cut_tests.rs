//! Power cuts at every mutating call of a scripted workload.

use super::crash_tests::*;
use super::tests::*;
use super::*;
use crate::io::mem::MemIo;

/// One scripted step and its effect on a model of (key -> data) in insertion order.
enum Step {
    Set(&'static str, String),
    Remove(&'static str),
    Batch(Vec<(&'static str, String)>),
    Clear,
    Sync,
}

fn script() -> Vec<Step> {
    let mut v = Vec::new();
    for i in 0..40 {
        let k = ["a", "b", "c", "d", "e"][i % 5];
        match i % 9 {
            3 => v.push(Step::Remove(k)),
            5 => v.push(Step::Batch(vec![("x", format!("\"b{i}\"")), (k, format!("\"{}\"", "z".repeat(i * 500)))])),
            7 => v.push(Step::Sync),
            _ => v.push(Step::Set(k, format!("\"{}\"", "y".repeat(i * 3000)))),
        }
        if i == 30 {
            v.push(Step::Clear);
        }
    }
    v
}

type Model = Vec<(String, String)>;

fn apply(m: &mut Model, step: &Step) {
    let mut put = |k: &str, d: &str| match m.iter_mut().find(|(mk, _)| mk == k) {
        Some(e) => e.1 = d.to_string(),
        None => m.push((k.to_string(), d.to_string())),
    };
    match step {
        Step::Set(k, d) => put(k, d),
        Step::Batch(items) => items.iter().for_each(|(k, d)| put(k, d)),
        Step::Remove(k) => m.retain(|(mk, _)| mk != k),
        Step::Clear => m.clear(),
        Step::Sync => {}
    }
}

fn observed(s: &Store) -> Model {
    s.keys()
        .into_iter()
        .map(|k| {
            let d = s.get(&k).unwrap().data;
            (k, d)
        })
        .collect()
}

/// Run the script until the simulated process dies at mutating call `crash`; returns the
/// models after each acknowledged step (index 0: empty), and the model when the last
/// successful `sync` returned.
///
/// A deferred compaction's promotion runs in place, when the next compaction or the
/// close settles it, never on a thread: the calls counted, and so each cut point, are
/// the same in every run. The promotion's steps against each of the writer's are
/// `promotion_schedules`.
fn run_until_crash(io: &MemIo, d: Durability, crash: u64) -> (Vec<Model>, usize) {
    let (s, _) = mem_open(io, d);
    s.manual_promotion();
    io.faults().crash_at = Some(io.ops().saturating_add(crash));
    let mut models = vec![Model::new()];
    let mut synced = 0;
    for step in script() {
        let ok = match &step {
            Step::Set(k, d) => s.set(k, Value { data: d.clone(), data_type: None }, BIG).is_ok(),
            Step::Remove(k) => s.remove(k).is_ok(),
            Step::Batch(items) => s
                .set_batch(items.iter().map(|(k, d)| (k.to_string(), Value { data: d.clone(), data_type: None })).collect(), BIG)
                .is_ok(),
            Step::Clear => s.clear().is_ok(),
            Step::Sync => s.sync().is_ok(),
        };
        if !ok {
            break;
        }
        let mut m = models.last().unwrap().clone();
        apply(&mut m, &step);
        if matches!(step, Step::Sync) {
            synced = models.len();
        }
        models.push(m);
    }
    (models, synced)
}

#[test]
fn power_cut_at_every_point_of_a_scripted_workload_loses_nothing_acknowledged_in_power_mode() {
    let probe = MemIo::new();
    let (_, _) = run_until_crash(&probe, Durability::Power, u64::MAX);
    let total = probe.ops();
    assert!(total > 60, "the script makes {total} mutating calls");
    for crash in 1..=total {
        let io = MemIo::new();
        let (models, _) = run_until_crash(&io, Durability::Power, crash);
        io.power_cut();
        let (s, _) = mem_open(&io, Durability::Power);
        let seen = observed(&s);
        let acked = models.last().unwrap();
        // Everything acknowledged survived; at most the step in flight also made it.
        let next = script().get(models.len() - 1).map(|st| {
            let mut m = acked.clone();
            apply(&mut m, st);
            m
        });
        assert!(
            &seen == acked || Some(&seen) == next.as_ref(),
            "cut at call {crash}: {} acknowledged steps, store shows {seen:?}",
            models.len() - 1
        );
    }
}

#[test]
fn power_cut_at_every_point_in_process_mode_keeps_a_prefix_and_every_synced_record() {
    let probe = MemIo::new();
    run_until_crash(&probe, Durability::Process, u64::MAX);
    let total = probe.ops();
    for crash in 1..=total {
        let io = MemIo::new();
        let (models, synced) = run_until_crash(&io, Durability::Process, crash);
        io.power_cut();
        let (s, _) = mem_open(&io, Durability::Process);
        let seen = observed(&s);
        // The store opens and shows the state after some prefix of the steps (never a torn or
        // reordered one), at least everything up to the last sync that returned.
        let mut all = models.clone();
        if let Some(st) = script().get(models.len() - 1) {
            let mut m = models.last().unwrap().clone();
            apply(&mut m, st);
            all.push(m);
        }
        let at = all.iter().rposition(|m| m == &seen);
        assert!(
            at.is_some_and(|i| i >= synced),
            "cut at call {crash}: store shows no prefix at or after the last sync ({synced}): {seen:?}"
        );
    }
}
