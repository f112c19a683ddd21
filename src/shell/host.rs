//! The session host (API.md "Session host"): the side that runs in the package's module
//! `SharedWorker` (`helseid_wasm_worker.js` calls [`start_session_host`] and hands it every
//! port that connects). One host per origin and package version; inside it one session per
//! issuer and client id, each the same [`Inner`] a page holder runs, with the refresh token,
//! the ID token, the DPoP key and the client key in this worker's memory only.
//!
//! Pages are its clients, each over its own `MessagePort`: answers go to the page that asked,
//! views and end notices to every page of the session. A page that closes or crashes frees its
//! Web Lock, which the host waits for.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort};

use super::auth_server::{self, AuthServer, Signer};
use super::flight::Flight;
use super::host_link::{envelope, read_envelope};
use super::js;
use super::runtime::{now, Inner, Res};
use super::tabs;
use crate::core::authorize::LoginOptions;
use crate::core::config::{ClientAuthMethod, Config};
use crate::core::context::Context;
use crate::core::engine::{Action, Engine, Input};
use crate::core::host::{self, FromPage, SignFailure, SignerKind, Signers, ToPage};
use crate::core::json::Read;
use crate::core::limits;
use crate::core::vecmap::VecMap;
use crate::core::{Error, ErrorCode};

/// The pages of one session that can sign client assertions, and the assertions asked for.
pub struct PageSigners {
    host: Weak<HostState>,
    order: RefCell<Signers>,
    /// The Web Lock each signing page holds while it lives.
    locks: RefCell<VecMap<u32, String>>,
    pending: RefCell<VecMap<String, Rc<Flight<String>>>>,
    timeout_seconds: i64,
}

impl PageSigners {
    /// A client assertion for `ctx` from one live page that registered `getAssertion`; after
    /// `assertionTimeoutSeconds` (or a page that failed to reach its backend) the next page.
    /// No page left: `token_request_failed`, retryable (the session is kept).
    pub async fn sign(&self, ctx: &Value) -> Res<String> {
        let mut asked = Vec::new();
        loop {
            let next = self.order.borrow().next(&asked);
            let Some(page) = next else { break };
            asked.push(page);
            // A page that just closed may not have been seen gone yet: its lock says. A lock
            // just stolen is free until its page asks again (LOCK_RETAKE_MS): looked at twice.
            let lock = self.locks.borrow().get(&page).cloned();
            if let Some(lock) = lock {
                if !lock_still_held(&lock).await {
                    continue;
                }
            }
            let id = js::random_token()?;
            let flight = Flight::<String>::new();
            self.pending.borrow_mut().insert(id.clone(), flight.clone());
            let sent = self.host.upgrade().is_some_and(|h| {
                h.send(
                    page,
                    &ToPage::Sign {
                        id: id.clone(),
                        ctx: ctx.clone(),
                    }
                    .to_text(),
                )
            });
            let outcome = match sent {
                true => {
                    flight
                        .wait_or(Some(self.timeout_seconds * 1000), || {
                            Error::new(
                                ErrorCode::TokenRequestFailed,
                                "the page asked to sign a client assertion did not answer within assertionTimeoutSeconds",
                            )
                            .retryable(true)
                        })
                        .await
                }
                false => Err(Error::new(ErrorCode::TokenRequestFailed, "that page is gone").retryable(true)),
            };
            self.pending.borrow_mut().remove(&id);
            match outcome {
                Ok(assertion) => return Ok(assertion),
                // The backend refused (its checks said no) or answered nonsense: final.
                Err(e) if !e.retryable => return Err(e),
                Err(_) => {}
            }
        }
        // Every page asked went away or stayed silent (each for assertionTimeoutSeconds), or
        // there was none.
        Err(Error::new(
            ErrorCode::TokenRequestFailed,
            "no open page of the app can sign client assertions now; open one and try again",
        )
        .retryable(true))
    }

