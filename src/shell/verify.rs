//! Token verification: the core decodes and checks claims, WebCrypto checks the signature.

use std::cell::RefCell;
use std::collections::BTreeMap;

use web_sys::CryptoKey;

use crate::core::claims::{self, Expectations};
use crate::core::jwk::{self, Jwks};
use crate::core::jwt::{self, DecodedJwt};
use crate::core::{Error, ErrorCode};

use super::crypto;

/// Decodes `token`, checks `alg` against the allow-list (never from the token alone), finds
/// the key and verifies the signature. Returns `UnknownKey` when no key fits, so a caller
/// holding a JWKS URI can fetch it once more (key rotation) and call again.
pub async fn verify_signature(
    token: &str,
    algorithms: &[String],
    jwks: &Jwks,
) -> Result<DecodedJwt, Error> {
    let decoded = jwt::decode(token)?;
    // Refuses none, HS* and anything WebCrypto cannot verify here, as well as the unlisted.
    jwt::check_alg(&decoded.alg, algorithms)?;
    let key = jwk::select_key(jwks, decoded.kid.as_deref(), &decoded.alg)?;
    let crypto_key = imported_key(key, &decoded.alg).await?;
    let ok = crypto::verify(
        &decoded.alg,
        &crypto_key,
        &decoded.signature,
        decoded.signing_input.as_bytes(),
    )
    .await?;
    if !ok {
        return Err(Error::new(
            ErrorCode::SignatureInvalid,
            "the token's signature does not verify",
        ));
    }
    Ok(decoded)
}

thread_local! {
    /// Imported WebCrypto keys by algorithm and RFC 7638 thumbprint input (the public key
    /// itself): importing costs more than a verification, and JWKS keys rarely change.
    static KEYS: RefCell<BTreeMap<String, CryptoKey>> = const { RefCell::new(BTreeMap::new()) };
}

/// At most this many keys are kept (a JWKS holds a few; rotation adds one at a time).
const MAX_CACHED_KEYS: usize = 32;

async fn imported_key(key: &jwk::Jwk, alg: &str) -> Result<CryptoKey, Error> {
    let cache_key = format!("{alg} {}", jwk::thumbprint_input(key)?);
    if let Some(found) = KEYS.with(|k| k.borrow().get(&cache_key).cloned()) {
        return Ok(found);
    }
    let key_json = serde_json::to_value(key)
        .map_err(|_| Error::new(ErrorCode::UnknownKey, "unusable JWKS key"))?;
    let imported = crypto::import_public_jwk(&key_json, alg).await?;
    KEYS.with(|k| {
        let mut keys = k.borrow_mut();
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(cache_key, imported.clone());
    });
    Ok(imported)
}

/// Signature, then claims.
pub async fn verify(
    token: &str,
    algorithms: &[String],
    jwks: &Jwks,
    expectations: &Expectations<'_>,
) -> Result<DecodedJwt, Error> {
    let decoded = verify_signature(token, algorithms, jwks).await?;
    claims::validate(&decoded.header, &decoded.claims, expectations)?;
    Ok(decoded)
}
