//! The durability model (the rules are at the top of `lib.rs`): for each inode of the backing
//! directory, what a cut would leave of it, kept beside the pass-through.
//!
//! Bookkeeping, and why it is exact:
//! - Every inode the mount has seen is a [`Node`] holding an `O_PATH` descriptor of it: the
//!   descriptor keeps the inode (and so its number, the node's key) alive even once it has no
//!   name, so the durable state can still refer to it and read it.
//! - A file's data is `Clean` while the backing file holds exactly its durable bytes (at mount,
//!   after a create, after a sync). The first change after that copies the bytes out first
//!   (`Dirty.durable`) and then logs every change (`Dirty.pending`); a sync makes it `Clean`.
//! - A directory's entries are `Clean` while the backing directory holds exactly its durable
//!   entries. The first change after that lists the entries first (pinning each inode) and then
//!   logs every change with a global sequence number; a directory sync replays the log into the
//!   durable entries. A rename between two directories logs one change in each, linked: replaying
//!   either replays the other directory's log up to it (rule 3).
//! - Every change is recorded before the backing call and kept only if the call succeeds; the
//!   state is changed by this process alone (the FUSE thread), so nothing moves behind it.
//!
//! A cut walks the durable entries from the root and writes what it finds into a new directory.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// How much of what was not synced a cut keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// Only what a sync made durable.
    Strict,
    /// That, plus a subset of the unsynced writes (some torn at a sector boundary) and a prefix
    /// of the unsynced directory operations, drawn from this seed.
    Seeded(u64),
}

/// One counted call: a mutating call, or a sync point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// 1 for the first event after the harness armed the mount.
    pub n: u64,
    /// An `fsync`/`fdatasync`/`msync` of a file, or an `fsync` of a directory.
    pub sync: bool,
    /// What it was, e.g. `write usr/a.txt @0+6000` or `fsyncdir usr` (paths relative to the mount).
    pub what: String,
}

/// What a cut did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    pub files: usize,
    pub dirs: usize,
    pub bytes: u64,
    /// Files that had changes no sync made durable.
    pub files_rolled_back: usize,
    /// Directory changes that no sync made durable (and the cut undid).
    pub entries_rolled_back: usize,
    /// Unsynced writes or directory changes a seeded cut kept anyway.
    pub kept_unsynced: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
}

/// A change to a file's data that no sync has made durable yet.
#[derive(Clone, Debug)]
pub(crate) enum DataOp {
    Write {
        at: u64,
        bytes: Vec<u8>,
    },
    SetLen(u64),
    /// `fallocate` without `KEEP_SIZE`: the length grows to at least this, with zeros.
    Extend(u64),
    /// Punch hole or zero range: zeros over `[at, at + len)`, growing the file if `extend`.
    Zero {
        at: u64,
        len: u64,
        extend: bool,
    },
}

impl DataOp {
    fn apply(&self, v: &mut Vec<u8>) {
        match *self {
            DataOp::Write { at, ref bytes } => {
                let (at, end) = (at as usize, at as usize + bytes.len());
                if v.len() < end {
                    v.resize(end, 0);
                }
                v[at..end].copy_from_slice(bytes);
            }
            DataOp::SetLen(n) => v.resize(n as usize, 0),
            DataOp::Extend(n) => {
                if v.len() < n as usize {
                    v.resize(n as usize, 0);
                }
            }
            DataOp::Zero { at, len, extend } => {
                let end = (at + len) as usize;
                if extend && v.len() < end {
                    v.resize(end, 0);
                }
                let stop = end.min(v.len());
                if (at as usize) < stop {
                    v[at as usize..stop].fill(0);
                }
            }
        }
    }
}

pub(crate) enum Data {
    Clean,
    Dirty { durable: Vec<u8>, pending: Vec<DataOp> },
}

/// A directory change no sync has made durable yet: entry `name` now refers to `to` (or is gone).
pub(crate) struct Change {
    seq: u64,
    name: OsString,
    to: Option<u64>,
    /// The other directory of a rename between two directories.
    partner: Option<u64>,
}

