//! How a failed OS call reads in WeChat's vocabulary, and the error shapes shared by the methods.

use std::io;

use super::texts::Text;
use crate::error::{code, Error};
use crate::sandbox::{Area, PathError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    NotFound,
    NotDir,
    IsDir,
    Exists,
    NotEmpty,
    /// Refused by the OS or by the capability layer (a symlink leading out of the area).
    Denied,
    TooLong,
    /// The device (or the user's disk quota) is full.
    Full,
    /// The process (or system) has no fd left.
    FdLimit,
    Other,
}

pub(crate) fn classify(e: &io::Error) -> Fail {
    if let Some(n) = e.raw_os_error() {
        return match n {
            libc::ENOENT => Fail::NotFound,
            libc::ENOTDIR => Fail::NotDir,
            libc::EISDIR => Fail::IsDir,
            libc::EEXIST => Fail::Exists,
            libc::ENOTEMPTY => Fail::NotEmpty,
            libc::EACCES | libc::EPERM | libc::ELOOP | libc::EXDEV | libc::EROFS => Fail::Denied,
            libc::ENAMETOOLONG => Fail::TooLong,
            libc::ENOSPC | libc::EDQUOT | libc::EFBIG => Fail::Full,
            libc::EMFILE | libc::ENFILE => Fail::FdLimit,
            _ => Fail::Other,
        };
    }
    match e.kind() {
        io::ErrorKind::NotFound => Fail::NotFound,
        io::ErrorKind::PermissionDenied => Fail::Denied,
        io::ErrorKind::AlreadyExists => Fail::Exists,
        io::ErrorKind::NotADirectory => Fail::NotDir,
        io::ErrorKind::IsADirectory => Fail::IsDir,
        io::ErrorKind::DirectoryNotEmpty => Fail::NotEmpty,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => Fail::Full,
        _ => Fail::Other,
    }
}

/// An OS refusal (or a link leading out of the area) in the method's permission words, any
/// other failure as `other`: the two ways a lookup fails in WeChat's vocabulary.
pub(crate) fn denied_or(e: &io::Error, denied: impl Fn() -> String, other: impl FnOnce() -> Error) -> Error {
    match classify(e) {
        Fail::Denied => Error::new(code::PERMISSION_DENIED, denied()),
        _ => other(),
    }
}

pub(crate) fn too_long() -> Error {
    Text::NameTooLong.error()
}

pub(crate) fn fd_limit() -> Error {
    Text::FdLimit.error()
}

/// A parse failure in the words of the method's permission message.
pub(crate) fn path_error(e: PathError, denied: impl FnOnce() -> String) -> Error {
    match e {
        PathError::TooLong => too_long(),
        _ => Error::new(code::PATH_PERMISSION_DENIED, denied()),
    }
}

/// A write into an area the mini-program may only read.
pub(crate) fn area_denied(area: Area, msg: String) -> Error {
    let c = if area == Area::Package { code::ILLEGAL_ON_PACKAGE } else { code::PERMISSION_DENIED };
    Error::new(c, msg)
}

/// A write the device could not take, or any other failed write in system words.
pub(crate) fn write_error(e: &io::Error, noent: impl Fn() -> Error) -> Error {
    match classify(e) {
        Fail::Full => Error::device_full(),
        Fail::NotFound => noent(),
        Fail::TooLong => too_long(),
        Fail::FdLimit => fd_limit(),
        _ => Error::system(e),
    }
}
