//! The quota journal (docs/design.md §5): usage survives restarts without walking directories.
//!
//! `quota.journal` holds an 8-byte header and CRC-framed records: a checkpoint (absolute usage),
//! then reserve / commit / release records. A mutation appends a reservation naming the paths it
//! will touch and their sizes before, changes the files, then appends a commit with the deltas
//! it applied. Replay starts from the checkpoint and applies commits; a reservation with neither
//! commit nor release was cut short by a crash and is settled from the files' real sizes. A new
//! checkpoint is written to a new file and renamed over the journal, which bounds replay.
//!
//! Format 2 (this release) keeps entries (files + directories) beside bytes, and names in each
//! reservation the inode of the file an fd write or append touches, so recovery acts on that file
//! and never on another that took its name. Format 1 (release 0.1.0) is still read: its usage is
//! rebuilt once from the files and written as format 2.
//!
//! Durability: in `power` mode a reservation is flushed before the mutation starts, so after a
//! power cut either the reservation or nothing of the mutation survives; commits need no flush
//! (a lost commit leaves a reservation, which settles to the same figure). For the same reason a
//! commit is not written on its own: it rides in the same write as the next reservation (or is
//! written at close), so a mutation costs one journal write, not two.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Delta, Usage};
use crate::io::{frame, unframe, LogFile, LogIo, Reader};

const MAGIC: &[u8; 4] = b"WXQJ";
/// The format this release writes.
pub const FORMAT: u32 = 2;
const VERSION: u32 = FORMAT;
const HEADER_LEN: usize = 8;
const MAX_RECORD: usize = 16 << 20;
/// Records after which the journal is rewritten as one checkpoint.
const CHECKPOINT_EVERY: u64 = 8192;

/// The area of a path: which usage figure it counts towards ([`Entry::new`] counts the package,
/// which is never written, as usr).
pub use crate::sandbox::Area;

/// An area's byte in a record.
fn area_byte(a: Area) -> u8 {
    match a {
        Area::Usr | Area::Package => 0,
        Area::Store => 1,
        Area::Tmp => 2,
    }
}

/// The area a record's byte names.
fn area_from_byte(b: u8) -> Option<Area> {
    Some(match b {
        0 => Area::Usr,
        1 => Area::Store,
        2 => Area::Tmp,
        _ => return None,
    })
}

/// One path a mutation touches: its area, its path relative to the area, and what it held before
/// (a file's length and 1 entry, or the totals under a directory, or nothing). For an append,
/// `after` is the length the file reaches when the append completes: a file found strictly
/// between the two after a crash holds a torn append, which open rolls back. `ino` names the
/// file a write through an fd or an append touched: recovery acts on the path only while it
/// still names that file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub area: Area,
    pub rel: String,
    pub before: u64,
    pub before_entries: u64,
    pub after: Option<u64>,
    pub ino: Option<u64>,
    /// For a write through an fd over bytes the file already held: how to take it back.
    pub undo: Option<Undo>,
}

/// What a write through an fd overwrote, so that recovery can tell a complete write from a torn
/// one (the range `at..end` holds bytes whose CRC is `crc`, and the file is at least `end`
/// long) and put a torn one back (`old` at `at`, and the file cut to the entry's `before`).
/// An append, or a write that only adds bytes, has one too, with no `old` bytes: a power cut
/// can keep its length without all of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undo {
    pub at: u64,
    pub end: u64,
    pub crc: u32,
    pub old: Vec<u8>,
}

