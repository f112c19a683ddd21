//! The floor: a JWT decoder with jwt-compact and serde_json, an exp check with chrono, one
//! WebCrypto verify and the claims handed to JS, and nothing of HelseID.
use jwt_compact::{Claims, TimeOptions, UntrustedToken};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

type Object = serde_json::Map<String, serde_json::Value>;

#[wasm_bindgen(js_name = decodeJwt)]
pub fn decode_jwt(token: &str, now: i64) -> Result<JsValue, JsValue> {
    let t = UntrustedToken::new(token).map_err(|_| JsValue::from_str("invalid_token"))?;
    let claims: Claims<Object> = t
        .deserialize_claims_unchecked()
        .map_err(|_| JsValue::from_str("invalid_token"))?;
    let now = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    let time = TimeOptions::new(chrono::TimeDelta::seconds(30), move || now);
    claims
        .validate_expiration(&time)
        .map_err(|_| JsValue::from_str("token_expired"))?;
    let text = serde_json::to_string(&claims.custom).unwrap_or_default();
    js_sys::JSON::parse(&text)
}

#[wasm_bindgen(js_name = verifyJwt)]
pub fn verify_jwt(token: String, key: JsValue) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let t = UntrustedToken::new(&token).map_err(|_| JsValue::from_str("invalid_token"))?;
        let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())?;
        let subtle = js_sys::Reflect::get(&crypto, &"subtle".into())?;
        let verify: js_sys::Function =
            js_sys::Reflect::get(&subtle, &"verify".into())?.unchecked_into();
        let input = token.rsplit_once('.').map(|(i, _)| i).unwrap_or_default();
        let data = js_sys::Uint8Array::from(input.as_bytes());
        let signature = js_sys::Uint8Array::from(t.signature_bytes());
        let args = js_sys::Array::of4(&"RSASSA-PKCS1-v1_5".into(), &key, &signature, &data);
        let promise: js_sys::Promise = verify.apply(&subtle, &args)?.unchecked_into();
        wasm_bindgen_futures::JsFuture::from(promise).await
    })
}
