//! The storage APIs (docs/wechat-behaviour.md §5.2, §10). Values are JSON plus an optional dataType string.
//!
//! Stored data is JSON text that passed `check_json` (or was serialised from a parsed value),
//! so a get splices it into the result as it is: no parse and no second serialisation.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::args::Args;
use super::budget::{self, Budget, JsonOut};
use super::json_scan;
use super::reply::{Direct, Reply};
use super::Ctx;
use crate::error::{code, Error, Result};
use crate::platform::Dialect;
use crate::session::Session;
use crate::storage::{StoreError, Value as Stored};

/// Deepest nesting of arrays and objects a stored value may have. The bridge parses its whole
/// argument object with serde_json's recursion limit, which admits 127 levels, and `data` sits
/// one level down, so 126 is what the bridge admits; the typed C API admits exactly the same.
pub const MAX_DEPTH: usize = 126;

/// Why `json` cannot be stored, or `None` when it can: the one validator of both entry points.
/// Stored data must come back from a get exactly as the bridge would have parsed it, so what
/// serde_json rejects when it builds a value is rejected here, without building one: a lone
/// surrogate escape (`"\ud800"`), a number out of range (`1e999`), nesting deeper than
/// `MAX_DEPTH`, trailing text.
pub fn check_json(json: &str) -> Option<String> {
    check_json_to(json, MAX_DEPTH)
}

/// `check_json` with another nesting limit.
fn check_json_to(json: &str, max_depth: usize) -> Option<String> {
    if json_scan::valid_compact(json.as_bytes(), max_depth) {
        return None;
    }
    serde_check(json, max_depth)
}

/// serde_json's answer alone: the reference `json_scan` must agree with.
fn serde_check(json: &str, max_depth: usize) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let checked = de.deserialize_any(Check { depth: 0, max_depth }).and_then(|()| de.end());
    checked.err().map(|e| e.to_string())
}

/// The text to store for JSON given as text: as given when it has no whitespace outside
/// strings (the common case, with no copy), else re-serialised compactly, as the bridge stores it.
pub fn stored_text(json: &str) -> std::result::Result<Cow<'_, str>, String> {
    // What `JSON.stringify` writes, in one pass (`json_scan`); serde for the rest.
    if json_scan::valid_compact(json.as_bytes(), MAX_DEPTH) {
        return Ok(Cow::Borrowed(json));
    }
    if let Some(why) = check_json(json) {
        return Err(why);
    }
    Ok(compacted(json))
}

/// `json`, known to pass `check_json`, without whitespace outside its strings.
fn compacted(json: &str) -> Cow<'_, str> {
    if compact_json(json) {
        return Cow::Borrowed(json);
    }
    let v: Value = serde_json::from_str(json).expect("checked JSON parses");
    Cow::Owned(v.to_string())
}

/// A visitor that accepts what `serde_json::Value` accepts and keeps nothing.
struct Check {
    depth: usize,
    max_depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for Check {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let depth = self.deeper()?;
        while seq.next_element_seed(Check { depth, max_depth: self.max_depth })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let depth = self.deeper()?;
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value_seed(Check { depth, max_depth: self.max_depth })?;
        }
        Ok(())
    }
}

impl Check {
    fn deeper<E: de::Error>(&self) -> std::result::Result<usize, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(format_args!("nesting deeper than {} levels", self.max_depth)));
        }
        Ok(self.depth + 1)
    }
}

/// Whether `text` has no whitespace outside its strings. Inside a string only `"` and `\\`
/// matter, so the scan jumps between them with `memchr2` (SIMD): a 100 KiB string value is
/// crossed in a few microseconds, not a byte at a time.
fn compact_json(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                // To the closing quote, stepping over each escape and the byte it escapes.
                loop {
                    match b.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
                        Some(j) if b[i + j] == b'\\' => i += j + 2,
                        Some(j) => {
                            i += j + 1;
                            break;
                        }
                        None => return true,
                    }
                }
            }
            b' ' | b'\n' | b'\r' | b'\t' => return false,
            _ => i += 1,
        }
    }
    true
}

