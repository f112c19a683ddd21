#![cfg(not(target_arch = "wasm32"))]
//! Property tests ("fuzzing") of the protocol core: nothing that comes from the network, the
//! address bar or storage may make it panic (in wasm a panic is an `unreachable` trap, not a
//! `HelseIdError`), and what it accepts must satisfy the checks it claims to make.
//!
//! Bounded for `cargo test` (1,000 cases per property by default, a few seconds). A longer run:
//!
//!     PROPTEST_CASES=200000 cargo test --release --test fuzz_core
//!
//! A failure prints the smallest input proptest could shrink it to.

use helseid_wasm::core::authorize;
use helseid_wasm::core::callback::{self, Transaction};
use helseid_wasm::core::claims::{self, Audience, Expectations};
use helseid_wasm::core::config::{ClientAuthMethod, Config};
use helseid_wasm::core::jwk::{self, Jwks};
use helseid_wasm::core::secret::CodeVerifier;
use helseid_wasm::core::{
    base64url, discovery, dpop, form, helseid, jwt, session, token, uri, ErrorCode,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{json, Map, Value};

/// `cases` per property, or `PROPTEST_CASES` when set.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ISSUER: &str = "https://helseid-sts.test.nhn.no";
const CLIENT_ID: &str = "helseid-wasm-rs256";

// ---------------------------------------------------------------- generators

/// Any string (cheaper than `any::<String>()`, which goes through a regex engine).
fn any_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter)
}

/// Text that looks like what servers and attackers send: ASCII punctuation, escapes, unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(32u8..127, 0..32).prop_map(|b| String::from_utf8(b).unwrap()),
        1 => any_string(),
        1 => Just(String::new()),
        1 => prop::sample::select(vec![
            ISSUER.to_string(),
            CLIENT_ID.to_string(),
            "https://evil.example".to_string(),
            "e-helse:sfm.api".to_string(),
            "4".to_string(),
            "DPoP".to_string(),
            "none".to_string(),
            "RS256".to_string(),
            "\u{0}".to_string(),
            "é\u{10FFFF}".to_string(),
        ]),
    ]
}

/// NumericDates and other numbers at the edges.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-10_000i64..10_000).prop_map(|d| Value::from(1_700_000_000 + d)),
        prop::sample::select(vec![
            json!(0),
            json!(-1),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(253_402_300_799i64),
            json!(253_402_300_800i64),
            json!(1e300),
            json!(-1e300),
            json!(0.5),
        ]),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON one level deep: enough for claim values, much cheaper than [`json_value`].
fn shallow_json() -> impl Strategy<Value = Value> {
    let leaf = || {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number(),
            text().prop_map(Value::String),
        ]
    };
    prop_oneof![
        4 => leaf(),
        1 => prop::collection::vec(leaf(), 0..3).prop_map(Value::Array),
        1 => (text(), leaf()).prop_map(|(k, v)| json!({ k: v })),
    ]
}

const CLAIM_NAMES: [&str; 16] = [
    "iss",
    "aud",
    "azp",
    "exp",
    "nbf",
    "iat",
    "nonce",
    "sub",
    "cnf",
    "scope",
    "client_id",
    helseid::SFM_ID,
    helseid::JOURNAL_ID,
    helseid::SECURITY_LEVEL,
    "helseid://claims/identity/pid",
    "name",
];

/// A claim set: the claims the checks read, each absent, plausible or arbitrary.
fn claim_map() -> impl Strategy<Value = Map<String, Value>> {
    let plausible = |name: &'static str| -> BoxedStrategy<Value> {
        match name {
            "iss" => prop_oneof![Just(json!(ISSUER)), shallow_json()].boxed(),
            "aud" => prop_oneof![
                Just(json!(CLIENT_ID)),
                Just(json!([CLIENT_ID])),
                Just(json!([CLIENT_ID, "https://untrusted.example"])),
                Just(json!("e-helse:sfm.api")),
                shallow_json()
            ]
            .boxed(),
            "azp" => prop_oneof![Just(json!(CLIENT_ID)), shallow_json()].boxed(),
            "exp" | "nbf" | "iat" => number().boxed(),
            "nonce" => prop_oneof![Just(json!("n-1")), shallow_json()].boxed(),
            "cnf" => prop_oneof![Just(json!({"jkt": "jkt-1"})), shallow_json()].boxed(),
            helseid::SECURITY_LEVEL => {
                prop_oneof![Just(json!("4")), Just(json!(4)), shallow_json()].boxed()
            }
            helseid::SFM_ID | helseid::JOURNAL_ID => prop_oneof![
                Just(json!("sfm-1")),
                Just(json!({"journal_id": "j"})),
                shallow_json()
            ]
            .boxed(),
            _ => prop_oneof![text().prop_map(Value::String), shallow_json()].boxed(),
        }
    };
    let members: Vec<BoxedStrategy<Option<(String, Value)>>> = CLAIM_NAMES
        .iter()
        .map(|&name| {
            prop::option::weighted(
                0.8,
                plausible(name).prop_map(move |v| (name.to_string(), v)),
            )
            .boxed()
        })
        .collect();
    (
        members,
        prop::collection::btree_map(text(), shallow_json(), 0..3),
    )
        .prop_map(|(known, extra)| {
            let mut map: Map<String, Value> = extra.into_iter().collect();
            map.extend(known.into_iter().flatten());
            map
        })
}

