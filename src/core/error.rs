//! One error type with the stable codes of API.md ("Errors"). The browser shell turns it into
//! a JS `Error` named `HelseIdError`; nothing here may carry a token or a code.

use std::borrow::Cow;
use std::fmt;

use serde_json::{json, Value};

use super::json::Read;

/// The stable error codes: the contract in API.md. Never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    ConfigInvalid,
    DiscoveryFailed,
    IssuerMismatch,
    MissingTransaction,
    StateMismatch,
    AuthorizationResponseIssMismatch,
    AuthorizationDenied,
    TokenRequestFailed,
    NetworkError,
    InvalidToken,
    UnsupportedAlg,
    UnknownKey,
    SignatureInvalid,
    TokenExpired,
    TokenNotYetValid,
    ClaimInvalid,
    MissingSfmId,
    SecurityLevelInsufficient,
    DpopBindingMismatch,
    DpopNonceFailed,
    LoginRequired,
    ContextInvalid,
    ContextExpired,
    PortalFailed,
    OriginNotAllowed,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 25] = [
        ErrorCode::ConfigInvalid,
        ErrorCode::DiscoveryFailed,
        ErrorCode::IssuerMismatch,
        ErrorCode::MissingTransaction,
        ErrorCode::StateMismatch,
        ErrorCode::AuthorizationResponseIssMismatch,
        ErrorCode::AuthorizationDenied,
        ErrorCode::TokenRequestFailed,
        ErrorCode::NetworkError,
        ErrorCode::InvalidToken,
        ErrorCode::UnsupportedAlg,
        ErrorCode::UnknownKey,
        ErrorCode::SignatureInvalid,
        ErrorCode::TokenExpired,
        ErrorCode::TokenNotYetValid,
        ErrorCode::ClaimInvalid,
        ErrorCode::MissingSfmId,
        ErrorCode::SecurityLevelInsufficient,
        ErrorCode::DpopBindingMismatch,
        ErrorCode::DpopNonceFailed,
        ErrorCode::LoginRequired,
        ErrorCode::ContextInvalid,
        ErrorCode::ContextExpired,
        ErrorCode::PortalFailed,
        ErrorCode::OriginNotAllowed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ConfigInvalid => "config_invalid",
            ErrorCode::DiscoveryFailed => "discovery_failed",
            ErrorCode::IssuerMismatch => "issuer_mismatch",
            ErrorCode::MissingTransaction => "missing_transaction",
            ErrorCode::StateMismatch => "state_mismatch",
            ErrorCode::AuthorizationResponseIssMismatch => "authorization_response_iss_mismatch",
            ErrorCode::AuthorizationDenied => "authorization_denied",
            ErrorCode::TokenRequestFailed => "token_request_failed",
            ErrorCode::NetworkError => "network_error",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::UnsupportedAlg => "unsupported_alg",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TokenNotYetValid => "token_not_yet_valid",
            ErrorCode::ClaimInvalid => "claim_invalid",
            ErrorCode::MissingSfmId => "missing_sfm_id",
            ErrorCode::SecurityLevelInsufficient => "security_level_insufficient",
            ErrorCode::DpopBindingMismatch => "dpop_binding_mismatch",
            ErrorCode::DpopNonceFailed => "dpop_nonce_failed",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ContextInvalid => "context_invalid",
            ErrorCode::ContextExpired => "context_expired",
            ErrorCode::PortalFailed => "portal_failed",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
        }
    }

    /// The library's own sentence for the code (README "Errors"), for an error whose text came
    /// from elsewhere.
    pub fn text(self) -> &'static str {
        match self {
            ErrorCode::ConfigInvalid => "the configuration or an argument is not valid",
            ErrorCode::DiscoveryFailed => "discovery or the JWKS could not be read",
            ErrorCode::IssuerMismatch => "discovery names another issuer",
            ErrorCode::MissingTransaction => "no login attempt is stored for this callback",
            ErrorCode::StateMismatch => "the callback's state is not the login attempt's",
            ErrorCode::AuthorizationResponseIssMismatch => {
                "the authorization response's iss is wrong or missing"
            }
            ErrorCode::AuthorizationDenied => "the login ended with an error",
            ErrorCode::TokenRequestFailed => "HelseID refused the request",
            ErrorCode::NetworkError => "a request failed or timed out",
            ErrorCode::InvalidToken => "a token is not a well-formed JWS",
            ErrorCode::UnsupportedAlg => "a token's alg is not allowed",
            ErrorCode::UnknownKey => "no key of the issuer fits a token",
            ErrorCode::SignatureInvalid => "a token's signature does not verify",
            ErrorCode::TokenExpired => "a token has expired",
            ErrorCode::TokenNotYetValid => "a token is not valid yet",
            ErrorCode::ClaimInvalid => "a token's claim failed its check",
            ErrorCode::MissingSfmId => "the access token carries no SFM id",
            ErrorCode::SecurityLevelInsufficient => "the security level is not the one required",
            ErrorCode::DpopBindingMismatch => "a token is not bound to the session's DPoP key",
            ErrorCode::DpopNonceFailed => "the server still asks for a DPoP nonce after a retry",
            ErrorCode::LoginRequired => "there is no session: log in",
            ErrorCode::ContextInvalid => "the context is malformed",
            ErrorCode::ContextExpired => "the attest is too old: set the context again",
            ErrorCode::PortalFailed => "a national portal refused the session",
            ErrorCode::OriginNotAllowed => "that origin is not in apiOrigins for the resource",
        }
    }

    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

