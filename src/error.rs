//! One error type for every API failure: a WeChat errCode plus the reason text that follows
//! `"<api>:fail "` in errMsg. The bridge adds the api name; the core never knows it.

use std::fmt;

/// WeChat's FileSystemManager codes (docs/wechat-behaviour.md §3.2) and this library's own storage codes.
pub mod code {
    /// `operation not permitted` (unlink of a directory or an area root).
    pub const NOT_PERMITTED: u32 = 1_300_001;
    /// `no such file or directory`.
    pub const NO_SUCH_FILE: u32 = 1_300_002;
    /// WeChat's I/O error code (`1300005`).
    pub const IO_ERROR: u32 = 1_300_005;
    /// `bad file descriptor`.
    pub const BAD_FD: u32 = 1_300_009;
    /// `permission denied`: a write into an area the mini-program may only read.
    pub const PERMISSION_DENIED: u32 = 1_300_013;
    /// `permission denied` for a path that is not a valid sandbox path.
    pub const PATH_PERMISSION_DENIED: u32 = 1_300_014;
    /// `not a directory`.
    pub const NOT_A_DIRECTORY: u32 = 1_300_020;
    /// `is a directory`.
    pub const IS_A_DIRECTORY: u32 = 1_300_021;
    /// `invalid argument` (bad encoding, extension, digest algorithm, ...).
    pub const INVALID_ARGUMENT: u32 = 1_300_022;
    /// `File name too long`.
    pub const NAME_TOO_LONG: u32 = 1_300_036;
    /// `directory not empty`.
    pub const DIR_NOT_EMPTY: u32 = 1_300_066;
    /// `system error`: an OS failure with no more specific WeChat code.
    pub const SYSTEM_ERROR: u32 = 1_300_201;
    /// `the maximum size of the file storage limit is exceeded` (user-file quota or a full device).
    pub const STORAGE_LIMIT: u32 = 1_300_202;
    /// `base64 encode error`.
    pub const BASE64_ERROR: u32 = 1_300_203;
    /// WeChat's code for no access to `wxfile://usr` (`1301000`).
    pub const NO_ACCESS_USR: u32 = 1_301_000;
    /// WeChat's code for empty data (`1301002`).
    pub const DATA_EMPTY: u32 = 1_301_002;
    /// `illegal operation on a directory`.
    pub const ILLEGAL_ON_DIR: u32 = 1_301_003;
    /// A write into the read-only code package.
    pub const ILLEGAL_ON_PACKAGE: u32 = 1_301_004;
    /// `file already exists`.
    pub const ALREADY_EXISTS: u32 = 1_301_005;
    /// `the value of "length" is out of range`.
    pub const LENGTH_RANGE: u32 = 1_301_006;
    /// `the value of "offset" is out of range`.
    pub const OFFSET_RANGE: u32 = 1_301_007;
    /// `the value of "position" is out of range`.
    pub const POSITION_RANGE: u32 = 1_301_009;
    /// `unzip open file fail`.
    pub const UNZIP_OPEN: u32 = 1_301_102;
    /// `unzip entry fail`.
    pub const UNZIP_ENTRY: u32 = 1_301_103;
    /// `unzip fail`.
    pub const UNZIP_FAIL: u32 = 1_301_104;
    /// `decompress fail` (readCompressedFile).
    pub const BROTLI_FAIL: u32 = 1_301_111;
    /// `tempFilePath file not exist`.
    pub const TEMP_NOT_EXIST: u32 = 1_301_112;
    /// `permission denied` on a file descriptor (e.g. writing an fd opened read-only).
    pub const FD_PERMISSION: u32 = 1_302_001;
    /// Too many open file descriptors (WeChat's text: `excced max concurrent fd limit`).
    pub const FD_LIMIT: u32 = 1_302_002;
    /// `invalid flag` (open).
    pub const INVALID_FLAG: u32 = 1_302_003;
    /// `permission denied when open using flag`.
    pub const FLAG_PERMISSION: u32 = 1_302_004;
    /// `array buffer does not exist`.
    pub const NO_ARRAY_BUFFER: u32 = 1_302_005;

