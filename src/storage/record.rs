//! The storage log's byte format, version 2: the file header and the records.
//!
//! ```text
//! file    = header record* zero-tail
//! header  = "WXKV" 2:u32le
//! record  = frame(payload)          io/mod.rs: len:u32le crc32(payload):u32le payload; len >= 1
//! payload = 1 klen key data                 set
//!         | 5 klen key tlen type data       set with a dataType
//!         | 2 key                           remove (the key runs to the end)
//!         | 3                               clear
//!         | 4 count item*                   batch of sets, applied in order
//! item    = 0 klen key dlen data | 1 klen key tlen type dlen data
//! klen, tlen, dlen, count = LEB128 varint (u32)
//! zero-tail = 0*                    the preallocated rest of the file
//! ```
//!
//! A set's data runs to the end of its payload, so a small item costs 11 bytes of framing and
//! lengths (MMKV's costs about 3, but MMKV has no per-record CRC). Every length is checked
//! against the bytes present before anything is read, and key, type and data are checked to be
//! UTF-8, so a record that passes its CRC but does not decode is damage, never a panic.
//!
//! Reserved for encrypted storage: an op whose payload is an opaque sealed blob
//! (nonce + ciphertext of a payload above), opened by a codec the store is given. A log that
//! holds one gets a new header version, so a build without the codec refuses the file instead
//! of cutting it at the first record it cannot read.

use std::ops::Range;

use super::Value;
use crate::io::{frame_with, Reader, FRAME_HEADER};

pub const MAGIC: [u8; 4] = *b"WXKV";
pub const VERSION: u32 = 2;
pub const HEADER_LEN: usize = 8;
/// Largest payload a record may carry. Anything longer is damage, not data; the engine refuses
/// to write such a record in the first place (`StoreError::ItemTooLarge`).
pub const MAX_PAYLOAD: usize = 64 << 20;

const OP_SET: u8 = 1;
const OP_REMOVE: u8 = 2;
const OP_CLEAR: u8 = 3;
const OP_BATCH: u8 = 4;
const OP_SET_TYPED: u8 = 5;

/// What the first bytes of a log file are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// This build's format.
    Valid,
    /// A strict prefix of a header (incl. empty): the file was being created; it holds no records.
    Torn,
    /// Our magic with another format version: 1 is upgraded at open, others are refused.
    Version(u32),
    /// Not a log we wrote.
    Corrupt,
}

pub fn header() -> [u8; HEADER_LEN] {
    header_of(VERSION)
}

fn header_of(version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..].copy_from_slice(&version.to_le_bytes());
    h
}

pub fn check_header(file: &[u8]) -> Header {
    if file.len() < HEADER_LEN {
        let prefix = |v| header_of(v).starts_with(file);
        return if prefix(VERSION) || prefix(super::v1::VERSION) { Header::Torn } else { Header::Corrupt };
    }
    if file[..4] != MAGIC {
        return Header::Corrupt;
    }
    match u32::from_le_bytes([file[4], file[5], file[6], file[7]]) {
        VERSION => Header::Valid,
        v => Header::Version(v),
    }
}

/// Where one item's parts lie, as byte ranges of the file (or of whatever buffer was parsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub key: Range<usize>,
    pub ty: Option<Range<usize>>,
    pub data: Range<usize>,
}

/// One change a record makes, with its parts as ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Set(Item),
    Remove(Range<usize>),
    Clear,
}

