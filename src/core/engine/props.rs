//! Property tests over random sequences of calls, answers, failures, context switches, timer
//! wake-ups, portal sessions opening and ending, time and logout. Whatever happens, the engine
//! never hands out an expired token or one of another context, never has two token requests
//! in flight (the refresh token rotates; so never two for one key), lets its timer refresh
//! only the primary token and the tokens kept for open portal sessions, and hands out nothing
//! after logout. The model below tracks, independently of the engine, which tokens were issued
//! under which context and until when, and how many portal sessions use each resource.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::tests::{access_token, body, id_token, logout, Calls, Next, H, KJ, OTHER, SFM};
use super::*;
use crate::core::helseid::{ORGNR_CHILD, ORGNR_PARENT, TRUST_FRAMEWORK};

#[derive(Clone, Debug)]
enum Op {
    Ask {
        resource: u8,
        force: bool,
    },
    Answer {
        pick: usize,
        outcome: u8,
        expires_in: i64,
    },
    Advance(i64),
    Switch {
        variant: u8,
        resource: u8,
    },
    Timer,
    /// A portal session of this resource opens (`true`) or ends.
    Portal {
        resource: u8,
        open: bool,
    },
    Logout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..5, any::<bool>()).prop_map(|(resource, force)| Op::Ask { resource, force }),
        4 => (any::<usize>(), 0u8..9, prop_oneof![Just(600i64), Just(40), Just(5), Just(-1)])
            .prop_map(|(pick, outcome, expires_in)| Op::Answer { pick, outcome, expires_in }),
        2 => (0i64..700).prop_map(Op::Advance),
        1 => (0u8..4, 0u8..3).prop_map(|(variant, resource)| Op::Switch { variant, resource }),
        2 => Just(Op::Timer),
        1 => (0u8..5, any::<bool>()).prop_map(|(resource, open)| Op::Portal { resource, open }),
        1 => Just(Op::Logout),
    ]
}

fn resource(n: u8) -> Option<&'static str> {
    [
        None,
        Some(SFM),
        Some(OTHER),
        Some(KJ),
        Some("e-helse:third.api"),
    ][n as usize % 5]
}

fn context(variant: u8) -> Option<Context> {
    let value = match variant {
        0 => Value::Null,
        1 => json!({"organization": {"parent": "912345678", "child": "998877665"}}),
        2 => json!({"organization": {"parent": "912345678", "child": "111111111"}}),
        _ => json!({"trustFramework": {
            "practitioner": {"legal_entity": {"id": "912345678"}, "point_of_care": {"id": "998877665"}},
            "care_relationship": {"purpose_of_use": {"code": "TREAT"}}}}),
    };
    Context::parse(&value, || [3; 16]).unwrap()
}

/// What the model knows of an issued token: the context switch count it was issued under, and
/// when it expires.
struct Issued {
    switches: u64,
    expires_at: i64,
}

struct Model {
    h: H,
    pending: Vec<Ticket>,
    issued: BTreeMap<String, Issued>,
    switches: u64,
    serial: u64,
    /// Open portal sessions per resource (as the engine names it).
    portals: BTreeMap<String, u32>,
    /// The shell's timer as the engine's [`Action::Reschedule`]s set it: on or off.
    timer_on: bool,
}

impl Model {
    fn check_ready(&self, token: &AccessToken) -> std::result::Result<(), TestCaseError> {
        let issued = self
            .issued
            .get(token.expose())
            .ok_or_else(|| TestCaseError::fail("a token nobody issued"))?;
        prop_assert!(
            issued.expires_at > self.h.now,
            "an expired token was handed out"
        );
        prop_assert_eq!(
            issued.switches,
            self.switches,
            "a token of another context was handed out"
        );
        prop_assert!(!self.h.e.is_logged_out(), "a token after logout");
        Ok(())
    }

