//! One platform's dialect: its envelope, its errors by failure kind, its limits and its result
//! shapes, as docs/platforms/dialects.json gives them; and the rendering of an internal failure
//! in the platform's words, code and envelope.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::shapes::Shapes;
use crate::error::{code, Error};

/// How results are shaped.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Success carries `errMsg: "<api>:ok"`.
    pub ok_message: bool,
    /// Success carries `success: true` (except for the `payload_only` apis).
    pub ok_flag: bool,
    /// The apis whose success carries their payload only.
    pub payload_only: Vec<String>,
    /// The failure's text field (`errMsg`, `errorMessage`) and code field (`errCode`, `errNo`, `error`).
    pub fail_message: String,
    /// The failure's code field.
    pub fail_code: String,
    /// The failure text is `<api>:fail <reason>` rather than the reason alone.
    pub api_prefix: bool,
    /// `"keep"`: a failure the platform documents no code for carries the internal code;
    /// `"omit"`: it carries no code field (the C ABI still returns the internal code).
    pub unmapped_code: String,
}

#[derive(Deserialize, Default, Debug)]
pub(super) struct ErrorEntry {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "perApi", default)]
    per_api: BTreeMap<String, PerApi>,
    #[serde(rename = "as", default)]
    alias: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(rename = "succeedsWith", default)]
    succeeds_with: Option<Value>,
}

#[derive(Deserialize, Debug)]
pub(super) struct PerApi {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize, Debug)]
pub(super) struct LimitEntry {
    #[serde(default)]
    bytes: Option<u64>,
}

/// One platform's dialect.
pub struct Dialect {
    /// `env.USER_DATA_PATH`.
    pub user_data_path: String,
    /// How results are wrapped.
    pub envelope: Envelope,
    /// How results other than errors are shaped.
    pub shapes: Shapes,
    pub(super) errors: HashMap<String, ErrorEntry>,
    pub(super) limits: HashMap<String, LimitEntry>,
}

/// A failure in a platform's terms.
pub enum Rendered {
    /// The result object and the status the C ABI returns.
    Fail(Value, i32),
    /// The platform answers this failure with a success carrying these fields.
    Success(Map<String, Value>),
}

/// The abstract failure kind (dialects.json `failureKinds`) of an internal error: the one its
/// row of WeChat's words names (`fs::texts`), else the one its code stands for.
fn kind_of(e: &Error, base_api: &str) -> Option<&'static str> {
    e.kind.or_else(|| kind_of_code(e.code, base_api))
}

/// The failure kind an errCode stands for, for errors no row names a kind for (storage's, the
/// bridge's, an OS error's, and a failure whose kind depends on the api).
pub(super) fn kind_of_code(errcode: u32, base_api: &str) -> Option<&'static str> {
    use code::*;
    Some(match errcode {
        NO_SUCH_FILE => "not-found",
        NOT_A_DIRECTORY => "not-a-dir",
        ILLEGAL_ON_DIR | IS_A_DIRECTORY => "is-a-dir",
        NOT_PERMITTED if base_api == "unlink" => "is-a-dir",
        NOT_PERMITTED | PERMISSION_DENIED | PATH_PERMISSION_DENIED | FD_PERMISSION | FLAG_PERMISSION => "permission",
        NO_ACCESS_USR => "permission-usr-path",
        ILLEGAL_ON_PACKAGE => "package-write",
        ALREADY_EXISTS => "exists",
        DIR_NOT_EMPTY => "not-empty",
        STORAGE_LIMIT => "quota",
        FD_LIMIT => "fd-limit",
        BAD_FD => "bad-fd",
        INVALID_ARGUMENT | LENGTH_RANGE | OFFSET_RANGE | POSITION_RANGE | NAME_TOO_LONG | DATA_EMPTY | NO_ARRAY_BUFFER => {
            "invalid-arg"
        }
        INVALID_FLAG => "invalid-flag",
        BASE64_ERROR => "encoding",
        UNZIP_OPEN | UNZIP_ENTRY | UNZIP_FAIL => "unzip",
        BROTLI_FAIL => "brotli",
        TEMP_NOT_EXIST => "temp-not-exist",
        FILE_TOO_LARGE => "file-too-large",
        IO_ERROR | SYSTEM_ERROR | STORAGE_IO => "io",
        STORAGE_NOT_FOUND => "storage-not-found",
        STORAGE_ITEM_TOO_LARGE => "storage-item-too-large",
        STORAGE_FULL => "storage-full",
        STORAGE_INVALID => "storage-empty-key",
        _ => return None,
    })
}

