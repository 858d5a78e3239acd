//! The Node-API addon behind `bindings/node`: it opens libwxfs at run time, as any host would, and
//! exposes its C ABI to JavaScript with ArrayBuffers crossing as bytes (`wxfs_invoke_v2`).
//!
//! Why an addon rather than an FFI package: an async result must reach the JS thread without the
//! library's worker waiting for that thread. FFI packages (koffi) run a foreign thread's callback
//! by queueing it on the JS thread and blocking the foreign thread until it has run; then a sync
//! call that waits for earlier async calls (docs/design.md §7), or four callbacks pending while the JS
//! thread is busy, stall the worker pool. Here the worker posts the result to a Node-API
//! thread-safe function in non-blocking mode and returns at once. The same function is referenced
//! while calls are pending, so Node does not exit with one in flight, and unreferenced otherwise.
//!
//! JavaScript surface (used by `bindings/node/index.js` only):
//! - `load(path) -> version`; `open(configJson) -> handle`; `close(handle) -> code`;
//! - `apiList(handle) -> json`; `lastError() -> string`;
//! - `invoke(handle, api, argsJson, buffers?) -> json | [json, ...ArrayBuffer]`;
//! - `setDispatcher(fn(id, json, buffers?))`, then `invokeAsync(handle, api, argsJson, buffers?, id) -> code`.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_void, CString};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use napi_sys as sys;
use sys::{napi_callback_info, napi_env, napi_value};

// ---- libwxfs, as include/wxfs.h declares it -------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy)]
struct Bytes {
    data: *mut u8,
    len: usize,
}

#[repr(C)]
struct Slice {
    data: *const u8,
    len: usize,
}

#[repr(C)]
struct WxResult {
    json: Bytes,
    buffers: *mut Bytes,
    buffers_len: usize,
}

type CallbackV2 = unsafe extern "C" fn(*mut c_void, i32, *mut WxResult);

struct Lib {
    path: String,
    version: String,
    open: unsafe extern "C" fn(*const c_char, usize, *mut u64) -> i32,
    close: unsafe extern "C" fn(u64) -> i32,
    invoke: unsafe extern "C" fn(u64, *const c_char, usize, *const c_char, usize, *const Slice, usize, *mut WxResult) -> i32,
    invoke_async: unsafe extern "C" fn(
        u64,
        *const c_char,
        usize,
        *const c_char,
        usize,
        *const Slice,
        usize,
        Option<CallbackV2>,
        *mut c_void,
    ) -> i32,
    result_free: unsafe extern "C" fn(WxResult),
    bytes_free: unsafe extern "C" fn(Bytes),
    api_list: unsafe extern "C" fn(u64, *mut Bytes) -> i32,
    storage_set: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *const u8, usize) -> i32,
    storage_get: unsafe extern "C" fn(u64, *const u8, usize, *mut Bytes, *mut Bytes) -> i32,
    last_error: unsafe extern "C" fn(*mut c_char, usize, *mut usize) -> i32,
    _lib: libloading::Library,
}

static LIB: OnceLock<Lib> = OnceLock::new();
static NODE: OnceLock<libloading::Library> = OnceLock::new();

unsafe fn load_lib(path: &str) -> Result<Lib, String> {
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load {path}: {e}"))?;
    macro_rules! sym {
        ($name:literal) => {
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("{path} lacks {} (built before it was added?): {e}", $name))?
        };
    }
    let version: unsafe extern "C" fn() -> *const c_char = sym!("wxfs_version");
    let version = unsafe { std::ffi::CStr::from_ptr(version()) }.to_string_lossy().into_owned();
    Ok(Lib {
        path: path.to_string(),
        version,
        open: sym!("wxfs_open"),
        close: sym!("wxfs_close"),
        invoke: sym!("wxfs_invoke_v2"),
        invoke_async: sym!("wxfs_invoke_async_v2"),
        result_free: sym!("wxfs_result_free"),
        bytes_free: sym!("wxfs_bytes_free"),
        api_list: sym!("wxfs_api_list"),
        storage_set: sym!("wxfs_storage_set"),
        storage_get: sym!("wxfs_storage_get"),
        last_error: sym!("wxfs_last_error_message"),
        _lib: lib,
    })
}

fn lib() -> Option<&'static Lib> {
    LIB.get()
}

