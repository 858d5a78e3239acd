//! Typed access to a JavaScript argument object, with WeChat's parameter-error wording.
//!
//! ArrayBuffer arguments arrive lifted out of the object into its top-level `__nativeBuffers__`
//! list, each entry naming its field by `key` and carrying its bytes either inline as `base64`
//! (`wxfs_invoke`) or by `index` into the side list of buffers the caller passed beside the JSON
//! (`wxfs_invoke_v2`), which are borrowed, not copied.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fs::codec::Encoding;

/// The argument object with its ArrayBuffers lifted out of `__nativeBuffers__`.
pub struct Args<'a> {
    obj: Map<String, Value>,
    buffers: HashMap<String, Cow<'a, [u8]>>,
    /// errCode for a missing or mistyped parameter of this api.
    pub param_code: u32,
}

/// The JavaScript type name WeChat's messages use for a JSON value.
fn js_type(v: Option<&Value>) -> &'static str {
    match v {
        None => "Undefined",
        Some(Value::Null) => "Null",
        Some(Value::Bool(_)) => "Boolean",
        Some(Value::Number(_)) => "Number",
        Some(Value::String(_)) => "String",
        Some(Value::Array(_)) => "Array",
        Some(Value::Object(_)) => "Object",
    }
}

/// Why an argument object could not be decoded (the bridge's own failure, not an API's).
#[derive(Debug)]
pub struct Malformed(pub String);

impl<'a> Args<'a> {
    /// Parse an argument object; `side` holds the buffers `{"key", "index"}` entries refer to.
    pub fn parse(text: &str, param_code: u32, side: Vec<Cow<'a, [u8]>>) -> std::result::Result<Args<'a>, Malformed> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let value: Value = serde_json::from_str(text).map_err(|e| Malformed(format!("invalid JSON arguments: {e}")))?;
        let Value::Object(mut obj) = value else {
            return Err(Malformed("arguments must be a JSON object".into()));
        };
        let buffers = take_buffers(&mut obj, side)?;
        Ok(Args { obj, buffers, param_code })
    }

    /// An argument object nested in another (readZipEntry's entries); it carries no buffers.
    pub fn from_object(obj: Map<String, Value>, param_code: u32) -> Args<'a> {
        Args { obj, buffers: HashMap::new(), param_code }
    }

    fn wrong(&self, name: &str, expected: &str) -> Error {
        Error::param(self.param_code, name, expected, js_type(self.obj.get(name)))
    }

    pub fn has(&self, name: &str) -> bool {
        self.buffers.contains_key(name) || !matches!(self.obj.get(name), None | Some(Value::Null))
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.obj.get(name)
    }

    pub fn take_value(&mut self, name: &str) -> Option<Value> {
        self.obj.remove(name)
    }

    pub fn str(&self, name: &str) -> Result<&str> {
        match self.obj.get(name) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(self.wrong(name, "String")),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            _ => Err(self.wrong(name, "String")),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err(self.wrong(name, "Boolean")),
        }
    }

    pub fn opt_num(&self, name: &str) -> Result<Option<f64>> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            _ => Err(self.wrong(name, "Number")),
        }
    }

    /// A non-negative integer; `range` is the error for a negative or fractional value.
    pub fn opt_index(&self, name: &str, range: impl Fn() -> Error) -> Result<Option<u64>> {
        match self.opt_num(name)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= u64::MAX as f64 => Ok(Some(n as u64)),
            Some(_) => Err(range()),
        }
    }

    /// An fd: WeChat passes a string; a number is accepted too.
    pub fn fd(&self) -> Result<String> {
        match self.obj.get("fd") {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(self.wrong("fd", "String")),
        }
    }

    pub fn buffer(&self, name: &str) -> Option<&[u8]> {
        self.buffers.get(name).map(|b| &**b)
    }

    pub fn take_buffer(&mut self, name: &str) -> Option<Vec<u8>> {
        self.buffers.remove(name).map(Cow::into_owned)
    }

    /// The `encoding` argument, if any, as one of the eleven names.
    pub fn encoding(&self, name: &str) -> Result<Option<Encoding>> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(e) => Encoding::parse(e)
                .map(Some)
                .ok_or_else(|| Error::new(crate::error::code::INVALID_ARGUMENT, format!("invalid encoding \"{e}\""))),
        }
    }

    /// `data` as bytes: an ArrayBuffer as is (not copied), a string through `encoding` (default utf8).
    pub fn data(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        if let Some(b) = self.buffers.get(name) {
            return Ok(Cow::Borrowed(b));
        }
        match self.obj.get(name) {
            Some(Value::String(s)) => Ok(Cow::Owned(self.encoding("encoding")?.unwrap_or(Encoding::Utf8).encode(s)?)),
            _ => Err(self.wrong(name, "String/ArrayBuffer")),
        }
    }
}

/// Lift the top-level `__nativeBuffers__` list out of an argument object into a key -> bytes map.
fn take_buffers<'a>(
    obj: &mut Map<String, Value>,
    side: Vec<Cow<'a, [u8]>>,
) -> std::result::Result<HashMap<String, Cow<'a, [u8]>>, Malformed> {
    let mut out = HashMap::new();
    let Some(list) = obj.remove("__nativeBuffers__") else {
        return Ok(out);
    };
    let Value::Array(items) = list else {
        return Err(Malformed("__nativeBuffers__ must be an array".into()));
    };
    let mut side: Vec<Option<Cow<'a, [u8]>>> = side.into_iter().map(Some).collect();
    for item in items {
        let Some(key) = item.get("key").and_then(Value::as_str) else {
            return Err(Malformed("__nativeBuffers__ entries need a string \"key\"".into()));
        };
        let bytes = match (item.get("base64"), item.get("index")) {
            (Some(Value::String(b64)), None) => Cow::Owned(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| Malformed(format!("__nativeBuffers__ entry \"{key}\" is not valid base64")))?,
            ),
            (None, Some(index)) => {
                let count = side.len();
                let taken = index.as_u64().and_then(|i| side.get_mut(usize::try_from(i).ok()?)).and_then(Option::take);
                let Some(bytes) = taken else {
                    return Err(Malformed(format!(
                        "__nativeBuffers__ entry \"{key}\": index {index} does not name an unused one of the {count} buffers passed"
                    )));
                };
                bytes
            }
            _ => return Err(Malformed(format!("__nativeBuffers__ entry \"{key}\" needs either \"base64\" or \"index\""))),
        };
        out.insert(key.to_string(), bytes);
    }
    Ok(out)
}
