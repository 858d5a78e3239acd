//! `setStorage`/`getStorage` with `encrypt: true` (docs/wechat-behaviour.md §10).
//!
//! An encrypted item lives in the same log as the plain ones, under a *slot* name that says
//! nothing of its own: [`PREFIX`] + 32 hex digits of HMAC-SHA256 of the key name (under a key
//! derived from the sandbox's `encryptionKey`). Its data is a JSON string: `v2.` and the base64
//! of a 12-byte random nonce and the AES-128-GCM ciphertext of `[name, dataType, data]`. The
//! associated data binds it to the sandbox it was written for, the [`Owner`] (user, app,
//! platform, plugin), and to its slot: a sealed value copied into another user's log, another
//! plugin's or another slot does not open, even under the same host key. So neither
//! the key name nor any byte of the value is written in the clear, and the engine (its records,
//! index, compaction and crash safety) is the one plain items use.
//!
//! Format 1, written before the owner was bound, is the base64 with no `v2.` and the slot alone
//! as associated data. It carries no owner, so it opens only in a store that has never been
//! opened with a key by this release: that first open seals every format-1 value again as format
//! 2, syncs the store, and leaves the marker [`BOUND`] beside the log. From then on the store
//! takes format 2 only, and a format-1 value copied into it (from a backup, or another user's
//! store that this release never opened) fails alone as a damaged one does.
//!
//! A sealed value that does not open fails alone (1400007, naming that value): it is damaged, or
//! was written for another sandbox. Only when none of the sandbox's sealed values opens is the key
//! taken to be another one, and every encrypted call fails 1400007 (`wrong_key`).
//!
//! One name has one value. Every write that replaces a name's other form is made so a kill at
//! any instant leaves a state that reads as the write before or the write after:
//! - an encrypted set writes the slot, then removes the plain item; the open after a kill in
//!   between finds both and removes the plain one (the encrypted write was the later);
//! - a plain set of a name that has a slot writes, in one batch record, the plain item and a
//!   tombstone over the slot (any non-string data), then removes the tombstone; so a slot holding
//!   a sealed value beside a plain item can only be the encrypted set's window above.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;

use super::{Limits, Store, StoreError, Value};
/// A result whose error is the store's.
type Result<T> = std::result::Result<T, StoreError>;

/// Key names that begin with this are slots of encrypted items; a plain set refuses them.
pub const PREFIX: &str = "\u{0}wxfs-sealed:";
/// Data of a slot whose name was set plain: never a JSON string, so never a sealed value.
const TOMBSTONE: &str = "0";
const NONCE_LEN: usize = 12;
/// What begins the base64 of a format-2 sealed value (not a base64 character: a format-1 value
/// never begins so).
const V2: &str = "v2.";

/// The file beside the log that says every sealed value of the store is format 2, so a format-1
/// value found there was not written there (see the module).
pub const BOUND: &str = "SEALED.v2";

/// Whether an open takes format-1 sealed values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatOne {
    /// The store has no [`BOUND`] marker: its format-1 values are its own, sealed again at open.
    Taken,
    /// The store is marked: a format-1 value does not open.
    Refused,
}

impl FormatOne {
    /// What the store in `kv_dir` takes.
    pub fn of(kv_dir: &std::path::Path) -> FormatOne {
        match kv_dir.join(BOUND).exists() {
            true => FormatOne::Refused,
            false => FormatOne::Taken,
        }
    }
}

/// Leaves the [`BOUND`] marker in `kv_dir`, durably: written, synced, renamed into place, and the
/// directory synced. The caller has synced the store first, so the format-2 values the marker
/// vouches for are durable before it is.
pub fn mark_bound(kv_dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = kv_dir.join(format!("{BOUND}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(b"wxfs: every sealed value here is format 2\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, kv_dir.join(BOUND))?;
    std::fs::File::open(kv_dir)?.sync_all()
}

/// The sandbox a sealed value is written for: its associated data holds all four.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    /// The config's `userId`.
    pub user: &'a str,
    /// The config's `appId`.
    pub app: &'a str,
    /// `Platform::name` of the config's platform.
    pub platform: &'a str,
    /// The config's `pluginId`, for a plugin's sandbox.
    pub plugin: Option<&'a str>,
}