fn last_error(l: &Lib) -> String {
    let mut buf = vec![0u8; 4096];
    let mut n = 0usize;
    let rc = unsafe { (l.last_error)(buf.as_mut_ptr() as *mut c_char, buf.len(), &mut n) };
    if rc != 0 {
        buf = vec![0u8; n + 1];
        unsafe { (l.last_error)(buf.as_mut_ptr() as *mut c_char, buf.len(), &mut n) };
    }
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

// ---- Node-API helpers ----------------------------------------------------------------------------

/// A failed Node-API call or a bad argument: a JS exception is pending (or about to be thrown).
struct Thrown;

type Js<T> = Result<T, Thrown>;

unsafe fn throw(env: napi_env, msg: &str) -> Thrown {
    let mut pending = false;
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        unsafe { sys::napi_throw_error(env, null(), text.as_ptr()) };
    }
    Thrown
}

unsafe fn ok(env: napi_env, status: sys::napi_status, what: &str) -> Js<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(unsafe { throw(env, &format!("wxfs addon: {what} failed (Node-API status {status})")) })
    }
}

unsafe fn args<const N: usize>(env: napi_env, info: napi_callback_info) -> Js<[napi_value; N]> {
    let mut argv = [null_mut(); N];
    let mut argc = N;
    unsafe { ok(env, sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), null_mut(), null_mut()), "get_cb_info")? };
    if argc < N {
        let mut undef = null_mut();
        unsafe { sys::napi_get_undefined(env, &mut undef) };
        for a in argv.iter_mut().skip(argc) {
            *a = undef;
        }
    }
    Ok(argv)
}

unsafe fn type_of(env: napi_env, v: napi_value) -> sys::napi_valuetype {
    let mut t = 0;
    unsafe { sys::napi_typeof(env, v, &mut t) };
    t
}

unsafe fn string(env: napi_env, v: napi_value) -> Js<Vec<u8>> {
    if unsafe { type_of(env, v) } != sys::ValueType::napi_string {
        return Err(unsafe { throw(env, "wxfs addon: expected a string") });
    }
    // Most api names and argument objects are short: one copy into a small buffer, no length query.
    let mut buf = vec![0u8; 256];
    let mut got = 0usize;
    unsafe { ok(env, sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, buf.len(), &mut got), "string")? };
    if got + 1 < buf.len() {
        buf.truncate(got);
        return Ok(buf);
    }
    let mut len = 0usize;
    unsafe { ok(env, sys::napi_get_value_string_utf8(env, v, null_mut(), 0, &mut len), "string length")? };
    buf = vec![0u8; len + 1];
    unsafe { ok(env, sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, len + 1, &mut got), "string")? };
    buf.truncate(got);
    Ok(buf)
}

unsafe fn handle(env: napi_env, v: napi_value) -> Js<u64> {
    let mut d = 0f64;
    unsafe { ok(env, sys::napi_get_value_double(env, v, &mut d), "handle")? };
    Ok(if d >= 0.0 && d.fract() == 0.0 && d < 9_007_199_254_740_992.0 { d as u64 } else { 0 })
}

unsafe fn make_string(env: napi_env, bytes: &[u8]) -> Js<napi_value> {
    let mut v = null_mut();
    unsafe {
        ok(env, sys::napi_create_string_utf8(env, bytes.as_ptr() as *const c_char, bytes.len() as isize, &mut v), "string")?
    };
    Ok(v)
}

unsafe fn make_number(env: napi_env, n: f64) -> Js<napi_value> {
    let mut v = null_mut();
    unsafe { ok(env, sys::napi_create_double(env, n, &mut v), "number")? };
    Ok(v)
}

unsafe fn undefined(env: napi_env) -> napi_value {
    let mut v = null_mut();
    unsafe { sys::napi_get_undefined(env, &mut v) };
    v
}