fn store_error(e: StoreError) -> Error {
    Error::from(e)
}

fn key_of<'a>(a: &'a Args<'_>) -> Result<&'a str> {
    let key = a.str("key")?;
    if key.is_empty() {
        return Err(store_error(StoreError::EmptyKey));
    }
    Ok(key)
}

/// `data` (any JSON; absent means undefined and is kept as null) and the optional dataType.
fn stored(data: Option<Value>, data_type: Option<&Value>, a: &Args, field: &str) -> Result<Stored> {
    let data_type = match data_type {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(Error::param(a.param_code, "dataType", "String", "Object")),
    };
    let data = serde_json::to_string(&data.unwrap_or(Value::Null))
        .map_err(|e| Error::param(a.param_code, field, "JSON", &e.to_string()))?;
    Ok(Stored { data, data_type })
}

/// setStorage's arguments read without building a value: `data` is kept as the JSON text it was
/// sent as (compacted if it has whitespace), exactly as the typed API keeps it, and it is that text
/// that is stored and counted. Only an object of these fields is a `PlainSet`, each of the type the
/// general path reads it as (`key` a non-empty string, `dataType` a string or null, `encrypt`
/// false or null, `data` JSON that `check_json` admits): each is then read exactly as the general
/// path's parse reads it, so no other check of the text is needed. Other fields beside them
/// change nothing, once the whole object is checked as the general path would parse it. Any other
/// object (`__nativeBuffers__`, a field twice, `encrypt: true`, an error to word) takes the
/// general path.
pub struct PlainSet<'a> {
    key: Cow<'a, str>,
    data_type: Option<Cow<'a, str>>,
    data: Cow<'a, str>,
}

/// The fields of a [`PlainSet`], as serde reads them.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFields<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default, rename = "dataType")]
    data_type: Option<Cow<'a, str>>,
    #[serde(default)]
    encrypt: Option<bool>,
}

impl<'a> PlainSet<'a> {
    pub fn parse(args_json: &'a str) -> Option<PlainSet<'a>> {
        if let Some((key, data, data_type)) = scan_set(args_json) {
            // Strings with nothing to unescape: as serde reads them, and `data` is stored as sent.
            return (!key.is_empty()).then(|| PlainSet {
                key: Cow::Borrowed(key),
                data_type: data_type.map(Cow::Borrowed),
                data: Cow::Borrowed(data),
            });
        }
        if let Ok(p) = serde_json::from_str::<SetFields>(args_json) {
            if p.key.is_empty() || p.encrypt == Some(true) {
                return None;
            }
            // `data` sits one level down in the argument object: what the general path's parse
            // of the whole object refuses in it (a lone surrogate, 1e999, nesting deeper than
            // MAX_DEPTH) `stored_text` refuses, and the call takes the general path.
            let data = stored_text(p.data.map_or("null", |raw| raw.get())).ok()?;
            return Some(PlainSet { key: p.key, data_type: p.data_type, data });
        }
        // Other fields beside these change nothing (the general path ignores them too), but they
        // too must parse as the general path parses them: the whole object is checked first.
        if check_json_to(args_json, MAX_DEPTH + 1).is_some() {
            return None;
        }
        let p: SetFieldsAmong = serde_json::from_str(args_json).ok()?;
        if p.key.is_empty() || p.encrypt == Some(true) || p.buffers.is_some() {
            return None;
        }
        let data = compacted(p.data.map_or("null", |raw| raw.get()));
        Some(PlainSet { key: p.key, data_type: p.data_type, data })
    }
}

/// The fields of a [`PlainSet`] among others (which the general path ignores), as serde reads
/// them; `__nativeBuffers__` makes it no `PlainSet`.
#[derive(serde::Deserialize)]
struct SetFieldsAmong<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default, rename = "dataType")]
    data_type: Option<Cow<'a, str>>,
    #[serde(default)]
    encrypt: Option<bool>,
    #[serde(default, rename = "__nativeBuffers__")]
    buffers: Option<de::IgnoredAny>,
}

