//! FileSystemManager semantics on a sandbox (docs/wechat-behaviour.md §1, §3.3).
//!
//! Every method takes the caller's path strings as given, because WeChat's errMsg texts quote
//! them verbatim, and returns an [`Error`] whose reason is the text after `"<api>:fail "`.
//! Mutations that change usage run under `state`, so a quota check and the write it admits are
//! one step, and so does everything that moves or removes a name (fds follow their files).
//! Files are replaced by writing into the sandbox's staging directory and renaming.
//!
//! This file holds the file system, its open and the journaling kernel; each concern has its own
//! file: `read`, `write`, `tree` (mkdir/rmdir/unlink/rename), `saved`, `temp`, `fd`, `archive`,
//! with `recovery` (what open repairs) and `walk` (trees without recursion) below them.

// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod archive;
// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod codec;
#[cfg(test)]
mod crash_tests;
mod fail;
// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod fd;
mod fd_table;
// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod read;
mod recovery;
mod restart;
mod saved;
mod temp;
pub(crate) mod texts;
mod tree;
mod values;
mod walk;
mod write;

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::sync::Arc;

use cap_std::fs::{Dir, Metadata, OpenOptions};
use parking_lot::Mutex;

use crate::error::{code, Error, Result};
use crate::io::{LogIo, StdIo};
use crate::quota::journal::{self, Entry, Journal};
use crate::quota::{Delta, Limits, Usage};
use crate::sandbox::{self, Area, Sandbox, VPath};
use texts::Text;

pub(crate) use fail::{classify, Fail};
pub use fd_table::FdTable;
pub(crate) use fd_table::FileId;
use fd_table::Tracking;
pub use recovery::{measure_entry, scan};
pub use values::{Durability, Listing, OpenReport, SavedFile, StatResult, Stats, TempSource};

/// A file of zeros kept in each sandbox so that, on a full device, the mutations that free space
/// (unlink, rmdir, removeSavedFile, removeStorage, clearStorage) still find room for their journal
/// records: it is given up when one of them meets a full device, and made again once there is room.
const BALLAST: &str = "RESERVE";
const BALLAST_LEN: usize = 64 * 1024;

/// Usage, the journal that makes it survive restarts, and the files open fds hold, under one
/// lock: a quota check, the mutation it admits and its journal records are one step.
struct State {
    usage: Usage,
    journal: Journal,
    files: Tracking,
}

impl State {
    /// Whether growing usr + store by `delta` bytes stays within `limit`, counting what open
    /// fds hold of files that are reachable no more.
    fn fits(&self, delta: i64, limit: u64) -> bool {
        delta <= 0 || self.usage.user.saturating_add(self.files.held).saturating_add(delta as u64) <= limit
    }

    /// Whether `more` new files or directories stay within what `limits` allow (the entries
    /// limit as the quota lowers it: [`Limits::entries_allowed`]).
    fn entries_fit(&self, more: u64, limits: &Limits) -> bool {
        more == 0 || self.usage.entries.saturating_add(more) <= limits.entries_allowed()
    }
}

/// The file system of one open sandbox.
pub struct FileSystem {
    sb: Arc<Sandbox>,
    protocol: Protocol,
    limits: Limits,
    durability: Durability,
    state: Mutex<State>,
    fds: FdTable,
    /// Files the host holds mapped (`wxfs_read_file`), with how many mappings: never moved into
    /// an area where a call could cut them in place.
    pinned: Mutex<HashMap<FileId, usize>>,
    report: OpenReport,
}

use crate::sandbox::Protocol;

impl FileSystem {
    /// Open the file system of a locked sandbox: [`FileSystem::with_io`] with the real I/O layer.
    pub fn new(sb: Arc<Sandbox>, protocol: Protocol, limits: Limits, durability: Durability) -> io::Result<FileSystem> {
        let fs = FileSystem::with_io(sb.clone(), protocol, limits, durability, Arc::new(StdIo))?;
        fs.state.lock().journal.reopen_with(Box::new(move || Ok(StdIo::append_file(sb.open_append(Journal::FILE)?))));
        Ok(fs)
    }

