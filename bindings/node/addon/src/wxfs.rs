//! libwxfs, opened at run time as a host would, behind a safe interface: the one place the addon
//! calls the library's C ABI. Every `unsafe` block here is argued from these invariants:
//!
//! - **Symbols.** [`load`] resolves each function by its name in `include/wxfs.h` and gives it the
//!   signature that header declares (the `_v2` names where the layout changed). The library stays
//!   loaded for the process (it lives in a static), so the function pointers never dangle.
//! - **Pointers in.** Every pointer passed is NULL with length 0, or points at memory of a live
//!   Rust value readable (or, for `out_*`, writable) for its paired length during the call, as
//!   the header's `# Safety` asks; the library keeps none of them after returning.
//! - **Bytes out.** What the library hands out is owned by one [`Owned`] and released once, by
//!   `wxfs_bytes_free` in its `Drop`; entries taken out of a result are zeroed in place first, so
//!   `wxfs_result_free` (or the library, after an async callback) releases only the rest.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

#[repr(C)]
#[derive(Clone, Copy)]
struct Bytes {
    data: *mut u8,
    len: usize,
}

const EMPTY: Bytes = Bytes { data: null_mut(), len: 0 };

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
type AllocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut u8;

pub struct Lib {
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
    read_file_alloc: unsafe extern "C" fn(u64, *const u8, usize, Option<AllocFn>, *mut c_void, *mut usize) -> i32,
    last_error: unsafe extern "C" fn(*mut c_char, usize, *mut usize) -> i32,
    _lib: libloading::Library,
}

static LIB: OnceLock<Lib> = OnceLock::new();

/// The library `load` opened, if it did.
pub fn lib() -> Option<&'static Lib> {
    LIB.get()
}

/// Open the libwxfs at `path` for the process (once: a second path is refused).
pub fn load(path: &str) -> Result<&'static Lib, String> {
    if let Some(l) = lib() {
        if l.path != path {
            return Err(format!("wxfs addon: {} is loaded already; cannot load {path} too", l.path));
        }
        return Ok(l);
    }
    let l = open_lib(path)?;
    let _ = LIB.set(l);
    lib().ok_or_else(|| "wxfs addon: libwxfs did not stay loaded".to_string())
}

fn open_lib(path: &str) -> Result<Lib, String> {
    // SAFETY: loading runs the library's initializers; the host names libwxfs here (WXFS_LIB or
    // the checkout's build), whose initializers are Rust's and do nothing unsound.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load {path}: {e}"))?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is the function `include/wxfs.h` declares under this name, and
            // the field it is assigned to has that declaration's signature (module invariants).
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("{path} lacks {} (built before it was added?): {e}", $name))?
        };
    }
    let version: unsafe extern "C" fn() -> *const c_char = sym!("wxfs_version");
    // SAFETY: `wxfs_version` takes nothing and returns a static NUL-terminated string, never freed.
    let version = unsafe { CStr::from_ptr(version()) }.to_string_lossy().into_owned();
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
        read_file_alloc: sym!("wxfs_read_file_alloc"),
        last_error: sym!("wxfs_last_error_message"),
        _lib: lib,
    })
}

/// Bytes the library handed out, released with `wxfs_bytes_free` when dropped.
pub struct Owned {
    bytes: Bytes,
    lib: &'static Lib,
}

// SAFETY: the bytes are a heap allocation (or a mapping) the library handed over to this value
// alone; nothing else reads or writes them, and `wxfs_bytes_free` may be called from any thread.
unsafe impl Send for Owned {}

impl Owned {
    fn new(lib: &'static Lib, bytes: Bytes) -> Self {
        Owned { bytes, lib }
    }

    /// The bytes, empty when the library gave none (NULL).
    pub fn as_bytes(&self) -> &[u8] {
        if self.bytes.data.is_null() {
            return &[];
        }
        // SAFETY: the library hands out `len` readable bytes at a non-NULL `data`, owned by this
        // value until it is dropped (which the borrow of `self` outlasts).
        unsafe { std::slice::from_raw_parts(self.bytes.data, self.bytes.len) }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.bytes.data.is_null() {
            // SAFETY: these bytes came from the library and are released here only, once.
            unsafe { (self.lib.bytes_free)(self.bytes) };
        }
    }
}

/// A result taken apart: its JSON text and its ArrayBuffers.
pub type Taken = (Owned, Vec<Owned>);

