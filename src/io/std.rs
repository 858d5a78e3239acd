//! The real files: [`LogIo`] on `std::fs`, with the shared writable mapping of [`super::mmap`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use super::{LogFile, LogIo, LogMap};

/// `LogIo` on `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdIo;

struct StdFile(Arc<File>);

impl LogFile for StdFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        // The handle is in append mode: every write lands at the current end of the file.
        let written = loop {
            match (&*self.0).write(buf) {
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

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let cur = self.size()?;
        if len <= cur {
            return Ok(());
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::{fallocate, FallocateFlags};
            use rustix::io::Errno;
            match fallocate(&self.0, FallocateFlags::empty(), cur, len - cur) {
                Ok(()) => return Ok(()),
                // A file system without fallocate: reserve the blocks by writing zeros.
                Err(Errno::OPNOTSUPP | Errno::NOSYS) => {}
                Err(e) => return Err(e.into()),
            }
        }
        write_zeros(&self.0, cur, len)
    }

    fn map(&self, len: usize) -> io::Result<Box<dyn LogMap>> {
        Ok(Box::new(super::mmap::SharedMap::new(self.0.clone(), len)?))
    }

    #[cfg(unix)]
    fn write_at(&self, off: u64, buf: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.0.write_all_at(buf, off)
    }
}

/// Extends `file` from `from` to `to` with written zeros: every block is then really allocated.
fn write_zeros(file: &File, from: u64, to: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut at = from;
    while at < to {
        let n = (to - at).min(super::ZEROS.len() as u64) as usize;
        file.write_all_at(&super::ZEROS[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

impl StdIo {
    /// A file its caller opened in append mode, as a [`LogFile`] (the quota journal opened
    /// again from its sandbox's directory handle rather than by path).
    pub fn append_file(file: File) -> Arc<dyn LogFile> {
        Arc::new(StdFile(Arc::new(file)))
    }
}

impl LogIo for StdIo {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(Arc::new(StdFile(Arc::new(file))))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(StdFile(Arc::new(file))))
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

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect()
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    #[cfg(not(unix))]
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}
