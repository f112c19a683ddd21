//! HelseID's claims (SFM id, security level), the order of the checks, and the real
//! HelseID test tokens.

use super::*;

// SFM.

#[test]
fn neither_sfm_claim_is_missing_sfm_id() {
    assert_fails(access(remove(SFM_ID)), ErrorCode::MissingSfmId, SFM_ID);
}

#[test]
fn empty_sfm_id_is_missing_sfm_id() {
    assert_fails(
        access(set(SFM_ID, json!(""))),
        ErrorCode::MissingSfmId,
        SFM_ID,
    );
}

#[test]
fn journal_id_string_satisfies_sfm() {
    access(|c| {
        c.as_object_mut().unwrap().remove(SFM_ID);
        c[JOURNAL_ID] = json!("7d3b5b3a-0000-4000-8000-000000000001");
    })
    .unwrap();
}

#[test]
fn journal_id_object_satisfies_sfm() {
    access(|c| {
        c.as_object_mut().unwrap().remove(SFM_ID);
        c[JOURNAL_ID] = json!({ "journal_id": "7d3b5b3a-0000-4000-8000-000000000001" });
    })
    .unwrap();
}

#[test]
fn journal_id_object_without_journal_id_is_missing_sfm_id() {
    assert_fails(
        access(|c| {
            c.as_object_mut().unwrap().remove(SFM_ID);
            c[JOURNAL_ID] = json!({ "journal_id": "" });
        }),
        ErrorCode::MissingSfmId,
        SFM_ID,
    );
}

#[test]
fn sfm_claims_are_not_needed_unless_required() {
    let e = Expectations {
        require_sfm_id: false,
        ..access_expect()
    };
    access_with(&e, remove(SFM_ID)).unwrap();
}

// Security level.

#[test]
fn lower_security_level_is_insufficient() {
    assert_fails(
        id(set(SECURITY_LEVEL, json!("3"))),
        ErrorCode::SecurityLevelInsufficient,
        SECURITY_LEVEL,
    );
}

#[test]
fn numeric_security_level_compares_as_text() {
    id(set(SECURITY_LEVEL, json!(4))).unwrap();
    assert_fails(
        id(set(SECURITY_LEVEL, json!(3))),
        ErrorCode::SecurityLevelInsufficient,
        SECURITY_LEVEL,
    );
}

#[test]
fn id_token_without_security_level_is_insufficient() {
    assert_fails(
        id(remove(SECURITY_LEVEL)),
        ErrorCode::SecurityLevelInsufficient,
        SECURITY_LEVEL,
    );
}

#[test]
fn access_token_without_security_level_passes() {
    access(remove(SECURITY_LEVEL)).unwrap();
}

#[test]
fn access_token_with_lower_security_level_is_insufficient() {
    assert_fails(
        access(set(SECURITY_LEVEL, json!("3"))),
        ErrorCode::SecurityLevelInsufficient,
        SECURITY_LEVEL,
    );
}

#[test]
fn access_token_with_malformed_security_level_is_insufficient() {
    assert_fails(
        access(set(SECURITY_LEVEL, json!(["4"]))),
        ErrorCode::SecurityLevelInsufficient,
        SECURITY_LEVEL,
    );
}

#[test]
fn security_level_is_not_checked_unless_required() {
    let e = Expectations::id_token(ISS, CLIENT, Some(NONCE), NOW, TOL);
    id_with(&e, set(SECURITY_LEVEL, json!("3"))).unwrap();
    id_with(&e, remove(SECURITY_LEVEL)).unwrap();
}

// Order: OIDC Core 3.1.3.7.

#[test]
fn iss_is_checked_before_aud_and_time() {
    assert_claim(
        id(|c| {
            c["iss"] = json!("https://evil.example");
            c["aud"] = json!("other");
            c["exp"] = json!(0);
        }),
        "iss",
    );
}

#[test]
fn aud_is_checked_before_time() {
    assert_claim(
        id(|c| {
            c["aud"] = json!("other");
            c["exp"] = json!(0);
        }),
        "aud",
    );
}

#[test]
fn time_is_checked_before_nonce() {
    assert_fails(
        id(|c| {
            c["exp"] = json!(0);
            c["nonce"] = json!("other");
        }),
        ErrorCode::TokenExpired,
        "exp",
    );
}

#[test]
fn error_messages_do_not_echo_token_values() {
    let err = id(set("nonce", json!("attacker-nonce"))).unwrap_err();
    assert!(!err.message.contains("attacker-nonce"));
    let err = id(set("iss", json!("https://attacker.example"))).unwrap_err();
    assert!(!err.message.contains("attacker"));
}

// The HelseID test fixtures.

const FIXTURE_CLIENT: &str = "88d474a8-07df-4dc4-abb0-6b759c2b99ec";
const FIXTURE_NONCE: &str = "638751436903081287.MWM2ZmNhOTMtODQwZS00OWMzLWJiMmItODcxNzU3OGJhN2JiNDUzOTcwOGUtMzhlMC00N2M0LWFmMGQtODA0MDdjYjk2ZmEy";
/// 2026-01-01T00:00:00Z.
const NEW_YEAR_2026: i64 = 1_767_225_600;

#[test]
fn fixture_id_token_passes() {
    let jwt = fixtures::id_token();
    let now = jwt.claims["iat"].as_i64().unwrap() + 10;
    let e = Expectations {
        required_security_level: Some("4"),
        ..Expectations::id_token(ISS, FIXTURE_CLIENT, Some(FIXTURE_NONCE), now, TOL)
    };
    validate(&jwt.header, &jwt.claims, &e).unwrap();
}

fn fixture_access_expect(now: i64) -> Expectations<'static> {
    Expectations {
        required_security_level: Some("4"),
        ..Expectations::access_token(ISS, Some("fhi:weather"), Some(JKT), now, TOL)
    }
}

#[test]
fn fixture_access_token_passes() {
    let jwt = fixtures::access_token();
    let now = jwt.claims["iat"].as_i64().unwrap() + 10;
    validate(&jwt.header, &jwt.claims, &fixture_access_expect(now)).unwrap();
}

#[test]
fn fixture_access_token_is_expired_in_2026() {
    let jwt = fixtures::access_token();
    let result = validate(
        &jwt.header,
        &jwt.claims,
        &fixture_access_expect(NEW_YEAR_2026),
    );
    assert_fails(result, ErrorCode::TokenExpired, "exp");
}

#[test]
fn fixture_access_token_lacks_an_sfm_id() {
    let jwt = fixtures::access_token();
    let now = jwt.claims["iat"].as_i64().unwrap() + 10;
    let e = Expectations {
        require_sfm_id: true,
        ..fixture_access_expect(now)
    };
    assert_fails(
        validate(&jwt.header, &jwt.claims, &e),
        ErrorCode::MissingSfmId,
        SFM_ID,
    );
}
