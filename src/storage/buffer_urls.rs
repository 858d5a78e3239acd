//! `wx.createBufferURL` / `wx.revokeBufferURL` (base library 2.14.0, storage category): a URL for
//! bytes held in memory, which the host resolves when a media component is handed it.
//!
//! Per sandbox (the session holds them), bounded by `limits.bufferUrls` bytes in all, freed on
//! revoke and when the sandbox closes. URLs are `wxblob://` (WeChat's scheme) and 32 random hex
//! digits: opaque and unguessable, not a content hash (which would tell equal buffers apart).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Most URLs one sandbox holds at once, whatever their bytes: empty buffers cost nothing against
/// `limits.bufferUrls`, but each URL's bookkeeping does.
pub const MAX_URLS: usize = 65_536;

/// The scheme of every URL `createBufferURL` gives.
pub const SCHEME: &str = "wxblob://";

/// The buffers of one sandbox's `createBufferURL` URLs, bounded together by `limits.bufferUrls`.
pub struct BufferUrls {
    limit: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    urls: HashMap<String, Arc<[u8]>>,
    bytes: u64,
}

/// Why a buffer URL was refused (the session words it: this library's code 1400102).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The sandbox holds `max` URLs already.
    TooMany {
        /// The most URLs a sandbox holds.
        max: usize,
    },
    /// The URLs would hold `would_hold` bytes, over their `limit` (`limits.bufferUrls`).
    TooLarge {
        /// Bytes held with this one.
        would_hold: u64,
        /// The most bytes held at once.
        limit: u64,
    },
}

impl BufferUrls {
    /// No URLs yet; at most `limit` bytes held at once.
    pub fn new(limit: u64) -> BufferUrls {
        BufferUrls { limit, inner: Mutex::new(Inner::default()) }
    }

    /// A new URL for a copy of `bytes`; refused, holding nothing, past the limit.
    pub fn create(&self, bytes: &[u8]) -> Result<String, Refused> {
        let mut inner = self.inner.lock();
        if inner.urls.len() >= MAX_URLS {
            return Err(Refused::TooMany { max: MAX_URLS });
        }
        if inner.bytes.saturating_add(bytes.len() as u64) > self.limit {
            return Err(Refused::TooLarge { would_hold: inner.bytes.saturating_add(bytes.len() as u64), limit: self.limit });
        }
        let url = format!("{SCHEME}{}", crate::sandbox::random_name(None));
        inner.bytes += bytes.len() as u64;
        inner.urls.insert(url.clone(), Arc::from(bytes));
        Ok(url)
    }

    /// Frees the bytes of `url`; false (and nothing done) when it is not one of this sandbox's.
    pub fn revoke(&self, url: &str) -> bool {
        let mut inner = self.inner.lock();
        match inner.urls.remove(url) {
            Some(b) => {
                inner.bytes -= b.len() as u64;
                true
            }
            None => false,
        }
    }

    /// The bytes behind `url` (shared: a revoke while the host reads them does not cut them).
    pub fn resolve(&self, url: &str) -> Option<Arc<[u8]>> {
        self.inner.lock().urls.get(url).cloned()
    }

    /// Bytes held and URLs live.
    pub fn usage(&self) -> (u64, usize) {
        let inner = self.inner.lock();
        (inner.bytes, inner.urls.len())
    }

    /// The most bytes held at once.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{code, Error};

    #[test]
    fn bounded_revocable_and_unguessable() {
        let b = BufferUrls::new(10);
        let u1 = b.create(b"12345").unwrap();
        let u2 = b.create(b"12345").unwrap();
        assert_ne!(u1, u2, "equal bytes, distinct URLs");
        assert!(u1.starts_with(SCHEME) && u1.len() == SCHEME.len() + 32, "{u1}");
        assert_eq!(Error::from(b.create(b"x").unwrap_err()).code, code::BUFFER_URL_LIMIT);
        assert_eq!(b.usage(), (10, 2));
        let held = b.resolve(&u1).unwrap();
        assert!(b.revoke(&u1));
        assert!(!b.revoke(&u1));
        assert_eq!(&*held, b"12345", "a resolved buffer outlives its revoke");
        assert!(b.resolve(&u1).is_none());
        assert_eq!(b.usage(), (5, 1));
        b.create(b"abcde").unwrap();
    }

    #[test]
    fn empty_buffers_are_bounded_by_count() {
        let b = BufferUrls::new(10);
        let urls: Vec<String> = (0..MAX_URLS).map(|_| b.create(b"").unwrap()).collect();
        let e = Error::from(b.create(b"").unwrap_err());
        assert_eq!(e.code, code::BUFFER_URL_LIMIT, "{}", e.reason);
        assert_eq!(b.usage(), (0, MAX_URLS));
        assert!(b.revoke(&urls[0]));
        b.create(b"").unwrap();
    }
}
