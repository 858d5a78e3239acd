//! Group commit: how a write in `power` durability becomes durable before it returns, with
//! concurrent writers sharing flushes (see `Flushed`). The store's lock order is in `mod.rs`:
//! `inner`, then `flushed`; a flusher never holds `flushed` while it takes `inner`, and a writer
//! waiting for a flush holds neither.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::MutexGuard;

use super::{log, Durability, Store, StoreError};

/// Longest a flush leader waits for writers in progress; a flush takes ~100 µs and more.
const LINGER: Duration = Duration::from_micros(100);

/// Most flights (flushes) in flight at once (see `Flushed`). One: on the 2-core virtual
/// machine's ext4 disk the benchmarks run on, flushes from several threads at once do not
/// overlap much (8 threads each running `write + fdatasync` made 2.1-3.1 times the syncs per
/// second of one thread in quiet runs), and two flights at once gave no more sets per second
/// from 8 threads than one flight and a pending one (medians 32.1 and 33.9 thousand; 8
/// flights, one per writer, 21-25 thousand). The slots admit more for a disk that does
/// overlap flushes.
pub(super) const FLIGHTS: usize = 1;

/// Group commit state. Positions are `Log::pos` values, which survive a switch of files.
///
/// A flight is one flush of the log and the writers it acknowledges. Up to `FLIGHTS` fly at
/// once; a writer whose record no flight covers when it arrives either starts one or, when
/// all are flying, joins (or opens) the one pending flight, which starts as soon as a flight
/// lands. A flight covers every record appended before it reads its plan (`Log::pos` under
/// the store lock), and a writer joins a flight only when its record is among those: the
/// flight has not read its plan yet (`Pending`, `Gathering`: the plan is read only after a
/// change of stage under this lock, so after the writer joined, so after its append), or its
/// plan covers the record (`Flushing`). So a writer returns Ok only after a flush that began
/// after its append has completed; a flight's error goes to each writer that joined it, even
/// when another flight covered that writer since.
pub(super) struct Flushed {
    /// Everything written up to here is on stable storage: the most any flight that landed
    /// without error covered.
    upto: u64,
    /// `FLIGHTS + 1` slots: at most `FLIGHTS` flying and one pending.
    pub(super) flights: Vec<Flight>,
    /// Flights in `Gathering` or `Flushing`.
    flying: usize,
    /// The last ticket given; tickets start at 1 (0 is a free slot).
    tickets: u64,
    /// Per slot: the writers parked on its flight.
    sleepers: Vec<Vec<std::thread::Thread>>,
    /// Errors of flights that failed, until each of their writers has taken its copy.
    failures: Vec<Failure>,
    /// Flushes failed (or panicked) so far: a flight that was flying while one failed fails
    /// too (see `fly`).
    failed: u64,
    /// The error of the last of them.
    last_failure: Option<Failure>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Stage {
    Free,
    /// Waits for a flight to land before it flies; covers whatever is appended before then.
    Pending,
    /// Flying but its plan not yet read: covers everything appended so far.
    Gathering,
    /// Its plan read or being read: covers `covers` (at least).
    Flushing,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Flight {
    ticket: u64,
    pub(super) stage: Stage,
    /// While `Flushing`: a position the flight covers; the exact one once its plan is read.
    covers: u64,
    /// Writers waiting on it, the flusher not counted.
    pub(super) waiters: usize,
    /// `Flushed::failed` when it started to fly.
    failed_before: u64,
}

const FREE: Flight = Flight { ticket: 0, stage: Stage::Free, covers: 0, waiters: 0, failed_before: 0 };

/// What a failed flight tells each of its waiters: an `io::Error` is not `Clone`.
struct Failure {
    ticket: u64,
    waiters: usize,
    kind: io::ErrorKind,
    os: Option<i32>,
    text: String,
}

impl Failure {
    fn of(ticket: u64, waiters: usize, e: &io::Error) -> Failure {
        Failure { ticket, waiters, kind: e.kind(), os: e.raw_os_error(), text: e.to_string() }
    }

    fn error(&self) -> io::Error {
        match self.os {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.text.clone()),
        }
    }
}

impl Flushed {
    pub(super) fn new(flights: usize) -> Flushed {
        Flushed {
            upto: 0,
            flights: vec![FREE; flights + 1],
            sleepers: vec![Vec::new(); flights + 1],
            flying: 0,
            tickets: 0,
            failures: Vec::new(),
            failed: 0,
            last_failure: None,
        }
    }

