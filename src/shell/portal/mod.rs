//! National portal sessions (API.md "Embedded national portals"): SFM in an iframe,
//! Kjernejournal in a new tab. Every call goes through the DPoP sender with the token of the
//! portal's resource, only to an origin `apiOrigins` lists for that resource. Open sessions are
//! refreshed after each refresh of their resource, and ended at logout and when the session
//! expires; they live in the tab that opened them, so one tab refreshes each. One file per portal: `sfm.rs`,
//! `kjernejournal.rs`; this one holds what both share (the POST, the lifecycle hooks).

mod kjernejournal;
mod sfm;

pub use kjernejournal::KjPortal;
pub use sfm::SfmPortal;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::js;
use super::runtime::{Inner, Res};
use crate::core::engine::Input;
use crate::core::portal;
use crate::core::secret::AccessToken;
use crate::core::token::TokenType;
use crate::core::{Error, ErrorCode};

/// An open portal session, as the session's lifecycle sees it.
#[derive(Clone)]
pub enum PortalRef {
    Sfm(Rc<SfmPortal>),
    Kj(Rc<KjPortal>),
}

/// What a portal call sends and gets back.
struct Call<'a> {
    url: &'a str,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
}

/// The token a portal last used: its end after the session expired goes with it.
type LastToken = RefCell<Option<(AccessToken, TokenType)>>;

impl Inner {
    /// POSTs to a portal with the token of `resource` (or `token`), only when `apiOrigins` lists
    /// the portal's origin for that resource (API.md, turn 3; else `origin_not_allowed` and
    /// nothing is sent). Gives status, `WWW-Authenticate` and body.
    async fn portal_post(
        self: &Rc<Self>,
        call: Call<'_>,
        resource: &str,
        token: Option<(AccessToken, TokenType)>,
        last: &LastToken,
    ) -> Res<(u16, Option<String>, String)> {
        self.auth_server
            .config
            .check_api_origin(resource, call.url)?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_redirect(web_sys::RequestRedirect::Manual);
        // A portal that never answers must not hold up logout(): the same limit as the
        // authorization server's requests, reading the body included.
        let controller = web_sys::AbortController::new().map_err(|_| {
            Error::new(
                ErrorCode::NetworkError,
                "could not start the portal request",
            )
        })?;
        let abort = controller.clone();
        let seconds = self.auth_server.config.http_timeout_seconds;
        let _deadline = super::timer::Timeout::new(seconds * 1000, move || abort.abort());
        init.set_signal(Some(&controller.signal()));
        let headers = web_sys::Headers::new().map_err(|_| Error::config("no Headers"))?;
        for (name, value) in &call.headers {
            let _ = headers.set(name, value);
        }
        if let Some(body) = &call.body {
            let _ = headers.set("Content-Type", "application/json");
            init.set_body(&JsValue::from_str(body));
        }
        init.set_headers(&headers);
        let request = web_sys::Request::new_with_str_and_init(call.url, &init)
            .map_err(|e| js::from_js(ErrorCode::ConfigInvalid, "invalid portal URL", &e))?;
        let token = match token {
            Some(t) => t,
            None => self.access_token(Some(resource), false).await?,
        };
        *last.borrow_mut() = Some(token.clone());
        let response = self
            .send_dpop(request, Some(resource), Some(token))
            .await?
            .response;
        let status = response.status();
        let www = response.headers().get("www-authenticate").ok().flatten();
        let text = match response.text() {
            Ok(p) => JsFuture::from(p).await.map_err(|e| {
                js::from_js(
                    ErrorCode::NetworkError,
                    "the portal's answer could not be read",
                    &e,
                )
                .retryable(true)
            })?,
            Err(_) => JsValue::from_str(""),
        };
        Ok((status, www, text.as_string().unwrap_or_default()))
    }

    /// An open portal session joins the lifecycle: the timer keeps its resource's token fresh
    /// while it is open.
    pub fn add_portal(self: &Rc<Self>, portal: PortalRef) {
        let opened = Input::PortalOpened(Some(portal.resource().to_string()));
        self.portals.borrow_mut().push(portal);
        self.handle_input(opened);
    }

    /// An ended portal session leaves the lifecycle (and, the last of its resource, the
    /// timer's care).
    fn forget_portal(self: &Rc<Self>, portal: &PortalRef) {
        let before = self.portals.borrow().len();
        self.portals.borrow_mut().retain(|p| match (p, portal) {
            (PortalRef::Sfm(a), PortalRef::Sfm(b)) => !Rc::ptr_eq(a, b),
            (PortalRef::Kj(a), PortalRef::Kj(b)) => !Rc::ptr_eq(a, b),
            _ => true,
        });
        if self.portals.borrow().len() < before {
            self.handle_input(Input::PortalEnded(Some(portal.resource().to_string())));
        }
    }

    /// After a refresh of `resource`: each open portal session of it is refreshed once.
    pub fn refresh_portals(self: &Rc<Self>, resource: &str) {
        let default = self.auth_server.config.default_resource().map(String::from);
        let portals: Vec<PortalRef> = self.portals.borrow().clone();
        for p in portals {
            if portal::refresh_after(p.resource(), resource, default.as_deref()) {
                crate::shell::task::spawn(async move {
                    let _ = p.refresh().await;
                });
            }
        }
    }

    /// Ends every open portal session: at logout with fresh tokens, after the session ended
    /// with the tokens they last used.
    pub async fn end_portals(self: &Rc<Self>, with_last_token: bool) {
        let portals: Vec<PortalRef> = self.portals.borrow_mut().drain(..).collect();
        for p in &portals {
            self.handle_input(Input::PortalEnded(Some(p.resource().to_string())));
        }
        for p in portals {
            let _ = p.end(with_last_token).await;
        }
    }
}

impl PortalRef {
    fn resource(&self) -> &str {
        match self {
            PortalRef::Sfm(p) => &p.resource,
            PortalRef::Kj(p) => &p.resource,
        }
    }

    async fn refresh(&self) -> Res<()> {
        match self {
            PortalRef::Sfm(p) => p.refresh().await,
            PortalRef::Kj(p) => p.refresh().await,
        }
    }

    async fn end(&self, with_last_token: bool) -> Res<()> {
        match self {
            PortalRef::Sfm(p) => p.end(with_last_token).await,
            PortalRef::Kj(p) => p.end(with_last_token).await,
        }
    }

    /// The session object's `end()`: the portal leaves the lifecycle, then its session ends.
    fn end_by_app(self) -> js_sys::Promise {
        crate::shell::task::promise(async move {
            let inner = match &self {
                PortalRef::Sfm(p) => p.inner.upgrade(),
                PortalRef::Kj(p) => p.inner.upgrade(),
            };
            if let Some(inner) = inner {
                inner.forget_portal(&self);
            }
            self.end(false)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| js::to_js_error(&e))
        })
    }
}

/// Whether an `end` still has to be sent, and with which token: once only; after the session
/// ended (`with_last_token`), with the token the portal last used, or not at all without one.
fn end_token(
    ended: &std::cell::Cell<bool>,
    last: &LastToken,
    with_last_token: bool,
) -> Option<Option<(AccessToken, TokenType)>> {
    if ended.replace(true) {
        return None;
    }
    if !with_last_token {
        return Some(None);
    }
    last.borrow().clone().map(Some)
}

fn gone() -> Error {
    Error::new(
        ErrorCode::LoginRequired,
        "the client that opened this portal session is gone",
    )
}

fn ended() -> Error {
    Error::new(ErrorCode::PortalFailed, "this portal session has ended")
}
