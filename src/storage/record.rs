//! The storage log's byte format: the file header and the framed records.
//!
//! ```text
//! file    = header record*
//! header  = "WXKV" version:u32le                      (version 1)
//! record  = len:u32le crc32(payload):u32le payload    (1 <= len <= MAX_PAYLOAD)
//! payload = 1 key data type?          set
//!         | 2 key                     remove
//!         | 3                         clear
//!         | 4 count:u32le (key data type?)*count   batch of sets
//! key, data = len:u32le utf8-bytes
//! type?   = 0 (absent) | 1 len:u32le utf8-bytes (present, possibly empty)
//! ```
//!
//! Every length is checked against the bytes actually present before anything is allocated, so a
//! garbage length is a bad record, never a huge allocation.

use super::Value;

pub const MAGIC: [u8; 4] = *b"WXKV";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 8;
/// `len` + `crc` in front of every payload.
pub const FRAME_LEN: usize = 8;
/// Largest payload a record may carry. Anything longer is damage, not data; the engine refuses
/// to write such a record in the first place (`StoreError::ItemTooLarge`).
pub const MAX_PAYLOAD: usize = 64 << 20;

const OP_SET: u8 = 1;
const OP_REMOVE: u8 = 2;
const OP_CLEAR: u8 = 3;
const OP_BATCH: u8 = 4;

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Set {
        key: String,
        value: Value,
    },
    Remove {
        key: String,
    },
    Clear,
    /// Applied in order, as consecutive sets.
    Batch(Vec<(String, Value)>),
}

/// Why the bytes at some offset are not a record. Replay stops at the first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// Fewer bytes left than the frame or its declared payload.
    Short,
    /// Declared length is 0 or above `MAX_PAYLOAD`.
    Length,
    /// Payload does not match its checksum.
    Crc,
    /// Checksum matches but the payload does not decode.
    Payload,
}

/// What the first bytes of a log file are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    Valid,
    /// A strict prefix of a valid header (incl. empty): the file was being created; it holds no records.
    Torn,
    /// Our magic, another format version: written by a different build; leave it alone.
    Version(u32),
    /// Not a log we wrote.
    Corrupt,
}

pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..].copy_from_slice(&VERSION.to_le_bytes());
    h
}

pub fn check_header(file: &[u8]) -> Header {
    let want = header();
    if file.len() < HEADER_LEN {
        return if want.starts_with(file) { Header::Torn } else { Header::Corrupt };
    }
    if file[..4] != MAGIC {
        return Header::Corrupt;
    }
    match u32::from_le_bytes([file[4], file[5], file[6], file[7]]) {
        VERSION => Header::Valid,
        v => Header::Version(v),
    }
}

/// Framed length of the set record `encode_set` writes for this item: what the item costs in a
/// freshly compacted log.
pub fn set_len(key: &str, value: &Value) -> u64 {
    (FRAME_LEN + 1 + item_len(key, value)) as u64
}

fn item_len(key: &str, value: &Value) -> usize {
    4 + key.len() + 4 + value.data.len() + 1 + value.data_type.as_ref().map_or(0, |t| 4 + t.len())
}

pub fn encode_set(out: &mut Vec<u8>, key: &str, value: &Value) {
    framed(out, |p| {
        p.push(OP_SET);
        put_item(p, key, value);
    });
}

pub fn encode_remove(out: &mut Vec<u8>, key: &str) {
    framed(out, |p| {
        p.push(OP_REMOVE);
        put_str(p, key);
    });
}

pub fn encode_clear(out: &mut Vec<u8>) {
    framed(out, |p| p.push(OP_CLEAR));
}

pub fn encode_batch(out: &mut Vec<u8>, items: &[(String, Value)]) {
    framed(out, |p| {
        p.push(OP_BATCH);
        put_u32(p, items.len());
        for (key, value) in items {
            put_item(p, key, value);
        }
    });
}

/// Appends `[len][crc][payload]`, the payload written in place by `body`.
fn framed(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_LEN]);
    body(out);
    let payload = &out[start + FRAME_LEN..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
}

fn put_item(p: &mut Vec<u8>, key: &str, value: &Value) {
    put_str(p, key);
    put_str(p, &value.data);
    match &value.data_type {
        None => p.push(0),
        Some(t) => {
            p.push(1);
            put_str(p, t);
        }
    }
}

fn put_str(p: &mut Vec<u8>, s: &str) {
    put_u32(p, s.len());
    p.extend_from_slice(s.as_bytes());
}

fn put_u32(p: &mut Vec<u8>, n: usize) {
    // Callers bound every record by MAX_PAYLOAD before writing it, so this never truncates in a
    // record that reaches the disk.
    p.extend_from_slice(&(n as u32).to_le_bytes());
}

/// Decodes the record at the start of `buf`; returns it and its framed length.
pub fn decode(buf: &[u8]) -> Result<(Record, usize), Bad> {
    if buf.len() < FRAME_LEN {
        return Err(Bad::Short);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return Err(Bad::Length);
    }
    let payload = buf.get(FRAME_LEN..FRAME_LEN + len).ok_or(Bad::Short)?;
    if crc32fast::hash(payload) != crc {
        return Err(Bad::Crc);
    }
    let record = decode_payload(payload).ok_or(Bad::Payload)?;
    Ok((record, FRAME_LEN + len))
}

