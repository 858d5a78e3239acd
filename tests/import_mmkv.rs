//! `wxfs_import_mmkv` and `wxfs import-mmkv` over stores written by Tencent MMKV's own C++ core:
//! MMKV/Core of the npm package react-native-mmkv-storage 12.0.1, built as `benches/run.sh`
//! builds it (and into the same cache directory, `$TMPDIR/wxfs-mmkv-baseline`), driven by
//! `tests/mmkv-writer/writer.cpp`. Each store is written the way one of Dimina's containers
//! writes its storage (docs/import-mmkv.md), then imported, then every value is read back through
//! the bridge's `getStorageSync` and compared with what the mini-program had stored.
//!
//! Needs g++, cmake, npm (the first run downloads the package) and zlib's header; a machine
//! without them prints `skipped: ...`, and fails when `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::abi::{Bytes, Lib};
use common::skip::{self, Test, Tool};
use common::Rng;
use serde_json::{json, Value};

const APP: &str = "wx0123456789abcdef";
const REFUSED: i32 = -14;

type ImportFn = unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *const u8, usize, *mut Bytes) -> i32;
type LastErrorFn = unsafe extern "C" fn(*mut u8, usize, *mut usize) -> i32;
type FreeFn = unsafe extern "C" fn(Bytes);

/// The library as a host loads it: the bridge through `common::Lib`, and the import.
struct Host {
    lib: Lib,
    _raw: libloading::Library,
    import: ImportFn,
    last_error: LastErrorFn,
    free: FreeFn,
}

impl Host {
    fn load() -> Host {
        // SAFETY: our own library; the types are those of include/wxfs.h.
        unsafe {
            let raw = libloading::Library::new(common::lib_path()).unwrap();
            Host {
                import: *raw.get(b"wxfs_import_mmkv\0").unwrap(),
                last_error: *raw.get(b"wxfs_last_error_message\0").unwrap(),
                free: *raw.get(b"wxfs_bytes_free\0").unwrap(),
                _raw: raw,
                lib: Lib::load(),
            }
        }
    }

    fn open(&self, root: &Path, limits: Value) -> u64 {
        self.lib
            .open(&json!({"root": root, "userId": "u1", "appId": APP, "limits": limits}))
            .unwrap_or_else(|rc| panic!("wxfs_open: {rc}"))
    }

    /// `wxfs_import_mmkv`: the report on success, else the status and the last error message.
    fn import(&self, h: u64, dir: &Path, id: &str, options: &Value) -> Result<Value, (i32, String)> {
        let dir = dir.to_str().unwrap();
        let opts = options.to_string();
        let mut out = Bytes { data: std::ptr::null_mut(), len: 0 };
        // SAFETY: valid buffers for the call.
        let rc = unsafe { (self.import)(h, dir.as_ptr(), dir.len(), id.as_ptr(), id.len(), opts.as_ptr(), opts.len(), &mut out) };
        if rc != 0 {
            assert!(out.data.is_null(), "a report was written on failure");
            let mut buf = vec![0u8; 4096];
            let mut n = 0usize;
            // SAFETY: a buffer of its length.
            unsafe { (self.last_error)(buf.as_mut_ptr(), buf.len(), &mut n) };
            buf.truncate(n.min(buf.len()));
            let msg = String::from_utf8_lossy(&buf).trim_end_matches('\0').to_string();
            return Err((rc, msg));
        }
        // SAFETY: the library's buffer, freed once.
        let bytes = unsafe { std::slice::from_raw_parts(out.data, out.len) }.to_vec();
        unsafe { (self.free)(out) };
        Ok(serde_json::from_slice(&bytes).unwrap())
    }

    fn get(&self, h: u64, key: &str) -> Value {
        let (rc, r) = self.lib.invoke(h, "getStorageSync", &json!({ "key": key }));
        assert_eq!(rc, 0, "getStorageSync({key:?}): {r}");
        r["data"].clone()
    }

