//! HTTP through gloo-net (the global `fetch`): form POSTs to the authorization server and JSON
//! GETs, with a timeout, `redirect: "manual"` and no cookies.

use gloo_net::http::{Request, RequestBuilder};
use web_sys::{AbortSignal, RequestCredentials, RequestRedirect};

use crate::core::{form, Error, ErrorCode};

/// Every request to the authorization server gives up after this long.
pub const TIMEOUT_MS: u32 = 30_000;
/// Larger answers are refused unread (a token response is a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct HttpResponse {
    pub status: u16,
    pub body: String,
    pub dpop_nonce: Option<String>,
}

fn network_error(url: &str, what: &str) -> Error {
    Error::new(
        ErrorCode::NetworkError,
        format!("{what} {}", strip_query(url)),
    )
    .retryable(true)
}

fn strip_query(url: &str) -> &str {
    crate::core::uri::without_query_and_fragment(url)
}

async fn send(
    builder: RequestBuilder,
    url: &str,
    body: Option<String>,
) -> Result<HttpResponse, Error> {
    let signal = AbortSignal::timeout_with_u32(TIMEOUT_MS);
    let builder = builder
        .redirect(RequestRedirect::Manual)
        .credentials(RequestCredentials::Omit)
        .abort_signal(Some(&signal));
    let request: Request = match body {
        Some(body) => builder.body(body),
        None => builder.build(),
    }
    .map_err(|_| network_error(url, "could not build the request to"))?;
    let response = request
        .send()
        .await
        .map_err(|_| network_error(url, "the request failed (network, CORS or timeout):"))?;
    let status = response.status();
    if status == 0 {
        // An opaque redirect: authorization server endpoints never redirect.
        return Err(Error::new(
            ErrorCode::TokenRequestFailed,
            format!("{} answered with a redirect", strip_query(url)),
        ));
    }
    let headers = response.headers();
    if let Some(length) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        if length > MAX_BODY_BYTES {
            return Err(Error::new(
                ErrorCode::TokenRequestFailed,
                format!(
                    "{} answered with {length} bytes, more than allowed",
                    strip_query(url)
                ),
            )
            .with_status(status));
        }
    }
    let body = response
        .text()
        .await
        .map_err(|_| network_error(url, "the response body could not be read from"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(
            Error::new(ErrorCode::TokenRequestFailed, "the response is too large")
                .with_status(status),
        );
    }
    Ok(HttpResponse {
        status,
        body,
        dpop_nonce: headers.get("dpop-nonce"),
    })
}

/// `POST` with an `application/x-www-form-urlencoded` body (RFC 6749 §4.1.3) and an optional
/// `DPoP` header (RFC 9449 §4.1).
pub async fn post_form(
    url: &str,
    params: &[(String, String)],
    dpop: Option<&str>,
) -> Result<HttpResponse, Error> {
    let mut builder = RequestBuilder::new(url)
        .method(gloo_net::http::Method::POST)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json");
    if let Some(proof) = dpop {
        builder = builder.header("DPoP", proof);
    }
    send(builder, url, Some(form::encode(params))).await
}

pub async fn get_json(url: &str) -> Result<HttpResponse, Error> {
    let builder = RequestBuilder::new(url).header("Accept", "application/json");
    send(builder, url, None).await
}
