//! Digests, brotli and zip: readCompressedFile, readZipEntry, unzip, getFileInfo.

use std::io::{self, Read, Write};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use std::collections::{BTreeMap, BTreeSet};

use super::fail::{too_long, write_error};
use super::fd_table::{Tracking, Watched};
use super::recovery::{Plan, PLAN, UNZIP_PREFIX};
use super::texts::Text;
use super::{classify, walk, Fail, FileSystem};
use crate::error::{code, Error, Result};
use crate::quota::{self, Delta};
use crate::sandbox::{self, Area, VPath};

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

/// Decodes a brotli stream (RFC 7932) into at most `limit` bytes. The decoder is the strict one:
/// a "large window" stream (a non-standard extension whose window, up to 1 GiB, is allocated whole
/// before the first byte is decoded) is refused as the reference decoder and Node's zlib refuse
/// it by default, so a 24-byte input cannot make the call hold 128 MiB. A standard stream's window
/// is at most 16 MiB.
pub fn brotli_decompress(mut input: impl Read, limit: u64) -> Result<Vec<u8>> {
    use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
    let fail = |e: io::Error| match e.kind() {
        io::ErrorKind::OutOfMemory => Text::NativeBufferLimit.error(),
        _ => Text::DecompressFail.error(),
    };
    let mut out = Capped { out: Vec::new(), limit };
    let mut state = BrotliState::new_strict(StandardAlloc::default(), StandardAlloc::default(), StandardAlloc::default());
    let (mut inbuf, mut outbuf) = ([0u8; 4096], [0u8; 4096]);
    let (mut available_in, mut in_at) = (0usize, 0usize);
    loop {
        let (mut available_out, mut out_at, mut total) = (outbuf.len(), 0usize, 0usize);
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut in_at,
            &inbuf,
            &mut available_out,
            &mut out_at,
            &mut outbuf,
            &mut total,
            &mut state,
        );
        out.write_all(&outbuf[..out_at]).map_err(fail)?;
        match result {
            BrotliResult::ResultSuccess => return Ok(out.out),
            BrotliResult::NeedsMoreOutput => {}
            BrotliResult::NeedsMoreInput => {
                let n = loop {
                    match input.read(&mut inbuf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r.map_err(fail)?,
                    }
                };
                if n == 0 {
                    return Err(Text::DecompressFail.error());
                }
                (available_in, in_at) = (n, 0);
            }
            BrotliResult::ResultFailure => return Err(Text::DecompressFail.error()),
        }
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

/// The components of a zip entry name that is safe to extract beneath a directory. `.` and empty
/// components are dropped, so every spelling of one path (`a`, `./a`, `.//a`) gives the same parts.
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

/// Read at most `count` bytes of `r`, growing the buffer with what really arrives: a size an
/// entry merely declares never sizes an allocation.
fn read_up_to(r: &mut impl Read, count: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    r.take(count).read_to_end(&mut data)?;
    Ok(data)
}

/// What an unzip will do, worked out before anything under the target changes.
struct UnzipPlan {
    /// Final destination of each file -> (zip index, size). A path several entries name is
    /// written once, by the last of them, and counted once.
    files: BTreeMap<VPath, (usize, u64)>,
    /// Directories to create (missing ones only), parents first.
    new_dirs: Vec<VPath>,
}

/// What readZipEntry charges to its result's budget (docs/design.md §4), each before it is held.
pub enum ZipCharge<'a> {
    /// The archive's index, as the zip reader holds it in memory: `bytes` (an estimate from the
    /// central directory's size and entry count, read from its end record before it is parsed).
    Index(u64),
    /// One entry of an "all" read, by name.
    Entry(&'a str),
}

/// Heap the zip reader spends on an entry of its index beyond the entry's central-directory
/// bytes, which it keeps about three times over (the record, the name as text, the name as key).
const INDEX_PER_ENTRY: u64 = 512;

/// The entry count and central-directory size a zip's end record declares (the zip64 one when
/// the classic record says so), or `None` when there is no end record to read.
fn index_extent(file: &std::fs::File, len: u64) -> Option<(u64, u64)> {
    let tail_len = len.min(22 + 65_535);
    let tail = super::read_exact_at(file, len - tail_len, tail_len).ok()?;
    let at = (0..tail.len().checked_sub(21)?).rev().find(|&i| tail[i..i + 4] == *b"PK\x05\x06")?;
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as u64;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64;
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    let (entries, size) = (u16_at(&tail, at + 10), u32_at(&tail, at + 12));
    if entries != 0xFFFF && size != 0xFFFF_FFFF {
        return Some((entries, size));
    }
    // Zip64: the locator sits just before the end record and names the zip64 end record.
    let loc = at.checked_sub(20)?;
    if tail[loc..loc + 4] != *b"PK\x06\x07" {
        return Some((entries, size));
    }
    let rec = super::read_exact_at(file, u64_at(&tail, loc + 8), 56).ok()?;
    (rec.len() == 56 && rec[..4] == *b"PK\x06\x06").then(|| (u64_at(&rec, 32), u64_at(&rec, 40)))
}

impl FileSystem {
    fn open_zip(&self, path: &str) -> Result<zip::ZipArchive<std::fs::File>> {
        self.open_zip_charged(path, &mut |_| Ok(()))
    }

    /// `open_zip`, with the index charged to `charge` before the reader parses it.
    fn open_zip_charged(
        &self,
        path: &str,
        charge: &mut dyn FnMut(ZipCharge) -> Result<()>,
    ) -> Result<zip::ZipArchive<std::fs::File>> {
        let (file, len) = self.open_read(path)?;
        if let Some((entries, size)) = index_extent(&file, len) {
            charge(ZipCharge::Index(size.saturating_mul(3).saturating_add(entries.saturating_mul(INDEX_PER_ENTRY))))?;
        }
        zip::ZipArchive::new(file).map_err(|_| Text::UnzipOpen.error())
    }

    /// readZipEntry: `None` asks for every file entry. The archive's index, and with `None` each
    /// entry, are charged to `charge` before they are held; the first charge that fails ends
    /// the call with its error.
    pub fn read_zip_entries(
        &self,
        path: &str,
        wanted: Option<&[EntryRequest]>,
        charge: &mut dyn FnMut(ZipCharge) -> Result<()>,
    ) -> Result<Vec<(String, Result<Vec<u8>>)>> {
        let mut zip = self.open_zip_charged(path, charge)?;
        let mut budget = self.limits.read_file;
        let too_big = || Text::NativeBufferLimit.error();
        let entry_fail = || Text::UnzipEntry.error();
        let mut out = Vec::new();
        match wanted {
            None => {
                for i in 0..zip.len().min(MAX_ENTRIES) {
                    let mut f = zip.by_index(i).map_err(|_| entry_fail())?;
                    if f.is_dir() {
                        continue;
                    }
                    let name = f.name().to_string();
                    charge(ZipCharge::Entry(&name))?;
                    match read_up_to(&mut f, budget + 1) {
                        Err(_) => out.push((name, Err(entry_fail()))),
                        Ok(data) if data.len() as u64 > budget => return Err(too_big()),
                        Ok(data) => {
                            budget -= data.len() as u64;
                            out.push((name, Ok(data)));
                        }
                    }
                }
            }
            Some(reqs) => {
                for req in reqs {
                    let res = (|| {
                        let mut f = zip.by_name(&req.path).map_err(|_| Text::NoentOpen.at(&[&req.path]))?;
                        let (pos, count) = self.read_range(f.size(), req.position, req.length)?;
                        if count > budget {
                            return Err(too_big());
                        }
                        io::copy(&mut (&mut f).take(pos), &mut io::sink()).map_err(|_| entry_fail())?;
                        let data = read_up_to(&mut f, count).map_err(|_| entry_fail())?;
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

    /// Work out an unzip into `tvp`: every entry's final path, conflicts between entries and
    /// with what is on disk, the directories it creates. Nothing is changed.
    fn plan_unzip(&self, zip: &mut zip::ZipArchive<std::fs::File>, tvp: &VPath) -> Result<UnzipPlan> {
        let entry_fail = || Text::UnzipEntry.error();
        let unzip_fail = || Text::UnzipFail.error();
        let mut files: BTreeMap<VPath, (usize, u64)> = BTreeMap::new();
        let mut dirs: BTreeSet<VPath> = BTreeSet::new();
        for i in 0..zip.len() {
            let f = zip.by_index_raw(i).map_err(|_| entry_fail())?;
            let parts = entry_parts(f.name()).ok_or_else(entry_fail)?;
            let mut vp = tvp.clone();
            vp.parts.extend(parts);
            if !vp.within_limits(0, 0) {
                return Err(too_long());
            }
            if f.is_dir() {
                dirs.insert(vp);
            } else {
                files.insert(vp, (i, f.size()));
            }
        }
        // Every directory the files and directories need, from the target down.
        let mut needed: BTreeSet<VPath> = BTreeSet::new();
        for vp in files.keys().chain(dirs.iter()) {
            for n in tvp.parts.len()..vp.parts.len() {
                needed.insert(VPath { area: Area::Usr, parts: vp.parts[..n].to_vec() });
            }
        }
        needed.extend(dirs);
        needed.insert(tvp.clone());
        // A path cannot be both a file and a directory, in the zip or on disk.
        if needed.iter().any(|d| files.contains_key(d)) {
            return Err(unzip_fail());
        }
        for d in &needed {
            if self.meta(d).is_ok_and(|m| !m.is_dir()) {
                return Err(unzip_fail());
            }
        }
        for f in files.keys() {
            if self.usr()?.symlink_metadata(f.rel()).is_ok_and(|m| m.is_dir()) {
                return Err(unzip_fail());
            }
        }
        // The target's own missing ancestors are created too.
        for n in 1..tvp.parts.len() {
            needed.insert(VPath { area: Area::Usr, parts: tvp.parts[..n].to_vec() });
        }
        let mut new_dirs: Vec<VPath> = needed.into_iter().filter(|d| !d.is_area_root() && self.meta(d).is_err()).collect();
        new_dirs.sort_by_key(|d| d.parts.len());
        Ok(UnzipPlan { files, new_dirs })
    }

    /// unzip: all or nothing, across failures and crashes alike. Every entry is checked (names,
    /// depth, conflicts, quota, entries) and staged before anything under the target changes;
    /// a plan is written; then directories are made and files moved into place. A failure
    /// part-way puts everything back; a crash part-way is completed from the plan at the next
    /// open. Each final path is written once and counted once, however many entries name it.
    pub fn unzip(&self, zip_path: &str, target: &str) -> Result<()> {
        let denied = || Text::DeniedUnzip.words(&[zip_path, target]);
        let noent = || Text::NoentUnzip.at(&[zip_path, target]);
        let tvp = self.writable(target, denied)?;
        let mut zip = match self.open_zip(zip_path) {
            Err(e) if e.code == code::NO_SUCH_FILE => return Err(noent()),
            other => other?,
        };
        let entry_fail = || Text::UnzipEntry.error();
        if zip.len() > MAX_ENTRIES {
            return Err(Text::UnzipFail.error());
        }
        let mut st = self.state.lock();
        if self.meta(&tvp).map(|m| !m.is_dir()).unwrap_or(false) {
            return Err(Text::NotDirUnzip.at(&[zip_path, target]));
        }
        if self.blocked_by_file(&tvp) {
            return Err(Text::NotDirUnzip.at(&[zip_path, target]));
        }
        let plan = self.plan_unzip(&mut zip, &tvp)?;
        let usr = self.usr()?;
        let usr = &*usr;
        let (mut delta, mut new_files) = (0i64, 0u64);
        let mut watched: Vec<Watched> = Vec::new();
        for (vp, (_, size)) in &plan.files {
            self.file_fits(*size, 0)?;
            let (old, exists) = self.charged(vp);
            delta = delta.saturating_add(quota::delta(*size, old));
            new_files += !exists as u64;
            watched.extend(st.files.watch(vp, usr));
        }
        let kept = Tracking::watched_bytes(&watched) as i64;
        if !st.fits(delta.saturating_add(kept), self.limits.user_files) {
            return Err(Error::storage_limit());
        }
        let created = plan.new_dirs.len() as u64 + new_files;
        if !st.entries_fit(created, &self.limits) {
            return Err(Error::storage_limit());
        }
        // Stage every file in a folder of its own; a stream longer or shorter than its header
        // says is refused.
        let staging = self.staging().map_err(|e| Error::system(&e))?;
        let staging = &*staging;
        let folder = format!("{UNZIP_PREFIX}{}", sandbox::random_name(None));
        staging.create_dir(&folder).map_err(|e| write_error(&e, noent))?;
        crate::crash::point();
        let fdir = staging.open_dir(&folder).map_err(|e| Error::system(&e))?;
        let discard = || {
            let _ = walk::remove_tree(staging, &folder);
        };
        let mut moves: Vec<(String, VPath)> = Vec::with_capacity(plan.files.len());
        for (k, (vp, (i, size))) in plan.files.iter().enumerate() {
            let res = zip.by_index(*i).map_err(|_| entry_fail()).and_then(|mut f| {
                self.stage_in(&fdir, Some(k.to_string()), |out| {
                    let n = io::copy(&mut (&mut f).take(size + 1), out)?;
                    if n != *size {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "size mismatch"));
                    }
                    Ok(())
                })
                .map_err(|e| match classify(&e) {
                    Fail::Full => Error::device_full(),
                    _ => entry_fail(),
                })
            });
            match res {
                Ok(name) => moves.push((name, vp.clone())),
                Err(e) => {
                    discard();
                    return Err(e);
                }
            }
        }
        let disk_plan = Plan {
            target: tvp.rel(),
            dirs: plan.new_dirs.iter().map(|d| d.rel()).collect(),
            files: moves.iter().map(|(n, vp)| (n.clone(), vp.rel())).collect(),
        };
        let plan_bytes = serde_json::to_vec(&disk_plan).expect("plan serialises");
        // The journal names the highest directory the unzip may change, and is written before
        // the plan: a plan recovery completes is always one the journal settles.
        let top = plan.new_dirs.first().filter(|d| d.parts.len() < tvp.parts.len()).cloned().unwrap_or_else(|| tvp.clone());
        let res = self.journaled(&mut st, vec![self.entry(&top)], false, || {
            self.stage_in(&fdir, Some(format!("{PLAN}.new")), |f| f.write_all(&plan_bytes))
                .and_then(|_| fdir.rename(format!("{PLAN}.new"), &fdir, PLAN))
                .map_err(|e| write_error(&e, noent))?;
            // `power`: the plan (and the staged files beside it) durable before the first move
            // into usr/: the unzip's folder, then staging's entry for it. A cut after some moves
            // were made durable then always finds the plan, and the next open completes it.
            self.sync_staging_dir(&folder);
            self.sync_staging_dir(".");
            crate::crash::point();
            self.move_into_place(&folder, &disk_plan).map_err(|e| write_error(&e, || Text::UnzipFail.error()))?;
            Ok(((), Delta::user(delta, created as i64)))
        });
        st.files.settle(watched, usr);
        discard();
        // `power`: the plan's removal durable before the acknowledgement (staging's entry for
        // the unzip's folder): a plan a cut left behind would be completed again at the next
        // open, over what later calls did (a directory it made, renamed since, made again).
        if res.is_ok() {
            self.sync_staging_dir(".");
        }
        res
    }

    /// Make the plan's directories and move its staged files into place, keeping what they
    /// replace in the unzip's folder; on failure put everything back as it was. The plan file is
    /// removed only once the target is in one state or the other.
    fn move_into_place(&self, folder: &str, plan: &Plan) -> io::Result<()> {
        let (usr, staging) = (self.dir(Area::Usr)?, self.staging()?);
        let (usr, staging) = (&*usr, &*staging);
        let mut made: Vec<&str> = Vec::new();
        let mut placed: Vec<(&str, &str, bool)> = Vec::new(); // (staged name, target, had a backup)
        let result = (|| -> io::Result<()> {
            for d in &plan.dirs {
                usr.create_dir(d)?;
                crate::crash::point();
                made.push(d);
            }
            for (name, to) in &plan.files {
                let backup = format!("{folder}/old-{name}");
                let had = match usr.symlink_metadata(to) {
                    Ok(_) => {
                        usr.rename(to, staging, &backup)?;
                        crate::crash::point();
                        true
                    }
                    Err(_) => false,
                };
                if let Err(e) = staging.rename(format!("{folder}/{name}"), usr, to) {
                    if had {
                        let _ = staging.rename(&backup, usr, to);
                    }
                    return Err(e);
                }
                crate::crash::point();
                placed.push((name, to, had));
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (name, to, had) in placed.into_iter().rev() {
                let _ = usr.rename(to, staging, format!("{folder}/{name}"));
                if had {
                    let _ = staging.rename(format!("{folder}/old-{name}"), usr, to);
                }
            }
            for d in made.into_iter().rev() {
                let _ = usr.remove_dir(d);
            }
            let _ = staging.remove_file(format!("{folder}/{PLAN}"));
            return Err(e);
        }
        // `power`: the directory of every directory made and file placed (the new directories
        // among them), before the plan that could undo them goes.
        if self.durability == super::Durability::Power {
            let in_usr = |rel: &str| VPath { area: Area::Usr, parts: rel.split('/').map(str::to_string).collect() };
            let changed: Vec<VPath> =
                plan.dirs.iter().map(|d| in_usr(d)).chain(plan.files.iter().map(|(_, to)| in_usr(to))).collect();
            self.sync_parents(&changed);
        }
        crate::crash::point();
        staging.remove_file(format!("{folder}/{PLAN}"))?;
        crate::crash::point();
        Ok(())
    }
}