    /// A flight that covers a record ending at `upto`: one flushing that is known to, else one
    /// that has not read its plan yet.
    fn joinable(&self, upto: u64) -> Option<usize> {
        let by =
            |stage: Stage| self.flights.iter().position(|f| f.stage == stage && (stage != Stage::Flushing || f.covers >= upto));
        by(Stage::Flushing).or_else(|| by(Stage::Gathering)).or_else(|| by(Stage::Pending))
    }

    /// A free slot, with a new ticket.
    fn open(&mut self, stage: Stage, covers: u64) -> (usize, u64) {
        let i = self.flights.iter().position(|f| f.stage == Stage::Free).expect("a slot is free");
        self.tickets += 1;
        self.flights[i] = Flight { ticket: self.tickets, stage, covers, waiters: 0, failed_before: self.failed };
        (i, self.tickets)
    }

    /// A writer stops waiting on flight `ticket` in slot `i` (it returns): it is no longer
    /// owed a copy of that flight's error.
    fn leave(&mut self, i: usize, ticket: u64) {
        if self.flights[i].ticket == ticket {
            self.flights[i].waiters -= 1;
        } else if let Some(k) = self.failures.iter().position(|x| x.ticket == ticket) {
            self.failures[k].waiters -= 1;
            if self.failures[k].waiters == 0 {
                self.failures.swap_remove(k);
            }
        }
    }

    /// The error of flight `ticket` if it failed; the waiter's copy is taken.
    fn take_failure(&mut self, ticket: u64) -> Option<io::Error> {
        let k = self.failures.iter().position(|x| x.ticket == ticket)?;
        let e = self.failures[k].error();
        self.failures[k].waiters -= 1;
        if self.failures[k].waiters == 0 {
            self.failures.swap_remove(k);
        }
        Some(e)
    }
}

impl Store {
    /// Everything up to `pos` is on stable storage, made so outside a flight (a compaction's
    /// log, synced whole and its rename made durable).
    pub(super) fn durable_up_to(&self, pos: u64) {
        let mut f = self.flushed.lock();
        f.upto = f.upto.max(pos);
        self.durable.store(f.upto, Ordering::Release);
    }

    /// Makes a write that ended at `end` as durable as the store promises.
    ///
    /// In `Power` mode a failed flush is reported, but the change stays applied in memory (and
    /// in the OS): later writers may already have written behind it, so it cannot be taken back.
    pub(super) fn commit(&self, end: u64) -> Result<(), StoreError> {
        match self.durability {
            Durability::Process => Ok(()),
            Durability::Power => self.flush_to(end).map_err(StoreError::Io),
        }
    }

    /// Group commit: returns once a flush that read the log's end at or after `upto` has
    /// completed without error (see `Flushed`).
    pub(super) fn flush_to(&self, upto: u64) -> io::Result<()> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let res = self.flush_to_inner(upto);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        res
    }

    fn flush_to_inner(&self, upto: u64) -> io::Result<()> {
        if self.durable.load(Ordering::Acquire) >= upto {
            return Ok(());
        }
        let mut f = self.flushed.lock();
        if f.upto >= upto {
            return Ok(());
        }
        if let Some(i) = f.joinable(upto) {
            let flight = &mut f.flights[i];
            flight.waiters += 1;
            if flight.stage != Stage::Flushing {
                flight.covers = flight.covers.max(upto);
            }
            let ticket = flight.ticket;
            f.sleepers[i].push(std::thread::current());
            drop(f);
            return self.wait_for(i, ticket, upto);
        }
        if f.flying < FLIGHTS {
            let linger = self.should_linger();
            let (i, ticket) = f.open(if linger { Stage::Gathering } else { Stage::Flushing }, upto);
            f.flying += 1;
            return self.fly(f, i, ticket, linger);
        }
        // Every flight is flying and none covers this record: open the pending one and start
        // it when one lands.
        let (i, ticket) = f.open(Stage::Pending, upto);
        while f.flying >= FLIGHTS {
            self.slot_cv.wait(&mut f);
        }
        let linger = self.should_linger();
        let failed = f.failed;
        let flight = &mut f.flights[i];
        flight.stage = if linger { Stage::Gathering } else { Stage::Flushing };
        flight.failed_before = failed;
        f.flying += 1;
        self.fly(f, i, ticket, linger)
    }

    /// Waits, parked, for flight `ticket` in slot `i`, which this writer joined (it covers
    /// `upto`). A writer whose flight landed without error learns it from `landed` alone: the
    /// writers a flight wakes at once do not queue for the lock one after another.
    fn wait_for(&self, i: usize, ticket: u64, upto: u64) -> io::Result<()> {
        loop {
            let landed = self.landed[i].load(Ordering::Acquire);
            if landed == ticket << 1 {
                return Ok(());
            }
            // Landed with an error, or landed and the slot flew again since; or covered by
            // another flight while this one flies.
            if landed >> 1 >= ticket || self.durable.load(Ordering::Acquire) >= upto {
                let mut f = self.flushed.lock();
                // The flight's error first: a flight that failed may have lost this record
                // even if a later one, which the error was not reported to, succeeded.
                if let Some(e) = f.take_failure(ticket) {
                    return Err(e);
                }
                if f.upto >= upto {
                    f.leave(i, ticket);
                    return Ok(());
                }
            }
            std::thread::park();
        }
    }

