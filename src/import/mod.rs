//! Importing the storage of the store a host replaces into a sandbox's storage
//! (docs/import-mmkv.md): today Dimina's MMKV stores.
//!
//! The values are written through the bridge's `batchSetStorageSync`, the library's own
//! storage call: the sandbox's limits, journal and durability apply, and the batch is one log
//! record, so either every importable key lands or nothing changes. A key that cannot land (over
//! the item limit, or no value a mini-program could have stored) is skipped with its reason;
//! when the rest does not fit the sandbox's total, nothing is imported.

pub mod mmkv;

use std::path::Path;

use serde::Serialize;
use serde_json::{Number, Value};

use crate::session::Session;

/// How a Dimina container encoded its storage in MMKV. Each platform's container writes its own
/// shape (docs/import-mmkv.md cites the source of each):
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Android: MMKV id = the appId; each value in MMKV's typed encoding, its type name
    /// ("Int", "String", "Boolean", "Float", "Long", "Double", "Array", "Object") in the string
    /// key `<key>_type`.
    Android,
    /// iOS: MMKV id `com.dimina.storage.<appId>` (and `com.dimina.storage.encrypted.<appId>`);
    /// each value a byte string holding JSON `{"dmpvalue": value, "type": name}`.
    Ios,
    /// HarmonyOS: MMKV id `dimina_mmkv_<encodeURIComponent(appId)>`; booleans as MMKV bools,
    /// numbers as doubles, strings as strings, objects as JSON strings; the JavaScript `typeof`
    /// in the string key `<key>_mMKv7Yp3`.
    Harmony,
}

impl Layout {
    /// The layout a Dimina MMKV id names: `com.dimina.storage.` is iOS's, `dimina_mmkv_`
    /// HarmonyOS's, anything else (Android names the store by the bare appId) Android's.
    pub fn of_id(id: &str) -> Layout {
        if id.starts_with("com.dimina.storage.") {
            Layout::Ios
        } else if id.starts_with("dimina_mmkv_") {
            Layout::Harmony
        } else {
            Layout::Android
        }
    }

    /// `android`, `ios`, `harmony`; `None` for anything else.
    pub fn parse(name: &str) -> Option<Layout> {
        match name {
            "android" => Some(Layout::Android),
            "ios" => Some(Layout::Ios),
            "harmony" => Some(Layout::Harmony),
            _ => None,
        }
    }

    /// The suffix of the key that holds a key's type, for the layouts that keep one.
    fn type_suffix(self) -> Option<&'static str> {
        match self {
            Layout::Android => Some("_type"),
            Layout::Harmony => Some("_mMKv7Yp3"),
            Layout::Ios => None,
        }
    }
}

/// What to import and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The layout; `None`: the one the MMKV id names ([`Layout::of_id`]).
    pub layout: Option<Layout>,
    /// The store's encryption key (MMKV uses its first 16 bytes).
    pub key: Option<Vec<u8>>,
    /// Import a store whose checksum fails: every record that parses, reported as damaged.
    pub recover: bool,
}

/// One key not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skip {
    /// The key (lossily decoded when it is not UTF-8).
    pub key: String,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The layout read.
    pub layout: Layout,
    /// Whether the store was decrypted with a key.
    pub encrypted: bool,
    /// Why the store is damaged, when it was imported with `recover`; `None` when its checksum holds.
    pub damaged: Option<String>,
    /// Keys written to the sandbox's storage.
    pub imported: usize,
    /// The bytes they count against the storage limits (key + JSON of the value).
    pub imported_bytes: u64,
    /// Keys not written, each with its reason.
    pub skipped: Vec<Skip>,
    /// MMKV keys that held a key's type (read, not imported as keys of their own).
    pub type_records: usize,
}

