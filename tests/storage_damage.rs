//! One damaged record in the middle of the storage log costs only itself (docs/design.md §5):
//! open resynchronises at the next whole record, recovers every whole record after the damage,
//! keeps the damaged bytes in `kv/data.log.damaged-<crc32>` and reports it at ERROR with counts.

mod common;

use std::path::{Path, PathBuf};

use common::logger::{heard, listen};
use wxfs::storage::Value;
use wxfs::{Config, Session};

fn data(i: usize) -> String {
    format!("\"value {i:03} {}\"", "x".repeat(i % 37))
}

/// Sets `k000`..`k299` and closes; returns the sandbox's `kv` directory.
fn three_hundred_items(root: &Path, user: &str) -> PathBuf {
    let s = Session::open(Config::new(root, user, "wx1")).unwrap();
    let limits = s.storage_limits(false);
    for i in 0..300 {
        s.store.set(&format!("k{i:03}"), Value { data: data(i), data_type: None }, limits).unwrap();
    }
    let kv = s.sandbox.dir().join("kv");
    drop(s);
    kv
}

/// Where each record's frame lies in `bytes` (a whole log file): (start, end).
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 8;
    let mut v = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        v.push((at, at + 8 + len));
        at += 8 + len;
    }
    v
}

/// Damages record 100 of `kv/data.log` with `damage` (given the frame's bytes); returns the
/// damaged frame as it now is on disk.
fn damage_record_100(kv: &Path, damage: impl Fn(&mut [u8])) -> Vec<u8> {
    let path = kv.join("data.log");
    let mut bytes = std::fs::read(&path).unwrap();
    let f = frames(&bytes);
    assert_eq!(f.len(), 300, "one record a set");
    let (start, end) = f[100];
    damage(&mut bytes[start..end]);
    std::fs::write(&path, &bytes).unwrap();
    bytes[start..end].to_vec()
}

fn damaged_files(kv: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(kv)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("data.log.damaged-"))
        .collect();
    v.sort();
    v
}

/// Opens, checks that all but `k100` read back with their exact values, the aside file holds
/// `frame`, the event; then a second open is clean.
fn check_recovered(root: &Path, user: &str, kv: &Path, frame: &[u8]) {
    let s = Session::open(Config::new(root, user, "wx1")).unwrap();
    let keys = s.store.keys();
    assert_eq!(keys.len(), 299);
    for i in 0..300 {
        let got = s.store.get(&format!("k{i:03}")).map(|v| v.data);
        assert_eq!(got, (i != 100).then(|| data(i)), "k{i:03}");
    }
    drop(s);
    let aside = damaged_files(kv);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), frame, "the damaged bytes are kept as they were");
    let name = aside[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        heard(&format!("{user}/")),
        vec![
            (log::Level::Debug, format!("{user}/wx1: sandbox created")),
            (
                log::Level::Error,
                format!(
                    "{user}/wx1: {user}/wx1/kv: storage log damaged in the middle: 1 record(s) lost, 199 whole record(s) after the damage recovered, {} bytes kept as {user}/wx1/kv/{name}",
                    frame.len()
                )
            ),
            (log::Level::Debug, format!("{user}/wx1: {user}/wx1/kv: storage log compacted at open")),
        ]
    );
    // The log was rewritten without the damage: the next open is quiet and finds the same.
    let s = Session::open(Config::new(root, user, "wx1")).unwrap();
    assert_eq!(s.store.keys().len(), 299);
    assert_eq!(s.store.get("k299").unwrap().data, data(299));
    drop(s);
    assert_eq!(heard(&format!("{user}/")).len(), 3, "{:?}", heard(&format!("{user}/")));
    assert_eq!(common::files::store_files(kv), ["data.log".to_string(), name]);
}

#[test]
fn one_flipped_payload_byte_costs_only_its_record() {
    listen();
    let root = common::fresh_dir("storage-damage-flip");
    let kv = three_hundred_items(&root, "flip");
    // A byte of the value, in the middle of the payload: the CRC fails.
    let frame = damage_record_100(&kv, |f| {
        let i = f.len() - 3;
        f[i] ^= 0x20;
    });
    check_recovered(&root, "flip", &kv, &frame);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn an_unknown_op_with_its_crc_fixed_costs_only_its_record() {
    listen();
    let root = common::fresh_dir("storage-damage-op");
    let kv = three_hundred_items(&root, "op");
    // The CRC matches, the payload does not decode.
    let frame = damage_record_100(&kv, |f| {
        f[8] = 0x7e;
        let crc = crc32fast::hash(&f[8..]);
        f[4..8].copy_from_slice(&crc.to_le_bytes());
    });
    check_recovered(&root, "op", &kv, &frame);
    let _ = std::fs::remove_dir_all(root);
}