    fn settle(&self, id: &str, outcome: Result<String, SignFailure>) {
        let Some(flight) = self.pending.borrow_mut().remove(id) else {
            return;
        };
        flight.finish(outcome.map_err(|f| {
            match f {
                SignFailure::Network(m) => Error::new(
                    ErrorCode::NetworkError,
                    format!("assertion_provider could not reach its signer: {m}"),
                )
                .retryable(true),
                SignFailure::Refused(m) => Error::new(
                    ErrorCode::TokenRequestFailed,
                    format!("assertion_provider refused to sign: {m}"),
                ),
                SignFailure::Invalid => {
                    Error::config("assertion_provider returned something that is not a JWS")
                }
            }
        }));
    }
}

/// One session of the host: the engine and its I/O, and the pages that use it.
struct HostSession {
    config: Value,
    inner: Rc<Inner>,
    pages: RefCell<Vec<u32>>,
    /// The Web Lock each page holds while it lives.
    page_locks: RefCell<VecMap<u32, String>>,
    signers: Option<Rc<PageSigners>>,
    /// The host's lock for this session: pages watch it (taken back if another page steals it).
    lock: Rc<tabs::HeldLock>,
}

impl HostSession {
    /// Whether a page of this session is still open (its lock is held). A page that just
    /// navigated away may not have been seen gone yet: the locks say.
    async fn has_live_pages(&self) -> bool {
        let locks: Vec<String> = self.page_locks.borrow().values().cloned().collect();
        match tabs::held_locks().await {
            Some(held) => locks.iter().any(|l| held.contains(l)),
            None => !locks.is_empty(),
        }
    }

    /// The session is given up (no page of it is open, and a page with another configuration
    /// asks): its refresh token is revoked and its timers stop.
    fn retire(&self) {
        let logout = Input::Logout {
            end_session_endpoint: None,
            state: None,
        };
        let actions = self.inner.engine.borrow_mut().handle(logout, now());
        self.inner.stop_timer();
        self.inner.disposed.set(true);
        // Its first action (the rest is for pages, and none is open).
        if let Some(Action::Revoke(rt)) = actions.into_iter().next() {
            let inner = self.inner.clone();
            super::task::spawn(async move { inner.revoke(rt).await });
        }
        self.lock.release();
    }
}

struct Page {
    port: MessagePort,
    session: Option<String>,
    _on_message: Closure<dyn FnMut(JsValue)>,
}

pub struct HostState {
    next_page: Cell<u32>,
    pages: RefCell<VecMap<u32, Page>>,
    sessions: RefCell<VecMap<String, Rc<HostSession>>>,
    /// Sessions being made (discovery under way): pages that say hello meanwhile wait.
    starting: RefCell<VecMap<String, Rc<Flight<()>>>>,
    /// Pages asked whether they are still there ([`ToPage::Ping`]).
    pongs: RefCell<VecMap<u32, Rc<Flight<()>>>>,
}

/// The host inside the package's worker.
///
/// @internal For `helseid_wasm_worker.js` only: not an API.
#[wasm_bindgen]
pub struct SessionHost {
    state: Rc<HostState>,
}

/// Called once by `helseid_wasm_worker.js`.
///
/// @internal Not an API.
#[wasm_bindgen(js_name = startSessionHost)]
pub fn start_session_host() -> SessionHost {
    SessionHost {
        state: Rc::new(HostState {
            next_page: Cell::new(1),
            pages: RefCell::new(VecMap::new()),
            sessions: RefCell::new(VecMap::new()),
            starting: RefCell::new(VecMap::new()),
            pongs: RefCell::new(VecMap::new()),
        }),
    }
}

#[wasm_bindgen]
impl SessionHost {
    /// A page connected (the worker's `connect` event).
    pub fn connect(&self, port: MessagePort) {
        let id = self.state.next_page.get();
        self.state.next_page.set(id + 1);
        let weak = Rc::downgrade(&self.state);
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(state) = weak.upgrade() else { return };
            let Some(event) = event.dyn_ref::<MessageEvent>() else {
                return;
            };
            let Some(text) = read_envelope(&event.data()) else {
                return;
            };
            let Some(message) = host::read_from_page(&text) else {
                return;
            };
            state.on_message(id, message);
        });
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        port.start();
        self.state.pages.borrow_mut().insert(
            id,
            Page {
                port,
                session: None,
                _on_message: on_message,
            },
        );
    }
}

