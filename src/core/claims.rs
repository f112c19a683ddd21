//! Claim checks for ID tokens (OIDC Core 3.1.3.7), access tokens (RFC 9068 §4, HelseID) and
//! `verifyJwt`: one function, [`validate`], driven by [`Expectations`]. Signatures are checked
//! elsewhere (the shell, with WebCrypto) before these checks count for anything.
//!
//! Time boundaries (all in whole seconds, `tol` = the clock tolerance):
//! - `exp`: expired when `now > exp + tol` (jwt-compact's `validate_expiration`), so
//!   `exp == now - tol` is still accepted and `exp == now - tol - 1` is `token_expired`.
//! - `nbf`: not yet valid when `now < nbf - tol` (jwt-compact's `validate_maturity`), so
//!   `nbf == now + tol` is accepted and `nbf == now + tol + 1` is `token_not_yet_valid`.
//! - `iat`: the same rule as `nbf` for the future; too old when `iat < now - max_age - tol`.
//!
//! Fractional NumericDates (RFC 7519 §2) are rounded down to whole seconds.

use chrono::{DateTime, TimeDelta, Utc};
use jwt_compact::{Claims, Empty, TimeOptions};
use serde_json::{Map, Value};

use super::error::{Error, ErrorCode, Result};

/// HelseID's security level claim (`"4"` for high; README "Tokens").
pub const SECURITY_LEVEL: &str = "helseid://claims/identity/security_level";
/// SFM single-tenant id (README "SFM").
pub const SFM_ID: &str = "e-helse:sfm.api/client/claims/sfm-id";
/// SFM multi-tenant journal id: a string, or an object with `journal_id`.
pub const JOURNAL_ID: &str = "nhn:sfm:journal-id";

/// API.md `clockToleranceSeconds` default.
pub const DEFAULT_TOLERANCE: i64 = 30;
/// API.md `maxTokenAgeSeconds` default.
pub const DEFAULT_MAX_AGE: i64 = 3600;
/// Larger tolerances are refused (`config_invalid`); it keeps date arithmetic in range.
pub const MAX_TOLERANCE: i64 = 86_400;
/// Access token `typ` values HelseID sends: RFC 9068 §2.1 `at+jwt`, older tokens `JWT`.
pub const ACCESS_TOKEN_TYPES: [&str; 2] = ["at+jwt", "JWT"];

/// NumericDates outside year 0..=9999 are refused as malformed.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;
const NUMERIC_DATES: std::ops::RangeInclusive<i64> = -MAX_NUMERIC_DATE..=MAX_NUMERIC_DATE;

/// Which `aud` (RFC 7519 §4.1.3) a token must carry.
#[derive(Clone, Copy, Debug)]
pub enum Audience<'a> {
    /// ID tokens: OIDC Core 3.1.3.7 steps 3-5 (`aud` contains the client id; several
    /// audiences need `azp` equal to it; an `azp` must equal it).
    ClientId(&'a str),
    /// Access tokens: exactly this one audience, as a string or a one-element array
    /// (RFC 8707 §2: one resource per token request).
    Exactly(&'a str),
    /// `verifyJwt`: at least one of these. An empty list matches nothing.
    AnyOf(&'a [String]),
    /// No audience check (access tokens when no audience is configured).
    Unchecked,
}

/// What a token must satisfy. Build with [`Expectations::id_token`],
/// [`Expectations::access_token`] or [`Expectations::generic`], then set further fields.
#[derive(Clone, Copy, Debug)]
pub struct Expectations<'a> {
    /// `iss` must equal this exactly (OIDC Core 3.1.3.7 step 2).
    pub issuer: &'a str,
    pub audience: Audience<'a>,
    /// `nonce` must equal this exactly (OIDC Core 3.1.3.7 step 11).
    pub nonce: Option<&'a str>,
    /// `sub` must be a non-empty string (OIDC Core 2).
    pub require_sub: bool,
    /// Header `typ` must be one of these (RFC 8725 §3.11), compared case-insensitively with
    /// any `application/` prefix removed (RFC 7515 §4.1.9).
    pub allowed_typ: Option<&'a [&'a str]>,
    /// `cnf.jkt` must equal this thumbprint (RFC 9449 §6.1).
    pub jkt: Option<&'a str>,
    /// [`SFM_ID`] or [`JOURNAL_ID`] must be present and non-empty.
    pub require_sfm_id: bool,
    /// [`SECURITY_LEVEL`] must equal this (a number in the token compares as its text).
    pub required_security_level: Option<&'a str>,
    /// When false, a token without [`SECURITY_LEVEL`] passes the level check.
    pub security_level_must_be_present: bool,
    /// Epoch seconds.
    pub now: i64,
    /// Clock tolerance in seconds, `0..=MAX_TOLERANCE`.
    pub tolerance: i64,
    /// Oldest accepted `iat`, in seconds before `now` (plus the tolerance).
    pub max_age: i64,
}

