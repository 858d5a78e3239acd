//! A sandbox's file areas (`usr`, `store`, `tmp`) for the page: a directory a page at a time, and
//! one file's bytes.
//!
//! Nothing outside the root is ever read:
//! - a path from a request is split into components, and one that is empty, `.`, `..` or holds a
//!   NUL is refused (so is any `\`-free trick: `%2F` decodes to a `/` inside the query value and
//!   is then a separator like any other, checked the same way);
//! - each component is opened beneath the previous one with a capability handle (`cap_std`:
//!   `openat` with the kernel's beneath-resolution), from the root down, so that even a symbolic
//!   link swapped in at any instant cannot lead out of the area;
//! - and none is followed at all: each step is checked to be a directory (a regular file, last)
//!   and the handle opened is checked to be that same inode.

use std::os::unix::fs::MetadataExt as StdMetadataExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt, OpenOptions};
use serde_json::{json, Value};
use wxfs::sandbox::{self, Area};

use super::sandboxes::SandboxRef;

/// Why a path is not served: (HTTP status, what to tell the page).
pub type Refused = (u16, String);

/// Most entries of one directory read for a listing; past it the listing says it is cut.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Most bytes of a text shown as a preview (the download has them all).
pub const TEXT_PREVIEW: usize = 256 * 1024;
/// Largest image shown as a preview.
pub const IMAGE_PREVIEW: u64 = 8 << 20;

/// The area a page names.
pub fn area_of(name: &str) -> Result<Area, Refused> {
    match name {
        "usr" => Ok(Area::Usr),
        "store" => Ok(Area::Store),
        "tmp" => Ok(Area::Tmp),
        _ => Err((400, format!("no area {name:?}: usr, store or tmp"))),
    }
}

/// The components of `rel` beneath an area ("" is the area itself).
pub fn components(rel: &str) -> Result<Vec<&str>, Refused> {
    if rel.is_empty() {
        return Ok(Vec::new());
    }
    if rel.len() > sandbox::path::MAX_REL_PATH {
        return Err((400, "path too long".into()));
    }
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.len() > sandbox::path::MAX_DEPTH {
        return Err((400, "path too deep".into()));
    }
    for p in &parts {
        if p.is_empty() || *p == "." || *p == ".." || p.contains('\0') {
            return Err((400, format!("invalid path {rel:?}: a component is empty, \".\", \"..\" or holds a NUL")));
        }
    }
    Ok(parts)
}

fn same_inode(a: &cap_std::fs::Metadata, dev: u64, ino: u64) -> bool {
    a.dev() == dev && a.ino() == ino
}

/// The directory `name` beneath `dir`, refused when it is anything but a real directory.
fn step(dir: &Dir, name: &str) -> Result<Dir, Refused> {
    let not_found = || (404, format!("no directory {name:?}"));
    let meta = dir.symlink_metadata(name).map_err(|_| not_found())?;
    if meta.file_type().is_symlink() {
        return Err((403, format!("{name:?} is a symbolic link: not followed")));
    }
    if !meta.is_dir() {
        return Err(not_found());
    }
    let next = dir.open_dir(name).map_err(|_| not_found())?;
    match next.dir_metadata() {
        Ok(m) if same_inode(&m, meta.dev(), meta.ino()) => Ok(next),
        _ => Err((409, format!("{name:?} changed while it was opened"))),
    }
}

/// The area's directory of a sandbox, opened from the root down.
pub fn area_dir(root: &Path, sb: &SandboxRef, area: Area) -> Result<Dir, Refused> {
    let mut dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| (500, format!("root: {e}")))?;
    for part in sb.parts.iter().map(String::as_str).chain([area.dir_name()]) {
        dir = step(&dir, part)?;
    }
    Ok(dir)
}

/// The directory `parts` beneath `area`.
pub fn open_dir(area: Dir, parts: &[&str]) -> Result<Dir, Refused> {
    parts.iter().try_fold(area, |dir, p| step(&dir, p))
}

/// Milliseconds since the epoch, for the page.
fn millis(t: std::io::Result<std::time::SystemTime>) -> Value {
    t.ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(Value::Null, |d| json!(d.as_millis() as u64))
}

