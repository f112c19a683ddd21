//! The session host (API.md "Session host"): a module `SharedWorker` that holds the session
//! (refresh token, ID token, DPoP key, client key, the engine) for every tab of the app. Pages
//! are its clients, each over its own `MessagePort`, so no page can read or forge what the host
//! says to another page. This module is the protocol and the host's decisions, as plain data:
//! the messages both ways (parsed strictly, size-checked first), which pages may share a host,
//! and which page is asked to sign a client assertion next.

use serde_json::{json, Map, Value};

use super::config::PAGE_LOCAL_KEYS;
use super::json::{parse_object, Read};

pub use super::limits::{ANSWER_MS as WORKER_START_MS, MAX_MESSAGE_CHARS};

/// The name of the lock a host session keeps while it lives (pages watch it: a crashed or
/// ended worker frees it).
pub fn host_lock(version: &str, issuer: &str, client_id: &str) -> String {
    format!("helseid-wasm:host:{version}:{issuer}:{client_id}")
}

/// Sessions a host keeps apart: one per issuer and client id (the worker itself is one per
/// origin and package version).
pub fn session_key(issuer: &str, client_id: &str) -> String {
    format!("{issuer}\n{client_id}")
}

/// How a page authenticates the client (its `clientAuth.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignerKind {
    /// The page signs with its own non-extractable `CryptoKey`.
    Key,
    /// The page's `getAssertion` signs on request.
    Provider,
    None,
}

/// What a page says to the host.
#[derive(Debug, PartialEq)]
pub enum FromPage {
    /// A page joins: its package version, its config (page-local keys removed), the Web Lock
    /// it holds while it lives, and how it signs (a page with a key or an `assertion_provider`
    /// signs the client assertions the host asks it for: its key never leaves it).
    Hello {
        version: String,
        config: Value,
        lock: String,
        signer: SignerKind,
        alg: Option<String>,
        kid: Option<String>,
    },
    /// A fresh token for `resource` (`force`: a new one even when the cached one is fresh).
    /// `by`: the page's engine id, so that its `tokenRefreshed` says `call` (elsewhere
    /// `other-tab`); a label, trusted for nothing else.
    Need {
        id: String,
        resource: Option<String>,
        force: bool,
        by: Option<String>,
    },
    SetContext {
        id: String,
        context: Value,
        resource: Option<String>,
        by: Option<String>,
    },
    Logout {
        id: String,
        state: Option<String>,
    },
    /// `loginWithRedirect`: the host makes the request (and the DPoP key); the page keeps the
    /// login attempt for its callback and leaves.
    Login {
        id: String,
        options: Value,
    },
    /// The authorization response (query pairs) with the attempt the page kept.
    Callback {
        id: String,
        params: Vec<(String, String)>,
        tx: Option<Value>,
    },
    /// The page's answer to [`ToPage::Sign`].
    Signed {
        id: String,
        outcome: Result<String, SignFailure>,
    },
    /// A `DPoP-Nonce` an API gave this page (RFC 9449 §9): the next proof anywhere uses it.
    Nonce {
        url: String,
        nonce: String,
    },
    /// The answer to [`ToPage::Ping`]: this page is still there.
    Pong,
    /// A DPoP proof (RFC 9449 §4) for one API request: the key never leaves the host (engines
    /// cannot all clone a `CryptoKey` into a worker, and no page needs more than proofs).
    Proof {
        id: String,
        method: String,
        url: String,
        /// §4.3: the hash of the access token the request carries.
        ath: Option<String>,
    },
}

/// Why a page could not sign (API.md `assertion_provider`: a `TypeError` is a network failure).
#[derive(Clone, Debug, PartialEq)]
pub enum SignFailure {
    Network(String),
    Refused(String),
    /// Not a JWS.
    Invalid,
}

fn id(m: &Map<String, Value>) -> Option<String> {
    m.string("id").filter(|id| !id.is_empty() && id.len() <= 64)
}

