//! The I/O layer under the storage log and the quota journal, behind small traits so tests can
//! replace it: inject ENOSPC/EIO at a chosen write, or a power cut that loses unsynced bytes.
//! Also the record frame both logs use: `[len: u32 LE][crc32(payload): u32 LE][payload]`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// An open append-only file. Shared (`Arc`) so a flusher can sync it without holding a lock.
pub trait LogFile: Send + Sync {
    /// Writes all of `buf` at the end of the file with one write call, or fails. After a failure
    /// some prefix of `buf` may have reached the file; the caller cuts it off with `set_len`.
    fn append(&self, buf: &[u8]) -> io::Result<()>;
    /// Truncates (or extends) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Flushes the file's data (and the metadata needed to read it back) to stable storage.
    fn sync(&self) -> io::Result<()>;
}

/// Everything a log does to the file system.
pub trait LogIo: Send + Sync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Opens `path` for appending, creating it empty if missing.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>>;
    /// The whole file, or `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes creations and renames inside `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// `LogIo` on `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdIo;

struct StdFile(File);

impl LogFile for StdFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        // The handle is in append mode: every write lands at the current end of the file.
        let written = loop {
            match (&self.0).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if written != buf.len() {
            // Only a full disk or a file size limit makes a regular file write short; report it
            // rather than write the rest in a second call.
            return Err(io::Error::new(io::ErrorKind::WriteZero, format!("short write: {written} of {} bytes", buf.len())));
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl LogIo for StdIo {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    #[cfg(unix)]
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    #[cfg(not(unix))]
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// Frame header bytes: length and CRC.
pub const FRAME_HEADER: usize = 8;

/// Append one framed record to `out`.
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The payload of the frame at the start of `buf` and the frame's total length, or `None` when
/// the frame is short, longer than `max`, or fails its CRC: the place where a log's tail is cut.
pub fn unframe(buf: &[u8], max: usize) -> Option<(&[u8], usize)> {
    if buf.len() < FRAME_HEADER {
        return None;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    if len > max || buf.len() - FRAME_HEADER < len {
        return None;
    }
    let payload = &buf[FRAME_HEADER..FRAME_HEADER + len];
    (crc32fast::hash(payload) == crc).then_some((payload, FRAME_HEADER + len))
}

#[cfg(test)]
mod tests {
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
    }
}
