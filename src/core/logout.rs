//! Logout: revoking the refresh token (RFC 7009) and the RP-initiated logout URL (OpenID
//! Connect RP-Initiated Logout 1.0 §2).

use super::authorize::join_query;
use super::form;
use super::secret::{FormBody, IdToken, RefreshToken};

/// RFC 7009 §2.1.
pub fn revocation_params(refresh_token: &RefreshToken, client_id: &str) -> FormBody {
    let mut body = FormBody::default();
    body.push("token", refresh_token.expose());
    body.push("token_type_hint", "refresh_token");
    body.push("client_id", client_id);
    body
}

/// RP-Initiated Logout 1.0 §2: `client_id`, `id_token_hint` when this tab holds the ID token,
/// `post_logout_redirect_uri`, `state`.
pub fn end_session_url(
    end_session_endpoint: &str,
    client_id: &str,
    id_token_hint: Option<&IdToken>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
) -> String {
    let mut params: Vec<(&str, &str)> = vec![("client_id", client_id)];
    if let Some(hint) = id_token_hint {
        params.push(("id_token_hint", hint.expose()));
    }
    if let Some(uri) = post_logout_redirect_uri {
        params.push(("post_logout_redirect_uri", uri));
    }
    if let Some(state) = state {
        params.push(("state", state));
    }
    join_query(end_session_endpoint, &form::encode(&params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_names_the_refresh_token() {
        let body = revocation_params(&RefreshToken::new("rt"), "c1");
        assert_eq!(
            body.encode(),
            "token=rt&token_type_hint=refresh_token&client_id=c1"
        );
    }

    #[test]
    fn end_session_url_carries_hint_redirect_and_state() {
        let url = end_session_url(
            "https://h.test/connect/endsession",
            "c1",
            Some(&IdToken::new("a.b.c")),
            Some("https://app.test/"),
            Some("bye"),
        );
        assert_eq!(
            url,
            "https://h.test/connect/endsession?client_id=c1&id_token_hint=a.b.c&post_logout_redirect_uri=https%3A%2F%2Fapp.test%2F&state=bye"
        );
        assert_eq!(
            end_session_url("https://h.test/es", "c1", None, None, None),
            "https://h.test/es?client_id=c1"
        );
    }
}
