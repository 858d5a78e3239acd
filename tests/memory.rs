//! Every allocation an input drives is bounded by the bytes that really arrive
//! or by a stated limit, never by a size the input declares; one call's memory stays within a
//! small stated multiple of its limit (README: at most five times the readFile limit for a text
//! result, twice for bytes).
//!
//! This binary counts every allocation of the calling thread (the bridge runs a sync call on
//! the caller's thread), so a test reads the peak of live heap bytes while one call runs.

mod common;

use std::io::Write;

use base64::Engine as _;
use serde_json::{json, Value};
use wxfs::{bridge, Config, Session};

#[global_allocator]
static ALLOC: common::Counting = common::Counting(common::thread_heap::track);

use common::thread_heap::peak_during;

const MIB: u64 = 1 << 20;

fn session_reading(tag: &str, read_limit: u64) -> std::sync::Arc<Session> {
    let mut c = Config::new(common::fresh_dir(tag), "u", "wx1");
    c.limits.read_file = read_limit;
    c.limits.user_files = 64 * MIB;
    Session::open(c).unwrap()
}

fn call_measured(s: &Session, api: &str, args: &Value) -> (i32, Value, u64) {
    let text = args.to_string();
    let ((c, v), peak) = peak_during(|| bridge::invoke(s, api, &text));
    (c, v, peak)
}

fn put(s: &Session, path: &str, bytes: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let (c, v, _) =
        call_measured(s, "writeFileSync", &json!({"filePath": path, "__nativeBuffers__": [{"key": "data", "base64": b64}]}));
    assert_eq!(c, 0, "{v}");
}

/// A zip whose one stored entry holds `real` bytes but declares `declared` in both headers.
fn lying_zip(real: &[u8], declared: u32) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("big.bin", opts).unwrap();
    w.write_all(real).unwrap();
    let mut bytes = w.finish().unwrap().into_inner();
    let patch = |bytes: &mut Vec<u8>, sig: &[u8; 4], at: usize| {
        let i = bytes.windows(4).position(|x| x == sig).unwrap();
        bytes[i + at..i + at + 4].copy_from_slice(&declared.to_le_bytes());
    };
    patch(&mut bytes, b"PK\x03\x04", 22); // local header: uncompressed size
    patch(&mut bytes, b"PK\x01\x02", 24); // central directory: uncompressed size
    bytes
}

#[test]
fn a_declared_entry_size_never_sizes_an_allocation() {
    let s = session_reading("mem-zip", 100 * MIB);
    put(&s, "wxfile://usr/lie.zip", &lying_zip(b"ten bytes!", 100 * 1024 * 1024));
    for args in [
        json!({"filePath": "wxfile://usr/lie.zip", "entries": [{"path": "big.bin"}]}),
        json!({"filePath": "wxfile://usr/lie.zip", "entries": "all"}),
    ] {
        for _ in 0..20 {
            let (_, v, peak) = call_measured(&s, "readZipEntry", &args);
            assert!(peak < 2 * MIB, "readZipEntry of a 10-byte entry declaring 100 MiB used {peak} bytes: {v}");
        }
    }
}

#[test]
fn a_text_result_is_bounded_before_it_is_built() {
    let s = session_reading("mem-text", MIB);
    put(&s, "wxfile://usr/nul.bin", &vec![0u8; MIB as usize]);
    // utf8 of NUL bytes is six bytes of JSON escape per byte: refused, and never built.
    for enc in ["utf8", "ascii", "latin1", "ucs2"] {
        let (c, v, peak) = call_measured(&s, "readFileSync", &json!({"filePath": "wxfile://usr/nul.bin", "encoding": enc}));
        assert_eq!((c, v["errMsg"].as_str().unwrap()), (1300202, "readFileSync:fail native buffer exceed size limit"), "{enc}");
        assert!(peak <= 2 * MIB, "{enc}: {peak} bytes to refuse a 1 MiB read");
    }
    // What fits is served within the stated multiple of the limit: base64 and hex of a file at
    // the limit, and plain text.
    let text: Vec<u8> = (0..MIB).map(|i| b'a' + (i % 26) as u8).collect();
    put(&s, "wxfile://usr/text.txt", &text);
    for (path, enc) in [("nul.bin", "base64"), ("nul.bin", "hex"), ("text.txt", "utf8"), ("text.txt", "latin1")] {
        let (c, v, peak) =
            call_measured(&s, "readFileSync", &json!({"filePath": format!("wxfile://usr/{path}"), "encoding": enc}));
        assert_eq!(c, 0, "{enc}: {}", v["errMsg"]);
        assert!(peak <= 5 * MIB, "{path} as {enc}: {peak} bytes for a 1 MiB limit");
    }
    let (c, _, peak) = call_measured(&s, "readFileSync", &json!({"filePath": "wxfile://usr/nul.bin"}));
    assert_eq!(c, 0);
    assert!(peak <= 3 * MIB, "bytes: {peak}");
    // readZipEntry's text results share one budget.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..3 {
        w.start_file(format!("z{i}"), opts).unwrap();
        w.write_all(&vec![0u8; 300 * 1024]).unwrap();
    }
    put(&s, "wxfile://usr/nul.zip", &w.finish().unwrap().into_inner());
    let (c, v, peak) =
        call_measured(&s, "readZipEntry", &json!({"filePath": "wxfile://usr/nul.zip", "entries": "all", "encoding": "utf8"}));
    assert_eq!(c, 1300202, "{}", v["errMsg"]);
    assert!(peak <= 3 * MIB, "{peak}");
}
