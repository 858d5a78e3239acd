//! `wxfs import-mmkv`: a Dimina container's MMKV storage into a sandbox (docs/import-mmkv.md).

use std::path::Path;
use std::sync::Arc;

use wxfs::import::{self, Layout, Options};
use wxfs::session::{Config, Session};

/// The command line's options, as `main` parsed them.
pub struct Args<'a> {
    pub root: &'a Path,
    pub user: &'a str,
    pub app: &'a str,
    pub mmkv_dir: &'a Path,
    pub id: Option<&'a str>,
    pub layout: Option<&'a str>,
    pub key: Option<Vec<u8>>,
    pub recover: bool,
    pub json: bool,
}

pub fn import_mmkv(a: Args) -> Result<(), String> {
    let layout = match a.layout {
        None | Some("auto") => None,
        Some(name) => Some(Layout::parse(name).ok_or_else(|| format!("--layout {name}: none of auto, android, ios, harmony"))?),
    };
    let id = a.id.unwrap_or(a.app);
    // The sandbox is created when needed (a migration fills a new one), its root is not: a
    // mistyped root is named, as every command names it.
    crate::inspect::existing_root(a.root)?;
    let s: Arc<Session> = Session::open(Config::new(a.root, a.user, a.app)).map_err(|e| match e {
        wxfs::sandbox::OpenError::Busy(_) => {
            format!("{e}\n`wxfs import-mmkv` writes the sandbox's storage in this process: close the mini-program first.")
        }
        e => e.to_string(),
    })?;
    let opts = Options { layout, key: a.key, recover: a.recover };
    let report = import::import_mmkv(&s, a.mmkv_dir, id, &opts).map_err(|e| e.to_string())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let layout = serde_json::to_value(report.layout).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    println!(
        "imported {} keys ({} bytes) from MMKV store {id} ({layout} layout{}) into {}/{}",
        report.imported,
        report.imported_bytes,
        if report.encrypted { ", encrypted" } else { "" },
        a.user,
        a.app
    );
    if let Some(why) = &report.damaged {
        println!("the store is damaged ({why}): imported every record that parsed");
    }
    println!("skipped {} keys", report.skipped.len());
    for s in &report.skipped {
        println!("  {:?}: {}", s.key, s.reason);
    }
    Ok(())
}
