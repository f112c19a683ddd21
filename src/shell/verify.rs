//! Signatures through WebCrypto: the core takes the token apart and checks the claims; this
//! module imports the key (cached) and verifies the signature. Also `verifyJwt` end to end.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::CryptoKey;

use super::{crypto, js};
use crate::core::claims::{self, Expectations, Verified};
use crate::core::jwk::{self, Jwk, Jwks, KeyCache};
use crate::core::jwt::{self, DecodedJwt, SignatureChecked};
use crate::core::{alg, Error, ErrorCode};

/// RFC 7515 §5.2 steps 1-8 up to the signature: decodes `token`, checks `crit` (§4.1.11) and
/// `alg` against the allow-list (never from the token alone, RFC 8725 §3.1) and finds the key.
/// Gives `unknown_key` when no key fits, so a caller holding a JWKS URI can fetch it again.
fn decode_and_select<'k>(
    token: &str,
    algorithms: &[String],
    jwks: &'k Jwks,
) -> Result<(DecodedJwt, &'k Jwk), Error> {
    let decoded = jwt::decode(token)?;
    jwt::check_crit(&decoded.header)?;
    jwt::check_alg(&decoded.alg, algorithms)?;
    let key = jwk::select_key(jwks, decoded.kid.as_deref(), &decoded.alg)?;
    Ok((decoded, key))
}

/// The whole of RFC 7515 §5.2: [`decode_and_select`], then the signature through WebCrypto.
pub async fn verify_signature(
    token: &str,
    algorithms: &[String],
    jwks: &Jwks,
) -> Result<SignatureChecked, Error> {
    let (decoded, key) = decode_and_select(token, algorithms, jwks)?;
    let crypto_key = imported_key(key, &decoded.alg).await?;
    let ok = crypto::verify(
        &decoded.alg,
        &crypto_key,
        &decoded.signature,
        decoded.signing_input.as_bytes(),
    )
    .await?;
    checked(decoded, ok)
}

fn checked(decoded: DecodedJwt, signature_verifies: bool) -> Result<SignatureChecked, Error> {
    if !signature_verifies {
        return Err(Error::new(
            ErrorCode::SignatureInvalid,
            "the token's signature does not verify",
        ));
    }
    Ok(decoded.signature_checked())
}

thread_local! {
    /// Imported WebCrypto keys: importing costs more than a verification, and JWKS keys
    /// rarely change.
    static KEYS: RefCell<KeyCache<CryptoKey>> = const { RefCell::new(KeyCache::new()) };
}

fn cached_key(key: &Jwk, alg: &str) -> Option<CryptoKey> {
    KEYS.with(|k| k.borrow().get(key, alg).cloned())
}

async fn imported_key(key: &Jwk, alg: &str) -> Result<CryptoKey, Error> {
    if let Some(found) = cached_key(key, alg) {
        return Ok(found);
    }
    let imported = crypto::import_public_jwk(&key.to_json(), alg).await?;
    KEYS.with(|k| k.borrow_mut().insert(key, alg, imported.clone()));
    Ok(imported)
}

// ---------------------------------------------------------------- verifyJwt

/// `verifyJwt`'s options (API.md), in the order of [`VerifyOptions::NAMES`].
const NAMES: [&str; 11] = [
    "jwks",
    "issuer",
    "audience",
    "algorithms",
    "typ",
    "nonce",
    "requireSfmId",
    "requiredSecurityLevel",
    "clockToleranceSeconds",
    "maxTokenAgeSeconds",
    "nowSeconds",
];

/// `verifyJwt`'s options, read and owned before any await.
struct VerifyOptions {
    jwks: Rc<Jwks>,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<String>,
    typ: Option<String>,
    nonce: Option<String>,
    require_sfm_id: bool,
    required_security_level: Option<String>,
    now: i64,
    tolerance: i64,
    max_age: i64,
}

#[wasm_bindgen(module = "/js/verify.js")]
extern "C" {
    /// Whether `jwks` holds the same values (`===`) as when it was last called with `read`;
    /// with `read`, remembers the values of `jwks` that its parse read. Throws when a getter
    /// of the set does (then nothing is remembered).
    #[wasm_bindgen(catch, js_name = jwksSeen)]
    fn jwks_seen(jwks: &JsValue, read: bool) -> Result<bool, JsValue>;
}