fn header_map() -> impl Strategy<Value = Map<String, Value>> {
    let member = (
        prop::sample::select(vec!["alg", "typ", "kid", "cty"]),
        prop_oneof![
            prop::sample::select(vec![
                "RS256",
                "at+jwt",
                "application/AT+JWT",
                "JWT",
                "json",
                "JSON",
                "k1"
            ])
            .prop_map(|s| json!(s)),
            shallow_json()
        ],
    );
    prop::collection::vec(member, 0..5).prop_map(|members| {
        members
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    })
}

/// Compact-JWS-shaped strings: JSON or garbage in base64url, sometimes broken.
fn jws_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        3 => json_value().prop_map(|v| base64url::encode(v.to_string().as_bytes())),
        2 => (header_map(), any::<bool>()).prop_map(|(mut h, with_alg)| {
            if with_alg {
                h.insert("alg".into(), json!("RS256"));
            }
            base64url::encode(Value::Object(h).to_string().as_bytes())
        }),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| base64url::encode(&b)),
        1 => "[A-Za-z0-9_\\-=+/*. ]{0,30}",
    ];
    (
        prop::collection::vec(part, 1..6),
        prop::sample::select(vec![".", ".", ".", ".."]),
    )
        .prop_map(|(parts, sep)| parts.join(sep))
}

