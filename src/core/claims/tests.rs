//! The claim checks, one test per failure mode, each asserting the exact code and claim.

use super::*;
use crate::core::jwt::fixtures;
use serde_json::json;

const ISS: &str = "https://helseid-sts.test.nhn.no";
const CLIENT: &str = "client-1";
const NONCE: &str = "nonce-1";
const API: &str = "e-helse:sfm.api";
const JKT: &str = "-JYdQcqGy0Qmbpv6pX_2EdJkGciRu7BaDJk3Hz4WdZ4";
const NOW: i64 = 1_700_000_000;
const TOL: i64 = DEFAULT_TOLERANCE;

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

fn id_claims() -> Value {
    json!({
        "iss": ISS, "aud": CLIENT, "sub": "user+1=", "nonce": NONCE,
        "iat": NOW - 5, "nbf": NOW - 5, "exp": NOW + 300,
        SECURITY_LEVEL: "4",
    })
}

fn access_claims() -> Value {
    json!({
        "iss": ISS, "aud": API, "sub": "user+1=", "client_id": CLIENT,
        "iat": NOW - 5, "nbf": NOW - 5, "exp": NOW + 600,
        "cnf": { "jkt": JKT },
        SFM_ID: "sfm-1",
        SECURITY_LEVEL: "4",
    })
}

fn id_expect() -> Expectations<'static> {
    Expectations {
        required_security_level: Some("4"),
        ..Expectations::id_token(ISS, CLIENT, Some(NONCE), NOW, TOL)
    }
}

fn access_expect() -> Expectations<'static> {
    Expectations {
        require_sfm_id: true,
        required_security_level: Some("4"),
        ..Expectations::access_token(ISS, Some(API), Some(JKT), NOW, TOL)
    }
}

fn at_header() -> Value {
    json!({ "alg": "RS256", "typ": "at+jwt" })
}

/// Applies `edit` to the claims and validates.
fn check(
    header: Value,
    mut claims: Value,
    edit: impl FnOnce(&mut Value),
    e: &Expectations,
) -> Result<()> {
    edit(&mut claims);
    validate(&map(header), &map(claims), e)
}

fn id(edit: impl FnOnce(&mut Value)) -> Result<()> {
    check(json!({ "alg": "RS256" }), id_claims(), edit, &id_expect())
}

fn id_with(e: &Expectations, edit: impl FnOnce(&mut Value)) -> Result<()> {
    check(json!({ "alg": "RS256" }), id_claims(), edit, e)
}

fn access(edit: impl FnOnce(&mut Value)) -> Result<()> {
    check(at_header(), access_claims(), edit, &access_expect())
}

fn access_with(e: &Expectations, edit: impl FnOnce(&mut Value)) -> Result<()> {
    check(at_header(), access_claims(), edit, e)
}

fn remove(name: &'static str) -> impl FnOnce(&mut Value) {
    move |c| {
        c.as_object_mut().unwrap().remove(name);
    }
}

fn set(name: &'static str, value: Value) -> impl FnOnce(&mut Value) {
    move |c| c[name] = value
}

#[track_caller]
fn assert_fails(result: Result<()>, code: ErrorCode, claim: &str) {
    let err = result.expect_err("validation passed");
    assert_eq!(
        (err.code, err.claim.as_deref()),
        (code, Some(claim)),
        "{err}"
    );
}

#[track_caller]
fn assert_claim(result: Result<()>, claim: &str) {
    assert_fails(result, ErrorCode::ClaimInvalid, claim);
}

// The baselines.

#[test]
fn valid_id_token_claims_pass() {
    id(|_| {}).unwrap();
}

#[test]
fn valid_access_token_claims_pass() {
    access(|_| {}).unwrap();
}

// iss: OIDC Core 3.1.3.7 step 2.

#[test]
fn iss_must_equal_the_issuer_exactly() {
    assert_claim(id(set("iss", json!(format!("{ISS}/")))), "iss");
    assert_claim(
        id(set("iss", json!("HTTPS://helseid-sts.test.nhn.no"))),
        "iss",
    );
}

#[test]
fn missing_iss_fails_on_iss() {
    assert_claim(id(remove("iss")), "iss");
}

#[test]
fn non_string_iss_fails_on_iss() {
    assert_claim(id(set("iss", json!([ISS]))), "iss");
}

// aud and azp for ID tokens: steps 3-5.

#[test]
fn id_token_for_another_client_fails_on_aud() {
    assert_claim(id(set("aud", json!("client-2"))), "aud");
}

#[test]
fn id_token_without_aud_fails_on_aud() {
    assert_claim(id(remove("aud")), "aud");
}