fn opt_string(m: &Map<String, Value>, name: &str) -> Option<Option<String>> {
    match m.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

/// Reads a page's message; `None` for anything too long, malformed or unknown (dropped).
pub fn read_from_page(text: &str) -> Option<FromPage> {
    if text.len() > MAX_MESSAGE_CHARS {
        return None;
    }
    let m = parse_object(text)?;
    Some(match m.str("t")? {
        "hello" => {
            let mut config = m.object("config")?.clone();
            for key in PAGE_LOCAL_KEYS {
                config.remove(key);
            }
            FromPage::Hello {
                version: m.string("version")?,
                config: Value::Object(config),
                lock: m.string("lock").filter(|l| !l.is_empty())?,
                signer: match m.str("signer")? {
                    "key" => SignerKind::Key,
                    "provider" => SignerKind::Provider,
                    "none" => SignerKind::None,
                    _ => return None,
                },
                alg: opt_string(&m, "alg")?,
                kid: opt_string(&m, "kid")?,
            }
        }
        "need" => FromPage::Need {
            id: id(&m)?,
            resource: opt_string(&m, "resource")?,
            force: m.bool("force").unwrap_or(false),
            by: opt_string(&m, "by")?,
        },
        "context" => FromPage::SetContext {
            id: id(&m)?,
            context: m.get("context").cloned().unwrap_or(Value::Null),
            resource: opt_string(&m, "resource")?,
            by: opt_string(&m, "by")?,
        },
        "logout" => FromPage::Logout {
            id: id(&m)?,
            state: opt_string(&m, "state")?,
        },
        "login" => FromPage::Login {
            id: id(&m)?,
            options: m.get("options").cloned().unwrap_or(Value::Null),
        },
        "callback" => {
            let mut params = Vec::new();
            for pair in m.array("params")? {
                let pair = pair.as_array().filter(|p| p.len() == 2)?;
                params.push((pair[0].as_str()?.to_string(), pair[1].as_str()?.to_string()));
            }
            FromPage::Callback {
                id: id(&m)?,
                params,
                tx: m.get("tx").filter(|t| t.is_object()).cloned(),
            }
        }
        "signed" => FromPage::Signed {
            id: id(&m)?,
            outcome: match (m.string("assertion"), m.str("failure")) {
                (Some(a), None) => Ok(a),
                (None, Some("network")) => Err(SignFailure::Network(m.string("message")?)),
                (None, Some("refused")) => Err(SignFailure::Refused(m.string("message")?)),
                (None, Some("invalid")) => Err(SignFailure::Invalid),
                _ => return None,
            },
        },
        "proof" => FromPage::Proof {
            id: id(&m)?,
            method: m
                .string("method")
                .filter(|v| !v.is_empty() && v.len() <= 16)?,
            url: m.string("url")?,
            ath: opt_string(&m, "ath")?,
        },
        "pong" => FromPage::Pong,
        "nonce" => FromPage::Nonce {
            url: m.string("url")?,
            nonce: m
                .string("nonce")
                .filter(|n| !n.is_empty() && n.len() <= 512)?,
        },
        _ => return None,
    })
}

impl FromPage {
    /// The message as it goes on the port.
    pub fn to_text(&self) -> String {
        match self {
            FromPage::Hello {
                version,
                config,
                lock,
                signer,
                alg,
                kid,
            } => json!({
                "t": "hello", "version": version, "config": config, "lock": lock,
                "signer": match signer { SignerKind::Key => "key", SignerKind::Provider => "provider", SignerKind::None => "none" },
                "alg": alg, "kid": kid,
            }),
            FromPage::Need {
                id,
                resource,
                force,
                by,
            } => json!({ "t": "need", "id": id, "resource": resource, "force": force, "by": by }),
            FromPage::SetContext {
                id,
                context,
                resource,
                by,
            } => json!({ "t": "context", "id": id, "context": context, "resource": resource, "by": by }),
            FromPage::Logout { id, state } => json!({ "t": "logout", "id": id, "state": state }),
            FromPage::Login { id, options } => json!({ "t": "login", "id": id, "options": options }),
            FromPage::Callback { id, params, tx } => {
                let params: Vec<Value> = params.iter().map(|(k, v)| json!([k, v])).collect();
                json!({ "t": "callback", "id": id, "params": params, "tx": tx })
            }
            FromPage::Signed { id, outcome } => match outcome {
                Ok(a) => json!({ "t": "signed", "id": id, "assertion": a }),
                Err(SignFailure::Network(m)) => {
                    json!({ "t": "signed", "id": id, "failure": "network", "message": m })
                }
                Err(SignFailure::Refused(m)) => {
                    json!({ "t": "signed", "id": id, "failure": "refused", "message": m })
                }
                Err(SignFailure::Invalid) => json!({ "t": "signed", "id": id, "failure": "invalid" }),
            },
            FromPage::Nonce { url, nonce } => json!({ "t": "nonce", "url": url, "nonce": nonce }),
            FromPage::Pong => json!({ "t": "pong" }),
            FromPage::Proof {
                id,
                method,
                url,
                ath,
            } => json!({ "t": "proof", "id": id, "method": method, "url": url, "ath": ath }),
        }
        .to_string()
    }
}

/// What the host says to a page.
#[derive(Debug, PartialEq)]
pub enum ToPage {
    /// The answer to `hello`: the provider metadata the host uses (so the page fetches no
    /// discovery), or why the page cannot join (an error as `Error::to_json`).
    Welcome { result: Result<Value, Value> },
    /// The session as every page may see it (the engine's shared view: no refresh token, no
    /// ID token, the DPoP key's thumbprint `dpopJkt`) and the DPoP nonces.
    View { view: Value, nonces: Value },
    /// The session ended (`logout` or `expired`).
    End { holder: String, reason: String },
    /// The answer to a request `id`: an error, or a value (`login`: the URL and the attempt;
    /// `logout`: where to send the browser).
    Done {
        id: String,
        result: Result<Value, Value>,
    },
    /// Sign a client assertion for `ctx` (API.md `AssertionContext`).
    Sign { id: String, ctx: Value },
    /// The page's lock went free (any page of the origin can steal one): is it still there?
    Ping,
}

impl ToPage {
    pub fn to_text(&self) -> String {
        match self {
            ToPage::Welcome { result } => match result {
                Ok(m) => json!({ "t": "welcome", "metadata": m }),
                Err(e) => json!({ "t": "welcome", "error": e }),
            },
            ToPage::View { view, nonces } => json!({ "t": "view", "view": view, "nonces": nonces }),
            ToPage::End { holder, reason } => {
                json!({ "t": "end", "holder": holder, "reason": reason })
            }
            ToPage::Done { id, result } => match result {
                Ok(v) => json!({ "t": "done", "id": id, "value": v }),
                Err(e) => json!({ "t": "done", "id": id, "error": e }),
            },
            ToPage::Sign { id, ctx } => json!({ "t": "sign", "id": id, "ctx": ctx }),
            ToPage::Ping => json!({ "t": "ping" }),
        }
        .to_string()
    }
}

/// Reads the host's message (`alive` is the worker script's own, before any of these).
pub fn read_to_page(text: &str) -> Option<ToPage> {
    if text.len() > MAX_MESSAGE_CHARS {
        return None;
    }
    let m = parse_object(text)?;
    let result = |m: &Map<String, Value>, ok: &str| match (m.get(ok), m.get("error")) {
        (_, Some(e)) if !e.is_null() => Some(Err(e.clone())),
        (v, _) => Some(Ok(v.cloned().unwrap_or(Value::Null))),
    };
    Some(match m.str("t")? {
        "welcome" => ToPage::Welcome {
            result: result(&m, "metadata")?,
        },
        "view" => ToPage::View {
            view: m.get("view")?.clone(),
            nonces: m.get("nonces").cloned().unwrap_or(Value::Null),
        },
        "end" => ToPage::End {
            holder: m.string("holder")?,
            reason: m.string("reason")?,
        },
        "done" => ToPage::Done {
            id: id(&m)?,
            result: result(&m, "value")?,
        },
        "sign" => ToPage::Sign {
            id: id(&m)?,
            ctx: m.get("ctx").filter(|c| c.is_object())?.clone(),
        },
        "ping" => ToPage::Ping,
        _ => return None,
    })
}

/// Whether a page with `config` may join a host session made with `first`: the same
/// configuration, page-local keys aside (both already stripped of them by
/// [`read_from_page`]). A page with other checks (another `requiredSecurityLevel`,
/// `clockToleranceSeconds`, ...) must not get tokens checked by someone else's rules.
pub fn same_session_config(first: &Value, config: &Value) -> bool {
    first == config
}

/// The pages that can sign client assertions (`assertion_provider`), in the order they
/// joined: the host asks the first live one, and the next after a timeout or a failure.
#[derive(Debug, Default)]
pub struct Signers {
    pages: Vec<u32>,
}

impl Signers {
    pub fn add(&mut self, page: u32) {
        if !self.pages.contains(&page) {
            self.pages.push(page);
        }
    }

    /// A page closed (its lock was released) or left.
    pub fn remove(&mut self, page: u32) {
        self.pages.retain(|p| *p != page);
    }

    /// The page to ask next, given the ones already asked for this assertion.
    pub fn next(&self, asked: &[u32]) -> Option<u32> {
        self.pages.iter().copied().find(|p| !asked.contains(p))
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_message_reads_back_as_written() {
        let messages = vec![
            FromPage::Hello {
                version: "0.1.0".into(),
                config: json!({ "issuer": "https://a.test", "clientId": "c" }),
                lock: "helseid-wasm:tab:x".into(),
                signer: SignerKind::Provider,
                alg: None,
                kid: Some("k".into()),
            },
            FromPage::Need {
                id: "1".into(),
                resource: Some("e-helse:sfm.api".into()),
                force: true,
                by: Some("tab".into()),
            },
            FromPage::SetContext {
                id: "2".into(),
                context: json!({ "organization": { "child": "910000011" } }),
                resource: None,
                by: None,
            },
            FromPage::Logout {
                id: "3".into(),
                state: Some("bye".into()),
            },
            FromPage::Login {
                id: "4".into(),
                options: json!({ "loginHint": "kvart" }),
            },
            FromPage::Callback {
                id: "5".into(),
                params: vec![("code".into(), "c".into()), ("state".into(), "s".into())],
                tx: Some(json!({ "state": "s" })),
            },
            FromPage::Signed {
                id: "6".into(),
                outcome: Ok("a.b.c".into()),
            },
            FromPage::Signed {
                id: "7".into(),
                outcome: Err(SignFailure::Network("offline".into())),
            },
            FromPage::Signed {
                id: "8".into(),
                outcome: Err(SignFailure::Invalid),
            },
            FromPage::Nonce {
                url: "https://api.test/x".into(),
                nonce: "n".into(),
            },
            FromPage::Pong,
            FromPage::Proof {
                id: "9".into(),
                method: "POST".into(),
                url: "https://api.test/x".into(),
                ath: Some("h".into()),
            },
        ];
        for m in messages {
            assert_eq!(read_from_page(&m.to_text()).as_ref(), Some(&m), "{m:?}");
        }
        let to_page = vec![
            ToPage::Welcome {
                result: Ok(json!({ "issuer": "https://a.test" })),
            },
            ToPage::Welcome {
                result: Err(json!({ "code": "config_invalid" })),
            },
            ToPage::View {
                view: json!({ "holder": "h" }),
                nonces: json!({}),
            },
            ToPage::End {
                holder: "h".into(),
                reason: "logout".into(),
            },
            ToPage::Done {
                id: "1".into(),
                result: Ok(json!("https://op.test/end")),
            },
            ToPage::Done {
                id: "2".into(),
                result: Err(json!({ "code": "login_required" })),
            },
            ToPage::Sign {
                id: "3".into(),
                ctx: json!({ "grantType": "refresh_token" }),
            },
            ToPage::Ping,
        ];
        for m in to_page {
            assert_eq!(read_to_page(&m.to_text()).as_ref(), Some(&m), "{m:?}");
        }
    }

    #[test]
    fn hello_loses_the_page_local_keys_so_pages_that_differ_only_there_share_a_host() {
        let text = json!({
            "t": "hello", "version": "1", "lock": "l", "signer": "none",
            "config": { "issuer": "https://a.test", "clientAuth": {}, "sessionHost": "worker", "workerUrl": "/w.js" },
        })
        .to_string();
        let Some(FromPage::Hello { config, .. }) = read_from_page(&text) else {
            panic!("not a hello")
        };
        assert_eq!(config, json!({ "issuer": "https://a.test" }));
        assert!(same_session_config(
            &config,
            &json!({ "issuer": "https://a.test" })
        ));
        assert!(!same_session_config(
            &config,
            &json!({ "issuer": "https://a.test", "requiredSecurityLevel": "3" })
        ));
    }

    #[test]
    fn malformed_unknown_and_oversized_messages_are_dropped() {
        for text in [
            "",
            "[]",
            "{}",
            r#"{"t":"need"}"#,
            r#"{"t":"need","id":""}"#,
            r#"{"t":"need","id":1}"#,
            r#"{"t":"need","id":"x","resource":7}"#,
            r#"{"t":"hello","version":"1","config":{},"lock":"","signer":"none"}"#,
            r#"{"t":"hello","version":"1","config":{},"lock":"l","signer":"secret"}"#,
            r#"{"t":"signed","id":"x","assertion":"a","failure":"network","message":"m"}"#,
            r#"{"t":"callback","id":"x","params":[["code"]]}"#,
            r#"{"t":"nonce","url":"https://a.test","nonce":""}"#,
            r#"{"t":"view"}"#,
            r#"{"t":"sign","id":"x","ctx":"text"}"#,
            r#"{"t":"unknown","id":"x"}"#,
        ] {
            assert_eq!(read_from_page(text), None, "{text}");
            assert_eq!(read_to_page(text), None, "{text}");
        }
        let long_id = format!(r#"{{"t":"need","id":"{}"}}"#, "x".repeat(65));
        assert_eq!(read_from_page(&long_id), None);
        let huge = format!(
            r#"{{"t":"need","id":"x","resource":"{}"}}"#,
            "r".repeat(MAX_MESSAGE_CHARS)
        );
        assert_eq!(read_from_page(&huge), None);
    }

    #[test]
    fn signers_are_asked_in_the_order_they_joined_and_a_closed_page_is_skipped() {
        let mut s = Signers::default();
        assert!(s.is_empty());
        s.add(3);
        s.add(1);
        s.add(3);
        assert_eq!(s.next(&[]), Some(3));
        assert_eq!(s.next(&[3]), Some(1));
        assert_eq!(s.next(&[3, 1]), None);
        s.remove(3);
        assert_eq!(s.next(&[]), Some(1));
        s.remove(1);
        assert!(s.is_empty());
        assert_eq!(s.next(&[]), None);
    }

    #[test]
    fn lock_and_session_names_keep_versions_issuers_and_clients_apart() {
        assert_ne!(
            host_lock("0.1.0", "https://a.test", "c"),
            host_lock("0.2.0", "https://a.test", "c")
        );
        assert_ne!(
            session_key("https://a.test", "c"),
            session_key("https://a.test", "d")
        );
    }
}
