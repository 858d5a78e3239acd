//! Everything stored for an item counts against the storage limits, and the
//! typed C API admits exactly the data the bridge admits (one validator for both).

mod common;

use common::abi::Lib;
use serde_json::{json, Value};

/// `wxfs_storage_set`.
fn typed_set(lib: &Lib, h: u64, key: &str, json: &str, data_type: Option<&str>) -> i32 {
    let (t, tl) = data_type.map_or((std::ptr::null(), 0), |t| (t.as_ptr(), t.len()));
    // SAFETY: valid buffers for the call.
    unsafe { (lib.storage_set)(h, key.as_ptr(), key.len(), json.as_ptr(), json.len(), t, tl) }
}

/// `wxfs_storage_info`'s bytes used.
fn bytes_used(lib: &Lib, h: u64) -> u64 {
    let mut n = 0;
    // SAFETY: a valid out-pointer; the others may be NULL.
    assert_eq!(unsafe { (lib.storage_info)(h, &mut n, std::ptr::null_mut(), std::ptr::null_mut()) }, 0);
    n
}

fn open_limited(lib: &Lib, tag: &str, limits: Value) -> u64 {
    let root = common::fresh_dir(tag);
    lib.open(&json!({"root": root, "userId": "u", "appId": "wx1", "limits": limits})).unwrap()
}

#[test]
fn data_type_counts_against_the_item_and_total_limits() {
    let lib = Lib::load();
    let h = open_limited(&lib, "dtype-limits", json!({"storageItem": 100, "storageTotal": 300}));
    let big_type = "T".repeat(200);
    // key 1 + data 3 + dataType 200 = 204 > 100, through either entry point.
    let (rc, v) = lib.invoke(h, "setStorageSync", &json!({"key": "k", "data": "x", "dataType": big_type}));
    assert_eq!(rc, 1400002, "{v}");
    assert_eq!(typed_set(&lib, h, "k", "\"x\"", Some(&big_type)), 1400002);
    assert_eq!(bytes_used(&lib, h), 0);
    // 1 + 3 + 90 = 94 each: three fit in 300, a fourth does not.
    let t90 = "D".repeat(90);
    for k in ["a", "b"] {
        let (rc, v) = lib.invoke(h, "setStorageSync", &json!({"key": k, "data": "x", "dataType": t90}));
        assert_eq!(rc, 0, "{v}");
    }
    assert_eq!(typed_set(&lib, h, "c", "\"x\"", Some(&t90)), 0);
    assert_eq!(bytes_used(&lib, h), 282);
    assert_eq!(typed_set(&lib, h, "d", "\"x\"", Some(&t90)), 1400003);
    let (rc, v) = lib.invoke(h, "batchSetStorageSync", &json!({"kvList": [{"key": "d", "value": "x", "dataType": t90}]}));
    assert_eq!(rc, 1400003, "{v}");
    let (_, info) = lib.invoke(h, "getStorageInfoSync", &json!({}));
    assert_eq!(info["keys"], json!(["a", "b", "c"]));
    assert_eq!(lib.close(h), 0);
}

#[test]
fn the_typed_api_stores_exactly_what_the_bridge_accepts() {
    let lib = Lib::load();
    let h = open_limited(&lib, "one-validator", json!({}));
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let cases = [
        r#""\ud800""#.to_string(),
        r#""a\udc00""#.to_string(),
        "1e999".to_string(),
        "-1e400".to_string(),
        deep(1000),
        deep(127),
        deep(126),
        r#""\ud83d\ude00""#.to_string(),
        "[1, {\"a\": null}]".to_string(),
        "1.5e308".to_string(),
        "not json".to_string(),
    ];
    let mut accepted = 0;
    for json in &cases {
        let typed_rc = typed_set(&lib, h, "t", json, None);
        let args = format!(r#"{{"key":"b","data":{json}}}"#);
        let (bridge_rc, v) = lib.invoke_raw(h, "setStorageSync", args.as_bytes());
        assert!(typed_rc == 0 || typed_rc == -4, "{json:.30}: {typed_rc}");
        assert_eq!(typed_rc == 0, bridge_rc == 0, "{json:.30}: typed {typed_rc}, bridge {bridge_rc} {v}");
        if typed_rc == 0 {
            accepted += 1;
            // What was stored reads back as the value itself, never as null.
            let want: Value = serde_json::from_str(json).unwrap();
            let (rc, got) = lib.invoke(h, "getStorageSync", &json!({"key": "t"}));
            assert_eq!((rc, &got["data"]), (0, &want), "{json:.30}");
        }
    }
    assert_eq!(accepted, 4);
    assert_eq!(lib.close(h), 0);
}

#[test]
fn set_storage_stores_and_counts_data_as_the_typed_api_does() {
    // The bridge keeps `data` as the JSON text sent (compacted), as wxfs_storage_set does: both
    // store, count and read back alike, and other fields of the argument object change nothing.
    let lib = Lib::load();
    let h = open_limited(&lib, "set-paths", json!({"storageItem": 64}));
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let datas = [
        r#""x""#.to_string(),
        r#"{"a":1,"b":[1,2,{"c":"d"}]}"#.to_string(),
        r#"{"a":1,"a":2}"#.to_string(),
        "null".to_string(),
        r#""\u00e9\n\"q\"""#.to_string(),
        "1e2".to_string(),
        r#""\ud800""#.to_string(),
        "1e999".to_string(),
        deep(127),
        deep(126),
        format!(r#""{}""#, "x".repeat(70)),
    ];
    for data in &datas {
        let before = bytes_used(&lib, h);
        let typed_rc = typed_set(&lib, h, "k", data, Some("T"));
        let typed_used = bytes_used(&lib, h) - before;
        let (_, typed_got) = lib.invoke(h, "getStorageSync", &json!({"key": "k"}));
        assert_eq!(lib.invoke(h, "clearStorageSync", &json!({})).0, 0);
        for other in ["", r#","other":true"#, r#","encrypt":false"#] {
            let args = format!(r#"{{"key":"k","data":{data},"dataType":"T"{other}}}"#);
            let (rc, v) = lib.invoke_raw(h, "setStorageSync", args.as_bytes());
            let used = bytes_used(&lib, h) - before;
            let (_, got) = lib.invoke(h, "getStorageSync", &json!({"key": "k"}));
            assert_eq!(lib.invoke(h, "clearStorageSync", &json!({})).0, 0);
            assert_eq!(rc == 0, typed_rc == 0, "{data:.40}{other}: {v}");
            assert_eq!((used, &got), (typed_used, &typed_got), "{data:.40}{other}");
        }
    }
    // Arguments the bridge refuses, in the same words whatever else the object carries.
    let refused = [
        r#""key":"","data":1"#,
        r#""key":5,"data":1"#,
        r#""data":1"#,
        r#""key":"k","data":1,"dataType":5"#,
        r#""key":"\ud800","data":1"#,
    ];
    for fields in refused {
        let plain = lib.invoke_raw(h, "setStorageSync", format!("{{{fields}}}").as_bytes());
        let other = lib.invoke_raw(h, "setStorageSync", format!(r#"{{{fields},"other":1}}"#).as_bytes());
        assert_ne!(plain.0, 0, "{fields}");
        assert_eq!(plain, other, "{fields}");
    }
    assert_eq!(lib.invoke(h, "getStorageInfoSync", &json!({})).1["keys"], json!([]));
    assert_eq!(lib.close(h), 0);
}
