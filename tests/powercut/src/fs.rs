//! The FUSE pass-through: each request is done on the backing inode through its `O_PATH`
//! descriptor and told to the model (`model.rs`) first; the gate counts the calls and trips.
//!
//! What goes through, and how:
//! - Data: `read`/`write` (`O_APPEND` writes land at the backing file's end, wherever the kernel
//!   thought it was), `ftruncate`/`truncate`/`O_TRUNC`, `fallocate` (allocate, keep size, punch
//!   hole, zero range; collapse and insert are refused).
//! - Shared writable `mmap`: files are opened without `direct_io`, so the kernel keeps the pages
//!   and writes dirty ones back as `write` requests; `msync(MS_SYNC)` writes them back and then
//!   sends `fsync`. `O_SYNC`/`O_DSYNC` writes are followed by an `fsync` from the kernel too.
//! - Names: create, `mknod` (regular files only), `mkdir`, `symlink`, `link`, `unlink`, `rmdir`,
//!   `rename` (with `RENAME_NOREPLACE` and `RENAME_EXCHANGE`), `readdir`, `statfs`.
//! - Locks: `flock` and `fcntl` locks are left to the kernel (no lock capability is asked for), which
//!   keeps them per inode for every process of this machine: exactly what a sandbox lock needs.
//! - Refused with `ENOSYS`: extended attributes, `O_TMPFILE`, `copy_file_range` (the kernel and
//!   `std::fs::copy` fall back to reads and writes), `lseek` with `SEEK_DATA`/`SEEK_HOLE` (the
//!   kernel answers from the size), `ioctl`, `poll`.
//!
//! Inode numbers are the backing ones (so `readdir`'s `d_ino` agrees with `stat`), except that
//! the root is 1 to the kernel and the backing root's number stands for 1: the map is its own
//! inverse. A number the kernel holds is always pinned by a node, so it is never reused.
//! Requests are served one at a time (one FUSE thread): the order the model sees is the order the
//! backing directory sees.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirEntryExt, FileExt};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};
use rustix::fs::{AtFlags, Mode, OFlags, Stat};

use crate::model::{proc_path, DataOp, Event, Kind, Model};

/// How long the kernel may cache names and attributes: only this mount changes the backing
/// directory while it is mounted, so the cache never goes stale.
const TTL: Duration = Duration::from_secs(1);

/// The counter and the trip (see `lib.rs`, "The harness").
#[derive(Default)]
pub(crate) struct Gate {
    pub armed: bool,
    pub count: u64,
    pub cut_after: Option<u64>,
    pub tripped: bool,
    /// Process group of the workload, killed at the trip.
    pub victim: Option<i32>,
    pub events: Vec<Event>,
}

