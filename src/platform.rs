//! Mini-program platforms: which one a sandbox serves, and that platform's dialect.
//!
//! The dialects are `docs/platforms/dialects.json`, embedded at build time: the same table the
//! docs show is the one the library renders results from, so there is no second hand-kept copy.
//! The core keeps one internal error (a WeChat code and reason); [`Dialect::render_failure`] turns
//! it into the platform's words, code and envelope.

use std::collections::HashMap;
use std::path::PathBuf;

use once_cell::sync::Lazy;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::code;
use crate::quota::Limits;
use crate::sandbox::Protocol;

/// The platform whose mini-programs a sandbox serves (config `platform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Platform {
    /// WeChat (`wx.`), the default: `wxfile://`.
    #[default]
    Wechat,
    /// Alipay (`my.`): `https://usr`, `{error, errorMessage}` failures.
    Alipay,
    /// Douyin / Toutiao (`tt.`): `ttfile://user`, `errNo`.
    Douyin,
    /// Baidu (`swan.`): `bdfile://`.
    Baidu,
    /// QQ (`qq.`): `qqfile://`, WeChat's envelope.
    Qq,
}

impl Platform {
    /// Every platform, WeChat first.
    pub const ALL: [Platform; 5] = [Platform::Wechat, Platform::Alipay, Platform::Douyin, Platform::Baidu, Platform::Qq];

    /// The config value (`"wechat"`, `"alipay"`, ...), also the key in dialects.json.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Wechat => "wechat",
            Platform::Alipay => "alipay",
            Platform::Douyin => "douyin",
            Platform::Baidu => "baidu",
            Platform::Qq => "qq",
        }
    }

    /// The platform a config value names.
    pub fn from_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The path protocol of this platform (WeChat's may be switched to `http` by config).
    pub fn protocol(self) -> Protocol {
        match self {
            Platform::Wechat => Protocol::Wxfile,
            Platform::Alipay => Protocol::Https,
            Platform::Douyin => Protocol::Ttfile,
            Platform::Baidu => Protocol::Bdfile,
            Platform::Qq => Protocol::Qqfile,
        }
    }

    /// What follows the app's directory name on disk: nothing for WeChat (so sandboxes made
    /// before platforms existed stay where they are), `@<platform>` otherwise. `@` is never
    /// produced by the id encoding (`sandbox::naming`), so no appId can collide with it.
    pub fn dir_suffix(self) -> &'static str {
        match self {
            Platform::Wechat => "",
            Platform::Alipay => "@alipay",
            Platform::Douyin => "@douyin",
            Platform::Baidu => "@baidu",
            Platform::Qq => "@qq",
        }
    }

    /// The platform a sandbox directory name belongs to, and the app part of the name.
    pub fn of_dir_name(name: &str) -> (Platform, &str) {
        for p in Platform::ALL {
            if let Some(app) = name.strip_suffix(p.dir_suffix()).filter(|_| p != Platform::Wechat) {
                return (p, app);
            }
        }
        (Platform::Wechat, name)
    }

    /// Its dialect: envelope, error codes and texts, limits (from docs/platforms/dialects.json).
    pub fn dialect(self) -> &'static Dialect {
        &DIALECTS[&self]
    }

    /// The default limits of this platform: WeChat's defaults with the platform's storage item,
    /// storage total, user-file quota and per-file limit from dialects.json (a `null` item limit
    /// means none).
    pub fn default_limits(self) -> Limits {
        let mut l = Limits::default();
        if self == Platform::Wechat {
            return l;
        }
        let d = self.dialect();
        if let Some(Some(total)) = d.limit("storageTotal") {
            l.storage_total = total;
        }
        match d.limit("storageItem") {
            Some(Some(item)) => l.storage_item = item,
            Some(None) => l.storage_item = l.storage_total,
            None => {}
        }
        if let Some(Some(user)) = d.limit("userFiles") {
            l.user_files = user;
        }
        if let Some(one) = d.single_file_limit() {
            l.single_file = one;
        }
        l
    }
}

/// docs/platforms/dialects.json without its research notes (`build.rs` strips the sources,
/// statuses, notes and decisions): only the data this module reads ships in the library.
pub const DIALECTS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/dialects.json"));

#[derive(Deserialize)]
struct File {
    platforms: HashMap<String, RawDialect>,
}

#[derive(Deserialize)]
struct RawDialect {
    #[serde(rename = "USER_DATA_PATH")]
    user_data_path: Valued,
    envelope: Envelope,
    #[serde(default)]
    errors: HashMap<String, ErrorEntry>,
    #[serde(default)]
    limits: HashMap<String, LimitEntry>,
}

#[derive(Deserialize)]
struct Valued {
    value: String,
}

#[derive(Deserialize, Debug)]
struct LimitEntry {
    #[serde(default)]
    bytes: Option<u64>,
}

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
struct ErrorEntry {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "perApi", default)]
    per_api: std::collections::BTreeMap<String, PerApi>,
    #[serde(rename = "as", default)]
    alias: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(rename = "succeedsWith", default)]
    succeeds_with: Option<Value>,
}

