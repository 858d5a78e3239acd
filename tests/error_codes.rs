//! the error codes of WeChat's table that were never produced. 1300005 and 1300021
//! where the OS gives EIO or EISDIR, 1301002 for a `write` with nothing to write;
//! 1301000 and 1301100 cannot arise in a native host (docs/wechat-behaviour.md §10).

mod common;

use std::sync::Arc;

use common::bridge::session;
use serde_json::{json, Value};
use wxfs::fs::{Durability, FileSystem};
use wxfs::io::mem::MemIo;
use wxfs::quota::Limits;
use wxfs::sandbox::{Protocol, Sandbox};
use wxfs::{bridge, Session};

#[test]
fn an_input_output_error_is_1300005() {
    let root = common::fresh_dir("eio");
    let sb = Arc::new(Sandbox::open(&root, b"u", b"wx1", None).unwrap());
    // The quota journal on the shared I/O double: a disk that reports a read/write error on
    // every append while it is broken.
    let io = MemIo::new();
    let fs = FileSystem::with_io(sb.clone(), Protocol::Wxfile, Limits::default(), Durability::Process, io.arc()).unwrap();
    fs.write_file("wxfile://usr/a", b"before").unwrap();
    io.faults().fail_appends_with = Some(libc::EIO);
    let e = fs.write_file("wxfile://usr/a", b"after").unwrap_err();
    assert_eq!((e.code, e.reason.as_str()), (1300005, "Input/output error"));
    assert_eq!(std::fs::read(sb.dir().join("usr/a")).unwrap(), b"before", "nothing changed");
    io.faults().fail_appends_with = None;
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