/// Tokens with a header of alg/typ/kid/cty variants, a JSON payload (mostly an object) and a
/// signature, sometimes with a part broken, missing or added.
fn jws_variants() -> impl Strategy<Value = String> {
    let payload = prop_oneof![
        3 => prop::collection::vec(("[a-z]{1,3}", shallow_json()), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => json_value(),
    ];
    (
        (header_map(), any::<bool>()),
        payload,
        prop::collection::vec(any::<u8>(), 0..20),
        0u8..8,
    )
        .prop_map(|((mut header, with_alg), payload, signature, mangle)| {
            if with_alg {
                header.insert("alg".into(), json!("RS256"));
            }
            let mut parts = vec![
                base64url::encode(Value::Object(header).to_string().as_bytes()),
                base64url::encode(payload.to_string().as_bytes()),
                base64url::encode(&signature),
            ];
            match mangle {
                0 => parts[0].push('='),
                1 => parts[1].push('*'),
                2 => parts[2].push('+'),
                3 => drop(parts.pop()),
                4 => parts.push("e30".into()),
                _ => {}
            }
            parts.join(".")
        })
}

fn audience_strategy() -> impl Strategy<Value = u8> {
    0u8..4
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config(1_000))]

    /// RFC 7515 §7.1: any string decodes or is `invalid_token`; a decoded token's signing input
    /// is its first two parts, and its header and claims are what those parts say.
    #[test]
    fn jwt_decode_never_panics(token in prop_oneof![jws_like(), any_string()]) {
        match jwt::decode(&token) {
            Ok(decoded) => {
                let (input, _) = token.rsplit_once('.').unwrap();
                prop_assert_eq!(&decoded.signing_input, input);
                prop_assert_eq!(input.matches('.').count(), 1);
                prop_assert_eq!(decoded.header.get("alg").and_then(Value::as_str), Some(decoded.alg.as_str()));
            }
            Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidToken),
        }
    }

    /// jwt-compact's `UntrustedToken` is the reference for the structure (RFC 7515 §7.1):
    /// ours accepts exactly what it accepts whose payload is a JSON object, and reads the same
    /// alg, kid, typ, signature and signing input from it.
    #[test]
    fn jwt_decode_agrees_with_jwt_compact(token in prop_oneof![jws_variants(), jws_like()]) {
        let reference = jwt_compact::UntrustedToken::new(&token).ok().filter(|t| {
            t.deserialize_claims_unchecked::<Map<String, Value>>().is_ok()
        });
        match (jwt::decode(&token), reference) {
            (Ok(ours), Some(theirs)) => {
                prop_assert_eq!(ours.alg.as_str(), theirs.algorithm());
                prop_assert_eq!(&ours.kid, &theirs.header().key_id);
                prop_assert_eq!(&ours.typ, &theirs.header().token_type);
                prop_assert_eq!(ours.signature.as_slice(), theirs.signature_bytes());
                prop_assert_eq!(ours.signing_input.as_str(), token.rsplit_once('.').unwrap().0);
            }
            (Err(_), None) => {}
            (ours, theirs) => prop_assert!(false, "ours: {:?}, jwt-compact accepted: {}", ours.map(|_| ()), theirs.is_some()),
        }
    }

    /// RFC 8725 §3.1: `none` and HMAC never pass, whatever the allow-list says.
    #[test]
    fn check_alg_refuses_none_and_hmac(alg in text(), allowed in prop::collection::vec(text(), 0..4)) {
        let mut allowed = allowed;
        allowed.push(alg.clone());
        match jwt::check_alg(&alg, &allowed) {
            Ok(()) => {
                prop_assert!(jwt::supported_alg(&alg));
                prop_assert!(!alg.eq_ignore_ascii_case("none"));
                prop_assert!(!alg.to_ascii_uppercase().starts_with("HS"));
            }
            Err(e) => prop_assert_eq!(e.code, ErrorCode::UnsupportedAlg),
        }
    }

    /// OIDC Core 3.1.3.7: whatever the claims, times and options, `validate` returns; when it
    /// accepts, the token really has our issuer, our audience, our nonce, a live `exp`, a sane
    /// `iat`, our `cnf.jkt`, an SFM id and the security level.
    #[test]
    fn claims_validate_never_panics_and_accepts_only_what_it_checks(
        header in header_map(),
        claims_in in claim_map(),
        which in audience_strategy(),
        now in prop_oneof![Just(1_700_000_000i64), any::<i64>(), (1_699_990_000i64..1_700_010_000)],
        tolerance in prop_oneof![Just(30i64), any::<i64>(), 0i64..100_000],
        max_age in prop_oneof![Just(3600i64), any::<i64>()],
        nonce in prop::option::of(Just("n-1")),
        jkt in prop::option::of(Just("jkt-1")),
        sfm in any::<bool>(),
        level in prop::option::of(Just("4")),
        sub in any::<bool>(),
    ) {
        let audiences = vec![CLIENT_ID.to_string(), "e-helse:sfm.api".to_string()];
        let mut e = match which {
            0 => Expectations::id_token(ISSUER, CLIENT_ID, nonce, now, tolerance),
            1 => Expectations::access_token(ISSUER, Some("e-helse:sfm.api"), jkt, now, tolerance),
            2 => Expectations::access_token(ISSUER, None, jkt, now, tolerance),
            _ => Expectations::generic(ISSUER, &audiences, now, tolerance),
        };
        e.max_age = max_age;
        e.require_sfm_id = sfm;
        e.required_security_level = level;
        e.require_sub |= sub;
        if claims::validate(&header, &claims_in, &e).is_ok() {
            prop_assert_eq!(claims_in.get("iss"), Some(&json!(ISSUER)));
            prop_assert!((0..=claims::MAX_TOLERANCE).contains(&tolerance));
            let exp = claims_in.get("exp").and_then(Value::as_f64).expect("exp accepted");
            prop_assert!(exp.floor() >= (now - tolerance) as f64, "expired token accepted");
            let iat = claims_in.get("iat").and_then(Value::as_f64).expect("iat accepted");
            prop_assert!(iat.floor() <= (now + tolerance) as f64, "future iat accepted");
            let auds: Vec<&str> = match claims_in.get("aud") {
                Some(Value::String(a)) => vec![a.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            match which {
                0 => {
                    prop_assert!(auds.contains(&CLIENT_ID));
                    if auds.len() > 1 {
                        prop_assert_eq!(claims_in.get("azp"), Some(&json!(CLIENT_ID)));
                    }
                    if let Some(n) = nonce {
                        prop_assert_eq!(claims_in.get("nonce"), Some(&json!(n)));
                    }
                    prop_assert!(claims_in.get("sub").and_then(Value::as_str).is_some_and(|s| !s.is_empty()));
                }
                1 => prop_assert_eq!(auds, vec!["e-helse:sfm.api"]),
                3 => prop_assert!(auds.iter().any(|a| audiences.iter().any(|x| x == a))),
                _ => {}
            }
            if which == 1 || which == 2 {
                if let Some(jkt) = jkt {
                    prop_assert_eq!(claims_in.get("cnf").and_then(|c| c.get("jkt")), Some(&json!(jkt)));
                }
            }
            if sfm {
                prop_assert!(claims_in.contains_key(helseid::SFM_ID) || claims_in.contains_key(helseid::JOURNAL_ID));
            }
            if level.is_some() && which == 0 {
                let l = claims_in.get(helseid::SECURITY_LEVEL);
                prop_assert!(l == Some(&json!("4")) || l == Some(&json!(4)));
            }
        }
    }

    /// RFC 6749 §4.1.2, RFC 9207: any callback query and any stored attempt give a code or a
    /// documented error; a code comes back only with our state, our iss (or none when not
    /// advertised) and no `error`.
    #[test]
    fn process_callback_never_panics_and_needs_state_and_iss(
        params in prop::collection::vec(
            (prop::sample::select(vec!["code", "state", "iss", "error", "error_description", "session_state", "x"]), text()),
            0..7,
        ),
        use_real in prop::collection::vec(any::<bool>(), 7),
        stored in any::<bool>(),
        supported in any::<bool>(),
        created_at in prop_oneof![Just(1_700_000_000i64), any::<i64>()],
        now in prop_oneof![Just(1_700_000_100i64), any::<i64>()],
    ) {
        let tx = Transaction {
            state: "state-1".into(),
            nonce: "n".into(),
            code_verifier: CodeVerifier::new("v"),
            redirect_uri: "https://app.test/cb".into(),
            created_at,
            dpop_jkt: None,
            context: None,
        };
        // Some parameters carry the real values, so the accepting paths are reached too.
        let params: Vec<(String, String)> = params
            .into_iter()
            .zip(use_real)
            .map(|((name, value), real)| {
                let value = match (name, real) {
                    ("state", true) => "state-1".to_string(),
                    ("iss", true) => ISSUER.to_string(),
                    _ => value,
                };
                (name.to_string(), value)
            })
            .collect();
        let _ = callback::is_callback(&params);
        let result = callback::process_callback(&params, stored.then_some(&tx), ISSUER, supported, now);
        match result {
            Ok(code) => {
                let get = |n: &str| params.iter().filter(|(k, _)| k == n).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
                prop_assert!(stored);
                prop_assert_eq!(get("state"), vec!["state-1"]);
                let iss = get("iss");
                prop_assert!(iss == vec![ISSUER] || (iss.is_empty() && !supported));
                prop_assert!(get("error").is_empty());
                prop_assert_eq!(get("code"), vec![code.expose()]);
                prop_assert!(!code.expose().is_empty());
                prop_assert!(now.saturating_sub(created_at) <= callback::TRANSACTION_MAX_AGE_SECONDS, "a stale login attempt was accepted");
            }
            Err(e) => prop_assert!(matches!(
                e.code,
                ErrorCode::MissingTransaction
                    | ErrorCode::StateMismatch
                    | ErrorCode::AuthorizationResponseIssMismatch
                    | ErrorCode::AuthorizationDenied
            ), "{:?}", e.code),
        }
    }

    /// OIDC Discovery 4.3: any answer is metadata for our issuer or a documented error.
    #[test]
    fn process_discovery_response_never_panics(
        status in prop_oneof![Just(200u16), any::<u16>()],
        doc in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            (json_value(), any::<bool>(), any::<bool>()).prop_map(|(extra, https, issuer_ok)| {
                let base = if https { ISSUER.to_string() } else { "http://127.0.0.1:4010".to_string() };
                let mut d = json!({
                    "issuer": if issuer_ok { ISSUER.to_string() } else { format!("{ISSUER}/") },
                    "authorization_endpoint": format!("{base}/connect/authorize"),
                    "token_endpoint": format!("{base}/connect/token"),
                    "jwks_uri": format!("{base}/jwks"),
                });
                if let (Value::Object(d), Value::Object(extra)) = (&mut d, extra) {
                    d.extend(extra);
                }
                d.to_string()
            }),
            any_string(),
        ],
        insecure in any::<bool>(),
    ) {
        match discovery::process_discovery_response(status, &doc, ISSUER, insecure) {
            Ok(m) => {
                prop_assert!((200..300).contains(&status));
                prop_assert_eq!(m.issuer.as_str(), ISSUER);
                prop_assert!(uri::is_allowed_endpoint(&m.token_endpoint, insecure));
                prop_assert!(uri::is_allowed_endpoint(&m.jwks_uri, insecure));
            }
            Err(e) => prop_assert!(matches!(e.code, ErrorCode::DiscoveryFailed | ErrorCode::IssuerMismatch)),
        }
    }

    /// RFC 6749 §5.1-5.2: any token endpoint answer is a response or `token_request_failed`.
    #[test]
    fn process_token_response_never_panics(
        status in prop_oneof![Just(200u16), Just(400u16), any::<u16>()],
        body in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            (json_value(), json_value(), json_value(), json_value()).prop_map(|(at, tt, exp, scope)| {
                json!({"access_token": at, "token_type": tt, "expires_in": exp, "scope": scope}).to_string()
            }),
            (text(), text(), number()).prop_map(|(at, tt, exp)| {
                json!({"access_token": at, "token_type": tt, "expires_in": exp, "id_token": "x", "refresh_token": "r"}).to_string()
            }),
            (text(), text()).prop_map(|(e, d)| json!({"error": e, "error_description": d}).to_string()),
            any_string(),
        ],
        dpop_used in any::<bool>(),
        now in any::<i64>(),
    ) {
        match token::process_token_response(status, &body) {
            Ok(r) => {
                prop_assert!((200..300).contains(&status));
                prop_assert!(!r.access_token.expose().is_empty());
                let _ = format!("{r:?}");
                if let Ok(t) = token::check_token_type(&r.token_type, dpop_used) {
                    prop_assert_eq!(t.as_str().to_ascii_lowercase(), r.token_type.to_ascii_lowercase());
                }
                let _ = session::expires_at(now, r.expires_in, None);
                let _ = session::parse_scope(r.scope.as_ref());
            }
            Err(e) => {
                prop_assert_eq!(e.code, ErrorCode::TokenRequestFailed);
                // (The "empty access_token" error carries no status: a nit, not checked.)
                prop_assert!(e.status == Some(status) || e.status.is_none());
                if let Some(d) = &e.oauth_error_description {
                    prop_assert!(d.chars().count() <= 300);
                }
            }
        }
        let _ = authorize::process_par_response(status, &body);
        let _ = dpop::is_authorization_server_nonce_challenge(status, &body);
    }

    /// RFC 9110 §11.6.1: any `WWW-Authenticate` value.
    #[test]
    fn challenge_error_never_panics(
        header in prop_oneof![
            any_string(),
            prop::collection::vec(
                prop_oneof![
                    Just("DPoP".to_string()), Just("dpop".to_string()), Just("Bearer".to_string()),
                    Just(" ".to_string()), Just(",".to_string()), Just("=".to_string()), Just("\"".to_string()),
                    Just("\\".to_string()), Just("error".to_string()), Just("use_dpop_nonce".to_string()),
                    Just("é".to_string()), Just("\u{1F600}".to_string()), "[ -~]{0,6}",
                ],
                0..16,
            ).prop_map(|parts| parts.concat()),
        ],
        scheme in prop_oneof![Just("dpop".to_string()), Just("Bearer".to_string()), text()],
        status in any::<u16>(),
    ) {
        let _ = dpop::challenge_error(&header, &scheme);
        let _ = dpop::is_resource_server_nonce_challenge(status, Some(&header));
    }

    /// `application/x-www-form-urlencoded`: ASCII out, and the same pairs back in.
    #[test]
    fn form_encode_round_trips(pairs in prop::collection::vec((any_string(), any_string()), 0..6)) {
        let body = form::encode(&pairs);
        prop_assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b"*-._+%&=".contains(&b)));
        let decoded: Vec<(String, String)> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('&')
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    (form_decode(k), form_decode(v))
                })
                .collect()
        };
        prop_assert_eq!(decoded, pairs);
    }

    /// The URL helpers take any string.
    #[test]
    fn uri_helpers_never_panic(url in prop_oneof![
        any_string(),
        "(https?|ftp|HTTP)://[a-z0-9.:\\[\\]@é]{0,20}(/[ -~]{0,10})?",
    ], insecure in any::<bool>()) {
        let _ = uri::scheme_and_host(&url);
        let allowed = uri::is_allowed_endpoint(&url, insecure);
        if allowed && !url.to_ascii_lowercase().starts_with("https://") {
            prop_assert!(insecure, "http allowed without allowInsecureHttp: {}", url);
        }
        let stripped = uri::without_query_and_fragment(&url);
        prop_assert!(url.starts_with(stripped));
        if let Some(origin) = uri::origin(&url) {
            prop_assert!(url.starts_with(origin));
        }
    }

    /// RFC 7517 §5: any JWKS document; RFC 7638 thumbprints of whatever keys it holds.
    #[test]
    fn jwks_parse_select_and_thumbprint_never_panic(
        doc in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            prop::collection::vec(
                (prop::option::of(prop_oneof![Just(json!("RSA")), Just(json!("EC")), json_value()]),
                 prop::option::of(json_value()), prop::option::of(json_value()), prop::option::of(json_value())),
                0..4,
            ).prop_map(|keys| {
                let keys: Vec<Value> = keys.into_iter().map(|(kty, kid, n, crv)| {
                    let mut k = json!({"e": "AQAB", "x": "x", "y": "y"});
                    for (name, v) in [("kty", kty), ("kid", kid), ("n", n), ("crv", crv)] {
                        if let Some(v) = v { k[name] = v; }
                    }
                    k
                }).collect();
                json!({ "keys": keys }).to_string()
            }),
        ],
        kid in prop::option::of(text()),
        alg in prop_oneof![Just("RS256".to_string()), Just("ES256".to_string()), text()],
    ) {
        if let Ok(jwks) = Jwks::parse(&doc) {
            for key in &jwks.keys {
                let _ = jwk::thumbprint(key);
            }
            let _ = jwk::select_key(&jwks, kid.as_deref(), &alg);
        }
    }

    /// The configuration is user input: any JSON is a config or `config_invalid`.
    #[test]
    fn config_from_json_never_panics(doc in prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        (json_value(), json_value(), json_value()).prop_map(|(scope, tol, leeway)| json!({
            "issuer": ISSUER, "clientId": "c", "redirectUri": "https://app.test/", "scope": scope,
            "clockToleranceSeconds": tol, "refreshLeewaySeconds": leeway,
        }).to_string()),
    ]) {
        if let Err(e) = Config::from_json(&doc, ClientAuthMethod::None) {
            prop_assert_eq!(e.code, ErrorCode::ConfigInvalid);
        }
    }

}

