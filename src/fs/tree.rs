//! Names and directories: mkdir, rmdir, unlink, rename. Each keeps the entry count, and moves or
//! releases what open fds hold along with the names (fds follow their files).

use super::fail::{denied_or, too_long, write_error};
use super::texts::Text;
use super::{classify, walk, Fail, FileSystem};
use crate::error::{code, Error, Result};
use crate::quota::Delta;
use crate::sandbox::path::{MAX_DEPTH, MAX_REL_PATH};
use crate::sandbox::{self, Area, VPath};

impl FileSystem {
    /// `mkdir`: create a directory in usr (and its parents, with `recursive`).
    pub fn mkdir(&self, path: &str, recursive: bool) -> Result<()> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.writable(path, denied)?;
        let exists = || Text::Exists.at(&[path]);
        let noent = || self.missing(&vp, Text::Noent.words(&[path]));
        let dir = self.usr()?;
        let dir = &*dir;
        let mut st = self.state.lock();
        if vp.is_area_root() {
            return if recursive { Ok(()) } else { Err(exists()) };
        }
        // The first component that does not exist yet: everything from it down is created.
        let mut first_missing = vp.parts.len();
        for n in 1..=vp.parts.len() {
            match dir.metadata(vp.parts[..n].join("/")) {
                Ok(m) if m.is_dir() => {}
                Ok(_) if n == vp.parts.len() => return Err(exists()),
                Ok(_) => return Err(self.missing(&vp, Text::Noent.words(&[path]))),
                Err(e) => match classify(&e) {
                    Fail::Denied => return Err(Error::new(code::PERMISSION_DENIED, denied())),
                    _ => {
                        first_missing = n - 1;
                        break;
                    }
                },
            }
        }
        if first_missing == vp.parts.len() {
            return if recursive { Ok(()) } else { Err(exists()) };
        }
        if !recursive && first_missing < vp.parts.len() - 1 {
            return Err(noent());
        }
        let created = (vp.parts.len() - first_missing) as u64;
        if !st.entries_fit(created, &self.limits) {
            return Err(Error::storage_limit());
        }
        let top = VPath { area: Area::Usr, parts: vp.parts[..=first_missing].to_vec() };
        self.journaled(&mut st, vec![self.entry(&top)], false, || {
            let res = if created == 1 { dir.create_dir(vp.rel()) } else { self.make_chain(&top, &vp.parts[first_missing + 1..]) };
            res.map_err(|e| match classify(&e) {
                Fail::Exists => exists(),
                Fail::NotFound | Fail::NotDir => noent(),
                Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
                _ => write_error(&e, noent),
            })?;
            self.sync_parents([&top]);
            Ok(((), Delta::user(0, created as i64)))
        })
    }

    /// Create `top` with the directories `below` it in one step: built in staging, then renamed
    /// into place, so that a kill leaves all of them or none.
    fn make_chain(&self, top: &VPath, below: &[String]) -> std::io::Result<()> {
        let staging = self.staging()?;
        let staging = &*staging;
        let name = format!("mkdir-{}", sandbox::random_name(None));
        staging.create_dir(&name)?;
        crate::crash::point();
        let built = (|| {
            if !below.is_empty() {
                staging.create_dir_all(format!("{name}/{}", below.join("/")))?;
                crate::crash::point();
                // `power`: each directory of the new tree that holds one, before the tree is
                // renamed into place (the caller syncs the directory it lands in).
                if self.durability == super::Durability::Power {
                    let mut held = name.clone();
                    for part in below {
                        self.sync_staging_dir(&held);
                        held = format!("{held}/{part}");
                    }
                }
            }
            staging.rename(&name, &*self.dir(Area::Usr)?, top.rel())?;
            crate::crash::point();
            Ok(())
        })();
        if built.is_err() {
            let _ = walk::remove_tree(staging, &name);
        }
        built
    }

    /// `rmdir`: remove a directory of usr (and everything in it, with `recursive`).
    pub fn rmdir(&self, path: &str, recursive: bool) -> Result<()> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.writable(path, denied)?;
        if vp.is_area_root() {
            return Err(Error::new(code::PERMISSION_DENIED, denied()));
        }
        let noent = || self.missing(&vp, Text::Noent.words(&[path]));
        let dir = self.usr()?;
        let dir = &*dir;
        let mut st = self.state.lock();
        let meta = dir.symlink_metadata(vp.rel()).map_err(|e| denied_or(&e, denied, noent))?;
        if !meta.is_dir() {
            return Err(Text::NotDir.at(&[path]));
        }
        let entry = self.entry(&vp);
        let (bytes, entries) = (entry.before, entry.before_entries);
        let watched = st.files.watch(&vp, dir);
        let res = self.journaled(&mut st, vec![entry], true, || {
            if recursive {
                // All or nothing across a kill: the tree leaves usr in one rename; what is left
                // in staging is removed now or, after a crash, at the next open.
                let trash = format!("rmdir-{}", sandbox::random_name(None));
                let staging = self.staging().map_err(|e| Error::system(&e))?;
                dir.rename(vp.rel(), &staging, &trash).map_err(|e| Error::system(&e))?;
                crate::crash::point();
                // The removal is made durable on the usr side; the trash's own entry in
                // staging is transient (removed below, or at the next open).
                self.sync_parents([&vp]);
                let _ = walk::remove_tree(&staging, &trash);
            } else {
                dir.remove_dir(vp.rel()).map_err(|e| match classify(&e) {
                    Fail::NotEmpty | Fail::Exists => Text::NotEmpty.error(),
                    Fail::NotFound => noent(),
                    _ => Error::system(&e),
                })?;
                self.sync_parents([&vp]);
            }
            Ok(((), Delta::user(-(bytes as i64), -(entries as i64))))
        });
        st.files.settle(watched, dir);
        res
    }

    /// `unlink`: remove a file of usr.
    pub fn unlink(&self, path: &str) -> Result<()> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.writable(path, denied)?;
        let noent = || self.missing(&vp, Text::Noent.words(&[path]));
        let not_permitted = || Text::NotPermittedUnlink.at(&[path]);
        if vp.is_area_root() {
            return Err(not_permitted());
        }
        let dir = self.usr()?;
        let dir = &*dir;
        let mut st = self.state.lock();
        let meta = dir.symlink_metadata(vp.rel()).map_err(|e| denied_or(&e, denied, noent))?;
        if meta.is_dir() {
            return Err(not_permitted());
        }
        let size = if meta.is_file() { meta.len() } else { 0 };
        let watched = st.files.watch(&vp, dir);
        let res = self.journaled(&mut st, vec![self.entry(&vp)], true, || {
            dir.remove_file(vp.rel()).map_err(|e| match classify(&e) {
                Fail::NotFound => noent(),
                _ => Error::system(&e),
            })?;
            self.sync_parents([&vp]);
            Ok(((), Delta::user(-(size as i64), -1)))
        });
        st.files.settle(watched, dir);
        res
    }

    /// `rename`: move a file or directory within usr.
    pub fn rename(&self, old: &str, new: &str) -> Result<()> {
        let denied = || Text::DeniedRename.words(&[old, new]);
        let reason = || Text::NoentRename.words(&[old, new]);
        let ovp = self.writable(old, denied)?;
        let nvp = self.writable(new, denied)?;
        let noent = || self.missing(&ovp, reason());
        if ovp.is_area_root() || nvp.is_area_root() {
            return Err(Error::new(code::PERMISSION_DENIED, denied()));
        }
        if ovp == nvp {
            return self.meta(&ovp).map(|_| ()).map_err(|_| noent());
        }
        if nvp.starts_with(&ovp) {
            return Err(Text::InvalidRename.at(&[old, new]));
        }
        let dir = self.usr()?;
        let dir = &*dir;
        let mut st = self.state.lock();
        let ometa = dir.symlink_metadata(ovp.rel()).map_err(|e| denied_or(&e, denied, noent))?;
        self.check_parent(&nvp, || self.missing(&nvp, reason()), denied)?;
        // A file takes its new name as a file made anew does. (Every file beneath a directory
        // was checked when it was made or grown.)
        if ometa.is_file() {
            self.file_fits(ometa.len(), 0)?;
        }
        // The subtree moved must fit beneath its new place, however shallow its own name is.
        if ometa.is_dir() {
            let room_depth = MAX_DEPTH.saturating_sub(nvp.parts.len());
            let here: usize = nvp.parts.iter().map(|p| p.len() + 1).sum();
            let room_len = (MAX_REL_PATH + 1).saturating_sub(here);
            let (depth, len) = walk::extent(dir, &ovp.rel(), room_depth, room_len).map_err(|e| match classify(&e) {
                Fail::TooLong => too_long(),
                _ => Error::system(&e),
            })?;
            if depth > room_depth || len > room_len {
                return Err(too_long());
            }
        }
        let entries = vec![self.entry(&ovp), self.entry(&nvp)];
        let (replaced, replaced_entries) = (entries[1].before, entries[1].before_entries);
        // A file the target's name leaves behind stays counted while an fd holds it.
        let watched = st.files.watch(&nvp, dir);
        let res = self.journaled(&mut st, entries, false, || {
            dir.rename(ovp.rel(), dir, nvp.rel()).map_err(|e| match classify(&e) {
                Fail::NotFound => noent(),
                Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
                Fail::IsDir => Text::IllegalRename.at(&[old, new]),
                Fail::NotDir => Text::NotDirRename.at(&[old, new]),
                Fail::NotEmpty | Fail::Exists => Text::NotEmpty.error(),
                _ => Error::system(&e),
            })?;
            crate::crash::point();
            // Both directories, when the name moves between two.
            self.sync_parents([&ovp, &nvp]);
            Ok(((), Delta::user(-(replaced as i64), -(replaced_entries as i64))))
        });
        st.files.settle(watched, dir);
        if res.is_ok() {
            st.files.renamed(&ovp, &nvp);
        }
        res
    }
}
