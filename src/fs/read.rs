//! Reads: access, stat, readdir, readFile and its relatives.

use super::fail::{denied_or, too_long, Fail};
use super::texts::Text;
use super::values::{Listing, StatResult, Stats};
use super::{archive, classify, read_exact_at, touch_used, walk, FileId, FileSystem};
use crate::error::{code, Error, Result};
use crate::sandbox::{self, Area, PathError};

/// A file opened for a native caller, with what it takes to map it safely.
pub struct ForMap {
    /// The open file.
    pub file: std::fs::File,
    /// Its length when opened, in bytes.
    pub len: u64,
    /// No call changes this file in place (saved, temp and package files are replaced whole or
    /// not at all, and a pinned temp file is copied, not moved, into usr), so a mapping of it
    /// stays readable: pin it with [`FileSystem::pin_mapped`] while the mapping lives.
    pub mappable: bool,
    pub(crate) id: FileId,
}

impl FileSystem {
    /// `access`: whether `path` exists (`Ok`) or why not.
    pub fn access(&self, path: &str) -> Result<()> {
        let noent = Text::Noent.words(&[path]);
        let vp = match sandbox::path::parse_in(path, self.protocol) {
            Ok(vp) => vp,
            Err(PathError::TooLong) => return Err(too_long()),
            Err(_) => return Err(Error::new(code::NO_SUCH_FILE, noent)),
        };
        self.meta(&vp).map(|_| ()).map_err(|e| match classify(&e) {
            Fail::Denied => Text::DeniedOpen.at(&[path]),
            _ => self.missing(&vp, noent),
        })
    }

