//! What happens comes in one way, [`Engine::handle`], and what to do comes out as actions:
//! the timer's token requests and questions to the holder included, so the shell has no other
//! answer to read.

use super::context::org;
use super::views::{adopt, follower};
use super::*;

#[test]
fn the_timer_input_starts_the_due_refresh_as_an_action() {
    let mut h = H::logged_in("");
    h.now += 570;
    let actions = h.e.handle(Input::Timer, h.now);
    let [Action::Refresh(ticket)] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert!(h.e.is_flying(ticket.id));
    assert!(matches!(ticket.cause, Cause::Schedule));
    assert_eq!(h.e.next_wakeup(h.now), None, "wakes when its answer came");
}

#[test]
fn a_timer_with_nothing_due_asks_for_the_next_wake_up_only() {
    let mut h = H::logged_in("");
    h.e.take_actions();
    h.now += 100;
    let actions = h.e.handle(Input::Timer, h.now);
    assert!(
        matches!(&actions[..], [Action::Reschedule(_)]),
        "{actions:?}"
    );
    assert_eq!(h.e.next_wakeup(h.now), Some(470));
}

#[test]
fn a_followers_timer_asks_the_holder_and_the_answer_settles_the_question() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    let actions = f.e.handle(Input::PortalOpened(Some(KJ.into())), f.now);
    assert!(
        matches!(&actions[..], [Action::Reschedule(_)]),
        "{actions:?}"
    );
    let actions = f.e.handle(Input::Timer, f.now);
    let [Action::AskHolder(ask)] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(ask.key.resource, KJ);
    assert!(f.e.is_flying(ask.id));
    let actions = f.e.handle(Input::AskSettled(ask.clone(), Ok(())), f.now);
    assert!(!f.e.is_flying(ask.id));
    assert!(
        matches!(&actions[..], [Action::Reschedule(Some(5)), Action::Landed(id, Ok(()))] if *id == ask.id),
        "the backoff (it brought no token), then its waiters: {actions:?}"
    );
}

#[test]
fn the_last_portal_of_a_resource_ending_stops_the_timers_care() {
    let mut h = H::logged_in("");
    h.e.take_actions();
    for _ in 0..2 {
        h.e.handle(Input::PortalOpened(Some(KJ.into())), h.now);
    }
    assert_eq!(h.e.next_wakeup(h.now), Some(1), "no KJ token yet: at once");
    let actions = h.e.handle(Input::PortalEnded(Some(KJ.into())), h.now);
    assert!(
        actions.is_empty(),
        "one KJ portal is still open: {actions:?}"
    );
    let actions = h.e.handle(Input::PortalEnded(Some(KJ.into())), h.now);
    assert!(
        matches!(&actions[..], [Action::Reschedule(_)]),
        "{actions:?}"
    );
    assert_eq!(h.e.next_wakeup(h.now), Some(570), "the primary only");
}

#[test]
fn a_holder_ending_with_its_notice_ends_the_session_here_and_without_one_keeps_the_tokens() {
    let h = H::logged_in("");
    let holder = h.e.id().to_string();
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    // Its tab closed: no notice. The tokens serve until they expire; nobody refreshes.
    let actions = f.e.handle(
        Input::HolderEnded {
            holder: holder.clone(),
            reason: None,
        },
        f.now,
    );
    assert!(
        matches!(
            &actions[..],
            [Action::Locks {
                hold: false,
                watch: false
            }]
        ),
        "its lock is no longer watched: {actions:?}"
    );
    assert!(f.e.has_session());
    assert!(f.e.holder_gone_for(&holder));
    // Another holder's notice changes nothing here.
    let actions = f.e.handle(
        Input::HolderEnded {
            holder: "someone-else".into(),
            reason: Some(EndReason::LoggedOut),
        },
        f.now,
    );
    assert!(actions.is_empty(), "{actions:?}");
    assert!(f.e.has_session());
    // Its signed end notice: the session ends here, as logged out.
    let actions = f.e.handle(
        Input::HolderEnded {
            holder,
            reason: Some(EndReason::LoggedOut),
        },
        f.now,
    );
    assert!(!f.e.has_session());
    assert!(
        events(&actions).contains(&AppEvent::LoggedOut),
        "{actions:?}"
    );
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::EndSession { forget_key: false })));
}

