//! Calls to APIs: `authHeaders` (`Authorization: DPoP <at>` and a proof with `ath`, RFC 9449
//! §7), `takeDpopNonce` (the API's `DPoP-Nonce` and its `use_dpop_nonce` challenge, §9), and
//! `client.fetch`, which is the two around one `fetch` with one retry, through the same sender as
//! the authorization server's requests. A token goes only to the origins listed for its resource
//! (API.md `apiOrigins`).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Array, Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::dpop_send::{self, DpopRequest, Sent};
use super::js::{from_js, get, get_string};
use super::runtime::{Inner, Res};
use crate::core::dpop;
use crate::core::secret::AccessToken;
use crate::core::token::TokenType;
use crate::core::{Error, ErrorCode};

/// What an answer says, as far as DPoP cares: from a `Response`, or from a plain
/// `{ url, status, headers }` whose headers have a `get(name)` (`Headers`, axios'
/// `AxiosHeaders`, Angular's `HttpHeaders`) or are a plain record.
pub struct Answer {
    pub url: Option<String>,
    pub status: u16,
    pub nonce: Option<String>,
    pub www_authenticate: Option<String>,
}

impl Answer {
    pub fn read(response: &JsValue) -> Answer {
        let headers = get(response, "headers");
        // `Headers`, and the `get(name)` of axios' `AxiosHeaders` and Angular's `HttpHeaders`,
        // match names in any case themselves; a plain record's keys are matched here.
        let getter = get(&headers, "get").dyn_into::<Function>().ok();
        let entries = match &getter {
            None if headers.is_object() => Some(Object::entries(headers.unchecked_ref())),
            _ => None,
        };
        let field = |wanted: &str| -> Option<String> {
            if let Some(f) = &getter {
                return f
                    .call1(&headers, &JsValue::from_str(wanted))
                    .ok()?
                    .as_string();
            }
            entries.as_ref()?.iter().find_map(|entry| {
                let pair: Array = entry.unchecked_into();
                let name = pair.get(0).as_string()?;
                dpop::is_field(&name, wanted).then(|| pair.get(1).as_string())?
            })
        };
        let (nonce, www_authenticate) = (field("dpop-nonce"), field("www-authenticate"));
        Answer {
            url: get_string(response, "url"),
            status: get(response, "status").as_f64().unwrap_or(0.0) as u16,
            nonce,
            www_authenticate,
        }
    }
}

/// The URL a request goes to as `fetch` resolves it (relative to the page), and its method: the
/// one given (upper-cased), else the `Request`'s, else `GET`.
pub fn target(input: &JsValue, method: Option<&str>) -> Res<(String, String)> {
    let invalid = |e: JsValue| from_js(ErrorCode::ConfigInvalid, "invalid request URL", &e);
    let made;
    let request = if let Some(request) = input.dyn_ref::<web_sys::Request>() {
        request
    } else if let Some(url) = input.as_string().or_else(|| get_string(input, "href")) {
        made = web_sys::Request::new_with_str(&url).map_err(invalid)?;
        &made
    } else {
        return Err(Error::config(
            "the input must be a URL string, a URL or a Request",
        ));
    };
    let method = match method {
        Some(m) => dpop::htm(Some(m)),
        None => request.method(),
    };
    Ok((request.url(), method))
}

/// `Authorization`'s value, and the `DPoP` proof for a DPoP-bound token.
type Authorization = (String, Option<String>);

impl Inner {
    /// `origin_not_allowed` unless `apiOrigins` lists the origin of `url` for `resource`.
    pub fn check_origin(&self, resource: Option<&str>, url: &str) -> Res<()> {
        let key = self.engine.borrow().key(resource);
        self.auth_server.config.check_api_origin(&key.resource, url)
    }

