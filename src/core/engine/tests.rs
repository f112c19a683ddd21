//! The engine's rules, one behaviour per test, with tokens made here (their signatures count
//! as checked: that is the shell's part) and the clock pinned.

use serde_json::{json, Value};

use super::*;
use crate::core::base64url;
use crate::core::callback::Transaction;
use crate::core::config::ClientAuthMethod;
use crate::core::helseid::{ORGNR_CHILD, ORGNR_PARENT, SECURITY_LEVEL, SFM_ID, TRUST_FRAMEWORK};
use crate::core::jwt::{self, SignatureChecked};
use crate::core::secret::CodeVerifier;

pub(crate) const ISS: &str = "https://helseid-sts.test.nhn.no";
pub(crate) const CLIENT: &str = "c1";
pub(crate) const SFM: &str = "e-helse:sfm.api";
pub(crate) const OTHER: &str = "e-helse:other.api";
pub(crate) const KJ: &str = "nhn:kjernejournal";
pub(crate) const JKT: &str = "jkt-of-the-dpop-key";
pub(crate) const T0: i64 = 1_700_000_000;
const USER: &str = "user+1=";

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
        e.set_dpop_jkt(Some(JKT.into()));
        H { e, now: T0 }
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
        let ticket = self.e.login_ticket(&tx, &AuthorizationCode::new("code"))?;
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
        let response = self
            .e
            .on_response(&ticket, Ok((200, body.to_string())), self.now)?;
        let signed = Signed {
            id_token: response.id_token.as_ref().map(|t| checked(t.expose())),
            access_token: checked(response.access_token.expose()),
        };
        self.e.on_verified(ticket, response, Ok(signed), self.now)
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

    pub(crate) fn fail(&mut self, ticket: &Ticket, status: u16, body: &str) -> Error {
        self.e
            .on_response(ticket, Ok((status, body.to_string())), self.now)
            .unwrap_err()
    }

    pub(crate) fn ticket(&mut self, resource: Option<&str>, force: bool) -> Ticket {
        match self.e.token(resource, force, self.now).unwrap() {
            Next::Refresh(t) => t,
            other => panic!("expected a refresh, got {other:?}"),
        }
    }

    fn refresh_token_sent(t: &Ticket) -> String {
        t.body.get("refresh_token").unwrap().to_string()
    }
}

fn events(actions: &[Action]) -> Vec<Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_login_makes_this_engine_the_holder_of_a_checked_session() {
    let mut h = H::new("");
    h.login(USER, None).unwrap();
    assert!(h.e.is_holder());
    let s = h.e.session().unwrap();
    assert_eq!(s.expires_at, T0 + 600);
    assert_eq!(s.helseid.name.as_deref(), Some("KVART GREVLING"));
    assert_eq!(s.token_type, "DPoP");
    let actions = h.e.take_actions();
    assert!(actions.iter().any(|a| matches!(a, Action::Announce)));
    assert!(
        events(&actions).is_empty(),
        "a login fires no tokenRefreshed"
    );
}

#[test]
fn the_code_exchange_names_the_default_resource_and_carries_the_login_context() {
    let mut h = H::new(r#","context":{"organization":{"child":"998877665"}}"#);
    let tx = Transaction {
        state: "s".into(),
        nonce: "n".into(),
        code_verifier: CodeVerifier::new("v"),
        redirect_uri: "https://app.test/".into(),
        created_at: T0,
        dpop_jkt: None,
        context: Some(json!({"journalId": "6f1c9e2a-4b7d-4c1e-9a3f-2d5b8c7e1f00"})),
    };
    let t = h.e.login_ticket(&tx, &AuthorizationCode::new("c")).unwrap();
    assert_eq!(t.grant_type(), "authorization_code");
    assert_eq!(t.body.get("resource"), Some(SFM));
    let details = t.details.unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["type"], "nhn:sfm:journal-id");
}

#[test]
fn a_fresh_token_is_handed_out_without_a_request() {
    let mut h = H::logged_in("");
    assert!(h.e.cached_token(None, h.now).is_some());
    h.now += 571;
    assert!(
        h.e.cached_token(None, h.now).is_none(),
        "within the leeway: not from the cache"
    );
    h.now -= 71;
    assert!(matches!(
        h.e.token(None, false, h.now).unwrap(),
        Next::Ready(..)
    ));
    assert!(matches!(
        h.e.token(Some(SFM), false, h.now).unwrap(),
        Next::Ready(..)
    ));
}