/// setStorage from a [`PlainSet`].
pub fn set_plain(s: &Session, p: PlainSet) -> Result<Reply> {
    s.crypt.set(&s.store, &p.key, p.data_type.as_deref(), &p.data, s.storage_limits(false))?;
    Ok(Reply::new())
}

/// The contents of the JSON string `s` starts with, and what follows it, when the string holds
/// no escape and no control character: its contents are then its value, as serde reads it.
fn scan_string(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    // The closing quote, or the first escape (SIMD), then no control character before it (a
    // loop without an early exit, which the compiler vectorises).
    let end = 1 + memchr::memchr2(b'"', b'\\', &b[1..])?;
    let controls = b[1..end].iter().fold(false, |any, &c| any | (c < 0x20));
    (b[end] == b'"' && !controls).then(|| (&s[1..end], &s[end + 1..]))
}

/// `{"key":"<k>"}`, the argument object a binding writes for a get, with nothing to unescape in
/// `<k>`: the key, read without serde (equal to what serde reads). `None`: any other text.
fn scan_get(args: &str) -> Option<&str> {
    let (key, rest) = scan_string(args.strip_prefix("{\"key\":")?)?;
    (rest == "}").then_some(key)
}

/// `{"key":"<k>","data":"<d>"}`, with `,"dataType":"<t>"` before the `}` or not: the argument
/// object a binding writes for a set of a string, with nothing to unescape in any string. The
/// key, `data`'s JSON text (its quotes included) and the dataType. `None`: any other text.
fn scan_set(args: &str) -> Option<(&str, &str, Option<&str>)> {
    let (key, rest) = scan_string(args.strip_prefix("{\"key\":")?)?;
    let rest = rest.strip_prefix(",\"data\":")?;
    let (contents, after) = scan_string(rest)?;
    let data = &rest[..contents.len() + 2];
    let (data_type, rest) = match after.strip_prefix(",\"dataType\":") {
        Some(t) => {
            let (t, rest) = scan_string(t)?;
            (Some(t), rest)
        }
        None => (None, after),
    };
    (rest == "}").then_some((key, data, data_type))
}

/// getStorage's arguments when they are `{"key": <non-empty string>}`, with at most `encrypt`
/// false or null beside it: read as the general path reads them. Anything else takes the general
/// path.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainGet<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(default)]
    encrypt: Option<bool>,
}

/// getStorage of a key that is set, from a [`PlainGet`] argument object, straight to the
/// result's bytes: the stored JSON text spliced in as it is, the envelope written around it once
/// (the bytes [`get`] and `Reply::into_bytes_with` give). `None`: the general path answers, for
/// other arguments and for a key that is not set (whose answer depends on the platform, the
/// api's Sync form and encrypted values).
pub(super) fn get_plain(s: &Session, dialect: &Dialect, api: &str, args_json: &str) -> Option<Vec<u8>> {
    let key = match scan_get(args_json) {
        Some(key) => Cow::Borrowed(key),
        None => {
            let p: PlainGet = serde_json::from_str(args_json).ok()?;
            if p.encrypt == Some(true) {
                return None;
            }
            p.key
        }
    };
    if key.is_empty() {
        return None;
    }
    s.store.with(&key, |v| {
        let data_type = v.data_type.map(String::from_utf8_lossy);
        // `,"data":` and the data; `,"dataType":"<type>"` (escapes, if any, grow it).
        let room = 8 + v.data.len() + data_type.as_ref().map_or(0, |t| 14 + t.len());
        let mut out = Direct::new(dialect, api, room);
        out.raw("data", v.data);
        if let Some(t) = data_type {
            out.string("dataType", &t);
        }
        out.finish()
    })
}