    /// `Authorization` for a request to `url` with the token of `resource` (or `token`, when
    /// given: a portal ending after the session did), and, for a DPoP-bound token, the `DPoP`
    /// proof with `ath` and the origin's current nonce (RFC 9449 §4.2, §7.1).
    /// Boxed: `authHeaders` and `fetch` share one copy of its state machine in the wasm.
    pub fn auth_headers(
        self: &Rc<Self>,
        url: String,
        method: String,
        resource: Option<String>,
        token: Option<(AccessToken, TokenType)>,
    ) -> Pin<Box<dyn Future<Output = Res<Authorization>>>> {
        let inner = self.clone();
        Box::pin(async move {
            let (token, token_type) = match token {
                Some(t) => t,
                None => inner.access_token(resource.as_deref(), false).await?,
            };
            if token_type == TokenType::DPoP {
                let proof = inner.dpop_proof(&method, &url, token.expose()).await?;
                Ok((format!("DPoP {}", token.expose()), Some(proof)))
            } else {
                Ok((format!("Bearer {}", token.expose()), None))
            }
        })
    }

    /// Keeps the answer's `DPoP-Nonce` for the origin of `url` (RFC 9449 §8, §9), here and in
    /// the session host, which makes this page's proofs in worker mode.
    pub fn take_nonce(&self, url: &str, answer: &Answer) {
        if let Some(nonce) = &answer.nonce {
            if self.auth_server.dpop.remember_nonce(url, nonce) {
                self.share_api_nonce(url, nonce);
            }
        }
    }

    /// `fetch(input, init, { resource })`: only to an origin listed for the token's resource.
    pub async fn api_fetch(
        self: &Rc<Self>,
        input: JsValue,
        init: JsValue,
        resource: Option<String>,
    ) -> Res<web_sys::Response> {
        let init: web_sys::RequestInit = if init.is_object() {
            Object::assign(&Object::new(), init.unchecked_ref()).unchecked_into()
        } else {
            web_sys::RequestInit::new()
        };
        // Never follow a redirect with the token attached (it could lead to another origin).
        if get(&init, "redirect").is_undefined() {
            init.set_redirect(web_sys::RequestRedirect::Manual);
        }
        let base = if let Some(url) = input.as_string() {
            web_sys::Request::new_with_str_and_init(&url, &init)
        } else if let Some(request) = input.dyn_ref::<web_sys::Request>() {
            web_sys::Request::new_with_request_and_init(request, &init)
        } else {
            return Err(Error::config("fetch input must be a string or a Request"));
        }
        .map_err(|e| from_js(ErrorCode::ConfigInvalid, "invalid fetch arguments", &e))?;
        self.check_origin(resource.as_deref(), &base.url())?;
        Ok(self
            .send_dpop(base, resource.as_deref(), None)
            .await?
            .response)
    }

    /// Sends `base` with [`Inner::auth_headers`] through the one DPoP sender
    /// ([`dpop_send::send`]: the answer's nonce kept, one retry on a nonce challenge, RFC 9449
    /// §9): what `authHeaders` and `takeDpopNonce` give an app's own HTTP client, in one call.
    pub fn send_dpop<'a>(
        self: &'a Rc<Self>,
        base: web_sys::Request,
        resource: Option<&'a str>,
        token: Option<(AccessToken, TokenType)>,
    ) -> impl Future<Output = Res<Sent>> + 'a {
        dpop_send::send(DpopRequest::Api {
            inner: self,
            base,
            resource,
            token,
        })
    }

    /// One attempt of [`Inner::send_dpop`]: `base` again with new auth headers; and whether it
    /// carries a proof.
    pub async fn api_request(
        self: &Rc<Self>,
        base: &web_sys::Request,
        resource: Option<&str>,
        token: Option<(AccessToken, TokenType)>,
    ) -> Res<(web_sys::Request, bool)> {
        let (authorization, proof) = self
            .auth_headers(base.url(), base.method(), resource.map(String::from), token)
            .await?;
        let request = base.clone().map_err(|e| {
            from_js(
                ErrorCode::ConfigInvalid,
                "the request body cannot be sent twice",
                &e,
            )
        })?;
        let headers = request.headers();
        let _ = headers.set("Authorization", &authorization);
        if let Some(proof) = &proof {
            let _ = headers.set("DPoP", proof);
        }
        Ok((request, proof.is_some()))
    }
}