/// The bytes of an ArrayBuffer, typed array or DataView, borrowed for the current call.
unsafe fn view(env: napi_env, v: napi_value) -> Js<Slice> {
    let (mut is_ab, mut is_ta, mut is_dv) = (false, false, false);
    unsafe {
        sys::napi_is_arraybuffer(env, v, &mut is_ab);
        sys::napi_is_typedarray(env, v, &mut is_ta);
        sys::napi_is_dataview(env, v, &mut is_dv);
    }
    let mut data: *mut c_void = null_mut();
    if is_ab {
        let mut len = 0usize;
        unsafe { ok(env, sys::napi_get_arraybuffer_info(env, v, &mut data, &mut len), "arraybuffer")? };
        return Ok(Slice { data: data as *const u8, len });
    }
    if is_ta {
        let (mut kind, mut count, mut ab, mut offset) = (0, 0usize, null_mut(), 0usize);
        unsafe {
            ok(env, sys::napi_get_typedarray_info(env, v, &mut kind, &mut count, &mut data, &mut ab, &mut offset), "typedarray")?
        };
        let width = match kind {
            sys::TypedarrayType::int8_array | sys::TypedarrayType::uint8_array | sys::TypedarrayType::uint8_clamped_array => 1,
            sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
            sys::TypedarrayType::int32_array | sys::TypedarrayType::uint32_array | sys::TypedarrayType::float32_array => 4,
            _ => 8,
        };
        return Ok(Slice { data: data as *const u8, len: count * width });
    }
    if is_dv {
        let (mut len, mut ab, mut offset) = (0usize, null_mut(), 0usize);
        unsafe { ok(env, sys::napi_get_dataview_info(env, v, &mut len, &mut data, &mut ab, &mut offset), "dataview")? };
        return Ok(Slice { data: data as *const u8, len });
    }
    Err(unsafe { throw(env, "wxfs addon: a buffer must be an ArrayBuffer, a typed array or a DataView") })
}

/// The argument buffers: an array of views, or undefined/null for none.
unsafe fn views(env: napi_env, v: napi_value) -> Js<Vec<Slice>> {
    let t = unsafe { type_of(env, v) };
    if t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null {
        return Ok(Vec::new());
    }
    let mut n = 0u32;
    unsafe { ok(env, sys::napi_get_array_length(env, v, &mut n), "buffers must be an array")? };
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut e = null_mut();
        unsafe { ok(env, sys::napi_get_element(env, v, i, &mut e), "buffers[i]")? };
        out.push(unsafe { view(env, e) }?);
    }
    Ok(out)
}

/// Result buffers are copied into memory V8 owns and released at once, not wrapped where they
/// lie: a wrapped buffer lives until the garbage collector finds it, so every large read would
/// fault in fresh pages (measured: a 20 MiB readFileSync took 23 ms wrapped, 12 ms copied, against
/// 3-5 ms for fs.readFileSync), while a buffer released at once is reused warm by the next call.
/// Above this size the copy goes through a Node Buffer, which V8 does not zero first.
const NO_ZERO_FILL_AT: usize = 64 * 1024;

/// An ArrayBuffer holding a copy of `b`, which is released here.
unsafe fn array_buffer(env: napi_env, l: &Lib, b: Bytes) -> Js<napi_value> {
    let v = unsafe { copy_to_js(env, b) };
    unsafe { (l.bytes_free)(b) };
    v
}

unsafe fn copy_to_js(env: napi_env, b: Bytes) -> Js<napi_value> {
    if b.len >= NO_ZERO_FILL_AT {
        let (mut node_buf, mut dst) = (null_mut(), null_mut());
        if unsafe { sys::napi_create_buffer_copy(env, b.len, b.data as *const c_void, &mut dst, &mut node_buf) }
            == sys::Status::napi_ok
        {
            let (mut kind, mut count, mut data, mut ab, mut offset) = (0, 0usize, null_mut(), null_mut(), 0usize);
            let mut ab_len = 0usize;
            let mut ab_data = null_mut();
            if unsafe { sys::napi_get_typedarray_info(env, node_buf, &mut kind, &mut count, &mut data, &mut ab, &mut offset) }
                == sys::Status::napi_ok
                && unsafe { sys::napi_get_arraybuffer_info(env, ab, &mut ab_data, &mut ab_len) } == sys::Status::napi_ok
                && offset == 0
                && ab_len == b.len
            {
                return Ok(ab);
            }
        }
    }
    let (mut v, mut dst) = (null_mut(), null_mut());
    unsafe { ok(env, sys::napi_create_arraybuffer(env, b.len, &mut dst, &mut v), "create_arraybuffer")? };
    if b.len > 0 {
        unsafe { std::ptr::copy_nonoverlapping(b.data, dst as *mut u8, b.len) };
    }
    Ok(v)
}