impl Entry {
    /// An entry of `rel` in `area` (the package, never written, counts as usr).
    pub fn new(area: Area, rel: String, before: u64, before_entries: u64) -> Entry {
        let area = if area == Area::Package { Area::Usr } else { area };
        Entry { area, rel, before, before_entries, after: None, ino: None, undo: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rec {
    Checkpoint(Usage),
    Reserve(u64, Vec<Entry>),
    Commit(u64, Delta),
    Release(u64),
}

fn encode(rec: &Rec) -> Vec<u8> {
    let mut p = Vec::with_capacity(48);
    match rec {
        Rec::Checkpoint(u) => {
            p.push(1);
            p.extend_from_slice(&u.user.to_le_bytes());
            p.extend_from_slice(&u.temp.to_le_bytes());
            p.extend_from_slice(&u.entries.to_le_bytes());
        }
        Rec::Reserve(id, entries) => {
            p.push(2);
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for e in entries {
                p.push(area_byte(e.area));
                p.extend_from_slice(&e.before.to_le_bytes());
                p.extend_from_slice(&e.before_entries.to_le_bytes());
                p.extend_from_slice(&e.after.unwrap_or(u64::MAX).to_le_bytes());
                p.extend_from_slice(&e.ino.unwrap_or(0).to_le_bytes());
                p.extend_from_slice(&(e.rel.len() as u32).to_le_bytes());
                p.extend_from_slice(e.rel.as_bytes());
                match &e.undo {
                    None => p.push(0),
                    Some(u) => {
                        p.push(1);
                        p.extend_from_slice(&u.at.to_le_bytes());
                        p.extend_from_slice(&u.end.to_le_bytes());
                        p.extend_from_slice(&u.crc.to_le_bytes());
                        p.extend_from_slice(&(u.old.len() as u32).to_le_bytes());
                        p.extend_from_slice(&u.old);
                    }
                }
            }
        }
        Rec::Commit(id, d) => {
            p.push(3);
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(&d.user.to_le_bytes());
            p.extend_from_slice(&d.temp.to_le_bytes());
            p.extend_from_slice(&d.entries.to_le_bytes());
        }
        Rec::Release(id) => {
            p.push(4);
            p.extend_from_slice(&id.to_le_bytes());
        }
    }
    let mut out = Vec::with_capacity(p.len() + 8);
    frame(&mut out, &p);
    out
}

/// One record of format `version`. Format 1 had no entry counts, no inodes and no entry deltas.
fn decode(payload: &[u8], version: u32) -> Option<Rec> {
    let v2 = version >= 2;
    let mut r = Reader::new(payload);
    let rec = match r.u8()? {
        1 => Rec::Checkpoint(Usage { user: r.u64()?, temp: r.u64()?, entries: if v2 { r.u64()? } else { 0 } }),
        2 => {
            let id = r.u64()?;
            let n = r.u32()? as usize;
            let mut entries = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let area = area_from_byte(r.u8()?)?;
                let before = r.u64()?;
                let before_entries = if v2 { r.u64()? } else { 0 };
                let after = Some(r.u64()?).filter(|&a| a != u64::MAX);
                let ino = if v2 { Some(r.u64()?).filter(|&i| i != 0) } else { None };
                let len = r.u32()? as usize;
                let rel = String::from_utf8(r.take(len)?.to_vec()).ok()?;
                let undo = match if v2 { r.u8()? } else { 0 } {
                    0 => None,
                    1 => {
                        let (at, end, crc) = (r.u64()?, r.u64()?, r.u32()?);
                        let n = r.u32()? as usize;
                        Some(Undo { at, end, crc, old: r.take(n)?.to_vec() })
                    }
                    _ => return None,
                };
                entries.push(Entry { area, rel, before, before_entries, after, ino, undo });
            }
            Rec::Reserve(id, entries)
        }
        3 => Rec::Commit(r.u64()?, Delta { user: r.i64()?, temp: r.i64()?, entries: if v2 { r.i64()? } else { 0 } }),
        4 => Rec::Release(r.u64()?),
        _ => return None,
    };
    r.is_empty().then_some(rec)
}

/// What replaying the journal found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Usage from the checkpoint and the commits after it.
    pub usage: Usage,
    /// Reservations a crash cut short, to settle from real sizes.
    pub pending: Vec<Vec<Entry>>,
    /// Records read after the checkpoint.
    pub records: u64,
    /// Bytes of a torn or damaged tail that were cut off.
    pub truncated: u64,
    /// The format the journal was written in; before 2 it counts no entries (rebuild from files).
    pub format: u32,
}

/// Why the journal could not be used; the caller rebuilds usage from a scan and says so.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    Missing,
    Corrupt(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => f.write_str("quota journal missing"),
            Unusable::Corrupt(why) => write!(f, "quota journal corrupt: {why}"),
        }
    }
}

