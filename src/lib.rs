//! wxfs: the storage layer of a mini-program host runtime (see DESIGN.md).
//!
//! Layers, from the boundary inward: `ffi` (C ABI) -> `bridge` (api name + JSON) -> `fs`,
//! `storage`, `quota` -> `sandbox`. Only `ffi` contains `unsafe`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod bridge;
pub mod error;
pub mod ffi;
pub mod fs;
pub mod fsck;
pub mod io;
pub mod quota;
pub mod sandbox;
pub mod session;
pub mod storage;

pub use error::{Error, Result};
pub use session::{Config, Session};
