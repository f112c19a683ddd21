//! OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: the provider metadata this client uses.

use serde_json::Value;

use super::error::{Error, ErrorCode, Result};
use super::json::{parse_object, Object, Read};
use super::uri;

/// NHN: cache discovery for about a day.
pub const DISCOVERY_CACHE_SECONDS: i64 = 24 * 3600;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Missing members read as empty and are refused after the `issuer` check.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub pushed_authorization_request_endpoint: Option<String>,
    pub require_pushed_authorization_requests: bool,
    pub end_session_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    /// RFC 9207 §3.
    pub authorization_response_iss_parameter_supported: bool,
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

impl Metadata {
    /// Reads the members this client uses; a member of the wrong type is an error.
    fn from_json(o: &Object) -> std::result::Result<Metadata, &'static str> {
        let text = |name: &'static str| match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(name),
        };
        let flag = |name: &'static str| match o.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(name),
        };
        let list = |name: &'static str| match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => o.strings(name).map(Some).ok_or(name),
        };
        Ok(Metadata {
            issuer: text("issuer")?.unwrap_or_default(),
            authorization_endpoint: text("authorization_endpoint")?.unwrap_or_default(),
            token_endpoint: text("token_endpoint")?.unwrap_or_default(),
            jwks_uri: text("jwks_uri")?.unwrap_or_default(),
            pushed_authorization_request_endpoint: text("pushed_authorization_request_endpoint")?,
            require_pushed_authorization_requests: flag("require_pushed_authorization_requests")?,
            end_session_endpoint: text("end_session_endpoint")?,
            revocation_endpoint: text("revocation_endpoint")?,
            userinfo_endpoint: text("userinfo_endpoint")?,
            authorization_response_iss_parameter_supported: flag(
                "authorization_response_iss_parameter_supported",
            )?,
            dpop_signing_alg_values_supported: list("dpop_signing_alg_values_supported")?,
            code_challenge_methods_supported: list("code_challenge_methods_supported")?,
        })
    }
}

impl Metadata {
    /// The members this client uses, as a discovery document (the session host hands it to
    /// its pages, which read it with [`process_discovery_response`] and fetch nothing).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "pushed_authorization_request_endpoint": self.pushed_authorization_request_endpoint,
            "require_pushed_authorization_requests": self.require_pushed_authorization_requests,
            "end_session_endpoint": self.end_session_endpoint,
            "revocation_endpoint": self.revocation_endpoint,
            "userinfo_endpoint": self.userinfo_endpoint,
            "authorization_response_iss_parameter_supported": self.authorization_response_iss_parameter_supported,
            "dpop_signing_alg_values_supported": self.dpop_signing_alg_values_supported,
            "code_challenge_methods_supported": self.code_challenge_methods_supported,
        })
    }
}

/// OIDC Discovery §4: `{issuer}/.well-known/openid-configuration` (a trailing `/` removed).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// OIDC Discovery §4.3: the document's `issuer` must be identical to the configured one.
pub fn process_discovery_response(
    status: u16,
    body: &str,
    expected_issuer: &str,
    allow_insecure_http: bool,
) -> Result<Metadata> {
    if !(200..300).contains(&status) {
        return Err(Error::new(
            ErrorCode::DiscoveryFailed,
            format!("discovery answered HTTP {status}"),
        )
        .with_status(status)
        .retryable(status >= 500));
    }
    let object = parse_object(body)
        .ok_or_else(|| Error::new(ErrorCode::DiscoveryFailed, "discovery is not a JSON object"))?;
    let metadata = Metadata::from_json(&object).map_err(|member| {
        Error::new(
            ErrorCode::DiscoveryFailed,
            format!("discovery is not valid metadata: {member} has the wrong type"),
        )
    })?;
    if metadata.issuer != expected_issuer {
        return Err(Error::new(
            ErrorCode::IssuerMismatch,
            "the discovery document's issuer differs from the configured issuer",
        ));
    }
    for (name, value) in [
        ("authorization_endpoint", &metadata.authorization_endpoint),
        ("token_endpoint", &metadata.token_endpoint),
        ("jwks_uri", &metadata.jwks_uri),
    ] {
        if value.is_empty() {
            return Err(Error::new(
                ErrorCode::DiscoveryFailed,
                format!("discovery document lacks {name}"),
            ));
        }
    }
    let endpoints = [
        Some(&metadata.authorization_endpoint),
        Some(&metadata.token_endpoint),
        Some(&metadata.jwks_uri),
        metadata.pushed_authorization_request_endpoint.as_ref(),
        metadata.end_session_endpoint.as_ref(),
        metadata.revocation_endpoint.as_ref(),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        if !uri::is_allowed_endpoint(endpoint, allow_insecure_http) {
            return Err(Error::new(
                ErrorCode::DiscoveryFailed,
                format!("discovery lists an endpoint that is not https: {endpoint}"),
            ));
        }
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELSEID_TEST: &str = include_str!("../../tests/fixtures/helseid-test-discovery.json");

    #[test]
    fn reads_helseid_tests_discovery_document() {
        let m =
            process_discovery_response(200, HELSEID_TEST, "https://helseid-sts.test.nhn.no", false)
                .unwrap();
        assert_eq!(
            m.token_endpoint,
            "https://helseid-sts.test.nhn.no/connect/token"
        );
        assert_eq!(
            m.pushed_authorization_request_endpoint.as_deref(),
            Some("https://helseid-sts.test.nhn.no/connect/par")
        );
        assert_eq!(
            m.jwks_uri,
            "https://helseid-sts.test.nhn.no/.well-known/openid-configuration/jwks"
        );
        assert!(m.authorization_response_iss_parameter_supported);
        assert!(!m.require_pushed_authorization_requests);
    }

    #[test]
    fn metadata_handed_to_a_page_reads_back_the_same() {
        let m =
            process_discovery_response(200, HELSEID_TEST, "https://helseid-sts.test.nhn.no", false)
                .unwrap();
        let text = m.to_json().to_string();
        let again =
            process_discovery_response(200, &text, "https://helseid-sts.test.nhn.no", false)
                .unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn issuer_with_trailing_slash_is_a_mismatch() {
        let e = process_discovery_response(
            200,
            HELSEID_TEST,
            "https://helseid-sts.test.nhn.no/",
            false,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::IssuerMismatch);
    }

    #[test]
    fn invalid_json_and_http_errors_are_discovery_failed() {
        let e = process_discovery_response(200, "<html>", "https://x.test", false).unwrap_err();
        assert_eq!(e.code, ErrorCode::DiscoveryFailed);
        let e = process_discovery_response(503, "", "https://x.test", false).unwrap_err();
        assert_eq!(
            (e.code, e.status, e.retryable),
            (ErrorCode::DiscoveryFailed, Some(503), true)
        );
    }

    #[test]
    fn http_endpoints_are_refused_unless_loopback_is_allowed() {
        let doc = HELSEID_TEST.replace(
            "https://helseid-sts.test.nhn.no/connect/token",
            "http://helseid-sts.test.nhn.no/connect/token",
        );
        let e = process_discovery_response(200, &doc, "https://helseid-sts.test.nhn.no", true)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::DiscoveryFailed);
    }

    #[test]
    fn discovery_url_is_under_the_issuer() {
        assert_eq!(
            discovery_url("https://helseid-sts.test.nhn.no"),
            "https://helseid-sts.test.nhn.no/.well-known/openid-configuration"
        );
    }
}
