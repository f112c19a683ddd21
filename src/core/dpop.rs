//! DPoP (RFC 9449): proof JWTs, the access token hash, and the server's nonce challenges.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::base64url;
use super::error::{Error, ErrorCode};
use super::uri;

/// RFC 9449 §4.2: the proof's JOSE header carries the public key.
pub fn proof_header(alg: &str, public_jwk: &Value) -> Value {
    json!({ "typ": "dpop+jwt", "alg": alg, "jwk": public_jwk })
}

/// RFC 9449 §4.2: `jti`, `htm`, `htu` (no query or fragment), `iat`, and `nonce` when the
/// server gave one; `ath` (§4.3) toward resource servers.
pub fn proof_claims(
    htm: &str,
    htu: &str,
    jti: &str,
    iat: i64,
    nonce: Option<&str>,
    ath: Option<&str>,
) -> Value {
    let mut claims = json!({
        "jti": jti,
        "htm": htm,
        "htu": uri::without_query_and_fragment(htu),
        "iat": iat,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = Value::from(nonce);
    }
    if let Some(ath) = ath {
        claims["ath"] = Value::from(ath);
    }
    claims
}

/// The `htu` of a proof that asks the holder `holder` (another tab) to log out.
pub fn logout_htu(holder: &str) -> String {
    format!("urn:helseid-wasm:logout:{holder}")
}

/// The `htu` of a proof by which the holder `holder` tells the other tabs its session ended.
pub fn end_htu(holder: &str, reason: &str) -> String {
    format!("urn:helseid-wasm:end:{holder}:{reason}")
}

/// A message between tabs that must come from a tab of the session, as the receiver checks it
/// once the shell verified its signature with the key in its header: a DPoP-style proof
/// (RFC 9449 §4.2) of this session's key (`jwk` thumbprint = `jkt`), for `POST` to `htu`, made
/// within a minute, with `ath` of one of the session's access tokens. A plain message, or one
/// from a page without the session's key and tokens, is not such a message.
pub fn check_tab_proof(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    htu: &str,
    jkt: &str,
    now: i64,
    access_token_hashes: &[String],
) -> bool {
    let key = header
        .get("jwk")
        .and_then(super::jwk::Jwk::from_json)
        .and_then(|k| super::jwk::thumbprint(&k).ok());
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    header.get("typ").and_then(Value::as_str) == Some("dpop+jwt")
        && key.as_deref() == Some(jkt)
        && text("htm") == Some("POST")
        && text("htu") == Some(htu)
        && claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| (iat - now).abs() <= 60)
        && text("ath").is_some_and(|ath| access_token_hashes.iter().any(|h| h == ath))
}

/// RFC 9449 §4.2: `ath` = base64url(SHA-256(ASCII(access token))).
pub fn access_token_hash(access_token: &str) -> String {
    base64url::encode(&Sha256::digest(access_token.as_bytes()))
}

/// RFC 9449 §8: the authorization server asks for a nonce with HTTP 400 and
/// `{"error":"use_dpop_nonce"}`.
pub fn is_authorization_server_nonce_challenge(status: u16, body: &str) -> bool {
    status == 400
        && serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| {
                v.get("error")
                    .and_then(|e| e.as_str())
                    .map(|e| e == "use_dpop_nonce")
            })
            .unwrap_or(false)
}

/// RFC 9449 §9: a resource server asks with HTTP 401 and
/// `WWW-Authenticate: DPoP error="use_dpop_nonce"` (scheme matched case-insensitively).
pub fn is_resource_server_nonce_challenge(status: u16, www_authenticate: Option<&str>) -> bool {
    status == 401
        && www_authenticate
            .map(|h| challenge_error(h, "dpop").as_deref() == Some("use_dpop_nonce"))
            .unwrap_or(false)
}

/// Who answered a request sent with a DPoP proof: each kind asks for a nonce its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceServer {
    /// The authorization server (PAR, token, revocation): RFC 9449 §8.
    Authorization,
    /// An API or a portal: RFC 9449 §9.
    Resource,
}