#[derive(Deserialize, Debug)]
struct PerApi {
    code: Option<i64>,
    message: Option<String>,
}

/// One platform's dialect.
pub struct Dialect {
    /// WeChat: the internal errors are WeChat's own, with per-api texts the table only sums up,
    /// so they are kept as they are.
    native: bool,
    /// `env.USER_DATA_PATH`.
    pub user_data_path: String,
    /// How results are wrapped.
    pub envelope: Envelope,
    errors: HashMap<String, ErrorEntry>,
    limits: HashMap<String, LimitEntry>,
}

static DIALECTS: Lazy<HashMap<Platform, Dialect>> = Lazy::new(|| {
    let file: File = serde_json::from_str(DIALECTS_JSON).expect("docs/platforms/dialects.json is valid (unit-tested)");
    let mut raw = file.platforms;
    Platform::ALL
        .into_iter()
        .map(|p| {
            let r = raw.remove(p.name()).unwrap_or_else(|| panic!("dialects.json has no platform {}", p.name()));
            let d = Dialect {
                native: p == Platform::Wechat,
                user_data_path: r.user_data_path.value,
                envelope: r.envelope,
                errors: r.errors,
                limits: r.limits,
            };
            (p, d)
        })
        .collect()
});

/// A failure in a platform's terms.
pub enum Rendered {
    /// The result object and the status the C ABI returns.
    Fail(Value, i32),
    /// The platform answers this failure with a success carrying these fields.
    Success(Map<String, Value>),
}