/// The `encrypt` argument: only the async setStorage/getStorage take it, as the typings say
/// (`setStorageSync(key, data)` has no place for it). A Sync call that passes `encrypt: true`
/// is refused rather than storing in the clear what the caller asked to have encrypted.
fn encrypt_arg(a: &Args, ctx: &Ctx) -> Result<bool> {
    let encrypt = a.bool_or("encrypt", false)?;
    if encrypt && ctx.api.ends_with("Sync") {
        return Err(Error::new(
            code::STORAGE_INVALID,
            "parameter error: encrypt is taken only by the async setStorage and getStorage",
        ));
    }
    Ok(encrypt)
}

/// setStorage by the general path. `data` given as text by the caller was kept as sent by
/// [`PlainSet`]; here it is serialised from the parsed value.
pub fn set(s: &Session, a: &mut Args, ctx: &Ctx) -> Result<Reply> {
    let key = key_of(a)?.to_string();
    let encrypt = encrypt_arg(a, ctx)?;
    let data = a.take_value("data");
    let value = stored(data, a.value("dataType"), a, "data")?;
    let dt = value.data_type.as_deref();
    if encrypt {
        s.crypt.set_encrypted(&s.store, &key, dt, &value.data, s.storage_limits(true))?;
    } else {
        s.crypt.set(&s.store, &key, dt, &value.data, s.storage_limits(false))?;
    }
    Ok(Reply::new())
}

pub fn get(s: &Session, a: &mut Args, ctx: &Ctx) -> Result<Reply> {
    let key = key_of(a)?;
    if encrypt_arg(a, ctx)? {
        return match s.crypt.get_encrypted(&s.store, key)? {
            Some(v) => {
                let r = Reply::new().raw("data", v.data);
                Ok(match v.data_type {
                    Some(t) => r.set("dataType", t),
                    None => r,
                })
            }
            None => Err(Error::new(code::STORAGE_NOT_FOUND, "data not found")),
        };
    }
    let found = s.store.with(key, |v| {
        let mut r = Reply::new().raw("data", v.data.to_vec());
        if let Some(t) = v.data_type {
            r.insert("dataType", String::from_utf8_lossy(t));
        }
        r
    });
    match found {
        Some(r) => Ok(r),
        None => match s.config.platform.dialect().missing_key() {
            // Douyin, Baidu (documented) and Alipay (decided) read a missing key as a value.
            Some(data) => Ok(Reply::new().set("data", data)),
            // What JavaScript sees in WeChat: getStorageSync yields "", getStorage fails (docs/wechat-behaviour.md §10).
            None if ctx.api.ends_with("Sync") => Ok(Reply::new().set("data", "")),
            // Stored with encrypt: true, read without it (docs/wechat-behaviour.md §10).
            None if s.crypt.is_encrypted(&s.store, key) => Err(Error::new(
                code::STORAGE_ENCRYPTED,
                "data was stored with encrypt: true; read it with getStorage({key, encrypt: true})",
            )),
            None => Err(Error::new(code::STORAGE_NOT_FOUND, "data not found")),
        },
    }
}

pub fn remove(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let key = key_of(a)?;
    s.crypt.remove(&s.store, key)?;
    Ok(Reply::new())
}

pub fn clear(s: &Session, _: &mut Args, _: &Ctx) -> Result<Reply> {
    s.crypt.clear(&s.store)?;
    Ok(Reply::new())
}