/// An answer to a request, as far as the nonce retry cares.
#[derive(Clone, Copy, Debug, Default)]
pub struct NonceAnswer<'a> {
    pub status: u16,
    pub www_authenticate: Option<&'a str>,
    /// The body, where it can be read before the caller gets it (the authorization server's).
    pub body: Option<&'a str>,
    /// Whether the answer carried a `DPoP-Nonce`.
    pub got_nonce: bool,
    /// Whether the request was a DPoP request (a `Bearer` call is never retried).
    pub dpop: bool,
}

/// Whether `answer` is `server`'s nonce challenge: the authorization server's is §8's (400
/// `{"error":"use_dpop_nonce"}`), a resource server's is §9's (401
/// `WWW-Authenticate: DPoP error="use_dpop_nonce"`). Neither form means the other's.
pub fn is_nonce_challenge(server: NonceServer, answer: &NonceAnswer) -> bool {
    match server {
        NonceServer::Resource => {
            is_resource_server_nonce_challenge(answer.status, answer.www_authenticate)
        }
        NonceServer::Authorization => answer
            .body
            .is_some_and(|b| is_authorization_server_nonce_challenge(answer.status, b)),
    }
}

/// What to do with the answer to a request sent with a DPoP proof: the one retry rule for the
/// authorization server and for APIs (RFC 9449 §8, §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceStep {
    /// Not a nonce challenge: the answer stands.
    Accept,
    /// The first challenge, with a nonce to use: send again with a new proof.
    RetryOnce,
    /// Challenged again, or without a nonce to use: `dpop_nonce_failed`.
    Fail,
}

/// The one retry rule: a DPoP request that `server` challenged for a nonce is sent once more,
/// with a new proof carrying the `DPoP-Nonce` it got, and only when it got one (a challenge
/// without one would only be answered the same way). `attempt`: the answers challenged so far.
pub fn nonce_step(server: NonceServer, attempt: u32, answer: &NonceAnswer) -> NonceStep {
    if !answer.dpop || !is_nonce_challenge(server, answer) {
        NonceStep::Accept
    } else if attempt == 0 && answer.got_nonce {
        NonceStep::RetryOnce
    } else {
        NonceStep::Fail
    }
}

/// `dpop_nonce_failed`: `server` still asked for a nonce after the one retry (or gave none to
/// use). The authorization server's error carries its OAuth code.
pub fn nonce_failure(server: NonceServer, status: u16) -> Error {
    match server {
        NonceServer::Authorization => Error::new(
            ErrorCode::DpopNonceFailed,
            "the authorization server still asks for a DPoP nonce after one retry",
        )
        .with_status(status)
        .with_oauth("use_dpop_nonce", None),
        NonceServer::Resource => Error::new(
            ErrorCode::DpopNonceFailed,
            "the API still asks for a DPoP nonce after one retry",
        )
        .with_status(status),
    }
}

/// The one nonce retry of a DPoP request (RFC 9449 §8, §9), for the authorization server's
/// endpoints and for `client.fetch`, `authHeaders`' round trip and the portal calls: the shell
/// sends, and asks this after each answer whether to send again.
#[derive(Clone, Copy, Debug)]
pub struct NonceRetry {
    server: NonceServer,
    challenged: u32,
}

impl NonceRetry {
    pub fn new(server: NonceServer) -> NonceRetry {
        NonceRetry {
            server,
            challenged: 0,
        }
    }

    /// After an answer: `Ok(true)` send once more with a new proof (and a new client assertion)
    /// carrying the nonce just kept; `Ok(false)` the answer stands; `dpop_nonce_failed` when
    /// the server still asks, or gave no nonce to use.
    pub fn again(&mut self, answer: &NonceAnswer) -> Result<bool, Error> {
        match nonce_step(self.server, self.challenged, answer) {
            NonceStep::Accept => Ok(false),
            NonceStep::RetryOnce => {
                self.challenged += 1;
                Ok(true)
            }
            NonceStep::Fail => Err(nonce_failure(self.server, answer.status)),
        }
    }
}