impl Owner<'_> {
    /// The owner's part of the associated data: each field length-prefixed, so no two owners
    /// give the same bytes.
    fn aad(&self) -> Vec<u8> {
        let mut v = b"wxfs sealed v2\0".to_vec();
        for field in [Some(self.user), Some(self.app), Some(self.platform), self.plugin] {
            match field {
                Some(f) => {
                    v.push(1);
                    v.extend_from_slice(&(f.len() as u64).to_le_bytes());
                    v.extend_from_slice(f.as_bytes());
                }
                None => v.push(0),
            }
        }
        v
    }
}

/// The sandbox's storage key: 16 bytes (AES-128). Its Debug form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(pub [u8; 16]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(..)")
    }
}

impl EncryptionKey {
    /// From the config's base64 text; the error says what is wrong without repeating the key.
    pub fn from_base64(text: &str) -> std::result::Result<EncryptionKey, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "encryptionKey is not valid base64".to_string())?;
        let key: [u8; 16] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("encryptionKey must be 16 bytes (AES-128), base64 encoded; it is {} bytes", b.len()))?;
        Ok(EncryptionKey(key))
    }
}

struct Cipher {
    aead: Aes128Gcm,
    /// HMAC-SHA256 keyed with a key derived from the encryptionKey (not the AES key itself).
    names: Hmac<Sha256>,
    /// `Owner::aad` of the sandbox.
    owner: Vec<u8>,
    /// Whether a format-1 value opens.
    format_one: FormatOne,
}

/// What a sealed value holds: (name, dataType, data).
type Opened = (String, Option<String>, String);

/// The format of a sealed value that opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Bound to its slot only (written by earlier releases).
    V1,
    /// Bound to its slot and its owner.
    V2,
}

impl Cipher {
    #[cfg(test)]
    fn new(key: &EncryptionKey, owner: Owner<'_>) -> Cipher {
        Cipher::taking(key, owner, FormatOne::Taken)
    }

    fn taking(key: &EncryptionKey, owner: Owner<'_>, format_one: FormatOne) -> Cipher {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("any key length");
        derive.update(b"wxfs storage key names v1");
        let name_key = derive.finalize().into_bytes();
        Cipher {
            aead: Aes128Gcm::new_from_slice(&key.0).expect("16-byte key"),
            names: <Hmac<Sha256> as Mac>::new_from_slice(&name_key).expect("any key length"),
            owner: owner.aad(),
            format_one,
        }
    }

    /// The associated data of a format-2 value in `slot`.
    fn aad(&self, slot: &str) -> Vec<u8> {
        let mut v = self.owner.clone();
        v.extend_from_slice(slot.as_bytes());
        v
    }

    fn slot(&self, name: &str) -> String {
        let mut m = self.names.clone();
        m.update(name.as_bytes());
        format!("{PREFIX}{}", hex::encode(&m.finalize().into_bytes()[..16]))
    }

    /// The data to store in `slot`: a JSON string.
    fn seal(&self, slot: &str, name: &str, data_type: Option<&str>, data: &str) -> Result<String> {
        let plain = serde_json::to_vec(&(name, data_type, data)).map_err(|e| StoreError::Seal(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|e| StoreError::NoRandom(e.to_string()))?;
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: &self.aad(slot) })
            .map_err(|_| StoreError::Seal("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!("\"{V2}{}\"", base64::engine::general_purpose::STANDARD.encode(blob)))
    }

    /// (name, dataType, data) of a sealed value, or None when it does not open with this key
    /// in this sandbox and slot.
    fn open(&self, slot: &str, stored: &str) -> Option<Opened> {
        self.open_as(slot, stored).map(|(v, _)| v)
    }

    fn open_as(&self, slot: &str, stored: &str) -> Option<(Opened, Format)> {
        let b64 = stored.strip_prefix('"')?.strip_suffix('"')?;
        let (b64, format, aad) = match b64.strip_prefix(V2) {
            Some(rest) => (rest, Format::V2, self.aad(slot)),
            None if self.format_one == FormatOne::Refused => return None,
            None => (b64, Format::V1, slot.as_bytes().to_vec()),
        };
        let blob = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        if blob.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let plain = self.aead.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad }).ok()?;
        Some((serde_json::from_slice(&plain).ok()?, format))
    }
}

fn is_sealed(stored: &str) -> bool {
    stored.starts_with('"')
}

