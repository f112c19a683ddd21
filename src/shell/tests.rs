//! WebCrypto parts in a real browser (`wasm-pack test --headless --chrome`): signatures for each
//! algorithm, DPoP proofs and client assertions checked independently, RFC 7638 thumbprints.

use js_sys::Array;
use serde_json::{json, Value};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::CryptoKey;

use super::js::{get, object};
use super::{crypto, js, verify};
use crate::core::jwk::Jwks;
use crate::core::{assertion, base64url, dpop, jws, jwt, ErrorCode};

wasm_bindgen_test_configure!(run_in_browser);

/// A key pair for `alg` with an extractable public half (the test plays the provider).
async fn key_pair(alg: &str) -> (CryptoKey, Value) {
    let params = match &alg[..2] {
        "ES" => object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]),
        name => object(&[
            (
                "name",
                if name == "RS" {
                    "RSASSA-PKCS1-v1_5"
                } else {
                    "RSA-PSS"
                }
                .into(),
            ),
            ("modulusLength", 2048.into()),
            (
                "publicExponent",
                js_sys::Uint8Array::from(&[1u8, 0, 1][..]).into(),
            ),
            ("hash", "SHA-256".into()),
        ]),
    };
    let usages: wasm_bindgen::JsValue = Array::of2(&"sign".into(), &"verify".into()).into();
    let pair = JsFuture::from(
        crypto::subtle()
            .unwrap()
            .generate_key_with_object(&params, false, &usages)
            .unwrap(),
    )
    .await
    .unwrap();
    let private: CryptoKey = get(&pair, "privateKey").unchecked_into();
    let public: CryptoKey = get(&pair, "publicKey").unchecked_into();
    let mut jwk = crypto::export_public_jwk(&public).await.unwrap();
    jwk["kid"] = json!(format!("kid-{alg}"));
    jwk["alg"] = json!(alg);
    (private, jwk)
}

async fn signed(alg: &str, key: &CryptoKey, header: Value, claims: Value) -> String {
    let input = jws::signing_input(&header, &claims);
    let signature = crypto::sign(alg, key, input.as_bytes()).await.unwrap();
    jws::compact(&input, &signature)
}

fn jwks(keys: Vec<Value>) -> Jwks {
    Jwks::from_json(&json!({ "keys": keys })).unwrap()
}

fn algs() -> Vec<String> {
    crate::core::alg::DEFAULT_VERIFY
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[wasm_bindgen_test]
async fn rs256_ps256_es256_signatures_verify_and_a_flipped_byte_fails() {
    for alg in ["RS256", "PS256", "ES256"] {
        let (private, jwk) = key_pair(alg).await;
        let set = jwks(vec![jwk]);
        let token = signed(
            alg,
            &private,
            json!({"alg": alg, "kid": format!("kid-{alg}")}),
            json!({"sub": "x"}),
        )
        .await;
        let decoded = verify::verify_signature(&token, &algs(), &set)
            .await
            .unwrap();
        assert_eq!(decoded.decoded().claims["sub"], "x", "{alg}");

        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut bytes = base64url::decode(sig).unwrap();
        bytes[10] ^= 0x01;
        let tampered = format!("{head}.{}", base64url::encode(&bytes));
        let e = verify::verify_signature(&tampered, &algs(), &set)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::SignatureInvalid, "{alg}");
    }
}

#[wasm_bindgen_test]
async fn alg_none_hs256_and_unlisted_algs_are_refused_before_any_key_is_used() {
    let (private, jwk) = key_pair("ES256").await;
    let set = jwks(vec![jwk]);
    let none = format!(
        "{}.",
        jws::signing_input(&json!({"alg":"none"}), &json!({"sub":"x"}))
    );
    assert_eq!(
        verify::verify_signature(&none, &algs(), &set)
            .await
            .unwrap_err()
            .code,
        ErrorCode::UnsupportedAlg
    );
    let hs = format!(
        "{}.AAAA",
        jws::signing_input(&json!({"alg":"HS256"}), &json!({"sub":"x"}))
    );
    assert_eq!(
        verify::verify_signature(&hs, &algs(), &set)
            .await
            .unwrap_err()
            .code,
        ErrorCode::UnsupportedAlg
    );
    let token = signed(
        "ES256",
        &private,
        json!({"alg":"ES256","kid":"kid-ES256"}),
        json!({"sub":"x"}),
    )
    .await;
    let only_rs = vec!["RS256".to_string()];
    assert_eq!(
        verify::verify_signature(&token, &only_rs, &set)
            .await
            .unwrap_err()
            .code,
        ErrorCode::UnsupportedAlg
    );
}

#[wasm_bindgen_test]
async fn unknown_kid_is_unknown_key() {
    let (private, jwk) = key_pair("ES256").await;
    let token = signed(
        "ES256",
        &private,
        json!({"alg":"ES256","kid":"rotated"}),
        json!({"sub":"x"}),
    )
    .await;
    let e = verify::verify_signature(&token, &algs(), &jwks(vec![jwk]))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownKey);
}

