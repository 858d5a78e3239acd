//! One pass over a stored value's JSON text that says "valid and compact" for the text
//! `JSON.stringify` writes, without serde (docs/design.md, "Storage values").
//!
//! It answers `true` only for text that `check_json` admits and that has no whitespace outside
//! its strings, so such a text is stored as it is given. For anything it does not vouch for
//! (whitespace, a `\u` escape of a surrogate, a number with an exponent or of many digits,
//! nesting past the limit, any error) it answers `false` and the caller asks serde, whose
//! answer and error message are the reference. Through serde the check was about 17% of a
//! `setStorageSync` from JavaScriptCore (perf); this pass takes about a quarter of serde's
//! instructions for a 70-byte object (~850 against ~3,400, callgrind). A string's run longer
//! than `LONG_RUN` bytes is crossed with `memchr2` and a vectorised check for control
//! characters instead of word by word: in a set of a 100 KiB string value through the C API the
//! scan went from 17.7% of the set's samples to 4.8% (perf, ~13 to ~3.5 µs).

/// Longest number vouched for: far below the 309 integer digits where an `f64` overflows, and a
/// number with an exponent is never vouched for, so a number vouched for is in range.
const MAX_NUMBER: usize = 64;

/// Whether `b` is one JSON value, with no whitespace outside its strings, that `check_json`
/// (serde_json's parse of a value, nesting at most `max_depth` levels) admits; text nested
/// deeper than 64 levels is not vouched for.
/// `false` means "not known": ask serde.
pub(super) fn valid_compact(b: &[u8], max_depth: usize) -> bool {
    // Deeper text (rare) is left to serde.
    let max_depth = max_depth.min(64);
    let mut i = 0;
    let mut depth = 0;
    // Bit d - 1 set: the container at depth d is an object.
    let mut objects: u64 = 0;
    'value: loop {
        // A value starts at b[i].
        match b.get(i) {
            Some(b'{') | Some(b'[') => {
                let object = b[i] == b'{';
                if depth == max_depth {
                    return false;
                }
                depth += 1;
                let bit = 1u64 << (depth - 1);
                objects = if object { objects | bit } else { objects & !bit };
                i += 1;
                let close = if object { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    i += 1;
                    depth -= 1;
                } else {
                    if object && !member_name(b, &mut i) {
                        return false;
                    }
                    continue 'value;
                }
            }
            Some(b'"') => {
                if !string(b, &mut i) {
                    return false;
                }
            }
            Some(b't') => {
                if !literal(b, &mut i, b"true") {
                    return false;
                }
            }
            Some(b'f') => {
                if !literal(b, &mut i, b"false") {
                    return false;
                }
            }
            Some(b'n') => {
                if !literal(b, &mut i, b"null") {
                    return false;
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                if !number(b, &mut i) {
                    return false;
                }
            }
            _ => return false,
        }
        // After a value: close containers until a comma starts the next value.
        loop {
            if depth == 0 {
                return i == b.len();
            }
            let object = objects >> (depth - 1) & 1 == 1;
            match b.get(i) {
                Some(b',') => {
                    i += 1;
                    if object && !member_name(b, &mut i) {
                        return false;
                    }
                    continue 'value;
                }
                Some(b'}') if object => {
                    i += 1;
                    depth -= 1;
                }
                Some(b']') if !object => {
                    i += 1;
                    depth -= 1;
                }
                _ => return false,
            }
        }
    }
}

/// A member's name and its colon, from `b[*i]`; `*i` is then at its value.
#[inline(always)]
fn member_name(b: &[u8], i: &mut usize) -> bool {
    if b.get(*i) != Some(&b'"') || !string(b, i) || b.get(*i) != Some(&b':') {
        return false;
    }
    *i += 1;
    true
}

