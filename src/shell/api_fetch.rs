//! `client.fetch`: calls an API with `Authorization: DPoP <at>` and a proof with `ath`
//! (RFC 9449 §7), retried once on `use_dpop_nonce` (§9) by the same rule as the authorization
//! server's. A token goes only to the origins listed for its resource (API.md `apiOrigins`).

use std::rc::Rc;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::js::{from_js, get};
use super::session::{Inner, Res};
use crate::core::dpop::{nonce_step, NonceStep};
use crate::core::secret::AccessToken;
use crate::core::token::TokenType;
use crate::core::{Error, ErrorCode};

impl Inner {
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
        let key = self.engine.borrow().key(resource.as_deref());
        self.authz
            .config
            .check_api_origin(&key.resource, &base.url())?;
        self.send_dpop(base, resource.as_deref(), None).await
    }

    /// Sends `base` with the token of `resource` (or `token`, when given: a portal ending after
    /// the session did), `Authorization: DPoP` and a proof with `ath`; one retry on a nonce
    /// challenge (RFC 9449 §9), by the rule the authorization server's requests follow too.
    pub async fn send_dpop(
        self: &Rc<Self>,
        base: web_sys::Request,
        resource: Option<&str>,
        token: Option<(AccessToken, TokenType)>,
    ) -> Res<web_sys::Response> {
        let url = base.url();
        let method = base.method();
        let fetch: Function = get(&js_sys::global(), "fetch").unchecked_into();
        let mut attempt = 0;
        loop {
            let (token, token_type) = match &token {
                Some(t) => t.clone(),
                None => self.access_token(resource, false).await?,
            };
            let request = base.clone().map_err(|e| {
                from_js(
                    ErrorCode::ConfigInvalid,
                    "the request body cannot be sent twice",
                    &e,
                )
            })?;
            let headers = request.headers();
            let dpop = token_type == TokenType::DPoP;
            let scheme = if dpop { "DPoP" } else { "Bearer" };
            let _ = headers.set("Authorization", &format!("{scheme} {}", token.expose()));
            if dpop {
                let proof = self.dpop_proof(&method, &url, token.expose()).await?;
                let _ = headers.set("DPoP", &proof);
            }
            let network =
                |e: JsValue| from_js(ErrorCode::NetworkError, "fetch failed", &e).retryable(true);
            let promise: Promise = fetch
                .call1(&JsValue::NULL, &request)
                .map_err(network)?
                .unchecked_into();
            let response: web_sys::Response = JsFuture::from(promise)
                .await
                .map_err(network)?
                .unchecked_into();
            let headers = response.headers();
            let nonce = headers.get("dpop-nonce").ok().flatten();
            if let Some(nonce) = &nonce {
                if self.authz.dpop.remember_nonce(&url, nonce) {
                    self.share_api_nonce(&url, nonce);
                }
            }
            if !dpop {
                return Ok(response);
            }
            let www = headers.get("www-authenticate").ok().flatten();
            match nonce_step(
                attempt,
                response.status(),
                www.as_deref(),
                None,
                nonce.is_some(),
            ) {
                NonceStep::Accept => return Ok(response),
                NonceStep::RetryOnce => attempt += 1,
                NonceStep::Fail => {
                    return Err(Error::new(
                        ErrorCode::DpopNonceFailed,
                        "the API still asks for a DPoP nonce after one retry",
                    )
                    .with_status(response.status()))
                }
            }
        }
    }
}