/// `takeDpopNonce`: whether the caller should send the request again, with new headers: the
/// answer is a resource server's nonce challenge (RFC 9449 §9) and carries a nonce to use (a
/// challenge without one would only be answered the same way).
pub fn should_retry(status: u16, www_authenticate: Option<&str>, got_nonce: bool) -> bool {
    let answer = NonceAnswer {
        status,
        www_authenticate,
        body: None,
        got_nonce,
        dpop: true,
    };
    nonce_step(NonceServer::Resource, 0, &answer) == NonceStep::RetryOnce
}

/// `authHeaders`' `htm` (RFC 9449 §4.2) for a method given by name: upper case, as axios and
/// Angular's `HttpClient` send it (`"get"` goes out as `GET`); `GET` when none is given.
pub fn htm(method: Option<&str>) -> String {
    method.unwrap_or("GET").to_ascii_uppercase()
}

/// Whether the header field `name`, a key of a plain record of response headers (axios gives
/// them lower-case, a hand-made record may not), is `wanted`: field names are case-insensitive
/// (RFC 9110 §5.1).
pub fn is_field(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
}

/// RFC 9449 §8: keep the newest nonce per server (by origin) and send it next time. Bounded,
/// so a page that calls many origins cannot grow it without end; the oldest goes first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonceCache {
    entries: Vec<(String, String)>,
}

impl NonceCache {
    pub const CAPACITY: usize = 16;

    pub fn get(&self, origin: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(o, _)| o == origin)
            .map(|(_, n)| n.as_str())
    }

    /// Remembers `nonce` for `origin`; `true` when that changed anything.
    pub fn remember(&mut self, origin: &str, nonce: &str) -> bool {
        if self.get(origin) == Some(nonce) || nonce.is_empty() || nonce.len() > 1024 {
            return false;
        }
        self.entries.retain(|(o, _)| o != origin);
        if self.entries.len() >= Self::CAPACITY {
            self.entries.remove(0);
        }
        self.entries.push((origin.to_string(), nonce.to_string()));
        true
    }

    pub fn to_json(&self) -> Value {
        // Inserted one by one: collecting into the map would sort with a routine of its own.
        let mut map = serde_json::Map::new();
        for (origin, nonce) in &self.entries {
            map.insert(origin.clone(), Value::from(nonce.as_str()));
        }
        Value::Object(map)
    }

    /// Merges nonces read from storage or from another tab (not secrets; a bogus one costs a
    /// round trip at most).
    pub fn merge_json(&mut self, value: &Value) {
        if let Some(map) = value.as_object() {
            for (origin, nonce) in map {
                if let Some(nonce) = nonce.as_str() {
                    self.remember(origin, nonce);
                }
            }
        }
    }
}

/// The `error` parameter of the `scheme` challenge in a `WWW-Authenticate` value
/// (RFC 9110 §11.6.1). Tolerates several challenges and quoted or bare values.
pub fn challenge_error(header: &str, scheme: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let trimmed = rest.trim_start_matches([' ', ',']);
        let name_end = trimmed.find([' ', ',']).unwrap_or(trimmed.len());
        let name = &trimmed[..name_end];
        let params_start = &trimmed[name_end..];
        // The parameters run until the next `Scheme ` token that is not `key=`.
        let (params, next) = split_challenge(params_start);
        if name.eq_ignore_ascii_case(scheme) {
            return param(params, "error");
        }
        if next.is_empty() {
            return None;
        }
        rest = next;
    }
}

