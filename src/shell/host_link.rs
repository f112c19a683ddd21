//! A page of a session host (API.md "Session host"): its private port to the host's
//! `SharedWorker`, the Web Lock it holds while it lives (the host notices a closed or crashed
//! tab by it), and what it does with the host's messages. Only the host can post to this port,
//! so what it says needs no proof; the page still checks every token's claims before it uses
//! one, as a follower does.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{JsString, Object, Reflect};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort};

use super::flight::Flight;
use super::js::{self, get};
use super::runtime::{Inner, Res};
use super::tabs;
use crate::core::config::{Config, SessionHostMode};
use crate::core::discovery::{self, Metadata};
use crate::core::engine::{EndReason, Input};
use crate::core::host::{self, FromPage, SignFailure, ToPage};
use crate::core::json::Read;
use crate::core::{jwt, Error, ErrorCode};

#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    /// `new SharedWorker(...)` for the package's worker (`url`: the app's copy, if it serves
    /// one), written where bundlers look for it; throws where no worker can be made.
    #[wasm_bindgen(catch, js_name = openSessionHost)]
    fn open_session_host(url: &JsValue) -> Result<JsValue, JsValue>;
}

/// Messages that arrive before the page's session exists wait here.
enum Target {
    Waiting(Vec<ToPage>),
    Inner(Weak<Inner>),
}

pub struct HostPort {
    port: MessagePort,
    _worker: JsValue,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    target: Rc<RefCell<Target>>,
    /// The lock this page holds while it lives (taken back if another page steals it); `None`
    /// for a thin page's stand-in in the worker (the thin page holds its own lock).
    lock: Option<Rc<tabs::HeldLock>>,
    /// The host's lock: free when the host is gone.
    pub host_lock: String,
    watching: Cell<bool>,
}

/// The data of a message on the port: `{ m: <JSON text> }`; `None` for anything else or
/// longer than [`host::MAX_MESSAGE_CHARS`] (checked before the text is copied into wasm).
pub fn read_envelope(data: &JsValue) -> Option<String> {
    let text = get(data, "m");
    let text: &JsString = text.dyn_ref()?;
    if text.length() as usize > host::MAX_MESSAGE_CHARS {
        return None;
    }
    text.as_string()
}

pub fn envelope(text: &str) -> Object {
    js::object(&[("m", JsValue::from_str(text))])
}

impl HostPort {
    pub fn post(&self, text: &str) {
        let _ = self.port.post_message(&envelope(text));
    }

    /// Hands the host's messages to the page's session from now on (and those that waited).
    pub fn attach(&self, inner: &Rc<Inner>) {
        let waiting = match self.target.replace(Target::Inner(Rc::downgrade(inner))) {
            Target::Waiting(list) => list,
            Target::Inner(_) => Vec::new(),
        };
        for message in waiting {
            inner.on_host_message(message);
        }
    }

    /// Calls `on_gone` once the host is gone (its lock is free).
    pub fn watch(&self, on_gone: impl FnOnce() + 'static) {
        if !self.watching.replace(true) {
            tabs::when_free(&self.host_lock, on_gone);
        }
    }

    pub fn close(&self) {
        self.port.close();
        if let Some(lock) = &self.lock {
            lock.release();
        }
    }

    /// The host's lock went free: watch it again (the host answered, a thief let go).
    pub fn watch_again(&self) {
        self.watching.set(false);
    }
}

fn host_start_failed(why: &str) -> Error {
    Error::config(format!(
        "sessionHost \"worker\": the session host could not start ({why}); serve helseid_wasm_worker.js, allow it in the CSP (worker-src), or use sessionHost \"page\""
    ))
}

/// The host's messages on `port`: `alive`, the welcome, and the rest for the page's session
/// (which waits in `target` until it exists).
struct Listener {
    alive: Rc<Flight<()>>,
    welcome: Rc<Flight<Value>>,
    target: Rc<RefCell<Target>>,
    on_message: Closure<dyn FnMut(JsValue)>,
}

