//! The C ABI (docs/design.md §8). Everything `unsafe` and `extern "C"` in the crate lives here.
//!
//! Conventions: fallible functions return `int32_t` — 0 on success, a WeChat errCode
//! for an API failure, a negative `WXFS_E_*` for misuse of the ABI. Outputs are `out_*` and are
//! written only on success (a bridge result is written whenever `out_result` is non-NULL). Every
//! pointer to bytes is followed by its length; a zero length accepts NULL. Memory the library
//! hands out is released only by `wxfs_bytes_free`.

#![allow(non_camel_case_types)]

mod completion;
mod fork;
mod guard;
mod handed;
mod import;
mod invoke_v2;
mod log;
mod pool;
mod queue;
mod registry;
mod typed;

pub use import::wxfs_import_mmkv;
pub use invoke_v2::*;
pub use log::*;
pub use queue::{wxfs_queue_close, wxfs_queue_create, wxfs_queue_drain, wxfs_queue_fd};
pub use typed::*;

use std::borrow::Cow;
use std::ffi::{c_char, c_void};

use crate::bridge;
use crate::bridge::status::text as status_text;
pub use crate::bridge::status::*;
use crate::sandbox::OpenError;
use crate::session::Session;
use guard::{clear_last_error, guard, guard_void, set_last_error};
use registry::{Miss, QUEUES, SANDBOXES};

/// Version of the binary interface; bumped only when a shipped signature or struct changes.
pub const WXFS_ABI_VERSION: u32 = 1;

/// Bytes owned by the library: release them with `wxfs_bytes_free`, never with `free`.
/// Text results (JSON, paths) have a NUL byte at `data[len]`; file contents from
/// `wxfs_read_file` do not (they may be a mapping of the file).
#[repr(C)]
pub struct wxfs_bytes {
    /// The first byte (NULL when `len` is 0 and nothing was allocated).
    pub data: *mut u8,
    /// How many bytes (not counting the NUL of a text result).
    pub len: usize,
}

/// Receives an async result: called exactly once, from a worker thread. `result` is valid only
/// during the call.
pub type wxfs_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, code: i32, result: *const u8, result_len: usize)>;

/// The session behind a handle, or the code that says why there is none (`WXFS_E_FORKED`
/// after one atomic load, before any lock, for a handle of the parent of a forked process).
fn lookup(sandbox: u64) -> Result<std::sync::Arc<Session>, (i32, &'static str)> {
    thread_local! {
        static LAST: registry::Last<Session> = const { registry::Last::new() };
    }
    // A thread whose storage is gone (a call from a thread-local destructor) takes the lock.
    LAST.try_with(|last| SANDBOXES.get_via(sandbox, last)).unwrap_or_else(|_| SANDBOXES.get(sandbox)).map_err(miss)
}

/// The code and words for a handle that names no session.
fn miss(m: Miss) -> (i32, &'static str) {
    match m {
        Miss::Invalid => (WXFS_E_HANDLE, "invalid sandbox handle"),
        Miss::Forked => {
            (WXFS_E_FORKED, "sandbox handle belongs to the process that opened it (this is a forked child; nothing was done)")
        }
    }
}

/// The completion queue behind a handle, or the code that says why there is none.
fn queue_lookup(queue: u64) -> Result<std::sync::Arc<completion::CompletionQueue>, (i32, &'static str)> {
    QUEUES.get(queue).map_err(|m| match m {
        Miss::Invalid => (WXFS_E_HANDLE, "invalid completion queue handle"),
        Miss::Forked => (
            WXFS_E_FORKED,
            "completion queue handle belongs to the process that created it (this is a forked child; nothing was done)",
        ),
    })
}

/// `bytes_out` of a copy of `s`, with one allocation.
fn bytes_copy(s: &[u8]) -> wxfs_bytes {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s);
    bytes_out(v)
}

fn bytes_out(mut v: Vec<u8>) -> wxfs_bytes {
    let len = v.len();
    v.reserve_exact(1);
    v.push(0);
    let boxed = v.into_boxed_slice();
    wxfs_bytes { data: Box::into_raw(boxed) as *mut u8, len }
}