fn split_challenge(text: &str) -> (&str, &str) {
    let bytes = text.as_bytes();
    let mut in_quotes = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_quotes = !in_quotes,
            b'\\' if in_quotes => i += 1,
            b',' if !in_quotes => {
                let after = text[i + 1..].trim_start();
                let token_end = after.find([' ', '=', ',']).unwrap_or(after.len());
                if (after[token_end..].starts_with(' ') || token_end == after.len())
                    && !after.is_empty()
                {
                    return (&text[..i], &text[i + 1..]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    (text, "")
}

fn param(params: &str, wanted: &str) -> Option<String> {
    let mut rest = params.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().trim_start_matches(',').trim();
        let after = &rest[eq + 1..];
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        if key.eq_ignore_ascii_case(wanted) {
            return Some(value);
        }
        rest = remaining.trim_start_matches([',', ' ']);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_request_must_be_a_fresh_proof_of_the_session_key_and_token() {
        let jwk = json!({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let jkt =
            crate::core::jwk::thumbprint(&crate::core::jwk::Jwk::from_json(&jwk).unwrap()).unwrap();
        let header = proof_header("ES256", &jwk).as_object().unwrap().clone();
        let ath = access_token_hash("at-1");
        let claims = |htu: &str, iat: i64, ath: &str| {
            proof_claims("POST", htu, "j", iat, None, Some(ath))
                .as_object()
                .unwrap()
                .clone()
        };
        let good = claims(&logout_htu("h1"), 1000, &ath);
        assert!(check_tab_proof(
            &header,
            &good,
            &logout_htu("h1"),
            &jkt,
            1010,
            std::slice::from_ref(&ath)
        ));
        assert!(
            !check_tab_proof(
                &header,
                &good,
                &logout_htu("h2"),
                &jkt,
                1010,
                std::slice::from_ref(&ath)
            ),
            "another holder"
        );
        assert!(
            !check_tab_proof(
                &header,
                &good,
                &logout_htu("h1"),
                "other-jkt",
                1010,
                std::slice::from_ref(&ath)
            ),
            "another key"
        );
        assert!(
            !check_tab_proof(
                &header,
                &good,
                &logout_htu("h1"),
                &jkt,
                1100,
                std::slice::from_ref(&ath)
            ),
            "stale"
        );
        assert!(
            !check_tab_proof(
                &header,
                &good,
                &logout_htu("h1"),
                &jkt,
                1010,
                &[access_token_hash("at-2")]
            ),
            "another token"
        );
        let wrong = claims("https://h1", 1000, &ath);
        assert!(!check_tab_proof(
            &header,
            &wrong,
            &logout_htu("h1"),
            &jkt,
            1010,
            &[ath]
        ));
    }

    const AS_CHALLENGE: &str = r#"{"error":"use_dpop_nonce","error_description":"x"}"#;
    const RS_CHALLENGE: &str = r#"DPoP error="use_dpop_nonce", algs="ES256""#;

    fn answer<'a>(status: u16, www: Option<&'a str>, body: Option<&'a str>) -> NonceAnswer<'a> {
        NonceAnswer {
            status,
            www_authenticate: www,
            body,
            got_nonce: true,
            dpop: true,
        }
    }

    #[test]
    fn the_authorization_server_challenges_by_rfc9449_section_8_only() {
        let server = NonceServer::Authorization;
        let step = |a: NonceAnswer| nonce_step(server, 0, &a);
        assert_eq!(
            step(answer(400, None, Some(AS_CHALLENGE))),
            NonceStep::RetryOnce
        );
        // §9's form is a resource server's, not the token endpoint's.
        assert_eq!(
            step(answer(401, Some(RS_CHALLENGE), Some("{}"))),
            NonceStep::Accept
        );
        assert_eq!(
            step(answer(401, None, Some(AS_CHALLENGE))),
            NonceStep::Accept
        );
        assert_eq!(
            step(answer(200, None, Some(AS_CHALLENGE))),
            NonceStep::Accept
        );
        let grant = r#"{"error":"invalid_grant"}"#;
        assert_eq!(step(answer(400, None, Some(grant))), NonceStep::Accept);
        assert_eq!(step(answer(400, None, Some("not json"))), NonceStep::Accept);
    }

    #[test]
    fn a_resource_server_challenges_by_rfc9449_section_9_only() {
        let server = NonceServer::Resource;
        let step = |a: NonceAnswer| nonce_step(server, 0, &a);
        assert_eq!(
            step(answer(401, Some(RS_CHALLENGE), None)),
            NonceStep::RetryOnce
        );
        assert_eq!(
            step(answer(401, Some(r#"dpop error=use_dpop_nonce"#), None)),
            NonceStep::RetryOnce
        );
        // An API's 400 with the authorization server's body is the API's own error.
        assert_eq!(
            step(answer(400, None, Some(AS_CHALLENGE))),
            NonceStep::Accept
        );
        assert_eq!(
            step(answer(400, Some(RS_CHALLENGE), None)),
            NonceStep::Accept
        );
        let other = r#"DPoP error="invalid_token""#;
        assert_eq!(step(answer(401, Some(other), None)), NonceStep::Accept);
        let bearer = r#"Bearer error="use_dpop_nonce""#;
        assert_eq!(step(answer(401, Some(bearer), None)), NonceStep::Accept);
    }

    #[test]
    fn a_challenge_is_retried_once_and_only_with_a_nonce() {
        for (server, challenged) in [
            (
                NonceServer::Authorization,
                answer(400, None, Some(AS_CHALLENGE)),
            ),
            (NonceServer::Resource, answer(401, Some(RS_CHALLENGE), None)),
        ] {
            assert_eq!(nonce_step(server, 0, &challenged), NonceStep::RetryOnce);
            assert_eq!(nonce_step(server, 1, &challenged), NonceStep::Fail);
            let no_nonce = NonceAnswer {
                got_nonce: false,
                ..challenged
            };
            assert_eq!(nonce_step(server, 0, &no_nonce), NonceStep::Fail);
            // A request sent without a proof (a Bearer token, DPoP off) is never retried.
            let plain = NonceAnswer {
                dpop: false,
                ..challenged
            };
            assert_eq!(nonce_step(server, 0, &plain), NonceStep::Accept);
            assert_eq!(nonce_step(server, 1, &plain), NonceStep::Accept);
        }
    }

    #[test]
    fn a_second_challenge_fails_with_dpop_nonce_failed_and_the_status() {
        let e = nonce_failure(NonceServer::Authorization, 400);
        assert_eq!(e.code, ErrorCode::DpopNonceFailed);
        assert_eq!(e.status, Some(400));
        assert_eq!(e.oauth_error.as_deref(), Some("use_dpop_nonce"));
        let e = nonce_failure(NonceServer::Resource, 401);
        assert_eq!(e.code, ErrorCode::DpopNonceFailed);
        assert_eq!(e.status, Some(401));
        assert_eq!(e.oauth_error, None);
    }

    #[test]
    fn one_sender_sends_twice_at_most_and_then_fails_with_dpop_nonce_failed() {
        let challenged = answer(400, None, Some(AS_CHALLENGE));
        let mut retry = NonceRetry::new(NonceServer::Authorization);
        assert_eq!(retry.again(&challenged), Ok(true));
        let e = retry.again(&challenged).unwrap_err();
        assert_eq!(e.code, ErrorCode::DpopNonceFailed);
        assert_eq!(e.oauth_error.as_deref(), Some("use_dpop_nonce"));

        let mut retry = NonceRetry::new(NonceServer::Resource);
        let challenged = answer(401, Some(RS_CHALLENGE), None);
        assert_eq!(retry.again(&challenged), Ok(true));
        assert_eq!(retry.again(&answer(200, None, None)), Ok(false));

        // An answer that is no challenge stands at once.
        let mut retry = NonceRetry::new(NonceServer::Resource);
        assert_eq!(retry.again(&answer(403, None, None)), Ok(false));
        // A challenge with no nonce to use fails at once: one request, no retry.
        let mut retry = NonceRetry::new(NonceServer::Resource);
        let no_nonce = NonceAnswer {
            got_nonce: false,
            ..challenged
        };
        assert_eq!(
            retry.again(&no_nonce).unwrap_err().code,
            ErrorCode::DpopNonceFailed
        );
    }

    #[test]
    fn take_dpop_nonce_asks_for_a_retry_only_on_a_resource_server_challenge_with_a_nonce() {
        let www = Some(r#"DPoP error="use_dpop_nonce", algs="ES256""#);
        assert!(should_retry(401, www, true));
        assert!(!should_retry(401, www, false), "no nonce to use");
        assert!(!should_retry(200, www, true));
        assert!(!should_retry(
            401,
            Some(r#"DPoP error="invalid_token""#),
            true
        ));
        assert!(!should_retry(
            401,
            Some(r#"Bearer error="use_dpop_nonce""#),
            true
        ));
        assert!(!should_retry(401, None, true));
        assert!(
            !should_retry(400, None, true),
            "an API answers 401, not the AS's 400"
        );
    }

    #[test]
    fn auth_headers_htm_is_the_method_upper_cased_and_get_by_default() {
        assert_eq!(htm(None), "GET");
        assert_eq!(htm(Some("post")), "POST");
        assert_eq!(htm(Some("Patch")), "PATCH");
        assert_eq!(htm(Some("DELETE")), "DELETE");
    }

    #[test]
    fn header_names_in_a_plain_record_match_in_any_case() {
        assert!(is_field("dpop-nonce", "dpop-nonce"), "axios: lower-case");
        assert!(is_field("DPoP-Nonce", "dpop-nonce"));
        assert!(is_field("WWW-AUTHENTICATE", "www-authenticate"));
        assert!(!is_field("dpop-nonce2", "dpop-nonce"));
        assert!(!is_field("x-dpop-nonce", "dpop-nonce"));
        assert!(!is_field("", "dpop-nonce"));
    }

    #[test]
    fn the_nonce_cache_keeps_the_newest_per_origin_and_is_bounded() {
        let mut cache = NonceCache::default();
        assert!(cache.remember("https://a", "n1"));
        assert!(!cache.remember("https://a", "n1"));
        assert!(cache.remember("https://a", "n2"));
        assert_eq!(cache.get("https://a"), Some("n2"));
        for i in 0..40 {
            cache.remember(&format!("https://o{i}"), "n");
        }
        assert_eq!(
            cache.to_json().as_object().unwrap().len(),
            NonceCache::CAPACITY
        );
        assert_eq!(cache.get("https://a"), None, "the oldest went first");
        let mut other = NonceCache::default();
        other.merge_json(&cache.to_json());
        assert_eq!(other, cache);
    }

    #[test]
    fn proof_claims_strip_query_and_carry_nonce_and_ath() {
        let c = proof_claims(
            "POST",
            "https://as.test/connect/token?x=1#f",
            "j",
            5,
            Some("n"),
            Some("a"),
        );
        assert_eq!(
            c,
            json!({"jti":"j","htm":"POST","htu":"https://as.test/connect/token","iat":5,"nonce":"n","ath":"a"})
        );
        let c = proof_claims("GET", "https://rs.test/api", "j", 5, None, None);
        assert!(c.get("nonce").is_none() && c.get("ath").is_none());
    }

    #[test]
    fn proof_header_is_dpop_jwt_with_the_public_key() {
        let jwk = json!({"kty":"EC","crv":"P-256","x":"a","y":"b"});
        assert_eq!(
            proof_header("ES256", &jwk),
            json!({"typ":"dpop+jwt","alg":"ES256","jwk":jwk})
        );
    }

    /// RFC 9449 §7.1 example: the access token `Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU`.
    #[test]
    fn ath_matches_rfc9449_example() {
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn authorization_server_challenge_is_400_use_dpop_nonce() {
        assert!(is_authorization_server_nonce_challenge(
            400,
            r#"{"error":"use_dpop_nonce"}"#
        ));
        assert!(!is_authorization_server_nonce_challenge(
            401,
            r#"{"error":"use_dpop_nonce"}"#
        ));
        assert!(!is_authorization_server_nonce_challenge(
            400,
            r#"{"error":"invalid_grant"}"#
        ));
        assert!(!is_authorization_server_nonce_challenge(400, "not json"));
    }

    #[test]
    fn resource_server_challenge_matches_scheme_case_insensitively() {
        let h = r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#;
        assert!(is_resource_server_nonce_challenge(401, Some(h)));
        assert!(is_resource_server_nonce_challenge(
            401,
            Some(r#"dpop error="use_dpop_nonce""#)
        ));
        assert!(is_resource_server_nonce_challenge(
            401,
            Some(
                r#"Bearer realm="x", error="invalid_token", DPoP algs="ES256", error="use_dpop_nonce""#
            )
        ));
        assert!(!is_resource_server_nonce_challenge(
            401,
            Some(r#"Bearer error="use_dpop_nonce""#)
        ));
        assert!(!is_resource_server_nonce_challenge(
            401,
            Some(r#"DPoP error="invalid_token""#)
        ));
        assert!(!is_resource_server_nonce_challenge(403, Some(h)));
        assert!(!is_resource_server_nonce_challenge(401, None));
    }
}