    /// `stat`: the stats of `path`, or with `tree` (stat's `recursive`) those of a whole
    /// directory tree, handed to `tree` entry by entry as the walk finds them.
    pub fn stat(&self, path: &str, tree: Option<&mut dyn Listing>) -> Result<StatResult> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.readable(path, denied)?;
        let meta = self.meta(&vp).map_err(|e| denied_or(&e, denied, || self.missing(&vp, Text::Noent.words(&[path]))))?;
        let top = Stats::from_meta(&meta);
        let Some(list) = tree.filter(|_| meta.is_dir()) else {
            return Ok(StatResult::One(top));
        };
        list.charge("", "", &top)?;
        list.entry("/", &top);
        walk::stats_each(&*self.area(vp.area)?, &vp.rel(), list)?;
        Ok(StatResult::Tree)
    }

    /// `readdir`: the names in a directory, sorted. Each name is charged to `charge` as it is
    /// read, before it is kept; the first charge that fails ends the call with its error.
    pub fn readdir(&self, path: &str, charge: &mut dyn FnMut(&str) -> Result<()>) -> Result<Vec<String>> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = match sandbox::path::parse_in(path, self.protocol) {
            Ok(vp) => vp,
            Err(PathError::TooLong) => return Err(too_long()),
            Err(_) => return Err(Error::new(code::PATH_PERMISSION_DENIED, denied())),
        };
        let noent = || self.missing(&vp, Text::Noent.words(&[path]));
        let dir = self.dir_or(vp.area, noent)?;
        let sub = walk::open_sub(&dir, &vp.rel()).map_err(|e| match classify(&e) {
            Fail::NotDir if !self.blocked_by_file(&vp) => Text::NotDir.at(&[path]),
            Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
            _ => noent(),
        })?;
        let mut names = Vec::new();
        for entry in sub.entries().map_err(|e| Error::system(&e))? {
            let entry = entry.map_err(|e| Error::system(&e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            charge(&name)?;
            names.push(name);
        }
        names.sort_unstable();
        Ok(names)
    }

    /// Open a readable regular file with the method's wording for failures (readFile family).
    pub fn open_read(&self, path: &str) -> Result<(std::fs::File, u64)> {
        let (file, len, _) = self.open_read_at(path)?;
        Ok((file, len))
    }

    fn open_read_at(&self, path: &str) -> Result<(std::fs::File, u64, sandbox::VPath)> {
        let denied = || Text::DeniedOpen.words(&[path]);
        let vp = self.readable(path, denied)?;
        let noent = || self.missing(&vp, Text::NoentOpen.words(&[path]));
        let is_dir = || Text::IllegalOpen.at(&[path]);
        let dir = self.dir_or(vp.area, noent)?;
        if vp.is_area_root() {
            return Err(is_dir());
        }
        let file = dir.open(vp.rel()).map_err(|e| match classify(&e) {
            Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
            Fail::TooLong => too_long(),
            Fail::FdLimit => super::fail::fd_limit(),
            _ => noent(),
        })?;
        let file = file.into_std();
        let meta = file.metadata().map_err(|e| Error::system(&e))?;
        if meta.is_dir() {
            return Err(is_dir());
        }
        if vp.area == Area::Tmp {
            touch_used(&file);
        }
        Ok((file, meta.len(), vp))
    }

    /// Open a readable file for a native caller that may map it (see [`ForMap`]).
    pub fn open_for_map(&self, path: &str) -> Result<ForMap> {
        let (file, len, vp) = self.open_read_at(path)?;
        if len > self.limits.read_file {
            return Err(Text::NativeBufferLimit.error());
        }
        let id = FileId::of(&file.metadata().map_err(|e| Error::system(&e))?);
        Ok(ForMap { file, len, mappable: vp.area != Area::Usr, id })
    }

    /// The host maps `f`: keep its file out of reach of in-place changes until `unpin`.
    pub fn pin_mapped(&self, f: &ForMap) {
        self.pin(f.id);
    }

    /// The byte range readFile returns, validated as WeChat documents it:
    /// position in [0, len-1], length in [1, len]; the range is clipped at the end of the file.
    pub fn read_range(&self, len: u64, position: Option<f64>, length: Option<f64>) -> Result<(u64, u64)> {
        let pos = match position {
            None => 0,
            Some(p) if p.fract() == 0.0 && p >= 0.0 && (p < len as f64 || (p == 0.0 && len == 0)) => p as u64,
            Some(_) => return Err(Text::PositionRange.error()),
        };
        let count = match length {
            None => len - pos,
            Some(l) if l.fract() == 0.0 && l >= 1.0 && l <= len as f64 => (l as u64).min(len - pos),
            Some(_) => return Err(Text::LengthRange.error()),
        };
        if count > self.limits.read_file {
            return Err(Text::NativeBufferLimit.error());
        }
        Ok((pos, count))
    }

    /// `readFile`: the bytes of a file, or of `length` bytes from `position` (JavaScript numbers,
    /// checked as WeChat does).
    pub fn read_file(&self, path: &str, position: Option<f64>, length: Option<f64>) -> Result<Vec<u8>> {
        let (file, len) = self.open_read(path)?;
        let (pos, count) = self.read_range(len, position, length)?;
        read_exact_at(&file, pos, count).map_err(|e| Error::system(&e))
    }

    /// `getFileInfo`: a file's size and its digest (`"md5"`, `"sha1"` or `"sha256"`) in lowercase hex.
    pub fn get_file_info(&self, path: &str, algorithm: &str) -> Result<(u64, String)> {
        let algo = archive::Digest::parse(algorithm).ok_or_else(|| Text::InvalidDigest.at(&[algorithm]))?;
        let not_exist = || Text::FileNotExist.error();
        let vp = sandbox::path::parse_in(path, self.protocol).map_err(|_| not_exist())?;
        let file = match self.dir(vp.area).map(|d| d.open(vp.rel())) {
            Ok(Ok(f)) => f,
            // Its own words for a missing file hold no path; a file in the middle of the path
            // is named as every other api names it (docs/wechat-behaviour.md §10, 1300020).
            _ if self.blocked_by_file(&vp) => return Err(Text::NotDirComma.at(&[path])),
            _ => return Err(not_exist()),
        };
        let mut file = file.into_std();
        let meta = file.metadata().map_err(|e| Error::system(&e))?;
        if meta.is_dir() {
            // It exists, so not "file not exist": what reading a directory as a file gives.
            return Err(Error::is_a_directory());
        }
        if !meta.is_file() {
            return Err(not_exist());
        }
        let digest = algo.of_reader(&mut file).map_err(|e| Error::system(&e))?;
        Ok((meta.len(), digest))
    }

    /// `readCompressedFile`: a brotli file (`algorithm` `"br"`), decompressed.
    pub fn read_compressed_file(&self, path: &str, algorithm: &str) -> Result<Vec<u8>> {
        if algorithm != "br" {
            return Err(Text::DecompressFail.error());
        }
        let (file, _) = self.open_read(path)?;
        archive::brotli_decompress(file, self.limits.read_file)
    }

    /// The limit on a text result (a string encoding of file bytes, as a JSON result carries
    /// it): twice the readFile limit, so base64 and hex of a file at the limit fit, while bytes
    /// that would expand six-fold into escapes are refused before they are built.
    pub fn text_limit(&self) -> u64 {
        self.limits.read_file.saturating_mul(2)
    }
}
