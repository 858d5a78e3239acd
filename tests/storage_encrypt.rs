//! `setStorage`/`getStorage` with `encrypt: true` encrypt at rest (AES-128-GCM under
//! the sandbox's `encryptionKey`), through the C ABI as a host calls them.

mod common;

use std::path::{Path, PathBuf};

use common::bridge::call;
use serde_json::{json, Value};

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODw=="; // bytes 0..16
const KEY_B: &str = "8PHy8/T19vf4+fr7/P3+/w=="; // bytes 0xf0..0x100

fn keyed_config(root: &Path, key: Option<&str>, limits: Value) -> Value {
    let mut c = json!({"root": root, "userId": "u", "appId": "wx1", "limits": limits});
    if let Some(k) = key {
        c["encryptionKey"] = json!(k);
    }
    c
}

/// Every file under `root`, recursively.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_byte_of_an_encrypted_key_or_value_is_under_the_root_and_it_survives_close() {
    let lib = common::abi::Lib::load();
    let root = common::fresh_dir("enc-plain");
    let name = "card-number-of-the-user";
    let secret = "4111-1111-1111-SECRET";
    let h = lib.open(&keyed_config(&root, Some(KEY_A), json!({}))).unwrap();
    lib.ok(h, "setStorageSync", json!({"key": "plain-neighbour", "data": "visible"}));
    // Written several times (earlier versions stay in the log until compaction), with a dataType.
    for i in 0..3 {
        let data = json!({"pan": secret, "n": i});
        lib.ok(h, "setStorage", json!({"key": name, "data": data, "dataType": "Object", "encrypt": true}));
    }
    let r = lib.ok(h, "getStorage", json!({"key": name, "encrypt": true}));
    assert_eq!(r, json!({"errMsg": "getStorage:ok", "data": {"pan": secret, "n": 2}, "dataType": "Object"}));
    assert_eq!(lib.ok(h, "getStorageInfoSync", json!({}))["keys"], json!(["plain-neighbour", name]));
    assert_eq!(lib.close(h), 0);

    let all = files(&root);
    assert!(all.iter().any(|p| p.ends_with("kv/data.log")), "{all:?}");
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        for needle in [name, secret, "pan", "Object"] {
            assert!(!contains(&bytes, needle.as_bytes()), "{needle:?} in {}", f.display());
        }
    }
    assert!(all.iter().any(|f| contains(&std::fs::read(f).unwrap(), b"plain-neighbour")), "the plain item is stored plain");

    let h = lib.open(&keyed_config(&root, Some(KEY_A), json!({}))).unwrap();
    let r = lib.ok(h, "getStorage", json!({"key": name, "encrypt": true}));
    assert_eq!(r["data"], json!({"pan": secret, "n": 2}));
    assert_eq!(lib.ok(h, "getStorageInfoSync", json!({}))["keys"], json!(["plain-neighbour", name]));
    lib.ok(h, "removeStorage", json!({"key": name}));
    lib.fails(h, "getStorage", json!({"key": name, "encrypt": true}), 1400001, "getStorage:fail data not found");
    assert_eq!(lib.close(h), 0);
}

