//! Starting a session: the code exchange (RFC 6749 §4.1.3) of a login whose callback checked
//! out ([`super::Input::CodeExchange`]). The context a login carries is the authorization
//! request's ([`crate::core::authorize::login_context`]).

use super::{wire_details, Engine, Ticket, TicketKind, TokenKey};
use crate::core::callback::Transaction;
use crate::core::context::Context;
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::secret::AuthorizationCode;
use crate::core::token;

impl Engine {
    /// The code exchange's ticket. The login's DPoP key (`tx.dpop_jkt`) must be the one the
    /// shell holds now (`dpop_jkt`): the tokens are bound to it (RFC 9449 §10).
    pub(super) fn login_ticket(
        &mut self,
        tx: &Transaction,
        code: &AuthorizationCode,
        dpop_jkt: Option<String>,
    ) -> Result<Ticket> {
        if let Some(begun) = &tx.dpop_jkt {
            if dpop_jkt.as_ref() != Some(begun) {
                return Err(Error::new(
                    ErrorCode::DpopBindingMismatch,
                    "the DPoP key changed since the login began (another login in this browser?)",
                ));
            }
            self.dpop_jkt = dpop_jkt;
        }
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
