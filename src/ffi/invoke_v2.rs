//! The bridge with ArrayBuffers beside the JSON, not inside it (`wxfs_invoke_v2`), and the api
//! list a binding derives its surface from (`wxfs_api_list`).
//!
//! Arguments: a `{"key": "<field>", "index": i}` entry of the argument object's
//! `__nativeBuffers__` names `buffers[i]`, which the library borrows for the duration of a sync
//! call and copies for an async one. Results: the top-level `__nativeBuffers__` alone names every
//! ArrayBuffer of the result, `{"key", "index"}` plus `"at": [..]` for a field of a nested object
//! (`src/bridge/reply.rs`); the bytes are `result.buffers[index]`. So a 20 MiB file crosses as
//! 20 MiB, once, in each direction, and never as base64.
//!
//! Each result buffer is its own allocation: a host may take one out of a `wxfs_result` (copy the
//! entry, set it to `{NULL, 0}`) and release it later with `wxfs_bytes_free`, for instance when a
//! JavaScript ArrayBuffer that wraps it is collected; `wxfs_result_free` releases what is left.

use std::borrow::Cow;
use std::ffi::{c_char, c_void};

use super::guard::{clear_last_error, guard, guard_void, set_last_error};
use super::{borrow, bytes_out, pool, run_invoke, wxfs_bytes, wxfs_bytes_free, UserData, WXFS_E_NULL, WXFS_OK};
use crate::bridge::{self, Carriage};

/// Bytes the caller lends to the library for the duration of a call. `data` may be NULL when
/// `len` is 0.
#[repr(C)]
pub struct wxfs_slice {
    /// The first byte (may be NULL when `len` is 0).
    pub data: *const u8,
    /// How many bytes.
    pub len: usize,
}

/// A bridge result and the ArrayBuffers it names. `json` is the result object (NUL-terminated,
/// as from `wxfs_invoke`); `buffers` has `buffers_len` entries (NULL when 0), each owned by the
/// result until taken out. Release with `wxfs_result_free`.
#[repr(C)]
pub struct wxfs_result {
    /// The result object, NUL-terminated.
    pub json: wxfs_bytes,
    /// The ArrayBuffers, `buffers_len` of them (NULL when 0).
    pub buffers: *mut wxfs_bytes,
    /// How many entries `buffers` has.
    pub buffers_len: usize,
}

/// Receives an async `_v2` result: called exactly once, from a worker thread. `*result` is valid
/// only during the call; the callback may take its `json` or any of its buffers (copy the entry,
/// set it to `{NULL, 0}`) and release them later with `wxfs_bytes_free`. The library releases
/// whatever is left when the callback returns.
pub type wxfs_callback_v2 = Option<unsafe extern "C" fn(userdata: *mut c_void, code: i32, result: *mut wxfs_result)>;

fn result_out(json: Vec<u8>, side: Vec<Vec<u8>>) -> wxfs_result {
    let json = bytes_out(json);
    if side.is_empty() {
        return wxfs_result { json, buffers: std::ptr::null_mut(), buffers_len: 0 };
    }
    let list: Box<[wxfs_bytes]> =
        side.into_iter().map(|v| wxfs_bytes { len: v.len(), data: super::handed::result_buffer(v) }).collect();
    let buffers_len = list.len();
    wxfs_result { json, buffers: Box::into_raw(list) as *mut wxfs_bytes, buffers_len }
}

/// Borrow the caller's buffer list; `None` when it (or one of its entries) is NULL with a length.
unsafe fn slices<'a>(buffers: *const wxfs_slice, buffers_len: usize) -> Option<Vec<&'a [u8]>> {
    if buffers_len == 0 {
        return Some(Vec::new());
    }
    if buffers.is_null() || buffers_len > isize::MAX as usize / std::mem::size_of::<wxfs_slice>() {
        return None;
    }
    // SAFETY: the caller promises `buffers_len` readable entries for the duration of the call.
    let list = unsafe { std::slice::from_raw_parts(buffers, buffers_len) };
    // SAFETY: each entry promises `len` readable bytes at `data` for the duration of the call.
    list.iter().map(|s| unsafe { borrow(s.data as *const c_char, s.len) }).collect()
}

