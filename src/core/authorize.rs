//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), pushed to the server first
//! (RFC 9126) or sent in the front channel (`par: "off"`).

use serde_json::Value;

use super::callback::Transaction;
use super::config::Config;
use super::error::{Error, ErrorCode, Result};
use super::form;
use super::json::{Object, Read};
use super::vecmap::VecMap;

/// `loginWithRedirect` options (API.md).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoginOptions {
    pub prompt: Option<String>,
    pub acr_values: Option<String>,
    pub login_hint: Option<String>,
    pub extra_params: VecMap<String, String>,
    /// The context (API.md "Organisation, journal and patient context") for the code exchange,
    /// as given (`null` = none); `None` = the configured one.
    pub context: Option<Value>,
}

impl LoginOptions {
    /// Reads the options object; unknown keys and wrong types are `config_invalid`.
    pub fn from_json(value: &Value) -> Result<LoginOptions> {
        let Some(o) = value.as_object() else {
            return match value {
                Value::Null => Ok(LoginOptions::default()),
                _ => Err(Error::config("loginWithRedirect options must be an object")),
            };
        };
        const KNOWN: [&str; 5] = ["prompt", "acrValues", "loginHint", "extraParams", "context"];
        if let Some(unknown) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(Error::config(format!(
                "invalid config: unknown loginWithRedirect option {unknown}"
            )));
        }
        let text = |name: &str| -> Result<Option<String>> {
            match o.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::config(format!("{name} must be a string"))),
            }
        };
        let mut extra_params = VecMap::new();
        match o.get("extraParams") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, value) in map {
                    let value = value
                        .as_str()
                        .ok_or_else(|| Error::config("extraParams values must be strings"))?;
                    extra_params.insert(name.clone(), value.to_string());
                }
            }
            Some(_) => return Err(Error::config("extraParams must be an object of strings")),
        }
        Ok(LoginOptions {
            prompt: text("prompt")?,
            acr_values: text("acrValues")?,
            login_hint: text("loginHint")?,
            extra_params,
            // Absent: the configured context; `null`: no context for this login.
            context: o.get("context").cloned(),
        })
    }

    /// The options as `loginWithRedirect` takes them (a page hands them to its session host).
    pub fn to_json(&self) -> Value {
        let mut o = Object::new();
        let mut text = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                o.insert(name.into(), Value::from(v.as_str()));
            }
        };
        text("prompt", &self.prompt);
        text("acrValues", &self.acr_values);
        text("loginHint", &self.login_hint);
        if !self.extra_params.is_empty() {
            let extra: Object = self
                .extra_params
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            o.insert("extraParams".into(), Value::Object(extra));
        }
        if let Some(context) = &self.context {
            o.insert("context".into(), context.clone());
        }
        Value::Object(o)
    }
}

/// The context a login carries (API.md `loginWithRedirect`): the one given (`null`: none),
/// else the configured one. Checked now, before anything is sent.
pub fn login_context(
    config: &Config,
    given: Option<&Value>,
    random: impl FnOnce() -> [u8; 16],
) -> Result<Option<super::context::Context>> {
    match given {
        Some(value) => super::context::Context::parse(value, random),
        None => Ok(config.context.clone()),
    }
}

/// RFC 9126 §5-6: `par` against what discovery says, before anything is sent.
pub fn check_par_mode(config: &Config, metadata: &super::discovery::Metadata) -> Result<()> {
    use super::config::ParMode;
    if config.par == ParMode::Required && metadata.pushed_authorization_request_endpoint.is_none() {
        return Err(Error::config(
            "par is \"required\" but discovery has no pushed_authorization_request_endpoint",
        ));
    }
    if config.par == ParMode::Off && metadata.require_pushed_authorization_requests {
        return Err(Error::config(
            "the provider requires PAR, but par is \"off\"",
        ));
    }
    Ok(())
}

/// Whether the login pushes its request first (RFC 9126): unless `par` is `"off"`, whenever
/// discovery names the endpoint (`check_par_mode` refused the rest).
pub fn use_par(config: &Config, metadata: &super::discovery::Metadata) -> bool {
    config.par != super::config::ParMode::Off
        && metadata.pushed_authorization_request_endpoint.is_some()
}