/// Borrow `len` bytes at `ptr`; NULL is accepted only with length 0.
unsafe fn borrow<'a>(ptr: *const c_char, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() || len > isize::MAX as usize {
        return None;
    }
    // SAFETY: the caller promises `len` readable bytes at `ptr` for the duration of the call.
    Some(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
}

/// Open (or share, if already open in this process) the sandbox a JSON config names.
///
/// `config_json`/`config_len`: `{"root","appId","userId","packageDir"?,"protocol"?,
/// "durability"?,"limits"?,"encryptionKey"?,"pluginId"?}` (docs/design.md §8): `encryptionKey`
/// (16 bytes, base64) is the key of storage set with `encrypt: true`; `pluginId` opens that
/// plugin's own sandbox of the app. On success writes a handle to `*out_sandbox`;
/// release it with `wxfs_close`. Returns 0, `WXFS_E_NULL`, `WXFS_E_UTF8`, `WXFS_E_CONFIG`,
/// `WXFS_E_BUSY` (another process holds it; the message names the lock file) or `WXFS_E_IO`;
/// `wxfs_last_error_message` says why. Thread-safe.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_open(config_json: *const c_char, config_len: usize, out_sandbox: *mut u64) -> i32 {
    guard(|| {
        clear_last_error();
        if out_sandbox.is_null() {
            set_last_error("out_sandbox is NULL");
            return WXFS_E_NULL;
        }
        // SAFETY: see `borrow`.
        let Some(raw) = (unsafe { borrow(config_json, config_len) }) else {
            set_last_error("config_json is NULL");
            return WXFS_E_NULL;
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            set_last_error("config_json is not valid UTF-8");
            return WXFS_E_UTF8;
        };
        let config = match bridge::config::parse(text) {
            Ok(c) => c,
            Err(why) => {
                set_last_error(why);
                return WXFS_E_CONFIG;
            }
        };
        match Session::open(config) {
            Ok(session) => {
                let Some(h) = SANDBOXES.insert(session) else {
                    set_last_error("no sandbox handle left in this process (2^46 were given)");
                    return WXFS_E_IO;
                };
                // SAFETY: checked non-NULL above; the caller provides a writable u64.
                unsafe { *out_sandbox = h };
                WXFS_OK
            }
            Err(e) => open_failed(e),
        }
    })
}

/// A failure to open, remove or reach a sandbox: its words go to the last error, its code is
/// returned.
fn open_failed(e: OpenError) -> i32 {
    set_last_error(e.to_string());
    match e {
        OpenError::Busy(_) | OpenError::InUse(_) => WXFS_E_BUSY,
        OpenError::Invalid(_) => WXFS_E_CONFIG,
        OpenError::Io(_) => WXFS_E_IO,
    }
}

/// Call a mini-program api (`readFile`, `setStorageSync`, `host.createTempFile`, ...) with its
/// JSON argument object. `args_json` may be NULL with `args_len` 0 (meaning `{}`).
///
/// When `out_result` is non-NULL it always receives a JSON object (`{"errMsg": ...}`), even on
/// failure; release it with `wxfs_bytes_free`. Returns 0 on success, the errCode of an API
/// failure, or a negative `WXFS_E_*` when the call could not run. Thread-safe; calls on one
/// sandbox from one thread take effect in order.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_invoke(
    sandbox: u64,
    api: *const c_char,
    api_len: usize,
    args_json: *const c_char,
    args_len: usize,
    out_result: *mut wxfs_bytes,
) -> i32 {
    guard(|| {
        clear_last_error();
        // SAFETY: see `borrow`.
        let (api_raw, args_raw) = unsafe { (borrow(api, api_len), borrow(args_json, args_len)) };
        let (code, result) = run_invoke(sandbox, api_raw, args_raw, Vec::new(), &mut bridge::Carriage::Base64);
        if code < 0 {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&result) {
                if let Some(msg) = v.get("errMsg").and_then(|m| m.as_str()) {
                    set_last_error(msg);
                }
            }
        }
        if !out_result.is_null() {
            // SAFETY: non-NULL; the caller provides a writable wxfs_bytes.
            unsafe { *out_result = bytes_out(result) };
        }
        code
    })
}