/// What the sandbox's encrypted items need beside the store: the cipher (when the config gave
/// a key) and the names of the sealed slots, learnt at open and kept as items are set.
pub struct Sealed {
    cipher: Option<Cipher>,
    /// Some sealed value of the store was left as it was found: it did not open, or there was
    /// no key. The store cannot be marked [`BOUND`] then.
    unbound: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// slot -> key name, for every sealed value this key opens.
    names: HashMap<String, String>,
    /// No sealed value opens with the configured key (or there is no key), and some do not:
    /// the sandbox's encrypted items were written with another key.
    mismatch: bool,
}

impl Sealed {
    /// Learn the names of the sealed slots, finish what a kill interrupted (see the module) and
    /// seal format-1 values again as format 2, bound to `owner` (when `format_one` takes them).
    /// Returns how many plain items an interrupted encrypted set left behind and were removed.
    pub fn open(store: &Store, key: Option<&EncryptionKey>, owner: Owner<'_>, format_one: FormatOne) -> Result<(Sealed, usize)> {
        let cipher = key.map(|k| Cipher::taking(k, owner, format_one));
        let mut state = State::default();
        let mut repaired = 0;
        let mut unopened = 0;
        for slot in store.keys_with_prefix(PREFIX) {
            let Some(v) = store.get(&slot) else { continue };
            if !is_sealed(&v.data) {
                store.remove(&slot)?;
                continue;
            }
            let Some(c) = cipher.as_ref() else {
                unopened += 1;
                continue;
            };
            if c.format_one == FormatOne::Refused && !v.data.starts_with(&format!("\"{V2}")) {
                // Not written here (see the module): it fails alone at its get, and says
                // nothing of the key.
                continue;
            }
            match c.open_as(&slot, &v.data) {
                Some(((name, data_type, data), format)) => {
                    if store.get(&name).is_some() {
                        store.remove(&name)?;
                        repaired += 1;
                    }
                    if format == Format::V1 {
                        // The same value, now bound to this sandbox; its size grows by a few
                        // bytes, which the total does not refuse (nothing new is stored).
                        let sealed = c
                            .seal(&slot, &name, data_type.as_deref(), &data)
                            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
                        store.set_parts(&slot, None, &sealed, Limits { item: u64::MAX, total: u64::MAX })?;
                    }
                    state.names.insert(slot, name);
                }
                None => unopened += 1,
            }
        }
        state.mismatch = unopened > 0 && state.names.is_empty();
        Ok((Sealed { cipher, unbound: unopened > 0, state: Mutex::new(state) }, repaired))
    }

    /// Whether the open had a key and every sealed value of the store is now format 2, bound to
    /// this sandbox: the store may then be marked [`BOUND`].
    pub fn all_bound(&self) -> bool {
        self.cipher.is_some() && !self.unbound
    }

    /// Whether the sandbox was opened with an encryptionKey.
    pub fn has_key(&self) -> bool {
        self.cipher.is_some()
    }

    fn slot_if_any(&self, name: &str) -> Option<String> {
        self.cipher.as_ref().map(|c| c.slot(name))
    }

    fn check_plain_key(key: &str) -> Result<()> {
        if key.starts_with(PREFIX) {
            return Err(StoreError::ReservedKey);
        }
        Ok(())
    }

    /// A plain set: replaces the name's encrypted value, if any, in the same log record.
    pub fn set(&self, store: &Store, key: &str, data_type: Option<&str>, data: &str, limits: Limits) -> Result<()> {
        Self::check_plain_key(key)?;
        if self.cipher.is_none() {
            // No slot can be reached: the store's own write path (and its group commit), no lock.
            return store.set_parts(key, data_type, data, limits);
        }
        let mut st = self.state.lock();
        let slot = self.slot_if_any(key).filter(|s| store.with(s, |_| ()).is_some());
        let Some(slot) = slot else {
            return store.set_parts(key, data_type, data, limits);
        };
        let value = Value { data: data.to_string(), data_type: data_type.map(str::to_string) };
        store.set_batch(vec![(key.to_string(), value), tombstone(&slot)], limits)?;
        st.names.remove(&slot);
        store.remove(&slot)?;
        Ok(())
    }

    /// batchSetStorage: plain sets of every item, or none, in one record.
    pub fn set_batch(&self, store: &Store, items: Vec<(String, Value)>, limits: Limits) -> Result<()> {
        for (k, _) in &items {
            Self::check_plain_key(k)?;
        }
        if self.cipher.is_none() {
            return store.set_batch(items, limits);
        }
        let mut st = self.state.lock();
        let slots: Vec<String> =
            items.iter().filter_map(|(k, _)| self.slot_if_any(k)).filter(|s| store.with(s, |_| ()).is_some()).collect();
        let mut all = items;
        all.extend(slots.iter().map(|s| tombstone(s)));
        store.set_batch(all, limits)?;
        for s in &slots {
            st.names.remove(s);
            store.remove(s)?;
        }
        Ok(())
    }