/// Call a mini-program api as `wxfs_invoke` does, with ArrayBuffers passed beside the JSON:
/// `buffers`/`buffers_len` are the argument buffers that `{"key", "index"}` entries of the
/// arguments' `__nativeBuffers__` refer to (borrowed for the call; NULL when `buffers_len` is 0),
/// and the result's ArrayBuffers come back in `out_result->buffers`. A `{"key", "base64"}` entry
/// is accepted too.
///
/// When `out_result` is non-NULL it always receives a result (`json` is `{"errMsg": ...}`, even on
/// failure); release it with `wxfs_result_free`. Returns 0 on success, the errCode of an API
/// failure, or a negative `WXFS_E_*` when the call could not run (`WXFS_E_NULL` also for a NULL
/// buffer list or entry with a non-zero length; `WXFS_E_JSON` for an index that names no buffer).
/// Thread-safe; calls on one sandbox from one thread take effect in order, with `wxfs_invoke` and
/// the async calls.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`
/// or `wxfs_result_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_invoke_v2(
    sandbox: u64,
    api: *const c_char,
    api_len: usize,
    args_json: *const c_char,
    args_len: usize,
    buffers: *const wxfs_slice,
    buffers_len: usize,
    out_result: *mut wxfs_result,
) -> i32 {
    guard(|| {
        clear_last_error();
        // SAFETY: see `borrow` and `slices`.
        let (api_raw, args_raw, side) =
            unsafe { (borrow(api, api_len), borrow(args_json, args_len), slices(buffers, buffers_len)) };
        let mut carriage = Carriage::Side(Vec::new());
        let (code, json) = match side {
            Some(side) => run_invoke(sandbox, api_raw, args_raw, side.into_iter().map(Cow::Borrowed).collect(), &mut carriage),
            None => {
                let name = api_raw.map(String::from_utf8_lossy).unwrap_or_default();
                let fail = bridge::fail(&name, "buffers is NULL with a non-zero length", Some(WXFS_E_NULL as i64));
                (WXFS_E_NULL, bridge::to_bytes(&fail))
            }
        };
        if code < 0 {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&json) {
                if let Some(msg) = v.get("errMsg").and_then(|m| m.as_str()) {
                    set_last_error(msg);
                }
            }
        }
        if !out_result.is_null() {
            let Carriage::Side(side) = carriage else { unreachable!("the carriage chosen above") };
            // SAFETY: non-NULL; the caller provides a writable wxfs_result.
            unsafe { out_result.write(result_out(json, side)) };
        }
        code
    })
}

/// `wxfs_invoke_v2` off the caller's thread, as `wxfs_invoke_async` is `wxfs_invoke`. The argument
/// buffers are copied before this returns. Returns 0 when the call was queued: then `cb` is called
/// exactly once, from a worker thread, with the status and the result (see `wxfs_callback_v2` for
/// who owns what). Returns `WXFS_E_NULL`, `WXFS_E_UTF8`, `WXFS_E_HANDLE` or `WXFS_E_QUEUE_FULL`
/// without queuing anything and without calling `cb`. Calls issued from one thread on one
/// sandbox take effect in issue order, sync calls included. Thread-safe.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`
/// or `wxfs_result_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_invoke_async_v2(
    sandbox: u64,
    api: *const c_char,
    api_len: usize,
    args_json: *const c_char,
    args_len: usize,
    buffers: *const wxfs_slice,
    buffers_len: usize,
    cb: wxfs_callback_v2,
    userdata: *mut c_void,
) -> i32 {
    // SAFETY: the caller's promises, passed on.
    guard(|| unsafe { submit_v2(sandbox, None, api, api_len, args_json, args_len, buffers, buffers_len, cb, userdata) })
}

/// `wxfs_invoke_async_v2` with the completion delivered through a completion queue (see
/// `wxfs_queue_create`) instead of on a worker: when the call's operation has run, `cb`,
/// `userdata` and the result wait on `queue` until the host calls `wxfs_queue_drain` on it, and
/// `cb` runs on that thread, exactly once, with the ownership rules of `wxfs_callback_v2`. If the
/// queue is closed first, the result is freed and `cb` is never called. Callbacks of the calls
/// one thread issues on one sandbox run in issue order. A completion waiting on a queue counts
/// against the async budget (`WXFS_ASYNC_QUEUE_CALLS`, `WXFS_ASYNC_QUEUE_BYTES`) until its
/// callback has returned, so a queue nobody drains makes later calls fail with
/// `WXFS_E_QUEUE_FULL`, and loses nothing already queued. Returns `WXFS_E_HANDLE` for a stale or
/// closed sandbox or queue, and otherwise what `wxfs_invoke_async_v2` returns. Thread-safe.
///
/// # Safety
/// As `wxfs_invoke_async_v2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_invoke_async_queued(
    sandbox: u64,
    queue: u64,
    api: *const c_char,
    api_len: usize,
    args_json: *const c_char,
    args_len: usize,
    buffers: *const wxfs_slice,
    buffers_len: usize,
    cb: wxfs_callback_v2,
    userdata: *mut c_void,
) -> i32 {
    guard(|| {
        let q = match super::queue_lookup(queue) {
            Ok(q) => q,
            Err((code, why)) => {
                clear_last_error();
                set_last_error(why);
                return code;
            }
        };
        // SAFETY: the caller's promises, passed on.
        unsafe { submit_v2(sandbox, Some(q), api, api_len, args_json, args_len, buffers, buffers_len, cb, userdata) }
    })
}

