//! The session engine: every decision about a session's tokens, with no I/O. State and events
//! go in (a caller wants a token, a token response arrived, a timer fired, another tab spoke,
//! the user logs out); answers and [`Action`]s come out, and the shell carries them out
//! (fetch, sign, store, broadcast, timers). Time comes in as `now` (epoch seconds).
//!
//! One engine instance holds the grant (the refresh token and the ID token): the session
//! holder. Other tabs run engines without a grant: they hold verified access tokens and ask the
//! holder for fresh ones.
//!
//! Invariants (checked by `props.rs` over random event sequences):
//! - a token is handed out only if it has not expired and belongs to the context in force;
//! - at most one refresh is in flight (the refresh token rotates, so one per grant, and so
//!   one per token key), and none while the context is switching;
//! - the timer refreshes only the primary token and the tokens of resources kept fresh for an
//!   open portal session;
//! - after `logout()` nothing is handed out and no refresh starts.

mod ending;
mod login;
mod outputs;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod props;
mod responses;
mod switch;
#[cfg(test)]
mod tests;
mod timer;
mod views;

use serde_json::{Map, Value};

use super::config::Config;
use super::context::Context;
use super::error::{Error, ErrorCode, Result};
use super::helseid::HelseIdView;
use super::refresh;
use super::secret::{AccessToken, FormBody, IdToken, RefreshToken};
use super::session::Session;
use super::token::TokenType;
use super::vecmap::{VecMap, VecSet};

pub use outputs::{
    Action, AppEvent, Ask, Cause, EndReason, FlightId, Input, RefreshCause, Ticket, TicketKind,
};
pub use responses::Signed;
pub use timer::backoff_seconds;
pub use views::Remote;

/// Which token: one resource (RFC 8707; `""` when none is configured) under one context epoch.
/// A context switch starts a new epoch, so a token of the old context has another key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenKey {
    pub resource: String,
    pub epoch: u64,
}

/// A verified access token and what is known about it.
#[derive(Clone, Debug)]
pub struct CachedToken {
    pub token: AccessToken,
    pub token_type: TokenType,
    /// Epoch seconds, from `expires_in` (RFC 6749 §5.1), else the token's `exp`.
    pub expires_at: i64,
    /// The checked claims.
    pub claims: Map<String, Value>,
    pub scope: Vec<String>,
    /// Why the token was fetched, and which tab asked (`None`: the holder's own caller).
    pub cause: Cause,
    pub by: Option<String>,
}

/// What every tab of a session may know: no refresh token and no ID token.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The engine that holds the grant.
    pub holder: String,
    /// When the holder's login happened (epoch seconds): the newer login wins.
    pub since: i64,
    /// Grows with every change at the holder.
    pub generation: u64,
    /// The ID token's checked claims.
    pub id_claims: Map<String, Value>,
    pub tokens: VecMap<TokenKey, CachedToken>,
    /// The token `Session` shows and the timer keeps fresh.
    pub primary: TokenKey,
    pub epoch: u64,
    pub context: Option<Context>,
    /// When the context (and its attest) was set.
    pub context_since: i64,
    pub rejected_scope: Vec<String>,
}

/// The holder's secrets.
struct Grant {
    refresh_token: Option<RefreshToken>,
    id_token: Option<IdToken>,
}

/// Forced refreshes asked by other tabs (or the session host's pages) are bounded (issue 20,
/// finding 9: 30 forced `need`s in a second made 30 refreshes and 30 signed assertions).
pub use super::limits::{PEER_FORCE_BURST, PEER_FORCE_WINDOW_SECONDS};

