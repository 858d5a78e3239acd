//! The storage log format of release 0.1.0 (version 1), kept only to read such a log once at open
//! and upgrade it (`log.rs`); this build never appends to one.
//!
//! ```text
//! file    = "WXKV" 1:u32le record*
//! record  = frame(payload)                      (io/mod.rs: len:u32le crc32:u32le payload)
//! payload = 1 key data type?          set
//!         | 2 key                     remove
//!         | 3                         clear
//!         | 4 count:u32le (key data type?)*count   batch of sets
//! key, data = len:u32le utf8-bytes
//! type?   = 0 (absent) | 1 len:u32le utf8-bytes (present, possibly empty)
//! ```

use super::Value;
use crate::io::{unframe, Reader};

pub const VERSION: u32 = 1;
/// The largest payload release 0.1.0 wrote.
const MAX_PAYLOAD: usize = 64 << 20;

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

/// The record at the start of `buf` and its framed length; `None` where replay stops (short,
/// bad length, bad CRC, or a payload that does not decode).
pub fn decode(buf: &[u8]) -> Option<(Record, usize)> {
    let (payload, n) = unframe(buf, MAX_PAYLOAD)?;
    Some((decode_payload(payload)?, n))
}

fn decode_payload(payload: &[u8]) -> Option<Record> {
    let mut r = Reader::new(payload);
    let record = match r.u8()? {
        OP_SET => {
            let (key, value) = item(&mut r)?;
            Record::Set { key, value }
        }
        OP_REMOVE => Record::Remove { key: string(&mut r)? },
        OP_CLEAR => Record::Clear,
        OP_BATCH => {
            let count = r.u32()? as usize;
            // Each item takes at least 9 bytes: reject an impossible count before looping on it.
            if count > r.remaining() / 9 {
                return None;
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(item(&mut r)?);
            }
            Record::Batch(items)
        }
        _ => return None,
    };
    r.is_empty().then_some(record)
}

/// A length-prefixed UTF-8 string.
fn string(r: &mut Reader<'_>) -> Option<String> {
    let n = r.u32()? as usize;
    std::str::from_utf8(r.take(n)?).ok().map(str::to_owned)
}

fn item(r: &mut Reader<'_>) -> Option<(String, Value)> {
    let key = string(r)?;
    let data = string(r)?;
    let data_type = match r.u8()? {
        0 => None,
        1 => Some(string(r)?),
        _ => return None,
    };
    Some((key, Value { data, data_type }))
}

/// Writers of version-1 logs, as release 0.1.0 wrote them, for tests that make such logs.
#[cfg(test)]
pub mod write {
    use super::*;
    use crate::io::frame;

    pub fn header() -> Vec<u8> {
        let mut h = b"WXKV".to_vec();
        h.extend_from_slice(&VERSION.to_le_bytes());
        h
    }

    fn put_str(p: &mut Vec<u8>, s: &str) {
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
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

    pub fn record(out: &mut Vec<u8>, rec: &Record) {
        let mut p = Vec::new();
        match rec {
            Record::Set { key, value } => {
                p.push(OP_SET);
                put_item(&mut p, key, value);
            }
            Record::Remove { key } => {
                p.push(OP_REMOVE);
                put_str(&mut p, key);
            }
            Record::Clear => p.push(OP_CLEAR),
            Record::Batch(items) => {
                p.push(OP_BATCH);
                p.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for (k, v) in items {
                    put_item(&mut p, k, v);
                }
            }
        }
        frame(out, &p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(data: &str, t: Option<&str>) -> Value {
        Value { data: data.to_owned(), data_type: t.map(str::to_owned) }
    }

    #[test]
    fn every_record_kind_round_trips_and_damage_stops_replay() {
        let records = [
            Record::Set { key: "a".into(), value: v("{\"x\":1}", None) },
            Record::Set { key: "日本".into(), value: v("\"ü\"", Some("Date")) },
            Record::Remove { key: "a".into() },
            Record::Clear,
            Record::Batch(vec![("x".into(), v("1", None)), ("y".into(), v("null", Some("")))]),
        ];
        for rec in &records {
            let mut b = Vec::new();
            write::record(&mut b, rec);
            assert_eq!(decode(&b), Some((rec.clone(), b.len())));
            for cut in 0..b.len() {
                assert_eq!(decode(&b[..cut]), None);
            }
        }
        // A batch whose count promises more items than its bytes hold.
        let mut b = Vec::new();
        crate::io::frame(&mut b, &[4, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0]);
        assert_eq!(decode(&b), None);
    }
}
