//! Building result objects, with ArrayBuffer fields carried in `__nativeBuffers__`.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// A result object under construction. ArrayBuffer fields are kept apart and emitted in the
/// object's own `__nativeBuffers__` list, at whatever depth the object sits.
#[derive(Default)]
pub struct Reply {
    fields: Map<String, Value>,
    buffers: Vec<(String, Vec<u8>)>,
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

    pub fn bytes(mut self, key: &str, bytes: Vec<u8>) -> Reply {
        self.buffers.push((key.to_string(), bytes));
        self
    }

    pub fn into_value(self) -> Value {
        let mut fields = self.fields;
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
}