/// Why an import changed nothing.
#[derive(Debug)]
pub enum ImportError {
    /// The store could not be read (missing, damaged, encrypted, too large).
    Store(mmkv::ReadError),
    /// The sandbox's storage refused the batch (the total limit, most often): the api's errCode
    /// and errMsg. Nothing was written.
    Storage {
        /// The errCode.
        code: i32,
        /// The errMsg.
        message: String,
        /// What the import would have written.
        report: Box<Report>,
    },
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Store(e) => e.fmt(f),
            ImportError::Storage { code, message, report } => write!(
                f,
                "the sandbox's storage refused the {} keys ({} bytes): {message} (errCode {code}); nothing was imported",
                report.imported, report.imported_bytes
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// The type names Dimina's Android container writes into `<key>_type`.
const ANDROID_TYPES: [&str; 8] = ["Int", "String", "Boolean", "Float", "Long", "Double", "Array", "Object"];

/// The deepest nesting a value may have: the bridge parses `{"kvList":[{"value": ...}]}` with
/// serde_json's limit (127 levels in all), three of which are the batch's own.
const MAX_VALUE_DEPTH: usize = 124;

/// Import store `id` of MMKV directory `dir` into `session`'s storage. All or nothing: on `Ok`
/// every importable key was written (the report lists the rest); on `Err` nothing changed.
pub fn import_mmkv(session: &Session, dir: &Path, id: &str, opts: &Options) -> Result<Report, ImportError> {
    let contents = mmkv::read(dir, id, opts.key.as_deref(), opts.recover).map_err(ImportError::Store)?;
    let layout = opts.layout.unwrap_or_else(|| Layout::of_id(id));
    let (values, skipped, type_records) = decode(&contents.items, layout);
    let limits = session.storage_limits(false);
    let mut report = Report {
        layout,
        encrypted: contents.encrypted,
        damaged: contents.damaged,
        imported: 0,
        imported_bytes: 0,
        skipped,
        type_records,
    };
    // Each value's size first; the batch holds what fits, and when the keys are more than the
    // sandbox's total admits on its own, only the first of them that already are: the bridge
    // refuses that in its own words, and the batch stays as small as the total.
    let mut fits = Vec::with_capacity(values.len());
    for (key, value) in values {
        let size = (key.len() + value.to_string().len()) as u64;
        if size > limits.item {
            report
                .skipped
                .push(Skip { key, reason: format!("over the storage item limit: {size} bytes, limit {}", limits.item) });
            continue;
        }
        report.imported += 1;
        report.imported_bytes += size;
        fits.push((key, value, size));
    }
    if fits.is_empty() {
        return Ok(report);
    }
    let (mut bytes, mut count) = (0u64, 0u64);
    let mut list = Vec::with_capacity(fits.len());
    for (key, value, size) in fits {
        if bytes > limits.total || count > limits.max_items() {
            break;
        }
        bytes += size;
        count += 1;
        list.push(serde_json::json!({"key": key, "value": value}));
    }
    let args = serde_json::json!({ "kvList": list }).to_string();
    drop(list);
    let (code, result) = crate::bridge::invoke(session, "batchSetStorageSync", &args);
    if code != 0 {
        let message = result.get("errMsg").and_then(Value::as_str).unwrap_or("").to_string();
        return Err(ImportError::Storage { code, message, report: Box::new(report) });
    }
    Ok(report)
}

/// The JavaScript values of a store's items as the layout's container returns them from
/// getStorageSync, the items skipped with their reasons, and the count of type records.
fn decode(items: &[mmkv::Item], layout: Layout) -> (Vec<(String, Value)>, Vec<Skip>, usize) {
    use std::collections::HashMap;
    let suffix = layout.type_suffix();
    let present: HashMap<&[u8], &mmkv::Item> = items.iter().map(|i| (&i.key[..], i)).collect();
    // A type record: a key with the suffix. HarmonyOS's container hides every key with its
    // suffix. Android's hides every `_type` key from getStorageInfo but reads one as a value; here
    // a `_type` key is a type record when its base key exists, or when it holds one of the type
    // names the container writes (a record its removeStorage left behind, since it removes only
    // the base key); any other `_type` key (a user's own `content_type`) is imported as a key.
    let is_type_record = |item: &mmkv::Item| -> bool {
        let Some(sfx) = suffix else { return false };
        let Some(base) = item.key.strip_suffix(sfx.as_bytes()) else { return false };
        layout == Layout::Harmony
            || (!base.is_empty() && present.contains_key(base))
            || mmkv::decode_bytes(&item.value).is_some_and(|t| ANDROID_TYPES.iter().any(|n| n.as_bytes() == t))
    };
    let type_of = |k: &[u8]| -> Option<String> {
        let sfx = suffix?;
        let mut tk = k.to_vec();
        tk.extend_from_slice(sfx.as_bytes());
        let t = present.get(&tk[..])?;
        let s = mmkv::decode_bytes(&t.value)?;
        Some(String::from_utf8_lossy(s).into_owned())
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut values = Vec::new();
    let mut skipped = Vec::new();
    let mut type_records = 0;
    for item in items {
        if is_type_record(item) {
            type_records += 1;
            continue;
        }
        let key_text = String::from_utf8_lossy(&item.key).into_owned();
        let skip = |reason: String| Skip { key: key_text.clone(), reason };
        if std::str::from_utf8(&item.key).is_err() {
            skipped.push(skip("the key is not UTF-8".into()));
            continue;
        }
        if let Some(t) = item.expires.filter(|&t| t != 0 && u64::from(t) <= now) {
            skipped.push(skip(format!("expired at {t} (MMKV key expiry)")));
            continue;
        }
        let value = match layout {
            Layout::Ios => ios_value(&item.value),
            Layout::Android => android_value(&item.value, type_of(&item.key).as_deref()),
            Layout::Harmony => harmony_value(&item.value, type_of(&item.key).as_deref()),
        };
        match value.and_then(|v| check_depth(v, MAX_VALUE_DEPTH)) {
            Ok(v) => values.push((key_text, v)),
            Err(why) => skipped.push(skip(format!("not valid as a value: {why}"))),
        }
    }
    (values, skipped, type_records)
}

type Decoded = Result<Value, String>;

fn text(v: &[u8]) -> Result<String, String> {
    let b = mmkv::decode_bytes(v).ok_or("not an MMKV string")?;
    String::from_utf8(b.to_vec()).map_err(|_| "a string that is not UTF-8".to_string())
}

fn number(n: f64) -> Decoded {
    Number::from_f64(n).map(Value::Number).ok_or_else(|| format!("{n} is not a JSON number"))
}

/// A JSON text, or when it does not parse as `want` (an array, an object) the text itself, as
/// Dimina's containers fall back.
fn json_or_text(s: String, want: Option<fn(&Value) -> bool>) -> Value {
    match serde_json::from_str::<Value>(&s) {
        Ok(v) if want.is_none_or(|w| w(&v)) => v,
        _ => Value::String(s),
    }
}

fn android_value(v: &[u8], ty: Option<&str>) -> Decoded {
    let bad = |t: &str| format!("does not decode as {t}");
    match ty {
        // No type record: the container reads a string.
        None => text(v).map_err(|e| format!("no type record, and {e}")).map(Value::String),
        Some("Int") => mmkv::decode_i32(v).map(Value::from).ok_or_else(|| bad("Int")),
        Some("Long") => {
            let n = mmkv::decode_i64(v).ok_or_else(|| bad("Long"))?;
            if n.unsigned_abs() > 1 << 53 {
                return Err(format!("the Long {n} is beyond what a JavaScript number holds exactly"));
            }
            Ok(Value::from(n))
        }
        Some("Boolean") => mmkv::decode_bool(v).map(Value::Bool).ok_or_else(|| bad("Boolean")),
        Some("Float") => number(f64::from(mmkv::decode_f32(v).ok_or_else(|| bad("Float"))?)),
        Some("Double") => number(mmkv::decode_f64(v).ok_or_else(|| bad("Double"))?),
        Some("Array") => Ok(json_or_text(text(v)?, Some(Value::is_array))),
        Some("Object") => Ok(json_or_text(text(v)?, Some(Value::is_object))),
        // "String", and any other name: the container reads a string.
        Some(_) => text(v).map(Value::String),
    }
}

fn harmony_value(v: &[u8], ty: Option<&str>) -> Decoded {
    let bad = |t: &str| format!("does not decode as {t}");
    match ty {
        Some("boolean") => mmkv::decode_bool(v).map(Value::Bool).ok_or_else(|| bad("boolean")),
        Some("number") => number(mmkv::decode_f64(v).ok_or_else(|| bad("number"))?),
        Some("string") => text(v).map(Value::String),
        Some("object") => Ok(json_or_text(text(v)?, None)),
        // The container reads "" for a key without a type it knows.
        Some(t) => Err(format!("its type record says {t:?}, which the container reads as \"\"")),
        None => Err("no type record (the container reads it as \"\")".into()),
    }
}

fn ios_value(v: &[u8]) -> Decoded {
    let b = mmkv::decode_bytes(v).ok_or("not an MMKV byte string")?;
    match serde_json::from_slice::<Value>(b) {
        Ok(Value::Object(mut o)) if o.get("type").is_some_and(Value::is_string) && o.contains_key("dmpvalue") => {
            Ok(o.swap_remove("dmpvalue").unwrap_or(Value::Null))
        }
        _ => Err("not a Dimina value (JSON with \"dmpvalue\" and \"type\")".into()),
    }
}

/// `v` when it nests at most `max` arrays and objects deep.
fn check_depth(v: Value, max: usize) -> Decoded {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let d = depth(&v);
    if d > max {
        return Err(format!("nested {d} levels deep, more than the {max} a stored value may have"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(k: &str, v: &[u8]) -> mmkv::Item {
        mmkv::Item { key: k.as_bytes().to_vec(), value: v.to_vec(), expires: None }
    }

    fn s(t: &str) -> Vec<u8> {
        let mut v = vec![t.len() as u8];
        v.extend_from_slice(t.as_bytes());
        v
    }

    #[test]
    fn android_types_come_from_their_type_records() {
        let items = vec![
            item("n", &[7]),
            item("n_type", &s("Int")),
            item("o", &s(r#"{"a":1}"#)),
            item("o_type", &s("Object")),
            item("bad", &s("[1,")),
            item("bad_type", &s("Array")),
            item("content_type", &s("text/plain")),
            item("plain", &s("hi")),
            item("gone_type", &s("Int")),
        ];
        let (values, skipped, types) = decode(&items, Layout::Android);
        assert_eq!(types, 4);
        assert!(skipped.is_empty());
        let got: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["n=7", r#"o={"a":1}"#, r#"bad="[1,""#, r#"content_type="text/plain""#, r#"plain="hi""#]);
    }

    #[test]
    fn harmony_without_a_type_and_non_finite_numbers_are_skipped() {
        let items = vec![item("x", &f64::NAN.to_le_bytes()), item("x_mMKv7Yp3", &s("number")), item("y", &s("lost"))];
        let (values, skipped, _) = decode(&items, Layout::Harmony);
        assert!(values.is_empty());
        assert_eq!(skipped[0].reason, "not valid as a value: NaN is not a JSON number");
        assert_eq!(skipped[1].reason, "not valid as a value: no type record (the container reads it as \"\")");
    }

    #[test]
    fn ios_values_are_unwrapped_from_their_envelope() {
        let (values, skipped, _) =
            decode(&[item("a", &s(r#"{"dmpvalue":[1,"x"],"type":"Array"}"#)), item("b", &s("[]"))], Layout::Ios);
        assert_eq!(values, vec![("a".to_string(), serde_json::json!([1, "x"]))]);
        assert_eq!(skipped[0].key, "b");
    }

    #[test]
    fn layouts_are_told_by_the_id() {
        assert_eq!(Layout::of_id("com.dimina.storage.encrypted.wx1"), Layout::Ios);
        assert_eq!(Layout::of_id("dimina_mmkv_wx1"), Layout::Harmony);
        assert_eq!(Layout::of_id("wx1"), Layout::Android);
    }
}
