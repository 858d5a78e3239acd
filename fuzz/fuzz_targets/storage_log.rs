//! The storage-log decoder and the open path: arbitrary bytes as a record, and as the records of
//! a whole log file, in the current format (version 2, a preallocated file with a zero tail) and
//! in release 0.1.0's (version 1, upgraded at open). A record is accepted only with its correct
//! CRC; opening never panics, reads the whole records verify counts (past damage in the middle),
//! leaves no bad byte after them, and opens again to the same keys.
//!
//! Damage mode (bit 1 of the first byte): a valid log written by the store (one set a key, the
//! values printable), then a random byte range in its middle overwritten with one byte value.
//! After recovery every record wholly outside the range is present with its exact value, nothing
//! else is, the damaged bytes are kept aside, and the next open finds no damage.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = wxfs::storage::fuzz_decode_record(data) {
        assert!(n > 8 && n <= data.len());
        let len = u32::from_le_bytes(data[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(data[4..8].try_into().unwrap());
        assert_eq!(n, 8 + len);
        assert_eq!(crc32fast::hash(&data[8..n]), crc, "accepted a record with a wrong CRC");
    }
    let Some((&first, records)) = data.split_first() else { return };
    if first & 2 == 2 {
        return damaged_middle(records);
    }
    let dir = std::env::temp_dir().join(format!("wxfs-fuzz-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let version = if first & 1 == 0 { 2u8 } else { 1 };
    let mut file = vec![b'W', b'X', b'K', b'V', version, 0, 0, 0];
    file.extend_from_slice(records);
    if version == 2 {
        // The preallocated tail.
        file.resize(file.len() + (first as usize >> 1) * 16, 0);
    }
    std::fs::write(dir.join("data.log"), &file).unwrap();
    let v = wxfs::storage::verify(&dir).unwrap();
    if let Ok((store, report)) = wxfs::storage::Store::open(&dir, wxfs::storage::Durability::Process) {
        assert_eq!(report.records, v.records);
        assert_eq!(report.truncated_bytes, v.bad_tail);
        assert_eq!(report.damaged.as_ref().map_or(0, |d| d.bytes), v.damaged);
        assert_eq!(report.upgraded_from, (version == 1).then_some(1));
        let keys = store.keys();
        let size = store.size();
        drop(store);
        let after = wxfs::storage::verify(&dir).unwrap();
        assert_eq!((after.bad_tail, after.damaged, after.old_version), (0, 0, None));
        let (store, report) = wxfs::storage::Store::open(&dir, wxfs::storage::Durability::Process).unwrap();
        assert_eq!((report.truncated_bytes, report.upgraded_from, report.damaged), (0, None, None));
        assert_eq!((store.keys(), store.size()), (keys, size));
    }
});

/// Damage mode: `data` = range start (2 bytes), range length, fill byte, then the values (each a
/// length byte and that many bytes, mapped to letters).
fn damaged_middle(data: &[u8]) {
    use wxfs::storage::{Durability, Limits, Store, Value};
    if data.len() < 5 {
        return;
    }
    let (at, len, fill) = (u16::from_le_bytes([data[0], data[1]]) as usize, data[2] as usize + 1, data[3]);
    let mut values = Vec::new();
    let mut rest = &data[4..];
    while let Some((&n, tail)) = rest.split_first() {
        let n = (n as usize).min(tail.len());
        let text: String = tail[..n].iter().map(|b| char::from(b'a' + b % 26)).collect();
        values.push(format!("\"{text}\""));
        rest = &tail[n..];
    }
    if values.len() < 2 {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wxfs-fuzz-damage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let limits = Limits { item: u64::MAX, total: u64::MAX };
    let (store, _) = Store::open(&dir, Durability::Process).unwrap();
    for (i, v) in values.iter().enumerate() {
        store.set(&format!("k{i}"), Value { data: v.clone(), data_type: None }, limits).unwrap();
    }
    drop(store);
    let path = dir.join("data.log");
    let mut file = std::fs::read(&path).unwrap();
    // Where each record lies: one set a key, in order.
    let mut frames = Vec::new();
    let mut off = 8;
    while off + 8 <= file.len() {
        let n = u32::from_le_bytes(file[off..off + 4].try_into().unwrap()) as usize;
        if n == 0 {
            break;
        }
        frames.push(off..off + 8 + n);
        off += 8 + n;
    }
    assert_eq!(frames.len(), values.len());
    // A range that starts inside the log, after its header.
    let start = 8 + at % (off - 8);
    let end = (start + len).min(file.len());
    file[start..end].fill(fill);
    std::fs::write(&path, &file).unwrap();
    let (store, report) = Store::open(&dir, Durability::Process).unwrap();
    for (i, (v, f)) in values.iter().zip(&frames).enumerate() {
        let got = store.get(&format!("k{i}")).map(|v| v.data);
        if f.end <= start || f.start >= end {
            assert_eq!(got.as_ref(), Some(v), "k{i} at {f:?} is outside the damage {start}..{end} and lost");
        } else if let Some(got) = got {
            assert_eq!(&got, v, "k{i} at {f:?} in the damage {start}..{end} read back changed");
        }
    }
    assert!(store.keys().iter().all(|k| k[1..].parse::<usize>().is_ok_and(|i| i < values.len())));
    let keys = store.keys();
    drop(store);
    if let Some(d) = &report.damaged {
        let kept = std::fs::read(d.kept.as_ref().unwrap()).unwrap();
        assert_eq!(kept.len() as u64, d.bytes);
    }
    let (store, report) = Store::open(&dir, Durability::Process).unwrap();
    assert_eq!((report.damaged, report.truncated_bytes), (None, 0));
    assert_eq!(store.keys(), keys);
}
