//! The bridge contract (docs/design.md §8): api name + JSON arguments -> JSON result.
//!
//! Results are always `{"errMsg": "<api>:ok", ...}` or `{"errMsg": "<api>:fail <reason>",
//! "errCode": n}`. The status is 0, the errCode, or a negative [`Status`] when the bridge itself
//! could not run the call.

// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
pub mod args;
mod budget;
pub mod config;
mod fs_api;
mod json_scan;
pub mod reply;
pub mod status;
pub(crate) mod storage_api;

use std::borrow::Cow;

use serde_json::{json, Value};

use crate::error::{code, Error};
use crate::platform::{Dialect, Platform, Rendered};
use crate::session::Session;
use args::Args;
pub use reply::{Carriage, Reply};

/// Why the bridge could not run a call: the negative codes of the C ABI ([`status`]) by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// `WXFS_E_NULL`: a required pointer was NULL.
    NullPointer = status::WXFS_E_NULL,
    /// `WXFS_E_HANDLE`: the handle is not an open one.
    BadHandle = status::WXFS_E_HANDLE,
    /// `WXFS_E_UTF8`: a string is not valid UTF-8.
    InvalidUtf8 = status::WXFS_E_UTF8,
    /// `WXFS_E_JSON`: the arguments are not a JSON object (or `__nativeBuffers__` is malformed).
    InvalidJson = status::WXFS_E_JSON,
    /// `WXFS_E_UNKNOWN_API`: no such api.
    UnknownApi = status::WXFS_E_UNKNOWN_API,
    /// `WXFS_E_CONFIG`: the open configuration is invalid.
    InvalidConfig = status::WXFS_E_CONFIG,
    /// `WXFS_E_BUSY`: the sandbox is held by another process.
    Busy = status::WXFS_E_BUSY,
    /// `WXFS_E_IO`: the operating system refused to open the sandbox.
    Io = status::WXFS_E_IO,
    /// `WXFS_E_PANIC`: an internal error was caught at the boundary.
    Panic = status::WXFS_E_PANIC,
    /// `WXFS_E_BUFFER_TOO_SMALL`: the caller's buffer is too small.
    BufferTooSmall = status::WXFS_E_BUFFER_TOO_SMALL,
    /// `WXFS_E_FORKED`: the handle was opened by the parent of this forked process.
    Forked = status::WXFS_E_FORKED,
}

type Handler = fn(&Session, &mut Args<'_>, &Ctx) -> Result<Reply, Error>;

/// The call as made: the api name exactly as JavaScript used it.
pub struct Ctx<'a> {
    /// The api name, `Sync` suffix included.
    pub api: &'a str,
}

/// Who may call an api.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Twin {
    /// Only the async name exists (WeChat has no Sync form).
    AsyncOnly,
    /// Both `name` and `nameSync`.
    Both,
}

struct Api {
    name: &'static str,
    twin: Twin,
    handler: Handler,
    /// errCode for parameter errors.
    param_code: u32,
}

const FS: u32 = code::INVALID_ARGUMENT;
const KV: u32 = code::STORAGE_INVALID;

