//! One call's result budget (docs/design.md §4, "one call's result"): every part of a result,
//! text read from a file and listings alike, is charged the bytes of JSON text it adds before it
//! is built, and a listing is written into its JSON text while the walk runs, never gathered
//! first. Past the budget the call fails 1300202 `native buffer exceed size limit` (WeChat's
//! words for a result too large to carry), having built nothing more.

use std::io;

use crate::error::{code, Error, Result};

/// Bytes a listing charges for each entry beyond its JSON text: the record the walk keeps of
/// the entry until it is written (its name's `String` and stats, or a key's place in the order),
/// so that what is held while a directory is read and sorted is paid for as well.
pub const HELD: u64 = 64;

/// The failure of a result past its budget.
pub fn too_big() -> Error {
    Error::new(code::STORAGE_LIMIT, "native buffer exceed size limit")
}

/// What one call's result may still add, in bytes of JSON text.
pub struct Budget {
    left: u64,
}

impl Budget {
    /// A budget of `bytes` (`FileSystem::text_limit`: twice the readFile limit).
    pub fn new(bytes: u64) -> Budget {
        Budget { left: bytes }
    }

    /// Take `n` bytes, or fail [`too_big`] and take nothing.
    pub fn charge(&mut self, n: u64) -> Result<()> {
        if n > self.left {
            return Err(too_big());
        }
        self.left -= n;
        Ok(())
    }
}

/// The JSON text of a listing, written as its entries come. It is charged ahead of what it
/// writes, and its buffer never grows past what has been charged, so it holds at most the
/// budget (never a doubling beyond it).
pub struct JsonOut {
    budget: Budget,
    buf: Vec<u8>,
    charged: usize,
}

impl JsonOut {
    /// An empty text that may take `budget`.
    pub fn new(budget: Budget) -> JsonOut {
        JsonOut { budget, buf: Vec::new(), charged: 0 }
    }

    /// Charge `n` bytes still to be written.
    pub fn charge(&mut self, n: u64) -> Result<()> {
        self.budget.charge(n)?;
        self.charged = self.charged.saturating_add(n as usize);
        Ok(())
    }

    /// Append `bytes`, growing by doubling but never past what has been charged.
    pub fn put(&mut self, bytes: &[u8]) {
        let need = self.buf.len() + bytes.len();
        if need > self.buf.capacity() {
            let want = (self.buf.capacity() * 2).max(4096).min(self.charged).max(need);
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Append `s` as a JSON string.
    pub fn put_str(&mut self, s: &str) {
        let _ = serde_json::to_writer(&mut *self, s);
    }

    /// Append `n` as JSON.
    pub fn put_num(&mut self, n: impl Into<i128>) {
        let _ = serde_json::to_writer(&mut *self, &n.into());
    }

    /// The text.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

impl io::Write for JsonOut {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.put(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes of `s` as a JSON string, quotes included, escaped as serde_json escapes it.
pub fn str_len(s: &str) -> u64 {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<u64>()
}

/// Bytes of `n` as JSON.
pub fn num_len(n: impl Into<i128>) -> u64 {
    let n: i128 = n.into();
    let (mut len, mut m) = (1 + (n < 0) as u64, n.unsigned_abs());
    while m >= 10 {
        m /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_len_is_the_length_serde_json_writes() {
        let mut all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        all.push_str("é中😀\u{7f}\u{2028}");
        for s in [all.as_str(), "", "plain", "\"\\", "\u{0}\u{1f}"] {
            assert_eq!(str_len(s), serde_json::to_string(s).unwrap().len() as u64, "{s:?}");
        }
        for n in [0i64, 9, 10, -1, -10, i64::MAX, i64::MIN] {
            assert_eq!(num_len(n), n.to_string().len() as u64);
        }
    }

    #[test]
    fn a_text_never_grows_past_its_charge_and_a_charge_past_the_budget_takes_nothing() {
        let mut out = JsonOut::new(Budget::new(10_000));
        out.charge(5_000).unwrap();
        for _ in 0..1000 {
            out.put(b"abcde");
        }
        assert_eq!(out.buf.len(), 5_000);
        assert!(out.buf.capacity() <= 5_000, "{}", out.buf.capacity());
        assert_eq!(out.charge(5_001).unwrap_err().reason, "native buffer exceed size limit");
        out.charge(5_000).unwrap();
        assert_eq!(out.charge(1).unwrap_err().code, code::STORAGE_LIMIT);
    }
}