/// The abstract failure kind (dialects.json `failureKinds`) of an internal error.
fn kind_of(errcode: u32, reason: &str, base_api: &str) -> Option<&'static str> {
    use code::*;
    Some(match errcode {
        NO_SUCH_FILE if reason == "file not exist" => "saved-not-exist",
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
    fn limit(&self, name: &str) -> Option<Option<u64>> {
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
    pub fn render_failure(&self, api: &str, errcode: i64, reason: &str, path: Option<&str>) -> Rendered {
        let base = api.strip_suffix("Sync").unwrap_or(api);
        let entry = match self.native {
            true => None,
            false => u32::try_from(errcode).ok().and_then(|c| kind_of(c, reason, base)).and_then(|k| self.entry(k, base)),
        };
        let (mut out_code, mut text) = (errcode, reason.to_string());
        let mut mapped = self.native;
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
fn render<'v>(template: &str, value: impl Fn(&str) -> Option<&'v str>) -> String {
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

/// The sandbox directory of (user, app) on `platform` under `root`.
pub fn sandbox_dir(root: &std::path::Path, user_id: &str, app_id: &str, platform: Platform) -> PathBuf {
    crate::sandbox::sandbox_dir_on(root, user_id.as_bytes(), app_id.as_bytes(), platform.dir_suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_dialects_parse_and_name_every_platform() {
        for p in Platform::ALL {
            assert_eq!(Platform::from_name(p.name()), Some(p));
            let d = p.dialect();
            assert!(d.user_data_path.ends_with("://usr") || d.user_data_path == "ttfile://user", "{}", d.user_data_path);
            assert_eq!(crate::sandbox::path::parse_in(&d.user_data_path, p.protocol()).unwrap().area, crate::sandbox::Area::Usr);
        }
        assert_eq!(Platform::from_name("weixin"), None);
    }

    #[test]
    fn the_library_embeds_the_dialect_data_without_the_research_notes() {
        let docs = include_str!("../docs/platforms/dialects.json");
        assert!(docs.contains("\"source\""), "the docs keep their sources");
        for note in ["\"about\"", "\"sources\"", "\"source\"", "\"note\"", "\"status\"", "\"decision\""] {
            assert!(!DIALECTS_JSON.contains(note), "{note} is embedded");
        }
        // What the parser reads is unchanged: the same errors, envelopes and limits either way.
        let full: File = serde_json::from_str(docs).unwrap();
        let embedded: File = serde_json::from_str(DIALECTS_JSON).unwrap();
        assert_eq!(format!("{:?}", sorted(&full)), format!("{:?}", sorted(&embedded)));
        assert!(DIALECTS_JSON.len() * 2 < docs.len(), "{} of {} bytes embedded", DIALECTS_JSON.len(), docs.len());
    }

    fn sorted(f: &File) -> Vec<(String, String)> {
        let mut v: Vec<_> = f
            .platforms
            .iter()
            .map(|(k, d)| (k.clone(), format!("{:?} {:?} {:?}", d.envelope, sorted_map(&d.errors), sorted_map(&d.limits))))
            .collect();
        v.sort();
        v
    }

    fn sorted_map<V: std::fmt::Debug>(m: &HashMap<String, V>) -> Vec<String> {
        let mut v: Vec<_> = m.iter().map(|(k, x)| format!("{k}={x:?}")).collect();
        v.sort();
        v
    }

    #[test]
    fn limits_come_from_the_table() {
        assert_eq!(Platform::Wechat.default_limits(), Limits::default());
        let a = Platform::Alipay.default_limits();
        assert_eq!((a.storage_item, a.storage_total, a.user_files), (204_800, 10_485_760, 52_428_800));
        assert_eq!(a.single_file, 10_485_760);
        for p in [Platform::Wechat, Platform::Douyin, Platform::Baidu, Platform::Qq] {
            assert_eq!(p.default_limits().single_file, u64::MAX, "{p:?}");
        }
        let b = Platform::Baidu.default_limits();
        assert_eq!((b.storage_item, b.user_files), (b.storage_total, 10_485_760));
        assert_eq!(Platform::Douyin.default_limits().storage_item, 1_048_576);
    }

    #[test]
    fn one_internal_error_rendered_per_platform() {
        let render = |p: Platform, api, c, r: &str, path| match p.dialect().render_failure(api, c, r, path) {
            Rendered::Fail(v, rc) => (v, rc),
            Rendered::Success(_) => panic!("success"),
        };
        let nf = code::NO_SUCH_FILE as i64;
        let (v, rc) = render(Platform::Alipay, "mkdirSync", nf, "no such file or directory x", Some("https://usr/a/b"));
        assert_eq!((v.to_string(), rc), (r#"{"errorMessage":"上级目录不存在","error":10022}"#.to_string(), 10022));
        let (v, rc) = render(Platform::Douyin, "writeFile", nf, "no such file", Some("ttfile://user/a/b"));
        assert_eq!(
            v,
            serde_json::json!({"errMsg": "writeFile:fail no such file or directory, writeFile ttfile://user/a/b", "errNo": 21102})
        );
        assert_eq!(rc, 21102);
        // Not a directory: the decision recorded in dialects.json ("as").
        let (v, _) = render(Platform::Alipay, "readFile", code::NOT_A_DIRECTORY as i64, "not a directory", None);
        assert_eq!(v["error"], 10022);
        // WeChat, QQ and Baidu's file system keep WeChat's words and code.
        for p in [Platform::Wechat, Platform::Qq, Platform::Baidu] {
            let (v, rc) = render(p, "access", nf, "no such file or directory qqfile://usr/x", None);
            assert_eq!(v["errMsg"], "access:fail no such file or directory qqfile://usr/x");
            assert_eq!((v["errCode"].as_i64(), rc), (Some(nf), nf as i32));
        }
        // Baidu's storage codes apply to storage apis only.
        let (v, rc) = render(Platform::Baidu, "setStorageSync", code::STORAGE_FULL as i64, "exceed storage max size 10Mb", None);
        assert_eq!((v["errCode"].as_i64(), rc), (Some(1003), 1003));
        assert!(matches!(
            Platform::Douyin.dialect().render_failure("getStorage", code::STORAGE_NOT_FOUND as i64, "data not found", None),
            Rendered::Success(_)
        ));
        assert_eq!(Platform::Alipay.dialect().missing_key(), Some(Value::Null));
        // Douyin documents no code for this: errMsg alone, the internal code still returned.
        let (v, rc) = render(Platform::Douyin, "rmdir", code::DIR_NOT_EMPTY as i64, "directory not empty", None);
        assert_eq!((v, rc), (serde_json::json!({"errMsg": "rmdir:fail directory not empty"}), code::DIR_NOT_EMPTY as i32));
        let (v, rc) =
            render(Platform::Baidu, "setStorage", code::STORAGE_INVALID as i64, "parameter error: key should not be empty", None);
        assert_eq!((v["errMsg"].as_str(), rc), (Some("setStorage:fail 执行失败"), 1001));
        assert_eq!(Platform::Wechat.dialect().missing_key(), None);
    }

    #[test]
    fn a_rust_host_opens_a_platforms_sandbox_with_config_with_platform() {
        let root = std::env::temp_dir().join(format!("wxfs-platform-rust-{}", std::process::id()));
        let config = crate::Config::new(&root, "u", "wxa").with_platform(Platform::Alipay);
        assert_eq!((config.protocol, config.limits.storage_item), (Protocol::Https, 204_800));
        let s = crate::Session::open(config).unwrap();
        let (rc, v) = crate::bridge::invoke(&s, "writeFileSync", r#"{"filePath":"https://usr/a","data":"x"}"#);
        assert_eq!((rc, v), (0, serde_json::json!({"success": true})));
        assert!(root.join("u/wxa@alipay/usr/a").is_file());
        drop(s);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_template_is_rendered_in_one_pass_over_its_own_text() {
        let v = |name: &str| match name {
            "path" => Some("a/${path}/${api}"),
            "api" => Some("readFile${dirPath}"),
            _ => None,
        };
        assert_eq!(render("open ${api} ${path}", v), "open readFile${dirPath} a/${path}/${api}");
        assert_eq!(render("${other} ${ ${path", v), "${other} ${ ${path");
        assert_eq!(render("${path}${path}}", v), "a/${path}/${api}a/${path}/${api}}");
        assert_eq!(render("", v), "");
    }

    #[test]
    fn directory_suffixes_round_trip() {
        for p in Platform::ALL {
            let name = format!("wx123{}", p.dir_suffix());
            assert_eq!(Platform::of_dir_name(&name), (p, "wx123"));
        }
    }
}