/// The kind to try when a platform has no entry for `kind`.
fn broader(kind: &str) -> Option<&'static str> {
    match kind {
        "permission-usr-path" | "package-write" => Some("permission"),
        "saved-not-exist" | "temp-not-exist" => Some("not-found"),
        _ => None,
    }
}

const STORAGE_APIS: [&str; 7] =
    ["setStorage", "getStorage", "removeStorage", "clearStorage", "getStorageInfo", "batchSetStorage", "batchGetStorage"];

impl Dialect {
    /// A limit in bytes: `None` when dialects.json gives none, `Some(None)` when it says "no limit".
    pub(super) fn limit(&self, name: &str) -> Option<Option<u64>> {
        self.limits.get(name).map(|l| l.bytes)
    }

    /// The entry that applies to `kind` on `base_api`, following `as` and broader kinds.
    fn entry(&self, kind: &str, base_api: &str) -> Option<&ErrorEntry> {
        let mut kind = kind.to_string();
        for _ in 0..4 {
            let applies = |e: &&ErrorEntry| e.scope.as_deref() != Some("storage") || STORAGE_APIS.contains(&base_api);
            match self.errors.get(&kind).filter(applies) {
                Some(e) if e.alias.is_some() => kind = e.alias.clone().unwrap_or_default(),
                Some(e) => return Some(e),
                None => kind = broader(&kind)?.to_string(),
            }
        }
        None
    }

    /// Render an internal failure of `api`; `path` is the call's main path argument (for `${path}`).
    pub fn render_failure(&self, api: &str, error: &Error, path: Option<&str>) -> Rendered {
        let base = api.strip_suffix("Sync").unwrap_or(api);
        let entry = match self.shapes.native {
            true => None,
            false => kind_of(error, base).and_then(|k| self.entry(k, base)),
        };
        let (mut out_code, mut text) = (error.code as i64, error.reason.clone());
        let mut mapped = self.shapes.native;
        if let Some(e) = entry {
            if let Some(Value::Object(fields)) = &e.succeeds_with {
                return Rendered::Success(fields.clone());
            }
            let (c, m) = match e.per_api.get(base) {
                Some(p) => (p.code, p.message.as_deref()),
                None => (e.code, e.message.as_deref()),
            };
            if let Some(c) = c {
                out_code = c;
                mapped = true;
            }
            if let Some(m) = m {
                let path = path.unwrap_or("");
                text = render(m, |name| match name {
                    "api" => Some(api),
                    "path" | "dirPath" | "filePath" => Some(path),
                    _ => None,
                });
            }
        }
        let shown = (mapped || self.envelope.unmapped_code != "omit").then_some(out_code);
        Rendered::Fail(self.fail_object(api, &text, shown), out_code.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
    }

    /// A failure object in this platform's envelope.
    pub fn fail_object(&self, api: &str, reason: &str, errcode: Option<i64>) -> Value {
        let env = &self.envelope;
        let mut m = Map::new();
        let text = if env.api_prefix { format!("{api}:fail {reason}") } else { reason.to_string() };
        m.insert(env.fail_message.clone(), Value::String(text));
        if let Some(c) = errcode {
            m.insert(env.fail_code.clone(), Value::from(c));
        }
        Value::Object(m)
    }

    /// The fields a success result starts with (`errMsg: "<api>:ok"`, `success: true`, or none).
    pub fn ok_head(&self, api: &str) -> Vec<(&'static str, Value)> {
        let env = &self.envelope;
        let mut head = Vec::new();
        if env.ok_message {
            head.push(("errMsg", Value::String(format!("{api}:ok"))));
        }
        let base = api.strip_suffix("Sync").unwrap_or(api);
        if env.ok_flag && !env.payload_only.iter().any(|p| p == base) {
            head.push(("success", Value::Bool(true)));
        }
        head
    }

    /// The largest one file may be, where the platform documents a limit (Alipay's 10 MB).
    pub fn single_file_limit(&self) -> Option<u64> {
        self.limit("singleFile").flatten()
    }

    /// What a missing storage key reads as when the platform answers it with a success.
    pub fn missing_key(&self) -> Option<Value> {
        self.errors.get("storage-not-found")?.succeeds_with.as_ref()?.get("data").cloned()
    }
}

/// A message template of dialects.json with each `${name}` that `value` knows replaced, in one
/// pass over the template's own text: what is put in is never read again, so a caller's path
/// holding `${path}` is quoted as it is, never expanded, and the result is at most the
/// template plus each placeholder's value once. A name `value` does not know stays as written.
pub(super) fn render<'v>(template: &str, value: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        match tail.find('}').and_then(|end| value(&tail[..end]).map(|v| (end, v))) {
            Some((end, v)) => {
                out.push_str(v);
                rest = &tail[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}
