//! National portals that start their own session from the EPJ's HelseID token (API.md
//! "Embedded national portals"): the SFM web client in an iframe, the Kjernejournal portal in
//! a new tab. Request bodies, answers, messages and the lifecycle rule; the shell sends them
//! with the DPoP-bound token of the portal's resource.

pub mod kjernejournal;
pub mod sfm;

use super::dpop::challenge_error;
use super::error::{Error, ErrorCode};
use super::json::{parse_object, Read};

/// A portal's answer that is not a success: `portal_failed`, with the status and the error the
/// server named (`WWW-Authenticate`'s `error`, else the JSON body's `error`).
pub fn portal_error(what: &str, status: u16, www_authenticate: Option<&str>, body: &str) -> Error {
    let from_header = www_authenticate
        .and_then(|h| challenge_error(h, "dpop").or_else(|| challenge_error(h, "bearer")));
    let parsed = parse_object(body);
    let from_body = parsed.as_ref().and_then(|o| o.string("error"));
    let description = parsed.as_ref().and_then(|o| o.string("error_description"));
    let oauth = from_header.or(from_body);
    let mut e = Error::new(
        ErrorCode::PortalFailed,
        match &oauth {
            Some(error) => format!("{what} answered HTTP {status}: {error}"),
            None => format!("{what} answered HTTP {status}"),
        },
    )
    .with_status(status)
    .retryable(status >= 500 || status == 429);
    e.oauth_error = oauth;
    e.oauth_error_description = description;
    e
}

/// The shell's part of the lifecycle (API.md): after a refresh of `refreshed`, each open portal
/// session of that resource is refreshed once.
pub fn refresh_after(
    portal_resource: &str,
    refreshed: &str,
    default_resource: Option<&str>,
) -> bool {
    let refreshed = if refreshed.is_empty() {
        default_resource.unwrap_or("")
    } else {
        refreshed
    };
    portal_resource == refreshed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portal_refusal_is_portal_failed_with_the_dpop_error_and_status() {
        let e = portal_error(
            "the SFM session gateway",
            401,
            Some(r#"DPoP error="invalid_token", error_description="aud", algs="ES256""#),
            r#"{"error":"invalid_token","error_description":"aud is not e-helse:sfm.api"}"#,
        );
        assert_eq!(
            (e.code, e.status, e.oauth_error.as_deref()),
            (ErrorCode::PortalFailed, Some(401), Some("invalid_token"))
        );
        assert_eq!(
            e.oauth_error_description.as_deref(),
            Some("aud is not e-helse:sfm.api")
        );
        let e = portal_error("x", 404, None, r#"{"error":"session_not_found"}"#);
        assert_eq!(e.oauth_error.as_deref(), Some("session_not_found"));
        let e = portal_error("x", 503, None, "busy");
        assert!(e.retryable && e.oauth_error.is_none());
    }

    #[test]
    fn only_the_portals_own_resource_triggers_its_refresh() {
        assert!(refresh_after("e-helse:sfm.api", "e-helse:sfm.api", None));
        assert!(refresh_after(
            "e-helse:sfm.api",
            "",
            Some("e-helse:sfm.api")
        ));
        assert!(!refresh_after(
            "nhn:kjernejournal",
            "e-helse:sfm.api",
            Some("e-helse:sfm.api")
        ));
    }
}