thread_local! {
    /// The set parsed from the JWKS `verifyJwt` was last given. `js/verify.js` tells whether
    /// the JWKS of a call holds the same values, members of its keys included, compared in
    /// JS with `===` (no JSON.stringify, nothing copied into wasm): a JWKS object changed in
    /// place, a key taken out after a rotation, counts at once.
    static JWKS: RefCell<Option<Rc<Jwks>>> = const { RefCell::new(None) };
    static OBJECT_PROTOTYPE: JsValue =
        js_sys::Object::get_prototype_of(&js_sys::Object::new()).into();
    /// The option names as JS strings, made once (each would otherwise cross as UTF-8).
    static JS_NAMES: [JsValue; 11] = NAMES.map(JsValue::from_str);
}

fn verify_jwks(value: &JsValue) -> Result<Rc<Jwks>, Error> {
    if let Some(jwks) = JWKS.with(|c| c.borrow().clone()) {
        if matches!(jwks_seen(value, false), Ok(true)) {
            return Ok(jwks);
        }
    }
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    let jwks = Rc::new(
        serde_json::from_str(&text)
            .ok()
            .as_ref()
            .and_then(Jwks::from_json)
            .ok_or_else(|| {
                Error::config("invalid verifyJwt options: jwks must be { keys: JsonWebKey[] }")
            })?,
    );
    // Kept only if JS remembered the values it was parsed from.
    let remembered = jwks_seen(value, true).is_ok();
    JWKS.with(|c| *c.borrow_mut() = remembered.then(|| jwks.clone()));
    Ok(jwks)
}

/// A string or an array of strings.
fn strings_of(value: &JsValue) -> Option<Vec<String>> {
    if let Some(s) = value.as_string() {
        return Some(vec![s]);
    }
    if !js_sys::Array::is_array(value) {
        return None;
    }
    js_sys::Array::from(value)
        .iter()
        .map(|v| v.as_string())
        .collect()
}

impl VerifyOptions {
    /// One lookup per name; an unknown own member is a config error (API.md).
    fn read(options: &JsValue) -> Result<VerifyOptions, Error> {
        if !options.is_object() {
            return Err(Error::config("verifyJwt options must be an object"));
        }
        let values: [JsValue; 11] = JS_NAMES.with(|names| {
            std::array::from_fn(|i| {
                js_sys::Reflect::get(options, &names[i]).unwrap_or(JsValue::UNDEFINED)
            })
        });
        // A plain object's values are its own members: when it has exactly as many own keys
        // as known names with a value, every key is known. Otherwise (an option left
        // undefined, an unknown key, options inherited from another prototype) each key is
        // read as a string to name the unknown one.
        let object = options.unchecked_ref::<js_sys::Object>();
        let keys = js_sys::Object::keys(object);
        let known = values.iter().filter(|v| !v.is_undefined()).count();
        let plain = OBJECT_PROTOTYPE
            .with(|p| JsValue::from(js_sys::Object::get_prototype_of(options)) == *p);
        if keys.length() as usize != known || !plain {
            if let Some(k) = keys
                .iter()
                .filter_map(|k| k.as_string())
                .find(|k| !NAMES.contains(&k.as_str()))
            {
                return Err(Error::config(format!(
                    "invalid verifyJwt options: unknown field `{k}`"
                )));
            }
        }
        let [jwks, issuer, audience, algorithms, typ, nonce, sfm, level, tolerance, max_age, now] =
            &values;
        let whole = |value: &JsValue, default: i64| {
            value
                .as_f64()
                .filter(|v| v.is_finite())
                .map(|v| v as i64)
                .unwrap_or(default)
        };
        Ok(VerifyOptions {
            jwks: verify_jwks(jwks)?,
            audiences: strings_of(audience)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    Error::config("audience must be a string or a non-empty array of strings")
                })?,
            algorithms: match algorithms {
                a if a.is_undefined() || a.is_null() => {
                    alg::DEFAULT_VERIFY.iter().map(|s| s.to_string()).collect()
                }
                a => strings_of(a)
                    .filter(|_| js_sys::Array::is_array(a))
                    .ok_or_else(|| Error::config("algorithms must be an array of strings"))?,
            },
            issuer: issuer
                .as_string()
                .ok_or_else(|| Error::config("issuer is required"))?,
            now: whole(now, js::now_seconds()),
            tolerance: whole(tolerance, crate::core::limits::CLOCK_TOLERANCE_SECONDS),
            max_age: whole(max_age, crate::core::limits::MAX_TOKEN_AGE_SECONDS),
            typ: typ.as_string(),
            nonce: nonce.as_string(),
            required_security_level: level.as_string(),
            require_sfm_id: sfm.as_bool().unwrap_or(false),
        })
    }

    /// The claim checks of `verifyJwt`, once the signature verified.
    fn check(&self, token: SignatureChecked) -> Result<Verified, Error> {
        let typ: Option<[&str; 1]> = self.typ.as_deref().map(|t| [t]);
        let mut e = Expectations::generic(&self.issuer, &self.audiences, self.now, self.tolerance);
        e.max_age = self.max_age;
        e.nonce = self.nonce.as_deref();
        e.require_sfm_id = self.require_sfm_id;
        e.required_security_level = self.required_security_level.as_deref();
        e.allowed_typ = typ.as_ref().map(|t| &t[..]);
        claims::check(token, &e)
    }
}