static APIS: &[Api] = &[
    Api { name: "access", twin: Twin::Both, handler: fs_api::access, param_code: FS },
    Api { name: "appendFile", twin: Twin::Both, handler: fs_api::append_file, param_code: FS },
    Api { name: "close", twin: Twin::Both, handler: fs_api::close, param_code: FS },
    Api { name: "copyFile", twin: Twin::Both, handler: fs_api::copy_file, param_code: FS },
    Api { name: "fstat", twin: Twin::Both, handler: fs_api::fstat, param_code: FS },
    Api { name: "ftruncate", twin: Twin::Both, handler: fs_api::ftruncate, param_code: FS },
    Api { name: "getFileInfo", twin: Twin::Both, handler: fs_api::get_file_info, param_code: FS },
    Api { name: "getSavedFileList", twin: Twin::Both, handler: fs_api::get_saved_file_list, param_code: FS },
    Api { name: "getSavedFileInfo", twin: Twin::Both, handler: fs_api::get_saved_file_info, param_code: FS },
    Api { name: "mkdir", twin: Twin::Both, handler: fs_api::mkdir, param_code: FS },
    Api { name: "open", twin: Twin::Both, handler: fs_api::open, param_code: FS },
    Api { name: "read", twin: Twin::Both, handler: fs_api::read, param_code: FS },
    Api { name: "readCompressedFile", twin: Twin::Both, handler: fs_api::read_compressed_file, param_code: FS },
    Api { name: "readFile", twin: Twin::Both, handler: fs_api::read_file, param_code: FS },
    Api { name: "readZipEntry", twin: Twin::AsyncOnly, handler: fs_api::read_zip_entry, param_code: FS },
    Api { name: "readdir", twin: Twin::Both, handler: fs_api::readdir, param_code: FS },
    Api { name: "removeSavedFile", twin: Twin::Both, handler: fs_api::remove_saved_file, param_code: FS },
    Api { name: "rename", twin: Twin::Both, handler: fs_api::rename, param_code: FS },
    Api { name: "rmdir", twin: Twin::Both, handler: fs_api::rmdir, param_code: FS },
    Api { name: "saveFile", twin: Twin::Both, handler: fs_api::save_file, param_code: FS },
    Api { name: "stat", twin: Twin::Both, handler: fs_api::stat, param_code: FS },
    Api { name: "truncate", twin: Twin::Both, handler: fs_api::truncate, param_code: FS },
    Api { name: "unlink", twin: Twin::Both, handler: fs_api::unlink, param_code: FS },
    Api { name: "unzip", twin: Twin::AsyncOnly, handler: fs_api::unzip, param_code: FS },
    Api { name: "write", twin: Twin::Both, handler: fs_api::write, param_code: FS },
    Api { name: "writeFile", twin: Twin::Both, handler: fs_api::write_file, param_code: FS },
    Api { name: "setStorage", twin: Twin::Both, handler: storage_api::set, param_code: KV },
    Api { name: "getStorage", twin: Twin::Both, handler: storage_api::get, param_code: KV },
    Api { name: "removeStorage", twin: Twin::Both, handler: storage_api::remove, param_code: KV },
    Api { name: "clearStorage", twin: Twin::Both, handler: storage_api::clear, param_code: KV },
    Api { name: "getStorageInfo", twin: Twin::Both, handler: storage_api::info, param_code: KV },
    Api { name: "batchSetStorage", twin: Twin::Both, handler: storage_api::batch_set, param_code: KV },
    Api { name: "batchGetStorage", twin: Twin::Both, handler: storage_api::batch_get, param_code: KV },
    Api { name: "host.createTempFile", twin: Twin::AsyncOnly, handler: fs_api::host_create_temp_file, param_code: FS },
    Api { name: "host.realPath", twin: Twin::AsyncOnly, handler: fs_api::host_real_path, param_code: FS },
    Api { name: "createBufferURL", twin: Twin::AsyncOnly, handler: fs_api::create_buffer_url, param_code: FS },
    Api { name: "revokeBufferURL", twin: Twin::AsyncOnly, handler: fs_api::revoke_buffer_url, param_code: FS },
    Api { name: "host.resolveBufferURL", twin: Twin::AsyncOnly, handler: fs_api::host_resolve_buffer_url, param_code: FS },
];

/// What WeChat's typings mark "在插件中使用：不支持" (not in plugins): a plugin has no cache
/// (`store_`) area, no view of the whole storage, and no buffer URLs. A plugin sandbox answers
/// to none of them (nor their Sync twins), and its api list leaves them out.
const NOT_IN_PLUGINS: &[&str] = &[
    "saveFile",
    "getSavedFileList",
    "getSavedFileInfo",
    "removeSavedFile",
    "getFileInfo",
    "readCompressedFile",
    "getStorageInfo",
    "clearStorage",
    "batchSetStorage",
    "batchGetStorage",
    "createBufferURL",
    "revokeBufferURL",
];

fn in_plugins(api: &Api) -> bool {
    !NOT_IN_PLUGINS.contains(&api.name)
}

/// The names a sandbox answers to: [`api_names`], less what plugins lack in a plugin's sandbox.
pub fn api_names_for(session: &Session) -> Vec<String> {
    let mut names = api_names();
    if session.config.plugin_id.is_some() {
        names.retain(|n| lookup(n).is_some_and(in_plugins));
    }
    names
}