impl<'a> Expectations<'a> {
    /// ID token (OIDC Core 3.1.3.7). `nonce` is `None` only for ID tokens from a refresh
    /// (OIDC Core 12.2).
    pub fn id_token(
        issuer: &'a str,
        client_id: &'a str,
        nonce: Option<&'a str>,
        now: i64,
        tolerance: i64,
    ) -> Self {
        Expectations {
            audience: Audience::ClientId(client_id),
            nonce,
            require_sub: true,
            security_level_must_be_present: true,
            ..Expectations::generic(issuer, &[], now, tolerance)
        }
    }

    /// Access token (RFC 9068 §4): `typ` `at+jwt` or `JWT`, exactly `audience` when given,
    /// and bound to the DPoP key with thumbprint `jkt` when given.
    pub fn access_token(
        issuer: &'a str,
        audience: Option<&'a str>,
        jkt: Option<&'a str>,
        now: i64,
        tolerance: i64,
    ) -> Self {
        Expectations {
            audience: audience.map_or(Audience::Unchecked, Audience::Exactly),
            allowed_typ: Some(&ACCESS_TOKEN_TYPES),
            jkt,
            ..Expectations::generic(issuer, &[], now, tolerance)
        }
    }

    /// `verifyJwt`: issuer, one of `audiences`, and the time claims.
    pub fn generic(issuer: &'a str, audiences: &'a [String], now: i64, tolerance: i64) -> Self {
        Expectations {
            issuer,
            audience: Audience::AnyOf(audiences),
            nonce: None,
            require_sub: false,
            allowed_typ: None,
            jkt: None,
            require_sfm_id: false,
            required_security_level: None,
            security_level_must_be_present: false,
            now,
            tolerance,
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

/// Checks a token's header and claims, in the order of OIDC Core 3.1.3.7: `iss`, `aud`,
/// `azp`, `exp`/`nbf`/`iat`, `nonce`, then `sub`, `typ`, `cnf`, SFM and security level.
/// Every error names the claim that failed.
pub fn validate(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    e: &Expectations,
) -> Result<()> {
    let clock = clock(e)?;
    check_issuer(claims, e.issuer)?;
    check_audience(claims, e.audience)?;
    check_times(claims, e, &clock)?;
    if let Some(nonce) = e.nonce {
        check_nonce(claims, nonce)?;
    }
    if e.require_sub {
        check_sub(claims)?;
    }
    if let Some(allowed) = e.allowed_typ {
        check_typ(header, allowed)?;
    }
    if let Some(jkt) = e.jkt {
        check_jkt(claims, jkt)?;
    }
    if e.require_sfm_id {
        check_sfm_id(claims)?;
    }
    if let Some(level) = e.required_security_level {
        check_security_level(claims, level, e.security_level_must_be_present)?;
    }
    Ok(())
}

/// A claim's text: a non-empty string, or a number written out.
pub(crate) fn claim_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// [`JOURNAL_ID`]: a string, or an object's `journal_id`.
pub(crate) fn journal_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Object(object) => claim_text(object.get("journal_id")),
        other => claim_text(Some(other)),
    }
}

/// jwt-compact's time options with the caller's `now`, after checking the time parameters.
fn clock(e: &Expectations) -> Result<TimeOptions<impl Fn() -> DateTime<Utc>>> {
    let now = DateTime::from_timestamp(e.now, 0)
        .filter(|_| NUMERIC_DATES.contains(&e.now))
        .ok_or_else(|| Error::config("the current time is out of range"))?;
    let leeway = TimeDelta::try_seconds(e.tolerance)
        .filter(|_| (0..=MAX_TOLERANCE).contains(&e.tolerance))
        .ok_or_else(|| Error::config("the clock tolerance is out of range"))?;
    if e.max_age < 0 {
        return Err(Error::config("the maximum token age is negative"));
    }
    Ok(TimeOptions::new(leeway, move || now))
}

/// OIDC Core 3.1.3.7 step 2.
fn check_issuer(claims: &Map<String, Value>, issuer: &str) -> Result<()> {
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == issuer => Ok(()),
        Some(_) => Err(Error::claim("iss", format!("iss is not {issuer}"))),
        None => Err(Error::claim("iss", "iss is missing or not a string")),
    }
}

