//! What a token response does to the session: the refresh token rotates at once (RFC 6749 §6),
//! the tokens are checked (OIDC Core 3.1.3.7 and §12.2 for ID tokens, RFC 9068 §4 and HelseID's
//! rules for access tokens, the context's claims), and only then does the session change.

use serde_json::{Map, Value};

use super::{
    login_required, Action, AppEvent, CachedToken, EndReason, Engine, Grant, Shared, Ticket,
    TicketKind, TokenKey,
};
use crate::core::claims::{self, Expectations};
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::jwt::SignatureChecked;
use crate::core::refresh::{self, Failure};
use crate::core::session;
use crate::core::token::{self, TokenResponse, TokenType};

/// The tokens of a response whose signatures the shell verified (WebCrypto).
#[derive(Debug)]
pub struct Signed {
    pub id_token: Option<SignatureChecked>,
    pub access_token: SignatureChecked,
}

impl Engine {
    /// The token endpoint's answer to `ticket`, or why there is none. A successful answer's
    /// refresh token replaces the old one at once, whatever the checks later say (RFC 6749
    /// §6); an answer that comes after `logout()` has its refresh token revoked
    /// ([`super::Input::TokenResponse`]).
    pub(super) fn on_response(
        &mut self,
        ticket: &Ticket,
        answer: Result<(u16, String)>,
    ) -> Result<TokenResponse> {
        let parsed = answer.and_then(|(status, body)| token::process_token_response(status, &body));
        let mut response = match parsed {
            Ok(response) => response,
            Err(e) => return Err(self.refresh_failed(ticket, e)),
        };
        let is_login = matches!(ticket.kind, TicketKind::Login { .. });
        if self.logged_out || (!is_login && !self.owns(ticket)) {
            self.settle(ticket);
            if let Some(rt) = response.refresh_token.take() {
                self.actions.push(Action::Revoke(rt));
            }
            return Err(login_required(
                "the session ended while the token request was under way",
            ));
        }
        if !is_login {
            if let (Some(rt), Some(grant)) = (response.refresh_token.take(), self.grant.as_mut()) {
                grant.refresh_token = Some(rt);
            }
        }
        // RFC 9449 §5: refused before anything is fetched or verified.
        if let Err(e) = token::check_token_type(&response.token_type, self.config.dpop) {
            self.settle(ticket);
            return Err(e);
        }
        Ok(response)
    }

    /// Whether a refresh ticket belongs to the grant this engine holds now.
    fn owns(&self, ticket: &Ticket) -> bool {
        self.grant.is_some() && self.in_flight.get(&ticket.key) == Some(&ticket.id)
    }

    /// The token request of `ticket` is over: the timer may start the next one.
    fn settle(&mut self, ticket: &Ticket) {
        if self.in_flight.get(&ticket.key) == Some(&ticket.id) {
            self.in_flight.remove(&ticket.key);
        }
        if self
            .switching
            .as_ref()
            .is_some_and(|(id, _)| *id == ticket.id)
        {
            self.switching = None;
        }
    }

    /// A refresh that failed: what it means for the session (RFC 6749 §5.2).
    fn refresh_failed(&mut self, ticket: &Ticket, error: Error) -> Error {
        let owned = self.owns(ticket);
        self.settle(ticket);
        if matches!(ticket.kind, TicketKind::Login { .. }) || !owned {
            return error;
        }
        match refresh::classify(&error) {
            Failure::SessionOver => {
                self.end_session(EndReason::Expired);
                let mut e = login_required("the refresh token was rejected; log in again");
                e.oauth_error = error.oauth_error;
                e.oauth_error_description = error.oauth_error_description;
                e.status = error.status;
                e
            }
            // The timer tries again after the backoff (`attempts`).
            Failure::Transient | Failure::Refused => error,
        }
    }

