//! JWS compact serialization (RFC 7515 §7.1) taken apart without verifying it, and the
//! algorithm allow-list (RFC 8725 §3.1). The shell verifies `signature` over `signing_input`
//! with WebCrypto.

use std::fmt;

use serde_json::{Map, Value};

use super::base64url;
use super::error::{Error, ErrorCode, Result};

/// Tokens longer than this are refused before any parsing (API.md: 64 KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A JWS split into its parts. Nothing here has been verified.
#[derive(Clone, PartialEq)]
pub struct DecodedJwt {
    /// The JOSE header, every member (RFC 7515 §4).
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// The claims as the token carries them: the JSON text of the payload (RFC 7519 §7.2
    /// step 10), handed to JavaScript's `JSON.parse` as is.
    pub payload: String,
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)` (RFC 7515 §5.1 step 4).
    pub signing_input: String,
    pub signature: Vec<u8>,
}

/// Prints header and claims only: the signing input is the token itself.
impl fmt::Debug for DecodedJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedJwt")
            .field("header", &self.header)
            .field("claims", &self.claims)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .field("signing_input", &"[redacted]")
            .field("signature", &"[redacted]")
            .finish()
    }
}

/// Splits a compact JWS (RFC 7515 §7.1) into header, claims and signature. Checks structure
/// only: no signature, algorithm or claim checks. JWE (five parts) is refused.
///
/// By hand rather than through jwt-compact's `UntrustedToken` (issue 14): that decoded every
/// part with constant-time base64 and read the header through serde a second time, which cost
/// 10 µs per verification and 20 KB gzipped. `tests/fuzz_core.rs` checks that both accept and
/// refuse the same tokens; jwt-compact still does the time checks (`claims`).
pub fn decode(token: &str) -> Result<DecodedJwt> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::invalid_token("the token is longer than 64 KiB"));
    }
    // RFC 7515 §5.2 step 1: exactly three parts.
    let (signing_input, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| Error::invalid_token("the token is not a compact JWS (three parts)"))?;
    let (header_part, claims_part) = signing_input
        .split_once('.')
        .filter(|(_, claims)| !claims.contains('.'))
        .ok_or_else(|| Error::invalid_token("the token is not a compact JWS (three parts)"))?;
    // Steps 2-5: base64url parts, a JSON header with a string `alg`.
    let signature = base64url::decode(signature)
        .ok_or_else(|| Error::invalid_token("the token has a part that is not base64url"))?;
    let (header, _) = json_object(header_part, "header")?;
    let text = |name: &str| -> Result<Option<String>> {
        match header.get(name) {
            // As serde reads an `Option`: null is absent.
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid_token(match name {
                "alg" => "the token header is not JSON with a string alg",
                _ => "the token header has a kid, typ or cty that is not a string",
            })),
        }
    };
    let alg = text("alg")?
        .ok_or_else(|| Error::invalid_token("the token header is not JSON with a string alg"))?;
    let (kid, typ) = (text("kid")?, text("typ")?);
    // RFC 7519 §5.2: only JSON claims are read here (no nested JWTs).
    if text("cty")?.is_some_and(|cty| !cty.eq_ignore_ascii_case("json")) {
        return Err(Error::invalid_token("the token has an unsupported cty"));
    }
    let (claims, payload) = json_object(claims_part, "payload")?;
    Ok(DecodedJwt {
        alg,
        kid,
        typ,
        header,
        claims,
        payload,
        signing_input: signing_input.to_owned(),
        signature,
    })
}

/// A JWS whose signature the shell verified with WebCrypto, against a key of the issuer's JWKS
/// (or, for `verifyJwt`, of the caller's). Its claims are not checked yet: only
/// [`super::claims::check`] turns it into a [`super::claims::Verified`] token.
pub struct SignatureChecked(DecodedJwt);

impl DecodedJwt {
    /// Called by the shell once WebCrypto said the signature verifies, and by tests.
    pub fn signature_checked(self) -> SignatureChecked {
        SignatureChecked(self)
    }
}

impl SignatureChecked {
    pub fn decoded(&self) -> &DecodedJwt {
        &self.0
    }

    pub fn into_decoded(self) -> DecodedJwt {
        self.0
    }
}

impl fmt::Debug for SignatureChecked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// RFC 7519 §7.2 steps 3-4 and 10: a base64url part holding a JSON object, and its text.
fn json_object(part: &str, what: &str) -> Result<(Map<String, Value>, String)> {
    let not_json = || Error::invalid_token(format!("the token {what} is not a JSON object"));
    let bytes = base64url::decode(part)
        .ok_or_else(|| Error::invalid_token(format!("the token {what} is not base64url")))?;
    let text = String::from_utf8(bytes).map_err(|_| not_json())?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok((map, text)),
        _ => Err(not_json()),
    }
}

/// Algorithms the shell verifies with WebCrypto: those in [`super::alg::ALGORITHMS`].
pub fn supported_alg(alg: &str) -> bool {
    super::alg::find(alg).is_some()
}

/// RFC 7515 §4.1.11: a `crit` header names extensions the recipient must understand. This
/// library understands none, so any `crit` is refused (an empty one is malformed anyway).
pub fn check_crit(header: &Map<String, Value>) -> Result<()> {
    if header.contains_key("crit") {
        return Err(Error::invalid_token(
            "the token header has crit (extensions not understood here)",
        ));
    }
    Ok(())
}

/// The algorithm must come from the allow-list, never from the token alone (RFC 8725 §3.1).
/// `none` and HMAC are refused even when listed; so is anything WebCrypto cannot verify here.
pub fn check_alg(alg: &str, allowed: &[String]) -> Result<()> {
    let refuse = |why: &str| Err(Error::new(ErrorCode::UnsupportedAlg, why));
    if alg.eq_ignore_ascii_case("none") {
        return refuse("unsecured tokens (alg none) are refused");
    }
    if alg
        .as_bytes()
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"hs"))
    {
        return refuse("symmetric algorithms (HS*) are refused");
    }
    if !allowed.iter().any(|a| a == alg) {
        return refuse("the token alg is not in the allowed list");
    }
    if !supported_alg(alg) {
        return refuse("the token alg cannot be verified here");
    }
    Ok(())
}

/// Real, expired HelseID test tokens (README "Tokens"), shared by the core's tests.
#[cfg(test)]
pub(crate) mod fixtures {
    pub const ID_TOKEN: &str = include_str!("../../tests/fixtures/id_token.jwt");
    pub const ACCESS_TOKEN: &str = include_str!("../../tests/fixtures/access_token.jwt");

    pub fn id_token() -> super::DecodedJwt {
        super::decode(ID_TOKEN.trim()).unwrap()
    }

    pub fn access_token() -> super::DecodedJwt {
        super::decode(ACCESS_TOKEN.trim()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{ACCESS_TOKEN, ID_TOKEN};
    use super::*;

    fn b64(json: &str) -> String {
        base64url::encode(json.as_bytes())
    }

    fn token(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims),
            base64url::encode(b"sig")
        )
    }

    fn allowed(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn assert_invalid(token: &str) {
        let err = decode(token).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidToken, "{err}");
    }

    #[test]
    fn crit_naming_anything_is_invalid_token() {
        for header in [
            r#"{"alg":"RS256","crit":["urn:must-understand"],"urn:must-understand":1}"#,
            r#"{"alg":"RS256","crit":[]}"#,
        ] {
            let jwt = decode(&token(header, "{}")).unwrap();
            assert_eq!(
                check_crit(&jwt.header).unwrap_err().code,
                ErrorCode::InvalidToken
            );
        }
        let plain = decode(&token(r#"{"alg":"RS256"}"#, "{}")).unwrap();
        assert!(check_crit(&plain.header).is_ok());
    }

    #[test]
    fn id_token_fixture_decodes() {
        let jwt = decode(ID_TOKEN.trim()).unwrap();
        assert_eq!(jwt.alg, "RS256");
        assert_eq!(jwt.typ.as_deref(), Some("JWT"));
        let kid = jwt.kid.as_deref().unwrap();
        assert_eq!(kid.len(), 40);
        assert!(kid.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(jwt.header["alg"], "RS256");
        assert_eq!(jwt.claims["iss"], "https://helseid-sts.test.nhn.no");
        assert_eq!(jwt.signature.len(), 384, "RS256 with a 3072-bit key");
    }

    #[test]
    fn access_token_fixture_decodes_and_unescapes_plus_in_sub() {
        let jwt = decode(ACCESS_TOKEN.trim()).unwrap();
        assert_eq!(jwt.alg, "RS256");
        assert_eq!(jwt.typ.as_deref(), Some("at+jwt"));
        let kid = jwt.kid.as_deref().unwrap();
        assert_eq!(kid.len(), 40);
        assert!(kid.chars().all(|c| c.is_ascii_hexdigit()));
        let sub = jwt.claims["sub"].as_str().unwrap();
        assert!(sub.contains('+'), "\\u002B decodes to +");
        assert_eq!(sub, "PGzVzvP2JvlXV++OJSJAQG5d99BH8QsikmxpdIAKSZk=");
    }

    #[test]
    fn signing_input_is_the_first_two_parts_and_signature_the_third_decoded() {
        let t = ACCESS_TOKEN.trim();
        let jwt = decode(t).unwrap();
        let (input, sig) = t.rsplit_once('.').unwrap();
        assert_eq!(jwt.signing_input, input);
        assert_eq!(jwt.signature, base64url::decode(sig).unwrap());
    }

    #[test]
    fn debug_prints_claims_but_not_signature_or_token() {
        let t = ID_TOKEN.trim();
        let jwt = decode(t).unwrap();
        let printed = format!("{jwt:?}");
        assert!(printed.contains("KVART GREVLING"));
        let (input, sig) = t.rsplit_once('.').unwrap();
        assert!(!printed.contains(sig));
        assert!(!printed.contains(input));
        assert!(!printed.contains(&format!("{:?}", jwt.signature)));
    }

    #[test]
    fn jwe_with_five_parts_is_invalid_token() {
        assert_invalid("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d");
    }

    #[test]
    fn two_or_four_parts_are_invalid_token() {
        let t = token(r#"{"alg":"RS256"}"#, "{}");
        let (two, _) = t.rsplit_once('.').unwrap();
        assert_invalid(two);
        assert_invalid(&format!("{t}.x"));
        assert_invalid("");
    }

    /// A well-formed token of exactly `len` bytes, padded through its signature.
    fn token_of_len(len: usize) -> String {
        let header = r#"{"alg":"RS256"}"#;
        for filler in 0.. {
            let claims = format!(r#"{{"p":"{}"}}"#, "a".repeat(len / 2 + filler));
            let input = format!("{}.{}", b64(header), b64(&claims));
            let sig_chars = len - input.len() - 1;
            // Unpadded base64 of k bytes is 4k/3 rounded up: never 1 mod 4.
            let sig_bytes = match sig_chars % 4 {
                0 => sig_chars / 4 * 3,
                2 => sig_chars / 4 * 3 + 1,
                3 => sig_chars / 4 * 3 + 2,
                _ => continue,
            };
            let t = format!("{input}.{}", base64url::encode(&vec![7; sig_bytes]));
            assert_eq!(t.len(), len);
            return t;
        }
        unreachable!()
    }

    #[test]
    fn token_over_64_kib_is_invalid_token() {
        let err = decode(&token_of_len(MAX_TOKEN_BYTES + 1)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidToken);
        assert!(err.message.contains("64 KiB"));
    }

    #[test]
    fn token_of_exactly_64_kib_decodes() {
        decode(&token_of_len(MAX_TOKEN_BYTES)).unwrap();
    }

    #[test]
    fn bad_base64url_in_any_part_is_invalid_token() {
        let t = token(r#"{"alg":"RS256"}"#, "{}");
        let parts: Vec<&str> = t.split('.').collect();
        assert_invalid(&format!("{}*.{}.{}", parts[0], parts[1], parts[2]));
        assert_invalid(&format!("{}.{}*.{}", parts[0], parts[1], parts[2]));
        assert_invalid(&format!("{}.{}.{}*", parts[0], parts[1], parts[2]));
        // Padding and the standard alphabet are not base64url (RFC 7515 §2).
        assert_invalid(&format!("{}.{}=.{}", parts[0], parts[1], parts[2]));
    }

    #[test]
    fn payload_that_is_not_json_is_invalid_token() {
        assert_invalid(&token(r#"{"alg":"RS256"}"#, "not json"));
    }

    #[test]
    fn payload_that_is_not_an_object_is_invalid_token() {
        assert_invalid(&token(r#"{"alg":"RS256"}"#, "[1,2]"));
        assert_invalid(&token(r#"{"alg":"RS256"}"#, r#""text""#));
    }

    #[test]
    fn header_that_is_not_a_json_object_is_invalid_token() {
        assert_invalid(&token("not json", "{}"));
        assert_invalid(&token(r#"["RS256"]"#, "{}"));
    }

    #[test]
    fn header_without_alg_is_invalid_token() {
        assert_invalid(&token(r#"{"kid":"k"}"#, "{}"));
    }

    #[test]
    fn header_with_non_string_alg_is_invalid_token() {
        assert_invalid(&token(r#"{"alg":256}"#, "{}"));
        assert_invalid(&token(r#"{"alg":null}"#, "{}"));
    }

    #[test]
    fn error_messages_never_contain_the_token() {
        let t = token(r#"{"alg":"RS256"}"#, "secret-claims-text");
        let err = decode(&t).unwrap_err();
        for part in t.split('.') {
            assert!(!err.message.contains(part));
        }
        assert!(!format!("{err:?}").contains("secret"));
    }

    #[test]
    fn header_members_are_all_kept() {
        let jwt = decode(&token(
            r#"{"alg":"ES256","kid":"k1","typ":"dpop+jwt","x":1}"#,
            r#"{"a":"b"}"#,
        ))
        .unwrap();
        assert_eq!(jwt.alg, "ES256");
        assert_eq!(jwt.kid.as_deref(), Some("k1"));
        assert_eq!(jwt.typ.as_deref(), Some("dpop+jwt"));
        assert_eq!(jwt.header["x"], 1);
        assert_eq!(jwt.claims["a"], "b");
        assert_eq!(jwt.signature, b"sig");
    }

    #[test]
    fn alg_none_is_unsupported_in_any_case_even_when_listed() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let err = check_alg(alg, &allowed(&[alg, "RS256"])).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsupportedAlg, "{alg}");
        }
    }

    #[test]
    fn hmac_algs_are_unsupported_even_when_listed() {
        for alg in ["HS256", "HS384", "HS512", "hs256"] {
            let err = check_alg(alg, &allowed(&[alg])).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsupportedAlg, "{alg}");
        }
    }

    #[test]
    fn alg_outside_the_allow_list_is_unsupported() {
        let err = check_alg("PS256", &allowed(&["RS256"])).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedAlg);
        let err = check_alg("rs256", &allowed(&["RS256"])).unwrap_err();
        assert_eq!(
            err.code,
            ErrorCode::UnsupportedAlg,
            "alg names are case-sensitive"
        );
        let err = check_alg("RS256", &[]).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedAlg);
    }

    #[test]
    fn listed_alg_that_webcrypto_cannot_verify_is_unsupported() {
        let err = check_alg("EdDSA", &allowed(&["EdDSA"])).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedAlg);
    }

    #[test]
    fn default_algorithms_pass() {
        let defaults = allowed(&crate::core::alg::DEFAULT_VERIFY);
        for alg in crate::core::alg::DEFAULT_VERIFY {
            check_alg(alg, &defaults).unwrap();
        }
        assert!(check_alg("RS512", &defaults).is_err());
    }

    #[test]
    fn supported_algs_are_the_webcrypto_signature_algorithms() {
        for alg in [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
        ] {
            assert!(supported_alg(alg), "{alg}");
        }
        for alg in ["none", "HS256", "EdDSA", "ES256K", "RSA-OAEP", "rs256", ""] {
            assert!(!supported_alg(alg), "{alg}");
        }
    }
}