#[test]
fn a_token_within_the_leeway_gets_one_refresh_that_other_callers_wait_for() {
    let mut h = H::logged_in("");
    h.now += 571; // 29 s left, leeway 30
    let t = h.ticket(None, false);
    assert_eq!(H::refresh_token_sent(&t), "rt-1");
    assert_eq!(t.body.get("resource"), Some(SFM));
    for _ in 0..5 {
        assert!(matches!(
            h.e.token(None, false, h.now).unwrap(),
            Next::Wait(_)
        ));
    }
    h.refresh_ok(t, "rt-2").unwrap();
    assert!(matches!(
        h.e.token(None, false, h.now).unwrap(),
        Next::Ready(..)
    ));
    assert_eq!(
        events(&h.e.take_actions()),
        [Event::TokenRefreshed {
            resource: SFM.into()
        }]
    );
    h.now += 580;
    assert_eq!(
        H::refresh_token_sent(&h.ticket(None, false)),
        "rt-2",
        "the rotated one"
    );
}

#[test]
fn the_refresh_token_rotates_even_when_the_new_access_token_fails_its_checks() {
    let mut h = H::logged_in("");
    h.now += 580;
    let t = h.ticket(None, false);
    let wrong_aud = access_token("e-helse:evil.api", USER, h.now, json!({}));
    let e = h
        .answer(t, &body(&wrong_aud, None, Some("rt-2"), 600))
        .unwrap_err();
    assert_eq!(
        (e.code, e.claim.as_deref()),
        (ErrorCode::ClaimInvalid, Some("aud"))
    );
    assert_eq!(
        h.e.session().unwrap().expires_at,
        T0 + 600,
        "old tokens kept"
    );
    assert_eq!(H::refresh_token_sent(&h.ticket(None, true)), "rt-2");
}

#[test]
fn invalid_grant_ends_the_session_with_login_required_and_one_session_expired() {
    let mut h = H::logged_in("");
    let t = h.ticket(None, true);
    let e = h.fail(&t, 400, r#"{"error":"invalid_grant"}"#);
    assert_eq!(e.code, ErrorCode::LoginRequired);
    assert_eq!(e.oauth_error.as_deref(), Some("invalid_grant"));
    let actions = h.e.take_actions();
    assert_eq!(events(&actions), [Event::SessionExpired]);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::AnnounceEnd(EndReason::Expired, Some(_)))));
    assert!(actions.iter().any(|a| matches!(a, Action::ForgetKey)));
    assert!(h.e.session().is_none());
    assert_eq!(
        h.e.token(None, false, h.now).unwrap_err().code,
        ErrorCode::LoginRequired
    );
    assert!(
        events(&h.e.take_actions()).is_empty(),
        "sessionExpired fires once"
    );
}

#[test]
fn a_network_failure_keeps_the_session_and_the_timer_backs_off() {
    let mut h = H::logged_in("");
    h.now += 580;
    let mut delays = Vec::new();
    for _ in 0..6 {
        let t = h.ticket(None, false);
        let e =
            h.e.on_response(&t, Err(Error::new(ErrorCode::NetworkError, "down")), h.now)
                .unwrap_err();
        assert!(e.retryable);
        delays.push(h.e.next_wakeup(h.now).unwrap());
        h.now += delays.last().unwrap();
        assert!(h.e.session().is_some());
    }
    assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
    let t = h.e.on_timer(h.now).expect("the timer retries");
    h.refresh_ok(t, "rt-2").unwrap();
    assert_eq!(
        h.e.next_wakeup(h.now),
        Some(570),
        "back to leeway before expiry"
    );
}

#[test]
fn a_server_error_is_retryable_and_keeps_the_session() {
    let mut h = H::logged_in("");
    let t = h.ticket(None, true);
    let e = h.fail(&t, 503, "busy");
    assert_eq!(
        (e.code, e.status, e.retryable),
        (ErrorCode::TokenRequestFailed, Some(503), true)
    );
    assert!(h.e.session().is_some());
}