fn listen(port: &MessagePort) -> Listener {
    let alive = Flight::<()>::new();
    let welcome = Flight::<Value>::new();
    let target = Rc::new(RefCell::new(Target::Waiting(Vec::new())));
    let on_message = {
        let (alive, welcome, target) = (alive.clone(), welcome.clone(), target.clone());
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(event) = event.dyn_ref::<MessageEvent>() else {
                return;
            };
            let Some(text) = read_envelope(&event.data()) else {
                return;
            };
            if text == r#"{"t":"alive"}"# {
                alive.finish(Ok(()));
                return;
            }
            let Some(message) = host::read_to_page(&text) else {
                return;
            };
            if let ToPage::Welcome { result } = message {
                welcome.finish(result.map_err(|e| {
                    Error::from_json(&e)
                        .unwrap_or_else(|| host_start_failed("the host refused this page"))
                }));
                return;
            }
            let inner = match &mut *target.borrow_mut() {
                Target::Waiting(list) => {
                    list.push(message);
                    return;
                }
                Target::Inner(weak) => weak.upgrade(),
            };
            if let Some(inner) = inner {
                inner.on_host_message(message);
            }
        })
    };
    port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    Listener {
        alive,
        welcome,
        target,
        on_message,
    }
}

/// Starts (or joins) the session host for this config. `Ok(None)`: `"auto"` found no worker
/// within [`host::WORKER_START_MS`], so the page holds the session itself.
pub async fn connect(
    config: &Config,
    config_json: &Value,
    signer: host::SignerKind,
) -> Res<Option<(Rc<HostPort>, Metadata)>> {
    let auto = config.session_host == SessionHostMode::Auto;
    let fail = |why: &str| {
        if auto {
            Ok(None)
        } else {
            Err(host_start_failed(why))
        }
    };
    let url = config
        .worker_url
        .as_deref()
        .map_or(JsValue::UNDEFINED, JsValue::from_str);
    let worker = match open_session_host(&url) {
        Ok(w) => w,
        Err(e) => {
            let why = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| "SharedWorker is not available".into());
            return fail(&why);
        }
    };
    let Ok(port) = get(&worker, "port").dyn_into::<MessagePort>() else {
        return fail("the worker has no port");
    };
    let listener = listen(&port);
    // A worker that cannot load (a CSP without worker-src, a 404) says so here.
    let on_error = {
        let alive = listener.alive.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
            alive.finish(Err(host_start_failed("the worker script failed to load")));
        })
    };
    let _ = Reflect::set(
        &worker,
        &JsValue::from_str("onerror"),
        on_error.as_ref().unchecked_ref(),
    );
    port.start();
    let start_ms = match auto {
        true => i64::from(host::WORKER_START_MS),
        false => config.http_timeout_seconds * 1000,
    };
    if let Err(e) = listener
        .alive
        .wait_or(Some(start_ms), || {
            host_start_failed("the worker did not answer in time")
        })
        .await
    {
        port.close();
        return if auto { Ok(None) } else { Err(e) };
    }
    // The host watches this lock: it is freed when this page closes or crashes.
    let lock = format!("helseid-wasm:tab:{}", js::random_token()?);
    // Held before the host hears of it, or the host would find it free and drop this page.
    let (held, granted) = tabs::HeldLock::hold(&lock);
    if let Some(granted) = granted {
        let _ = wasm_bindgen_futures::JsFuture::from(granted).await;
    }
    let joined = join(
        config,
        config_json,
        signer,
        port,
        listener,
        lock,
        Some(held),
    )
    .await;
    joined.map(|(mut host_port, metadata)| {
        host_port._worker = worker;
        host_port._handlers.push(on_error);
        Some((Rc::new(host_port), metadata))
    })
}

/// A thin page's stand-in in the worker (`js/page.js`): joins the host on `port` (one end of a
/// `MessageChannel` whose other end the host has) with the lock the thin page holds.
pub async fn connect_port(
    config: &Config,
    config_json: &Value,
    signer: host::SignerKind,
    port: MessagePort,
    lock: String,
) -> Res<(Rc<HostPort>, Metadata)> {
    let listener = listen(&port);
    port.start();
    let (host_port, metadata) =
        join(config, config_json, signer, port, listener, lock, None).await?;
    Ok((Rc::new(host_port), metadata))
}

