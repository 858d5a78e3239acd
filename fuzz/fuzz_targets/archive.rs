//! Zip and brotli inputs through unzip, readZipEntry and readCompressedFile: no panic, nothing
//! written outside the target (or the sandbox), the quota journal exact, bombs refused.
#![no_main]

#[path = "common.rs"]
mod common;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use once_cell::sync::Lazy;
use serde_json::json;

static WORLD: Lazy<common::World> = Lazy::new(common::world);

fuzz_target!(|data: &[u8]| {
    let w = &*WORLD;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let (c, _) = w.call(
        "writeFileSync",
        &json!({"filePath": "wxfile://usr/in.bin", "__nativeBuffers__": [{"key": "data", "base64": b64}]}).to_string(),
    );
    if c != 0 {
        return;
    }
    w.call("unzip", &json!({"zipFilePath": "wxfile://usr/in.bin", "targetPath": "wxfile://usr/x"}).to_string());
    w.call("readZipEntry", &json!({"filePath": "wxfile://usr/in.bin", "entries": "all"}).to_string());
    w.call(
        "readZipEntry",
        &json!({"filePath": "wxfile://usr/in.bin", "entries": [{"path": "a.txt", "encoding": "utf8"}]}).to_string(),
    );
    w.call("readCompressedFileSync", &json!({"filePath": "wxfile://usr/in.bin", "compressionAlgorithm": "br"}).to_string());
    w.check();
    w.call("rmdirSync", &json!({"dirPath": "wxfile://usr/x", "recursive": true}).to_string());
});