#[test]
fn a_refreshed_id_token_for_another_subject_is_refused_and_the_old_tokens_kept() {
    let mut h = H::logged_in("");
    let t = h.ticket(None, true);
    let at = access_token(SFM, USER, h.now, json!({"x": 1}));
    let id = id_token("mallory", None, h.now);
    let e = h
        .answer(t, &body(&at, Some(&id), Some("rt-2"), 600))
        .unwrap_err();
    assert_eq!(
        (e.code, e.claim.as_deref()),
        (ErrorCode::ClaimInvalid, Some("sub"))
    );
    assert_eq!(h.e.session().unwrap().id_token_claims["sub"], USER);
}

#[test]
fn a_token_for_another_resource_has_its_own_key_audience_and_cache() {
    let mut h = H::logged_in("");
    let t = h.ticket(Some(OTHER), false);
    assert_eq!(t.body.get("resource"), Some(OTHER));
    assert!(h
        .e
        .token(None, false, h.now)
        .is_ok_and(|n| matches!(n, Next::Ready(..))));
    // The SFM id is required of the default token only.
    let at = access_token(OTHER, USER, h.now, json!({ SFM_ID: null }));
    h.answer(t, &body(&at, None, Some("rt-2"), 600)).unwrap();
    let (other, _) = h.e.fresh_token(Some(OTHER), h.now).unwrap();
    let (sfm, _) = h.e.fresh_token(None, h.now).unwrap();
    assert_ne!(other, sfm);
    assert!(matches!(
        h.e.token(Some(OTHER), false, h.now).unwrap(),
        Next::Ready(..)
    ));
    let t = h.ticket(Some("e-helse:third.api"), false);
    let wrong = access_token(SFM, USER, h.now, json!({}));
    let e = h.answer(t, &body(&wrong, None, None, 600)).unwrap_err();
    assert_eq!(e.claim.as_deref(), Some("aud"));
}

#[test]
fn a_token_bound_to_another_key_or_a_bearer_token_is_dpop_binding_mismatch() {
    let mut h = H::logged_in("");
    let t = h.ticket(None, true);
    let at = access_token(SFM, USER, h.now, json!({"cnf": {"jkt": "other"}}));
    let e = h.answer(t, &body(&at, None, None, 600)).unwrap_err();
    assert_eq!(e.code, ErrorCode::DpopBindingMismatch);
    let t = h.ticket(None, true);
    let bearer = json!({"access_token": "a.b.c", "token_type": "Bearer"}).to_string();
    let e = h.e.on_response(&t, Ok((200, bearer)), h.now).unwrap_err();
    assert_eq!(e.code, ErrorCode::DpopBindingMismatch);
    assert!(
        matches!(h.e.token(None, true, h.now).unwrap(), Next::Refresh(_)),
        "settled"
    );
}

#[test]
fn without_a_refresh_token_the_session_ends_when_its_access_token_does() {
    let mut h = H::new("");
    let tx = Transaction {
        state: "s".into(),
        nonce: "n1".into(),
        code_verifier: CodeVerifier::new("v"),
        redirect_uri: "https://app.test/".into(),
        created_at: T0,
        dpop_jkt: None,
        context: None,
    };
    let t = h.e.login_ticket(&tx, &AuthorizationCode::new("c")).unwrap();
    let at = access_token(SFM, USER, h.now, json!({}));
    h.answer(
        t,
        &body(&at, Some(&id_token(USER, Some("n1"), h.now)), None, 600),
    )
    .unwrap();
    assert_eq!(
        h.e.next_wakeup(h.now),
        None,
        "no timer without a refresh token"
    );
    h.e.take_actions();
    h.now += 590;
    assert_eq!(
        h.e.token(None, false, h.now).unwrap_err().code,
        ErrorCode::LoginRequired
    );
    assert_eq!(events(&h.e.take_actions()), [Event::SessionExpired]);
}

#[test]
fn logout_is_final_and_a_late_refresh_answer_is_revoked() {
    let mut h = H::logged_in("");
    let t = h.ticket(None, true);
    let plan =
        h.e.logout(Some("https://h.test/connect/endsession"), Some("bye"));
    assert_eq!(plan.revoke.unwrap().expose(), "rt-1");
    let url = plan.end_session_url.unwrap();
    assert!(
        url.contains("id_token_hint=") && url.contains("state=bye"),
        "{url}"
    );
    assert!(plan.ask_holder.is_none());
    let actions = h.e.take_actions();
    assert_eq!(events(&actions), [Event::LoggedOut]);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::AnnounceEnd(EndReason::LoggedOut, Some(_)))));
    let at = access_token(SFM, USER, h.now, json!({}));
    let e =
        h.e.on_response(&t, Ok((200, body(&at, None, Some("rt-late"), 600))), h.now)
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::LoginRequired);
    let revoked: Vec<_> =
        h.e.take_actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Revoke(rt) => Some(rt.expose().to_string()),
                _ => None,
            })
            .collect();
    assert_eq!(revoked, ["rt-late"]);
    assert_eq!(
        h.e.token(None, false, h.now).unwrap_err().code,
        ErrorCode::LoginRequired
    );
    assert_eq!(h.e.next_wakeup(h.now), None);
}