#[test]
fn a_switch_and_the_timer_never_both_refresh() {
    let mut h = H::logged_in("");
    h.now += 570;
    let Next::Refresh(_switch) = h.e.set_context(org("998877665"), None).unwrap() else {
        panic!("switches")
    };
    h.e.take_actions();
    let actions = h.e.handle(Input::Timer, h.now);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Refresh(_))),
        "{actions:?}"
    );
}

#[test]
fn a_token_response_comes_back_to_be_verified_and_its_flight_lands_after_its_actions() {
    let mut h = H::logged_in("");
    h.now += 570;
    let ticket = h.ticket(None, false);
    let id = ticket.id;
    let at = access_token(SFM, USER, h.now, json!({}));
    let answer = Ok((200, body(&at, None, Some("rt-2"), 600)));
    let mut actions = h.e.handle(Input::TokenResponse { ticket, answer }, h.now);
    // Only the wake-up told before it: none while the refresh is under way.
    let (Some(Action::Verify(ticket, response)), [Action::Reschedule(None)]) =
        (actions.pop(), &actions[..])
    else {
        panic!("{actions:?}")
    };
    assert_eq!(ticket.id, id);
    assert!(h.e.is_flying(id), "under way until its checks");
    let actions = h.e.handle(verified_input(ticket, response), h.now);
    assert!(!h.e.is_flying(id));
    assert!(
        matches!(actions.last(), Some(Action::Landed(landed, Ok(()))) if *landed == id),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| matches!(a, Action::Announce)));
    assert_eq!(
        events(&actions),
        [AppEvent::TokenRefreshed {
            resource: SFM.into(),
            cause: RefreshCause::Call
        }]
    );
    assert!(h.e.cached_token(None, h.now).is_some());
}