#[test]
fn aud_that_is_not_a_string_or_string_array_fails_on_aud() {
    assert_claim(id(set("aud", json!(1))), "aud");
    assert_claim(id(set("aud", json!([CLIENT, 1]))), "aud");
    assert_claim(id(set("aud", json!({ "aud": CLIENT }))), "aud");
}

#[test]
fn empty_aud_array_fails_on_aud() {
    assert_claim(id(set("aud", json!([]))), "aud");
}

#[test]
fn id_token_aud_array_with_only_the_client_passes_without_azp() {
    id(set("aud", json!([CLIENT]))).unwrap();
}

#[test]
fn id_token_with_several_audiences_and_no_azp_fails_on_aud() {
    assert_claim(id(set("aud", json!([CLIENT, "other"]))), "aud");
}

#[test]
fn id_token_with_several_audiences_and_foreign_azp_fails_on_aud() {
    assert_claim(
        id(|c| {
            c["aud"] = json!([CLIENT, "other"]);
            c["azp"] = json!("other");
        }),
        "aud",
    );
}

#[test]
fn id_token_with_several_audiences_and_azp_of_this_client_passes() {
    id(|c| {
        c["aud"] = json!(["other", CLIENT]);
        c["azp"] = json!(CLIENT);
    })
    .unwrap();
}

#[test]
fn id_token_with_foreign_azp_fails_on_azp() {
    assert_claim(id(set("azp", json!("other"))), "azp");
}

#[test]
fn id_token_with_non_string_azp_fails_on_azp() {
    assert_claim(id(set("azp", json!(null))), "azp");
}

#[test]
fn id_token_with_azp_of_this_client_passes() {
    id(set("azp", json!(CLIENT))).unwrap();
}

// aud for access tokens: exactly one.

#[test]
fn access_token_for_another_api_fails_on_aud() {
    assert_claim(access(set("aud", json!("fhi:weather"))), "aud");
}

#[test]
fn access_token_with_one_element_aud_array_passes() {
    access(set("aud", json!([API]))).unwrap();
}

#[test]
fn access_token_with_extra_audience_fails_on_aud() {
    assert_claim(access(set("aud", json!([API, "other"]))), "aud");
}

#[test]
fn access_token_without_aud_fails_on_aud() {
    assert_claim(access(remove("aud")), "aud");
}

#[test]
fn access_token_with_unchecked_audience_accepts_any_aud() {
    let e = Expectations {
        audience: Audience::Unchecked,
        ..access_expect()
    };
    access_with(&e, set("aud", json!(["a", "b"]))).unwrap();
    access_with(&e, remove("aud")).unwrap();
}

#[test]
fn access_token_without_configured_audience_skips_the_aud_check() {
    let e = Expectations {
        require_sfm_id: true,
        ..Expectations::access_token(ISS, None, Some(JKT), NOW, TOL)
    };
    access_with(&e, set("aud", json!(["a", "b"]))).unwrap();
}

// aud for verifyJwt: one of a list.

#[test]
fn jwt_aud_naming_one_of_the_audiences_passes() {
    let audiences = vec!["a".to_string(), API.to_string()];
    let e = Expectations::generic(ISS, &audiences, NOW, TOL);
    access_with(&e, |_| {}).unwrap();
    access_with(&e, set("aud", json!(["x", "a"]))).unwrap();
}

#[test]
fn jwt_aud_naming_none_of_the_audiences_fails_on_aud() {
    let audiences = vec!["a".to_string(), "b".to_string()];
    let e = Expectations::generic(ISS, &audiences, NOW, TOL);
    assert_claim(access_with(&e, set("aud", json!(["x", "y"]))), "aud");
}

#[test]
fn jwt_with_empty_audience_list_fails_on_aud() {
    let e = Expectations::generic(ISS, &[], NOW, TOL);
    assert_claim(access_with(&e, |_| {}), "aud");
}

// exp: RFC 7519 §4.1.4, step 9.

#[test]
fn missing_exp_fails_on_exp() {
    assert_claim(id(remove("exp")), "exp");
}

#[test]
fn non_numeric_exp_fails_on_exp() {
    assert_claim(id(set("exp", json!((NOW + 300).to_string()))), "exp");
    assert_claim(id(set("exp", json!(null))), "exp");
}

#[test]
fn exp_beyond_year_9999_fails_on_exp() {
    assert_claim(id(set("exp", json!(1e20))), "exp");
    assert_claim(id(set("exp", json!(u64::MAX))), "exp");
    assert_claim(id(set("exp", json!(i64::MIN))), "exp");
}

#[test]
fn exp_one_second_past_the_tolerance_is_expired() {
    assert_fails(
        id(set("exp", json!(NOW - TOL - 1))),
        ErrorCode::TokenExpired,
        "exp",
    );
}

