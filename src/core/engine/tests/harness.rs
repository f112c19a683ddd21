//! The tests' harness: a configured engine (`H`) logged in with tokens made here (their
//! signatures count as checked: that is the shell's part), the clock pinned, and the inputs the
//! shell would make (token responses, verified answers, app calls, logout), their actions read
//! back.

use serde_json::{json, Value};

use super::super::*;
use crate::core::base64url;
use crate::core::callback::Transaction;
use crate::core::config::ClientAuthMethod;
use crate::core::helseid::{ORGNR_CHILD, ORGNR_PARENT, SECURITY_LEVEL, SFM_ID, TRUST_FRAMEWORK};
use crate::core::jwt::{self, SignatureChecked};
use crate::core::secret::{AuthorizationCode, CodeVerifier};
use crate::core::token::TokenResponse;

pub(crate) const ISS: &str = "https://helseid-sts.test.nhn.no";
pub(crate) const CLIENT: &str = "c1";
pub(crate) const SFM: &str = "e-helse:sfm.api";
pub(crate) const OTHER: &str = "e-helse:other.api";
pub(crate) const KJ: &str = "nhn:kjernejournal";
pub(crate) const JKT: &str = "jkt-of-the-dpop-key";
pub(crate) const T0: i64 = 1_700_000_000;
pub(crate) const USER: &str = "user+1=";

pub(crate) fn config(extra: &str) -> Config {
    Config::from_json(
        &format!(
            r#"{{"issuer":"{ISS}","clientId":"{CLIENT}","redirectUri":"https://app.test/","scope":"openid offline_access","resources":["{SFM}","{OTHER}","{KJ}"],"requireSfmId":true,"requiredSecurityLevel":"4"{extra}}}"#
        ),
        ClientAuthMethod::AssertionProvider,
    )
    .unwrap()
}

fn jwt_of(header: Value, claims: Value) -> String {
    let part = |v: &Value| base64url::encode(v.to_string().as_bytes());
    format!(
        "{}.{}.{}",
        part(&header),
        part(&claims),
        base64url::encode(b"sig")
    )
}

pub(crate) fn checked(token: &str) -> SignatureChecked {
    jwt::decode(token).unwrap().signature_checked()
}