/// Parameters the library sets itself; `extraParams` may not override them.
const PROTECTED: [&str; 17] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "dpop_jkt",
    "request_uri",
    "request",
    "client_assertion",
    "client_assertion_type",
    "prompt",
    "acr_values",
    "login_hint",
];

/// The authorization request parameters (OIDC Core §3.1.2.1, RFC 7636 §4.3, RFC 8707 §2,
/// RFC 9449 §10), in the order they are sent.
pub fn request_params(
    config: &Config,
    tx: &Transaction,
    code_challenge: &str,
    options: &LoginOptions,
) -> Result<Vec<(String, String)>> {
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), config.client_id.clone()),
        ("redirect_uri".into(), tx.redirect_uri.clone()),
        ("scope".into(), config.scope.clone()),
        ("state".into(), tx.state.clone()),
        ("nonce".into(), tx.nonce.clone()),
        ("code_challenge".into(), code_challenge.into()),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for resource in &config.resources {
        params.push(("resource".into(), resource.clone()));
    }
    if let Some(jkt) = &tx.dpop_jkt {
        params.push(("dpop_jkt".into(), jkt.clone()));
    }
    for (name, value) in [
        ("prompt", &options.prompt),
        ("acr_values", &options.acr_values),
        ("login_hint", &options.login_hint),
    ] {
        if let Some(value) = value {
            params.push((name.into(), value.clone()));
        }
    }
    for (name, value) in &options.extra_params {
        if PROTECTED.contains(&name.as_str()) {
            return Err(Error::config(format!(
                "extraParams may not set {name}: the library sets it"
            )));
        }
        params.push((name.clone(), value.clone()));
    }
    Ok(params)
}

/// The classic front-channel request (RFC 6749 §4.1.1), for `par: "off"`.
pub fn authorization_url(authorization_endpoint: &str, params: &[(String, String)]) -> String {
    join_query(authorization_endpoint, &form::encode(params))
}

/// RFC 9126 §4: after PAR, the browser carries only `client_id` and `request_uri`.
pub fn authorization_url_after_par(
    authorization_endpoint: &str,
    client_id: &str,
    request_uri: &str,
) -> String {
    join_query(
        authorization_endpoint,
        &form::encode(&[("client_id", client_id), ("request_uri", request_uri)]),
    )
}

pub(crate) fn join_query(endpoint: &str, query: &str) -> String {
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{query}")
}

/// RFC 9126 §2.2: a successful PAR answers 201 with `request_uri` and `expires_in`.
#[derive(Debug, PartialEq, Eq)]
pub struct ParResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