/// jwt-compact's boundary: expired only when `now > exp + tolerance`.
#[test]
fn exp_exactly_at_now_minus_tolerance_is_still_valid() {
    id(set("exp", json!(NOW - TOL))).unwrap();
}

#[test]
fn exp_at_now_minus_tolerance_plus_one_is_valid() {
    id(set("exp", json!(NOW - TOL + 1))).unwrap();
}

#[test]
fn exp_one_second_ahead_is_valid() {
    id(set("exp", json!(NOW + 1))).unwrap();
}

#[test]
fn exp_with_zero_tolerance_is_valid_at_now_and_expired_one_second_later() {
    let e = Expectations {
        tolerance: 0,
        ..id_expect()
    };
    id_with(&e, set("exp", json!(NOW))).unwrap();
    assert_fails(
        id_with(&e, set("exp", json!(NOW - 1))),
        ErrorCode::TokenExpired,
        "exp",
    );
}

#[test]
fn fractional_exp_is_rounded_down() {
    let e = Expectations {
        tolerance: 0,
        ..id_expect()
    };
    id_with(&e, set("exp", json!(NOW as f64 + 0.9))).unwrap();
    assert_fails(
        id_with(&e, set("exp", json!(NOW as f64 - 0.1))),
        ErrorCode::TokenExpired,
        "exp",
    );
}

// nbf: RFC 7519 §4.1.5.

#[test]
fn nbf_one_second_beyond_the_tolerance_is_not_yet_valid() {
    assert_fails(
        id(set("nbf", json!(NOW + TOL + 1))),
        ErrorCode::TokenNotYetValid,
        "nbf",
    );
}

#[test]
fn nbf_exactly_at_now_plus_tolerance_is_valid() {
    id(set("nbf", json!(NOW + TOL))).unwrap();
}

#[test]
fn missing_nbf_is_valid() {
    id(remove("nbf")).unwrap();
}

#[test]
fn non_numeric_nbf_fails_on_nbf() {
    assert_claim(id(set("nbf", json!("soon"))), "nbf");
}

// iat: RFC 7519 §4.1.6, step 10.

#[test]
fn missing_iat_fails_on_iat() {
    assert_claim(id(remove("iat")), "iat");
}

#[test]
fn non_numeric_iat_fails_on_iat() {
    assert_claim(id(set("iat", json!(true))), "iat");
}

#[test]
fn iat_one_second_beyond_the_tolerance_in_the_future_is_not_yet_valid() {
    assert_fails(
        id(|c| {
            c["iat"] = json!(NOW + TOL + 1);
            c["nbf"] = json!(NOW);
        }),
        ErrorCode::TokenNotYetValid,
        "iat",
    );
}

#[test]
fn iat_exactly_at_now_plus_tolerance_is_valid() {
    id(set("iat", json!(NOW + TOL))).unwrap();
}

#[test]
fn iat_older_than_max_age_plus_tolerance_fails_on_iat() {
    assert_claim(
        id(|c| {
            c["iat"] = json!(NOW - DEFAULT_MAX_AGE - TOL - 1);
            c["nbf"] = json!(NOW - DEFAULT_MAX_AGE - TOL - 1);
        }),
        "iat",
    );
}

#[test]
fn iat_exactly_max_age_plus_tolerance_old_is_valid() {
    id(set("iat", json!(NOW - DEFAULT_MAX_AGE - TOL))).unwrap();
}

#[test]
fn max_age_is_configurable() {
    let e = Expectations {
        max_age: 60,
        ..id_expect()
    };
    id_with(&e, set("iat", json!(NOW - 60 - TOL))).unwrap();
    assert_claim(id_with(&e, set("iat", json!(NOW - 60 - TOL - 1))), "iat");
}

// The time parameters themselves.

#[test]
fn negative_tolerance_is_config_invalid() {
    let e = Expectations {
        tolerance: -1,
        ..id_expect()
    };
    assert_eq!(
        id_with(&e, |_| {}).unwrap_err().code,
        ErrorCode::ConfigInvalid
    );
}

#[test]
fn tolerance_above_a_day_is_config_invalid() {
    let e = Expectations {
        tolerance: MAX_TOLERANCE + 1,
        ..id_expect()
    };
    assert_eq!(
        id_with(&e, |_| {}).unwrap_err().code,
        ErrorCode::ConfigInvalid
    );
    let e = Expectations {
        tolerance: i64::MAX,
        ..id_expect()
    };
    assert_eq!(
        id_with(&e, |_| {}).unwrap_err().code,
        ErrorCode::ConfigInvalid
    );
}

#[test]
fn negative_max_age_is_config_invalid() {
    let e = Expectations {
        max_age: -1,
        ..id_expect()
    };
    assert_eq!(
        id_with(&e, |_| {}).unwrap_err().code,
        ErrorCode::ConfigInvalid
    );
}

