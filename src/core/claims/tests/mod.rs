//! The claim checks, one test per failure mode, each asserting the exact code and claim. This
//! file: the helpers, `iss` and `aud`; `time.rs`: `exp`, `nbf`, `iat`; `binding.rs`: `nonce`,
//! `sub`, `typ`, `cnf`; `helseid.rs`: SFM, security level, the order, the HelseID fixtures.

mod binding;
mod helseid;
mod time;

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
