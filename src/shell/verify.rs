//! Signatures through WebCrypto: the core takes the token apart and checks the claims; this
//! module imports the key (cached) and verifies the signature.

use std::cell::RefCell;

use web_sys::CryptoKey;

use super::crypto;
use crate::core::claims::{self, Expectations, Verified};
use crate::core::jwk::{self, Jwks};
use crate::core::jwt::{self, SignatureChecked};
use crate::core::{Error, ErrorCode};

/// Decodes `token`, checks `crit` (RFC 7515 §4.1.11) and `alg` against the allow-list (never
/// from the token alone, RFC 8725 §3.1), finds the key and verifies the signature. Gives
/// `unknown_key` when no key fits, so a caller holding a JWKS URI can fetch it once more.
pub async fn verify_signature(
    token: &str,
    algorithms: &[String],
    jwks: &Jwks,
) -> Result<SignatureChecked, Error> {
    let decoded = jwt::decode(token)?;
    jwt::check_crit(&decoded.header)?;
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
    Ok(decoded.signature_checked())
}

/// An imported WebCrypto key, with the algorithm and the public JWK it came from.
struct Imported {
    alg: String,
    jwk: jwk::Jwk,
    key: CryptoKey,
}

thread_local! {
    /// Imported WebCrypto keys, found by algorithm and public key material: importing costs
    /// more than a verification, and JWKS keys rarely change.
    static KEYS: RefCell<Vec<Imported>> = const { RefCell::new(Vec::new()) };
}

/// At most this many keys are kept (a JWKS holds a few; rotation adds one at a time).
const MAX_CACHED_KEYS: usize = 32;

async fn imported_key(key: &jwk::Jwk, alg: &str) -> Result<CryptoKey, Error> {
    let cached = KEYS.with(|k| {
        k.borrow()
            .iter()
            .find(|i| i.alg == alg && jwk::same_public_key(&i.jwk, key))
            .map(|i| i.key.clone())
    });
    if let Some(found) = cached {
        return Ok(found);
    }
    let imported = crypto::import_public_jwk(&key.to_json(), alg).await?;
    KEYS.with(|k| {
        let mut keys = k.borrow_mut();
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.push(Imported {
            alg: alg.to_owned(),
            jwk: key.clone(),
            key: imported.clone(),
        });
    });
    Ok(imported)
}

/// Signature, then claims (`verifyJwt`).
pub async fn verify(
    token: &str,
    algorithms: &[String],
    jwks: &Jwks,
    expectations: &Expectations<'_>,
) -> Result<Verified, Error> {
    let checked = verify_signature(token, algorithms, jwks).await?;
    claims::check(checked, expectations)
}
