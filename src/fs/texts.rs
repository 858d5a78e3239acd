//! WeChat's words for every failure the file system reports (docs/wechat-behaviour.md §3, §10),
//! in one table: a row per failure, with its errCode and its failure kind
//! (docs/platforms/dialects.json `failureKinds`). The file system builds its errors from these
//! rows only; the platform layer renders them in another platform's words by their kind and
//! code, never by their text.
//!
//! A text is a template whose each `{}` takes one value (a path, a name), in order, in one pass
//! over the template's own text: a value is never read again.

use crate::error::{code, Error};

/// One failure of the file system, in WeChat's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// `no such file or directory {path}` (access, stat, readdir, mkdir, rmdir, unlink, ...).
    Noent,
    /// `no such file or directory "{path}"` (open, saveFile's filePath).
    NoentQuoted,
    /// `no such file or directory, open {path}` (readFile, writeFile, appendFile, truncate, a zip entry).
    NoentOpen,
    /// `no such file or directory, copyFile {src} -> {dest}`.
    NoentCopy,
    /// `no such file or directory, rename {old} -> {new}`.
    NoentRename,
    /// `no such file or directory, unzip {zip} -> "{target}`.
    NoentUnzip,
    /// The host's temp file source is missing.
    NoentSourcePath,
    /// getFileInfo, getSavedFileInfo and removeSavedFile of a file that does not exist.
    FileNotExist,
    /// saveFile of a temp file that does not exist.
    TempNotExist,
    /// `not a directory {path}`.
    NotDir,
    /// `not a directory, {path}` (getFileInfo).
    NotDirComma,
    /// `not a directory{rest}`: a "no such file or directory{rest}" whose path runs through a file.
    NotDirInstead,
    /// `not a directory, rename {old} -> {new}`.
    NotDirRename,
    /// `not a directory, unzip {zip} -> {target}`.
    NotDirUnzip,
    /// `permission denied, open {path}`: a method's permission words (the code is the area's).
    DeniedOpen,
    /// `permission denied, open "{path}"` (saveFile's filePath).
    DeniedOpenQuoted,
    /// `permission denied, copyFile {src} -> {dest}`.
    DeniedCopy,
    /// `permission denied, rename {old} -> {new}`.
    DeniedRename,
    /// `permission denied, unzip {zip} -> {target}`.
    DeniedUnzip,
    /// `illegal operation on a directory, open "{path}"`.
    IllegalOpen,
    /// `illegal operation on a directory, copyFile {src} -> {dest}`.
    IllegalCopy,
    /// `illegal operation on a directory, rename {old} -> {new}`.
    IllegalRename,
    /// `file already exists {path}`.
    Exists,
    /// `directory not empty`.
    NotEmpty,
    /// `operation not permitted, unlink {path}` (a directory or an area root). Its kind depends
    /// on the api: unlink's is a directory, another's (Douyin's removeSavedFile) a permission.
    NotPermittedUnlink,
    /// `Invalid argument, rename {old} -> {new}` (a directory into itself).
    InvalidRename,
    /// `invalid extension "{ext}"` (the host's temp file).
    InvalidExtension,
    /// `invalid digestAlgorithm "{algorithm}"`.
    InvalidDigest,
    /// `Invalid argument, invalid hex data`.
    InvalidHex,
    /// `base64 encode error`.
    Base64,
    /// `File name too long`.
    NameTooLong,
    /// Too many open fds, in WeChat's spelling.
    FdLimit,
    /// `bad file descriptor`.
    BadFd,
    /// `permission denied` through an fd (writing one opened read-only).
    FdDenied,
    /// `invalid flag`.
    InvalidFlag,
    /// `permission denied when open using flag`.
    FlagDenied,
    /// `the value of "offset" is out of range`.
    OffsetRange,
    /// `the value of "length" is out of range`.
    LengthRange,
    /// `the value of "position" is out of range`.
    PositionRange,
    /// `array buffer does not exist`.
    NoArrayBuffer,
    /// `data to write is empty`.
    DataEmpty,
    /// `native buffer exceed size limit`: a result over what one call may return.
    NativeBufferLimit,
    /// The host's temp files would exceed their limit.
    TempLimit,
    /// `file larger than {limit} bytes`: over the platform's per-file limit.
    FileTooLarge,
    /// `decompress fail`.
    DecompressFail,
    /// `unzip open file fail`.
    UnzipOpen,
    /// `unzip entry fail`.
    UnzipEntry,
    /// `unzip fail`.
    UnzipFail,
}

/// One row: the errCode, the failure kind (`None`: the api decides), WeChat's words.
struct Row(u32, Option<&'static str>, &'static str);