    /// setStorage with `encrypt: true`. `limits` are the encrypted ones: the item limit applies
    /// to key + data + dataType as given, the total to what the store holds with the sealed form.
    pub fn set_encrypted(&self, store: &Store, key: &str, data_type: Option<&str>, data: &str, limits: Limits) -> Result<()> {
        let c = self.cipher.as_ref().ok_or(StoreError::NoKey)?;
        if key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        let mut st = self.state.lock();
        if st.mismatch {
            return Err(StoreError::WrongKey);
        }
        if (key.len() + data.len() + data_type.map_or(0, str::len)) as u64 > limits.item {
            return Err(StoreError::ItemTooLarge);
        }
        let slot = c.slot(key);
        let sealed = c.seal(&slot, key, data_type, data)?;
        store.set_parts(&slot, None, &sealed, Limits { item: u64::MAX, total: limits.total })?;
        st.names.insert(slot, key.to_string());
        store.remove(key)?;
        Ok(())
    }

    /// getStorage with `encrypt: true`: the encrypted value, else the plain one, else None.
    pub fn get_encrypted(&self, store: &Store, key: &str) -> Result<Option<Value>> {
        let c = self.cipher.as_ref().ok_or(StoreError::NoKey)?;
        let st = self.state.lock();
        if st.mismatch {
            return Err(StoreError::WrongKey);
        }
        let slot = c.slot(key);
        match store.get(&slot) {
            Some(v) if is_sealed(&v.data) => {
                let (_, data_type, data) = c.open(&slot, &v.data).ok_or(StoreError::Damaged)?;
                Ok(Some(Value { data, data_type }))
            }
            _ => Ok(store.get(key)),
        }
    }

    /// Whether `key` has an encrypted value (what a plain get of a missing key checks).
    pub fn is_encrypted(&self, store: &Store, key: &str) -> bool {
        self.slot_if_any(key).and_then(|s| store.get(&s)).is_some_and(|v| is_sealed(&v.data))
    }

    /// removeStorage: the plain and the encrypted value of the name.
    pub fn remove(&self, store: &Store, key: &str) -> Result<()> {
        if self.cipher.is_none() {
            store.remove(key)?;
            return Ok(());
        }
        let mut st = self.state.lock();
        if let Some(slot) = self.slot_if_any(key) {
            store.remove(&slot)?;
            st.names.remove(&slot);
        }
        store.remove(key)?;
        Ok(())
    }

    /// clearStorage: everything, encrypted items written under any key included.
    pub fn clear(&self, store: &Store) -> Result<()> {
        let mut st = self.state.lock();
        store.clear()?;
        st.names.clear();
        st.mismatch = false;
        Ok(())
    }

    /// Key names in insertion order, an encrypted item's by the name it was set with; encrypted
    /// items this sandbox's key (or its absence) cannot open are not listed.
    pub fn keys(&self, store: &Store) -> Vec<String> {
        let st = self.state.lock();
        store.keys().into_iter().filter_map(|k| if k.starts_with(PREFIX) { st.names.get(&k).cloned() } else { Some(k) }).collect()
    }

    /// [`keys`](Self::keys) handed to `f` one by one, stopping at its first error, with no copy
    /// of them all.
    pub fn try_each_key<E>(
        &self,
        store: &Store,
        mut f: impl FnMut(&str) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let st = self.state.lock();
        store.try_each_key(|k| match k.starts_with(PREFIX) {
            true => st.names.get(k).map_or(Ok(()), |name| f(name)),
            false => f(k),
        })
    }
}

