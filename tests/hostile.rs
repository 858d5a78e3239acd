//! Hostile input through the C ABI: every row is a call a buggy or malicious caller
//! could make, with the exact code it must get back; after the whole table the sandbox is
//! byte-for-byte what it was, and nothing outside it exists.

mod common;

use std::ffi::c_void;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::ptr::null;

use base64::Engine as _;
use libloading::Library;
use serde_json::{json, Value};

#[repr(C)]
#[derive(Clone, Copy)]
struct Bytes {
    data: *mut u8,
    len: usize,
}

const NO: Bytes = Bytes { data: std::ptr::null_mut(), len: 0 };

type Cb = Option<unsafe extern "C" fn(*mut c_void, i32, *const u8, usize)>;

struct Abi {
    _lib: Library,
    open: unsafe extern "C" fn(*const u8, usize, *mut u64) -> i32,
    invoke: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *mut Bytes) -> i32,
    invoke_async: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, Cb, *mut c_void) -> i32,
    close: unsafe extern "C" fn(u64) -> i32,
    free: unsafe extern "C" fn(Bytes),
    read_file: unsafe extern "C" fn(u64, *const u8, usize, *mut Bytes) -> i32,
    write_file: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize) -> i32,
    save_file: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *mut Bytes) -> i32,
    storage_set: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *const u8, usize) -> i32,
    storage_get: unsafe extern "C" fn(u64, *const u8, usize, *mut Bytes, *mut Bytes) -> i32,
    remove_sandbox: unsafe extern "C" fn(*const u8, usize, *const u8, usize, *const u8, usize) -> i32,
    last_error: unsafe extern "C" fn(*mut u8, usize, *mut usize) -> i32,
}

impl Abi {
    fn load() -> Abi {
        let path = common::lib_path();
        unsafe {
            let lib = Library::new(path).unwrap();
            macro_rules! f {
                ($n:literal) => {
                    *lib.get($n).unwrap()
                };
            }
            Abi {
                open: f!(b"wxfs_open\0"),
                invoke: f!(b"wxfs_invoke\0"),
                invoke_async: f!(b"wxfs_invoke_async\0"),
                close: f!(b"wxfs_close\0"),
                free: f!(b"wxfs_bytes_free\0"),
                read_file: f!(b"wxfs_read_file\0"),
                write_file: f!(b"wxfs_write_file\0"),
                save_file: f!(b"wxfs_save_file\0"),
                storage_set: f!(b"wxfs_storage_set\0"),
                storage_get: f!(b"wxfs_storage_get\0"),
                remove_sandbox: f!(b"wxfs_remove_sandbox\0"),
                last_error: f!(b"wxfs_last_error_message\0"),
                _lib: lib,
            }
        }
    }

    /// invoke with raw bytes; returns the code and the errMsg of the result.
    fn call(&self, h: u64, api: &[u8], args: &[u8]) -> (i32, String) {
        let mut out = NO;
        let rc = unsafe { (self.invoke)(h, api.as_ptr(), api.len(), args.as_ptr(), args.len(), &mut out) };
        let msg = if out.data.is_null() {
            String::new()
        } else {
            let v: Value = serde_json::from_slice(unsafe { std::slice::from_raw_parts(out.data, out.len) }).unwrap();
            unsafe { (self.free)(out) };
            v["errMsg"].as_str().unwrap_or_default().to_string()
        };
        (rc, msg)
    }

    fn json(&self, h: u64, api: &str, args: Value) -> (i32, String) {
        self.call(h, api.as_bytes(), args.to_string().as_bytes())
    }
}

