//! `wxfs_storage_get_into`: a typed get into a buffer the caller owns. What a host sees: the
//! exact bytes, the size it needs when its buffer is short (and not one byte written then),
//! and the same answers as `wxfs_storage_get` for a missing key, an encrypted item, a plugin's
//! sandbox and bad pointers.

use std::path::PathBuf;
use std::ptr::{null, null_mut};

use serde_json::{json, Value};
use wxfs::ffi::{
    wxfs_bytes, wxfs_bytes_free, wxfs_close, wxfs_invoke, wxfs_last_error_message, wxfs_open, wxfs_storage_get_into,
    wxfs_storage_get_stamped, wxfs_storage_set, wxfs_storage_stamp, WXFS_E_BUFFER_TOO_SMALL, WXFS_E_HANDLE, WXFS_E_NULL,
    WXFS_E_UTF8,
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

// ---- wxfs_storage_get_stamped: a get that says "unchanged" for the value the caller holds ----

/// (status, json or None for "unchanged", dataType) of a stamped get; `stamp` is updated.
fn get_stamped(h: u64, key: &str, stamp: &mut wxfs_storage_stamp) -> (i32, Option<String>, Option<String>) {
    let mut json = wxfs_bytes { data: null_mut(), len: 0 };
    let mut dt = wxfs_bytes { data: null_mut(), len: 0 };
    // SAFETY: valid buffers and out-parameters; what is handed out is read, then freed once.
    unsafe {
        let rc = wxfs_storage_get_stamped(h, key.as_ptr().cast(), key.len(), stamp, &mut json, &mut dt);
        let take = |b: wxfs_bytes| {
            (!b.data.is_null()).then(|| {
                let s = String::from_utf8(std::slice::from_raw_parts(b.data, b.len).to_vec()).unwrap();
                wxfs_bytes_free(b);
                s
            })
        };
        (rc, take(json), take(dt))
    }
}

fn none() -> wxfs_storage_stamp {
    wxfs_storage_stamp { store: 0, generation: 0, at: 0 }
}

#[test]
fn a_stamped_get_says_unchanged_only_for_the_value_the_caller_holds() {
    let root = fresh_root("stamped");
    let config = json!({"root": root, "userId": "u", "appId": "wx1"});
    let h = open(&config);
    set(h, "k", "{\"n\":1}", None);
    let mut s = none();
    assert_eq!(get_stamped(h, "k", &mut s), (0, Some("{\"n\":1}".into()), None));
    let held = s;
    assert_eq!(get_stamped(h, "k", &mut s), (0, None, None), "the value held: nothing copied");
    // The same value set again, another key set, a dataType: each a new value of "k" or none.
    set(h, "other", "1", None);
    assert_eq!(get_stamped(h, "k", &mut s), (0, None, None), "another key's set changes nothing of k");
    set(h, "k", "{\"n\":1}", None);
    assert_eq!(get_stamped(h, "k", &mut s), (0, Some("{\"n\":1}".into()), None), "set again: a new value");
    set(h, "k", "2", Some("Number"));
    assert_eq!(get_stamped(h, "k", &mut s), (0, Some("2".into()), Some("Number".into())));
    assert_eq!(get_stamped(h, "k", &mut s), (0, None, None));
    // Removed: not found, the stamp untouched; set again: a new value.
    invoke(h, "removeStorage", json!({"key": "k"}));
    let before = s;
    assert_eq!(get_stamped(h, "k", &mut s), (NOT_FOUND, None, None));
    assert_eq!((s.store, s.generation, s.at), (before.store, before.generation, before.at));
    set(h, "k", "3", None);
    assert_eq!(get_stamped(h, "k", &mut s), (0, Some("3".into()), None));
    // Compactions move every value to a new file: a stamp from before them names no value.
    let compacted = s;
    for i in 0..20_000 {
        set(h, "churn", &format!("\"{}\"", "x".repeat(i % 300)), None);
    }
    assert_eq!(get_stamped(h, "k", &mut s), (0, Some("3".into()), None), "after compactions");
    assert_ne!(s.generation, compacted.generation, "the churn compacted the log");
    assert_eq!(get_stamped(h, "k", &mut s), (0, None, None));
    let last = s;
    // A reopened store, and another sandbox with the same key at the same place: new values.
    assert_eq!(wxfs_close(h), 0);
    let h = open(&config);
    let mut s = last;
    assert_eq!(get_stamped(h, "k", &mut s), (0, Some("3".into()), None), "a stamp from before a reopen");
    let h2 = open(&json!({"root": root, "userId": "u2", "appId": "wx1"}));
    set(h2, "k", "\"elsewhere\"", None);
    let mut s2 = s;
    assert_eq!(get_stamped(h2, "k", &mut s2), (0, Some("\"elsewhere\"".into()), None), "another sandbox's stamp");
    // The held stamp of the first open is never taken for anything again.
    let mut old = held;
    assert_eq!(get_stamped(h, "k", &mut old), (0, Some("3".into()), None));
    assert_eq!(wxfs_close(h2), 0);
    assert_eq!(wxfs_close(h), 0);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_stamped_get_refuses_what_the_typed_get_refuses() {
    let root = fresh_root("stamped-refused");
    let h = open(&json!({"root": root, "userId": "u", "appId": "wx1", "encryptionKey": "AAECAwQFBgcICQoLDA0ODw=="}));
    invoke(h, "setStorage", json!({"key": "secret", "data": "hidden", "encrypt": true}));
    let mut s = none();
    assert_eq!(get_stamped(h, "secret", &mut s), (NOT_FOUND, None, None), "an encrypted item");
    assert_eq!(get_stamped(h, "missing", &mut s), (NOT_FOUND, None, None));
    assert_eq!((s.store, s.generation, s.at), (0, 0, 0), "nothing written on a failure");
    let mut json = wxfs_bytes { data: null_mut(), len: 0 };
    // SAFETY: NULL stamp, valid everything else: refused before anything is read.
    let rc = unsafe { wxfs_storage_get_stamped(h, "secret".as_ptr().cast(), 6, null_mut(), &mut json, null_mut()) };
    assert_eq!(rc, WXFS_E_NULL);
    assert!(json.data.is_null());
    let mut s = none();
    // SAFETY: a stale handle, valid buffers.
    let rc = unsafe { wxfs_storage_get_stamped(0, "k".as_ptr().cast(), 1, &mut s, &mut json, null_mut()) };
    assert_eq!(rc, WXFS_E_HANDLE);
    assert_eq!(wxfs_close(h), 0);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_stamp_names_its_store_the_same_key_at_the_same_place_elsewhere_is_another_value() {
    let root = fresh_root("stamped-stores");
    let a_config = json!({"root": root, "userId": "a", "appId": "wx1"});
    let a = open(&a_config);
    let b = open(&json!({"root": root, "userId": "b", "appId": "wx1"}));
    set(a, "k", "\"in a\"", None);
    set(b, "k", "\"in b\"", None);
    let mut sa = none();
    assert_eq!(get_stamped(a, "k", &mut sa), (0, Some("\"in a\"".into()), None));
    let mut sb = none();
    assert_eq!(get_stamped(b, "k", &mut sb), (0, Some("\"in b\"".into()), None));
    assert_eq!((sa.generation, sa.at), (sb.generation, sb.at), "the same place in each store's log");
    let mut s = sa;
    assert_eq!(get_stamped(b, "k", &mut s), (0, Some("\"in b\"".into()), None), "a's stamp read in b");
    // Closed and opened again: the same log, the same place, and still not the value held.
    assert_eq!(wxfs_close(a), 0);
    let a = open(&a_config);
    let mut s = sa;
    assert_eq!(get_stamped(a, "k", &mut s), (0, Some("\"in a\"".into()), None), "a stamp from before the reopen");
    assert_eq!((s.generation, s.at), (sa.generation, sa.at), "the same place after the reopen");
    assert_eq!(wxfs_close(a), 0);
    assert_eq!(wxfs_close(b), 0);
    let _ = std::fs::remove_dir_all(&root);
}
