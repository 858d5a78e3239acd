//! the error codes of WeChat's table that were never produced. 1300005 and 1300021
//! where the OS gives EIO or EISDIR, 1301002 for a `write` with nothing to write;
//! 1301000 and 1301100 cannot arise in a native host (docs/wechat-behaviour.md §10).

mod common;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::bridge::session;
use serde_json::{json, Value};
use wxfs::fs::{Durability, FileSystem};
use wxfs::io::{LogFile, LogIo, StdIo};
use wxfs::quota::Limits;
use wxfs::sandbox::{Protocol, Sandbox};
use wxfs::{bridge, Session};

/// The quota journal's I/O, failing every append with EIO while `broken` is set: a disk that
/// reports a read/write error.
struct Eio {
    broken: Arc<AtomicBool>,
}

struct EioFile {
    inner: Arc<dyn LogFile>,
    broken: Arc<AtomicBool>,
}

impl LogFile for EioFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.inner.append(buf)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&self) -> io::Result<()> {
        self.inner.sync()
    }
}

impl LogIo for Eio {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdIo.create_dir_all(dir)
    }
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        Ok(Arc::new(EioFile { inner: StdIo.open_append(path)?, broken: self.broken.clone() }))
    }
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        StdIo.read(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        StdIo.exists(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdIo.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdIo.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdIo.sync_dir(dir)
    }
}

#[test]
fn an_input_output_error_is_1300005() {
    let root = common::fresh_dir("eio");
    let sb = Arc::new(Sandbox::open(&root, b"u", b"wx1", None).unwrap());
    let broken = Arc::new(AtomicBool::new(false));
    let fs = FileSystem::with_io(
        sb.clone(),
        Protocol::Wxfile,
        Limits::default(),
        Durability::Process,
        Arc::new(Eio { broken: broken.clone() }),
    )
    .unwrap();
    fs.write_file("wxfile://usr/a", b"before").unwrap();
    broken.store(true, Ordering::SeqCst);
    let e = fs.write_file("wxfile://usr/a", b"after").unwrap_err();
    assert_eq!((e.code, e.reason.as_str()), (1300005, "Input/output error"));
    assert_eq!(std::fs::read(sb.dir().join("usr/a")).unwrap(), b"before", "nothing changed");
    broken.store(false, Ordering::SeqCst);
    fs.write_file("wxfile://usr/a", b"after").unwrap();
}

fn code_and_msg(s: &Session, api: &str, args: Value) -> (i32, String) {
    let (c, r) = bridge::invoke(s, api, &args.to_string());
    (c, r["errMsg"].as_str().unwrap().to_string())
}

#[test]
fn get_file_info_of_a_directory_is_1300021() {
    let s = session("eisdir");
    assert_eq!(code_and_msg(&s, "mkdirSync", json!({"dirPath": "wxfile://usr/d"})).0, 0);
    assert_eq!(
        code_and_msg(&s, "getFileInfo", json!({"filePath": "wxfile://usr/d"})),
        (1300021, "getFileInfo:fail Is a directory".into())
    );
    assert_eq!(
        code_and_msg(&s, "getFileInfo", json!({"filePath": "wxfile://usr/none"})),
        (1300002, "getFileInfo:fail file not exist".into())
    );
}

#[test]
fn a_write_of_nothing_is_1301002() {
    let s = session("empty-write");
    let (c, r) = bridge::invoke(&s, "openSync", &json!({"filePath": "wxfile://usr/f", "flag": "w"}).to_string());
    assert_eq!(c, 0, "{r}");
    let fd = r["fd"].clone();
    for args in [
        json!({"fd": fd, "data": ""}),
        json!({"fd": fd, "data": "", "position": 3}),
        json!({"fd": fd, "__nativeBuffers__": [{"key": "data", "base64": ""}]}),
        json!({"fd": fd, "__nativeBuffers__": [{"key": "data", "base64": "YWJj"}], "length": 0}),
    ] {
        assert_eq!(
            code_and_msg(&s, "writeSync", args.clone()),
            (1301002, "writeSync:fail data to write is empty".into()),
            "{args}"
        );
        assert_eq!(code_and_msg(&s, "write", args), (1301002, "write:fail data to write is empty".into()));
    }
    // A bad fd is reported first.
    assert_eq!(
        code_and_msg(&s, "writeSync", json!({"fd": "99", "data": ""})),
        (1300009, "writeSync:fail bad file descriptor".into())
    );
    assert_eq!(code_and_msg(&s, "writeSync", json!({"fd": fd, "data": "x"})).0, 0);
    // writeFile of nothing makes an empty file, as mini-programs rely on.
    assert_eq!(code_and_msg(&s, "writeFileSync", json!({"filePath": "wxfile://usr/empty", "data": ""})).0, 0);
}
