//! Hostile input through the C ABI: every row is a call a buggy or malicious caller
//! could make, with the exact code it must get back. One test per kind of attack, each on a
//! sandbox of its own: after its table the sandbox is byte-for-byte what it was, and nothing
//! outside it exists.

mod common;

use std::ffi::c_void;
use std::path::PathBuf;
use std::ptr::null;

use base64::Engine as _;
use common::abi::{Bytes, Lib};
use common::bridge::b64;
use common::files::snapshot;
use common::zip::zip_of;
use serde_json::{json, Value};

/// A hostile call: its name, the call, the code it must return, and text its message must hold.
type Row<'a> = (&'a str, Box<dyn Fn() -> (i32, String) + 'a>, i32, &'a str);

/// Invalid UTF-8, wherever text is expected.
const BAD_UTF8: &[u8] = b"\xff\xfe\x80";

/// An open sandbox with fixtures made through the API (a file, a directory, a zip-slip, a zip
/// bomb, a truncated brotli stream, an open fd) and a handle already closed; then what the
/// sandbox holds, to compare with after the attack.
struct Fixture {
    lib: Lib,
    base: PathBuf,
    root: PathBuf,
    cfg: String,
    h: u64,
    closed: u64,
    fd: String,
    sandbox: PathBuf,
    before: Vec<(PathBuf, Vec<u8>)>,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let lib = Lib::load();
        let base = common::fresh_dir(tag);
        let root = base.join("root");
        let cfg = json!({"root": root, "appId": "wx1", "userId": "u1", "limits": {"userFiles": 8 << 20, "storageItem": 65536, "readFile": 4 << 20}}).to_string();
        let mut h = 0u64;
        assert_eq!(unsafe { (lib.open)(cfg.as_ptr(), cfg.len(), &mut h) }, 0);
        let json = |api: &str, args: Value| lib.invoke_bytes(h, api.as_bytes(), args.to_string().as_bytes());
        // Fixtures made through the API before the table runs.
        assert_eq!(json("writeFileSync", json!({"filePath": "wxfile://usr/ok.txt", "data": "ok"})).0, 0);
        assert_eq!(json("mkdirSync", json!({"dirPath": "wxfile://usr/dir"})).0, 0);
        for (name, z) in [
            ("slip.zip", zip_of(&[("fine.txt", b"1"), ("../../../escaped.txt", b"x")])),
            ("bomb.zip", zip_of(&[("zeros", &vec![0u8; 16 << 20])])),
        ] {
            let args =
                json!({"filePath": format!("wxfile://usr/{name}"), "__nativeBuffers__": [{"key": "data", "base64": b64(&z)}]});
            assert_eq!(json("writeFileSync", args).0, 0);
        }
        let truncated_br = &base64::engine::general_purpose::STANDARD.decode("Gw8A+CXH2t5qkE4qm4A6nVA=").unwrap()[..10];
        let args = json!({"filePath": "wxfile://usr/t.br", "__nativeBuffers__": [{"key": "data", "base64": b64(truncated_br)}]});
        assert_eq!(json("writeFileSync", args).0, 0);
        let mut out = Bytes::empty();
        let fdargs = br#"{"filePath":"wxfile://usr/ok.txt","flag":"r+"}"#;
        assert_eq!(unsafe { (lib.invoke)(h, b"openSync".as_ptr(), 8, fdargs.as_ptr(), fdargs.len(), &mut out) }, 0);
        let fd = serde_json::from_slice::<Value>(unsafe { std::slice::from_raw_parts(out.data, out.len) }).unwrap()["fd"]
            .as_str()
            .unwrap()
            .to_string();
        unsafe { (lib.free)(out) };
        let mut closed = 0u64;
        assert_eq!(unsafe { (lib.open)(cfg.as_ptr(), cfg.len(), &mut closed) }, 0);
        assert_eq!(unsafe { (lib.close)(closed) }, 0);