/// The JS value of a result: the JSON text alone, or `[json, ...ArrayBuffers]`. Takes `json` and
/// `buffers` over.
unsafe fn result_value(env: napi_env, l: &Lib, json: Bytes, buffers: Vec<Bytes>) -> Js<napi_value> {
    let text = if json.data.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(json.data, json.len) } };
    let s = unsafe { make_string(env, text) };
    unsafe { (l.bytes_free)(json) };
    let s = match s {
        Ok(s) => s,
        Err(t) => {
            for b in buffers {
                unsafe { (l.bytes_free)(b) };
            }
            return Err(t);
        }
    };
    if buffers.is_empty() {
        return Ok(s);
    }
    let mut arr = null_mut();
    unsafe { ok(env, sys::napi_create_array_with_length(env, buffers.len() + 1, &mut arr), "array")? };
    unsafe { sys::napi_set_element(env, arr, 0, s) };
    let mut rest = buffers.into_iter();
    let mut i = 1u32;
    while let Some(b) = rest.next() {
        match unsafe { array_buffer(env, l, b) } {
            Ok(ab) => unsafe { sys::napi_set_element(env, arr, i, ab) },
            Err(t) => {
                for b in rest {
                    unsafe { (l.bytes_free)(b) };
                }
                return Err(t);
            }
        };
        i += 1;
    }
    Ok(arr)
}

/// Take everything out of a library result.
unsafe fn take(r: &mut WxResult) -> (Bytes, Vec<Bytes>) {
    let json = std::mem::replace(&mut r.json, Bytes { data: null_mut(), len: 0 });
    let mut buffers = Vec::with_capacity(r.buffers_len);
    for i in 0..r.buffers_len {
        let slot = unsafe { &mut *r.buffers.add(i) };
        buffers.push(std::mem::replace(slot, Bytes { data: null_mut(), len: 0 }));
    }
    (json, buffers)
}

fn loaded(env: napi_env) -> Js<&'static Lib> {
    lib().ok_or_else(|| unsafe { throw(env, "wxfs addon: load(path) was not called") })
}

// ---- exports -------------------------------------------------------------------------------------

unsafe fn js_load(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let [p] = unsafe { args::<1>(env, info) }?;
    let path = String::from_utf8_lossy(&unsafe { string(env, p) }?).into_owned();
    if let Some(l) = lib() {
        if l.path != path {
            return Err(unsafe { throw(env, &format!("wxfs addon: {} is loaded already; cannot load {path} too", l.path)) });
        }
    } else {
        let l = unsafe { load_lib(&path) }.map_err(|e| unsafe { throw(env, &e) })?;
        let _ = LIB.set(l);
    }
    unsafe { make_string(env, loaded(env)?.version.as_bytes()) }
}

unsafe fn js_open(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    let [c] = unsafe { args::<1>(env, info) }?;
    let config = unsafe { string(env, c) }?;
    let mut h = 0u64;
    let rc = unsafe { (l.open)(config.as_ptr() as *const c_char, config.len(), &mut h) };
    if rc != 0 {
        let msg = last_error(l);
        let text = CString::new(format!("wxfs.open failed ({rc}): {msg}").replace('\0', " ")).unwrap_or_default();
        let code = CString::new(rc.to_string()).unwrap_or_default();
        unsafe { sys::napi_throw_error(env, code.as_ptr(), text.as_ptr()) };
        return Err(Thrown);
    }
    unsafe { make_number(env, h as f64) }
}

unsafe fn js_close(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    let [h] = unsafe { args::<1>(env, info) }?;
    let rc = unsafe { (l.close)(handle(env, h)?) };
    unsafe { make_number(env, rc as f64) }
}

unsafe fn js_api_list(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    let [h] = unsafe { args::<1>(env, info) }?;
    let h = if unsafe { type_of(env, h) } == sys::ValueType::napi_number { unsafe { handle(env, h) }? } else { 0 };
    let mut out = Bytes { data: null_mut(), len: 0 };
    let rc = unsafe { (l.api_list)(h, &mut out) };
    if rc != 0 {
        return Err(unsafe { throw(env, &format!("wxfs_api_list failed ({rc}): {}", last_error(l))) });
    }
    unsafe { result_value(env, l, out, Vec::new()) }
}

unsafe fn js_last_error(env: napi_env, _info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    unsafe { make_string(env, last_error(l).as_bytes()) }
}

