//! `exp`, `nbf`, `iat` (RFC 7519 §4.1.4-4.1.6) and the time parameters.

use super::*;

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