fn tombstone(slot: &str) -> (String, Value) {
    (slot.to_string(), Value { data: TOMBSTONE.to_string(), data_type: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_is_checked() {
        assert!(EncryptionKey::from_base64("AAAAAAAAAAAAAAAAAAAAAA==").is_ok());
        assert_eq!(
            EncryptionKey::from_base64("AAAA").unwrap_err(),
            "encryptionKey must be 16 bytes (AES-128), base64 encoded; it is 3 bytes"
        );
        assert_eq!(EncryptionKey::from_base64("not base64!").unwrap_err(), "encryptionKey is not valid base64");
        assert_eq!(format!("{:?}", EncryptionKey([7; 16])), "EncryptionKey(..)");
    }

    const OWNER: Owner<'static> = Owner { user: "u", app: "wx1", platform: "wechat", plugin: None };

    #[test]
    fn a_sealed_value_opens_only_in_its_slot_and_with_its_key() {
        let c = Cipher::new(&EncryptionKey([1; 16]), OWNER);
        let (a, b) = (c.slot("a"), c.slot("b"));
        assert_ne!(a, b);
        assert_eq!(a.len(), PREFIX.len() + 32);
        let sealed = c.seal(&a, "a", Some("Date"), "\"x\"").unwrap();
        assert_eq!(c.open(&a, &sealed), Some(("a".into(), Some("Date".into()), "\"x\"".into())));
        assert_eq!(c.open(&b, &sealed), None);
        assert_eq!(Cipher::new(&EncryptionKey([2; 16]), OWNER).open(&a, &sealed), None);
        // Two seals of one value differ (random nonce).
        assert_ne!(sealed, c.seal(&a, "a", Some("Date"), "\"x\"").unwrap());
    }

    /// The owner's fields are each bound; none can be moved into another.
    #[test]
    fn a_sealed_value_opens_only_for_its_owner() {
        let key = EncryptionKey([1; 16]);
        let c = Cipher::new(&key, OWNER);
        let slot = c.slot("a");
        let sealed = c.seal(&slot, "a", None, "1").unwrap();
        assert!(sealed.starts_with("\"v2."), "{sealed}");
        assert_eq!(Cipher::new(&key, OWNER).open(&slot, &sealed), Some(("a".into(), None, "1".into())));
        let others = [
            Owner { user: "u2", ..OWNER },
            Owner { app: "wx2", ..OWNER },
            Owner { platform: "alipay", ..OWNER },
            Owner { plugin: Some("wxplugin"), ..OWNER },
            // Length prefixes: moving a byte from one field to the next is another owner.
            Owner { user: "uw", app: "x1", ..OWNER },
            Owner { plugin: Some(""), ..OWNER },
        ];
        for other in others {
            assert_eq!(Cipher::new(&key, other).open(&slot, &sealed), None, "{other:?}");
        }
    }

    /// Format 1 as earlier releases wrote it: the slot alone as associated data.
    fn seal_v1(key: &EncryptionKey, slot: &str, name: &str, data: &str) -> String {
        let plain = serde_json::to_vec(&(name, None::<&str>, data)).unwrap();
        let nonce = [9u8; NONCE_LEN];
        let aead = Aes128Gcm::new_from_slice(&key.0).unwrap();
        let ct = aead.encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: slot.as_bytes() }).unwrap();
        format!("\"{}\"", base64::engine::general_purpose::STANDARD.encode([&nonce[..], &ct].concat()))
    }

    #[test]
    fn a_format_1_value_still_opens_and_is_bound_at_open() {
        let t = crate::storage::tests::TempDir::new("sealed-v1");
        let key = EncryptionKey([3; 16]);
        let slot = Cipher::new(&key, OWNER).slot("old");
        {
            let (store, _) = Store::open(t.path(), crate::storage::Durability::Process).unwrap();
            store.set_parts(&slot, None, &seal_v1(&key, &slot, "old", "\"kept\""), Limits::default()).unwrap();
        }
        let (store, _) = Store::open(t.path(), crate::storage::Durability::Process).unwrap();
        let (sealed, _) = Sealed::open(&store, Some(&key), OWNER, FormatOne::Taken).unwrap();
        let want = Value { data: "\"kept\"".into(), data_type: None };
        assert_eq!(sealed.get_encrypted(&store, "old").unwrap(), Some(want.clone()));
        assert_eq!(sealed.keys(&store), vec!["old".to_string()]);
        // Sealed again as format 2, for this owner only.
        let stored = store.get(&slot).unwrap().data;
        assert!(stored.starts_with("\"v2."), "{stored}");
        let other = Owner { user: "u2", ..OWNER };
        assert_eq!(Cipher::new(&key, other).open(&slot, &stored), None);
        drop((sealed, store));
        let (store, _) = Store::open(t.path(), crate::storage::Durability::Process).unwrap();
        let (sealed, _) = Sealed::open(&store, Some(&key), OWNER, FormatOne::Taken).unwrap();
        assert_eq!(sealed.get_encrypted(&store, "old").unwrap(), Some(want));
    }
}