/// The `_v2` async calls: the result's completion is delivered on the worker (`queue` None) or
/// handed to the completion queue.
///
/// # Safety
/// As `wxfs_invoke_async_v2`.
#[allow(clippy::too_many_arguments)]
unsafe fn submit_v2(
    sandbox: u64,
    queue: Option<std::sync::Arc<super::completion::CompletionQueue>>,
    api: *const c_char,
    api_len: usize,
    args_json: *const c_char,
    args_len: usize,
    buffers: *const wxfs_slice,
    buffers_len: usize,
    cb: wxfs_callback_v2,
    userdata: *mut c_void,
) -> i32 {
    clear_last_error();
    let Some(cb) = cb else {
        set_last_error("cb is NULL");
        return WXFS_E_NULL;
    };
    // SAFETY: see `borrow` and `slices`.
    let call = unsafe { (borrow(api, api_len), borrow(args_json, args_len), slices(buffers, buffers_len)) };
    let ud = UserData(userdata);
    super::submit(sandbox, call, "api, args_json or buffers is NULL", Carriage::Side(Vec::new()), move |code, json, carriage| {
        let Carriage::Side(side) = carriage else { unreachable!("the carriage chosen above") };
        let held = json.len() + side.iter().map(|b| b.len()).sum::<usize>();
        // Calls the host's callback with the result (or only frees the result), then frees what
        // the callback left.
        let complete = move |call: bool| {
            let ud = ud;
            let mut result = result_out(json, side);
            if call {
                // SAFETY: the host's callback, with the pointer it gave us and a result valid for the call.
                unsafe { cb(ud.0, code, &mut result) };
            }
            // SAFETY: `result` is ours again, less what the callback took out.
            unsafe { wxfs_result_free(result) };
        };
        let deliver: Box<dyn FnOnce() + Send> = match queue {
            None => Box::new(move || complete(true)),
            Some(q) => Box::new(move || {
                let held = pool::POOL.hold(held);
                q.push(super::completion::Completion { run: Box::new(complete), held: Some(held) });
            }),
        };
        pool::Delivery { deliver, bytes: held }
    })
}

/// Release a `_v2` result: its `json` and every buffer still in `buffers` (entries set to
/// `{NULL, 0}` are skipped), then the list. A zeroed result is a no-op. Each result must be
/// freed once.
///
/// # Safety
/// `result` came from `wxfs_invoke_v2`, with `buffers` and `buffers_len` as the library wrote
/// them. The `*result` a `wxfs_callback_v2` receives is the library's to free, not the host's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_result_free(result: wxfs_result) {
    guard_void(|| {
        // SAFETY: the json came from `bytes_out` (or was set to {NULL, 0} by the host).
        unsafe { wxfs_bytes_free(result.json) };
        if result.buffers.is_null() {
            return;
        }
        let raw = std::ptr::slice_from_raw_parts_mut(result.buffers, result.buffers_len);
        // SAFETY: `buffers` came from `Box::into_raw` of a boxed slice of `buffers_len` entries.
        let list = unsafe { Box::from_raw(raw) };
        for b in list.iter() {
            // SAFETY: each entry is a buffer from `hold`, or {NULL, 0}.
            unsafe { wxfs_bytes_free(wxfs_bytes { data: b.data, len: b.len }) };
        }
    })
}

/// The names of every api the bridge answers to, Sync twins and `host.*` included, as a JSON
/// array of strings in a stable order (`["access", "accessSync", ...]`), so that a binding builds
/// its surface (and `canIUse`) from the library it loaded. `sandbox` 0 asks for the library's
/// whole list; an open sandbox for the list that sandbox answers to. On success writes
/// `*out_json` (release with `wxfs_bytes_free`). Returns 0, `WXFS_E_NULL` or `WXFS_E_HANDLE`.
/// Thread-safe.
///
/// # Safety
/// `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_api_list(sandbox: u64, out_json: *mut wxfs_bytes) -> i32 {
    guard(|| {
        clear_last_error();
        if out_json.is_null() {
            set_last_error("out_json is NULL");
            return WXFS_E_NULL;
        }
        let names = match sandbox {
            0 => bridge::api_names(),
            h => match super::lookup(h) {
                Ok(s) => bridge::api_names_for(&s),
                Err((code, why)) => {
                    set_last_error(why);
                    return code;
                }
            },
        };
        let json = serde_json::Value::from(names);
        // SAFETY: checked non-NULL; the caller provides a writable wxfs_bytes.
        unsafe { out_json.write(bytes_out(bridge::to_bytes(&json))) };
        WXFS_OK
    })
}