unsafe fn js_invoke(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    let [h, api, a, b] = unsafe { args::<4>(env, info) }?;
    let h = unsafe { handle(env, h) }?;
    let api = unsafe { string(env, api) }?;
    let a = if unsafe { type_of(env, a) } == sys::ValueType::napi_string { unsafe { string(env, a) }? } else { b"{}".to_vec() };
    let bufs = unsafe { views(env, b) }?;
    let mut r = WxResult { json: Bytes { data: null_mut(), len: 0 }, buffers: null_mut(), buffers_len: 0 };
    // The JS thread is blocked here, so the views it lent cannot move or be collected.
    unsafe {
        (l.invoke)(
            h,
            api.as_ptr() as *const c_char,
            api.len(),
            a.as_ptr() as *const c_char,
            a.len(),
            bufs.as_ptr(),
            bufs.len(),
            &mut r,
        )
    };
    let (json, buffers) = unsafe { take(&mut r) };
    unsafe { (l.result_free)(r) };
    unsafe { result_value(env, l, json, buffers) }
}

/// `storageSet(handle, key, json, dataType?)`: the typed `wxfs_storage_set`, for the hottest call a
/// mini-program makes (no argument object to build or parse, no result text). Returns its code;
/// the caller asks the bridge for the errMsg of a failure.
unsafe fn js_storage_set(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    let [h, key, json, data_type] = unsafe { args::<4>(env, info) }?;
    let h = unsafe { handle(env, h) }?;
    let key = unsafe { string(env, key) }?;
    let json = unsafe { string(env, json) }?;
    let data_type = if unsafe { type_of(env, data_type) } == sys::ValueType::napi_string {
        Some(unsafe { string(env, data_type) }?)
    } else {
        None
    };
    let (t, tl) = data_type.as_ref().map_or((std::ptr::null(), 0), |t| (t.as_ptr(), t.len()));
    let rc = unsafe { (l.storage_set)(h, key.as_ptr(), key.len(), json.as_ptr(), json.len(), t, tl) };
    unsafe { make_number(env, rc as f64) }
}

/// `storageGet(handle, key)`: the typed `wxfs_storage_get`. Returns the value's JSON text, or
/// `[json, dataType]` when it has a dataType, or the code of a failure (the caller asks the bridge
/// for what a failure means in its platform's words).
unsafe fn js_storage_get(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    let [h, key] = unsafe { args::<2>(env, info) }?;
    let h = unsafe { handle(env, h) }?;
    let key = unsafe { string(env, key) }?;
    let mut json = Bytes { data: null_mut(), len: 0 };
    let mut data_type = Bytes { data: null_mut(), len: 0 };
    let rc = unsafe { (l.storage_get)(h, key.as_ptr(), key.len(), &mut json, &mut data_type) };
    if rc != 0 {
        return unsafe { make_number(env, rc as f64) };
    }
    let bytes = |b: &Bytes| if b.data.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(b.data, b.len) } };
    let text = unsafe { make_string(env, bytes(&json)) };
    let out = match (text, data_type.data.is_null()) {
        (Ok(text), true) => Ok(text),
        (Ok(text), false) => (|| {
            let t = unsafe { make_string(env, bytes(&data_type)) }?;
            let mut arr = null_mut();
            unsafe { ok(env, sys::napi_create_array_with_length(env, 2, &mut arr), "array")? };
            unsafe { sys::napi_set_element(env, arr, 0, text) };
            unsafe { sys::napi_set_element(env, arr, 1, t) };
            Ok(arr)
        })(),
        (Err(t), _) => Err(t),
    };
    unsafe { (l.bytes_free)(json) };
    if !data_type.data.is_null() {
        unsafe { (l.bytes_free)(data_type) };
    }
    out
}

/// The thread-safe function as the workers see it: `None` once Node has finalized it (the
/// environment is going away). A worker posts while holding the lock, and the finalizer takes
/// the lock before the function's memory is freed, so no post can touch a freed function.
struct Shared {
    tsfn: std::sync::Mutex<Option<usize>>,
}

/// Per Node environment (main thread or worker_threads): the dispatcher and the pending count.
struct Instance {
    tsfn: sys::napi_threadsafe_function,
    shared: std::sync::Arc<Shared>,
    pending: usize,
}

/// One async call in flight: what the worker needs to post its result.
struct Call {
    shared: std::sync::Arc<Shared>,
    id: f64,
}

/// A result on its way to the JS thread.
struct Done {
    id: f64,
    json: Bytes,
    buffers: Vec<Bytes>,
}