#[test]
fn a_refused_refresh_lands_with_its_error_after_the_session_ended() {
    let mut h = H::logged_in("");
    let ticket = h.ticket(None, true);
    let id = ticket.id;
    let answer = Ok((400, r#"{"error":"invalid_grant"}"#.to_string()));
    let actions = h.e.handle(Input::TokenResponse { ticket, answer }, h.now);
    let Some(Action::Landed(landed, Err(e))) = actions.last() else {
        panic!("{actions:?}")
    };
    assert_eq!((*landed, e.code), (id, ErrorCode::LoginRequired));
    assert_eq!(events(&actions), [AppEvent::SessionExpired]);
    assert!(!h.e.is_flying(id));
}

#[test]
fn an_answer_after_logout_has_its_refresh_token_revoked_before_it_lands() {
    let mut h = H::logged_in("");
    let ticket = h.ticket(None, true);
    let id = ticket.id;
    logout(&mut h.e, None, None);
    h.e.take_actions();
    let at = access_token(SFM, USER, h.now, json!({}));
    let answer = Ok((200, body(&at, None, Some("rt-late"), 600)));
    let actions = h.e.handle(Input::TokenResponse { ticket, answer }, h.now);
    let [Action::Revoke(rt), Action::Landed(landed, Err(e))] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(rt.expose(), "rt-late");
    assert_eq!((*landed, e.code), (id, ErrorCode::LoginRequired));
}

fn token_call(resource: Option<&str>, force: bool, by: Option<&str>) -> Input {
    Input::Token {
        resource: resource.map(String::from),
        force,
        by: by.map(String::from),
    }
}

#[test]
fn an_app_call_for_a_fresh_token_is_answered_at_once_and_a_due_one_starts_one_refresh() {
    let mut h = H::logged_in("");
    let Action::Answer(Ok((token, _))) = call(&mut h.e, token_call(None, false, None), h.now)
    else {
        panic!("a fresh token")
    };
    assert_eq!(Some(&token), h.e.cached_token(None, h.now));
    h.now += 570;
    let Action::Refresh(ticket) = call(&mut h.e, token_call(None, false, None), h.now) else {
        panic!("a refresh")
    };
    assert_eq!(ticket.by.as_deref(), Some("tab-a"));
    let reply = call(&mut h.e, token_call(None, true, None), h.now);
    assert!(
        matches!(reply, Action::Wait(id) if id == ticket.id),
        "never two refreshes for one key: {reply:?}"
    );
    let reply = call(&mut h.e, token_call(Some(KJ), false, None), h.now);
    assert!(
        matches!(reply, Action::Busy(id) if id == ticket.id),
        "one refresh at a time: {reply:?}"
    );
}

#[test]
fn another_tabs_call_is_made_for_it_and_its_forced_refreshes_are_bounded() {
    let mut h = H::logged_in("");
    for _ in 0..PEER_FORCE_BURST {
        let Action::Refresh(ticket) = call(&mut h.e, token_call(None, true, Some("tab-b")), h.now)
        else {
            panic!("a forced refresh")
        };
        assert_eq!(ticket.by.as_deref(), Some("tab-b"));
        h.refresh_ok(ticket, "rt-n").unwrap();
    }
    let reply = call(&mut h.e, token_call(None, true, Some("tab-b")), h.now);
    assert!(
        matches!(reply, Action::Answer(Ok(_))),
        "the burst is spent: the fresh token: {reply:?}"
    );
    let reply = call(&mut h.e, token_call(None, true, Some("tab-a")), h.now);
    assert!(
        matches!(reply, Action::Refresh(_)),
        "this tab's own call is not bounded: {reply:?}"
    );
}

#[test]
fn a_call_without_a_session_is_answered_login_required() {
    let mut h = H::new("");
    let Action::Answer(Err(e)) = call(&mut h.e, token_call(None, false, None), h.now) else {
        panic!("an error")
    };
    assert_eq!(e.code, ErrorCode::LoginRequired);
    let input = Input::SetContext {
        context: org("998877665"),
        resource: None,
        by: None,
    };
    let Action::Answer(Err(e)) = call(&mut h.e, input, h.now) else {
        panic!("an error")
    };
    assert_eq!(e.code, ErrorCode::LoginRequired);
}

#[test]
fn set_context_as_an_input_starts_the_switch_and_token_calls_wait_for_it() {
    let mut h = H::logged_in("");
    let input = Input::SetContext {
        context: org("998877665"),
        resource: None,
        by: Some("tab-b".into()),
    };
    let Action::Refresh(switch) = call(&mut h.e, input, h.now) else {
        panic!("a switch")
    };
    assert!(matches!(switch.kind, TicketKind::Switch));
    assert_eq!(switch.by.as_deref(), Some("tab-b"));
    assert!(
        h.e.cached_token(None, h.now).is_none(),
        "no old-context token"
    );
    let reply = call(&mut h.e, token_call(None, false, None), h.now);
    assert!(
        matches!(reply, Action::Wait(id) if id == switch.id),
        "{reply:?}"
    );
}

#[test]
fn a_followers_forced_call_asks_the_holder_to_force() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    let Action::AskHolder(ask) = call(&mut f.e, token_call(None, true, None), f.now) else {
        panic!("a question to the holder")
    };
    assert!(ask.force);
    assert!(f.e.is_flying(ask.id));
}

#[test]
fn logout_is_an_input_its_revocation_first_and_where_the_browser_goes_its_reply() {
    let mut h = H::logged_in("");
    let input = Input::Logout {
        end_session_endpoint: Some("https://h.test/connect/endsession".into()),
        state: Some("bye".into()),
    };
    let actions = h.e.handle(input, h.now);
    let Some(Action::Revoke(rt)) = actions.first() else {
        panic!("{actions:?}")
    };
    assert_eq!(rt.expose(), "rt-1");
    let Some(Action::Leave(Some(url))) = actions.last() else {
        panic!("{actions:?}")
    };
    assert!(
        url.contains("id_token_hint=") && url.contains("state=bye"),
        "{url}"
    );
    let at = |f: fn(&Action) -> bool| actions.iter().position(f).unwrap();
    assert!(
        at(|a| matches!(a, Action::AnnounceEnd(..)))
            < at(|a| matches!(a, Action::EndSession { forget_key: true })),
        "its proof is signed before the key goes: {actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::EndSession { .. } | Action::AskLogout { .. }))
            .count(),
        1,
        "the session ends once; the holder asks nobody"
    );
    assert!(h.e.is_logged_out());
}

#[test]
fn a_followers_logout_asks_its_holder_with_the_sessions_token_before_the_key_goes() {
    let h = H::logged_in("");
    let mut f = super::views::follower();
    super::views::adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.e.take_actions();
    let token = f.e.primary_token().unwrap();
    let input = Input::Logout {
        end_session_endpoint: None,
        state: None,
    };
    let actions = f.e.handle(input, f.now);
    let [Action::AskLogout {
        holder,
        token: signed,
    }, .., Action::EndSession { forget_key: true }, Action::Emit(AppEvent::LoggedOut), Action::Locks {
        hold: false,
        watch: false,
    }, Action::Leave(None)] = &actions[..]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(
        (holder.as_str(), signed.expose()),
        ("tab-a", token.expose())
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Revoke(_))));
}

