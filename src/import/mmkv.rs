//! Reading an MMKV store (Tencent MMKV's files, as its C++ core writes them; docs/import-mmkv.md
//! describes the format). Safe Rust, reading only: nothing here writes to the store's files.
//!
//! A store with id `ID` in directory `DIR` is two files:
//! - `DIR/ID`, the data: a little-endian u32 (the data size of old versions), then the data: one
//!   varint (a placeholder MMKV writes at each full write-back), then records appended one after
//!   another, each a varint key length, the key's bytes, a varint value length and the value's
//!   bytes. A later record of a key replaces an earlier one; an empty value removes the key. The
//!   file is longer than the data (it grows by pages); the rest is not data.
//! - `DIR/ID.crc`, the meta: the CRC32 (zlib's) of the data, a format version, the count of full
//!   write-backs, a 16-byte AES IV, the data size (version 3 and later), the last size and CRC
//!   synced to disk, and flags (version 4 and later; bit 0: each value ends with a 4-byte
//!   expiry time).
//!
//! An encrypted store encrypts the data (not the leading u32) with AES-128 in CFB-128 mode, as
//! one stream from its start: the key is the user's key cut or zero-padded to 16 bytes, the IV
//! the meta's (version 2 and later) or else the key itself. The CRC is of the encrypted bytes,
//! so it says nothing about the key: a wrong key shows as data that does not parse.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use aes::cipher::{AsyncStreamCipher, KeyIvInit};

/// The largest data file read: a store this large is far beyond any storage limit of a sandbox
/// (MMKV files grow by pages and keep history, so the bound is generous), and reading stays
/// bounded whatever file is named.
pub const MAX_FILE: u64 = 128 << 20;

/// The most keys a store may hold at any point of its history: ten times what a sandbox's
/// default total admits, and a bound on the index the parse builds (a file of 4-byte records
/// would otherwise make tens of millions of entries).
pub const MAX_KEYS: usize = 1 << 20;

/// The meta file's bytes that are read (its fields end at 112; MMKV keeps a page).
const META_LEN: usize = 112;

/// Meta versions (MMKV's `MMKVVersion`).
const VERSION_RANDOM_IV: u32 = 2;
const VERSION_ACTUAL_SIZE: u32 = 3;
const VERSION_FLAG: u32 = 4;

/// Meta flag: every value carries a 4-byte expiry time at its end.
const FLAG_KEY_EXPIRE: u64 = 1;

/// One key's last value in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The key's bytes (MMKV writes UTF-8; not checked here).
    pub key: Vec<u8>,
    /// The value's bytes as MMKV encodes them (see `decode_*`), expiry time removed.
    pub value: Vec<u8>,
    /// The expiry time, in seconds since the epoch, of a store with key expiry (0: never).
    pub expires: Option<u32>,
}

/// What `read` found.
#[derive(Debug, Clone)]
pub struct Contents {
    /// Every key the store holds, in the order of its last write.
    pub items: Vec<Item>,
    /// Why the store is damaged, when `recover` read it anyway; `None` when its checksum holds.
    pub damaged: Option<String>,
    /// Whether it was decrypted with a key.
    pub encrypted: bool,
    /// The data bytes read (after the leading u32).
    pub data_len: usize,
}