impl Gate {
    fn kill_victim(&mut self) {
        if let Some(pgid) = self.victim.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

enum Handle {
    File { ino: u64, file: File, append: bool },
    Dir { entries: Vec<(u64, FileType, OsString)> },
}

pub(crate) struct Shared {
    pub model: Model,
    pub gate: Gate,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
}

impl Shared {
    pub fn new(backing: &Path) -> io::Result<Shared> {
        Ok(Shared { model: Model::new(backing)?, gate: Gate::default(), handles: HashMap::new(), next_fh: 1 })
    }

    /// Kernel inode number <-> backing inode number (its own inverse).
    fn map(&self, ino: u64) -> u64 {
        if ino == 1 {
            self.model.root
        } else if ino == self.model.root {
            1
        } else {
            ino
        }
    }

    /// A request that changes nothing: refused once tripped.
    fn alive(&mut self) -> Result<(), Errno> {
        if self.gate.tripped {
            self.gate.kill_victim();
            return Err(Errno::EIO);
        }
        Ok(())
    }

    /// A mutating call or a sync point: counted, or the trip.
    fn admit(&mut self, sync: bool, what: impl FnOnce(&Model) -> String) -> Result<(), Errno> {
        self.alive()?;
        let g = &mut self.gate;
        if !g.armed {
            return Ok(());
        }
        if g.cut_after.is_some_and(|k| g.count >= k) {
            // Killed before it is answered: no thread of the workload sees this call fail.
            g.tripped = true;
            g.kill_victim();
            return Err(Errno::EIO);
        }
        g.count += 1;
        let what = what(&self.model);
        self.gate.events.push(Event { n: self.gate.count, sync, what });
        Ok(())
    }

    fn hint(&self, ino: u64) -> String {
        self.model.nodes.get(&ino).map(|n| if n.hint.is_empty() { ".".into() } else { n.hint.clone() }).unwrap_or_default()
    }

    fn hint_at(&self, dir: u64, name: &OsStr) -> String {
        let parent = self.hint(dir);
        if parent == "." {
            name.to_string_lossy().into_owned()
        } else {
            format!("{parent}/{}", name.to_string_lossy())
        }
    }

    fn stat(&self, ino: u64) -> io::Result<FileAttr> {
        let st = rustix::fs::fstat(&self.model.node(ino)?.fd)?;
        Ok(attr(&st, self.map(ino)))
    }

    fn handle(&mut self, h: Handle) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, h);
        fh
    }

    fn file(&self, fh: FileHandle) -> io::Result<(&File, u64, bool)> {
        match self.handles.get(&fh.0) {
            Some(Handle::File { ino, file, append }) => Ok((file, *ino, *append)),
            _ => Err(io::Error::from_raw_os_error(rustix::io::Errno::BADF.raw_os_error())),
        }
    }

    /// Opens the file of node `ino` for I/O with the access mode of `flags`.
    fn open_node(&self, ino: u64, flags: i32) -> io::Result<File> {
        let acc = match flags & rustix::fs::OFlags::ACCMODE.bits() as i32 {
            x if x == OFlags::WRONLY.bits() as i32 => OFlags::WRONLY,
            x if x == OFlags::RDWR.bits() as i32 => OFlags::RDWR,
            _ => OFlags::RDONLY,
        };
        let fd = rustix::fs::open(proc_path(&self.model.node(ino)?.fd), acc | OFlags::CLOEXEC, Mode::empty())?;
        Ok(File::from(fd))
    }

    fn truncate(&mut self, ino: u64, len: u64, fh: Option<FileHandle>) -> io::Result<()> {
        self.model.touch_data(ino)?;
        match fh.and_then(|fh| self.file(fh).ok()) {
            Some((f, _, _)) => f.set_len(len)?,
            None => self.open_node(ino, OFlags::WRONLY.bits() as i32)?.set_len(len)?,
        }
        self.model.data_changed(ino, DataOp::SetLen(len));
        Ok(())
    }

    fn new_entry(&mut self, dir: u64, name: &OsStr) -> io::Result<(u64, FileAttr)> {
        let ino = self.model.node_at(dir, name)?;
        let seq = self.model.next_seq();
        self.model.entry_changed(dir, seq, name, Some(ino), None);
        Ok((ino, self.stat(ino)?))
    }

    fn rename(&mut self, p: u64, name: &OsStr, np: u64, newname: &OsStr, flags: RenameFlags) -> io::Result<()> {
        self.model.touch_dir(p)?;
        self.model.touch_dir(np)?;
        let src = self.model.node_at(p, name)?;
        let dst = self.model.node_at(np, newname).ok();
        let (pfd, npfd) = (&self.model.node(p)?.fd, &self.model.node(np)?.fd);
        rustix::fs::renameat_with(pfd, name, npfd, newname, rustix::fs::RenameFlags::from_bits_retain(flags.bits()))?;
        if dst == Some(src) {
            return Ok(()); // two names of one file: rename(2) does nothing
        }
        let seq = self.model.next_seq();
        let partner = |other: u64| (p != np).then_some(other);
        let back = if flags.contains(RenameFlags::RENAME_EXCHANGE) { dst } else { None };
        self.model.entry_changed(p, seq, name, back, partner(np));
        self.model.entry_changed(np, seq, newname, Some(src), partner(p));
        Ok(())
    }
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH
    }
}

