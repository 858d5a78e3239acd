//! Whole-file writes: writeFile, appendFile, truncate, copyFile.

use std::io::{self, Read as _, Write as _};

use cap_std::fs::{MetadataExt, OpenOptions};

use super::fail::{denied_or, write_error};
use super::fd_table::{Tracking, Watched};
use super::texts::Text;
use super::{FileSystem, State};
use crate::error::{Error, Result};
use crate::quota::journal::Undo;
use crate::quota::{self, Delta};
use crate::sandbox::VPath;

/// A replacement the quota admitted: what it changes, and the open files it may leave held.
pub(super) struct Admitted {
    pub delta: Delta,
    pub watched: Vec<Watched>,
    /// The area's handle the check read, for the settling after the mutation.
    pub dir: std::sync::Arc<cap_std::fs::Dir>,
}

impl FileSystem {
    /// Check that a file of `size` bytes may take the place of whatever file is at `vp`: its
    /// size, the bytes (counting what open fds keep of the file it replaces) and the entry it
    /// may create.
    pub(super) fn admit_replace(&self, st: &State, vp: &VPath, size: u64) -> Result<Admitted> {
        self.file_fits(size, 0)?;
        let (old, exists) = self.charged(vp);
        let dir = self.area(vp.area)?;
        let watched = st.files.watch(vp, &dir);
        let delta = Delta::user(quota::delta(size, old), !exists as i64);
        let kept = Tracking::watched_bytes(&watched) as i64;
        if !st.fits(delta.user.saturating_add(kept), self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        if !st.entries_fit(!exists as u64, &self.limits) {
            return Err(Error::storage_limit());
        }
        Ok(Admitted { delta, watched, dir })
    }

    /// Rename a staged file over `vp` under the journal, as `admitted` said.
    pub(super) fn install(
        &self,
        st: &mut State,
        vp: &VPath,
        staged: &str,
        admitted: Admitted,
        noent: impl Fn() -> Error,
    ) -> Result<()> {
        let Admitted { delta, watched, dir } = admitted;
        let res = self.journaled(st, vec![self.entry(vp)], false, || {
            self.commit(staged, vp).map_err(|e| write_error(&e, &noent))?;
            Ok(((), delta))
        });
        st.files.settle(watched, &dir);
        res
    }

    /// writeFile: create or atomically replace a user file.
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.writable(path, denied)?;
        let noent = || self.missing(&vp, Text::NoentOpen.words(&[path]));
        let is_dir = || Text::IllegalOpen.at(&[path]);
        if vp.is_area_root() {
            return Err(is_dir());
        }
        let mut st = self.state.lock();
        self.check_parent(&vp, noent, denied)?;
        if self.target_is_dir(&vp, denied)? {
            return Err(is_dir());
        }
        let admitted = self.admit_replace(&st, &vp, data.len() as u64)?;
        let staged = self.stage(|f| f.write_all(data)).map_err(|e| write_error(&e, noent))?;
        self.install(&mut st, &vp, &staged, admitted, noent)
    }

    /// appendFile: the file must exist; bytes go on at its end.
    pub fn append_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.writable(path, denied)?;
        let noent = || self.missing(&vp, Text::NoentOpen.words(&[path]));
        let is_dir = || Text::IllegalOpen.at(&[path]);
        let mut st = self.state.lock();
        let meta = self.meta(&vp).map_err(|e| denied_or(&e, denied, noent))?;
        if meta.is_dir() {
            return Err(is_dir());
        }
        self.file_fits(meta.len().saturating_add(data.len() as u64), meta.len())?;
        let delta = data.len() as i64;
        if !st.fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let mut opts = OpenOptions::new();
        opts.append(true);
        let f = self.usr()?.open_with(vp.rel(), &opts).map_err(|e| write_error(&e, noent))?.into_std();
        let fmeta = f.metadata().map_err(|e| Error::system(&e))?;
        let before = fmeta.len();
        let mut entry = self.entry(&vp);
        entry.after = Some(before + data.len() as u64);
        // The appended range's CRC: a cut may keep the new length with some of the new bytes
        // never written, which only the contents tell apart from a complete append.
        let end = before + data.len() as u64;
        entry.undo = Some(Undo { at: before, end, crc: crc32fast::hash(data), old: Vec::new() });
        entry.ino = Some(std::os::unix::fs::MetadataExt::ino(&fmeta));
        debug_assert_eq!(entry.ino, Some(meta.ino()));
        self.journaled(&mut st, vec![entry], false, || {
            if let Err(e) = (&f).write_all(data).and_then(|_| self.flush_if_power(&f)) {
                // Keep the file and the quota consistent: cut back what a failed append left.
                let _ = f.set_len(before);
                return Err(write_error(&e, noent));
            }
            Ok(((), Delta::user(delta, 0)))
        })
    }

    /// `truncate`: cut or extend a file of usr to `length` bytes.
    pub fn truncate(&self, path: &str, length: u64) -> Result<()> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.writable(path, denied)?;
        let noent = || self.missing(&vp, Text::NoentOpen.words(&[path]));
        let mut st = self.state.lock();
        let meta = self.meta(&vp).map_err(|e| denied_or(&e, denied, noent))?;
        if meta.is_dir() {
            return Err(Text::IllegalOpen.at(&[path]));
        }
        self.file_fits(length, meta.len())?;
        let delta = quota::delta(length, meta.len());
        if !st.fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let mut opts = OpenOptions::new();
        opts.write(true);
        let f = self.usr()?.open_with(vp.rel(), &opts).map_err(|e| write_error(&e, noent))?.into_std();
        self.journaled(&mut st, vec![self.entry(&vp)], delta <= 0, || {
            f.set_len(length).and_then(|_| self.flush_if_power(&f)).map_err(|e| write_error(&e, noent))?;
            Ok(((), Delta::user(delta, 0)))
        })
    }

    /// `copyFile`: copy a file to a path in usr.
    pub fn copy_file(&self, src: &str, dst: &str) -> Result<()> {
        let denied = || Text::DeniedCopy.words(&[src, dst]);
        let reason = || Text::NoentCopy.words(&[src, dst]);
        let is_dir = || Text::IllegalCopy.at(&[src, dst]);
        let svp = self.readable(src, denied)?;
        let dvp = self.writable(dst, denied)?;
        if dvp.is_area_root() || svp.is_area_root() {
            return Err(is_dir());
        }
        let src_missing = || self.missing(&svp, reason());
        let sfile = self.dir_or(svp.area, src_missing)?.open(svp.rel()).map_err(|e| denied_or(&e, denied, src_missing))?;
        let mut sfile = sfile.into_std();
        let smeta = sfile.metadata().map_err(|e| Error::system(&e))?;
        if smeta.is_dir() {
            return Err(is_dir());
        }
        let noent = || self.missing(&dvp, reason());
        let mut st = self.state.lock();
        self.check_parent(&dvp, noent, denied)?;
        if self.target_is_dir(&dvp, denied)? {
            return Err(is_dir());
        }
        // Copy exactly the length we charged, even if the source grows meanwhile.
        let want = smeta.len();
        let admitted = self.admit_replace(&st, &dvp, want)?;
        let staged = self
            .stage(|f| {
                let n = io::copy(&mut (&mut sfile).take(want), f)?;
                if n != want {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source shrank during copy"));
                }
                Ok(())
            })
            .map_err(|e| write_error(&e, noent))?;
        self.install(&mut st, &dvp, &staged, admitted, noent)
    }
}