/// Why a store cannot be read. Each says what to do about it.
#[derive(Debug)]
pub enum ReadError {
    /// The data file is missing.
    Missing(PathBuf),
    /// A file could not be read.
    Io(PathBuf, std::io::Error),
    /// The data file is larger than [`MAX_FILE`].
    TooLarge(PathBuf, u64),
    /// The store holds more than [`MAX_KEYS`] keys.
    TooManyKeys,
    /// The checksum fails (or the meta file is missing or short): the store is damaged.
    Damaged(String),
    /// The checksum holds but the data does not parse: an encrypted store read without its
    /// key, or with a wrong one.
    Unparsable {
        /// Whether a key was given.
        with_key: bool,
        /// Where and why parsing stopped.
        why: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Missing(p) => write!(f, "no MMKV store: {} does not exist", p.display()),
            ReadError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            ReadError::TooLarge(p, n) => {
                write!(f, "{} is {n} bytes, more than the {MAX_FILE} bytes an import reads", p.display())
            }
            ReadError::TooManyKeys => {
                write!(f, "the store holds more than {MAX_KEYS} keys, more than an import takes; nothing was imported")
            }
            ReadError::Damaged(why) => {
                write!(f, "the store is damaged ({why}); nothing was imported. Pass the recover option to import every record that still parses")
            }
            ReadError::Unparsable { with_key: false, why } => {
                write!(f, "the store does not parse ({why}): it is encrypted (pass its key) or damaged; nothing was imported")
            }
            ReadError::Unparsable { with_key: true, why } => {
                write!(f, "the store does not parse with this key ({why}): a wrong key, or a store that is not encrypted; nothing was imported")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// The two files of store `id` in `dir`.
pub fn paths(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    (dir.join(id), dir.join(format!("{id}.crc")))
}

/// Read at most `limit` bytes of `path` (a longer file is `TooLarge`).
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing(path.to_path_buf()),
        _ => ReadError::Io(path.to_path_buf(), e),
    })?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf).map_err(|e| ReadError::Io(path.to_path_buf(), e))?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge(path.to_path_buf(), buf.len() as u64));
    }
    Ok(buf)
}

/// The meta file's fields that matter here.
#[derive(Debug, Default, Clone, Copy)]
struct Meta {
    crc: u32,
    version: u32,
    iv: [u8; 16],
    actual_size: u32,
    flags: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn parse_meta(b: &[u8]) -> Meta {
    // A short meta file reads as zeros past its end, as MMKV's zero-filled page does.
    let mut page = [0u8; META_LEN];
    let n = b.len().min(META_LEN);
    page[..n].copy_from_slice(&b[..n]);
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&page[12..28]);
    let mut flags = [0u8; 8];
    flags.copy_from_slice(&page[104..112]);
    Meta {
        crc: u32_at(&page, 0),
        version: u32_at(&page, 4),
        iv,
        actual_size: u32_at(&page, 28),
        flags: u64::from_le_bytes(flags),
    }
}

/// Read store `id` in `dir`. `key`: the store's encryption key (MMKV uses its first 16 bytes).
/// `recover`: read a store whose checksum fails, keeping every record up to the first that does
/// not parse, and say so in `Contents::damaged`.
pub fn read(dir: &Path, id: &str, key: Option<&[u8]>, recover: bool) -> Result<Contents, ReadError> {
    let (data_path, meta_path) = paths(dir, id);
    let file = read_capped(&data_path, MAX_FILE)?;
    let meta = match read_capped(&meta_path, 1 << 20) {
        Ok(b) => Ok(parse_meta(&b)),
        Err(ReadError::Missing(p)) => Err(format!("its checksum file {} is missing", p.display())),
        Err(e) => return Err(e),
    };
    let (region, damaged) = checked_region(&file, meta.as_ref().ok().copied(), meta.as_ref().err())?;
    if damaged.is_some() && !recover {
        return Err(ReadError::Damaged(damaged.unwrap_or_default()));
    }
    let meta = meta.unwrap_or_default();
    let mut data = std::borrow::Cow::Borrowed(&file[4..4 + region]);
    if let Some(k) = key {
        decrypt(data.to_mut(), k, &meta);
    }
    let expire = meta.version >= VERSION_FLAG && meta.flags & FLAG_KEY_EXPIRE != 0;
    let (items, stopped) = parse_records(&data, expire, MAX_KEYS).ok_or(ReadError::TooManyKeys)?;
    let damaged = match (stopped, damaged) {
        (None, d) => d,
        (Some(why), None) if !recover => return Err(ReadError::Unparsable { with_key: key.is_some(), why }),
        (Some(why), None) => Some(format!("its records stop parsing: {why}")),
        (Some(why), Some(d)) => Some(format!("{d}; its records stop parsing: {why}")),
    };
    Ok(Contents { items, damaged, encrypted: key.is_some(), data_len: region })
}

