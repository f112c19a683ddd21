//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), pushed (RFC 9126), and
//! the processing of the authorization response (RFC 6749 §4.1.2, RFC 9207).

use serde::{Deserialize, Serialize};

use super::config::Config;
use super::error::{Error, ErrorCode, Result};
use super::form;

/// What `loginWithRedirect` stores until the callback: used once, then removed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    pub redirect_uri: String,
    pub created_at: i64,
    /// RFC 7638 thumbprint of the DPoP key the login is bound to (RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("redirect_uri", &self.redirect_uri)
            .field("created_at", &self.created_at)
            .field("code_verifier", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A login attempt older than this is refused at the callback (a PAR `request_uri` lives 60 s,
/// the login at HelseID can take minutes).
pub const TRANSACTION_MAX_AGE_SECONDS: i64 = 3600;

/// `loginWithRedirect` options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginOptions {
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub acr_values: Option<String>,
    #[serde(default)]
    pub login_hint: Option<String>,
    #[serde(default)]
    pub extra_params: Option<std::collections::BTreeMap<String, String>>,
}

/// Parameters the library sets itself; `extraParams` may not override them.
const PROTECTED: [&str; 14] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "dpop_jkt",
    "request_uri",
    "request",
    "client_assertion",
    "client_assertion_type",
];

/// The authorization request parameters (OIDC Core §3.1.2.1, RFC 7636 §4.3, RFC 8707 §2,
/// RFC 9449 §10), in the order they are sent.
pub fn request_params(
    config: &Config,
    tx: &Transaction,
    code_challenge: &str,
    options: &LoginOptions,
) -> Result<Vec<(String, String)>> {
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), config.client_id.clone()),
        ("redirect_uri".into(), tx.redirect_uri.clone()),
        ("scope".into(), config.scope.clone()),
        ("state".into(), tx.state.clone()),
        ("nonce".into(), tx.nonce.clone()),
        ("code_challenge".into(), code_challenge.into()),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for resource in &config.resources {
        params.push(("resource".into(), resource.clone()));
    }
    if let Some(jkt) = &tx.dpop_jkt {
        params.push(("dpop_jkt".into(), jkt.clone()));
    }
    for (name, value) in [
        ("prompt", &options.prompt),
        ("acr_values", &options.acr_values),
        ("login_hint", &options.login_hint),
    ] {
        if let Some(value) = value {
            params.push((name.into(), value.clone()));
        }
    }
    if let Some(extra) = &options.extra_params {
        for (name, value) in extra {
            if PROTECTED.contains(&name.as_str())
                || ["prompt", "acr_values", "login_hint"].contains(&name.as_str())
            {
                return Err(Error::config(format!(
                    "extraParams may not set {name}: the library sets it"
                )));
            }
            params.push((name.clone(), value.clone()));
        }
    }
    Ok(params)
}

/// The classic front-channel request (RFC 6749 §4.1.1), for `par: "off"`.
pub fn authorization_url(authorization_endpoint: &str, params: &[(String, String)]) -> String {
    join_query(authorization_endpoint, &form::encode(params))
}

/// RFC 9126 §4: after PAR, the browser carries only `client_id` and `request_uri`.
pub fn authorization_url_after_par(
    authorization_endpoint: &str,
    client_id: &str,
    request_uri: &str,
) -> String {
    join_query(
        authorization_endpoint,
        &form::encode(&[("client_id", client_id), ("request_uri", request_uri)]),
    )
}

fn join_query(endpoint: &str, query: &str) -> String {
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{query}")
}

/// RFC 9126 §2.2: a successful PAR answers 201 with `request_uri` and `expires_in`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct ParResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

pub fn process_par_response(status: u16, body: &str) -> Result<ParResponse> {
    if !(200..300).contains(&status) {
        return Err(super::token::oauth_error(
            "pushed authorization request",
            status,
            body,
        ));
    }
    serde_json::from_str::<ParResponse>(body).map_err(|_| {
        Error::new(
            ErrorCode::TokenRequestFailed,
            "the PAR response lacks request_uri or expires_in",
        )
        .with_status(status)
    })
}

fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `isRedirectCallback`: the URL carries `code` or `error`, and `state`.
pub fn is_callback(params: &[(String, String)]) -> bool {
    (first(params, "code").is_some() || first(params, "error").is_some())
        && first(params, "state").is_some()
}

