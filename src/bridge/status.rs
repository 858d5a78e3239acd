//! The status of a call through the C ABI (docs/design.md §8): 0, the errCode of an api's
//! failure, or a negative code when the call could not run. Each code is defined here and only
//! here: the header's `WXFS_OK` and `WXFS_E_*` are generated from this file (build.rs),
//! `wxfs::ffi` re-exports them, and [`Status`](super::Status) names the ones the bridge returns.

/// Success.
pub const WXFS_OK: i32 = 0;
/// A required pointer was NULL (or NULL with a non-zero length).
pub const WXFS_E_NULL: i32 = -1;
/// The handle is 0, stale, closed, forged, or of another kind.
pub const WXFS_E_HANDLE: i32 = -2;
/// A string parameter is not valid UTF-8.
pub const WXFS_E_UTF8: i32 = -3;
/// Arguments are not a JSON object (or `__nativeBuffers__` is malformed).
pub const WXFS_E_JSON: i32 = -4;
/// No such api.
pub const WXFS_E_UNKNOWN_API: i32 = -5;
/// The configuration given to `wxfs_open` is invalid.
pub const WXFS_E_CONFIG: i32 = -6;
/// The sandbox is held by another process; the message names its lock file.
pub const WXFS_E_BUSY: i32 = -7;
/// The operating system refused to open the sandbox.
pub const WXFS_E_IO: i32 = -8;
/// An internal error was caught at the boundary; the process is unharmed.
pub const WXFS_E_PANIC: i32 = -9;
/// The caller's buffer is too small; the needed size was reported.
pub const WXFS_E_BUFFER_TOO_SMALL: i32 = -10;

/// Too many async calls are pending, by count or by bytes held (see `wxfs_invoke_async`);
/// nothing was queued and the callback will not be called.
pub const WXFS_E_QUEUE_FULL: i32 = -11;

/// Called from inside a callback of the library where it would wait on itself (`wxfs_log_set`
/// from the log callback); nothing changed.
pub const WXFS_E_REENTRANT: i32 = -12;

/// The handle was opened by another process: this process is a child forked from the one
/// that opened it (`fork()`), and a handle belongs to the process that opened it. Nothing was
/// done: no lock released, nothing read or written. See "fork" at the top of this header.
pub const WXFS_E_FORKED: i32 = -13;

/// The store `wxfs_import_mmkv` was asked to import was refused and nothing changed: its
/// checksum fails (import it with `"recover": true`), it does not parse (encrypted: pass its
/// key; or a wrong key), or it is missing, unreadable or too large. The last error message says which.
pub const WXFS_E_IMPORT_REFUSED: i32 = -14;

/// What a status code means, NUL included: the text of `wxfs_status_str`.
pub fn text(code: i32) -> &'static std::ffi::CStr {
    match code {
        WXFS_OK => c"ok",
        WXFS_E_NULL => c"a required pointer was NULL (or NULL with a non-zero length)",
        WXFS_E_HANDLE => c"the handle is 0, stale, closed, forged, or of another kind",
        WXFS_E_UTF8 => c"a string parameter is not valid UTF-8",
        WXFS_E_JSON => c"the arguments are not a JSON object (or __nativeBuffers__ is malformed)",
        WXFS_E_UNKNOWN_API => c"no such api",
        WXFS_E_CONFIG => c"the configuration given to wxfs_open is invalid",
        WXFS_E_BUSY => c"the sandbox is held by another process (or open here where exclusivity is needed)",
        WXFS_E_IO => c"the operating system refused to open the sandbox",
        WXFS_E_PANIC => c"an internal error was caught at the boundary; the process is unharmed",
        WXFS_E_BUFFER_TOO_SMALL => c"the caller's buffer is too small; the needed size was reported",
        WXFS_E_QUEUE_FULL => c"too many async calls are pending, by count or by bytes held; nothing was queued",
        WXFS_E_REENTRANT => c"called from inside a library callback where it would wait on itself; nothing changed",
        WXFS_E_FORKED => c"the handle belongs to the process that opened it (this is a forked child); nothing was done",
        WXFS_E_IMPORT_REFUSED => {
            c"the store to import was refused (damaged, encrypted without its key, missing); nothing changed"
        }
        c if c > 0 => c"the api failed: the result's errMsg says why (the code is the platform's errCode)",
        _ => c"unknown status code",
    }
}