/// The data size whose CRC matches, or (when none does) the most the file holds and why it is
/// damaged. Tried in MMKV's order: the size the meta records (version 3 and later, else the
/// data file's leading u32), then the leading u32.
fn checked_region(file: &[u8], meta: Option<Meta>, meta_missing: Option<&String>) -> Result<(usize, Option<String>), ReadError> {
    if file.len() < 4 {
        return Ok((0, Some(format!("the data file is {} bytes, shorter than its 4-byte header", file.len()))));
    }
    let avail = file.len() - 4;
    let header = u32_at(file, 0) as usize;
    let Some(meta) = meta else {
        return Ok((header.min(avail), meta_missing.cloned()));
    };
    let recorded = if meta.version >= VERSION_ACTUAL_SIZE { meta.actual_size as usize } else { header };
    let crc_ok = |size: usize| size <= avail && crc32fast::hash(&file[4..4 + size]) == meta.crc;
    if crc_ok(recorded) {
        return Ok((recorded, None));
    }
    if header != recorded && crc_ok(header) {
        return Ok((header, None));
    }
    let why = if recorded > avail {
        format!("its data size {recorded} is beyond the file's {avail} bytes of data")
    } else {
        format!(
            "checksum mismatch: the CRC32 of its {recorded} bytes of data is {:08x}, its .crc file says {:08x}",
            crc32fast::hash(&file[4..4 + recorded]),
            meta.crc
        )
    };
    Ok((recorded.min(avail), Some(why)))
}

/// MMKV's decryption: AES-128, CFB-128, one stream over the whole data.
fn decrypt(data: &mut [u8], key: &[u8], meta: &Meta) {
    let mut k = [0u8; 16];
    let n = key.len().min(16);
    k[..n].copy_from_slice(&key[..n]);
    let iv = if meta.version >= VERSION_RANDOM_IV { meta.iv } else { k };
    cfb_mode::Decryptor::<aes::Aes128>::new(&k.into(), &iv.into()).decrypt(data);
}

/// A varint of at most 10 bytes at `*at`, as protobuf writes it.
pub fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A length-prefixed run of bytes at `*at`.
fn chunk<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(varint(b, at)?).ok()?;
    let end = at.checked_add(len)?;
    let s = b.get(*at..end)?;
    *at = end;
    Some(s)
}

/// The records of decrypted data, folded to each key's last value, in the order of the last
/// writes; and, when a record does not parse, where and why (the items before it are kept).
/// `None` when more than `max_keys` keys are live at once.
fn parse_records(data: &[u8], expire: bool, max_keys: usize) -> Option<(Vec<Item>, Option<String>)> {
    use std::collections::HashMap;
    let mut last: HashMap<&[u8], (usize, &[u8])> = HashMap::new();
    let mut seq = 0usize;
    let mut at = 0usize;
    let mut stopped = None;
    if !data.is_empty() && varint(data, &mut at).is_none() {
        stopped = Some("its leading placeholder is not a varint".to_string());
        at = data.len();
    }
    while at < data.len() {
        let start = at;
        let Some(key) = chunk(data, &mut at) else {
            stopped = Some(format!("the key of the record at byte {start} of {} runs past the end", data.len()));
            break;
        };
        if key.is_empty() {
            // MMKV reads no value after an empty key.
            continue;
        }
        let Some(value) = chunk(data, &mut at) else {
            stopped = Some(format!("the value of the record at byte {start} of {} runs past the end", data.len()));
            break;
        };
        if value.is_empty() {
            last.remove(key);
        } else {
            last.insert(key, (seq, value));
            seq += 1;
            if last.len() > max_keys {
                return None;
            }
        }
    }
    let mut items: Vec<(usize, &[u8], &[u8])> = last.into_iter().map(|(k, (s, v))| (s, k, v)).collect();
    items.sort_unstable_by_key(|&(s, _, _)| s);
    let items = items
        .into_iter()
        .map(|(_, k, v)| {
            let (value, expires) = if expire && v.len() >= 4 {
                let (v, t) = v.split_at(v.len() - 4);
                (v.to_vec(), Some(u32_at(t, 0)))
            } else {
                (v.to_vec(), None)
            };
            Item { key: k.to_vec(), value, expires }
        })
        .collect();
    Some((items, stopped))
}

/// A value written by `set(std::string)` (or NSData, NSString): a varint length and exactly that
/// many bytes.
pub fn decode_bytes(v: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    let s = chunk(v, &mut at)?;
    (at == v.len()).then_some(s)
}

