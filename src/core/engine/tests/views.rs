//! The engine across tabs: verified views, another user, the holder going, the follower's
//! questions and logout.

use serde_json::{json, Value};

use super::context::{org, ORG};
use super::*;
use crate::core::authorize::login_context;

pub(crate) fn follower() -> H {
    let mut e = Engine::new(config(""), "tab-b".into());
    e.handle(Input::DpopKey(Some(JKT.into())), T0);
    H { e, now: T0 }
}

/// Another tab (`tab-b`) where lege2 logged in at T0 + 10.
pub(crate) fn another_user_elsewhere() -> H {
    let mut b = H::new("");
    b.e = Engine::new(config(""), "tab-b".into());
    b.e.handle(Input::DpopKey(Some(JKT.into())), T0);
    b.now = T0 + 10;
    b.login("lege2", None).unwrap();
    b
}

/// [`Input::View`]: the view to verify and whether to read the DPoP key again
/// ([`Action::VerifyView`]), or `None` when it is ignored; the other actions are left for the
/// test.
pub(crate) fn read_view(f: &mut H, view: &Value, from_host: bool) -> Option<(Remote, bool)> {
    let view = view.clone();
    let mut actions = f.e.handle(Input::View { view, from_host }, f.now);
    let reply = match actions.last() {
        Some(Action::VerifyView(..)) => actions.pop(),
        _ => None,
    };
    f.e.actions.extend(actions);
    match reply {
        Some(Action::VerifyView(remote, load_key)) => Some((remote, load_key)),
        _ => None,
    }
}

/// A view through [`Input::View`] and [`Input::ViewVerified`], the shell's part done here:
/// `Err` when it is ignored unread; one that fails its checks changes nothing (the tests say
/// what). The actions are left for the test.
pub(crate) fn adopt_from(f: &mut H, view: &Value, from_host: bool) -> Result<()> {
    let (remote, _) = read_view(f, view, from_host).ok_or_else(|| Error::config("ignored"))?;
    // The shell's part: "x.y.z" does not even decode, so its signature cannot verify.
    let signed = remote
        .tokens()
        .map(|t| jwt::decode(t.expose()).map(|d| d.signature_checked()))
        .collect();
    let actions = f.e.handle(Input::ViewVerified { remote, signed }, f.now);
    f.e.actions.extend(actions);
    Ok(())
}

/// Another tab's view, on the channel.
pub(crate) fn adopt(f: &mut H, view: &Value) -> Result<()> {
    adopt_from(f, view, false)
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
    f.e.take_actions();
    assert!(
        read_view(&mut f, &view, false).is_none(),
        "the same view again (every `hello` is answered with it): nothing new, not verified"
    );
    assert!(f.e.take_actions().is_empty());
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
    let generation = |f: &H| f.e.shared().unwrap().generation;
    let held = generation(&h);
    adopt(&mut f, &forged).unwrap();
    assert_eq!(generation(&f), held);
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
    adopt(&mut f, &other_key).unwrap();
    assert_eq!(generation(&f), held);
    // An ID-token claim set for another subject than the token's is refused.
    let mut two = h.e.shared_view().unwrap();
    two["generation"] = json!(101);
    two["idClaims"]["sub"] = json!("mallory");
    assert!(
        adopt(&mut f, &two).is_err(),
        "with the tokens it holds: ignored unread"
    );
    two["tokens"][0]["accessToken"] = json!(access_token(SFM, USER, T0 + 5, json!({})));
    adopt(&mut f, &two).unwrap();
    assert_eq!(f.e.session().unwrap().id_token_claims["sub"], json!(USER));
}

#[test]
fn another_users_session_ends_this_one_with_user_changed_and_adopt_session_follows_it() {
    let mut a = H::logged_in("");
    let mut b = another_user_elsewhere();
    a.now = T0 + 10;
    adopt(&mut a, &b.e.shared_view().unwrap()).unwrap();
    let actions = a.e.take_actions();
    let revoked: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, Action::Revoke(_)))
        .collect();
    assert_eq!(revoked.len(), 1, "this tab's grant is revoked");
    assert!(matches!(events(&actions)[..], [AppEvent::UserChanged(_)]));
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
    b.e.handle(Input::DpopKey(Some(JKT.into())), T0);
    b.now = T0 + 5;
    b.login(USER, None).unwrap();
    a.now = T0 + 5;
    adopt(&mut b, &a.e.shared_view().unwrap()).unwrap();
    assert!(
        b.e.is_holder(),
        "the newer login never yields to the older one"
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
    assert_eq!(events(&f.e.take_actions()), [AppEvent::LoggedOut]);
    assert!(
        read_view(&mut f, &h.e.shared_view().unwrap(), false).is_none(),
        "an ended holder is not followed again"
    );
}

