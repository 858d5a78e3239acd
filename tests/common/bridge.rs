//! Calls through the bridge in-process (`wxfs::bridge::invoke`, what the C ABI's `wxfs_invoke`
//! runs), with JSON arguments.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};
use wxfs::{Config, Session};

/// A fresh sandbox (user `u`, app `wx1`) under a fresh root.
pub fn session(tag: &str) -> Arc<Session> {
    Session::open(Config::new(super::fresh_dir(tag), "u", "wx1")).unwrap()
}

/// The code and the result of one call.
pub fn call(s: &Session, api: &str, args: Value) -> (i32, Value) {
    wxfs::bridge::invoke(s, api, &args.to_string())
}

/// Succeeds (code 0); returns the result.
pub fn ok(s: &Session, api: &str, args: Value) -> Value {
    let (c, r) = call(s, api, args.clone());
    assert_eq!(c, 0, "{api} {args}: {r}");
    r
}

/// Succeeds with code 0 and errMsg `<api>:ok`; returns the result.
pub fn succeeds(s: &Session, api: &str, args: Value) -> Value {
    let (c, r) = call(s, api, args);
    assert_eq!(c, 0, "{api}: {r}");
    assert_eq!(r["errMsg"], format!("{api}:ok"));
    r
}

/// Fails with exactly this errMsg and errCode (the code the call returns, too).
pub fn fails(s: &Session, api: &str, args: Value, msg: &str, code: i64) {
    let (c, r) = call(s, api, args);
    assert_eq!(r["errMsg"], msg, "{api}: {r}");
    assert_eq!(r["errCode"], code, "{api}: {r}");
    assert_eq!(c as i64, code);
}

/// Bytes as the bridge carries them in `__nativeBuffers__`.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `writeFileSync`'s arguments for these bytes at `path`.
pub fn write_bytes_args(path: &str, bytes: &[u8]) -> Value {
    json!({"filePath": path, "__nativeBuffers__": [{"key": "data", "base64": b64(bytes)}]})
}

/// The bytes of the result's native buffer `key`.
pub fn buffer(r: &Value, key: &str) -> Vec<u8> {
    let e = r["__nativeBuffers__"].as_array().unwrap().iter().find(|e| e["key"] == key).unwrap();
    base64::engine::general_purpose::STANDARD.decode(e["base64"].as_str().unwrap()).unwrap()
}