/// A value written by `set(int32_t)`: a varint of the sign-extended value.
pub fn decode_i32(v: &[u8]) -> Option<i32> {
    decode_i64(v).map(|n| n as i32)
}

/// A value written by `set(int64_t)`: a varint of its two's complement.
pub fn decode_i64(v: &[u8]) -> Option<i64> {
    let mut at = 0;
    let n = varint(v, &mut at)?;
    (at == v.len()).then_some(n as i64)
}

/// A value written by `set(bool)`: a varint, 0 or 1.
pub fn decode_bool(v: &[u8]) -> Option<bool> {
    decode_i64(v).map(|n| n != 0)
}

/// A value written by `set(float)`: four little-endian bytes.
pub fn decode_f32(v: &[u8]) -> Option<f32> {
    Some(f32::from_le_bytes(v.try_into().ok()?))
}

/// A value written by `set(double)`: eight little-endian bytes.
pub fn decode_f64(v: &[u8]) -> Option<f64> {
    Some(f64::from_le_bytes(v.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn record(out: &mut Vec<u8>, k: &[u8], v: &[u8]) {
        put_varint(out, k.len() as u64);
        out.extend_from_slice(k);
        put_varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }

    #[test]
    fn later_records_replace_earlier_and_an_empty_value_removes() {
        let mut d = vec![0x80, 0x80, 0x80, 0x01];
        record(&mut d, b"a", b"\x011");
        record(&mut d, b"b", b"\x012");
        record(&mut d, b"a", b"\x013");
        record(&mut d, b"b", b"");
        record(&mut d, b"c", b"\x014");
        let (items, stopped) = parse_records(&d, false, MAX_KEYS).unwrap();
        assert_eq!(stopped, None);
        let got: Vec<(&[u8], &[u8])> = items.iter().map(|i| (&i.key[..], &i.value[..])).collect();
        assert_eq!(got, vec![(&b"a"[..], &b"\x013"[..]), (&b"c"[..], &b"\x014"[..])]);
    }

    #[test]
    fn a_truncated_record_stops_the_parse_and_keeps_what_came_before() {
        let mut d = vec![0x80, 0x80, 0x80, 0x01];
        record(&mut d, b"a", b"\x011");
        d.extend_from_slice(&[5, b'x']);
        let (items, stopped) = parse_records(&d, false, MAX_KEYS).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(stopped.as_deref(), Some("the key of the record at byte 9 of 11 runs past the end"));
    }

    #[test]
    fn more_live_keys_than_the_bound_are_refused_and_tombstones_free_their_place() {
        let mut d = vec![0x80, 0x80, 0x80, 0x01];
        for i in 0..=100 {
            record(&mut d, format!("{i:x}").as_bytes(), b"\x01v");
        }
        assert!(parse_records(&d, false, 100).is_none());
        let mut d = vec![0x80, 0x80, 0x80, 0x01];
        for i in 0..=150 {
            record(&mut d, format!("{i:x}").as_bytes(), b"\x01v");
            if i % 2 == 0 {
                record(&mut d, format!("{i:x}").as_bytes(), b"");
            }
        }
        assert_eq!(parse_records(&d, false, 100).unwrap().0.len(), 75);
    }

    #[test]
    fn key_expiry_takes_the_last_four_bytes() {
        let mut d = vec![0x80, 0x80, 0x80, 0x01];
        record(&mut d, b"a", b"\x02hi\x10\x00\x00\x00");
        let (items, _) = parse_records(&d, true, MAX_KEYS).unwrap();
        assert_eq!(items[0].value, b"\x02hi");
        assert_eq!(items[0].expires, Some(16));
    }

    #[test]
    fn scalar_decoders_read_mmkv_encodings() {
        assert_eq!(decode_i32(&[0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Some(-5));
        assert_eq!(decode_bool(&[1]), Some(true));
        assert_eq!(decode_f64(&1.5f64.to_le_bytes()), Some(1.5));
        assert_eq!(decode_bytes(b"\x02hi"), Some(&b"hi"[..]));
        assert_eq!(decode_bytes(b"\x03hi"), None);
        assert_eq!(decode_bytes(b"\x01hi"), None);
        // A varint longer than ten bytes is not one.
        assert_eq!(decode_i64(&[0xff; 11]), None);
    }
}
