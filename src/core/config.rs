//! `HelseIdClient.create(config)`: the options of API.md, parsed and checked before any request.

use serde::Deserialize;

use super::error::{Error, Result};
use super::uri;

/// The config as JavaScript passes it, without `clientAuth` (which holds a `CryptoKey` or a
/// function and is read by the shell into [`ClientAuthMethod`]). Unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigInput {
    pub issuer: String,
    pub client_id: String,
    pub redirect_uri: String,
    #[serde(default)]
    pub post_logout_redirect_uri: Option<String>,
    pub scope: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub dpop: Option<bool>,
    #[serde(default)]
    pub par: Option<String>,
    #[serde(default)]
    pub expected_audience: Option<String>,
    #[serde(default)]
    pub require_sfm_id: Option<bool>,
    #[serde(default)]
    pub required_security_level: Option<String>,
    #[serde(default)]
    pub clock_tolerance_seconds: Option<f64>,
    #[serde(default)]
    pub refresh_leeway_seconds: Option<f64>,
    #[serde(default)]
    pub auto_refresh: Option<bool>,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub allow_insecure_http: Option<bool>,
    #[serde(default)]
    pub http_timeout_seconds: Option<f64>,
}

/// How the client proves itself at PAR, token and revocation endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// RFC 7523 §2.2 client assertion signed here with a non-extractable key.
    PrivateKeyJwt {
        alg: String,
        kid: Option<String>,
    },
    /// A trusted host (the app's backend) signs each assertion.
    AssertionProvider,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParMode {
    Auto,
    Required,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageMode {
    Memory,
    Session,
}

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub issuer: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub post_logout_redirect_uri: Option<String>,
    pub scope: String,
    pub resources: Vec<String>,
    pub client_auth: ClientAuthMethod,
    pub dpop: bool,
    pub par: ParMode,
    pub expected_audience: Option<String>,
    pub require_sfm_id: bool,
    pub required_security_level: Option<String>,
    pub clock_tolerance_seconds: i64,
    pub refresh_leeway_seconds: i64,
    pub auto_refresh: bool,
    pub storage: StorageMode,
    pub allow_insecure_http: bool,
    /// Requests to the authorization server give up after this long (`network_error`).
    pub http_timeout_seconds: i64,
}

/// Algorithms a client assertion may be signed with (HelseID accepts RS/PS/ES 256/384/512;
/// WebCrypto signs all of them).
pub const ASSERTION_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
];

fn seconds(value: Option<f64>, default: i64, name: &str) -> Result<i64> {
    match value {
        None => Ok(default),
        Some(v) if (0.0..=86_400.0).contains(&v) && v.fract() == 0.0 => Ok(v as i64),
        Some(_) => Err(Error::config(format!(
            "{name} must be a whole number of seconds from 0 to 86400"
        ))),
    }
}

