//! File descriptors: `open` with its twelve flags, and read / write / fstat / ftruncate / close.
//! What an fd refers to, and what recovery does about it, is `fd_table`'s business: writes name
//! the file's current path and inode, never the path it was opened by.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use cap_std::fs::OpenOptions;
use parking_lot::Mutex;

use super::fail::{fd_limit, too_long, write_error};
pub use super::fd_table::Flag;
use super::fd_table::{FdEntry, FileId};
use super::texts::Text;
use super::{classify, Fail, FileSystem, State, Stats};
use crate::error::{code, Error, Result};
use crate::quota::journal::Undo;
use crate::quota::{self, Delta};
use crate::sandbox::{self, Area, VPath};

fn bad_fd() -> Error {
    Text::BadFd.error()
}

fn fd_denied() -> Error {
    Text::FdDenied.error()
}

/// Where an fd's file is, as a write through it must treat it.
enum Place {
    /// Reachable at this path (checked against the inode just now).
    At(VPath),
    /// Reachable no more: its bytes are held, in memory only.
    Held,
    /// A temp or package file, or one that never counted.
    Uncounted,
}

impl FileSystem {
    fn fd(&self, fd: &str) -> Result<Arc<Mutex<FdEntry>>> {
        let n: u64 = fd.parse().map_err(|_| bad_fd())?;
        self.fds.get(n).ok_or_else(bad_fd)
    }

    /// Where the file of `e` is now. A tracked path that no longer names this inode (which only
    /// a change behind the library's back can do) makes the file held from now on.
    fn place(&self, st: &mut State, e: &FdEntry, len: u64) -> Place {
        let (path, counted) = st.files.path_of(e.id);
        let path = path.cloned();
        match path {
            Some(vp) if counted => {
                let here = self.dir(vp.area).ok().and_then(|d| d.symlink_metadata(vp.rel()).ok()).map(|m| FileId::of_cap(&m));
                if here == Some(e.id) {
                    Place::At(vp)
                } else {
                    st.files.lost(e.id, len);
                    Place::Held
                }
            }
            None if counted => Place::Held,
            _ => Place::Uncounted,
        }
    }

    /// `open`: open `path` with one of WeChat's flags (`"r"`, `"a+"`, ...); returns the fd.
    pub fn open_fd(&self, path: &str, flag: &str) -> Result<String> {
        let flag = Flag::parse(flag).ok_or_else(|| Text::InvalidFlag.error())?;
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp: VPath = sandbox::path::parse_in(path, self.protocol).map_err(|e| super::fail::path_error(e, denied))?;
        let noent = || self.missing(&vp, Text::NoentQuoted.words(&[path]));
        let is_dir = || Text::IllegalOpen.at(&[path]);
        if flag.write && !vp.area.writable() {
            return Err(Text::FlagDenied.error());
        }
        if vp.is_area_root() {
            return Err(is_dir());
        }
        let slot = self.fds.reserve(self.limits.open_files).ok_or_else(fd_limit)?;
        let dir = self.dir_or(vp.area, noent)?;
        let mut opts = OpenOptions::new();
        opts.read(flag.read).write(flag.write && !flag.append).append(flag.append);
        if flag.create {
            if flag.exclusive {
                opts.create_new(true);
            } else {
                opts.create(true);
            }
        }
        // Creation and truncation change usage: take the quota lock around them.
        let mut st = self.state.lock();
        let (old, existed) = self.charged(&vp);
        if flag.create && !existed && !st.entries_fit(1, &self.limits) {
            return Err(Error::storage_limit());
        }
        let open = || {
            dir.open_with(vp.rel(), &opts).map_err(|e| match classify(&e) {
                Fail::Exists => Text::Exists.at(&[path]),
                Fail::IsDir => is_dir(),
                Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
                Fail::TooLong => too_long(),
                Fail::FdLimit => fd_limit(),
                Fail::NotFound | Fail::NotDir => noent(),
                _ => write_error(&e, noent),
            })
        };
        if flag.create && !existed {
            // Refuse a parent that is missing or leads out of the area before recording anything.
            self.check_parent(&vp, noent, denied)?;
        }
        let file = if flag.create && !existed {
            // A new (empty) file is one more entry, recorded so that a crash settles it too.
            self.journaled(&mut st, vec![self.entry(&vp)], false, || {
                let file = open()?;
                self.sync_parents([&vp]);
                Ok((file, Delta::user(0, 1)))
            })?
        } else {
            open()?
        };
        let file = file.into_std();
        let meta = file.metadata().map_err(|e| Error::system(&e))?;
        if meta.is_dir() {
            return Err(is_dir());
        }
        if vp.area == Area::Tmp {
            super::touch_used(&file);
        }
        let id = FileId::of(&meta);
        if flag.truncate && meta.len() > 0 {
            let counted = matches!(vp.area, Area::Usr | Area::Store);
            let mut entry = self.entry(&vp);
            entry.ino = Some(id.ino);
            self.journaled(&mut st, vec![entry], true, || {
                file.set_len(0).map_err(|e| Error::system(&e))?;
                Ok(((), Delta::user(if counted { -(old as i64) } else { 0 }, 0)))
            })?;
        }
        st.files.opened(id, &vp);
        drop(st);
        let n = self.fds.insert(slot, FdEntry { file, id, flag, pos: 0 });
        Ok(n.to_string())
    }