        let sandbox = wxfs::sandbox::sandbox_dir(&root, b"u1", b"wx1");
        let before = snapshot(&sandbox, UNCHANGED_ASIDE);
        Fixture { lib, base, root, cfg, h, closed, fd, sandbox, before }
    }

    /// `invoke` with any bytes; the code and the errMsg.
    fn call(&self, h: u64, api: &[u8], args: &[u8]) -> (i32, String) {
        self.lib.invoke_bytes(h, api, args)
    }

    fn json(&self, h: u64, api: &str, args: Value) -> (i32, String) {
        self.call(h, api.as_bytes(), args.to_string().as_bytes())
    }

    /// Runs the table: every row gets its code and message, and the sandbox is unchanged.
    fn check(&self, rows: Vec<Row>) {
        let mut failures = Vec::new();
        for (name, call, want, msg) in &rows {
            let (rc, got) = call();
            if rc != *want || !got.starts_with(msg) {
                failures.push(format!("{name}: got {rc} {got:?}, want {want} {msg:?}"));
            }
        }
        assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
        assert!(snapshot(&self.sandbox, UNCHANGED_ASIDE) == self.before, "the sandbox changed");
        assert_eq!(std::fs::read_dir(&self.base).unwrap().count(), 1, "something appeared beside the root");
        assert!(!self.base.join("escaped.txt").exists() && !self.root.join("escaped.txt").exists());
        println!("hostile input: {} passed, 0 failed", rows.len());
        unsafe { (self.lib.close)(self.h) };
    }
}

/// What bad input may change in a sandbox: the time of its last use, and its record of the limits
/// refusals (events, not data: docs/design.md §6).
const UNCHANGED_ASIDE: &[&str] = &["LAST_USE", wxfs::sandbox::eventlog::EVENTS, wxfs::sandbox::eventlog::EVENTS_OLD];

/// A returned code with no message (the typed exports return a code only).
fn code(rc: i32) -> (i32, String) {
    (rc, String::new())
}

fn open_configs(fx: &Fixture) -> Vec<Row<'_>> {
    let (lib, cfg, root) = (&fx.lib, &fx.cfg, &fx.root);
    vec![
        ("open: config NULL with a length", Box::new(move || code(unsafe { (lib.open)(null(), 10, &mut 0) })), -1, ""),
        ("open: out NULL", Box::new(move || code(unsafe { (lib.open)(cfg.as_ptr(), cfg.len(), std::ptr::null_mut()) })), -1, ""),
        ("open: config invalid UTF-8", Box::new(move || code(unsafe { (lib.open)(BAD_UTF8.as_ptr(), 3, &mut 0) })), -3, ""),
        ("open: config not JSON", Box::new(move || code(unsafe { (lib.open)(b"{root".as_ptr(), 5, &mut 0) })), -6, ""),
        (
            "open: config nested 100,000 deep",
            Box::new(move || {
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                code(unsafe { (lib.open)(deep.as_ptr(), deep.len(), &mut 0) })
            }),
            -6,
            "",
        ),
        (
            "open: config without appId",
            Box::new(move || {
                let c = json!({"root": root, "userId": "u"}).to_string();
                code(unsafe { (lib.open)(c.as_ptr(), c.len(), &mut 0) })
            }),
            -6,
            "",
        ),
        (
            "open: empty root",
            Box::new(move || {
                let c = r#"{"root":"","appId":"a","userId":"u"}"#;
                code(unsafe { (lib.open)(c.as_ptr(), c.len(), &mut 0) })
            }),
            -6,
            "",
        ),
        (
            "open: unknown protocol",
            Box::new(move || {
                let c = json!({"root": root, "appId": "a", "userId": "u", "protocol": "ftp"}).to_string();
                code(unsafe { (lib.open)(c.as_ptr(), c.len(), &mut 0) })
            }),
            -6,
            "",
        ),
    ]
}

