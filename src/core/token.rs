//! The token endpoint (RFC 6749 §4.1.3, §6 and §5), and revocation (RFC 7009 §2.1).

use serde::Deserialize;
use serde_json::Value;

use super::error::{Error, ErrorCode, Result};

/// RFC 6749 §4.1.3, with the PKCE verifier (RFC 7636 §4.5).
pub fn authorization_code_params(
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    client_id: &str,
) -> Vec<(String, String)> {
    vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code.into()),
        ("redirect_uri".into(), redirect_uri.into()),
        ("code_verifier".into(), code_verifier.into()),
        ("client_id".into(), client_id.into()),
    ]
}

/// RFC 6749 §6, naming one resource (RFC 8707 §2.2) when a token for it is wanted.
pub fn refresh_params(
    refresh_token: &str,
    client_id: &str,
    resource: Option<&str>,
) -> Vec<(String, String)> {
    let mut params = vec![
        ("grant_type".into(), "refresh_token".into()),
        ("refresh_token".into(), refresh_token.into()),
        ("client_id".into(), client_id.into()),
    ];
    if let Some(resource) = resource {
        params.push(("resource".into(), resource.into()));
    }
    params
}

/// RFC 7009 §2.1.
pub fn revocation_params(refresh_token: &str, client_id: &str) -> Vec<(String, String)> {
    vec![
        ("token".into(), refresh_token.into()),
        ("token_type_hint".into(), "refresh_token".into()),
        ("client_id".into(), client_id.into()),
    ]
}

/// RFC 6749 §5.1, with HelseID's `rt_expires_in`. Debug never prints a token.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    #[serde(default, deserialize_with = "number_or_numeric_string")]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub scope: Option<Value>,
    #[serde(default)]
    pub rt_expires_in: Option<i64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// `expires_in` sent as a string by some servers is tolerated (RFC 6749 §5.1 says a number).
fn number_or_numeric_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expires_in is not a whole number")),
        Some(Value::String(t)) => t
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expires_in is not a number")),
        Some(_) => Err(serde::de::Error::custom("expires_in is not a number")),
    }
}

/// Parses a token endpoint answer. Errors: RFC 6749 §5.2 answers become
/// `token_request_failed` with `oauthError` and `status`; 5xx are `retryable`.
pub fn process_token_response(status: u16, body: &str) -> Result<TokenResponse> {
    if !(200..300).contains(&status) {
        return Err(oauth_error("token request", status, body));
    }
    let response: TokenResponse = serde_json::from_str(body).map_err(|_| {
        Error::new(
            ErrorCode::TokenRequestFailed,
            "the token response is not JSON, lacks access_token or token_type, or has a field of the wrong type",
        )
        .with_status(status)
    })?;
    if response.access_token.is_empty() {
        return Err(
            Error::new(ErrorCode::TokenRequestFailed, "empty access_token").with_status(status),
        );
    }
    Ok(response)
}

/// The kind of access token, checked against what was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    DPoP,
    Bearer,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::DPoP => "DPoP",
            TokenType::Bearer => "Bearer",
        }
    }
}

/// RFC 9449 §5: with DPoP the `token_type` must be `DPoP` (compared case-insensitively,
/// RFC 6749 §5.1).
pub fn check_token_type(token_type: &str, dpop: bool) -> Result<TokenType> {
    if dpop {
        if token_type.eq_ignore_ascii_case("dpop") {
            Ok(TokenType::DPoP)
        } else {
            Err(Error::new(
                ErrorCode::DpopBindingMismatch,
                format!("DPoP was used but the token_type is {token_type}"),
            ))
        }
    } else if token_type.eq_ignore_ascii_case("bearer") {
        Ok(TokenType::Bearer)
    } else {
        Err(Error::new(
            ErrorCode::TokenRequestFailed,
            format!("unexpected token_type {token_type}"),
        ))
    }
}

