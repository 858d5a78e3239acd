//! The store's own error: what failed, in the store's words. The session words it for the API.

use std::fmt;
use std::io;

/// Why a change to the store failed; the store is as it was before the call. The store's own
/// error, in its own words: the session words it as an API failure (WeChat's errMsg and this
/// library's codes, docs/design.md §8).
#[derive(Debug)]
pub enum StoreError {
    /// key + data + dataType exceed `Limits::item` (or one log record's cap, 64 MiB).
    ItemTooLarge,
    /// The store would exceed `Limits::total`.
    TotalExceeded,
    /// The key is empty.
    EmptyKey,
    /// The log could not be written.
    Io(io::Error),
    /// A plain key in the names reserved for sealed items (U+0000 "wxfs-sealed:").
    ReservedKey,
    /// `encrypt: true`, but the sandbox was opened without an encryption key.
    NoKey,
    /// The sandbox's encrypted items were written with another encryption key.
    WrongKey,
    /// This key's encrypted value does not open while others do: it is damaged, or was sealed
    /// for another sandbox or with another key.
    Damaged,
    /// No random nonce could be drawn to seal a value (the OS's words).
    NoRandom(String),
    /// A value could not be sealed (the encoder's or the cipher's words).
    Seal(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::ItemTooLarge => f.write_str("item exceeds the storage item limit"),
            StoreError::TotalExceeded => f.write_str("storage total limit exceeded"),
            StoreError::EmptyKey => f.write_str("key is empty"),
            StoreError::Io(e) => write!(f, "storage io error: {e}"),
            StoreError::ReservedKey => f.write_str("key names beginning with U+0000 \"wxfs-sealed:\" are reserved"),
            StoreError::NoKey => f.write_str("no encryption key"),
            StoreError::WrongKey => f.write_str("the encrypted items were written with another encryption key"),
            StoreError::Damaged => f.write_str("the encrypted value does not open"),
            StoreError::NoRandom(e) => write!(f, "no random nonce: {e}"),
            StoreError::Seal(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> StoreError {
        StoreError::Io(e)
    }
}