    /// `close`: close an fd.
    pub fn close_fd(&self, fd: &str) -> Result<()> {
        let n: u64 = fd.parse().map_err(|_| bad_fd())?;
        let entry = self.fds.remove(n).ok_or_else(bad_fd)?;
        let e = entry.lock();
        let size = e.file.metadata().map(|m| m.len()).unwrap_or(0);
        self.state.lock().files.closed(e.id, size);
        Ok(())
    }

    /// `fstat`: the stats of the file an fd refers to.
    pub fn fstat(&self, fd: &str) -> Result<Stats> {
        let entry = self.fd(fd)?;
        let e = entry.lock();
        let meta = e.file.metadata().map_err(|e| Error::system(&e))?;
        Ok(Stats::from_std(&meta))
    }

    /// Change the length of the fd's file to `len`, as a write through it does: under the quota
    /// (held bytes included) and, for a reachable file, under the journal.
    fn resize_through(
        &self,
        st: &mut State,
        e: &FdEntry,
        (len, new_len): (u64, u64),
        append_to: Option<u64>,
        undo: impl FnOnce() -> Result<Option<Undo>>,
        change: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.file_fits(new_len, len)?;
        let delta = quota::delta(new_len, len);
        match self.place(st, e, len) {
            Place::Uncounted => change(),
            Place::Held => {
                if !st.fits(delta, self.limits.user_files) {
                    return Err(Error::storage_limit());
                }
                change()?;
                st.files.grow_held(quota::delta(Self::len_now(e, new_len), len));
                Ok(())
            }
            Place::At(vp) => {
                if !st.fits(delta, self.limits.user_files) {
                    return Err(Error::storage_limit());
                }
                let mut entry = self.entry(&vp);
                entry.ino = Some(e.id.ino);
                entry.after = append_to; // an append-mode write is rolled back if a crash tears it
                entry.undo = undo()?; // so is a write over bytes the file held
                self.journaled(st, vec![entry], delta < 0, || {
                    change()?;
                    // What the file holds now, not what the change was expected to make it: the
                    // commit must equal what recovery would measure.
                    Ok(((), Delta::user(quota::delta(Self::len_now(e, new_len), len), 0)))
                })
            }
        }
    }

    /// The length of the fd's file now (`expected` if the OS cannot say).
    fn len_now(e: &FdEntry, expected: u64) -> u64 {
        e.file.metadata().map(|m| m.len()).unwrap_or(expected)
    }

    /// `ftruncate`: cut or extend the file an fd refers to to `length` bytes.
    pub fn ftruncate(&self, fd: &str, length: u64) -> Result<()> {
        let entry = self.fd(fd)?;
        let e = entry.lock();
        if !e.flag.write {
            return Err(fd_denied());
        }
        let mut st = self.state.lock();
        let len = e.file.metadata().map_err(|err| Error::system(&err))?.len();
        self.resize_through(
            &mut st,
            &e,
            (len, length),
            None,
            || Ok(None),
            || {
                e.file.set_len(length).map_err(|err| write_error(&err, || Error::system(&err)))?;
                self.sync_change(&e);
                Ok(())
            },
        )
    }