const ORG: &str = r#"{"organization":{"parent":"912345678","child":"998877665"}}"#;

fn org(child: &str) -> Option<Context> {
    Context::parse(
        &json!({"organization": {"parent": "912345678", "child": child}}),
        || [0; 16],
    )
    .unwrap()
}

#[test]
fn set_context_is_one_refresh_with_the_new_details_and_drops_every_old_token() {
    let mut h = H::logged_in("");
    let t = h.ticket(Some(OTHER), false);
    h.refresh_ok(t, "rt-2").unwrap();
    let (old_sfm, _) = h.e.fresh_token(None, h.now).unwrap();
    let t = match h.e.set_context(org("998877665"), None).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(t.grant_type(), "refresh_token");
    assert_eq!(
        t.details.as_ref().unwrap()[0]["type"],
        "helseid_authorization"
    );
    // While it is under way, nobody gets a token of either context.
    assert!(matches!(
        h.e.token(None, false, h.now).unwrap(),
        Next::Wait(_)
    ));
    assert!(matches!(
        h.e.token(Some(OTHER), false, h.now).unwrap(),
        Next::Wait(_)
    ));
    h.e.take_actions();
    h.refresh_ok(t, "rt-3").unwrap();
    assert_eq!(
        events(&h.e.take_actions()),
        [
            Event::TokenRefreshed {
                resource: SFM.into()
            },
            Event::ContextChanged
        ]
    );
    let (new_sfm, _) = h.e.fresh_token(None, h.now).unwrap();
    assert_ne!(new_sfm, old_sfm);
    // The other resource's token was of the old context: it is fetched again.
    let t = h.ticket(Some(OTHER), false);
    assert_eq!(t.details.as_ref().unwrap().len(), 1, "with the new details");
    assert_eq!(
        h.e.session().unwrap().context.unwrap()["organization"]["child"],
        "998877665"
    );
}

