//! Building result objects, with ArrayBuffer fields carried in `__nativeBuffers__`.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// A result object under construction. ArrayBuffer fields are kept apart and emitted in the
/// object's own `__nativeBuffers__` list, at whatever depth the object sits.
#[derive(Default)]
pub struct Reply {
    fields: Map<String, Value>,
    buffers: Vec<(String, Vec<u8>)>,
    /// Fields whose value is JSON text already (stored storage data), spliced into the bytes
    /// of the result as they are (`into_bytes`), placed before `fields`.
    raw: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn new() -> Reply {
        Reply::default()
    }

    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Reply {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_string(), value.into());
    }

    /// A field whose value is `json`, valid JSON text, written into the result unparsed.
    pub fn raw(mut self, key: &'static str, json: String) -> Reply {
        self.raw.push((key, json));
        self
    }

    pub fn bytes(mut self, key: &str, bytes: Vec<u8>) -> Reply {
        self.buffers.push((key.to_string(), bytes));
        self
    }

    pub fn into_value(self) -> Value {
        let mut fields = Map::new();
        for (k, json) in self.raw {
            fields.insert(k.to_string(), serde_json::from_str(&json).unwrap_or(Value::Null));
        }
        fields.extend(self.fields);
        if !self.buffers.is_empty() {
            let list: Vec<Value> = self
                .buffers
                .into_iter()
                .map(|(k, b)| json!({"key": k, "base64": base64::engine::general_purpose::STANDARD.encode(b)}))
                .collect();
            fields.insert("__nativeBuffers__".into(), Value::Array(list));
        }
        Value::Object(fields)
    }

    /// The envelope: errMsg first, then the payload.
    pub fn into_envelope(self, api: &str) -> Value {
        let mut out = Map::new();
        out.insert("errMsg".into(), Value::String(format!("{api}:ok")));
        if let Value::Object(m) = self.into_value() {
            out.extend(m);
        }
        Value::Object(out)
    }

    /// The envelope as bytes, with the raw fields spliced in as they are: what the C ABI
    /// returns. Equal, once parsed, to `into_envelope`.
    pub fn into_bytes(self, api: &str) -> Vec<u8> {
        if self.raw.is_empty() {
            return serde_json::to_vec(&self.into_envelope(api)).unwrap_or_default();
        }
        let mut out = Vec::with_capacity(64 + self.raw.iter().map(|(k, j)| k.len() + j.len() + 4).sum::<usize>());
        out.extend_from_slice(b"{\"errMsg\":");
        let _ = serde_json::to_writer(&mut out, &format!("{api}:ok"));
        for (k, json) in &self.raw {
            out.push(b',');
            let _ = serde_json::to_writer(&mut out, k);
            out.push(b':');
            out.extend_from_slice(json.as_bytes());
        }
        let rest = Reply { fields: self.fields, buffers: self.buffers, raw: Vec::new() };
        if let Value::Object(m) = rest.into_value() {
            for (k, v) in m {
                out.push(b',');
                let _ = serde_json::to_writer(&mut out, &k);
                out.push(b':');
                let _ = serde_json::to_writer(&mut out, &v);
            }
        }
        out.push(b'}');
        out
    }
}
