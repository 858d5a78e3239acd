//! Every result counts against the one-call budget (README: one call's peak
//! heap is at most five times the readFile limit), listings included: stat recursive, readdir,
//! getSavedFileList, getStorageInfo's keys, readZipEntry "all", and the envelope around them.
//! Past the budget the call fails 1300202 `native buffer exceed size limit`, having built
//! nothing more.
//!
//! This binary counts every allocation of the process (a global allocator of its own, so the
//! whole process is seen, not one thread), and its tests take turns. The tree is the issue's: 7
//! nested directories with 255-byte names, then empty files with 255-byte names in the deepest.
//! By default 12,000 files (already past the budget at the readFile limits used here); set
//! `WXFS_LISTING_FULL=1` for the issue's 199,993 at the default limits. The files are made on
//! disk directly, as the API would make them: 200,000 calls take minutes in a debug build.

mod common;

use std::sync::{Arc, Mutex};

use common::process_heap::peak_during;
use serde_json::{json, Value};
use wxfs::platform::Platform;
use wxfs::{bridge, Config, Session};

#[global_allocator]
static ALLOC: common::Counting = common::Counting(common::process_heap::track);

/// One test at a time: the count is the whole process's.
static TURN: Mutex<()> = Mutex::new(());

const MIB: u64 = 1 << 20;

fn full() -> bool {
    std::env::var_os("WXFS_LISTING_FULL").is_some_and(|v| v == "1")
}

/// 255-byte names, distinct by their first characters.
fn name(i: usize) -> String {
    format!("{i:06}{}", "n".repeat(249))
}

fn open_shaped(tag: &str, platform: Platform, read_file: u64) -> Arc<Session> {
    let mut c = Config::new(common::fresh_dir(tag), "u", "wx1").with_platform(platform);
    c.limits.read_file = read_file;
    c.limits.user_files = 200 * MIB;
    Session::open(c).unwrap()
}

/// The result as the C ABI returns it (bytes), parsed, with the call's peak heap.
fn call_measured_bytes(s: &Session, api: &str, args: &Value) -> (i32, Value, u64) {
    let text = args.to_string();
    let ((c, bytes), peak) = peak_during(|| bridge::invoke_bytes(s, api, &text));
    (c, serde_json::from_slice(&bytes).unwrap(), peak)
}

/// The issue's tree under `usr`: 7 nested directories, then `files` empty files in the deepest.
/// Returns the deepest directory's path below the area.
fn deep_tree(s: &Session, files: usize) -> String {
    let rel = (0..7).map(name).collect::<Vec<_>>().join("/");
    let deep = s.sandbox.dir().join("usr").join(&rel);
    std::fs::create_dir_all(&deep).unwrap();
    for i in 0..files {
        std::fs::File::create(deep.join(name(i))).unwrap();
    }
    rel
}

/// What `api` answers on this sandbox's platform for a result past the budget: WeChat's words
/// and code, or the platform's rendering of them (the same as an oversized readFile's).
fn refusal(s: &Session, api: &str) -> (i32, String) {
    if s.config.platform == Platform::Wechat {
        return (1300202, format!("{api}:fail native buffer exceed size limit"));
    }
    let big = s.sandbox.dir().join("usr/big.bin");
    std::fs::write(&big, vec![0u8; s.config.limits.read_file as usize + 1]).unwrap();
    let top = s.config.platform.dialect().user_data_path.clone();
    let (c, v, _) = call_measured_bytes(s, "readFileSync", &json!({"filePath": format!("{top}/big.bin")}));
    std::fs::remove_file(big).unwrap();
    (c, v.to_string())
}

fn assert_refused(s: &Session, api: &str, got: &(i32, Value, u64), limit: u64) {
    let (c, v, peak) = got;
    let (code, words) = refusal(s, api);
    if s.config.platform == Platform::Wechat {
        assert_eq!((*c, v["errMsg"].as_str().unwrap(), &v["errCode"]), (code, words.as_str(), &json!(code)), "{v:.300}");
    } else {
        assert_eq!(*c, code, "{api}: {v:.300}, an oversized readFile: {words}");
    }
    assert!(*peak <= 5 * limit, "{api}: peak {peak} bytes for a {limit}-byte readFile limit");
    println!("{api}: refused, peak {peak} bytes ({:.2}x the readFile limit)", *peak as f64 / limit as f64);
}

