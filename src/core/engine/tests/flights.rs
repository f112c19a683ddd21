//! The one registry of work under way is the engine's: every token request and every question
//! to the holder has a [`FlightId`]; whoever must wait is told which flight to wait for, and
//! the engine says when it is over, so the shell keeps nothing but a promise per id (and never
//! polls for a flight it has not heard of).

use super::context::org;
use super::views::{adopt, follower};
use super::*;

#[test]
fn a_wait_names_the_refresh_under_way_which_is_over_once_answered() {
    let mut h = H::logged_in("");
    h.now += 580;
    let ticket = h.ticket(None, false);
    assert!(h.e.is_flying(ticket.id));
    match h.e.token(None, false, h.now).unwrap() {
        Next::Wait(id) => assert_eq!(id, ticket.id),
        other => panic!("{other:?}"),
    }
    let id = ticket.id;
    h.refresh_ok(ticket, "rt-2").unwrap();
    assert!(!h.e.is_flying(id), "over: a waiter asks the engine again");
    assert!(matches!(
        h.e.token(None, false, h.now).unwrap(),
        Next::Ready(..)
    ));
}

#[test]
fn a_failed_refresh_is_over_too_and_the_next_one_has_a_new_id() {
    let mut h = H::logged_in("");
    h.now += 580;
    let first = h.ticket(None, false);
    let id = first.id;
    h.fail(first, 503, "busy");
    assert!(!h.e.is_flying(id));
    let second = h.ticket(None, false);
    assert_ne!(
        second.id, id,
        "a waiter for the first never takes the second's outcome"
    );
    assert!(h.e.is_flying(second.id));
}

#[test]
fn busy_names_the_other_keys_refresh() {
    let mut h = H::logged_in("");
    let other = h.ticket(Some(OTHER), false);
    match h.e.token(None, true, h.now).unwrap() {
        Next::Busy(id) => assert_eq!(id, other.id),
        next => panic!("{next:?}"),
    }
}

#[test]
fn logout_ends_every_flight_so_nobody_waits_for_a_forgotten_one() {
    let mut h = H::logged_in("");
    let ticket = h.ticket(None, true);
    logout(&mut h.e, None, None);
    assert!(!h.e.is_flying(ticket.id));
    let e = h.e.token(None, false, h.now).unwrap_err();
    assert_eq!(e.code, ErrorCode::LoginRequired);
}

#[test]
fn a_followers_question_to_the_holder_has_its_id_until_settled() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.now += 580;
    let ask = match f.e.token(None, false, f.now).unwrap() {
        Next::AskHolder(ask) => ask,
        other => panic!("{other:?}"),
    };
    assert_eq!(ask.key, f.e.key(None));
    assert!(f.e.is_flying(ask.id));
    match f.e.token(None, false, f.now).unwrap() {
        Next::Wait(id) => assert_eq!(id, ask.id, "asks once; the others wait for that question"),
        other => panic!("{other:?}"),
    }
    f.e.ask_settled(&ask, f.now);
    assert!(!f.e.is_flying(ask.id));
}

#[test]
fn an_old_question_settling_late_leaves_the_newer_one_under_way() {
    let mut h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    f.now += 580;
    let Next::AskHolder(old) = f.e.token(None, false, f.now).unwrap() else {
        panic!("asks")
    };
    // The holder's view brings the token: the question is answered in effect.
    h.now = f.now;
    let t = h.ticket(None, true);
    h.refresh_ok(t, "rt-2").unwrap();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    assert!(!f.e.is_flying(old.id));
    // Later, a new question for the same token, before the old one's `done` comes.
    f.now += 580;
    let Next::AskHolder(new) = f.e.token(None, false, f.now).unwrap() else {
        panic!("asks again")
    };
    assert_ne!(new.id, old.id);
    f.e.ask_settled(&old, f.now);
    assert!(f.e.is_flying(new.id), "not settled by the old question");
    assert!(matches!(f.e.token(None, false, f.now).unwrap(), Next::Wait(id) if id == new.id));
}

#[test]
fn a_switch_asked_of_the_holder_is_a_flight_of_its_own_that_blocks_tokens() {
    let h = H::logged_in("");
    let mut f = follower();
    adopt(&mut f, &h.e.shared_view().unwrap()).unwrap();
    let ask = match f.e.set_context(org("998877665"), None).unwrap() {
        Next::AskHolder(ask) => ask,
        other => panic!("{other:?}"),
    };
    assert!(f.e.is_flying(ask.id));
    assert_eq!(
        ask.key.epoch,
        f.e.key(None).epoch + 1,
        "the new context's key"
    );
    match f.e.token(None, false, f.now).unwrap() {
        Next::Wait(id) => assert_eq!(id, ask.id, "no token of the old context meanwhile"),
        other => panic!("{other:?}"),
    }
    f.e.ask_settled(&ask, f.now);
    assert!(!f.e.is_flying(ask.id));
    assert!(matches!(
        f.e.token(None, false, f.now).unwrap(),
        Next::Ready(..)
    ));
}