/// RFC 7638 §3.1: the example RSA key, imported into WebCrypto and exported again.
#[wasm_bindgen_test]
async fn thumbprint_of_a_webcrypto_exported_key_matches_rfc7638() {
    let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    let jwk = json!({"kty":"RSA","n":n,"e":"AQAB","alg":"RS256","kid":"2011-04-29"});
    // Extractable here only because a public key is: the test reads it back out.
    let data: js_sys::Object = js::json_to_js(&jwk).unchecked_into();
    let usages: wasm_bindgen::JsValue = Array::of1(&"verify".into()).into();
    let key: CryptoKey = JsFuture::from(
        crypto::subtle()
            .unwrap()
            .import_key_with_object(
                "jwk",
                &data,
                &crypto::import_params("RS256").unwrap(),
                true,
                &usages,
            )
            .unwrap(),
    )
    .await
    .unwrap()
    .unchecked_into();
    let exported = crypto::export_public_jwk(&key).await.unwrap();
    let parsed = crate::core::jwk::Jwk::from_json(&exported).unwrap();
    assert_eq!(
        crate::core::jwk::thumbprint(&parsed).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

/// A DPoP proof (RFC 9449 §4.2) verifies with the key in its own header, and the private key
/// cannot be exported.
#[wasm_bindgen_test]
async fn dpop_proof_verifies_with_its_header_key_and_the_key_is_not_extractable() {
    let (private, public) = crypto::generate_dpop_key().await.unwrap();
    let public_jwk = crypto::export_public_jwk(&public).await.unwrap();
    let header = dpop::proof_header("ES256", &public_jwk);
    let ath = dpop::access_token_hash("at");
    let claims = dpop::proof_claims(
        "POST",
        "https://as.test/connect/token?x",
        "jti-1",
        1000,
        Some("n1"),
        Some(&ath),
    );
    let proof = signed("ES256", &private, header, claims).await;

    let decoded = jwt::decode(&proof).unwrap();
    assert_eq!(decoded.typ.as_deref(), Some("dpop+jwt"));
    assert_eq!(decoded.claims["htu"], "https://as.test/connect/token");
    assert_eq!(decoded.claims["nonce"], "n1");
    let header_key =
        crypto::import_public_jwk(&Value::Object(decoded.header.clone())["jwk"], "ES256")
            .await
            .unwrap();
    assert!(crypto::verify(
        "ES256",
        &header_key,
        &decoded.signature,
        decoded.signing_input.as_bytes()
    )
    .await
    .unwrap());

    assert!(!private.extractable());
    let export = JsFuture::from(
        crypto::subtle()
            .unwrap()
            .export_key("jwk", &private)
            .unwrap(),
    )
    .await;
    assert!(export.is_err(), "a DPoP private key must not be exportable");
}

/// A client assertion signed with an imported private JWK verifies with its public half.
#[wasm_bindgen_test]
async fn client_assertion_from_an_imported_jwk_verifies_and_the_key_is_not_extractable() {
    let params = object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]);
    let usages: wasm_bindgen::JsValue = Array::of2(&"sign".into(), &"verify".into()).into();
    let pair = JsFuture::from(
        crypto::subtle()
            .unwrap()
            .generate_key_with_object(&params, true, &usages)
            .unwrap(),
    )
    .await
    .unwrap();
    let private_jwk = JsFuture::from(
        crypto::subtle()
            .unwrap()
            .export_key("jwk", &get(&pair, "privateKey").unchecked_into())
            .unwrap(),
    )
    .await
    .unwrap();
    let imported = crypto::import_private_jwk(&private_jwk, "ES256")
        .await
        .unwrap();
    assert!(!imported.extractable());
    let token = signed(
        "ES256",
        &imported,
        assertion::header("ES256", Some("k1")),
        assertion::claims("client-1", "https://helseid-sts.test.nhn.no", "jti", 1000),
    )
    .await;
    let mut public = crypto::export_public_jwk(&get(&pair, "publicKey").unchecked_into())
        .await
        .unwrap();
    public["kid"] = json!("k1");
    let decoded = verify::verify_signature(&token, &algs(), &jwks(vec![public]))
        .await
        .unwrap();
    assert_eq!(
        decoded.decoded().typ.as_deref(),
        Some("client-authentication+jwt")
    );
    assert_eq!(
        decoded.decoded().claims["aud"],
        "https://helseid-sts.test.nhn.no"
    );
    assert_eq!(decoded.decoded().claims["exp"], 1060);
}

#[wasm_bindgen_test]
fn errors_cross_into_js_as_helseid_errors_with_their_fields() {
    let e = crate::core::Error::claim("aud", "wrong audience").with_status(400);
    let value = js::to_js_error(&e);
    assert!(value.is_instance_of::<js_sys::Error>());
    assert!(js::is_helseid_error(&value));
    assert_eq!(
        js::get_string(&value, "name").as_deref(),
        Some("HelseIdError")
    );
    assert_eq!(
        js::get_string(&value, "code").as_deref(),
        Some("claim_invalid")
    );
    assert_eq!(js::get_string(&value, "claim").as_deref(), Some("aud"));
    assert_eq!(get(&value, "status").as_f64(), Some(400.0));
    assert!(!js::is_helseid_error(&js_sys::Error::new("plain").into()));
}
