//! Digests, brotli and zip: readCompressedFile, readZipEntry, unzip, getFileInfo.

use std::io::{self, Read, Write};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::{classify, Fail, FileSystem};
use crate::error::{code, Error, Result};
use crate::quota;
use crate::sandbox::{Area, VPath};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    Md5,
    Sha1,
    Sha256,
}

impl Digest {
    pub fn parse(name: &str) -> Option<Digest> {
        match name {
            "md5" => Some(Digest::Md5),
            "sha1" => Some(Digest::Sha1),
            "sha256" => Some(Digest::Sha256),
            _ => None,
        }
    }

    /// Lowercase hex digest of everything `r` yields.
    pub fn of_reader(self, r: &mut impl Read) -> io::Result<String> {
        fn run<D: sha2::Digest>(mut d: D, r: &mut impl Read) -> io::Result<String> {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                d.update(&buf[..n]);
            }
            Ok(hex::encode(d.finalize()))
        }
        match self {
            Digest::Md5 => run(Md5::new(), r),
            Digest::Sha1 => run(Sha1::new(), r),
            Digest::Sha256 => run(Sha256::new(), r),
        }
    }
}

/// A writer that refuses to grow past `limit` bytes: a decompression bomb fails, it never fills memory.
struct Capped {
    out: Vec<u8>,
    limit: u64,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() as u64 + buf.len() as u64 > self.limit {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "output limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn brotli_decompress(mut input: impl Read, limit: u64) -> Result<Vec<u8>> {
    let mut out = Capped { out: Vec::new(), limit };
    match brotli_decompressor::BrotliDecompress(&mut input, &mut out) {
        Ok(()) => Ok(out.out),
        Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
            Err(Error::new(code::STORAGE_LIMIT, "native buffer exceed size limit"))
        }
        Err(_) => Err(Error::new(code::BROTLI_FAIL, "decompress fail")),
    }
}

/// One requested entry of readZipEntry.
#[derive(Clone, Debug)]
pub struct EntryRequest {
    pub path: String,
    pub position: Option<f64>,
    pub length: Option<f64>,
}

/// Most entries a zip may have before we refuse it outright.
const MAX_ENTRIES: usize = 65_536;

/// The components of a zip entry name that is safe to extract beneath a directory.
fn entry_parts(name: &str) -> Option<Vec<String>> {
    if name.starts_with('/') || name.contains('\\') || name.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c if c.len() > crate::sandbox::path::MAX_COMPONENT => return None,
            c => parts.push(c.to_string()),
        }
    }
    (!parts.is_empty()).then_some(parts)
}

impl FileSystem {
    fn open_zip(&self, path: &str) -> Result<zip::ZipArchive<std::fs::File>> {
        let (file, _) = self.open_read(path)?;
        zip::ZipArchive::new(file).map_err(|_| Error::new(code::UNZIP_OPEN, "unzip open file fail"))
    }

    /// readZipEntry: `None` asks for every file entry.
    pub fn read_zip_entries(&self, path: &str, wanted: Option<&[EntryRequest]>) -> Result<Vec<(String, Result<Vec<u8>>)>> {
        let mut zip = self.open_zip(path)?;
        let mut budget = self.limits.read_file;
        let too_big = || Error::new(code::STORAGE_LIMIT, "native buffer exceed size limit");
        let mut out = Vec::new();
        match wanted {
            None => {
                for i in 0..zip.len().min(MAX_ENTRIES) {
                    let mut f = zip.by_index(i).map_err(|_| Error::new(code::UNZIP_ENTRY, "unzip entry fail"))?;
                    if f.is_dir() {
                        continue;
                    }
                    let name = f.name().to_string();
                    let mut data = Vec::new();
                    let n = (&mut f).take(budget + 1).read_to_end(&mut data);
                    if n.is_err() {
                        out.push((name, Err(Error::new(code::UNZIP_ENTRY, "unzip entry fail"))));
                        continue;
                    }
                    if data.len() as u64 > budget {
                        return Err(too_big());
                    }
                    budget -= data.len() as u64;
                    out.push((name, Ok(data)));
                }
            }
            Some(reqs) => {
                for req in reqs {
                    let res = (|| {
                        let mut f = zip.by_name(&req.path).map_err(|_| {
                            Error::new(code::NO_SUCH_FILE, format!("no such file or directory, open {}", req.path))
                        })?;
                        let (pos, count) = self.read_range(f.size(), req.position, req.length)?;
                        if count > budget {
                            return Err(too_big());
                        }
                        io::copy(&mut (&mut f).take(pos), &mut io::sink())
                            .map_err(|_| Error::new(code::UNZIP_ENTRY, "unzip entry fail"))?;
                        let mut data = Vec::with_capacity(count as usize);
                        (&mut f)
                            .take(count)
                            .read_to_end(&mut data)
                            .map_err(|_| Error::new(code::UNZIP_ENTRY, "unzip entry fail"))?;
                        budget -= data.len() as u64;
                        Ok(data)
                    })();
                    // Over the readFile budget fails the whole call, not just this entry.
                    if let Err(e) = &res {
                        if e.code == code::STORAGE_LIMIT {
                            return Err(e.clone());
                        }
                    }
                    out.push((req.path.clone(), res));
                }
            }
        }
        Ok(out)
    }