impl Config {
    pub fn from_input(input: ConfigInput, client_auth: ClientAuthMethod) -> Result<Config> {
        let insecure = input.allow_insecure_http.unwrap_or(false);
        if input.issuer.is_empty() {
            return Err(Error::config("issuer is required"));
        }
        if uri::scheme_and_host(&input.issuer).is_none() || input.issuer.contains(['?', '#']) {
            return Err(Error::config(
                "issuer must be an absolute https URL without query",
            ));
        }
        if !uri::is_allowed_endpoint(&input.issuer, insecure) {
            return Err(Error::config(
                "issuer must use https (http only for loopback hosts with allowInsecureHttp)",
            ));
        }
        if input.client_id.trim().is_empty() {
            return Err(Error::config("clientId is required"));
        }
        if uri::scheme_and_host(&input.redirect_uri).is_none() {
            return Err(Error::config("redirectUri must be an absolute http(s) URL"));
        }
        if let Some(uri) = &input.post_logout_redirect_uri {
            if uri::scheme_and_host(uri).is_none() {
                return Err(Error::config(
                    "postLogoutRedirectUri must be an absolute http(s) URL",
                ));
            }
        }
        // OIDC Core 3.1.2.1: `openid` must be present.
        if !input.scope.split(' ').any(|s| s == "openid") {
            return Err(Error::config("scope must contain openid"));
        }
        if input.resources.iter().any(|r| r.is_empty()) {
            return Err(Error::config("resources must be non-empty strings"));
        }
        let par = match input.par.as_deref() {
            None | Some("auto") => ParMode::Auto,
            Some("required") => ParMode::Required,
            Some("off") => ParMode::Off,
            Some(_) => {
                return Err(Error::config(
                    "par must be \"auto\", \"required\" or \"off\"",
                ))
            }
        };
        let storage = match input.storage.as_deref() {
            None | Some("memory") => StorageMode::Memory,
            Some("session") => StorageMode::Session,
            Some(_) => return Err(Error::config("storage must be \"memory\" or \"session\"")),
        };
        if let ClientAuthMethod::PrivateKeyJwt { alg, .. } = &client_auth {
            if !ASSERTION_ALGORITHMS.contains(&alg.as_str()) {
                return Err(Error::config(format!(
                    "clientAuth.alg {alg} is not one of {}",
                    ASSERTION_ALGORITHMS.join(", ")
                )));
            }
        }
        if let Some(level) = &input.required_security_level {
            if level.is_empty() {
                return Err(Error::config("requiredSecurityLevel must not be empty"));
            }
        }
        let expected_audience = input
            .expected_audience
            .clone()
            .or_else(|| input.resources.first().cloned());
        Ok(Config {
            issuer: input.issuer,
            client_id: input.client_id,
            redirect_uri: input.redirect_uri,
            post_logout_redirect_uri: input.post_logout_redirect_uri,
            scope: input.scope,
            resources: input.resources,
            client_auth,
            dpop: input.dpop.unwrap_or(true),
            par,
            expected_audience,
            require_sfm_id: input.require_sfm_id.unwrap_or(false),
            required_security_level: input.required_security_level,
            clock_tolerance_seconds: seconds(
                input.clock_tolerance_seconds,
                30,
                "clockToleranceSeconds",
            )?,
            refresh_leeway_seconds: seconds(
                input.refresh_leeway_seconds,
                30,
                "refreshLeewaySeconds",
            )?,
            auto_refresh: input.auto_refresh.unwrap_or(true),
            storage,
            allow_insecure_http: insecure,
            http_timeout_seconds: match input.http_timeout_seconds {
                None => 30,
                Some(v) if (1.0..=300.0).contains(&v) && v.fract() == 0.0 => v as i64,
                Some(_) => {
                    return Err(Error::config(
                        "httpTimeoutSeconds must be a whole number of seconds from 1 to 300",
                    ))
                }
            },
        })
    }

    /// Parses a config given as JSON (tests, and callers outside a browser).
    pub fn from_json(json: &str, client_auth: ClientAuthMethod) -> Result<Config> {
        let input: ConfigInput =
            serde_json::from_str(json).map_err(|e| Error::config(config_error_message(&e)))?;
        Config::from_input(input, client_auth)
    }
}

/// serde's message names the unknown or missing field without echoing values.
pub fn config_error_message(e: &dyn std::fmt::Display) -> String {
    format!("invalid config: {e}")
}

