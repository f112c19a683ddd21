//! The runtime of one client (a tab, or the session host in its worker): the engine (every
//! decision), and the I/O that carries out its actions. A refresh, followed from start to end:
//! 1. `getAccessToken()` asks [`Inner::access_token`], which calls the engine with
//!    `Input::Token` ([`Inner::call`]).
//! 2. The engine's reply, its last action, is `Action::Refresh(ticket)` (or `Wait`, `Busy`,
//!    `AskHolder`, `Answer`).
//! 3. [`Inner::run_ticket`] keeps the promise of the ticket's flight (the engine's id) for
//!    those who wait, and POSTs it (`dpop_send`: a new assertion and DPoP proof per attempt,
//!    the nonce retry).
//! 4. The answer goes in as `Input::TokenResponse`: the engine rotates the refresh token and
//!    checks `token_type`; its `Action::Verify` has the shell verify the signatures
//!    (WebCrypto), which go in as `Input::Verified`: the engine checks every claim.
//! 5. [`Inner::carry_out`] carries out the actions: announce to the tabs, fire
//!    `tokenRefreshed`, `Reschedule` the timer when the engine says so, and last
//!    `Action::Landed`: the flight's waiters get its outcome. The shell reads the engine's state
//!    (the session, a cached token) but asks it nothing else: every change is an `Input`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::Function;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::auth_server::{AuthServer, Purpose};
use super::flight::Flight;
use super::js;
use super::tabs::Tabs;
use super::timer::Timeout;
use crate::core::assertion::AsRequest;
use crate::core::engine::{
    Action, AppEvent, EndReason, Engine, FlightId, Input, RefreshCause, Ticket,
};
use crate::core::logout;
use crate::core::secret::{AccessToken, RefreshToken};
use crate::core::tab_message::TabMessage;
use crate::core::token::TokenType;
use crate::core::vecmap::VecMap;
use crate::core::{Error, ErrorCode};

pub type Res<T> = Result<T, Error>;

pub const EVENTS: [&str; 6] = [
    "tokenRefreshed",
    "sessionExpired",
    "loggedOut",
    "contextChanged",
    "contextExpired",
    "userChanged",
];

/// The session host's way to post to every page of one session.
pub type Broadcast = Box<dyn Fn(&str)>;

pub struct Inner {
    pub engine: RefCell<Engine>,
    pub auth_server: AuthServer,
    pub tabs: RefCell<Option<Tabs>>,
    timer: RefCell<Option<Timeout>>,
    listeners: RefCell<Vec<(u32, String, Function)>>,
    next_listener: Cell<u32>,
    /// The promise of each flight the engine has under way (a token request, or a question to
    /// the holder), by the engine's id: what the waiters wait for, and nothing more.
    pub(super) flights: RefCell<VecMap<FlightId, Rc<Flight>>>,
    /// Questions to the holder, by id.
    pub(super) asks: RefCell<VecMap<String, Rc<Flight>>>,
    /// `end` notices from holders, acted on when the holder's lock is free.
    pub(super) end_notices: RefCell<VecMap<String, EndReason>>,
    pub(super) inbox: RefCell<VecDeque<Value>>,
    pub(super) reading: Cell<bool>,
    /// Resolved when this tab first holds or follows a session.
    pub(super) joined: RefCell<Rc<Flight>>,
    pub disposed: Cell<bool>,
    /// Open national portal sessions this tab opened.
    pub(super) portals: RefCell<Vec<super::portal::PortalRef>>,
    /// Work the page must finish before it leaves at logout: revocations (a late refresh
    /// token, a grant that yielded) and the end notice to the other tabs.
    pub(super) pending: RefCell<Vec<Rc<Flight>>>,
    /// A follower whose holder's lock was freed: the holder it asked whether it is still
    /// there, and the flight its next view settles.
    /// (`true`: a view came; `false`: its signed end notice came.)
    pub(super) holder_alive: RefCell<Option<(String, Rc<Flight<bool>>)>>,
    /// A page of a session host: its port to the host (host_link.rs).
    pub(super) host: RefCell<Option<Rc<super::host_link::HostPort>>>,
    /// A page of a session host: its requests to the host, by id.
    pub(super) host_asks: RefCell<VecMap<String, Rc<Flight<Value>>>>,
    /// The session host itself: posts to every page of this session (host.rs).
    pub(super) host_pages: RefCell<Option<Broadcast>>,
    /// What the engine last said of the holder lock ([`Action::Locks`]): held here, watched.
    locks: Cell<(bool, bool)>,
}