// The stat fields' widths differ between targets (i64 on x86_64, i32 on some 32-bit ones).
#[allow(clippy::unnecessary_cast)]
fn attr(st: &Stat, ino: u64) -> FileAttr {
    let kind = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => FileType::Directory,
        rustix::fs::FileType::Symlink => FileType::Symlink,
        _ => FileType::RegularFile,
    };
    FileAttr {
        ino: INodeNo(ino),
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: time(st.st_atime as i64, st.st_atime_nsec as i64),
        mtime: time(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime: time(st.st_ctime as i64, st.st_ctime_nsec as i64),
        crtime: time(st.st_ctime as i64, st.st_ctime_nsec as i64),
        kind,
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

fn timespec(t: Option<TimeOrNow>) -> rustix::fs::Timespec {
    match t {
        None => rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
        Some(TimeOrNow::Now) => rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_NOW },
        Some(TimeOrNow::SpecificTime(t)) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            rustix::fs::Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as _ }
        }
    }
}

fn err(e: io::Error) -> Errno {
    Errno::from(e)
}

/// The file system served to the kernel; the harness holds the same [`Shared`].
pub(crate) struct PowerCutFs(pub Arc<Mutex<Shared>>);

impl PowerCutFs {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while serving a request (a model bug) ends the session; the harness reports it.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

macro_rules! tri {
    ($reply:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $reply.error(e.into()),
        }
    };
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        let p = s.map(parent.0);
        let ino = tri!(reply, s.model.node_at(p, name).map_err(err));
        let a = tri!(reply, s.stat(ino).map_err(err));
        reply.entry(&TTL, &a, Generation(0));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        let ino = s.map(ino.0);
        let a = tri!(reply, s.stat(ino).map_err(err));
        reply.attr(&TTL, &a);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.lock();
        let ino = s.map(ino.0);
        let changes = mode.is_some() || uid.is_some() || gid.is_some() || size.is_some() || atime.is_some() || mtime.is_some();
        if changes {
            tri!(
                reply,
                s.admit(false, |m| format!(
                    "setattr {} size={size:?} mode={mode:?}",
                    m.node(ino).map(|n| n.hint.clone()).unwrap_or_default()
                ))
            );
        } else {
            tri!(reply, s.alive());
        }
        let path = tri!(reply, s.model.node(ino).map(|n| proc_path(&n.fd)).map_err(err));
        let is_link = s.model.node(ino).map(|n| n.kind == Kind::Symlink).unwrap_or(false);
        if let Some(m) = mode.filter(|_| !is_link) {
            tri!(
                reply,
                rustix::fs::chmodat(rustix::fs::CWD, &path, Mode::from_raw_mode(m & 0o7777), AtFlags::empty())
                    .map_err(io::Error::from)
                    .map_err(err)
            );
        }
        if uid.is_some() || gid.is_some() {
            let (u, g) = (uid.map(rustix::fs::Uid::from_raw), gid.map(rustix::fs::Gid::from_raw));
            tri!(
                reply,
                rustix::fs::chownat(rustix::fs::CWD, &path, u, g, AtFlags::empty()).map_err(io::Error::from).map_err(err)
            );
        }
        if let Some(len) = size {
            tri!(reply, s.truncate(ino, len, fh).map_err(err));
        }
        if (atime.is_some() || mtime.is_some()) && !is_link {
            let ts = rustix::fs::Timestamps { last_access: timespec(atime), last_modification: timespec(mtime) };
            tri!(
                reply,
                rustix::fs::utimensat(rustix::fs::CWD, &path, &ts, AtFlags::empty()).map_err(io::Error::from).map_err(err)
            );
        }
        let a = tri!(reply, s.stat(ino).map_err(err));
        reply.attr(&TTL, &a);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        let ino = s.map(ino.0);
        let node = tri!(reply, s.model.node(ino).map_err(err));
        let target = tri!(reply, rustix::fs::readlinkat(&node.fd, "", Vec::new()).map_err(io::Error::from).map_err(err));
        reply.data(target.as_bytes());
    }

    fn mknod(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, _rdev: u32, reply: ReplyEntry) {
        let mut s = self.lock();
        let p = s.map(parent.0);
        let what = format!("mknod {}", s.hint_at(p, name));
        tri!(reply, s.admit(false, |_| what));
        if rustix::fs::FileType::from_raw_mode(mode) != rustix::fs::FileType::RegularFile {
            return reply.error(Errno::EPERM);
        }
        tri!(reply, s.model.touch_dir(p).map_err(err));
        let dir = tri!(reply, s.model.node(p).map_err(err));
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
        tri!(
            reply,
            rustix::fs::openat(&dir.fd, name, flags, Mode::from_raw_mode(mode & !umask & 0o7777))
                .map_err(io::Error::from)
                .map_err(err)
        );
        let (_, a) = tri!(reply, s.new_entry(p, name).map_err(err));
        reply.entry(&TTL, &a, Generation(0));
    }

    fn mkdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let mut s = self.lock();
        let p = s.map(parent.0);
        let what = format!("mkdir {}", s.hint_at(p, name));
        tri!(reply, s.admit(false, |_| what));
        tri!(reply, s.model.touch_dir(p).map_err(err));
        let dir = tri!(reply, s.model.node(p).map_err(err));
        tri!(
            reply,
            rustix::fs::mkdirat(&dir.fd, name, Mode::from_raw_mode(mode & !umask & 0o7777)).map_err(io::Error::from).map_err(err)
        );
        let (_, a) = tri!(reply, s.new_entry(p, name).map_err(err));
        reply.entry(&TTL, &a, Generation(0));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, AtFlags::empty(), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, AtFlags::REMOVEDIR, reply);
    }

    fn symlink(&self, _req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        let mut s = self.lock();
        let p = s.map(parent.0);
        let what = format!("symlink {}", s.hint_at(p, link_name));
        tri!(reply, s.admit(false, |_| what));
        tri!(reply, s.model.touch_dir(p).map_err(err));
        let dir = tri!(reply, s.model.node(p).map_err(err));
        tri!(reply, rustix::fs::symlinkat(target, &dir.fd, link_name).map_err(io::Error::from).map_err(err));
        let (_, a) = tri!(reply, s.new_entry(p, link_name).map_err(err));
        reply.entry(&TTL, &a, Generation(0));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut s = self.lock();
        let (p, np) = (s.map(parent.0), s.map(newparent.0));
        let what = format!("rename {} -> {}", s.hint_at(p, name), s.hint_at(np, newname));
        tri!(reply, s.admit(false, |_| what));
        tri!(reply, s.rename(p, name, np, newname, flags).map_err(err));
        reply.ok();
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        let mut s = self.lock();
        let (ino, np) = (s.map(ino.0), s.map(newparent.0));
        let what = format!("link {} -> {}", s.hint(ino), s.hint_at(np, newname));
        tri!(reply, s.admit(false, |_| what));
        tri!(reply, s.model.touch_dir(np).map_err(err));
        let path = tri!(reply, s.model.node(ino).map(|n| proc_path(&n.fd)).map_err(err));
        let dir = tri!(reply, s.model.node(np).map_err(err));
        tri!(
            reply,
            rustix::fs::linkat(rustix::fs::CWD, &path, &dir.fd, newname, AtFlags::SYMLINK_FOLLOW)
                .map_err(io::Error::from)
                .map_err(err)
        );
        let (_, a) = tri!(reply, s.new_entry(np, newname).map_err(err));
        reply.entry(&TTL, &a, Generation(0));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.lock();
        let ino = s.map(ino.0);
        let trunc = flags.0 & OFlags::TRUNC.bits() as i32 != 0;
        if trunc {
            let what = format!("open O_TRUNC {}", s.hint(ino));
            tri!(reply, s.admit(false, |_| what));
        } else {
            tri!(reply, s.alive());
        }
        let file = tri!(reply, s.open_node(ino, flags.0).map_err(err));
        if trunc {
            tri!(reply, s.model.touch_data(ino).map_err(err));
            tri!(reply, file.set_len(0).map_err(err));
            s.model.data_changed(ino, DataOp::SetLen(0));
        }
        let append = flags.0 & OFlags::APPEND.bits() as i32 != 0;
        let fh = s.handle(Handle::File { ino, file, append });
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        let (f, _, _) = tri!(reply, s.file(fh).map_err(err));
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(err(e)),
            }
        }
        reply.data(&buf[..done]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.lock();
        let ino = tri!(reply, s.file(fh).map(|(_, ino, _)| ino).map_err(err));
        let what = format!("write {} @{offset}+{}", s.hint(ino), data.len());
        tri!(reply, s.admit(false, |_| what));
        tri!(reply, s.model.touch_data(ino).map_err(err));
        let (f, _, append) = tri!(reply, s.file(fh).map_err(err));
        let at = if append { tri!(reply, f.metadata().map_err(err)).len() } else { offset };
        tri!(reply, f.write_all_at(data, at).map_err(err));
        s.model.data_changed(ino, DataOp::Write { at, bytes: data.to_vec() });
        reply.written(data.len() as u32);
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, datasync: bool, reply: ReplyEmpty) {
        let mut s = self.lock();
        let ino = s.map(ino.0);
        let what = format!("{} {}", if datasync { "fdatasync" } else { "fsync" }, s.hint(ino));
        tri!(reply, s.admit(true, |_| what));
        s.model.sync_data(ino);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        let ino = s.map(ino.0);
        let path = tri!(reply, s.model.node(ino).map(|n| proc_path(&n.fd)).map_err(err));
        let mut entries =
            vec![(s.map(ino), FileType::Directory, OsString::from(".")), (1, FileType::Directory, OsString::from(".."))];
        for e in tri!(reply, std::fs::read_dir(path).map_err(err)) {
            let e = tri!(reply, e.map_err(err));
            let kind = e.file_type().ok().and_then(FileType::from_std).unwrap_or(FileType::RegularFile);
            entries.push((s.map(e.ino()), kind, e.file_name()));
        }
        let fh = s.handle(Handle::Dir { entries });
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        let Some(Handle::Dir { entries }) = s.handles.get(&fh.0) else { return reply.error(Errno::EBADF) };
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: OpenFlags, reply: ReplyEmpty) {
        self.lock().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let mut s = self.lock();
        let ino = s.map(ino.0);
        let what = format!("fsyncdir {}", s.hint(ino));
        tri!(reply, s.admit(true, |_| what));
        tri!(reply, s.model.sync_dir(ino).map_err(err));
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        let root = s.model.root;
        let fd = tri!(reply, s.model.node(root).map_err(err));
        let v = tri!(reply, rustix::fs::fstatvfs(&fd.fd).map_err(io::Error::from).map_err(err));
        reply.statfs(
            v.f_blocks,
            v.f_bfree,
            v.f_bavail,
            v.f_files,
            v.f_ffree,
            v.f_bsize as u32,
            v.f_namemax as u32,
            v.f_frsize as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        let mut s = self.lock();
        tri!(reply, s.alive());
        reply.ok();
    }

    fn create(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, flags: i32, reply: ReplyCreate) {
        let mut s = self.lock();
        let p = s.map(parent.0);
        let what = format!("create {}", s.hint_at(p, name));
        tri!(reply, s.admit(false, |_| what));
        let dir = tri!(reply, s.model.node(p).map_err(err));
        let exists = rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok();
        let (ino, file) = if exists {
            if flags & OFlags::EXCL.bits() as i32 != 0 {
                return reply.error(Errno::EEXIST);
            }
            let ino = tri!(reply, s.model.node_at(p, name).map_err(err));
            let file = tri!(reply, s.open_node(ino, flags).map_err(err));
            if flags & OFlags::TRUNC.bits() as i32 != 0 {
                tri!(reply, s.model.touch_data(ino).map_err(err));
                tri!(reply, file.set_len(0).map_err(err));
                s.model.data_changed(ino, DataOp::SetLen(0));
            }
            (ino, file)
        } else {
            tri!(reply, s.model.touch_dir(p).map_err(err));
            let dir = tri!(reply, s.model.node(p).map_err(err));
            let oflags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC;
            let fd = tri!(
                reply,
                rustix::fs::openat(&dir.fd, name, oflags, Mode::from_raw_mode(mode & !umask & 0o7777))
                    .map_err(io::Error::from)
                    .map_err(err)
            );
            let (ino, _) = tri!(reply, s.new_entry(p, name).map_err(err));
            drop(fd);
            (ino, tri!(reply, s.open_node(ino, flags).map_err(err)))
        };
        let a = tri!(reply, s.stat(ino).map_err(err));
        let append = flags & OFlags::APPEND.bits() as i32 != 0;
        let fh = s.handle(Handle::File { ino, file, append });
        reply.created(&TTL, &a, Generation(0), FileHandle(fh), FopenFlags::empty());
    }

    fn fallocate(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: u64, length: u64, mode: i32, reply: ReplyEmpty) {
        use rustix::fs::FallocateFlags as F;
        let mut s = self.lock();
        let ino = tri!(reply, s.file(fh).map(|(_, ino, _)| ino).map_err(err));
        let what = format!("fallocate {} @{offset}+{length} mode={mode:#x}", s.hint(ino));
        tri!(reply, s.admit(false, |_| what));
        let flags = F::from_bits_retain(mode as u32);
        let keep = flags.contains(F::KEEP_SIZE);
        let op = if flags.contains(F::PUNCH_HOLE) {
            Some(DataOp::Zero { at: offset, len: length, extend: false })
        } else if flags.contains(F::ZERO_RANGE) {
            Some(DataOp::Zero { at: offset, len: length, extend: !keep })
        } else if flags.difference(F::KEEP_SIZE).is_empty() {
            (!keep).then_some(DataOp::Extend(offset + length))
        } else {
            return reply.error(Errno::EOPNOTSUPP);
        };
        tri!(reply, s.model.touch_data(ino).map_err(err));
        let (f, _, _) = tri!(reply, s.file(fh).map_err(err));
        tri!(reply, rustix::fs::fallocate(f.as_fd(), flags, offset, length).map_err(io::Error::from).map_err(err));
        if let Some(op) = op {
            s.model.data_changed(ino, op);
        }
        reply.ok();
    }
}

impl PowerCutFs {
    fn remove(&self, parent: INodeNo, name: &OsStr, flags: AtFlags, reply: ReplyEmpty) {
        let mut s = self.lock();
        let p = s.map(parent.0);
        let verb = if flags.contains(AtFlags::REMOVEDIR) { "rmdir" } else { "unlink" };
        let what = format!("{verb} {}", s.hint_at(p, name));
        tri!(reply, s.admit(false, |_| what));
        tri!(reply, s.model.touch_dir(p).map_err(err));
        let dir = tri!(reply, s.model.node(p).map_err(err));
        tri!(reply, rustix::fs::unlinkat(&dir.fd, name, flags).map_err(io::Error::from).map_err(err));
        let seq = s.model.next_seq();
        s.model.entry_changed(p, seq, name, None, None);
        reply.ok();
    }
}