/// A directory's entries (name, kind), and whether the listing stopped at `MAX_ENTRIES`.
type Names = (Vec<(String, &'static str)>, bool);

/// The names and kinds of a directory's entries, read in one pass (at most `MAX_ENTRIES`).
fn names(dir: &Dir) -> Result<Names, Refused> {
    let mut out = Vec::new();
    let mut cut = false;
    for e in dir.entries().map_err(|e| (500, format!("listing: {e}")))? {
        let Ok(e) = e else { continue };
        if out.len() == MAX_ENTRIES {
            cut = true;
            break;
        }
        let kind = match e.file_type() {
            Ok(t) if t.is_symlink() => "link",
            Ok(t) if t.is_dir() => "dir",
            Ok(t) if t.is_file() => "file",
            _ => "other",
        };
        out.push((e.file_name().to_string_lossy().into_owned(), kind));
    }
    // Directories first, then by name.
    out.sort_by(|a, b| (a.1 != "dir", &a.0).cmp(&(b.1 != "dir", &b.0)));
    Ok((out, cut))
}

/// One page of a directory: `limit` entries from `offset`, each with its size and mtime, from a
/// listing that read the same twice in a row (`stable`; after 3 tries, the last one, flagged).
pub fn page(dir: &Dir, offset: usize, limit: usize) -> Result<Value, Refused> {
    let mut listing = names(dir)?;
    let mut stable = false;
    for _ in 0..3 {
        let again = names(dir)?;
        stable = again == listing;
        listing = again;
        if stable {
            break;
        }
    }
    let (all, cut) = listing;
    let entries: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(name, kind)| {
            let meta = dir.symlink_metadata(name).ok();
            json!({
                "name": name,
                "kind": kind,
                "size": if *kind == "file" { meta.as_ref().map_or(Value::Null, |m| json!(m.len())) } else { Value::Null },
                "mtime": meta.map_or(Value::Null, |m| millis(m.modified().map(|t| t.into_std()))),
            })
        })
        .collect();
    Ok(json!({ "total": all.len(), "offset": offset, "entries": entries, "stable": stable, "cut": cut }))
}

/// The regular file `name` beneath `dir`, opened without following a link, with its length.
pub fn open_file(dir: &Dir, name: &str) -> Result<(std::fs::File, u64), Refused> {
    let not_found = || (404, format!("no file {name:?}"));
    let meta = dir.symlink_metadata(name).map_err(|_| not_found())?;
    if meta.file_type().is_symlink() {
        return Err((403, format!("{name:?} is a symbolic link: not followed")));
    }
    if !meta.is_file() {
        return Err((400, format!("{name:?} is not a regular file")));
    }
    let mut options = OpenOptions::new();
    options.read(true);
    // A FIFO swapped in after the check must not hold a thread in open().
    #[cfg(unix)]
    cap_std::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = dir.open_with(name, &options).map_err(|_| not_found())?.into_std();
    let opened = file.metadata().map_err(|e| (500, e.to_string()))?;
    if !opened.is_file() || (StdMetadataExt::dev(&opened), StdMetadataExt::ino(&opened)) != (meta.dev(), meta.ino()) {
        return Err((409, format!("{name:?} changed while it was opened")));
    }
    Ok((file, opened.len()))
}

/// The content type of an image the page may show, from its first bytes (never its name).
pub fn image_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if head.starts_with(b"BM") && head.len() >= 26 {
        Some("image/bmp")
    } else {
        None
    }
}

/// `bytes` as text if they are UTF-8 with no NUL (a sequence cut at the end, where a preview
/// stops, is dropped), else `None`.
pub fn as_text(mut bytes: Vec<u8>, cut: bool) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    match std::str::from_utf8(&bytes) {
        Ok(_) => Some(String::from_utf8(bytes).ok()?),
        Err(e) if cut && e.error_len().is_none() => {
            bytes.truncate(e.valid_up_to());
            String::from_utf8(bytes).ok()
        }
        Err(_) => None,
    }
}

/// A `Content-Disposition` for downloading a file named `name`: an ASCII fallback and the exact
/// name percent-encoded (RFC 6266).
pub fn attachment(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let exact: String = name
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}