pub struct Engine {
    config: Config,
    id: String,
    shared: Option<Shared>,
    grant: Option<Grant>,
    /// `logout()` ran here: nothing is handed out, late answers are revoked.
    logged_out: bool,
    /// Holders whose session ended: their late messages are ignored.
    ended_holders: VecSet<String>,
    /// The one registry of work under way: token requests per key, the switch (its token
    /// request, or its question to the holder), questions to the holder per key.
    in_flight: VecMap<TokenKey, FlightId>,
    switching: Option<(FlightId, TokenKey)>,
    asking: VecMap<TokenKey, FlightId>,
    next_flight: u64,
    /// Grows with every change this engine makes as a holder (never goes back, so the other
    /// tabs can order its announcements across logins).
    generation: u64,
    /// Per key, the refreshes (or questions to the holder) started since its last fresh token,
    /// and when the last one started: the timer waits [`backoff_seconds`] before the next.
    attempts: VecMap<TokenKey, (u32, i64)>,
    /// Resources whose tokens the timer keeps fresh besides the primary one: one entry per
    /// open portal session (API.md "Embedded national portals").
    kept: Vec<String>,
    dpop_jkt: Option<String>,
    context_expired_notified: bool,
    /// The holder stopped answering (its tab went away): no more refreshes.
    holder_gone: bool,
    /// A verified session of another user, kept for `adoptSession()`.
    other_user: Option<Shared>,
    actions: Vec<Action>,
    /// When other tabs' forced refreshes were honoured, per token ([`Engine::peer_force`]).
    peer_forces: VecMap<TokenKey, Vec<i64>>,
    /// What the shell was last told: the wake-up (epoch seconds) and the holder lock (held,
    /// and the holder whose lock is watched). [`Action::Reschedule`] and [`Action::Locks`] say only what changed.
    told_wakeup: Option<i64>,
    told_locks: (bool, Option<String>),
}

