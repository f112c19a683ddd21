//! The token endpoint: the code exchange (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.5), the token
//! response (§5.1) and error response (§5.2), and the token type (RFC 9449 §5).

use serde_json::Value;

use super::error::{Error, ErrorCode, Result};
use super::json::{parse_object, Object, Read};
use super::secret::{
    AccessToken, AuthorizationCode, CodeVerifier, FormBody, IdToken, RefreshToken,
};

/// RFC 6749 §4.1.3, with the PKCE verifier (RFC 7636 §4.5) and one resource (RFC 8707 §2.2).
pub fn authorization_code_params(
    code: &AuthorizationCode,
    redirect_uri: &str,
    code_verifier: &CodeVerifier,
    client_id: &str,
    resource: Option<&str>,
) -> FormBody {
    let mut body = FormBody::default();
    body.push("grant_type", "authorization_code");
    body.push("code", code.expose());
    body.push("redirect_uri", redirect_uri);
    body.push("code_verifier", code_verifier.expose());
    body.push("client_id", client_id);
    if let Some(resource) = resource {
        body.push("resource", resource);
    }
    body
}

/// RFC 6749 §5.1, with HelseID's `rt_expires_in` and `rejected_scope`. Debug never prints a
/// token.
#[derive(Debug)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    pub token_type: String,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<IdToken>,
    /// A string (RFC 6749) or, from HelseID, an array.
    pub scope: Option<Value>,
    pub rt_expires_in: Option<i64>,
    /// Scopes HelseID refused on an otherwise successful answer (a multi-tenant organisation
    /// that has not accepted the terms, README "Context").
    pub rejected_scope: Vec<String>,
}

/// `expires_in` sent as a string by some servers is tolerated (RFC 6749 §5.1 says a number).
fn seconds(o: &Object, name: &str) -> std::result::Result<Option<i64>, ()> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
        Some(Value::String(t)) => t.trim().parse().map(Some).map_err(|_| ()),
        Some(_) => Err(()),
    }
}

fn optional_text(o: &Object, name: &str) -> std::result::Result<Option<String>, ()> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

/// Parses a token endpoint answer. Errors: RFC 6749 §5.2 answers become
/// `token_request_failed` with `oauthError` and `status`; 5xx are `retryable`.
pub fn process_token_response(status: u16, body: &str) -> Result<TokenResponse> {
    if !(200..300).contains(&status) {
        return Err(oauth_error("token request", status, body));
    }
    let malformed = || {
        Error::new(
            ErrorCode::TokenRequestFailed,
            "the token response is not JSON, lacks access_token or token_type, or has a field of the wrong type",
        )
        .with_status(status)
    };
    let o = parse_object(body).ok_or_else(malformed)?;
    let read = || -> std::result::Result<TokenResponse, ()> {
        Ok(TokenResponse {
            access_token: AccessToken::new(o.string("access_token").ok_or(())?),
            token_type: o.string("token_type").ok_or(())?,
            expires_in: seconds(&o, "expires_in")?,
            refresh_token: optional_text(&o, "refresh_token")?.map(RefreshToken::new),
            id_token: optional_text(&o, "id_token")?.map(IdToken::new),
            scope: o.get("scope").filter(|v| !v.is_null()).cloned(),
            rt_expires_in: seconds(&o, "rt_expires_in")?,
            rejected_scope: super::session::parse_scope(o.get("rejected_scope")),
        })
    };
    let response = read().map_err(|_| malformed())?;
    if response.access_token.expose().is_empty() {
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

    pub fn parse(text: &str) -> Option<TokenType> {
        match text {
            "DPoP" => Some(TokenType::DPoP),
            "Bearer" => Some(TokenType::Bearer),
            _ => None,
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

/// Longest `error_description` kept (HelseID's HID-10xx texts are far shorter).
const MAX_DESCRIPTION_CHARS: usize = 1000;

/// An RFC 6749 §5.2 error answer (or any non-2xx) as `token_request_failed`.
pub fn oauth_error(what: &str, status: u16, body: &str) -> Error {
    let parsed = parse_object(body);
    let error = parsed.as_ref().and_then(|o| o.string("error"));
    let description = parsed
        .as_ref()
        .and_then(|o| o.str("error_description"))
        .map(|s| s.chars().take(MAX_DESCRIPTION_CHARS).collect::<String>());
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
    fn code_exchange_body_has_verifier_redirect_uri_and_one_resource() {
        let body = authorization_code_params(
            &AuthorizationCode::new("c"),
            "https://app.test/",
            &CodeVerifier::new("v"),
            "c1",
            Some("e-helse:sfm.api"),
        );
        assert_eq!(
            body.encode(),
            "grant_type=authorization_code&code=c&redirect_uri=https%3A%2F%2Fapp.test%2F&code_verifier=v&client_id=c1&resource=e-helse%3Asfm.api"
        );
    }

    #[test]
    fn token_response_reads_helseid_fields() {
        let r = process_token_response(
            200,
            r#"{"access_token":"a","token_type":"DPoP","expires_in":600,"refresh_token":"r","id_token":"i","scope":"openid profile","rt_expires_in":3600,"rejected_scope":"nhn:kjernejournal/api"}"#,
        )
        .unwrap();
        assert_eq!(r.expires_in, Some(600));
        assert_eq!(r.rt_expires_in, Some(3600));
        assert_eq!(r.refresh_token.as_ref().map(|t| t.expose()), Some("r"));
        assert_eq!(r.rejected_scope, ["nhn:kjernejournal/api"]);
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
        for bad in [
            r#"{"access_token":"a","token_type":"DPoP","expires_in":true}"#,
            r#"{"access_token":"a","token_type":"DPoP","refresh_token":5}"#,
            r#"{"access_token":"","token_type":"DPoP"}"#,
        ] {
            let e = process_token_response(200, bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::TokenRequestFailed, "{bad}");
        }
    }

    #[test]
    fn token_response_without_expires_in_passes() {
        let r =
            process_token_response(200, r#"{"access_token":"a","token_type":"Bearer"}"#).unwrap();
        assert_eq!(r.expires_in, None);
        assert!(r.rejected_scope.is_empty());
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

    /// README "Context": HelseID names its rule in `error_description`; it reaches the caller.
    #[test]
    fn helseid_hid_errors_keep_their_description_intact() {
        let text =
            "HID-1002: The child organization number 987654321 is not whitelisted for the client";
        let e = process_token_response(
            400,
            &format!(r#"{{"error":"invalid_request","error_description":"{text}"}}"#),
        )
        .unwrap_err();
        assert_eq!(e.oauth_error_description.as_deref(), Some(text));
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