#[test]
fn a_switch_whose_token_fails_its_checks_keeps_the_old_context_and_tokens() {
    let mut h = H::logged_in(&format!(r#","context":{ORG}"#));
    let h_ctx = h.e.context();
    let t = match h.e.set_context(org("111111111"), None).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    // HelseID answered with the old child: the check names the claim.
    let at = access_token(
        SFM,
        USER,
        h.now,
        json!({ ORGNR_PARENT: "912345678", ORGNR_CHILD: "998877665" }),
    );
    let e = h
        .answer(t, &body(&at, None, Some("rt-2"), 600))
        .unwrap_err();
    assert_eq!(
        (e.code, e.claim.as_deref()),
        (ErrorCode::ClaimInvalid, Some(ORGNR_CHILD))
    );
    assert_eq!(h.e.context(), h_ctx);
    assert!(matches!(
        h.e.token(None, false, h.now).unwrap(),
        Next::Ready(..)
    ));
    assert!(!events(&h.e.take_actions()).contains(&Event::ContextChanged));
}

#[test]
fn a_refresh_that_was_under_way_during_a_switch_does_not_bring_back_an_old_context_token() {
    let mut h = H::logged_in("");
    let old = h.ticket(Some(OTHER), false);
    let switch = match h.e.set_context(org("998877665"), None).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    h.refresh_ok(switch, "rt-2").unwrap();
    h.refresh_ok(old, "rt-3").unwrap();
    assert!(h.e.fresh_token(Some(OTHER), h.now).is_err());
}

fn attest() -> Value {
    json!({
        "practitioner": { "legal_entity": { "id": "912345678" }, "point_of_care": { "id": "998877665" } },
        "care_relationship": { "purpose_of_use": { "code": "TREAT" } }
    })
}

#[test]
fn an_attest_past_its_age_is_context_expired_for_the_apis_that_need_it_and_fires_once() {
    let mut h = H::logged_in(r#","attestMaxAgeSeconds":600"#);
    let ctx = Context::parse(&json!({ "trustFramework": attest() }), || [1; 16]).unwrap();
    let t = match h.e.set_context(ctx, Some(KJ)).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    h.refresh_ok(t, "rt-2").unwrap();
    h.e.take_actions();
    assert!(matches!(
        h.e.token(Some(KJ), false, h.now).unwrap(),
        Next::Ready(..)
    ));
    assert_eq!(
        h.e.next_wakeup(h.now),
        Some(570),
        "refresh of the kj token first"
    );
    h.now += 600;
    // The kj token is due too, but it needs the attest: the timer does not refresh it.
    assert!(h.e.on_timer(h.now).is_none());
    assert_eq!(events(&h.e.take_actions()), [Event::ContextExpired]);
    assert_eq!(
        h.e.token(Some(KJ), false, h.now).unwrap_err().code,
        ErrorCode::ContextExpired
    );
    // SFM does not need the attest: its refresh goes out without it.
    let t = h.ticket(Some(SFM), false);
    assert!(t.details.is_none(), "no attest once it expired");
    h.now += 10;
    h.e.on_timer(h.now);
    assert!(
        !events(&h.e.take_actions()).contains(&Event::ContextExpired),
        "once"
    );
}

#[test]
fn the_session_describes_the_default_token_again_once_it_is_renewed_after_a_switch_elsewhere() {
    let mut h = H::logged_in("");
    let ctx = Context::parse(&json!({ "trustFramework": attest() }), || [1; 16]).unwrap();
    let t = match h.e.set_context(ctx, Some(KJ)).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    h.refresh_ok(t, "rt-2").unwrap();
    assert_eq!(h.e.session().unwrap().access_token_claims["aud"], KJ);
    let t = h.ticket(None, false);
    h.refresh_ok(t, "rt-3").unwrap();
    assert_eq!(h.e.session().unwrap().access_token_claims["aud"], SFM);
}

#[test]
fn a_kjernejournal_token_without_the_attest_claim_fails_but_an_sfm_token_passes() {
    let mut h = H::logged_in("");
    let ctx = Context::parse(&json!({ "trustFramework": attest() }), || [1; 16]).unwrap();
    let t = match h.e.set_context(ctx, Some(KJ)).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    let at = access_token(KJ, USER, h.now, json!({}));
    let e = h.answer(t, &body(&at, None, None, 600)).unwrap_err();
    assert_eq!(e.claim.as_deref(), Some(TRUST_FRAMEWORK));
}

#[test]
fn rejected_scope_on_a_successful_answer_reaches_the_session() {
    let mut h = H::logged_in("");
    let t = h.ticket(None, true);
    let at = access_token(SFM, USER, h.now, json!({"n": 2}));
    let mut b: Value = serde_json::from_str(&body(&at, None, None, 600)).unwrap();
    b["rejected_scope"] = json!("e-helse:sfm.api/sfm.api2");
    h.answer(t, &b.to_string()).unwrap();
    assert_eq!(
        h.e.session().unwrap().rejected_scope,
        ["e-helse:sfm.api/sfm.api2"]
    );
}

#[test]
fn the_timer_refreshes_the_primary_token_leeway_before_expiry() {
    let mut h = H::logged_in("");
    assert_eq!(h.e.next_wakeup(h.now), Some(570));
    h.now += 569;
    assert!(h.e.on_timer(h.now).is_none());
    h.now += 1;
    let t = h.e.on_timer(h.now).unwrap();
    assert!(matches!(t.kind, TicketKind::Refresh));
    assert!(h.e.on_timer(h.now).is_none(), "not twice");
    let h2 = H::logged_in(r#","autoRefresh":false"#);
    assert_eq!(h2.e.next_wakeup(h2.now), None);
}

// ---- tabs ---------------------------------------------------------------------------------

pub(crate) fn follower() -> H {
    let mut e = Engine::new(config(""), "tab-b".into());
    e.set_dpop_jkt(Some(JKT.into()));
    H { e, now: T0 }
}

fn adopt(f: &mut H, view: &Value) -> Result<()> {
    let remote =
        f.e.read_view(view)
            .ok_or_else(|| Error::config("ignored"))?;
    // The shell's part: "x.y.z" does not even decode, so its signature cannot verify.
    let signed = remote
        .tokens()
        .map(|t| jwt::decode(t.expose()).map(|d| d.signature_checked()))
        .collect();
    f.e.adopt(remote, signed, f.now)
}

#[test]
fn a_follower_adopts_a_checked_view_and_asks_the_holder_for_fresh_tokens() {
    let h = H::logged_in("");
    let mut f = follower();
    let view = h.e.shared_view().unwrap();
    assert!(
        !view.to_string().contains("rt-1"),
        "no refresh token in the view"
    );
    assert!(
        !view.to_string().contains("idToken"),
        "no ID token in the view"
    );
    adopt(&mut f, &view).unwrap();
    assert!(!f.e.is_holder());
    assert_eq!(
        f.e.session().unwrap().helseid.name.as_deref(),
        Some("KVART GREVLING")
    );
    f.now += 580;
    assert!(matches!(
        f.e.token(None, false, f.now).unwrap(),
        Next::AskHolder(_)
    ));
    assert!(
        matches!(f.e.token(None, false, f.now).unwrap(), Next::Wait(_)),
        "asks once"
    );
    assert!(f.e.read_view(&view).is_none(), "not newer");
}

#[test]
fn a_forged_view_changes_nothing() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    let mut forged = h.e.shared_view().unwrap();
    forged["generation"] = json!(99);
    forged["idClaims"]["name"] = json!("MALLORY");
    forged["tokens"][0]["accessToken"] = json!("x.y.z");
    assert!(adopt(&mut f, &forged).is_err());
    assert_eq!(
        f.e.session().unwrap().helseid.name.as_deref(),
        Some("KVART GREVLING")
    );
    // A token of the right shape but bound to another key fails its checks too.
    let mut other_key = h.e.shared_view().unwrap();
    other_key["generation"] = json!(100);
    other_key["tokens"][0]["accessToken"] = json!(access_token(
        SFM,
        USER,
        T0,
        json!({"cnf": {"jkt": "attacker"}})
    ));
    assert!(adopt(&mut f, &other_key).is_err());
    // An ID-token claim set for another subject than the token's is refused.
    let mut two = h.e.shared_view().unwrap();
    two["generation"] = json!(101);
    two["idClaims"]["sub"] = json!("mallory");
    assert!(adopt(&mut f, &two).is_err());
    assert_eq!(
        f.e.shared().unwrap().generation,
        h.e.shared().unwrap().generation
    );
}

#[test]
fn another_users_session_ends_this_one_with_user_changed_and_adopt_session_follows_it() {
    let mut a = H::logged_in("");
    let mut b = H::new("");
    b.e = Engine::new(config(""), "tab-b".into());
    b.e.set_dpop_jkt(Some(JKT.into()));
    b.now = T0 + 10;
    b.login("lege2", None).unwrap();
    a.now = T0 + 10;
    adopt(&mut a, &b.e.shared_view().unwrap()).unwrap();
    let actions = a.e.take_actions();
    let revoked: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, Action::Revoke(_)))
        .collect();
    assert_eq!(revoked.len(), 1, "this tab's grant is revoked");
    assert!(matches!(events(&actions)[..], [Event::UserChanged(_)]));
    assert!(a.e.session().is_none());
    assert_eq!(
        a.e.token(None, false, a.now).unwrap_err().code,
        ErrorCode::LoginRequired
    );
    // The other user's next view (a refresh there) is kept for adoptSession, not followed.
    let t = b.ticket(None, true);
    let at = access_token(SFM, "lege2", b.now, json!({ "n": 2 }));
    b.answer(t, &body(&at, None, Some("rt-b2"), 600)).unwrap();
    a.e.take_actions();
    adopt(&mut a, &b.e.shared_view().unwrap()).unwrap();
    assert!(
        a.e.session().is_none(),
        "not followed without adoptSession()"
    );
    assert!(
        events(&a.e.take_actions()).is_empty(),
        "the same other user: no second userChanged"
    );
    a.e.adopt_other_user().unwrap();
    assert_eq!(a.e.session().unwrap().id_token_claims["sub"], "lege2");
    assert!(!a.e.is_holder());
    assert_eq!(
        a.e.shared().unwrap().generation,
        b.e.shared().unwrap().generation,
        "the newest view"
    );
}

#[test]
fn a_newer_login_of_the_same_user_elsewhere_takes_over_and_this_grant_is_dropped_unrevoked() {
    let mut a = H::logged_in("");
    let mut b = H::new("");
    b.e = Engine::new(config(""), "tab-b".into());
    b.e.set_dpop_jkt(Some(JKT.into()));
    b.now = T0 + 5;
    b.login(USER, None).unwrap();
    a.now = T0 + 5;
    assert!(
        b.e.read_view(&a.e.shared_view().unwrap()).is_none(),
        "the older login yields"
    );
    adopt(&mut a, &b.e.shared_view().unwrap()).unwrap();
    assert!(!a.e.is_holder());
    // Not revoked: the provider may share one grant between both logins.
    assert!(!a
        .e
        .take_actions()
        .iter()
        .any(|x| matches!(x, Action::Revoke(_))));
    assert!(a.e.session().is_some());
}

#[test]
fn a_follower_ends_only_when_its_holder_is_gone() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    f.e.holder_ended("someone-else", Some(EndReason::LoggedOut));
    assert!(f.e.session().is_some(), "not its holder");
    f.e.holder_ended("tab-a", Some(EndReason::LoggedOut));
    assert_eq!(events(&f.e.take_actions()), [Event::LoggedOut]);
    assert!(
        f.e.read_view(&h.e.shared_view().unwrap()).is_none(),
        "an ended holder is not followed again"
    );
}

