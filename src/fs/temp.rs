//! Temp files: what the host makes (downloads, camera, canvas), the trim at close, realPath.

use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;

use cap_std::fs::MetadataExt;

use super::fail::{denied_or, write_error};
use super::texts::Text;
use super::values::TempSource;
use super::FileSystem;
use crate::error::{Error, Result};
use crate::quota::{self, Delta};
use crate::sandbox::{self, Area, VPath};

impl FileSystem {
    /// What a download, camera or canvas API does: make a new temp file; returns its path.
    pub fn create_temp(&self, source: TempSource<'_>, extension: Option<&str>) -> Result<String> {
        if let Some(ext) = extension.filter(|e| !e.is_empty()) {
            if sandbox::plain_extension(&format!("x.{ext}")) != Some(ext) {
                return Err(Text::InvalidExtension.at(&[ext]));
            }
        }
        let size = match &source {
            TempSource::Bytes(b) => b.len() as u64,
            TempSource::File { path, .. } => std::fs::metadata(path).map_err(|_| Text::NoentSourcePath.error())?.len(),
        };
        let mut st = self.state.lock();
        if st.usage.temp.saturating_add(size) > self.limits.temp_runtime {
            return Err(Text::TempLimit.error());
        }
        let vp = VPath { area: Area::Tmp, parts: vec![sandbox::random_name(extension.filter(|e| !e.is_empty()))] };
        let tmp = self.area(Area::Tmp)?;
        let noent = || Text::NoentSourcePath.error();
        self.journaled(&mut st, vec![self.entry(&vp)], false, || {
            let written = match source {
                TempSource::Bytes(b) => self.stage(|f| f.write_all(b)).and_then(|s| self.commit(&s, &vp)),
                TempSource::File { path, take } => {
                    let os_target = self.sb.os_path(&vp).expect("tmp path");
                    let moved = take && std::fs::rename(&path, &os_target).is_ok();
                    if moved {
                        Ok(())
                    } else {
                        let r = std::fs::File::open(&path).and_then(|mut src| {
                            let s = self.stage(|f| io::copy(&mut (&mut src).take(size), f).map(|_| ()))?;
                            self.commit(&s, &vp)
                        });
                        if r.is_ok() && take {
                            let _ = std::fs::remove_file(&path);
                        }
                        r
                    }
                }
            };
            written.map_err(|e| write_error(&e, noent))?;
            let real = tmp.symlink_metadata(vp.rel()).map(|m| m.len()).unwrap_or(size);
            Ok(((), Delta { temp: real as i64, ..Delta::ZERO }))
        })?;
        Ok(self.show(&vp))
    }

    /// The OS path behind a readable virtual path (host.realPath).
    pub fn real_path(&self, path: &str) -> Result<PathBuf> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.readable(path, denied)?;
        let noent = || self.missing(&vp, Text::Noent.words(&[path]));
        self.meta(&vp).map_err(|e| denied_or(&e, denied, noent))?;
        self.sb.os_path(&vp).ok_or_else(noent)
    }

    /// Remove temp files, least recently used first, until at most `keep` bytes remain.
    /// Returns the bytes freed. Used when the sandbox closes (keep = tempKeep) and by gc.
    pub fn trim_temp(&self, keep: u64) -> io::Result<u64> {
        let mut st = self.state.lock();
        let tmp = self.dir(Area::Tmp)?;
        let mut items = Vec::new();
        for entry in tmp.entries()? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                items.push(quota::cleanup::Candidate {
                    key: name,
                    size: meta.len(),
                    last_use: (meta.atime(), meta.atime_nsec()),
                });
            }
        }
        let total = st.usage.temp;
        let mut freed = 0;
        for victim in quota::cleanup::lru_victims(items, total, keep) {
            let vp = VPath { area: Area::Tmp, parts: vec![victim.key.clone()] };
            let size = victim.size;
            let removed = self.journaled(&mut st, vec![self.entry(&vp)], true, || {
                tmp.remove_file(&victim.key).map_err(|e| Error::system(&e))?;
                Ok(((), Delta { temp: -(size as i64), ..Delta::ZERO }))
            });
            if removed.is_ok() {
                freed += size;
            }
        }
        Ok(freed)
    }
}
