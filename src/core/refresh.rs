//! The refresh token grant (RFC 6749 §6): the request, and what its failures mean for the
//! session.

use super::error::{Error, ErrorCode};
use super::secret::{FormBody, RefreshToken};

/// RFC 6749 §6, naming one resource (RFC 8707 §2.2) when a token for it is wanted.
pub fn refresh_params(
    refresh_token: &RefreshToken,
    client_id: &str,
    resource: Option<&str>,
) -> FormBody {
    let mut body = FormBody::default();
    body.push("grant_type", "refresh_token");
    body.push("refresh_token", refresh_token.expose());
    body.push("client_id", client_id);
    if let Some(resource) = resource {
        body.push("resource", resource);
    }
    body
}

/// What a failed refresh means for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// RFC 6749 §5.2 `invalid_grant`: the refresh token is invalid, expired or revoked. The
    /// session is over (`login_required`, one `sessionExpired`).
    SessionOver,
    /// The network failed, or the server is busy (5xx, 429): keep the session, try again later.
    Transient,
    /// Any other failure (a bad answer, a token that fails its checks): keep the session; a
    /// timer does not retry it in a loop.
    Refused,
}

pub fn classify(error: &Error) -> Failure {
    if error.code == ErrorCode::TokenRequestFailed
        && error.oauth_error.as_deref() == Some("invalid_grant")
    {
        Failure::SessionOver
    } else if error.retryable {
        Failure::Transient
    } else {
        Failure::Refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::token::process_token_response;

    #[test]
    fn refresh_body_names_one_resource() {
        let body = refresh_params(&RefreshToken::new("rt"), "c1", Some("e-helse:sfm.api"));
        assert_eq!(
            body.encode(),
            "grant_type=refresh_token&refresh_token=rt&client_id=c1&resource=e-helse%3Asfm.api"
        );
    }

    #[test]
    fn invalid_grant_ends_the_session_and_busy_servers_do_not() {
        let grant = process_token_response(400, r#"{"error":"invalid_grant"}"#).unwrap_err();
        assert_eq!(classify(&grant), Failure::SessionOver);
        let busy = process_token_response(503, "").unwrap_err();
        assert_eq!(classify(&busy), Failure::Transient);
        let network = Error::new(ErrorCode::NetworkError, "down");
        assert_eq!(classify(&network), Failure::Transient);
        let client = process_token_response(400, r#"{"error":"invalid_client"}"#).unwrap_err();
        assert_eq!(classify(&client), Failure::Refused);
        let claim = Error::claim("aud", "wrong");
        assert_eq!(classify(&claim), Failure::Refused);
    }
}