#[test]
fn one_name_one_value_across_encrypted_and_plain_reads() {
    let lib = common::abi::Lib::load();
    let root = common::fresh_dir("enc-mixed");
    let h = lib.open(&keyed_config(&root, Some(KEY_A), json!({}))).unwrap();
    lib.ok(h, "setStorage", json!({"key": "k", "data": "sealed", "encrypt": true}));
    // Stored encrypted, read without encrypt: async fails saying so, Sync gets "" (no usable value).
    let stored_enc = "getStorage:fail data was stored with encrypt: true; read it with getStorage({key, encrypt: true})";
    lib.fails(h, "getStorage", json!({"key": "k"}), 1400008, stored_enc);
    assert_eq!(lib.ok(h, "getStorageSync", json!({"key": "k"})), json!({"errMsg": "getStorageSync:ok", "data": ""}));
    assert_eq!(lib.ok(h, "batchGetStorage", json!({"keyList": ["k"]}))["dataList"], json!([""]));
    // Only the async forms take encrypt.
    let sync_msg =
        |api: &str| format!("{api}:fail parameter error: encrypt is taken only by the async setStorage and getStorage");
    lib.fails(h, "setStorageSync", json!({"key": "k", "data": 1, "encrypt": true}), 1400004, &sync_msg("setStorageSync"));
    lib.fails(h, "getStorageSync", json!({"key": "k", "encrypt": true}), 1400004, &sync_msg("getStorageSync"));
    // A plain set replaces the encrypted value; a read with encrypt gets the plain value.
    lib.ok(h, "setStorage", json!({"key": "k", "data": "plain"}));
    assert_eq!(lib.ok(h, "getStorage", json!({"key": "k"}))["data"], "plain");
    assert_eq!(lib.ok(h, "getStorage", json!({"key": "k", "encrypt": true}))["data"], "plain");
    // And the reverse: an encrypted set replaces the plain value.
    lib.ok(h, "setStorage", json!({"key": "k", "data": "sealed again", "encrypt": true}));
    lib.fails(h, "getStorage", json!({"key": "k"}), 1400008, stored_enc);
    assert_eq!(lib.ok(h, "getStorage", json!({"key": "k", "encrypt": true}))["data"], "sealed again");
    // batchSetStorage replaces it too, in the same record.
    lib.ok(h, "batchSetStorage", json!({"kvList": [{"key": "k", "value": "batch"}]}));
    assert_eq!(lib.ok(h, "getStorage", json!({"key": "k", "encrypt": true}))["data"], "batch");
    assert_eq!(lib.ok(h, "getStorageInfoSync", json!({}))["keys"], json!(["k"]));
    // Names of encrypted slots cannot be set plain.
    lib.fails(
        h,
        "setStorageSync",
        json!({"key": "\u{0}wxfs-sealed:x", "data": 1}),
        1400004,
        "setStorageSync:fail parameter error: key names beginning with U+0000 \"wxfs-sealed:\" are reserved",
    );
    assert_eq!(lib.close(h), 0);
}

#[test]
fn missing_and_wrong_keys_fail_clearly() {
    let lib = common::abi::Lib::load();
    let root = common::fresh_dir("enc-keys");
    let no_key = |api: &str| format!("{api}:fail encrypt: true needs an encryptionKey in the sandbox's open config");
    let h = lib.open(&keyed_config(&root, None, json!({}))).unwrap();
    lib.fails(h, "setStorage", json!({"key": "k", "data": 1, "encrypt": true}), 1400006, &no_key("setStorage"));
    lib.fails(h, "getStorage", json!({"key": "k", "encrypt": true}), 1400006, &no_key("getStorage"));
    assert_eq!(lib.close(h), 0);

    let h = lib.open(&keyed_config(&root, Some(KEY_A), json!({}))).unwrap();
    lib.ok(h, "setStorage", json!({"key": "k", "data": "for A", "encrypt": true}));
    lib.ok(h, "setStorage", json!({"key": "p", "data": "plain"}));
    assert_eq!(lib.close(h), 0);

    let wrong = |api: &str| {
        format!(
            "{api}:fail the encrypted storage of this sandbox was written with another encryptionKey (clearStorage discards it)"
        )
    };
    let h = lib.open(&keyed_config(&root, Some(KEY_B), json!({}))).unwrap();
    lib.fails(h, "getStorage", json!({"key": "k", "encrypt": true}), 1400007, &wrong("getStorage"));
    lib.fails(h, "setStorage", json!({"key": "k2", "data": 1, "encrypt": true}), 1400007, &wrong("setStorage"));
    assert_eq!(lib.ok(h, "getStorage", json!({"key": "p"}))["data"], "plain", "plain items are unaffected");
    assert_eq!(lib.ok(h, "getStorageInfoSync", json!({}))["keys"], json!(["p"]));
    assert_eq!(lib.close(h), 0);

    // Without a key, the encrypted item is neither listed nor readable, and stays.
    let h = lib.open(&keyed_config(&root, None, json!({}))).unwrap();
    assert_eq!(lib.ok(h, "getStorageInfoSync", json!({}))["keys"], json!(["p"]));
    lib.fails(h, "getStorage", json!({"key": "k"}), 1400001, "getStorage:fail data not found");
    assert_eq!(lib.close(h), 0);
    let h = lib.open(&keyed_config(&root, Some(KEY_A), json!({}))).unwrap();
    assert_eq!(lib.ok(h, "getStorage", json!({"key": "k", "encrypt": true}))["data"], "for A");
    assert_eq!(lib.close(h), 0);

    // clearStorage discards what the other key wrote; the new key works from then on.
    let h = lib.open(&keyed_config(&root, Some(KEY_B), json!({}))).unwrap();
    lib.ok(h, "clearStorage", json!({}));
    lib.ok(h, "setStorage", json!({"key": "k", "data": "for B", "encrypt": true}));
    assert_eq!(lib.ok(h, "getStorage", json!({"key": "k", "encrypt": true}))["data"], "for B");
    assert_eq!(lib.close(h), 0);

    for bad in ["AAAA", "not base64!", ""] {
        let e = lib.open(&keyed_config(&root, Some(bad), json!({}))).unwrap_err();
        assert!(e < 0, "{bad:?}: {e}");
    }
}

