//! What an open store costs is bounded by the limits, whatever the number of
//! items. The total admits at most one item per `storage::ITEM_OVERHEAD` (32) bytes of it
//! (docs/wechat-behaviour.md §10), so the 10 MiB default admits at most 327,680 items, however
//! small, and no more than that is ever indexed.
//!
//! This binary counts every allocation of the calling thread (a sync call and an open run on
//! it), so a test reads the peak of live heap bytes while the open runs. The open's time and
//! the process's RSS are measured in `benches/store_bounds.rs`.

mod common;

use serde_json::json;
use wxfs::storage::ITEM_OVERHEAD;
use wxfs::{bridge, Config, Session};

#[global_allocator]
static ALLOC: common::Counting = common::Counting(common::thread_heap::track);

use common::thread_heap::peak_during;

const TOTAL: u64 = 10 << 20;

/// The `i`th 4-character key (4 base-64 digits: 16,777,216 keys).
fn key(i: usize) -> String {
    const DIGITS: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
    (0..4).map(|d| DIGITS[(i >> (6 * d)) & 63] as char).collect()
}

/// batchSetStorageSync's arguments: `{key, value: 0}` for each key (written as text: a
/// `Value` per item would make the 2-million-item test slow for nothing).
fn kv_list(keys: std::ops::Range<usize>) -> String {
    let mut s = String::from(r#"{"kvList":["#);
    for i in keys {
        s.push_str(r#"{"key":""#);
        s.push_str(&key(i));
        s.push_str(r#"","value":0},"#);
    }
    if s.ends_with(',') {
        s.pop();
    }
    s + "]}"
}

fn log_len(root: &std::path::Path) -> u64 {
    let kv = wxfs::sandbox::sandbox_dir(root, b"u", b"wx1").join("kv");
    std::fs::metadata(kv.join("data.log")).unwrap().len()
}

#[test]
fn two_million_tiny_items_fail_the_total_and_change_nothing() {
    let root = common::fresh_dir("items-2m");
    let s = Session::open(Config::new(&root, "u", "wx1")).unwrap();
    // An empty store: by bytes alone the batch fits exactly.
    let len = log_len(&root);
    // 2,097,152 items of 4 + 1 bytes: 10 MiB of keys and data, as the issue found them
    // admitted (and costing 233 MiB of RSS and 3 s per open); 6.4 times the items admitted.
    let n = 2_097_152;
    assert_eq!(n * (4 + 1), TOTAL as usize);
    let args = kv_list(0..n);
    let (rc, r) = bridge::invoke(&s, "batchSetStorageSync", &args);
    assert_eq!(
        (rc, r),
        (1400003, json!({"errMsg": "batchSetStorageSync:fail exceed storage max size 10Mb", "errCode": 1400003}))
    );
    // Nothing changed: not in memory, not on disk, not after a reopen.
    let (_, info) = bridge::invoke(&s, "getStorageInfoSync", "{}");
    assert_eq!((info["keys"].clone(), info["currentSize"].clone()), (json!([]), json!(0)));
    assert_eq!(log_len(&root), len);
    drop(s);
    let s = Session::open(Config::new(&root, "u", "wx1")).unwrap();
    assert_eq!(s.store.len(), 0);
}

#[test]
fn the_most_items_the_total_admits_open_within_a_bounded_heap() {
    let root = common::fresh_dir("items-most");
    let s = Session::open(Config::new(&root, "u", "wx1")).unwrap();
    let most = (TOTAL / ITEM_OVERHEAD) as usize;
    assert_eq!(most, 327_680);
    let mut n = 0;
    while n + 10_000 <= most {
        let (rc, r) = bridge::invoke(&s, "batchSetStorageSync", &kv_list(n..n + 10_000));
        assert_eq!(rc, 0, "{r}");
        n += 10_000;
    }
    let (rc, r) = bridge::invoke(&s, "batchSetStorageSync", &kv_list(n..most));
    assert_eq!(rc, 0, "{r}");
    // One more item, however small, is refused; an overwrite of the same size is not.
    let (rc, r) = bridge::invoke(&s, "setStorageSync", &json!({"key": key(most), "data": 0}).to_string());
    assert_eq!((rc, r["errMsg"].as_str().unwrap()), (1400003, "setStorageSync:fail exceed storage max size 10Mb"));
    let (rc, r) = bridge::invoke(&s, "setStorageSync", &json!({"key": key(0), "data": 1}).to_string());
    assert_eq!(rc, 0, "{r}");
    // currentSize is what WeChat reports, key and data bytes (docs/wechat-behaviour.md §10):
    // the count, not the bytes, refused the item.
    let info = bridge::invoke(&s, "getStorageInfoSync", "{}").1;
    assert_eq!(info["currentSize"], json!((most as u64 * 5).div_ceil(1024)));
    assert_eq!(info["keys"].as_array().unwrap().len(), most);
    drop(info);
    drop(s);

    // The open's heap: the index (24-byte entries, a table at most 7/8 full: 512 Ki slots for
    // these items, 12.5 MiB with its control bytes), and nothing per item beside it. Its peak
    // is the table's last growth, the old table (6.25 MiB) beside the new: 18.75 MiB. Before
    // the overhead was counted, 2,097,152 items made it 196 MiB.
    let (s, peak) = peak_during(|| Session::open(Config::new(&root, "u", "wx1")).unwrap());
    assert_eq!(s.store.len(), most);
    assert!(peak <= 20 << 20, "the open of {most} items peaked at {peak} heap bytes");
}