fn forged_handles(fx: &Fixture) -> Vec<Row<'_>> {
    let (lib, h, closed) = (&fx.lib, fx.h, fx.closed);
    let forged = closed ^ (1 << 32);
    vec![
        (
            "invoke: handle 0",
            Box::new(move || fx.json(0, "readFileSync", json!({"filePath": "wxfile://usr/ok.txt"}))),
            -2,
            "readFileSync:fail invalid sandbox handle",
        ),
        (
            "invoke: closed handle",
            Box::new(move || fx.json(closed, "readFileSync", json!({"filePath": "wxfile://usr/ok.txt"}))),
            -2,
            "readFileSync:fail invalid sandbox handle",
        ),
        ("invoke: forged generation", Box::new(move || fx.json(forged, "getStorageInfoSync", json!({}))), -2, ""),
        ("invoke: forged tag", Box::new(move || fx.json(h ^ (0x7f << 56), "getStorageInfoSync", json!({}))), -2, ""),
        ("invoke: top bit set", Box::new(move || fx.json(h | (1 << 63), "getStorageInfoSync", json!({}))), -2, ""),
        (
            "invoke_async: closed handle",
            Box::new(move || {
                unsafe extern "C" fn never(_: *mut c_void, _: i32, _: *const u8, _: usize) {
                    panic!("called")
                }
                code(unsafe {
                    (lib.invoke_async)(closed, b"statSync".as_ptr(), 8, b"{}".as_ptr(), 2, Some(never), std::ptr::null_mut())
                })
            }),
            -2,
            "",
        ),
    ]
}