fn varint_len(n: usize) -> usize {
    match n {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Framed length of a set record for an item of these part lengths: what the item costs in a
/// freshly compacted log.
pub fn set_len(klen: usize, tlen: Option<usize>, dlen: usize) -> u64 {
    let t = tlen.map_or(0, |t| varint_len(t) + t);
    (FRAME_HEADER + 1 + varint_len(klen) + klen + t + dlen) as u64
}

/// Offset of the key in a set record (from the record's start) whose key is `klen` bytes.
pub fn set_key_offset(klen: usize) -> usize {
    FRAME_HEADER + 1 + varint_len(klen)
}

/// The whole framed set record of `item` in `log`, when that record is exactly what
/// `encode_set` writes for it: a compaction copies it as it is, CRC included (checked when the
/// record was read at open, or computed when it was appended), instead of encoding it again.
/// `None` for an item of a batch, or a record whose lengths were not written the shortest way.
pub fn whole_set<'a>(log: &'a [u8], item: &Item) -> Option<&'a [u8]> {
    let klen = item.key.len();
    let start = item.key.start.checked_sub(set_key_offset(klen))?;
    let len = set_len(klen, item.ty.as_ref().map(|t| t.len()), item.data.len()) as usize;
    let frame = log.get(start..start + len)?;
    let op = if item.ty.is_some() { OP_SET_TYPED } else { OP_SET };
    // Its length field, its op, the data running to its end right after the key (or the type):
    // with the key where the shortest length varint puts it, the record has no other bytes.
    let whole = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize == len - FRAME_HEADER
        && frame[FRAME_HEADER] == op
        && item.data.end == start + len
        && item.data.start == item.ty.as_ref().map_or(item.key.end, |t| t.end);
    whole.then_some(frame)
}

/// Appends a set record; returns where key, type and data lie relative to the record's start.
pub fn encode_set(out: &mut Vec<u8>, key: &[u8], ty: Option<&[u8]>, data: &[u8]) -> Item {
    let start = out.len();
    frame_with(out, |p| {
        p.push(if ty.is_some() { OP_SET_TYPED } else { OP_SET });
        put_varint(p, key.len());
        let k = p.len() - start;
        p.extend_from_slice(key);
        let ty = ty.map(|t| {
            put_varint(p, t.len());
            let at = p.len() - start;
            p.extend_from_slice(t);
            at..at + t.len()
        });
        let d = p.len() - start;
        p.extend_from_slice(data);
        Item { key: k..k + key.len(), ty, data: d..d + data.len() }
    })
}

pub fn encode_remove(out: &mut Vec<u8>, key: &str) {
    frame_with(out, |p| {
        p.push(OP_REMOVE);
        p.extend_from_slice(key.as_bytes());
    });
}

pub fn encode_clear(out: &mut Vec<u8>) {
    frame_with(out, |p| p.push(OP_CLEAR));
}

/// Appends a batch record; returns each item's parts relative to the record's start.
pub fn encode_batch(out: &mut Vec<u8>, items: &[(String, Value)]) -> Vec<Item> {
    let start = out.len();
    frame_with(out, |p| {
        p.push(OP_BATCH);
        put_varint(p, items.len());
        let mut at = Vec::with_capacity(items.len());
        for (key, value) in items {
            p.push(value.data_type.is_some() as u8);
            put_varint(p, key.len());
            let k = p.len() - start;
            p.extend_from_slice(key.as_bytes());
            let ty = value.data_type.as_ref().map(|t| {
                put_varint(p, t.len());
                let a = p.len() - start;
                p.extend_from_slice(t.as_bytes());
                a..a + t.len()
            });
            put_varint(p, value.data.len());
            let d = p.len() - start;
            p.extend_from_slice(value.data.as_bytes());
            at.push(Item { key: k..k + key.len(), ty, data: d..d + value.data.len() });
        }
        at
    })
}

