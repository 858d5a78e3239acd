//! The quota-journal decoder: arbitrary bytes after a valid header and checkpoint. Replay never
//! panics, never accepts a frame with a wrong CRC, and a torn tail is all it ever cuts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = b"WXQJ\x01\x00\x00\x00".to_vec();
    // A valid checkpoint first, then the fuzzer's bytes.
    let mut payload = vec![1u8];
    payload.extend_from_slice(&7u64.to_le_bytes());
    payload.extend_from_slice(&3u64.to_le_bytes());
    wxfs::io::frame(&mut file, &payload);
    let head = file.len();
    file.extend_from_slice(data);
    for bytes in [&file[..], data] {
        if let Ok(r) = wxfs::quota::journal::replay_bytes(bytes) {
            assert!(r.truncated as usize <= bytes.len());
            // Every frame replay accepted has a correct CRC.
            let mut pos = 8;
            while pos < bytes.len() - r.truncated as usize {
                let (_, n) = wxfs::io::unframe(&bytes[pos..], 16 << 20).expect("accepted frame must unframe");
                pos += n;
            }
        }
    }
    let r = wxfs::quota::journal::replay_bytes(&file).expect("a valid head always replays");
    assert!(r.truncated as usize <= file.len() - head);
});