    /// Open with a replaceable I/O layer under the quota journal (tests inject faults there).
    /// Repairs what a crash left (see `recovery`), then replays the journal; on a full device
    /// it still opens, skipping what it cannot write.
    pub fn with_io(
        sb: Arc<Sandbox>,
        protocol: Protocol,
        limits: Limits,
        durability: Durability,
        io: Arc<dyn LogIo>,
    ) -> io::Result<FileSystem> {
        let power = durability == Durability::Power;
        let path = sb.dir().join(Journal::FILE);
        let mut report = OpenReport::default();
        recovery::finish_staging(&sb, &mut report);
        crate::crash::point();
        let restart = restart::check(sb.dir(), crate::boot::id(), power);
        let (usage, journal) = match Journal::open(io.clone(), &path, power)? {
            Ok((mut journal, replay)) => {
                // An append cut short by a crash is rolled back: appends are all or nothing.
                for e in replay.pending.iter().flatten() {
                    if let Some(cut) = recovery::roll_back_torn_write(&sb, e) {
                        report.rolled_back.push((e.rel.clone(), cut));
                        crate::crash::point();
                    }
                }
                report.settled = replay.pending.len();
                report.truncated = replay.truncated;
                report.replayed = replay.records;
                if replay.format < journal::FORMAT {
                    // An earlier release's journal counts no entries: count everything once.
                    let usage = scan(&sb)?;
                    report.rebuilt = Some(format!("quota journal format {} upgraded to {}", replay.format, journal::FORMAT));
                    (usage, Journal::create(io, &path, usage, power)?)
                } else if let Some(why) = restart.recount {
                    // A power cut may have kept a different part of the files than of the journal.
                    let usage = scan(&sb)?;
                    report.rebuilt = Some(format!("quota recounted from the files: {why}"));
                    (usage, Journal::create(io, &path, usage, power)?)
                } else {
                    let mut usage = replay.usage;
                    usage.apply(journal::settle(&replay.pending, |e| measure_entry(&sb, e)));
                    if !replay.pending.is_empty() || replay.records > 1 {
                        // Best effort: on a full device the replayed journal stays as it is.
                        let _ = journal.checkpoint(usage);
                    }
                    (usage, journal)
                }
            }
            Err(why) => {
                let usage = scan(&sb)?;
                report.rebuilt = Some(why.to_string());
                (usage, Journal::create(io, &path, usage, power)?)
            }
        };
        restart.record(sb.dir());
        let fs = FileSystem {
            sb,
            protocol,
            limits,
            durability,
            state: Mutex::new(State { usage, journal, files: Tracking::default() }),
            fds: FdTable::default(),
            pinned: Mutex::new(HashMap::new()),
            report,
        };
        fs.restore_ballast();
        Ok(fs)
    }

    /// What the sandbox uses now (bytes of usr + store and tmp, entries).
    pub fn usage(&self) -> Usage {
        self.state.lock().usage
    }

    /// Bytes of unlinked or replaced files that open fds still hold (counted against the quota
    /// until their last fd closes).
    pub fn held(&self) -> u64 {
        self.state.lock().files.held
    }

    /// What the open found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Write a checkpoint so the next open replays nothing (called when the sandbox closes).
    pub fn checkpoint(&self) -> io::Result<()> {
        let mut st = self.state.lock();
        let usage = st.usage;
        st.journal.checkpoint(usage)
    }

    /// The limits it was opened with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The path protocol of the paths it accepts and returns.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The host maps this file: until [`unpin`](Self::unpin), no call moves it where a
    /// mini-program could cut it in place.
    pub(crate) fn pin(&self, id: FileId) {
        *self.pinned.lock().entry(id).or_insert(0) += 1;
    }