/// Says `hello` with `lock` and waits for the host's welcome (its provider metadata).
async fn join(
    config: &Config,
    config_json: &Value,
    signer: host::SignerKind,
    port: MessagePort,
    listener: Listener,
    lock: String,
    held: Option<Rc<tabs::HeldLock>>,
) -> Res<(HostPort, Metadata)> {
    let (alg, kid) = match &config.client_auth {
        crate::core::config::ClientAuthMethod::PrivateKeyJwt { alg, kid } => {
            (Some(alg.clone()), kid.clone())
        }
        _ => (None, None),
    };
    let hello = FromPage::Hello {
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: config_json.clone(),
        lock,
        signer,
        alg,
        kid,
    };
    let _ = port.post_message(&envelope(&hello.to_text()));
    let bound = (config.http_timeout_seconds + crate::core::limits::PEER_GRACE_SECONDS) * 1000;
    let metadata = listener
        .welcome
        .wait_or(Some(bound), || {
            Error::new(
                ErrorCode::DiscoveryFailed,
                "the session host did not answer in time",
            )
            .retryable(true)
        })
        .await
        .and_then(|m| {
            discovery::process_discovery_response(
                200,
                &m.to_string(),
                &config.issuer,
                config.allow_insecure_http,
            )
        });
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => {
            port.close();
            if let Some(held) = held {
                held.release();
            }
            return Err(e);
        }
    };
    let host_port = HostPort {
        port,
        _worker: JsValue::UNDEFINED,
        _handlers: vec![listener.on_message],
        target: listener.target,
        lock: held,
        host_lock: host::host_lock(env!("CARGO_PKG_VERSION"), &config.issuer, &config.client_id),
        watching: Cell::new(false),
    };
    Ok((host_port, metadata))
}

impl Inner {
    pub fn host(&self) -> Option<Rc<HostPort>> {
        self.host.borrow().clone()
    }

    /// Sends a request to the host and waits for its answer (bounded).
    pub async fn ask_host(&self, message: impl FnOnce(String) -> FromPage) -> Res<Value> {
        let id = js::random_token()?;
        let text = message(id.clone()).to_text();
        self.host_answer(id, &text).await
    }

    /// Posts `text`, a request whose id is `id`, to the host and waits for its `done`
    /// (bounded: the HTTP timeout and a grace).
    pub async fn host_answer(&self, id: String, text: &str) -> Res<Value> {
        let host = self
            .host()
            .ok_or_else(|| Error::config("no session host"))?;
        let flight = Flight::<Value>::new();
        self.host_asks
            .borrow_mut()
            .insert(id.clone(), flight.clone());
        host.post(text);
        let bound = (self.auth_server.config.http_timeout_seconds
            + crate::core::limits::PEER_GRACE_SECONDS)
            * 1000;
        let result = flight
            .wait_or(Some(bound), || {
                Error::new(
                    ErrorCode::NetworkError,
                    "the session host did not answer in time",
                )
                .retryable(true)
            })
            .await;
        self.host_asks.borrow_mut().remove(&id);
        result
    }

    /// A message from the host, in the order the host sent it.
    pub fn on_host_message(self: &Rc<Self>, message: ToPage) {
        if self.disposed.get() {
            return;
        }
        match message {
            ToPage::View { view, nonces } => {
                self.auth_server.dpop.merge_nonces(&nonces);
                // The tokens' cnf.jkt must name the host's key (RFC 9449 §6.1).
                self.handle_input(Input::DpopKey(view.string("dpopJkt")));
                self.adopt_host_view(view);
            }
            ToPage::Done { id, result } => {
                let flight = self.host_asks.borrow_mut().remove(&id);
                if let Some(flight) = flight {
                    flight.finish(result.map_err(|e| {
                        Error::from_json(&e).unwrap_or_else(|| {
                            Error::new(ErrorCode::TokenRequestFailed, "the session host failed")
                        })
                    }));
                }
            }
            ToPage::End { holder, reason } => {
                let reason = EndReason::from_wire(&reason);
                self.handle_input(Input::HolderEnded {
                    holder,
                    reason: Some(reason),
                });
            }
            ToPage::Sign { id, ctx } => {
                let inner = self.clone();
                super::task::spawn(async move {
                    let outcome = inner.auth_server.sign_for_host(&ctx).await;
                    if let Some(host) = inner.host() {
                        host.post(&FromPage::Signed { id, outcome }.to_text());
                    }
                });
            }
            ToPage::Ping => {
                if let Some(host) = self.host() {
                    host.post(&FromPage::Pong.to_text());
                }
            }
            ToPage::Welcome { .. } => {}
        }
    }