#[test]
fn a_login_context_of_null_means_none_and_absent_means_the_configured_one() {
    let h = H::new(&format!(r#","context":{ORG}"#));
    assert!(h.e.login_context(None, || [0; 16]).unwrap().is_some());
    assert_eq!(
        h.e.login_context(Some(&Value::Null), || [0; 16]).unwrap(),
        None
    );
}

#[test]
fn a_follower_whose_holder_vanished_cannot_switch_context() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.holder_ended("tab-a", None);
    let e = f.e.set_context(org("998877665"), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::LoginRequired);
    assert!(
        matches!(f.e.token(None, false, f.now).unwrap(), Next::Ready(..)),
        "its tokens serve on"
    );
}

#[test]
fn a_follower_whose_holder_vanished_keeps_its_tokens_until_they_need_a_refresh() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert_eq!(f.e.holder_to_watch(), Some("tab-a"));
    f.e.holder_ended("tab-a", None);
    assert_eq!(
        f.e.holder_to_watch(),
        None,
        "a gone holder is not watched again"
    );
    assert!(matches!(
        f.e.token(None, false, f.now).unwrap(),
        Next::Ready(..)
    ));
    f.now += 590;
    assert_eq!(
        f.e.token(None, false, f.now).unwrap_err().code,
        ErrorCode::LoginRequired
    );
}