/// A failure with its stable code and the structured fields API.md lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    /// A sentence for people. Never contains a token, a code or a key.
    pub message: String,
    /// The claim (or context field) that failed (`claim_invalid`, `missing_sfm_id`, ...).
    pub claim: Option<Cow<'static, str>>,
    /// The server's `error` (RFC 6749 §5.2) and `error_description`.
    pub oauth_error: Option<String>,
    pub oauth_error_description: Option<String>,
    /// HTTP status of the response that failed.
    pub status: Option<u16>,
    pub retryable: bool,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            claim: None,
            oauth_error: None,
            oauth_error_description: None,
            status: None,
            retryable: code == ErrorCode::NetworkError,
        }
    }

    /// `claim_invalid` naming the claim.
    pub fn claim(claim: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::new(ErrorCode::ClaimInvalid, message).with_claim(claim)
    }

    pub fn with_claim(mut self, claim: impl Into<Cow<'static, str>>) -> Self {
        self.claim = Some(claim.into());
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_oauth(mut self, error: impl Into<String>, description: Option<String>) -> Self {
        self.oauth_error = Some(error.into());
        self.oauth_error_description = description;
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::ConfigInvalid, message)
    }

    pub fn invalid_token(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidToken, message)
    }
}

impl Error {
    /// The error as plain data, for another tab (errors stay errors across tabs, never text).
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code.as_str(),
            "message": self.message,
            "claim": self.claim,
            "oauthError": self.oauth_error,
            "oauthErrorDescription": self.oauth_error_description,
            "status": self.status,
            "retryable": self.retryable,
        })
    }

    /// Reads [`Error::to_json`]'s form; an unknown code is `None`.
    pub fn from_json(value: &Value) -> Option<Error> {
        let code = ErrorCode::parse(value.str("code")?)?;
        let mut e = Error::new(code, value.str("message").unwrap_or_default());
        e.claim = value.string("claim").map(Cow::Owned);
        e.oauth_error = value.string("oauthError");
        e.oauth_error_description = value.string("oauthErrorDescription");
        e.status = value.i64("status").and_then(|s| u16::try_from(s).ok());
        e.retryable = value.bool("retryable").unwrap_or(false);
        Some(e)
    }
}

/// A claim name or context field as the library writes them (`helseid://claims/...`,
/// `trustFramework.patients[0].department`), or an OAuth `error` code: short, no spaces.
fn is_name(text: &str, max: usize, extra: &[u8]) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b) || extra.contains(&b))
}