    pub(crate) fn unpin(&self, id: FileId) {
        let mut p = self.pinned.lock();
        if let Some(n) = p.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                p.remove(&id);
            }
        }
    }

    fn is_pinned(&self, id: FileId) -> bool {
        self.pinned.lock().contains_key(&id)
    }

    // ---- the journaling kernel --------------------------------------------------------------

    /// A journal entry for a path and what it holds now (its bytes and entries).
    fn entry(&self, vp: &VPath) -> Entry {
        let (bytes, entries) = self.measure(vp);
        Entry::new(vp.area, vp.rel(), bytes, entries)
    }

    /// Bytes and entries at a path: a file's length and 1, a directory's totals, or nothing.
    fn measure(&self, vp: &VPath) -> (u64, u64) {
        match self.dir(vp.area) {
            Ok(d) => walk::measure(&d, &vp.rel(), !vp.is_area_root()).unwrap_or((0, 0)),
            Err(_) => (0, 0),
        }
    }

    /// Run a usage-changing mutation under the journal: reserve `entries`, run `f`, commit the
    /// delta `f` reports. If `f` fails, whatever it did change is measured and committed.
    /// `frees`: the mutation only frees space, so on a full device it may give up the ballast
    /// to get its journal record written.
    fn journaled<T>(
        &self,
        st: &mut State,
        entries: Vec<Entry>,
        frees: bool,
        f: impl FnOnce() -> Result<(T, Delta)>,
    ) -> Result<T> {
        crate::crash::point();
        let id = match st.journal.reserve(entries.clone()) {
            Ok(id) => id,
            Err(e) if frees && classify(&e) == Fail::Full && self.release_ballast() => {
                st.journal.reserve(entries.clone()).map_err(|e| fail::write_error(&e, || Error::system(&e)))?
            }
            Err(e) => return Err(fail::write_error(&e, || Error::system(&e))),
        };
        crate::crash::point();
        let (result, d) = match f() {
            Ok((v, d)) => (Ok(v), d),
            Err(e) => (Err(e), journal::settle(&[entries], |e| measure_entry(&self.sb, e))),
        };
        if result.is_err() && d.is_zero() {
            let _ = st.journal.release(id);
        } else {
            // A commit that fails to append leaves the reservation, which settles to the same figure.
            let _ = st.journal.commit(id, d);
            st.usage.apply(d);
        }
        if st.journal.wants_checkpoint() {
            let usage = st.usage;
            let _ = st.journal.checkpoint(usage);
        }
        if frees && result.is_ok() {
            self.restore_ballast();
        }
        result
    }

    /// Give up the ballast; true when there was one to give.
    fn release_ballast(&self) -> bool {
        self.sb.dir_handle().remove_file(BALLAST).is_ok()
    }

    /// Make the ballast if it is missing and the device has room (best effort).
    fn restore_ballast(&self) {
        let base = self.sb.dir_handle();
        if base.symlink_metadata(BALLAST).is_ok() {
            return;
        }
        let tmp = format!("{BALLAST}.new");
        let made = (|| -> io::Result<()> {
            let mut opts = OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            let mut f = base.open_with(&tmp, &opts)?;
            f.write_all(&[0u8; BALLAST_LEN])?;
            base.rename(&tmp, base, BALLAST)
        })();
        if made.is_err() {
            let _ = base.remove_file(&tmp);
        }
    }

    /// The handle of an area, opened on demand (`sandbox::handles`); `NotFound` for a package
    /// area that was not configured.
    fn dir(&self, area: Area) -> io::Result<Arc<Dir>> {
        self.sb.area_dir(area)
    }

    /// The handle of an area for a call that fails with a system error if it cannot be opened.
    fn area(&self, area: Area) -> Result<Arc<Dir>> {
        self.sb.area_dir(area).map_err(|e| Error::system(&e))
    }

    /// The handle of an area for a call whose own words say a path is missing (`noent`): a
    /// package that was not configured; any other failure is a system error.
    fn dir_or(&self, area: Area, noent: impl FnOnce() -> Error) -> Result<Arc<Dir>> {
        self.sb.area_dir(area).map_err(|e| if e.kind() == io::ErrorKind::NotFound { noent() } else { Error::system(&e) })
    }

    fn usr(&self) -> Result<Arc<Dir>> {
        self.area(Area::Usr)
    }

    /// The staging directory's handle, opened on demand.
    fn staging(&self) -> io::Result<Arc<Dir>> {
        self.sb.staging()
    }

    fn show(&self, vp: &VPath) -> String {
        vp.display(self.protocol)
    }

    /// Metadata of a readable path, following in-area symlinks only.
    fn meta(&self, vp: &VPath) -> io::Result<Metadata> {
        let dir = self.dir(vp.area)?;
        if vp.is_area_root() {
            dir.dir_metadata()
        } else {
            dir.metadata(vp.rel())
        }
    }

    /// Size a path currently charges against the quota (a regular file's length, else 0), and
    /// whether it exists at all (it is an entry).
    fn charged(&self, vp: &VPath) -> (u64, bool) {
        match self.dir(vp.area).ok().and_then(|d| d.symlink_metadata(vp.rel()).ok()) {
            Some(m) if m.is_file() && matches!(vp.area, Area::Usr | Area::Store) => (m.len(), true),
            Some(_) => (0, true),
            None => (0, false),
        }
    }

    /// Whether a write target is an existing directory. A target that resolves outside its area
    /// (a planted symlink) is refused rather than replaced.
    fn target_is_dir(&self, vp: &VPath, denied: impl Fn() -> String) -> Result<bool> {
        match self.meta(vp) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) => match classify(&e) {
                Fail::Denied => Err(Error::new(code::PERMISSION_DENIED, denied())),
                _ => Ok(false),
            },
        }
    }

    /// Write bytes into a new file of `dir` (the staging area or an unzip's own folder of it);
    /// returns its name. Flushed in `power` mode.
    fn stage_in(
        &self,
        dir: &Dir,
        name: Option<String>,
        fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
    ) -> io::Result<String> {
        let name = name.unwrap_or_else(|| sandbox::random_name(None));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        let mut f = dir.open_with(&name, &opts)?.into_std();
        crate::crash::point();
        let res = fill(&mut f).and_then(|_| if self.durability == Durability::Power { f.sync_all() } else { Ok(()) });
        if let Err(e) = res {
            let _ = dir.remove_file(&name);
            return Err(e);
        }
        crate::crash::point();
        Ok(name)
    }

    fn stage(&self, fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>) -> io::Result<String> {
        self.stage_in(&*self.staging()?, None, fill)
    }

    /// Rename a staged file over its target; on failure the staged file is removed.
    fn commit(&self, staged: &str, to: &VPath) -> io::Result<()> {
        let staging = self.staging()?;
        if let Err(e) = self.dir(to.area).and_then(|dir| staging.rename(staged, &dir, to.rel())) {
            let _ = staging.remove_file(staged);
            return Err(e);
        }
        crate::crash::point();
        self.sync_parents([to]);
        Ok(())
    }

    /// `power` durability: fsync the directory holding each entry in `changed` (created,
    /// replaced or removed), so that the change survives a power cut: a name is durable only
    /// once the directory it is in is synced, whatever was synced in the file or in the area
    /// root (docs/powercut.md). Each directory is synced once. Nothing in `process` durability.
    fn sync_parents<'a>(&self, changed: impl IntoIterator<Item = &'a VPath>) {
        if self.durability != Durability::Power {
            return;
        }
        let dirs: std::collections::BTreeSet<VPath> = changed.into_iter().filter_map(VPath::parent).collect();
        for d in &dirs {
            self.sync_dir(d);
        }
    }

    /// `power` durability: fsync the directory `rel` of staging.
    fn sync_staging_dir(&self, rel: &str) {
        if self.durability == Durability::Power {
            if let Ok(f) = self.staging().and_then(|s| s.open(rel)) {
                let _ = f.into_std().sync_all();
            }
        }
    }

    /// `power` durability: fsync the directory `vp` (its own entries, not its parent's).
    fn sync_dir(&self, vp: &VPath) {
        if self.durability == Durability::Power {
            if let Ok(d) = self.dir(vp.area) {
                if let Ok(f) = d.open(vp.rel()) {
                    let _ = f.into_std().sync_all();
                }
            }
        }
    }

    /// A parsed path that must be writable, with the method's wording for refusal.
    fn writable(&self, path: &str, denied: impl Fn() -> String) -> Result<VPath> {
        let vp = sandbox::path::parse_in(path, self.protocol).map_err(|e| fail::path_error(e, &denied))?;
        if !vp.area.writable() {
            return Err(fail::area_denied(vp.area, denied()));
        }
        Ok(vp)
    }

    /// A parsed path that must be readable (every area is).
    fn readable(&self, path: &str, denied: impl Fn() -> String) -> Result<VPath> {
        sandbox::path::parse_in(path, self.protocol).map_err(|e| fail::path_error(e, &denied))
    }

    /// A path that is missing: 1300002 with the method's words, or 1300020 with the same words
    /// ("not a directory" in place of the "no such file or directory" they start with) when a
    /// component that should be a directory is a file. Only the method's own words are
    /// rewritten, never the paths quoted after them.
    fn missing(&self, vp: &VPath, reason: String) -> Error {
        const NOENT: &str = "no such file or directory";
        match reason.strip_prefix(NOENT) {
            Some(rest) if self.blocked_by_file(vp) => Text::NotDirInstead.at(&[rest]),
            _ => Error::new(code::NO_SUCH_FILE, reason),
        }
    }

    /// Whether some proper ancestor of `vp` exists and is not a directory.
    fn blocked_by_file(&self, vp: &VPath) -> bool {
        let Ok(dir) = self.dir(vp.area) else { return false };
        for n in 1..vp.parts.len() {
            match dir.metadata(vp.parts[..n].join("/")) {
                Ok(m) if !m.is_dir() => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// The per-file limit (`limits.singleFile`: Alipay's 10 MB, none for WeChat): the one check
    /// that every route making or growing a file calls (writeFile, appendFile, truncate, an fd's
    /// write and ftruncate, copyFile, saveFile, rename, unzip) with the length the file would
    /// have and the length it has (0 for a file that takes a name anew). A file may shrink, or be
    /// written within its length, whatever its size.
    fn file_fits(&self, new_len: u64, old_len: u64) -> Result<()> {
        let limit = self.limits.single_file;
        if new_len > old_len && new_len > limit {
            return Err(Text::FileTooLarge.at(&[&limit.to_string()]));
        }
        Ok(())
    }

    /// The parent directory of `vp` must exist and be a directory.
    fn check_parent(&self, vp: &VPath, noent: impl Fn() -> Error, denied: impl Fn() -> String) -> Result<()> {
        let parent = vp.parent().expect("not an area root");
        match self.meta(&parent) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(self.refine(vp, noent())),
            Err(e) => Err(match classify(&e) {
                Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
                _ => self.refine(vp, noent()),
            }),
        }
    }

    /// A "no such file or directory" error for `vp`, as [`missing`](Self::missing) words it.
    fn refine(&self, vp: &VPath, e: Error) -> Error {
        if e.code == code::NO_SUCH_FILE {
            self.missing(vp, e.reason)
        } else {
            e
        }
    }

    fn flush_if_power(&self, f: &std::fs::File) -> io::Result<()> {
        if self.durability == Durability::Power {
            f.sync_data()?;
        }
        Ok(())
    }
}

/// Read `count` bytes at `pos` without moving any shared file pointer. `count` comes from the
/// file's own length (never a size an input declared); a file that shrank gives fewer bytes.
pub(crate) fn read_exact_at(file: &std::fs::File, pos: u64, count: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; count as usize];
    let mut done = 0usize;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Mark a temp file as used now: its access time orders the trim at close (survives restarts,
/// and does not depend on the mount's atime policy).
pub(crate) fn touch_used(file: &std::fs::File) {
    let _ = file.set_times(std::fs::FileTimes::new().set_accessed(std::time::SystemTime::now()));
}
