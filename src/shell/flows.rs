//! The flows that span the network and the address bar: the login (PKCE, PAR, redirect), the
//! callback (RFC 9207 checks, code exchange), a context switch, and logout.

use std::rc::Rc;

use super::flight::Flight;

use serde_json::Value;

use crate::core::json::Read;
use wasm_bindgen::JsCast;

use super::auth_server::Purpose;
use super::js;
use super::runtime::{now, Inner, Res};
use super::store;
use crate::core::assertion::AsRequest;
use crate::core::authorize::{self, LoginOptions};
use crate::core::callback::{self, Transaction};
use crate::core::context::Context;
use crate::core::engine::{Action, Input};
use crate::core::secret::{CodeVerifier, FormBody};
use crate::core::tab_message::TabMessage;
use crate::core::{pkce, Error, ErrorCode};

/// The query parameters of a URL, parsed by the browser.
pub fn query_pairs(url: &web_sys::Url) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Ok(Some(iter)) = js_sys::try_iter(&url.search_params()) {
        for entry in iter.flatten() {
            let entry: js_sys::Array = entry.unchecked_into();
            if let (Some(k), Some(v)) = (entry.get(0).as_string(), entry.get(1).as_string()) {
                pairs.push((k, v));
            }
        }
    }
    pairs
}

pub fn location() -> Option<web_sys::Location> {
    web_sys::window().map(|w| w.location())
}

/// Removes the authorization response from the address bar (`history.replaceState`).
fn strip_callback_params(url: &web_sys::Url) {
    let search = url.search_params();
    for name in callback::CALLBACK_PARAMS {
        search.delete(name);
    }
    let clean = url.href();
    if let Some(Ok(history)) = web_sys::window().map(|w| w.history()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&clean));
    }
}

impl Inner {
    fn tx_key(&self) -> String {
        let c = &self.auth_server.config;
        format!("helseid-wasm:tx:{}:{}", c.issuer, c.client_id)
    }

    /// `loginWithRedirect`: the URL to send the browser to. The login attempt stays in this
    /// tab's sessionStorage for the callback (a session host makes the request, this page keeps
    /// the attempt).
    pub async fn authorization_url(self: &Rc<Self>, options: &LoginOptions) -> Res<String> {
        if self.host().is_some() {
            let options = options.to_json();
            let answer = self
                .ask_host(|id| crate::core::host::FromPage::Login { id, options })
                .await?;
            let (Some(url), Some(tx)) = (answer.string("url"), answer.member("tx")) else {
                return Err(Error::new(
                    ErrorCode::TokenRequestFailed,
                    "the session host gave no authorization URL",
                ));
            };
            store::session_set(&self.tx_key(), &tx.to_string())?;
            return Ok(url);
        }
        let (url, tx) = self.authorization_request(options).await?;
        store::session_set(&self.tx_key(), &tx.to_json())?;
        Ok(url)
    }

    /// PKCE S256 + state + nonce (+ a new DPoP key), PAR when on: the URL to send the browser
    /// to and the login attempt to keep for the callback. The context is checked before
    /// anything is sent.
    pub async fn authorization_request(
        self: &Rc<Self>,
        options: &LoginOptions,
    ) -> Res<(String, Transaction)> {
        let context = authorize::login_context(
            &self.auth_server.config,
            options.context.as_ref(),
            js::random16,
        )?;
        let verifier = pkce::code_verifier(&js::random32()?);
        let challenge = pkce::code_challenge_s256(&verifier);
        let dpop_jkt = match self.auth_server.config.dpop {
            true => Some(self.auth_server.dpop.create().await?.jkt.clone()),
            false => None,
        };
        let tx = Transaction {
            state: js::random_token()?,
            nonce: js::random_token()?,
            code_verifier: CodeVerifier::new(verifier),
            redirect_uri: self.auth_server.config.redirect_uri.clone(),
            created_at: now(),
            dpop_jkt,
            context: context.as_ref().map(Context::to_json),
        };
        let params = authorize::request_params(&self.auth_server.config, &tx, &challenge, options)?;
        let metadata = &self.auth_server.metadata;
        if !authorize::use_par(&self.auth_server.config, metadata) {
            let url = authorize::authorization_url(&metadata.authorization_endpoint, &params);
            return Ok((url, tx));
        }
        let endpoint = metadata
            .pushed_authorization_request_endpoint
            .clone()
            .unwrap_or_default();
        let purpose = Purpose {
            request: AsRequest::Par,
            details: None,
        };
        let response = self
            .auth_server
            .post(&endpoint, &FormBody(params), &purpose)
            .await?;
        let par = authorize::process_par_response(response.status, &response.body)?;
        let url = authorize::authorization_url_after_par(
            &metadata.authorization_endpoint,
            &self.auth_server.config.client_id,
            &par.request_uri,
        );
        Ok((url, tx))
    }