/// Reads a payload that lies at `file[range]`, calling `f` with each change it makes (ranges
/// are of `file`). `false` when it does not decode; then `f` has not been called, so a bad
/// batch applies nothing.
pub fn parse(file: &[u8], range: Range<usize>, mut f: impl FnMut(Op)) -> bool {
    let mut r = Reader::within(file, range);
    let Some(op) = r.u8() else { return false };
    match op {
        OP_SET | OP_SET_TYPED => {
            let Some(key) = part(&mut r, file) else { return false };
            let ty = if op == OP_SET_TYPED {
                match part(&mut r, file) {
                    Some(t) => Some(t),
                    None => return false,
                }
            } else {
                None
            };
            let Some(data) = rest(&mut r, file) else { return false };
            f(Op::Set(Item { key, ty, data }));
        }
        OP_REMOVE => {
            let Some(key) = rest(&mut r, file).filter(|k| !k.is_empty()) else { return false };
            f(Op::Remove(key));
        }
        OP_CLEAR => {
            if !r.is_empty() {
                return false;
            }
            f(Op::Clear);
        }
        OP_BATCH => {
            // Check the whole batch before applying any of it: all or nothing.
            let start = r.pos();
            let Some(count) = batch_items(&mut r, file, |_| {}) else { return false };
            r.seek(start);
            let _ = count;
            batch_items(&mut r, file, |item| f(Op::Set(item)));
        }
        _ => return false,
    }
    true
}

/// `len` bytes of UTF-8.
fn text(r: &mut Reader<'_>, file: &[u8], len: usize) -> Option<Range<usize>> {
    let range = r.take_range(len)?;
    std::str::from_utf8(&file[range.clone()]).ok()?;
    Some(range)
}

/// A varint length and that many bytes of UTF-8.
fn part(r: &mut Reader<'_>, file: &[u8]) -> Option<Range<usize>> {
    let n = r.varint()?;
    text(r, file, n)
}

/// UTF-8 to the end of the payload.
fn rest(r: &mut Reader<'_>, file: &[u8]) -> Option<Range<usize>> {
    text(r, file, r.remaining())
}

