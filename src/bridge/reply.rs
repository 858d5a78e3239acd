//! Building result objects, with ArrayBuffer fields carried in `__nativeBuffers__`.
//!
//! A field may also be JSON text already (stored storage data, `raw`): `into_bytes` splices it
//! into the result as it is, never parsed and serialised again.
//!
//! Two carriages, chosen by the entry point, never by the api:
//! - [`Carriage::Base64`] (`wxfs_invoke`): each object lists its own ArrayBuffer fields as
//!   `{"key", "base64"}`, at whatever depth it sits, as WeChat-family bridges do.
//! - [`Carriage::Side`] (`wxfs_invoke_v2`): the bytes go to a side list and the result's top-level
//!   `__nativeBuffers__` alone names them, `{"key", "index"}`, plus `"at": [..]` (the keys leading
//!   from the result to the object that holds the field) when that object is nested. A reader then
//!   never walks into a value, so storage data that happens to contain a `__nativeBuffers__` key
//!   is never mistaken for a buffer list.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::platform::Dialect;

/// How ArrayBuffer fields leave the bridge.
pub enum Carriage {
    /// Inline, as `{"key", "base64"}` entries in the object that holds the field (`wxfs_invoke`).
    Base64,
    /// The buffers, in the order their `index` entries name them.
    Side(Vec<Vec<u8>>),
}

enum Field {
    Json(Value),
    /// Valid JSON text (UTF-8), written into the result unparsed.
    Raw(Vec<u8>),
    Bytes(Vec<u8>),
    /// An object of replies (readZipEntry's `entries`), each of which may hold ArrayBuffers.
    Replies(Vec<(String, Reply)>),
}

/// A result object under construction; fields keep their insertion order.
#[derive(Default)]
pub struct Reply {
    fields: Vec<(String, Field)>,
}

impl Reply {
    /// A result with no fields yet (errMsg is added when it is sent).
    pub fn new() -> Reply {
        Reply::default()
    }

    fn put(&mut self, key: &str, field: Field) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = field,
            None => self.fields.push((key.to_string(), field)),
        }
    }

    /// This reply with the field `key` set to `value` (replacing one of that name).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Reply {
        self.put(key, Field::Json(value.into()));
        self
    }

    /// Set the field `key` to `value` in place (replacing one of that name).
    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        self.put(key, Field::Json(value.into()));
    }

    /// A field whose value is `json`, valid JSON text, written into the result unparsed.
    pub fn raw(mut self, key: &str, json: impl Into<Vec<u8>>) -> Reply {
        self.put(key, Field::Raw(json.into()));
        self
    }

    /// An ArrayBuffer field, carried as the [`Carriage`] says.
    pub fn bytes(mut self, key: &str, bytes: Vec<u8>) -> Reply {
        self.put(key, Field::Bytes(bytes));
        self
    }

    /// An object whose values are replies of their own.
    pub fn replies(mut self, key: &str, entries: Vec<(String, Reply)>) -> Reply {
        self.put(key, Field::Replies(entries));
        self
    }

    /// The object, its ArrayBuffers carried as `carriage` says.
    pub fn into_value(self, carriage: &mut Carriage) -> Value {
        let mut side_list = Vec::new();
        let mut out = self.build(carriage, &mut Vec::new(), &mut side_list);
        if !side_list.is_empty() {
            out.insert("__nativeBuffers__".into(), Value::Array(side_list));
        }
        Value::Object(out)
    }

    /// `at`: keys from the top-level result to this object; `side_list`: the top-level list.
    fn build(self, carriage: &mut Carriage, at: &mut Vec<String>, side_list: &mut Vec<Value>) -> Map<String, Value> {
        let mut out = Map::new();
        let mut own_list = Vec::new();
        for (key, field) in self.fields {
            if let Some(v) = field_value(&key, field, carriage, at, side_list, &mut own_list) {
                out.insert(key, v);
            }
        }
        if !own_list.is_empty() {
            out.insert("__nativeBuffers__".into(), Value::Array(own_list));
        }
        out
    }

    /// The envelope: errMsg first, then the payload.
    pub fn into_envelope(self, api: &str, carriage: &mut Carriage) -> Value {
        self.into_envelope_with(&[("errMsg", Value::String(format!("{api}:ok")))], carriage)
    }

    /// The envelope with `head` (a platform's success fields, `Dialect::ok_head`) first.
    pub fn into_envelope_with(self, head: &[(&str, Value)], carriage: &mut Carriage) -> Value {
        let mut out = Map::new();
        for (k, v) in head {
            out.insert(k.to_string(), v.clone());
        }
        if let Value::Object(m) = self.into_value(carriage) {
            out.extend(m);
        }
        Value::Object(out)
    }

    /// The envelope as bytes, with raw fields spliced in as they are: what the C ABI returns.
    /// Equal, once parsed, to `into_envelope`.
    pub fn into_bytes(self, api: &str, carriage: &mut Carriage) -> Vec<u8> {
        if self.fields.is_empty() {
            // A bare success (every set, remove, write): no map to build.
            // Room for the NUL the C ABI adds, so that it never grows the result.
            let mut out = Vec::with_capacity(17 + api.len());
            out.extend_from_slice(b"{\"errMsg\":");
            let _ = serde_json::to_writer(&mut out, api); // "api", then its closing quote moves
            out.pop();
            out.extend_from_slice(b":ok\"}");
            return out;
        }
        self.into_bytes_with(&[("errMsg", Value::String(format!("{api}:ok")))], carriage)
    }

    /// `into_bytes` with `head` (a platform's success fields, `Dialect::ok_head`) first.
    pub fn into_bytes_with(self, head: &[(&str, Value)], carriage: &mut Carriage) -> Vec<u8> {
        if !self.fields.iter().any(|(_, f)| matches!(f, Field::Raw(_))) {
            return serde_json::to_vec(&self.into_envelope_with(head, carriage)).unwrap_or_default();
        }
        let mut out = Vec::with_capacity(64);
        out.push(b'{');
        for (i, (k, v)) in head.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, k);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, v);
        }
        let mut first = head.is_empty();
        let mut write = |out: &mut Vec<u8>, key: &str, body: &[u8]| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
            out.extend_from_slice(body);
        };
        // A raw first field (a listing, stored data) is most of the result: the envelope is
        // built around it in its own buffer, never copied into a second one (docs/design.md §4,
        // one call's result).
        let mut fields = self.fields.into_iter().peekable();
        let mut base = None;
        if let Some((_, Field::Raw(_))) = fields.peek() {
            if let Some((key, Field::Raw(json))) = fields.next() {
                write(&mut out, &key, b"");
                base = Some((json, std::mem::replace(&mut out, Vec::with_capacity(64))));
            }
        }
        let (mut side_list, mut own_list) = (Vec::new(), Vec::new());
        for (key, field) in fields {
            match field {
                Field::Raw(json) => write(&mut out, &key, &json),
                other => {
                    if let Some(v) = field_value(&key, other, carriage, &mut Vec::new(), &mut side_list, &mut own_list) {
                        write(&mut out, &key, &serde_json::to_vec(&v).unwrap_or_default());
                    }
                }
            }
        }
        own_list.extend(side_list);
        if !own_list.is_empty() {
            write(&mut out, "__nativeBuffers__", &serde_json::to_vec(&own_list).unwrap_or_default());
        }
        out.push(b'}');
        match base {
            None => out,
            Some((mut json, start)) => {
                json.reserve_exact(start.len() + out.len());
                json.splice(0..0, start);
                json.extend_from_slice(&out);
                json
            }
        }
    }
}