impl HostState {
    /// Posts to one page; `false` when it is gone.
    fn send(&self, page: u32, text: &str) -> bool {
        match self.pages.borrow().get(&page) {
            Some(p) => p.port.post_message(&envelope(text)).is_ok(),
            None => false,
        }
    }

    fn session_of(&self, page: u32) -> Option<Rc<HostSession>> {
        let key = self.pages.borrow().get(&page)?.session.clone()?;
        self.sessions.borrow().get(&key).cloned()
    }

    fn on_message(self: &Rc<Self>, page: u32, message: FromPage) {
        if let FromPage::Hello { .. } = message {
            let state = self.clone();
            super::task::spawn(async move { state.hello(page, message).await });
            return;
        }
        // Anything else needs a page that has joined a session.
        let Some(session) = self.session_of(page) else {
            return;
        };
        let inner = session.inner.clone();
        let state = self.clone();
        match message {
            FromPage::Need {
                id,
                resource,
                force,
                by,
            } => super::task::spawn(async move {
                // A page's request: always bounded (`by` names it, for its event).
                let by = Some(by.unwrap_or_default());
                let result = inner
                    .access_token_for(resource.as_deref(), force, by)
                    .await
                    .map(|_| Value::Null);
                state.done(page, id, result);
            }),
            FromPage::SetContext {
                id,
                context,
                resource,
                by,
            } => super::task::spawn(async move {
                let result = match Context::parse(&context, js::random16) {
                    Ok(context) => inner
                        .switch_context_for(context, resource, by)
                        .await
                        .map(|_| Value::Null),
                    Err(e) => Err(e),
                };
                state.done(page, id, result);
            }),
            FromPage::Logout { id, state: s } => super::task::spawn(async move {
                let result = inner
                    .logout_here(s)
                    .await
                    .map(|url| url.map_or(Value::Null, Value::from));
                state.done(page, id, result);
            }),
            FromPage::Login { id, options } => super::task::spawn(async move {
                let result = async {
                    let options = LoginOptions::from_json(&options)?;
                    let (url, tx) = inner.authorization_request(&options).await?;
                    let tx: Value = serde_json::from_str(&tx.to_json()).unwrap_or(Value::Null);
                    Ok(json!({ "url": url, "tx": tx }))
                }
                .await;
                state.done(page, id, result);
            }),
            FromPage::Callback { id, params, tx } => super::task::spawn(async move {
                let result = inner
                    .exchange_code(&params, tx.as_ref())
                    .await
                    .map(|_| Value::Null);
                state.done(page, id, result);
            }),
            FromPage::Signed { id, outcome } => {
                if let Some(signers) = &session.signers {
                    signers.settle(&id, outcome);
                }
            }
            FromPage::Nonce { url, nonce } => {
                if inner.auth_server.dpop.remember_nonce(&url, &nonce) {
                    inner.announce();
                }
            }
            FromPage::Proof {
                id,
                method,
                url,
                ath,
            } => super::task::spawn(async move {
                let result = inner
                    .auth_server
                    .dpop
                    .proof_ath(&method, &url, ath)
                    .await
                    .map(Value::from);
                state.done(page, id, result);
            }),
            FromPage::Pong => {
                if let Some(flight) = self.pongs.borrow_mut().remove(&page) {
                    flight.finish(Ok(()));
                }
            }
            FromPage::Hello { .. } => {}
        }
    }

    /// A page's lock went free: it closed or crashed, or a page of the origin stole and let go
    /// of its lock (any can, `navigator.locks.query()` names them all). A page that still
    /// answers is kept and watched again (issue 20, finding 5).
    fn page_lock_freed(self: &Rc<Self>, page: u32, lock: String) {
        let flight = Flight::<()>::new();
        self.pongs.borrow_mut().insert(page, flight.clone());
        let sent = self.send(page, &ToPage::Ping.to_text());
        let state = self.clone();
        super::task::spawn(async move {
            let answered = sent
                && flight
                    .wait(Some(i64::from(host::WORKER_START_MS)))
                    .await
                    .is_some();
            state.pongs.borrow_mut().remove(&page);
            if answered {
                state.watch_page(page, lock);
            } else {
                state.page_gone(page);
            }
        });
    }

