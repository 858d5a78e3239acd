//! The log's files on disk, beneath the live `Log` (`log.rs`) that uses them: their names;
//! writing a new log whole (a compaction's or an upgrade's: `install`, `install_parts`); what
//! open does with the files it finds (a pending `data.log.next-<n>`, a version-1 log, a header
//! not ours set aside, damaged bytes kept aside); and letting go of a replaced log's file.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::promote::{ignore_missing, take_spare, Promoter};
use super::record::{self, Header};
use super::recovery::scan;
use super::{v1, Value};
use crate::io::{LogFile, LogIo, LogMap};

pub(super) const LOG_NAME: &str = "data.log";
pub(super) const COMPACT_NAME: &str = "data.log.compact";
pub(super) const CORRUPT_PREFIX: &str = "data.log.corrupt-";
/// A compaction's output that is already the live log but not yet synced and renamed over
/// `data.log` (process mode); the name ends with the length of its compacted part, so that an
/// open after a kill or a power cut can tell whether that part is whole.
pub(super) const NEXT_PREFIX: &str = "data.log.next-";
/// Damaged bytes found in the middle of the log at open, kept aside before the log is rewritten
/// without them; the name ends with the CRC-32 of the bytes kept, in hex, so that an open that
/// meets the same damage again (its rewrite failed) finds them kept already.
pub(super) const DAMAGED_PREFIX: &str = "data.log.damaged-";

/// A new log is written in pieces of about this size rather than one buffer of the whole store.
const CHUNK: usize = 1 << 20;
/// File lengths are multiples of this.
pub(super) const PAGE: usize = 4096;

/// Copies the damaged stretches, in order, into `data.log.damaged-<crc32>` (written under a
/// temporary name, synced, renamed, the directory synced). Kept already if that file exists.
pub(super) fn keep_aside(io: &dyn LogIo, dir: &Path, bytes: &[u8], spans: &[Range<usize>]) -> io::Result<PathBuf> {
    let mut kept = Vec::with_capacity(spans.iter().map(|s| s.len()).sum());
    for s in spans {
        kept.extend_from_slice(&bytes[s.clone()]);
    }
    let name = format!("{DAMAGED_PREFIX}{:08x}", crc32fast::hash(&kept));
    let path = dir.join(&name);
    if io.exists(&path)? {
        return Ok(path);
    }
    let tmp = dir.join(format!("{name}.tmp"));
    ignore_missing(io.remove(&tmp))?;
    let file = io.open_append(&tmp)?;
    file.append(&kept)?;
    file.sync()?;
    drop(file);
    io.rename(&tmp, &path)?;
    io.sync_dir(dir)?;
    Ok(path)
}

