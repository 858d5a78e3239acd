//! The typed C API beside the bridge (docs/design.md §8): no JSON, byte buffers in and out.
//!
//! Each function returns 0, the errCode of an API failure (the reason is the thread's last
//! error message), or a negative `WXFS_E_*`. Outputs are written only on success.

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::guard::{clear_last_error, guard, set_last_error};
use super::{borrow, bytes_out, wxfs_bytes, WXFS_E_IO, WXFS_E_JSON, WXFS_E_NULL, WXFS_E_UTF8, WXFS_OK};
use crate::error::{code, Error};
use crate::fs::TempSource;
use crate::session::Session;
use crate::storage::Stamp;

/// Files at least this large are handed out mapped rather than copied.
const MAP_THRESHOLD: u64 = 64 * 1024;

type Res<T> = std::result::Result<T, i32>;

/// The session behind a handle, once this thread's async calls on it have taken effect.
fn session(h: u64) -> Res<Arc<Session>> {
    let s = super::lookup(h).map_err(|(code, why)| {
        set_last_error(why);
        code
    })?;
    super::pool::POOL.wait_settled(&super::pool::key(&s));
    Ok(s)
}

/// A required UTF-8 string parameter.
unsafe fn text<'a>(ptr: *const c_char, len: usize, name: &str) -> Res<&'a str> {
    // SAFETY: forwarded from the caller of the export.
    let raw = unsafe { borrow(ptr, len) }.ok_or_else(|| {
        set_last_error(format!("{name} is NULL"));
        WXFS_E_NULL
    })?;
    std::str::from_utf8(raw).map_err(|_| {
        set_last_error(format!("{name} is not valid UTF-8"));
        WXFS_E_UTF8
    })
}

/// A key to look up, as bytes: the lookup needs no UTF-8 check, since a stored key is UTF-8
/// (`Store::with_bytes`); call `not_found` when it finds nothing.
unsafe fn key_bytes<'a>(ptr: *const c_char, len: usize) -> Res<&'a [u8]> {
    // SAFETY: forwarded from the caller of the export.
    unsafe { borrow(ptr, len) }.ok_or_else(|| {
        set_last_error("key is NULL");
        WXFS_E_NULL
    })
}

/// The status of a get whose key was not found: `WXFS_E_UTF8` when the key is not UTF-8 (it
/// could never have been stored), else 1400001.
fn not_found(key: &[u8]) -> i32 {
    if std::str::from_utf8(key).is_err() {
        set_last_error("key is not valid UTF-8");
        return WXFS_E_UTF8;
    }
    set_last_error("data not found");
    code::STORAGE_NOT_FOUND as i32
}

/// An optional string: NULL (with any length) means absent.
unsafe fn opt_text<'a>(ptr: *const c_char, len: usize, name: &str) -> Res<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded.
    unsafe { text(ptr, len, name) }.map(Some)
}

fn api(e: impl Into<Error>) -> i32 {
    let e = e.into();
    set_last_error(e.reason);
    e.code as i32
}

/// [`api`] for a call of `export` on `s`: a limit's refusal is an event too (docs/design.md §6).
fn api_in<'a>(s: &'a Session, export: &'static str) -> impl FnOnce(Error) -> i32 + 'a {
    move |e| {
        s.refused(export, &e);
        api(e)
    }
}

fn out<T>(ptr: *mut T, name: &str) -> Res<*mut T> {
    if ptr.is_null() {
        set_last_error(format!("{name} is NULL"));
        return Err(WXFS_E_NULL);
    }
    Ok(ptr)
}

fn run(f: impl FnOnce() -> Res<()>) -> i32 {
    guard(|| {
        clear_last_error();
        match f() {
            Ok(()) => WXFS_OK,
            Err(c) => c,
        }
    })
}

/// Write `value` to a checked out-pointer.
fn put<T>(ptr: *mut T, value: T) {
    // SAFETY: callers pass pointers checked by `out`; the host provides writable storage.
    unsafe { ptr.write(value) }
}

