//! The `wxfs_open` configuration object (DESIGN.md §7).

use serde::Deserialize;

use crate::fs::Durability;
use crate::quota::Limits;
use crate::sandbox::Protocol;
use crate::session::Config;

#[derive(Deserialize)]
struct RawConfig {
    root: String,
    #[serde(rename = "appId")]
    app_id: String,
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "packageDir")]
    package_dir: Option<String>,
    protocol: Option<String>,
    durability: Option<String>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawLimits {
    user_files: Option<u64>,
    temp_runtime: Option<u64>,
    temp_keep: Option<u64>,
    temp_all_sandboxes: Option<u64>,
    storage_item: Option<u64>,
    storage_total: Option<u64>,
    read_file: Option<u64>,
    open_files: Option<u64>,
}

/// Parse and validate a config object; the error says what is wrong.
pub fn parse(text: &str) -> Result<Config, String> {
    let raw: RawConfig = serde_json::from_str(text).map_err(|e| format!("invalid config: {e}"))?;
    if raw.root.is_empty() {
        return Err("invalid config: \"root\" must not be empty".into());
    }
    if raw.app_id.is_empty() || raw.user_id.is_empty() {
        return Err("invalid config: \"appId\" and \"userId\" must not be empty".into());
    }
    let protocol = match raw.protocol.as_deref() {
        None | Some("wxfile") => Protocol::Wxfile,
        Some("http") => Protocol::Http,
        Some(p) => return Err(format!("invalid config: protocol \"{p}\" is not \"wxfile\" or \"http\"")),
    };
    let durability = match raw.durability.as_deref() {
        None | Some("process") => Durability::Process,
        Some("power") => Durability::Power,
        Some(d) => return Err(format!("invalid config: durability \"{d}\" is not \"process\" or \"power\"")),
    };
    let d = Limits::default();
    let l = raw.limits;
    let limits = Limits {
        user_files: l.user_files.unwrap_or(d.user_files),
        temp_runtime: l.temp_runtime.unwrap_or(d.temp_runtime),
        temp_keep: l.temp_keep.unwrap_or(d.temp_keep),
        temp_all_sandboxes: l.temp_all_sandboxes.unwrap_or(d.temp_all_sandboxes),
        storage_item: l.storage_item.unwrap_or(d.storage_item),
        storage_total: l.storage_total.unwrap_or(d.storage_total),
        read_file: l.read_file.unwrap_or(d.read_file),
        open_files: l.open_files.unwrap_or(d.open_files),
    };
    Ok(Config {
        root: raw.root.into(),
        app_id: raw.app_id,
        user_id: raw.user_id,
        package_dir: raw.package_dir.filter(|p| !p.is_empty()).map(Into::into),
        protocol,
        durability,
        limits,
    })
}
