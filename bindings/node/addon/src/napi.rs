//! The one place the addon calls Node-API: a small safe layer over napi-sys, so that the exports
//! in `lib.rs` are safe Rust. Every `unsafe` block here is argued from these invariants:
//!
//! - **Env.** An [`Env`] exists only inside a call Node makes into the addon (an exported
//!   function, or a thread-safe function's delivery), built from the `napi_env` Node passed to that
//!   call, and only by reference to the caller's stack frame. Its raw pointer is therefore valid
//!   for every Node-API call made through it, on the JS thread that owns it (`Env` is neither
//!   `Send` nor `Sync`).
//! - **Handle scope.** Node opens a handle scope around each such call and closes it when the call
//!   returns. A [`Value<'s>`] is tied to that scope by `'s`, which is a fresh, higher-ranked lifetime
//!   per call ([`Export::f`], [`Deliver::deliver`]): a value cannot outlive the call or be carried
//!   into another one.
//! - **Types checked.** A call that needs a value of one type (`napi_get_arraybuffer_info`, ...)
//!   is made only after asking Node the value's type; calls that check for themselves
//!   (`napi_get_value_double`, `napi_get_value_string_utf8`, `napi_get_array_length`) answer a
//!   mismatch with a status, which becomes a JS exception ([`Thrown`]).
//! - **Buffer lifetimes.** The bytes of an ArrayBuffer or view ([`Env::bytes`]) stay where they
//!   are while the value is alive (the handle scope keeps it from the collector) and no JavaScript
//!   runs (only JavaScript can detach or shrink a buffer). The slice borrows the `Env` shared, and
//!   every call that can run JavaScript (getters, setters, a function call) takes `&mut Env`, so the
//!   borrow checker proves no JavaScript runs while a slice is alive.
//! - **Out-pointers** passed to Node are locals of the calling function, writable for the call.

use std::any::Any;
use std::ffi::{c_char, c_void, CStr, CString};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{null, null_mut};
use std::sync::{Arc, Mutex, OnceLock};

use napi_sys as sys;
use sys::{napi_callback_info, napi_env, napi_value};

/// A failed Node-API call or a bad argument: a JS exception is pending (or about to be thrown).
pub struct Thrown;

pub type Js<T> = Result<T, Thrown>;

/// The longest string argument [`Env::string`] copies onto the stack (NUL included).
pub const INLINE: usize = 512;

/// The longest character in UTF-8, in bytes.
const UTF8_MAX: usize = 4;

/// A string argument's UTF-8 bytes ([`Env::string`]): on the stack when short.
pub struct Utf8 {
    inline: [MaybeUninit<u8>; INLINE],
    len: usize,
    heap: Option<Vec<u8>>,
}

impl Utf8 {
    /// An empty one, for [`Env::string_in`] to fill where it lies.
    pub fn new() -> Self {
        Utf8 { inline: [MaybeUninit::uninit(); INLINE], len: 0, heap: None }
    }
}

impl Default for Utf8 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for Utf8 {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.heap {
            Some(v) => v,
            // SAFETY: Node wrote the first `len` bytes of `inline` (`Env::string`), and `len` is
            // below `INLINE`.
            None => unsafe { std::slice::from_raw_parts(self.inline.as_ptr() as *const u8, self.len) },
        }
    }
}

/// How many arguments an export can take: the longest JS signature (`invokeAsync`).
pub const MAX_ARGS: usize = 5;

/// The arguments of an exported call, `undefined` past the ones given.
pub type Args<'s> = [Value<'s>; MAX_ARGS];

/// The Node environment of the current call into the addon (see the module's invariants).
pub struct Env<'s> {
    raw: napi_env,
    // Invariant in 's, and neither Send nor Sync.
    _scope: PhantomData<*mut &'s ()>,
}

/// A JavaScript value, valid in the handle scope `'s` of the current call.
#[derive(Clone, Copy)]
pub struct Value<'s> {
    raw: napi_value,
    _scope: PhantomData<*mut &'s ()>,
}

/// A thread-safe function created by [`Env::threadsafe_function`], for the environment that
/// created it. It is never released (its thread count stays held), so it lives until that
/// environment is torn down, after which no call into the addon can present it again.
#[derive(Clone, Copy)]
pub struct Tsfn {
    raw: sys::napi_threadsafe_function,
}

/// An ArrayBuffer, typed array or DataView, checked by [`Env::buffers`].
#[derive(Clone, Copy)]
pub struct Buffer<'s> {
    value: Value<'s>,
    kind: BufferKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BufferKind {
    ArrayBuffer,
    TypedArray,
    DataView,
}