    /// read: fill `buf[offset..offset+length]` from the file; returns bytes read and the buffer.
    pub fn read_fd(&self, fd: &str, mut buf: Vec<u8>, offset: u64, length: u64, position: Option<u64>) -> Result<(u64, Vec<u8>)> {
        let entry = self.fd(fd)?;
        let mut e = entry.lock();
        if !e.flag.read {
            return Err(fd_denied());
        }
        let cap = buf.len() as u64;
        if offset > cap {
            return Err(Text::OffsetRange.error());
        }
        if length > cap - offset {
            return Err(Text::LengthRange.error());
        }
        let at = position.unwrap_or(e.pos);
        let window = &mut buf[offset as usize..(offset + length) as usize];
        let mut done = 0usize;
        while done < window.len() {
            match e.file.read_at(&mut window[done..], at + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(Error::system(&err)),
            }
        }
        if position.is_none() {
            e.pos = at + done as u64;
        }
        Ok((done as u64, buf))
    }

    /// write: put `data` at `position` (or the file pointer); append-mode fds always append.
    /// A kill never leaves a write half done: an append is cut back, and a write over bytes the
    /// file held is undone from the old bytes its journal entry keeps (in steps of at most
    /// `UNDO_STEP` bytes, each all or nothing).
    pub fn write_fd(&self, fd: &str, data: &[u8], position: Option<u64>) -> Result<u64> {
        let entry = self.fd(fd)?;
        let mut e = entry.lock();
        if !e.flag.write {
            return Err(fd_denied());
        }
        let mut at = if e.flag.append { None } else { Some(position.unwrap_or(e.pos)) };
        // The length the whole write makes, checked before its first step: a write past the
        // per-file limit changes nothing, however many steps it would have taken.
        let len = e.file.metadata().map_err(|err| Error::system(&err))?.len();
        self.file_fits(at.unwrap_or(len).saturating_add(data.len() as u64).max(len), len)?;
        let steps: Vec<&[u8]> = if data.is_empty() { vec![data] } else { data.chunks(UNDO_STEP).collect() };
        for step in steps {
            let end = self.write_step(&e, step, at)?;
            at = at.map(|_| end);
            if position.is_none() || e.flag.append {
                e.pos = end;
            }
        }
        Ok(data.len() as u64)
    }

    /// One step of `write_fd`: `data` at `at` (`None`: at the end); returns where it ended.
    fn write_step(&self, e: &FdEntry, data: &[u8], at: Option<u64>) -> Result<u64> {
        let mut st = self.state.lock();
        let len = e.file.metadata().map_err(|err| Error::system(&err))?.len();
        let at = at.unwrap_or(len);
        if data.is_empty() {
            // pwrite(2) of no bytes: the file keeps its length wherever `at` is.
            return Ok(at);
        }
        let end = at.saturating_add(data.len() as u64);
        // A write that only adds bytes is undone by cutting the file back, like an append.
        let append_to = (e.flag.append || at >= len).then_some(end);
        let undo = || -> Result<Option<Undo>> {
            if e.flag.append || at >= len {
                // Nothing overwritten: cutting back to the old length undoes it. The CRC tells
                // a complete write from one whose length a cut kept without all of its bytes.
                return Ok(Some(Undo { at, end, crc: crc32fast::hash(data), old: Vec::new() }));
            }
            let old = super::read_exact_at(&e.file, at, end.min(len) - at).map_err(|err| Error::system(&err))?;
            Ok(Some(Undo { at, end, crc: crc32fast::hash(data), old }))
        };
        self.resize_through(&mut st, e, (len, end.max(len)), append_to, undo, || {
            if let Err(err) = e.file.write_all_at(data, at) {
                let _ = e.file.set_len(len);
                return Err(write_error(&err, || Error::system(&err)));
            }
            self.sync_change(e);
            Ok(())
        })?;
        Ok(end)
    }

    /// After a change through an fd (a write, `ftruncate`), before its journal commit: the file's
    /// data is synced when the fd was opened with `s` or the sandbox is in `power` durability,
    /// where an acknowledged change must survive a power cut (docs/design.md §5).
    fn sync_change(&self, e: &FdEntry) {
        if e.flag.sync || self.durability == super::Durability::Power {
            let _ = e.file.sync_data();
        }
    }
}

/// The most bytes one journaled step of a write through an fd overwrites (its undo record).
const UNDO_STEP: usize = 8 << 20;