/// Default assertion algorithm for a private JWK (RFC 7518 §6): its `alg`, else by key type.
pub fn default_assertion_alg(
    jwk_alg: Option<&str>,
    kty: Option<&str>,
    crv: Option<&str>,
) -> Option<String> {
    if let Some(alg) = jwk_alg {
        return Some(alg.to_string());
    }
    match (kty, crv) {
        (Some("RSA"), _) => Some("RS256".into()),
        (Some("EC"), Some("P-256")) => Some("ES256".into()),
        (Some("EC"), Some("P-384")) => Some("ES384".into()),
        (Some("EC"), Some("P-521")) => Some("ES512".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ErrorCode;

    const BASE: &str = r#""issuer":"https://helseid-sts.test.nhn.no","clientId":"c","redirectUri":"https://app.test/","scope":"openid profile""#;

    fn parse(extra: &str) -> Result<Config> {
        Config::from_json(
            &format!("{{{BASE}{extra}}}"),
            ClientAuthMethod::AssertionProvider,
        )
    }

    #[test]
    fn defaults_follow_api_md() {
        let c = parse(r#","resources":["e-helse:sfm.api"]"#).unwrap();
        assert!(c.dpop);
        assert_eq!(c.par, ParMode::Auto);
        assert_eq!(c.expected_audience.as_deref(), Some("e-helse:sfm.api"));
        assert!(!c.require_sfm_id);
        assert_eq!(c.clock_tolerance_seconds, 30);
        assert_eq!(c.refresh_leeway_seconds, 30);
        assert!(c.auto_refresh);
        assert_eq!(c.http_timeout_seconds, 30);
        assert_eq!(c.storage, StorageMode::Memory);
        assert!(!c.allow_insecure_http);
    }

    #[test]
    fn unknown_key_is_config_invalid_and_names_it() {
        let e = parse(r#","clientSecret":"x""#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
        assert!(e.message.contains("clientSecret"), "{}", e.message);
    }

    #[test]
    fn scope_without_openid_is_config_invalid() {
        let json = BASE.replace("openid profile", "profile openidx");
        let e = Config::from_json(&format!("{{{json}}}"), ClientAuthMethod::None).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
    }

    #[test]
    fn http_issuer_needs_allow_insecure_http_and_a_loopback_host() {
        let http = BASE.replace("https://helseid-sts.test.nhn.no", "http://127.0.0.1:4010");
        let e = Config::from_json(&format!("{{{http}}}"), ClientAuthMethod::None).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
        let ok = Config::from_json(
            &format!("{{{http},\"allowInsecureHttp\":true}}"),
            ClientAuthMethod::None,
        );
        assert!(ok.is_ok());
        let remote = BASE.replace("https://helseid-sts.test.nhn.no", "http://helseid.example");
        let e = Config::from_json(
            &format!("{{{remote},\"allowInsecureHttp\":true}}"),
            ClientAuthMethod::None,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
    }

    #[test]
    fn bad_enums_and_numbers_are_config_invalid() {
        for extra in [
            r#","par":"sometimes""#,
            r#","storage":"local""#,
            r#","clockToleranceSeconds":-1"#,
            r#","refreshLeewaySeconds":1.5"#,
            r#","resources":[""]"#,
            r#","dpop":"yes""#,
        ] {
            let e = parse(extra).unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{extra}");
        }
    }

    #[test]
    fn assertion_alg_must_be_asymmetric_and_known() {
        let json = format!("{{{BASE}}}");
        for alg in ["HS256", "none", "EdDSA"] {
            let e = Config::from_json(
                &json,
                ClientAuthMethod::PrivateKeyJwt {
                    alg: alg.into(),
                    kid: None,
                },
            )
            .unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid);
        }
        assert!(Config::from_json(
            &json,
            ClientAuthMethod::PrivateKeyJwt {
                alg: "PS256".into(),
                kid: None
            }
        )
        .is_ok());
    }

    #[test]
    fn default_assertion_alg_comes_from_the_key() {
        assert_eq!(
            default_assertion_alg(None, Some("RSA"), None).as_deref(),
            Some("RS256")
        );
        assert_eq!(
            default_assertion_alg(None, Some("EC"), Some("P-256")).as_deref(),
            Some("ES256")
        );
        assert_eq!(
            default_assertion_alg(Some("PS256"), Some("RSA"), None).as_deref(),
            Some("PS256")
        );
        assert_eq!(default_assertion_alg(None, Some("oct"), None), None);
    }
}
