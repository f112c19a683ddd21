//! The engine's part of the portal lifecycle (API.md "Embedded national portals", settled in
//! turn 3): while a portal session is open, the timer keeps its resource's token fresh like
//! the primary one; one refresh at a time, since the refresh token rotates (RFC 6749 §6).

use super::views::{adopt, another_user_elsewhere, follower};
use super::*;

fn reschedules(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Reschedule(_)))
        .count()
}

/// Logged in at T0 (SFM token until T0 + 600), with a Kjernejournal token fetched at T0 + 100
/// (until T0 + 700).
fn with_kj_token() -> H {
    let mut h = H::logged_in("");
    h.now += 100;
    let t = h.ticket(Some(KJ), false);
    h.refresh_ok(t, "rt-2").unwrap();
    h.e.take_actions();
    h.now = T0;
    h
}

#[test]
fn a_kept_resources_token_is_refreshed_by_the_timer_leeway_before_expiry_until_released() {
    let mut h = with_kj_token();
    h.now = T0 + 200;
    assert_eq!(h.e.next_wakeup(h.now), Some(370), "the primary token only");
    h.e.keep_fresh(Some(KJ));
    assert_eq!(
        h.e.next_wakeup(h.now),
        Some(370),
        "the earliest: the primary"
    );
    h.now = T0 + 570;
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(SFM));
    h.refresh_ok(t, "rt-3").unwrap();
    h.e.take_actions();
    assert_eq!(
        h.e.next_wakeup(h.now),
        Some(100),
        "the kj token, due at T0 + 670"
    );
    h.now = T0 + 670;
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(KJ));
    assert_eq!(H::refresh_token_sent(&t), "rt-3");
    h.refresh_ok(t, "rt-4").unwrap();
    assert_eq!(
        events(&h.e.take_actions()),
        [AppEvent::TokenRefreshed {
            resource: KJ.into(),
            cause: RefreshCause::Schedule,
        }],
        "the shell refreshes the portal session once after it"
    );
    assert_eq!(h.e.next_wakeup(h.now), Some(470), "the primary again");
    h.e.release(Some(KJ));
    h.now = T0 + 1270;
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(
        t.body.get("resource"),
        Some(SFM),
        "released: not the kj token"
    );
}

#[test]
fn a_resource_stays_kept_until_its_last_portal_session_ends() {
    let mut h = with_kj_token();
    h.e.keep_fresh(Some(KJ));
    h.e.keep_fresh(Some(KJ));
    h.e.release(Some(KJ));
    h.now = T0 + 670;
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(SFM), "the primary first");
    h.refresh_ok(t, "rt-x").unwrap();
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(KJ), "one portal is still open");
    h.refresh_ok(t, "rt-y").unwrap();
    h.e.take_actions();
    h.e.release(Some(KJ));
    h.e.release(Some(KJ));
    assert!(
        h.e.kept.is_empty(),
        "released once; a release of nothing changes nothing"
    );
    h.now = T0 + 1270;
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(SFM));
}

#[test]
fn a_kept_resource_without_a_token_gets_one_at_the_next_wake_up() {
    let mut h = H::logged_in("");
    h.e.keep_fresh(Some(OTHER));
    assert_eq!(h.e.next_wakeup(h.now), Some(1));
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(OTHER));
    let at = access_token(OTHER, USER, h.now, json!({ SFM_ID: null }));
    h.answer(t, &body(&at, None, Some("rt-2"), 600)).unwrap();
    assert_eq!(h.e.next_wakeup(h.now), Some(570));
}

#[test]
fn one_refresh_at_a_time_the_other_key_is_busy_and_goes_next_with_the_rotated_token() {
    let mut h = with_kj_token();
    h.e.keep_fresh(Some(KJ));
    h.now = T0 + 700;
    let [first] = h.timer().try_into().unwrap();
    assert_eq!(first.body.get("resource"), Some(SFM), "one, not both");
    assert!(matches!(
        h.e.token(Some(KJ), false, h.now).unwrap(),
        Next::Busy(id) if id == first.id
    ));
    assert_eq!(
        h.e.next_wakeup(h.now),
        None,
        "nothing to wake for while a refresh is under way"
    );
    h.e.take_actions();
    h.refresh_ok(first, "rt-3").unwrap();
    assert!(
        reschedules(&h.e.take_actions()) > 0,
        "its end wakes the timer"
    );
    assert_eq!(h.e.next_wakeup(h.now), Some(1));
    let [second] = h.timer().try_into().unwrap();
    assert_eq!(second.body.get("resource"), Some(KJ));
    assert_eq!(H::refresh_token_sent(&second), "rt-3", "the rotated one");
}

#[test]
fn a_failed_refresh_of_a_kept_token_backs_off_for_that_token_only() {
    let mut h = with_kj_token();
    h.e.keep_fresh(Some(KJ));
    h.now = T0 + 400;
    let t = h.ticket(None, true);
    h.refresh_ok(t, "rt-3").unwrap(); // the primary until T0 + 1000
    h.now = T0 + 670;
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(KJ));
    let e = h.fail(t, 503, "busy");
    assert!(e.retryable);
    assert_eq!(h.e.next_wakeup(h.now), Some(5), "the kj token in 5 s");
    h.now += 5;
    let [t] = h.timer().try_into().unwrap();
    // A refusal (not retryable) backs off too: the timer does not retry it every second.
    let e = h.fail(t, 400, r#"{"error":"invalid_request"}"#);
    assert_eq!(e.code, ErrorCode::TokenRequestFailed);
    assert_eq!(h.e.next_wakeup(h.now), Some(10));
    h.e.release(Some(KJ));
    assert_eq!(
        h.e.next_wakeup(h.now),
        Some(1000 - 30 - 675),
        "the primary's own time, untouched by the kj failures"
    );
}