/// An RFC 6749 §5.2 error answer (or any non-2xx) as `token_request_failed`.
pub fn oauth_error(what: &str, status: u16, body: &str) -> Error {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(|v| v.as_str())
        .map(String::from);
    let description = parsed
        .as_ref()
        .and_then(|v| v.get("error_description"))
        .and_then(|v| v.as_str())
        .map(|s| s.chars().take(300).collect::<String>());
    let message = match &error {
        Some(e) => format!("the {what} failed with HTTP {status}: {e}"),
        None => format!("the {what} failed with HTTP {status}"),
    };
    let mut err = Error::new(ErrorCode::TokenRequestFailed, message)
        .with_status(status)
        .retryable(status >= 500 || status == 429);
    err.oauth_error = error;
    err.oauth_error_description = description;
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_exchange_body_has_verifier_and_redirect_uri() {
        let params = authorization_code_params("c", "https://app.test/", "v", "c1");
        assert_eq!(
            crate::core::form::encode(&params),
            "grant_type=authorization_code&code=c&redirect_uri=https%3A%2F%2Fapp.test%2F&code_verifier=v&client_id=c1"
        );
    }

    #[test]
    fn refresh_body_names_one_resource() {
        let params = refresh_params("rt", "c1", Some("e-helse:sfm.api"));
        assert_eq!(
            crate::core::form::encode(&params),
            "grant_type=refresh_token&refresh_token=rt&client_id=c1&resource=e-helse%3Asfm.api"
        );
    }

    #[test]
    fn token_response_reads_helseid_fields() {
        let r = process_token_response(
            200,
            r#"{"access_token":"a","token_type":"DPoP","expires_in":600,"refresh_token":"r","id_token":"i","scope":"openid profile","rt_expires_in":3600}"#,
        )
        .unwrap();
        assert_eq!(r.expires_in, Some(600));
        assert_eq!(r.rt_expires_in, Some(3600));
        assert_eq!(r.refresh_token.as_deref(), Some("r"));
        let debug = format!("{r:?}");
        assert!(!debug.contains("\"a\"") && !debug.contains("\"r\"") && !debug.contains("\"i\""));
    }

    #[test]
    fn expires_in_as_a_numeric_string_is_read_and_other_types_are_refused() {
        let r = process_token_response(
            200,
            r#"{"access_token":"a","token_type":"DPoP","expires_in":"600"}"#,
        )
        .unwrap();
        assert_eq!(r.expires_in, Some(600));
        let e = process_token_response(
            200,
            r#"{"access_token":"a","token_type":"DPoP","expires_in":true}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
    }

    #[test]
    fn token_response_without_expires_in_passes() {
        let r =
            process_token_response(200, r#"{"access_token":"a","token_type":"Bearer"}"#).unwrap();
        assert_eq!(r.expires_in, None);
    }

    #[test]
    fn oauth_errors_keep_error_status_and_retryability() {
        let e = process_token_response(
            400,
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
        assert_eq!(e.oauth_error.as_deref(), Some("invalid_grant"));
        assert_eq!(e.status, Some(400));
        assert!(!e.retryable);
        let e = process_token_response(503, "<html>busy</html>").unwrap_err();
        assert_eq!(
            (e.status, e.retryable, e.oauth_error),
            (Some(503), true, None)
        );
        let e = process_token_response(200, "{not json").unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
        let e = process_token_response(200, r#"{"token_type":"DPoP"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
    }

    #[test]
    fn token_type_is_case_insensitive_and_dpop_must_be_dpop() {
        assert_eq!(check_token_type("dpop", true).unwrap(), TokenType::DPoP);
        assert_eq!(check_token_type("DPoP", true).unwrap(), TokenType::DPoP);
        assert_eq!(
            check_token_type("Bearer", true).unwrap_err().code,
            ErrorCode::DpopBindingMismatch
        );
        assert_eq!(
            check_token_type("bearer", false).unwrap(),
            TokenType::Bearer
        );
    }
}
