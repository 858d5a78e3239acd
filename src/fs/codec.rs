//! The eleven encoding names of FileSystemManager (docs/wechat-behaviour.md §2) with Node.js semantics.

use base64::Engine as _;

use super::texts::Text;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Ascii,
    Latin1,
    Base64,
    Hex,
    Ucs2,
}

impl Encoding {
    /// Recognise an encoding name exactly as WeChat spells them.
    pub fn parse(name: &str) -> Option<Encoding> {
        Some(match name {
            "utf8" | "utf-8" => Encoding::Utf8,
            "ascii" => Encoding::Ascii,
            "latin1" | "binary" => Encoding::Latin1,
            "base64" => Encoding::Base64,
            "hex" => Encoding::Hex,
            "ucs2" | "ucs-2" | "utf16le" | "utf-16le" => Encoding::Ucs2,
            _ => return None,
        })
    }

    /// Bytes to the string JavaScript receives.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            // Node's ascii decoder drops the high bit.
            Encoding::Ascii => bytes.iter().map(|&b| (b & 0x7f) as char).collect(),
            Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
            Encoding::Hex => hex::encode(bytes),
            Encoding::Ucs2 => {
                let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                String::from_utf16_lossy(&units)
            }
        }
    }

    /// How many bytes [`decode`](Self::decode) of `bytes` takes as text in a JSON result
    /// (UTF-8, with JSON's escapes), counted without building it: a result that would blow up
    /// (a file of NUL bytes read as utf8 is six times its size in escapes) is refused first.
    pub fn text_len(self, bytes: &[u8]) -> u64 {
        // A character as JSON writes it: escaped, or as its UTF-8 bytes.
        fn chr(c: char) -> u64 {
            match c as u32 {
                0x22 | 0x5c | 0x08 | 0x0c | 0x0a | 0x0d | 0x09 => 2,
                c if c < 0x20 => 6,
                _ => c.len_utf8() as u64,
            }
        }
        match self {
            Encoding::Utf8 => bytes
                .utf8_chunks()
                .map(|chunk| {
                    let valid: u64 = chunk.valid().chars().map(chr).sum();
                    valid + if chunk.invalid().is_empty() { 0 } else { 3 }
                })
                .sum(),
            Encoding::Ascii => bytes.iter().map(|&b| chr((b & 0x7f) as char)).sum(),
            Encoding::Latin1 => bytes.iter().map(|&b| chr(b as char)).sum(),
            Encoding::Base64 => (bytes.len() as u64).div_ceil(3) * 4,
            Encoding::Hex => bytes.len() as u64 * 2,
            Encoding::Ucs2 => char::decode_utf16(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])))
                .map(|r| r.map(chr).unwrap_or(3))
                .sum(),
        }
    }

    /// A JavaScript string to the bytes to write.
    pub fn encode(self, text: &str) -> Result<Vec<u8>> {
        Ok(match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            // Node writes the low byte of each UTF-16 code unit for latin1/binary/ascii.
            Encoding::Ascii | Encoding::Latin1 => text.encode_utf16().map(|u| u as u8).collect(),
            Encoding::Base64 => decode_base64(text)?,
            Encoding::Hex => decode_hex(text)?,
            Encoding::Ucs2 => text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        })
    }
}

fn base64_error() -> Error {
    Text::Base64.error()
}

/// Bare base64, standard or URL-safe alphabet, padding optional, ASCII whitespace ignored.
/// A `data:...;base64,` prefix is an error, as in WeChat.
pub fn decode_base64(text: &str) -> Result<Vec<u8>> {
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            b => b,
        })
        .collect();
    let trimmed: &[u8] = {
        let mut end = clean.len();
        while end > 0 && clean[end - 1] == b'=' {
            end -= 1;
        }
        if clean.len() - end > 2 {
            return Err(base64_error());
        }
        &clean[..end]
    };
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).map_err(|_| base64_error())
}

fn decode_hex(text: &str) -> Result<Vec<u8>> {
    hex::decode(text).map_err(|_| Text::InvalidHex.error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in ["ascii", "base64", "binary", "hex", "ucs2", "ucs-2", "utf16le", "utf-16le", "utf-8", "utf8", "latin1"] {
            assert!(Encoding::parse(n).is_some(), "{n}");
        }
        assert_eq!(Encoding::parse("UTF8"), None);
        assert_eq!(Encoding::parse("gbk"), None);
    }

    #[test]
    fn round_trips_match_node() {
        assert_eq!(Encoding::Latin1.decode("héllo".as_bytes()), "hÃ©llo");
        assert_eq!(Encoding::Ascii.decode(&[0x68, 0xc3]), "hC");
        assert_eq!(Encoding::Ucs2.encode("Hi").unwrap(), vec![0x48, 0, 0x69, 0]);
        assert_eq!(Encoding::Ucs2.decode(&[0x48, 0, 0x69, 0, 0x33]), "Hi");
        assert_eq!(Encoding::Latin1.encode("hÃ©").unwrap(), vec![0x68, 0xc3, 0xa9]);
        assert_eq!(Encoding::Hex.encode("48690a").unwrap(), b"Hi\n");
        assert_eq!(Encoding::Base64.decode(b"\x01\x02\x03\xff"), "AQID/w==");
        assert_eq!(decode_base64("AQID/w==").unwrap(), vec![1, 2, 3, 255]);
        assert_eq!(decode_base64("AQID_w").unwrap(), vec![1, 2, 3, 255]);
        assert_eq!(decode_base64("AQ ID\n/w==").unwrap(), vec![1, 2, 3, 255]);
        assert_eq!(decode_base64("data:image/png;base64,AAAA").unwrap_err().code, crate::error::code::BASE64_ERROR);
        assert!(decode_base64("A===").is_err());
        assert!(Encoding::Hex.encode("zz").is_err());
    }

    #[test]
    fn text_len_is_the_length_of_the_json_string() {
        let samples: [&[u8]; 6] = [
            b"plain",
            b"\0\0\x01\n\"\\",
            "中文é".as_bytes(),
            &[0xff, 0xfe, 0x41, 0xc3],
            &[0x3d, 0xd8, 0x00, 0xde],
            &[0x00, 0xd8, 0x41, 0x00],
        ];
        for bytes in samples {
            for e in [Encoding::Utf8, Encoding::Ascii, Encoding::Latin1, Encoding::Base64, Encoding::Hex, Encoding::Ucs2] {
                let json = serde_json::to_string(&e.decode(bytes)).unwrap();
                assert_eq!(e.text_len(bytes), json.len() as u64 - 2, "{e:?} {bytes:?}");
            }
        }
        assert_eq!(Encoding::Utf8.text_len(&[0u8; 1000]), 6000);
    }
}
