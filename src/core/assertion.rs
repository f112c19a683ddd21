//! Client authentication with `private_key_jwt` (OIDC Core §9, RFC 7523 §2.2 and §3), as HelseID
//! wants it: `aud` = the issuer, `exp` at most 60 s ahead, a fresh `jti` for every request.

use serde_json::{json, Value};

/// RFC 7523 §2.2.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a POST to the authorization server is for: it names `ctx.grantType` for
/// `assertion_provider` (API.md) and decides whether the POST needs a DPoP proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsRequest {
    /// RFC 9126.
    Par,
    /// RFC 6749 §4.1.3.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 7009.
    Revocation,
}

impl AsRequest {
    /// `ctx.grantType` (`par` and `revocation` are no grant types; the names say the request).
    pub fn grant_type(self) -> &'static str {
        match self {
            AsRequest::Par => "par",
            AsRequest::AuthorizationCode => "authorization_code",
            AsRequest::RefreshToken => "refresh_token",
            AsRequest::Revocation => "revocation",
        }
    }

    /// Revocation goes without a proof when none can be made (RFC 7009; the refresh tokens of
    /// confidential clients are not DPoP-bound, RFC 9449 §5): a late refresh token is still
    /// revoked after the DPoP key is gone. Every other request fails without its proof.
    pub fn proof_optional(self) -> bool {
        self == AsRequest::Revocation
    }
}

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
    fn only_revocation_goes_without_a_dpop_proof_and_each_request_names_itself() {
        let all = [
            AsRequest::Par,
            AsRequest::AuthorizationCode,
            AsRequest::RefreshToken,
            AsRequest::Revocation,
        ];
        let optional: Vec<bool> = all.iter().map(|r| r.proof_optional()).collect();
        assert_eq!(optional, [false, false, false, true]);
        let names: Vec<&str> = all.iter().map(|r| r.grant_type()).collect();
        assert_eq!(
            names,
            ["par", "authorization_code", "refresh_token", "revocation"]
        );
    }

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