#[test]
fn a_recursive_stat_of_the_issues_tree_fails_within_the_budget_on_every_shape() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (files, limit) = if full() { (199_993, 100 * MIB) } else { (12_000, 8 * MIB) };
    // WeChat's array, Alipay's object keyed by path, Douyin's array carried twice.
    for platform in [Platform::Wechat, Platform::Alipay, Platform::Douyin] {
        let s = open_shaped("list-stat", platform, limit);
        deep_tree(&s, files);
        let top = s.config.platform.dialect().user_data_path.clone();
        let got = call_measured_bytes(&s, "statSync", &json!({"path": top, "recursive": true}));
        assert_refused(&s, "statSync", &got, limit);
        // A tree within the budget is listed whole, in order, within the same multiple.
        for d in ["s", "s/b", "s/a", "s/a/c"] {
            assert_eq!(call_measured_bytes(&s, "mkdirSync", &json!({"dirPath": format!("{top}/{d}")})).0, 0);
        }
        let (c, v, peak) = call_measured_bytes(&s, "statSync", &json!({"path": format!("{top}/s"), "recursive": true}));
        assert_eq!(c, 0, "{v:.300}");
        let n = match &v["stats"] {
            Value::Array(a) => {
                assert_eq!(a[0]["path"], "/");
                let paths: Vec<&str> = a.iter().map(|e| e["path"].as_str().unwrap()).collect();
                assert_eq!(paths, ["/", "/a", "/a/c", "/b"]);
                a.len()
            }
            Value::Object(o) => o.len(),
            other => panic!("{other:.100}"),
        };
        assert_eq!(n, 4);
        assert!(peak <= 5 * limit);
        if platform == Platform::Douyin {
            assert_eq!(v["stat"], v["stats"]);
        }
    }
}

#[test]
fn readdir_and_saved_file_lists_count_against_the_budget() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let files = if full() { 199_993 } else { 12_000 };
    // At the default limit the names fit (about 260 bytes each): listed whole, in order.
    let limit = 100 * MIB;
    let s = open_shaped("list-readdir", Platform::Wechat, limit);
    let deep = deep_tree(&s, files);
    let (c, v, peak) = call_measured_bytes(&s, "readdirSync", &json!({"dirPath": format!("wxfile://usr/{deep}")}));
    assert_eq!(c, 0, "{v:.300}");
    let listed = v["files"].as_array().unwrap();
    assert_eq!(
        (listed.len(), listed[0].as_str().unwrap(), listed[files - 1].as_str().unwrap()),
        (files, name(0).as_str(), name(files - 1).as_str())
    );
    assert!(peak <= 5 * limit, "readdir: {peak}");
    println!("readdirSync of {files} names: peak {peak} bytes");
    drop(s);
    // Under a limit the names do not fit: refused, within the multiple.
    let limit = MIB;
    let s = open_shaped("list-readdir-small", Platform::Wechat, limit);
    let deep = deep_tree(&s, 12_000);
    let got = call_measured_bytes(&s, "readdirSync", &json!({"dirPath": format!("wxfile://usr/{deep}")}));
    assert_refused(&s, "readdirSync", &got, limit);
    // Saved files (the store area, and Douyin's user dir) alike.
    let store = s.sandbox.dir().join("store");
    for i in 0..12_000 {
        std::fs::File::create(store.join(format!("store_{i:06}{}", "n".repeat(243)))).unwrap();
    }
    let got = call_measured_bytes(&s, "getSavedFileListSync", &json!({}));
    assert_refused(&s, "getSavedFileListSync", &got, limit);
    drop(s);
    let s = open_shaped("list-saved-douyin", Platform::Douyin, limit);
    let user = s.sandbox.dir().join("usr");
    for i in 0..12_000 {
        std::fs::File::create(user.join(name(i))).unwrap();
    }
    let got = call_measured_bytes(&s, "getSavedFileList", &json!({}));
    assert_refused(&s, "getSavedFileList", &got, limit);
}

#[test]
fn storage_keys_and_zip_entries_count_against_the_budget() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let limit = MIB;
    let s = open_shaped("list-keys", Platform::Wechat, limit);
    // 10,000 keys of 255 bytes: 2.6 MB of keys' text, within the 10 MiB storage total.
    let list: Vec<Value> = (0..10_000).map(|i| json!({"key": name(i), "data": 0})).collect();
    let (c, v, _) = call_measured_bytes(&s, "batchSetStorageSync", &json!({"kvList": list}));
    assert_eq!(c, 0, "{v:.300}");
    let got = call_measured_bytes(&s, "getStorageInfoSync", &json!({}));
    assert_refused(&s, "getStorageInfoSync", &got, limit);
    // Within the budget: every key, in order.
    let s2 = open_shaped("list-keys-fit", Platform::Wechat, 100 * MIB);
    let list: Vec<Value> = (0..1_000).map(|i| json!({"key": name(i), "data": 0})).collect();
    assert_eq!(call_measured_bytes(&s2, "batchSetStorageSync", &json!({"kvList": list})).0, 0);
    let (c, v, _) = call_measured_bytes(&s2, "getStorageInfoSync", &json!({}));
    assert_eq!(c, 0);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!((keys.len(), keys[999].as_str().unwrap()), (1_000, name(999).as_str()));
    // A zip of 4,000 empty entries with 255-byte names: readZipEntry "all" is refused.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..4_000 {
        w.start_file(name(i), opts).unwrap();
    }
    let zip = w.finish().unwrap().into_inner();
    std::fs::write(s.sandbox.dir().join("usr/many.zip"), &zip).unwrap();
    let got = call_measured_bytes(&s, "readZipEntry", &json!({"filePath": "wxfile://usr/many.zip", "entries": "all"}));
    assert_refused(&s, "readZipEntry", &got, limit);
}