/// Every sync invoke: the checks, then the bridge, the result as the bytes the C ABI returns.
fn run_invoke(
    sandbox: u64,
    api: Option<&[u8]>,
    args: Option<&[u8]>,
    side: Vec<Cow<'_, [u8]>>,
    carriage: &mut bridge::Carriage,
) -> (i32, Vec<u8>) {
    let (code, result) = match run_invoke_checked(sandbox, api, args, side, carriage) {
        Ok(r) => return r,
        Err(r) => r,
    };
    (code, bridge::to_bytes(&result))
}

/// The checks of `run_invoke`: `Err` with the failure when the call cannot run.
#[allow(clippy::result_large_err)]
fn run_invoke_checked(
    sandbox: u64,
    api: Option<&[u8]>,
    args: Option<&[u8]>,
    side: Vec<Cow<'_, [u8]>>,
    carriage: &mut bridge::Carriage,
) -> Result<(i32, Vec<u8>), (i32, serde_json::Value)> {
    let Some(api) = api.filter(|a| !a.is_empty()) else {
        return Err((WXFS_E_NULL, bridge::fail("invoke", "api is NULL or empty", Some(WXFS_E_NULL as i64))));
    };
    let Ok(api) = std::str::from_utf8(api) else {
        let lossy = String::from_utf8_lossy(api).into_owned();
        return Err((WXFS_E_UTF8, bridge::fail(&lossy, "api name is not valid UTF-8", Some(WXFS_E_UTF8 as i64))));
    };
    let Some(args) = args else {
        return Err((WXFS_E_NULL, bridge::fail(api, "args_json is NULL", Some(WXFS_E_NULL as i64))));
    };
    let Ok(args) = std::str::from_utf8(args) else {
        return Err((WXFS_E_UTF8, bridge::fail(api, "arguments are not valid UTF-8", Some(WXFS_E_UTF8 as i64))));
    };
    let session = match lookup(sandbox) {
        Ok(s) => s,
        Err((code, why)) => return Err((code, bridge::fail(api, why, Some(code as i64)))),
    };
    // This thread's async calls on this sandbox take effect first.
    pool::POOL.wait_settled(&pool::key(&session));
    Ok(bridge::invoke_carried(&session, api, args, side, carriage))
}

/// `bridge::invoke_carried` with a panic turned into a result (a worker must always answer).
fn invoke_caught(
    session: &Session,
    api: &str,
    args: &str,
    side: Vec<Cow<'_, [u8]>>,
    carriage: &mut bridge::Carriage,
) -> (i32, Vec<u8>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bridge::invoke_carried(session, api, args, side, carriage))) {
        Ok(r) => r,
        Err(p) => {
            let why = format!("internal error (panic): {}", guard::panic_text(&*p));
            (WXFS_E_PANIC, bridge::to_bytes(&bridge::fail(api, &why, Some(WXFS_E_PANIC as i64))))
        }
    }
}

/// A pointer the host gave us to hand back; we never dereference it.
struct UserData(*mut c_void);
// SAFETY: the pointer is only passed back to the host's callback, never dereferenced here;
// the host chose to call the async API and so accepts its callback running on a worker thread.
unsafe impl Send for UserData {}

