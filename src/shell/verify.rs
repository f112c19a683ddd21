//! Signatures through WebCrypto: the core takes the token apart and checks the claims; this
//! module imports the key (cached) and verifies the signature. Also `verifyJwt` end to end.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Promise};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::CryptoKey;

use super::{crypto, js};
use crate::core::claims::{self, Expectations, Verified};
use crate::core::jwk::{self, Jwk, Jwks};
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

/// An imported WebCrypto key, with the algorithm and the public JWK it came from.
struct Imported {
    alg: String,
    jwk: Jwk,
    key: CryptoKey,
}

thread_local! {
    /// Imported WebCrypto keys, found by algorithm and public key material: importing costs
    /// more than a verification, and JWKS keys rarely change.
    static KEYS: RefCell<Vec<Imported>> = const { RefCell::new(Vec::new()) };
}

/// At most this many keys are kept (a JWKS holds a few; rotation adds one at a time).
const MAX_CACHED_KEYS: usize = 32;

fn cached_key(key: &Jwk, alg: &str) -> Option<CryptoKey> {
    KEYS.with(|k| {
        k.borrow()
            .iter()
            .find(|i| i.alg == alg && jwk::same_public_key(&i.jwk, key))
            .map(|i| i.key.clone())
    })
}

async fn imported_key(key: &Jwk, alg: &str) -> Result<CryptoKey, Error> {
    if let Some(found) = cached_key(key, alg) {
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

// ---------------------------------------------------------------- verifyJwt

/// `verifyJwt`'s options (API.md).
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

/// What `verifyJwt` reads from its options. The same options give the same JSON text, so the
/// text of the last call is kept with what was read from it.
struct Options {
    jwks: Jwks,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<String>,
    typ: Option<String>,
    nonce: Option<String>,
    require_sfm_id: bool,
    required_security_level: Option<String>,
    now: Option<i64>,
    tolerance: i64,
    max_age: i64,
    /// How many of [`NAMES`] have a value (for the unknown-field check).
    given: usize,
}

/// `verifyJwt`'s options for one call, read before any await.
struct VerifyOptions {
    options: Rc<Options>,
    now: i64,
}

thread_local! {
    /// The options' JSON text at the last call and what was read from it. The text is made on
    /// every call (one JSON.stringify, on the engine's fast path): options or a JWKS changed in
    /// place, a key taken out after a rotation, count at once.
    static LAST: RefCell<Option<(String, Rc<Options>)>> = const { RefCell::new(None) };
    static OBJECT_PROTOTYPE: JsValue =
        js_sys::Object::get_prototype_of(&js_sys::Object::new()).into();
}

/// A string or an array of strings.
fn strings_of(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

impl Options {
    fn from_json(doc: &Map<String, Value>, given: usize) -> Result<Options, Error> {
        let text = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
        let whole = |name: &str| {
            doc.get(name)
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite())
                .map(|v| v as i64)
        };
        Ok(Options {
            jwks: doc.get("jwks").and_then(Jwks::from_json).ok_or_else(|| {
                Error::config("invalid verifyJwt options: jwks must be { keys: JsonWebKey[] }")
            })?,
            audiences: strings_of(doc.get("audience"))
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    Error::config("audience must be a string or a non-empty array of strings")
                })?,
            algorithms: match doc.get("algorithms") {
                None | Some(Value::Null) => {
                    alg::DEFAULT_VERIFY.iter().map(|s| s.to_string()).collect()
                }
                a @ Some(Value::Array(_)) => strings_of(a)
                    .ok_or_else(|| Error::config("algorithms must be an array of strings"))?,
                Some(_) => return Err(Error::config("algorithms must be an array of strings")),
            },
            issuer: text("issuer").ok_or_else(|| Error::config("issuer is required"))?,
            now: whole("nowSeconds"),
            tolerance: whole("clockToleranceSeconds").unwrap_or(30),
            max_age: whole("maxTokenAgeSeconds").unwrap_or(3600),
            typ: text("typ"),
            nonce: text("nonce"),
            required_security_level: text("requiredSecurityLevel"),
            require_sfm_id: doc
                .get("requireSfmId")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            given,
        })
    }
}

impl VerifyOptions {
    /// The options as JSON text, read again only when it changed; an unknown own member is a
    /// config error (API.md).
    fn read(options: &JsValue) -> Result<VerifyOptions, Error> {
        if !options.is_object() {
            return Err(Error::config("verifyJwt options must be an object"));
        }
        let plain = OBJECT_PROTOTYPE
            .with(|p| JsValue::from(js_sys::Object::get_prototype_of(options)) == *p);
        // JSON.stringify writes own members only: options built on another prototype are
        // copied, name by name, into a plain object first.
        let source = if plain {
            options.clone()
        } else {
            let copy = js_sys::Object::new();
            for name in NAMES {
                let value = js::get(options, name);
                if !value.is_undefined() {
                    let _ = js_sys::Reflect::set(&copy, &JsValue::from_str(name), &value);
                }
            }
            copy.into()
        };
        let text = js_sys::JSON::stringify(&source)
            .ok()
            .and_then(|t| t.as_string())
            .ok_or_else(|| Error::config("verifyJwt options must be plain data"))?;
        let last = LAST.with(|l| {
            l.borrow()
                .as_ref()
                .filter(|(last_text, _)| *last_text == text)
                .map(|(_, read)| read.clone())
        });
        let (given, read) = match last {
            Some(read) => (read.given, Ok(read)),
            None => {
                let doc = match serde_json::from_str(&text) {
                    Ok(Value::Object(doc)) => doc,
                    _ => return Err(Error::config("verifyJwt options must be plain data")),
                };
                let given = NAMES.iter().filter(|n| doc.contains_key(**n)).count();
                (given, Options::from_json(&doc, given).map(Rc::new))
            }
        };
        // A plain object's values are its own members: when it has exactly as many own keys
        // as known names with a value, every key is known. Otherwise (an option left
        // undefined, an unknown key, options inherited from another prototype) each key is
        // read as a string to name the unknown one.
        let keys = js_sys::Object::keys(options.unchecked_ref::<js_sys::Object>());
        if keys.length() as usize != given || !plain {
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
        let read = read?;
        LAST.with(|l| *l.borrow_mut() = Some((text, read.clone())));
        Ok(VerifyOptions {
            now: read.now.unwrap_or_else(js::now_seconds),
            options: read,
        })
    }

    /// The claim checks of `verifyJwt`, once the signature verified.
    fn check(&self, token: SignatureChecked) -> Result<Verified, Error> {
        let o = &self.options;
        let typ: Option<[&str; 1]> = o.typ.as_deref().map(|t| [t]);
        let mut e = Expectations::generic(&o.issuer, &o.audiences, self.now, o.tolerance);
        e.max_age = o.max_age;
        e.nonce = o.nonce.as_deref();
        e.require_sfm_id = o.require_sfm_id;
        e.required_security_level = o.required_security_level.as_deref();
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
    let o = options.options.clone();
    let (decoded, key) = match decode_and_select(&token, &o.algorithms, &o.jwks) {
        Ok(found) => found,
        Err(e) => return reject(e),
    };
    let Some(crypto_key) = cached_key(key, &decoded.alg) else {
        return super::task::promise(async move {
            let checked = verify_signature(&token, &o.algorithms, &o.jwks).await;
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
