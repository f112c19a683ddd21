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
use super::helseid::{claim_text, journal_id, JOURNAL_ID, SECURITY_LEVEL, SFM_ID};
use super::jwt::SignatureChecked;

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

/// A token whose signature and claims were checked: the only kind whose claims reach a
/// `Session`.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    claims: Map<String, Value>,
    payload: String,
}

impl Verified {
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// The claims as JSON text, exactly as the token carries them.
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

/// Checks the claims of a token whose signature was verified.
pub fn check(token: SignatureChecked, e: &Expectations) -> Result<Verified> {
    let decoded = token.into_decoded();
    validate(&decoded.header, &decoded.claims, e)?;
    Ok(Verified {
        claims: decoded.claims,
        payload: decoded.payload,
    })
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
mod tests;
