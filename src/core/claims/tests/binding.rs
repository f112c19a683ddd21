//! What binds a token to this login, user, use and key: `nonce`, `sub`, `typ`, `cnf.jkt`.

use super::*;

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
