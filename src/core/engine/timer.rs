//! What keeps tokens fresh with no call from the app: the wake-ups (RFC 6749 §6 refreshes
//! `refreshLeewaySeconds` before expiry, the backoff after a failure, the attest's age) and the
//! resources an open portal session keeps fresh (API.md "Embedded national portals").

use super::{Action, AppEvent, Cause, Engine, TokenKey};
use crate::core::context::Context;

/// Timer backoff after a failed refresh: 5 s, 10 s, 20 s, 40 s, then every minute.
pub fn backoff_seconds(failures: u32) -> i64 {
    (5i64 << failures.saturating_sub(1).min(4)).min(60)
}

impl Engine {
    // ---- portals ---------------------------------------------------------------------------

    /// A portal session of `resource` opened: while it is open, the timer keeps that
    /// resource's token fresh (`autoRefresh`), so the portal is refreshed with no call from
    /// the app (API.md "Embedded national portals", settled in turn 3).
    pub(super) fn keep_fresh(&mut self, resource: Option<&str>) {
        let resource = self.key(resource).resource;
        self.kept.push(resource);
    }

    /// A portal session of `resource` ended: when it was the last, the timer stops keeping
    /// that token fresh.
    pub(super) fn release(&mut self, resource: Option<&str>) {
        let resource = self.key(resource).resource;
        if let Some(i) = self.kept.iter().position(|r| *r == resource) {
            self.kept.swap_remove(i);
        }
    }

    // ---- timers ----------------------------------------------------------------------------

    /// The tokens the timer keeps fresh (`autoRefresh`): the holder's primary token, and the
    /// token of each resource an open portal session uses (a follower asks the holder for
    /// those). None without a way to renew them.
    fn timer_keys(&self) -> Vec<TokenKey> {
        let Some(shared) = self
            .shared
            .as_ref()
            .filter(|_| !self.logged_out && self.config.auto_refresh)
        else {
            return Vec::new();
        };
        let mut keys = Vec::new();
        match &self.grant {
            Some(grant) if grant.refresh_token.is_some() => keys.push(shared.primary.clone()),
            None if !self.holder_gone => {}
            _ => return keys,
        }
        for resource in &self.kept {
            let key = TokenKey {
                resource: resource.clone(),
                epoch: shared.epoch,
            };
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// When the timer renews `key`: `refreshLeewaySeconds` before its token expires (at once
    /// when there is none), and after a failure not before the backoff. Never while a token
    /// request is under way (its end reschedules), nor when the key needs the attest and the
    /// attest has expired (`contextExpired` says so; the app sets a new context).
    fn due_at(&self, key: &TokenKey, now: i64) -> Option<i64> {
        let shared = self.shared.as_ref()?;
        if !self.in_flight.is_empty()
            || self.asking.contains_key(key)
            || self.switching.is_some()
            || (self.config.needs_attest(&key.resource) && self.attest_expired(now))
        {
            return None;
        }
        let due = shared
            .tokens
            .get(key)
            .map_or(now, |t| t.expires_at - self.config.refresh_leeway_seconds);
        Some(match self.attempts.get(key) {
            Some((count, started)) => due.max(started + backoff_seconds(*count)),
            None => due,
        })
    }

    /// When the attest reaches its age, if `contextExpired` has not fired yet.
    fn attest_expires_at(&self) -> Option<i64> {
        let shared = self.shared.as_ref().filter(|_| !self.logged_out)?;
        let attest = shared.context.as_ref().is_some_and(Context::has_attest);
        (attest && !self.context_expired_notified).then(|| {
            shared
                .context_since
                .saturating_add(self.config.attest_max_age_seconds)
        })
    }

    /// When the engine wants [`Input::Timer`] (epoch seconds), if ever: the earliest of the
    /// kept tokens' due times and the attest's age.
    pub(super) fn wakeup_at(&self, now: i64) -> Option<i64> {
        self.timer_keys()
            .iter()
            .filter_map(|key| self.due_at(key, now))
            .chain(self.attest_expires_at())
            .min()
    }

    /// Seconds (at least 1) until [`Engine::wakeup_at`]: what [`Action::Reschedule`] says.
    #[cfg(test)]
    pub(super) fn next_wakeup(&self, now: i64) -> Option<i64> {
        self.wakeup_at(now).map(|at| (at - now).max(1))
    }

    /// A wake-up: fires `contextExpired` once when the attest reached its age, and renews each
    /// kept token that is due: a refresh here ([`Action::Refresh`]), or a question to the holder
    /// ([`Action::AskHolder`]). One refresh at a time: the others wait for the next wake-up.
    /// The next wake-up is told after every timer (a token request under way sets none: its
    /// end does).
    // Kept out of `handle`, as `holder_ended` is: the wasm is smaller (measured, gzip -9).
    #[inline(never)]
    pub(super) fn on_timer(&mut self, now: i64) {
        if self.attest_expires_at().is_some_and(|at| at <= now) {
            self.context_expired_notified = true;
            self.actions.push(Action::Emit(AppEvent::ContextExpired));
        }
        let due: Vec<TokenKey> = self
            .timer_keys()
            .into_iter()
            .filter(|key| self.due_at(key, now).is_some_and(|at| at <= now))
            .collect();
        for key in due {
            let work = match self.want_token(Self::resource_param(&key), false, now) {
                Ok(Action::Refresh(mut ticket)) => {
                    ticket.cause = Cause::Schedule;
                    Action::Refresh(ticket)
                }
                Ok(Action::AskHolder(ask)) => Action::AskHolder(ask),
                _ => continue,
            };
            self.actions.push(work);
        }
    }
}