#[test]
fn a_login_context_of_null_means_none_and_absent_means_the_configured_one() {
    let h = H::new(&format!(r#","context":{ORG}"#));
    let config = h.e.config();
    assert!(login_context(config, None, || [0; 16]).unwrap().is_some());
    assert_eq!(
        login_context(config, Some(&Value::Null), || [0; 16]).unwrap(),
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
            AppEvent::TokenRefreshed {
                resource: SFM.into(),
                cause: RefreshCause::OtherTab,
            },
            AppEvent::ContextChanged {
                cause: RefreshCause::OtherTab
            }
        ]
    );
    assert_eq!(f.e.context(), h.e.context());
}

#[test]
fn a_follower_logout_asks_its_holder() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    let plan = logout(&mut f.e, Some("https://h.test/es"), None);
    assert_eq!(plan.ask_holder.as_deref(), Some("tab-a"));
    assert!(plan.revoke.is_none());
    assert!(!plan.end_session_url.unwrap().contains("id_token_hint"));
}

// ---- storage -----------------------------------------------------------------------------

#[test]
fn token_refreshed_says_call_in_the_tab_that_asked_other_tab_elsewhere_and_schedule_everywhere() {
    let mut h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    // The follower asked (its id rides on the request): the holder's ticket names it.
    h.now += 1; // a new token (the test double's tokens are made from the time)
    let mut t = h.ticket(None, true);
    t.by = Some(f.e.id().to_string());
    h.refresh_ok(t, "rt-2").unwrap();
    let cause = |e: &[AppEvent]| match e {
        [AppEvent::TokenRefreshed { cause, .. }] => *cause,
        other => panic!("{other:?}"),
    };
    assert_eq!(cause(&events(&h.e.take_actions())), RefreshCause::OtherTab);
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert_eq!(cause(&events(&f.e.take_actions())), RefreshCause::Call);
    // The holder's own call: `call` there, `other-tab` in the follower.
    h.now += 1;
    let t = h.ticket(None, true);
    h.refresh_ok(t, "rt-3").unwrap();
    assert_eq!(cause(&events(&h.e.take_actions())), RefreshCause::Call);
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert_eq!(cause(&events(&f.e.take_actions())), RefreshCause::OtherTab);
    // The timer's: `schedule` in both.
    h.now += 1;
    let mut t = h.ticket(None, true);
    t.cause = Cause::Schedule;
    h.refresh_ok(t, "rt-4").unwrap();
    assert_eq!(cause(&events(&h.e.take_actions())), RefreshCause::Schedule);
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert_eq!(cause(&events(&f.e.take_actions())), RefreshCause::Schedule);
}

/// Issue 20, finding 1: a copy of the real view under another holder id, a later `since` and
/// another name makes neither the holder yield nor the follower leave it.
#[test]
fn a_real_view_replayed_as_another_holder_changes_nobody() {
    let mut h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    let mut forged = h.e.shared_view().unwrap();
    forged["holder"] = json!("mallory");
    forged["since"] = json!(T0 + 1);
    forged["generation"] = json!(1_000_000_000_000u64);
    forged["idClaims"]["name"] = json!("MALLORY");
    forged["idClaims"]["helseid://claims/identity/pid"] = json!("01010112345");
    adopt(&mut h, &forged).unwrap();
    adopt(&mut f, &forged).unwrap();
    assert!(h.e.is_holder(), "the holder keeps its grant");
    assert!(
        h.e.take_actions().is_empty(),
        "nothing revoked, nothing announced"
    );
    assert_eq!(
        f.e.shared().unwrap().holder,
        "tab-a",
        "the follower still follows the holder"
    );
    assert!(events(&f.e.take_actions()).is_empty());
    let shown = f.e.session().unwrap();
    assert_eq!(shown.helseid.name.as_deref(), Some("KVART GREVLING"));
    assert_eq!(
        shown.id_token_claims.get("helseid://claims/identity/pid"),
        None,
        "not confirmed by the token"
    );
}

/// Finding 2: the same holder with a huge generation and an expiry a year out: the follower
/// keeps the token's signed `exp`, and the holder's next real view is still taken.
#[test]
fn a_forged_generation_and_expiry_neither_outlive_the_token_nor_block_real_views() {
    let mut h = H::logged_in("");
    let mut f = follower();
    let mut forged = h.e.shared_view().unwrap();
    forged["generation"] = json!(1_000_000_000_000u64);
    forged["tokens"][0]["expiresAt"] = json!(T0 + 365 * 24 * 3600);
    adopt(&mut f, &forged).unwrap();
    assert_eq!(
        f.e.session().unwrap().expires_at,
        T0 + 600,
        "the token's exp, not the view's"
    );
    f.now = T0 + 601;
    let ask = match f.e.token(None, false, f.now).unwrap() {
        Next::AskHolder(ask) => ask,
        other => panic!("an expired token is never handed out: {other:?}"),
    };
    // The holder refreshes: its real view (a lower generation than the forged one) is taken.
    h.now = T0 + 30;
    let t = h.ticket(None, true);
    h.refresh_ok(t, "rt-2").unwrap();
    f.e.ask_settled(&ask, f.now);
    f.now = T0 + 30;
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert_eq!(
        f.e.session().unwrap().access_token_claims["iat"],
        json!(T0 + 30),
        "the newer token"
    );
}

