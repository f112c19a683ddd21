//! The page holder's tab channel (a `BroadcastChannel` per issuer and client id; README
//! "Tabs"): every message, read strictly, and which of them only the holder answers.
//!
//! Any page of the origin can post here, so nothing read here proves who sent it: a view is
//! believed only for its signed tokens (`engine/views.rs`), a logout request and an end notice
//! only with a DPoP proof by the session's key over one of its tokens
//! (`dpop::check_tab_proof`), and `by` is a label for `tokenRefreshed` and the bound on forced
//! refreshes, trusted for nothing else. Sizes are checked before a message reaches wasm
//! (`limits::MAX_MESSAGE_CHARS`).

use serde_json::{json, Map, Value};

use super::json::Read;

/// One message on the tab channel.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub enum TabMessage {
    /// A new tab asks the holder for its view.
    Hello,
    /// The holder's view (its tokens, checked by signature) and the DPoP nonces it knows.
    View { view: Value, nonces: Option<Value> },
    /// A follower asks for a fresh token for `resource` (`force`: even if the cached one is).
    Need {
        id: Option<String>,
        resource: Option<String>,
        force: bool,
        by: String,
    },
    /// A follower asks for a context switch (`context`: the app's object, or null for none).
    Context {
        id: Option<String>,
        context: Value,
        resource: Option<String>,
        by: String,
    },
    /// A follower asks the holder to log out (with its proof).
    Logout { proof: Option<String> },
    /// The holder's answer to `need` or `context`; `error` a `HelseIdError` as JSON.
    Done { id: String, error: Option<Value> },
    /// The holder's session ended (`reason`: `logout` or `expired`), with its proof.
    End {
        holder: String,
        reason: String,
        proof: Option<String>,
    },
}

fn opt_string(m: &Map<String, Value>, name: &str) -> Option<Option<String>> {
    match m.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

/// A request id: a short string (the answer carries it back).
fn opt_id(m: &Map<String, Value>) -> Option<Option<String>> {
    opt_string(m, "id").filter(|id| id.as_ref().is_none_or(|id| id.len() <= 64))
}

impl TabMessage {
    /// Reads a message from the channel; `None` for anything malformed or unknown (dropped).
    pub fn read(message: &Value) -> Option<TabMessage> {
        let m = message.as_object()?;
        Some(match m.str("t")? {
            "hello" => TabMessage::Hello,
            "view" => TabMessage::View {
                view: m.get("view").filter(|v| v.is_object()).cloned()?,
                nonces: m.get("nonces").filter(|n| n.is_object()).cloned(),
            },
            "need" => TabMessage::Need {
                id: opt_id(m)?,
                resource: opt_string(m, "resource")?,
                force: match m.get("force") {
                    None | Some(Value::Null) => false,
                    Some(v) => v.as_bool()?,
                },
                // Always another tab's: a missing `by` is still bounded (issue 20, finding 9).
                by: opt_string(m, "by")?.unwrap_or_default(),
            },
            "context" => TabMessage::Context {
                id: opt_id(m)?,
                context: m.get("context").cloned().unwrap_or(Value::Null),
                resource: opt_string(m, "resource")?,
                by: opt_string(m, "by")?.unwrap_or_default(),
            },
            "logout" => TabMessage::Logout {
                proof: opt_string(m, "proof")?,
            },
            "done" => TabMessage::Done {
                id: opt_id(m)??,
                error: m.get("error").filter(|e| !e.is_null()).cloned(),
            },
            "end" => TabMessage::End {
                holder: m.string("holder")?,
                reason: m.string("reason")?,
                proof: opt_string(m, "proof")?,
            },
            _ => return None,
        })
    }

    /// Requests only the holder answers; a follower leaves them to it.
    pub fn for_holder(&self) -> bool {
        matches!(
            self,
            TabMessage::Hello
                | TabMessage::Need { .. }
                | TabMessage::Context { .. }
                | TabMessage::Logout { .. }
        )
    }

    /// The message as it goes on the channel.
    pub fn to_json(&self) -> Value {
        match self {
            TabMessage::Hello => json!({ "t": "hello" }),
            TabMessage::View { view, nonces } => {
                json!({ "t": "view", "view": view, "nonces": nonces })
            }
            TabMessage::Need {
                id,
                resource,
                force,
                by,
            } => json!({ "t": "need", "id": id, "resource": resource, "force": force, "by": by }),
            TabMessage::Context {
                id,
                context,
                resource,
                by,
            } => {
                json!({ "t": "context", "id": id, "context": context, "resource": resource, "by": by })
            }
            TabMessage::Logout { proof } => json!({ "t": "logout", "proof": proof }),
            TabMessage::Done { id, error } => json!({ "t": "done", "id": id, "error": error }),
            TabMessage::End {
                holder,
                reason,
                proof,
            } => json!({ "t": "end", "holder": holder, "reason": reason, "proof": proof }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<TabMessage> {
        vec![
            TabMessage::Hello,
            TabMessage::View {
                view: json!({ "holder": "tab-a", "tokens": {} }),
                nonces: Some(json!({ "https://api.example": "n1" })),
            },
            TabMessage::Need {
                id: Some("q1".into()),
                resource: Some("e-helse:sfm.api".into()),
                force: true,
                by: "tab-b".into(),
            },
            TabMessage::Context {
                id: Some("q2".into()),
                context: json!({ "organization": { "parent": "999999999" } }),
                resource: None,
                by: "tab-b".into(),
            },
            TabMessage::Logout {
                proof: Some("a.b.c".into()),
            },
            TabMessage::Done {
                id: "q1".into(),
                error: Some(json!({ "code": "login_required" })),
            },
            TabMessage::End {
                holder: "tab-a".into(),
                reason: "logout".into(),
                proof: None,
            },
        ]
    }

    #[test]
    fn every_message_reads_back_as_written() {
        for message in all() {
            assert_eq!(TabMessage::read(&message.to_json()), Some(message));
        }
    }

    #[test]
    fn only_hello_need_context_and_logout_are_the_holders_to_answer() {
        let for_holder: Vec<bool> = all().iter().map(TabMessage::for_holder).collect();
        assert_eq!(for_holder, [true, false, true, true, true, false, false]);
    }

    #[test]
    fn malformed_or_unknown_messages_are_dropped() {
        for bad in [
            json!("need"),
            json!([]),
            json!({}),
            json!({ "t": "view" }),
            json!({ "t": "view", "view": "x" }),
            json!({ "t": "need", "force": "yes" }),
            json!({ "t": "need", "resource": 7 }),
            json!({ "t": "need", "id": "x".repeat(65) }),
            json!({ "t": "need", "by": {} }),
            json!({ "t": "done" }),
            json!({ "t": "done", "id": 1 }),
            json!({ "t": "end", "holder": "tab-a" }),
            json!({ "t": "end", "holder": "tab-a", "reason": "logout", "proof": 1 }),
            json!({ "t": "logout", "proof": [] }),
            json!({ "t": "snapshot" }),
        ] {
            assert_eq!(TabMessage::read(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_need_without_by_or_force_is_another_tabs_unforced_need() {
        let m = TabMessage::read(&json!({ "t": "need", "id": "q" })).unwrap();
        assert_eq!(
            m,
            TabMessage::Need {
                id: Some("q".into()),
                resource: None,
                force: false,
                by: String::new(),
            }
        );
    }
}