pub(super) fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// At open: a compacted log that went live under `data.log.next-<n>` before a kill or power cut.
/// If its first `n` bytes (its compacted part) are whole, it is the log, with everything
/// appended to it after: it is synced and renamed over `data.log`. If not, a power cut took
/// part of it before it was synced, and `data.log`, which nothing was written to after it
/// went live, holds a state the store was in: the partial file is removed. Returns whether
/// the I/O layer can list directories (without that, compactions sync before they rename).
pub(super) fn resolve_next(io: &Arc<dyn LogIo>, dir: &Path) -> io::Result<bool> {
    let names = match io.list(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let mut promoted = false;
    for name in names.iter().filter(|n| n.starts_with(NEXT_PREFIX)) {
        let path = dir.join(name);
        let whole = name[NEXT_PREFIX.len()..].parse::<usize>().ok().filter(|_| !promoted);
        match whole.map(|n| whole_prefix(&**io, &path, n)).transpose()?.flatten() {
            Some(file) => {
                Promoter::new(io.clone(), file, path, dir.join(LOG_NAME), dir.to_owned()).run()?;
                promoted = true;
            }
            None => ignore_missing(io.remove(&path))?,
        }
    }
    Ok(true)
}

/// The file at `path` if its first `n` bytes are a valid header and records that end exactly
/// at `n`.
fn whole_prefix(io: &dyn LogIo, path: &Path, n: usize) -> io::Result<Option<Arc<dyn LogFile>>> {
    let file = io.open_rw(path)?;
    if n < record::HEADER_LEN || (file.size()? as usize) < n {
        return Ok(None);
    }
    let whole = {
        let map = file.map(n)?;
        let bytes = map.bytes();
        record::check_header(bytes) == Header::Valid && scan(bytes, |r| record::parse(bytes, r, |_| {})).0 == n
    };
    Ok(whole.then_some(file))
}

/// Lets go of a replaced log's file and mapping on another thread. The file is already renamed
/// over, so this is its last reference: closing it frees its blocks, and on a file system
/// mounted with `discard` (as this machine's, and many phones') that waits for the device to
/// discard them, milliseconds for a few MiB: measured, it was the longest stall of a
/// compaction, longer than its `fdatasync`. Nothing on disk that a crash could see depends on
/// when this happens. If no thread can be started, the closure, and `old` with it, is dropped
/// here: the caller pays for it as before.
pub(super) fn release(old: (Arc<dyn LogFile>, Box<dyn LogMap>)) {
    let _ = std::thread::Builder::new().name("wxfs-log-release".into()).spawn(move || drop(old));
}

/// The items of a version-1 log in order, the number of good records, and where they end.
pub(super) fn read_v1(bytes: &[u8]) -> (Vec<(String, Value)>, u64, usize) {
    type Items = Vec<Option<(String, Value)>>;
    let mut items: Items = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let put = |items: &mut Items, at: &mut std::collections::HashMap<String, usize>, k: String, v: Value| match at.get(&k) {
        Some(&i) => items[i] = Some((k, v)),
        None => {
            at.insert(k.clone(), items.len());
            items.push(Some((k, v)));
        }
    };
    let (mut off, mut records) = (record::HEADER_LEN, 0);
    while let Some((rec, n)) = v1::decode(&bytes[off..]) {
        match rec {
            v1::Record::Set { key, value } => put(&mut items, &mut at, key, value),
            v1::Record::Batch(list) => list.into_iter().for_each(|(k, v)| put(&mut items, &mut at, k, v)),
            v1::Record::Remove { key } => {
                if let Some(i) = at.remove(&key) {
                    items[i] = None;
                }
            }
            v1::Record::Clear => {
                items.clear();
                at.clear();
            }
        }
        off += n;
        records += 1;
    }
    (items.into_iter().flatten().collect(), records, off)
}

type Installed = (Arc<dyn LogFile>, Box<dyn LogMap>, usize);

/// One item of a new log: its parts, or its set record as it lies in the old log.
pub(super) enum Part<'a> {
    Parts(&'a [u8], Option<&'a [u8]>, &'a [u8]),
    Whole(&'a [u8]),
}

/// Writes a complete log holding `items` to `data.log.compact`, syncs it and renames it over
/// `data.log`. The caller syncs the directory.
pub(super) fn install(io: &dyn LogIo, dir: &Path, items: &[(String, Value)], cap: usize) -> io::Result<Installed> {
    let parts =
        items.iter().map(|(k, v)| Part::Parts(k.as_bytes(), v.data_type.as_ref().map(|t| t.as_bytes()), v.data.as_bytes()));
    install_parts(io, dir, parts, cap, None, None)
}

/// Writes a log holding `items` to `data.log.compact`, syncs it and renames it over `data.log`;
/// or, given `live_as`, writes it there and does neither (see `Log::rewrite`), into the spare
/// when `spare` allows one that long.
pub(super) fn install_parts<'a>(
    io: &dyn LogIo,
    dir: &Path,
    items: impl Iterator<Item = Part<'a>>,
    cap: usize,
    live_as: Option<&Path>,
    spare: Option<u64>,
) -> io::Result<Installed> {
    let tmp = live_as.map_or_else(|| dir.join(COMPACT_NAME), Path::to_owned);
    ignore_missing(io.remove(&tmp))?;
    let reused = spare.filter(|_| live_as.is_some()).and_then(|up_to| take_spare(io, dir, &tmp, up_to));
    let written = (|| {
        let file = match &reused {
            Some(file) => file.clone(),
            None => io.open_append(&tmp)?,
        };
        let mut len = 0usize;
        // A spare is written from its start (it is all zeros); a new file is appended to.
        let put = |buf: &[u8], len: usize| match reused {
            Some(_) => file.write_at(len as u64, buf),
            None => file.append(buf),
        };
        let mut buf = Vec::with_capacity(CHUNK + PAGE);
        buf.extend_from_slice(&record::header());
        for part in items {
            match part {
                Part::Whole(rec) => buf.extend_from_slice(rec),
                Part::Parts(key, ty, data) => {
                    record::encode_set(&mut buf, key, ty, data);
                }
            }
            if buf.len() >= CHUNK {
                put(&buf, len)?;
                len += buf.len();
                buf.clear();
            }
        }
        put(&buf, len)?;
        len += buf.len();
        let mut cap = round_up(cap.max(len + 1), PAGE);
        if reused.is_some() {
            // The spare's own length, if longer: its zeros are the log's room to grow.
            cap = cap.max(file.size()? as usize);
        }
        file.allocate(cap as u64)?;
        if live_as.is_none() {
            // Synced before the rename can make it live: a power cut never finds an empty log
            // under the name.
            file.sync()?;
        }
        drop(file);
        let file = io.open_rw(&tmp)?;
        let map = file.map(cap)?;
        if live_as.is_none() {
            io.rename(&tmp, &dir.join(LOG_NAME))?;
        }
        Ok((file, map, len))
    })();
    if written.is_err() {
        // Best effort: a leftover is also removed at the next open.
        let _ = io.remove(&tmp);
    }
    written
}

/// Moves an unreadable `data.log` to `data.log.corrupt-<n>`, the smallest `n` not taken.
pub(super) fn set_aside(io: &dyn LogIo, dir: &Path) -> io::Result<PathBuf> {
    for n in 1u32.. {
        let p = dir.join(format!("{CORRUPT_PREFIX}{n}"));
        if !io.exists(&p)? {
            io.rename(&dir.join(LOG_NAME), &p)?;
            return Ok(p);
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free name for a corrupt log"))
}