pub fn info(s: &Session, _: &mut Args, _: &Ctx) -> Result<Reply> {
    let kb = |b: u64| b.div_ceil(1024);
    // The keys are written into the result's text as they are read, each charged first
    // (docs/design.md §4, one call's result).
    let mut out = JsonOut::new(Budget::new(s.fs.text_limit()));
    out.charge(2)?;
    out.put(b"[");
    let mut first = true;
    s.crypt.try_each_key(&s.store, |key| {
        out.charge(budget::str_len(key) + 1)?;
        if !std::mem::take(&mut first) {
            out.put(b",");
        }
        out.put_str(key);
        Ok::<(), Error>(())
    })?;
    out.put(b"]");
    Ok(Reply::new()
        .raw("keys", out.into_bytes())
        .set("currentSize", kb(s.store.size()))
        .set("limitSize", s.config.limits.storage_total / 1024))
}

pub fn batch_set(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let Some(Value::Array(list)) = a.take_value("kvList") else {
        return Err(Error::param(a.param_code, "kvList", "Array", "Undefined"));
    };
    let mut items = Vec::with_capacity(list.len());
    for item in list {
        let Value::Object(mut o) = item else {
            return Err(Error::param(a.param_code, "kvList", "Array of Object", "Array"));
        };
        let key = match o.get("key") {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            Some(Value::String(_)) => return Err(store_error(StoreError::EmptyKey)),
            _ => return Err(Error::param(a.param_code, "kvList[].key", "String", "Undefined")),
        };
        let dt = o.get("dataType").cloned();
        let value = stored(o.remove("value"), dt.as_ref(), a, "kvList[].value")?;
        items.push((key, value));
    }
    s.crypt.set_batch(&s.store, items, s.storage_limits(false))?;
    Ok(Reply::new())
}