impl Text {
    /// Every row, for the tests that hold the table against the dialects.
    #[cfg(test)]
    pub const ALL: [Text; 47] = [
        Text::Noent,
        Text::NoentQuoted,
        Text::NoentOpen,
        Text::NoentCopy,
        Text::NoentRename,
        Text::NoentUnzip,
        Text::NoentSourcePath,
        Text::FileNotExist,
        Text::TempNotExist,
        Text::NotDir,
        Text::NotDirComma,
        Text::NotDirInstead,
        Text::NotDirRename,
        Text::NotDirUnzip,
        Text::DeniedOpen,
        Text::DeniedOpenQuoted,
        Text::DeniedCopy,
        Text::DeniedRename,
        Text::DeniedUnzip,
        Text::IllegalOpen,
        Text::IllegalCopy,
        Text::IllegalRename,
        Text::Exists,
        Text::NotEmpty,
        Text::NotPermittedUnlink,
        Text::InvalidRename,
        Text::InvalidExtension,
        Text::InvalidDigest,
        Text::InvalidHex,
        Text::NameTooLong,
        Text::FdLimit,
        Text::BadFd,
        Text::FdDenied,
        Text::InvalidFlag,
        Text::FlagDenied,
        Text::OffsetRange,
        Text::LengthRange,
        Text::PositionRange,
        Text::NoArrayBuffer,
        Text::DataEmpty,
        Text::NativeBufferLimit,
        Text::TempLimit,
        Text::FileTooLarge,
        Text::DecompressFail,
        Text::UnzipOpen,
        Text::UnzipEntry,
        Text::UnzipFail,
    ];

    fn row(self) -> Row {
        use code::*;
        const NOT_FOUND: Option<&str> = Some("not-found");
        const NOT_A_DIR: Option<&str> = Some("not-a-dir");
        const PERMISSION: Option<&str> = Some("permission");
        const IS_A_DIR: Option<&str> = Some("is-a-dir");
        const INVALID: Option<&str> = Some("invalid-arg");
        const UNZIP: Option<&str> = Some("unzip");
        match self {
            Text::Noent => Row(NO_SUCH_FILE, NOT_FOUND, "no such file or directory {}"),
            Text::NoentQuoted => Row(NO_SUCH_FILE, NOT_FOUND, "no such file or directory \"{}\""),
            Text::NoentOpen => Row(NO_SUCH_FILE, NOT_FOUND, "no such file or directory, open {}"),
            Text::NoentCopy => Row(NO_SUCH_FILE, NOT_FOUND, "no such file or directory, copyFile {} -> {}"),
            Text::NoentRename => Row(NO_SUCH_FILE, NOT_FOUND, "no such file or directory, rename {} -> {}"),
            Text::NoentUnzip => Row(NO_SUCH_FILE, NOT_FOUND, "no such file or directory, unzip {} -> \"{}"),
            Text::NoentSourcePath => Row(NO_SUCH_FILE, NOT_FOUND, "no such file or directory, open sourcePath"),
            Text::FileNotExist => Row(NO_SUCH_FILE, Some("saved-not-exist"), "file not exist"),
            Text::TempNotExist => Row(TEMP_NOT_EXIST, Some("temp-not-exist"), "tempFilePath file not exist"),
            Text::NotDir => Row(NOT_A_DIRECTORY, NOT_A_DIR, "not a directory {}"),
            Text::NotDirComma => Row(NOT_A_DIRECTORY, NOT_A_DIR, "not a directory, {}"),
            Text::NotDirInstead => Row(NOT_A_DIRECTORY, NOT_A_DIR, "not a directory{}"),
            Text::NotDirRename => Row(NOT_A_DIRECTORY, NOT_A_DIR, "not a directory, rename {} -> {}"),
            Text::NotDirUnzip => Row(NOT_A_DIRECTORY, NOT_A_DIR, "not a directory, unzip {} -> {}"),
            Text::DeniedOpen => Row(PERMISSION_DENIED, PERMISSION, "permission denied, open {}"),
            Text::DeniedOpenQuoted => Row(PERMISSION_DENIED, PERMISSION, "permission denied, open \"{}\""),
            Text::DeniedCopy => Row(PERMISSION_DENIED, PERMISSION, "permission denied, copyFile {} -> {}"),
            Text::DeniedRename => Row(PERMISSION_DENIED, PERMISSION, "permission denied, rename {} -> {}"),
            Text::DeniedUnzip => Row(PERMISSION_DENIED, PERMISSION, "permission denied, unzip {} -> {}"),
            Text::IllegalOpen => Row(ILLEGAL_ON_DIR, IS_A_DIR, "illegal operation on a directory, open \"{}\""),
            Text::IllegalCopy => Row(ILLEGAL_ON_DIR, IS_A_DIR, "illegal operation on a directory, copyFile {} -> {}"),
            Text::IllegalRename => Row(ILLEGAL_ON_DIR, IS_A_DIR, "illegal operation on a directory, rename {} -> {}"),
            Text::Exists => Row(ALREADY_EXISTS, Some("exists"), "file already exists {}"),
            Text::NotEmpty => Row(DIR_NOT_EMPTY, Some("not-empty"), "directory not empty"),
            Text::NotPermittedUnlink => Row(NOT_PERMITTED, None, "operation not permitted, unlink {}"),
            Text::InvalidRename => Row(INVALID_ARGUMENT, INVALID, "Invalid argument, rename {} -> {}"),
            Text::InvalidExtension => Row(INVALID_ARGUMENT, INVALID, "invalid extension \"{}\""),
            Text::InvalidDigest => Row(INVALID_ARGUMENT, INVALID, "invalid digestAlgorithm \"{}\""),
            Text::InvalidHex => Row(INVALID_ARGUMENT, INVALID, "Invalid argument, invalid hex data"),
            Text::Base64 => Row(BASE64_ERROR, Some("encoding"), "base64 encode error"),
            Text::NameTooLong => Row(NAME_TOO_LONG, INVALID, "File name too long"),
            Text::FdLimit => Row(FD_LIMIT, Some("fd-limit"), "excced max concurrent fd limit"),
            Text::BadFd => Row(BAD_FD, Some("bad-fd"), "bad file descriptor"),
            Text::FdDenied => Row(FD_PERMISSION, PERMISSION, "permission denied"),
            Text::InvalidFlag => Row(INVALID_FLAG, Some("invalid-flag"), "invalid flag"),
            Text::FlagDenied => Row(FLAG_PERMISSION, PERMISSION, "permission denied when open using flag"),
            Text::OffsetRange => Row(OFFSET_RANGE, INVALID, "the value of \"offset\" is out of range"),
            Text::LengthRange => Row(LENGTH_RANGE, INVALID, "the value of \"length\" is out of range"),
            Text::PositionRange => Row(POSITION_RANGE, INVALID, "the value of \"position\" is out of range"),
            Text::NoArrayBuffer => Row(NO_ARRAY_BUFFER, INVALID, "array buffer does not exist"),
            Text::DataEmpty => Row(DATA_EMPTY, INVALID, "data to write is empty"),
            Text::NativeBufferLimit => Row(STORAGE_LIMIT, Some("quota"), "native buffer exceed size limit"),
            Text::TempLimit => Row(TEMP_LIMIT, None, "the maximum size of the temp file storage limit is exceeded"),
            Text::FileTooLarge => Row(FILE_TOO_LARGE, Some("file-too-large"), "file larger than {} bytes"),
            Text::DecompressFail => Row(BROTLI_FAIL, Some("brotli"), "decompress fail"),
            Text::UnzipOpen => Row(UNZIP_OPEN, UNZIP, "unzip open file fail"),
            Text::UnzipEntry => Row(UNZIP_ENTRY, UNZIP, "unzip entry fail"),
            Text::UnzipFail => Row(UNZIP_FAIL, UNZIP, "unzip fail"),
        }
    }