/// Read a whole file (any readable virtual path). Saved, temp and package files of 64 KiB and
/// more are returned mapped, not copied; user files are copied (they can change in place).
/// Release `*out_data` with `wxfs_bytes_free`. File contents are not NUL-terminated. Fails
/// with the readFile errCodes (1300002, 1300202 beyond the readFile limit, ...).
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_read_file(sandbox: u64, path: *const c_char, path_len: usize, out_data: *mut wxfs_bytes) -> i32 {
    run(|| {
        let out_data = out(out_data, "out_data")?;
        // SAFETY: forwarded.
        let path = unsafe { text(path, path_len, "path") }?;
        let s = session(sandbox)?;
        let f = s.fs.open_for_map(path).map_err(api)?;
        if f.mappable && f.len >= MAP_THRESHOLD {
            // SAFETY: no call changes this file in place while it is pinned (saved, temp and
            // package files are only replaced by rename, and a pinned temp file is copied, not
            // moved, into usr), so the mapping stays valid until the host frees it.
            let map = unsafe { Mmap::map(&f.file) }.map_err(|e| api(Error::system(&e)))?;
            s.fs.pin_mapped(&f);
            let len = map.len();
            let data = super::handed::mapping(map, Some((Arc::downgrade(&s), f.id)));
            put(out_data, wxfs_bytes { data, len });
        } else {
            let data = crate::fs::read_exact_at(&f.file, 0, f.len).map_err(|e| api(Error::system(&e)))?;
            put(out_data, bytes_out(data));
        }
        Ok(())
    })
}

/// The host's allocator for [`wxfs_read_file_alloc`]: `len` (never 0) writable bytes that the
/// host owns, or NULL when it has none to give.
pub type wxfs_alloc_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, len: usize) -> *mut u8>;

/// Read a whole file (any readable virtual path) straight into memory the host allocates, for a
/// host whose runtime must own the bytes (a JavaScript engine's ArrayBuffer): no copy from the
/// library's memory to the host's. Once the file is open and checked, and only then, `alloc` is
/// called once, on this thread, with the file's size, and the file is read into what it
/// returns; `*out_len` receives how many bytes were read: the size, or fewer if the file shrank
/// meanwhile (the rest of the host's memory is then unwritten). An empty file is not allocated
/// for: `*out_len` is 0. Fails as `wxfs_read_file` does, before `alloc` is called (1300002,
/// 1300202 beyond the readFile limit, ...), `WXFS_E_NULL` when `alloc` is NULL or returns NULL,
/// and with the readFile errCode of an I/O error after it (the host's memory is still the
/// host's). Thread-safe.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; a non-NULL pointer `alloc` returns is writable for `len` bytes until
/// this function returns, and overlaps nothing the library owns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_read_file_alloc(
    sandbox: u64,
    path: *const c_char,
    path_len: usize,
    alloc: wxfs_alloc_fn,
    userdata: *mut c_void,
    out_len: *mut usize,
) -> i32 {
    run(|| {
        let out_len = out(out_len, "out_len")?;
        let Some(alloc) = alloc else {
            set_last_error("alloc is NULL");
            return Err(WXFS_E_NULL);
        };
        // SAFETY: forwarded.
        let path = unsafe { text(path, path_len, "path") }?;
        let s = session(sandbox)?;
        let f = s.fs.open_for_map(path).map_err(api)?;
        if f.len == 0 {
            put(out_len, 0);
            return Ok(());
        }
        let len =
            usize::try_from(f.len).map_err(|_| api(Error::system(&std::io::Error::from(std::io::ErrorKind::OutOfMemory))))?;
        // SAFETY: the host's function, called as its type says.
        let data = unsafe { alloc(userdata, len) };
        if data.is_null() {
            set_last_error("alloc returned NULL");
            return Err(WXFS_E_NULL);
        }
        // SAFETY: the host gave `len` writable bytes at `data`, owned by nothing of the library's
        // (the function's contract), for the rest of this call.
        let buf = unsafe { std::slice::from_raw_parts_mut(data, len) };
        let done = read_at_into(&f.file, buf).map_err(|e| api(Error::system(&e)))?;
        put(out_len, done);
        Ok(())
    })
}

