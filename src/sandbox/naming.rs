//! Directory names for userIds and appIds.
//!
//! Any byte string may arrive as an id. The mapping must be injective (two ids never share a
//! directory), must never produce `.`/`..`/separators, must survive case-insensitive file systems
//! (APFS, the iOS default), and must stay under NAME_MAX. Lowercase ASCII letters, digits, `-` and
//! `_` stand for themselves; an uppercase letter becomes `^` + its lowercase; every other byte
//! becomes `%` + two lowercase hex digits. Names that would exceed [`MAX_NAME`] keep a readable
//! prefix and end in `~` + the SHA-256 of the id.

use sha2::{Digest, Sha256};

/// Longest directory name we produce (NAME_MAX is 255 on every target OS).
pub const MAX_NAME: usize = 200;

pub fn encode_id(id: &[u8]) -> String {
    let mut out = String::with_capacity(id.len());
    for &b in id {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.push(b as char),
            b'A'..=b'Z' => {
                out.push('^');
                out.push(b.to_ascii_lowercase() as char);
            }
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    if out.len() > MAX_NAME {
        let digest = hex::encode(Sha256::digest(id));
        let mut cut = MAX_NAME - 1 - digest.len();
        // Never cut an escape in half: the prefix stays decodable for display.
        while cut > 0 && matches!(out.as_bytes()[cut - 1], b'^' | b'%') {
            cut -= 1;
        }
        if cut >= 2 && out.as_bytes()[cut - 2] == b'%' {
            cut -= 2;
        }
        out.truncate(cut);
        out.push('~');
        out.push_str(&digest);
    }
    out
}

/// The id behind a directory name, for display; `None` for a hashed (too long) or foreign name.
pub fn decode_id(name: &str) -> Option<Vec<u8>> {
    if name.contains('~') {
        return None;
    }
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'^' => {
                let c = *b.get(i + 1)?;
                if !c.is_ascii_lowercase() {
                    return None;
                }
                out.push(c.to_ascii_uppercase());
                i += 2;
            }
            b'%' => {
                let hex = name.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c @ (b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_') => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_stay_single_safe_components() {
        for id in ["../x", "a/b", ".", "..", "", "A", "a", "\0", "C:\\x", "%2e", "^a", "用户"] {
            let n = encode_id(id.as_bytes());
            assert!(!n.contains('/') && !n.contains('\\') && !n.contains('\0'), "{n}");
            assert_ne!(n, ".");
            assert_ne!(n, "..");
            assert!(n.bytes().all(|b| b.is_ascii_graphic()), "{n}");
            assert_eq!(decode_id(&n).as_deref(), Some(id.as_bytes()));
        }
        assert_eq!(encode_id(b"../x"), "%2e%2e%2fx");
        assert_eq!(encode_id(b"wxAb"), "wx^ab");
    }

    #[test]
    fn injective_including_case_and_escapes() {
        let ids: Vec<&[u8]> = vec![b"a", b"A", b"^a", b"%41", b"%2541", b"a/b", b"a%2fb", b"", b"_"];
        let names: std::collections::HashSet<_> = ids.iter().map(|i| encode_id(i)).collect();
        assert_eq!(names.len(), ids.len());
        // Case-insensitive file systems must not merge two ids either.
        let folded: std::collections::HashSet<_> = names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(folded.len(), ids.len());
    }

    #[test]
    fn a_tag_is_cut_after_the_last_mark_an_encoded_id_never_holds() {
        use super::super::{sandbox_dir_on, split_tag, TAG_MARK};
        for id in ["a@b", "@", "x@alipay", "用户@qq"] {
            assert!(!encode_id(id.as_bytes()).contains(TAG_MARK), "{id}");
        }
        let dir = sandbox_dir_on(std::path::Path::new("/r"), b"u", b"wxA", Some("douyin"));
        assert_eq!(dir, std::path::Path::new("/r/u/wx^a@douyin"));
        assert_eq!(sandbox_dir_on(std::path::Path::new("/r"), b"u", b"wxA", None), std::path::Path::new("/r/u/wx^a"));
        assert_eq!(split_tag("wx^a@douyin"), ("wx^a", Some("douyin")));
        assert_eq!(split_tag("wx^a"), ("wx^a", None));
        assert_eq!(split_tag("a@b@qq"), ("a@b", Some("qq")));
        assert_eq!(super::super::ids_of(&dir), Some((b"u".to_vec(), b"wxA".to_vec())));
    }

    #[test]
    fn long_ids_are_bounded_and_distinct() {
        let a = vec![b'Z'; 5000];
        let mut b = a.clone();
        b[4999] = b'Y';
        let (na, nb) = (encode_id(&a), encode_id(&b));
        assert!(na.len() <= MAX_NAME && nb.len() <= MAX_NAME);
        assert_ne!(na, nb);
        assert_eq!(decode_id(&na), None);
        let c = vec![0xffu8; 300];
        assert!(encode_id(&c).len() <= MAX_NAME);
    }
}
