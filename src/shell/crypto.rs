//! WebCrypto: verify token signatures, sign DPoP proofs and client assertions, make DPoP keys.
//! Private keys are always non-extractable; no key material enters wasm memory.

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use super::js::{from_js, get, json_to_js, object};
use crate::core::alg::{self, Alg, Family};
use crate::core::{Error, ErrorCode};

thread_local! {
    /// `crypto.subtle`, looked up once: every verification and proof needs it.
    static SUBTLE: std::cell::OnceCell<SubtleCrypto> = const { std::cell::OnceCell::new() };
    /// Sign/verify parameters by algorithm: plain objects WebCrypto only reads, built once.
    static SIGN_PARAMS: std::cell::RefCell<Vec<(&'static str, Object)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub fn subtle() -> Result<SubtleCrypto, Error> {
    if let Some(subtle) = SUBTLE.with(|s| s.get().cloned()) {
        return Ok(subtle);
    }
    let crypto = get(&js_sys::global(), "crypto");
    let subtle = get(&crypto, "subtle");
    let subtle = subtle.dyn_into::<SubtleCrypto>().map_err(|_| {
        Error::new(
            ErrorCode::ConfigInvalid,
            "crypto.subtle is unavailable: a secure context (https or localhost) is required",
        )
    })?;
    SUBTLE.with(|s| {
        let _ = s.set(subtle.clone());
    });
    Ok(subtle)
}

fn alg_entry(alg: &str) -> Result<&'static Alg, Error> {
    alg::find(alg).ok_or_else(|| {
        Error::new(
            ErrorCode::UnsupportedAlg,
            format!("{alg} cannot be used with WebCrypto"),
        )
    })
}

/// RFC 7518 §3.1: the WebCrypto algorithm to import a key for `alg` with.
pub fn import_params(alg: &str) -> Result<Object, Error> {
    let a = alg_entry(alg)?;
    Ok(match a.family {
        Family::Ec { curve } => object(&[("name", "ECDSA".into()), ("namedCurve", curve.into())]),
        _ => object(&[
            ("name", a.webcrypto_name().into()),
            ("hash", a.hash_name().into()),
        ]),
    })
}

/// The WebCrypto parameters for sign/verify with `alg` (RFC 7518 §3.3-3.5: PSS salt = hash
/// size, ECDSA names its hash).
pub fn sign_params(alg: &str) -> Result<Object, Error> {
    let a = alg_entry(alg)?;
    if let Some(found) = SIGN_PARAMS.with(|p| {
        p.borrow()
            .iter()
            .find(|(name, _)| *name == a.name)
            .map(|(_, params)| params.clone())
    }) {
        return Ok(found);
    }
    let params = match a.family {
        Family::Rsa => object(&[("name", a.webcrypto_name().into())]),
        Family::RsaPss => object(&[
            ("name", a.webcrypto_name().into()),
            ("saltLength", JsValue::from(a.hash_bits / 8)),
        ]),
        Family::Ec { .. } => object(&[
            ("name", a.webcrypto_name().into()),
            ("hash", a.hash_name().into()),
        ]),
    };
    SIGN_PARAMS.with(|p| p.borrow_mut().push((a.name, params.clone())));
    Ok(params)
}

fn usages(usage: &str) -> JsValue {
    Array::of1(&JsValue::from_str(usage)).into()
}

async fn run(
    promise: Result<js_sys::Promise, JsValue>,
    code: ErrorCode,
    what: &str,
) -> Result<JsValue, Error> {
    let promise = promise.map_err(|e| from_js(code, what, &e))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| from_js(code, what, &e))
}

/// Imports a public JWK (from a JWKS) for verification, non-extractable.
pub async fn import_public_jwk(jwk: &serde_json::Value, alg: &str) -> Result<CryptoKey, Error> {
    // Only the public members: a JWKS entry may carry `alg`/`use`/`key_ops` that WebCrypto
    // would check against our own use.
    let mut public = serde_json::Map::new();
    for member in ["kty", "crv", "x", "y", "n", "e"] {
        if let Some(v) = jwk.get(member) {
            public.insert(member.into(), v.clone());
        }
    }
    let data: Object = json_to_js(&serde_json::Value::Object(public)).unchecked_into();
    let key = run(
        subtle()?.import_key_with_object(
            "jwk",
            &data,
            &import_params(alg)?,
            false,
            &usages("verify"),
        ),
        ErrorCode::UnknownKey,
        "the JWKS key could not be imported",
    )
    .await?;
    Ok(key.unchecked_into())
}

