//! The one sender of DPoP requests (RFC 9449): the authorization server's form POSTs (PAR,
//! token, revocation) and the calls to APIs (`client.fetch`, the portals). Each attempt is
//! built anew (a new proof, and a new client assertion or `Authorization`); each answer's
//! `DPoP-Nonce` is kept (§8); a nonce challenge (§8 from the authorization server, §9 from an
//! API) is answered once, as [`NonceRetry`] decides.

use std::rc::Rc;

use super::api_fetch::Answer;
use super::auth_server::{AuthServer, Purpose};
use super::http;
use super::js::from_js;
use super::runtime::{Inner, Res};
use crate::core::dpop::{NonceAnswer, NonceRetry, NonceServer};
use crate::core::secret::{AccessToken, FormBody};
use crate::core::token::TokenType;
use crate::core::ErrorCode;

/// A DPoP request: what differs between the authorization server's and an API's.
pub enum DpopRequest<'a> {
    /// A form POST to an authorization server endpoint, read to the end (its nonce challenge
    /// is in the body, §8).
    Form {
        auth_server: &'a AuthServer,
        endpoint: &'a str,
        params: &'a FormBody,
        purpose: &'a Purpose<'a>,
    },
    /// `base` to an API with the token of `resource` (or `token`), answered unread.
    Api {
        inner: &'a Rc<Inner>,
        base: web_sys::Request,
        resource: Option<&'a str>,
        token: Option<(AccessToken, TokenType)>,
    },
}

/// The answer that stands, and for [`DpopRequest::Form`] its body (empty for an API's).
pub struct Sent {
    pub response: web_sys::Response,
    pub status: u16,
    pub body: String,
}

/// Sends `request` until [`NonceRetry`] lets its answer stand: the authorization server's
/// through gloo-net within `http_timeout_seconds`, its body included; an API's with the global
/// `fetch` the app sees.
pub async fn send(request: DpopRequest<'_>) -> Res<Sent> {
    let server = match request {
        DpopRequest::Form { .. } => NonceServer::Authorization,
        DpopRequest::Api { .. } => NonceServer::Resource,
    };
    let mut retry = NonceRetry::new(server);
    loop {
        let (attempt, dpop, _deadline) = match &request {
            DpopRequest::Form {
                auth_server,
                endpoint,
                params,
                purpose,
            } => {
                let (attempt, deadline) =
                    auth_server.form_request(endpoint, params, purpose).await?;
                (attempt, auth_server.config.dpop, Some(deadline))
            }
            DpopRequest::Api {
                inner,
                base,
                resource,
                token,
            } => {
                let (attempt, dpop) = inner.api_request(base, *resource, token.clone()).await?;
                (attempt, dpop, None)
            }
        };
        let url = attempt.url();
        let response = match &request {
            DpopRequest::Form { .. } => http::send(attempt).await?,
            DpopRequest::Api { .. } => http::fetch(&attempt).await.map_err(|e| {
                from_js(ErrorCode::NetworkError, "fetch failed", &e).retryable(true)
            })?,
        };
        let body = match &request {
            DpopRequest::Form { .. } => Some(http::read(&response, &url).await?.body),
            DpopRequest::Api { .. } => None,
        };
        let read = Answer::read(&response);
        if let Some(nonce) = &read.nonce {
            match &request {
                DpopRequest::Form { auth_server, .. } => {
                    auth_server.dpop.remember_nonce(&url, nonce);
                }
                DpopRequest::Api { inner, .. } => inner.take_nonce(&url, &read),
            }
        }
        let status = read.status;
        let answer = NonceAnswer {
            status,
            www_authenticate: read.www_authenticate.as_deref(),
            body: body.as_deref(),
            got_nonce: read.nonce.is_some(),
            dpop,
        };
        if !retry.again(&answer)? {
            return Ok(Sent {
                response,
                status,
                body: body.unwrap_or_default(),
            });
        }
    }
}
