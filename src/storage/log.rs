//! The log file: what the engine does to disk, behind a small IO trait so tests can inject
//! failures and power cuts.
//!
//! Invariants kept here:
//! - `data.log` always starts with a valid header once it exists: a new log (fresh or compacted)
//!   is written to `data.log.compact`, synced, and renamed over `data.log`, then the directory is
//!   synced. A crash at any instant leaves the old complete log or the new complete log.
//! - Appends go to the end of the file in one write; a failed append is cut off again before
//!   anything else is appended, so a record never lands behind garbage.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::{self, Header, Record};
use super::Value;

pub const LOG_NAME: &str = "data.log";
pub const COMPACT_NAME: &str = "data.log.compact";
pub const CORRUPT_PREFIX: &str = "data.log.corrupt-";

/// Compaction writes the new log in pieces of about this size rather than one buffer of the
/// whole store.
const CHUNK: usize = 1 << 20;

pub use crate::io::{LogFile, LogIo, StdIo};

/// The live log: its append handle and where its end is.
pub struct Log {
    io: Arc<dyn LogIo>,
    dir: PathBuf,
    file: Arc<dyn LogFile>,
    /// Length of the valid prefix of `data.log`: the end of the last record that was written whole.
    len: u64,
    /// Bytes appended since open, plus the length at open. Unlike `len` it never goes back at a
    /// compaction, so "synced up to position p" stays meaningful across a switch of files.
    pos: u64,
    /// A failed append could not be cut off: cut it before the next append, or refuse to append.
    dirty_tail: bool,
    /// Number of logs installed by compaction since open.
    generation: u64,
    /// Set when the rename that installed this generation is not known to be durable yet.
    dir_unsynced: Option<u64>,
}

/// What `Log::open` found.
pub struct Opened {
    pub log: Log,
    pub records: u64,
    pub truncated_bytes: u64,
    pub corrupt_moved_to: Option<PathBuf>,
}

impl Log {
    /// Opens (or creates) `dir/data.log`, calling `apply` for each good record in order, and cuts
    /// the file after the last good one.
    pub fn open(io: Arc<dyn LogIo>, dir: &Path, mut apply: impl FnMut(Record)) -> io::Result<Opened> {
        io.create_dir_all(dir)?;
        let path = dir.join(LOG_NAME);
        // A leftover compaction output never became live: the rename is what makes it live.
        ignore_missing(io.remove(&dir.join(COMPACT_NAME)))?;

        let mut corrupt_moved_to = None;
        let mut truncated_bytes = 0;
        let mut records = 0;
        let bytes = io.read(&path)?;
        let (file, len) = match bytes.as_deref().map(record::check_header) {
            Some(Header::Valid) => {
                let bytes = bytes.as_deref().unwrap_or_default();
                let mut off = record::HEADER_LEN;
                while let Ok((rec, n)) = record::decode(&bytes[off..]) {
                    apply(rec);
                    off += n;
                    records += 1;
                }
                let file = io.open_append(&path)?;
                if off < bytes.len() {
                    truncated_bytes = (bytes.len() - off) as u64;
                    file.set_len(off as u64)?;
                    file.sync()?;
                }
                (file, off as u64)
            }
            Some(Header::Version(v)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} has format version {v}; this build reads version {}", path.display(), record::VERSION),
                ));
            }
            found => {
                if let Some(Header::Torn) = found {
                    // Only a prefix of a header: a creation that never finished; nothing to keep.
                    truncated_bytes = bytes.as_ref().map_or(0, |b| b.len() as u64);
                } else if let Some(Header::Corrupt) = found {
                    // Not ours to interpret, and not ours to delete.
                    let aside = corrupt_name(&*io, dir)?;
                    io.rename(&path, &aside)?;
                    corrupt_moved_to = Some(aside);
                }
                let (file, len) = install(&*io, dir, std::iter::empty())?;
                io.sync_dir(dir)?;
                (file, len)
            }
        };
        let log = Log { io, dir: dir.to_owned(), file, len, pos: len, dirty_tail: false, generation: 0, dir_unsynced: None };
        Ok(Opened { log, records, truncated_bytes, corrupt_moved_to })
    }

    /// Appends one encoded record with one write. On failure the file is cut back to its previous
    /// length and nothing changed. Returns the record's end position (see `pos`).
    pub fn append(&mut self, rec: &[u8]) -> io::Result<u64> {
        if self.dirty_tail {
            self.file.set_len(self.len)?;
            self.dirty_tail = false;
        }
        if let Err(e) = self.file.append(rec) {
            self.dirty_tail = self.file.set_len(self.len).is_err();
            return Err(e);
        }
        self.len += rec.len() as u64;
        self.pos += rec.len() as u64;
        Ok(self.pos)
    }

    /// Replaces the log with one set record per item, written to a new file. On `Ok` everything up
    /// to `pos()` is durable. On `Err` the store is still consistent: either the old log is still
    /// live, or the new one is live but its rename may not be durable yet (the next flush syncs
    /// the directory).
    pub fn rewrite<'a>(&mut self, items: impl Iterator<Item = (&'a str, &'a Value)>) -> io::Result<()> {
        let (file, len) = install(&*self.io, &self.dir, items)?;
        self.file = file;
        self.len = len;
        self.dirty_tail = false;
        self.generation += 1;
        self.dir_unsynced = Some(self.generation);
        self.io.sync_dir(&self.dir)?;
        self.dir_unsynced = None;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What a flusher needs, taken under the store lock and used outside it: the handle to sync,
    /// the position that sync will cover, and a pending directory sync, if any.
    pub fn flush_plan(&self) -> FlushPlan {
        FlushPlan {
            io: self.io.clone(),
            file: self.file.clone(),
            upto: self.pos,
            dir: self.dir_unsynced.map(|g| (self.dir.clone(), g)),
        }
    }

    /// Records that the directory was synced after generation `g` was installed.
    pub fn dir_synced(&mut self, g: u64) {
        if self.dir_unsynced.is_some_and(|pending| pending <= g) {
            self.dir_unsynced = None;
        }
    }
}