/// Call an api off the caller's thread. Returns 0 when the call was queued: then `cb` is called
/// exactly once, from a worker thread, with the status and the same result JSON `wxfs_invoke`
/// would give (`result` is valid only during the callback). Returns `WXFS_E_NULL`,
/// `WXFS_E_UTF8`, `WXFS_E_HANDLE` or `WXFS_E_QUEUE_FULL` without queuing anything and without
/// calling `cb`. Calls issued from one thread on one sandbox take effect in issue order, sync
/// calls included, and their callbacks come in that order. A sync call waits for the calls its
/// thread queued to take effect, never for their callbacks: it may be made from inside a
/// callback, or on a thread whose callbacks are pending. `WXFS_E_QUEUE_FULL` comes when the
/// calls pending (queued, or with a callback not yet returned) number `WXFS_ASYNC_QUEUE_CALLS`
/// (default 100,000) or hold `WXFS_ASYNC_QUEUE_BYTES` (default 64 MiB) of arguments and
/// undelivered results; both are read from the environment once. Closing the sandbox while
/// calls are in flight is safe: they complete.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_invoke_async(
    sandbox: u64,
    api: *const c_char,
    api_len: usize,
    args_json: *const c_char,
    args_len: usize,
    cb: wxfs_callback,
    userdata: *mut c_void,
) -> i32 {
    guard(|| {
        clear_last_error();
        let Some(cb) = cb else {
            set_last_error("cb is NULL");
            return WXFS_E_NULL;
        };
        // SAFETY: see `borrow`.
        let (api, args) = unsafe { (borrow(api, api_len), borrow(args_json, args_len)) };
        let ud = UserData(userdata);
        submit(
            sandbox,
            (api, args, Some(Vec::new())),
            "api or args_json is NULL",
            bridge::Carriage::Base64,
            move |code, bytes, _| {
                let held = bytes.len();
                let deliver = move || {
                    let ud = ud;
                    // SAFETY: the host's callback, with the pointer it gave us and a buffer valid for the call.
                    unsafe { cb(ud.0, code, bytes.as_ptr(), bytes.len()) };
                };
                pool::Delivery { deliver: Box::new(deliver), bytes: held }
            },
        )
    })
}

/// A call as the host lent it: the api name, the arguments and the ArrayBuffers (each `None`
/// when NULL with a non-zero length).
type Lent<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Option<Vec<&'a [u8]>>);

/// The one submit of every async call, after its callback was checked: the checks of the call,
/// then its operation queued on the pool. On a worker the operation runs the call with
/// `carriage` and gives the status, the result and the carriage to `deliver`, which makes what
/// the pool delivers (a callback on the worker, or a completion put on a queue).
fn submit(
    sandbox: u64,
    (api, args, side): Lent<'_>,
    null_why: &str,
    mut carriage: bridge::Carriage,
    deliver: impl FnOnce(i32, Vec<u8>, bridge::Carriage) -> pool::Delivery + Send + 'static,
) -> i32 {
    let (Some(api), Some(args), Some(side)) = (api.filter(|a| !a.is_empty()), args, side) else {
        set_last_error(null_why);
        return WXFS_E_NULL;
    };
    let (Ok(api), Ok(args)) = (std::str::from_utf8(api), std::str::from_utf8(args)) else {
        set_last_error("api or args_json is not valid UTF-8");
        return WXFS_E_UTF8;
    };
    let session = match lookup(sandbox) {
        Ok(s) => s,
        Err((code, why)) => {
            set_last_error(why);
            return code;
        }
    };
    let key = pool::key(&session);
    let cost = api.len() + args.len() + side.iter().map(|b| b.len()).sum::<usize>();
    let owned: Vec<Vec<u8>> = side.into_iter().map(<[u8]>::to_vec).collect();
    let (api, args) = (api.to_string(), args.to_string());
    let op: pool::Operation = Box::new(move || {
        let side = owned.into_iter().map(Cow::Owned).collect();
        let (code, result) = invoke_caught(&session, &api, &args, side, &mut carriage);
        drop(session);
        deliver(code, result, carriage)
    });
    match pool::POOL.submit(key, cost, op) {
        Ok(()) => WXFS_OK,
        Err(why) => {
            set_last_error(why.to_string());
            WXFS_E_QUEUE_FULL
        }
    }
}

/// Release a sandbox handle. Closing 0 is a no-op returning 0; closing a handle twice (or a
/// stale one) returns `WXFS_E_HANDLE`. The sandbox itself closes when its last handle is closed
/// and no call on it is in flight. In a forked child, closing a handle the parent opened
/// returns `WXFS_E_FORKED` and does nothing at all (the parent's sandbox stays open and locked
/// to the parent), so a C++ host's static destructors may call it at `exit`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_close(sandbox: u64) -> i32 {
    guard(|| {
        clear_last_error();
        if sandbox == 0 {
            return WXFS_OK;
        }
        match SANDBOXES.remove(sandbox) {
            Ok(session) => {
                drop(session); // after the registry lock is released
                WXFS_OK
            }
            Err(m) => {
                let (code, why) = miss(m);
                set_last_error(why);
                code
            }
        }
    })
}