pub(crate) fn id_token(sub: &str, nonce: Option<&str>, now: i64) -> String {
    let mut claims = json!({
        "iss": ISS, "aud": CLIENT, "sub": sub, "iat": now, "exp": now + 300,
        SECURITY_LEVEL: "4", "name": "KVART GREVLING",
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    jwt_of(json!({"alg": "RS256", "typ": "JWT"}), claims)
}

/// An access token for `aud`, bound to [`JKT`], with `extra` claims merged in.
pub(crate) fn access_token(aud: &str, sub: &str, now: i64, extra: Value) -> String {
    let mut claims = json!({
        "iss": ISS, "aud": aud, "sub": sub, "client_id": CLIENT, "iat": now, "exp": now + 600,
        "cnf": { "jkt": JKT }, SECURITY_LEVEL: "4", SFM_ID: "sfm-1", "scope": ["openid"],
        "name": "KVART GREVLING",
        "jti": format!("{aud}-{now}-{}", extra),
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    jwt_of(json!({"alg": "RS256", "typ": "at+jwt"}), claims)
}

pub(crate) fn body(at: &str, id: Option<&str>, rt: Option<&str>, expires_in: i64) -> String {
    let mut b = json!({ "access_token": at, "token_type": "DPoP", "expires_in": expires_in });
    if let Some(id) = id {
        b["id_token"] = json!(id);
    }
    if let Some(rt) = rt {
        b["refresh_token"] = json!(rt);
    }
    b.to_string()
}

pub(crate) struct H {
    pub e: Engine,
    pub now: i64,
}

impl H {
    pub(crate) fn new(extra: &str) -> H {
        let mut e = Engine::new(config(extra), "tab-a".into());
        e.handle(Input::DpopKey(Some(JKT.into())), T0);
        H { e, now: T0 }
    }

    /// [`Input::CodeExchange`] with the DPoP key the login began with: its ticket, or why not.
    pub(crate) fn exchange(&mut self, tx: Transaction) -> Result<Ticket> {
        let dpop_jkt = tx.dpop_jkt.clone();
        let code = AuthorizationCode::new("code");
        let mut actions = self
            .e
            .handle(Input::CodeExchange { tx, code, dpop_jkt }, self.now);
        match actions.pop() {
            Some(Action::Refresh(ticket)) => Ok(ticket),
            Some(Action::Settled(Err(e))) => Err(e),
            other => panic!("not a reply: {other:?}"),
        }
    }

    pub(crate) fn logged_in(extra: &str) -> H {
        let mut h = H::new(extra);
        h.login(USER, None).unwrap();
        h.e.take_actions();
        h
    }

    pub(crate) fn login(&mut self, sub: &str, context: Option<Value>) -> Result<()> {
        let tx = Transaction {
            state: "s".into(),
            nonce: "n1".into(),
            code_verifier: CodeVerifier::new("v"),
            redirect_uri: "https://app.test/".into(),
            created_at: self.now,
            dpop_jkt: Some(JKT.into()),
            context,
        };
        let ticket = self.exchange(tx)?;
        let extra = self.claims_for(&ticket);
        let at = access_token(SFM, sub, self.now, extra);
        let id = id_token(sub, Some("n1"), self.now);
        self.answer(ticket, &body(&at, Some(&id), Some("rt-1"), 600))
    }

    /// The claims HelseID would add for the ticket's context.
    fn claims_for(&self, ticket: &Ticket) -> Value {
        let mut extra = json!({});
        if let Some(org) = ticket.context.as_ref().and_then(|c| c.organization.clone()) {
            if let Some(p) = org.parent {
                extra[ORGNR_PARENT] = json!(p);
            }
            if let Some(c) = org.child {
                extra[ORGNR_CHILD] = json!(c);
            }
        }
        if ticket.context.as_ref().is_some_and(|c| c.has_attest()) && ticket.key.resource == KJ {
            extra[TRUST_FRAMEWORK] = json!({"practitioner": {}});
        }
        extra
    }

    pub(crate) fn answer(&mut self, ticket: Ticket, body: &str) -> Result<()> {
        let (ticket, response) =
            respond(&mut self.e, ticket, Ok((200, body.to_string())), self.now)?;
        let signed = Signed {
            id_token: response.id_token.as_ref().map(|t| checked(t.expose())),
            access_token: checked(response.access_token.expose()),
        };
        verified(&mut self.e, ticket, response, Ok(signed), self.now)
    }

    /// Answers a refresh ticket the way the double would, with a new refresh token.
    pub(crate) fn refresh_ok(&mut self, ticket: Ticket, rt: &str) -> Result<()> {
        let aud = if ticket.key.resource.is_empty() {
            SFM.to_string()
        } else {
            ticket.key.resource.clone()
        };
        let extra = self.claims_for(&ticket);
        let at = access_token(&aud, USER, self.now, extra);
        self.answer(ticket, &body(&at, None, Some(rt), 600))
    }

    pub(crate) fn fail(&mut self, ticket: Ticket, status: u16, body: &str) -> Error {
        respond(
            &mut self.e,
            ticket,
            Ok((status, body.to_string())),
            self.now,
        )
        .unwrap_err()
    }

    /// `getAccessToken` here ([`Input::Token`]): the refresh it starts.
    pub(crate) fn ticket(&mut self, resource: Option<&str>, force: bool) -> Ticket {
        let input = Input::Token {
            resource: resource.map(String::from),
            force,
            by: None,
        };
        match call(&mut self.e, input, self.now) {
            Action::Refresh(t) => t,
            other => panic!("expected a refresh, got {other:?}"),
        }
    }

    /// A timer wake-up at `now`: the refreshes it starts (a holder's timer asks nobody).
    pub(crate) fn timer(&mut self) -> Vec<Ticket> {
        self.timer_work()
            .into_iter()
            .map(|work| match work {
                Action::Refresh(t) => t,
                other => panic!("expected a refresh, got {other:?}"),
            })
            .collect()
    }

    /// What a wake-up starts ([`Action::Refresh`], [`Action::AskHolder`]); its other actions
    /// are left for the test.
    pub(crate) fn timer_work(&mut self) -> Vec<Action> {
        self.e.on_timer(self.now);
        let (work, rest) = self
            .e
            .take_actions()
            .into_iter()
            .partition(|a| matches!(a, Action::Refresh(_) | Action::AskHolder(_)));
        self.e.actions = rest;
        work
    }

    pub(crate) fn refresh_token_sent(t: &Ticket) -> String {
        t.body.get("refresh_token").unwrap().to_string()
    }
}

/// An app call's reply, as the tests read it (`props.rs`, native only, reads the token).
#[derive(Debug)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) enum Next {
    Ready(AccessToken),
    Refresh(Ticket),
    Wait(FlightId),
    AskHolder(Ask),
    Busy(FlightId),
}

/// The app calls through [`Engine::handle`], their reply as a [`Next`] (`by`: this engine's
/// app); the other actions are left for the test.
pub(crate) trait Calls {
    fn token(&mut self, resource: Option<&str>, force: bool, now: i64) -> Result<Next>;
    fn set_context(&mut self, context: Option<Context>, resource: Option<&str>) -> Result<Next>;
}

impl Calls for Engine {
    fn token(&mut self, resource: Option<&str>, force: bool, now: i64) -> Result<Next> {
        let input = Input::Token {
            resource: resource.map(String::from),
            force,
            by: None,
        };
        next(call(self, input, now))
    }

    fn set_context(&mut self, context: Option<Context>, resource: Option<&str>) -> Result<Next> {
        let input = Input::SetContext {
            context,
            resource: resource.map(String::from),
            by: None,
        };
        // setContext reads no clock.
        next(call(self, input, 0))
    }
}

fn next(reply: Action) -> Result<Next> {
    Ok(match reply {
        Action::Answer(answer) => {
            let (token, _) = answer?;
            Next::Ready(token)
        }
        Action::Refresh(ticket) => Next::Refresh(ticket),
        Action::Wait(id) => Next::Wait(id),
        Action::AskHolder(ask) => Next::AskHolder(ask),
        Action::Busy(id) => Next::Busy(id),
        other => panic!("not a reply: {other:?}"),
    })
}

/// An app call ([`Input::Token`], [`Input::SetContext`]): its reply, the last action; the
/// other actions are left for the test.
pub(crate) fn call(e: &mut Engine, input: Input, now: i64) -> Action {
    let mut actions = e.handle(input, now);
    let reply = actions.pop().expect("an app call has a reply");
    e.actions.extend(actions);
    reply
}

/// `logout()` ([`Input::Logout`]), its plan read back (test side).
#[derive(Debug)]
pub(crate) struct Plan {
    pub revoke: Option<RefreshToken>,
    pub ask_holder: Option<String>,
    pub end_session_url: Option<String>,
}

/// [`Input::Logout`]: what to revoke now, the holder to ask and where the browser goes (the
/// reply, last); the other actions are left for the test.
pub(crate) fn logout(e: &mut Engine, endpoint: Option<&str>, state: Option<&str>) -> Plan {
    let input = Input::Logout {
        end_session_endpoint: endpoint.map(String::from),
        state: state.map(String::from),
    };
    let mut actions = e.handle(input, T0);
    let Some(Action::Leave(end_session_url)) = actions.pop() else {
        panic!("logout's reply is last: {actions:?}")
    };
    let mut plan = Plan {
        revoke: None,
        ask_holder: None,
        end_session_url,
    };
    for action in actions {
        match action {
            Action::Revoke(rt) => plan.revoke = Some(rt),
            Action::AskLogout { holder, .. } => plan.ask_holder = Some(holder),
            action => e.actions.push(action),
        }
    }
    plan
}

/// [`Input::TokenResponse`]: the answer to verify ([`Action::Verify`]), or the flight's
/// outcome ([`Action::Landed`]); the other actions are left for the test.
pub(crate) fn respond(
    e: &mut Engine,
    ticket: Ticket,
    answer: Result<(u16, String)>,
    now: i64,
) -> Result<(Ticket, TokenResponse)> {
    let id = ticket.id;
    let mut outcome = None;
    for action in e.handle(Input::TokenResponse { ticket, answer }, now) {
        match action {
            Action::Verify(t, r) => outcome = Some(Ok((t, r))),
            Action::Landed(landed, Err(err)) if landed == id => outcome = Some(Err(err)),
            other => e.actions.push(other),
        }
    }
    outcome.expect("a token response is verified or lands")
}

/// [`Input::Verified`] for `response`, its tokens' signatures taken as checked.
pub(crate) fn verified_input(ticket: Ticket, response: TokenResponse) -> Input {
    let signed = Ok(Signed {
        id_token: response.id_token.as_ref().map(|t| checked(t.expose())),
        access_token: checked(response.access_token.expose()),
    });
    Input::Verified {
        ticket,
        response,
        signed,
    }
}

/// [`Input::Verified`]: the flight's outcome ([`Action::Landed`], always last); the other
/// actions are left for the test.
pub(crate) fn verified(
    e: &mut Engine,
    ticket: Ticket,
    response: TokenResponse,
    signed: Result<Signed>,
    now: i64,
) -> Result<()> {
    let id = ticket.id;
    let mut actions = e.handle(
        Input::Verified {
            ticket,
            response,
            signed,
        },
        now,
    );
    match actions.pop() {
        Some(Action::Landed(landed, outcome)) if landed == id => {
            e.actions.extend(actions);
            outcome
        }
        other => panic!("expected the flight to land, got {other:?}"),
    }
}

pub(crate) fn events(actions: &[Action]) -> Vec<AppEvent> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}