#[test]
fn a_view_is_an_input_verified_by_the_shell_then_adopted_through_handle() {
    let mut h = H::logged_in("");
    let view = h.e.shared_view().unwrap();
    // Its own view is nothing to verify.
    let own = h.e.handle(
        Input::View {
            view: view.clone(),
            from_host: false,
        },
        h.now,
    );
    assert!(!own.iter().any(|a| matches!(a, Action::VerifyView(..))));

    let mut f = super::views::follower();
    let input = Input::View {
        view: view.clone(),
        from_host: false,
    };
    let Ok([Action::VerifyView(remote, load_key)]) =
        <[Action; 1]>::try_from(f.e.handle(input, f.now))
    else {
        panic!()
    };
    // A holder it does not follow yet: the shell reads the DPoP key again first.
    assert!(load_key);
    let signed: Vec<_> = remote.tokens().map(|t| Ok(checked(t.expose()))).collect();
    assert!(
        f.e.session().is_none(),
        "nothing before its signatures are verified"
    );
    let actions = f.e.handle(Input::ViewVerified { remote, signed }, f.now);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Locks {
                hold: false,
                watch: true
            }
        )),
        "it watches its holder's lock: {actions:?}"
    );
    assert_eq!(f.e.followed_holder(), Some("tab-a"));
    // The same view again: nothing new, not verified.
    let input = Input::View {
        view: view.clone(),
        from_host: false,
    };
    assert!(f.e.handle(input, f.now).is_empty());
    // Its holder's next view (a new token), with the key known: verified without reading it
    // again.
    let mut next = view.clone();
    next["tokens"][0]["accessToken"] = json!(access_token(SFM, USER, f.now + 5, json!({})));
    let input = Input::View {
        view: next,
        from_host: false,
    };
    let [Action::VerifyView(_, false)] = &f.e.handle(input, f.now)[..] else {
        panic!()
    };
    // The session host's view names the host's key: never read again.
    let mut page = super::views::follower();
    let input = Input::View {
        view,
        from_host: true,
    };
    let [Action::VerifyView(_, false)] = &page.e.handle(input, page.now)[..] else {
        panic!()
    };
}

fn login_tx(dpop_jkt: Option<&str>) -> Transaction {
    Transaction {
        state: "s".into(),
        nonce: "n1".into(),
        code_verifier: CodeVerifier::new("v"),
        redirect_uri: "https://app.test/".into(),
        created_at: T0,
        dpop_jkt: dpop_jkt.map(String::from),
        context: None,
    }
}