    /// The authorization response (state, RFC 9207 `iss`, error), then the code exchange and
    /// every token check. This tab becomes the session holder (or, with a session host, the
    /// host takes the session).
    pub async fn handle_callback(self: &Rc<Self>, url: Option<String>) -> Res<()> {
        let current = location().and_then(|l| l.href().ok());
        let href = url
            .clone()
            .or_else(|| current.clone())
            .ok_or_else(|| Error::config("no URL to read the callback from"))?;
        let parsed = web_sys::Url::new(&href).map_err(|_| {
            Error::new(
                ErrorCode::StateMismatch,
                "the callback URL cannot be parsed",
            )
        })?;
        let params = query_pairs(&parsed);
        // The code must not stay in the address bar (or the history) longer than needed.
        if url.is_none() || url == current {
            strip_callback_params(&parsed);
        }
        let stored = store::session_get(&self.tx_key());
        let result = match self.host() {
            Some(_) => {
                let tx = stored
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok());
                self.ask_host(|id| crate::core::host::FromPage::Callback { id, params, tx })
                    .await
                    .map(|_| ())
            }
            None => {
                let tx = stored.as_deref().and_then(Transaction::from_json);
                self.exchange(&params, tx).await
            }
        };
        // Used once: a replayed callback finds nothing. A forged state leaves the real login
        // attempt usable.
        if callback::transaction_is_spent(&result) {
            store::session_remove(&self.tx_key());
        }
        result
    }

    /// The session host's side of a callback: the attempt comes from the page that kept it.
    pub async fn exchange_code(
        self: &Rc<Self>,
        params: &[(String, String)],
        tx: Option<&Value>,
    ) -> Res<()> {
        let tx = tx.and_then(|t| Transaction::from_json(&t.to_string()));
        self.exchange(params, tx).await?;
        // From now on the DPoP key lives in this worker's memory only.
        self.auth_server.dpop.keep_in_memory_only().await;
        Ok(())
    }

    /// The callback's checks and the code exchange (OIDC Core 3.1.2.7, RFC 9207, RFC 6749
    /// §4.1.3), then every token check.
    async fn exchange(
        self: &Rc<Self>,
        params: &[(String, String)],
        tx: Option<Transaction>,
    ) -> Res<()> {
        let metadata = &self.auth_server.metadata;
        let code = callback::process_callback(
            params,
            tx.as_ref(),
            &self.auth_server.config.issuer,
            metadata.authorization_response_iss_parameter_supported,
            now(),
        )?;
        let tx = tx.ok_or_else(|| Error::new(ErrorCode::MissingTransaction, "no login attempt"))?;
        // The key the login made (its thumbprint is in the attempt): the engine compares.
        let dpop_jkt = match &tx.dpop_jkt {
            Some(_) => Some(self.auth_server.dpop.require().await?.jkt.clone()),
            None => None,
        };
        match self.call(Input::CodeExchange { tx, code, dpop_jkt }) {
            Some(Action::Refresh(ticket)) => self.run_ticket(ticket).await,
            Some(Action::Settled(outcome)) => outcome,
            _ => Ok(()),
        }
    }

    /// `setContext`: one refresh with the new details (here when this tab holds the session,
    /// else at the holder); nothing changes unless its token passes every check. The engine
    /// marks the switch at once, before this returns, so no caller gets a token of the old
    /// context from then on; the future carries it out.
    pub fn switch_context(
        self: &Rc<Self>,
        context: Option<Context>,
        resource: Option<String>,
    ) -> impl std::future::Future<Output = Res<()>> {
        self.switch_context_for(context, resource, None)
    }

    /// [`Inner::switch_context`] for another tab (`by`: its engine id).
    pub fn switch_context_for(
        self: &Rc<Self>,
        context: Option<Context>,
        resource: Option<String>,
        by: Option<String>,
    ) -> impl std::future::Future<Output = Res<()>> {
        let first = self.switch_step(&context, &resource, &by);
        let inner = self.clone();
        async move {
            let mut step = first;
            for _ in 0..crate::core::limits::SWITCH_CALL_STEPS {
                match step {
                    Some(Action::Refresh(ticket)) => return inner.run_ticket(ticket).await,
                    Some(Action::AskHolder(ask)) => {
                        let message = TabMessage::Context {
                            id: None,
                            context: context
                                .as_ref()
                                .map(Context::to_json)
                                .unwrap_or(Value::Null),
                            resource: resource.clone(),
                            by: inner.engine.borrow().id().to_string(),
                        }
                        .to_json();
                        return inner.request_holder(message, &ask).await;
                    }
                    Some(Action::Wait(id)) => inner.wait_for(id).await?,
                    Some(Action::Busy(id)) => {
                        // Another token's refresh holds the refresh token: after it, try again.
                        let _ = inner.wait_for(id).await;
                    }
                    Some(Action::Answer(answer)) => return answer.map(drop),
                    _ => {}
                }
                step = inner.switch_step(&context, &resource, &by);
            }
            Err(Error::new(
                ErrorCode::TokenRequestFailed,
                "the context kept changing; try again",
            ))
        }
    }

    /// One synchronous step of a switch: the engine's reply ([`Input::SetContext`]), with the
    /// promise of its flight made for callers who wait.
    fn switch_step(
        self: &Rc<Self>,
        context: &Option<Context>,
        resource: &Option<String>,
        by: &Option<String>,
    ) -> Option<Action> {
        let reply = self.call(Input::SetContext {
            context: context.clone(),
            resource: resource.clone(),
            by: by.clone(),
        });
        match &reply {
            Some(Action::Refresh(ticket)) => {
                self.flight(ticket.id);
            }
            Some(Action::AskHolder(ask)) => {
                self.flight(ask.id);
            }
            _ => {}
        }
        reply
    }

    /// `logout()` in this tab: final here at once; the refresh token revoked (here, or by the
    /// holder when this tab follows one); the other tabs told. Returns where to send the
    /// browser (`end_session_endpoint`).
    pub async fn logout_here(self: &Rc<Self>, state: Option<String>) -> Res<Option<String>> {
        // Open portal sessions end first, while their tokens are good.
        self.end_portals(false).await;
        // Final here at once. A page of a session host leaves the rest to the host, which
        // revokes, tells every page, and says where to go.
        let host = self.host().is_some();
        let end_session_endpoint = match host {
            true => None,
            false => self.auth_server.metadata.end_session_endpoint.clone(),
        };
        let leave = self.call(Input::Logout {
            end_session_endpoint,
            state: state.clone(),
        });
        if host {
            let answer = self
                .ask_host(|id| crate::core::host::FromPage::Logout { id, state })
                .await?;
            return Ok(answer.as_str().map(String::from));
        }
        // Logout is final: a refresh still under way here ends as the engine says (its new
        // refresh token revoked). The browser leaves once that is done and the other tabs are
        // told, within a bound, and once the DPoP key is deleted.
        let bound = self
            .auth_server
            .config
            .http_timeout_seconds
            .min(crate::core::limits::LOGOUT_WAIT_SECONDS)
            * 1000;
        let flights: Vec<Rc<Flight>> = self.flights.borrow().values().cloned().collect();
        for flight in flights {
            let _ = flight.wait(Some(bound)).await;
        }
        let pending: Vec<Rc<Flight>> = self.pending.borrow_mut().drain(..).collect();
        for flight in pending {
            let _ = flight.wait(Some(bound)).await;
        }
        self.auth_server.dpop.forget().await;
        if let Some(tabs) = &*self.tabs.borrow() {
            tabs.release();
        }
        match leave {
            Some(Action::Leave(url)) => Ok(url),
            _ => Ok(None),
        }
    }
}
