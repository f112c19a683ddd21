//! Sessions across tabs. The holder announces a view of its session (access tokens, checked
//! claims, context; never the refresh token or the ID token). Another tab trusts nothing in
//! it until the shell verified each token's signature and [`Engine::adopt`] checked its claims
//! like a token response's (API.md "Security guarantees"). A different user never replaces
//! this tab's session silently.

use serde_json::{json, Map, Value};

use super::{Action, AppEvent, CachedToken, EndReason, Engine, Shared, TokenKey};
use crate::core::claims;
use crate::core::context::Context;
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::helseid::HelseIdView;
use crate::core::json::Read;
use crate::core::jwt::SignatureChecked;
use crate::core::secret::AccessToken;
use crate::core::token::TokenType;
use crate::core::vecmap::VecMap;

/// A view announced by another tab, not trusted yet.
#[derive(Debug)]
pub struct Remote {
    pub(super) holder: String,
    pub(super) since: i64,
    pub(super) generation: u64,
    pub(super) id_claims: Map<String, Value>,
    pub(super) primary: TokenKey,
    pub(super) epoch: u64,
    pub(super) context: Option<Context>,
    pub(super) context_since: i64,
    pub(super) rejected_scope: Vec<String>,
    /// Each token with what the view says of it; its claims come from the token itself.
    pub(super) tokens: Vec<RemoteToken>,
    /// From the session host, over the page's own port (no other page can post there): its
    /// ID token claims are the host's, which verified the ID token (OIDC Core §3.1.3.7).
    pub(super) from_host: bool,
}

/// A token as another tab's view (or this tab's saved record) describes it, before its claims
/// are read from the token.
#[derive(Debug)]
pub(super) struct RemoteToken {
    pub(super) key: TokenKey,
    pub(super) token: AccessToken,
    token_type: TokenType,
    expires_at: i64,
    scope: Vec<String>,
    cause: super::Cause,
    by: Option<String>,
}

impl RemoteToken {
    /// The cache entry, with the claims read (and checked, for a view) from the token. A view
    /// says when the token expires (from `expires_in`), but never later than its signed `exp`.
    pub(super) fn cached(self, claims: Map<String, Value>) -> (TokenKey, CachedToken) {
        let exp = claims.get("exp").and_then(Value::as_i64);
        let token = CachedToken {
            token: self.token,
            token_type: self.token_type,
            expires_at: exp.map_or(self.expires_at, |exp| self.expires_at.min(exp)),
            claims,
            scope: self.scope,
            cause: self.cause,
            by: self.by,
        };
        (self.key, token)
    }
}

