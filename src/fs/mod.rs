//! FileSystemManager semantics on a sandbox (spec.md §1, §3.3).
//!
//! Every method takes the caller's path strings as given, because WeChat's errMsg texts quote
//! them verbatim, and returns an [`Error`] whose reason is the text after `"<api>:fail "`.
//! Mutations that change usage run under `state`, so a quota check and the write it admits are
//! one step. Files are replaced by writing into the sandbox's staging directory and renaming.

pub mod archive;
pub mod codec;
pub mod fd;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use cap_std::fs::{Dir, Metadata, MetadataExt, OpenOptions};
use parking_lot::Mutex;

use crate::error::{code, Error, Result};
use crate::io::{LogIo, StdIo};
use crate::quota::journal::{self, Entry, Journal};
use crate::quota::{self, Limits, Usage};
use crate::sandbox::{self, Area, PathError, Protocol, Sandbox, VPath};

pub use fd::FdTable;

/// What `stat` reports for one file or directory (spec.md §1 Stats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub mode: u32,
    pub size: u64,
    pub last_accessed_time: i64,
    pub last_modified_time: i64,
}

impl Stats {
    fn from_meta(m: &Metadata) -> Stats {
        Stats { mode: m.mode(), size: m.len(), last_accessed_time: m.atime(), last_modified_time: m.mtime() }
    }
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
}

pub enum StatResult {
    One(Stats),
    /// Recursive stat of a directory: `"/"` first, then `"/<rel>"` parents before children.
    Tree(Vec<(String, Stats)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedFile {
    pub file_path: String,
    pub size: u64,
    pub create_time: i64,
}

/// How a failed OS call reads in WeChat's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    NotFound,
    NotDir,
    IsDir,
    Exists,
    NotEmpty,
    /// Refused by the OS or by the capability layer (a symlink leading out of the area).
    Denied,
    TooLong,
    Full,
    Other,
}

pub(crate) fn classify(e: &io::Error) -> Fail {
    if let Some(n) = e.raw_os_error() {
        return match n {
            libc::ENOENT => Fail::NotFound,
            libc::ENOTDIR => Fail::NotDir,
            libc::EISDIR => Fail::IsDir,
            libc::EEXIST => Fail::Exists,
            libc::ENOTEMPTY => Fail::NotEmpty,
            libc::EACCES | libc::EPERM | libc::ELOOP | libc::EXDEV | libc::EROFS => Fail::Denied,
            libc::ENAMETOOLONG => Fail::TooLong,
            libc::ENOSPC | libc::EDQUOT | libc::EFBIG => Fail::Full,
            _ => Fail::Other,
        };
    }
    match e.kind() {
        io::ErrorKind::NotFound => Fail::NotFound,
        io::ErrorKind::PermissionDenied => Fail::Denied,
        io::ErrorKind::AlreadyExists => Fail::Exists,
        io::ErrorKind::NotADirectory => Fail::NotDir,
        io::ErrorKind::IsADirectory => Fail::IsDir,
        io::ErrorKind::DirectoryNotEmpty => Fail::NotEmpty,
        _ => Fail::Other,
    }
}

/// An OS refusal (or a link leading out of the area) in the method's permission words, any
/// other failure as `other`: the two ways a lookup fails in WeChat's vocabulary.
fn denied_or(e: &io::Error, denied: impl Fn() -> String, other: impl FnOnce() -> Error) -> Error {
    match classify(e) {
        Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
        _ => other(),
    }
}

fn too_long() -> Error {
    Error::new(code::NAME_TOO_LONG, "File name too long")
}

/// A parse failure in the words of the method's permission message.
fn path_error(e: PathError, denied: impl FnOnce() -> String) -> Error {
    match e {
        PathError::TooLong => too_long(),
        _ => Error::new(code::PATH_PERMISSION_DENIED, denied()),
    }
}

/// A write into an area the mini-program may only read.
fn area_denied(area: Area, msg: String) -> Error {
    let c = if area == Area::Package { code::ILLEGAL_ON_PACKAGE } else { code::PERMISSION_DENIED };
    Error::new(c, msg)
}

/// Durability of file replacement: `power` flushes data and directory before returning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Process,
    Power,
}

/// Usage and the journal that makes it survive restarts, under one lock: a quota check, the
/// mutation it admits and the journal records of that mutation are one step.
struct State {
    usage: Usage,
    journal: Journal,
}

/// How the usage figures were found at open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Why the journal was rebuilt from a scan (missing or corrupt), if it was.
    pub rebuilt: Option<String>,
    /// Reservations cut short by a crash and settled from real sizes.
    pub settled: usize,
    /// Bytes of a torn journal tail that were cut off.
    pub truncated: u64,
    /// Journal records replayed.
    pub replayed: u64,
    /// Appends a crash tore, cut back to their length before (the host hears of each).
    pub rolled_back: Vec<RolledBack>,
}

/// One torn append undone at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledBack {
    /// The file, relative to the sandbox directory (`usr/a/b.txt`).
    pub path: String,
    /// Bytes cut off.
    pub cut: u64,
    /// Its length now: the length before the append.
    pub length: u64,
}