    /// The host's view: its tokens were verified by the host (this port is private to it);
    /// their claims are checked here as a follower checks another tab's.
    fn adopt_host_view(self: &Rc<Self>, view: Value) {
        let Some((remote, _)) = self.read_view(view, true) else {
            return;
        };
        let signed = remote
            .tokens()
            .map(|t| jwt::decode(t.expose()).map(jwt::DecodedJwt::signature_checked))
            .collect();
        self.handle_input(Input::ViewVerified { remote, signed });
    }

    /// The host's lock went free: its worker ended or crashed, or a page of the origin stole
    /// and released the lock. A host that still answers is watched again (issue 20, finding 5).
    pub fn host_lock_freed(self: &Rc<Self>) {
        let inner = self.clone();
        super::task::spawn(async move {
            let Some(host) = inner.host() else { return };
            let Ok(id) = js::random_token() else { return };
            let flight = Flight::<Value>::new();
            inner
                .host_asks
                .borrow_mut()
                .insert(id.clone(), flight.clone());
            let ping = FromPage::Need {
                id: id.clone(),
                resource: None,
                force: false,
                by: Some(inner.engine.borrow().id().to_string()),
            };
            host.post(&ping.to_text());
            let answered = flight
                .wait(Some(i64::from(host::WORKER_START_MS)))
                .await
                .is_some();
            inner.host_asks.borrow_mut().remove(&id);
            if answered {
                host.watch_again();
                inner.sync_locks();
            } else {
                inner.host_gone();
            }
        });
    }

    /// The host is gone (its worker crashed or was ended): the tokens serve until they expire.
    pub fn host_gone(self: &Rc<Self>) {
        let flights: Vec<Rc<Flight<Value>>> = self.host_asks.borrow().values().cloned().collect();
        for flight in flights {
            flight.finish(Err(Error::new(
                ErrorCode::LoginRequired,
                "the session host is gone; log in again",
            )));
        }
        let holder = self.engine.borrow().followed_holder().map(String::from);
        if let Some(holder) = holder {
            self.handle_input(Input::HolderEnded {
                holder,
                reason: None,
            });
        }
    }

    /// `DPoP-Nonce` from an API this page called: the host and the other pages use it too.
    pub fn share_api_nonce(&self, url: &str, nonce: &str) {
        if let Some(host) = self.host() {
            let message = FromPage::Nonce {
                url: url.to_string(),
                nonce: nonce.to_string(),
            };
            host.post(&message.to_text());
        }
    }

    /// A DPoP proof for an API request (RFC 9449 §4): made here, or, for a page of a session
    /// host, by the host (the key stays there).
    pub async fn dpop_proof(&self, method: &str, url: &str, access_token: &str) -> Res<String> {
        if self.host().is_none() {
            return self
                .auth_server
                .dpop
                .proof(method, url, Some(access_token))
                .await;
        }
        let (method, url) = (method.to_string(), url.to_string());
        let ath = Some(crate::core::dpop::access_token_hash(access_token));
        let proof = self
            .ask_host(|id| FromPage::Proof {
                id,
                method,
                url,
                ath,
            })
            .await?;
        proof.as_str().map(String::from).ok_or_else(|| {
            Error::new(
                ErrorCode::TokenRequestFailed,
                "the session host gave no proof",
            )
        })
    }
}

/// `getAssertion` failed or gave no JWS: what the host is told (API.md `assertion_provider`).
pub fn sign_failure(e: &Error) -> SignFailure {
    match e.code {
        ErrorCode::NetworkError => SignFailure::Network(e.message.to_string()),
        ErrorCode::ConfigInvalid => SignFailure::Invalid,
        _ => SignFailure::Refused(e.message.to_string()),
    }
}