    fn keys(&self, h: u64) -> Vec<String> {
        let (rc, r) = self.lib.invoke(h, "getStorageInfoSync", &json!({}));
        assert_eq!(rc, 0, "{r}");
        let mut k: Vec<String> = r["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
        k.sort();
        k
    }

    /// Every expected key holds its value, and no other key is there.
    fn check_all(&self, h: u64, expected: &[(String, Value)], also: &[&str]) {
        for (k, v) in expected {
            assert_eq!(&self.get(h, k), v, "the value of {k:?}");
        }
        let mut want: Vec<String> = expected.iter().map(|(k, _)| k.clone()).chain(also.iter().map(|k| k.to_string())).collect();
        want.sort();
        assert_eq!(self.keys(h), want);
    }
}

// ---- the MMKV core and the writer ----------------------------------------------------------

/// Build (once, shared with benches/run.sh) MMKV's core, then the writer against it (once per run).
fn writer() -> PathBuf {
    static WRITER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    WRITER.get_or_init(build_writer).clone()
}

fn build_writer() -> PathBuf {
    let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let work = tmp.join("wxfs-mmkv-baseline");
    if !work.join("build/libcore.a").exists() {
        // Built aside and renamed into place, so that a concurrent run never sees half of it.
        let aside = tmp.join(format!("wxfs-mmkv-baseline.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::create_dir_all(aside.join("build")).unwrap();
        let sh = |cmd: &str, dir: &Path| {
            let st = Command::new("sh").arg("-c").arg(cmd).current_dir(dir).status().unwrap();
            assert!(st.success(), "`{cmd}` in {} failed: {st}", dir.display());
        };
        sh(
            "npm pack --silent react-native-mmkv-storage@12.0.1 >/dev/null && tar xzf react-native-mmkv-storage-12.0.1.tgz",
            &aside,
        );
        sh(
            "cmake -DCMAKE_BUILD_TYPE=Release -DCMAKE_POSITION_INDEPENDENT_CODE=ON ../package/MMKV/Core >/dev/null && make -j2 >/dev/null",
            &aside.join("build"),
        );
        if std::fs::rename(&aside, &work).is_err() {
            let _ = std::fs::remove_dir_all(&aside); // another run put its build there first
        }
    }
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mmkv-writer-{}", std::process::id()));
    let src = common::repo_dir().join("tests/mmkv-writer/writer.cpp");
    let st = Command::new("g++")
        .args(["-O1", "-std=c++17", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-I")
        .arg(work.join("package/MMKV/Core"))
        .arg(work.join("build/libcore.a"))
        .args(["-lpthread", "-lz"])
        .status()
        .unwrap();
    assert!(st.success(), "building the writer failed: {st}");
    exe
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// One operation of the writer's language (tests/mmkv-writer/writer.cpp).
enum Op {
    Int(i32),
    Long(i64),
    Bool(bool),
    Float(f32),
    Double(f64),
    Str(String),
    Remove,
}

fn line(key: &str, op: &Op) -> String {
    let k = hex(key.as_bytes());
    match op {
        Op::Int(n) => format!("i {k} {n}"),
        Op::Long(n) => format!("l {k} {n}"),
        Op::Bool(b) => format!("b {k} {}", u8::from(*b)),
        Op::Float(f) => format!("f {k} {:08x}", f.to_bits()),
        Op::Double(d) => format!("d {k} {:016x}", d.to_bits()),
        Op::Str(s) => format!("s {k} {}", hex(s.as_bytes())),
        Op::Remove => format!("x {k}"),
    }
}

/// Write store `id` under `dir` with MMKV's core.
fn write_store(writer: &Path, dir: &Path, id: &str, key: Option<&str>, ops: &[(String, Op)]) {
    use std::io::Write;
    let mut cmd = Command::new(writer);
    cmd.arg(dir).arg(id).stdin(std::process::Stdio::piped());
    if let Some(k) = key {
        cmd.arg(k);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = String::new();
    for (k, op) in ops {
        input.push_str(&line(k, op));
        input.push('\n');
    }
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let st = child.wait().unwrap();
    assert!(st.success(), "the MMKV writer failed: {st}");
}

// ---- what Dimina's containers write ----------------------------------------------------------

const STRINGS: [&str; 7] = ["", "plain", "引号\"和\\反斜杠", "emoji 😀 and 中文", "line\nbreak\ttab", "{not json", "  spaced  "];

/// A random value as the mini-program stored it, as Android's container writes it (value and
/// type record), and what getStorageSync must give back.
fn android_value(rng: &mut Rng, i: u64) -> (Op, Option<&'static str>, Value) {
    match rng.below(9) {
        0 => {
            let n = rng.next() as i32;
            (Op::Int(n), Some("Int"), json!(n))
        }
        1 => {
            let n = (rng.next() >> 12) as i64 * if i.is_multiple_of(2) { 1 } else { -1 };
            (Op::Long(n), Some("Long"), json!(n))
        }
        2 => {
            let b = rng.below(2) == 1;
            (Op::Bool(b), Some("Boolean"), json!(b))
        }
        3 => {
            let f = (rng.next() % 1_000_000) as f32 / 7.0;
            (Op::Float(f), Some("Float"), json!(f64::from(f)))
        }
        4 => {
            let d = f64::from_bits(rng.next() >> 2) * if i.is_multiple_of(3) { -1.0 } else { 1.0 };
            (Op::Double(d), Some("Double"), json!(d))
        }
        5 => {
            let s = format!("{}-{i}", STRINGS[rng.below(STRINGS.len() as u64) as usize]);
            (Op::Str(s.clone()), Some("String"), json!(s))
        }
        6 => {
            let v = json!([i, "two", {"three": [3.5, null, true]}, STRINGS[rng.below(7) as usize]]);
            (Op::Str(v.to_string()), Some("Array"), v)
        }
        7 => {
            let v =
                json!({"id": i, "name": STRINGS[rng.below(7) as usize], "tags": ["a", "b"], "nested": {"deep": {"x": -1.25e-7}}});
            (Op::Str(v.to_string()), Some("Object"), v)
        }
        // No type record: the container reads a string.
        _ => {
            let s = format!("untyped {i} {}", STRINGS[rng.below(7) as usize]);
            (Op::Str(s.clone()), None, json!(s))
        }
    }
}

/// The writer's ops for a store, and each key with the value a mini-program reads back.
type Store = (Vec<(String, Op)>, Vec<(String, Value)>);

/// Android's store of `n` keys after a history of overwrites and removals.
fn android_store(n: u64, seed: u64) -> Store {
    let mut rng = Rng(seed);
    let mut ops = Vec::new();
    let mut expected = std::collections::BTreeMap::new();
    let key = |i: u64| if i % 10 == 3 { format!("键 {i} \"quoted\"") } else { format!("key-{i}") };
    let set = |ops: &mut Vec<(String, Op)>, k: String, op: Op, ty: Option<&str>| {
        ops.push((k.clone(), op));
        if let Some(t) = ty {
            ops.push((format!("{k}_type"), Op::Str(t.to_string())));
        }
    };
    // 200 more than n, removed later; 1,000 overwritten, some with another type.
    for i in 0..n + 200 {
        let (op, ty, v) = android_value(&mut rng, i);
        set(&mut ops, key(i), op, ty);
        expected.insert(key(i), v);
    }
    for _ in 0..1000 {
        let i = rng.below(n + 200);
        let (op, ty, v) = android_value(&mut rng, i);
        if ty.is_none() {
            continue; // a typed key stays typed: the container never removes a type record
        }
        set(&mut ops, key(i), op, ty);
        expected.insert(key(i), v);
    }
    let mut removed = 0;
    while removed < 200 {
        let i = rng.below(n + 200);
        if expected.remove(&key(i)).is_some() {
            // The container's removeStorage removes the key and leaves its type record.
            ops.push((key(i), Op::Remove));
            removed += 1;
        }
    }
    // A user's own key whose name ends in `_type`, holding no type name: a key.
    ops.push(("content_type".into(), Op::Str("text/plain".into())));
    ops.push(("content_type_type".into(), Op::Str("String".into())));
    expected.insert("content_type".into(), json!("text/plain"));
    (ops, expected.into_iter().collect())
}

// ---- the tests -------------------------------------------------------------------------------

/// 10,000 keys in Android's encoding, plus three that cannot be imported; every value identical.
fn android_10000_keys_every_value_identical() {
    let writer = writer();
    let dir = common::fresh_dir("mmkv-android");
    let (mut ops, expected) = android_store(10_000, 0x5eed_0001);
    assert_eq!(expected.len(), 10_001);
    for (k, op, t) in [
        ("nan", Op::Double(f64::NAN), "Double"),
        ("beyond-2^53", Op::Long(1 << 60), "Long"),
        ("too-large", Op::Str("x".repeat(1 << 20)), "String"),
    ] {
        ops.push((k.into(), op));
        ops.push((format!("{k}_type"), Op::Str(t.into())));
    }
    write_store(&writer, &dir.join("mmkv"), APP, None, &ops);

    let host = Host::load();
    let h = host.open(&dir.join("root"), json!({}));
    host.lib.invoke(h, "setStorageSync", &json!({"key": "kept", "data": "from before"}));
    let report = host.import(h, &dir.join("mmkv"), APP, &json!({})).expect("import");
    assert_eq!(report["layout"], "android");
    assert_eq!(report["imported"], 10_001);
    assert_eq!(report["damaged"], Value::Null);
    assert_eq!(
        report["skipped"],
        json!([
            {"key": "nan", "reason": "not valid as a value: NaN is not a JSON number"},
            {"key": "beyond-2^53", "reason": "not valid as a value: the Long 1152921504606846976 is beyond what a JavaScript number holds exactly"},
            {"key": "too-large", "reason": "over the storage item limit: 1048587 bytes, limit 1048576"},
        ])
    );
    host.check_all(h, &expected, &["kept"]);
    assert_eq!(host.get(h, "kept"), "from before");
    assert_eq!(host.lib.close(h), 0);

    // After a restart too: the import went through the storage log.
    let h = host.open(&dir.join("root"), json!({}));
    host.check_all(h, &expected, &["kept"]);
    host.lib.close(h);
    let _ = std::fs::remove_dir_all(&dir);
}

/// iOS's encrypted store (its container's key): refused without the key and with a wrong one,
/// storage untouched; imported with it.
fn encrypted_store_needs_its_key() {
    let writer = writer();
    let dir = common::fresh_dir("mmkv-ios");
    let id = format!("com.dimina.storage.encrypted.{APP}");
    let mut rng = Rng(0x5eed_0002);
    let mut ops = Vec::new();
    let mut expected = Vec::new();
    for i in 0..2000u64 {
        let (v, t) = match rng.below(5) {
            0 => (json!(format!("{} {i}", STRINGS[rng.below(7) as usize])), "String"),
            1 => (json!(rng.next() as i32), "Int"),
            2 => (json!(rng.below(2) == 1), "Bool"),
            3 => (json!([i, {"a": STRINGS[rng.below(7) as usize]}]), "Array"),
            _ => (json!({"n": (rng.next() % 1000) as f64 / 8.0, "s": "中文"}), "Dictionary"),
        };
        let key = format!("enc-{i}");
        ops.push((key.clone(), Op::Str(json!({"dmpvalue": v, "type": t}).to_string())));
        expected.push((key, v));
    }
    write_store(&writer, &dir.join("mmkv"), &id, Some("DiminaEncryptKey"), &ops);

    let host = Host::load();
    let h = host.open(&dir.join("root"), json!({}));
    host.lib.invoke(h, "setStorageSync", &json!({"key": "kept", "data": 1}));
    let (rc, msg) = host.import(h, &dir.join("mmkv"), &id, &json!({})).unwrap_err();
    assert_eq!(rc, REFUSED, "{msg}");
    assert!(msg.contains("it is encrypted (pass its key) or damaged; nothing was imported"), "{msg}");
    let (rc, msg) = host.import(h, &dir.join("mmkv"), &id, &json!({"key": "NotDiminaEncrypt"})).unwrap_err();
    assert_eq!(rc, REFUSED, "{msg}");
    assert!(msg.contains("does not parse with this key"), "{msg}");
    assert_eq!(host.keys(h), ["kept"]);

    let report = host.import(h, &dir.join("mmkv"), &id, &json!({"key": "DiminaEncryptKey"})).expect("import");
    assert_eq!((&report["layout"], &report["encrypted"], &report["imported"]), (&json!("ios"), &json!(true), &json!(2000)));
    assert_eq!(report["skipped"], json!([]));
    host.check_all(h, &expected, &["kept"]);
    host.lib.close(h);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A byte flipped in the data: refused (by the CLI too), then imported with recover and reported
/// as damaged; only the flipped value differs.
fn damaged_store_refused_then_recovered() {
    let writer = writer();
    let dir = common::fresh_dir("mmkv-damaged");
    let (mut ops, mut expected) = android_store(1000, 0x5eed_0003);
    ops.push(("flip".into(), Op::Str("FLIP-ME".into())));
    ops.push(("flip_type".into(), Op::Str("String".into())));
    let mmkv = dir.join("mmkv");
    write_store(&writer, &mmkv, APP, None, &ops);
    let mut data = std::fs::read(mmkv.join(APP)).unwrap();
    let at = data.windows(7).position(|w| w == b"FLIP-ME").unwrap();
    data[at] = b'G';
    std::fs::write(mmkv.join(APP), &data).unwrap();
    expected.push(("flip".into(), json!("GLIP-ME")));

    let root = dir.join("root");
    let host = Host::load();
    let h = host.open(&root, json!({}));
    host.lib.invoke(h, "setStorageSync", &json!({"key": "kept", "data": [1]}));
    let (rc, msg) = host.import(h, &mmkv, APP, &json!({})).unwrap_err();
    assert_eq!(rc, REFUSED);
    assert!(msg.starts_with("the store is damaged (checksum mismatch: the CRC32 of its "), "{msg}");
    assert!(msg.ends_with("nothing was imported. Pass the recover option to import every record that still parses"), "{msg}");
    assert_eq!(host.keys(h), ["kept"]);
    host.lib.close(h);

    // The CLI says the same, exits 1, and changes nothing.
    let wxfs = env!("CARGO_BIN_EXE_wxfs");
    let out = Command::new(wxfs).arg("import-mmkv").arg(&root).args(["u1", APP]).arg(&mmkv).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("wxfs: the store is damaged (checksum mismatch"), "{err}");
    let out = Command::new(wxfs)
        .arg("import-mmkv")
        .arg(&root)
        .args(["u1", APP])
        .arg(&mmkv)
        .args(["--recover", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["damaged"].as_str().unwrap().starts_with("checksum mismatch"), "{report}");
    assert_eq!(report["imported"], expected.len());

    let h = host.open(&root, json!({}));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    host.check_all(h, &expected, &["kept"]);
    host.lib.close(h);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys that do not fit the sandbox's total: the storage errCode, nothing imported.
fn over_the_total_nothing_changes() {
    let writer = writer();
    let dir = common::fresh_dir("mmkv-total");
    let (ops, _) = android_store(1000, 0x5eed_0004);
    write_store(&writer, &dir.join("mmkv"), APP, None, &ops);
    let host = Host::load();
    let h = host.open(&dir.join("root"), json!({"storageTotal": 32768}));
    host.lib.invoke(h, "setStorageSync", &json!({"key": "kept", "data": true}));
    let (rc, msg) = host.import(h, &dir.join("mmkv"), APP, &json!({})).unwrap_err();
    assert!(rc > 0, "{rc} {msg}");
    assert!(msg.starts_with("the sandbox's storage refused the 1001 keys ("), "{msg}");
    assert!(msg.ends_with("nothing was imported"), "{msg}");
    assert_eq!(host.keys(h), ["kept"]);
    host.lib.close(h);
    let _ = std::fs::remove_dir_all(&dir);
}

/// HarmonyOS's encoding: the JavaScript typeof beside each key.
fn harmony_layout() {
    let writer = writer();
    let dir = common::fresh_dir("mmkv-harmony");
    let id = format!("dimina_mmkv_{APP}");
    let t = |k: &str, ty: &str| (format!("{k}_mMKv7Yp3"), Op::Str(ty.into()));
    let ops = vec![
        ("b".to_string(), Op::Bool(true)),
        t("b", "boolean"),
        ("n".to_string(), Op::Double(-0.1)),
        t("n", "number"),
        ("s".to_string(), Op::Str("文字".into())),
        t("s", "string"),
        ("o".to_string(), Op::Str(r#"{"a":[1,2]}"#.into())),
        t("o", "object"),
        ("null".to_string(), Op::Str("null".into())),
        t("null", "object"),
        ("untyped".to_string(), Op::Str("lost".into())),
    ];
    write_store(&writer, &dir.join("mmkv"), &id, None, &ops);
    let host = Host::load();
    let h = host.open(&dir.join("root"), json!({}));
    let report = host.import(h, &dir.join("mmkv"), &id, &json!({})).expect("import");
    assert_eq!((&report["layout"], &report["imported"], &report["typeRecords"]), (&json!("harmony"), &json!(5), &json!(5)));
    assert_eq!(
        report["skipped"],
        json!([{"key": "untyped", "reason": "not valid as a value: no type record (the container reads it as \"\")"}])
    );
    let expected: Vec<(String, Value)> =
        [("b", json!(true)), ("n", json!(-0.1)), ("null", Value::Null), ("o", json!({"a": [1, 2]})), ("s", json!("文字"))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    host.check_all(h, &expected, &[]);
    host.lib.close(h);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every double a mini-program stores through the bridge's general path (batchSetStorage here,
/// which the import uses) comes back with every bit: serde_json's default number parse could land
/// one ULP off (1.5835193906445266e-58 came back as 1.583519390644527e-58).
fn doubles_keep_every_bit_through_the_bridge() {
    let dir = common::fresh_dir("mmkv-doubles");
    let host = Host::load();
    let h = host.open(&dir.join("root"), json!({}));
    let mut rng = Rng(0x5eed_0005);
    let doubles: Vec<f64> = (0..4000).map(|_| f64::from_bits(rng.next())).filter(|d| d.is_finite()).collect();
    let list: Vec<Value> = doubles.iter().enumerate().map(|(i, d)| json!({"key": format!("d{i}"), "value": d})).collect();
    let (rc, r) = host.lib.invoke(h, "batchSetStorageSync", &json!({ "kvList": list }));
    assert_eq!(rc, 0, "{r}");
    for (i, d) in doubles.iter().enumerate() {
        let got = host.get(h, &format!("d{i}"));
        assert_eq!(got.as_f64().map(f64::to_bits), Some(d.to_bits()), "stored {d:e}, got {got}");
    }
    host.lib.close(h);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() -> std::process::ExitCode {
    const INSTALL: &str = "apt-get install g++ cmake npm zlib1g-dev";
    let needs = || {
        vec![
            Tool::runs("g++", &["--version"], INSTALL),
            Tool::runs("cmake", &["--version"], INSTALL),
            Tool::runs("npm", &["--version"], INSTALL),
            Tool::file("zlib.h".into(), Path::new("/usr/include/zlib.h"), INSTALL),
        ]
    };
    skip::run(vec![
        Test { name: "android_10000_keys_every_value_identical", needs: needs(), body: android_10000_keys_every_value_identical },
        Test { name: "encrypted_store_needs_its_key", needs: needs(), body: encrypted_store_needs_its_key },
        Test { name: "damaged_store_refused_then_recovered", needs: needs(), body: damaged_store_refused_then_recovered },
        Test { name: "over_the_total_nothing_changes", needs: needs(), body: over_the_total_nothing_changes },
        Test { name: "harmony_layout", needs: needs(), body: harmony_layout },
        Test {
            name: "doubles_keep_every_bit_through_the_bridge",
            needs: vec![],
            body: doubles_keep_every_bit_through_the_bridge,
        },
    ])
}
