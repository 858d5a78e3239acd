//! The I/O layer under the storage log and the quota journal, behind small traits so tests can
//! replace it: inject ENOSPC/EIO at a chosen call, a kill at any call, or a power cut that loses
//! unsynced bytes. Also what both logs share: the record frame
//! `[len: u32 LE][crc32(payload): u32 LE][payload]` and [`Durability`].
//!
//! The traits are versioned the way sqlite's `sqlite3_io_methods` are: version 1 is append, cut
//! and sync (the quota journal needs no more); version 2 adds a shared writable mapping of a
//! preallocated file (the storage log), with default methods that report `Unsupported`, so a
//! backend written for version 1 keeps compiling and the log falls back to nothing silently.
//!
//! Beside this file: `std.rs` is the real files, `mmap.rs` their shared mapping (the one place
//! under `io` with `unsafe`), `mem.rs` the in-memory double with faults and power cuts that the
//! tests share, and `reader.rs` the byte reader every record decoder uses.
//!
//! Contracts of version 2, one sentence each (redb's `StorageBackend` style):
//! - `LogFile::allocate(n)` extends the file to `n` bytes of zeros whose blocks are reserved, so
//!   a later store through a mapping can never meet a full disk (which would be SIGBUS).
//! - `LogFile::map(n)` maps bytes `[0, n)` (n ≤ the file's length) shared and writable: a store
//!   into it is in the OS page cache at once and survives the process being killed, exactly as
//!   the bytes of a `write(2)` do; it survives a power cut only once flushed.
//! - `LogMap::write` is a memory copy: it fails only in the test double (a simulated kill).
//! - `MapFlush::flush(off, len)` returns once those bytes (and the file length) are on stable
//!   storage; it never touches the mapped memory, so it can run outside the writer's lock.

use ::std::io;
use ::std::path::Path;
use ::std::sync::Arc;

#[doc(hidden)]
pub mod mem;
// The one module under `io` allowed `unsafe` (lib.rs names it): mapping a file is `unsafe`, and
// its soundness is argued at the top of mmap.rs.
#[allow(unsafe_code)]
mod mmap;
mod reader;
mod std;

pub use self::reader::Reader;
pub use self::std::StdIo;

/// When a write call returns: the one definition for the file system, the store and the quota
/// journal (the sandbox's `durability` config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Once the data is in the OS: a completed write survives the app being killed, not a power
    /// cut (no flush).
    #[default]
    Process,
    /// Once the data is on stable storage (file data and the directory entries it changed
    /// flushed): a completed write also survives a power cut. The store's concurrent writers
    /// share one flush.
    Power,
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("{what}: not supported by this LogFile"))
}

/// An open file. Shared (`Arc`) so a flusher can sync it without holding a lock.
pub trait LogFile: Send + Sync {
    /// Writes all of `buf` at the end of the file with one write call, or fails. After a failure
    /// some prefix of `buf` may have reached the file; the caller cuts it off with `set_len`.
    fn append(&self, buf: &[u8]) -> io::Result<()>;
    /// Truncates (or extends) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Flushes the file's data (and the metadata needed to read it back) to stable storage.
    fn sync(&self) -> io::Result<()>;

    // --- version 2: mapping ---

    /// The file's length.
    fn size(&self) -> io::Result<u64> {
        Err(unsupported("size"))
    }
    /// Extends the file to `len` bytes of zeros with their blocks reserved (no-op if longer).
    fn allocate(&self, _len: u64) -> io::Result<()> {
        Err(unsupported("allocate"))
    }
    /// A shared writable mapping of bytes `[0, len)`; `len` must not exceed the file's length.
    fn map(&self, _len: usize) -> io::Result<Box<dyn LogMap>> {
        Err(unsupported("map"))
    }

    // --- version 4: a retired log made ready again ---

    /// Writes all of `buf` at offset `off` (the file is not in append mode), extending the file
    /// if it ends before. An I/O layer without it (the default) never reuses a retired log.
    fn write_at(&self, _off: u64, _buf: &[u8]) -> io::Result<()> {
        Err(unsupported("write_at"))
    }
}

/// A shared writable mapping of a file (see the contracts at the top of this file).
pub trait LogMap: Send + Sync {
    /// The mapped bytes. Nothing else writes them while this borrow lives: the only writer is
    /// `write`, which needs `&mut self`, and the sandbox lock keeps other processes out.
    fn bytes(&self) -> &[u8];
    /// Copies `src` to offset `off` (`off + src.len()` within the mapping).
    fn write(&mut self, off: usize, src: &[u8]) -> io::Result<()>;
    /// As `write`, with the same effect on `bytes()` and on what a kill leaves, but through a
    /// write call on the file rather than stores into the mapping: for a large `src`, cheaper
    /// than faulting in each of its fresh pages. The default copies through the mapping.
    fn write_through(&mut self, off: usize, src: &[u8]) -> io::Result<()> {
        self.write(off, src)
    }
    /// A handle that flushes this mapping without borrowing it.
    fn flusher(&self) -> Arc<dyn MapFlush>;
    /// Readies bytes `[off, off + len)` for stores, all at once, where the OS can (Linux 5.14+:
    /// `MADV_POPULATE_WRITE`): a store into a page not yet readied takes a fault, or two, each.
    /// The bytes from `zeros_from` to the end of the range are zeros (past the end of the log),
    /// and may be written as zeros through the file first: that puts their pages in the OS's
    /// cache without reading them, where a fault on a page the cache lacks reads it (zeros of
    /// a reserved block) through the file system's read-ahead. A hint: does nothing where
    /// unsupported, and no failure is reported.
    fn prefault(&self, _off: usize, _len: usize, _zeros_from: usize) {}
}