/// Fill `buf` from the start of `file`, as far as the file goes: the count read.
fn read_at_into(file: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0usize;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// writeFile of raw bytes into a user file (`wxfile://usr/...`), atomically replaced.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_write_file(
    sandbox: u64,
    path: *const c_char,
    path_len: usize,
    data: *const u8,
    data_len: usize,
) -> i32 {
    run(|| {
        // SAFETY: forwarded.
        let path = unsafe { text(path, path_len, "path") }?;
        // SAFETY: forwarded.
        let data = unsafe { borrow(data as *const c_char, data_len) }.ok_or_else(|| {
            set_last_error("data is NULL");
            WXFS_E_NULL
        })?;
        let s = session(sandbox)?;
        s.fs.write_file(path, data).map_err(api_in(&s, "wxfs_write_file"))
    })
}

/// saveFile: move a temp file into the saved area (`file_path` NULL) or to a user path.
/// `*out_saved_path` receives the new virtual path (NUL-terminated); free it.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_save_file(
    sandbox: u64,
    temp_path: *const c_char,
    temp_len: usize,
    file_path: *const c_char,
    file_len: usize,
    out_saved_path: *mut wxfs_bytes,
) -> i32 {
    run(|| {
        let out_saved_path = out(out_saved_path, "out_saved_path")?;
        // SAFETY: forwarded.
        let (temp, file) = unsafe { (text(temp_path, temp_len, "temp_path")?, opt_text(file_path, file_len, "file_path")?) };
        let s = session(sandbox)?;
        let saved = s.fs.save_file(temp, file).map_err(api_in(&s, "wxfs_save_file"))?;
        put(out_saved_path, bytes_out(saved.into_bytes()));
        Ok(())
    })
}

/// Create a temp file from bytes, as a download would; `extension` may be NULL.
/// `*out_temp_path` receives its virtual path; free it.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_temp_create(
    sandbox: u64,
    data: *const u8,
    data_len: usize,
    extension: *const c_char,
    extension_len: usize,
    out_temp_path: *mut wxfs_bytes,
) -> i32 {
    run(|| {
        let out_temp_path = out(out_temp_path, "out_temp_path")?;
        // SAFETY: forwarded.
        let data = unsafe { borrow(data as *const c_char, data_len) }.ok_or_else(|| {
            set_last_error("data is NULL");
            WXFS_E_NULL
        })?;
        // SAFETY: forwarded.
        let ext = unsafe { opt_text(extension, extension_len, "extension") }?;
        let s = session(sandbox)?;
        let p = s.fs.create_temp(TempSource::Bytes(data), ext).map_err(api_in(&s, "wxfs_temp_create"))?;
        put(out_temp_path, bytes_out(p.into_bytes()));
        Ok(())
    })
}

/// The OS path behind a readable virtual path, for an image view or a player. Free it.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_real_path(
    sandbox: u64,
    path: *const c_char,
    path_len: usize,
    out_real_path: *mut wxfs_bytes,
) -> i32 {
    run(|| {
        let out_real_path = out(out_real_path, "out_real_path")?;
        // SAFETY: forwarded.
        let path = unsafe { text(path, path_len, "path") }?;
        let p = session(sandbox)?.fs.real_path(path).map_err(api)?;
        put(out_real_path, bytes_out(p.to_string_lossy().into_owned().into_bytes()));
        Ok(())
    })
}

/// setStorage: `json` is the value as JSON text; `data_type` (may be NULL) is kept beside it.
/// Key, JSON and dataType bytes count against the limits. Returns 1400002 / 1400003 over the
/// item / total limit (the old value stays), 1400004 for an empty key, `WXFS_E_JSON` when
/// `json` is not what `setStorageSync` accepts as data: not JSON, a lone surrogate escape, a
/// number out of range, or nesting deeper than 126 levels.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_storage_set(
    sandbox: u64,
    key: *const c_char,
    key_len: usize,
    json: *const c_char,
    json_len: usize,
    data_type: *const c_char,
    data_type_len: usize,
) -> i32 {
    run(|| {
        // SAFETY: forwarded.
        let (key, json, dt) = unsafe {
            (text(key, key_len, "key")?, text(json, json_len, "json")?, opt_text(data_type, data_type_len, "data_type")?)
        };
        // The bridge's own validator: what is stored here reads back through either entry point.
        let data = crate::bridge::storage_api::stored_text(json).map_err(|why| {
            set_last_error(format!("json is not valid JSON: {why}"));
            WXFS_E_JSON
        })?;
        let s = session(sandbox)?;
        s.crypt.set(&s.store, key, dt, &data, s.storage_limits(false)).map_err(|e| api_in(&s, "wxfs_storage_set")(e.into()))
    })
}