    /// Flies flight `ticket` in slot `i` (opened by this writer, counted in `flying`): flushes
    /// and lands it, waking its waiters.
    fn fly(&self, mut f: MutexGuard<'_, Flushed>, i: usize, ticket: u64, linger: bool) -> io::Result<()> {
        // A panicking LogIo must not leave the flight flying: its waiters would wait forever.
        let res = MutexGuard::unlocked(&mut f, || {
            panic::catch_unwind(AssertUnwindSafe(|| {
                if linger {
                    self.linger();
                    // From here on a writer joins only if the plan covers it: the plan is
                    // read after this.
                    let mut f = self.flushed.lock();
                    f.flights[i].stage = Stage::Flushing;
                }
                let plan = self.inner.read().log.flush_plan();
                self.flushed.lock().flights[i].covers = plan.upto;
                self.flush_plan(plan)
            }))
        });
        debug_assert_eq!(f.flights[i].ticket, ticket);
        let flight = std::mem::replace(&mut f.flights[i], FREE);
        f.flying -= 1;
        // Another flight failed while this one flew: the kernel reports a write-back error to
        // one flush of the file, so this one may have returned Ok over lost bytes.
        let res = match res {
            Ok(Ok(_)) if f.failed != flight.failed_before => Ok(Err(f
                .last_failure
                .as_ref()
                .map_or_else(|| io::Error::other("a concurrent flush of the storage log failed"), Failure::error))),
            Ok(Err(e)) => {
                f.failed += 1;
                f.last_failure = Some(Failure::of(0, 0, &e));
                Ok(Err(e))
            }
            Err(payload) => {
                f.failed += 1;
                f.last_failure = Some(Failure::of(0, 0, &io::Error::other("a flush of the storage log panicked")));
                Err(payload)
            }
            ok => ok,
        };
        // Ok, or Err of (the flush's error, or the panic's payload).
        let out = match res {
            Ok(Ok(done)) => {
                f.upto = f.upto.max(done);
                Ok(())
            }
            Ok(Err(e)) => Err(Ok(e)),
            Err(payload) => Err(Err(payload)),
        };
        if flight.waiters > 0 {
            if let Err(e) = &out {
                let e = match e {
                    Ok(e) => Failure::of(ticket, flight.waiters, e),
                    Err(_) => Failure::of(ticket, flight.waiters, &f.last_failure.as_ref().expect("set above").error()),
                };
                f.failures.push(e);
            }
        }
        self.landed[i].store(ticket << 1 | u64::from(out.is_err()), Ordering::Release);
        self.durable.store(f.upto, Ordering::Release);
        let sleepers = std::mem::take(&mut f.sleepers[i]);
        self.slot_cv.notify_one();
        drop(f);
        for t in sleepers {
            t.unpark();
        }
        match out {
            Ok(()) => Ok(()),
            Err(Ok(e)) => Err(e),
            Err(Err(payload)) => panic::resume_unwind(payload),
        }
    }

    /// Whether a new flight should wait a little for writers about (waiting for a flush, or
    /// writing) to append first, so that their records ride in it (PostgreSQL's commit_delay
    /// / commit_siblings).
    fn should_linger(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 1 || self.writing.load(Ordering::Acquire) > 0
    }

    /// Waits up to `LINGER`, and at least a third of it, until no writer is between wanting
    /// the lock and releasing it. Measured against not lingering, and against lingering only
    /// while a writer is in the lock: both carried fewer records per flush and gave fewer sets
    /// per second from 8 threads.
    fn linger(&self) {
        let start = Instant::now();
        loop {
            let t = start.elapsed();
            if t >= LINGER || (t >= LINGER / 3 && self.writing.load(Ordering::Acquire) == 0) {
                break;
            }
            std::thread::yield_now();
        }
    }

    /// Flushes the live file outside the lock; returns the position now durable.
    fn flush_plan(&self, plan: log::FlushPlan) -> io::Result<u64> {
        plan.flusher.flush(0, plan.len)?;
        if let Some((dir, generation)) = plan.dir {
            plan.io.sync_dir(&dir)?;
            self.inner.write().log.dir_synced(generation);
        }
        Ok(plan.upto)
    }
}