/// One step of making mapped bytes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushStep {
    /// `msync(MS_SYNC)` of the range: on Linux and Android this also flushes the drive's cache
    /// (it runs the file system's fsync of the range).
    Msync,
    /// The file's `sync_data`: on Apple targets std makes it `fcntl(F_FULLFSYNC)`, the only call
    /// there that flushes the drive's cache (`msync` and `fsync` leave the bytes in it).
    FullSync,
}

/// What a durable flush of mapped bytes does on a target: the one place that choice is made.
pub(crate) const fn map_flush_steps(apple: bool) -> &'static [FlushStep] {
    if apple {
        &[FlushStep::Msync, FlushStep::FullSync]
    } else {
        &[FlushStep::Msync]
    }
}

/// [`map_flush_steps`] of the target this is compiled for.
pub(crate) const MAP_FLUSH: &[FlushStep] = map_flush_steps(cfg!(target_vendor = "apple"));

/// Flushes a range of a mapping to stable storage.
pub trait MapFlush: Send + Sync {
    fn flush(&self, off: usize, len: usize) -> io::Result<()>;
}

/// Everything a log does to the file system.
pub trait LogIo: Send + Sync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Opens `path` for appending, creating it empty if missing.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>>;
    /// Opens an existing `path` for reading and writing in place (to map it).
    fn open_rw(&self, _path: &Path) -> io::Result<Arc<dyn LogFile>> {
        Err(unsupported("open_rw"))
    }
    /// The whole file, or `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes creations and renames inside `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    // --- version 3: listing ---

    /// The names of the entries of `dir`. An I/O layer without it (the default) gets
    /// compactions that sync before they rename, as version 2 did: the store can then not find
    /// a new log that went live under a temporary name.
    fn list(&self, _dir: &Path) -> io::Result<Vec<String>> {
        Err(unsupported("list"))
    }

    // --- version 4: a retired log made ready again ---

    /// Gives the file at `from` a second name, `to` (a hard link; `to` must not exist). An I/O
    /// layer without it (the default), or a file system that refuses it, never keeps a
    /// retired log to reuse.
    fn link(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        Err(unsupported("link"))
    }
}

/// Frame header bytes: length and CRC.
pub const FRAME_HEADER: usize = 8;

/// Zeros to write from, at most this many bytes a call: a file grown with written zeros
/// (`std.rs`), the pages ahead of a log's end (`mmap.rs`), a retired log made a spare
/// (`storage::promote`).
pub static ZEROS: [u8; 256 << 10] = [0; 256 << 10];

/// Append one framed record to `out`.
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    frame_with(out, |p| p.extend_from_slice(payload));
}

/// Append one framed record whose payload `body` writes in place: no copy of the payload.
pub fn frame_with<R>(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    let r = body(out);
    let payload = &out[start + FRAME_HEADER..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
    r
}

/// The payload of the frame at the start of `buf` and the frame's total length, or `None` when
/// the frame is short, empty, longer than `max`, or fails its CRC: the place where a log's tail
/// is cut. No record is empty, so a zero length is the zero tail of a preallocated file.
pub fn unframe(buf: &[u8], max: usize) -> Option<(&[u8], usize)> {
    if buf.len() < FRAME_HEADER {
        return None;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    if len == 0 || len > max || buf.len() - FRAME_HEADER < len {
        return None;
    }
    let payload = &buf[FRAME_HEADER..FRAME_HEADER + len];
    (crc32fast::hash(payload) == crc).then_some((payload, FRAME_HEADER + len))
}

#[cfg(test)]
mod tests {
    use super::{map_flush_steps, FlushStep, MAP_FLUSH};

    #[test]
    fn a_mapped_flush_reaches_the_drive_on_apple_targets_too() {
        assert_eq!(map_flush_steps(false), [FlushStep::Msync]);
        assert_eq!(map_flush_steps(true), [FlushStep::Msync, FlushStep::FullSync], "msync leaves Apple's drive cache");
        assert_eq!(MAP_FLUSH, map_flush_steps(cfg!(target_vendor = "apple")));
    }

    use super::*;

    #[test]
    fn frames_reject_every_damage() {
        let mut buf = Vec::new();
        frame(&mut buf, b"hello");
        assert_eq!(unframe(&buf, 1 << 20), Some((&b"hello"[..], 13)));
        for cut in 0..buf.len() {
            assert_eq!(unframe(&buf[..cut], 1 << 20), None, "cut at {cut}");
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                if let Some((p, _)) = unframe(&bad, 1 << 20) {
                    panic!("flip {i}:{bit} accepted {p:?}");
                }
            }
        }
        assert_eq!(unframe(&buf, 4), None);
        // The zero tail of a preallocated file is no record, though CRC32 of nothing is 0.
        assert_eq!(crc32fast::hash(b""), 0);
        assert_eq!(unframe(&[0; 64], 1 << 20), None);
    }
}