pub struct FlushPlan {
    pub io: Arc<dyn LogIo>,
    pub file: Arc<dyn LogFile>,
    pub upto: u64,
    pub dir: Option<(PathBuf, u64)>,
}

/// Writes a complete log holding `items` to `data.log.compact`, syncs it and renames it over
/// `data.log`. The caller syncs the directory. Returns the new append handle and file length.
fn install<'a>(
    io: &dyn LogIo,
    dir: &Path,
    items: impl Iterator<Item = (&'a str, &'a Value)>,
) -> io::Result<(Arc<dyn LogFile>, u64)> {
    let tmp = dir.join(COMPACT_NAME);
    ignore_missing(io.remove(&tmp))?;
    let file = io.open_append(&tmp)?;
    let written = (|| {
        let mut len = 0u64;
        let mut buf = record::header().to_vec();
        for (key, value) in items {
            record::encode_set(&mut buf, key, value);
            if buf.len() >= CHUNK {
                file.append(&buf)?;
                len += buf.len() as u64;
                buf.clear();
            }
        }
        file.append(&buf)?;
        len += buf.len() as u64;
        file.sync()?;
        io.rename(&tmp, &dir.join(LOG_NAME))?;
        Ok(len)
    })();
    match written {
        Ok(len) => Ok((file, len)),
        Err(e) => {
            // Best effort: a leftover is also removed at the next open.
            let _ = io.remove(&tmp);
            Err(e)
        }
    }
}