/// getStorage: `*out_json` receives the value's JSON text; `out_data_type` (may be NULL)
/// receives its dataType, or `{NULL, 0}` when it has none. Free both. A missing key returns
/// 1400001 ("data not found"), and so does an item set with `encrypt: true` (read it through the
/// bridge's `getStorage` with `encrypt: true`).
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_storage_get(
    sandbox: u64,
    key: *const c_char,
    key_len: usize,
    out_json: *mut wxfs_bytes,
    out_data_type: *mut wxfs_bytes,
) -> i32 {
    run(|| {
        let out_json = out(out_json, "out_json")?;
        // SAFETY: forwarded.
        let key = unsafe { key_bytes(key, key_len) }?;
        let s = session(sandbox)?;
        let found = s.store.with_bytes(key, |v| {
            put(out_json, super::bytes_copy(v.data));
            if !out_data_type.is_null() {
                let dt = match v.data_type {
                    Some(t) => super::bytes_copy(t),
                    None => wxfs_bytes { data: std::ptr::null_mut(), len: 0 },
                };
                put(out_data_type, dt);
            }
        });
        found.ok_or_else(|| not_found(key))
    })
}

/// Which stored value `wxfs_storage_get_stamped` read: kept by the caller beside the value, and
/// given back to learn whether the key still holds it. All zeros names no value. Opaque: only
/// compared by the library.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wxfs_storage_stamp {
    /// The store, among those the process opened.
    pub store: u64,
    /// Its log file: compactions since it opened.
    pub generation: u64,
    /// The value's record: the offset of its key in that file.
    pub at: u64,
}

/// getStorage for a caller that keeps values it read (a JavaScript engine's glue keeps the
/// string it made): `*inout_stamp` names the value the caller holds for this key (all zeros for
/// none). Returns 0 and, when the key's value is still that one, sets `*out_json` to `{NULL, 0}`
/// and copies nothing (stored JSON is never empty, so this is unambiguous); otherwise
/// `*out_json` (and `*out_data_type`, which may be NULL) receive the value as from
/// `wxfs_storage_get`, and `*inout_stamp` its stamp. Free both. A stamp names one value of one
/// open store exactly: any set, removal or clear of the key, a compaction, or a close and reopen
/// gives a different stamp, so a kept value is never taken for a newer one. A missing key, or an
/// item set with `encrypt: true`, returns 1400001 and writes nothing.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*` and `inout_*`,
/// readable and writable) for the duration of the call; bytes handed out by the library are
/// released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_storage_get_stamped(
    sandbox: u64,
    key: *const c_char,
    key_len: usize,
    inout_stamp: *mut wxfs_storage_stamp,
    out_json: *mut wxfs_bytes,
    out_data_type: *mut wxfs_bytes,
) -> i32 {
    run(|| {
        let inout_stamp = out(inout_stamp, "inout_stamp")?;
        let out_json = out(out_json, "out_json")?;
        // SAFETY: forwarded.
        let key = unsafe { key_bytes(key, key_len) }?;
        // SAFETY: `inout_stamp` is non-NULL (checked) and readable, the caller's promise.
        let known = unsafe { *inout_stamp };
        let known = Stamp { store: known.store, generation: known.generation, at: known.at };
        let s = session(sandbox)?;
        let found = s.store.with_bytes_stamped(key, known, |v, stamp| {
            let none = || wxfs_bytes { data: std::ptr::null_mut(), len: 0 };
            put(out_json, v.as_ref().map_or_else(none, |v| super::bytes_copy(v.data)));
            if !out_data_type.is_null() {
                put(out_data_type, v.and_then(|v| v.data_type).map_or_else(none, super::bytes_copy));
            }
            put(inout_stamp, wxfs_storage_stamp { store: stamp.store, generation: stamp.generation, at: stamp.at });
        });
        found.ok_or_else(|| not_found(key))
    })
}