pub(crate) enum Entries {
    Clean,
    Dirty { durable: BTreeMap<OsString, u64>, pending: VecDeque<Change> },
}

pub(crate) struct Node {
    /// `O_PATH` descriptor of the backing inode.
    pub fd: OwnedFd,
    pub kind: Kind,
    pub data: Data,
    pub entries: Entries,
    /// A path it had (relative to the mount), for event texts.
    pub hint: String,
}

/// The nodes, keyed by backing inode number.
pub(crate) struct Model {
    pub root: u64,
    pub nodes: HashMap<u64, Node>,
    /// Last sequence number given to a directory change.
    seq: u64,
}

fn kind_of(mode: u32) -> io::Result<Kind> {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => Ok(Kind::File),
        FileType::Directory => Ok(Kind::Dir),
        FileType::Symlink => Ok(Kind::Symlink),
        _ => Err(io::Error::new(io::ErrorKind::Unsupported, "only files, directories and symlinks")),
    }
}

/// The `/proc` name through which an `O_PATH` descriptor is opened for I/O (it works for a file
/// with no name left, too).
pub(crate) fn proc_path(fd: &OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// A small deterministic generator (xorshift64) for seeded cuts.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

impl Model {
    pub fn new(backing: &Path) -> io::Result<Model> {
        let fd = rustix::fs::open(backing, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let st = rustix::fs::fstat(&fd)?;
        let root = st.st_ino;
        let node = Node { fd, kind: Kind::Dir, data: Data::Clean, entries: Entries::Clean, hint: String::new() };
        Ok(Model { root, nodes: HashMap::from([(root, node)]), seq: 0 })
    }

    pub fn node(&self, ino: u64) -> io::Result<&Node> {
        self.nodes.get(&ino).ok_or_else(|| io::Error::from_raw_os_error(libc_enoent()))
    }

    /// The node of entry `name` of directory `dir`, pinned (made if new).
    pub fn node_at(&mut self, dir: u64, name: &OsStr) -> io::Result<u64> {
        let parent = self.node(dir)?;
        let fd = rustix::fs::openat(&parent.fd, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        let st = rustix::fs::fstat(&fd)?;
        let hint = join(&parent.hint, name);
        match self.nodes.get_mut(&st.st_ino) {
            // The latest name it was seen by, for event texts.
            Some(n) => n.hint = hint,
            None => {
                let kind = kind_of(st.st_mode)?;
                self.nodes.insert(st.st_ino, Node { fd, kind, data: Data::Clean, entries: Entries::Clean, hint });
            }
        }
        Ok(st.st_ino)
    }

    /// The entries the backing directory holds now, each pinned.
    fn list(&mut self, dir: u64) -> io::Result<BTreeMap<OsString, u64>> {
        let names: Vec<OsString> =
            std::fs::read_dir(proc_path(&self.node(dir)?.fd))?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>()?;
        let mut out = BTreeMap::new();
        for name in names {
            let ino = self.node_at(dir, &name)?;
            out.insert(name, ino);
        }
        Ok(out)
    }

    /// Before the first change of a file's data since it was clean: keep its durable bytes.
    pub fn touch_data(&mut self, ino: u64) -> io::Result<()> {
        if matches!(self.node(ino)?.data, Data::Clean) {
            let mut bytes = Vec::new();
            File::open(proc_path(&self.node(ino)?.fd))?.read_to_end(&mut bytes)?;
            self.nodes.get_mut(&ino).expect("present").data = Data::Dirty { durable: bytes, pending: Vec::new() };
        }
        Ok(())
    }

    /// A change to a file's data went through (after [`touch_data`](Self::touch_data)).
    pub fn data_changed(&mut self, ino: u64, op: DataOp) {
        if let Some(Node { data: Data::Dirty { pending, .. }, .. }) = self.nodes.get_mut(&ino) {
            pending.push(op);
        }
    }

    /// `fsync`/`fdatasync` of a file: its data as it is now is durable.
    pub fn sync_data(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.data = Data::Clean;
        }
    }

    /// Before the first change of a directory's entries since it was clean: keep them.
    pub fn touch_dir(&mut self, dir: u64) -> io::Result<()> {
        if matches!(self.node(dir)?.entries, Entries::Clean) {
            let durable = self.list(dir)?;
            self.nodes.get_mut(&dir).expect("present").entries = Entries::Dirty { durable, pending: VecDeque::new() };
        }
        Ok(())
    }

    /// A new sequence number for a change (two entries changed by one rename share it).
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// An entry change went through (after [`touch_dir`](Self::touch_dir)).
    pub fn entry_changed(&mut self, dir: u64, seq: u64, name: &OsStr, to: Option<u64>, partner: Option<u64>) {
        if let Some(Node { entries: Entries::Dirty { pending, .. }, .. }) = self.nodes.get_mut(&dir) {
            pending.push_back(Change { seq, name: name.to_os_string(), to, partner });
        }
        if let (Some(to), Some(parent)) = (to, self.nodes.get(&dir)) {
            let hint = join(&parent.hint, name);
            if let Some(n) = self.nodes.get_mut(&to) {
                n.hint = hint;
            }
        }
    }

    /// `fsync` of a directory: its entries as they are now are durable (and, through renames
    /// between directories, the other directory's changes up to each such rename).
    pub fn sync_dir(&mut self, dir: u64) -> io::Result<()> {
        self.commit(dir, u64::MAX);
        if let Some(Entries::Dirty { durable, pending }) = self.nodes.get(&dir).map(|n| &n.entries) {
            debug_assert!(pending.is_empty());
            let durable = durable.clone();
            let now = self.list(dir)?;
            assert_eq!(
                durable, now,
                "powercut model: the durable entries of {:?} after a sync differ from the directory",
                self.nodes[&dir].hint
            );
            self.nodes.get_mut(&dir).expect("present").entries = Entries::Clean;
        }
        Ok(())
    }

    /// Replay `dir`'s logged changes with a sequence number up to `upto` into its durable entries.
    fn commit(&mut self, dir: u64, upto: u64) {
        loop {
            let Some(Node { entries: Entries::Dirty { durable, pending }, .. }) = self.nodes.get_mut(&dir) else { return };
            if pending.front().is_none_or(|c| c.seq > upto) {
                return;
            }
            let c = pending.pop_front().expect("checked");
            match c.to {
                Some(ino) => durable.insert(c.name, ino),
                None => durable.remove(&c.name),
            };
            if let Some(p) = c.partner {
                self.commit(p, c.seq);
            }
        }
    }

    /// Write the state a cut leaves into the new directory `out` (which must not exist).
    pub fn cut(&mut self, mode: CutMode, out: &Path) -> io::Result<CutReport> {
        let mut report = CutReport::default();
        for n in self.nodes.values() {
            if let Entries::Dirty { pending, .. } = &n.entries {
                report.entries_rolled_back += pending.len();
            }
            if let Data::Dirty { pending, .. } = &n.data {
                report.files_rolled_back += usize::from(!pending.is_empty());
            }
        }
        // Whatever a strict cut drops is counted once above; a seeded cut then keeps some of it.
        if let CutMode::Seeded(seed) = mode {
            let mut rng = Rng(seed | 1);
            let upto = rng.below(self.seq + 1);
            let dirs: Vec<u64> = self.nodes.keys().copied().collect();
            let before = self.pending_changes();
            for d in dirs {
                self.commit(d, upto);
            }
            report.kept_unsynced += before - self.pending_changes();
            // In path order, so that a seed draws the same way in every run (inode numbers differ).
            let mut files: Vec<(String, u64)> = self.nodes.iter().map(|(ino, n)| (n.hint.clone(), *ino)).collect();
            files.sort_unstable();
            for (_, ino) in files {
                if let Some(Node { data: Data::Dirty { durable, pending }, .. }) = self.nodes.get_mut(&ino) {
                    for op in pending.drain(..) {
                        match rng.below(4) {
                            0 | 1 => {}
                            2 => {
                                op.apply(durable);
                                report.kept_unsynced += 1;
                            }
                            _ => {
                                // Torn: only the sectors before a random boundary inside it.
                                if let DataOp::Write { at, bytes } = &op {
                                    let first = (at / 512 + 1) * 512;
                                    let keep = first.saturating_sub(*at) + 512 * rng.below(bytes.len() as u64 / 512 + 1);
                                    let keep = (keep as usize).min(bytes.len());
                                    DataOp::Write { at: *at, bytes: bytes[..keep].to_vec() }.apply(durable);
                                } else {
                                    op.apply(durable);
                                }
                                report.kept_unsynced += 1;
                            }
                        }
                    }
                }
            }
        }
        std::fs::create_dir(out)?;
        let mut written: HashMap<u64, PathBuf> = HashMap::new();
        let mut seen_dirs: HashSet<u64> = HashSet::from([self.root]);
        let mut stack = vec![(self.root, out.to_path_buf())];
        while let Some((dir, at)) = stack.pop() {
            report.dirs += 1;
            let entries = match &self.node(dir)?.entries {
                Entries::Dirty { durable, .. } => durable.clone(),
                Entries::Clean => self.list(dir)?,
            };
            for (name, ino) in entries {
                let path = at.join(&name);
                let node = self.node(ino)?;
                match node.kind {
                    Kind::Dir => {
                        // A directory reachable twice (impossible by rule 3) is written once.
                        if seen_dirs.insert(ino) {
                            std::fs::create_dir(&path)?;
                            stack.push((ino, path));
                        }
                    }
                    Kind::Symlink => {
                        let target = rustix::fs::readlinkat(&node.fd, "", Vec::new())?;
                        std::os::unix::fs::symlink(OsStr::from_bytes(target.as_bytes()), &path)?;
                    }
                    Kind::File => {
                        if let Some(first) = written.get(&ino) {
                            std::fs::hard_link(first, &path)?;
                            continue;
                        }
                        // The same inode, linked under its durable name, as a real disk keeps it
                        // (recovery may compare inode numbers); a file with no name left (its
                        // unlink or replacement is undone) can only be a copy.
                        let linked = rustix::fs::linkat(
                            rustix::fs::CWD,
                            proc_path(&node.fd),
                            rustix::fs::CWD,
                            &path,
                            AtFlags::SYMLINK_FOLLOW,
                        )
                        .is_ok();
                        let st = rustix::fs::fstat(&node.fd)?;
                        let f = match (&node.data, linked) {
                            (Data::Clean, true) => File::options().write(true).open(&path)?,
                            (Data::Dirty { durable, .. }, true) => {
                                let f = File::options().write(true).open(&path)?;
                                f.set_len(durable.len() as u64)?;
                                std::os::unix::fs::FileExt::write_all_at(&f, durable, 0)?;
                                f
                            }
                            (data, false) => {
                                let bytes = match data {
                                    Data::Dirty { durable, .. } => durable.clone(),
                                    Data::Clean => {
                                        let mut v = Vec::new();
                                        File::open(proc_path(&node.fd))?.read_to_end(&mut v)?;
                                        v
                                    }
                                };
                                let mut f = File::create(&path)?;
                                f.write_all(&bytes)?;
                                rustix::fs::fchmod(f.as_fd(), Mode::from_raw_mode(st.st_mode & 0o7777))?;
                                f
                            }
                        };
                        let mtime = std::time::UNIX_EPOCH + std::time::Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32);
                        f.set_times(std::fs::FileTimes::new().set_modified(mtime))?;
                        let bytes = f.metadata()?.len();
                        report.files += 1;
                        report.bytes += bytes;
                        written.insert(ino, path);
                    }
                }
            }
            let st = rustix::fs::fstat(&self.node(dir)?.fd)?;
            rustix::fs::chmodat(rustix::fs::CWD, &at, Mode::from_raw_mode(st.st_mode & 0o7777), AtFlags::empty())?;
        }
        Ok(report)
    }

    fn pending_changes(&self) -> usize {
        self.nodes.values().map(|n| if let Entries::Dirty { pending, .. } = &n.entries { pending.len() } else { 0 }).sum()
    }
}

fn join(parent: &str, name: &OsStr) -> String {
    let name = name.to_string_lossy();
    if parent.is_empty() {
        name.into_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn libc_enoent() -> i32 {
    rustix::io::Errno::NOENT.raw_os_error()
}
