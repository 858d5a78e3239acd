//! The storage-log decoder and the open path: arbitrary bytes as a record, and as a whole log
//! file. A record is accepted only with its correct CRC; opening never panics and keeps exactly
//! the whole records before the first bad one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = wxfs::storage::fuzz_decode_record(data) {
        assert!(n >= 8 && n <= data.len());
        let len = u32::from_le_bytes(data[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(data[4..8].try_into().unwrap());
        assert_eq!(n, 8 + len);
        assert_eq!(crc32fast::hash(&data[8..n]), crc, "accepted a record with a wrong CRC");
    }
    let dir = std::env::temp_dir().join(format!("wxfs-fuzz-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = b"WXKV\x01\x00\x00\x00".to_vec();
    file.extend_from_slice(data);
    std::fs::write(dir.join("data.log"), &file).unwrap();
    let v = wxfs::storage::verify(&dir).unwrap();
    if let Ok((store, report)) = wxfs::storage::Store::open(&dir, wxfs::storage::Durability::Process) {
        assert_eq!(report.records, v.records);
        assert_eq!(report.truncated_bytes, v.bad_tail);
        let _ = store.keys();
    }
});
