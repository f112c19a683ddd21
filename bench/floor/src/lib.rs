//! The floor: the chosen stack as helseid-wasm uses it, and nothing of HelseID. A JWT split and
//! its parts decoded (base64url table, serde_json), exp checked with jwt-compact and chrono, one
//! WebCrypto verify, and the claims handed to JS.
use jwt_compact::{Claims, Empty, TimeOptions};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut values = [0xffu8; 256];
    for (i, c) in ALPHABET.iter().enumerate() {
        values[*c as usize] = i as u8;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = values[c as usize];
            if v == 0xff {
                return None;
            }
            n |= u32::from(v) << (18 - 6 * i);
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..chunk.len() - 1]);
    }
    Some(out)
}

fn parts(token: &str) -> Option<(Value, String, Vec<u8>, &str)> {
    let (input, signature) = token.rsplit_once('.')?;
    let (header, claims) = input.split_once('.')?;
    let header: Value = serde_json::from_slice(&base64url(header)?).ok()?;
    let claims = String::from_utf8(base64url(claims)?).ok()?;
    Some((header, claims, base64url(signature)?, input))
}

#[wasm_bindgen(js_name = decodeJwt)]
pub fn decode_jwt(token: &str, now: i64) -> Result<JsValue, JsValue> {
    let (header, text, _, _) = parts(token).ok_or_else(|| JsValue::from_str("invalid_token"))?;
    header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| JsValue::from_str("invalid_token"))?;
    let claims: Value =
        serde_json::from_str(&text).map_err(|_| JsValue::from_str("invalid_token"))?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let mut times = Claims::<Empty>::empty();
    times.expiration = chrono::DateTime::from_timestamp(exp, 0);
    let now = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    let time = TimeOptions::new(chrono::TimeDelta::seconds(30), move || now);
    times
        .validate_expiration(&time)
        .map_err(|_| JsValue::from_str("token_expired"))?;
    js_sys::JSON::parse(&text)
}

#[wasm_bindgen(js_name = verifyJwt)]
pub fn verify_jwt(token: String, key: JsValue) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let (_, _, signature, input) =
            parts(&token).ok_or_else(|| JsValue::from_str("invalid_token"))?;
        let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())?;
        let subtle = js_sys::Reflect::get(&crypto, &"subtle".into())?;
        let verify: js_sys::Function =
            js_sys::Reflect::get(&subtle, &"verify".into())?.unchecked_into();
        let data = js_sys::Uint8Array::from(input.as_bytes());
        let signature = js_sys::Uint8Array::from(&signature[..]);
        let args = js_sys::Array::of4(&"RSASSA-PKCS1-v1_5".into(), &key, &signature, &data);
        let promise: js_sys::Promise = verify.apply(&subtle, &args)?.unchecked_into();
        wasm_bindgen_futures::JsFuture::from(promise).await
    })
}
