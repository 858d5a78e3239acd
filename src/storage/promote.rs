//! The promotion of a deferred compaction, and the spare log it leaves behind.
//!
//! A compaction in `process` mode goes live under `data.log.next-<n>` before its file is synced
//! (`log.rs`, `Log::rewrite`); a `Promoter` then syncs it, renames it over `data.log` and syncs
//! the directory, on a thread of its own (`Promotion`). The log it replaced is kept under a
//! second name, zeroed, synced and renamed `SPARE_NAME`: the file the next deferred compaction
//! writes into (`take_spare`). This file knows the I/O layer and the names of its own files;
//! the log hands it the rest (the file to promote, its names), and imports nothing back.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::io::{LogFile, LogIo, MapFlush, ZEROS};

/// A retired log, all zeros and synced: the file the next deferred compaction writes into
/// instead of a new one, so that its pages are already in the OS's cache (see `Promoter`).
pub const SPARE_NAME: &str = "data.log.spare";
/// A retired log while it is being zeroed (renamed to `SPARE_NAME` once its zeros are synced);
/// removed at open, where it is a leftover.
pub const RETIRED_NAME: &str = "data.log.retired";
/// A retired log longer than this is not kept as a spare: a spare is disk the store holds on
/// top of its log, so its cost is bounded (4 MiB a store), and the stores that compact often,
/// whose pages it saves, are the small ones (a compaction comes every 2 MiB of changes or more).
const SPARE_MAX: u64 = 4 << 20;

/// The promotion of a compacted log that went live before it was synced.
pub enum Promotion {
    /// The promotion's result arrives on `done`; the thread then goes on to make the spare.
    /// (A `Receiver` is not `Sync`; the store's state must be.)
    Thread { done: parking_lot::Mutex<std::sync::mpsc::Receiver<io::Result<()>>>, thread: std::thread::JoinHandle<()> },
    /// Tests: run by `settle`, and meanwhile step by step by the test (`Log::promoter`).
    Manual(Arc<parking_lot::Mutex<Promoter>>),
}

impl Promotion {
    /// Starts `promoter` on its own thread, which goes on to make the spare once the promotion
    /// is done; or, `manual` (tests), keeps it for `settle` and the test to run. `None` if no
    /// thread can be started: the caller then does the promotion in place.
    pub fn start(mut promoter: Promoter, manual: bool) -> Option<Promotion> {
        if manual {
            return Some(Promotion::Manual(Arc::new(parking_lot::Mutex::new(promoter))));
        }
        let (tell, done) = std::sync::mpsc::sync_channel(1);
        let run = move || {
            let promoted = promoter.run();
            let ok = promoted.is_ok();
            let _ = tell.send(promoted);
            if ok {
                promoter.make_spare();
            }
        };
        match std::thread::Builder::new().name("wxfs-log-promote".into()).spawn(run) {
            Ok(thread) => Some(Promotion::Thread { done: parking_lot::Mutex::new(done), thread }),
            Err(_) => None,
        }
    }

    /// Waits for the promotion's result (a manual one is run here, and makes its spare). The
    /// thread of a promotion, which goes on to make the spare, is put in `maker`.
    pub fn wait(self, maker: &mut Option<std::thread::JoinHandle<()>>) -> io::Result<()> {
        match self {
            Promotion::Thread { done, thread } => {
                *maker = Some(thread);
                done.into_inner().recv().unwrap_or_else(|_| Err(io::Error::other("log promotion panicked")))
            }
            Promotion::Manual(p) => {
                let mut p = p.lock();
                let promoted = p.run();
                if promoted.is_ok() {
                    p.make_spare();
                }
                promoted
            }
        }
    }
}

/// The promotion of a compacted log that went live as `next` before it was synced, in its I/O
/// steps: sync the file, rename it over `data.log`, sync the directory. Each step starts only
/// once the one before it has returned, and run again after a failure the steps pick up where
/// they stopped: the rename is skipped once `next` is gone.
///
/// With `retire`, the rename is preceded by a second name for the old log, `RETIRED_NAME`,
/// which keeps its file, and its pages in the OS's cache, once `data.log` names the new one;
/// after the promotion, `make_spare` zeroes that file, syncs it, and renames it `SPARE_NAME`.
/// The next deferred compaction writes into the spare rather than a new file: writing a new
/// file's pages costs the OS a page allocated, zeroed and mapped for every 4 KiB, reusing them
/// only the copy (measured, wall time: `setStorageSync` of a small object from JavaScriptCore
/// 4.04-4.27 -> 3.71-3.97 times a `Map` and `JSON.stringify`).
/// Only zeros that are durable make a spare: a power cut must never bring back the old log's
/// records after the end of a log written into it.
pub struct Promoter {
    io: Arc<dyn LogIo>,
    file: Arc<dyn LogFile>,
    next: PathBuf,
    /// `data.log`: the name `next` is renamed over.
    log: PathBuf,
    dir: PathBuf,
    /// The compacted part, `[0, n)`, and the live mapping's flusher: the first step syncs only
    /// that range (`None`: the whole file, as at open, where nothing is mapped yet).
    part: Option<(Arc<dyn MapFlush>, usize)>,
    /// Steps done.
    done: usize,
    /// Keep the old log (see above); cleared when the link fails.
    retire: bool,
    /// The old log's bytes that may not be zeros: its length when it was replaced, with what a
    /// failed copy may have left after it (every byte after that is zero).
    retired_used: u64,
    /// The longest old log kept: that of a store that has shrunk is let go of.
    retired_max: u64,
}