#[test]
fn now_out_of_range_is_config_invalid() {
    for now in [i64::MAX, i64::MIN, MAX_NUMERIC_DATE + 1] {
        let e = Expectations { now, ..id_expect() };
        assert_eq!(
            id_with(&e, |_| {}).unwrap_err().code,
            ErrorCode::ConfigInvalid
        );
    }
}

#[test]
fn extreme_dates_in_range_do_not_panic() {
    let e = Expectations {
        now: MAX_NUMERIC_DATE,
        tolerance: MAX_TOLERANCE,
        max_age: i64::MAX,
        ..id_expect()
    };
    id_with(&e, |c| {
        c["exp"] = json!(MAX_NUMERIC_DATE);
        c["nbf"] = json!(-MAX_NUMERIC_DATE);
        c["iat"] = json!(-MAX_NUMERIC_DATE);
    })
    .unwrap();
}

// nonce: step 11.

#[test]
fn nonce_mismatch_fails_on_nonce() {
    assert_claim(id(set("nonce", json!("nonce-2"))), "nonce");
    assert_claim(id(set("nonce", json!("NONCE-1"))), "nonce");
}

#[test]
fn missing_nonce_fails_on_nonce() {
    assert_claim(id(remove("nonce")), "nonce");
}

#[test]
fn refreshed_id_token_without_nonce_passes_when_none_is_expected() {
    let e = Expectations {
        required_security_level: Some("4"),
        ..Expectations::id_token(ISS, CLIENT, None, NOW, TOL)
    };
    id_with(&e, remove("nonce")).unwrap();
}

// sub.

#[test]
fn id_token_without_sub_fails_on_sub() {
    assert_claim(id(remove("sub")), "sub");
}

#[test]
fn id_token_with_empty_sub_fails_on_sub() {
    assert_claim(id(set("sub", json!(""))), "sub");
}

#[test]
fn id_token_with_non_string_sub_fails_on_sub() {
    assert_claim(id(set("sub", json!(42))), "sub");
}

#[test]
fn access_token_without_sub_passes() {
    access(remove("sub")).unwrap();
}

// typ: RFC 8725 §3.11.

#[test]
fn access_token_typ_at_jwt_and_jwt_pass_in_any_case_and_with_application_prefix() {
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
        "JWT",
        "jwt",
    ] {
        check(
            json!({ "alg": "RS256", "typ": typ }),
            access_claims(),
            |_| {},
            &access_expect(),
        )
        .unwrap_or_else(|e| panic!("{typ}: {e}"));
    }
}

#[test]
fn access_token_with_other_typ_fails_on_typ() {
    for typ in ["dpop+jwt", "application/jwt+x", "", "application/"] {
        assert_claim(
            check(
                json!({ "alg": "RS256", "typ": typ }),
                access_claims(),
                |_| {},
                &access_expect(),
            ),
            "typ",
        );
    }
}

#[test]
fn access_token_without_typ_fails_on_typ() {
    assert_claim(
        check(
            json!({ "alg": "RS256" }),
            access_claims(),
            |_| {},
            &access_expect(),
        ),
        "typ",
    );
}

#[test]
fn non_string_typ_fails_on_typ() {
    assert_claim(
        check(
            json!({ "alg": "RS256", "typ": ["at+jwt"] }),
            access_claims(),
            |_| {},
            &access_expect(),
        ),
        "typ",
    );
}

#[test]
fn id_token_typ_is_not_checked() {
    check(
        json!({ "alg": "RS256", "typ": "anything" }),
        id_claims(),
        |_| {},
        &id_expect(),
    )
    .unwrap();
}

// cnf.jkt: RFC 9449 §6.1.

#[test]
fn jkt_of_another_key_is_dpop_binding_mismatch() {
    assert_fails(
        access(set("cnf", json!({ "jkt": "another-thumbprint" }))),
        ErrorCode::DpopBindingMismatch,
        "cnf",
    );
}

#[test]
fn missing_cnf_is_dpop_binding_mismatch() {
    assert_fails(access(remove("cnf")), ErrorCode::DpopBindingMismatch, "cnf");
}

#[test]
fn cnf_without_jkt_is_dpop_binding_mismatch() {
    assert_fails(
        access(set("cnf", json!({ "x5t#S256": JKT }))),
        ErrorCode::DpopBindingMismatch,
        "cnf",
    );
    assert_fails(
        access(set("cnf", json!(JKT))),
        ErrorCode::DpopBindingMismatch,
        "cnf",
    );
}

#[test]
fn bearer_token_without_cnf_passes_when_no_jkt_is_expected() {
    let e = Expectations {
        jkt: None,
        ..access_expect()
    };
    access_with(&e, remove("cnf")).unwrap();
}

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
