//! `wxfs_import_mmkv`: a host's old MMKV storage into an open sandbox (docs/import-mmkv.md).

use std::ffi::c_char;
use std::path::Path;

use super::guard::{clear_last_error, guard, set_last_error};
use super::{borrow, bytes_out, wxfs_bytes, WXFS_E_IMPORT_REFUSED, WXFS_E_JSON, WXFS_E_NULL, WXFS_E_UTF8, WXFS_OK};
use crate::import::{self, ImportError, Layout, Options};

/// `options_json`'s fields.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ImportOptions {
    layout: Option<String>,
    key: Option<String>,
    #[serde(rename = "keyHex")]
    key_hex: Option<String>,
    #[serde(default)]
    recover: bool,
}

fn text<'a>(raw: Option<&'a [u8]>, name: &str) -> Result<&'a str, i32> {
    let raw = raw.ok_or_else(|| {
        set_last_error(format!("{name} is NULL"));
        WXFS_E_NULL
    })?;
    std::str::from_utf8(raw).map_err(|_| {
        set_last_error(format!("{name} is not valid UTF-8"));
        WXFS_E_UTF8
    })
}

fn options(json: &str) -> Result<Options, String> {
    let o: ImportOptions = if json.trim().is_empty() {
        ImportOptions::default()
    } else {
        serde_json::from_str(json).map_err(|e| format!("options_json: {e}"))?
    };
    let layout = match o.layout.as_deref() {
        None | Some("auto") => None,
        Some(name) => Some(
            Layout::parse(name)
                .ok_or_else(|| format!("options_json: layout {name:?} is none of \"auto\", \"android\", \"ios\", \"harmony\""))?,
        ),
    };
    let key = match (o.key, o.key_hex) {
        (Some(_), Some(_)) => return Err("options_json: give key or keyHex, not both".into()),
        (Some(k), None) => Some(k.into_bytes()),
        (None, Some(h)) => Some(hex::decode(h).map_err(|e| format!("options_json: keyHex: {e}"))?),
        (None, None) => None,
    };
    Ok(Options { layout, key, recover: o.recover })
}

/// Import the MMKV store `mmkv_id` of directory `mmkv_dir` (the files `<mmkv_dir>/<mmkv_id>` and
/// `<mmkv_id>.crc`), as a Dimina container wrote it, into the storage of the open `sandbox`.
///
/// `options_json` (NULL or empty: none): `{"layout": "auto" | "android" | "ios" | "harmony",
/// "key": "the store's encryption key" | "keyHex": "...", "recover": false}`. `auto` (the
/// default) takes the layout from the id: `com.dimina.storage.*` iOS, `dimina_mmkv_*` HarmonyOS,
/// else Android.
///
/// All or nothing: on 0 every importable key was written through the storage api (limits,
/// journal and durability apply) and `*out_report` (required; free it with `wxfs_bytes_free`)
/// is JSON: `{"layout", "encrypted", "damaged": null | "why", "imported", "importedBytes",
/// "skipped": [{"key", "reason"}], "typeRecords"}`; a key is skipped when it is over the item
/// limit or holds no value a mini-program could have stored. Otherwise nothing changed and the
/// last error message says why: `WXFS_E_IMPORT_REFUSED` (the store: damaged, encrypted without
/// its key, missing), the storage errCode when the keys do not fit the sandbox's total, or
/// `WXFS_E_NULL`, `WXFS_E_UTF8`, `WXFS_E_JSON` (bad options), `WXFS_E_HANDLE`.
///
/// # Safety
/// Every pointer is NULL or valid for its paired length (or, for `out_*`, writable) for the
/// duration of the call; bytes handed out by the library are released only by `wxfs_bytes_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wxfs_import_mmkv(
    sandbox: u64,
    mmkv_dir: *const c_char,
    mmkv_dir_len: usize,
    mmkv_id: *const c_char,
    mmkv_id_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_report: *mut wxfs_bytes,
) -> i32 {
    // SAFETY: the caller promises each pointer valid for its length for the call's duration.
    let (dir, id, opts) =
        unsafe { (borrow(mmkv_dir, mmkv_dir_len), borrow(mmkv_id, mmkv_id_len), borrow(options_json, options_len)) };
    guard(|| {
        clear_last_error();
        match run(sandbox, dir, id, opts, out_report) {
            Ok(()) => WXFS_OK,
            Err(c) => c,
        }
    })
}

fn run(sandbox: u64, dir: Option<&[u8]>, id: Option<&[u8]>, opts: Option<&[u8]>, out_report: *mut wxfs_bytes) -> Result<(), i32> {
    if out_report.is_null() {
        set_last_error("out_report is NULL");
        return Err(WXFS_E_NULL);
    }
    let dir = text(dir, "mmkv_dir")?;
    let id = text(id, "mmkv_id")?;
    if id.is_empty() || id.contains('/') {
        set_last_error("mmkv_id must be a file name in mmkv_dir (not empty, no '/')");
        return Err(super::WXFS_E_CONFIG);
    }
    let opts = options(text(opts, "options_json")?).map_err(|why| {
        set_last_error(why);
        WXFS_E_JSON
    })?;
    let s = super::lookup(sandbox).map_err(|(code, why)| {
        set_last_error(why);
        code
    })?;
    // This thread's async calls on the sandbox take effect first, as for every typed call.
    super::pool::POOL.wait_settled(&super::pool::key(&s));
    match import::import_mmkv(&s, Path::new(dir), id, &opts) {
        Ok(report) => {
            let json = serde_json::to_vec(&report).map_err(|e| {
                set_last_error(e.to_string());
                super::WXFS_E_PANIC
            })?;
            // SAFETY: checked non-NULL above; the host provides writable storage for it.
            unsafe { out_report.write(bytes_out(json)) };
            Ok(())
        }
        Err(ImportError::Store(e)) => {
            set_last_error(e.to_string());
            Err(WXFS_E_IMPORT_REFUSED)
        }
        Err(e @ ImportError::Storage { code, .. }) => {
            set_last_error(e.to_string());
            Err(code)
        }
    }
}
