//! The conversation between tabs. Messages (JSON on the BroadcastChannel):
//! - `hello`: a new tab asks; the holder answers with `view`.
//! - `view` {view, nonces}: the holder's session: access tokens and checked claims, never the
//!   refresh token or the ID token. A tab adopts it only after verifying every token.
//! - `need` {id, resource, force}, `context` {id, context, resource}, `logout` {id}: a
//!   follower's requests to the holder, answered by `done` {id, error} after the `view`.
//! - `end` {holder, reason}: the holder's session ended; acted on only once the holder's lock
//!   is free, so a forged one changes nothing.
//!
//! Messages are handled one at a time, in order, so a `done` never overtakes its `view`.

use std::rc::Rc;

use serde_json::Value;

use super::flight::Flight;
use super::js;
use super::runtime::{Inner, Res};
use super::tabs::Tabs;
use crate::core::context::Context;
use crate::core::engine::{Ask, EndReason, Input};
use crate::core::json::Read;
use crate::core::tab_message::TabMessage;
use crate::core::{Error, ErrorCode};

impl Inner {
    pub fn open_tabs(self: &Rc<Self>) {
        let c = &self.auth_server.config;
        let name = format!("helseid-wasm:session:{}:{}", c.issuer, c.client_id);
        let lock = format!("helseid-wasm:holder:{}:{}", c.issuer, c.client_id);
        let weak = Rc::downgrade(self);
        let tabs = Tabs::open(&name, lock, move |message| {
            if let Some(inner) = weak.upgrade() {
                inner.on_message(message);
            }
        });
        let weak = Rc::downgrade(self);
        tabs.on_stolen(move || {
            if let Some(inner) = weak.upgrade() {
                inner.lock_stolen();
            }
        });
        *self.tabs.borrow_mut() = Some(tabs);
        self.sync_locks();
    }

    fn on_message(self: &Rc<Self>, message: Value) {
        if self.disposed.get() {
            return;
        }
        self.inbox.borrow_mut().push_back(message);
        if !self.reading.replace(true) {
            let inner = self.clone();
            super::task::spawn(async move {
                loop {
                    let next = inner.inbox.borrow_mut().pop_front();
                    let Some(message) = next else { break };
                    inner.handle(message).await;
                }
                inner.reading.set(false);
            });
        }
    }

    async fn handle(self: &Rc<Self>, message: Value) {
        let Some(message) = TabMessage::read(&message) else {
            return;
        };
        // Requests for the holder: answered where the engine said to hold the session.
        if message.for_holder() && !self.holds_session() {
            return;
        }
        match message {
            TabMessage::Hello => self.announce(),
            TabMessage::View { view, nonces } => {
                if let Some(nonces) = &nonces {
                    self.auth_server.dpop.merge_nonces(nonces);
                }
                let from = view.str("holder");
                if let Some((holder, alive)) = &*self.holder_alive.borrow() {
                    if from == Some(holder.as_str()) {
                        alive.finish(Ok(true));
                    }
                }
                self.adopt_view(view).await;
            }
            TabMessage::Need {
                id,
                resource,
                force,
                by,
            } => {
                // Always another tab's (`by` names it, for its event), so always bounded.
                let inner = self.clone();
                super::task::spawn(async move {
                    let result = inner
                        .access_token_for(resource.as_deref(), force, Some(by))
                        .await
                        .map(|_| ());
                    inner.answer(id, result);
                });
            }
            TabMessage::Context {
                id,
                context,
                resource,
                by,
            } => {
                let inner = self.clone();
                super::task::spawn(async move {
                    let result = match Context::parse(&context, js::random16) {
                        Ok(context) => inner.switch_context_for(context, resource, Some(by)).await,
                        Err(e) => Err(e),
                    };
                    inner.answer(id, result);
                });
            }
            TabMessage::Logout { proof } => {
                let htu = crate::core::dpop::logout_htu(self.engine.borrow().id());
                let inner = self.clone();
                super::task::spawn(async move {
                    if inner.tab_proof_is_genuine(proof.as_deref(), &htu).await {
                        let _ = inner.logout_here(None).await;
                    }
                });
            }
            TabMessage::Done { id, error } => {
                let flight = self.asks.borrow_mut().remove(&id);
                if let Some(flight) = flight {
                    let outcome = match error {
                        // Never the sender's text (finding 6): any page can post a `done`.
                        Some(e) => Err(Error::from_peer_json(&e).unwrap_or_else(|| {
                            Error::new(ErrorCode::TokenRequestFailed, "the holder's request failed")
                        })),
                        None => Ok(()),
                    };
                    flight.finish(outcome);
                }
            }
            TabMessage::End {
                holder,
                reason,
                proof,
            } => self.on_end_notice(holder, &reason, proof.as_deref()).await,
        }
    }