#[test]
fn the_timer_leaves_a_kept_token_that_needs_an_expired_attest_alone() {
    let mut h = H::logged_in(r#","attestMaxAgeSeconds":600"#);
    let ctx = Context::parse(
        &json!({ "trustFramework": {
            "practitioner": { "legal_entity": { "id": "912345678" }, "point_of_care": { "id": "998877665" } },
            "care_relationship": { "purpose_of_use": { "code": "TREAT" } } } }),
        || [1; 16],
    )
    .unwrap();
    let t = match h.e.set_context(ctx, Some(KJ)).unwrap() {
        Next::Refresh(t) => t,
        other => panic!("{other:?}"),
    };
    h.refresh_ok(t, "rt-2").unwrap();
    h.e.keep_fresh(Some(KJ));
    h.e.keep_fresh(None);
    h.now += 600;
    // The switch dropped the SFM token: fetched at once; the kj token waits for a new attest.
    let [t] = h.timer().try_into().unwrap();
    assert_eq!(t.body.get("resource"), Some(SFM));
    h.refresh_ok(t, "rt-3").unwrap();
    assert!(h.timer().is_empty());
    assert_eq!(h.e.next_wakeup(h.now), Some(570), "no wake-up every second");
}

#[test]
fn a_follower_keeps_its_portals_token_fresh_by_asking_the_holder() {
    let mut h = with_kj_token();
    let mut f = follower();
    f.now = T0 + 100;
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert_eq!(
        f.e.next_wakeup(f.now),
        None,
        "the holder refreshes the primary"
    );
    f.e.keep_fresh(Some(KJ));
    assert_eq!(f.e.next_wakeup(f.now), Some(570), "due at T0 + 670");
    f.now = T0 + 670;
    let ask = match &f.timer_work()[..] {
        [Action::AskHolder(ask)] => ask.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ask.key.resource, KJ);
    assert_eq!(f.e.next_wakeup(f.now), None, "asked: waits for the answer");
    // The holder could not refresh: the follower asks again after the backoff.
    f.e.ask_settled(&ask, f.now);
    assert_eq!(f.e.next_wakeup(f.now), Some(5));
    f.now += 5;
    let ask = match &f.timer_work()[..] {
        [Action::AskHolder(ask)] => ask.clone(),
        other => panic!("{other:?}"),
    };
    // This time it did: its view brings the fresh token (and a fresh primary).
    h.now = f.now;
    let t = h.ticket(None, false);
    h.refresh_ok(t, "rt-3").unwrap();
    let t = h.ticket(Some(KJ), false);
    h.refresh_ok(t, "rt-4").unwrap();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert!(
        events(&f.e.take_actions()).contains(&AppEvent::TokenRefreshed {
            resource: KJ.into(),
            cause: RefreshCause::OtherTab,
        })
    );
    f.e.ask_settled(&ask, f.now);
    assert_eq!(f.e.next_wakeup(f.now), Some(570), "T0 + 675 + 600 - 30");
}

#[test]
fn a_session_that_ends_forgets_the_kept_resources() {
    let mut h = with_kj_token();
    h.e.keep_fresh(Some(OTHER));
    let t = h.ticket(None, true);
    h.fail(t, 400, r#"{"error":"invalid_grant"}"#);
    assert!(h.e.session().is_none());
    h.login(USER, None).unwrap();
    assert_eq!(
        h.e.next_wakeup(h.now),
        Some(570),
        "the new session's primary only: no kept resource without a token"
    );
}

/// The engine says when open portal sessions end (issue 19 §4: the shell used to work it out by
/// scanning the events, then by scanning the actions): once per ending, in the one action that
/// also says whether the DPoP key goes after them, for each way a session ends.
#[test]
fn every_ending_ends_the_portals_once_and_says_whether_the_key_goes_after_them() {
    let ends = |actions: &[Action]| -> Vec<bool> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::EndSession { forget_key } => Some(*forget_key),
                _ => None,
            })
            .collect()
    };

    // Expired: the refresh token is refused. The holder's key goes.
    let mut h = with_kj_token();
    h.e.keep_fresh(Some(KJ));
    let t = h.ticket(None, true);
    h.fail(t, 400, r#"{"error":"invalid_grant"}"#);
    assert_eq!(ends(&h.e.take_actions()), [true]);

    // Logged out.
    let mut h = with_kj_token();
    logout(&mut h.e, None, None);
    assert_eq!(ends(&h.e.take_actions()), [true]);

    // Another user logged in elsewhere: that session's key is the one in use now.
    let mut a = H::logged_in("");
    let b = another_user_elsewhere();
    a.now = T0 + 10;
    adopt(&mut a, &b.e.shared_view().unwrap()).unwrap();
    assert_eq!(ends(&a.e.take_actions()), [false]);

    // A refresh that succeeds ends nothing.
    let mut h = with_kj_token();
    let t = h.ticket(None, true);
    h.refresh_ok(t, "rt-9").unwrap();
    assert!(ends(&h.e.take_actions()).is_empty());
}