    fn watch_page(self: &Rc<Self>, page: u32, lock: String) {
        let weak = Rc::downgrade(self);
        let name = lock.clone();
        tabs::when_free(&name, move || {
            if let Some(state) = weak.upgrade() {
                state.page_lock_freed(page, lock);
            }
        });
    }

    fn done(&self, page: u32, id: String, result: Res<Value>) {
        let message = ToPage::Done {
            id,
            result: result.map_err(|e| e.to_json()),
        };
        self.send(page, &message.to_text());
    }

    fn refuse(&self, page: u32, e: &Error) {
        let message = ToPage::Welcome {
            result: Err(e.to_json()),
        };
        self.send(page, &message.to_text());
    }

    /// A page joins: the session for its issuer and client id (made now if there is none), if
    /// its package version and configuration are the session's.
    async fn hello(self: &Rc<Self>, page: u32, hello: FromPage) {
        let FromPage::Hello {
            version,
            config,
            lock,
            signer,
            alg,
            kid,
        } = hello
        else {
            return;
        };
        if self
            .pages
            .borrow()
            .get(&page)
            .is_none_or(|p| p.session.is_some())
        {
            return;
        }
        if version != env!("CARGO_PKG_VERSION") {
            self.refuse(
                page,
                &Error::config(format!(
                    "this session host runs helseid-wasm {}, the page {version}",
                    env!("CARGO_PKG_VERSION")
                )),
            );
            return;
        }
        let (Some(issuer), Some(client_id)) = (config.string("issuer"), config.string("clientId"))
        else {
            self.refuse(page, &Error::config("issuer and clientId are required"));
            return;
        };
        let key_name = host::session_key(&issuer, &client_id);
        // Another page is making this session: wait for it.
        let starting = self.starting.borrow().get(&key_name).cloned();
        if let Some(flight) = starting {
            let _ = flight.wait(None).await;
        }
        let mut existing = self.sessions.borrow().get(&key_name).cloned();
        if let Some(s) = existing.clone() {
            if !host::same_session_config(&s.config, &config) {
                if s.has_live_pages().await {
                    self.refuse(
                        page,
                        &Error::config(
                            "another open page of this app runs the session with another config; use one config in every page",
                        ),
                    );
                    return;
                }
                // Only the worker kept it alive (a deploy changed the config): start afresh.
                s.retire();
                self.sessions.borrow_mut().remove(&key_name);
                existing = None;
            }
        }
        let session = match existing {
            Some(s) => s,
            None => {
                let flight = Flight::<()>::new();
                self.starting
                    .borrow_mut()
                    .insert(key_name.clone(), flight.clone());
                let made = self
                    .make_session(&config, signer, alg, kid, &issuer, &client_id)
                    .await;
                self.starting.borrow_mut().remove(&key_name);
                flight.finish(Ok(()));
                match made {
                    Ok(s) => {
                        self.sessions
                            .borrow_mut()
                            .insert(key_name.clone(), s.clone());
                        s
                    }
                    Err(e) => {
                        self.refuse(page, &e);
                        return;
                    }
                }
            }
        };
        if let Some(p) = self.pages.borrow_mut().get_mut(&page) {
            p.session = Some(key_name.clone());
        }
        session.pages.borrow_mut().push(page);
        session.page_locks.borrow_mut().insert(page, lock.clone());
        if signer != SignerKind::None {
            if let Some(signers) = &session.signers {
                signers.order.borrow_mut().add(page);
                signers.locks.borrow_mut().insert(page, lock.clone());
            }
        }
        // The page's lock is freed when it closes or crashes (a port has no close event).
        self.watch_page(page, lock);
        // The view first: the page takes it in before its create() resolves on the welcome.
        if let Some(text) = session.inner.host_view() {
            self.send(page, &text);
        }
        let welcome = ToPage::Welcome {
            result: Ok(session.inner.auth_server.metadata.to_json()),
        };
        self.send(page, &welcome.to_text());
    }

