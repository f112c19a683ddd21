//! The engine's rules, one behaviour per test, on the harness of `harness.rs`. This file: a
//! login, refreshes, failures, logout; `context.rs`: setContext and the attest; `portals.rs`:
//! the tokens kept fresh for open portal sessions, one refresh at a time; `views.rs`: holder
//! and followers; `flights.rs`: the one registry of work under way; `inputs.rs`: what comes in
//! through `Engine::handle`.

mod context;
mod flights;
mod inputs;
mod portals;
mod views;

use serde_json::json;

use super::*;
use crate::core::callback::Transaction;
use crate::core::helseid::{ORGNR_CHILD, ORGNR_PARENT, SFM_ID, TRUST_FRAMEWORK};
use crate::core::jwt;
use crate::core::secret::{AuthorizationCode, CodeVerifier};

mod harness;
pub(crate) use harness::*;

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
    let t = h.exchange(tx).unwrap();
    assert_eq!(t.request().grant_type(), "authorization_code");
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
        [AppEvent::TokenRefreshed {
            resource: SFM.into(),
            cause: RefreshCause::Call,
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
    let e = h.fail(t, 400, r#"{"error":"invalid_grant"}"#);
    assert_eq!(e.code, ErrorCode::LoginRequired);
    assert_eq!(e.oauth_error.as_deref(), Some("invalid_grant"));
    let actions = h.e.take_actions();
    assert_eq!(events(&actions), [AppEvent::SessionExpired]);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::AnnounceEnd(EndReason::Expired, Some(_)))));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::EndSession { forget_key: true })));
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
        let e = respond(
            &mut h.e,
            t,
            Err(Error::new(ErrorCode::NetworkError, "down")),
            h.now,
        )
        .unwrap_err();
        assert!(e.retryable);
        delays.push(h.e.next_wakeup(h.now).unwrap());
        h.now += delays.last().unwrap();
        assert!(h.e.session().is_some());
    }
    assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
    let t = h.timer().pop().expect("the timer retries");
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
    let e = h.fail(t, 503, "busy");
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
    let e = respond(&mut h.e, t, Ok((200, bearer)), h.now).unwrap_err();
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
    let t = h.exchange(tx).unwrap();
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
    assert_eq!(events(&h.e.take_actions()), [AppEvent::SessionExpired]);
}

#[test]
fn logout_is_final_and_a_late_refresh_answer_is_revoked() {
    let mut h = H::logged_in("");
    let t = h.ticket(None, true);
    let plan = logout(
        &mut h.e,
        Some("https://h.test/connect/endsession"),
        Some("bye"),
    );
    assert_eq!(plan.revoke.unwrap().expose(), "rt-1");
    let url = plan.end_session_url.unwrap();
    assert!(
        url.contains("id_token_hint=") && url.contains("state=bye"),
        "{url}"
    );
    assert!(plan.ask_holder.is_none());
    let actions = h.e.take_actions();
    assert_eq!(events(&actions), [AppEvent::LoggedOut]);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::AnnounceEnd(EndReason::LoggedOut, Some(_)))));
    let at = access_token(SFM, USER, h.now, json!({}));
    let e = respond(
        &mut h.e,
        t,
        Ok((200, body(&at, None, Some("rt-late"), 600))),
        h.now,
    )
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

#[test]
fn the_timer_refreshes_the_primary_token_leeway_before_expiry() {
    let mut h = H::logged_in("");
    assert_eq!(h.e.next_wakeup(h.now), Some(570));
    h.now += 569;
    assert!(h.timer().is_empty());
    h.now += 1;
    let [t] = h.timer().try_into().unwrap();
    assert!(matches!(t.kind, TicketKind::Refresh));
    assert!(h.timer().is_empty(), "not twice");
    let h2 = H::logged_in(r#","autoRefresh":false"#);
    assert_eq!(h2.e.next_wakeup(h2.now), None);
}

#[test]
fn a_login_after_logout_in_the_same_engine_is_a_new_session() {
    // The session host keeps one engine across logins: logout() is final for its session only.
    let mut h = H::logged_in("");
    let _ = logout(&mut h.e, None, None);
    assert!(h.e.session().is_none());
    h.now += 10;
    let again = h.login(USER, None);
    assert!(again.is_ok(), "{again:?}");
    assert!(h.e.session().is_some());
}