    /// A message that must come from a tab of this session (a follower's logout request, the
    /// holder's end notice): a proof signed by the session's DPoP key (WebCrypto, with the key
    /// in its header), checked by the core against `htu` and this session's tokens.
    async fn tab_proof_is_genuine(&self, proof: Option<&str>, htu: &str) -> bool {
        let Some(decoded) = proof.and_then(|p| crate::core::jwt::decode(p).ok()) else {
            return false;
        };
        let (jkt, hashes) = {
            let e = self.engine.borrow();
            (e.dpop_jkt().map(String::from), e.token_hashes())
        };
        let Some(jkt) = jkt else { return false };
        if decoded.alg != crate::core::alg::DPOP
            || !crate::core::dpop::check_tab_proof(
                &decoded.header,
                &decoded.claims,
                htu,
                &jkt,
                super::runtime::now(),
                &hashes,
            )
        {
            return false;
        }
        let Some(jwk) = decoded.header.get("jwk") else {
            return false;
        };
        let Ok(key) = super::crypto::import_public_jwk(jwk, crate::core::alg::DPOP).await else {
            return false;
        };
        super::crypto::verify(
            crate::core::alg::DPOP,
            &key,
            &decoded.signature,
            decoded.signing_input.as_bytes(),
        )
        .await
        .unwrap_or(false)
    }

    fn answer(&self, id: Option<String>, result: Res<()>) {
        // A request without an id gets no answer anyone could match.
        let Some(id) = id else { return };
        let error = result.err().map(|e| e.to_json());
        self.post(&TabMessage::Done { id, error }.to_json());
    }

    /// The holder's notice that its session ended: taken only when it is signed by this
    /// session's key over one of its tokens, and acted on once the holder's lock is free.
    async fn on_end_notice(self: &Rc<Self>, holder: String, reason: &str, proof: Option<&str>) {
        let htu = crate::core::dpop::end_htu(&holder, reason);
        if !self.tab_proof_is_genuine(proof, &htu).await {
            return;
        }
        let reason = EndReason::from_wire(reason);
        let locks = self.tabs.borrow().as_ref().is_some_and(Tabs::has_locks);
        let gone = self.engine.borrow().holder_gone_for(&holder);
        // Its lock was just freed and it is being asked whether it is still there: this is
        // the answer.
        if let Some((asked, alive)) = &*self.holder_alive.borrow() {
            if *asked == holder {
                self.end_notices.borrow_mut().insert(holder.clone(), reason);
                alive.finish(Ok(false));
                return;
            }
        }
        if !locks || gone {
            // Without Web Locks, or once the lock is already free, the signed notice is enough.
            self.handle_input(Input::HolderEnded {
                holder,
                reason: Some(reason),
            });
        } else {
            self.end_notices.borrow_mut().insert(holder, reason);
        }
    }

    /// Another tab's view into the engine; if it is worth it, every token verified
    /// (WebCrypto, against the issuer's JWKS) and the engine checks and maybe adopts it.
    pub async fn adopt_view(self: &Rc<Self>, view: Value) {
        let Some((remote, load_key)) = self.read_view(view, false) else {
            return;
        };
        if load_key {
            let key = self.auth_server.dpop.load(true).await.ok().flatten();
            self.handle_input(Input::DpopKey(key.map(|k| k.jkt.clone())));
        }
        let mut signed = Vec::new();
        for token in remote.tokens() {
            let source = crate::core::jwk::TokenSource::Page;
            signed.push(
                self.auth_server
                    .verify_signature(token.expose(), source)
                    .await,
            );
        }
        self.handle_input(Input::ViewVerified { remote, signed });
    }

    /// A follower's question to the holder: a fresh token for `ask.key`.
    pub fn ask_holder<'a>(
        self: &'a Rc<Self>,
        ask: &'a Ask,
    ) -> impl std::future::Future<Output = Res<()>> + 'a {
        let need = TabMessage::Need {
            id: None,
            resource: Some(ask.key.resource.clone()).filter(|r| !r.is_empty()),
            force: ask.force,
            by: self.engine.borrow().id().to_string(),
        };
        self.request_holder(need.to_json(), ask)
    }

    /// Sends the engine's question `ask` to the holder (or the session host) as `message`, and
    /// waits for its `done` (bounded); then settles it in the engine, and for those who wait.
    pub async fn request_holder(self: &Rc<Self>, mut message: Value, ask: &Ask) -> Res<()> {
        self.flight(ask.id);
        let result = match js::random_token() {
            Err(e) => Err(e),
            Ok(id) => {
                message["id"] = Value::from(id.as_str());
                match self.host() {
                    Some(_) => self.host_answer(id, &message.to_string()).await.map(|_| ()),
                    None => {
                        // The holder's `done` for this message id.
                        let answer = Flight::new();
                        self.asks.borrow_mut().insert(id.clone(), answer.clone());
                        self.post(&message);
                        let timeout = (self.auth_server.config.http_timeout_seconds
                            + crate::core::limits::PEER_GRACE_SECONDS)
                            * 1000;
                        let result = answer.wait(Some(timeout)).await.unwrap_or_else(|| {
                            Err(Error::new(
                                ErrorCode::NetworkError,
                                "the tab holding the session did not answer in time",
                            ))
                        });
                        self.asks.borrow_mut().remove(&id);
                        result
                    }
                }
            }
        };
        self.handle_input(Input::AskSettled(ask.clone(), result.clone()));
        result
    }

    /// A new tab: if another tab holds a session, ask for it and wait (bounded) until it is
    /// adopted, so `create()` resolves with the session in place and no redirect.
    pub async fn join(self: &Rc<Self>) {
        let lock = self.tabs.borrow().as_ref().map(Tabs::holder_lock);
        let Some(lock) = lock else { return };
        if self.engine.borrow().has_session() || !super::tabs::is_held(&lock).await {
            return;
        }
        self.post(&TabMessage::Hello.to_json());
        let joined = self.joined.borrow().clone();
        let _ = joined
            .wait(Some(i64::from(crate::core::limits::ANSWER_MS)))
            .await;
    }
}
