//! The protocol core: pure functions over protocol values. Time and randomness come in as
//! arguments; nothing here performs I/O. `tests/core_is_pure.rs` keeps browser crates out.

pub mod alg;
pub mod assertion;
pub mod authorize;
pub mod base64url;
pub mod callback;
pub mod claims;
pub mod config;
pub mod context;
pub mod discovery;
pub mod dpop;
pub mod engine;
pub mod error;
pub mod form;
pub mod helseid;
pub mod host;
pub mod json;
pub mod jwk;
pub mod jws;
pub mod jwt;
pub mod limits;
pub mod logout;
pub mod pkce;
pub mod portal;
pub mod refresh;
pub mod secret;
pub mod session;
pub mod tab_message;
pub mod token;
pub mod uri;
pub mod vecmap;

pub use error::{Error, ErrorCode, Result};
