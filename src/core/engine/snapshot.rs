//! `storage: "session"`: the holder's record in this tab's sessionStorage, so a reload of the
//! tab keeps the session (API.md). It holds the refresh token: the README says what that
//! risks on a shared computer. Nothing else ever stores it.

use serde_json::{json, Value};

use super::tabs::{read_remote, shared_json};
use super::{Engine, Grant};
use crate::core::json::{parse_object, Read};
use crate::core::jwt;
use crate::core::secret::{IdToken, RefreshToken};

impl Engine {
    /// The record to keep, or `None` when there is nothing to keep (then remove it).
    pub fn snapshot(&self, now: i64) -> Option<String> {
        let shared = self.shared.as_ref()?;
        let grant = self.grant.as_ref()?;
        Some(
            json!({
                "view": shared_json(shared),
                "refreshToken": grant.refresh_token.as_ref().map(|t| t.expose()),
                "idToken": grant.id_token.as_ref().map(|t| t.expose()),
                "savedAt": now,
            })
            .to_string(),
        )
    }

    /// Takes the record back after a reload. Its tokens were checked when they arrived and
    /// this tab's own storage kept them; their claims are read again from the tokens.
    /// A record saved more than `max_gap` seconds ago (a tab reopened long after it was
    /// closed) is not taken back, and its refresh token is handed back for revocation.
    pub fn restore(
        &mut self,
        text: &str,
        now: i64,
        max_gap: i64,
    ) -> Result<(), Option<RefreshToken>> {
        let record = parse_object(text).ok_or(None)?;
        let refresh_token = record.string("refreshToken").map(RefreshToken::new);
        let saved_at = record.i64("savedAt").unwrap_or(i64::MIN);
        if now.saturating_sub(saved_at) > max_gap {
            return Err(refresh_token);
        }
        let mut remote = record
            .object("view")
            .and_then(|v| read_remote(&Value::Object(v.clone())))
            .ok_or(None)?;
        let mut tokens = crate::core::vecmap::VecMap::new();
        for remote_token in std::mem::take(&mut remote.tokens) {
            let Ok(decoded) = jwt::decode(remote_token.token.expose()) else {
                continue;
            };
            let (key, cached) = remote_token.cached(decoded.claims);
            tokens.insert(key, cached);
        }
        if !tokens.contains_key(&remote.primary) {
            return Err(refresh_token);
        }
        self.generation = self.generation.max(remote.generation);
        self.shared = Some(remote.into_shared(self.id.clone(), self.generation, tokens));
        self.grant = Some(Grant {
            refresh_token,
            id_token: record.string("idToken").map(IdToken::new),
        });
        self.actions.push(super::Action::Announce);
        self.actions.push(super::Action::Reschedule);
        Ok(())
    }
}
