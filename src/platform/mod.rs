//! Mini-program platforms: which one a sandbox serves, and that platform's dialect.
//!
//! The dialects are `docs/platforms/dialects.json`, embedded at build time: the same table the
//! docs show is the one the library renders results from, so there is no second hand-kept copy.
//! Each platform is one row of it: its path protocol, its sandbox directory's tag, its envelope,
//! its errors by failure kind, its limits and its result shapes. The core keeps one internal
//! error (a WeChat code and reason); [`Dialect::render_failure`] turns it into the platform's
//! words, code and envelope, and [`Shapes`] tells the bridge how the platform's results look.
//!
//! This layer sits above `sandbox`: it names a platform's sandbox directory by handing its tag
//! down (`sandbox::sandbox_dir_on`), and `sandbox` knows nothing of platforms.

mod dialect;
mod shapes;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use once_cell::sync::Lazy;
use serde::Deserialize;

pub use dialect::{Dialect, Envelope, Rendered};
pub use shapes::{DataType, SavedArea, SavedFiles, Shapes, StatShape};

use crate::quota::Limits;
use crate::sandbox::Protocol;

/// The platform whose mini-programs a sandbox serves (config `platform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Platform {
    /// WeChat (`wx.`), the default: `wxfile://`.
    #[default]
    Wechat,
    /// Alipay (`my.`): `https://usr`, `{error, errorMessage}` failures.
    Alipay,
    /// Douyin / Toutiao (`tt.`): `ttfile://user`, `errNo`.
    Douyin,
    /// Baidu (`swan.`): `bdfile://`.
    Baidu,
    /// QQ (`qq.`): `qqfile://`, WeChat's envelope.
    Qq,
}

impl Platform {
    /// Every platform, WeChat first.
    pub const ALL: [Platform; 5] = [Platform::Wechat, Platform::Alipay, Platform::Douyin, Platform::Baidu, Platform::Qq];

    /// The config value (`"wechat"`, `"alipay"`, ...), also the key of its row in dialects.json.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Wechat => "wechat",
            Platform::Alipay => "alipay",
            Platform::Douyin => "douyin",
            Platform::Baidu => "baidu",
            Platform::Qq => "qq",
        }
    }

    /// The platform a config value names.
    pub fn from_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The path protocol of this platform (dialects.json `protocol.scheme`; WeChat's may be
    /// switched to `http` by config).
    pub fn protocol(self) -> Protocol {
        ROWS[&self].protocol
    }

    /// What follows the app's directory name on disk: nothing where the platform's row has no
    /// `dirTag` (WeChat: sandboxes made before platforms existed stay where they are),
    /// `@<tag>` otherwise. `@` is never produced by the id encoding (`sandbox::naming`), so no
    /// appId can collide with it.
    pub fn dir_suffix(self) -> &'static str {
        &ROWS[&self].dir_suffix
    }

    /// The platform a sandbox directory name belongs to, and the app part of the name: the
    /// platform whose `dirTag` the name carries, or the untagged one (WeChat) with the whole name.
    pub fn of_dir_name(name: &str) -> (Platform, &str) {
        let (app, tag) = crate::sandbox::split_tag(name);
        let tagged = tag.and_then(|tag| Platform::ALL.into_iter().find(|p| p.dialect().shapes.dir_tag.as_deref() == Some(tag)));
        match tagged {
            Some(p) => (p, app),
            None => (Platform::untagged(), name),
        }
    }

    /// The platform whose sandboxes carry no tag (WeChat's row).
    fn untagged() -> Platform {
        Platform::ALL
            .into_iter()
            .find(|p| p.dialect().shapes.dir_tag.is_none())
            .expect("one platform's row has no dirTag (unit-tested)")
    }

    /// Its dialect: envelope, error codes and texts, limits, result shapes (from
    /// docs/platforms/dialects.json).
    pub fn dialect(self) -> &'static Dialect {
        &ROWS[&self].dialect
    }

    /// The default limits of this platform: the library's defaults with the platform's storage
    /// item, storage total, user-file quota and per-file limit from dialects.json (a `null`
    /// item limit means none).
    pub fn default_limits(self) -> Limits {
        let mut l = Limits::default();
        let d = self.dialect();
        if let Some(Some(total)) = d.limit("storageTotal") {
            l.storage_total = total;
        }
        match d.limit("storageItem") {
            Some(Some(item)) => l.storage_item = item,
            Some(None) => l.storage_item = l.storage_total,
            None => {}
        }
        if let Some(Some(user)) = d.limit("userFiles") {
            l.user_files = user;
        }
        if let Some(one) = d.single_file_limit() {
            l.single_file = one;
        }
        l
    }
}

/// docs/platforms/dialects.json without its research notes (`build.rs` strips the sources,
/// statuses, notes and decisions): only the data this module reads ships in the library.
pub const DIALECTS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/dialects.json"));

#[derive(Deserialize)]
struct File {
    platforms: HashMap<String, RawDialect>,
}

#[derive(Deserialize)]
struct RawDialect {
    protocol: Scheme,
    #[serde(rename = "USER_DATA_PATH")]
    user_data_path: Valued,
    envelope: Envelope,
    #[serde(default)]
    errors: HashMap<String, dialect::ErrorEntry>,
    #[serde(default)]
    limits: HashMap<String, dialect::LimitEntry>,
    shapes: Shapes,
}

#[derive(Deserialize)]
struct Scheme {
    scheme: String,
}

#[derive(Deserialize)]
struct Valued {
    value: String,
}

/// One platform's row, parsed.
struct Row {
    protocol: Protocol,
    dir_suffix: String,
    dialect: Dialect,
}

static ROWS: Lazy<HashMap<Platform, Row>> = Lazy::new(|| {
    let file: File = serde_json::from_str(DIALECTS_JSON).expect("docs/platforms/dialects.json is valid (unit-tested)");
    let mut raw = file.platforms;
    Platform::ALL
        .into_iter()
        .map(|p| {
            let r = raw.remove(p.name()).unwrap_or_else(|| panic!("dialects.json has no platform {}", p.name()));
            let protocol = Protocol::of_scheme(&r.protocol.scheme)
                .unwrap_or_else(|| panic!("dialects.json: {}: no protocol {}", p.name(), r.protocol.scheme));
            let dir_suffix = r.shapes.dir_tag.as_ref().map_or(String::new(), |tag| format!("{}{tag}", crate::sandbox::TAG_MARK));
            let dialect = Dialect {
                user_data_path: r.user_data_path.value,
                envelope: r.envelope,
                shapes: r.shapes,
                errors: r.errors,
                limits: r.limits,
            };
            (p, Row { protocol, dir_suffix, dialect })
        })
        .collect()
});

/// The sandbox directory of (user, app) on `platform` under `root`.
pub fn sandbox_dir(root: &Path, user_id: &str, app_id: &str, platform: Platform) -> PathBuf {
    let tag = platform.dialect().shapes.dir_tag.as_deref();
    crate::sandbox::sandbox_dir_on(root, user_id.as_bytes(), app_id.as_bytes(), tag)
}