impl Promoter {
    /// The promotion of `file`, live as `next`, to `log` (`data.log`) in `dir`.
    pub fn new(io: Arc<dyn LogIo>, file: Arc<dyn LogFile>, next: PathBuf, log: PathBuf, dir: PathBuf) -> Promoter {
        Promoter { io, file, next, log, dir, part: None, done: 0, retire: false, retired_used: 0, retired_max: 0 }
    }

    /// Syncs only the compacted part, `[0, whole)`, through `flush` (the live mapping's): what
    /// the rename needs. The records appended to the live file since are not part of the
    /// promotion (a power cut may take them, as a sync of the whole file made just after them
    /// would leave the next ones), and a sync of the whole file wrote their pages while they
    /// were being stored to: the OS write-protects each page it writes back, which costs every
    /// thread of the process a TLB flush and the next store into the page a fault (perf of
    /// `setStorageSync` from Node, whose process runs a dozen threads: 4-6% of its samples).
    pub fn through(mut self, flush: Arc<dyn MapFlush>, whole: usize) -> Promoter {
        self.part = Some((flush, whole));
        self
    }

    /// Keeps the old log to be the next spare (`retire`): `used` bytes of it may not be zeros,
    /// and it is let go of if longer than `max`.
    pub fn retire(&mut self, used: u64, max: u64) {
        self.retire = true;
        self.retired_used = used;
        self.retired_max = max;
    }

    /// Does the next step; returns whether the promotion is complete.
    pub fn step(&mut self) -> io::Result<bool> {
        match self.done {
            0 => match &self.part {
                Some((flush, whole)) => flush.flush(0, *whole)?,
                None => self.file.sync()?,
            },
            1 => {
                if self.io.exists(&self.next)? {
                    if self.retire {
                        // Best effort: without the link the old log goes as it always did.
                        let retired = self.dir.join(RETIRED_NAME);
                        let _ = ignore_missing(self.io.remove(&retired));
                        self.retire = self.io.link(&self.log, &retired).is_ok();
                    }
                    self.io.rename(&self.next, &self.log)?;
                }
            }
            2 => self.io.sync_dir(&self.dir)?,
            _ => return Ok(true),
        }
        self.done += 1;
        Ok(self.done == 3)
    }

    /// Does the steps not yet done.
    pub fn run(&mut self) -> io::Result<()> {
        while !self.step()? {}
        Ok(())
    }

    /// After the promotion: the retired log, zeroed and synced, becomes the spare. Best
    /// effort: on any failure the retired file is removed (the next open removes it too).
    fn make_spare(&mut self) {
        if !std::mem::take(&mut self.retire) {
            return;
        }
        let retired = self.dir.join(RETIRED_NAME);
        let made = (|| {
            let file = self.io.open_rw(&retired)?;
            let size = file.size()?;
            if size > self.retired_max.min(SPARE_MAX) {
                return Err(io::Error::other("too long to keep"));
            }
            let used = self.retired_used.min(size);
            let mut at = 0;
            while at < used {
                let n = (used - at).min(ZEROS.len() as u64);
                file.write_at(at, &ZEROS[..n as usize])?;
                at += n;
            }
            // Durable before the name says "spare".
            file.sync()?;
            self.io.rename(&retired, &self.dir.join(SPARE_NAME))
        })();
        if made.is_err() {
            let _ = self.io.remove(&retired);
        }
    }
}

/// The spare (see `Promoter`), renamed to `to` and open, if there is one no longer than
/// `up_to` bytes; a longer one is removed. Renamed first, then opened by its new name: the
/// promotion's thread may rename a new spare over the name at any instant, and a file opened
/// by the name before the rename could then be another than the one renamed (the compacted log
/// would go into the one while the other, all zeros, went live).
pub fn take_spare(io: &dyn LogIo, dir: &Path, to: &Path, up_to: u64) -> Option<Arc<dyn LogFile>> {
    let spare = dir.join(SPARE_NAME);
    if !io.exists(&spare).ok()? || io.rename(&spare, to).is_err() {
        return None;
    }
    match io.open_rw(to).and_then(|f| Ok((f.size()?, f))) {
        Ok((size, file)) if size <= up_to => Some(file),
        _ => {
            let _ = io.remove(to);
            None
        }
    }
}

/// `r`, with a file that was not there to remove taken as removed.
pub fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
