//! The storage-log decoder and the open path: arbitrary bytes as a record, and as the records of
//! a whole log file, in the current format (version 2, a preallocated file with a zero tail) and
//! in release 0.1.0's (version 1, upgraded at open). A record is accepted only with its correct
//! CRC; opening never panics, keeps exactly the whole records before the first bad one, leaves
//! no byte after them, and opens again to the same keys.
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
        assert_eq!(report.upgraded_from, (version == 1).then_some(1));
        let keys = store.keys();
        let size = store.size();
        drop(store);
        let after = wxfs::storage::verify(&dir).unwrap();
        assert_eq!((after.bad_tail, after.old_version), (0, None));
        let (store, report) = wxfs::storage::Store::open(&dir, wxfs::storage::Durability::Process).unwrap();
        assert_eq!((report.truncated_bytes, report.upgraded_from), (0, None));
        assert_eq!((store.keys(), store.size()), (keys, size));
    }
});
