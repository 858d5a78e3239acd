//! File descriptors: `open` with its twelve flags, and read / write / fstat / ftruncate / close.
//!
//! fds are decimal strings, as in WeChat, issued from a per-sandbox counter and never reused
//! while the sandbox is open, so a closed fd can never alias a newer file.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cap_std::fs::OpenOptions;
use parking_lot::Mutex;

use super::{classify, Fail, FileSystem, Stats};
use crate::error::{code, Error, Result};
use crate::quota;
use crate::sandbox::{self, Area, VPath};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub create: bool,
    pub exclusive: bool,
    pub truncate: bool,
    pub sync: bool,
}

impl Flag {
    /// Node.js `fs.open` flag strings (spec.md §1, open flags).
    pub fn parse(s: &str) -> Option<Flag> {
        let f = |read, write, append, create, exclusive, truncate, sync| Flag {
            read,
            write,
            append,
            create,
            exclusive,
            truncate,
            sync,
        };
        Some(match s {
            "r" => f(true, false, false, false, false, false, false),
            "r+" => f(true, true, false, false, false, false, false),
            "w" => f(false, true, false, true, false, true, false),
            "wx" => f(false, true, false, true, true, true, false),
            "w+" => f(true, true, false, true, false, true, false),
            "wx+" => f(true, true, false, true, true, true, false),
            "a" => f(false, true, true, true, false, false, false),
            "ax" => f(false, true, true, true, true, false, false),
            "a+" => f(true, true, true, true, false, false, false),
            "ax+" => f(true, true, true, true, true, false, false),
            "as" => f(false, true, true, true, false, false, true),
            "as+" => f(true, true, true, true, false, false, true),
            _ => return None,
        })
    }
}

struct FdEntry {
    file: std::fs::File,
    /// The path it was opened by: what the quota journal names for writes through it.
    vp: VPath,
    flag: Flag,
    /// The current file pointer for reads/writes without an explicit position.
    pos: u64,
    /// Whether bytes written through this fd count against the user+saved quota.
    counted: bool,
}

#[derive(Default)]
pub struct FdTable {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Mutex<FdEntry>>>>,
}

impl FdTable {
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn bad_fd() -> Error {
    Error::new(code::BAD_FD, "bad file descriptor")
}

fn fd_denied() -> Error {
    Error::new(code::FD_PERMISSION, "permission denied")
}

impl FileSystem {
    fn fd(&self, fd: &str) -> Result<Arc<Mutex<FdEntry>>> {
        let n: u64 = fd.parse().map_err(|_| bad_fd())?;
        self.fds.open.lock().get(&n).cloned().ok_or_else(bad_fd)
    }