#[inline(always)]
fn literal(b: &[u8], i: &mut usize, word: &[u8]) -> bool {
    // Byte by byte: a slice comparison would be a call.
    let Some(got) = b.get(*i..*i + word.len()) else { return false };
    if got.iter().zip(word).any(|(a, w)| a != w) {
        return false;
    }
    *i += word.len();
    true
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, at most `MAX_NUMBER` bytes; an exponent is not vouched for.
#[inline(always)]
fn number(b: &[u8], i: &mut usize) -> bool {
    let start = *i;
    let mut j = start + usize::from(b[start] == b'-');
    let digits = |j: &mut usize| {
        let from = *j;
        while b.get(*j).is_some_and(u8::is_ascii_digit) {
            *j += 1;
        }
        *j - from
    };
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => {
            digits(&mut j);
        }
        _ => return false,
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        if digits(&mut j) == 0 {
            return false;
        }
    }
    if matches!(b.get(j), Some(b'e' | b'E')) || j - start > MAX_NUMBER {
        return false;
    }
    *i = j;
    true
}

/// The bytes a string holds as they are: all but `"`, `\\` and control characters.
const PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = false;
        c += 1;
    }
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is zero. Only the lowest bit set is exact (a borrow
/// may flag a byte above it), which is all `special` needs: where the first such byte is.
#[inline(always)]
fn zeros(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// A mask whose lowest set bit is the high bit of the first byte of `w` (little-endian order)
/// that is `"`, `\` or a control character (below 0x20): the bytes a string cannot hold as
/// they are. Zero when there is none.
#[inline(always)]
fn special(w: u64) -> u64 {
    // Below 0x20: the same borrow argument as `zeros`, for a bound of at most 0x80.
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    control | zeros(w ^ (ONES * u64::from(b'"'))) | zeros(w ^ (ONES * u64::from(b'\\')))
}

/// Plain bytes after which a string's run is taken by `long_run` rather than word by word.
const LONG_RUN: usize = 32;

/// The length of the run of plain bytes at the start of `rest`: up to its first `"` or `\`,
/// found with `memchr2` (SIMD), when no control character comes before it (checked in a
/// branch-free pass over the run that the compiler vectorises). `None` when one does, or when
/// neither `"` nor `\` follows: the string is then not vouched for.
fn long_run(rest: &[u8]) -> Option<usize> {
    let n = memchr::memchr2(b'"', b'\\', rest)?;
    // Blocks of 64, each folded without a branch, with a test between blocks: a control
    // character early in a long run is found without crossing the rest.
    let control = rest[..n].chunks(64).any(|block| block.iter().fold(0u8, |a, &c| a | u8::from(c < 0x20)) != 0);
    (!control).then_some(n)
}

/// A string from its opening quote at `b[*i]`; `*i` is then past its closing quote. The text is
/// UTF-8 already (it is a `str`), so only control characters and escapes are checked. A `\u`
/// escape of a surrogate is not vouched for: serde decides whether it is half of a pair.
#[inline(always)]
fn string(b: &[u8], i: &mut usize) -> bool {
    let mut j = *i + 1;
    loop {
        // Eight bytes at a time, to the first one that is not plain; the last few one by one.
        // A run longer than `LONG_RUN` goes on in `long_run`.
        let run_start = j;
        loop {
            let Some(chunk) = b.get(j..j + 8) else {
                while b.get(j).is_some_and(|&c| PLAIN[usize::from(c)]) {
                    j += 1;
                }
                break;
            };
            let m = special(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            if m != 0 {
                j += (m.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
            if j - run_start >= LONG_RUN {
                match long_run(&b[j..]) {
                    Some(n) => j += n,
                    None => return false,
                }
                break;
            }
        }
        match b.get(j) {
            Some(b'"') => {
                *i = j + 1;
                return true;
            }
            Some(b'\\') => match b.get(j + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                Some(b'u') => {
                    let Some(hex) = b.get(j + 2..j + 6) else { return false };
                    let mut unit = 0u32;
                    for &h in hex {
                        let Some(d) = char::from(h).to_digit(16) else { return false };
                        unit = unit << 4 | d;
                    }
                    if (0xd800..0xe000).contains(&unit) {
                        return false;
                    }
                    j += 6;
                }
                _ => return false,
            },
            // The end of the text, or a control character.
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_json_stringify_writes_is_vouched_for() {
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "42",
            "-3.25",
            "0.5",
            "\"\"",
            "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\uffff\"",
            "\"中文😀 with spaces\"",
            "[]",
            "{}",
            "[[],{},[{}]]",
            "{\"id\":42,\"name\":\"user-42\",\"tags\":[\"a\",\"b\",\"c\"],\"ok\":true,\"score\":3.5}",
            "{\"\":\"\",\"a\":{\"b\":[1,2,{\"c\":null}]}}",
        ] {
            assert!(valid_compact(text.as_bytes(), 126), "{text}");
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(valid_compact(deep(64).as_bytes(), 126));
        assert!(!valid_compact(deep(65).as_bytes(), 126), "deeper than 64: serde's to answer");
        assert!(!valid_compact(deep(64).as_bytes(), 63));
    }

    #[test]
    fn the_word_scan_finds_the_first_byte_a_string_cannot_hold() {
        let plain = |c: u8| c >= 0x20 && c != b'"' && c != b'\\';
        // Backgrounds of plain bytes, high ones included (a borrow crosses them), and every byte
        // value at every position, with a second special byte after it or not.
        for background in [[b'a'; 8], [0xff; 8], [0x80; 8], [0x21; 8], *b"x\xe4\xb8\xad !~\x7f"] {
            for at in 0..8 {
                for c in 0..=255u8 {
                    for second in [None, Some(b'"'), Some(0u8)] {
                        let mut w = background;
                        w[at] = c;
                        if let Some(s) = second.filter(|_| at < 7) {
                            w[7] = s;
                        }
                        let first = w.iter().position(|&x| !plain(x));
                        let m = special(u64::from_le_bytes(w));
                        let found = (m != 0).then(|| (m.trailing_zeros() / 8) as usize);
                        assert_eq!(found, first, "{w:x?}");
                    }
                }
            }
        }
    }

    #[test]
    fn long_strings_are_vouched_for_as_serde_admits_them() {
        // Runs past `LONG_RUN` are crossed by `long_run`: every byte that ends or breaks a run,
        // at every position of strings from just under to well over it, in a string alone and
        // inside an array, agrees with serde_json.
        let admits = |t: &str| serde_json::from_str::<serde_json::Value>(t).is_ok();
        let mut checked = 0;
        for len in (LONG_RUN - 9..LONG_RUN + 20).chain([100, 200, 1000]) {
            for at in 0..len {
                for bad in ["\u{0}", "\u{1f}", "\t", "\n", "\\\"", "\\\\", "\\n", "\\x", "\\u0041", "\"", "é", "\u{7f}"] {
                    let mut body: String = "a".repeat(len);
                    body.replace_range(at..at + 1, bad);
                    for text in [format!("\"{body}\""), format!("[\"{body}\",1]")] {
                        assert_eq!(valid_compact(text.as_bytes(), 126), admits(&text), "{text:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn what_it_does_not_vouch_for_is_left_to_serde() {
        for text in [
            "",
            " 1",
            "1 ",
            "[1, 2]",
            "{\"a\" :1}",
            "{\"a\":1,}",
            "[1,]",
            "[,1]",
            "{1:2}",
            "{\"a\"}",
            "{\"a\":}",
            "01",
            "1.",
            ".5",
            "-",
            "+1",
            "1e5",
            "1E-5",
            "tru",
            "nulll",
            "\"open",
            "\"a\tb\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud800\"",
            "[1}",
            "{\"a\":1]",
            "[1]]",
            "1 2",
            &"9".repeat(65),
        ] {
            assert!(!valid_compact(text.as_bytes(), 126), "{text}");
        }
    }
}