/// getStorage into a buffer the caller owns (and reuses): the value's JSON text is copied to
/// `buf`, not NUL-terminated, and nothing is allocated. `*out_len` (required) receives the
/// value's length in bytes. Returns 0 when it fit (`*out_len` bytes were written);
/// `WXFS_E_BUFFER_TOO_SMALL` when it is longer than `cap`: nothing is written to `buf`, and
/// `*out_len` is the size needed (call again with a buffer that large; `buf` NULL with `cap` 0
/// asks for the size alone). As `wxfs_storage_get` otherwise: a missing key, or an item set
/// with `encrypt: true`, returns 1400001 ("data not found") and writes nothing; the dataType is
/// read with `wxfs_storage_get`.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; `buf` is writable for `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_storage_get_into(
    sandbox: u64,
    key: *const c_char,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> i32 {
    run(|| {
        let out_len = out(out_len, "out_len")?;
        if buf.is_null() && cap != 0 {
            set_last_error("buf is NULL");
            return Err(WXFS_E_NULL);
        }
        // SAFETY: forwarded.
        let key = unsafe { key_bytes(key, key_len) }?;
        let s = session(sandbox)?;
        let fit = s.store.with_bytes(key, |v| {
            put(out_len, v.data.len());
            if v.data.len() > cap {
                return false;
            }
            if !v.data.is_empty() {
                // SAFETY: `buf` is non-NULL (a NULL `buf` has `cap` 0, which only an empty value
                // fits) and writable for `cap >= v.data.len()` bytes; it cannot overlap the
                // log's mapping, which the library alone owns.
                unsafe { std::ptr::copy_nonoverlapping(v.data.as_ptr(), buf, v.data.len()) };
            }
            true
        });
        match fit {
            Some(true) => Ok(()),
            Some(false) => {
                set_last_error("buf is too small for the value; *out_len is the size needed");
                Err(super::WXFS_E_BUFFER_TOO_SMALL)
            }
            None => Err(not_found(key)),
        }
    })
}

/// removeStorage; removing a missing key succeeds.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_storage_remove(sandbox: u64, key: *const c_char, key_len: usize) -> i32 {
    run(|| {
        // SAFETY: forwarded.
        let key = unsafe { text(key, key_len, "key") }?;
        let s = session(sandbox)?;
        s.crypt.remove(&s.store, key).map_err(api)
    })
}

/// clearStorage.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_storage_clear(sandbox: u64) -> i32 {
    run(|| {
        let s = session(sandbox)?;
        s.crypt.clear(&s.store).map_err(api)
    })
}

/// getStorageInfo in bytes: bytes used (UTF-8 of keys + JSON of values), the limit, and the
/// number of keys. Any out-pointer may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wxfs_storage_info(
    sandbox: u64,
    out_current_bytes: *mut u64,
    out_limit_bytes: *mut u64,
    out_key_count: *mut u64,
) -> i32 {
    run(|| {
        let s = session(sandbox)?;
        for (ptr, v) in [
            (out_current_bytes, s.store.size()),
            (out_limit_bytes, s.config.limits.storage_total),
            (out_key_count, s.crypt.keys(&s.store).len() as u64),
        ] {
            if !ptr.is_null() {
                put(ptr, v);
            }
        }
        Ok(())
    })
}

/// Trim the temp areas of every sandbox under `root` to `temp_limit` bytes together (0 means
/// the default 6 GiB), least recently used sandbox first; open sandboxes are skipped. Every
/// platform's sandboxes under `root` take part (they live side by side, see `platform`).
/// `*out_freed` (may be NULL) receives the bytes freed.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_gc(root: *const c_char, root_len: usize, temp_limit: u64, out_freed: *mut u64) -> i32 {
    run(|| {
        // SAFETY: forwarded.
        let root = unsafe { text(root, root_len, "root") }?;
        let limit = if temp_limit == 0 { crate::quota::Limits::default().temp_all_sandboxes } else { temp_limit };
        let r = crate::session::gc(Path::new(root), limit, |_, _| {}).map_err(|e| {
            set_last_error(format!("gc failed: {e}"));
            WXFS_E_IO
        })?;
        if !out_freed.is_null() {
            put(out_freed, r.before - r.after);
        }
        Ok(())
    })
}