    /// The errCode of this failure.
    pub fn code(self) -> u32 {
        self.row().0
    }

    /// The failure kind, where the row names one (docs/platforms/dialects.json `failureKinds`).
    pub fn kind(self) -> Option<&'static str> {
        self.row().1
    }

    /// The words with `values` in their holes, in order (a hole without a value stays empty).
    pub fn words(self, values: &[&str]) -> String {
        let template = self.row().2;
        let mut out = String::with_capacity(template.len() + values.iter().map(|v| v.len()).sum::<usize>());
        let mut parts = template.split("{}");
        out.push_str(parts.next().unwrap_or_default());
        for (i, part) in parts.enumerate() {
            out.push_str(values.get(i).copied().unwrap_or_default());
            out.push_str(part);
        }
        out
    }

    /// This failure with `values` in its words.
    pub fn at(self, values: &[&str]) -> Error {
        Error { kind: self.kind(), ..Error::new(self.code(), self.words(values)) }
    }

    /// This failure, its words without holes.
    pub fn error(self) -> Error {
        self.at(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fill_the_holes_in_order_and_are_never_read_again() {
        assert_eq!(Text::NoentRename.words(&["a{}", "{}b"]), "no such file or directory, rename a{} -> {}b");
        assert_eq!(Text::NoentUnzip.words(&["z", "t"]), "no such file or directory, unzip z -> \"t");
        assert_eq!(Text::NotEmpty.words(&[]), "directory not empty");
        let e = Text::FileNotExist.error();
        assert_eq!((e.code, e.reason.as_str(), e.kind), (code::NO_SUCH_FILE, "file not exist", Some("saved-not-exist")));
        assert_eq!(Text::NotPermittedUnlink.at(&["wxfile://usr/d"]).kind, None);
    }
}
