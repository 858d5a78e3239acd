//! The `wxfs_open` configuration object (docs/design.md §8).

use serde::Deserialize;

use crate::fs::Durability;
use crate::platform::Platform;
use crate::quota::Limits;
use crate::sandbox::Protocol;
use crate::session::Config;
use crate::storage::sealed::EncryptionKey;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(rename = "encryptionKey")]
    encryption_key: Option<String>,
    #[serde(rename = "pluginId")]
    plugin_id: Option<String>,
    platform: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawLimits {
    user_files: Option<u64>,
    temp_runtime: Option<u64>,
    temp_keep: Option<u64>,
    temp_all_sandboxes: Option<u64>,
    storage_item: Option<u64>,
    storage_total: Option<u64>,
    read_file: Option<u64>,
    open_files: Option<u64>,
    entries: Option<u64>,
    buffer_urls: Option<u64>,
    single_file: Option<u64>,
}

/// Parse and validate a config object; the error says what is wrong.
pub fn parse(text: &str) -> Result<Config, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| match e.path().to_string().as_str() {
        "." => format!("invalid config: {}", e.inner()),
        path => format!("invalid config: {path}: {}", e.inner()),
    })?;
    if raw.root.is_empty() {
        return Err("invalid config: \"root\" must not be empty".into());
    }
    if raw.app_id.is_empty() || raw.user_id.is_empty() {
        return Err("invalid config: \"appId\" and \"userId\" must not be empty".into());
    }
    let platform = match raw.platform.as_deref() {
        None => Platform::default(),
        Some(p) => Platform::from_name(p)
            .ok_or_else(|| format!("invalid config: platform \"{p}\" is not {}", one_of(Platform::ALL.map(Platform::name))))?,
    };
    // The protocols the platform's row lets a host choose (docs/platforms/dialects.json).
    let choices = &platform.dialect().shapes.config_protocols;
    let protocol = match raw.protocol.as_deref() {
        None => platform.protocol(),
        Some(p) if choices.iter().any(|c| c == p) => {
            Protocol::of_scheme(p).ok_or_else(|| format!("invalid config: protocol \"{p}\" has no spelling"))?
        }
        Some(p) if choices.is_empty() => {
            let chooser = Platform::ALL.into_iter().find(|o| !o.dialect().shapes.config_protocols.is_empty()).unwrap_or_default();
            return Err(format!(
                "invalid config: protocol \"{p}\" is for platform \"{}\"; platform \"{}\" has its own",
                chooser.name(),
                platform.name()
            ));
        }
        Some(p) => return Err(format!("invalid config: protocol \"{p}\" is not {}", one_of(choices.iter().map(String::as_str)))),
    };
    let durability = match raw.durability.as_deref() {
        None | Some("process") => Durability::Process,
        Some("power") => Durability::Power,
        Some(d) => return Err(format!("invalid config: durability \"{d}\" is not \"process\" or \"power\"")),
    };
    let d = platform.default_limits();
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
        entries: l.entries.unwrap_or(d.entries),
        buffer_urls: l.buffer_urls.unwrap_or(d.buffer_urls),
        single_file: l.single_file.unwrap_or(d.single_file),
    };
    let encryption_key = match raw.encryption_key.as_deref() {
        None => None,
        Some(k) => Some(EncryptionKey::from_base64(k).map_err(|e| format!("invalid config: {e}"))?),
    };
    if raw.plugin_id.as_deref() == Some("") {
        return Err("invalid config: \"pluginId\" must not be empty (leave it out for the mini-program itself)".into());
    }
    Ok(Config {
        root: raw.root.into(),
        app_id: raw.app_id,
        user_id: raw.user_id,
        package_dir: raw.package_dir.filter(|p| !p.is_empty()).map(Into::into),
        protocol,
        durability,
        limits,
        encryption_key,
        plugin_id: raw.plugin_id,
        platform,
    })
}

/// `"a", "b" or "c"`.
fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn every_config_error_names_its_field() {
        let err = |text: &str| parse(text).err().unwrap_or_else(|| panic!("accepted {text}"));
        let base = r#""root":"/r","appId":"a","userId":"u""#;
        assert!(err(&format!(r#"{{{base},"durabilty":"power"}}"#)).contains("unknown field `durabilty`"));
        assert!(err(&format!(r#"{{{base},"limits":{{"userFile":1}}}}"#)).contains("unknown field `userFile`"));
        assert!(err(r#"{"root":"/r","userId":"u"}"#).contains("missing field `appId`"));
        assert!(err(&format!(r#"{{{base},"limits":{{"entries":"many"}}}}"#)).contains("entries"));
        assert!(err(&format!(r#"{{{base},"protocol":"ftp"}}"#)).contains("protocol \"ftp\""));
        assert_eq!(
            err(&format!(r#"{{{base},"encryptionKey":"AAAA"}}"#)),
            "invalid config: encryptionKey must be 16 bytes (AES-128), base64 encoded; it is 3 bytes"
        );
        assert_eq!(err(&format!(r#"{{{base},"encryptionKey":"%%"}}"#)), "invalid config: encryptionKey is not valid base64");
        assert!(err(&format!(r#"{{{base},"encryptionKey":16}}"#)).starts_with("invalid config: encryptionKey: invalid type"));
        let c = parse(&format!(r#"{{{base},"limits":{{"entries":7,"openFiles":3}}}}"#)).unwrap();
        assert_eq!((c.limits.entries, c.limits.open_files), (7, 3));
        assert!(err(&format!(r#"{{{base},"platform":"weixin"}}"#)).starts_with("invalid config: platform \"weixin\""));
        assert!(err(&format!(r#"{{{base},"platform":3}}"#)).contains("platform"));
        assert!(err(&format!(r#"{{{base},"platform":"douyin","protocol":"http"}}"#)).contains("protocol \"http\""));
    }

    #[test]
    fn the_platform_chooses_protocol_and_default_limits() {
        use crate::platform::Platform;
        use crate::sandbox::Protocol;
        let base = r#""root":"/r","appId":"a","userId":"u""#;
        let c = parse(&format!("{{{base}}}")).unwrap();
        assert_eq!((c.platform, c.protocol), (Platform::Wechat, Protocol::Wxfile));
        let c = parse(&format!(r#"{{{base},"platform":"alipay"}}"#)).unwrap();
        assert_eq!((c.platform, c.protocol, c.limits.storage_item), (Platform::Alipay, Protocol::Https, 204_800));
        // An explicit limit still wins over the platform's default.
        let c = parse(&format!(r#"{{{base},"platform":"alipay","limits":{{"storageItem":5}}}}"#)).unwrap();
        assert_eq!(c.limits.storage_item, 5);
        let c = parse(&format!(r#"{{{base},"platform":"douyin"}}"#)).unwrap();
        assert_eq!((c.protocol, c.limits.user_files), (Protocol::Ttfile, 10 * 1024 * 1024));
        assert_ne!(c.sandbox_dir(), parse(&format!("{{{base}}}")).unwrap().sandbox_dir());
    }

    #[test]
    fn a_missing_package_dir_is_named() {
        let root = std::env::temp_dir().join(format!("wxfs-config-{}", std::process::id()));
        let mut c = parse(r#"{"root":"/r","appId":"a","userId":"u"}"#).unwrap();
        c.root = root.clone();
        c.package_dir = Some(root.join("no-such-package"));
        let e = crate::session::Session::open(c).err().expect("opened without its package");
        assert!(e.to_string().starts_with("invalid config: packageDir \""), "{e}");
        let _ = std::fs::remove_dir_all(root);
    }
}