/// Release bytes the library returned. `{NULL, 0}` is a no-op. Each result must be freed once.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_bytes_free(bytes: wxfs_bytes) {
    guard_void(|| {
        if bytes.data.is_null() || handed::release(bytes.data) {
            return;
        }
        // SAFETY: `data` came from `bytes_out`, which allocated `len + 1` bytes as a boxed slice.
        unsafe {
            let slice = std::ptr::slice_from_raw_parts_mut(bytes.data, bytes.len + 1);
            drop(Box::from_raw(slice));
        }
    })
}

/// Copy this thread's last error message (UTF-8, NUL-terminated) into `buf` of `len` bytes.
/// `*out_len` (if non-NULL) receives the message length without the NUL. Returns 0, or
/// `WXFS_E_BUFFER_TOO_SMALL` when `len` cannot hold message + NUL (nothing is copied then).
/// An empty message means the last call on this thread succeeded.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_last_error_message(buf: *mut c_char, len: usize, out_len: *mut usize) -> i32 {
    guard(|| {
        let msg = guard::last_error();
        if !out_len.is_null() {
            // SAFETY: non-NULL; the caller provides a writable size_t.
            unsafe { *out_len = msg.len() };
        }
        if buf.is_null() || len < msg.len() + 1 {
            return if buf.is_null() && len == 0 { WXFS_OK } else { WXFS_E_BUFFER_TOO_SMALL };
        }
        // SAFETY: `buf` has `len >= msg.len() + 1` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), buf as *mut u8, msg.len());
            *buf.add(msg.len()) = 0;
        }
        WXFS_OK
    })
}

const VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0u32;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

/// `MAJOR * 1000000 + MINOR * 1000 + PATCH`, as `WXFS_VERSION_NUMBER` in the header.
pub const VERSION_NUMBER: u32 = parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) * 1_000_000
    + parse_u32(env!("CARGO_PKG_VERSION_MINOR")) * 1_000
    + parse_u32(env!("CARGO_PKG_VERSION_PATCH"));

/// The library version as a static NUL-terminated string ("MAJOR.MINOR.PATCH"); never freed.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_version() -> *const c_char {
    VERSION_C.as_ptr() as *const c_char
}

/// The packed library version, equal to `WXFS_VERSION_NUMBER` of the header it was built with.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_version_number() -> u32 {
    VERSION_NUMBER
}

/// The ABI version of the running library, equal to `WXFS_ABI_VERSION` of a matching header.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_abi_version() -> u32 {
    WXFS_ABI_VERSION
}

