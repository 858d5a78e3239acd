//! `wxfs_storage_get_into`: a typed get into a buffer the caller owns. What a host sees: the
//! exact bytes, the size it needs when its buffer is short (and not one byte written then),
//! and the same answers as `wxfs_storage_get` for a missing key, an encrypted item, a plugin's
//! sandbox and bad pointers.

use std::path::PathBuf;
use std::ptr::{null, null_mut};

use serde_json::{json, Value};
use wxfs::ffi::{
    wxfs_bytes, wxfs_bytes_free, wxfs_close, wxfs_invoke, wxfs_last_error_message, wxfs_open, wxfs_storage_get_into,
    wxfs_storage_set, WXFS_E_BUFFER_TOO_SMALL, WXFS_E_HANDLE, WXFS_E_NULL, WXFS_E_UTF8,
};

const NOT_FOUND: i32 = 1400001;
const CANARY: u8 = 0xAA;

fn fresh_root(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("wxfs-get-into-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

fn open(config: &Value) -> u64 {
    let text = config.to_string();
    let mut h = 0;
    // SAFETY: valid buffers for the call.
    assert_eq!(unsafe { wxfs_open(text.as_ptr().cast(), text.len(), &mut h) }, 0, "open {config}");
    h
}

fn set(h: u64, key: &str, json: &str, data_type: Option<&str>) {
    let (dt, dt_len) = data_type.map_or((null(), 0), |t| (t.as_ptr().cast(), t.len()));
    // SAFETY: valid buffers for the call.
    let rc = unsafe { wxfs_storage_set(h, key.as_ptr().cast(), key.len(), json.as_ptr().cast(), json.len(), dt, dt_len) };
    assert_eq!(rc, 0, "set {key}");
}

fn invoke(h: u64, api: &str, args: Value) -> Value {
    let args = args.to_string();
    let mut out = wxfs_bytes { data: null_mut(), len: 0 };
    // SAFETY: valid buffers; the result is read, then freed once.
    unsafe {
        let rc = wxfs_invoke(h, api.as_ptr().cast(), api.len(), args.as_ptr().cast(), args.len(), &mut out);
        let v: Value = serde_json::from_slice(std::slice::from_raw_parts(out.data, out.len)).unwrap();
        wxfs_bytes_free(out);
        assert_eq!(rc, 0, "{api}: {v}");
        v
    }
}

/// The call with a buffer of `cap` usable bytes followed by 16 more, all set to `CANARY`:
/// (status, *out_len, every byte of the buffer afterwards). `*out_len` starts at `usize::MAX`.
fn get_into(h: u64, key: &str, cap: usize) -> (i32, usize, Vec<u8>) {
    let mut buf = vec![CANARY; cap + 16];
    let mut n = usize::MAX;
    // SAFETY: `buf` is writable for `cap` (and more) bytes; `n` is a writable size_t.
    let rc = unsafe { wxfs_storage_get_into(h, key.as_ptr().cast(), key.len(), buf.as_mut_ptr(), cap, &mut n) };
    (rc, n, buf)
}

fn last_error() -> String {
    let mut buf = [0u8; 512];
    let mut n = 0;
    // SAFETY: a writable buffer of its length and a writable size_t.
    assert_eq!(unsafe { wxfs_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut n) }, 0);
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[test]
fn copies_the_exact_json_and_nothing_after_it() {
    let root = fresh_root("exact");
    let h = open(&json!({"root": root, "userId": "u", "appId": "wx1"}));
    let value = r#"{"name":"Ann","tags":["a","b"],"n":-1.5e3,"s":"\u00e9\n"}"#;
    set(h, "user", value, Some("Object"));
    for cap in [value.len(), value.len() + 1, 4096] {
        let (rc, n, buf) = get_into(h, "user", cap);
        assert_eq!((rc, n), (0, value.len()), "cap {cap}");
        assert_eq!(&buf[..n], value.as_bytes(), "cap {cap}");
        assert!(buf[n..].iter().all(|&b| b == CANARY), "cap {cap}: bytes written after the value (no NUL is written)");
    }
    // The buffer is the caller's to reuse: a shorter value after a longer one is exactly its bytes.
    set(h, "n", "7", None);
    let (rc, n, buf) = get_into(h, "n", 64);
    assert_eq!((rc, n, &buf[..1]), (0, 1, &b"7"[..]));
    assert_eq!(last_error(), "");
    wxfs_close(h);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_short_buffer_gets_the_size_needed_and_not_one_byte() {
    let root = fresh_root("short");
    let h = open(&json!({"root": root, "userId": "u", "appId": "wx1"}));
    let value = format!("\"{}\"", "x".repeat(1000));
    set(h, "big", &value, None);
    for cap in [0, 1, 64, value.len() - 1] {
        let (rc, n, buf) = get_into(h, "big", cap);
        assert_eq!((rc, n), (WXFS_E_BUFFER_TOO_SMALL, value.len()), "cap {cap}");
        assert!(buf.iter().all(|&b| b == CANARY), "cap {cap}: the buffer was written");
        assert_eq!(last_error(), "buf is too small for the value; *out_len is the size needed");
    }
    // NULL with a capacity of 0 asks for the size alone.
    let mut n = 0;
    // SAFETY: a NULL buffer with capacity 0 and a writable size_t.
    let rc = unsafe { wxfs_storage_get_into(h, "big".as_ptr().cast(), 3, null_mut(), 0, &mut n) };
    assert_eq!((rc, n), (WXFS_E_BUFFER_TOO_SMALL, value.len()));
    // Then the size it said is enough.
    let (rc, n, buf) = get_into(h, "big", n);
    assert_eq!((rc, &buf[..n]), (0, value.as_bytes()));
    wxfs_close(h);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_missing_key_writes_nothing() {
    let root = fresh_root("missing");
    let h = open(&json!({"root": root, "userId": "u", "appId": "wx1"}));
    set(h, "there", "1", None);
    let (rc, n, buf) = get_into(h, "nope", 64);
    assert_eq!((rc, n), (NOT_FOUND, usize::MAX));
    assert!(buf.iter().all(|&b| b == CANARY));
    assert_eq!(last_error(), "data not found");
    // Removed is missing too.
    invoke(h, "removeStorageSync", json!({"key": "there"}));
    assert_eq!(get_into(h, "there", 64).0, NOT_FOUND);
    wxfs_close(h);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_encrypted_item_is_not_found_as_with_the_typed_get() {
    let root = fresh_root("encrypted");
    let h = open(&json!({"root": root, "userId": "u", "appId": "wx1", "encryptionKey": "AAECAwQFBgcICQoLDA0ODw=="}));
    invoke(h, "setStorage", json!({"key": "secret", "data": "hidden", "encrypt": true}));
    invoke(h, "setStorageSync", json!({"key": "plain", "data": "shown"}));
    let (rc, n, buf) = get_into(h, "secret", 4096);
    assert_eq!((rc, n), (NOT_FOUND, usize::MAX));
    assert!(buf.iter().all(|&b| b == CANARY), "an encrypted item's bytes were handed out");
    let (rc, n, buf) = get_into(h, "plain", 64);
    assert_eq!((rc, &buf[..n]), (0, &br#""shown""#[..]));
    // The bridge still reads the encrypted one.
    assert_eq!(invoke(h, "getStorage", json!({"key": "secret", "encrypt": true}))["data"], "hidden");
    wxfs_close(h);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_plugin_reads_its_own_storage() {
    let root = fresh_root("plugin");
    let app = open(&json!({"root": root, "userId": "u", "appId": "wx1"}));
    let plugin = open(&json!({"root": root, "userId": "u", "appId": "wx1", "pluginId": "wxPluginA"}));
    set(app, "k", r#""app""#, None);
    set(plugin, "k", r#""plugin""#, None);
    set(plugin, "only-plugin", "1", None);
    let (rc, n, buf) = get_into(app, "k", 64);
    assert_eq!((rc, &buf[..n]), (0, &br#""app""#[..]));
    let (rc, n, buf) = get_into(plugin, "k", 64);
    assert_eq!((rc, &buf[..n]), (0, &br#""plugin""#[..]));
    assert_eq!(get_into(app, "only-plugin", 64).0, NOT_FOUND);
    wxfs_close(plugin);
    wxfs_close(app);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_pointers_and_handles_are_refused_and_write_nothing() {
    let root = fresh_root("pointers");
    let h = open(&json!({"root": root, "userId": "u", "appId": "wx1"}));
    set(h, "k", "1", None);
    let mut buf = [CANARY; 8];
    let mut n = usize::MAX;
    // SAFETY: each call passes NULL where the contract says it is refused, and valid buffers
    // otherwise.
    unsafe {
        assert_eq!(wxfs_storage_get_into(h, "k".as_ptr().cast(), 1, buf.as_mut_ptr(), 8, null_mut()), WXFS_E_NULL);
        assert_eq!(last_error(), "out_len is NULL");
        assert_eq!(wxfs_storage_get_into(h, "k".as_ptr().cast(), 1, null_mut(), 8, &mut n), WXFS_E_NULL);
        assert_eq!(last_error(), "buf is NULL");
        assert_eq!(wxfs_storage_get_into(h, null(), 1, buf.as_mut_ptr(), 8, &mut n), WXFS_E_NULL);
        assert_eq!(last_error(), "key is NULL");
        assert_eq!(wxfs_storage_get_into(h, b"\xff".as_ptr().cast(), 1, buf.as_mut_ptr(), 8, &mut n), WXFS_E_UTF8);
        assert_eq!(wxfs_storage_get_into(0, "k".as_ptr().cast(), 1, buf.as_mut_ptr(), 8, &mut n), WXFS_E_HANDLE);
    }
    assert_eq!((n, buf), (usize::MAX, [CANARY; 8]));
    wxfs_close(h);
    // A closed handle is refused too.
    // SAFETY: valid buffers.
    let rc = unsafe { wxfs_storage_get_into(h, "k".as_ptr().cast(), 1, buf.as_mut_ptr(), 8, &mut n) };
    assert_eq!(rc, WXFS_E_HANDLE);
    let _ = std::fs::remove_dir_all(&root);
}
