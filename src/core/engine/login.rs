//! Starting a session: the context a login carries and the code exchange (RFC 6749 §4.1.3).

use serde_json::Value;

use super::{wire_details, Engine, Ticket, TicketKind, TokenKey};
use crate::core::callback::Transaction;
use crate::core::context::Context;
use crate::core::error::Result;
use crate::core::secret::AuthorizationCode;
use crate::core::token;

impl Engine {
    /// The context a login carries: the one given to `loginWithRedirect` (`null`: none), else
    /// the configured one. Checked now, before anything is sent.
    pub fn login_context(
        &self,
        given: Option<&Value>,
        random: impl FnOnce() -> [u8; 16],
    ) -> Result<Option<Context>> {
        match given {
            Some(value) => Context::parse(value, random),
            None => Ok(self.config.context.clone()),
        }
    }

    /// The code exchange (RFC 6749 §4.1.3) of a login whose callback checked out.
    pub fn login_ticket(&mut self, tx: &Transaction, code: &AuthorizationCode) -> Result<Ticket> {
        let context = match &tx.context {
            Some(value) => Context::parse(value, || [0; 16])?,
            None => None,
        };
        let default = self.config.default_resource().map(String::from);
        let key = TokenKey {
            resource: default.clone().unwrap_or_default(),
            epoch: 0,
        };
        let body = token::authorization_code_params(
            code,
            &tx.redirect_uri,
            &tx.code_verifier,
            &self.config.client_id,
            default.as_deref(),
        );
        let details = wire_details(context.as_ref());
        // A new login after a logout (the session host outlives both): a new session, not a
        // late answer of the old one.
        self.logged_out = false;
        Ok(self.ticket(
            key,
            TicketKind::Login {
                nonce: tx.nonce.clone(),
            },
            body,
            details,
            context,
        ))
    }
}