/// Delete all files and storage of one (user, app), as when the user deletes the mini-program.
/// Returns `WXFS_E_BUSY` while the sandbox is open anywhere; 0 also when there was nothing (use
/// `wxfs_remove_sandbox_v2` to learn which).
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_remove_sandbox(
    root: *const c_char,
    root_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    app_id: *const c_char,
    app_id_len: usize,
) -> i32 {
    // SAFETY: forwarded.
    run(|| unsafe { remove_sandbox(root, root_len, user_id, user_id_len, app_id, app_id_len) }.map(|_| ()))
}

/// `wxfs_remove_sandbox`, saying whether there was a sandbox: `*out_removed` (required) is true
/// when the sandbox of (user, app) existed and was deleted, false when there was none under
/// `root` (a mistyped root or ids, or removed before). Returns 0, `WXFS_E_NULL`, `WXFS_E_UTF8`,
/// `WXFS_E_BUSY` while the sandbox is open anywhere, or `WXFS_E_IO`. Thread-safe.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_remove_sandbox_v2(
    root: *const c_char,
    root_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    app_id: *const c_char,
    app_id_len: usize,
    out_removed: *mut bool,
) -> i32 {
    run(|| {
        let out_removed = out(out_removed, "out_removed")?;
        // SAFETY: forwarded.
        let removed = unsafe { remove_sandbox(root, root_len, user_id, user_id_len, app_id, app_id_len) }?;
        put(out_removed, removed);
        Ok(())
    })
}

/// `wxfs_remove_sandbox_v2` for the sandbox a config names: `config_json`/`config_len` is
/// `wxfs_open`'s config (`root`, `appId`, `userId` and `platform` choose the sandbox; other
/// fields are checked and ignored), so a platform's sandbox (`"platform": "alipay"`, ...) can
/// be addressed. `*out_removed` (may be NULL) is true when the sandbox existed and was deleted.
/// Returns 0, `WXFS_E_NULL`, `WXFS_E_UTF8`, `WXFS_E_CONFIG` (the message names the field),
/// `WXFS_E_BUSY` while the sandbox is open anywhere, or `WXFS_E_IO`. Thread-safe.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_remove_sandbox_config(
    config_json: *const c_char,
    config_len: usize,
    out_removed: *mut bool,
) -> i32 {
    run(|| {
        // SAFETY: forwarded.
        let text = unsafe { text(config_json, config_len, "config_json") }?;
        let config = crate::bridge::config::parse(text).map_err(|why| {
            set_last_error(why);
            super::WXFS_E_CONFIG
        })?;
        let removed = crate::session::remove_sandbox_of(&config).map_err(super::open_failed)?;
        if !out_removed.is_null() {
            put(out_removed, removed);
        }
        Ok(())
    })
}

unsafe fn remove_sandbox(
    root: *const c_char,
    root_len: usize,
    user_id: *const c_char,
    user_id_len: usize,
    app_id: *const c_char,
    app_id_len: usize,
) -> Res<bool> {
    // SAFETY: forwarded.
    let (root, user, app) =
        unsafe { (text(root, root_len, "root")?, text(user_id, user_id_len, "user_id")?, text(app_id, app_id_len, "app_id")?) };
    crate::session::remove_sandbox(Path::new(root), user, app).map_err(super::open_failed)
}

