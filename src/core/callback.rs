//! The login attempt kept across the redirect, and the authorization response that ends it
//! (RFC 6749 §4.1.2, RFC 9207).

use serde_json::{json, Value};

use super::error::{Error, ErrorCode, Result};
use super::json::{parse_object, Read};
use super::secret::{AuthorizationCode, CodeVerifier};

/// What `loginWithRedirect` stores until the callback: used once, then removed.
#[derive(PartialEq)]
pub struct Transaction {
    pub state: String,
    pub nonce: String,
    pub code_verifier: CodeVerifier,
    pub redirect_uri: String,
    pub created_at: i64,
    /// RFC 7638 thumbprint of the DPoP key the login is bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// The context the code exchange carries (API.md), checked when the login began.
    pub context: Option<Value>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("redirect_uri", &self.redirect_uri)
            .field("created_at", &self.created_at)
            .field("code_verifier", &self.code_verifier)
            .finish_non_exhaustive()
    }
}

impl Transaction {
    /// The record kept in this tab's sessionStorage across the redirect.
    pub fn to_json(&self) -> String {
        json!({
            "state": self.state,
            "nonce": self.nonce,
            "codeVerifier": self.code_verifier.expose(),
            "redirectUri": self.redirect_uri,
            "createdAt": self.created_at,
            "dpopJkt": self.dpop_jkt,
            "context": self.context,
        })
        .to_string()
    }

    /// `None` when the record is not one this library wrote.
    pub fn from_json(text: &str) -> Option<Transaction> {
        let o = parse_object(text)?;
        Some(Transaction {
            state: o.string("state")?,
            nonce: o.string("nonce")?,
            code_verifier: CodeVerifier::new(o.string("codeVerifier")?),
            redirect_uri: o.string("redirectUri")?,
            created_at: o.i64("createdAt")?,
            dpop_jkt: o.string("dpopJkt"),
            context: o.get("context").filter(|v| !v.is_null()).cloned(),
        })
    }
}

/// A login attempt older than this is refused at the callback (a PAR `request_uri` lives 60 s,
/// the login at HelseID can take minutes).
pub const TRANSACTION_MAX_AGE_SECONDS: i64 = 3600;

fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The login attempt is used once: after any answer a replayed callback finds nothing, except
/// `state_mismatch`, a forged or stale callback that leaves the real attempt usable (RFC 6749
/// §10.12).
pub fn transaction_is_spent<T>(result: &Result<T>) -> bool {
    !matches!(result, Err(e) if e.code == ErrorCode::StateMismatch)
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
) -> Result<AuthorizationCode> {
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
        Some(code) if !code.is_empty() => Ok(AuthorizationCode::new(code)),
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
pub(crate) mod tests {
    use super::*;

    const ISSUER: &str = "https://helseid-sts.test.nhn.no";

    pub(crate) fn tx() -> Transaction {
        Transaction {
            state: "s1".into(),
            nonce: "n1".into(),
            code_verifier: CodeVerifier::new("v"),
            redirect_uri: "https://app.test/cb".into(),
            created_at: 1000,
            dpop_jkt: Some("jkt1".into()),
            context: None,
        }
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_attempt_is_spent_by_every_answer_but_a_state_mismatch() {
        let wrong_state = process_callback(
            &p(&[("code", "c"), ("state", "forged")]),
            Some(&tx()),
            ISSUER,
            false,
            1001,
        );
        assert_eq!(
            wrong_state.as_ref().unwrap_err().code,
            ErrorCode::StateMismatch
        );
        assert!(
            !transaction_is_spent(&wrong_state),
            "the real callback can still come"
        );
        let error = process_callback(
            &p(&[("error", "access_denied"), ("state", "s1")]),
            Some(&tx()),
            ISSUER,
            false,
            1001,
        );
        assert!(error.is_err());
        assert!(transaction_is_spent(&error));
        let ok = process_callback(
            &p(&[("code", "c"), ("state", "s1"), ("iss", ISSUER)]),
            Some(&tx()),
            ISSUER,
            true,
            1001,
        );
        assert!(transaction_is_spent(&ok));
    }

    #[test]
    fn callback_with_matching_state_and_iss_returns_the_code() {
        let params = p(&[("code", "c"), ("state", "s1"), ("iss", ISSUER)]);
        assert!(is_callback(&params));
        let code = process_callback(&params, Some(&tx()), ISSUER, true, 1001).unwrap();
        assert_eq!(code.expose(), "c");
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
        let code = process_callback(&missing, Some(&tx()), ISSUER, false, 1001).unwrap();
        assert_eq!(code.expose(), "c");
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
        let t = Transaction {
            code_verifier: CodeVerifier::new("very-secret-verifier"),
            ..tx()
        };
        assert!(!format!("{t:?}").contains("very-secret"));
    }

    #[test]
    fn transaction_round_trips_through_its_stored_record() {
        let t = Transaction {
            context: Some(serde_json::json!({ "journalId": "j" })),
            ..tx()
        };
        let back = Transaction::from_json(&t.to_json()).unwrap();
        assert_eq!(back, t);
        assert!(Transaction::from_json(r#"{"state":"s"}"#).is_none());
        assert!(Transaction::from_json("not json").is_none());
    }
}
