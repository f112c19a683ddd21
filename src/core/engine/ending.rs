//! How a session ends: expiry (told to the other tabs by the holder) and `logout()`, which is
//! final (RFC 7009 revocation, RP-Initiated Logout 1.0).

use super::{Action, AppEvent, EndReason, Engine};

impl Engine {
    /// Ends the session here (and, from the holder, in the other tabs).
    pub(super) fn end_session(&mut self, reason: EndReason) {
        let was_holder = self.grant.is_some();
        self.end_session_as(reason, was_holder, was_holder);
    }

    /// Ends the session here: told to the other tabs when `was_holder`; the DPoP key forgotten
    /// when `forget_key` (the holder's, and any at logout).
    pub(super) fn end_session_as(&mut self, reason: EndReason, was_holder: bool, forget_key: bool) {
        if self.shared.is_none() {
            return;
        }
        let last_token = self.primary_token();
        if let Some(shared) = &self.shared {
            self.ended_holders.add(shared.holder.clone());
        }
        self.shared = None;
        self.grant = None;
        self.forget_flights();
        if was_holder {
            self.actions.push(Action::AnnounceEnd(reason, last_token));
        }
        // Its portal sessions end with it (the shell ends them).
        self.kept.clear();
        self.actions.push(Action::EndSession { forget_key });
        self.actions.push(Action::Emit(match reason {
            EndReason::LoggedOut => AppEvent::LoggedOut,
            EndReason::Expired => AppEvent::SessionExpired,
        }));
    }

    /// `logout()` ([`super::Input::Logout`]): final here; late answers are revoked. What to
    /// revoke now and the holder to ask come first, where to send the browser last.
    #[inline(never)]
    pub(super) fn logout(&mut self, end_session_endpoint: Option<&str>, state: Option<&str>) {
        if let Some((holder, token)) = self
            .followed_holder()
            .map(String::from)
            .zip(self.primary_token())
        {
            self.actions.push(Action::AskLogout { holder, token });
        }
        let was_holder = self.grant.is_some();
        let (revoke, id_token) = match self.grant.take() {
            Some(g) => (g.refresh_token, g.id_token),
            None => (None, None),
        };
        if let Some(rt) = revoke {
            // The first action: the session host's retire() carries out only this one.
            self.actions.insert(0, Action::Revoke(rt));
        }
        let had_session = self.shared.is_some();
        self.logged_out = true;
        self.other_user = None;
        if had_session {
            self.end_session_as(EndReason::LoggedOut, was_holder, true);
        } else {
            self.actions.push(Action::EndSession { forget_key: true });
            self.actions.push(Action::Emit(AppEvent::LoggedOut));
        }
        let end_session_url = end_session_endpoint.map(|endpoint| {
            crate::core::logout::end_session_url(
                endpoint,
                &self.config.client_id,
                id_token.as_ref(),
                self.config.post_logout_redirect_uri.as_deref(),
                state,
            )
        });
        self.actions.push(Action::Leave(end_session_url));
    }
}