/// What a status code means, in English, as a static NUL-terminated string (never NULL, never
/// freed): `WXFS_OK`, each `WXFS_E_*`, and for a positive code (an api's errCode) a pointer to the
/// result's errMsg. For a message about one call, `wxfs_last_error_message` says more. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_status_str(code: i32) -> *const c_char {
    status_text(code).as_ptr()
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn every_status_code_has_its_own_text() {
        let codes = [
            WXFS_OK,
            WXFS_E_NULL,
            WXFS_E_HANDLE,
            WXFS_E_UTF8,
            WXFS_E_JSON,
            WXFS_E_UNKNOWN_API,
            WXFS_E_CONFIG,
            WXFS_E_BUSY,
            WXFS_E_IO,
            WXFS_E_PANIC,
            WXFS_E_BUFFER_TOO_SMALL,
            WXFS_E_QUEUE_FULL,
            WXFS_E_REENTRANT,
            WXFS_E_FORKED,
            WXFS_E_IMPORT_REFUSED,
        ];
        // Every code from 0 down to the lowest is in the list, and no two share a text.
        assert_eq!(codes.len() as i32, 1 - WXFS_E_IMPORT_REFUSED, "a WXFS_E_* code is missing from this list");
        let texts: std::collections::HashSet<_> = codes.iter().map(|&c| status_text(c)).collect();
        assert_eq!(texts.len(), codes.len());
        assert!(!texts.contains(status_text(-999)));
        assert!(!texts.contains(status_text(1300002)));
        assert_eq!(
            status_text(WXFS_E_BUSY).to_str().unwrap().split(' ').take(4).collect::<Vec<_>>(),
            ["the", "sandbox", "is", "held"]
        );
        // SAFETY: the pointer is to a static NUL-terminated string.
        let from_c = unsafe { std::ffi::CStr::from_ptr(wxfs_status_str(WXFS_E_FORKED)) };
        assert_eq!(from_c, status_text(WXFS_E_FORKED));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::Status;

    #[test]
    fn status_codes_match_the_bridge() {
        let pairs = [
            (WXFS_E_NULL, Status::NullPointer),
            (WXFS_E_HANDLE, Status::BadHandle),
            (WXFS_E_UTF8, Status::InvalidUtf8),
            (WXFS_E_JSON, Status::InvalidJson),
            (WXFS_E_UNKNOWN_API, Status::UnknownApi),
            (WXFS_E_CONFIG, Status::InvalidConfig),
            (WXFS_E_BUSY, Status::Busy),
            (WXFS_E_IO, Status::Io),
            (WXFS_E_PANIC, Status::Panic),
            (WXFS_E_BUFFER_TOO_SMALL, Status::BufferTooSmall),
            (WXFS_E_FORKED, Status::Forked),
        ];
        assert_eq!(WXFS_E_QUEUE_FULL, -11);
        assert_eq!(WXFS_E_REENTRANT, -12);
        for (c, s) in pairs {
            assert_eq!(c, s as i32);
        }
    }

    #[test]
    fn version_macros_equal_cargo_toml_and_the_runtime() {
        let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/wxfs.h")).unwrap();
        let define = |name: &str| -> String {
            let line = header.lines().find(|l| l.starts_with(&format!("#define {name} "))).unwrap_or_else(|| panic!("no {name}"));
            line[format!("#define {name} ").len()..].trim().trim_matches('"').to_string()
        };
        let cargo_toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        let version = cargo_toml.lines().find_map(|l| l.strip_prefix("version = ")).unwrap().trim_matches('"');
        let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(define("WXFS_VERSION_MAJOR"), parts[0].to_string());
        assert_eq!(define("WXFS_VERSION_MINOR"), parts[1].to_string());
        assert_eq!(define("WXFS_VERSION_PATCH"), parts[2].to_string());
        assert_eq!(define("WXFS_VERSION_STRING"), version);
        let packed = parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2];
        assert_eq!(define("WXFS_VERSION_NUMBER"), packed.to_string());
        assert_eq!(wxfs_version_number(), packed);
        let runtime = unsafe { std::ffi::CStr::from_ptr(wxfs_version()) }.to_str().unwrap();
        assert_eq!(runtime, version);
        assert_eq!(define("WXFS_ABI_VERSION"), wxfs_abi_version().to_string());
    }

    #[test]
    fn every_name_the_header_defines_is_prefixed() {
        // A host includes wxfs.h beside its own code: an unprefixed macro or type would collide.
        let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/wxfs.h")).unwrap();
        let mut names = Vec::new();
        for line in header.lines() {
            let words: Vec<&str> = line.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
            match words.as_slice() {
                ["define", name, ..] => names.push(name.to_string()),
                ["typedef", "struct", name, ..] | ["struct", name, ..] | ["enum", name, ..] => names.push(name.to_string()),
                ["typedef", .., name] if line.ends_with(';') => names.push(name.to_string()),
                _ => {}
            }
            // A declaration: `<type> name(`.
            if let Some(open) = line.find('(') {
                if !line.starts_with(' ') && !line.starts_with('#') && !line.starts_with("typedef") && !line.starts_with("//") {
                    names.push(line[..open].rsplit([' ', '*']).next().unwrap().to_string());
                }
            }
        }
        assert!(names.len() > 40, "parsed too few names: {names:?}");
        for n in names {
            assert!(n.starts_with("WXFS_") || n.starts_with("wxfs_"), "unprefixed name in wxfs.h: {n}");
        }
    }

    #[test]
    fn committed_header_matches_generated() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/wxfs.h"));
        let committed =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/wxfs.h")).expect("include/wxfs.h is committed");
        assert!(
            committed == generated,
            "include/wxfs.h differs from what the build generates: run `WXFS_WRITE_HEADER=1 cargo build` and commit it"
        );
    }
}
