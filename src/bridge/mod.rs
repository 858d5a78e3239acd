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
pub mod reply;
pub mod status;
pub(crate) mod storage_api;

use std::borrow::Cow;

use serde_json::{json, Value};

use crate::error::{code, Error};
use crate::platform::{Platform, Rendered};
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
    let (code, out) = run(session, api, args_json, Vec::new());
    let head = platform_of(session, api).dialect().ok_head(api);
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
    let (code, out) = run(session, api, args_json, side);
    match out {
        Err(fail) => (code, to_bytes(&fail)),
        Ok(reply) => {
            let dialect = platform_of(session, api).dialect();
            match dialect.envelope.ok_message && !dialect.envelope.ok_flag {
                // `errMsg: "<api>:ok"` alone: the form with a path for a bare success.
                true => (code, reply.into_bytes(api, carriage)),
                false => (code, reply.into_bytes_with(&dialect.ok_head(api), carriage)),
            }
        }
    }
}

fn run(session: &Session, api: &str, args_json: &str, side: Vec<Cow<'_, [u8]>>) -> (i32, std::result::Result<Reply, Value>) {
    let platform = platform_of(session, api);
    let dialect = || platform.dialect();
    let Some(entry) = lookup(api) else {
        let s = Status::UnknownApi as i32;
        return (s, Err(dialect().fail_object(api, &format!("unknown api \"{api}\""), Some(s as i64))));
    };
    if session.config.plugin_id.is_some() && !in_plugins(entry) {
        let s = Status::UnknownApi as i32;
        return (s, Err(dialect().fail_object(api, &format!("api \"{api}\" is not available to plugins"), Some(s as i64))));
    }
    let ctx = Ctx { api };
    // The most frequent call, without building a value of its arguments (where the platform's
    // words are the internal ones; other platforms take the general path, which renders theirs).
    if dialect().shapes.native && entry.name == "setStorage" && side.is_empty() {
        if let Some(plain) = storage_api::PlainSet::parse(args_json) {
            return match storage_api::set_plain(session, plain) {
                Ok(reply) => (0, Ok(reply)),
                Err(e) => {
                    session.refused(api, &e);
                    (e.code as i32, Err(dialect().fail_object(api, &e.reason, Some(e.code as i64))))
                }
            };
        }
    }
    let mut args = match Args::parse(args_json, entry.param_code, side) {
        Ok(a) => a,
        Err(args::Malformed(why)) => {
            let s = Status::InvalidJson as i32;
            return (s, Err(dialect().fail_object(api, &why, Some(s as i64))));
        }
    };
    match (entry.handler)(session, &mut args, &ctx) {
        Ok(reply) => (0, Ok(reply)),
        // One internal error, in the platform's words, code and envelope (docs/platforms/);
        // a limit's refusal is an event too (docs/design.md §6).
        Err(e) => {
            session.refused(api, &e);
            match dialect().render_failure(api, &e, main_path(&args)) {
                Rendered::Fail(v, rc) => (rc, Err(v)),
                Rendered::Success(fields) => (0, Ok(fields.into_iter().fold(Reply::new(), |r, (k, v)| r.set(&k, v)))),
            }
        }
    }
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