#[test]
fn encrypted_items_have_the_0_7_and_7_1_limits() {
    let lib = common::abi::Lib::load();
    let root = common::fresh_dir("enc-limits");
    // 0.7 x 10,000 = 7,000 per item; 0.71 x 100,000 = 71,000 in all.
    let h = lib.open(&keyed_config(&root, Some(KEY_A), json!({"storageItem": 10_000, "storageTotal": 100_000}))).unwrap();
    let text = |n: usize| "x".repeat(n - 2); // JSON text of n bytes
                                             // key 1 byte + data 6,999 = 7,000: fits; one more byte does not.
    lib.ok(h, "setStorage", json!({"key": "k", "data": text(6_999), "encrypt": true}));
    lib.fails(
        h,
        "setStorage",
        json!({"key": "k", "data": text(7_000), "encrypt": true}),
        1400002,
        "setStorage:fail exceed storage item max length",
    );
    // The same 7,000 bytes plain: the plain limit is 10,000.
    lib.ok(h, "setStorage", json!({"key": "p", "data": text(7_000)}));
    lib.ok(h, "removeStorage", json!({"key": "p"}));
    // Fill with encrypted items until the 7.1 total refuses one.
    let mut n = 1;
    loop {
        let (rc, r) = lib.invoke(h, "setStorage", &json!({"key": format!("k{n}"), "data": text(6_000), "encrypt": true}));
        if rc != 0 {
            assert_eq!((rc, r["errMsg"].as_str().unwrap()), (1400003, "setStorage:fail exceed storage max size 10Mb"));
            break;
        }
        n += 1;
        assert!(n < 20);
    }
    let used = lib.ok(h, "getStorageInfoSync", json!({}))["currentSize"].as_u64().unwrap();
    assert!(used * 1024 <= 71_000 + 1023 && used * 1024 > 60_000, "{used} KB");
    // What the encrypted total refused fits under the plain total.
    lib.ok(h, "setStorage", json!({"key": format!("k{n}"), "data": text(6_000)}));
    assert_eq!(lib.close(h), 0);
}

/// A kill between an encrypted set's two writes (the sealed value, then the removal of the plain
/// one) leaves both; the next open keeps the encrypted one, the later write.
#[test]
fn an_interrupted_encrypted_set_is_finished_at_open() {
    let root = common::fresh_dir("enc-repair");
    let mut cfg = wxfs::Config::new(&root, "u", "wx1");
    cfg.encryption_key = Some(wxfs::storage::sealed::EncryptionKey::from_base64(KEY_A).unwrap());
    let s = wxfs::Session::open(cfg.clone()).unwrap();
    let (rc, r) = wxfs::bridge::invoke(&s, "setStorage", &json!({"key": "k", "data": "sealed", "encrypt": true}).to_string());
    assert_eq!(rc, 0, "{r}");
    // The state the kill leaves: the plain item of the same name still there.
    s.store.set_parts("k", None, "\"stale plain\"", Default::default()).unwrap();
    drop(s);
    let s = wxfs::Session::open(cfg).unwrap();
    assert!(s.store.get("k").is_none(), "the plain item was removed at open");
    let (_, r) = wxfs::bridge::invoke(&s, "getStorage", &json!({"key": "k", "encrypt": true}).to_string());
    assert_eq!(r["data"], "sealed");
}

fn sealed_session(root: &Path, user: &str, plugin: Option<&str>) -> std::sync::Arc<wxfs::Session> {
    let mut cfg = wxfs::Config::new(root, user, "wx1");
    cfg.encryption_key = Some(wxfs::storage::sealed::EncryptionKey::from_base64(KEY_A).unwrap());
    cfg.plugin_id = plugin.map(str::to_string);
    wxfs::Session::open(cfg).unwrap()
}

fn sealed_slots(s: &wxfs::Session) -> Vec<String> {
    s.store.keys().into_iter().filter(|k| k.starts_with(wxfs::storage::sealed::PREFIX)).collect()
}

