//! The one shared writable file mapping of the crate (the storage log's). Mapping a file is
//! `unsafe`, and this is the one module outside `src/ffi` allowed it (lib.rs names it); the core
//! sees it through the safe `LogMap` trait of `src/io/mod.rs`.
//!
//! Why it is sound:
//! - `bytes(&self)` hands out a slice, and the only ways this type writes the memory are
//!   `write(&mut self)` and `write_through(&mut self)` (the kernel writes the pages for a
//!   positioned write to the file): the borrow checker keeps them apart from every reader.
//! - The flusher shares the mapping (`Arc<MmapRaw>`) but only asks the kernel to write it back
//!   (msync); it never reads or writes the memory from Rust.
//! - Other processes: a sandbox is held by one process at a time (its LOCK file), so no one
//!   else maps or truncates the log while this mapping lives.
//! - The file is never shortened while mapped (the store drops the mapping first), and every
//!   mapped byte has its block reserved (`LogFile::allocate`), so no access can fault (SIGBUS).

use std::fs::File;
use std::io;
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use super::{LogMap, MapFlush};

pub(crate) struct SharedMap {
    raw: Arc<MmapRaw>,
    /// The mapped file, for `write_through` (opened read-write, not in append mode: a
    /// positioned write on an append-mode handle lands at the end on Linux).
    file: Arc<File>,
}

impl SharedMap {
    /// Maps bytes `[0, len)` of `file` (opened read-write) shared.
    pub(crate) fn new(file: Arc<File>, len: usize) -> io::Result<SharedMap> {
        let raw = MmapOptions::new().len(len).map_raw(&*file)?;
        Ok(SharedMap { raw: Arc::new(raw), file })
    }

    /// Panics unless `[off, off + len)` lies inside the mapping (a write past it would fault).
    fn check_range(&self, off: usize, len: usize) {
        let end = off.checked_add(len).filter(|&e| e <= self.raw.len());
        assert!(end.is_some(), "write of {len} bytes at {off} past a mapping of {}", self.raw.len());
    }
}

impl LogMap for SharedMap {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is valid for `len` bytes while `self.raw` lives; see the module
        // comment for why nothing writes it while the returned borrow lives.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), self.raw.len()) }
    }

    fn write(&mut self, off: usize, src: &[u8]) -> io::Result<()> {
        self.check_range(off, src.len());
        // SAFETY: the range is inside the mapping (checked above); `&mut self` excludes every
        // reader of this mapping, and `src` cannot overlap it (it would be borrowed from it).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.raw.as_mut_ptr().add(off), src.len()) };
        Ok(())
    }

    fn write_through(&mut self, off: usize, src: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.check_range(off, src.len());
        // The page cache is shared by the mapping and the file (Linux, Android, Darwin), so the
        // bytes are in `bytes()` once this returns, and in the OS if the process is killed.
        self.file.write_all_at(src, off as u64)
    }

    fn prefault(&self, off: usize, len: usize, zeros_from: usize) {
        let len = len.min(self.raw.len().saturating_sub(off));
        #[cfg(target_os = "linux")]
        if len > 0 {
            // Measured (100,000 sets of one key through the C API, after 100,000 keys were
            // set and overwritten): 181-200 -> 156-170 ns a set; in an empty store 145-147 ->
            // 124-131 (docs/storage-engine.md).
            use std::os::unix::fs::FileExt;

            use super::ZEROS;
            let mut at = zeros_from.max(off);
            while at < off + len {
                let n = (off + len - at).min(ZEROS.len());
                if self.file.write_all_at(&ZEROS[..n], at as u64).is_err() {
                    break;
                }
                at += n;
            }
            // Older kernels answer EINVAL: the stores then fault page by page, as before.
            let _ = self.raw.advise_range(memmap2::Advice::PopulateWrite, off, len);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (off, len, zeros_from);
    }

    fn flusher(&self) -> Arc<dyn MapFlush> {
        Arc::new(Flusher { raw: self.raw.clone(), file: self.file.clone() })
    }
}

struct Flusher {
    raw: Arc<MmapRaw>,
    file: Arc<File>,
}

impl MapFlush for Flusher {
    fn flush(&self, off: usize, len: usize) -> io::Result<()> {
        let len = len.min(self.raw.len().saturating_sub(off));
        if len == 0 {
            return Ok(());
        }
        for step in super::MAP_FLUSH {
            match step {
                super::FlushStep::Msync => self.raw.flush_range(off, len)?,
                // std's `sync_data` is `fcntl(F_FULLFSYNC)` on Apple targets.
                super::FlushStep::FullSync => self.file.sync_data()?,
            }
        }
        Ok(())
    }
}