/// A JS function of the addon's exports object.
pub struct Export {
    /// The property name on the exports object.
    pub name: &'static CStr,
    /// The Rust function's name, for the message of a panic caught at the boundary.
    pub rust_name: &'static str,
    /// The body, in safe Rust.
    pub f: for<'s> fn(&mut Env<'s>, Args<'s>) -> Js<Value<'s>>,
}

impl<'s> Env<'s> {
    /// # Safety
    /// `raw` is the `napi_env` Node passed to the running call into the addon, which opened a
    /// handle scope `'s` that lasts until that call returns; the `Env` must not outlive the call.
    unsafe fn from_raw(raw: napi_env) -> Self {
        Env { raw, _scope: PhantomData }
    }

    fn value(&self, raw: napi_value) -> Value<'s> {
        Value { raw, _scope: PhantomData }
    }

    /// Throw `msg` as an Error, unless an exception is pending already.
    pub fn throw(&self, msg: &str) -> Thrown {
        let mut pending = false;
        // SAFETY: valid env (module invariant); `pending` is a local out-pointer.
        unsafe { sys::napi_is_exception_pending(self.raw, &mut pending) };
        if !pending {
            let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
            // SAFETY: valid env; `text` is NUL-terminated and outlives the call (Node copies it).
            unsafe { sys::napi_throw_error(self.raw, null(), text.as_ptr()) };
        }
        Thrown
    }

    /// Throw `msg` as an Error whose `code` property is `code`.
    pub fn throw_coded(&self, code: &str, msg: &str) -> Thrown {
        let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        let code = CString::new(code.replace('\0', " ")).unwrap_or_default();
        // SAFETY: valid env; both strings are NUL-terminated and outlive the call (Node copies them).
        unsafe { sys::napi_throw_error(self.raw, code.as_ptr(), text.as_ptr()) };
        Thrown
    }

    fn check(&self, status: sys::napi_status, what: &str) -> Js<()> {
        if status == sys::Status::napi_ok {
            Ok(())
        } else {
            Err(self.throw(&format!("wxfs addon: {what} failed (Node-API status {status})")))
        }
    }

    fn type_of(&self, v: Value<'s>) -> sys::napi_valuetype {
        let mut t = 0;
        // SAFETY: valid env; `v` is alive in this call's handle scope ('s); `t` is a local.
        unsafe { sys::napi_typeof(self.raw, v.raw, &mut t) };
        t
    }

    pub fn is_string(&self, v: Value<'s>) -> bool {
        self.type_of(v) == sys::ValueType::napi_string
    }

    pub fn is_number(&self, v: Value<'s>) -> bool {
        self.type_of(v) == sys::ValueType::napi_number
    }

    pub fn is_function(&self, v: Value<'s>) -> bool {
        self.type_of(v) == sys::ValueType::napi_function
    }

    /// `undefined` or `null`.
    pub fn is_nullish(&self, v: Value<'s>) -> bool {
        let t = self.type_of(v);
        t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null
    }

    pub fn undefined(&self) -> Value<'s> {
        let mut v = null_mut();
        // SAFETY: valid env; `v` is a local.
        unsafe { sys::napi_get_undefined(self.raw, &mut v) };
        self.value(v)
    }

    /// The UTF-8 bytes of a string (throws for any other type). Up to [`INLINE`] bytes are
    /// copied onto the stack, not the heap: keys, api names and most argument objects are short,
    /// and an allocation per argument was a tenth of a `getStorageSync` (perf).
    pub fn string(&self, v: Value<'s>) -> Js<Utf8> {
        let mut out = Utf8::new();
        self.string_in(v, &mut out)?;
        Ok(out)
    }

    /// [`Env::string`] into `out`, where it lies: the hot exports' strings are not moved (a
    /// `Utf8` is over 500 bytes, and moving two of them out of their `Result`s was an eighth of a
    /// `storageGet`, perf). Returns the bytes.
    pub fn string_in<'b>(&self, v: Value<'s>, out: &'b mut Utf8) -> Js<&'b [u8]> {
        out.len = 0;
        out.heap = None;
        let mut got = 0usize;
        // SAFETY: valid env; `v` alive in 's; `inline` is writable for `INLINE` bytes, which Node
        // does not exceed (it writes at most len - 1 bytes and a NUL). Node checks the type and
        // answers napi_string_expected for another, writing nothing.
        let status =
            unsafe { sys::napi_get_value_string_utf8(self.raw, v.raw, out.inline.as_mut_ptr() as *mut c_char, INLINE, &mut got) };
        if status == sys::Status::napi_string_expected {
            return Err(self.throw("wxfs addon: expected a string"));
        }
        self.check(status, "string")?;
        // Node stops before a character that does not fit whole, so a copy that stopped short of
        // the end of the buffer may still be cut: it is whole only when the longest character
        // (4 bytes) would have fit after it. (Checking for one byte to spare, as this did, kept
        // 253 bytes of a 257-byte key whose last character straddled the end, and stored the
        // value under that other key.)
        if got + UTF8_MAX < INLINE {
            out.len = got;
            return Ok(&**out);
        }
        let mut len = 0usize;
        // SAFETY: as above; a NULL buffer asks only for the length, written to the local `len`.
        let status = unsafe { sys::napi_get_value_string_utf8(self.raw, v.raw, null_mut(), 0, &mut len) };
        self.check(status, "string length")?;
        let mut buf = vec![0u8; len + 1];
        // SAFETY: as above; `buf` is writable for `len + 1` bytes. No JavaScript ran since the
        // length query (this borrows `self` shared), so the string is the one measured.
        let status =
            unsafe { sys::napi_get_value_string_utf8(self.raw, v.raw, buf.as_mut_ptr() as *mut c_char, len + 1, &mut got) };
        self.check(status, "string")?;
        buf.truncate(got);
        out.heap = Some(buf);
        Ok(&**out)
    }

    /// The number `v` holds; `what` names it in the exception for any other type.
    pub fn number(&self, v: Value<'s>, what: &str) -> Js<f64> {
        let mut d = 0f64;
        // SAFETY: valid env; `v` alive in 's; Node checks the type and answers
        // napi_number_expected for another; `d` is a local.
        let status = unsafe { sys::napi_get_value_double(self.raw, v.raw, &mut d) };
        self.check(status, what)?;
        Ok(d)
    }

    /// A string of UTF-8 `bytes`. ASCII text (every JSON text the library returns for a plain
    /// value, every errMsg) is made as Latin-1, which V8 copies as it is; the UTF-8 decoder it
    /// otherwise runs was a tenth of a `getStorageSync` (perf). Both give the same string.
    pub fn make_string(&self, bytes: &[u8]) -> Js<Value<'s>> {
        let mut v = null_mut();
        let make = if bytes.is_ascii() { sys::napi_create_string_latin1 } else { sys::napi_create_string_utf8 };
        // SAFETY: valid env; `bytes` is readable for its length during the call (Node copies it),
        // and a slice's length never exceeds isize::MAX; `v` is a local. ASCII bytes are the same
        // characters in Latin-1 as in UTF-8.
        let status = unsafe { make(self.raw, bytes.as_ptr() as *const c_char, bytes.len() as isize, &mut v) };
        self.check(status, "string")?;
        Ok(self.value(v))
    }

    pub fn make_number(&self, n: f64) -> Js<Value<'s>> {
        let mut v = null_mut();
        // SAFETY: valid env; `v` is a local.
        let status = unsafe { sys::napi_create_double(self.raw, n, &mut v) };
        self.check(status, "number")?;
        Ok(self.value(v))
    }

    /// A new array of `len` holes.
    pub fn array(&self, len: usize) -> Js<Value<'s>> {
        let mut v = null_mut();
        // SAFETY: valid env; `v` is a local.
        let status = unsafe { sys::napi_create_array_with_length(self.raw, len, &mut v) };
        self.check(status, "array")?;
        Ok(self.value(v))
    }

    /// `arr[i] = v`, ignoring a failure (the callers set elements of arrays they just made). Takes
    /// `&mut self`: a setter on `Array.prototype` would run JavaScript.
    pub fn set_element(&mut self, arr: Value<'s>, i: u32, v: Value<'s>) {
        // SAFETY: valid env; both values alive in 's; a non-object `arr` gets a status, not UB.
        unsafe { sys::napi_set_element(self.raw, arr.raw, i, v.raw) };
    }

    /// `arr[i]`; `what` names it in the exception. Takes `&mut self`: a getter or a Proxy would
    /// run JavaScript.
    pub fn get_element(&mut self, arr: Value<'s>, i: u32, what: &str) -> Js<Value<'s>> {
        let mut v = null_mut();
        // SAFETY: valid env; `arr` alive in 's (Node checks it is an object); `v` is a local.
        let status = unsafe { sys::napi_get_element(self.raw, arr.raw, i, &mut v) };
        self.check(status, what)?;
        Ok(self.value(v))
    }

    /// The buffers of a list: an array of ArrayBuffers, typed arrays or DataViews, or none for
    /// `undefined`/`null`. Each element is checked as it is read, so a bad one fails at once
    /// whatever the length says; its bytes are borrowed later ([`Env::bytes`]), once every
    /// element has been read (a getter may run JavaScript that detaches an earlier one).
    pub fn buffers(&mut self, v: Value<'s>) -> Js<Vec<Buffer<'s>>> {
        if self.is_nullish(v) {
            return Ok(Vec::new());
        }
        let mut n = 0u32;
        // SAFETY: valid env; `v` alive in 's; Node answers napi_array_expected for a non-array
        // (a Proxy included) without running JavaScript; `n` is a local.
        let status = unsafe { sys::napi_get_array_length(self.raw, v.raw, &mut n) };
        self.check(status, "buffers must be an array")?;
        // Reserved as read, not from the length: a sparse array may claim 2^32 - 1 elements.
        let mut out = Vec::new();
        for i in 0..n {
            let e = self.get_element(v, i, "buffers[i]")?;
            out.push(self.buffer(e)?);
        }
        Ok(out)
    }

    /// `v` as an ArrayBuffer, typed array or DataView (throws for anything else).
    fn buffer(&self, v: Value<'s>) -> Js<Buffer<'s>> {
        let (mut is_ab, mut is_ta, mut is_dv) = (false, false, false);
        // SAFETY: valid env; `v` alive in 's; the three flags are locals.
        unsafe {
            sys::napi_is_arraybuffer(self.raw, v.raw, &mut is_ab);
            sys::napi_is_typedarray(self.raw, v.raw, &mut is_ta);
            sys::napi_is_dataview(self.raw, v.raw, &mut is_dv);
        }
        let kind = if is_ab {
            BufferKind::ArrayBuffer
        } else if is_ta {
            BufferKind::TypedArray
        } else if is_dv {
            BufferKind::DataView
        } else {
            return Err(self.throw("wxfs addon: a buffer must be an ArrayBuffer, a typed array or a DataView"));
        };
        Ok(Buffer { value: v, kind })
    }

    /// The bytes of a buffer, borrowed while no JavaScript can run (the borrow of `self`; see the
    /// module's invariants). A buffer detached since it was read has none.
    pub fn bytes(&self, b: Buffer<'s>) -> Js<&[u8]> {
        let v = b.value;
        let (is_ab, is_ta) = (b.kind == BufferKind::ArrayBuffer, b.kind == BufferKind::TypedArray);
        let mut data: *mut c_void = null_mut();
        let len;
        if is_ab {
            let mut n = 0usize;
            // SAFETY: valid env; `v` is an ArrayBuffer (asked by `buffer`; a value's type never changes); the outs are locals.
            let status = unsafe { sys::napi_get_arraybuffer_info(self.raw, v.raw, &mut data, &mut n) };
            self.check(status, "arraybuffer")?;
            len = n;
        } else if is_ta {
            let (mut kind, mut count, mut ab, mut offset) = (0, 0usize, null_mut(), 0usize);
            // SAFETY: valid env; `v` is a typed array (asked by `buffer`; a value's type never changes); the outs are locals.
            let status =
                unsafe { sys::napi_get_typedarray_info(self.raw, v.raw, &mut kind, &mut count, &mut data, &mut ab, &mut offset) };
            self.check(status, "typedarray")?;
            let width = match kind {
                sys::TypedarrayType::int8_array | sys::TypedarrayType::uint8_array | sys::TypedarrayType::uint8_clamped_array => {
                    1
                }
                sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
                sys::TypedarrayType::int32_array | sys::TypedarrayType::uint32_array | sys::TypedarrayType::float32_array => 4,
                _ => 8,
            };
            len = count * width;
        } else {
            let (mut n, mut ab, mut offset) = (0usize, null_mut(), 0usize);
            // SAFETY: valid env; `v` is a DataView (asked by `buffer`; a value's type never changes); the outs are locals.
            let status = unsafe { sys::napi_get_dataview_info(self.raw, v.raw, &mut n, &mut data, &mut ab, &mut offset) };
            self.check(status, "dataview")?;
            len = n;
        }
        if len == 0 || data.is_null() {
            return Ok(&[]);
        }
        // SAFETY: Node reports `data` as the first byte of the view (offset applied) and `len` as
        // its byte length, inside the buffer's memory. That memory stays put and unchanged while
        // the value lives (handle scope 's, which outlasts this borrow of `self`) and no
        // JavaScript runs (every call that can run it takes `&mut self`).
        Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) })
    }

    /// An ArrayBuffer holding a copy of `bytes`.
    ///
    /// Above [`NO_ZERO_FILL_AT`] the copy goes through a Node Buffer, which V8 does not zero first.
    pub fn array_buffer_copy(&self, bytes: &[u8]) -> Js<Value<'s>> {
        if bytes.len() >= NO_ZERO_FILL_AT {
            let (mut node_buf, mut dst) = (null_mut(), null_mut());
            // SAFETY: valid env; `bytes` is readable for its length during the call (Node copies
            // it); the outs are locals.
            let status = unsafe {
                sys::napi_create_buffer_copy(self.raw, bytes.len(), bytes.as_ptr() as *const c_void, &mut dst, &mut node_buf)
            };
            if status == sys::Status::napi_ok {
                let (mut kind, mut count, mut data, mut ab, mut offset) = (0, 0usize, null_mut(), null_mut(), 0usize);
                let mut ab_len = 0usize;
                let mut ab_data = null_mut();
                // SAFETY: valid env; `node_buf` is the Buffer (a Uint8Array) just made, alive in
                // this handle scope; the outs are locals.
                let ta = unsafe {
                    sys::napi_get_typedarray_info(self.raw, node_buf, &mut kind, &mut count, &mut data, &mut ab, &mut offset)
                };
                if ta == sys::Status::napi_ok {
                    // SAFETY: valid env; `ab` is that typed array's ArrayBuffer, alive in this
                    // scope; the outs are locals.
                    let info = unsafe { sys::napi_get_arraybuffer_info(self.raw, ab, &mut ab_data, &mut ab_len) };
                    if info == sys::Status::napi_ok && offset == 0 && ab_len == bytes.len() {
                        return Ok(self.value(ab));
                    }
                }
            }
        }
        let (mut v, mut dst) = (null_mut(), null_mut());
        // SAFETY: valid env; the outs are locals.
        let status = unsafe { sys::napi_create_arraybuffer(self.raw, bytes.len(), &mut dst, &mut v) };
        self.check(status, "create_arraybuffer")?;
        if !bytes.is_empty() {
            // SAFETY: on success `dst` is the new buffer's `bytes.len()` writable bytes, owned by
            // V8 and referenced by nothing else yet; `bytes` is a different allocation.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst as *mut u8, bytes.len()) };
        }
        Ok(self.value(v))
    }

    /// A new ArrayBuffer of `len` bytes that V8 does not zero (made as a Node Buffer's, as
    /// `fs.readFileSync` makes its own), and where its bytes are: the caller fills all of them
    /// before any JavaScript can see the buffer. A zeroed ArrayBuffer if Node cannot make one.
    pub fn array_buffer_uninit(&self, len: usize) -> Js<(Value<'s>, *mut u8)> {
        let (mut node_buf, mut dst) = (null_mut(), null_mut());
        // SAFETY: valid env; the outs are locals.
        let status = unsafe { sys::napi_create_buffer(self.raw, len, &mut dst, &mut node_buf) };
        if status == sys::Status::napi_ok {
            let (mut kind, mut count, mut data, mut ab, mut offset) = (0, 0usize, null_mut(), null_mut(), 0usize);
            let (mut ab_len, mut ab_data) = (0usize, null_mut());
            // SAFETY: valid env; `node_buf` is the Buffer (a Uint8Array) just made, alive in this
            // handle scope; the outs are locals.
            let ta = unsafe {
                sys::napi_get_typedarray_info(self.raw, node_buf, &mut kind, &mut count, &mut data, &mut ab, &mut offset)
            };
            if ta == sys::Status::napi_ok {
                // SAFETY: valid env; `ab` is that typed array's ArrayBuffer, alive in this scope;
                // the outs are locals.
                let info = unsafe { sys::napi_get_arraybuffer_info(self.raw, ab, &mut ab_data, &mut ab_len) };
                if info == sys::Status::napi_ok && offset == 0 && ab_len == len && !ab_data.is_null() {
                    return Ok((self.value(ab), ab_data as *mut u8));
                }
            }
        }
        let (mut v, mut dst) = (null_mut(), null_mut());
        // SAFETY: valid env; the outs are locals.
        let status = unsafe { sys::napi_create_arraybuffer(self.raw, len, &mut dst, &mut v) };
        self.check(status, "create_arraybuffer")?;
        Ok((self.value(v), dst as *mut u8))
    }

    /// A new Float64Array holding `values`.
    pub fn float64_array(&self, values: &[f64]) -> Js<Value<'s>> {
        let bytes = std::mem::size_of_val(values);
        let (mut ab, mut dst) = (null_mut(), null_mut());
        // SAFETY: valid env; the outs are locals.
        let status = unsafe { sys::napi_create_arraybuffer(self.raw, bytes, &mut dst, &mut ab) };
        self.check(status, "create_arraybuffer")?;
        if bytes != 0 {
            // SAFETY: on success `dst` is the new buffer's `bytes` writable bytes (V8 allocates
            // ArrayBuffers aligned for any element type), referenced by nothing else yet.
            unsafe { std::ptr::copy_nonoverlapping(values.as_ptr() as *const u8, dst as *mut u8, bytes) };
        }
        let mut v = null_mut();
        // SAFETY: valid env; `ab` was just made, `values.len()` doubles long from offset 0.
        let status =
            unsafe { sys::napi_create_typedarray(self.raw, sys::TypedarrayType::float64_array, values.len(), ab, 0, &mut v) };
        self.check(status, "create_typedarray")?;
        Ok(self.value(v))
    }

    /// A new ArrayBuffer holding the first `n` bytes of the ArrayBuffer `ab` (all of them if it
    /// has fewer).
    pub fn array_buffer_head(&self, ab: Value<'s>, n: usize) -> Js<Value<'s>> {
        let (mut data, mut len) = (null_mut(), 0usize);
        // SAFETY: valid env; `ab` alive in 's (Node checks it is an ArrayBuffer); the outs are locals.
        let status = unsafe { sys::napi_get_arraybuffer_info(self.raw, ab.raw, &mut data, &mut len) };
        self.check(status, "arraybuffer")?;
        let head = if data.is_null() || n == 0 {
            &[][..]
        } else {
            // SAFETY: Node reports `len` bytes at `data`, the buffer's memory, which stays put while
            // `ab` lives (this handle scope) and no JavaScript runs (this borrows `self` shared).
            unsafe { std::slice::from_raw_parts(data as *const u8, n.min(len)) }
        };
        let copy = head.to_vec();
        self.array_buffer_copy(&copy)
    }

    /// `f(...args)` with `this` undefined, ignoring its result; an exception it throws stays
    /// pending (and becomes Node's uncaught exception when the addon returns).
    pub fn call_function(&mut self, f: Value<'s>, args: &[Value<'s>]) {
        let recv = self.undefined();
        let argv: Vec<napi_value> = args.iter().map(|a| a.raw).collect();
        let mut ret = null_mut();
        // SAFETY: valid env; every value alive in 's; `argv` holds `argv.len()` values for the
        // call; `ret` is a local. Node checks `f` is a function.
        unsafe { sys::napi_call_function(self.raw, recv.raw, f.raw, argv.len(), argv.as_ptr(), &mut ret) };
    }

    /// This environment's instance data, if it was set and is a `T`.
    pub fn instance<T: 'static>(&mut self) -> Option<&mut T> {
        let mut data: *mut c_void = null_mut();
        // SAFETY: valid env; `data` is a local.
        unsafe { sys::napi_get_instance_data(self.raw, &mut data) };
        if data.is_null() {
            return None;
        }
        // SAFETY: only `set_instance` sets instance data: a `Box<Box<dyn Any>>` leaked into Node,
        // freed by `free_instance` only at the environment's teardown, after its last call into
        // the addon. The `&mut` is unique: it borrows this `Env` mutably, so it ends before any
        // call that could run JavaScript (and so re-enter the addon) through this `Env`, and the
        // addon is entered on this thread only by Node, from JavaScript or the event loop.
        let any = unsafe { &mut *(data as *mut Box<dyn Any>) };
        any.downcast_mut::<T>()
    }

    /// Set this environment's instance data (once; freed when the environment is torn down).
    pub fn set_instance<T: 'static>(&mut self, value: T) -> Js<()> {
        let data = Box::into_raw(Box::new(Box::new(value) as Box<dyn Any>));
        // SAFETY: valid env; `data` is a leaked box that Node hands back to `free_instance`.
        let status = unsafe { sys::napi_set_instance_data(self.raw, data as *mut c_void, Some(free_instance), null_mut()) };
        if status != sys::Status::napi_ok {
            // SAFETY: Node did not take `data`; it is still the box leaked above, freed once here.
            drop(unsafe { Box::from_raw(data) });
        }
        self.check(status, "set_instance_data")
    }

    /// A thread-safe function that delivers each posted `T` to `f` on this environment's
    /// thread, not keeping Node alive (see [`Env::ref_tsfn`]), and its workers' end.
    pub fn threadsafe_function<T: Deliver>(&mut self, f: Value<'s>, name: &[u8]) -> Js<(Tsfn, Poster<T>)> {
        let name = self.make_string(name)?;
        let shared = Arc::new(Shared { tsfn: Mutex::new(None) });
        let finalize_data = Arc::into_raw(shared.clone()) as *mut c_void;
        let mut tsfn = null_mut();
        // Thread count 1, held by this environment for its lifetime: workers post without acquiring
        // (`Shared` guards them instead), so the last post can never race a release at exit.
        // SAFETY: valid env; `f` and `name` alive in 's (Node checks `f` is a function);
        // `finalize_data` is one strong count of `shared`, handed to `tsfn_finalized` once; the
        // callbacks match Node-API's signatures; `tsfn` is a local.
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                self.raw,
                f.raw,
                null_mut(),
                name.raw,
                0,
                1,
                finalize_data,
                Some(tsfn_finalized),
                null_mut(),
                Some(call_js::<T>),
                &mut tsfn,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: Node did not take `finalize_data`: release the count taken for it, once.
            drop(unsafe { Arc::from_raw(finalize_data as *const Shared) });
            return Err(self.throw(&format!("wxfs addon: create_threadsafe_function failed (Node-API status {status})")));
        }
        *shared.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = Some(tsfn as usize);
        let tsfn = Tsfn { raw: tsfn };
        // SAFETY: valid env; `tsfn` was just created for it.
        let status = unsafe { sys::napi_unref_threadsafe_function(self.raw, tsfn.raw) };
        self.check(status, "unref_threadsafe_function")?;
        Ok((tsfn, Poster { shared, _item: PhantomData }))
    }

    /// Let `tsfn` keep Node's event loop alive (while calls are pending).
    pub fn ref_tsfn(&mut self, tsfn: Tsfn) {
        // SAFETY: valid env; `tsfn` lives until this environment's teardown (see `Tsfn`).
        unsafe { sys::napi_ref_threadsafe_function(self.raw, tsfn.raw) };
    }

    /// Stop `tsfn` keeping Node's event loop alive.
    pub fn unref_tsfn(&mut self, tsfn: Tsfn) {
        // SAFETY: valid env; `tsfn` lives until this environment's teardown (see `Tsfn`).
        unsafe { sys::napi_unref_threadsafe_function(self.raw, tsfn.raw) };
    }
}