const ANY: wxfs::storage::Limits = wxfs::storage::Limits { item: u64::MAX, total: u64::MAX };

const DAMAGED: &str = "getStorage:fail the encrypted value of this key does not open: it is damaged, or was written for \
                       another sandbox or with another encryptionKey (removeStorage or a new setStorage replaces it)";

/// With one host key shared by several users (a per-device key), a sealed
/// value copied into another sandbox's log (another user's, or a plugin's of the same app) does
/// not open there; it fails alone, and the sandbox's own encrypted items still work.
#[test]
fn a_sealed_value_copied_into_another_sandbox_does_not_open_there() {
    let root = common::fresh_dir("enc-owner");
    let s = sealed_session(&root, "u", None);
    assert_eq!(call(&s, "setStorage", json!({"key": "k", "data": "secret of u", "encrypt": true})).0, 0);
    let slots = sealed_slots(&s);
    assert_eq!(slots.len(), 1);
    let copied = s.store.get(&slots[0]).unwrap();
    drop(s);
    for (user, plugin) in [("u2", None), ("u", Some("wxplugin"))] {
        let t = sealed_session(&root, user, plugin);
        assert_eq!(call(&t, "setStorage", json!({"key": "own", "data": "mine", "encrypt": true})).0, 0);
        // The same host key names the same slot: the copy lands where a get of "k" looks.
        t.store.set_parts(&slots[0], None, &copied.data, ANY).unwrap();
        drop(t);
        let t = sealed_session(&root, user, plugin);
        let (rc, r) = call(&t, "getStorage", json!({"key": "k", "encrypt": true}));
        assert_eq!((rc, r["errMsg"].as_str().unwrap()), (1400007, DAMAGED), "{user} {plugin:?}: {r}");
        let (rc, r) = call(&t, "getStorage", json!({"key": "own", "encrypt": true}));
        assert_eq!((rc, &r["data"]), (0, &json!("mine")), "{user} {plugin:?}");
        if plugin.is_none() {
            // (getStorageInfo is not available to plugins.)
            assert_eq!(call(&t, "getStorageInfoSync", json!({})).1["keys"], json!(["own"]));
        }
    }
    // Where it was written, it opens.
    let s = sealed_session(&root, "u", None);
    assert_eq!(call(&s, "getStorage", json!({"key": "k", "encrypt": true})).1["data"], "secret of u");
}

/// One tampered sealed value fails alone; the others, the keys list and new
/// encrypted sets are unaffected, and a set replaces the damaged value.
#[test]
fn one_tampered_sealed_value_fails_only_itself() {
    let root = common::fresh_dir("enc-tamper");
    let s = sealed_session(&root, "u", None);
    for k in ["e1", "e2", "e3"] {
        assert_eq!(call(&s, "setStorage", json!({"key": k, "data": format!("value of {k}"), "encrypt": true})).0, 0);
    }
    assert_eq!(call(&s, "setStorage", json!({"key": "p", "data": "plain"})).0, 0);
    // Flip one bit of one base64 digit in the middle of e2's sealed value (a valid record: the
    // damage is in the value, not in the log's framing).
    let slot = sealed_slots(&s)[1].clone();
    let mut data = s.store.get(&slot).unwrap().data.into_bytes();
    let mid = data.len() / 2;
    data[mid] = if data[mid] == b'A' { b'B' } else { b'A' };
    s.store.set_parts(&slot, None, std::str::from_utf8(&data).unwrap(), ANY).unwrap();
    drop(s);

    let s = sealed_session(&root, "u", None);
    let (rc, r) = call(&s, "getStorage", json!({"key": "e2", "encrypt": true}));
    assert_eq!((rc, r["errMsg"].as_str().unwrap()), (1400007, DAMAGED), "{r}");
    for k in ["e1", "e3"] {
        let (rc, r) = call(&s, "getStorage", json!({"key": k, "encrypt": true}));
        assert_eq!((rc, &r["data"]), (0, &json!(format!("value of {k}"))), "{r}");
    }
    assert_eq!(call(&s, "setStorage", json!({"key": "e4", "data": 4, "encrypt": true})).0, 0);
    assert_eq!(call(&s, "getStorageInfoSync", json!({})).1["keys"], json!(["e1", "e3", "p", "e4"]));
    // A new set of the damaged name replaces it.
    assert_eq!(call(&s, "setStorage", json!({"key": "e2", "data": "again", "encrypt": true})).0, 0);
    assert_eq!(call(&s, "getStorage", json!({"key": "e2", "encrypt": true})).1["data"], "again");
    drop(s);
    let s = sealed_session(&root, "u", None);
    assert_eq!(call(&s, "getStorage", json!({"key": "e2", "encrypt": true})).1["data"], "again");
}

