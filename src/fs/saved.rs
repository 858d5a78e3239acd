//! Saved files: saveFile (from a temp file into the store area or to a user path), the legacy
//! list/info/remove calls.

use std::io::{self, Read as _};

use cap_std::fs::{Metadata, MetadataExt};

use super::fail::write_error;
use super::texts::Text;
use super::values::SavedFile;
use super::{classify, Fail, FileId, FileSystem};
use crate::error::{Error, Result};
use crate::quota::Delta;
use crate::sandbox::{self, Area, VPath};

impl FileSystem {
    /// saveFile: move a temp file into the saved-file area, or to `file_path` in usr. A temp file
    /// the host holds mapped is copied instead, so that no call can cut the mapping in place.
    pub fn save_file(&self, temp_path: &str, file_path: Option<&str>) -> Result<String> {
        let not_exist = || Text::TempNotExist.error();
        let tvp = sandbox::path::parse_in(temp_path, self.protocol).map_err(|_| not_exist())?;
        if tvp.area != Area::Tmp {
            return Err(not_exist());
        }
        let tmp = self.area(Area::Tmp)?;
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
                let denied = || Text::DeniedOpenQuoted.words(&[fp]);
                let vp = self.writable(fp, denied)?;
                if vp.is_area_root() || self.target_is_dir(&vp, denied)? {
                    return Err(Text::IllegalOpen.at(&[fp]));
                }
                let parent = vp.parent().expect("not root");
                let pshow = self.show(&parent);
                self.check_parent(&vp, || self.missing(&vp, Text::NoentQuoted.words(&[&pshow])), denied)?;
                vp
            }
        };
        let size = tmeta.len();
        let admitted = self.admit_replace(&st, &dest, size)?;
        let ddir = self.area(dest.area)?;
        let ddir = &*ddir;
        let copy = dest.area == Area::Usr && self.is_pinned(FileId::of_cap(&tmeta));
        let noent = || not_exist();
        let entries = vec![self.entry(&tvp), self.entry(&dest)];
        let delta = admitted.delta + Delta { temp: -(size as i64), ..Delta::ZERO };
        let res = self.journaled(&mut st, entries, false, || {
            if copy {
                let mut src = tmp.open(tvp.rel()).map_err(|_| not_exist())?.into_std();
                let staged =
                    self.stage(|f| io::copy(&mut (&mut src).take(size), f).map(|_| ())).map_err(|e| write_error(&e, noent))?;
                self.commit(&staged, &dest).map_err(|e| write_error(&e, noent))?;
                tmp.remove_file(tvp.rel()).map_err(|e| Error::system(&e))?;
                crate::crash::point();
                self.sync_parents([&tvp]);
            } else {
                tmp.rename(tvp.rel(), ddir, dest.rel()).map_err(|e| match classify(&e) {
                    Fail::NotFound => not_exist(),
                    _ => write_error(&e, noent),
                })?;
                crate::crash::point();
                self.sync_parents([&tvp, &dest]);
            }
            Ok(((), delta))
        });
        st.files.settle(admitted.watched, ddir);
        res?;
        if !copy {
            st.files.renamed(&tvp, &dest);
        }
        Ok(self.show(&dest))
    }

    /// `getSavedFileList`: every saved file, with its size and creation time. Each is charged
    /// to `charge` as it is found, before it is kept; the first charge that fails ends the call.
    pub fn get_saved_file_list(&self, charge: &mut dyn FnMut(&SavedFile) -> Result<()>) -> Result<Vec<SavedFile>> {
        let store = self.area(Area::Store)?;
        let mut out = Vec::new();
        for entry in store.entries().map_err(|e| Error::system(&e))? {
            let entry = entry.map_err(|e| Error::system(&e))?;
            let meta = entry.metadata().map_err(|e| Error::system(&e))?;
            if !meta.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let vp = VPath { area: Area::Store, parts: vec![name] };
            let file = SavedFile { file_path: self.show(&vp), size: meta.len(), create_time: saved_time(&meta) };
            charge(&file)?;
            out.push(file);
        }
        out.sort_unstable_by(|a, b| (a.create_time, &a.file_path).cmp(&(b.create_time, &b.file_path)));
        Ok(out)
    }

    fn saved_meta(&self, path: &str) -> Result<(VPath, Metadata)> {
        let not_exist = || Text::FileNotExist.error();
        let vp = sandbox::path::parse_in(path, self.protocol).map_err(|_| not_exist())?;
        if vp.area != Area::Store {
            return Err(not_exist());
        }
        let meta = self.area(Area::Store)?.symlink_metadata(vp.rel()).map_err(|_| not_exist())?;
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

    /// `removeSavedFile`: delete one saved file.
    pub fn remove_saved_file(&self, path: &str) -> Result<()> {
        let mut st = self.state.lock();
        let (vp, meta) = self.saved_meta(path)?;
        let store = self.area(Area::Store)?;
        let store = &*store;
        let watched = st.files.watch(&vp, store);
        let res = self.journaled(&mut st, vec![self.entry(&vp)], true, || {
            store.remove_file(vp.rel()).map_err(|e| match classify(&e) {
                Fail::NotFound => Text::FileNotExist.error(),
                _ => Error::system(&e),
            })?;
            self.sync_parents([&vp]);
            Ok(((), Delta::user(-(meta.len() as i64), -1)))
        });
        st.files.settle(watched, store);
        res
    }
}

/// When a saved file was saved: its status-change time, which the rename into the store area
/// set (saved files are never written, chmod-ed or touched afterwards), so saving costs no
/// extra system call to stamp the file.
fn saved_time(meta: &Metadata) -> i64 {
    meta.ctime()
}