pub fn batch_get(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let Some(Value::Array(keys)) = a.value("keyList") else {
        return Err(Error::param(a.param_code, "keyList", "Array", "Undefined"));
    };
    let mut data = Vec::with_capacity(keys.len());
    let mut types = Vec::with_capacity(keys.len());
    for k in keys {
        let Value::String(k) = k else {
            return Err(Error::param(a.param_code, "keyList[]", "String", "Number"));
        };
        match s.store.get(k) {
            Some(v) => {
                data.push(serde_json::from_str(&v.data).unwrap_or(Value::Null));
                types.push(v.data_type.map(Value::String).unwrap_or(Value::Null));
            }
            None => {
                data.push(Value::String(String::new()));
                types.push(Value::Null);
            }
        }
    }
    let mut r = Reply::new().set("dataList", data);
    if types.iter().any(|t| !t.is_null()) {
        r.insert("dataTypeList", types);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_json_rejects_what_a_value_parse_rejects() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deep_obj = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        for bad in [
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "1e999",
            "-1e400",
            "[1,]",
            "{\"a\":1} x",
            "",
            "nul",
            &deep(127),
            &deep_obj(127),
            &deep(1000),
        ] {
            assert!(check_json(bad).is_some(), "accepted {bad:.40}");
            // The bridge parses its argument object: data at the same depth fails there too.
            let args = format!("{{\"data\":{bad}}}");
            assert!(serde_json::from_str::<Value>(&args).is_err(), "bridge accepts {bad:.40}");
        }
        for good in ["\"\\ud83d\\ude00\"", "1e308", "-0", "null", " [1, {\"a\": \"\\u00e9\"}] ", &deep(126), &deep_obj(126)] {
            assert_eq!(check_json(good), None, "{good:.40}");
            let args = format!("{{\"data\":{good}}}");
            assert!(serde_json::from_str::<Value>(&args).is_ok(), "bridge rejects {good:.40}");
        }
        assert_eq!(stored_text("[1,\"a b\"]").unwrap(), Cow::Borrowed("[1,\"a b\"]"));
        assert_eq!(stored_text(" [1, 2] ").unwrap(), "[1,2]");
    }

    #[test]
    fn the_scan_of_a_bindings_arguments_reads_them_as_serde_does() {
        let strings = [
            r#""k""#,
            r#""""#,
            r#""a b""#,
            "\"中文😀\"",
            r#""a\"b""#,
            r#""a\\""#,
            r#""\u0041""#,
            "\"a\tb\"",
            "\"a\u{1}\"",
            r#""open"#,
            r#""x"y""#,
            "1",
            "null",
            "[\"a\"]",
        ];
        let mut scanned = (0, 0);
        for k in strings {
            for tail in ["}", " }", "} ", "}x", ",\"encrypt\":false}", ""] {
                let text = format!(r#"{{"key":{k}{tail}"#);
                let serde = serde_json::from_str::<PlainGet>(&text).ok().filter(|p| p.encrypt.is_none());
                if let Some(key) = scan_get(&text) {
                    scanned.0 += 1;
                    assert_eq!(serde.map(|p| p.key.into_owned()), Some(key.to_string()), "{text}");
                }
            }
            for d in strings {
                for t in ["", r#","dataType":"Object""#, r#","dataType":"a\"b""#, r#","dataType":null"#, ",\"dataType\":1"] {
                    for tail in ["}", " }", "}}", ",\"x\":1}"] {
                        let text = format!(r#"{{"key":{k},"data":{d}{t}{tail}"#);
                        let serde = serde_json::from_str::<SetFields>(&text).ok();
                        if let Some((key, data, data_type)) = scan_set(&text) {
                            scanned.1 += 1;
                            let p = serde.expect(&text);
                            assert_eq!(p.key, key, "{text}");
                            assert_eq!(p.data.map(|r| r.get()), Some(data), "{text}");
                            assert_eq!(p.data_type.as_deref(), data_type, "{text}");
                            assert_eq!(stored_text(data), Ok(Cow::Borrowed(data)), "{text}");
                        }
                    }
                }
            }
        }
        // Each shape a binding writes was read by the scan, every other one left to serde.
        assert_eq!(scanned, (4, 4 * 4 * 2));
    }

    /// The byte-at-a-time definition `compact_json` must agree with.
    fn compact_slow(text: &str) -> bool {
        let (mut in_str, mut esc) = (false, false);
        for &b in text.as_bytes() {
            if in_str {
                if esc {
                    esc = false
                } else if b == b'\\' {
                    esc = true
                } else if b == b'"' {
                    in_str = false
                }
            } else if b == b'"' {
                in_str = true
            } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return false;
            }
        }
        true
    }

    #[test]
    fn whitespace_inside_strings_is_kept_and_outside_them_is_removed() {
        let big = format!("\"{}\\\" \\\\\"", "x ".repeat(50_000));
        let cases = [
            "\"a b\"",
            "\"a\\\" b\"",
            "\"a\\\\\" ,1",
            "[\"\\\\\", \"b\"]",
            "{\"k\":\"v\\\"\\\\\"}",
            "{\"k\" :1}",
            "\"\\u0020\"\t",
            "\"\\",
            "\"open",
            "\"\\\"",
            "",
            " ",
            "1\n",
            &big,
        ];
        for text in cases {
            assert_eq!(compact_json(text), compact_slow(text), "{text:.40}");
        }
        // Every prefix of a mixed text: escapes and quotes cut at every position.
        let mixed = r#"{"a":"b \" c\\","d":[1, "e\\\"f"], "g":"h"}"#;
        for n in 0..=mixed.len() {
            assert_eq!(compact_json(&mixed[..n]), compact_slow(&mixed[..n]), "{:?}", &mixed[..n]);
        }
        assert_eq!(stored_text(&big).unwrap(), Cow::Borrowed(big.as_str()));
        // The plain-string shortcut answers as the full check and compaction would.
        for text in [
            "\"\"",
            "\"a\"",
            "\"",
            "\"a",
            "a\"",
            "\"a\"b\"",
            "\"a\\\"\"",
            "\"\\u0041\"",
            "\"\u{1}\"",
            "\"\t\"",
            "\"\u{7f}\u{e9}\u{4e2d}\u{1f600}\"",
            "\" a b \"",
            "\"a\" ",
            " \"a\"",
            "\"\\\"",
            "\"\\ud800\"",
        ] {
            let full = match serde_check(text, MAX_DEPTH) {
                Some(why) => Err(why),
                None => Ok(compacted(text)),
            };
            assert_eq!(stored_text(text), full, "{text:?}");
        }
        assert_eq!(stored_text("{\"a\\\" b\": [1, \"c d\"]}").unwrap(), "{\"a\\\" b\":[1,\"c d\"]}");
    }

    use crate::bridge::tests::Gen;

    /// A random value: the shapes, strings and numbers mini-programs store.
    fn value(r: &mut Gen, depth: u32) -> Value {
        let strings = ["", "a", "user-42", "a b", "q\"uote", "back\\slash", "tab\t", "中文😀", "\u{1}", "/"];
        match r.below(if depth > 4 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(r.below(2) == 0),
            2 => serde_json::json!(r.next() as i64 >> r.below(64)),
            3 => {
                let f = (r.next() as f64 / u64::MAX as f64 - 0.5) * 10f64.powi(r.below(40) as i32 - 20);
                serde_json::json!(f)
            }
            4 => Value::String(strings[r.below(strings.len() as u64) as usize].repeat(1 + r.below(3) as usize)),
            5 => Value::Array((0..r.below(4)).map(|_| value(r, depth + 1)).collect()),
            _ => Value::Object(
                (0..r.below(4)).map(|i| (format!("{}{i}", strings[r.below(4) as usize]), value(r, depth + 1))).collect(),
            ),
        }
    }

    fn no_exponent(v: &Value) -> bool {
        match v {
            Value::Number(n) => !n.to_string().contains(['e', 'E']),
            Value::Array(a) => a.iter().all(no_exponent),
            Value::Object(o) => o.values().all(no_exponent),
            _ => true,
        }
    }

    #[test]
    fn the_one_pass_scan_vouches_only_for_what_serde_admits_compact() {
        // Implication, on generated values and on every one-byte change of them: when the scan
        // vouches for a text, serde admits it and it is compact, so storing it as given is what
        // the serde path would store.
        let mut r = Gen(0x9e37_79b9_7f4a_7c15);
        let bytes = b"\"\\{}[],:0159-+.eEtrufalsn \t\nu\x01";
        let (mut vouched, mut texts) = (0, 0);
        for seed in 0..3000 {
            let v = value(&mut r, 0);
            let compact = v.to_string();
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let mut cases = vec![compact.clone(), pretty];
            let b = compact.as_bytes();
            for _ in 0..8 {
                let at = r.below(b.len() as u64 + 1) as usize;
                let c = bytes[r.below(bytes.len() as u64) as usize];
                let mut m = b.to_vec();
                match r.below(3) {
                    0 if at < m.len() => m[at] = c,
                    1 if at < m.len() => {
                        m.remove(at);
                    }
                    _ => m.insert(at, c),
                }
                if let Ok(t) = String::from_utf8(m) {
                    cases.push(t);
                }
            }
            for t in &cases {
                texts += 1;
                if json_scan::valid_compact(t.as_bytes(), MAX_DEPTH) {
                    vouched += 1;
                    assert_eq!(serde_check(t, MAX_DEPTH), None, "seed {seed}: vouched for {t:?}");
                    assert!(compact_slow(t), "seed {seed}: vouched for {t:?} with whitespace");
                }
                let full = match serde_check(t, MAX_DEPTH) {
                    Some(why) => Err(why),
                    None => Ok(compacted(t)),
                };
                assert_eq!(stored_text(t), full, "seed {seed}: {t:?}");
            }
            // What serde_json writes (as JSON.stringify) is vouched for unless a number has an exponent.
            if no_exponent(&v) {
                assert!(json_scan::valid_compact(compact.as_bytes(), MAX_DEPTH), "{compact}");
            }
        }
        // Most generated texts took the one pass; the rest were answered by serde.
        assert!(vouched > texts / 5, "vouched for {vouched} of {texts}");
    }
}