fn malformed_calls(fx: &Fixture) -> Vec<Row<'_>> {
    let (lib, h) = (&fx.lib, fx.h);
    vec![
        (
            "invoke: api NULL",
            Box::new(move || code(unsafe { (lib.invoke)(h, null(), 5, b"{}".as_ptr(), 2, &mut Bytes::empty()) })),
            -1,
            "",
        ),
        ("invoke: api empty", Box::new(move || fx.call(h, b"", b"{}")), -1, ""),
        (
            "invoke: args NULL with a length",
            Box::new(move || code(unsafe { (lib.invoke)(h, b"statSync".as_ptr(), 8, null(), 5, &mut Bytes::empty()) })),
            -1,
            "",
        ),
        ("invoke: api invalid UTF-8", Box::new(move || fx.call(h, BAD_UTF8, b"{}")), -3, ""),
        ("invoke: args invalid UTF-8", Box::new(move || fx.call(h, b"readFileSync", b"{\"filePath\":\"\xff\"}")), -3, ""),
        (
            "invoke: args nested 100,000 deep",
            Box::new(move || {
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                fx.call(h, b"readFileSync", format!("{{\"filePath\":{deep}}}").as_bytes())
            }),
            -4,
            "readFileSync:fail invalid JSON arguments",
        ),
        (
            "invoke: args not an object",
            Box::new(move || fx.call(h, b"readFileSync", b"[1]")),
            -4,
            "readFileSync:fail arguments must be a JSON object",
        ),
        ("invoke: unknown api", Box::new(move || fx.call(h, b"eval", b"{}")), -5, "eval:fail unknown api"),
        ("invoke: host api spelled as Sync", Box::new(move || fx.call(h, b"host.realPathSync", b"{}")), -5, ""),
        (
            "invoke: __nativeBuffers__ not base64",
            Box::new(move || {
                fx.call(
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
            Box::new(move || fx.call(h, b"writeFileSync", br#"{"__nativeBuffers__":{}}"#)),
            -4,
            "",
        ),
    ]
}

fn oversized_inputs(fx: &Fixture) -> Vec<Row<'_>> {
    let h = fx.h;
    vec![
        (
            "writeFile: a 200 MiB argument",
            Box::new(move || {
                let huge = format!("{{\"filePath\":\"wxfile://usr/huge.bin\",\"data\":\"{}\"}}", "a".repeat(200 << 20));
                fx.call(h, b"writeFileSync", huge.as_bytes())
            }),
            1300202,
            "writeFileSync:fail the maximum size of the file storage limit is exceeded",
        ),
        (
            "readFile: a 100,000-byte path",
            Box::new(move || {
                let long_path = format!("wxfile://usr/{}", "p".repeat(100_000));
                fx.json(h, "readFileSync", json!({"filePath": long_path}))
            }),
            1300036,
            "readFileSync:fail File name too long",
        ),
        (
            "mkdir: 10,000 components",
            Box::new(move || {
                let many_parts = format!("wxfile://usr/{}", "a/".repeat(10_000));
                fx.json(h, "mkdirSync", json!({"dirPath": many_parts, "recursive": true}))
            }),
            1300036,
            "",
        ),
    ]
}

fn bad_storage_keys(fx: &Fixture) -> Vec<Row<'_>> {
    let h = fx.h;
    vec![
        (
            "setStorage: a 100,000-byte key",
            Box::new(move || fx.json(h, "setStorageSync", json!({"key": "k".repeat(100_000), "data": 1}))),
            1400002,
            "setStorageSync:fail exceed storage item max length",
        ),
        ("setStorage: empty key", Box::new(move || fx.json(h, "setStorageSync", json!({"key": "", "data": 1}))), 1400004, ""),
        (
            "setStorage: key not a string",
            Box::new(move || fx.json(h, "setStorageSync", json!({"key": 5, "data": 1}))),
            1400004,
            "setStorageSync:fail parameter error: parameter.key should be String instead of Number;",
        ),
    ]
}

fn path_escapes(fx: &Fixture) -> Vec<Row<'_>> {
    let (lib, h) = (&fx.lib, fx.h);
    vec![
        (
            "writeFile: ../ out of usr",
            Box::new(move || fx.json(h, "writeFileSync", json!({"filePath": "wxfile://usr/../x", "data": "x"}))),
            1300014,
            "writeFileSync:fail permission denied, open wxfile://usr/../x",
        ),
        (
            "readFile: ../ out of the package",
            Box::new(move || fx.json(h, "readFileSync", json!({"filePath": "/../../etc/passwd"}))),
            1300014,
            "",
        ),
        (
            "writeFile: NUL in the path",
            Box::new(move || fx.json(h, "writeFileSync", json!({"filePath": "wxfile://usr/a\u{0}b", "data": "x"}))),
            1300014,
            "",
        ),
        (
            "writeFile: backslashes",
            Box::new(move || fx.json(h, "writeFileSync", json!({"filePath": "wxfile://usr\\..\\x", "data": "x"}))),
            1300014,
            "",
        ),
        (
            "writeFile: absolute host path",
            Box::new(move || fx.json(h, "writeFileSync", json!({"filePath": "/etc/passwd", "data": "x"}))),
            1301004,
            "writeFileSync:fail permission denied, open /etc/passwd",
        ),
        (
            "writeFile: the temp area",
            Box::new(move || fx.json(h, "writeFileSync", json!({"filePath": "wxfile://tmp_x.png", "data": "x"}))),
            1300013,
            "",
        ),
        ("readdir: the protocol root", Box::new(move || fx.json(h, "readdirSync", json!({"dirPath": "wxfile://"}))), 1300014, ""),
        (
            "host.createTempFile: extension ../x",
            Box::new(move || fx.json(h, "host.createTempFile", json!({"data": "x", "extension": "../x"}))),
            1300022,
            "",
        ),
        (
            "save_file: temp path escape",
            Box::new(move || {
                code(unsafe { (lib.save_file)(h, b"wxfile://tmp_../../x".as_ptr(), 20, null(), 0, &mut Bytes::empty()) })
            }),
            1301112,
            "",
        ),
    ]
}

fn hostile_archives(fx: &Fixture) -> Vec<Row<'_>> {
    let h = fx.h;
    vec![
        (
            "unzip: zip-slip",
            Box::new(move || {
                fx.json(h, "unzip", json!({"zipFilePath": "wxfile://usr/slip.zip", "targetPath": "wxfile://usr/out"}))
            }),
            1301103,
            "unzip:fail unzip entry fail",
        ),
        (
            "unzip: zip bomb past the quota",
            Box::new(move || {
                fx.json(h, "unzip", json!({"zipFilePath": "wxfile://usr/bomb.zip", "targetPath": "wxfile://usr/out"}))
            }),
            1300202,
            "",
        ),
        (
            "readZipEntry: zip bomb past the readFile limit",
            Box::new(move || fx.json(h, "readZipEntry", json!({"filePath": "wxfile://usr/bomb.zip", "entries": "all"}))),
            1300202,
            "readZipEntry:fail native buffer exceed size limit",
        ),
        (
            "unzip: not a zip",
            Box::new(move || {
                fx.json(h, "unzip", json!({"zipFilePath": "wxfile://usr/ok.txt", "targetPath": "wxfile://usr/out"}))
            }),
            1301102,
            "",
        ),
        (
            "readCompressedFile: truncated brotli",
            Box::new(move || {
                fx.json(h, "readCompressedFileSync", json!({"filePath": "wxfile://usr/t.br", "compressionAlgorithm": "br"}))
            }),
            1301111,
            "readCompressedFileSync:fail decompress fail",
        ),
        (
            "readCompressedFile: unknown algorithm",
            Box::new(move || {
                fx.json(h, "readCompressedFileSync", json!({"filePath": "wxfile://usr/t.br", "compressionAlgorithm": "gzip"}))
            }),
            1301111,
            "",
        ),
    ]
}

