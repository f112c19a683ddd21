//! The engine's context rules: setContext, the claims a context's tokens must carry, the
//! attest's age, rejected_scope.

use serde_json::{json, Value};

use super::*;

pub(super) const ORG: &str = r#"{"organization":{"parent":"912345678","child":"998877665"}}"#;

pub(super) fn org(child: &str) -> Option<Context> {
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
    assert_eq!(t.request().grant_type(), "refresh_token");
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
            AppEvent::TokenRefreshed {
                resource: SFM.into(),
                cause: RefreshCause::Context,
            },
            AppEvent::ContextChanged {
                cause: RefreshCause::Context
            }
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
    assert!(!events(&h.e.take_actions())
        .iter()
        .any(|e| matches!(e, AppEvent::ContextChanged { .. })));
}

#[test]
fn a_switch_waits_for_the_refresh_under_way_and_then_drops_its_old_context_token() {
    let mut h = H::logged_in("");
    let old = h.ticket(Some(OTHER), false);
    // RFC 6749 §6: the answer rotates the refresh token; a switch sent now would reuse it.
    match h.e.set_context(org("998877665"), None).unwrap() {
        Next::Busy(id) => assert_eq!(id, old.id),
        other => panic!("{other:?}"),
    }
    h.refresh_ok(old, "rt-2").unwrap();
    let switch = match h.e.set_context(org("998877665"), None).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(H::refresh_token_sent(&switch), "rt-2", "the rotated one");
    h.refresh_ok(switch, "rt-3").unwrap();
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
    assert!(h.timer().is_empty());
    assert_eq!(events(&h.e.take_actions()), [AppEvent::ContextExpired]);
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
        !events(&h.e.take_actions()).contains(&AppEvent::ContextExpired),
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