/// The file system of one open sandbox.
pub struct FileSystem {
    sb: Arc<Sandbox>,
    protocol: Protocol,
    limits: Limits,
    durability: Durability,
    state: Mutex<State>,
    fds: FdTable,
    report: OpenReport,
}

/// Bytes to write, or a host file to take them from.
pub enum TempSource<'a> {
    Bytes(&'a [u8]),
    File { path: PathBuf, take: bool },
}

impl FileSystem {
    pub fn new(sb: Arc<Sandbox>, protocol: Protocol, limits: Limits, durability: Durability) -> io::Result<FileSystem> {
        FileSystem::with_io(sb, protocol, limits, durability, Arc::new(StdIo))
    }

    /// Open with a replaceable I/O layer under the quota journal (tests inject faults there).
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
        let (usage, journal) = match Journal::open(io.clone(), &path, power)? {
            Ok((mut journal, replay)) => {
                // An append cut short by a crash is rolled back: appends are all or nothing.
                report.rolled_back = replay.pending.iter().flatten().filter_map(|e| roll_back_torn_append(&sb, e)).collect();
                let (du, dt) = journal::settle(&replay.pending, |e| measure_entry(&sb, e));
                let mut usage = replay.usage;
                usage.add_user(du);
                usage.add_temp(dt);
                report.settled = replay.pending.len();
                report.truncated = replay.truncated;
                report.replayed = replay.records;
                if !replay.pending.is_empty() || replay.records > 1 {
                    journal.checkpoint(usage)?;
                }
                (usage, journal)
            }
            Err(why) => {
                let usage = scan(&sb)?;
                report.rebuilt = Some(why.to_string());
                (usage, Journal::create(io, &path, usage, power)?)
            }
        };
        Ok(FileSystem {
            sb,
            protocol,
            limits,
            durability,
            state: Mutex::new(State { usage, journal }),
            fds: FdTable::default(),
            report,
        })
    }

    pub fn usage(&self) -> Usage {
        self.state.lock().usage
    }

    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Write a checkpoint so the next open replays nothing (called when the sandbox closes).
    pub fn checkpoint(&self) -> io::Result<()> {
        let mut st = self.state.lock();
        let usage = st.usage;
        st.journal.checkpoint(usage)
    }

    /// Remove temp files, least recently used first, until at most `keep` bytes remain.
    /// Returns the bytes freed. Used when the sandbox closes (keep = tempKeep) and by gc.
    pub fn trim_temp(&self, keep: u64) -> io::Result<u64> {
        let mut st = self.state.lock();
        let tmp = self.dir(Area::Tmp).expect("tmp");
        let mut items = Vec::new();
        for entry in tmp.entries()? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                items.push(quota::cleanup::Candidate {
                    key: name,
                    size: meta.len(),
                    last_use: (meta.atime(), meta.atime_nsec()),
                });
            }
        }
        let total = st.usage.temp;
        let mut freed = 0;
        for victim in quota::cleanup::lru_victims(items, total, keep) {
            let vp = VPath { area: Area::Tmp, parts: vec![victim.key.clone()] };
            let size = victim.size;
            let removed = self.journaled(&mut st, vec![self.entry(&vp, size)], || {
                tmp.remove_file(&victim.key).map_err(|e| Error::system(&e))?;
                Ok(((), 0, -(size as i64)))
            });
            if removed.is_ok() {
                freed += size;
            }
        }
        Ok(freed)
    }

    /// A journal entry for a path and the bytes it holds now.
    fn entry(&self, vp: &VPath, before: u64) -> Entry {
        Entry { area: journal_area(vp.area), rel: vp.rel(), before, after: None }
    }

    /// Run a usage-changing mutation under the journal: reserve `entries`, run `f`, commit the
    /// deltas `f` reports. If `f` fails, whatever it did change is measured and committed.
    fn journaled<T>(&self, st: &mut State, entries: Vec<Entry>, f: impl FnOnce() -> Result<(T, i64, i64)>) -> Result<T> {
        let id = st.journal.reserve(entries.clone()).map_err(|e| Error::system(&e))?;
        let (result, du, dt) = match f() {
            Ok((v, du, dt)) => (Ok(v), du, dt),
            Err(e) => {
                let (du, dt) = journal::settle(&[entries], |e| measure_entry(&self.sb, e));
                (Err(e), du, dt)
            }
        };
        if result.is_err() && du == 0 && dt == 0 {
            let _ = st.journal.release(id);
        } else {
            // A commit that fails to append leaves the reservation, which settles to the same figure.
            let _ = st.journal.commit(id, du, dt);
            st.usage.add_user(du);
            st.usage.add_temp(dt);
        }
        if st.journal.wants_checkpoint() {
            let usage = st.usage;
            let _ = st.journal.checkpoint(usage);
        }
        result
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    fn dir(&self, area: Area) -> Option<&Dir> {
        self.sb.area_dir(area)
    }

    fn show(&self, vp: &VPath) -> String {
        vp.display(self.protocol)
    }

    /// Metadata of a readable path, following in-area symlinks only.
    fn meta(&self, vp: &VPath) -> io::Result<Metadata> {
        let dir = self.dir(vp.area).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if vp.is_area_root() {
            dir.dir_metadata()
        } else {
            dir.metadata(vp.rel())
        }
    }

    /// Size a path currently charges against the quota: a regular file's length, else 0.
    fn charged(&self, vp: &VPath) -> u64 {
        match self.dir(vp.area).and_then(|d| d.symlink_metadata(vp.rel()).ok()) {
            Some(m) if m.is_file() && matches!(vp.area, Area::Usr | Area::Store) => m.len(),
            _ => 0,
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

    /// Write `bytes` into a new staging file; returns its name. Flushed in `power` mode.
    fn stage(&self, fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>) -> io::Result<String> {
        let name = sandbox::random_name(None);
        let staging = self.sb.staging();
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        let mut f = staging.open_with(&name, &opts)?.into_std();
        let res = fill(&mut f).and_then(|_| {
            if self.durability == Durability::Power {
                f.sync_all()?;
            }
            Ok(())
        });
        if let Err(e) = res {
            let _ = staging.remove_file(&name);
            return Err(e);
        }
        Ok(name)
    }

    /// Rename a staged file over its target; on failure the staged file is removed.
    fn commit(&self, staged: &str, to: &VPath) -> io::Result<()> {
        let dir = self.dir(to.area).expect("writable area");
        if let Err(e) = self.sb.staging().rename(staged, dir, to.rel()) {
            let _ = self.sb.staging().remove_file(staged);
            return Err(e);
        }
        self.sync_dir(to.area);
        Ok(())
    }

    fn sync_dir(&self, area: Area) {
        if self.durability == Durability::Power {
            if let Some(d) = self.dir(area) {
                if let Ok(f) = d.open(".") {
                    let _ = f.into_std().sync_all();
                }
            }
        }
    }

    /// A parsed path that must be writable, with the method's wording for refusal.
    fn writable(&self, path: &str, denied: impl Fn() -> String) -> Result<VPath> {
        let vp = sandbox::path::parse(path).map_err(|e| path_error(e, &denied))?;
        if !vp.area.writable() {
            return Err(area_denied(vp.area, denied()));
        }
        Ok(vp)
    }

    /// A parsed path that must be readable (every area is).
    fn readable(&self, path: &str, denied: impl Fn() -> String) -> Result<VPath> {
        sandbox::path::parse(path).map_err(|e| path_error(e, &denied))
    }

    // ---- access / stat / readdir ------------------------------------------------------------

    pub fn access(&self, path: &str) -> Result<()> {
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}"));
        let vp = match sandbox::path::parse(path) {
            Ok(vp) => vp,
            Err(PathError::TooLong) => return Err(too_long()),
            Err(_) => return Err(noent()),
        };
        self.meta(&vp).map(|_| ()).map_err(|e| match classify(&e) {
            Fail::Denied => Error::new(code::PERMISSION_DENIED, format!("permission denied, open {path}")),
            _ => noent(),
        })
    }

    pub fn stat(&self, path: &str, recursive: bool) -> Result<StatResult> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.readable(path, denied)?;
        let meta = self
            .meta(&vp)
            .map_err(|e| denied_or(&e, denied, || Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}"))))?;
        let top = Stats::from_meta(&meta);
        if !recursive || !meta.is_dir() {
            return Ok(StatResult::One(top));
        }
        let dir = self.dir(vp.area).expect("area");
        let sub = if vp.is_area_root() { dir.try_clone() } else { dir.open_dir(vp.rel()) };
        let sub = sub.map_err(|e| Error::system(&e))?;
        let mut out = vec![("/".to_string(), top)];
        walk_stats(&sub, "", &mut out).map_err(|e| Error::system(&e))?;
        Ok(StatResult::Tree(out))
    }

    pub fn readdir(&self, path: &str) -> Result<Vec<String>> {
        let denied = || format!("permission denied, open {path}");
        let vp = match sandbox::path::parse(path) {
            Ok(vp) => vp,
            Err(PathError::TooLong) => return Err(too_long()),
            Err(_) => return Err(Error::new(code::PATH_PERMISSION_DENIED, denied())),
        };
        let dir = self.dir(vp.area).ok_or_else(|| Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}")))?;
        let opened = if vp.is_area_root() { dir.try_clone() } else { dir.open_dir(vp.rel()) };
        let sub = opened.map_err(|e| match classify(&e) {
            Fail::NotDir => Error::new(code::NOT_A_DIRECTORY, format!("not a directory {path}")),
            Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
            _ => Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}")),
        })?;
        let mut names = Vec::new();
        for entry in sub.entries().map_err(|e| Error::system(&e))? {
            let entry = entry.map_err(|e| Error::system(&e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    // ---- whole-file reads -------------------------------------------------------------------

    /// Open a readable regular file with the method's wording for failures (readFile family).
    pub fn open_read(&self, path: &str) -> Result<(std::fs::File, u64)> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.readable(path, denied)?;
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory, open {path}"));
        let dir = self.dir(vp.area).ok_or_else(noent)?;
        if vp.is_area_root() {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\"")));
        }
        let file = dir.open(vp.rel()).map_err(|e| match classify(&e) {
            Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
            Fail::TooLong => too_long(),
            _ => noent(),
        })?;
        let file = file.into_std();
        let meta = file.metadata().map_err(|e| Error::system(&e))?;
        if meta.is_dir() {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\"")));
        }
        if vp.area == Area::Tmp {
            touch_used(&file);
        }
        Ok((file, meta.len()))
    }

    /// Open a readable file for a native caller that may map it: `true` when the file is never
    /// modified in place (saved, temp and package files are replaced whole or not at all), so a
    /// mapping cannot be truncated under the caller.
    pub fn open_for_map(&self, path: &str) -> Result<(std::fs::File, u64, bool)> {
        let (file, len) = self.open_read(path)?;
        if len > self.limits.read_file {
            return Err(Error::new(code::STORAGE_LIMIT, "native buffer exceed size limit"));
        }
        let immutable = sandbox::path::parse(path).map(|vp| vp.area != Area::Usr).unwrap_or(false);
        Ok((file, len, immutable))
    }

    /// The byte range readFile returns, validated as WeChat documents it:
    /// position in [0, len-1], length in [1, len]; the range is clipped at the end of the file.
    pub fn read_range(&self, len: u64, position: Option<f64>, length: Option<f64>) -> Result<(u64, u64)> {
        let pos = match position {
            None => 0,
            Some(p) if p.fract() == 0.0 && p >= 0.0 && (p < len as f64 || (p == 0.0 && len == 0)) => p as u64,
            Some(_) => return Err(Error::new(code::POSITION_RANGE, "the value of \"position\" is out of range")),
        };
        let count = match length {
            None => len - pos,
            Some(l) if l.fract() == 0.0 && l >= 1.0 && l <= len as f64 => (l as u64).min(len - pos),
            Some(_) => return Err(Error::new(code::LENGTH_RANGE, "the value of \"length\" is out of range")),
        };
        if count > self.limits.read_file {
            return Err(Error::new(code::STORAGE_LIMIT, "native buffer exceed size limit"));
        }
        Ok((pos, count))
    }

    pub fn read_file(&self, path: &str, position: Option<f64>, length: Option<f64>) -> Result<Vec<u8>> {
        let (file, len) = self.open_read(path)?;
        let (pos, count) = self.read_range(len, position, length)?;
        read_exact_at(&file, pos, count).map_err(|e| Error::system(&e))
    }

    pub fn get_file_info(&self, path: &str, algorithm: &str) -> Result<(u64, String)> {
        let algo = archive::Digest::parse(algorithm)
            .ok_or_else(|| Error::new(code::INVALID_ARGUMENT, format!("invalid digestAlgorithm \"{algorithm}\"")))?;
        let not_exist = || Error::new(code::NO_SUCH_FILE, "file not exist");
        let vp = sandbox::path::parse(path).map_err(|_| not_exist())?;
        let file = self.dir(vp.area).and_then(|d| d.open(vp.rel()).ok()).ok_or_else(not_exist)?;
        let mut file = file.into_std();
        let meta = file.metadata().map_err(|e| Error::system(&e))?;
        if !meta.is_file() {
            return Err(not_exist());
        }
        let digest = algo.of_reader(&mut file).map_err(|e| Error::system(&e))?;
        Ok((meta.len(), digest))
    }

    pub fn read_compressed_file(&self, path: &str, algorithm: &str) -> Result<Vec<u8>> {
        if algorithm != "br" {
            return Err(Error::new(code::BROTLI_FAIL, "decompress fail"));
        }
        let (file, _) = self.open_read(path)?;
        archive::brotli_decompress(file, self.limits.read_file)
    }

    // ---- whole-file writes ------------------------------------------------------------------

    /// writeFile: create or atomically replace a user file.
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.writable(path, denied)?;
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory, open {path}"));
        let is_dir = || Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\""));
        if vp.is_area_root() {
            return Err(is_dir());
        }
        let mut st = self.state.lock();
        self.check_parent(&vp, noent, denied)?;
        if self.target_is_dir(&vp, denied)? {
            return Err(is_dir());
        }
        let old = self.charged(&vp);
        let delta = quota::delta(data.len() as u64, old);
        if !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let staged = self.stage(|f| f.write_all(data)).map_err(|e| self.write_error(&e, noent))?;
        self.journaled(&mut st, vec![self.entry(&vp, old)], || {
            self.commit(&staged, &vp).map_err(|e| self.write_error(&e, noent))?;
            Ok(((), delta, 0))
        })
    }

    fn write_error(&self, e: &io::Error, noent: impl Fn() -> Error) -> Error {
        match classify(e) {
            Fail::Full => Error::storage_limit(),
            Fail::NotFound => noent(),
            _ => Error::system(e),
        }
    }

    /// The parent directory of `vp` must exist and be a directory.
    fn check_parent(&self, vp: &VPath, noent: impl Fn() -> Error, denied: impl Fn() -> String) -> Result<()> {
        let parent = vp.parent().expect("not an area root");
        match self.meta(&parent) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(noent()),
            Err(e) => Err(match classify(&e) {
                Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
                _ => noent(),
            }),
        }
    }

    /// appendFile: the file must exist; bytes go on at its end.
    pub fn append_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.writable(path, denied)?;
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory, open {path}"));
        let is_dir = || Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\""));
        let mut st = self.state.lock();
        let meta = self.meta(&vp).map_err(|e| denied_or(&e, denied, noent))?;
        if meta.is_dir() {
            return Err(is_dir());
        }
        let delta = data.len() as i64;
        if !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let mut opts = OpenOptions::new();
        opts.append(true);
        let mut f = self.dir(vp.area).expect("usr").open_with(vp.rel(), &opts).map_err(|e| self.write_error(&e, noent))?;
        let before = meta.len();
        let entry = Entry { after: Some(before + data.len() as u64), ..self.entry(&vp, before) };
        self.journaled(&mut st, vec![entry], || {
            if let Err(e) = f.write_all(data).and_then(|_| self.flush_if_power(&f)) {
                // Keep the file and the quota consistent: cut back what a failed append left.
                let _ = f.set_len(before);
                return Err(self.write_error(&e, noent));
            }
            Ok(((), delta, 0))
        })
    }

    fn flush_if_power(&self, f: &cap_std::fs::File) -> io::Result<()> {
        if self.durability == Durability::Power {
            f.sync_data()?;
        }
        Ok(())
    }

    pub fn truncate(&self, path: &str, length: u64) -> Result<()> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.writable(path, denied)?;
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory, open {path}"));
        let mut st = self.state.lock();
        let meta = self.meta(&vp).map_err(|e| denied_or(&e, denied, noent))?;
        if meta.is_dir() {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\"")));
        }
        let delta = quota::delta(length, meta.len());
        if !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let mut opts = OpenOptions::new();
        opts.write(true);
        let f = self.dir(vp.area).expect("usr").open_with(vp.rel(), &opts).map_err(|e| self.write_error(&e, noent))?;
        self.journaled(&mut st, vec![self.entry(&vp, meta.len())], || {
            f.set_len(length).and_then(|_| self.flush_if_power(&f)).map_err(|e| self.write_error(&e, noent))?;
            Ok(((), delta, 0))
        })
    }

    pub fn copy_file(&self, src: &str, dst: &str) -> Result<()> {
        let denied = || format!("permission denied, copyFile {src} -> {dst}");
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory, copyFile {src} -> {dst}"));
        let svp = self.readable(src, denied)?;
        let dvp = self.writable(dst, denied)?;
        if dvp.is_area_root() || svp.is_area_root() {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, copyFile {src} -> {dst}")));
        }
        let sfile = self.dir(svp.area).ok_or_else(noent)?.open(svp.rel()).map_err(|e| denied_or(&e, denied, noent))?;
        let mut sfile = sfile.into_std();
        let smeta = sfile.metadata().map_err(|e| Error::system(&e))?;
        if smeta.is_dir() {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, copyFile {src} -> {dst}")));
        }
        let mut st = self.state.lock();
        self.check_parent(&dvp, noent, denied)?;
        if self.target_is_dir(&dvp, denied)? {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, copyFile {src} -> {dst}")));
        }
        let old = self.charged(&dvp);
        let delta = quota::delta(smeta.len(), old);
        if !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        // Copy exactly the length we charged, even if the source grows meanwhile.
        let want = smeta.len();
        let staged = self
            .stage(|f| {
                let n = io::copy(&mut (&mut sfile).take(want), f)?;
                if n != want {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source shrank during copy"));
                }
                Ok(())
            })
            .map_err(|e| self.write_error(&e, noent))?;
        self.journaled(&mut st, vec![self.entry(&dvp, old)], || {
            self.commit(&staged, &dvp).map_err(|e| self.write_error(&e, noent))?;
            Ok(((), delta, 0))
        })
    }

    // ---- directory and name operations ------------------------------------------------------

    pub fn mkdir(&self, path: &str, recursive: bool) -> Result<()> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.writable(path, denied)?;
        let exists = || Error::new(code::ALREADY_EXISTS, format!("file already exists {path}"));
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}"));
        let dir = self.dir(Area::Usr).expect("usr");
        let _st = self.state.lock();
        if vp.is_area_root() {
            return if recursive { Ok(()) } else { Err(exists()) };
        }
        let res = if recursive { dir.create_dir_all(vp.rel()) } else { dir.create_dir(vp.rel()) };
        res.map_err(|e| match classify(&e) {
            Fail::Exists => exists(),
            Fail::NotFound => noent(),
            Fail::NotDir => {
                if recursive {
                    exists()
                } else {
                    noent()
                }
            }
            Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
            Fail::TooLong => too_long(),
            _ => Error::system(&e),
        })?;
        if recursive && !self.meta(&vp).map(|m| m.is_dir()).unwrap_or(false) {
            return Err(exists());
        }
        Ok(())
    }

    pub fn rmdir(&self, path: &str, recursive: bool) -> Result<()> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.writable(path, denied)?;
        if vp.is_area_root() {
            return Err(Error::new(code::PERMISSION_DENIED, denied()));
        }
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}"));
        let dir = self.dir(Area::Usr).expect("usr");
        let mut st = self.state.lock();
        let meta = dir.symlink_metadata(vp.rel()).map_err(|e| denied_or(&e, denied, noent))?;
        if !meta.is_dir() {
            return Err(Error::new(code::NOT_A_DIRECTORY, format!("not a directory {path}")));
        }
        if !recursive {
            return dir.remove_dir(vp.rel()).map_err(|e| match classify(&e) {
                Fail::NotEmpty | Fail::Exists => Error::new(code::DIR_NOT_EMPTY, "directory not empty"),
                Fail::NotFound => noent(),
                _ => Error::system(&e),
            });
        }
        let before = dir.open_dir(vp.rel()).and_then(|s| quota::measure(&s)).unwrap_or(0);
        self.journaled(&mut st, vec![self.entry(&vp, before)], || {
            dir.remove_dir_all(vp.rel()).map_err(|e| Error::system(&e))?;
            Ok(((), -(before as i64), 0))
        })
    }

    pub fn unlink(&self, path: &str) -> Result<()> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.writable(path, denied)?;
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}"));
        let not_permitted = || Error::new(code::NOT_PERMITTED, format!("operation not permitted, unlink {path}"));
        if vp.is_area_root() {
            return Err(not_permitted());
        }
        let dir = self.dir(Area::Usr).expect("usr");
        let mut st = self.state.lock();
        let meta = dir.symlink_metadata(vp.rel()).map_err(|e| denied_or(&e, denied, noent))?;
        if meta.is_dir() {
            return Err(not_permitted());
        }
        let size = if meta.is_file() { meta.len() } else { 0 };
        self.journaled(&mut st, vec![self.entry(&vp, size)], || {
            dir.remove_file(vp.rel()).map_err(|e| match classify(&e) {
                Fail::NotFound => noent(),
                _ => Error::system(&e),
            })?;
            Ok(((), -(size as i64), 0))
        })
    }

    pub fn rename(&self, old: &str, new: &str) -> Result<()> {
        let denied = || format!("permission denied, rename {old} -> {new}");
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory, rename {old} -> {new}"));
        let ovp = self.writable(old, denied)?;
        let nvp = self.writable(new, denied)?;
        if ovp.is_area_root() || nvp.is_area_root() {
            return Err(Error::new(code::PERMISSION_DENIED, denied()));
        }
        if ovp == nvp {
            return self.meta(&ovp).map(|_| ()).map_err(|_| noent());
        }
        if nvp.starts_with(&ovp) {
            return Err(Error::new(code::INVALID_ARGUMENT, format!("Invalid argument, rename {old} -> {new}")));
        }
        let dir = self.dir(Area::Usr).expect("usr");
        let mut st = self.state.lock();
        dir.symlink_metadata(ovp.rel()).map_err(|e| denied_or(&e, denied, noent))?;
        self.check_parent(&nvp, noent, denied)?;
        let entries = vec![
            self.entry(&ovp, measure_entry(&self.sb, &self.entry(&ovp, 0))),
            self.entry(&nvp, measure_entry(&self.sb, &self.entry(&nvp, 0))),
        ];
        let replaced = entries[1].before;
        self.journaled(&mut st, entries, || {
            dir.rename(ovp.rel(), dir, nvp.rel()).map_err(|e| match classify(&e) {
                Fail::NotFound => noent(),
                Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
                Fail::IsDir => {
                    Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, rename {old} -> {new}"))
                }
                Fail::NotDir => Error::new(code::NOT_A_DIRECTORY, format!("not a directory, rename {old} -> {new}")),
                Fail::NotEmpty | Fail::Exists => Error::new(code::DIR_NOT_EMPTY, "directory not empty"),
                _ => Error::system(&e),
            })?;
            self.sync_dir(Area::Usr);
            Ok(((), -(replaced as i64), 0))
        })
    }

    // ---- saved files ------------------------------------------------------------------------

    /// saveFile: move a temp file into the saved-file area, or to `file_path` in usr.
    pub fn save_file(&self, temp_path: &str, file_path: Option<&str>) -> Result<String> {
        let not_exist = || Error::new(code::TEMP_NOT_EXIST, "tempFilePath file not exist");
        let tvp = sandbox::path::parse(temp_path).map_err(|_| not_exist())?;
        if tvp.area != Area::Tmp {
            return Err(not_exist());
        }
        let tmp = self.dir(Area::Tmp).expect("tmp");
        let mut st = self.state.lock();
        let tmeta = tmp.symlink_metadata(tvp.rel()).map_err(|_| not_exist())?;
        if !tmeta.is_file() {
            return Err(not_exist());
        }
        let dest = match file_path {
            None => {
                let ext = tvp.name().and_then(sandbox::plain_extension);
                VPath { area: Area::Store, parts: vec![sandbox::random_name(ext)] }
            }
            Some(fp) => {
                let denied = || format!("permission denied, open \"{fp}\"");
                let vp = self.writable(fp, denied)?;
                if vp.is_area_root() || self.target_is_dir(&vp, denied)? {
                    return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{fp}\"")));
                }
                let parent = vp.parent().expect("not root");
                let pshow = self.show(&parent);
                self.check_parent(
                    &vp,
                    || Error::new(code::NO_SUCH_FILE, format!("no such file or directory \"{pshow}\"")),
                    denied,
                )?;
                vp
            }
        };
        // A fresh store name replaces nothing.
        let old = if file_path.is_some() { self.charged(&dest) } else { 0 };
        let delta = quota::delta(tmeta.len(), old);
        if !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let ddir = self.dir(dest.area).expect("writable");
        let entries = vec![self.entry(&tvp, tmeta.len()), self.entry(&dest, old)];
        self.journaled(&mut st, entries, || {
            tmp.rename(tvp.rel(), ddir, dest.rel()).map_err(|e| match classify(&e) {
                Fail::NotFound => not_exist(),
                _ => Error::system(&e),
            })?;
            Ok(((), delta, -(tmeta.len() as i64)))
        })?;
        self.sync_dir(dest.area);
        Ok(self.show(&dest))
    }

    pub fn get_saved_file_list(&self) -> Result<Vec<SavedFile>> {
        let store = self.dir(Area::Store).expect("store");
        let mut out = Vec::new();
        for entry in store.entries().map_err(|e| Error::system(&e))? {
            let entry = entry.map_err(|e| Error::system(&e))?;
            let meta = entry.metadata().map_err(|e| Error::system(&e))?;
            if !meta.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let vp = VPath { area: Area::Store, parts: vec![name] };
            out.push(SavedFile { file_path: self.show(&vp), size: meta.len(), create_time: saved_time(&meta) });
        }
        out.sort_by(|a, b| (a.create_time, &a.file_path).cmp(&(b.create_time, &b.file_path)));
        Ok(out)
    }

    fn saved_meta(&self, path: &str) -> Result<(VPath, Metadata)> {
        let not_exist = || Error::new(code::NO_SUCH_FILE, "file not exist");
        let vp = sandbox::path::parse(path).map_err(|_| not_exist())?;
        if vp.area != Area::Store {
            return Err(not_exist());
        }
        let meta = self.dir(Area::Store).expect("store").symlink_metadata(vp.rel()).map_err(|_| not_exist())?;
        if !meta.is_file() {
            return Err(not_exist());
        }
        Ok((vp, meta))
    }

    /// Legacy `wx.getSavedFileInfo`: (size, createTime).
    pub fn get_saved_file_info(&self, path: &str) -> Result<(u64, i64)> {
        let (_, meta) = self.saved_meta(path)?;
        Ok((meta.len(), saved_time(&meta)))
    }

    pub fn remove_saved_file(&self, path: &str) -> Result<()> {
        let mut st = self.state.lock();
        let (vp, meta) = self.saved_meta(path)?;
        self.journaled(&mut st, vec![self.entry(&vp, meta.len())], || {
            self.dir(Area::Store).expect("store").remove_file(vp.rel()).map_err(|e| match classify(&e) {
                Fail::NotFound => Error::new(code::NO_SUCH_FILE, "file not exist"),
                _ => Error::system(&e),
            })?;
            Ok(((), -(meta.len() as i64), 0))
        })
    }

    // ---- host APIs --------------------------------------------------------------------------

    /// What a download, camera or canvas API does: make a new temp file; returns its path.
    pub fn create_temp(&self, source: TempSource<'_>, extension: Option<&str>) -> Result<String> {
        if let Some(ext) = extension.filter(|e| !e.is_empty()) {
            if sandbox::plain_extension(&format!("x.{ext}")) != Some(ext) {
                return Err(Error::new(code::INVALID_ARGUMENT, format!("invalid extension \"{ext}\"")));
            }
        }
        let size = match &source {
            TempSource::Bytes(b) => b.len() as u64,
            TempSource::File { path, .. } => std::fs::metadata(path)
                .map_err(|_| Error::new(code::NO_SUCH_FILE, "no such file or directory, open sourcePath"))?
                .len(),
        };
        let mut st = self.state.lock();
        if st.usage.temp.saturating_add(size) > self.limits.temp_runtime {
            return Err(Error::new(code::TEMP_LIMIT, "the maximum size of the temp file storage limit is exceeded"));
        }
        let vp = VPath { area: Area::Tmp, parts: vec![sandbox::random_name(extension.filter(|e| !e.is_empty()))] };
        let tmp = self.dir(Area::Tmp).expect("tmp");
        let entry = self.entry(&vp, 0);
        self.journaled(&mut st, vec![entry], || {
            let written = match source {
                TempSource::Bytes(b) => self.stage(|f| f.write_all(b)).and_then(|s| self.commit(&s, &vp)),
                TempSource::File { path, take } => {
                    let os_target = self.sb.os_path(&vp).expect("tmp path");
                    let moved = take && std::fs::rename(&path, &os_target).is_ok();
                    if moved {
                        Ok(())
                    } else {
                        let r = std::fs::File::open(&path).and_then(|mut src| {
                            let s = self.stage(|f| io::copy(&mut (&mut src).take(size), f).map(|_| ()))?;
                            self.commit(&s, &vp)
                        });
                        if r.is_ok() && take {
                            let _ = std::fs::remove_file(&path);
                        }
                        r
                    }
                }
            };
            written.map_err(|e| Error::system(&e))?;
            let real = tmp.symlink_metadata(vp.rel()).map(|m| m.len()).unwrap_or(size);
            Ok(((), 0, real as i64))
        })?;
        Ok(self.show(&vp))
    }

    /// The OS path behind a readable virtual path (host.realPath).
    pub fn real_path(&self, path: &str) -> Result<PathBuf> {
        let denied = || format!("permission denied, open {path}");
        let vp = self.readable(path, denied)?;
        self.meta(&vp)
            .map_err(|e| denied_or(&e, denied, || Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}"))))?;
        self.sb.os_path(&vp).ok_or_else(|| Error::new(code::NO_SUCH_FILE, format!("no such file or directory {path}")))
    }
}