fn batch_items(r: &mut Reader<'_>, file: &[u8], mut f: impl FnMut(Item)) -> Option<usize> {
    let count = r.varint()?;
    // Each item takes at least 4 bytes: reject an impossible count before looping on it.
    if count > r.remaining() / 4 {
        return None;
    }
    for _ in 0..count {
        let typed = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let key = part(r, file)?;
        let ty = if typed { Some(part(r, file)?) } else { None };
        let data = part(r, file)?;
        f(Item { key, ty, data });
    }
    r.is_empty().then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::unframe;

    fn v(data: &str, t: Option<&str>) -> Value {
        Value { data: data.to_owned(), data_type: t.map(str::to_owned) }
    }

    /// (key, type, data) of one change, as owned text.
    type Change = (String, Option<String>, Option<String>);

    /// The changes one framed record makes.
    fn changes(rec: &[u8]) -> Option<Vec<Change>> {
        let (payload, n) = unframe(rec, MAX_PAYLOAD)?;
        assert_eq!(n, rec.len());
        let s = |r: Range<usize>| String::from_utf8(rec[r].to_vec()).unwrap();
        let mut out = Vec::new();
        let ok = parse(rec, FRAME_HEADER..FRAME_HEADER + payload.len(), |op| match op {
            Op::Set(i) => out.push((s(i.key), i.ty.map(s), Some(s(i.data)))),
            Op::Remove(k) => out.push((s(k), None, None)),
            Op::Clear => out.push((String::new(), None, None)),
        });
        ok.then_some(out)
    }

    #[test]
    fn exact_bytes_of_set_records() {
        let mut out = Vec::new();
        let item = encode_set(&mut out, b"k", Some(b"D"), b"1");
        let payload = [5, 1, b'k', 1, b'D', b'1'];
        let mut want = (payload.len() as u32).to_le_bytes().to_vec();
        want.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        want.extend_from_slice(&payload);
        assert_eq!(out, want);
        assert_eq!(item, Item { key: 10..11, ty: Some(12..13), data: 13..14 });
        assert_eq!(set_len(1, Some(1), 1), want.len() as u64);
        // An untyped 10-byte key with 18 bytes of data: 8 + 1 + 1 + 10 + 18.
        let mut out = Vec::new();
        encode_set(&mut out, b"0123456789", None, b"\"0123456789abcde\"");
        assert_eq!((out.len() as u64, set_len(10, None, 17)), (37, 37));
        assert_eq!(&out[8..10], &[1, 10]);
        assert_eq!(header(), *b"WXKV\x02\x00\x00\x00");
    }

    #[test]
    fn every_record_kind_round_trips() {
        let long = "x".repeat(300);
        let cases: Vec<(Vec<u8>, Vec<Change>)> = vec![
            (
                {
                    let mut b = Vec::new();
                    encode_set(&mut b, "日本".as_bytes(), None, "\"ü\"".as_bytes());
                    b
                },
                vec![("日本".into(), None, Some("\"ü\"".into()))],
            ),
            (
                {
                    let mut b = Vec::new();
                    encode_set(&mut b, long.as_bytes(), Some(b""), b"");
                    b
                },
                vec![(long.clone(), Some(String::new()), Some(String::new()))],
            ),
            (
                {
                    let mut b = Vec::new();
                    encode_remove(&mut b, "a");
                    b
                },
                vec![("a".into(), None, None)],
            ),
            (
                {
                    let mut b = Vec::new();
                    encode_clear(&mut b);
                    b
                },
                vec![(String::new(), None, None)],
            ),
            (
                {
                    let mut b = Vec::new();
                    let items = [("x".to_string(), v("1", None)), ("y".to_string(), v(&long, Some("Undefined")))];
                    let at = encode_batch(&mut b, &items);
                    assert_eq!(&b[at[1].data.clone()], long.as_bytes());
                    assert_eq!(&b[at[1].ty.clone().unwrap()], b"Undefined");
                    b
                },
                vec![("x".into(), None, Some("1".into())), ("y".into(), Some("Undefined".into()), Some(long.clone()))],
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(changes(&bytes), Some(want));
        }
    }

    #[test]
    fn bad_payloads_with_good_crc_are_rejected_and_a_bad_batch_applies_nothing() {
        let cases: [&[u8]; 10] = [
            &[9],                                        // unknown op
            &[3, 0],                                     // clear with a trailing byte
            &[2],                                        // remove of an empty key
            &[1, 2, b'a'],                               // key shorter than its length
            &[1, 1, 0xff, b'1'],                         // key not UTF-8
            &[1, 1, b'k', 0xff],                         // data not UTF-8
            &[5, 1, b'k', 9, b'1'],                      // type longer than the payload
            &[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],    // varint too long
            &[4, 0x7f, 0, 1, b'a', 0],                   // impossible batch count
            &[4, 2, 0, 1, b'a', 1, b'1', 2, 1, b'b', 0], // second item has a bad tag
        ];
        for payload in cases {
            let mut rec = Vec::new();
            crate::io::frame(&mut rec, payload);
            let mut called = false;
            assert!(!parse(&rec, FRAME_HEADER..rec.len(), |_| called = true), "{payload:?}");
            assert!(!called, "{payload:?}");
        }
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let mut bytes = Vec::new();
        encode_set(&mut bytes, b"key", Some(b"Array"), b"[1,2,3]");
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let decoded = unframe(&b, MAX_PAYLOAD).filter(|(p, _)| parse(&b, FRAME_HEADER..FRAME_HEADER + p.len(), |_| {}));
                assert!(decoded.is_none(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn headers() {
        assert_eq!(check_header(&header()), Header::Valid);
        assert_eq!(check_header(b""), Header::Torn);
        assert_eq!(check_header(b"WXK"), Header::Torn);
        assert_eq!(check_header(b"WXKV\x02\x00\x00"), Header::Torn);
        assert_eq!(check_header(b"WXKV\x01\x00\x00"), Header::Torn);
        assert_eq!(check_header(b"WXKX"), Header::Corrupt);
        assert_eq!(check_header(b"{\"a\":1}garbage"), Header::Corrupt);
        assert_eq!(check_header(b"WXKV\x01\x00\x00\x00"), Header::Version(1));
        assert_eq!(check_header(b"WXKV\x03\x00\x00\x00"), Header::Version(3));
    }
}
