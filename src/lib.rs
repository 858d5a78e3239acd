//! wxfs: the storage layer of a mini-program host runtime (see docs/design.md).
//!
//! Layers, from the boundary inward: `ffi` (C ABI) -> `bridge` (api name + JSON) -> `fs`,
//! `storage`, `quota` -> `sandbox`, `io`. Only `ffi`, `io::mmap` (the storage log's shared
//! mapping) and `boot` (Apple's boot time) contain `unsafe` (the compiler enforces it).
//!
//! A Rust host opens a [`Session`] from a [`Config`] and makes every call through
//! [`bridge::invoke`] (or [`bridge::invoke_bytes`]) with WeChat's api names and JSON arguments,
//! the same bridge the C ABI in [`ffi`] serves; the `Session` example shows files and storage.
//! [`session::gc`] and [`session::remove_sandbox`] look after the sandboxes under a root, and
//! [`events`] reports what the library repaired or removed on its own. Modules hidden from these
//! docs are internal: public only for the crate's tests, fuzz targets, benches and CLI
//! (docs/compatibility.md §4).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// Which boot this is (docs/design.md §5): unsafe only for Apple's sysctlbyname, argued in place.
pub(crate) mod boot;
#[deny(unsafe_code)]
pub mod bridge;
#[deny(unsafe_code)]
pub(crate) mod crash;
#[deny(unsafe_code)]
pub mod error;
#[deny(unsafe_code)]
pub mod events;
pub mod ffi;
#[deny(unsafe_code)]
pub mod fs;
// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
#[deny(unsafe_code)]
pub mod fsck;
// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
#[doc(hidden)]
#[deny(unsafe_code)]
pub mod import;
// Not a stable API (docs/compatibility.md §4): public only for tests, fuzz, benches and the CLI.
// `unsafe` is denied in `io` but for one module, `io::mmap`: mapping a file is `unsafe`, and the
// mapping's soundness is argued there (`io/mod.rs` allows it on that module's line alone).
#[doc(hidden)]
#[deny(unsafe_code)]
pub mod io;
#[deny(unsafe_code)]
pub mod platform;
#[deny(unsafe_code)]
pub mod quota;
#[deny(unsafe_code)]
pub mod sandbox;
#[deny(unsafe_code)]
pub mod session;
#[deny(unsafe_code)]
pub mod storage;

pub use error::{Error, Result};
pub use session::{Config, Session};
