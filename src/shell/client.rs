//! `HelseIdClient`: the JavaScript surface of API.md. Each method reads its arguments, calls the
//! session (`runtime.rs`, `flows.rs`, `peers.rs`), and turns the result into JS.

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use super::api_fetch;
use super::auth_server::{self, AuthServer, Signer};
use super::flows::{location, query_pairs};
use super::host_link;
use super::js::{self, get, get_string, js_to_json, to_js_error};
use super::runtime::{now, Inner, Res, EVENTS};
use super::store;
use crate::core::authorize::LoginOptions;
use crate::core::callback;
use crate::core::config::{Config, SessionHostMode};
use crate::core::context::Context;
use crate::core::dpop;
use crate::core::engine::{Action, Engine, Input};
use crate::core::host::SignerKind;
use crate::core::{Error, ErrorCode};

/// A HelseID client (API.md): login with PKCE, PAR and DPoP, token checks, refreshes shared
/// between tabs, calls to APIs, context switches, national portals and logout.
///
/// @example
/// ```ts
/// import init, { HelseIdClient } from "helseid-wasm";
/// await init();
/// const client = await HelseIdClient.create(config);
/// if (client.isRedirectCallback()) await client.handleRedirectCallback();
/// else if (!client.session()) await client.loginWithRedirect();
/// const res = await client.fetch("https://sfm.example/api/whoami");
/// ```
#[wasm_bindgen]
pub struct HelseIdClient {
    inner: Rc<Inner>,
}

fn to_promise<F>(future: F) -> Promise
where
    F: std::future::Future<Output = Res<JsValue>> + 'static,
{
    super::task::promise(async move { future.await.map_err(|e| to_js_error(&e)) })
}

/// `undefined`, `null` or an object of options.
fn options(value: Option<JsValue>) -> JsValue {
    value.unwrap_or(JsValue::UNDEFINED)
}

fn no_session() -> Error {
    Error::new(ErrorCode::LoginRequired, "no session: log in first")
}

impl Inner {
    /// After `create()`: the DPoP key, or the session another tab holds.
    async fn start(self: &Rc<Self>) {
        if let Ok(Some(key)) = self.auth_server.dpop.load(false).await {
            self.handle_input(Input::DpopKey(Some(key.jkt.clone())));
        }
        // `storage: "session"` is retired (no refresh token in any Web Storage: the browser
        // copies a tab's sessionStorage into every window the app opens); a record an older
        // version wrote is removed unread.
        store::session_remove(&self.record_key());
        self.join().await;
    }
}

/// `create()`; `page`: the port and lock of a thin page this client stands in for, in the
/// worker.
async fn create_client(
    config: JsValue,
    page: Option<(web_sys::MessagePort, String)>,
) -> Res<HelseIdClient> {
    if !config.is_object() {
        return Err(Error::config("config must be an object"));
    }
    let (method, signer) = auth_server::read_client_auth(&get(&config, "clientAuth")).await?;
    let mut json = js_to_json(&config).ok_or_else(|| Error::config("config must be plain data"))?;
    let config = Config::from_value(&json, method, js::random16)?;
    // The session host gets the config without the page's own keys (a private
    // JWK among them: the host gets the imported, non-extractable key instead).
    if let Some(o) = json.as_object_mut() {
        for key in crate::core::config::PAGE_LOCAL_KEYS {
            o.remove(key);
        }
    }
    // A page with a client key or an assertion_provider signs what the host asks for:
    // its key never leaves it.
    let kind = match &signer {
        Signer::Key { .. } => SignerKind::Key,
        Signer::Provider(_) => SignerKind::Provider,
        _ => SignerKind::None,
    };
    let host = match (page, config.session_host) {
        (Some((port, lock)), _) => {
            Some(host_link::connect_port(&config, &json, kind, port, lock).await?)
        }
        (None, SessionHostMode::Page) => None,
        (None, _) => host_link::connect(&config, &json, kind).await?,
    };
    let metadata = match &host {
        Some((_, metadata)) => metadata.clone(),
        None => auth_server::discover(&config).await?,
    };
    crate::core::authorize::check_par_mode(&config, &metadata)?;
    let engine = Engine::new(config.clone(), js::random_token()?);
    let inner = Inner::new(engine, AuthServer::new(config, metadata, signer));
    match host {
        Some((port, _)) => {
            inner.auth_server.dpop.set_home(super::dpop::KeyHome::None);
            *inner.host.borrow_mut() = Some(port.clone());
            // The host's view (if it has a session) came right after its welcome.
            port.attach(&inner);
        }
        None => {
            inner.open_tabs();
            inner.start().await;
        }
    }
    Ok(HelseIdClient { inner })
}