/// A hostile call: its name, the call, the code it must return, and text its message must hold.
type Row<'a> = (&'a str, Box<dyn Fn() -> (i32, String) + 'a>, i32, &'a str);

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "LAST_USE") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                out.push((p.clone(), vec![]));
                walk(&p, out);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (n, d) in entries {
        w.start_file(*n, o).unwrap();
        w.write_all(d).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn hostile_calls_get_defined_errors_and_change_nothing() {
    let abi = Abi::load();
    let base = common::fresh_dir("hostile");
    let root = base.join("root");
    let cfg = json!({"root": root, "appId": "wx1", "userId": "u1", "limits": {"userFiles": 8 << 20, "storageItem": 65536, "readFile": 4 << 20}}).to_string();
    let mut h = 0u64;
    assert_eq!(unsafe { (abi.open)(cfg.as_ptr(), cfg.len(), &mut h) }, 0);
    // Fixtures made through the API before the table runs.
    assert_eq!(abi.json(h, "writeFileSync", json!({"filePath": "wxfile://usr/ok.txt", "data": "ok"})).0, 0);
    assert_eq!(abi.json(h, "mkdirSync", json!({"dirPath": "wxfile://usr/dir"})).0, 0);
    for (name, z) in [
        ("slip.zip", zip_of(&[("fine.txt", b"1".to_vec()), ("../../../escaped.txt", b"x".to_vec())])),
        ("bomb.zip", zip_of(&[("zeros", vec![0u8; 16 << 20])])),
    ] {
        let args = json!({"filePath": format!("wxfile://usr/{name}"), "__nativeBuffers__": [{"key": "data", "base64": b64(&z)}]});
        assert_eq!(abi.json(h, "writeFileSync", args).0, 0);
    }
    let truncated_br = &base64::engine::general_purpose::STANDARD.decode("Gw8A+CXH2t5qkE4qm4A6nVA=").unwrap()[..10];
    let args = json!({"filePath": "wxfile://usr/t.br", "__nativeBuffers__": [{"key": "data", "base64": b64(truncated_br)}]});
    assert_eq!(abi.json(h, "writeFileSync", args).0, 0);
    let mut out = NO;
    let fdargs = br#"{"filePath":"wxfile://usr/ok.txt","flag":"r+"}"#;
    assert_eq!(unsafe { (abi.invoke)(h, b"openSync".as_ptr(), 8, fdargs.as_ptr(), fdargs.len(), &mut out) }, 0);
    let fd = serde_json::from_slice::<Value>(unsafe { std::slice::from_raw_parts(out.data, out.len) }).unwrap()["fd"]
        .as_str()
        .unwrap()
        .to_string();
    unsafe { (abi.free)(out) };
    let mut closed = 0u64;
    assert_eq!(unsafe { (abi.open)(cfg.as_ptr(), cfg.len(), &mut closed) }, 0);
    assert_eq!(unsafe { (abi.close)(closed) }, 0);

    let sandbox = wxfs::sandbox::sandbox_dir(&root, b"u1", b"wx1");
    let before = snapshot(&sandbox);
    let bad_utf8: &[u8] = b"\xff\xfe\x80";
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{{\"filePath\":{deep}}}");
    let huge = format!("{{\"filePath\":\"wxfile://usr/huge.bin\",\"data\":\"{}\"}}", "a".repeat(200 << 20));
    let long_path = format!("wxfile://usr/{}", "p".repeat(100_000));
    let long_key = "k".repeat(100_000);
    let many_parts = format!("wxfile://usr/{}", "a/".repeat(10_000));
    let forged = closed ^ (1 << 32);
    let mut out_slot = NO;
    let out_p = &mut out_slot as *mut Bytes;

    let rows: Vec<Row> = vec![
        ("open: config NULL with a length", Box::new(|| (unsafe { (abi.open)(null(), 10, &mut 0) }, String::new())), -1, ""),
        (
            "open: out NULL",
            Box::new(|| (unsafe { (abi.open)(cfg.as_ptr(), cfg.len(), std::ptr::null_mut()) }, String::new())),
            -1,
            "",
        ),
        ("open: config invalid UTF-8", Box::new(|| (unsafe { (abi.open)(bad_utf8.as_ptr(), 3, &mut 0) }, String::new())), -3, ""),
        ("open: config not JSON", Box::new(|| (unsafe { (abi.open)(b"{root".as_ptr(), 5, &mut 0) }, String::new())), -6, ""),
        (
            "open: config nested 100,000 deep",
            Box::new(|| (unsafe { (abi.open)(deep.as_ptr(), deep.len(), &mut 0) }, String::new())),
            -6,
            "",
        ),
        (
            "open: config without appId",
            Box::new(|| {
                let c = json!({"root": root, "userId": "u"}).to_string();
                (unsafe { (abi.open)(c.as_ptr(), c.len(), &mut 0) }, String::new())
            }),
            -6,
            "",
        ),
        (
            "open: empty root",
            Box::new(|| {
                let c = r#"{"root":"","appId":"a","userId":"u"}"#;
                (unsafe { (abi.open)(c.as_ptr(), c.len(), &mut 0) }, String::new())
            }),
            -6,
            "",
        ),
        (
            "open: unknown protocol",
            Box::new(|| {
                let c = json!({"root": root, "appId": "a", "userId": "u", "protocol": "ftp"}).to_string();
                (unsafe { (abi.open)(c.as_ptr(), c.len(), &mut 0) }, String::new())
            }),
            -6,
            "",
        ),
        (
            "invoke: handle 0",
            Box::new(|| abi.json(0, "readFileSync", json!({"filePath": "wxfile://usr/ok.txt"}))),
            -2,
            "readFileSync:fail invalid sandbox handle",
        ),
        (
            "invoke: closed handle",
            Box::new(|| abi.json(closed, "readFileSync", json!({"filePath": "wxfile://usr/ok.txt"}))),
            -2,
            "readFileSync:fail invalid sandbox handle",
        ),
        ("invoke: forged generation", Box::new(|| abi.json(forged, "getStorageInfoSync", json!({}))), -2, ""),
        ("invoke: forged tag", Box::new(|| abi.json(h ^ (0x7f << 56), "getStorageInfoSync", json!({}))), -2, ""),
        ("invoke: top bit set", Box::new(|| abi.json(h | (1 << 63), "getStorageInfoSync", json!({}))), -2, ""),
        (
            "invoke: api NULL",
            Box::new(|| (unsafe { (abi.invoke)(h, null(), 5, b"{}".as_ptr(), 2, out_p) }, String::new())),
            -1,
            "",
        ),
        ("invoke: api empty", Box::new(|| abi.call(h, b"", b"{}")), -1, ""),
        (
            "invoke: args NULL with a length",
            Box::new(|| (unsafe { (abi.invoke)(h, b"statSync".as_ptr(), 8, null(), 5, out_p) }, String::new())),
            -1,
            "",
        ),
        ("invoke: api invalid UTF-8", Box::new(|| abi.call(h, bad_utf8, b"{}")), -3, ""),
        ("invoke: args invalid UTF-8", Box::new(|| abi.call(h, b"readFileSync", b"{\"filePath\":\"\xff\"}")), -3, ""),
        (
            "invoke: args nested 100,000 deep",
            Box::new(|| abi.call(h, b"readFileSync", deep_obj.as_bytes())),
            -4,
            "readFileSync:fail invalid JSON arguments",
        ),
        (
            "invoke: args not an object",
            Box::new(|| abi.call(h, b"readFileSync", b"[1]")),
            -4,
            "readFileSync:fail arguments must be a JSON object",
        ),
        ("invoke: unknown api", Box::new(|| abi.call(h, b"eval", b"{}")), -5, "eval:fail unknown api"),
        ("invoke: host api spelled as Sync", Box::new(|| abi.call(h, b"host.realPathSync", b"{}")), -5, ""),
        (
            "invoke: __nativeBuffers__ not base64",
            Box::new(|| {
                abi.call(
                    h,
                    b"writeFileSync",
                    br#"{"filePath":"wxfile://usr/x","__nativeBuffers__":[{"key":"data","base64":"!!"}]}"#,
                )
            }),
            -4,
            "",
        ),
        (
            "invoke: __nativeBuffers__ not a list",
            Box::new(|| abi.call(h, b"writeFileSync", br#"{"__nativeBuffers__":{}}"#)),
            -4,
            "",
        ),
        (
            "writeFile: a 200 MiB argument",
            Box::new(|| abi.call(h, b"writeFileSync", huge.as_bytes())),
            1300202,
            "writeFileSync:fail the maximum size of the file storage limit is exceeded",
        ),
        (
            "readFile: a 100,000-byte path",
            Box::new(|| abi.json(h, "readFileSync", json!({"filePath": long_path}))),
            1300036,
            "readFileSync:fail File name too long",
        ),
        (
            "mkdir: 10,000 components",
            Box::new(|| abi.json(h, "mkdirSync", json!({"dirPath": many_parts, "recursive": true}))),
            1300036,
            "",
        ),
        (
            "setStorage: a 100,000-byte key",
            Box::new(|| abi.json(h, "setStorageSync", json!({"key": long_key, "data": 1}))),
            1400002,
            "setStorageSync:fail exceed storage item max length",
        ),
        ("setStorage: empty key", Box::new(|| abi.json(h, "setStorageSync", json!({"key": "", "data": 1}))), 1400004, ""),
        (
            "setStorage: key not a string",
            Box::new(|| abi.json(h, "setStorageSync", json!({"key": 5, "data": 1}))),
            1400004,
            "setStorageSync:fail parameter error: parameter.key should be String instead of Number;",
        ),
        (
            "writeFile: ../ out of usr",
            Box::new(|| abi.json(h, "writeFileSync", json!({"filePath": "wxfile://usr/../x", "data": "x"}))),
            1300014,
            "writeFileSync:fail permission denied, open wxfile://usr/../x",
        ),
        (
            "readFile: ../ out of the package",
            Box::new(|| abi.json(h, "readFileSync", json!({"filePath": "/../../etc/passwd"}))),
            1300014,
            "",
        ),
        (
            "writeFile: NUL in the path",
            Box::new(|| abi.json(h, "writeFileSync", json!({"filePath": "wxfile://usr/a\u{0}b", "data": "x"}))),
            1300014,
            "",
        ),
        (
            "writeFile: backslashes",
            Box::new(|| abi.json(h, "writeFileSync", json!({"filePath": "wxfile://usr\\..\\x", "data": "x"}))),
            1300014,
            "",
        ),
        (
            "writeFile: absolute host path",
            Box::new(|| abi.json(h, "writeFileSync", json!({"filePath": "/etc/passwd", "data": "x"}))),
            1301004,
            "writeFileSync:fail permission denied, open /etc/passwd",
        ),
        (
            "writeFile: the temp area",
            Box::new(|| abi.json(h, "writeFileSync", json!({"filePath": "wxfile://tmp_x.png", "data": "x"}))),
            1300013,
            "",
        ),
        ("readdir: the protocol root", Box::new(|| abi.json(h, "readdirSync", json!({"dirPath": "wxfile://"}))), 1300014, ""),
        (
            "unzip: zip-slip",
            Box::new(|| abi.json(h, "unzip", json!({"zipFilePath": "wxfile://usr/slip.zip", "targetPath": "wxfile://usr/out"}))),
            1301103,
            "unzip:fail unzip entry fail",
        ),
        (
            "unzip: zip bomb past the quota",
            Box::new(|| abi.json(h, "unzip", json!({"zipFilePath": "wxfile://usr/bomb.zip", "targetPath": "wxfile://usr/out"}))),
            1300202,
            "",
        ),
        (
            "readZipEntry: zip bomb past the readFile limit",
            Box::new(|| abi.json(h, "readZipEntry", json!({"filePath": "wxfile://usr/bomb.zip", "entries": "all"}))),
            1300202,
            "readZipEntry:fail native buffer exceed size limit",
        ),
        (
            "unzip: not a zip",
            Box::new(|| abi.json(h, "unzip", json!({"zipFilePath": "wxfile://usr/ok.txt", "targetPath": "wxfile://usr/out"}))),
            1301102,
            "",
        ),
        (
            "readCompressedFile: truncated brotli",
            Box::new(|| {
                abi.json(h, "readCompressedFileSync", json!({"filePath": "wxfile://usr/t.br", "compressionAlgorithm": "br"}))
            }),
            1301111,
            "readCompressedFileSync:fail decompress fail",
        ),
        (
            "readCompressedFile: unknown algorithm",
            Box::new(|| {
                abi.json(h, "readCompressedFileSync", json!({"filePath": "wxfile://usr/t.br", "compressionAlgorithm": "gzip"}))
            }),
            1301111,
            "",
        ),
        (
            "read: fd never issued",
            Box::new(|| {
                abi.json(
                    h,
                    "readSync",
                    json!({"fd": "12345", "length": 1, "__nativeBuffers__": [{"key": "arrayBuffer", "base64": "AA=="}]}),
                )
            }),
            1300009,
            "readSync:fail bad file descriptor",
        ),
        ("close: fd -1", Box::new(|| abi.json(h, "closeSync", json!({"fd": "-1"}))), 1300009, ""),
        ("write: fd not a number", Box::new(|| abi.json(h, "writeSync", json!({"fd": "abc", "data": "x"}))), 1300009, ""),
        (
            "read: length beyond the buffer",
            Box::new(|| {
                abi.json(
                    h,
                    "readSync",
                    json!({"fd": fd, "length": 100, "__nativeBuffers__": [{"key": "arrayBuffer", "base64": "AAAA"}]}),
                )
            }),
            1301006,
            "",
        ),
        (
            "write: offset beyond the data",
            Box::new(|| {
                abi.json(
                    h,
                    "writeSync",
                    json!({"fd": fd, "offset": 10, "__nativeBuffers__": [{"key": "data", "base64": "AAAA"}]}),
                )
            }),
            1301007,
            "",
        ),
        (
            "write: length beyond the data",
            Box::new(|| {
                abi.json(
                    h,
                    "writeSync",
                    json!({"fd": fd, "offset": 1, "length": 5, "__nativeBuffers__": [{"key": "data", "base64": "AAAA"}]}),
                )
            }),
            1301006,
            "",
        ),
        (
            "readFile: position 1e30",
            Box::new(|| abi.json(h, "readFileSync", json!({"filePath": "wxfile://usr/ok.txt", "position": 1e30}))),
            1301009,
            "",
        ),
        (
            "truncate: length -1",
            Box::new(|| abi.json(h, "truncateSync", json!({"filePath": "wxfile://usr/ok.txt", "length": -1}))),
            1301006,
            "",
        ),
        ("ftruncate: length 1e18", Box::new(|| abi.json(h, "ftruncateSync", json!({"fd": fd, "length": 1e18}))), 1300202, ""),
        (
            "write at position 2^60",
            Box::new(|| abi.json(h, "writeSync", json!({"fd": fd, "data": "x", "position": 1152921504606846976u64}))),
            1300202,
            "",
        ),
        (
            "rename: a directory into itself",
            Box::new(|| abi.json(h, "renameSync", json!({"oldPath": "wxfile://usr/dir", "newPath": "wxfile://usr/dir/sub"}))),
            1300022,
            "",
        ),
        (
            "copyFile: a directory",
            Box::new(|| abi.json(h, "copyFileSync", json!({"srcPath": "wxfile://usr/dir", "destPath": "wxfile://usr/d2"}))),
            1301003,
            "",
        ),
        (
            "host.createTempFile: extension ../x",
            Box::new(|| abi.json(h, "host.createTempFile", json!({"data": "x", "extension": "../x"}))),
            1300022,
            "",
        ),
        (
            "invoke_async: callback NULL",
            Box::new(|| {
                (
                    unsafe { (abi.invoke_async)(h, b"statSync".as_ptr(), 8, b"{}".as_ptr(), 2, None, std::ptr::null_mut()) },
                    String::new(),
                )
            }),
            -1,
            "",
        ),
        (
            "invoke_async: closed handle",
            Box::new(|| {
                unsafe extern "C" fn never(_: *mut c_void, _: i32, _: *const u8, _: usize) {
                    panic!("called")
                }
                (
                    unsafe {
                        (abi.invoke_async)(closed, b"statSync".as_ptr(), 8, b"{}".as_ptr(), 2, Some(never), std::ptr::null_mut())
                    },
                    String::new(),
                )
            }),
            -2,
            "",
        ),
        (
            "read_file: out NULL",
            Box::new(|| {
                (unsafe { (abi.read_file)(h, b"wxfile://usr/ok.txt".as_ptr(), 19, std::ptr::null_mut()) }, String::new())
            }),
            -1,
            "",
        ),
        (
            "read_file: path invalid UTF-8",
            Box::new(|| (unsafe { (abi.read_file)(h, bad_utf8.as_ptr(), 3, out_p) }, String::new())),
            -3,
            "",
        ),
        (
            "write_file: data NULL with a length",
            Box::new(|| (unsafe { (abi.write_file)(h, b"wxfile://usr/n".as_ptr(), 14, null(), 10) }, String::new())),
            -1,
            "",
        ),
        (
            "save_file: temp path escape",
            Box::new(|| (unsafe { (abi.save_file)(h, b"wxfile://tmp_../../x".as_ptr(), 20, null(), 0, out_p) }, String::new())),
            1301112,
            "",
        ),
        (
            "storage_set: key invalid UTF-8",
            Box::new(|| (unsafe { (abi.storage_set)(h, bad_utf8.as_ptr(), 3, b"1".as_ptr(), 1, null(), 0) }, String::new())),
            -3,
            "",
        ),
        (
            "storage_set: json not JSON",
            Box::new(|| (unsafe { (abi.storage_set)(h, b"k".as_ptr(), 1, b"{".as_ptr(), 1, null(), 0) }, String::new())),
            -4,
            "",
        ),
        (
            "storage_set: dataType invalid UTF-8",
            Box::new(|| {
                (unsafe { (abi.storage_set)(h, b"k".as_ptr(), 1, b"1".as_ptr(), 1, bad_utf8.as_ptr(), 3) }, String::new())
            }),
            -3,
            "",
        ),
        (
            "storage_get: missing key",
            Box::new(|| (unsafe { (abi.storage_get)(h, b"nope".as_ptr(), 4, out_p, std::ptr::null_mut()) }, String::new())),
            1400001,
            "",
        ),
        (
            "remove_sandbox: root invalid UTF-8",
            Box::new(|| {
                (unsafe { (abi.remove_sandbox)(bad_utf8.as_ptr(), 3, b"u1".as_ptr(), 2, b"wx1".as_ptr(), 3) }, String::new())
            }),
            -3,
            "",
        ),
        (
            "remove_sandbox: while open",
            Box::new(|| {
                let r = root.to_str().unwrap();
                (unsafe { (abi.remove_sandbox)(r.as_ptr(), r.len(), b"u1".as_ptr(), 2, b"wx1".as_ptr(), 3) }, String::new())
            }),
            -7,
            "",
        ),
        (
            "last_error: buffer NULL with a length",
            Box::new(|| (unsafe { (abi.last_error)(std::ptr::null_mut(), 10, std::ptr::null_mut()) }, String::new())),
            -10,
            "",
        ),
    ];
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let mut failures = Vec::new();
    for (name, call, want, msg) in &rows {
        let (rc, got) = call();
        if rc != *want || !got.starts_with(msg) {
            failures.push(format!("{name}: got {rc} {got:?}, want {want} {msg:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
    assert!(snapshot(&sandbox) == before, "the sandbox changed");
    assert_eq!(std::fs::read_dir(&base).unwrap().count(), 1, "something appeared beside the root");
    assert!(!base.join("escaped.txt").exists() && !root.join("escaped.txt").exists());
    println!("hostile input: {} passed, 0 failed", rows.len());
    unsafe { (abi.close)(h) };
}
