//! The shapes of a platform's results other than its errors: one row per platform in
//! docs/platforms/dialects.json (`shapes`), read by the bridge's handlers. A platform's shape is
//! data: the handlers ask the row, never which platform it is.

use serde::Deserialize;

/// One platform's `shapes` row.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Shapes {
    /// The library's internal errors are this platform's own words (WeChat's): passed as they
    /// are, never looked up in the platform's error table.
    pub native: bool,
    /// What follows `@` after the app's directory name on disk; `None`: no tag.
    pub dir_tag: Option<String>,
    /// readFile's `dataType` field, if the platform has one.
    pub read_file_data_type: Option<DataType>,
    /// How stat carries its result.
    pub stat: StatShape,
    /// Where the saved-file apis find saved files, and their legacy path field.
    pub saved_files: SavedFiles,
    /// The path protocols a host may choose by config `protocol` (WeChat's `wxfile` and its
    /// devtools' `http`); empty: the platform's own only, and config `protocol` is refused.
    pub config_protocols: Vec<String>,
}

/// The values of readFile's `dataType` (Alipay's `"string"` and `"ArrayBuffer"`).
#[derive(Deserialize, Debug)]
pub struct DataType {
    /// For a result read with an encoding: a string.
    pub encoded: String,
    /// For a result read without one: an ArrayBuffer.
    pub raw: String,
}

/// How stat carries its result.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct StatShape {
    /// The fields the result is carried under, each a copy (Douyin's `stat` and `stats`).
    pub keys: Vec<String>,
    /// The Stats field of each item of a recursive stat's array (`stats`, Douyin's `stat`);
    /// `None`: the tree is one object keyed by path (Alipay's, WeChat's pre-2021 shape).
    pub item_key: Option<String>,
}

/// The saved-file apis (saveFile, getSavedFileList, getSavedFileInfo, removeSavedFile).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SavedFiles {
    /// Where saved files live.
    pub area: SavedArea,
    /// The legacy name of their path field (Alipay's `apFilePath`), taken in place of the
    /// argument and answered in where it was used, and added to each getSavedFileList item.
    pub legacy_path: Option<String>,
}

/// Where a platform's saved files live.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SavedArea {
    /// Their own area (`store`), as on WeChat.
    Store,
    /// The user dir: the saved files are its files, and a saveFile without `filePath` writes
    /// there under a fresh name (Douyin, which has no cache area).
    Usr,
}