    fn take(&mut self, next: Result<Next>) -> std::result::Result<(), TestCaseError> {
        match next {
            Ok(Next::Ready(token)) => self.check_ready(&token)?,
            Ok(Next::Refresh(ticket)) => {
                prop_assert!(!self.h.e.is_logged_out(), "a refresh after logout");
                prop_assert!(
                    !self.pending.iter().any(|p| p.key == ticket.key),
                    "two token requests in flight for one key"
                );
                prop_assert!(
                    self.pending.is_empty(),
                    "two token requests in flight with one refresh token"
                );
                if matches!(ticket.kind, TicketKind::Refresh) {
                    prop_assert!(
                        !self
                            .pending
                            .iter()
                            .any(|p| matches!(p.kind, TicketKind::Switch)),
                        "a refresh while the context switches"
                    );
                }
                self.pending.push(ticket);
            }
            Ok(Next::Busy(id)) => {
                prop_assert!(
                    self.pending.iter().any(|p| p.id == id),
                    "busy with a refresh that is not in flight"
                );
                prop_assert!(self.h.e.is_flying(id), "busy with a flight that is over");
            }
            // The shell waits for the named flight, with no poll: it must be under way.
            Ok(Next::Wait(id)) => {
                prop_assert!(
                    self.pending.iter().any(|p| p.id == id),
                    "a wait for a token request that is not in flight"
                );
                prop_assert!(self.h.e.is_flying(id), "a wait for a flight that is over");
            }
            _ => {}
        }
        Ok(())
    }

    /// What the shell's timer does with the actions it sees.
    fn saw(&mut self, actions: &[Action]) {
        for action in actions {
            if let Action::Reschedule(delay) = action {
                self.timer_on = delay.is_some();
            }
        }
    }

    /// A timer wake-up ([`Input::Timer`]): each refresh it starts is for the primary token or a
    /// kept one.
    fn timer(&mut self) -> std::result::Result<(), TestCaseError> {
        let primary = self.h.e.shared().map(|s| s.primary.clone());
        // Its timer is spent.
        self.timer_on = false;
        let actions = self.h.e.handle(Input::Timer, self.h.now);
        self.saw(&actions);
        for work in actions {
            let next = match work {
                Action::Refresh(ticket) => Next::Refresh(ticket),
                Action::AskHolder(ask) => Next::AskHolder(ask),
                _ => continue,
            };
            if let Next::Refresh(ticket) = &next {
                let kept = self
                    .portals
                    .get(&ticket.key.resource)
                    .is_some_and(|n| *n > 0);
                prop_assert!(
                    primary.as_ref() == Some(&ticket.key) || kept,
                    "the timer refreshed a token nobody keeps fresh"
                );
            }
            self.take(Ok(next))?;
        }
        Ok(())
    }

    fn portal(&mut self, r: u8, open: bool) {
        if !self.h.e.has_session() {
            return;
        }
        let name = self.h.e.key(resource(r)).resource;
        let count = self.portals.entry(name).or_insert(0);
        let input = if open {
            *count += 1;
            Input::PortalOpened(resource(r).map(String::from))
        } else if *count > 0 {
            *count -= 1;
            Input::PortalEnded(resource(r).map(String::from))
        } else {
            return;
        };
        let actions = self.h.e.handle(input, self.h.now);
        self.saw(&actions);
    }