impl Error {
    /// A `done` from the tabs' channel (finding 6): any page of the origin can post one, so no
    /// text of the sender's reaches the app. The message is the library's own for the code;
    /// `claim`, `oauthError`, `status` and `retryable` are kept only when well-formed, and
    /// `oauthErrorDescription` never.
    pub fn from_peer_json(value: &Value) -> Option<Error> {
        let code = ErrorCode::parse(value.str("code")?)?;
        let mut e = Error::new(
            code,
            format!("the tab holding the session answered: {}", code.text()),
        );
        e.claim = value
            .str("claim")
            .filter(|c| is_name(c, 200, b"/[]"))
            .map(|c| Cow::Owned(c.to_string()));
        e.oauth_error = value
            .str("oauthError")
            .filter(|c| is_name(c, 64, b""))
            .map(String::from);
        e.status = value
            .i64("status")
            .filter(|s| (100..=599).contains(s))
            .map(|s| s as u16);
        if let Some(retryable) = value.bool("retryable") {
            e.retryable = retryable;
        }
        Some(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant maps to the code API.md documents, and no two share one.
    #[test]
    fn every_code_is_the_documented_string() {
        let expected = [
            "config_invalid",
            "discovery_failed",
            "issuer_mismatch",
            "missing_transaction",
            "state_mismatch",
            "authorization_response_iss_mismatch",
            "authorization_denied",
            "token_request_failed",
            "network_error",
            "invalid_token",
            "unsupported_alg",
            "unknown_key",
            "signature_invalid",
            "token_expired",
            "token_not_yet_valid",
            "claim_invalid",
            "missing_sfm_id",
            "security_level_insufficient",
            "dpop_binding_mismatch",
            "dpop_nonce_failed",
            "login_required",
            "context_invalid",
            "context_expired",
            "portal_failed",
            "origin_not_allowed",
        ];
        let actual: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn errors_survive_the_trip_to_another_tab() {
        let e = Error::claim("helseid://claims/client/claims/orgnr_child", "differs")
            .with_status(200)
            .with_oauth("invalid_request", Some("HID-1002".into()));
        let back = Error::from_json(&e.to_json()).unwrap();
        assert_eq!(back, e);
        assert_eq!(
            ErrorCode::parse("context_expired"),
            Some(ErrorCode::ContextExpired)
        );
        assert!(Error::from_json(&json!({"code": "made_up"})).is_none());
    }

    #[test]
    fn a_peers_done_never_carries_the_senders_text() {
        let forged = json!({
            "code": "token_request_failed",
            "message": "Your session is locked: call +47 22 33 44 55 to unlock it",
            "oauthErrorDescription": "call +47 22 33 44 55",
            "claim": "call +47 22 33 44 55",
            "oauthError": "call +47 22 33 44 55",
            "status": 400,
            "retryable": true,
        });
        let e = Error::from_peer_json(&forged).unwrap();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
        assert_eq!(
            e.message,
            "the tab holding the session answered: HelseID refused the request"
        );
        assert_eq!(
            (e.claim, e.oauth_error, e.oauth_error_description),
            (None, None, None)
        );
        assert_eq!((e.status, e.retryable), (Some(400), true));
        assert!(!format!("{:?}", Error::from_peer_json(&forged)).contains("+47"));

        // Well-formed structured fields are kept, as the holder sends them (to_json).
        let real = Error::claim("trustFramework.patients[0].department", "x")
            .with_status(400)
            .with_oauth("invalid_grant", Some("HID-1002 call +47".into()));
        let back = Error::from_peer_json(&real.to_json()).unwrap();
        assert_eq!(
            back.claim.as_deref(),
            Some("trustFramework.patients[0].department")
        );
        assert_eq!(back.oauth_error.as_deref(), Some("invalid_grant"));
        assert_eq!(back.oauth_error_description, None);
        assert_eq!(back.status, Some(400));
        assert_eq!(
            back.message,
            "the tab holding the session answered: a token's claim failed its check"
        );
        let e =
            Error::from_peer_json(&json!({ "code": "network_error", "status": 70000 })).unwrap();
        assert_eq!((e.status, e.retryable), (None, true));
        let e =
            Error::from_peer_json(&json!({ "code": "login_required", "claim": "x".repeat(201) }))
                .unwrap();
        assert_eq!(e.claim, None);
        assert!(Error::from_peer_json(&json!({ "code": "call +47" })).is_none());
        for code in ErrorCode::ALL {
            let e = Error::from_peer_json(&json!({ "code": code.as_str() })).unwrap();
            assert!(e.message.ends_with(code.text()));
        }
    }

    #[test]
    fn network_errors_are_retryable_by_default_and_others_are_not() {
        assert!(Error::new(ErrorCode::NetworkError, "x").retryable);
        assert!(!Error::new(ErrorCode::TokenRequestFailed, "x").retryable);
    }
}
