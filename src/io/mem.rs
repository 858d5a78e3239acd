//! `MemIo`, the I/O double the tests share: an in-memory file system that counts calls, fails on
//! demand and can lose power. A power cut keeps of each file only what was synced, and of each
//! directory only the entries present at its last `sync_dir`. It is part of the library (hidden,
//! not a stable API: docs/compatibility.md §4) so the integration tests use this one double too.
//!
//! Durability is monotone, as on a real disk: every change to a file (or to a directory's
//! entries) takes a new version from one clock; a sync captures the version and the bytes
//! (or entries) when it is called and, when it returns, replaces the durable image only if
//! that version is newer than the durable one. So two overlapping syncs (a writer's flush and
//! a promotion's sync of the same file, or two directory syncs around a rename) never leave
//! the older capture durable: a real fsync never makes durable data older.
//!
//! Tests can stop between the two halves of a sync: `defer_next_sync` makes the next sync
//! capture and return, its durable half run at `complete_deferred` (a sync still in flight
//! while other calls go on); and a `hook` is called before every mutating call and between
//! the halves of every sync that is not deferred, so a test can run other steps exactly there.
//! `image` copies the state a kill or a power cut would leave at that instant.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{LogFile, LogIo, LogMap, MapFlush};

#[derive(Default, Clone)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// The clock's value at the last change to `data`.
    version: u64,
    /// The version `durable` holds.
    durable_version: u64,
}

type Ino = Arc<Mutex<Inode>>;

#[derive(Default)]
struct Names {
    live: HashMap<PathBuf, Ino>,
    durable: HashMap<PathBuf, Ino>,
    /// Per directory: the clock's value at the last change to its entries, and the version
    /// its durable entries hold.
    version: HashMap<PathBuf, u64>,
    durable_version: HashMap<PathBuf, u64>,
}

impl Names {
    fn changed(&mut self, path: &Path, clock: u64) {
        if let Some(dir) = path.parent() {
            self.version.insert(dir.to_owned(), clock);
        }
    }
}

/// Failures to inject. Call numbers are 1-based and counted from `MemIo::new`.
#[derive(Default)]
pub struct Faults {
    /// This `append` call writes half its bytes, then fails like ENOSPC.
    pub fail_append: Option<u64>,
    /// While set, every `append` fails with this OS error (an errno) and writes nothing: a disk
    /// that reports errors until it is mended.
    pub fail_appends_with: Option<i32>,
    /// The next this-many `set_len` calls fail.
    pub fail_set_len: u32,
    /// The next this-many `sync_dir` calls fail.
    pub fail_sync_dir: u32,
    /// The next this-many `allocate` calls fail like ENOSPC.
    pub fail_allocate: u32,
    /// From this mutating call on, every call fails and does nothing: the process died.
    pub crash_at: Option<u64>,
}

/// Where a hook is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// Before a mutating call.
    Call,
    /// Inside a sync or directory sync: its capture is taken, its durable half not yet run.
    InSync,
}

pub type Hook = Arc<dyn Fn(Point) + Send + Sync>;

type Completion = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Shared {
    names: Mutex<Names>,
    faults: Mutex<Faults>,
    appends: AtomicU64,
    syncs: AtomicU64,
    ops: AtomicU64,
    sync_delay_us: AtomicU64,
    /// Versions of files and directories.
    clock: AtomicU64,
    hook: Mutex<Option<Hook>>,
    /// Syncs still to be deferred, and the durable halves of those deferred.
    defer: AtomicU32,
    deferred: Mutex<Vec<Completion>>,
}

#[derive(Clone, Default)]
pub struct MemIo(Arc<Shared>);

struct MemFile {
    ino: Ino,
    fs: Arc<Shared>,
}

/// `data.resize(len, 0)`, but with zeroed memory from the allocator: `resize` fills byte by
/// byte in a debug build, and the tests that open thousands of images spent most of their
/// time there.
fn resize(data: &mut Vec<u8>, len: usize) {
    if len <= data.len() {
        data.truncate(len);
        return;
    }
    let mut grown = vec![0u8; len];
    grown[..data.len()].copy_from_slice(data);
    *data = grown;
}