#[test]
fn a_follower_sees_the_holders_refresh_and_context_switch_as_events() {
    let mut h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    let t = match h.e.set_context(org("998877665"), None).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    h.refresh_ok(t, "rt-2").unwrap();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert_eq!(
        events(&f.e.take_actions()),
        [
            Event::TokenRefreshed {
                resource: SFM.into()
            },
            Event::ContextChanged
        ]
    );
    assert_eq!(f.e.context(), h.e.context());
}

#[test]
fn a_follower_logout_asks_its_holder() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    let plan = f.e.logout(Some("https://h.test/es"), None);
    assert_eq!(plan.ask_holder.as_deref(), Some("tab-a"));
    assert!(plan.revoke.is_none());
    assert!(!plan.end_session_url.unwrap().contains("id_token_hint"));
}

// ---- storage -----------------------------------------------------------------------------

#[test]
fn the_holders_record_survives_a_reload_and_a_stale_one_is_revoked() {
    let h = H::logged_in("");
    let record = h.e.snapshot(h.now).unwrap();
    let mut back = H::new("");
    back.e.restore(&record, T0 + 5, 120).unwrap();
    assert!(back.e.is_holder());
    assert_eq!(back.e.session().unwrap().expires_at, T0 + 600);
    assert_eq!(H::refresh_token_sent(&back.ticket(None, true)), "rt-1");
    let mut late = H::new("");
    let rt = late.e.restore(&record, T0 + 3600, 120).unwrap_err();
    assert_eq!(rt.unwrap().expose(), "rt-1", "handed back to be revoked");
    assert!(late.e.session().is_none());
    assert!(H::new("").e.restore("{}", T0, 120).is_err());
}