/// Result buffers are copied into memory V8 owns and released at once, not wrapped where they
/// lie: a wrapped buffer lives until the garbage collector finds it, so every large read would
/// fault in fresh pages (measured: a 20 MiB readFileSync took 23 ms wrapped, 12 ms copied, against
/// 3-5 ms for fs.readFileSync), while a buffer released at once is reused warm by the next call.
/// Above this size the copy goes through a Node Buffer, which V8 does not zero first.
const NO_ZERO_FILL_AT: usize = 64 * 1024;

/// # Safety
/// Called by Node only, with instance data that `Env::set_instance` set.
unsafe extern "C" fn free_instance(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<Box<dyn Any>>` leaked by `set_instance`; Node finalizes it once.
    drop(unsafe { Box::from_raw(data as *mut Box<dyn Any>) });
}

// ---- thread-safe functions -----------------------------------------------------------------------

/// A value a worker posts, delivered on the JS thread.
pub trait Deliver: Send + Sized + 'static {
    /// Runs on the JS thread of the environment, outside any other call into the addon, with the
    /// function the thread-safe function was made for.
    fn deliver<'s>(self, env: &mut Env<'s>, callback: Value<'s>);
}

/// The thread-safe function as the workers see it: `None` once Node has finalized it (the
/// environment is going away). A worker posts while holding the lock, and the finalizer takes
/// the lock before the function's memory is freed, so no post can touch a freed function.
struct Shared {
    tsfn: Mutex<Option<usize>>,
}

/// The workers' end of a thread-safe function: any thread may post.
pub struct Poster<T> {
    shared: Arc<Shared>,
    _item: PhantomData<fn(T)>,
}

impl<T> Clone for Poster<T> {
    fn clone(&self) -> Self {
        Poster { shared: self.shared.clone(), _item: PhantomData }
    }
}

impl<T: Deliver> Poster<T> {
    /// Queue `item` for delivery without waiting for the JS thread; drop it if the function is
    /// closing or gone (nobody is left to receive it).
    pub fn post(&self, item: T) {
        let item = Box::into_raw(Box::new(item));
        let guard = self.shared.tsfn.lock().unwrap_or_else(|p| p.into_inner());
        let posted = match *guard {
            // SAFETY: `Some` means Node has not finalized the function, and cannot while we hold
            // the lock (`tsfn_finalized` takes it first); calling a thread-safe function is allowed
            // from any thread. On success Node owns `item` and hands it to `call_js::<T>` once.
            Some(tsfn) => unsafe {
                sys::napi_call_threadsafe_function(
                    tsfn as sys::napi_threadsafe_function,
                    item as *mut c_void,
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            },
            None => sys::Status::napi_closing,
        };
        drop(guard);
        if posted != sys::Status::napi_ok {
            // SAFETY: not queued, so `item` is still the box leaked above, reclaimed once here.
            drop(unsafe { Box::from_raw(item) });
        }
    }
}

/// # Safety
/// Called by Node only, as the finalizer of a thread-safe function made by `threadsafe_function`.
unsafe extern "C" fn tsfn_finalized(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the strong count `threadsafe_function` leaked for this finalizer, called once.
    let shared = unsafe { Arc::from_raw(data as *const Shared) };
    *shared.tsfn.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// # Safety
/// Called by Node only, as the `call_js` of a thread-safe function made for `T`, with `data`
/// from `Poster::<T>::post`.
unsafe extern "C" fn call_js<T: Deliver>(env: napi_env, js_cb: napi_value, _ctx: *mut c_void, data: *mut c_void) {
    // SAFETY: `data` is the `Box<T>` `post` leaked and Node queued; Node hands each one over once.
    let item = unsafe { Box::from_raw(data as *mut T) };
    if env.is_null() {
        // The environment is being torn down: nobody is left to receive it.
        return;
    }
    // SAFETY: Node passes the env of this delivery, in a handle scope it opened around this
    // call; `env` lives on this frame only.
    let mut env = unsafe { Env::from_raw(env) };
    let callback = env.value(js_cb);
    (*item).deliver(&mut env, callback);
}

// ---- exports -------------------------------------------------------------------------------------

/// # Safety
/// Called by Node only, as a function made by `napi_register_module_v1`, whose data is a
/// `&'static Export`.
unsafe extern "C" fn trampoline(raw: napi_env, info: napi_callback_info) -> napi_value {
    let mut argv: [napi_value; MAX_ARGS] = [null_mut(); MAX_ARGS];
    let mut argc = MAX_ARGS;
    let mut data: *mut c_void = null_mut();
    // SAFETY: Node passes the env and callback info of this call; `argv` has room for `argc`
    // values (Node fills the slots past the arguments given with `undefined`); `argc` and `data`
    // are locals.
    let status = unsafe { sys::napi_get_cb_info(raw, info, &mut argc, argv.as_mut_ptr(), null_mut(), &mut data) };
    // SAFETY: Node passes the env of this call, in the handle scope it opened for it; `env`
    // lives on this frame only.
    let mut env = unsafe { Env::from_raw(raw) };
    if env.check(status, "get_cb_info").is_err() {
        return null_mut();
    }
    // SAFETY: every function the addon creates has a `&'static Export` as its data.
    let export = unsafe { &*(data as *const Export) };
    let args = argv.map(|raw| env.value(raw));
    // A panic must not unwind into Node.
    match catch_unwind(AssertUnwindSafe(|| (export.f)(&mut env, args))) {
        Ok(Ok(v)) => v.raw,
        Ok(Err(Thrown)) => null_mut(),
        Err(_) => {
            env.throw(&format!("wxfs addon: internal error in {}", export.rust_name));
            null_mut()
        }
    }
}

/// Node-API's symbols, resolved from the running node on first load and kept for the process.
static NODE: OnceLock<libloading::Library> = OnceLock::new();

/// Node's entry point for an addon that does not self-register: the exports are `crate::EXPORTS`.
///
/// # Safety
/// Called by Node only, with a valid env and the module's exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    // SAFETY: resolves Node-API's symbols from the running process (node itself), once; the
    // library is kept in a static for as long as any Node-API function may be called.
    NODE.get_or_init(|| unsafe { sys::setup() });
    for export in crate::EXPORTS.iter() {
        let name = export.name.to_bytes_with_nul();
        let mut func = null_mut();
        // SAFETY: Node passes a valid env; `name` is NUL-terminated and read for its length
        // (without the NUL); `trampoline` matches napi_callback; the data is a `&'static Export`,
        // which `trampoline` reads back; `func` is a local.
        let status = unsafe {
            sys::napi_create_function(
                env,
                name.as_ptr() as *const c_char,
                name.len() as isize - 1,
                Some(trampoline),
                export as *const Export as *mut c_void,
                &mut func,
            )
        };
        if status != sys::Status::napi_ok {
            return null_mut();
        }
        // SAFETY: valid env; `exports` is the object Node passed; `name` is NUL-terminated;
        // `func` was just created in this handle scope.
        unsafe { sys::napi_set_named_property(env, exports, name.as_ptr() as *const c_char, func) };
    }
    exports
}