/// A success envelope written straight into its bytes, for a result whose fields are known
/// (`storage_api`'s fast paths): the same bytes `Reply::into_bytes_with` writes for the
/// dialect's head and the same fields, with one allocation of the size the caller names, which
/// leaves room for the NUL the C ABI adds (so neither grows nor shrinks it).
pub struct Direct {
    out: Vec<u8>,
    first: bool,
}

impl Direct {
    /// `{` and `dialect`'s success head for `api` (`Dialect::ok_head`); `room`: the bytes the
    /// fields will take, each `,"key":value` counted whole.
    pub fn new(dialect: &Dialect, api: &str, room: usize) -> Direct {
        let env = &dialect.envelope;
        let base = api.strip_suffix("Sync").unwrap_or(api);
        let flag = env.ok_flag && !env.payload_only.iter().any(|p| p == base);
        // `{`, `"errMsg":"<api>:ok"`, `,"success":true`; with no head, the first field has no `,`.
        let head = 1 + if env.ok_message { 14 + api.len() } else { 0 } + if flag { 14 + env.ok_message as usize } else { 0 };
        let room = if head == 1 { room.saturating_sub(1) } else { room };
        // The fields, `}` and the NUL.
        let mut out = Vec::with_capacity(head + room + 2);
        out.push(b'{');
        let mut first = true;
        if env.ok_message {
            out.extend_from_slice(b"\"errMsg\":");
            match plain(api) {
                true => {
                    out.push(b'"');
                    out.extend_from_slice(api.as_bytes());
                }
                false => {
                    let _ = serde_json::to_writer(&mut out, api); // "api", then its closing quote moves
                    out.pop();
                }
            }
            out.extend_from_slice(b":ok\"");
            first = false;
        }
        if flag {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"success\":true");
            first = false;
        }
        Direct { out, first }
    }

    /// `key`: a name with nothing to escape, written as it is.
    fn key(&mut self, key: &'static str) {
        debug_assert!(plain(key), "{key}");
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A field whose value is `json`, valid JSON text, as it is.
    pub fn raw(&mut self, key: &'static str, json: &[u8]) {
        self.key(key);
        self.out.extend_from_slice(json);
    }

    /// A string field.
    pub fn string(&mut self, key: &'static str, value: &str) {
        self.key(key);
        let _ = serde_json::to_writer(&mut self.out, value);
    }

    /// The envelope's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Whether `s` is its own JSON string's contents: nothing in it to escape.
fn plain(s: &str) -> bool {
    // No early exit: the compiler vectorises the loop (an api name is checked on every call).
    !s.bytes().fold(false, |any, b| any | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// One field as a JSON value: `None` when it travels in a buffer list instead (`own_list`: this
/// object's base64 list; `side_list`: the top-level list of the side carriage).
fn field_value(
    key: &str,
    field: Field,
    carriage: &mut Carriage,
    at: &mut Vec<String>,
    side_list: &mut Vec<Value>,
    own_list: &mut Vec<Value>,
) -> Option<Value> {
    match field {
        Field::Json(v) => Some(v),
        Field::Raw(json) => Some(serde_json::from_slice(&json).unwrap_or(Value::Null)),
        Field::Bytes(b) => {
            match carriage {
                Carriage::Base64 => {
                    own_list.push(json!({"key": key, "base64": base64::engine::general_purpose::STANDARD.encode(b)}))
                }
                Carriage::Side(buffers) => {
                    let mut entry = json!({"key": key, "index": buffers.len()});
                    if !at.is_empty() {
                        entry["at"] = json!(at);
                    }
                    buffers.push(b);
                    side_list.push(entry);
                }
            }
            None
        }
        Field::Replies(entries) => {
            at.push(key.to_string());
            let mut obj = Map::new();
            for (name, reply) in entries {
                at.push(name.clone());
                obj.insert(name, Value::Object(reply.build(carriage, at, side_list)));
                at.pop();
            }
            at.pop();
            Some(Value::Object(obj))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_like() -> Reply {
        let a = Reply::new().bytes("data", b"AB".to_vec()).set("errMsg", "readZipEntry:ok");
        let b = Reply::new().set("data", "text").set("errMsg", "readZipEntry:ok");
        Reply::new().replies("entries", vec![("a.bin".into(), a), ("b.txt".into(), b)]).bytes("top", vec![7])
    }

    #[test]
    fn base64_lists_sit_in_the_object_that_holds_the_field() {
        let v = zip_like().into_envelope("readZipEntry", &mut Carriage::Base64);
        assert_eq!(
            v.to_string(),
            r#"{"errMsg":"readZipEntry:ok","entries":{"a.bin":{"errMsg":"readZipEntry:ok","__nativeBuffers__":[{"key":"data","base64":"QUI="}]},"b.txt":{"data":"text","errMsg":"readZipEntry:ok"}},"__nativeBuffers__":[{"key":"top","base64":"Bw=="}]}"#
        );
    }

    #[test]
    fn side_buffers_are_named_once_at_the_top_with_their_path() {
        let mut c = Carriage::Side(Vec::new());
        let v = zip_like().into_envelope("readZipEntry", &mut c);
        assert_eq!(
            v.to_string(),
            r#"{"errMsg":"readZipEntry:ok","entries":{"a.bin":{"errMsg":"readZipEntry:ok"},"b.txt":{"data":"text","errMsg":"readZipEntry:ok"}},"__nativeBuffers__":[{"key":"data","index":0,"at":["entries","a.bin"]},{"key":"top","index":1}]}"#
        );
        let Carriage::Side(list) = c else { unreachable!() };
        assert_eq!(list, vec![b"AB".to_vec(), vec![7]]);
    }

    #[test]
    fn raw_fields_are_spliced_as_they_are_and_equal_the_value_form() {
        let make =
            || Reply::new().raw("data", r#"{"b":1,  "a":[2]}"#.to_string()).set("dataType", "Object").bytes("buf", vec![1]);
        let bytes = make().into_bytes("getStorage", &mut Carriage::Base64);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"errMsg":"getStorage:ok","data":{"b":1,  "a":[2]},"dataType":"Object","__nativeBuffers__":[{"key":"buf","base64":"AQ=="}]}"#
        );
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, make().into_envelope("getStorage", &mut Carriage::Base64));
        let mut side = Carriage::Side(Vec::new());
        let bytes = make().into_bytes("getStorage", &mut side);
        assert!(String::from_utf8(bytes)
            .unwrap()
            .ends_with(r#""dataType":"Object","__nativeBuffers__":[{"key":"buf","index":0}]}"#));
    }

    #[test]
    fn a_platforms_head_replaces_errmsg_in_both_forms() {
        let make = || Reply::new().raw("data", "[1]".to_string()).set("n", 2);
        for (head, want) in [
            (vec![("success", Value::Bool(true))], r#"{"success":true,"data":[1],"n":2}"#),
            (vec![], r#"{"data":[1],"n":2}"#),
            (
                vec![("errMsg", Value::from("x:ok")), ("success", Value::Bool(true))],
                r#"{"errMsg":"x:ok","success":true,"data":[1],"n":2}"#,
            ),
        ] {
            let bytes = make().into_bytes_with(&head, &mut Carriage::Base64);
            assert_eq!(String::from_utf8(bytes).unwrap(), want);
            assert_eq!(make().into_envelope_with(&head, &mut Carriage::Base64).to_string(), want);
        }
    }

    #[test]
    fn setting_a_key_again_keeps_its_place() {
        let v = Reply::new().set("a", 1).set("b", 2).set("a", 3).into_value(&mut Carriage::Base64);
        assert_eq!(v.to_string(), r#"{"a":3,"b":2}"#);
    }
}