fn lookup(api: &str) -> Option<&'static Api> {
    if let Some(a) = APIS.iter().find(|a| a.name == api) {
        return Some(a);
    }
    let base = api.strip_suffix("Sync")?;
    APIS.iter().find(|a| a.name == base && a.twin == Twin::Both)
}

/// Whether `api` names an api of the bridge.
pub fn is_known(api: &str) -> bool {
    lookup(api).is_some()
}

/// The names the bridge answers to, Sync twins included.
pub fn api_names() -> Vec<String> {
    let mut v = Vec::new();
    for a in APIS {
        v.push(a.name.to_string());
        if a.twin == Twin::Both {
            v.push(format!("{}Sync", a.name));
        }
    }
    v
}

/// A failure envelope.
pub fn fail(api: &str, reason: &str, errcode: Option<i64>) -> Value {
    match errcode {
        Some(c) => json!({"errMsg": format!("{api}:fail {reason}"), "errCode": c}),
        None => json!({"errMsg": format!("{api}:fail {reason}")}),
    }
}

/// Run one call. Returns the status (0, an errCode, or a negative [`Status`]) and the result,
/// ArrayBuffers carried as base64 inside it.
pub fn invoke(session: &Session, api: &str, args_json: &str) -> (i32, Value) {
    let dialect = platform_of(session, api).dialect();
    let (code, out) = run(session, dialect, api, args_json, Vec::new());
    let head = dialect.ok_head(api);
    (code, out.map_or_else(|fail| fail, |reply| reply.into_envelope_with(&head, &mut Carriage::Base64)))
}

/// `invoke` with the result as the bytes the C ABI returns: stored storage data is spliced in
/// as it is, never parsed and serialised again.
pub fn invoke_bytes(session: &Session, api: &str, args_json: &str) -> (i32, Vec<u8>) {
    invoke_carried(session, api, args_json, Vec::new(), &mut Carriage::Base64)
}

/// `invoke_bytes` with ArrayBuffer arguments passed beside the JSON (`side`, named by
/// `{"key", "index"}` entries) and ArrayBuffer results carried as `carriage` says.
pub fn invoke_carried(
    session: &Session,
    api: &str,
    args_json: &str,
    side: Vec<Cow<'_, [u8]>>,
    carriage: &mut Carriage,
) -> (i32, Vec<u8>) {
    let dialect = dialect_of(platform_of(session, api));
    if side.is_empty() {
        if let Some(done) = storage_fast(session, dialect, api, args_json) {
            return done;
        }
    }
    general(session, dialect, api, args_json, side, carriage)
}

/// The calls a page makes on every frame, a get or a set of one key with plain arguments,
/// answered without building a value of the arguments or of the result: the same bytes the
/// general path gives (unit-tested against it over every platform). `None`: the general path
/// answers.
fn storage_fast(session: &Session, dialect: &Dialect, api: &str, args_json: &str) -> Option<(i32, Vec<u8>)> {
    let base = match api {
        "getStorageSync" | "getStorage" => "getStorage",
        "setStorageSync" | "setStorage" => "setStorage",
        _ => return None,
    };
    if session.config.plugin_id.is_some() && NOT_IN_PLUGINS.contains(&base) {
        return None;
    }
    if base == "getStorage" {
        return storage_api::get_plain(session, dialect, api, args_json).map(|bytes| (0, bytes));
    }
    // A set keeps `data` as the text sent (the typed API's way) where the platform's words are
    // the internal ones; on the others the general path stores it as serialised from its value,
    // as it always has (`1e308` is kept as `1e+308` there).
    if !dialect.shapes.native {
        return None;
    }
    let plain = storage_api::PlainSet::parse(args_json)?;
    Some(match storage_api::set_plain(session, plain) {
        Ok(_) => (0, reply::Direct::new(dialect, api, 0).finish()),
        Err(e) => {
            session.refused(api, &e);
            (e.code as i32, to_bytes(&dialect.fail_object(api, &e.reason, Some(e.code as i64))))
        }
    })
}

/// The general path: the arguments parsed into a value, the api's handler, the result built.
fn general(
    session: &Session,
    dialect: &Dialect,
    api: &str,
    args_json: &str,
    side: Vec<Cow<'_, [u8]>>,
    carriage: &mut Carriage,
) -> (i32, Vec<u8>) {
    let (code, out) = run(session, dialect, api, args_json, side);
    match out {
        Err(fail) => (code, to_bytes(&fail)),
        Ok(reply) => (code, ok_bytes(dialect, api, reply, carriage)),
    }
}