    pub fn open_fd(&self, path: &str, flag: &str) -> Result<String> {
        let flag = Flag::parse(flag).ok_or_else(|| Error::new(code::INVALID_FLAG, "invalid flag"))?;
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory \"{path}\""));
        let denied = || format!("permission denied, open {path}");
        let vp: VPath = sandbox::path::parse(path).map_err(|e| super::path_error(e, denied))?;
        if flag.write && !vp.area.writable() {
            return Err(Error::new(code::FLAG_PERMISSION, "permission denied when open using flag"));
        }
        if vp.is_area_root() {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\"")));
        }
        if self.fds.len() as u64 >= self.limits.open_files {
            return Err(Error::new(code::FD_LIMIT, "excced max concurrent fd limit"));
        }
        let dir = self.dir(vp.area).ok_or_else(noent)?;
        let mut opts = OpenOptions::new();
        opts.read(flag.read).write(flag.write && !flag.append).append(flag.append);
        if flag.create {
            if flag.exclusive {
                opts.create_new(true);
            } else {
                opts.create(true);
            }
        }
        let counted = matches!(vp.area, Area::Usr | Area::Store);
        // Truncation changes usage: take the quota lock around it.
        let mut st = self.state.lock();
        let old = if flag.truncate { self.charged(&vp) } else { 0 };
        let file = dir.open_with(vp.rel(), &opts).map_err(|e| match classify(&e) {
            Fail::Exists => Error::new(code::ALREADY_EXISTS, format!("file already exists {path}")),
            Fail::IsDir => Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\"")),
            Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
            Fail::TooLong => super::too_long(),
            Fail::NotFound | Fail::NotDir => noent(),
            _ => Error::system(&e),
        })?;
        let file = file.into_std();
        if vp.area == Area::Tmp {
            super::touch_used(&file);
        }
        let meta = file.metadata().map_err(|e| Error::system(&e))?;
        if meta.is_dir() {
            return Err(Error::new(code::ILLEGAL_ON_DIR, format!("illegal operation on a directory, open \"{path}\"")));
        }
        if flag.truncate && meta.len() > 0 {
            let entry = self.entry(&vp, old);
            self.journaled(&mut st, vec![entry], || {
                file.set_len(0).map_err(|e| Error::system(&e))?;
                Ok(((), if counted { -(old as i64) } else { 0 }, 0))
            })?;
        }
        drop(st);
        let n = self.fds.next.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = FdEntry { file, vp, flag, pos: 0, counted };
        self.fds.open.lock().insert(n, Arc::new(Mutex::new(entry)));
        Ok(n.to_string())
    }

    pub fn close_fd(&self, fd: &str) -> Result<()> {
        let n: u64 = fd.parse().map_err(|_| bad_fd())?;
        self.fds.open.lock().remove(&n).map(|_| ()).ok_or_else(bad_fd)
    }

    pub fn fstat(&self, fd: &str) -> Result<Stats> {
        let entry = self.fd(fd)?;
        let e = entry.lock();
        let meta = e.file.metadata().map_err(|e| Error::system(&e))?;
        use std::os::unix::fs::MetadataExt;
        Ok(Stats { mode: meta.mode(), size: meta.len(), last_accessed_time: meta.atime(), last_modified_time: meta.mtime() })
    }

    pub fn ftruncate(&self, fd: &str, length: u64) -> Result<()> {
        let entry = self.fd(fd)?;
        let e = entry.lock();
        if !e.flag.write {
            return Err(fd_denied());
        }
        let mut st = self.state.lock();
        let len = e.file.metadata().map_err(|err| Error::system(&err))?.len();
        let delta = quota::delta(length, len);
        if e.counted && !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let entry = self.entry(&e.vp, len);
        self.journaled(&mut st, vec![entry], || {
            e.file.set_len(length).map_err(|err| Error::system(&err))?;
            if e.flag.sync {
                let _ = e.file.sync_data();
            }
            Ok(((), if e.counted { delta } else { 0 }, 0))
        })
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
            return Err(Error::new(code::OFFSET_RANGE, "the value of \"offset\" is out of range"));
        }
        if length > cap - offset {
            return Err(Error::new(code::LENGTH_RANGE, "the value of \"length\" is out of range"));
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
    pub fn write_fd(&self, fd: &str, data: &[u8], position: Option<u64>) -> Result<u64> {
        let entry = self.fd(fd)?;
        let mut e = entry.lock();
        if !e.flag.write {
            return Err(fd_denied());
        }
        let mut st = self.state.lock();
        let len = e.file.metadata().map_err(|err| Error::system(&err))?.len();
        let at = if e.flag.append { len } else { position.unwrap_or(e.pos) };
        let end = at.saturating_add(data.len() as u64);
        let delta = quota::delta(end.max(len), len);
        if e.counted && !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let mut entry = self.entry(&e.vp, len);
        if e.flag.append {
            entry.after = Some(end); // an append-mode write is rolled back if a crash tears it
        }
        self.journaled(&mut st, vec![entry], || {
            if let Err(err) = e.file.write_all_at(data, at) {
                let _ = e.file.set_len(len);
                return Err(match classify(&err) {
                    Fail::Full => Error::storage_limit(),
                    _ => Error::system(&err),
                });
            }
            if e.flag.sync || self.durability == super::Durability::Power {
                let _ = e.file.sync_data();
            }
            Ok(((), if e.counted { delta } else { 0 }, 0))
        })?;
        if position.is_none() || e.flag.append {
            e.pos = end;
        }
        Ok(data.len() as u64)
    }
}