pub fn process_par_response(status: u16, body: &str) -> Result<ParResponse> {
    if !(200..300).contains(&status) {
        return Err(super::token::oauth_error(
            "pushed authorization request",
            status,
            body,
        ));
    }
    let parsed: Option<Object> = super::json::parse_object(body);
    let read = |o: &Object| Some((o.string("request_uri")?, o.i64("expires_in")?));
    match parsed.as_ref().and_then(read) {
        Some((request_uri, expires_in)) if !request_uri.is_empty() => Ok(ParResponse {
            request_uri,
            expires_in,
        }),
        _ => Err(Error::new(
            ErrorCode::TokenRequestFailed,
            "the PAR response lacks request_uri or expires_in",
        )
        .with_status(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::callback::tests::tx;
    use crate::core::config::ClientAuthMethod;
    use serde_json::json;

    fn config() -> Config {
        Config::from_json(
            r#"{"issuer":"https://helseid-sts.test.nhn.no","clientId":"c1","redirectUri":"https://app.test/cb","scope":"openid offline_access","resources":["e-helse:sfm.api","e-helse:other.api"]}"#,
            ClientAuthMethod::AssertionProvider,
        )
        .unwrap()
    }

    #[test]
    fn request_params_carry_pkce_resources_and_dpop_jkt_in_order() {
        let opts = LoginOptions {
            login_hint: Some("kvart".into()),
            ..Default::default()
        };
        let params = request_params(&config(), &tx(), "chal", &opts).unwrap();
        let body = form::encode(&params);
        assert_eq!(
            body,
            "response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&scope=openid+offline_access&state=s1&nonce=n1&code_challenge=chal&code_challenge_method=S256&resource=e-helse%3Asfm.api&resource=e-helse%3Aother.api&dpop_jkt=jkt1&login_hint=kvart"
        );
    }

    #[test]
    fn par_is_used_unless_off_and_only_where_discovery_names_the_endpoint() {
        use crate::core::config::ParMode;
        let text = include_str!("../../tests/fixtures/helseid-test-discovery.json");
        let with = crate::core::discovery::process_discovery_response(
            200,
            text,
            "https://helseid-sts.test.nhn.no",
            false,
        )
        .unwrap();
        let mut without = with.clone();
        without.pushed_authorization_request_endpoint = None;
        let mut c = config();
        for (mode, expect_with) in [
            (ParMode::Auto, true),
            (ParMode::Required, true),
            (ParMode::Off, false),
        ] {
            c.par = mode;
            assert_eq!(use_par(&c, &with), expect_with, "{mode:?}");
            assert!(!use_par(&c, &without), "{mode:?} without the endpoint");
        }
    }

    /// `par: "off"`: every parameter travels in the front-channel URL (RFC 6749 §4.1.1).
    #[test]
    fn classic_authorization_url_carries_the_whole_request() {
        let params = request_params(&config(), &tx(), "chal", &LoginOptions::default()).unwrap();
        let url = authorization_url("https://h.test/connect/authorize", &params);
        assert!(
            url.starts_with("https://h.test/connect/authorize?response_type=code&client_id=c1&")
        );
        assert!(url.contains("&code_challenge=chal&code_challenge_method=S256&"));
        assert!(url.contains("&state=s1&nonce=n1&"));
        assert!(!url.contains("client_assertion"));
        assert_eq!(
            authorization_url("https://h.test/authorize?x=1", &[("a".into(), "b".into())]),
            "https://h.test/authorize?x=1&a=b"
        );
    }

    #[test]
    fn extra_params_cannot_override_protected_parameters() {
        for name in ["code_challenge_method", "prompt", "resource", "dpop_jkt"] {
            let mut opts = LoginOptions::default();
            opts.extra_params.insert(name.into(), "plain".into());
            let e = request_params(&config(), &tx(), "chal", &opts).unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{name}");
        }
    }

    #[test]
    fn login_options_are_read_strictly() {
        let o = LoginOptions::from_json(&json!({
            "prompt": "login", "acrValues": "Level4", "loginHint": "kvart",
            "extraParams": { "test_pid": "1" }, "context": { "journalId": "x" },
        }))
        .unwrap();
        assert_eq!(o.acr_values.as_deref(), Some("Level4"));
        assert_eq!(
            o.extra_params.get("test_pid").map(String::as_str),
            Some("1")
        );
        assert_eq!(o.context, Some(json!({ "journalId": "x" })));
        assert_eq!(
            LoginOptions::from_json(&Value::Null).unwrap(),
            LoginOptions::default()
        );
        for bad in [
            json!({ "promt": "login" }),
            json!({ "prompt": 1 }),
            json!({ "extraParams": { "a": 1 } }),
            json!("x"),
        ] {
            let e = LoginOptions::from_json(&bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{bad}");
        }
    }

    #[test]
    fn authorize_url_after_par_has_only_client_id_and_request_uri() {
        assert_eq!(
            authorization_url_after_par(
                "https://h.test/connect/authorize",
                "c1",
                "urn:ietf:params:oauth:request_uri:abc"
            ),
            "https://h.test/connect/authorize?client_id=c1&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc"
        );
    }

    #[test]
    fn par_response_needs_request_uri_and_errors_carry_the_oauth_error() {
        let ok = process_par_response(201, r#"{"request_uri":"urn:x","expires_in":60}"#).unwrap();
        assert_eq!(ok.request_uri, "urn:x");
        let e = process_par_response(
            400,
            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
        assert_eq!(e.oauth_error.as_deref(), Some("invalid_client"));
        assert_eq!(e.status, Some(400));
        let e = process_par_response(201, r#"{"expires_in":60}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenRequestFailed);
    }
}