    fn answer(
        &mut self,
        pick: usize,
        outcome: u8,
        expires_in: i64,
    ) -> std::result::Result<(), TestCaseError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ticket = self.pending.remove(pick % self.pending.len());
        let id = ticket.id;
        let result = self.answer_ticket(ticket, outcome, expires_in);
        prop_assert!(
            !self.h.e.is_flying(id),
            "a token request still under way after its answer"
        );
        result
    }

    fn answer_ticket(
        &mut self,
        ticket: Ticket,
        outcome: u8,
        expires_in: i64,
    ) -> std::result::Result<(), TestCaseError> {
        let now = self.h.now;
        self.serial += 1;
        let aud = if ticket.key.resource.is_empty() {
            SFM.to_string()
        } else {
            ticket.key.resource.clone()
        };
        let mut extra = json!({ "serial": self.serial });
        if let Some(org) = ticket.context.as_ref().and_then(|c| c.organization.clone()) {
            extra[ORGNR_PARENT] = json!(org.parent);
            extra[ORGNR_CHILD] = json!(org.child);
        }
        if ticket.context.as_ref().is_some_and(Context::has_attest) {
            extra[TRUST_FRAMEWORK] = json!({});
        }
        let is_switch = matches!(ticket.kind, TicketKind::Switch);
        let (status, text, ok) = match outcome {
            0..=3 => {
                let at = access_token(&aud, "user+1=", now, extra);
                let text = body(&at, None, Some(&format!("rt-{}", self.serial)), expires_in);
                self.issued.insert(
                    at,
                    Issued {
                        switches: self.switches + u64::from(is_switch),
                        expires_at: now + expires_in.max(0),
                    },
                );
                (200, text, true)
            }
            4 => (400, r#"{"error":"invalid_grant"}"#.to_string(), false),
            5 => (503, "busy".to_string(), false),
            6 => {
                let at = access_token("e-helse:evil.api", "user+1=", now, extra);
                (200, body(&at, None, Some("rt-x"), 600), false)
            }
            7 => {
                let at = access_token(&aud, "user+1=", now, extra);
                let id = id_token("mallory", None, now);
                (200, body(&at, Some(&id), None, 600), false)
            }
            _ => {
                let now = self.h.now;
                let down = Err(Error::new(ErrorCode::NetworkError, "down"));
                let e = tests::respond(&mut self.h.e, ticket, down, now);
                prop_assert!(e.is_err());
                return Ok(());
            }
        };
        let result = if status == 200 {
            self.h.answer(ticket, &text)
        } else {
            let now = self.h.now;
            tests::respond(&mut self.h.e, ticket, Ok((status, text)), now).map(|_| ())
        };
        if result.is_ok() && ok && is_switch {
            self.switches += 1;
        }
        if !ok {
            prop_assert!(result.is_err(), "a bad answer was accepted");
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn no_sequence_hands_out_an_expired_or_other_context_token_or_doubles_a_refresh(
        ops in prop::collection::vec(op(), 1..60)
    ) {
        let mut m = Model {
            h: H::logged_in(""),
            pending: Vec::new(),
            issued: BTreeMap::new(),
            switches: 0,
            serial: 0,
            portals: BTreeMap::new(),
            timer_on: false,
        };
        // What the login told (the helper took its actions).
        m.timer_on = m.h.e.told_wakeup.is_some();
        // The login's token.
        let (first, _) = m.h.e.fresh_token(None, m.h.now).unwrap();
        m.issued.insert(first.expose().to_string(), Issued { switches: 0, expires_at: m.h.now + 600 });
        for op in ops {
            // Switch reads no clock; Advance moves it without telling the engine.
            let clocked = !matches!(op, Op::Switch { .. } | Op::Advance(_));
            match op {
                Op::Ask { resource: r, force } => {
                    let next = m.h.e.token(resource(r), force, m.h.now);
                    m.take(next)?;
                }
                Op::Answer { pick, outcome, expires_in } => m.answer(pick, outcome, expires_in)?,
                Op::Advance(s) => m.h.now += s,
                Op::Switch { variant, resource: r } => {
                    let next = m.h.e.set_context(context(variant), resource(r));
                    m.take(next)?;
                }
                Op::Timer => m.timer()?,
                Op::Portal { resource: r, open } => m.portal(r, open),
                Op::Logout => {
                    logout(&mut m.h.e, None, None);
                    m.portals.clear();
                }
            }
            // After a refresh, whatever the engine hands out through fresh_token obeys the same rules.
            for r in 0..5 {
                if let Ok((token, _)) = m.h.e.fresh_token(resource(r), m.h.now) {
                    m.check_ready(&token)?;
                }
            }
            if m.h.e.is_logged_out() {
                prop_assert!(m.h.e.token(None, false, m.h.now).is_err());
                prop_assert!(m.h.e.next_wakeup(m.h.now).is_none());
            }
            let told = m.h.e.take_actions();
            m.saw(&told);
            if clocked {
                prop_assert_eq!(
                    m.timer_on,
                    m.h.e.next_wakeup(m.h.now).is_some(),
                    "the shell's timer is not the one the engine wants"
                );
            }
        }
    }
}