    // WeChat defines no numeric codes for storage failures; these are ours (docs/design.md §8).
    /// Storage: `data not found` (getStorage of a missing key).
    pub const STORAGE_NOT_FOUND: u32 = 1_400_001;
    /// Storage: `exceed storage item max length`.
    pub const STORAGE_ITEM_TOO_LARGE: u32 = 1_400_002;
    /// Storage: `exceed storage max size 10Mb` (or a full device).
    pub const STORAGE_FULL: u32 = 1_400_003;
    /// Storage: invalid arguments (e.g. an empty key).
    pub const STORAGE_INVALID: u32 = 1_400_004;
    /// Storage: `storage I/O error` from the log.
    pub const STORAGE_IO: u32 = 1_400_005;
    /// `encrypt: true` in a sandbox opened without an `encryptionKey`.
    pub const STORAGE_NO_KEY: u32 = 1_400_006;
    /// The encrypted items were written with another `encryptionKey`.
    pub const STORAGE_WRONG_KEY: u32 = 1_400_007;
    /// A get without `encrypt` of an item stored with `encrypt: true`.
    pub const STORAGE_ENCRYPTED: u32 = 1_400_008;
    /// Host temp creation refused: the sandbox's temp files would exceed the runtime limit.
    pub const TEMP_LIMIT: u32 = 1_400_101;
    /// createBufferURL refused: the sandbox's buffer URLs would exceed `limits.bufferUrls`.
    pub const BUFFER_URL_LIMIT: u32 = 1_400_102;
    /// One file over a platform's per-file limit (Alipay: 10 MB; WeChat has none).
    pub const FILE_TOO_LARGE: u32 = 1_400_103;
}

/// An API failure: `errCode` and the reason text of errMsg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The errCode: one of [`code`].
    pub code: u32,
    /// What follows `"<api>:fail "` in errMsg.
    pub reason: String,
    /// Its failure kind (docs/platforms/dialects.json `failureKinds`), where the row of WeChat's
    /// words it was built from (`fs::texts`) names one; otherwise the code tells the kind.
    pub kind: Option<&'static str>,
}

/// A result whose error is an API failure.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with this errCode and reason text.
    pub fn new(code: u32, reason: impl Into<String>) -> Self {
        Error { code, reason: reason.into(), kind: None }
    }

    /// WeChat's wording for a missing or mistyped argument.
    pub fn param(code: u32, name: &str, expected: &str, got: &str) -> Self {
        Error::new(code, format!("parameter error: parameter.{name} should be {expected} instead of {got};"))
    }

    /// The user-file quota is exceeded: WeChat's storage-limit code and text.
    pub fn storage_limit() -> Self {
        Error::new(code::STORAGE_LIMIT, "the maximum size of the file storage limit is exceeded")
    }

    /// The device is full: WeChat's storage-limit code, in words that say which limit it was.
    pub fn device_full() -> Self {
        Error::new(code::STORAGE_LIMIT, "the maximum size of the file storage limit is exceeded (no space left on device)")
    }

    /// An OS error no method has its own words for. WeChat's 13000xx codes are 1300000 + errno:
    /// the two of its table that are not worded per method (EIO, EISDIR) keep the table's code and
    /// text; any other is a system error.
    pub fn system(err: &std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::EIO) => Error::new(code::IO_ERROR, "Input/output error"),
            Some(libc::EISDIR) => Error::is_a_directory(),
            _ => Error::new(code::SYSTEM_ERROR, format!("system error: {}", io_kind_text(err))),
        }
    }

    /// 1300021, in the words of WeChat's table.
    pub fn is_a_directory() -> Self {
        Error::new(code::IS_A_DIRECTORY, "Is a directory")
    }
}

/// Text for an OS error that never includes a host path.
fn io_kind_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => format!("{} (os error {n})", err.kind()),
        None => err.kind().to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errCode {})", self.reason, self.code)
    }
}

impl std::error::Error for Error {}
