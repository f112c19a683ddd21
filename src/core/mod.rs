//! The protocol core: pure functions over protocol values. Time and randomness come in as
//! arguments; nothing here performs I/O. `tests/core_is_pure.rs` keeps browser crates out.

pub mod assertion;
pub mod authorization;
pub mod base64url;
pub mod claims;
pub mod config;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod form;
pub mod jwk;
pub mod jws;
pub mod jwt;
pub mod pkce;
pub mod session;
pub mod token;
pub mod uri;

pub use error::{Error, ErrorCode, Result};
