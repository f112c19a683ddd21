//! helseid-wasm: a HelseID (OpenID Connect) client for browsers, compiled to WebAssembly.
//!
//! `core` is the protocol: plain Rust, no browser crates, tested natively with `cargo test`.
//! `shell` is the thin browser layer (fetch, WebCrypto, storage, timers, `location`) and the
//! JavaScript API of API.md; it exists only on wasm32.

pub mod core;

#[cfg(target_arch = "wasm32")]
mod shell;
