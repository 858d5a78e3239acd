//! wxfs: the storage layer of a mini-program host runtime (see DESIGN.md).
//!
//! Layers, from the boundary inward: `ffi` (C ABI) -> `bridge` (api name + JSON) -> `fs`,
//! `storage`, `quota` -> `sandbox`. Only `ffi` contains `unsafe` (the compiler enforces it).

#![deny(unsafe_op_in_unsafe_fn)]

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
#[deny(unsafe_code)]
pub mod fsck;
#[deny(unsafe_code)]
pub mod io;
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