impl Engine {
    /// `id` names this instance when it holds a session (random, from the shell).
    pub fn new(config: Config, id: String) -> Engine {
        Engine {
            config,
            id,
            shared: None,
            grant: None,
            logged_out: false,
            ended_holders: VecMap::new(),
            in_flight: VecMap::new(),
            switching: None,
            asking: VecMap::new(),
            next_flight: 1,
            generation: 0,
            attempts: VecMap::new(),
            kept: Vec::new(),
            dpop_jkt: None,
            context_expired_notified: false,
            holder_gone: false,
            other_user: None,
            actions: Vec::new(),
            peer_forces: VecMap::new(),
            told_wakeup: None,
            told_locks: (false, None),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// What happened (at `now`), and what the shell does about it, in order: the reply to an
    /// app call, or a flight's landing, last ([`Action::is_last`]). The only way in: the shell
    /// reads state ([`Engine::session`], [`Engine::cached_token`]) but changes it only here.
    pub fn handle(&mut self, input: Input, now: i64) -> Vec<Action> {
        match input {
            Input::Timer => {
                // Its timer is spent: the next wake-up is told again, changed or not.
                self.told_wakeup = None;
                self.on_timer(now)
            }
            Input::AskSettled(ask, outcome) => {
                self.ask_settled(&ask, now);
                self.actions.push(Action::Landed(ask.id, outcome));
            }
            Input::Fresh { resource } => {
                let answer = self.fresh_token(resource.as_deref(), now);
                self.actions.push(Action::Answer(answer));
            }
            Input::CodeExchange { tx, code, dpop_jkt } => {
                let reply = self.login_ticket(&tx, &code, dpop_jkt).map(Action::Refresh);
                self.actions
                    .push(reply.unwrap_or_else(|e| Action::Settled(Err(e))));
            }
            Input::DpopKey(jkt) => self.dpop_jkt = jkt,
            Input::AdoptSession => {
                let outcome = self.adopt_other_user();
                self.actions.push(Action::Settled(outcome));
            }
            Input::HolderEnded { holder, reason } => self.holder_ended(&holder, reason),
            Input::PortalOpened(resource) => self.keep_fresh(resource.as_deref()),
            Input::PortalEnded(resource) => self.release(resource.as_deref()),
            Input::Token {
                resource,
                force,
                by,
            } => {
                // Another tab's forced refresh, when the token is brand new, is not made again.
                let force = match &by {
                    Some(tab) if *tab != self.id => {
                        self.peer_force(resource.as_deref(), force, now)
                    }
                    _ => force,
                };
                let reply = self.want_token(resource.as_deref(), force, now);
                self.reply(reply, by);
            }
            Input::SetContext {
                context,
                resource,
                by,
            } => {
                let reply = self.switch_context(context, resource.as_deref());
                self.reply(reply, by);
            }
            Input::TokenResponse { ticket, answer } => match self.on_response(&ticket, answer) {
                Ok(response) => self.actions.push(Action::Verify(ticket, response)),
                Err(e) => self.actions.push(Action::Landed(ticket.id, Err(e))),
            },
            Input::Verified {
                ticket,
                response,
                signed,
            } => {
                let id = ticket.id;
                let outcome = self.on_verified(ticket, response, signed, now);
                self.actions.push(Action::Landed(id, outcome));
            }
            Input::View { view, from_host } => self.read_view(&view, from_host),
            Input::ViewVerified { remote, signed } => {
                // A view that fails its checks is ignored: nothing to do.
                let _ = self.adopt(remote, signed, now);
            }
            Input::Logout {
                end_session_endpoint,
                state,
            } => self.logout(end_session_endpoint.as_deref(), state.as_deref()),
        }
        self.tell_changes(now);
        let actions = std::mem::take(&mut self.actions);
        #[cfg(test)]
        self.check_order(&actions);
        actions
    }

    /// What every test checks of every input's actions: the wake-up and the locks are told
    /// before the last actions, and a flight that landed is no longer under way (so the shell
    /// can keep a promise per flight with no other question to the engine).
    #[cfg(test)]
    fn check_order(&self, actions: &[Action]) {
        if let Some(first) = actions.iter().position(Action::is_last) {
            assert!(
                actions[first..].iter().all(Action::is_last),
                "told after the reply: {actions:?}"
            );
        }
        for action in actions {
            if let Action::Landed(id, _) = action {
                assert!(!self.is_flying(*id), "{id:?} landed but is still under way");
            }
        }
    }

    /// What the calls a test made directly left.
    #[cfg(test)]
    fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// The wake-up and the holder lock, when they changed, before the input's last action.
    fn tell_changes(&mut self, now: i64) {
        let keep = self
            .actions
            .iter()
            .rposition(|a| !a.is_last())
            .map_or(0, |i| i + 1);
        let last = self.actions.split_off(keep);
        let wakeup = self.wakeup_at(now);
        if wakeup != self.told_wakeup {
            self.told_wakeup = wakeup;
            let delay = wakeup.map(|at| (at - now).max(1));
            self.actions.push(Action::Reschedule(delay));
        }
        // A new holder followed is told too: the shell watches the lock again for it.
        let locks = (self.is_holder(), self.holder_to_watch().map(String::from));
        if locks != self.told_locks {
            self.actions.push(Action::Locks {
                hold: locks.0,
                watch: locks.1.is_some(),
            });
            self.told_locks = locks;
        }
        self.actions.extend(last);
    }

    /// An app call's reply, its last action; a token request it starts is made for `by`.
    fn reply(&mut self, reply: Result<Action>, by: Option<String>) {
        let reply = match reply {
            Ok(Action::Refresh(mut ticket)) => {
                if by.is_some() {
                    ticket.by = by;
                }
                Action::Refresh(ticket)
            }
            Ok(reply) => reply,
            Err(e) => Action::Answer(Err(e)),
        };
        self.actions.push(reply);
    }

    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    pub fn has_session(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether this engine holds the grant.
    pub fn is_holder(&self) -> bool {
        self.grant.is_some()
    }

    pub fn shared(&self) -> Option<&Shared> {
        self.shared.as_ref()
    }

    /// The key of `resource` in the context in force (`None`, the expected audience or the
    /// default resource: the default token).
    pub fn key(&self, resource: Option<&str>) -> TokenKey {
        let default = self.config.default_resource().unwrap_or("");
        let resource = match resource {
            Some(r) if Some(r) != self.config.expected_audience.as_deref() => r,
            _ => default,
        };
        TokenKey {
            resource: resource.to_string(),
            epoch: self.shared.as_ref().map_or(0, |s| s.epoch),
        }
    }

    /// API.md `Session`.
    pub fn session(&self) -> Option<Session> {
        let shared = self.shared.as_ref()?;
        let token = shared.tokens.get(&shared.primary)?;
        Some(Session {
            helseid: HelseIdView::from_claims(&shared.id_claims, &token.claims),
            id_token_claims: shared.id_claims.clone(),
            access_token_claims: token.claims.clone(),
            expires_at: token.expires_at,
            token_type: token.token_type.as_str().to_string(),
            scope: token.scope.clone(),
            context: shared.context.as_ref().map(Context::to_json),
            rejected_scope: shared.rejected_scope.clone(),
        })
    }

    /// API.md `context()`: the context in force (the configured one before a login).
    pub fn context(&self) -> Option<Value> {
        match &self.shared {
            Some(shared) => shared.context.as_ref().map(Context::to_json),
            None => self.config.context.as_ref().map(Context::to_json),
        }
    }

    fn attest_expired(&self, now: i64) -> bool {
        self.shared.as_ref().is_some_and(|s| {
            s.context.as_ref().is_some_and(Context::has_attest)
                && now
                    >= s.context_since
                        .saturating_add(self.config.attest_max_age_seconds)
        })
    }

    /// The details a token request for `resource` carries under `context`: the attest only
    /// while it is fresh, or when the API needs it (then the caller already refused).
    fn details(&self, context: Option<&Context>, resource: &str, now: i64) -> Option<Vec<Value>> {
        let context = context?;
        let with_attest = !self.attest_expired(now) || self.config.needs_attest(resource);
        Some(context.details(with_attest)).filter(|d| !d.is_empty())
    }

    fn resource_param(key: &TokenKey) -> Option<&str> {
        Some(key.resource.as_str()).filter(|r| !r.is_empty())
    }

    // ---- handing out tokens ----------------------------------------------------------------

    /// A valid access token for `resource` ([`Action::Answer`]), or what to do to get one
    /// ([`Input::Token`], the timer). A token is fresh while more than `refreshLeewaySeconds`
    /// remain.
    fn want_token(&mut self, resource: Option<&str>, force: bool, now: i64) -> Result<Action> {
        let Some(shared) = self.shared.as_ref().filter(|_| !self.logged_out) else {
            return Err(login_required("no session: log in first"));
        };
        if let Some((id, _)) = &self.switching {
            return Ok(Action::Wait(*id));
        }
        let key = self.key(resource);
        if self.config.needs_attest(&key.resource) && self.attest_expired(now) {
            return Err(context_expired());
        }
        if !force {
            if let Some(t) = shared.tokens.get(&key) {
                if t.expires_at - self.config.refresh_leeway_seconds > now {
                    return Ok(Action::Answer(Ok((t.token.clone(), t.token_type))));
                }
            }
        }
        if let Some(id) = self.in_flight.get(&key).or_else(|| self.asking.get(&key)) {
            return Ok(Action::Wait(*id));
        }
        if let Some(busy) = self.in_flight.values().next() {
            return Ok(Action::Busy(*busy));
        }
        let Some(grant) = &self.grant else {
            if self.holder_gone {
                // The tab that held the grant went away: nobody can refresh any more.
                self.end_session(EndReason::Expired);
                return Err(login_required(
                    "the tab that held the session is gone; log in again",
                ));
            }
            self.attempted(&key, now);
            let id = self.new_flight();
            self.asking.insert(key.clone(), id);
            return Ok(Action::AskHolder(Ask { id, key, force }));
        };
        let Some(refresh_token) = &grant.refresh_token else {
            // No refresh token (no offline_access): the session ends with its access token.
            self.end_session(EndReason::Expired);
            return Err(login_required(
                "the session has ended (no refresh token); log in again",
            ));
        };
        let body = refresh::refresh_params(
            refresh_token,
            &self.config.client_id,
            Self::resource_param(&key),
        );
        let context = shared.context.clone();
        let details = self.details(context.as_ref(), &key.resource, now);
        self.attempted(&key, now);
        let ticket = self.ticket(key, TicketKind::Refresh, body, details, context);
        Ok(Action::Refresh(ticket))
    }

    /// A refresh of `key` (or a question about it to the holder) starts now.
    fn attempted(&mut self, key: &TokenKey, now: i64) {
        let count = self.attempts.get(key).map_or(0, |(n, _)| *n);
        self.attempts
            .insert(key.clone(), (count.saturating_add(1), now));
    }

    /// Whether to honour `force` from another tab for `resource`: at most
    /// [`PEER_FORCE_BURST`] times per token in [`PEER_FORCE_WINDOW_SECONDS`].
    fn peer_force(&mut self, resource: Option<&str>, force: bool, now: i64) -> bool {
        if !force {
            return false;
        }
        let key = self.key(resource);
        if self.peer_forces.get(&key).is_none() {
            self.peer_forces.insert(key.clone(), Vec::new());
        }
        let Some(recent) = self.peer_forces.get_mut(&key) else {
            return false;
        };
        recent.retain(|at| now - at < PEER_FORCE_WINDOW_SECONDS);
        if recent.len() >= PEER_FORCE_BURST {
            return false;
        }
        recent.push(now);
        true
    }

    /// The answer [`Input::Token`] would give without starting anything: a fresh token for
    /// `resource`, or `None` (then ask [`Engine::handle`]). The hot path of `getAccessToken()`.
    pub fn cached_token(&self, resource: Option<&str>, now: i64) -> Option<&AccessToken> {
        let shared = self
            .shared
            .as_ref()
            .filter(|_| !self.logged_out && self.switching.is_none())?;
        let key = self.key(resource);
        if self.config.needs_attest(&key.resource) && self.attest_expired(now) {
            return None;
        }
        shared
            .tokens
            .get(&key)
            .filter(|t| t.expires_at - self.config.refresh_leeway_seconds > now)
            .map(|t| &t.token)
    }

    fn ticket(
        &mut self,
        key: TokenKey,
        kind: TicketKind,
        body: FormBody,
        details: Option<Vec<Value>>,
        context: Option<Context>,
    ) -> Ticket {
        let id = self.new_flight();
        if !matches!(kind, TicketKind::Login { .. }) {
            self.in_flight.insert(key.clone(), id);
        }
        let cause = match kind {
            TicketKind::Switch => Cause::Context,
            _ => Cause::Call,
        };
        Ticket {
            id,
            key,
            kind,
            body,
            details,
            context,
            cause,
            by: Some(self.id.clone()),
        }
    }

    fn new_flight(&mut self) -> FlightId {
        let id = FlightId(self.next_flight);
        self.next_flight += 1;
        id
    }

    /// Whether the token request or question to the holder `id` is still under way here. The
    /// engine names only flights under way in [`Action::Wait`] and [`Action::Busy`], and each
    /// lands once ([`Action::Landed`]): the shell needs no copy of this (`props.rs` checks).
    #[cfg(test)]
    fn is_flying(&self, id: FlightId) -> bool {
        self.in_flight.values().any(|f| *f == id)
            || self.asking.values().any(|f| *f == id)
            || self.switching.as_ref().is_some_and(|(f, _)| *f == id)
    }

    /// After a refresh: the token for `resource` in the context in force, if it has not
    /// expired (a refresh that gives a token already within the leeway still returns it).
    fn fresh_token(&self, resource: Option<&str>, now: i64) -> Result<(AccessToken, TokenType)> {
        let shared = self
            .shared
            .as_ref()
            .filter(|_| !self.logged_out)
            .ok_or_else(|| login_required("no session: log in first"))?;
        match shared.tokens.get(&self.key(resource)) {
            Some(t) if t.expires_at > now => Ok((t.token.clone(), t.token_type)),
            _ => Err(Error::new(
                ErrorCode::TokenRequestFailed,
                "no valid token for that resource",
            )),
        }
    }

    /// Forgets what belonged to the session that just ended or was replaced: refreshes in
    /// flight, a switch, questions to the holder, the backoff, the attest notice.
    fn forget_flights(&mut self) {
        self.in_flight.clear();
        self.switching = None;
        self.asking.clear();
        self.attempts.clear();
        self.context_expired_notified = false;
    }

    /// A follower's question to the holder `ask` was answered (or timed out). When it
    /// brought no fresh token, the timer asks again only after the backoff.
    fn ask_settled(&mut self, ask: &Ask, now: i64) {
        if self.asking.get(&ask.key) == Some(&ask.id) {
            self.asking.remove(&ask.key);
        }
        if self.switching.as_ref().is_some_and(|(id, _)| *id == ask.id) {
            self.switching = None;
        }
        if self.is_fresh(&ask.key, now) {
            self.attempts.remove(&ask.key);
        }
    }

    fn is_fresh(&self, key: &TokenKey, now: i64) -> bool {
        self.shared
            .as_ref()
            .and_then(|s| s.tokens.get(key))
            .is_some_and(|t| t.expires_at - self.config.refresh_leeway_seconds > now)
    }

    pub fn is_logged_out(&self) -> bool {
        self.logged_out
    }
}

/// A context's details as they go on the wire: none when there are none.
fn wire_details(context: Option<&Context>) -> Option<Vec<Value>> {
    context.map(|c| c.details(true)).filter(|d| !d.is_empty())
}

fn login_required(message: &str) -> Error {
    Error::new(ErrorCode::LoginRequired, message)
}

fn context_expired() -> Error {
    Error::new(
        ErrorCode::ContextExpired,
        "the trust-framework attest is older than attestMaxAgeSeconds; call setContext again",
    )
}