/// `data.log.corrupt-<n>` for the smallest `n` not taken.
fn corrupt_name(io: &dyn LogIo, dir: &Path) -> io::Result<PathBuf> {
    for n in 1u32.. {
        let p = dir.join(format!("{CORRUPT_PREFIX}{n}"));
        if !io.exists(&p)? {
            return Ok(p);
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free name for a corrupt log"))
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! `MemIo`, the test double: an in-memory file system that counts calls, fails on demand and
    //! can lose power. A power cut keeps of each file only what was synced, and of each directory
    //! only the entries present at its last `sync_dir`.

    use super::*;
    use parking_lot::Mutex;
    use std::collections::HashMap;
    use std::fs;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    struct Inode {
        data: Vec<u8>,
        durable: Vec<u8>,
    }

    type Ino = Arc<Mutex<Inode>>;

    #[derive(Default)]
    struct Names {
        live: HashMap<PathBuf, Ino>,
        durable: HashMap<PathBuf, Ino>,
    }

    /// Failures to inject. Call numbers are 1-based and counted from `MemIo::new`.
    #[derive(Default)]
    pub(crate) struct Faults {
        /// This `append` call writes half its bytes, then fails like ENOSPC.
        pub fail_append: Option<u64>,
        /// The next this-many `set_len` calls fail.
        pub fail_set_len: u32,
        /// The next this-many `sync_dir` calls fail.
        pub fail_sync_dir: u32,
        /// From this mutating call on, every call fails and does nothing: the process died.
        pub crash_at: Option<u64>,
    }

    #[derive(Default)]
    struct Shared {
        names: Mutex<Names>,
        faults: Mutex<Faults>,
        appends: AtomicU64,
        syncs: AtomicU64,
        ops: AtomicU64,
        sync_delay_us: AtomicU64,
    }

    #[derive(Clone, Default)]
    pub(crate) struct MemIo(Arc<Shared>);

    struct MemFile {
        ino: Ino,
        fs: Arc<Shared>,
    }

    fn enospc() -> io::Error {
        io::Error::other("ENOSPC (injected)")
    }

    impl Shared {
        /// Counts a mutating call; fails it if the simulated process has died.
        fn op(&self) -> io::Result<u64> {
            let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
            match self.faults.lock().crash_at {
                Some(c) if n >= c => Err(io::Error::other("crashed (injected)")),
                _ => Ok(n),
            }
        }
    }

    impl MemIo {
        pub fn new() -> MemIo {
            MemIo::default()
        }

        pub fn arc(&self) -> Arc<dyn LogIo> {
            Arc::new(self.clone())
        }

        pub fn faults(&self) -> parking_lot::MutexGuard<'_, Faults> {
            self.0.faults.lock()
        }

        pub fn syncs(&self) -> u64 {
            self.0.syncs.load(Ordering::SeqCst)
        }

        pub fn appends(&self) -> u64 {
            self.0.appends.load(Ordering::SeqCst)
        }

        pub fn ops(&self) -> u64 {
            self.0.ops.load(Ordering::SeqCst)
        }

        pub fn set_sync_delay(&self, d: Duration) {
            self.0.sync_delay_us.store(d.as_micros() as u64, Ordering::SeqCst);
        }

        pub fn bytes(&self, path: &Path) -> Option<Vec<u8>> {
            self.0.names.lock().live.get(path).map(|i| i.lock().data.clone())
        }

        pub fn names(&self) -> Vec<PathBuf> {
            let mut v: Vec<_> = self.0.names.lock().live.keys().cloned().collect();
            v.sort();
            v
        }

        /// Places a file as if it had been there, durably, all along.
        pub fn put(&self, path: &Path, bytes: &[u8]) {
            let ino = Arc::new(Mutex::new(Inode { data: bytes.to_vec(), durable: bytes.to_vec() }));
            let mut n = self.0.names.lock();
            n.live.insert(path.to_owned(), ino.clone());
            n.durable.insert(path.to_owned(), ino);
        }

        /// Power is lost and comes back: unsynced bytes and unsynced directory entries are gone,
        /// handles opened before are detached, and a simulated crash is over.
        pub fn power_cut(&self) {
            let mut n = self.0.names.lock();
            let fresh: HashMap<PathBuf, Ino> = n
                .durable
                .iter()
                .map(|(p, ino)| {
                    let d = ino.lock().durable.clone();
                    (p.clone(), Arc::new(Mutex::new(Inode { data: d.clone(), durable: d })))
                })
                .collect();
            n.live = fresh.clone();
            n.durable = fresh;
            self.0.faults.lock().crash_at = None;
        }
    }

    impl LogFile for MemFile {
        fn append(&self, buf: &[u8]) -> io::Result<()> {
            self.fs.op()?;
            let n = self.fs.appends.fetch_add(1, Ordering::SeqCst) + 1;
            let mut ino = self.ino.lock();
            if self.fs.faults.lock().fail_append == Some(n) {
                ino.data.extend_from_slice(&buf[..buf.len() / 2]);
                return Err(enospc());
            }
            ino.data.extend_from_slice(buf);
            Ok(())
        }

        fn set_len(&self, len: u64) -> io::Result<()> {
            self.fs.op()?;
            {
                let mut f = self.fs.faults.lock();
                if f.fail_set_len > 0 {
                    f.fail_set_len -= 1;
                    return Err(io::Error::other("EIO (injected)"));
                }
            }
            self.ino.lock().data.resize(len as usize, 0);
            Ok(())
        }

        fn sync(&self) -> io::Result<()> {
            self.fs.op()?;
            self.fs.syncs.fetch_add(1, Ordering::SeqCst);
            // Capture what is being flushed, then take the time a disk would.
            let snapshot = self.ino.lock().data.clone();
            let delay = self.fs.sync_delay_us.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_micros(delay));
            }
            self.ino.lock().durable = snapshot;
            Ok(())
        }
    }

    impl LogIo for MemIo {
        fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
            Ok(())
        }

        fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
            self.0.op()?;
            let mut n = self.0.names.lock();
            let ino = n.live.entry(path.to_owned()).or_default().clone();
            Ok(Arc::new(MemFile { ino, fs: self.0.clone() }))
        }

        fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
            Ok(self.bytes(path))
        }

        fn exists(&self, path: &Path) -> io::Result<bool> {
            Ok(self.0.names.lock().live.contains_key(path))
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.0.op()?;
            let mut n = self.0.names.lock();
            let ino = n.live.remove(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            n.live.insert(to.to_owned(), ino);
            Ok(())
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            self.0.op()?;
            let mut n = self.0.names.lock();
            n.live.remove(path).map(drop).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }

        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            self.0.op()?;
            {
                let mut f = self.0.faults.lock();
                if f.fail_sync_dir > 0 {
                    f.fail_sync_dir -= 1;
                    return Err(io::Error::other("EIO (injected)"));
                }
            }
            let mut n = self.0.names.lock();
            let Names { live, durable } = &mut *n;
            durable.retain(|p, _| p.parent() != Some(dir));
            for (p, ino) in live.iter() {
                if p.parent() == Some(dir) {
                    durable.insert(p.clone(), ino.clone());
                }
            }
            Ok(())
        }
    }

    /// A directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("wxfs-storage-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            TempDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    // --- tests of the log itself ---

    fn v(s: &str) -> Value {
        Value { data: s.to_owned(), data_type: None }
    }

    fn open(io: &MemIo, dir: &Path) -> (Opened, Vec<Record>) {
        let mut recs = Vec::new();
        let o = Log::open(io.arc(), dir, |r| recs.push(r)).unwrap();
        (o, recs)
    }

    #[test]
    fn fresh_log_is_a_durable_header() {
        let io = MemIo::new();
        let dir = Path::new("/m/kv");
        let (o, recs) = open(&io, dir);
        assert!(recs.is_empty());
        assert_eq!((o.records, o.truncated_bytes, o.log.len()), (0, 0, 8));
        io.power_cut();
        assert_eq!(io.names(), vec![dir.join(LOG_NAME)]);
        assert_eq!(io.bytes(&dir.join(LOG_NAME)).unwrap(), record::header());
    }

    #[test]
    fn failed_append_is_cut_and_never_followed_by_a_record() {
        let io = MemIo::new();
        let dir = Path::new("/m/kv");
        let path = dir.join(LOG_NAME);
        let (mut o, _) = open(&io, dir);
        let mut a = Vec::new();
        record::encode_set(&mut a, "a", &v("1"));
        o.log.append(&a).unwrap();
        let before = io.bytes(&path).unwrap();

        // Write fails half-way and so does the cut: the garbage stays until the next append.
        let next = io.appends() + 1;
        io.faults().fail_append = Some(next);
        io.faults().fail_set_len = 2;
        assert!(o.log.append(&a).is_err());
        assert_eq!(io.bytes(&path).unwrap().len(), before.len() + a.len() / 2);
        // The cut still fails: refuse to append behind garbage.
        assert!(o.log.append(&a).is_err());
        assert_eq!(io.appends(), next);
        // Now the cut works, then the append.
        let end = o.log.append(&a).unwrap();
        assert_eq!(end, (before.len() + a.len()) as u64);
        let mut want = before.clone();
        want.extend_from_slice(&a);
        assert_eq!(io.bytes(&path).unwrap(), want);
    }

    #[test]
    fn damaged_tail_is_cut_durably() {
        let io = MemIo::new();
        let dir = Path::new("/m/kv");
        let mut good = record::header().to_vec();
        record::encode_set(&mut good, "a", &v("1"));
        let mut file = good.clone();
        file.extend_from_slice(&[7, 0, 0, 0, 1, 2]);
        io.put(&dir.join(LOG_NAME), &file);
        let (o, recs) = open(&io, dir);
        assert_eq!(recs, vec![Record::Set { key: "a".into(), value: v("1") }]);
        assert_eq!((o.records, o.truncated_bytes, o.log.len()), (1, 6, good.len() as u64));
        io.power_cut();
        assert_eq!(io.bytes(&dir.join(LOG_NAME)).unwrap(), good);
    }

    #[test]
    fn std_io_appends_reads_and_renames() {
        let t = TempDir::new("stdio");
        let io = StdIo;
        io.create_dir_all(t.path()).unwrap();
        let p = t.path().join("f");
        assert_eq!(io.read(&p).unwrap(), None);
        let f = io.open_append(&p).unwrap();
        f.append(b"abc").unwrap();
        f.append(b"def").unwrap();
        f.set_len(4).unwrap();
        f.append(b"X").unwrap();
        f.sync().unwrap();
        io.sync_dir(t.path()).unwrap();
        assert_eq!(io.read(&p).unwrap().unwrap(), b"abcdX");
        let q = t.path().join("g");
        io.rename(&p, &q).unwrap();
        assert!(!io.exists(&p).unwrap());
        assert!(io.exists(&q).unwrap());
        // The handle follows the file, not the name.
        f.append(b"Y").unwrap();
        assert_eq!(io.read(&q).unwrap().unwrap(), b"abcdXY");
        io.remove(&q).unwrap();
        assert_eq!(io.remove(&q).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