/// RFC 7519 §4.1.3: a string or an array of strings.
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>> {
    let malformed = || Error::claim("aud", "aud is missing or not a string or array of strings");
    match claims.get("aud") {
        Some(Value::String(aud)) => Ok(vec![aud]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(malformed))
            .collect(),
        _ => Err(malformed()),
    }
}

fn check_audience(claims: &Map<String, Value>, audience: Audience) -> Result<()> {
    match audience {
        Audience::Unchecked => Ok(()),
        Audience::Exactly(expected) => match audiences(claims)?[..] {
            [only] if only == expected => Ok(()),
            _ => Err(Error::claim(
                "aud",
                format!("aud is not exactly {expected}"),
            )),
        },
        Audience::AnyOf(expected) => {
            let auds = audiences(claims)?;
            if auds.iter().any(|aud| expected.iter().any(|e| e == aud)) {
                Ok(())
            } else {
                Err(Error::claim(
                    "aud",
                    "aud names none of the expected audiences",
                ))
            }
        }
        Audience::ClientId(client_id) => {
            let auds = audiences(claims)?;
            // Step 3.
            if !auds.contains(&client_id) {
                return Err(Error::claim("aud", "the ID token is not for this client"));
            }
            let azp = match claims.get("azp") {
                None => None,
                Some(Value::String(azp)) => Some(azp.as_str()),
                Some(_) => return Err(Error::claim("azp", "azp is not a string")),
            };
            // Step 4: extra audiences are trusted only through azp naming this client.
            if auds.len() > 1 && azp != Some(client_id) {
                return Err(Error::claim(
                    "aud",
                    "the ID token has several audiences and azp is not this client",
                ));
            }
            // Step 5.
            match azp {
                Some(azp) if azp != client_id => Err(Error::claim("azp", "azp is not this client")),
                _ => Ok(()),
            }
        }
    }
}

/// RFC 7519 §2 NumericDate, rounded down to whole seconds. `None` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(Error::claim(name, format!("{name} is not a number")));
    };
    number
        .as_i64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.abs() <= MAX_NUMERIC_DATE as f64)
                .map(|f| f.floor() as i64)
        })
        .filter(|secs| NUMERIC_DATES.contains(secs))
        .map(Some)
        .ok_or_else(|| Error::claim(name, format!("{name} is out of range")))
}

fn date_time(secs: i64, name: &'static str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| Error::claim(name, format!("{name} is out of range")))
}