fn walk_stats(dir: &Dir, prefix: &str, out: &mut Vec<(String, Stats)>) -> io::Result<()> {
    let mut entries: Vec<_> = dir.entries()?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata()?;
        let rel = format!("{prefix}/{name}");
        out.push((rel.clone(), Stats::from_meta(&meta)));
        if entry.file_type()?.is_dir() {
            walk_stats(&entry.open_dir()?, &rel, out)?;
        }
    }
    Ok(())
}

/// Read `count` bytes at `pos` without moving any shared file pointer.
pub(crate) fn read_exact_at(file: &std::fs::File, pos: u64, count: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; count as usize];
    let mut done = 0usize;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], pos + done as u64)?;
        if n == 0 {
            buf.truncate(done);
            break;
        }
        done += n;
    }
    Ok(buf)
}

fn journal_area(a: Area) -> journal::Area {
    match a {
        Area::Usr | Area::Package => journal::Area::Usr,
        Area::Store => journal::Area::Store,
        Area::Tmp => journal::Area::Tmp,
    }
}

/// Bytes a journal entry's path holds now: a file's length, the total under a directory, or 0.
pub fn measure_entry(sb: &Sandbox, e: &Entry) -> u64 {
    let area = match e.area {
        journal::Area::Usr => Area::Usr,
        journal::Area::Store => Area::Store,
        journal::Area::Tmp => Area::Tmp,
    };
    let Some(dir) = sb.area_dir(area) else { return 0 };
    match dir.symlink_metadata(&e.rel) {
        Ok(m) if m.is_file() => m.len(),
        Ok(m) if m.is_dir() => dir.open_dir(&e.rel).and_then(|d| quota::measure(&d)).unwrap_or(0),
        _ => 0,
    }
}

