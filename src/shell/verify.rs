//! Token verification: the core decodes and checks claims, WebCrypto checks the signature.

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
    jwt::check_alg(&decoded.alg, algorithms)?;
    if !jwt::supported_alg(&decoded.alg) {
        return Err(Error::new(
            ErrorCode::UnsupportedAlg,
            format!("{} is not supported", decoded.alg),
        ));
    }
    let key = jwk::select_key(jwks, decoded.kid.as_deref(), &decoded.alg)?;
    let key_json = serde_json::to_value(key)
        .map_err(|_| Error::new(ErrorCode::UnknownKey, "unusable JWKS key"))?;
    let crypto_key = crypto::import_public_jwk(&key_json, &decoded.alg).await?;
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