    async fn make_session(
        self: &Rc<Self>,
        config_json: &Value,
        signer: SignerKind,
        alg: Option<String>,
        kid: Option<String>,
        issuer: &str,
        client_id: &str,
    ) -> Res<Rc<HostSession>> {
        let method = match signer {
            SignerKind::Key => ClientAuthMethod::PrivateKeyJwt {
                alg: alg
                    .clone()
                    .ok_or_else(|| Error::config("clientAuth.alg is missing"))?,
                kid: kid.clone(),
            },
            SignerKind::Provider => ClientAuthMethod::AssertionProvider,
            SignerKind::None => ClientAuthMethod::None,
        };
        let config = Config::from_value(config_json, method, js::random16)?;
        let metadata = auth_server::discover(&config).await?;
        crate::core::authorize::check_par_mode(&config, &metadata)?;
        // The pages sign the client assertions, each with its own getAssertion or key (no
        // engine clones a CryptoKey into a worker reliably; WebKit drops the message).
        let signers = (signer != SignerKind::None).then(|| {
            Rc::new(PageSigners {
                host: Rc::downgrade(self),
                order: RefCell::new(Signers::default()),
                locks: RefCell::new(VecMap::new()),
                pending: RefCell::new(VecMap::new()),
                timeout_seconds: config.assertion_timeout_seconds,
            })
        });
        let auth_signer = match &signers {
            Some(pages) => Signer::Pages(pages.clone()),
            None => Signer::None,
        };
        let engine = Engine::new(config.clone(), js::random_token()?);
        let inner = Inner::new(engine, AuthServer::new(config, metadata, auth_signer));
        let session = Rc::new(HostSession {
            config: config_json.clone(),
            inner: inner.clone(),
            pages: RefCell::new(Vec::new()),
            page_locks: RefCell::new(VecMap::new()),
            signers,
            lock: tabs::HeldLock::hold(&host::host_lock(
                env!("CARGO_PKG_VERSION"),
                issuer,
                client_id,
            ))
            .0,
        });
        let weak_state = Rc::downgrade(self);
        let key_name = host::session_key(issuer, client_id);
        *inner.host_pages.borrow_mut() = Some(Box::new(move |text: &str| {
            if let Some(state) = weak_state.upgrade() {
                state.broadcast(&key_name, text);
            }
        }));
        // The DPoP key lives in this worker (in IndexedDB too from a login's PAR to its code
        // exchange, where the engine can store it from a worker).
        inner.auth_server.dpop.set_home(super::dpop::KeyHome::Host);
        if let Ok(Some(dpop)) = inner.auth_server.dpop.load(false).await {
            inner.handle_input(Input::DpopKey(Some(dpop.jkt.clone())));
        }
        Ok(session)
    }

    fn broadcast(&self, session: &str, text: &str) {
        let pages = match self.sessions.borrow().get(session) {
            Some(s) => s.pages.borrow().clone(),
            None => return,
        };
        for page in pages {
            self.send(page, text);
        }
    }

    /// A page closed or crashed: it gets nothing more, and it signs nothing more.
    fn page_gone(&self, page: u32) {
        let Some(entry) = self.pages.borrow_mut().remove(&page) else {
            return;
        };
        entry.port.close();
        let session = entry
            .session
            .and_then(|key| self.sessions.borrow().get(&key).cloned());
        if let Some(session) = session {
            session.pages.borrow_mut().retain(|p| *p != page);
            session.page_locks.borrow_mut().remove(&page);
            if let Some(signers) = &session.signers {
                signers.order.borrow_mut().remove(page);
                signers.locks.borrow_mut().remove(&page);
            }
        }
    }
}

/// Whether `lock` is held now, or again within `LOCK_RECHECK_MS` (a stolen lock's owner asks for
/// it anew). Without Web Locks: assumed held.
async fn lock_still_held(lock: &str) -> bool {
    for attempt in 0..2 {
        if attempt > 0 {
            let _ =
                wasm_bindgen_futures::JsFuture::from(super::timer::sleep(limits::LOCK_RECHECK_MS))
                    .await;
        }
        match tabs::held_locks().await {
            None => return true,
            Some(held) if held.iter().any(|n| n == lock) => return true,
            Some(_) => {}
        }
    }
    false
}