/// A success's bytes in `dialect`'s envelope.
fn ok_bytes(dialect: &Dialect, api: &str, reply: Reply, carriage: &mut Carriage) -> Vec<u8> {
    match dialect.envelope.ok_message && !dialect.envelope.ok_flag {
        // `errMsg: "<api>:ok"` alone: the form with a path for a bare success.
        true => reply.into_bytes(api, carriage),
        false => reply.into_bytes_with(&dialect.ok_head(api), carriage),
    }
}

fn run(
    session: &Session,
    dialect: &Dialect,
    api: &str,
    args_json: &str,
    side: Vec<Cow<'_, [u8]>>,
) -> (i32, std::result::Result<Reply, Value>) {
    let Some(entry) = lookup(api) else {
        let s = Status::UnknownApi as i32;
        return (s, Err(dialect.fail_object(api, &format!("unknown api \"{api}\""), Some(s as i64))));
    };
    if session.config.plugin_id.is_some() && !in_plugins(entry) {
        let s = Status::UnknownApi as i32;
        return (s, Err(dialect.fail_object(api, &format!("api \"{api}\" is not available to plugins"), Some(s as i64))));
    }
    let ctx = Ctx { api };
    let mut args = match Args::parse(args_json, entry.param_code, side) {
        Ok(a) => a,
        Err(args::Malformed(why)) => {
            let s = Status::InvalidJson as i32;
            return (s, Err(dialect.fail_object(api, &why, Some(s as i64))));
        }
    };
    match (entry.handler)(session, &mut args, &ctx) {
        Ok(reply) => (0, Ok(reply)),
        // A limit's refusal is an event too (docs/design.md §6).
        Err(e) => {
            session.refused(api, &e);
            failure(dialect, api, &e, main_path(&args))
        }
    }
}

/// One internal error, in the platform's words, code and envelope (docs/platforms/).
fn failure(dialect: &Dialect, api: &str, e: &Error, path: Option<&str>) -> (i32, std::result::Result<Reply, Value>) {
    match dialect.render_failure(api, e, path) {
        Rendered::Fail(v, rc) => (rc, Err(v)),
        Rendered::Success(fields) => (0, Ok(fields.into_iter().fold(Reply::new(), |r, (k, v)| r.set(&k, v)))),
    }
}

/// A platform's dialect, each found once: `Platform::dialect` hashes its key on every call,
/// about 90 instructions, a tenth of a plain getStorageSync's (callgrind).
fn dialect_of(platform: Platform) -> &'static Dialect {
    static DIALECTS: once_cell::sync::Lazy<[&'static Dialect; Platform::ALL.len()]> =
        once_cell::sync::Lazy::new(|| Platform::ALL.map(Platform::dialect));
    DIALECTS[platform as usize]
}

/// Whose envelope a call's result takes: the sandbox's platform, except for the host's own
/// `host.*` apis, which answer in WeChat's envelope on every platform (host code stays one).
fn platform_of(session: &Session, api: &str) -> Platform {
    if api.starts_with("host.") {
        Platform::Wechat
    } else {
        session.config.platform
    }
}

/// The path a call is about, for the `${path}` of a platform's error text.
fn main_path<'a>(args: &'a Args<'_>) -> Option<&'a str> {
    ["filePath", "path", "dirPath", "tempFilePath", "apFilePath", "srcPath", "oldPath", "zipFilePath"]
        .iter()
        .find_map(|k| args.value(k).and_then(Value::as_str))
}