#[test]
fn a_code_exchange_whose_dpop_key_changed_since_the_login_began_is_refused_and_starts_nothing() {
    let mut h = H::new("");
    let input = Input::CodeExchange {
        tx: login_tx(Some(JKT)),
        code: AuthorizationCode::new("code"),
        dpop_jkt: Some("the-key-of-a-later-login".into()),
    };
    let actions = h.e.handle(input, h.now);
    let [Action::Settled(Err(e))] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(e.code, ErrorCode::DpopBindingMismatch);
    assert!(!h.e.has_session());
    assert_eq!(h.e.dpop_jkt(), Some(JKT), "the key it had is kept");
    // No key at all (IndexedDB cleared since): refused the same way.
    let input = Input::CodeExchange {
        tx: login_tx(Some(JKT)),
        code: AuthorizationCode::new("code"),
        dpop_jkt: None,
    };
    let actions = h.e.handle(input, h.now);
    assert!(
        matches!(&actions[..], [Action::Settled(Err(e))] if e.code == ErrorCode::DpopBindingMismatch),
        "{actions:?}"
    );
}

#[test]
fn a_login_that_lands_takes_the_holder_lock_once_and_sets_the_wake_up() {
    let mut h = H::new("");
    let ticket = h.exchange(login_tx(Some(JKT))).unwrap();
    let id = ticket.id;
    let at = access_token(SFM, USER, h.now, json!({}));
    let id_token = id_token(USER, Some("n1"), h.now);
    let (ticket, response) = respond(
        &mut h.e,
        ticket,
        Ok((200, body(&at, Some(&id_token), Some("rt-1"), 600))),
        h.now,
    )
    .unwrap();
    h.e.take_actions();
    let actions = h.e.handle(verified_input(ticket, response), h.now);
    let [.., Action::Reschedule(Some(570)), Action::Locks {
        hold: true,
        watch: false,
    }, Action::Landed(landed, Ok(()))] = &actions[..]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(*landed, id);
    // A refresh changes neither the lock nor, once answered, anything but the wake-up.
    h.now += 570;
    let t = h.ticket(None, false);
    h.refresh_ok(t, "rt-2").unwrap();
    let told = h.e.take_actions();
    assert!(
        !told.iter().any(|a| matches!(a, Action::Locks { .. })),
        "{told:?}"
    );
    assert!(
        told.iter()
            .any(|a| matches!(a, Action::Reschedule(Some(570)))),
        "{told:?}"
    );
}

#[test]
fn the_wake_up_is_told_when_it_changes_and_after_every_timer() {
    let mut h = H::logged_in("");
    h.now += 10;
    let reply = call(&mut h.e, token_call(None, false, None), h.now);
    assert!(matches!(reply, Action::Answer(Ok(_))));
    assert!(
        h.e.take_actions().is_empty(),
        "a cached token changes nothing"
    );
    h.now += 100;
    for _ in 0..2 {
        // A timer that fired early (a throttled tab): the same wake-up, told again.
        let actions = h.e.handle(Input::Timer, h.now);
        assert!(
            matches!(&actions[..], [Action::Reschedule(Some(460))]),
            "{actions:?}"
        );
    }
}

#[test]
fn after_a_flight_lands_a_token_within_the_leeway_is_handed_out_but_never_an_expired_one() {
    let mut h = H::logged_in("");
    let fresh = |h: &mut H| {
        let mut actions = h.e.handle(Input::Fresh { resource: None }, h.now);
        match actions.pop() {
            Some(Action::Answer(answer)) => answer.map(|(t, _)| t.expose().to_string()),
            other => panic!("{other:?}"),
        }
    };
    h.now += 590;
    assert!(fresh(&mut h).is_ok(), "10 s left, within the 30 s leeway");
    assert!(
        matches!(h.e.token(None, false, h.now), Ok(Next::Refresh(_))),
        "a plain call refreshes it"
    );
    h.now += 10;
    assert_eq!(
        fresh(&mut h).unwrap_err().code,
        ErrorCode::TokenRequestFailed,
        "expired"
    );
}

#[test]
fn adopt_session_with_no_other_users_session_is_login_required() {
    let mut h = H::logged_in("");
    let actions = h.e.handle(Input::AdoptSession, h.now);
    assert!(
        matches!(&actions[..], [Action::Settled(Err(e))] if e.code == ErrorCode::LoginRequired),
        "{actions:?}"
    );
    assert!(h.e.has_session(), "its own session stays");
}