/// If `e` records an append and its file now stands strictly between the length before and the
/// length the append would have reached, the append was torn by a crash: cut it off. (An
/// acknowledged append always reached `after`, so nothing acknowledged is ever removed.)
fn roll_back_torn_append(sb: &Sandbox, e: &Entry) -> Option<RolledBack> {
    let after = e.after?;
    let area = match e.area {
        journal::Area::Usr => Area::Usr,
        journal::Area::Store => Area::Store,
        journal::Area::Tmp => Area::Tmp,
    };
    let dir = sb.area_dir(area)?;
    let meta = dir.symlink_metadata(&e.rel).ok()?;
    if meta.is_file() && meta.len() > e.before && meta.len() < after {
        let mut opts = OpenOptions::new();
        opts.write(true);
        let f = dir.open_with(&e.rel, &opts).ok()?;
        f.set_len(e.before).ok()?;
        let _ = f.sync_data();
        let path = format!("{}/{}", area.dir_name(), e.rel);
        return Some(RolledBack { path, cut: meta.len() - e.before, length: e.before });
    }
    None
}

/// Usage from the files themselves: the rebuild when the journal is missing or corrupt.
pub fn scan(sb: &Sandbox) -> io::Result<Usage> {
    let m = |a| quota::measure(sb.area_dir(a).expect("area"));
    Ok(Usage { user: m(Area::Usr)? + m(Area::Store)?, temp: m(Area::Tmp)? })
}

/// When a saved file was saved: its status-change time, which the rename into the store area
/// set (saved files are never written, chmod-ed or touched afterwards), so saving costs no
/// extra system call to stamp the file.
fn saved_time(meta: &Metadata) -> i64 {
    meta.ctime()
}

/// Mark a temp file as used now: its access time orders the trim at close (survives restarts,
/// and does not depend on the mount's atime policy).
pub(crate) fn touch_used(file: &std::fs::File) {
    let _ = file.set_times(std::fs::FileTimes::new().set_accessed(SystemTime::now()));
}
