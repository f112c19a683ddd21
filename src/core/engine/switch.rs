//! `setContext`: a refresh with the new context's details (HelseID's "switch at refresh").
//! The new context gets a new epoch, so no token of the old one can be handed out after it.

use super::{login_required, wire_details, Action, Ask, Engine, TicketKind};
use crate::core::context::Context;
use crate::core::error::Result;
use crate::core::refresh;

impl Engine {
    /// `setContext` ([`super::Input::SetContext`]): one refresh with the new details for
    /// `resource`. Nothing changes until its answer passes every check.
    pub(super) fn switch_context(
        &mut self,
        context: Option<Context>,
        resource: Option<&str>,
    ) -> Result<Action> {
        let Some(shared) = self.shared.as_ref().filter(|_| !self.logged_out) else {
            return Err(login_required("setContext needs a session: log in first"));
        };
        if let Some((id, _)) = &self.switching {
            return Ok(Action::Wait(*id));
        }
        let mut key = self.key(resource);
        key.epoch = shared.epoch + 1;
        let Some(grant) = &self.grant else {
            if self.holder_gone {
                // Nobody can make the token request; the tokens here serve until they expire.
                return Err(login_required(
                    "the tab that held the session is gone; log in again",
                ));
            }
            // The holder switches; until it answers, nobody here gets a token.
            let id = self.new_flight();
            self.switching = Some((id, key.clone()));
            return Ok(Action::AskHolder(Ask {
                id,
                key,
                force: false,
            }));
        };
        let Some(refresh_token) = &grant.refresh_token else {
            return Err(login_required(
                "the session has no refresh token; log in again",
            ));
        };
        if let Some(busy) = self.in_flight.values().next() {
            return Ok(Action::Busy(*busy));
        }
        let body = refresh::refresh_params(
            refresh_token,
            &self.config.client_id,
            Self::resource_param(&key),
        );
        let details = wire_details(context.as_ref());
        let ticket = self.ticket(key.clone(), TicketKind::Switch, body, details, context);
        self.switching = Some((ticket.id, key));
        Ok(Action::Refresh(ticket))
    }
}