/// A format-1 sealed value (as releases before the owner binding wrote it: the slot alone as
/// associated data) of `name`, sealed with KEY_A.
fn sealed_v1(slot: &str, name: &str, data: &str) -> String {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.decode(KEY_A).unwrap();
    let plain = serde_json::to_vec(&(name, None::<&str>, data)).unwrap();
    let nonce = [7u8; 12];
    let aead = aes_gcm::Aes128Gcm::new_from_slice(&key).unwrap();
    let ct = aead.encrypt(aes_gcm::Nonce::from_slice(&nonce), Payload { msg: &plain, aad: slot.as_bytes() }).unwrap();
    format!("\"{}\"", base64::engine::general_purpose::STANDARD.encode([&nonce[..], &ct].concat()))
}

/// A format-1 value carries no owner, so it opens only in a store no open with a key has marked
/// yet: there it is the store's own, and that first open binds it. Copied into a store this
/// release has opened with a key (another user's, from a backup of an older release), it fails
/// alone as a damaged value does, and says nothing of the key.
#[test]
fn a_format_1_value_opens_only_in_a_store_no_keyed_open_has_marked() {
    let root = common::fresh_dir("enc-format1");
    // The slot of "k" under KEY_A (the slot names no owner).
    let slot = {
        let s = sealed_session(&root, "probe", None);
        assert_eq!(call(&s, "setStorage", json!({"key": "k", "data": 0, "encrypt": true})).0, 0);
        sealed_slots(&s).remove(0)
    };
    let v1 = sealed_v1(&slot, "k", "\"old secret\"");

    // A store an older release wrote: opened here without a key (no marker), holding the value.
    let old = wxfs::Session::open(wxfs::Config::new(&root, "old", "wx1")).unwrap();
    old.store.set_parts(&slot, None, &v1, ANY).unwrap();
    let marker = old.sandbox.kv_dir().join(wxfs::storage::sealed::BOUND);
    drop(old);
    assert!(!marker.exists(), "an open without a key marks nothing");
    let old = sealed_session(&root, "old", None);
    assert!(marker.exists(), "the first keyed open marks the store");
    assert_eq!(call(&old, "getStorage", json!({"key": "k", "encrypt": true})).1["data"], "old secret");
    drop(old);
    let old = sealed_session(&root, "old", None);
    assert_eq!(call(&old, "getStorage", json!({"key": "k", "encrypt": true})).1["data"], "old secret");
    drop(old);

    // The same format-1 bytes copied into stores this release has opened with the key.
    for (user, own) in [("u2", true), ("u3", false)] {
        let t = sealed_session(&root, user, None);
        if own {
            assert_eq!(call(&t, "setStorage", json!({"key": "own", "data": "mine", "encrypt": true})).0, 0);
        }
        t.store.set_parts(&slot, None, &v1, ANY).unwrap();
        drop(t);
        let t = sealed_session(&root, user, None);
        let (rc, r) = call(&t, "getStorage", json!({"key": "k", "encrypt": true}));
        assert_eq!((rc, r["errMsg"].as_str().unwrap()), (1400007, DAMAGED), "{user}: {r}");
        if own {
            let (rc, r) = call(&t, "getStorage", json!({"key": "own", "encrypt": true}));
            assert_eq!((rc, &r["data"]), (0, &json!("mine")), "{user}");
            assert_eq!(call(&t, "getStorageInfoSync", json!({})).1["keys"], json!(["own"]));
        } else {
            // The refused value alone is not taken for another key: encrypted sets still work.
            assert_eq!(call(&t, "setStorage", json!({"key": "new", "data": 1, "encrypt": true})).0, 0);
            assert_eq!(call(&t, "getStorage", json!({"key": "new", "encrypt": true})).1["data"], 1);
        }
        // A set of the name replaces the refused value.
        assert_eq!(call(&t, "setStorage", json!({"key": "k", "data": "again", "encrypt": true})).0, 0);
        assert_eq!(call(&t, "getStorage", json!({"key": "k", "encrypt": true})).1["data"], "again");
    }
}