/// Checks the authorization response against the stored transaction and returns the `code`.
/// Order: a stored attempt, `state` (RFC 6749 §10.12), `iss` (RFC 9207 §2.4), then `error`.
/// A response whose `state` does not match leaves the transaction usable (an attacker's
/// callback must not cancel the user's login); the caller removes it on any other outcome.
pub fn process_callback(
    params: &[(String, String)],
    tx: Option<&Transaction>,
    issuer: &str,
    iss_parameter_supported: bool,
    now: i64,
) -> Result<String> {
    let Some(tx) = tx else {
        return Err(Error::new(
            ErrorCode::MissingTransaction,
            "no login attempt is stored (none was started here, or its callback was already used)",
        ));
    };
    // Each parameter must appear once (RFC 6749 §3.1).
    for name in ["state", "code", "iss", "error"] {
        if params.iter().filter(|(n, _)| n == name).count() > 1 {
            return Err(Error::new(
                ErrorCode::StateMismatch,
                format!("the authorization response repeats {name}"),
            ));
        }
    }
    match first(params, "state") {
        Some(state) if constant_time_eq(state, &tx.state) => {}
        Some(_) => {
            return Err(Error::new(
                ErrorCode::StateMismatch,
                "the callback's state differs from the stored login attempt",
            ))
        }
        None => {
            return Err(Error::new(
                ErrorCode::StateMismatch,
                "the callback carries no state",
            ))
        }
    }
    match first(params, "iss") {
        Some(iss) if iss == issuer => {}
        Some(_) => {
            return Err(Error::new(
                ErrorCode::AuthorizationResponseIssMismatch,
                "the authorization response's iss is not the configured issuer (RFC 9207)",
            ))
        }
        None if iss_parameter_supported => {
            return Err(Error::new(
                ErrorCode::AuthorizationResponseIssMismatch,
                "the authorization response lacks iss, which the issuer advertises (RFC 9207)",
            ))
        }
        None => {}
    }
    if let Some(error) = first(params, "error") {
        return Err(Error::new(
            ErrorCode::AuthorizationDenied,
            format!("the authorization server answered {error}"),
        )
        .with_oauth(error, first(params, "error_description").map(String::from)));
    }
    // Saturating: a stored `createdAt` far in the past must not wrap around into "fresh".
    if now.saturating_sub(tx.created_at) > TRANSACTION_MAX_AGE_SECONDS {
        return Err(Error::new(
            ErrorCode::MissingTransaction,
            "the stored login attempt is too old; start a new login",
        ));
    }
    match first(params, "code") {
        Some(code) if !code.is_empty() => Ok(code.to_string()),
        _ => Err(Error::new(
            ErrorCode::AuthorizationDenied,
            "the authorization response carries neither code nor error",
        )
        .with_oauth("invalid_request", None)),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The parameters the callback leaves in the address bar that must go (API.md).
pub const CALLBACK_PARAMS: [&str; 6] = [
    "code",
    "state",
    "iss",
    "session_state",
    "error",
    "error_description",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ClientAuthMethod;

    const ISSUER: &str = "https://helseid-sts.test.nhn.no";

    fn config() -> Config {
        Config::from_json(
            r#"{"issuer":"https://helseid-sts.test.nhn.no","clientId":"c1","redirectUri":"https://app.test/cb","scope":"openid offline_access","resources":["e-helse:sfm.api","e-helse:other.api"]}"#,
            ClientAuthMethod::AssertionProvider,
        )
        .unwrap()
    }

    fn tx() -> Transaction {
        Transaction {
            state: "s1".into(),
            nonce: "n1".into(),
            code_verifier: "v".into(),
            redirect_uri: "https://app.test/cb".into(),
            created_at: 1000,
            dpop_jkt: Some("jkt1".into()),
        }
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn request_params_carry_pkce_resources_and_dpop_jkt_in_order() {
        let opts = LoginOptions {
            login_hint: Some("kvart".into()),
            ..Default::default()
        };
        let params = request_params(&config(), &tx(), "chal", &opts).unwrap();
        let body = form::encode(&params);
        assert_eq!(
            body,
            "response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&scope=openid+offline_access&state=s1&nonce=n1&code_challenge=chal&code_challenge_method=S256&resource=e-helse%3Asfm.api&resource=e-helse%3Aother.api&dpop_jkt=jkt1&login_hint=kvart"
        );
    }

    /// `par: "off"`: every parameter travels in the front-channel URL (RFC 6749 §4.1.1).
    #[test]
    fn classic_authorization_url_carries_the_whole_request() {
        let params = request_params(&config(), &tx(), "chal", &LoginOptions::default()).unwrap();
        let url = authorization_url("https://h.test/connect/authorize", &params);
        assert!(
            url.starts_with("https://h.test/connect/authorize?response_type=code&client_id=c1&")
        );
        assert!(url.contains("&code_challenge=chal&code_challenge_method=S256&"));
        assert!(url.contains("&state=s1&nonce=n1&"));
        assert!(!url.contains("client_assertion"));
        assert_eq!(
            authorization_url("https://h.test/authorize?x=1", &[("a".into(), "b".into())]),
            "https://h.test/authorize?x=1&a=b"
        );
    }

    #[test]
    fn extra_params_cannot_override_protected_parameters() {
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("code_challenge_method".to_string(), "plain".to_string());
        let opts = LoginOptions {
            extra_params: Some(extra),
            ..Default::default()
        };
        let e = request_params(&config(), &tx(), "chal", &opts).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
    }

    #[test]
    fn authorize_url_after_par_has_only_client_id_and_request_uri() {
        assert_eq!(
            authorization_url_after_par(
                "https://h.test/connect/authorize",
                "c1",
                "urn:ietf:params:oauth:request_uri:abc"
            ),
            "https://h.test/connect/authorize?client_id=c1&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc"
        );
    }

    #[test]
    fn par_response_needs_request_uri_and_errors_carry_the_oauth_error() {
        let ok = process_par_response(201, r#"{"request_uri":"urn:x","expires_in":60}"#).unwrap();
        assert_eq!(ok.request_uri, "urn:x");
        let e = process_par_response(
            400,
            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
        assert_eq!(e.oauth_error.as_deref(), Some("invalid_client"));
        assert_eq!(e.status, Some(400));
        let e = process_par_response(201, r#"{"expires_in":60}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
    }

    #[test]
    fn callback_with_matching_state_and_iss_returns_the_code() {
        let params = p(&[("code", "c"), ("state", "s1"), ("iss", ISSUER)]);
        assert!(is_callback(&params));
        assert_eq!(
            process_callback(&params, Some(&tx()), ISSUER, true, 1001).unwrap(),
            "c"
        );
    }

    #[test]
    fn callback_without_stored_transaction_is_missing_transaction() {
        let params = p(&[("code", "c"), ("state", "s1"), ("iss", ISSUER)]);
        let e = process_callback(&params, None, ISSUER, true, 1001).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingTransaction);
    }

    #[test]
    fn callback_with_other_or_missing_state_is_state_mismatch() {
        for params in [
            p(&[("code", "c"), ("state", "s2"), ("iss", ISSUER)]),
            p(&[("code", "c"), ("iss", ISSUER)]),
            p(&[
                ("code", "c"),
                ("state", "s1"),
                ("state", "s1"),
                ("iss", ISSUER),
            ]),
        ] {
            let e = process_callback(&params, Some(&tx()), ISSUER, true, 1001).unwrap_err();
            assert_eq!(e.code, ErrorCode::StateMismatch);
        }
    }

    #[test]
    fn callback_iss_wrong_or_missing_when_advertised_is_iss_mismatch() {
        let wrong = p(&[("code", "c"), ("state", "s1"), ("iss", "https://evil.test")]);
        let e = process_callback(&wrong, Some(&tx()), ISSUER, false, 1001).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthorizationResponseIssMismatch);
        let missing = p(&[("code", "c"), ("state", "s1")]);
        let e = process_callback(&missing, Some(&tx()), ISSUER, true, 1001).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthorizationResponseIssMismatch);
        assert_eq!(
            process_callback(&missing, Some(&tx()), ISSUER, false, 1001).unwrap(),
            "c"
        );
    }

    #[test]
    fn callback_error_is_authorization_denied_with_oauth_error() {
        let params = p(&[
            ("error", "access_denied"),
            ("error_description", "user said no"),
            ("state", "s1"),
            ("iss", ISSUER),
        ]);
        let e = process_callback(&params, Some(&tx()), ISSUER, true, 1001).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthorizationDenied);
        assert_eq!(e.oauth_error.as_deref(), Some("access_denied"));
        assert_eq!(e.oauth_error_description.as_deref(), Some("user said no"));
    }

    #[test]
    fn stale_transaction_is_refused() {
        let params = p(&[("code", "c"), ("state", "s1"), ("iss", ISSUER)]);
        let e = process_callback(&params, Some(&tx()), ISSUER, true, 1000 + 3601).unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingTransaction);
    }

    #[test]
    fn transaction_debug_hides_the_code_verifier() {
        assert!(!format!("{:?}", tx()).contains("\"v\""));
    }
}