proptest! {
    // Two claim sets per case: the slowest generator here.
    #![proptest_config(config(300))]

    /// The session view reads any claims.
    #[test]
    fn session_view_never_panics(id in claim_map(), at in claim_map()) {
        let _ = helseid::HelseIdView::from_claims(&id, &at);
        let _ = session::parse_scope(at.get("scope"));
        let _ = base64url::decode(at.get("name").and_then(Value::as_str).unwrap_or(""));
    }
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The fixed seeds of a few known-tricky inputs, so they run on every `cargo test`.
#[test]
fn known_tricky_inputs_do_not_panic() {
    for header in [
        "",
        ",",
        "\"",
        "DPoP error=\"",
        "DPoP error=\"\\",
        "DPoP ,error=use_dpop_nonce,",
        "DPoP é=\"x\", error=\"use_dpop_nonce\"",
        "Bearer realm=\"é\", DPoP error=use_dpop_nonce",
        "DPoP \"\u{1F600}\\\u{1F600}\", error=x",
    ] {
        let _ = dpop::challenge_error(header, "dpop");
    }
    for token in [
        "..",
        "a..",
        "..a",
        ".é.",
        "eyJhbGciOiJub25lIn0.e30.",
        "e30.e30.e30",
    ] {
        let _ = jwt::decode(token);
    }
    let tx = Transaction {
        state: "s".into(),
        nonce: "n".into(),
        code_verifier: CodeVerifier::new("v"),
        redirect_uri: "https://app.test/cb".into(),
        created_at: i64::MIN,
        dpop_jkt: None,
        context: None,
    };
    let params = vec![
        ("code".to_string(), "c".to_string()),
        ("state".to_string(), "s".to_string()),
        ("iss".to_string(), ISSUER.to_string()),
    ];
    let e = callback::process_callback(&params, Some(&tx), ISSUER, true, i64::MAX).unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::MissingTransaction,
        "an attempt from the beginning of time is stale"
    );
    let _ = Audience::Unchecked;
}