/// A replay of an older real view never brings an old token back.
#[test]
fn an_older_real_view_replayed_is_ignored() {
    let mut h = H::logged_in("");
    let mut f = follower();
    let old = h.e.shared_view().unwrap();
    h.now = T0 + 60;
    let t = h.ticket(None, true);
    h.refresh_ok(t, "rt-2").unwrap();
    f.now = T0 + 60;
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    adopt(&mut f, &old).unwrap();
    assert_eq!(
        f.e.session().unwrap().access_token_claims["iat"],
        json!(T0 + 60)
    );
}

/// Finding 9: other tabs' forced refreshes are bounded per token: 30 in a second make 3.
#[test]
fn forced_refreshes_from_other_tabs_are_bounded_per_token() {
    let mut h = H::logged_in("");
    let honoured = (0..30)
        .filter(|_| h.e.peer_force(None, true, T0 + 1))
        .count();
    assert_eq!(honoured, PEER_FORCE_BURST);
    assert!(
        !h.e.peer_force(None, false, T0 + 60),
        "not forced, not forced"
    );
    assert!(
        h.e.peer_force(Some(OTHER), true, T0 + 1),
        "another token has its own bound"
    );
    assert!(
        h.e.peer_force(None, true, T0 + 1 + PEER_FORCE_WINDOW_SECONDS),
        "once the window has passed"
    );
}

/// The session host's view comes over the page's own port: the page shows the ID token's
/// claims as the host verified them (aud, nonce, exp included), where a view from the tab
/// channel keeps only what the access token confirms (issue 20, finding 1).
#[test]
fn a_host_view_keeps_the_id_token_claims_a_channel_view_keeps_only_the_confirmed_ones() {
    let h = H::logged_in("");
    let view = h.e.shared_view().unwrap();
    let told = view["idClaims"].as_object().unwrap().clone();
    assert!(
        told.contains_key("nonce") && told.contains_key("aud"),
        "{told:?}"
    );

    let mut page = follower();
    adopt_from(&mut page, &view, true).unwrap();
    let shown = page.e.session().unwrap().id_token_claims.clone();
    assert_eq!(shown, told);

    let mut tab = follower();
    adopt(&mut tab, &view).unwrap();
    let shown = tab.e.session().unwrap().id_token_claims.clone();
    assert!(
        !shown.contains_key("nonce") && !shown.contains_key("aud"),
        "{shown:?}"
    );
    assert_eq!(shown.get("sub"), told.get("sub"));
}

#[test]
fn a_follower_is_told_to_watch_the_lock_again_when_it_follows_a_new_holder() {
    let watches = |f: &mut H| {
        f.e.take_actions()
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Locks {
                        hold: false,
                        watch: true
                    }
                )
            })
            .count()
    };
    let a = H::logged_in("");
    let mut f = follower();
    f.now = T0 + 20;
    adopt(&mut f, &a.e.shared_view().unwrap()).unwrap();
    assert_eq!(watches(&mut f), 1, "it follows tab-a");
    // The same user logs in again in tab-c: a newer session, another holder.
    let mut c = H::new("");
    c.e = Engine::new(config(""), "tab-c".into());
    c.e.handle(Input::DpopKey(Some(JKT.into())), T0);
    c.now = T0 + 10;
    c.login(USER, None).unwrap();
    adopt(&mut f, &c.e.shared_view().unwrap()).unwrap();
    assert_eq!(f.e.followed_holder(), Some("tab-c"));
    assert_eq!(
        watches(&mut f),
        1,
        "the lock is watched anew for tab-c (a watch that fired for tab-a is spent)"
    );
}

#[test]
fn the_holders_view_again_is_not_verified_again_unless_the_holder_was_taken_for_gone() {
    let h = H::logged_in("");
    let view = h.e.shared_view().unwrap();
    let mut f = follower();
    adopt(&mut f, &view).unwrap();
    f.e.take_actions();
    for _ in 0..3 {
        assert!(
            read_view(&mut f, &view, false).is_none(),
            "no WebCrypto for it"
        );
    }
    // One token changed: read and verified.
    let mut changed = view.clone();
    changed["tokens"][0]["accessToken"] = json!("x.y.z");
    assert!(read_view(&mut f, &changed, false).is_some());
    // Its tab was taken for gone (its lock freed, no answer): the same view is read again, so
    // that the follower can follow it again.
    f.e.handle(
        Input::HolderEnded {
            holder: "tab-a".into(),
            reason: None,
        },
        f.now,
    );
    assert!(read_view(&mut f, &view, false).is_some());
}
