//! The C ABI linked into the test binary (`wxfs::ffi`), for the tests that need the library's
//! state in their own process (its allocations counted, its threads beside the test's).

use std::ffi::c_void;

use serde_json::Value;
use wxfs::ffi;

/// The calling thread's last error message.
pub fn last_error() -> String {
    let mut buf = vec![0u8; 4096];
    let mut n = 0usize;
    unsafe { ffi::wxfs_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut n) };
    String::from_utf8_lossy(&buf[..n.min(buf.len())]).into_owned()
}

/// `wxfs_open`: the handle, or the code and the last error message.
pub fn open(config: &Value) -> Result<u64, (i32, String)> {
    let text = config.to_string();
    let mut h = 0u64;
    match unsafe { ffi::wxfs_open(text.as_ptr().cast(), text.len(), &mut h) } {
        0 => Ok(h),
        code => Err((code, last_error())),
    }
}

/// `wxfs_invoke`: the code and the parsed result (`null` where there is none).
pub fn invoke(h: u64, api: &str, args: &str) -> (i32, Value) {
    let mut out = ffi::wxfs_bytes { data: std::ptr::null_mut(), len: 0 };
    let code = unsafe { ffi::wxfs_invoke(h, api.as_ptr().cast(), api.len(), args.as_ptr().cast(), args.len(), &mut out) };
    let v = if out.data.is_null() {
        Value::Null
    } else {
        let bytes = unsafe { std::slice::from_raw_parts(out.data, out.len) };
        let v = serde_json::from_slice(bytes).unwrap();
        unsafe { ffi::wxfs_bytes_free(out) };
        v
    };
    (code, v)
}

type Handler = Box<dyn FnOnce(i32, &[u8]) + Send>;

unsafe extern "C" fn trampoline(ud: *mut c_void, code: i32, result: *const u8, len: usize) {
    let f = unsafe { Box::from_raw(ud as *mut Handler) };
    f(code, unsafe { std::slice::from_raw_parts(result, len) });
}

/// Submit an async call; `then` gets the code and the result's bytes. `args` is borrowed for the
/// call only (the library copies it). Returns the submit's code (`then` is dropped unless 0).
pub fn invoke_async(h: u64, api: &str, args: &str, then: impl FnOnce(i32, &[u8]) + Send + 'static) -> i32 {
    let ud = Box::into_raw(Box::new(Box::new(then) as Handler));
    let code = unsafe {
        ffi::wxfs_invoke_async(h, api.as_ptr().cast(), api.len(), args.as_ptr().cast(), args.len(), Some(trampoline), ud.cast())
    };
    if code != 0 {
        drop(unsafe { Box::from_raw(ud) });
    }
    code
}