    /// unzip: all or nothing. Every entry is checked (names, sizes, quota) and staged before
    /// anything appears under the target; a hostile entry fails the whole call.
    pub fn unzip(&self, zip_path: &str, target: &str) -> Result<()> {
        let denied = || format!("permission denied, unzip {zip_path} -> {target}");
        let noent = || Error::new(code::NO_SUCH_FILE, format!("no such file or directory, unzip {zip_path} -> \"{target}"));
        let tvp = self.writable(target, denied)?;
        let mut zip = match self.open_zip(zip_path) {
            Err(e) if e.code == code::NO_SUCH_FILE => return Err(noent()),
            other => other?,
        };
        let entry_fail = || Error::new(code::UNZIP_ENTRY, "unzip entry fail");
        if zip.len() > MAX_ENTRIES {
            return Err(Error::new(code::UNZIP_FAIL, "unzip fail"));
        }
        // Plan: (target path, declared size) per file; directories separately.
        let mut files: Vec<(usize, VPath, u64)> = Vec::new();
        let mut dirs: Vec<VPath> = Vec::new();
        for i in 0..zip.len() {
            let f = zip.by_index_raw(i).map_err(|_| entry_fail())?;
            let parts = entry_parts(f.name()).ok_or_else(entry_fail)?;
            let mut vp = tvp.clone();
            vp.parts.extend(parts);
            if f.is_dir() {
                dirs.push(vp);
            } else {
                files.push((i, vp, f.size()));
            }
        }
        let total: u64 = files.iter().map(|(_, _, s)| *s).fold(0u64, |a, b| a.saturating_add(b));
        let mut st = self.state.lock();
        if self.meta(&tvp).map(|m| !m.is_dir()).unwrap_or(false) {
            return Err(Error::new(code::NOT_A_DIRECTORY, format!("not a directory, unzip {zip_path} -> {target}")));
        }
        let replaced: u64 = files.iter().map(|(_, vp, _)| self.charged(vp)).sum();
        for (_, vp, _) in &files {
            if self.meta(vp).map(|m| m.is_dir()).unwrap_or(false) {
                return Err(entry_fail());
            }
        }
        let delta = quota::delta(total, replaced);
        if !st.usage.user_fits(delta, self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        // Stage every file; a stream longer or shorter than its header says is refused.
        let mut staged: Vec<(String, VPath)> = Vec::new();
        let cleanup = |staged: &[(String, VPath)]| {
            for (s, _) in staged {
                let _ = self.sb.staging().remove_file(s);
            }
        };
        for (i, vp, size) in &files {
            let res = zip.by_index(*i).map_err(|_| entry_fail()).and_then(|mut f| {
                self.stage(|out| {
                    let n = io::copy(&mut (&mut f).take(size + 1), out)?;
                    if n != *size {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "size mismatch"));
                    }
                    Ok(())
                })
                .map_err(|e| match classify(&e) {
                    Fail::Full => Error::storage_limit(),
                    _ => entry_fail(),
                })
            });
            match res {
                Ok(name) => staged.push((name, vp.clone())),
                Err(e) => {
                    cleanup(&staged);
                    return Err(e);
                }
            }
        }
        let usr = self.dir(Area::Usr).expect("usr");
        let before = super::measure_entry(&self.sb, &self.entry(&tvp, 0));
        let entry = self.entry(&tvp, before);
        self.journaled(&mut st, vec![entry], || {
            let mut applied: i64 = 0;
            let mut result = Ok(());
            let mkdir = |vp: &VPath| if vp.is_area_root() { Ok(()) } else { usr.create_dir_all(vp.rel()) };
            for d in std::iter::once(&tvp).chain(dirs.iter()) {
                if let Err(e) = mkdir(d) {
                    result = Err(Error::system(&e));
                }
            }
            let mut remaining = staged.as_slice();
            while let (Ok(()), Some(((name, vp), rest))) = (&result, remaining.split_first()) {
                remaining = rest;
                let old = self.charged(vp);
                let size = self.sb.staging().metadata(name).map(|m| m.len()).unwrap_or(0);
                let r = mkdir(&vp.parent().expect("entry")).and_then(|_| self.commit(name, vp));
                match r {
                    Ok(()) => applied += quota::delta(size, old),
                    Err(_) => result = Err(Error::new(code::UNZIP_FAIL, "unzip fail")),
                }
            }
            cleanup(remaining);
            result.map(|()| ((), applied, 0))
        })
    }
}
