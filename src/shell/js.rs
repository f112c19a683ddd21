//! The one place that builds JS objects and turns core errors into `HelseIdError`s.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::{Error, ErrorCode};

/// A plain object from name/value pairs.
pub fn object(entries: &[(&str, JsValue)]) -> Object {
    let obj = Object::new();
    for (name, value) in entries {
        let _ = Reflect::set(&obj, &JsValue::from_str(name), value);
    }
    obj
}

/// `target[name]`, or `undefined` when `target` is not an object (Reflect.get would throw,
/// and a caught exception costs microseconds on a hot path such as getAccessToken()).
pub fn get(target: &JsValue, name: &str) -> JsValue {
    if !target.is_object() && !target.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

pub fn get_string(target: &JsValue, name: &str) -> Option<String> {
    get(target, name).as_string()
}

/// A core error as a real JS `Error` named `HelseIdError` with the API.md fields.
pub fn to_js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("HelseIdError");
    let v: &JsValue = err.as_ref();
    let set = |k: &str, val: JsValue| {
        let _ = Reflect::set(v, &JsValue::from_str(k), &val);
    };
    set("code", JsValue::from_str(e.code.as_str()));
    set("retryable", JsValue::from_bool(e.retryable));
    if let Some(claim) = &e.claim {
        set("claim", JsValue::from_str(claim));
    }
    if let Some(oauth) = &e.oauth_error {
        set("oauthError", JsValue::from_str(oauth));
    }
    if let Some(desc) = &e.oauth_error_description {
        set("oauthErrorDescription", JsValue::from_str(desc));
    }
    if let Some(status) = e.status {
        set("status", JsValue::from_f64(status as f64));
    }
    // Engines name a frame by its script's URL as it was loaded: Firefox gives an inline
    // script (and code it evals) the document's first URL, the callback's `code` included,
    // long after the address bar was cleaned. Error trackers ship stacks, so none keeps a query.
    if let Some(stack) = get_string(v, "stack") {
        if let Some(clean) = crate::core::uri::strip_stack_queries(&stack) {
            set("stack", JsValue::from_str(&clean));
        }
    }
    err.into()
}

/// `isHelseIdError`: an `Error` named `HelseIdError` with a string `code`.
pub fn is_helseid_error(value: &JsValue) -> bool {
    value.is_instance_of::<js_sys::Error>()
        && get_string(value, "name").as_deref() == Some("HelseIdError")
        && get(value, "code").is_string()
}

/// A value a JS callback or promise rejected with, as a core error of `code`. A promise can
/// reject with anything: only an `Error`'s message (never its other fields) is kept.
pub fn from_js(code: ErrorCode, context: &str, value: &JsValue) -> Error {
    let detail = value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| "a non-Error value".into());
    Error::new(code, format!("{context}: {detail}"))
}

pub fn now_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// 32 bytes from the browser's CSPRNG (`crypto.getRandomValues` through getrandom).
pub fn random32() -> Result<[u8; 32], Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| {
        Error::new(
            ErrorCode::ConfigInvalid,
            "no secure random source (crypto.getRandomValues)",
        )
    })?;
    Ok(bytes)
}

pub fn random_token() -> Result<String, Error> {
    Ok(crate::core::pkce::random_token(&random32()?))
}

/// 16 random bytes (for a UUID).
pub fn random16() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Only without crypto.getRandomValues, which WebCrypto (required) implies.
        bytes = [0x5a; 16];
    }
    bytes
}

/// A JSON value as a plain JS value, through the engine's own `JSON.parse`: one crossing and a
/// native parser (measured: several times faster than building the object from wasm), and
/// numbers exactly as `JSON.parse` gives them (an integer beyond 2^53 becomes the nearest
/// double; API.md "Security guarantees").
pub fn json_to_js(value: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::UNDEFINED)
}

/// Reads a plain-data JS value as JSON (through `JSON.stringify`, which drops `undefined`
/// members and functions); `None` for what is not plain data.
pub fn js_to_json(value: &JsValue) -> Option<serde_json::Value> {
    if value.is_undefined() {
        return Some(serde_json::Value::Null);
    }
    let text = js_sys::JSON::stringify(value).ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}