fn bad_fds_and_ranges(fx: &Fixture) -> Vec<Row<'_>> {
    let (h, fd) = (fx.h, fx.fd.as_str());
    vec![
        (
            "read: fd never issued",
            Box::new(move || {
                fx.json(
                    h,
                    "readSync",
                    json!({"fd": "12345", "length": 1, "__nativeBuffers__": [{"key": "arrayBuffer", "base64": "AA=="}]}),
                )
            }),
            1300009,
            "readSync:fail bad file descriptor",
        ),
        ("close: fd -1", Box::new(move || fx.json(h, "closeSync", json!({"fd": "-1"}))), 1300009, ""),
        ("write: fd not a number", Box::new(move || fx.json(h, "writeSync", json!({"fd": "abc", "data": "x"}))), 1300009, ""),
        (
            "read: length beyond the buffer",
            Box::new(move || {
                fx.json(
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
            Box::new(move || {
                fx.json(h, "writeSync", json!({"fd": fd, "offset": 10, "__nativeBuffers__": [{"key": "data", "base64": "AAAA"}]}))
            }),
            1301007,
            "",
        ),
        (
            "write: length beyond the data",
            Box::new(move || {
                fx.json(
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
            Box::new(move || fx.json(h, "readFileSync", json!({"filePath": "wxfile://usr/ok.txt", "position": 1e30}))),
            1301009,
            "",
        ),
        (
            "truncate: length -1",
            Box::new(move || fx.json(h, "truncateSync", json!({"filePath": "wxfile://usr/ok.txt", "length": -1}))),
            1301006,
            "",
        ),
        ("ftruncate: length 1e18", Box::new(move || fx.json(h, "ftruncateSync", json!({"fd": fd, "length": 1e18}))), 1300202, ""),
        (
            "write at position 2^60",
            Box::new(move || fx.json(h, "writeSync", json!({"fd": fd, "data": "x", "position": 1152921504606846976u64}))),
            1300202,
            "",
        ),
    ]
}

fn directory_misuse(fx: &Fixture) -> Vec<Row<'_>> {
    let h = fx.h;
    vec![
        (
            "rename: a directory into itself",
            Box::new(move || fx.json(h, "renameSync", json!({"oldPath": "wxfile://usr/dir", "newPath": "wxfile://usr/dir/sub"}))),
            1300022,
            "",
        ),
        (
            "copyFile: a directory",
            Box::new(move || fx.json(h, "copyFileSync", json!({"srcPath": "wxfile://usr/dir", "destPath": "wxfile://usr/d2"}))),
            1301003,
            "",
        ),
    ]
}

fn typed_export_misuse(fx: &Fixture) -> Vec<Row<'_>> {
    let (lib, h, root) = (&fx.lib, fx.h, &fx.root);
    vec![
        (
            "invoke_async: callback NULL",
            Box::new(move || {
                code(unsafe { (lib.invoke_async)(h, b"statSync".as_ptr(), 8, b"{}".as_ptr(), 2, None, std::ptr::null_mut()) })
            }),
            -1,
            "",
        ),
        (
            "read_file: out NULL",
            Box::new(move || code(unsafe { (lib.read_file)(h, b"wxfile://usr/ok.txt".as_ptr(), 19, std::ptr::null_mut()) })),
            -1,
            "",
        ),
        (
            "read_file: path invalid UTF-8",
            Box::new(move || code(unsafe { (lib.read_file)(h, BAD_UTF8.as_ptr(), 3, &mut Bytes::empty()) })),
            -3,
            "",
        ),
        (
            "write_file: data NULL with a length",
            Box::new(move || code(unsafe { (lib.write_file)(h, b"wxfile://usr/n".as_ptr(), 14, null(), 10) })),
            -1,
            "",
        ),
        (
            "storage_set: key invalid UTF-8",
            Box::new(move || code(unsafe { (lib.storage_set)(h, BAD_UTF8.as_ptr(), 3, b"1".as_ptr(), 1, null(), 0) })),
            -3,
            "",
        ),
        (
            "storage_set: json not JSON",
            Box::new(move || code(unsafe { (lib.storage_set)(h, b"k".as_ptr(), 1, b"{".as_ptr(), 1, null(), 0) })),
            -4,
            "",
        ),
        (
            "storage_set: dataType invalid UTF-8",
            Box::new(move || code(unsafe { (lib.storage_set)(h, b"k".as_ptr(), 1, b"1".as_ptr(), 1, BAD_UTF8.as_ptr(), 3) })),
            -3,
            "",
        ),
        (
            "storage_get: missing key",
            Box::new(move || {
                code(unsafe { (lib.storage_get)(h, b"nope".as_ptr(), 4, &mut Bytes::empty(), std::ptr::null_mut()) })
            }),
            1400001,
            "",
        ),
        (
            "remove_sandbox: root invalid UTF-8",
            Box::new(move || code(unsafe { (lib.remove_sandbox)(BAD_UTF8.as_ptr(), 3, b"u1".as_ptr(), 2, b"wx1".as_ptr(), 3) })),
            -3,
            "",
        ),
        (
            "remove_sandbox: while open",
            Box::new(move || {
                let r = root.to_str().unwrap();
                code(unsafe { (lib.remove_sandbox)(r.as_ptr(), r.len(), b"u1".as_ptr(), 2, b"wx1".as_ptr(), 3) })
            }),
            -7,
            "",
        ),
        (
            "last_error: buffer NULL with a length",
            Box::new(move || code(unsafe { (lib.last_error)(std::ptr::null_mut(), 10, std::ptr::null_mut()) })),
            -10,
            "",
        ),
    ]
}

/// Every table, for the count below.
const ATTACKS: [for<'a> fn(&'a Fixture) -> Vec<Row<'a>>; 10] = [
    open_configs,
    forged_handles,
    malformed_calls,
    oversized_inputs,
    bad_storage_keys,
    path_escapes,
    hostile_archives,
    bad_fds_and_ranges,
    directory_misuse,
    typed_export_misuse,
];

#[test]
fn the_attack_tables_hold_at_least_40_rows() {
    let fx = Fixture::new("hostile-count");
    let rows: usize = ATTACKS.iter().map(|attack| attack(&fx).len()).sum();
    assert!(rows >= 40, "{rows} rows");
    fx.check(Vec::new());
}

#[test]
fn hostile_configs_are_refused_at_open_and_change_nothing() {
    let fx = Fixture::new("hostile-open");
    fx.check(open_configs(&fx));
}

#[test]
fn forged_and_closed_handles_get_defined_errors_and_change_nothing() {
    let fx = Fixture::new("hostile-handles");
    fx.check(forged_handles(&fx));
}

#[test]
fn malformed_calls_get_defined_errors_and_change_nothing() {
    let fx = Fixture::new("hostile-malformed");
    fx.check(malformed_calls(&fx));
}

#[test]
fn oversized_inputs_get_defined_errors_and_change_nothing() {
    let fx = Fixture::new("hostile-oversized");
    fx.check(oversized_inputs(&fx));
}

#[test]
fn bad_storage_keys_get_defined_errors_and_change_nothing() {
    let fx = Fixture::new("hostile-keys");
    fx.check(bad_storage_keys(&fx));
}

#[test]
fn path_escapes_get_defined_errors_and_change_nothing() {
    let fx = Fixture::new("hostile-paths");
    fx.check(path_escapes(&fx));
}

#[test]
fn hostile_archives_get_defined_errors_and_change_nothing() {
    let fx = Fixture::new("hostile-archives");
    fx.check(hostile_archives(&fx));
}

#[test]
fn bad_fds_and_ranges_get_defined_errors_and_change_nothing() {
    let fx = Fixture::new("hostile-fds");
    fx.check(bad_fds_and_ranges(&fx));
}

#[test]
fn directory_misuse_gets_defined_errors_and_changes_nothing() {
    let fx = Fixture::new("hostile-dirs");
    fx.check(directory_misuse(&fx));
}

#[test]
fn typed_export_misuse_gets_defined_errors_and_changes_nothing() {
    let fx = Fixture::new("hostile-typed");
    fx.check(typed_export_misuse(&fx));
}