/// Serialise a result for the C side.
pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"{\"errMsg\":\"internal:fail serialisation\"}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Config;

    /// A small deterministic generator (xorshift64*): the same cases every run (the bridge's
    /// tests and `storage_api`'s).
    pub(super) struct Gen(pub(super) u64);

    impl Gen {
        pub(super) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// A number below `n`.
        pub(super) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len() as u64) as usize]
        }
    }

    /// JSON texts for `data`: every type, escapes, whitespace, the limits of a number and of
    /// nesting, and what the general path refuses.
    fn data_texts() -> Vec<String> {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let mut v: Vec<String> = [
            r#""v00000000000001""#,
            r#""""#,
            r#""a b""#,
            r#""\"quoted\" \\ \n \t \u0041 \u00e9 \ud83d\ude00""#,
            "\"中文 é 😀\"",
            r#""\u0000""#,
            "\"\u{7f}\"",
            "0",
            "-0",
            "1.5",
            "1e308",
            "-1e-320",
            "123456789012345678901234567890",
            "18446744073709551615",
            "-9223372036854775808",
            "true",
            "false",
            "null",
            "[]",
            "{}",
            r#"[1, "two", {"three": [3.0, null]}]"#,
            r#"{ "b" : 1 , "a" : [ 2 , { "c" : "d e" } ] }"#,
            r#"{"__nativeBuffers__":[{"key":"x","base64":"AA=="}]}"#,
            r#"{"a":1,"a":2}"#,
            // Refused by the general path's parse: each must take it and fail in its words.
            r#""\ud800""#,
            "1e999",
            "[1,]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(deep(126));
        v.push(deep(127));
        v
    }

    /// One argument object of a set or a get, from parts that are each right or wrong.
    fn args(g: &mut Gen, data: &[String], set: bool) -> String {
        let key = g.pick(&[
            r#""k1""#,
            r#""k2""#,
            r#""k\u0031""#,
            r#""中""#,
            r#""key with \"quote\"""#,
            r#""""#,
            "1",
            "null",
            r#""\ud800""#,
        ]);
        let mut fields = Vec::new();
        if !g.next().is_multiple_of(16) {
            fields.push(format!(r#""key":{key}"#));
        }
        if set && !g.next().is_multiple_of(8) {
            fields.push(format!(r#""data":{}"#, data[(g.next() % data.len() as u64) as usize]));
        }
        let extra = g.pick(&[
            "",
            "",
            "",
            "",
            r#""dataType":"Object""#,
            r#""dataType":"a\"b\u00e9\n""#,
            r#""dataType":null"#,
            r#""dataType":1"#,
            r#""encrypt":false"#,
            r#""encrypt":null"#,
            r#""encrypt":true"#,
            r#""encrypt":"yes""#,
            r#""other":1e999"#,
            r#""other":"\ud800""#,
            r#""path":"wxfile://usr/a""#,
            r#""other":true"#,
            r#""other":[1, {"a": "b c"}]"#,
            r#""__nativeBuffers__":[]"#,
            r#""__nativeBuffers__":[{"key":"data","base64":"AA=="}]"#,
            r#""key":"k2""#,
        ]);
        if !extra.is_empty() {
            fields.insert((g.next() % (fields.len() as u64 + 1)) as usize, extra.to_string());
        }
        let sep = g.pick(&[",", ",", ",", " , ", ",\n"]);
        match g.next() % 24 {
            0 => String::new(),
            1 => "[]".into(),
            2 => "{".into(),
            3 => format!("{{{}}} ", fields.join(sep)),
            // Compact, as a binding writes it.
            _ => format!("{{{}}}", fields.join(sep)),
        }
    }

    #[test]
    fn the_storage_fast_path_gives_the_general_paths_bytes_on_every_platform() {
        let root = std::env::temp_dir().join(format!("wxfs-bridge-fast-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let data = data_texts();
        let mut fast_answers = 0;
        let mut sandboxes: Vec<(String, Config)> =
            Platform::ALL.iter().map(|p| (format!("{p:?}"), Config::new(&root, "u", "wxa").with_platform(*p))).collect();
        let mut plugin = Config::new(&root, "u", "wxp");
        plugin.plugin_id = Some("wxplugin".into());
        sandboxes.push(("plugin".into(), plugin));
        for (name, config) in sandboxes {
            // Two sandboxes in the same state: calls go to one through the fast path where it
            // answers, to the other always through the general path.
            let mut twin = config.clone();
            twin.app_id = format!("{}twin", twin.app_id);
            let (fast, slow) = (Session::open(config).unwrap(), Session::open(twin).unwrap());
            let dialect = fast.config.platform.dialect();
            let mut g = Gen(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
            for i in 0..2000 {
                let set = i % 2 == 0;
                let api = match (set, g.next() % 2) {
                    (true, 0) => "setStorageSync",
                    (true, _) => "setStorage",
                    (false, 0) => "getStorageSync",
                    (false, _) => "getStorage",
                };
                let a = args(&mut g, &data, set);
                let general_of = |s: &Session| general(s, dialect, api, &a, Vec::new(), &mut Carriage::Base64);
                let shown = |r: &(i32, Vec<u8>)| (r.0, String::from_utf8_lossy(&r.1).into_owned());
                let took = storage_fast(&fast, dialect, api, &a);
                fast_answers += took.is_some() as usize;
                if !set {
                    // A get changes nothing: both paths on the same sandbox.
                    if let Some(got) = took {
                        assert_eq!(shown(&got), shown(&general_of(&fast)), "{name}: {api} {a:.200}");
                    }
                    continue;
                }
                let got = took.unwrap_or_else(|| general_of(&fast));
                assert_eq!(shown(&got), shown(&general_of(&slow)), "{name}: {api} {a:.200}");
                if got.0 == 0 {
                    // Both sandboxes hold what the fast path stored (the text as sent, where the
                    // general path stores it as serialised from its value: `1e308` as `1e+308`).
                    let again = storage_fast(&slow, dialect, api, &a).unwrap_or_else(|| general_of(&slow));
                    assert_eq!(shown(&again), shown(&got), "{name}: {api} {a:.200}");
                }
            }
            // Over WeChat's item limit (1 MiB): refused alike, nothing stored.
            let big = format!(r#"{{"key":"k1","data":"{}"}}"#, "x".repeat(1100 * 1024));
            let refused = storage_fast(&fast, dialect, "setStorageSync", &big)
                .unwrap_or_else(|| general(&fast, dialect, "setStorageSync", &big, Vec::new(), &mut Carriage::Base64));
            assert_eq!(refused, general(&slow, dialect, "setStorageSync", &big, Vec::new(), &mut Carriage::Base64), "{name}");
            if name == "Wechat" {
                assert_eq!(refused.0, code::STORAGE_ITEM_TOO_LARGE as i32, "{}", String::from_utf8_lossy(&refused.1));
            }
            // The same keys and values, byte for byte.
            let info = |s: &Session| general(s, dialect, "getStorageInfoSync", "{}", Vec::new(), &mut Carriage::Base64);
            if name != "plugin" {
                assert_eq!(info(&fast), info(&slow), "{name}");
            }
            for key in ["k1", "k2", "中", "key with \"quote\""] {
                let a = serde_json::json!({ "key": key }).to_string();
                assert_eq!(
                    general(&fast, dialect, "getStorageSync", &a, Vec::new(), &mut Carriage::Base64),
                    general(&slow, dialect, "getStorageSync", &a, Vec::new(), &mut Carriage::Base64),
                    "{name}: {key}"
                );
            }
        }
        // Most plain calls were the fast path's: the comparison is not of the general path with itself.
        assert!(fast_answers > 1000, "{fast_answers} fast answers");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn each_platforms_dialect_is_found_by_its_place() {
        for p in Platform::ALL {
            assert!(std::ptr::eq(dialect_of(p), p.dialect()), "{p:?}");
        }
    }

    #[test]
    fn a_fast_result_has_room_for_the_nul_and_no_more() {
        let root = std::env::temp_dir().join(format!("wxfs-bridge-room-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for p in Platform::ALL {
            let s = Session::open(Config::new(&root, "u", "wxa").with_platform(p)).unwrap();
            let d = p.dialect();
            for (api, args) in [
                ("setStorageSync", r#"{"key":"k","data":"v"}"#),
                ("setStorage", r#"{"key":"t","data":[1],"dataType":"Object"}"#),
                ("getStorageSync", r#"{"key":"k"}"#),
                ("getStorage", r#"{"key":"t"}"#),
            ] {
                let Some((rc, out)) = storage_fast(&s, d, api, args) else {
                    // Only WeChat's sets keep the text sent (see `storage_fast`).
                    assert!(api.starts_with("set") && !d.shapes.native, "{p:?} {api}");
                    assert_eq!(general(&s, d, api, args, Vec::new(), &mut Carriage::Base64).0, 0);
                    continue;
                };
                assert_eq!((rc, out.capacity()), (0, out.len() + 1), "{p:?} {api}: {}", String::from_utf8_lossy(&out));
            }
        }
        let _ = std::fs::remove_dir_all(root);
    }
}