/// Read a journal without opening it for writing (fsck, gc).
pub fn replay_bytes(bytes: &[u8]) -> Result<Replay, Unusable> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(Unusable::Corrupt("bad header".into()));
    }
    let version = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    if !(1..=VERSION).contains(&version) {
        return Err(Unusable::Corrupt(format!("unknown version {version}")));
    }
    let mut pos = HEADER_LEN;
    let mut usage = None;
    let mut pending: BTreeMap<u64, Vec<Entry>> = BTreeMap::new();
    let mut records = 0u64;
    while let Some((payload, n)) = unframe(&bytes[pos..], MAX_RECORD) {
        let Some(rec) = decode(payload, version) else { break };
        match (rec, usage.as_mut()) {
            (Rec::Checkpoint(u), None) => usage = Some(u),
            (_, None) => return Err(Unusable::Corrupt("no checkpoint".into())),
            (Rec::Checkpoint(_), Some(_)) => return Err(Unusable::Corrupt("second checkpoint".into())),
            (Rec::Reserve(id, entries), Some(_)) => {
                pending.insert(id, entries);
            }
            (Rec::Commit(id, d), Some(u)) => {
                pending.remove(&id);
                u.apply(d);
            }
            (Rec::Release(id), Some(_)) => {
                pending.remove(&id);
            }
        }
        records += 1;
        pos += n;
    }
    let usage = usage.ok_or_else(|| Unusable::Corrupt("no checkpoint".into()))?;
    Ok(Replay {
        usage,
        pending: pending.into_values().collect(),
        records,
        truncated: (bytes.len() - pos) as u64,
        format: version,
    })
}

/// Sum `measure(entry) - entry.before` over settled reservations; `measure` gives the bytes and
/// entries an entry's path holds now.
pub fn settle(pending: &[Vec<Entry>], measure: impl Fn(&Entry) -> (u64, u64)) -> Delta {
    let mut d = Delta::ZERO;
    for e in pending.iter().flatten() {
        let (bytes, entries) = measure(e);
        let db = super::delta(bytes, e.before);
        if e.area == Area::Tmp {
            d.temp += db;
        } else {
            d.user += db;
            d.entries += super::delta(entries, e.before_entries);
        }
    }
    d
}

pub struct Journal {
    io: Arc<dyn LogIo>,
    path: PathBuf,
    /// The journal's file, opened for appending on demand and cached within the process-wide
    /// bound (`sandbox::handles`): an idle sandbox holds no fd for it. Appends keep their order
    /// whatever fd carries them (each is one `write` at the end of the one file, under the
    /// file system's lock), and a flush is asked on the fd that made the append it covers,
    /// in the same call, so the durability of each record is as when one fd was held.
    file: Handle,
    /// How the file is opened again (default: `io.open_append(path)`).
    reopen: Option<Reopen>,
    len: u64,
    next_id: u64,
    records: u64,
    power: bool,
    /// The last mutation's commit or release, written with the next record.
    held: Option<Rec>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if crate::crash::killed() {
            return; // a killed process writes nothing more
        }
        if let Some(rec) = self.held.take() {
            let _ = self.file().and_then(|f| f.append(&encode(&rec)));
        }
    }
}

impl Journal {
    pub const FILE: &'static str = "quota.journal";

    /// Replay the journal at `path` and open it for appending; cuts a torn tail off.
    pub fn open(io: Arc<dyn LogIo>, path: &Path, power: bool) -> io::Result<Result<(Journal, Replay), Unusable>> {
        let Some(bytes) = io.read(path)? else {
            return Ok(Err(Unusable::Missing));
        };
        let replay = match replay_bytes(&bytes) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let len = bytes.len() as u64 - replay.truncated;
        let file = Handle::default();
        if replay.truncated > 0 {
            let f = io.open_append(path)?;
            f.set_len(len)?;
            f.sync()?;
            file.put(f);
        }
        let j = Journal {
            io,
            path: path.to_path_buf(),
            file,
            len,
            next_id: 1,
            records: replay.records,
            power,
            held: None,
            reopen: None,
        };
        Ok(Ok((j, replay)))
    }

    /// Write a fresh journal holding one checkpoint (new file, flush, rename, flush directory).
    pub fn create(io: Arc<dyn LogIo>, path: &Path, usage: Usage, power: bool) -> io::Result<Journal> {
        let file = Handle::default();
        file.put(write_checkpoint(&*io, path, usage)?);
        let len = (HEADER_LEN + encode(&Rec::Checkpoint(usage)).len()) as u64;
        Ok(Journal { io, path: path.to_path_buf(), file, len, next_id: 1, records: 1, power, held: None, reopen: None })
    }

