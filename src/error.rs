//! One error type for every API failure: a WeChat errCode plus the reason text that follows
//! `"<api>:fail "` in errMsg. The bridge adds the api name; the core never knows it.

use std::fmt;

/// WeChat's FileSystemManager codes (spec.md §3.2) and this library's own storage codes.
pub mod code {
    pub const NOT_PERMITTED: u32 = 1_300_001;
    pub const NO_SUCH_FILE: u32 = 1_300_002;
    pub const IO_ERROR: u32 = 1_300_005;
    pub const BAD_FD: u32 = 1_300_009;
    pub const PERMISSION_DENIED: u32 = 1_300_013;
    pub const PATH_PERMISSION_DENIED: u32 = 1_300_014;
    pub const NOT_A_DIRECTORY: u32 = 1_300_020;
    pub const IS_A_DIRECTORY: u32 = 1_300_021;
    pub const INVALID_ARGUMENT: u32 = 1_300_022;
    pub const NAME_TOO_LONG: u32 = 1_300_036;
    pub const DIR_NOT_EMPTY: u32 = 1_300_066;
    pub const SYSTEM_ERROR: u32 = 1_300_201;
    pub const STORAGE_LIMIT: u32 = 1_300_202;
    pub const BASE64_ERROR: u32 = 1_300_203;
    pub const NO_ACCESS_USR: u32 = 1_301_000;
    pub const DATA_EMPTY: u32 = 1_301_002;
    pub const ILLEGAL_ON_DIR: u32 = 1_301_003;
    pub const ILLEGAL_ON_PACKAGE: u32 = 1_301_004;
    pub const ALREADY_EXISTS: u32 = 1_301_005;
    pub const LENGTH_RANGE: u32 = 1_301_006;
    pub const OFFSET_RANGE: u32 = 1_301_007;
    pub const POSITION_RANGE: u32 = 1_301_009;
    pub const UNZIP_OPEN: u32 = 1_301_102;
    pub const UNZIP_ENTRY: u32 = 1_301_103;
    pub const UNZIP_FAIL: u32 = 1_301_104;
    pub const BROTLI_FAIL: u32 = 1_301_111;
    pub const TEMP_NOT_EXIST: u32 = 1_301_112;
    pub const FD_PERMISSION: u32 = 1_302_001;
    pub const FD_LIMIT: u32 = 1_302_002;
    pub const INVALID_FLAG: u32 = 1_302_003;
    pub const FLAG_PERMISSION: u32 = 1_302_004;
    pub const NO_ARRAY_BUFFER: u32 = 1_302_005;

    // WeChat defines no numeric codes for storage failures; these are ours (DESIGN.md §7).
    pub const STORAGE_NOT_FOUND: u32 = 1_400_001;
    pub const STORAGE_ITEM_TOO_LARGE: u32 = 1_400_002;
    pub const STORAGE_FULL: u32 = 1_400_003;
    pub const STORAGE_INVALID: u32 = 1_400_004;
    pub const STORAGE_IO: u32 = 1_400_005;
    /// Host temp creation refused: the sandbox's temp files would exceed the runtime limit.
    pub const TEMP_LIMIT: u32 = 1_400_101;
    /// One file over a platform's per-file limit (Alipay: 10 MB; WeChat has none).
    pub const FILE_TOO_LARGE: u32 = 1_400_102;
}

/// An API failure: `errCode` and the reason text of errMsg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: u32,
    pub reason: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: u32, reason: impl Into<String>) -> Self {
        Error { code, reason: reason.into() }
    }

    /// WeChat's wording for a missing or mistyped argument.
    pub fn param(code: u32, name: &str, expected: &str, got: &str) -> Self {
        Error::new(code, format!("parameter error: parameter.{name} should be {expected} instead of {got};"))
    }

    pub fn storage_limit() -> Self {
        Error::new(code::STORAGE_LIMIT, "the maximum size of the file storage limit is exceeded")
    }

    /// The device is full: WeChat's storage-limit code, in words that say which limit it was.
    pub fn device_full() -> Self {
        Error::new(code::STORAGE_LIMIT, "the maximum size of the file storage limit is exceeded (no space left on device)")
    }

    /// An OS error with no documented WeChat wording.
    pub fn system(err: &std::io::Error) -> Self {
        Error::new(code::SYSTEM_ERROR, format!("system error: {}", io_kind_text(err)))
    }
}

/// Text for an OS error that never includes a host path.
fn io_kind_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => format!("{} (os error {n})", err.kind()),
        None => err.kind().to_string(),
    }
}

/// Storage failures in the words of spec.md §10, with this library's codes: one mapping for the
/// bridge and the typed C API alike.
impl From<crate::storage::StoreError> for Error {
    fn from(e: crate::storage::StoreError) -> Error {
        use crate::storage::StoreError;
        match e {
            StoreError::ItemTooLarge => Error::new(code::STORAGE_ITEM_TOO_LARGE, "exceed storage item max length"),
            StoreError::TotalExceeded => Error::new(code::STORAGE_FULL, "exceed storage max size 10Mb"),
            StoreError::EmptyKey => Error::new(code::STORAGE_INVALID, "parameter error: key should not be empty"),
            StoreError::Io(e) if is_device_full(&e) => {
                Error::new(code::STORAGE_FULL, "exceed storage max size 10Mb (no space left on device)")
            }
            StoreError::Io(e) => Error::new(code::STORAGE_IO, format!("storage I/O error: {}", e.kind())),
        }
    }
}

/// The device (or the user's disk quota) is full.
fn is_device_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errCode {})", self.reason, self.code)
    }
}

impl std::error::Error for Error {}