/// The claims of a verified token as `JSON.parse` gives them from the payload text, as jose's
/// `jwtVerify` would.
fn claims_to_js(verified: &Verified) -> JsValue {
    js_sys::JSON::parse(verified.payload()).unwrap_or(JsValue::UNDEFINED)
}

/// A token waiting for WebCrypto's answer on the fast path, by call number.
type Waiting = (u32, DecodedJwt, VerifyOptions);

thread_local! {
    static WAITING: RefCell<Vec<Waiting>> = const { RefCell::new(Vec::new()) };
    static NEXT_CALL: Cell<u32> = const { Cell::new(0) };
    /// What a fast-path call does once WebCrypto answers, with the call number bound to it:
    /// one function made once, so a call makes no closure of its own. It is both the fulfilment
    /// and the rejection handler: WebCrypto fulfils with a boolean, and rejects with an error.
    static SETTLE: Function = Closure::<dyn Fn(u32, JsValue) -> Result<JsValue, JsValue>>::new(
        |call, answer: JsValue| {
            let (decoded, options) = take_waiting(call)?;
            let verifies = answer.as_bool().ok_or_else(|| {
                js::from_js(ErrorCode::SignatureInvalid, "signature verification failed", &answer)
            });
            verifies
                .and_then(|verifies| checked(decoded, verifies))
                .and_then(|token| options.check(token))
                .map(|verified| claims_to_js(&verified))
                .map_err(|e| js::to_js_error(&e))
        },
    )
    .into_js_value()
    .unchecked_into();
}

#[wasm_bindgen]
extern "C" {
    /// `promise.then(onFulfilled, onRejected)` with plain functions (js-sys wants closures).
    #[wasm_bindgen(extends = Promise)]
    type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    fn then_call(this: &Thenable, fulfilled: &JsValue, rejected: &JsValue) -> Promise;
}

fn take_waiting(call: u32) -> Result<(DecodedJwt, VerifyOptions), JsValue> {
    WAITING
        .with(|w| {
            let mut waiting = w.borrow_mut();
            let at = waiting.iter().position(|(n, _, _)| *n == call)?;
            let (_, decoded, options) = waiting.swap_remove(at);
            Some((decoded, options))
        })
        .ok_or_else(|| {
            js::to_js_error(&Error::new(
                ErrorCode::SignatureInvalid,
                "the verification was lost",
            ))
        })
}

/// `verifyJwt`. When the key is imported already (the usual case: a JWKS is reused), every step
/// up to WebCrypto runs now and WebCrypto's promise is chained to [`SETTLE`]: no future, no
/// closure per call. Otherwise the key is imported first, on the async path.
pub fn verify_jwt(token: String, options: &JsValue) -> Promise {
    let reject = |e: Error| Promise::reject(&js::to_js_error(&e));
    let options = match VerifyOptions::read(options) {
        Ok(options) => options,
        Err(e) => return reject(e),
    };
    let (decoded, key) = match decode_and_select(&token, &options.algorithms, &options.jwks) {
        Ok(found) => found,
        Err(e) => return reject(e),
    };
    let Some(crypto_key) = cached_key(key, &decoded.alg) else {
        return super::task::promise(async move {
            let jwks = options.jwks.clone();
            let checked = verify_signature(&token, &options.algorithms, &jwks).await;
            checked
                .and_then(|token| options.check(token))
                .map(|verified| claims_to_js(&verified))
                .map_err(|e| js::to_js_error(&e))
        });
    };
    let verifying = match crypto::start_verify(
        &decoded.alg,
        &crypto_key,
        &decoded.signature,
        decoded.signing_input.as_bytes(),
    ) {
        Ok(promise) => promise,
        Err(e) => return reject(e),
    };
    let call = NEXT_CALL.with(|n| {
        let call = n.get();
        n.set(call.wrapping_add(1));
        call
    });
    WAITING.with(|w| w.borrow_mut().push((call, decoded, options)));
    SETTLE.with(|settle| {
        let settle = settle.bind1(&JsValue::NULL, &JsValue::from(call));
        verifying
            .unchecked_ref::<Thenable>()
            .then_call(&settle, &settle)
    })
}