/// Imports the client's private JWK for signing assertions, never extractable.
pub async fn import_private_jwk(jwk: &JsValue, alg: &str) -> Result<CryptoKey, Error> {
    // Strip members that would make importKey refuse a usage or flag extractability.
    let copy = Object::assign(&Object::new(), jwk.unchecked_ref());
    for member in ["key_ops", "ext", "use", "alg"] {
        let _ = js_sys::Reflect::delete_property(&copy, &JsValue::from_str(member));
    }
    let key = run(
        subtle()?.import_key_with_object(
            "jwk",
            &copy,
            &import_params(alg)?,
            false,
            &usages("sign"),
        ),
        ErrorCode::ConfigInvalid,
        "clientAuth.jwk could not be imported as a private signing key",
    )
    .await?;
    Ok(key.unchecked_into())
}

/// Starts `crypto.subtle.verify` (RFC 7515 §5.2 step 8) and gives its promise of a boolean.
pub fn start_verify(
    alg: &str,
    key: &CryptoKey,
    signature: &[u8],
    data: &[u8],
) -> Result<js_sys::Promise, Error> {
    subtle()?
        .verify_with_object_and_u8_array_and_u8_array(&sign_params(alg)?, key, signature, data)
        .map_err(|e| {
            from_js(
                ErrorCode::SignatureInvalid,
                "signature verification failed",
                &e,
            )
        })
}

pub async fn verify(
    alg: &str,
    key: &CryptoKey,
    signature: &[u8],
    data: &[u8],
) -> Result<bool, Error> {
    let ok = run(
        Ok(start_verify(alg, key, signature, data)?),
        ErrorCode::SignatureInvalid,
        "signature verification failed",
    )
    .await?;
    Ok(ok.as_bool().unwrap_or(false))
}

pub async fn sign(alg: &str, key: &CryptoKey, data: &[u8]) -> Result<Vec<u8>, Error> {
    let sig = run(
        subtle()?.sign_with_object_and_u8_array(&sign_params(alg)?, key, data),
        ErrorCode::ConfigInvalid,
        "signing failed (is the key right for the algorithm?)",
    )
    .await?;
    Ok(Uint8Array::new(&sig).to_vec())
}

/// SHA-512 of `data` (WebCrypto `digest`).
pub async fn sha512(data: &[u8]) -> Result<Vec<u8>, Error> {
    let digest = run(
        subtle()?.digest_with_str_and_u8_array("SHA-512", data),
        ErrorCode::ConfigInvalid,
        "SHA-512 failed",
    )
    .await?;
    Ok(Uint8Array::new(&digest).to_vec())
}

/// A DPoP key pair (RFC 9449 §2): ES256 (P-256), private half non-extractable.
pub async fn generate_dpop_key() -> Result<(CryptoKey, CryptoKey), Error> {
    let params = object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]);
    let usages: JsValue = Array::of2(&"sign".into(), &"verify".into()).into();
    let pair = run(
        subtle()?.generate_key_with_object(&params, false, &usages),
        ErrorCode::ConfigInvalid,
        "could not generate a DPoP key",
    )
    .await?;
    let private: CryptoKey = get(&pair, "privateKey").unchecked_into();
    let public: CryptoKey = get(&pair, "publicKey").unchecked_into();
    Ok((private, public))
}

/// The public JWK of a key (only `kty`, `crv`, `x`, `y` / `n`, `e`), for the DPoP header.
pub async fn export_public_jwk(public: &CryptoKey) -> Result<serde_json::Value, Error> {
    let jwk = run(
        subtle()?.export_key("jwk", public),
        ErrorCode::ConfigInvalid,
        "could not export the DPoP public key",
    )
    .await?;
    let mut out = serde_json::Map::new();
    for member in ["kty", "crv", "x", "y", "n", "e"] {
        if let Some(v) = get(&jwk, member).as_string() {
            out.insert(member.into(), serde_json::Value::String(v));
        }
    }
    Ok(serde_json::Value::Object(out))
}