/// host.resolveBufferURL: a copy of the bytes behind a `wxblob://` URL that `createBufferURL`
/// made in this sandbox, into `*out_data` (free it with `wxfs_bytes_free`). A URL the sandbox
/// does not hold (revoked, another sandbox's, closed) returns 1300002 ("no such buffer url").
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_buffer_url_resolve(
    sandbox: u64,
    url: *const c_char,
    url_len: usize,
    out_data: *mut wxfs_bytes,
) -> i32 {
    run(|| {
        let out_data = out(out_data, "out_data")?;
        // SAFETY: forwarded.
        let url = unsafe { text(url, url_len, "url") }?;
        let s = session(sandbox)?;
        let bytes =
            s.buffer_urls.resolve(url).ok_or_else(|| api(Error::new(code::NO_SUCH_FILE, format!("no such buffer url {url}"))))?;
        put(out_data, super::bytes_copy(&bytes));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::c_void;

    /// The host side of `wxfs_read_file_alloc` in a test: a Vec it hands out, and the sizes asked.
    #[derive(Default)]
    struct Host {
        buf: Vec<u8>,
        asked: Vec<usize>,
        refuse: bool,
    }

    unsafe extern "C" fn host_alloc(userdata: *mut c_void, len: usize) -> *mut u8 {
        // SAFETY: the test passes a live `&mut Host` as userdata.
        let host = unsafe { &mut *(userdata as *mut Host) };
        host.asked.push(len);
        if host.refuse {
            return std::ptr::null_mut();
        }
        host.buf = vec![0xAA; len];
        host.buf.as_mut_ptr()
    }

    fn open(root: &Path, limits: &str) -> u64 {
        let config = format!(r#"{{"root":{:?},"appId":"wx1","userId":"u1","limits":{limits}}}"#, root.to_str().unwrap());
        let mut h = 0u64;
        // SAFETY: a valid config string and a local out-pointer.
        assert_eq!(unsafe { super::super::wxfs_open(config.as_ptr().cast(), config.len(), &mut h) }, 0);
        h
    }

    fn write(h: u64, path: &str, data: &[u8]) {
        // SAFETY: valid pointers for their lengths.
        assert_eq!(unsafe { wxfs_write_file(h, path.as_ptr().cast(), path.len(), data.as_ptr(), data.len()) }, 0);
    }

    fn read(h: u64, path: &str, host: &mut Host) -> (i32, usize) {
        let mut n = usize::MAX;
        // SAFETY: valid pointers; `host_alloc` gets the live `host`.
        let rc = unsafe {
            wxfs_read_file_alloc(h, path.as_ptr().cast(), path.len(), Some(host_alloc), host as *mut Host as *mut c_void, &mut n)
        };
        (rc, n)
    }

    #[test]
    fn read_file_alloc_reads_into_the_hosts_memory_and_asks_only_once_the_file_is_known() {
        let dir = std::env::temp_dir().join(format!("wxfs-read-alloc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let h = open(&dir, r#"{"readFile":1000}"#);
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        write(h, "wxfile://usr/a.bin", &data);
        let mut host = Host::default();
        assert_eq!(read(h, "wxfile://usr/a.bin", &mut host), (0, 1000));
        assert_eq!(host.asked, [1000]);
        assert!(host.buf == data, "the host's memory holds the file");

        // An empty file: nothing asked, 0 read.
        write(h, "wxfile://usr/empty", b"");
        let mut host = Host::default();
        assert_eq!(read(h, "wxfile://usr/empty", &mut host), (0, 0));
        assert!(host.asked.is_empty());

        // Failures the file gives are readFile's, before any memory is asked for.
        let mut host = Host::default();
        assert_eq!(read(h, "wxfile://usr/none", &mut host).0, code::NO_SUCH_FILE as i32);
        write(h, "wxfile://usr/big.bin", &[1u8; 1001]);
        let rc = read(h, "wxfile://usr/big.bin", &mut host).0;
        assert_eq!(rc, 1300202, "beyond the readFile limit");
        assert!(host.asked.is_empty(), "asked {:?} for a read that failed", host.asked);

        // A host with no memory to give, or no allocator: WXFS_E_NULL, nothing written out.
        let mut host = Host { refuse: true, ..Host::default() };
        assert_eq!(read(h, "wxfile://usr/a.bin", &mut host), (WXFS_E_NULL, usize::MAX));
        assert_eq!(host.asked, [1000]);
        let path = "wxfile://usr/a.bin";
        let mut n = 7usize;
        // SAFETY: valid pointers; no allocator.
        let rc = unsafe { wxfs_read_file_alloc(h, path.as_ptr().cast(), path.len(), None, std::ptr::null_mut(), &mut n) };
        assert_eq!((rc, n), (WXFS_E_NULL, 7));
        assert_eq!(super::super::wxfs_close(h), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