fn free_done(done: Done) {
    if let Some(l) = lib() {
        unsafe { (l.bytes_free)(done.json) };
        for b in done.buffers {
            unsafe { (l.bytes_free)(b) };
        }
    }
}

unsafe extern "C" fn tsfn_finalized(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    let shared = unsafe { std::sync::Arc::from_raw(data as *const Shared) };
    *shared.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

unsafe fn instance(env: napi_env) -> *mut Instance {
    let mut data: *mut c_void = null_mut();
    unsafe { sys::napi_get_instance_data(env, &mut data) };
    data as *mut Instance
}

unsafe extern "C" fn free_instance(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(unsafe { Box::from_raw(data as *mut Instance) });
}

/// Runs on the JS thread for each posted result, outside any call into the library.
unsafe extern "C" fn deliver(env: napi_env, js_cb: napi_value, _ctx: *mut c_void, data: *mut c_void) {
    let done = unsafe { Box::from_raw(data as *mut Done) };
    let Some(l) = lib() else { return };
    if env.is_null() {
        // The environment is being torn down: nobody is left to receive it.
        free_done(*done);
        return;
    }
    let inst = unsafe { instance(env) };
    if !inst.is_null() {
        let inst = unsafe { &mut *inst };
        inst.pending = inst.pending.saturating_sub(1);
        if inst.pending == 0 {
            unsafe { sys::napi_unref_threadsafe_function(env, inst.tsfn) };
        }
    }
    let Done { id, json, buffers } = *done;
    let has_buffers = !buffers.is_empty();
    let Ok(value) = (unsafe { result_value(env, l, json, buffers) }) else { return };
    let (json_v, bufs_v) = if has_buffers {
        // `[json, ...buffers]`: split for the dispatcher as (json, [buffers]).
        let mut first = null_mut();
        unsafe { sys::napi_get_element(env, value, 0, &mut first) };
        (first, value)
    } else {
        (value, unsafe { undefined(env) })
    };
    let Ok(id_v) = (unsafe { make_number(env, id) }) else { return };
    let argv = [id_v, json_v, bufs_v];
    let mut ret = null_mut();
    // An exception thrown by the dispatcher propagates as Node's uncaught exception.
    unsafe { sys::napi_call_function(env, undefined(env), js_cb, 3, argv.as_ptr(), &mut ret) };
}

/// The library's callback, on one of its workers: post the result and return without waiting.
unsafe extern "C" fn on_done(userdata: *mut c_void, _code: i32, result: *mut WxResult) {
    let call = unsafe { Box::from_raw(userdata as *mut Call) };
    let (json, buffers) = unsafe { take(&mut *result) };
    let done = Box::into_raw(Box::new(Done { id: call.id, json, buffers }));
    let guard = call.shared.tsfn.lock().unwrap_or_else(|p| p.into_inner());
    let posted = match *guard {
        Some(tsfn) => unsafe {
            sys::napi_call_threadsafe_function(
                tsfn as sys::napi_threadsafe_function,
                done as *mut c_void,
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        },
        None => sys::Status::napi_closing,
    };
    drop(guard);
    if posted != sys::Status::napi_ok {
        free_done(*unsafe { Box::from_raw(done) });
    }
}

unsafe fn js_set_dispatcher(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let [f] = unsafe { args::<1>(env, info) }?;
    if unsafe { type_of(env, f) } != sys::ValueType::napi_function {
        return Err(unsafe { throw(env, "wxfs addon: setDispatcher takes a function") });
    }
    if !unsafe { instance(env) }.is_null() {
        return Err(unsafe { throw(env, "wxfs addon: the dispatcher is set already") });
    }
    let name = unsafe { make_string(env, b"wxfs") }?;
    let shared = std::sync::Arc::new(Shared { tsfn: std::sync::Mutex::new(None) });
    let finalize_data = std::sync::Arc::into_raw(shared.clone()) as *mut c_void;
    let mut tsfn = null_mut();
    // Thread count 1, held by this environment for its lifetime: workers post without acquiring
    // (`Shared` guards them instead), so the last post can never race a release at exit.
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            env,
            f,
            null_mut(),
            name,
            0,
            1,
            finalize_data,
            Some(tsfn_finalized),
            null_mut(),
            Some(deliver),
            &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        drop(unsafe { std::sync::Arc::from_raw(finalize_data as *const Shared) });
        return Err(unsafe { throw(env, &format!("wxfs addon: create_threadsafe_function failed (Node-API status {status})")) });
    }
    *shared.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = Some(tsfn as usize);
    unsafe { ok(env, sys::napi_unref_threadsafe_function(env, tsfn), "unref_threadsafe_function")? };
    let inst = Box::into_raw(Box::new(Instance { tsfn, shared, pending: 0 }));
    unsafe {
        ok(env, sys::napi_set_instance_data(env, inst as *mut c_void, Some(free_instance), null_mut()), "set_instance_data")?
    };
    Ok(unsafe { undefined(env) })
}

unsafe fn js_invoke_async(env: napi_env, info: napi_callback_info) -> Js<napi_value> {
    let l = loaded(env)?;
    let inst = unsafe { instance(env) };
    if inst.is_null() {
        return Err(unsafe { throw(env, "wxfs addon: setDispatcher(fn) was not called") });
    }
    let inst = unsafe { &mut *inst };
    let [h, api, a, b, id] = unsafe { args::<5>(env, info) }?;
    let h = unsafe { handle(env, h) }?;
    let api = unsafe { string(env, api) }?;
    let a = if unsafe { type_of(env, a) } == sys::ValueType::napi_string { unsafe { string(env, a) }? } else { b"{}".to_vec() };
    let bufs = unsafe { views(env, b) }?;
    let mut id_n = 0f64;
    unsafe { ok(env, sys::napi_get_value_double(env, id, &mut id_n), "id")? };
    let call = Box::into_raw(Box::new(Call { shared: inst.shared.clone(), id: id_n }));
    let rc = unsafe {
        (l.invoke_async)(
            h,
            api.as_ptr() as *const c_char,
            api.len(),
            a.as_ptr() as *const c_char,
            a.len(),
            bufs.as_ptr(),
            bufs.len(),
            Some(on_done),
            call as *mut c_void,
        )
    };
    if rc != 0 {
        // Not queued: the callback will never run.
        drop(unsafe { Box::from_raw(call) });
    } else {
        inst.pending += 1;
        if inst.pending == 1 {
            unsafe { sys::napi_ref_threadsafe_function(env, inst.tsfn) };
        }
    }
    unsafe { make_number(env, rc as f64) }
}

macro_rules! export {
    ($name:ident => $imp:ident) => {
        unsafe extern "C" fn $name(env: napi_env, info: napi_callback_info) -> napi_value {
            // A panic must not unwind into Node.
            match std::panic::catch_unwind(|| unsafe { $imp(env, info) }) {
                Ok(Ok(v)) => v,
                Ok(Err(Thrown)) => null_mut(),
                Err(_) => {
                    unsafe { throw(env, concat!("wxfs addon: internal error in ", stringify!($imp))) };
                    null_mut()
                }
            }
        }
    };
}

export!(load_fn => js_load);
export!(open_fn => js_open);
export!(close_fn => js_close);
export!(api_list_fn => js_api_list);
export!(last_error_fn => js_last_error);
export!(invoke_fn => js_invoke);
export!(set_dispatcher_fn => js_set_dispatcher);
export!(invoke_async_fn => js_invoke_async);
export!(storage_set_fn => js_storage_set);
export!(storage_get_fn => js_storage_get);

/// Node's entry point for an addon that does not self-register.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    NODE.get_or_init(|| unsafe { sys::setup() });
    let table: [(&[u8], unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value); 10] = [
        (b"load\0", load_fn),
        (b"open\0", open_fn),
        (b"close\0", close_fn),
        (b"apiList\0", api_list_fn),
        (b"lastError\0", last_error_fn),
        (b"invoke\0", invoke_fn),
        (b"setDispatcher\0", set_dispatcher_fn),
        (b"invokeAsync\0", invoke_async_fn),
        (b"storageSet\0", storage_set_fn),
        (b"storageGet\0", storage_get_fn),
    ];
    for (name, f) in table {
        let mut func = null_mut();
        let status = unsafe {
            sys::napi_create_function(
                env,
                name.as_ptr() as *const c_char,
                name.len() as isize - 1,
                Some(f),
                null_mut(),
                &mut func,
            )
        };
        if status != sys::Status::napi_ok {
            return null_mut();
        }
        unsafe { sys::napi_set_named_property(env, exports, name.as_ptr() as *const c_char, func) };
    }
    exports
}