/// OIDC Core 3.1.3.7 steps 9-10; RFC 7519 §4.1.4-4.1.6.
fn check_times<F: Fn() -> DateTime<Utc>>(
    claims: &Map<String, Value>,
    e: &Expectations,
    clock: &TimeOptions<F>,
) -> Result<()> {
    let exp = numeric_date(claims, "exp")?.ok_or_else(|| Error::claim("exp", "exp is missing"))?;
    let mut times = Claims::<Empty>::empty();
    times.expiration = Some(date_time(exp, "exp")?);
    times.validate_expiration(clock).map_err(|_| {
        Error::new(ErrorCode::TokenExpired, "the token has expired").with_claim("exp")
    })?;

    if let Some(nbf) = numeric_date(claims, "nbf")? {
        times.not_before = Some(date_time(nbf, "nbf")?);
        times.validate_maturity(clock).map_err(|_| {
            Error::new(
                ErrorCode::TokenNotYetValid,
                "the token is not valid yet (nbf)",
            )
            .with_claim("nbf")
        })?;
    }

    let iat = numeric_date(claims, "iat")?.ok_or_else(|| Error::claim("iat", "iat is missing"))?;
    if iat > e.now + e.tolerance {
        return Err(Error::new(
            ErrorCode::TokenNotYetValid,
            "the token was issued in the future (iat)",
        )
        .with_claim("iat"));
    }
    if iat < e.now.saturating_sub(e.max_age).saturating_sub(e.tolerance) {
        return Err(Error::claim("iat", "the token was issued too long ago"));
    }
    Ok(())
}

/// OIDC Core 3.1.3.7 step 11.
fn check_nonce(claims: &Map<String, Value>, nonce: &str) -> Result<()> {
    if claims.get("nonce").and_then(Value::as_str) == Some(nonce) {
        Ok(())
    } else {
        Err(Error::claim(
            "nonce",
            "nonce is missing or not the one sent",
        ))
    }
}

/// OIDC Core 2: `sub` is required in ID tokens.
fn check_sub(claims: &Map<String, Value>) -> Result<()> {
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(()),
        _ => Err(Error::claim("sub", "sub is missing or empty")),
    }
}

/// RFC 7515 §4.1.9: `application/` may be left out of a media type.
fn media_type(typ: &str) -> &str {
    const PREFIX: &str = "application/";
    match typ.get(..PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &typ[PREFIX.len()..],
        _ => typ,
    }
}

/// RFC 8725 §3.11 explicit typing.
fn check_typ(header: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::claim("typ", "the header has no typ"))?;
    let typ = media_type(typ);
    if allowed
        .iter()
        .any(|a| media_type(a).eq_ignore_ascii_case(typ))
    {
        Ok(())
    } else {
        Err(Error::claim(
            "typ",
            "the header typ is not an accepted type",
        ))
    }
}

/// RFC 9449 §6.1: the token is bound to our DPoP key.
fn check_jkt(claims: &Map<String, Value>, jkt: &str) -> Result<()> {
    let bound = claims
        .get("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .and_then(Value::as_str);
    if bound == Some(jkt) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::DpopBindingMismatch,
            "cnf.jkt is missing or not the thumbprint of our DPoP key",
        )
        .with_claim("cnf"))
    }
}

/// SFM needs a single-tenant `sfm-id` or a multi-tenant `journal-id` (README "SFM").
fn check_sfm_id(claims: &Map<String, Value>) -> Result<()> {
    if claim_text(claims.get(SFM_ID)).is_some() || journal_id(claims.get(JOURNAL_ID)).is_some() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::MissingSfmId,
            "the token carries neither an SFM id nor an SFM journal id",
        )
        .with_claim(SFM_ID))
    }
}

fn check_security_level(
    claims: &Map<String, Value>,
    required: &str,
    must_be_present: bool,
) -> Result<()> {
    let value = claims.get(SECURITY_LEVEL);
    if value.is_none() && !must_be_present {
        return Ok(());
    }
    if claim_text(value).as_deref() == Some(required) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::SecurityLevelInsufficient,
            format!("the security level is not {required}"),
        )
        .with_claim(SECURITY_LEVEL))
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!((err.code, err.claim), (code, Some(claim)), "{err}");
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
}
