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
    if let Some(claim) = e.claim {
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

pub fn json_to_js(value: &serde_json::Value) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    serde::Serialize::serialize(value, &serializer).unwrap_or(JsValue::NULL)
}

/// Reads a plain-data JS value through `JSON.stringify` and serde_json, so that
/// `deny_unknown_fields` sees every key and one JSON deserializer serves the whole crate.
pub fn from_js_strict<T: serde::de::DeserializeOwned>(value: JsValue) -> Result<T, String> {
    let text = js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| "not a plain JSON value".to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