pub fn now() -> i64 {
    js::now_seconds()
}

impl Inner {
    pub fn new(engine: Engine, auth_server: AuthServer) -> Rc<Inner> {
        Rc::new(Inner {
            engine: RefCell::new(engine),
            auth_server,
            tabs: RefCell::new(None),
            timer: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            next_listener: Cell::new(1),
            flights: RefCell::new(VecMap::new()),
            asks: RefCell::new(VecMap::new()),
            end_notices: RefCell::new(VecMap::new()),
            inbox: RefCell::new(VecDeque::new()),
            reading: Cell::new(false),
            joined: RefCell::new(Flight::new()),
            disposed: Cell::new(false),
            portals: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            holder_alive: RefCell::new(None),
            host: RefCell::new(None),
            host_asks: RefCell::new(VecMap::new()),
            host_pages: RefCell::new(None),
            locks: Cell::new((false, false)),
        })
    }

    /// Whether this is the session host (in its worker).
    pub fn is_host(&self) -> bool {
        self.host_pages.borrow().is_some()
    }

    /// Where `storage: "session"` kept a holder's record before it was retired.
    pub fn record_key(&self) -> String {
        let c = &self.auth_server.config;
        format!("helseid-wasm:session:{}:{}", c.issuer, c.client_id)
    }

    /// To the other tabs (page mode), or from the host to every page of its session.
    pub fn post(&self, message: &Value) {
        if let Some(tabs) = &*self.tabs.borrow() {
            tabs.post(message);
        }
        if let Some(broadcast) = &*self.host_pages.borrow() {
            broadcast(&message.to_string());
        }
    }

    // ---- events --------------------------------------------------------------------------

    pub fn subscribe(&self, event: String, callback: Function) -> u32 {
        let id = self.next_listener.get();
        self.next_listener.set(id + 1);
        self.listeners.borrow_mut().push((id, event, callback));
        id
    }

    pub fn unsubscribe(&self, id: u32) {
        self.listeners.borrow_mut().retain(|(i, _, _)| *i != id);
    }

    pub fn clear_listeners(&self) {
        self.listeners.borrow_mut().clear();
    }

