//! The built shared library loaded at run time, as a host loads it: one typed table of the C
//! exports the tests call (the types are those of `include/wxfs.h`).

use std::ffi::c_void;

use libloading::Library;
use serde_json::Value;

/// `wxfs_bytes`: a result buffer the library allocates and `wxfs_bytes_free` releases.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Bytes {
    pub data: *mut u8,
    pub len: usize,
}

impl Bytes {
    /// An empty out-slot, as a caller passes it in.
    pub fn empty() -> Bytes {
        Bytes { data: std::ptr::null_mut(), len: 0 }
    }
}

/// `wxfs_callback`: where an async result is delivered.
pub type Callback = Option<unsafe extern "C" fn(*mut c_void, i32, *const u8, usize)>;
/// `wxfs_log_callback`.
pub type LogCallback = unsafe extern "C" fn(*mut c_void, i32, *const u8, usize, *const u8, usize);

/// The library and its exports. The fields are the raw functions (a test of hostile input calls
/// them with what a buggy caller passes); the methods are the well-behaved calls.
pub struct Lib {
    _lib: Library,
    pub open: unsafe extern "C" fn(*const u8, usize, *mut u64) -> i32,
    pub invoke: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *mut Bytes) -> i32,
    pub invoke_async: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, Callback, *mut c_void) -> i32,
    pub close: unsafe extern "C" fn(u64) -> i32,
    pub free: unsafe extern "C" fn(Bytes),
    pub read_file: unsafe extern "C" fn(u64, *const u8, usize, *mut Bytes) -> i32,
    pub write_file: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize) -> i32,
    pub save_file: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *mut Bytes) -> i32,
    pub storage_set: unsafe extern "C" fn(u64, *const u8, usize, *const u8, usize, *const u8, usize) -> i32,
    pub storage_get: unsafe extern "C" fn(u64, *const u8, usize, *mut Bytes, *mut Bytes) -> i32,
    pub storage_info: unsafe extern "C" fn(u64, *mut u64, *mut u64, *mut u64) -> i32,
    pub remove_sandbox: unsafe extern "C" fn(*const u8, usize, *const u8, usize, *const u8, usize) -> i32,
    pub remove_sandbox_config: unsafe extern "C" fn(*const u8, usize, *mut bool) -> i32,
    pub gc: unsafe extern "C" fn(*const u8, usize, u64, *mut u64) -> i32,
    pub last_error: unsafe extern "C" fn(*mut u8, usize, *mut usize) -> i32,
    pub buffer_url_resolve: unsafe extern "C" fn(u64, *const u8, usize, *mut Bytes) -> i32,
    pub api_list: unsafe extern "C" fn(u64, *mut Bytes) -> i32,
    pub log_set: unsafe extern "C" fn(Option<LogCallback>, *mut c_void, i32) -> i32,
}

impl Lib {
    pub fn load() -> Lib {
        let path = super::lib_path();
        assert!(path.exists(), "shared library not built at {}", path.display());
        // SAFETY: our own library; each symbol's type is the one include/wxfs.h declares for it.
        unsafe {
            let lib = Library::new(&path).expect("load libwxfs");
            macro_rules! f {
                ($n:literal) => {
                    *lib.get(concat!($n, "\0").as_bytes()).expect($n)
                };
            }
            Lib {
                open: f!("wxfs_open"),
                invoke: f!("wxfs_invoke"),
                invoke_async: f!("wxfs_invoke_async"),
                close: f!("wxfs_close"),
                free: f!("wxfs_bytes_free"),
                read_file: f!("wxfs_read_file"),
                write_file: f!("wxfs_write_file"),
                save_file: f!("wxfs_save_file"),
                storage_set: f!("wxfs_storage_set"),
                storage_get: f!("wxfs_storage_get"),
                storage_info: f!("wxfs_storage_info"),
                remove_sandbox: f!("wxfs_remove_sandbox"),
                remove_sandbox_config: f!("wxfs_remove_sandbox_config"),
                gc: f!("wxfs_gc"),
                last_error: f!("wxfs_last_error_message"),
                buffer_url_resolve: f!("wxfs_buffer_url_resolve"),
                api_list: f!("wxfs_api_list"),
                log_set: f!("wxfs_log_set"),
                _lib: lib,
            }
        }
    }

    pub fn open(&self, config: &Value) -> Result<u64, i32> {
        let text = config.to_string();
        let mut h = 0u64;
        let rc = unsafe { (self.open)(text.as_ptr(), text.len(), &mut h) };
        if rc == 0 {
            Ok(h)
        } else {
            Err(rc)
        }
    }

    /// Call an api with raw argument bytes; returns the status and the parsed result.
    pub fn invoke_raw(&self, h: u64, api: &str, args: &[u8]) -> (i32, Value) {
        let mut out = Bytes::empty();
        let rc = unsafe { (self.invoke)(h, api.as_ptr(), api.len(), args.as_ptr(), args.len(), &mut out) };
        assert!(!out.data.is_null(), "{api}: no result");
        let bytes = unsafe { self.take(out) };
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{api}: result is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (rc, v)
    }

    pub fn invoke(&self, h: u64, api: &str, args: &Value) -> (i32, Value) {
        self.invoke_raw(h, api, args.to_string().as_bytes())
    }

    /// `invoke` with any bytes for the api name and the arguments, as a hostile caller sends them;
    /// returns the code and the result's errMsg (empty where there is no result).
    pub fn invoke_bytes(&self, h: u64, api: &[u8], args: &[u8]) -> (i32, String) {
        let mut out = Bytes::empty();
        let rc = unsafe { (self.invoke)(h, api.as_ptr(), api.len(), args.as_ptr(), args.len(), &mut out) };
        let msg = if out.data.is_null() {
            String::new()
        } else {
            let v: Value = serde_json::from_slice(&unsafe { self.take(out) }).unwrap();
            v["errMsg"].as_str().unwrap_or_default().to_string()
        };
        (rc, msg)
    }

    /// Succeeds (code 0); returns the result.
    pub fn ok(&self, h: u64, api: &str, args: Value) -> Value {
        let (rc, r) = self.invoke(h, api, &args);
        assert_eq!(rc, 0, "{api} {args}: {r}");
        r
    }

    /// Fails with exactly this code (as the status and as errCode) and errMsg.
    pub fn fails(&self, h: u64, api: &str, args: Value, code: i32, msg: &str) {
        let (rc, r) = self.invoke(h, api, &args);
        assert_eq!((rc, r["errMsg"].as_str().unwrap_or("")), (code, msg), "{api}: {r}");
        assert_eq!(r["errCode"], code);
    }

    pub fn close(&self, h: u64) -> i32 {
        unsafe { (self.close)(h) }
    }

    /// The calling thread's last error message (`wxfs_last_error_message`), without a trailing NUL.
    pub fn last_error_message(&self) -> String {
        let mut buf = vec![0u8; 4096];
        let mut len = 0usize;
        unsafe { (self.last_error)(buf.as_mut_ptr(), buf.len(), &mut len) };
        String::from_utf8_lossy(&buf[..len.min(buf.len())]).trim_end_matches('\0').to_string()
    }

    /// Copies a result out and frees it.
    ///
    /// # Safety
    /// `out` is a result this library returned, not yet freed.
    pub unsafe fn take(&self, out: Bytes) -> Vec<u8> {
        let v = unsafe { std::slice::from_raw_parts(out.data, out.len) }.to_vec();
        unsafe { (self.free)(out) };
        v
    }
}