/// Take everything out of a library result, leaving its entries zeroed.
fn take(lib: &'static Lib, r: &mut WxResult) -> Taken {
    let json = Owned::new(lib, std::mem::replace(&mut r.json, EMPTY));
    let mut buffers = Vec::with_capacity(r.buffers_len);
    for i in 0..r.buffers_len {
        // SAFETY: the library's result has `buffers_len` entries at `buffers` (NULL only when 0,
        // and then this loop does not run), writable by the host to take them out.
        let slot = unsafe { &mut *r.buffers.add(i) };
        buffers.push(Owned::new(lib, std::mem::replace(slot, EMPTY)));
    }
    (json, buffers)
}

fn slices(bufs: &[&[u8]]) -> Vec<Slice> {
    bufs.iter().map(|b| Slice { data: if b.is_empty() { null() } else { b.as_ptr() }, len: b.len() }).collect()
}

impl Lib {
    pub fn version(&self) -> &str {
        &self.version
    }

    /// This thread's last error message.
    pub fn last_error(&self) -> String {
        let mut buf = vec![0u8; 4096];
        let mut n = 0usize;
        // SAFETY: `buf` is writable for its length and `n` is a local (module invariants).
        let rc = unsafe { (self.last_error)(buf.as_mut_ptr() as *mut c_char, buf.len(), &mut n) };
        if rc != 0 {
            buf = vec![0u8; n + 1];
            // SAFETY: as above, with room for the `n` bytes and NUL the library asked for.
            unsafe { (self.last_error)(buf.as_mut_ptr() as *mut c_char, buf.len(), &mut n) };
        }
        buf.truncate(n);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// `wxfs_open`: the new sandbox's handle, or the code of a failure.
    pub fn open(&self, config: &[u8]) -> Result<u64, i32> {
        let mut h = 0u64;
        // SAFETY: `config` is readable for its length and `h` is a local (module invariants).
        let rc = unsafe { (self.open)(config.as_ptr() as *const c_char, config.len(), &mut h) };
        if rc == 0 {
            Ok(h)
        } else {
            Err(rc)
        }
    }

    /// `wxfs_close`.
    pub fn close(&self, handle: u64) -> i32 {
        // SAFETY: no pointers; any handle value is accepted (a stale one gets WXFS_E_HANDLE).
        unsafe { (self.close)(handle) }
    }

    /// `wxfs_api_list`: the JSON list, or the code of a failure.
    pub fn api_list(&'static self, handle: u64) -> Result<Owned, i32> {
        let mut out = EMPTY;
        // SAFETY: `out` is a local, writable (module invariants).
        let rc = unsafe { (self.api_list)(handle, &mut out) };
        if rc != 0 {
            return Err(rc);
        }
        Ok(Owned::new(self, out))
    }

    /// `wxfs_invoke_v2`: the result's JSON and ArrayBuffers (the code is in the JSON).
    pub fn invoke(&'static self, handle: u64, api: &[u8], args: &[u8], bufs: &[&[u8]]) -> Taken {
        let slices = slices(bufs);
        let mut r = WxResult { json: EMPTY, buffers: null_mut(), buffers_len: 0 };
        // SAFETY: `api`, `args` and every slice are readable for their lengths, `slices` has
        // `slices.len()` entries, and `r` is a local, writable (module invariants).
        unsafe {
            (self.invoke)(
                handle,
                api.as_ptr() as *const c_char,
                api.len(),
                args.as_ptr() as *const c_char,
                args.len(),
                slices.as_ptr(),
                slices.len(),
                &mut r,
            )
        };
        let taken = take(self, &mut r);
        // SAFETY: `r` is the library's result, freed once; its entries were taken out (zeroed).
        unsafe { (self.result_free)(r) };
        taken
    }

    /// `wxfs_invoke_async_v2`: 0 when queued, and then `done` runs exactly once on a worker
    /// thread with the result; the code of a failure otherwise (and `done` is dropped unrun).
    pub fn invoke_async<F>(&'static self, handle: u64, api: &[u8], args: &[u8], bufs: &[&[u8]], done: F) -> i32
    where
        F: FnOnce(Taken) + Send + 'static,
    {
        let slices = slices(bufs);
        let call = Box::into_raw(Box::new(AsyncCall { lib: self, done }));
        // SAFETY: pointers as in `invoke` (the library copies what it needs before returning);
        // `on_done::<F>` matches wxfs_callback_v2 and receives `call`, a leaked `AsyncCall<F>`.
        let rc = unsafe {
            (self.invoke_async)(
                handle,
                api.as_ptr() as *const c_char,
                api.len(),
                args.as_ptr() as *const c_char,
                args.len(),
                slices.as_ptr(),
                slices.len(),
                Some(on_done::<F>),
                call as *mut c_void,
            )
        };
        if rc != 0 {
            // SAFETY: not queued, so the callback will never run: `call` is still ours, freed once.
            drop(unsafe { Box::from_raw(call) });
        }
        rc
    }

    /// `wxfs_storage_set`: its code.
    pub fn storage_set(&self, handle: u64, key: &[u8], json: &[u8], data_type: Option<&[u8]>) -> i32 {
        let (t, tl) = data_type.map_or((null(), 0), |t| (t.as_ptr(), t.len()));
        // SAFETY: every pointer is NULL with length 0 or readable for its length (module invariants).
        unsafe { (self.storage_set)(handle, key.as_ptr(), key.len(), json.as_ptr(), json.len(), t, tl) }
    }

    /// `wxfs_storage_get`: the value's JSON and its dataType if it has one, or the code of a failure.
    pub fn storage_get(&'static self, handle: u64, key: &[u8]) -> Result<(Owned, Option<Owned>), i32> {
        let mut json = EMPTY;
        let mut data_type = EMPTY;
        // SAFETY: `key` is readable for its length; `json` and `data_type` are locals, writable.
        let rc = unsafe { (self.storage_get)(handle, key.as_ptr(), key.len(), &mut json, &mut data_type) };
        if rc != 0 {
            return Err(rc);
        }
        let data_type = (!data_type.data.is_null()).then(|| Owned::new(self, data_type));
        Ok((Owned::new(self, json), data_type))
    }
}

impl Lib {
    /// `wxfs_read_file_alloc`: the file read into the memory `alloc(len)` gives (a pointer to
    /// `len` writable bytes, or NULL to refuse), called at most once, on this thread, during the
    /// call; the count of bytes read (0 with no `alloc` for an empty file), or the code of a
    /// failure.
    pub fn read_file_alloc<F: FnMut(usize) -> *mut u8>(&self, handle: u64, path: &[u8], alloc: &mut F) -> Result<usize, i32> {
        let mut n = 0usize;
        // SAFETY: `path` is readable for its length; `alloc_with::<F>` matches wxfs_alloc_fn and
        // receives `alloc`, a live `&mut F`, during this call only; `n` is a local.
        let rc = unsafe {
            (self.read_file_alloc)(
                handle,
                path.as_ptr(),
                path.len(),
                Some(alloc_with::<F>),
                alloc as *mut F as *mut c_void,
                &mut n,
            )
        };
        if rc == 0 {
            Ok(n)
        } else {
            Err(rc)
        }
    }
}

/// The library's call for memory, during `read_file_alloc`. A panic gives NULL (the library
/// then fails the read) rather than unwinding into it.
///
/// # Safety
/// Called by the library only, during `read_file_alloc`, with the `&mut F` it passed.
unsafe extern "C" fn alloc_with<F: FnMut(usize) -> *mut u8>(userdata: *mut c_void, len: usize) -> *mut u8 {
    // SAFETY: `userdata` is the `&mut F` `read_file_alloc` passed, alive and unaliased for its call.
    let f = unsafe { &mut *(userdata as *mut F) };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(len))).unwrap_or(null_mut())
}

/// One async call in flight: the library and what to do with the result.
struct AsyncCall<F> {
    lib: &'static Lib,
    done: F,
}

/// The library's callback, on one of its workers.
///
/// # Safety
/// Called by the library only, once per queued call, with the `userdata` `invoke_async` passed.
unsafe extern "C" fn on_done<F: FnOnce(Taken) + Send + 'static>(userdata: *mut c_void, _code: i32, result: *mut WxResult) {
    // SAFETY: `userdata` is the `AsyncCall<F>` `invoke_async` leaked; the library calls back once.
    let call = unsafe { Box::from_raw(userdata as *mut AsyncCall<F>) };
    // SAFETY: `*result` is valid and the host's to take entries from during the callback; the
    // library releases whatever is left when it returns.
    let taken = take(call.lib, unsafe { &mut *result });
    (call.done)(taken);
}