    fn emit(&self, name: &str, detail: &JsValue) {
        let listeners: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(_, e, _)| e == name)
            .map(|(_, _, f)| f.clone())
            .collect();
        for f in listeners {
            // A listener that throws must not break the library.
            let _ = f.call1(&JsValue::NULL, detail);
        }
    }

    pub fn session_js(&self) -> JsValue {
        match self.engine.borrow().session() {
            Some(session) => js::json_to_js(&session.to_json()),
            None => JsValue::NULL,
        }
    }

    // ---- carrying out the engine's actions ------------------------------------------------

    /// What happened, into the engine ([`Engine::handle`]), and its actions carried out.
    pub fn handle_input(self: &Rc<Self>, input: Input) {
        let actions = self.engine.borrow_mut().handle(input, now());
        self.carry_out(actions);
    }

    /// An app call into the engine ([`Input::Token`], [`Input::SetContext`], a token response):
    /// its actions carried out but the last, which is returned: the reply for the caller
    /// ([`Action::is_last`]).
    pub(super) fn call(self: &Rc<Self>, input: Input) -> Option<Action> {
        let mut actions = self.engine.borrow_mut().handle(input, now());
        let reply = actions.pop();
        self.carry_out(actions);
        reply
    }

    /// Another tab's view into the engine ([`Input::View`]): its reply, the view to verify
    /// and whether to read the DPoP key again first, if it is worth verifying.
    pub(super) fn read_view(
        self: &Rc<Self>,
        view: Value,
        from_host: bool,
    ) -> Option<(crate::core::engine::Remote, bool)> {
        let mut actions = self
            .engine
            .borrow_mut()
            .handle(Input::View { view, from_host }, now());
        let reply = match actions.last() {
            Some(Action::VerifyView(..)) => actions.pop(),
            _ => None,
        };
        self.carry_out(actions);
        match reply {
            Some(Action::VerifyView(remote, load_key)) => Some((remote, load_key)),
            _ => None,
        }
    }

    pub(super) fn carry_out(self: &Rc<Self>, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Refresh(ticket) => {
                    let inner = self.clone();
                    super::task::spawn(async move {
                        let _ = inner.run_ticket(ticket).await;
                    });
                }
                // Only ever the reply to a token response (run_ticket verifies it) or to a view
                // (read_view).
                Action::Verify(..) | Action::VerifyView(..) => {}
                // The last action of its input; its waiters go on in a later microtask, once
                // the rest (the locks included) is carried out.
                Action::Landed(id, outcome) => self.landed(id, outcome),
                Action::AskHolder(ask) => {
                    let inner = self.clone();
                    super::task::spawn(async move {
                        let _ = inner.ask_holder(&ask).await;
                    });
                }
                // Replies: [`Inner::call`] hands them to the caller.
                Action::Answer(_)
                | Action::Wait(_)
                | Action::Busy(_)
                | Action::Leave(_)
                | Action::Settled(_) => {}
                Action::Emit(event) => self.emit_event(event),
                Action::Announce => self.announce(),
                Action::AnnounceEnd(reason, _) if self.is_host() => {
                    // The pages' ports are private to the host: no proof is needed.
                    let holder = self.engine.borrow().id().to_string();
                    let reason = reason.wire().to_string();
                    self.post(
                        &TabMessage::End {
                            holder,
                            reason,
                            proof: None,
                        }
                        .to_json(),
                    );
                }
                // Signed with the session's key over its last token: the other tabs can tell
                // this notice from a forged one.
                Action::AnnounceEnd(reason, last_token) => {
                    let holder = self.engine.borrow().id().to_string();
                    self.post_signed(holder, Some(reason), last_token);
                }
                // Signed with the session's key over its token: a plain message from another
                // page cannot end the session. A page of a session host leaves it to the host.
                Action::AskLogout { holder, token } if self.host().is_none() => {
                    self.post_signed(holder, None, Some(token))
                }
                Action::AskLogout { .. } => {}
                Action::Revoke(rt) => {
                    // logout() waits for these before the browser leaves.
                    let flight = Flight::new();
                    self.pending.borrow_mut().push(flight.clone());
                    let inner = self.clone();
                    super::task::spawn(async move {
                        inner.revoke(rt).await;
                        flight.finish(Ok(()));
                    });
                }
                // Open portal sessions end with the tokens they last used, before the DPoP key
                // goes (their proofs need it).
                Action::EndSession { forget_key } => {
                    let inner = self.clone();
                    super::task::spawn(async move {
                        inner.end_portals(true).await;
                        if forget_key {
                            inner.auth_server.dpop.forget().await;
                        }
                    });
                }
                Action::Reschedule(delay) => self.schedule(delay),
                Action::Locks { hold, watch } => {
                    self.locks.set((hold, watch));
                    self.sync_locks();
                }
            }
        }
        if self.engine.borrow().has_session() {
            self.joined.borrow().finish(Ok(()));
        }
    }

    /// Posts the holder's end notice (`end`) or a follower's logout request to `holder`, signed
    /// with the session's DPoP key over `token` (spawned before the key is forgotten; a logout
    /// request only with its proof). logout() waits for it before the browser leaves.
    fn post_signed(
        self: &Rc<Self>,
        holder: String,
        end: Option<EndReason>,
        token: Option<crate::core::secret::AccessToken>,
    ) {
        let flight = Flight::new();
        self.pending.borrow_mut().push(flight.clone());
        let inner = self.clone();
        super::task::spawn(async move {
            let htu = match end {
                Some(reason) => crate::core::dpop::end_htu(&holder, reason.wire()),
                None => crate::core::dpop::logout_htu(&holder),
            };
            let proof = match &token {
                Some(t) => inner
                    .auth_server
                    .dpop
                    .proof("POST", &htu, Some(t.expose()))
                    .await
                    .ok(),
                None => None,
            };
            let message = match (end, proof) {
                (Some(reason), proof) => Some(TabMessage::End {
                    holder,
                    reason: reason.wire().to_string(),
                    proof,
                }),
                (None, Some(proof)) => Some(TabMessage::Logout { proof: Some(proof) }),
                (None, None) => None,
            };
            if let Some(message) = message {
                inner.post(&message.to_json());
            }
            flight.finish(Ok(()));
        });
    }

    /// The `Session` with the event's `cause` (API.md `tokenRefreshed`, `contextChanged`).
    fn session_with_cause(&self, cause: RefreshCause) -> JsValue {
        let detail = self.session_js();
        if detail.is_object() {
            let _ = js_sys::Reflect::set(
                &detail,
                &JsValue::from_str("cause"),
                &JsValue::from_str(cause.as_str()),
            );
        }
        detail
    }

    fn emit_event(self: &Rc<Self>, event: AppEvent) {
        match event {
            AppEvent::TokenRefreshed { resource, cause } => {
                self.emit("tokenRefreshed", &self.session_with_cause(cause));
                self.refresh_portals(&resource);
            }
            AppEvent::ContextChanged { cause } => {
                self.emit("contextChanged", &self.session_with_cause(cause))
            }
            AppEvent::ContextExpired => self.emit("contextExpired", &JsValue::UNDEFINED),
            AppEvent::SessionExpired => self.emit("sessionExpired", &JsValue::UNDEFINED),
            AppEvent::LoggedOut => self.emit("loggedOut", &JsValue::UNDEFINED),
            AppEvent::UserChanged(view) => {
                self.emit("userChanged", &js::json_to_js(&view.to_json()))
            }
        }
    }

    /// Tells the other tabs what this holder's session looks like now (and the DPoP nonces,
    /// so the next request anywhere needs no challenge).
    pub fn announce(&self) {
        if let Some(broadcast) = &*self.host_pages.borrow() {
            if let Some(text) = self.host_view() {
                broadcast(&text);
            }
            return;
        }
        let view = self.engine.borrow().shared_view();
        if let Some(view) = view {
            let nonces = self.auth_server.dpop.nonces_json();
            let nonces = Some(nonces).filter(Value::is_object);
            self.post(&TabMessage::View { view, nonces }.to_json());
        }
    }

    /// The session host's view for its pages, with the DPoP key's thumbprint (the tokens'
    /// `cnf.jkt`; the key itself stays in the host).
    pub fn host_view(&self) -> Option<String> {
        let mut view = self.engine.borrow().shared_view()?;
        view["dpopJkt"] = self.auth_server.dpop.jkt().map_or(Value::Null, Value::from);
        let message = crate::core::host::ToPage::View {
            view,
            nonces: self.auth_server.dpop.nonces_json(),
        };
        Some(message.to_text())
    }

    /// RFC 7009: best effort; the session is gone here whatever the answer.
    pub async fn revoke(&self, refresh_token: RefreshToken) {
        let Some(endpoint) = self.auth_server.metadata.revocation_endpoint.clone() else {
            return;
        };
        let body = logout::revocation_params(&refresh_token, &self.auth_server.config.client_id);
        let purpose = Purpose {
            request: AsRequest::Revocation,
            details: None,
        };
        let _ = self.auth_server.post(&endpoint, &body, &purpose).await;
    }

    /// Whether the engine said that this tab holds the session ([`Action::Locks`]).
    pub(super) fn holds_session(&self) -> bool {
        self.locks.get().0
    }

    /// The holder lock as the engine last said ([`Action::Locks`]): the holder keeps it; a
    /// follower watches it (again, after a holder that was asked answered).
    pub(super) fn sync_locks(self: &Rc<Self>) {
        let (is_holder, watch) = self.locks.get();
        if let Some(host) = self.host() {
            // A page of a session host watches the host's lock: it is free once the host is gone.
            if watch {
                let weak = Rc::downgrade(self);
                host.watch(move || {
                    if let Some(inner) = weak.upgrade() {
                        inner.host_lock_freed();
                    }
                });
            }
            return;
        }
        let tabs = self.tabs.borrow();
        let Some(tabs) = tabs.as_ref() else { return };
        if is_holder {
            tabs.hold(false);
        } else if tabs.holds() {
            tabs.release();
        }
        if watch {
            let weak = Rc::downgrade(self);
            tabs.watch(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.holder_freed();
                }
            });
        }
    }

    /// The holder's lock is free: it ended its session (its notice says how), or its tab went,
    /// or another page stole and released the lock (any page of the origin can): the holder
    /// is asked whether it is still there before it is taken for gone (issue 20, finding 5).
    fn holder_freed(self: &Rc<Self>) {
        if let Some(tabs) = &*self.tabs.borrow() {
            tabs.watch_ended();
        }
        let holder = self.engine.borrow().followed_holder().map(String::from);
        let Some(holder) = holder else { return };
        if let Some(reason) = self.end_notices.borrow_mut().remove(&holder) {
            self.holder_is_gone(&holder, Some(reason));
            return;
        }
        let alive = Flight::<bool>::new();
        *self.holder_alive.borrow_mut() = Some((holder.clone(), alive.clone()));
        self.post(&TabMessage::Hello.to_json());
        let inner = self.clone();
        super::task::spawn(async move {
            let answered = matches!(
                alive
                    .wait(Some(i64::from(crate::core::host::WORKER_START_MS)))
                    .await,
                Some(Ok(true))
            );
            inner.holder_alive.borrow_mut().take();
            if answered {
                // Still there: watch its lock again.
                inner.sync_locks();
            } else {
                inner.holder_is_gone(&holder, None);
            }
        });
    }

    fn holder_is_gone(self: &Rc<Self>, holder: &str, reason: Option<EndReason>) {
        // Its end notice may have come while it was asked whether it is still there.
        let reason = reason.or_else(|| self.end_notices.borrow_mut().remove(holder));
        // Questions to it will not be answered.
        let asks: Vec<Rc<Flight>> = self.asks.borrow().values().cloned().collect();
        for flight in asks {
            flight.finish(Err(Error::new(
                ErrorCode::LoginRequired,
                "the tab that held the session is gone; log in again",
            )));
        }
        self.handle_input(Input::HolderEnded {
            holder: holder.to_string(),
            reason,
        });
    }

    /// Another page stole the holder lock: take it back (queued until the thief lets go) and
    /// show the followers that this holder is alive.
    pub fn lock_stolen(self: &Rc<Self>) {
        if self.holds_session() {
            if let Some(tabs) = &*self.tabs.borrow() {
                tabs.hold(false);
            }
            self.announce();
        }
    }

    // ---- timer ----------------------------------------------------------------------------

    /// [`Action::Reschedule`]: [`Input::Timer`] in `delay` seconds, or never.
    fn schedule(self: &Rc<Self>, delay: Option<i64>) {
        if self.disposed.get() {
            *self.timer.borrow_mut() = None;
            return;
        }
        let weak = Rc::downgrade(self);
        *self.timer.borrow_mut() = delay.map(|secs| {
            Timeout::new(secs * 1000, move || {
                if let Some(inner) = weak.upgrade() {
                    inner.handle_input(Input::Timer);
                }
            })
        });
    }

    pub fn stop_timer(&self) {
        *self.timer.borrow_mut() = None;
    }

    // ---- token requests -------------------------------------------------------------------

    /// One token request (a refresh, a switch's, a login's code exchange): POST, then the
    /// engine's actions (rotation and `token_type`, the signatures verified by WebCrypto, every
    /// claim) until its flight lands. Callers who wait for its flight share its outcome.
    pub async fn run_ticket(self: &Rc<Self>, ticket: Ticket) -> Res<()> {
        let flight = self.flight(ticket.id);
        let purpose = Purpose {
            request: ticket.request(),
            details: ticket.details.as_deref(),
        };
        let endpoint = self.auth_server.metadata.token_endpoint.clone();
        let answer = self
            .auth_server
            .post(&endpoint, &ticket.body, &purpose)
            .await
            .map(|r| (r.status, r.body));
        match self.call(Input::TokenResponse { ticket, answer }) {
            Some(Action::Verify(ticket, response)) => {
                let signed = self.auth_server.verify_response(&response).await;
                self.handle_input(Input::Verified {
                    ticket,
                    response,
                    signed,
                });
            }
            Some(Action::Landed(id, outcome)) => self.landed(id, outcome),
            _ => {}
        }
        flight.wait(None).await.unwrap_or(Ok(()))
    }

    /// The promise of the engine's flight `id` (made at its start, or by its first waiter when
    /// the timer's task has not started it yet).
    pub(super) fn flight(&self, id: FlightId) -> Rc<Flight> {
        let mut flights = self.flights.borrow_mut();
        if let Some(flight) = flights.get(&id) {
            return flight.clone();
        }
        let flight = Flight::new();
        flights.insert(id, flight.clone());
        flight
    }

    /// The flight `id` is over (the engine settled it first): its waiters get its outcome.
    pub(super) fn landed(&self, id: FlightId, outcome: Res<()>) {
        let flight = self.flights.borrow_mut().remove(&id);
        if let Some(flight) = flight {
            flight.finish(outcome);
        }
    }

    /// Waits for the engine's flight `id` ([`Action::Wait`], [`Action::Busy`]: the engine names
    /// only flights under way, and each lands once).
    pub async fn wait_for(&self, id: FlightId) -> Res<()> {
        self.flight(id).wait(None).await.unwrap_or(Ok(()))
    }

    /// A valid access token for `resource`: from the cache, after this tab's refresh, after
    /// another caller's, or from the holder.
    pub async fn access_token(
        self: &Rc<Self>,
        resource: Option<&str>,
        force: bool,
    ) -> Res<(AccessToken, TokenType)> {
        self.access_token_for(resource, force, None).await
    }

    /// [`Inner::access_token`] for another tab (`by`: its engine id, so that its
    /// `tokenRefreshed` says `call` there and `other-tab` elsewhere).
    pub async fn access_token_for(
        self: &Rc<Self>,
        resource: Option<&str>,
        force: bool,
        by: Option<String>,
    ) -> Res<(AccessToken, TokenType)> {
        if self.disposed.get() {
            return Err(Error::new(
                ErrorCode::LoginRequired,
                "the client was disposed",
            ));
        }
        let mut force = force;
        for _ in 0..crate::core::limits::TOKEN_CALL_STEPS {
            let call = Input::Token {
                resource: resource.map(String::from),
                force,
                by: by.clone(),
            };
            match self.call(call) {
                Some(Action::Answer(answer)) => return answer,
                Some(Action::Refresh(ticket)) => {
                    self.run_ticket(ticket).await?;
                    return self.fresh(resource);
                }
                Some(Action::Wait(id)) => self.wait_for(id).await?,
                Some(Action::AskHolder(ask)) => self.ask_holder(&ask).await?,
                Some(Action::Busy(id)) => {
                    // Another token's refresh holds the refresh token: ask again after it,
                    // whatever its outcome.
                    let _ = self.wait_for(id).await;
                    continue;
                }
                _ => {}
            }
            force = false;
            // The flight we waited for delivered a token: hand it out even when it is
            // already within the leeway (a short-lived token), rather than refresh again.
            if let Ok(token) = self.fresh(resource) {
                return Ok(token);
            }
        }
        self.fresh(resource)
    }

    /// [`Input::Fresh`]: the token after a flight landed.
    fn fresh(self: &Rc<Self>, resource: Option<&str>) -> Res<(AccessToken, TokenType)> {
        match self.call(Input::Fresh {
            resource: resource.map(String::from),
        }) {
            Some(Action::Answer(answer)) => answer,
            _ => Err(Error::new(ErrorCode::LoginRequired, "no session")),
        }
    }
}
