//! Client authentication with `private_key_jwt` (OIDC Core §9, RFC 7523 §2.2 and §3), as HelseID
//! wants it: `aud` = the issuer, `exp` at most 60 s ahead, a fresh `jti` for every request.

use serde_json::{json, Value};

/// RFC 7523 §2.2.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// HelseID: an assertion lives at most 60 seconds.
pub const ASSERTION_LIFETIME_SECONDS: i64 = 60;

/// JOSE header; `typ` per draft-ietf-oauth-rfc7523bis (HelseID accepts and recommends it).
pub fn header(alg: &str, kid: Option<&str>) -> Value {
    let mut header = json!({ "alg": alg, "typ": "client-authentication+jwt" });
    if let Some(kid) = kid {
        header["kid"] = Value::from(kid);
    }
    header
}

/// RFC 7523 §3: `iss` = `sub` = client_id, `aud` the issuer as a single string.
pub fn claims(client_id: &str, audience: &str, jti: &str, now: i64) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jti,
        "iat": now,
        "nbf": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
    })
}

/// The claim set as JSON text, with the structured details (API.md "Organisation, journal and
/// patient context") in `details_claim` as an array written in the order of NHN's samples.
pub fn claims_text(
    client_id: &str,
    audience: &str,
    jti: &str,
    now: i64,
    details: Option<(&str, &[Value])>,
) -> String {
    let mut text = claims(client_id, audience, jti, now).to_string();
    if let Some((claim, details)) = details {
        text.pop();
        text.push_str(&format!(
            ",{}:{}}}",
            Value::from(claim),
            super::context::to_ordered_json(&Value::Array(details.to_vec()))
        ));
    }
    text
}

/// The two body parameters that carry the assertion (RFC 7521 §4.2).
pub fn body_params(assertion: &str) -> [(&'static str, String); 2] {
    [
        ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_string()),
        ("client_assertion", assertion.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_ride_as_an_array_in_the_named_claim() {
        let detail = json!({"type": "nhn:sfm:journal-id", "value": {"journal_id": "j"}});
        let text = claims_text(
            "c1",
            "https://h.test",
            "j1",
            100,
            Some(("assertion_details", &[detail])),
        );
        assert!(text.ends_with(r#","assertion_details":[{"type":"nhn:sfm:journal-id","value":{"journal_id":"j"}}]}"#), "{text}");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["iss"], "c1");
        assert_eq!(
            claims_text("c1", "a", "j", 1, None),
            claims("c1", "a", "j", 1).to_string()
        );
    }

    #[test]
    fn claims_are_what_helseid_requires() {
        let c = claims(
            "client-1",
            "https://helseid-sts.test.nhn.no",
            "jti-1",
            1_000,
        );
        assert_eq!(c["iss"], "client-1");
        assert_eq!(c["sub"], "client-1");
        assert_eq!(c["aud"], "https://helseid-sts.test.nhn.no");
        assert_eq!(c["jti"], "jti-1");
        assert_eq!(c["iat"], 1_000);
        assert_eq!(c["nbf"], 1_000);
        assert_eq!(c["exp"], 1_060);
    }

    #[test]
    fn header_names_alg_kid_and_typ() {
        let h = header("PS256", Some("k1"));
        assert_eq!(
            h,
            json!({"alg":"PS256","kid":"k1","typ":"client-authentication+jwt"})
        );
        assert!(header("ES256", None).get("kid").is_none());
    }
}