fn decode_payload(payload: &[u8]) -> Option<Record> {
    let mut r = Reader(payload);
    let record = match r.u8()? {
        OP_SET => {
            let (key, value) = r.item()?;
            Record::Set { key, value }
        }
        OP_REMOVE => Record::Remove { key: r.string()? },
        OP_CLEAR => Record::Clear,
        OP_BATCH => {
            let count = r.u32()? as usize;
            // Each item takes at least 9 bytes: reject an impossible count before looping on it.
            if count > r.0.len() / 9 {
                return None;
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(r.item()?);
            }
            Record::Batch(items)
        }
        _ => return None,
    };
    // Trailing bytes mean we misread the payload: treat it as damage rather than guess.
    r.0.is_empty().then_some(record)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }

    fn item(&mut self) -> Option<(String, Value)> {
        let key = self.string()?;
        let data = self.string()?;
        let data_type = match self.u8()? {
            0 => None,
            1 => Some(self.string()?),
            _ => return None,
        };
        Some((key, Value { data, data_type }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(data: &str, t: Option<&str>) -> Value {
        Value { data: data.to_owned(), data_type: t.map(str::to_owned) }
    }

    fn one(rec: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        match rec {
            Record::Set { key, value } => encode_set(&mut out, key, value),
            Record::Remove { key } => encode_remove(&mut out, key),
            Record::Clear => encode_clear(&mut out),
            Record::Batch(items) => encode_batch(&mut out, items),
        }
        out
    }

    #[test]
    fn exact_bytes_of_a_set_record() {
        let mut out = Vec::new();
        encode_set(&mut out, "k", &v("1", Some("D")));
        let payload = [1, 1, 0, 0, 0, b'k', 1, 0, 0, 0, b'1', 1, 1, 0, 0, 0, b'D'];
        let mut want = (payload.len() as u32).to_le_bytes().to_vec();
        want.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        want.extend_from_slice(&payload);
        assert_eq!(out, want);
        assert_eq!(set_len("k", &v("1", Some("D"))), want.len() as u64);
        assert_eq!(set_len("k", &v("1", None)), (want.len() - 5) as u64);
        assert_eq!(header(), *b"WXKV\x01\x00\x00\x00");
    }

    #[test]
    fn every_record_kind_round_trips() {
        let records = [
            Record::Set { key: "a".into(), value: v("{\"x\":1}", None) },
            Record::Set { key: "a".into(), value: v("", Some("")) },
            Record::Set { key: "日本".into(), value: v("\"ü\"", Some("Date")) },
            Record::Remove { key: "a".into() },
            Record::Clear,
            Record::Batch(vec![]),
            Record::Batch(vec![("x".into(), v("1", None)), ("y".into(), v("null", Some("Undefined")))]),
        ];
        let mut all = Vec::new();
        for rec in &records {
            let bytes = one(rec);
            assert_eq!(decode(&bytes), Ok((rec.clone(), bytes.len())));
            all.extend_from_slice(&bytes);
        }
        let mut off = 0;
        for rec in &records {
            let (got, n) = decode(&all[off..]).unwrap();
            assert_eq!(&got, rec);
            off += n;
        }
        assert_eq!(off, all.len());
        // None and Some("") are different values on disk.
        assert_ne!(one(&records[0]).len(), 0);
        let none = one(&Record::Set { key: "a".into(), value: v("", None) });
        assert_ne!(none, one(&records[1]));
    }

    #[test]
    fn every_strict_prefix_is_short() {
        let bytes = one(&Record::Batch(vec![("x".into(), v("12", Some("t")))]));
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Err(Bad::Short), "cut at {cut}");
        }
    }

    #[test]
    fn garbage_lengths_are_rejected_before_allocation() {
        let mut bytes = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0; 32]);
        assert_eq!(decode(&bytes), Err(Bad::Length));
        let too_long = ((MAX_PAYLOAD + 1) as u32).to_le_bytes();
        bytes[..4].copy_from_slice(&too_long);
        assert_eq!(decode(&bytes), Err(Bad::Length));
        bytes[..4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode(&bytes), Err(Bad::Length));
    }

    /// Frames `payload` with a correct CRC, so only the payload decoder can reject it.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn bad_payloads_with_good_crc_are_rejected() {
        let cases: [&[u8]; 8] = [
            &[9],                                                    // unknown op
            &[3, 0],                                                 // clear with trailing byte
            &[2, 2, 0, 0, 0, b'a'],                                  // key shorter than its length
            &[2, 1, 0, 0, 0, 0xff],                                  // key not UTF-8
            &[1, 1, 0, 0, 0, b'k', 0, 0, 0, 0, 2],                   // bad data_type tag
            &[1, 1, 0, 0, 0, b'k', 0, 0, 0, 0],                      // data_type tag missing
            &[4, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0], // impossible batch count
            &[4, 1, 0, 0, 0],                                        // batch count larger than its items
        ];
        for payload in cases {
            assert_eq!(decode(&frame(payload)), Err(Bad::Payload), "{payload:?}");
        }
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let bytes = one(&Record::Set { key: "key".into(), value: v("[1,2,3]", Some("Array")) });
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(decode(&b).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn headers() {
        assert_eq!(check_header(&header()), Header::Valid);
        assert_eq!(check_header(b""), Header::Torn);
        assert_eq!(check_header(b"WXK"), Header::Torn);
        assert_eq!(check_header(b"WXKV\x01\x00\x00"), Header::Torn);
        assert_eq!(check_header(b"WXKX"), Header::Corrupt);
        assert_eq!(check_header(b"{\"a\":1}garbage"), Header::Corrupt);
        assert_eq!(check_header(b"WXKV\x02\x00\x00\x00"), Header::Version(2));
    }
}