    /// The journal's file: the cached fd, or a new one (`sandbox::handles`).
    fn file(&self) -> io::Result<Arc<dyn LogFile>> {
        let open = || match &self.reopen {
            Some(reopen) => reopen(),
            None => self.io.open_append(&self.path),
        };
        self.file.0.get(0, open).map(|f| (*f).clone())
    }

    /// Open the file again with `reopen` whenever its fd is not cached: the real file system
    /// opens it from the sandbox's directory handle, so a journal is never found again by a
    /// path that may name another sandbox's by then.
    pub fn reopen_with(&mut self, reopen: Reopen) {
        self.reopen = Some(reopen);
    }

    /// Write the held record (if any) and `rec` in one append.
    fn append(&mut self, rec: &Rec, flush: bool) -> io::Result<()> {
        let held = self.held.take();
        let mut bytes = held.as_ref().map(encode).unwrap_or_default();
        bytes.extend_from_slice(&encode(rec));
        let file = match self.file() {
            Ok(f) => f,
            Err(e) => {
                self.held = held;
                return Err(e);
            }
        };
        if let Err(e) = file.append(&bytes).and_then(|_| if flush { file.sync() } else { Ok(()) }) {
            let _ = file.set_len(self.len);
            self.held = held;
            return Err(e);
        }
        self.len += bytes.len() as u64;
        self.records += 1 + held.is_some() as u64;
        Ok(())
    }

    /// Record that a mutation is about to touch `entries`; returns its id.
    pub fn reserve(&mut self, entries: Vec<Entry>) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.append(&Rec::Reserve(id, entries), self.power)?;
        Ok(id)
    }

    /// The mutation `id` finished and changed usage by `d` (written with the next record; until
    /// then a crash leaves `id` to be settled from the files).
    pub fn commit(&mut self, id: u64, d: Delta) -> io::Result<()> {
        self.hold(Rec::Commit(id, d))
    }

    /// The mutation `id` changed nothing.
    pub fn release(&mut self, id: u64) -> io::Result<()> {
        self.hold(Rec::Release(id))
    }

    fn hold(&mut self, rec: Rec) -> io::Result<()> {
        if let Some(prev) = self.held.replace(rec) {
            // Two outcomes in a row without a reservation between: write the older one now.
            let bytes = encode(&prev);
            let file = self.file()?;
            if let Err(e) = file.append(&bytes) {
                let _ = file.set_len(self.len);
                return Err(e);
            }
            self.len += bytes.len() as u64;
            self.records += 1;
        }
        Ok(())
    }

    pub fn wants_checkpoint(&self) -> bool {
        self.records >= CHECKPOINT_EVERY
    }

    /// Replace the journal by one checkpoint of `usage`. Call with no reservation open.
    pub fn checkpoint(&mut self, usage: Usage) -> io::Result<()> {
        self.held = None; // the checkpoint's figure includes it
                          // The cached fd names the file the rename replaces: closed first, whatever follows.
        self.file.0.forget(0);
        self.file.put(write_checkpoint(&*self.io, &self.path, usage)?);
        self.len = (HEADER_LEN + encode(&Rec::Checkpoint(usage)).len()) as u64;
        self.records = 1;
        Ok(())
    }
}

/// Opens the journal's file again for appending.
pub type Reopen = Box<dyn Fn() -> io::Result<Arc<dyn LogFile>> + Send + Sync>;

/// The journal's file in the cache: its fd number is not known to it (the cache probes).
impl crate::sandbox::handles::Held for Arc<dyn LogFile> {}

/// The journal's slot in the process-wide handle cache.
#[derive(Default)]
struct Handle(crate::sandbox::handles::Owner);

impl Handle {
    fn put(&self, f: Arc<dyn LogFile>) {
        self.0.put(0, f);
    }
}