impl Remote {
    /// The access tokens whose signatures the shell must verify, in order.
    pub fn tokens(&self) -> impl Iterator<Item = &AccessToken> {
        self.tokens.iter().map(|t| &t.token)
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The session this view describes, held by `holder` at `generation`, with `tokens` (the
    /// view's, once their claims are read).
    pub(super) fn into_shared(
        self,
        holder: String,
        generation: u64,
        tokens: VecMap<TokenKey, CachedToken>,
    ) -> Shared {
        Shared {
            holder,
            since: self.since,
            generation,
            id_claims: self.id_claims,
            tokens,
            primary: self.primary,
            epoch: self.epoch,
            context: self.context,
            context_since: self.context_since,
            rejected_scope: self.rejected_scope,
        }
    }
}

fn key_json(key: &TokenKey) -> Value {
    json!({ "resource": key.resource, "epoch": key.epoch })
}

fn read_key(value: &Value) -> Option<TokenKey> {
    Some(TokenKey {
        resource: value.string("resource")?,
        epoch: u64::try_from(value.i64("epoch")?).ok()?,
    })
}

/// The shared part of a session as JSON (for other tabs, and the holder's own record).
pub(super) fn shared_json(shared: &Shared) -> Value {
    let tokens: Vec<Value> = shared
        .tokens
        .iter()
        .map(|(key, t)| {
            json!({
                "resource": key.resource,
                "epoch": key.epoch,
                "accessToken": t.token.expose(),
                "tokenType": t.token_type.as_str(),
                "expiresAt": t.expires_at,
                "scope": t.scope,
                "cause": t.cause.as_str(),
                "by": t.by,
            })
        })
        .collect();
    json!({
        "holder": shared.holder,
        "since": shared.since,
        "generation": shared.generation,
        "idClaims": shared.id_claims,
        "primary": key_json(&shared.primary),
        "epoch": shared.epoch,
        "context": shared.context.as_ref().map(Context::to_json),
        "contextSince": shared.context_since,
        "rejectedScope": shared.rejected_scope,
        "tokens": tokens,
    })
}

/// Reads a view; `None` when it is not one.
pub(super) fn read_remote(view: &Value) -> Option<Remote> {
    let context = match view.member("context") {
        None | Some(Value::Null) => None,
        Some(c) => Context::parse(c, || [0; 16]).ok()?,
    };
    let mut tokens = Vec::new();
    for t in view.array("tokens")? {
        tokens.push(RemoteToken {
            key: read_key(t)?,
            token: AccessToken::new(t.string("accessToken")?),
            token_type: TokenType::parse(t.str("tokenType")?)?,
            expires_at: t.i64("expiresAt")?,
            scope: t.strings("scope").unwrap_or_default(),
            cause: t
                .str("cause")
                .and_then(super::Cause::parse)
                .unwrap_or(super::Cause::Call),
            by: t.string("by"),
        });
    }
    Some(Remote {
        holder: view.string("holder")?,
        since: view.i64("since")?,
        generation: u64::try_from(view.i64("generation")?).ok()?,
        id_claims: view.object("idClaims")?.clone(),
        primary: read_key(view.member("primary")?)?,
        epoch: u64::try_from(view.i64("epoch")?).ok()?,
        context,
        context_since: view.i64("contextSince")?,
        rejected_scope: view.strings("rejectedScope").unwrap_or_default(),
        tokens,
        from_host: false,
    })
}

/// The primary token's `iat` (signed): how new a session's tokens are. Views are ordered by it,
/// never by their own (unsigned) `generation` or `since`.
fn issued_at(tokens: &VecMap<TokenKey, CachedToken>, primary: &TokenKey) -> i64 {
    tokens
        .get(primary)
        .and_then(|t| t.claims.get("iat"))
        .and_then(Value::as_i64)
        .unwrap_or(i64::MIN)
}

/// The ID token's claims as another tab tells them, kept only where the verified access token
/// says the same (HelseID puts the identity in both): nothing unsigned names the user.
fn verified_id_claims(
    told: &Map<String, Value>,
    access: &Map<String, Value>,
) -> Map<String, Value> {
    told.iter()
        .filter(|(name, value)| access.get(*name) == Some(*value))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The subject a session acts for: the primary access token's `sub` (HelseID puts the same
/// pairwise `sub` in the ID token), else the pid.
fn subject(tokens: &VecMap<TokenKey, CachedToken>, primary: &TokenKey) -> Option<String> {
    let claims = &tokens.get(primary)?.claims;
    claims
        .get("sub")
        .or_else(|| claims.get(crate::core::helseid::PID))
        .and_then(Value::as_str)
        .map(String::from)
}

impl Engine {
    /// What this holder tells the other tabs: `None` without a session or when this tab is not
    /// the holder.
    pub fn shared_view(&self) -> Option<Value> {
        let shared = self.shared.as_ref().filter(|_| self.is_holder())?;
        Some(shared_json(shared))
    }

    /// Reads another tab's view ([`super::Input::View`]); one worth verifying goes out as
    /// [`Action::VerifyView`]. Nothing for anything malformed, naming this engine, or from a
    /// holder whose session ended. Whether it is newer is decided on its verified tokens
    /// ([`Engine::adopt`]).
    pub(super) fn read_view(&mut self, view: &Value, from_host: bool) {
        let Some(mut remote) = read_remote(view) else {
            return;
        };
        if remote.holder == self.id
            || self.ended_holders.contains(&remote.holder)
            || self.holds_all(&remote)
        {
            return;
        }
        remote.from_host = from_host;
        // A new login elsewhere made a new DPoP key: the shell reads it again (the session
        // host's view names the host's key).
        let load_key = !from_host
            && (self.shared.as_ref().map(|s| &s.holder) != Some(&remote.holder)
                || self.dpop_jkt.is_none());
        self.actions.push(Action::VerifyView(remote, load_key));
    }

    /// Whether `remote` comes from the holder this tab follows and every token in it is one
    /// this tab holds already: a holder's view changes only with new tokens, so it can say
    /// nothing new and is not verified again (the answer to every `hello`, or a page replaying
    /// the view, costs the other tabs no WebCrypto). A holder taken for gone is read again.
    fn holds_all(&self, remote: &Remote) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        self.holder_to_watch() == Some(remote.holder.as_str())
            && !remote.tokens.is_empty()
            && remote
                .tokens()
                .all(|t| shared.tokens.values().any(|mine| mine.token == *t))
    }

    /// Whether a verified view is news for this tab, judged on signed data only (API.md
    /// "Security guarantees", third round): a holder gives way only to a newer login's token
    /// it never held; a follower takes its holder's views unless they are older than what it
    /// has, and another holder's only with a newer token it has not seen. A message can
    /// therefore never make a holder yield, a follower leave the real holder, or an old token
    /// come back.
    fn is_news(&self, incoming: &Shared) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let theirs = issued_at(&incoming.tokens, &incoming.primary);
        let ours = issued_at(&shared.tokens, &shared.primary);
        let seen = incoming
            .tokens
            .get(&incoming.primary)
            .is_some_and(|t| shared.tokens.values().any(|mine| mine.token == t.token));
        if self.is_holder() || shared.holder != incoming.holder {
            theirs > ours && !seen
        } else {
            theirs >= ours
        }
    }

    /// Adopts a view whose tokens' signatures the shell verified ([`super::Input::ViewVerified`]:
    /// `signed`, in the order of [`Remote::tokens`]). Each token is checked like a token response's; one that fails is
    /// dropped, and the view is ignored when its primary token fails. A different user ends
    /// this tab's session and fires `userChanged`.
    pub(super) fn adopt(
        &mut self,
        mut remote: Remote,
        signed: Vec<Result<SignatureChecked>>,
        now: i64,
    ) -> Result<()> {
        let mut tokens = VecMap::new();
        for (remote_token, checked) in std::mem::take(&mut remote.tokens).into_iter().zip(signed) {
            let Ok(checked) = checked else { continue };
            let key = &remote_token.key;
            let Ok(e) = self.access_expectations(key, remote_token.token_type, now) else {
                continue;
            };
            let Ok(verified) = claims::check(checked, &e) else {
                continue;
            };
            let claims = verified.into_claims();
            if let Some(context) = &remote.context {
                if key.epoch == remote.epoch
                    && context
                        .check_claims(&claims, self.config.needs_attest(&key.resource))
                        .is_err()
                {
                    continue;
                }
            }
            if key.epoch != remote.epoch {
                continue;
            }
            let (key, cached) = remote_token.cached(claims);
            tokens.insert(key, cached);
        }
        if !tokens.contains_key(&remote.primary) {
            return Err(Error::new(
                ErrorCode::InvalidToken,
                "another tab's session failed its checks and was ignored",
            ));
        }
        let their_subject = subject(&tokens, &remote.primary);
        // The ID token's claims cannot be checked here (the ID token stays with the holder):
        // they must name the subject of the verified access token, and only what that token
        // confirms is kept.
        if their_subject.is_none()
            || remote.id_claims.get("sub").and_then(Value::as_str) != their_subject.as_deref()
        {
            return Err(Error::claim(
                "sub",
                "another tab's session names two subjects",
            ));
        }
        // On the channel (any page can post there) only what the access token confirms is
        // kept; the host's own view keeps the ID token's claims whole.
        if !remote.from_host {
            let primary_claims = &tokens[&remote.primary].claims;
            remote.id_claims = verified_id_claims(&remote.id_claims, primary_claims);
        }
        // The context's age cannot be later than its token (a view could say any time).
        let primary_iat = issued_at(&tokens, &remote.primary);
        remote.context_since = remote.context_since.min(primary_iat.max(0));
        let (holder, generation) = (remote.holder.clone(), remote.generation);
        let incoming = remote.into_shared(holder, generation, tokens);
        if !self.is_news(&incoming) {
            return Ok(());
        }
        // After `userChanged` this tab follows nobody until `adoptSession()`: the other user's
        // newer views only replace the one kept for it.
        if self.shared.is_none() {
            if let Some(pending) = &self.other_user {
                if subject(&pending.tokens, &pending.primary) != their_subject {
                    let view = HelseIdView::from_claims(
                        &incoming.id_claims,
                        &incoming.tokens[&incoming.primary].claims,
                    );
                    self.actions
                        .push(Action::Emit(AppEvent::UserChanged(Box::new(view))));
                }
                self.other_user = Some(incoming);
                return Ok(());
            }
        }
        let ours = self
            .shared
            .as_ref()
            .and_then(|s| subject(&s.tokens, &s.primary));
        match (&self.shared, ours) {
            (Some(_), ours) if ours != their_subject => {
                // Another health worker logged in elsewhere: this tab's session ends here; the
                // app decides whether to follow (adoptSession) or log in again.
                let view = HelseIdView::from_claims(
                    &incoming.id_claims,
                    &incoming.tokens[&incoming.primary].claims,
                );
                // Another user's grant is another grant: this one is revoked.
                self.yield_grant(true);
                self.end_quietly();
                self.other_user = Some(incoming);
                self.actions
                    .push(Action::Emit(AppEvent::UserChanged(Box::new(view))));
                Ok(())
            }
            _ => {
                self.follow(incoming);
                Ok(())
            }
        }
    }

    /// This tab's grant gives way to a newer login's. For another user it is revoked; for the
    /// same user it is only dropped: a provider may keep one grant per user and client (as
    /// oidc-provider does), and revoking the old refresh token would end the new session too.
    fn yield_grant(&mut self, revoke: bool) {
        if let Some(grant) = self.grant.take() {
            if let (true, Some(rt)) = (revoke, grant.refresh_token) {
                self.actions.push(Action::Revoke(rt));
            }
        }
    }

    /// Ends this tab's session without telling anyone (another user's session replaced it).
    fn end_quietly(&mut self) {
        if let Some(shared) = self.shared.take() {
            self.ended_holders.add(shared.holder);
        }
        self.forget_flights();
        self.kept.clear();
        self.actions.push(Action::EndSession { forget_key: false });
    }

    /// Takes a verified view of the same user as this tab's session.
    fn follow(&mut self, incoming: Shared) {
        let previous = self.shared.take();
        if previous
            .as_ref()
            .is_some_and(|p| p.holder != incoming.holder)
        {
            self.yield_grant(false);
        }
        let refreshed: Vec<(String, super::RefreshCause)> = match &previous {
            Some(p) => incoming
                .tokens
                .iter()
                .filter(|(key, t)| p.tokens.get(*key).is_none_or(|old| old.token != t.token))
                .map(|(key, t)| {
                    (
                        key.resource.clone(),
                        t.cause.seen_by(t.by.as_deref(), &self.id),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let context_changed = previous.as_ref().is_some_and(|p| p.epoch != incoming.epoch);
        // The switch came with the primary token (the holder refreshes it first).
        let switch_cause = incoming
            .tokens
            .get(&incoming.primary)
            .map_or(super::RefreshCause::OtherTab, |t| {
                t.cause.seen_by(t.by.as_deref(), &self.id)
            });
        if context_changed {
            self.context_expired_notified = false;
        }
        for key in incoming.tokens.keys() {
            self.asking.remove(key);
        }
        self.shared = Some(incoming);
        self.logged_out = false;
        self.holder_gone = false;
        self.other_user = None;
        for (resource, cause) in refreshed {
            self.actions
                .push(Action::Emit(AppEvent::TokenRefreshed { resource, cause }));
        }
        if context_changed {
            self.actions.push(Action::Emit(AppEvent::ContextChanged {
                cause: switch_cause,
            }));
        }
    }

    /// `adoptSession()`: follow the other user's session that `userChanged` announced.
    pub fn adopt_other_user(&mut self) -> Result<()> {
        let incoming = self.other_user.take().ok_or_else(|| {
            Error::new(
                ErrorCode::LoginRequired,
                "no other session to adopt: log in",
            )
        })?;
        self.ended_holders.remove(&incoming.holder);
        self.follow(incoming);
        Ok(())
    }

    /// The holder of this tab's session is gone (its lock was released). With its notice
    /// (`reason`) the session ends here too; without one (its tab closed) the tokens serve
    /// until they expire, and then the session is over.
    // Kept out of `handle` (see `on_timer`).
    #[inline(never)]
    pub(super) fn holder_ended(&mut self, holder: &str, reason: Option<EndReason>) {
        if self.shared.as_ref().is_none_or(|s| s.holder != holder) || self.is_holder() {
            return;
        }
        match reason {
            Some(reason) => self.end_session(reason),
            None => self.holder_gone = true,
        }
    }

    /// Whether `holder`, the holder this tab follows, was seen gone (its lock is free).
    pub fn holder_gone_for(&self, holder: &str) -> bool {
        self.holder_gone && self.shared.as_ref().is_some_and(|s| s.holder == holder)
    }

    /// `ath` (RFC 9449 §4.3) of each access token of this session: a follower's logout request
    /// must name one.
    pub fn token_hashes(&self) -> Vec<String> {
        self.shared.as_ref().map_or_else(Vec::new, |s| {
            s.tokens
                .values()
                .map(|t| crate::core::dpop::access_token_hash(t.token.expose()))
                .collect()
        })
    }

    /// The session's primary access token (expired or not), for a follower's logout request.
    pub fn primary_token(&self) -> Option<AccessToken> {
        let shared = self.shared.as_ref()?;
        shared.tokens.get(&shared.primary).map(|t| t.token.clone())
    }

    /// The holder whose lock this tab should watch: the one it follows, unless that one is
    /// already known to be gone.
    pub(super) fn holder_to_watch(&self) -> Option<&str> {
        self.followed_holder().filter(|_| !self.holder_gone)
    }

    /// The holder this tab follows, if it does not hold the session itself.
    pub fn followed_holder(&self) -> Option<&str> {
        self.shared
            .as_ref()
            .filter(|_| !self.is_holder())
            .map(|s| s.holder.as_str())
    }
}