#[wasm_bindgen]
impl HelseIdClient {
    /// Validates the config, fetches (or reuses) discovery, imports the client key, and joins
    /// a session this tab or another one holds (in the session host, by default). Rejects with
    /// `config_invalid`, `discovery_failed` or `issuer_mismatch`.
    #[wasm_bindgen(unchecked_return_type = "Promise<HelseIdClient>")]
    pub fn create(
        #[wasm_bindgen(unchecked_param_type = "HelseIdConfig")] config: JsValue,
    ) -> Promise {
        super::task::promise(async move {
            let result = create_client(config, None).await;
            result.map(JsValue::from).map_err(|e| to_js_error(&e))
        })
    }

    /// Internal to the package's worker (`js/worker.js`): a thin page's stand-in, joined to the
    /// host on `port` with the lock the thin page holds (`js/page.js`).
    #[wasm_bindgen(js_name = createForPage, skip_typescript)]
    pub fn create_for_page(config: JsValue, port: web_sys::MessagePort, lock: String) -> Promise {
        super::task::promise(async move {
            let result = create_client(config, Some((port, lock))).await;
            result.map(JsValue::from).map_err(|e| to_js_error(&e))
        })
    }

    /// PKCE S256 + state + nonce, PAR when on, then `location.assign` to the authorize endpoint
    /// (the page leaves: the promise settles only on failure).
    #[wasm_bindgen(js_name = loginWithRedirect, unchecked_return_type = "Promise<void>")]
    pub fn login_with_redirect(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "LoginOptions")] options: Option<JsValue>,
    ) -> Promise {
        let value = self::options(options);
        let inner = self.inner.clone();
        to_promise(async move {
            let json = js_to_json(&value)
                .ok_or_else(|| Error::config("invalid loginWithRedirect options"))?;
            let options = LoginOptions::from_json(&json)?;
            let url = inner.authorization_url(&options).await?;
            let location =
                location().ok_or_else(|| Error::config("loginWithRedirect needs a window"))?;
            location
                .assign(&url)
                .map_err(|_| Error::config("location.assign failed"))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Does this URL (default: the current one) carry `code`/`error` and `state`?
    #[wasm_bindgen(js_name = isRedirectCallback)]
    pub fn is_redirect_callback(&self, url: Option<String>) -> bool {
        let href = url.or_else(|| location().and_then(|l| l.href().ok()));
        href.and_then(|h| web_sys::Url::new(&h).ok())
            .map(|u| callback::is_callback(&query_pairs(&u)))
            .unwrap_or(false)
    }

    /// Validates the authorization response (state, RFC 9207 `iss`, `error`), exchanges the
    /// code, validates the ID token and the access token, stores the session and removes
    /// `code`/`state`/`iss` from the address bar.
    #[wasm_bindgen(js_name = handleRedirectCallback, unchecked_return_type = "Promise<Session>")]
    pub fn handle_redirect_callback(&self, url: Option<String>) -> Promise {
        let inner = self.inner.clone();
        to_promise(async move {
            inner.handle_callback(url).await?;
            Ok(inner.session_js())
        })
    }

    /// A valid access token, refreshed when within `refreshLeewaySeconds` of expiry; concurrent
    /// callers, in this tab and the others, share one refresh. Without a session:
    /// `login_required`. For an API call, prefer `fetch` or `authHeaders`: a DPoP-bound token
    /// alone is refused.
    #[wasm_bindgen(js_name = getAccessToken, unchecked_return_type = "Promise<string>")]
    pub fn get_access_token(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ resource?: string, forceRefresh?: boolean }"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        let options = self::options(options);
        let resource = get_string(&options, "resource");
        let force = get(&options, "forceRefresh").as_bool().unwrap_or(false);
        // The hot path: a fresh token from the cache, without the async machinery.
        if !force && !self.inner.disposed.get() {
            if let Some(token) = self
                .inner
                .engine
                .borrow()
                .cached_token(resource.as_deref(), now())
            {
                return Promise::resolve(&JsValue::from_str(token.expose()));
            }
        }
        let inner = self.inner.clone();
        to_promise(async move {
            let (token, _) = inner.access_token(resource.as_deref(), force).await?;
            Ok(JsValue::from_str(token.expose()))
        })
    }

    /// Refreshes now (`tokenRefreshed` fires with `cause: "call"`); resolves to the new Session.
    #[wasm_bindgen(unchecked_return_type = "Promise<Session>")]
    pub fn refresh(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let resource = get_string(&self::options(options), "resource");
        let inner = self.inner.clone();
        to_promise(async move {
            inner.access_token(resource.as_deref(), true).await?;
            match inner.session_js() {
                s if s.is_null() => Err(no_session()),
                s => Ok(s),
            }
        })
    }

    /// The current session (checked claims; no token), or null.
    #[wasm_bindgen(unchecked_return_type = "Session | null")]
    pub fn session(&self) -> JsValue {
        self.inner.session_js()
    }

    /// Calls an API with `Authorization: DPoP <at>` and a proof with `ath` (or `Bearer`),
    /// retrying once on `use_dpop_nonce` (RFC 9449 §9): `authHeaders` + `fetch` +
    /// `takeDpopNonce` + one retry. Only to an origin `apiOrigins` lists for the resource, else
    /// `origin_not_allowed`; challenged again: `dpop_nonce_failed`; other answers, 4xx and 5xx
    /// included, resolve as they are. Redirects are not followed unless `init.redirect` says so.
    ///
    /// @example
    /// ```ts
    /// const res = await client.fetch("https://sfm.example/api/Session/create", {
    ///   method: "POST",
    ///   headers: { "Content-Type": "application/json" },
    ///   body: JSON.stringify({ nonce }),
    /// });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Request")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let init = self::options(init);
        let resource = get_string(&self::options(options), "resource");
        let inner = self.inner.clone();
        to_promise(async move { Ok(inner.api_fetch(input, init, resource).await?.into()) })
    }

    /// The headers for a request by your own HTTP client (axios, Angular's `HttpClient`, a
    /// fetch wrapper): `{ Authorization: "DPoP <at>", DPoP: "<proof>" }` for that method and URL,
    /// the proof with `ath` and the origin's current nonce (or `Bearer` and no proof when `dpop`
    /// is off). Only to an origin `apiOrigins` lists for the resource, else
    /// `origin_not_allowed`. Make new headers for every request, retries included: a proof is
    /// good for one request. Pair it with `takeDpopNonce` on the answer.
    ///
    /// @example
    /// ```ts
    /// const url = "https://sfm.example/api/whoami";
    /// let res = await fetch(url, { headers: await client.authHeaders(url) });
    /// if (client.takeDpopNonce(res)) res = await fetch(url, { headers: await client.authHeaders(url) });
    /// ```
    #[wasm_bindgen(js_name = authHeaders, unchecked_return_type = "Promise<AuthHeaders>")]
    pub fn auth_headers(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | URL | Request")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AuthHeadersOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let options = self::options(options);
        let resource = get_string(&options, "resource");
        let method = get_string(&options, "method");
        let target = api_fetch::target(&input, method.as_deref()).and_then(|(url, method)| {
            self.inner.check_origin(resource.as_deref(), &url)?;
            Ok((url, method))
        });
        let (url, method) = match target {
            Ok(target) => target,
            Err(e) => return Promise::reject(&to_js_error(&e)),
        };
        let inner = self.inner.clone();
        to_promise(async move {
            let (authorization, proof) = inner.auth_headers(url, method, resource, None).await?;
            let mut headers = vec![("Authorization", JsValue::from(authorization))];
            if let Some(proof) = proof {
                headers.push(("DPoP", JsValue::from(proof)));
            }
            Ok(js::object(&headers).into())
        })
    }

    /// Keeps an API answer's `DPoP-Nonce` for its origin (the next proofs carry it, in every
    /// tab of the session host). Returns `true` when the answer is a `use_dpop_nonce` challenge
    /// (401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`) that carries a nonce: send
    /// the request once more, with new `authHeaders`, and only once. Throws `config_invalid`
    /// when the answer has a nonce but no `url`.
    ///
    /// @example
    /// ```ts
    /// // axios: a response has no url, so give the one the request went to
    /// client.takeDpopNonce({ url: http.getUri(res.config), status: res.status, headers: res.headers });
    /// ```
    #[wasm_bindgen(js_name = takeDpopNonce)]
    pub fn take_dpop_nonce(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Response | DpopAnswer")] response: JsValue,
    ) -> Result<bool, JsValue> {
        let answer = api_fetch::Answer::read(&response);
        if answer.nonce.is_some() {
            let url = answer
                .url
                .as_ref()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    to_js_error(&Error::config(
                        "takeDpopNonce needs the request URL: pass { url, status, headers }",
                    ))
                })?;
            let (url, _) =
                api_fetch::target(&JsValue::from_str(url), None).map_err(|e| to_js_error(&e))?;
            self.inner.take_nonce(&url, &answer);
        }
        Ok(dpop::should_retry(
            answer.status,
            answer.www_authenticate.as_deref(),
            answer.nonce.is_some(),
        ))
    }

    /// Forgets the tokens here and in the other tabs, ends the open portal sessions, revokes the
    /// refresh token, and redirects to `end_session_endpoint` with `id_token_hint`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn logout(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ state?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let state = get_string(&self::options(options), "state");
        let inner = self.inner.clone();
        to_promise(async move {
            let url = inner.logout_here(state).await?;
            match (url, location()) {
                (Some(url), Some(location)) => {
                    let _ = location.assign(&url);
                }
                // A thin page's stand-in in the worker: the page goes there (js/page.js).
                (Some(url), None) => return Ok(JsValue::from(url)),
                _ => {}
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Switches the organisation / journal / attest context with exactly one refresh, in
    /// whichever tab or host holds the session, and drops the old context's tokens everywhere.
    /// `null` clears it. Malformed: `context_invalid` and nothing is sent.
    #[wasm_bindgen(js_name = setContext, unchecked_return_type = "Promise<Session>")]
    pub fn set_context(
        &self,
        #[wasm_bindgen(unchecked_param_type = "HelseIdContext | null")] context: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let resource = get_string(&self::options(options), "resource");
        let inner = self.inner.clone();
        // Checked, and the switch begun, before this returns (see `switch_context`).
        let started = (|| {
            let value = js_to_json(&context).ok_or_else(|| {
                Error::new(ErrorCode::ContextInvalid, "the context must be plain data")
                    .with_claim("context")
            })?;
            let context = Context::parse(&value, js::random16)?;
            if !inner.engine.borrow().has_session() {
                return Err(Error::new(
                    ErrorCode::LoginRequired,
                    "setContext needs a session: log in first",
                ));
            }
            Ok(inner.switch_context(context, resource))
        })();
        to_promise(async move {
            started?.await?;
            Ok(inner.session_js())
        })
    }

    /// The context in force, or null.
    #[wasm_bindgen(unchecked_return_type = "HelseIdContext | null")]
    pub fn context(&self) -> JsValue {
        match self.inner.engine.borrow().context() {
            Some(context) => js::json_to_js(&context),
            None => JsValue::NULL,
        }
    }

    /// After `userChanged`: follows the other user's session; resolves to its Session.
    #[wasm_bindgen(js_name = adoptSession, unchecked_return_type = "Promise<Session>")]
    pub fn adopt_session(&self) -> Promise {
        let inner = self.inner.clone();
        to_promise(async move {
            if let Some(Action::Settled(outcome)) = inner.call(Input::AdoptSession) {
                outcome?;
            }
            Ok(inner.session_js())
        })
    }

    /// Subscribes to an event; returns the function that unsubscribes. The detail:
    /// `tokenRefreshed` a `TokenRefreshedDetail` (the Session and its `cause`),
    /// `contextChanged` a `ContextChangedDetail` (the Session and its `cause`), `userChanged` the new user's `HelseIdClaims`,
    /// `sessionExpired`, `loggedOut` and `contextExpired` none to rely on.
    ///
    /// @example
    /// ```ts
    /// const off = client.on("tokenRefreshed", (d: TokenRefreshedDetail) => console.log(d.cause));
    /// off();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "\"tokenRefreshed\" | \"sessionExpired\" | \"loggedOut\" | \"contextChanged\" | \"contextExpired\" | \"userChanged\""
        )]
        event: String,
        #[wasm_bindgen(unchecked_param_type = "(detail: any) => void")] callback: Function,
    ) -> Result<JsValue, JsValue> {
        if !EVENTS.contains(&event.as_str()) {
            return Err(to_js_error(&Error::config(format!(
                "unknown event {event}"
            ))));
        }
        let id = self.inner.subscribe(event, callback);
        let weak = Rc::downgrade(&self.inner);
        let unsubscribe = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.unsubscribe(id);
            }
        });
        Ok(unsubscribe.into_js_value())
    }

    /// Opens an SFM portal session (README "National portals"): `POST Session/create` at
    /// `gateway`, which `apiOrigins` must list for the resource.
    #[wasm_bindgen(js_name = openSfmSession, unchecked_return_type = "Promise<SfmSession>")]
    pub fn open_sfm_session(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ gateway: string, resource?: string, apiBase?: string }"
        )]
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        to_promise(async move {
            let options = js_to_json(&options)
                .ok_or_else(|| Error::config("openSfmSession options must be an object"))?;
            Ok(inner.open_sfm(&options).await?.into())
        })
    }

    /// Opens a Kjernejournal portal session (README "National portals"): `api/session/create`
    /// at `api`, which `apiOrigins` must list for the resource; its `url` opens in a new tab.
    #[wasm_bindgen(js_name = openKjernejournalSession, unchecked_return_type = "Promise<KjernejournalSession>")]
    pub fn open_kjernejournal_session(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ api: string, web: string, sourceSystem: string, patient: string, accessBasis: \"SAMTYKKE\" | \"AKUTT\" | \"UNNTAK\", practitionerAuthorization?: string, resource?: string }"
        )]
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        to_promise(async move {
            let options = js_to_json(&options).ok_or_else(|| {
                Error::config("openKjernejournalSession options must be an object")
            })?;
            Ok(inner.open_kjernejournal(&options).await?.into())
        })
    }

    /// Where this tab's session lives now (API.md "Session host"): `"worker"` (the session
    /// host), `"page-holder"` (this tab holds it) or `"page-follower"` (another tab does).
    #[wasm_bindgen(js_name = sessionHost, unchecked_return_type = "\"worker\" | \"page-holder\" | \"page-follower\"")]
    pub fn session_host(&self) -> String {
        let mode = if self.inner.host().is_some() {
            "worker"
        } else if self.inner.holds_session() {
            "page-holder"
        } else {
            "page-follower"
        };
        mode.to_string()
    }

    /// Stops this client's timers and channels (the session lives on in other tabs and the
    /// session host).
    pub fn dispose(&self) {
        let inner = &self.inner;
        inner.disposed.set(true);
        inner.stop_timer();
        inner.clear_listeners();
        if let Some(tabs) = inner.tabs.borrow_mut().take() {
            tabs.close();
        }
        if let Some(host) = inner.host.borrow_mut().take() {
            host.close();
        }
    }
}