fn write_checkpoint(io: &dyn LogIo, path: &Path, usage: Usage) -> io::Result<Arc<dyn LogFile>> {
    let tmp = path.with_extension("journal.new");
    let _ = io.remove(&tmp);
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&encode(&Rec::Checkpoint(usage)));
    let f = io.open_append(&tmp)?;
    f.append(&bytes)?;
    f.sync()?;
    crate::crash::point();
    io.rename(&tmp, path)?;
    crate::crash::point();
    if let Some(dir) = path.parent() {
        io.sync_dir(dir)?;
    }
    io.open_append(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::StdIo;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wxfs-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entry(rel: &str, before: u64) -> Entry {
        Entry::new(Area::Usr, rel.into(), before, 1)
    }

    fn u(user: u64, temp: u64) -> Usage {
        Usage { user, temp, entries: 0 }
    }

    #[test]
    fn replay_applies_commits_and_reports_pending() {
        let d = dir("replay");
        let p = d.join(Journal::FILE);
        let io: Arc<dyn LogIo> = Arc::new(StdIo);
        let mut j = Journal::create(io.clone(), &p, u(10, 5), false).unwrap();
        let a = j.reserve(vec![entry("a", 0)]).unwrap();
        j.commit(a, Delta::user(100, 0)).unwrap();
        let b = j.reserve(vec![entry("b", 7)]).unwrap();
        j.release(b).unwrap();
        let undo = Undo { at: 3, end: 9, crc: 0xdead_beef, old: b"old".to_vec() };
        let t = Entry { after: Some(12), ino: Some(77), undo: Some(undo.clone()), ..Entry::new(Area::Tmp, "t".into(), 9, 1) };
        j.reserve(vec![entry("c", 3), t]).unwrap();
        drop(j);
        let (_, r) = Journal::open(io, &p, false).unwrap().unwrap();
        assert_eq!(r.usage, u(110, 5));
        assert_eq!(r.pending.len(), 1);
        assert_eq!(r.pending[0][1].ino, Some(77));
        assert_eq!(r.pending[0][1].undo, Some(undo));
        assert_eq!(settle(&r.pending, |e| if e.rel == "c" { (8, 3) } else { (0, 0) }), Delta { user: 5, temp: -9, entries: 2 });
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn torn_tail_costs_only_the_torn_record() {
        let d = dir("torn");
        let p = d.join(Journal::FILE);
        let io: Arc<dyn LogIo> = Arc::new(StdIo);
        let mut j = Journal::create(io.clone(), &p, Usage::default(), false).unwrap();
        for i in 0..5 {
            let id = j.reserve(vec![entry("f", i)]).unwrap();
            j.commit(id, Delta::user(1, 0)).unwrap();
        }
        drop(j);
        let full = std::fs::read(&p).unwrap();
        let last_commit = encode(&Rec::Commit(5, Delta::user(1, 0))).len();
        for cut in (full.len() - last_commit)..full.len() {
            std::fs::write(&p, &full[..cut]).unwrap();
            let (_, r) = Journal::open(io.clone(), &p, false).unwrap().unwrap();
            assert_eq!(r.usage.user, 4, "cut {cut}");
            assert_eq!(r.pending.len(), 1, "the last reservation is pending");
            assert_eq!(std::fs::metadata(&p).unwrap().len() as usize, full.len() - last_commit);
        }
        let mut flipped = full.clone();
        let n = flipped.len();
        flipped[n - 3] ^= 0x40;
        std::fs::write(&p, &flipped).unwrap();
        let (_, r) = Journal::open(io.clone(), &p, false).unwrap().unwrap();
        assert_eq!(r.usage.user, 4);
        std::fs::write(&p, b"garbage!").unwrap();
        assert!(matches!(Journal::open(io.clone(), &p, false).unwrap(), Err(Unusable::Corrupt(_))));
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(Journal::open(io, &p, false).unwrap(), Err(Unusable::Missing)));
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn checkpoint_bounds_replay() {
        let d = dir("ckpt");
        let p = d.join(Journal::FILE);
        let io: Arc<dyn LogIo> = Arc::new(StdIo);
        let mut j = Journal::create(io.clone(), &p, Usage::default(), false).unwrap();
        for _ in 0..100 {
            let id = j.reserve(vec![entry("f", 0)]).unwrap();
            j.commit(id, Delta { user: 2, temp: 1, entries: 0 }).unwrap();
        }
        j.checkpoint(u(200, 100)).unwrap();
        let id = j.reserve(vec![entry("g", 0)]).unwrap();
        j.commit(id, Delta::user(1, 0)).unwrap();
        drop(j);
        let (_, r) = Journal::open(io, &p, false).unwrap().unwrap();
        assert_eq!(r.usage, u(201, 100));
        assert_eq!(r.records, 3);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 142, "header, checkpoint, one reserve, one commit");
        let _ = std::fs::remove_dir_all(d);
    }
}
