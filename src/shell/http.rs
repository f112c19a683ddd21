//! HTTP: the requests to the authorization server (form POSTs, sent by [`super::dpop_send`],
//! and JSON GETs) through gloo-net (the global `fetch` of a window or a worker) with a timeout,
//! `redirect: "manual"` and no cookies, their answers read with a size limit; and the API
//! calls through the global `fetch` the app sees.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, Request, RequestCredentials, RequestInit, RequestRedirect,
};

use super::timer::Timeout;
use crate::core::secret::FormBody;
use crate::core::{Error, ErrorCode};

/// Larger answers are refused unread (a token response is a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, as the app sees it when the call is made (a wrapper it installed
    /// included).
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(request: &Request) -> Result<Promise, JsValue>;
}

/// An API call, `fetch(request)`: the `Response`, or whatever the promise rejected with (an
/// app's fetch wrapper may reject with anything).
pub async fn fetch(request: &Request) -> Result<web_sys::Response, JsValue> {
    Ok(JsFuture::from(global_fetch(request)?)
        .await?
        .unchecked_into())
}

/// A request made by [`request`] or [`form_request`], sent through gloo-net.
pub async fn send(request: Request) -> Result<web_sys::Response, Error> {
    let url = request.url();
    gloo_net::http::Request::from(request)
        .send()
        .await
        .map(web_sys::Response::from)
        .map_err(|_| fetch_failed(&url))
}

pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

fn network_error(url: &str, what: &str) -> Error {
    Error::new(
        ErrorCode::NetworkError,
        format!("{what} {}", strip_query(url)),
    )
    .retryable(true)
}

/// `fetch` failed: the network, CORS or the deadline.
fn fetch_failed(url: &str) -> Error {
    network_error(url, "the request failed (network, CORS or timeout):")
}

fn strip_query(url: &str) -> &str {
    crate::core::uri::without_query_and_fragment(url)
}

/// A request to the authorization server: `redirect: "manual"`, no cookies, and a deadline
/// that aborts it, reading the body included, unless it is dropped first.
fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    timeout_seconds: i64,
) -> Result<(Request, Timeout), Error> {
    // AbortController + setTimeout rather than AbortSignal.timeout(), which browsers the
    // README lists (Safari 15, Chrome before 103) lack.
    let controller =
        AbortController::new().map_err(|_| network_error(url, "could not start the request to"))?;
    let abort = controller.clone();
    let deadline = Timeout::new(timeout_seconds.clamp(1, 300) * 1000, move || abort.abort());
    let build_error = |_| network_error(url, "could not build the request to");
    let init = RequestInit::new();
    init.set_method(method);
    init.set_redirect(RequestRedirect::Manual);
    init.set_credentials(RequestCredentials::Omit);
    init.set_signal(Some(&controller.signal()));
    let fields = Headers::new().map_err(build_error)?;
    for (name, value) in headers {
        fields.append(name, value).map_err(build_error)?;
    }
    init.set_headers(&fields);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(&body));
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(build_error)?;
    Ok((request, deadline))
}

/// `POST` with an `application/x-www-form-urlencoded` body (RFC 6749 §4.1.3) and an optional
/// `DPoP` header (RFC 9449 §4.1).
pub fn form_request(
    url: &str,
    body: &FormBody,
    dpop: Option<&str>,
    timeout_seconds: i64,
) -> Result<(Request, Timeout), Error> {
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ];
    if let Some(proof) = dpop {
        headers.push(("DPoP", proof));
    }
    request("POST", url, &headers, Some(body.encode()), timeout_seconds)
}

/// An authorization server's answer to a request to `url`, read to the end.
pub async fn read(response: &web_sys::Response, url: &str) -> Result<HttpResponse, Error> {
    let status = response.status();
    if status == 0 {
        // An opaque redirect: authorization server endpoints never redirect.
        return Err(Error::new(
            ErrorCode::TokenRequestFailed,
            format!("{} answered with a redirect", strip_query(url)),
        ));
    }
    if let Some(length) = header(response, "content-length").and_then(|l| l.parse::<usize>().ok()) {
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
    let body = read_limited(response, url, status).await?;
    Ok(HttpResponse { status, body })
}

fn header(response: &web_sys::Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

pub async fn get_json(url: &str, timeout_seconds: i64) -> Result<HttpResponse, Error> {
    let (request, _deadline) = request(
        "GET",
        url,
        &[("Accept", "application/json")],
        None,
        timeout_seconds,
    )?;
    let response = send(request).await?;
    read(&response, url).await
}

/// Reads the body chunk by chunk and stops at `MAX_BODY_BYTES`, so an endless or huge answer
/// never fills wasm memory (a missing or false Content-Length is not trusted).
async fn read_limited(
    response: &web_sys::Response,
    url: &str,
    status: u16,
) -> Result<String, Error> {
    use js_sys::{Function, Reflect, Uint8Array};

    let read_error = || network_error(url, "the response body could not be read from");
    let get = |target: &JsValue, name: &str| {
        Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    };
    let stream = get(response, "body");
    if stream.is_null() || stream.is_undefined() {
        return Ok(String::new());
    }
    let get_reader: Function = get(&stream, "getReader")
        .dyn_into()
        .map_err(|_| read_error())?;
    let reader = get_reader.call0(&stream).map_err(|_| read_error())?;
    let read: Function = get(&reader, "read").dyn_into().map_err(|_| read_error())?;
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        let chunk: Promise = read
            .call0(&reader)
            .map_err(|_| read_error())?
            .unchecked_into();
        let result = JsFuture::from(chunk).await.map_err(|_| read_error())?;
        if get(&result, "done").is_truthy() {
            break;
        }
        let data: Uint8Array = get(&result, "value").unchecked_into();
        if bytes.len() + data.length() as usize > MAX_BODY_BYTES {
            if let Ok(cancel) = get(&reader, "cancel").dyn_into::<Function>() {
                let _ = cancel.call0(&reader);
            }
            return Err(Error::new(
                ErrorCode::TokenRequestFailed,
                format!(
                    "{} answered with a body too large (over {MAX_BODY_BYTES} bytes)",
                    strip_query(url)
                ),
            )
            .with_status(status));
        }
        let start = bytes.len();
        bytes.resize(start + data.length() as usize, 0);
        data.copy_to(&mut bytes[start..]);
    }
    String::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorCode::TokenRequestFailed,
            format!("{} answered with text that is not UTF-8", strip_query(url)),
        )
        .with_status(status)
    })
}
