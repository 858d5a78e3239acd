//! The sandboxes under the root as the page sees them, read without their locks (docs/design.md
//! §7): which there are, who holds each one open, and a snapshot of each one's storage.
//!
//! A sandbox is named on the page by its directory relative to the root (`u1/wx1`,
//! `u1/wx1@alipay`, `u1/wx1/plugin/p1`), and found again only by looking that name up in a fresh
//! listing: no name from a request is ever joined onto a path. A sandbox reached through a symbolic
//! link (a user, app or plugin directory that is one) is not listed, so nothing outside the root
//! is read.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wxfs::platform::Platform;
use wxfs::quota::Limits;
use wxfs::sandbox::{self, eventlog, naming};
use wxfs::storage::{LogReport, Store};

/// One sandbox under the root.
#[derive(Clone, Debug)]
pub struct SandboxRef {
    /// Its directory relative to the root, `/`-separated: how the page names it.
    pub id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// The directories from the root down to it (user, app, and `plugin` and the plugin's).
    pub parts: Vec<String>,
    /// Whose mini-programs.
    pub platform: Platform,
    /// The userId, appId and pluginId, when the directory names decode (a too long id is hashed).
    pub user: Option<Vec<u8>>,
    pub app: Option<Vec<u8>>,
    pub plugin: Option<Vec<u8>>,
}

impl SandboxRef {
    /// The ids as text for display: the directory's own name where an id does not decode.
    pub fn shown(id: &Option<Vec<u8>>, dir_name: &str) -> String {
        id.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_else(|| dir_name.to_string())
    }
}

/// Whether every component of `dir` below `root` is a real directory (no symbolic link).
fn no_link_below(root: &Path, parts: &[String]) -> bool {
    let mut at = root.to_path_buf();
    parts.iter().all(|p| {
        at.push(p);
        at.symlink_metadata().is_ok_and(|m| m.is_dir())
    })
}

/// Every sandbox under `root` (plugins' included), sorted by name.
pub fn list(root: &Path) -> Result<Vec<SandboxRef>, String> {
    let dirs = sandbox::list_with_plugins(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rel) = dir.strip_prefix(root) else { continue };
        let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if !no_link_below(root, &parts) || !dir.join(sandbox::LOCK).symlink_metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        let (platform, app_name) = Platform::of_dir_name(&parts[1]);
        let plugin = match parts.len() {
            2 => None,
            4 => Some(naming::decode_id(&parts[3])),
            _ => continue,
        };
        out.push(SandboxRef {
            id: parts.join("/"),
            user: naming::decode_id(&parts[0]),
            app: naming::decode_id(app_name),
            plugin: plugin.flatten(),
            platform,
            parts,
            dir,
        });
    }
    Ok(out)
}

/// The limits the sandbox's host last opened it with, as the sandbox recorded them
/// (`wxfs::sandbox::eventlog`), and `true`; else its platform's defaults, and `false` (a sandbox
/// no release since 0.2.0 has opened, or whose record is damaged).
pub fn limits(sb: &SandboxRef) -> (Limits, bool) {
    let mut l = sb.platform.default_limits();
    let Some(pairs) = eventlog::read_limits(&sb.dir) else { return (l, false) };
    for (name, v) in pairs {
        let field = match name.as_str() {
            "userFiles" => &mut l.user_files,
            "tempRuntime" => &mut l.temp_runtime,
            "tempKeep" => &mut l.temp_keep,
            "tempAllSandboxes" => &mut l.temp_all_sandboxes,
            "storageItem" => &mut l.storage_item,
            "storageTotal" => &mut l.storage_total,
            "readFile" => &mut l.read_file,
            "openFiles" => &mut l.open_files,
            "entries" => &mut l.entries,
            "bufferUrls" => &mut l.buffer_urls,
            "singleFile" => &mut l.single_file,
            // A later release's limit this one does not know.
            _ => continue,
        };
        *field = v;
    }
    (l, true)
}

/// The sandbox the page names `id`, from a fresh listing.
pub fn find(root: &Path, id: &str) -> Result<SandboxRef, String> {
    list(root)?.into_iter().find(|s| s.id == id).ok_or_else(|| format!("no sandbox {id:?} under the root"))
}

/// A sandbox's storage as of one read of its log, opened from a copy that is gone from disk once
/// open (the mapping keeps it): nothing of it is left behind however the inspector ends.
pub struct StoreSnapshot {
    pub store: Store,
    pub report: LogReport,
}

/// Most bytes of one sandbox's storage directory copied for a snapshot.
const MAX_KV_BYTES: u64 = 512 << 20;
/// Sandboxes whose last snapshot is kept for the next request.
const KEPT: usize = 32;
/// Most bytes of storage files behind the snapshots kept (each is an unlinked copy in the temp
/// directory, held by its mapping): past it the oldest go first. The newest is always kept.
const KEPT_BYTES: u64 = 256 << 20;

/// A sandbox directory, the digest of its storage files, their length, and the snapshot opened
/// from them.
type Kept = (PathBuf, [u8; 32], u64, Arc<StoreSnapshot>);

/// The last snapshot of each sandbox, kept while its storage files read back the same bytes
/// (a digest of them): the page's many requests about one sandbox cost one open, and any change
/// by the mini-program, whatever its mtime says (writes through a mapping may not move it),
/// makes a new one.
#[derive(Default)]
pub struct Snapshots {
    kept: Mutex<Vec<Kept>>,
}

impl Snapshots {
    /// The storage of the sandbox in `dir` now.
    pub fn get(&self, dir: &Path) -> Result<Arc<StoreSnapshot>, String> {
        let files = crate::inspect::read_kv_files(dir, MAX_KV_BYTES)?;
        let mut digest = Sha256::new();
        for (name, bytes) in &files {
            digest.update((name.len() as u64).to_le_bytes());
            digest.update(name.as_encoded_bytes());
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(bytes);
        }
        let digest: [u8; 32] = digest.finalize().into();
        let len: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
        if let Some((_, _, _, snap)) = self.kept.lock().unwrap().iter().find(|(d, f, _, _)| d == dir && *f == digest) {
            return Ok(snap.clone());
        }
        let (store, report, scratch) = crate::inspect::open_copy(&files)?;
        // A compaction at open finishes in the copy before the copy goes.
        store.settle().map_err(|e| format!("storage: {e}"))?;
        drop(scratch);
        let snap = Arc::new(StoreSnapshot { store, report });
        let mut kept = self.kept.lock().unwrap();
        kept.retain(|(d, _, _, _)| d != dir);
        while !kept.is_empty() && (kept.len() >= KEPT || kept.iter().map(|k| k.2).sum::<u64>() + len > KEPT_BYTES) {
            kept.remove(0);
        }
        kept.push((dir.to_path_buf(), digest, len, snap.clone()));
        Ok(snap)
    }
}