    /// The verified tokens of `ticket`'s answer: checked, then they become the session
    /// ([`super::Input::Verified`]).
    pub(super) fn on_verified(
        &mut self,
        ticket: Ticket,
        mut response: TokenResponse,
        signed: Result<Signed>,
        now: i64,
    ) -> Result<()> {
        let is_login = matches!(ticket.kind, TicketKind::Login { .. });
        let owned = is_login || self.owns(&ticket);
        self.settle(&ticket);
        if self.logged_out || !owned {
            return Err(login_required(
                "the session ended while the token request was under way",
            ));
        }
        let signed = signed?;
        let id_claims = self.check_id_token(&ticket, signed.id_token, now)?;
        let token = self.check_access_token(&ticket, &response, signed.access_token, now)?;
        let rejected_scope = std::mem::take(&mut response.rejected_scope);
        self.generation += 1;
        match ticket.kind {
            TicketKind::Login { .. } => {
                let id_claims = id_claims.ok_or_else(|| {
                    Error::new(
                        ErrorCode::TokenRequestFailed,
                        "the token response has no id_token (is openid in scope?)",
                    )
                })?;
                let mut tokens = crate::core::vecmap::VecMap::new();
                tokens.insert(ticket.key.clone(), token);
                self.shared = Some(Shared {
                    holder: self.id.clone(),
                    since: now,
                    generation: self.generation,
                    id_claims,
                    tokens,
                    primary: ticket.key,
                    epoch: 0,
                    context: ticket.context,
                    context_since: now,
                    rejected_scope,
                });
                self.grant = Some(Grant {
                    refresh_token: response.refresh_token.take(),
                    id_token: response.id_token.take(),
                });
                self.logged_out = false;
                self.other_user = None;
                self.forget_flights();
            }
            TicketKind::Refresh | TicketKind::Switch => {
                let switch = matches!(ticket.kind, TicketKind::Switch);
                let generation = self.generation;
                let shared = self
                    .shared
                    .as_mut()
                    .ok_or_else(|| login_required("no session"))?;
                if !switch && ticket.key.epoch != shared.epoch {
                    // The context changed while this refresh was under way: its token is of
                    // the old context and is dropped.
                    return Ok(());
                }
                if let Some(claims) = id_claims {
                    shared.id_claims = claims;
                    if let (Some(id_token), Some(grant)) =
                        (response.id_token.take(), self.grant.as_mut())
                    {
                        grant.id_token = Some(id_token);
                    }
                }
                if switch {
                    shared.tokens.clear();
                    self.attempts.retain(|key, _| key.epoch == ticket.key.epoch);
                    shared.epoch = ticket.key.epoch;
                    shared.primary = ticket.key.clone();
                    shared.context = ticket.context;
                    shared.context_since = now;
                    self.context_expired_notified = false;
                }
                let resource = ticket.key.resource.clone();
                let (cause, by) = (token.cause, token.by.clone());
                // `Session` describes the default resource's token whenever there is one.
                if Some(resource.as_str()) == self.config.default_resource() {
                    shared.primary = ticket.key.clone();
                }
                shared.tokens.insert(ticket.key.clone(), token);
                shared.generation = generation;
                shared.rejected_scope = rejected_scope;
                if self.is_fresh(&ticket.key, now) {
                    self.attempts.remove(&ticket.key);
                }
                let cause = cause.seen_by(by.as_deref(), &self.id);
                self.actions
                    .push(Action::Emit(AppEvent::TokenRefreshed { resource, cause }));
                if switch {
                    self.actions
                        .push(Action::Emit(AppEvent::ContextChanged { cause }));
                }
            }
        }
        self.actions.push(Action::Announce);
        Ok(())
    }

    /// OIDC Core 3.1.3.7; on refresh §12.2: an ID token, when sent, names the same subject.
    fn check_id_token(
        &self,
        ticket: &Ticket,
        id_token: Option<SignatureChecked>,
        now: i64,
    ) -> Result<Option<Map<String, Value>>> {
        let Some(id_token) = id_token else {
            return Ok(None);
        };
        let c = &self.config;
        let nonce = match &ticket.kind {
            TicketKind::Login { nonce } => Some(nonce.as_str()),
            _ => None,
        };
        let mut e = Expectations::id_token(
            &c.issuer,
            &c.client_id,
            nonce,
            now,
            c.clock_tolerance_seconds,
        );
        e.required_security_level = c.required_security_level.as_deref();
        let claims = claims::check(id_token, &e)?.into_claims();
        if nonce.is_none() {
            let previous = self.shared.as_ref().and_then(|s| s.id_claims.get("sub"));
            if previous.is_some() && claims.get("sub") != previous {
                return Err(Error::claim(
                    "sub",
                    "the refreshed ID token names another subject",
                ));
            }
        }
        Ok(Some(claims))
    }

    /// The checks of an access token for `key`: `cnf.jkt` for DPoP (RFC 9449 §6.1), `aud`
    /// (RFC 8707), `typ` (RFC 9068 §4), times, the SFM id and the security level for the
    /// default token, and the context's claims.
    pub(super) fn access_expectations<'a>(
        &'a self,
        key: &'a TokenKey,
        token_type: TokenType,
        now: i64,
    ) -> Result<Expectations<'a>> {
        let c = &self.config;
        let jkt = match token_type {
            TokenType::DPoP => Some(self.dpop_jkt.as_deref().ok_or_else(|| {
                login_required("the DPoP key of this session is gone; log in again")
            })?),
            TokenType::Bearer => None,
        };
        let is_default =
            Some(key.resource.as_str()) == c.default_resource() || key.resource.is_empty();
        let audience = if is_default {
            c.expected_audience.as_deref()
        } else {
            Some(key.resource.as_str())
        };
        let mut e =
            Expectations::access_token(&c.issuer, audience, jkt, now, c.clock_tolerance_seconds);
        e.require_sfm_id = c.require_sfm_id && is_default;
        e.required_security_level = c.required_security_level.as_deref();
        Ok(e)
    }

    fn check_access_token(
        &self,
        ticket: &Ticket,
        response: &TokenResponse,
        access_token: SignatureChecked,
        now: i64,
    ) -> Result<CachedToken> {
        let token_type = token::check_token_type(&response.token_type, self.config.dpop)?;
        let e = self.access_expectations(&ticket.key, token_type, now)?;
        let claims = claims::check(access_token, &e)?.into_claims();
        if let Some(context) = &ticket.context {
            context.check_claims(&claims, self.config.needs_attest(&ticket.key.resource))?;
        }
        let exp = claims.get("exp").and_then(Value::as_i64);
        let expires_at = session::expires_at(now, response.expires_in, exp).ok_or_else(|| {
            Error::claim(
                "exp",
                "neither expires_in nor exp tells when the access token expires",
            )
        })?;
        let scope = session::parse_scope(response.scope.as_ref().or_else(|| claims.get("scope")));
        Ok(CachedToken {
            token: response.access_token.clone(),
            token_type,
            expires_at,
            claims,
            scope,
            cause: ticket.cause,
            by: ticket.by.clone(),
        })
    }
}