fn enospc() -> io::Error {
    io::Error::other("ENOSPC (injected)")
}

thread_local! {
    /// Set while this thread runs a hook: the calls the hook makes do not call it again.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

impl Shared {
    /// Counts a mutating call; fails it if the simulated process has died.
    fn op(&self) -> io::Result<u64> {
        self.call_hook(Point::Call);
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        match self.faults.lock().crash_at {
            Some(c) if n >= c => Err(io::Error::other("crashed (injected)")),
            _ => Ok(n),
        }
    }

    fn call_hook(&self, at: Point) {
        let Some(hook) = self.hook.lock().clone() else { return };
        if IN_HOOK.with(|h| h.replace(true)) {
            return;
        }
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                IN_HOOK.with(|h| h.set(false));
            }
        }
        let _leave = Leave;
        hook(at);
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The durable half of a sync whose capture is taken: run now (after the disk's time and
    /// the hook), or at `complete_deferred`.
    fn complete(&self, durable_half: Completion) {
        if self.defer.load(Ordering::SeqCst) > 0 {
            self.defer.fetch_sub(1, Ordering::SeqCst);
            self.deferred.lock().push(durable_half);
            return;
        }
        let delay = self.sync_delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        self.call_hook(Point::InSync);
        durable_half();
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

    pub fn ops(&self) -> u64 {
        self.0.ops.load(Ordering::SeqCst)
    }

    pub fn set_sync_delay(&self, d: Duration) {
        self.0.sync_delay_us.store(d.as_micros() as u64, Ordering::SeqCst);
    }

    /// Calls `hook` before every mutating call and inside every sync not deferred.
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self.0.hook.lock() = hook;
    }

    /// The next sync (of a file or a directory) takes its capture and returns; its durable
    /// half runs at `complete_deferred`.
    pub fn defer_next_sync(&self) {
        self.0.defer.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs the durable halves of the deferred syncs, in the order they were called.
    pub fn complete_deferred(&self) {
        let pending = std::mem::take(&mut *self.0.deferred.lock());
        for durable_half in pending {
            durable_half();
        }
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
        let ino = Arc::new(Mutex::new(Inode { data: bytes.to_vec(), durable: bytes.to_vec(), ..Inode::default() }));
        let mut n = self.0.names.lock();
        n.live.insert(path.to_owned(), ino.clone());
        n.durable.insert(path.to_owned(), ino);
    }

    /// The OS writes `dir`'s entries back on its own, as a file system's journal commit does:
    /// its names as they are now become durable, with no sync asked for (and no call counted).
    /// The files' bytes are not written back: that is what a power cut after it can tell apart.
    pub fn write_back_dir(&self, dir: &Path) {
        let mut n = self.0.names.lock();
        let entries: Vec<(PathBuf, Ino)> =
            n.live.iter().filter(|(p, _)| p.parent() == Some(dir)).map(|(p, i)| (p.clone(), i.clone())).collect();
        let version = n.version.get(dir).copied().unwrap_or(0);
        n.durable.retain(|p, _| p.parent() != Some(dir));
        n.durable.extend(entries);
        n.durable_version.insert(dir.to_owned(), version);
    }

    /// Power is lost and comes back: unsynced bytes and unsynced directory entries are gone,
    /// handles opened before are detached, syncs in flight never complete, and a simulated
    /// crash is over.
    pub fn power_cut(&self) {
        let mut n = self.0.names.lock();
        let fresh: HashMap<PathBuf, Ino> = n
            .durable
            .iter()
            .map(|(p, ino)| {
                let d = ino.lock().durable.clone();
                (p.clone(), Arc::new(Mutex::new(Inode { data: d.clone(), durable: d, ..Inode::default() })))
            })
            .collect();
        n.live = fresh.clone();
        n.durable = fresh;
        n.version.clear();
        n.durable_version.clear();
        drop(n);
        self.0.deferred.lock().clear();
        self.0.defer.store(0, Ordering::SeqCst);
        self.0.faults.lock().crash_at = None;
    }

    /// A copy of the file system as a kill (`power_cut` false) or a power cut would leave it
    /// now: a process that dies takes its syncs in flight with it, and the OS keeps
    /// everything written.
    pub fn image(&self, power_cut: bool) -> MemIo {
        if power_cut {
            // Only what is durable: no need to copy the rest.
            let n = self.0.names.lock();
            let mut copies: HashMap<*const Mutex<Inode>, Ino> = HashMap::new();
            let durable = n
                .durable
                .iter()
                .map(|(p, ino)| {
                    let copy = copies.entry(Arc::as_ptr(ino)).or_insert_with(|| {
                        let d = ino.lock().durable.clone();
                        Arc::new(Mutex::new(Inode { data: d.clone(), durable: d, ..Inode::default() }))
                    });
                    (p.clone(), copy.clone())
                })
                .collect::<HashMap<_, _>>();
            let names = Names { live: durable.clone(), durable, ..Names::default() };
            return MemIo(Arc::new(Shared { names: Mutex::new(names), ..Shared::default() }));
        }
        let n = self.0.names.lock();
        let mut copies: HashMap<*const Mutex<Inode>, Ino> = HashMap::new();
        let mut copy =
            |ino: &Ino| copies.entry(Arc::as_ptr(ino)).or_insert_with(|| Arc::new(Mutex::new(ino.lock().clone()))).clone();
        let live = n.live.iter().map(|(p, i)| (p.clone(), copy(i))).collect();
        let durable = n.durable.iter().map(|(p, i)| (p.clone(), copy(i))).collect();
        let names = Names { live, durable, version: n.version.clone(), durable_version: n.durable_version.clone() };
        MemIo(Arc::new(Shared {
            names: Mutex::new(names),
            clock: AtomicU64::new(self.0.clock.load(Ordering::SeqCst)),
            ..Shared::default()
        }))
    }
}

/// A mapping: reads see the inode's bytes as they were mapped plus every write made through
/// this mapping (the only writer while it lives); writes land in the inode at once, as
/// stores into a shared mapping land in the page cache.
struct MemMap {
    ino: Ino,
    fs: Arc<Shared>,
    buf: Vec<u8>,
}

struct MemFlush {
    ino: Ino,
    fs: Arc<Shared>,
}

impl LogMap for MemMap {
    fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn write(&mut self, off: usize, src: &[u8]) -> io::Result<()> {
        self.fs.op()?;
        let mut ino = self.ino.lock();
        // A store past the end of the file would be SIGBUS.
        assert!(off + src.len() <= ino.data.len(), "write past the end of the file");
        ino.data[off..off + src.len()].copy_from_slice(src);
        ino.version = self.fs.tick();
        self.buf[off..off + src.len()].copy_from_slice(src);
        Ok(())
    }

    fn flusher(&self) -> Arc<dyn MapFlush> {
        Arc::new(MemFlush { ino: self.ino.clone(), fs: self.fs.clone() })
    }
}

impl MapFlush for MemFlush {
    /// As `msync` of the range on Linux (`vfs_fsync_range`): the range's bytes and the file's
    /// length become durable, and nothing else of the file.
    fn flush(&self, off: usize, len: usize) -> io::Result<()> {
        self.fs.op()?;
        self.fs.syncs.fetch_add(1, Ordering::SeqCst);
        let (version, size, range) = {
            let ino = self.ino.lock();
            let end = (off + len).min(ino.data.len());
            let off = off.min(end);
            (ino.version, ino.data.len(), (off, ino.data[off..end].to_vec()))
        };
        let ino = self.ino.clone();
        self.fs.complete(Box::new(move || {
            let mut ino = ino.lock();
            // A whole-file sync that captured a later state already holds these bytes.
            if version > ino.durable_version {
                ino.durable.resize(size, 0);
                let (off, bytes) = range;
                ino.durable[off..off + bytes.len()].copy_from_slice(&bytes);
            }
        }));
        Ok(())
    }
}

impl LogFile for MemFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        self.fs.op()?;
        let n = self.fs.appends.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(errno) = self.fs.faults.lock().fail_appends_with {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let mut ino = self.ino.lock();
        ino.version = self.fs.tick();
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
        let mut ino = self.ino.lock();
        resize(&mut ino.data, len as usize);
        ino.version = self.fs.tick();
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        self.fs.op()?;
        self.fs.syncs.fetch_add(1, Ordering::SeqCst);
        // What the flush covers: everything written before it was called.
        let (version, snapshot) = {
            let ino = self.ino.lock();
            (ino.version, ino.data.clone())
        };
        let ino = self.ino.clone();
        self.fs.complete(Box::new(move || {
            let mut ino = ino.lock();
            if version > ino.durable_version {
                ino.durable = snapshot;
                ino.durable_version = version;
            }
        }));
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.ino.lock().data.len() as u64)
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        self.fs.op()?;
        {
            let mut f = self.fs.faults.lock();
            if f.fail_allocate > 0 {
                f.fail_allocate -= 1;
                return Err(enospc());
            }
        }
        let mut ino = self.ino.lock();
        if ino.data.len() < len as usize {
            resize(&mut ino.data, len as usize);
            ino.version = self.fs.tick();
        }
        Ok(())
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> io::Result<()> {
        self.fs.op()?;
        let mut ino = self.ino.lock();
        let (off, end) = (off as usize, off as usize + buf.len());
        if ino.data.len() < end {
            resize(&mut ino.data, end);
        }
        ino.data[off..end].copy_from_slice(buf);
        ino.version = self.fs.tick();
        Ok(())
    }

    fn map(&self, len: usize) -> io::Result<Box<dyn LogMap>> {
        let buf = self.ino.lock().data[..len].to_vec();
        Ok(Box::new(MemMap { ino: self.ino.clone(), fs: self.fs.clone(), buf }))
    }
}

impl LogIo for MemIo {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        self.0.op()?;
        let mut n = self.0.names.lock();
        let ino = match n.live.get(path) {
            Some(ino) => ino.clone(),
            None => {
                let ino = Ino::default();
                n.live.insert(path.to_owned(), ino.clone());
                n.changed(path, self.0.tick());
                ino
            }
        };
        Ok(Arc::new(MemFile { ino, fs: self.0.clone() }))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        self.0.op()?;
        let n = self.0.names.lock();
        let ino = n.live.get(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?.clone();
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
        let t = self.0.tick();
        n.changed(from, t);
        n.changed(to, t);
        Ok(())
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.op()?;
        let mut n = self.0.names.lock();
        if n.live.contains_key(to) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let ino = n.live.get(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?.clone();
        n.live.insert(to.to_owned(), ino);
        n.changed(to, self.0.tick());
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.0.op()?;
        let mut n = self.0.names.lock();
        n.live.remove(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        n.changed(path, self.0.tick());
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let n = self.0.names.lock();
        Ok(n.live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .collect())
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
        // What the sync covers: the entries as they are when it is called.
        let (version, entries) = {
            let n = self.0.names.lock();
            let entries: Vec<(PathBuf, Ino)> =
                n.live.iter().filter(|(p, _)| p.parent() == Some(dir)).map(|(p, i)| (p.clone(), i.clone())).collect();
            (n.version.get(dir).copied().unwrap_or(0), entries)
        };
        let (fs, dir) = (self.0.clone(), dir.to_owned());
        self.0.complete(Box::new(move || {
            let mut n = fs.names.lock();
            if version <= n.durable_version.get(&dir).copied().unwrap_or(0) {
                return;
            }
            n.durable.retain(|p, _| p.parent() != Some(&dir));
            n.durable.extend(entries);
            n.durable_version.insert(dir, version);
        }));
        Ok(())
    }
}
