//! `HelseIdClient.create(config)`: the options of API.md, parsed and checked before any request.
//! Read by hand from one JSON value: unknown keys and wrong types are `config_invalid`, naming
//! the key, never echoing a value.

use serde_json::{Map, Value};

use super::alg;
use super::context::{Context, DetailsClaim, DEFAULT_ATTEST_MAX_AGE_SECONDS};
use super::error::{Error, ErrorCode, Result};
use super::uri;
use super::vecmap::VecMap;

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

/// Where the session lives (API.md "Session host").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionHostMode {
    /// The worker where one starts within [`crate::core::host::WORKER_START_MS`], else the page.
    Auto,
    /// A module `SharedWorker` shipped in the package; `create()` fails when none starts.
    Worker,
    /// The tab that logged in holds the session; the other tabs follow it.
    Page,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageMode {
    Memory,
    Session,
}

/// APIs whose tokens carry the trust-framework attest (Kjernejournal, Pasientens
/// journaldokumenter; README "Context"): their tokens need a fresh attest.
pub const DEFAULT_ATTEST_RESOURCES: [&str; 2] = ["nhn:kjernejournal", "nhn:phr"];

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
    /// The initial context (API.md), checked.
    pub context: Option<Context>,
    pub details_claim: DetailsClaim,
    pub attest_max_age_seconds: i64,
    /// The resources whose tokens need the attest (an extension of API.md).
    pub attest_resources: Vec<String>,
    /// Per resource, the API origins its tokens may be sent to (API.md "Security guarantees").
    pub api_origins: VecMap<String, Vec<String>>,
    pub session_host: SessionHostMode,
    /// Where the app serves the package's worker script (`None`: next to the package's module).
    pub worker_url: Option<String>,
    /// How long the host waits for one page's `getAssertion` before it asks another page.
    pub assertion_timeout_seconds: i64,
}

/// Keys that only concern the page that passes them: two pages with different values share
/// one session host. `apiOrigins` is enforced by each page for its own `fetch` and portals
/// (the host sends tokens to HelseID only).
pub const PAGE_LOCAL_KEYS: [&str; 4] = ["clientAuth", "sessionHost", "workerUrl", "apiOrigins"];

const KEYS: [&str; 26] = [
    "issuer",
    "clientId",
    "redirectUri",
    "postLogoutRedirectUri",
    "scope",
    "resources",
    "clientAuth",
    "dpop",
    "par",
    "expectedAudience",
    "requireSfmId",
    "requiredSecurityLevel",
    "clockToleranceSeconds",
    "refreshLeewaySeconds",
    "autoRefresh",
    "storage",
    "allowInsecureHttp",
    "httpTimeoutSeconds",
    "context",
    "detailsClaim",
    "attestMaxAgeSeconds",
    "attestResources",
    "apiOrigins",
    "sessionHost",
    "workerUrl",
    "assertionTimeoutSeconds",
];

/// Typed reads of the config object; absent and `undefined` (dropped by JSON) are `None`.
struct Reader<'a>(&'a Map<String, Value>);

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn wrong(name: &str, what: &str) -> Error {
        Error::config(format!("invalid config: {name} must be {what}"))
    }

    fn string(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Self::wrong(name, "a string")),
        }
    }

    fn required(&self, name: &str) -> Result<String> {
        self.string(name)?
            .ok_or_else(|| Error::config(format!("invalid config: missing field `{name}`")))
    }

    fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong(name, "a boolean")),
        }
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| Self::wrong(name, "an array of strings")),
            Some(_) => Err(Self::wrong(name, "an array of strings")),
        }
    }

    /// Whole seconds within `range`.
    fn seconds(
        &self,
        name: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|v| v.fract() == 0.0 && range.contains(&(*v as i64)))
                .map(|v| v as i64)
                .ok_or_else(|| {
                    Error::config(format!(
                        "{name} must be a whole number of seconds from {} to {}",
                        range.start(),
                        range.end()
                    ))
                }),
            Some(_) => Err(Self::wrong(name, "a number")),
        }
    }
}

/// https, or http on a loopback host when `allow_insecure_http` is set.
fn check_url(name: &str, url: &str, insecure: bool) -> Result<()> {
    if uri::scheme_and_host(url).is_none() {
        return Err(Error::config(format!(
            "{name} must be an absolute http(s) URL"
        )));
    }
    if !uri::is_allowed_endpoint(url, insecure) {
        return Err(Error::config(format!(
            "{name} must use https (http only for loopback hosts with allowInsecureHttp)"
        )));
    }
    Ok(())
}

/// An `apiOrigins` entry is compared as text with the request URL's origin, so it must be one
/// exactly as browsers serialise it (uri::origin_problem), and https (http only on loopback
/// with `allowInsecureHttp`). The message names the entry (it is not secret), cut short.
fn check_api_origin(resource: &str, origin: &str, insecure: bool) -> Result<()> {
    let why = uri::origin_problem(origin).or_else(|| {
        (!uri::is_allowed_endpoint(origin, insecure))
            .then_some("it must use https (http only for loopback hosts with allowInsecureHttp)")
    });
    match why {
        None => Ok(()),
        Some(why) => {
            let shown: String = origin.chars().take(100).collect();
            let cut = if shown.len() < origin.len() {
                "…"
            } else {
                ""
            };
            Err(Error::config(format!(
                "apiOrigins[\"{resource}\"]: \"{shown}{cut}\" is not a bare origin such as \"https://api.example\": {why}"
            )))
        }
    }
}

impl Config {
    /// Reads the config object as JavaScript passes it (`clientAuth` is read by the shell into
    /// `client_auth`). `random` gives 16 random bytes for a generated attest decision id.
    pub fn from_value(
        value: &Value,
        client_auth: ClientAuthMethod,
        random: impl FnOnce() -> [u8; 16],
    ) -> Result<Config> {
        let Some(object) = value.as_object() else {
            return Err(Error::config("config must be an object"));
        };
        if let Some(unknown) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(Error::config(format!(
                "invalid config: unknown field `{unknown}`"
            )));
        }
        let r = Reader(object);
        let insecure = r.bool("allowInsecureHttp")?.unwrap_or(false);
        let issuer = r.required("issuer")?;
        if issuer.is_empty() {
            return Err(Error::config("issuer is required"));
        }
        if uri::scheme_and_host(&issuer).is_none() || issuer.contains(['?', '#']) {
            return Err(Error::config(
                "issuer must be an absolute https URL without query",
            ));
        }
        if !uri::is_allowed_endpoint(&issuer, insecure) {
            return Err(Error::config(
                "issuer must use https (http only for loopback hosts with allowInsecureHttp)",
            ));
        }
        let client_id = r.required("clientId")?;
        if client_id.trim().is_empty() {
            return Err(Error::config("clientId is required"));
        }
        let redirect_uri = r.required("redirectUri")?;
        check_url("redirectUri", &redirect_uri, insecure)?;
        let post_logout_redirect_uri = r.string("postLogoutRedirectUri")?;
        if let Some(uri) = &post_logout_redirect_uri {
            check_url("postLogoutRedirectUri", uri, insecure)?;
        }
        let scope = r.required("scope")?;
        // OIDC Core 3.1.2.1: `openid` must be present.
        if !scope.split(' ').any(|s| s == "openid") {
            return Err(Error::config("scope must contain openid"));
        }
        let resources = r.strings("resources")?.unwrap_or_default();
        if resources.iter().any(|r| r.is_empty()) {
            return Err(Error::config("resources must be non-empty strings"));
        }
        let par = match r.string("par")?.as_deref() {
            None | Some("auto") => ParMode::Auto,
            Some("required") => ParMode::Required,
            Some("off") => ParMode::Off,
            Some(_) => {
                return Err(Error::config(
                    "par must be \"auto\", \"required\" or \"off\"",
                ))
            }
        };
        let storage = match r.string("storage")?.as_deref() {
            None | Some("memory") => StorageMode::Memory,
            Some("session") => StorageMode::Session,
            Some(_) => return Err(Error::config("storage must be \"memory\" or \"session\"")),
        };
        let session_host = match r.string("sessionHost")?.as_deref() {
            None | Some("auto") => SessionHostMode::Auto,
            Some("worker") => SessionHostMode::Worker,
            Some("page") => SessionHostMode::Page,
            Some(_) => {
                return Err(Error::config(
                    "sessionHost must be \"auto\", \"worker\" or \"page\"",
                ))
            }
        };
        let worker_url = r.string("workerUrl")?;
        if worker_url.as_deref() == Some("") {
            return Err(Error::config("workerUrl must not be empty"));
        }
        // HelseID accepts RS/PS/ES 256/384/512 assertions; WebCrypto signs all of them.
        if let ClientAuthMethod::PrivateKeyJwt { alg, .. } = &client_auth {
            if alg::find(alg).is_none() {
                return Err(Error::config(format!(
                    "clientAuth.alg {alg} is not one of RS/PS/ES 256/384/512"
                )));
            }
        }
        let required_security_level = r.string("requiredSecurityLevel")?;
        if required_security_level.as_deref() == Some("") {
            return Err(Error::config("requiredSecurityLevel must not be empty"));
        }
        let expected_audience = r
            .string("expectedAudience")?
            .or_else(|| resources.first().cloned());
        let details_claim = match r.string("detailsClaim")?.as_deref() {
            None | Some("assertion_details") => DetailsClaim::AssertionDetails,
            Some("authorization_details") => DetailsClaim::AuthorizationDetails,
            Some(_) => {
                return Err(Error::config(
                    "detailsClaim must be \"assertion_details\" or \"authorization_details\"",
                ))
            }
        };
        let context = match r.get("context") {
            None => None,
            Some(ctx) => Context::parse(ctx, random)?,
        };
        let mut api_origins = VecMap::new();
        match r.get("apiOrigins") {
            None => {}
            Some(Value::Object(map)) => {
                for resource in map.keys() {
                    let list = Reader(map).strings(resource)?.unwrap_or_default();
                    for origin in &list {
                        check_api_origin(resource, origin, insecure)?;
                    }
                    api_origins.insert(resource.clone(), list);
                }
            }
            Some(_) => return Err(Reader::wrong("apiOrigins", "an object of origin arrays")),
        }
        Ok(Config {
            issuer,
            client_id,
            redirect_uri,
            post_logout_redirect_uri,
            scope,
            resources,
            client_auth,
            dpop: r.bool("dpop")?.unwrap_or(true),
            par,
            expected_audience,
            require_sfm_id: r.bool("requireSfmId")?.unwrap_or(false),
            required_security_level,
            clock_tolerance_seconds: r.seconds(
                "clockToleranceSeconds",
                super::limits::CLOCK_TOLERANCE_SECONDS,
                0..=86_400,
            )?,
            refresh_leeway_seconds: r.seconds(
                "refreshLeewaySeconds",
                super::limits::REFRESH_LEEWAY_SECONDS,
                0..=86_400,
            )?,
            auto_refresh: r.bool("autoRefresh")?.unwrap_or(true),
            storage,
            allow_insecure_http: insecure,
            http_timeout_seconds: r.seconds(
                "httpTimeoutSeconds",
                super::limits::HTTP_TIMEOUT_SECONDS,
                1..=300,
            )?,
            context,
            details_claim,
            attest_max_age_seconds: r.seconds(
                "attestMaxAgeSeconds",
                DEFAULT_ATTEST_MAX_AGE_SECONDS,
                1..=86_400,
            )?,
            attest_resources: r.strings("attestResources")?.unwrap_or_else(|| {
                DEFAULT_ATTEST_RESOURCES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            api_origins,
            session_host,
            worker_url,
            assertion_timeout_seconds: r.seconds(
                "assertionTimeoutSeconds",
                super::limits::ASSERTION_TIMEOUT_SECONDS,
                1..=120,
            )?,
        })
    }

    /// Parses a config given as JSON text (tests, and callers outside a browser).
    pub fn from_json(json: &str, client_auth: ClientAuthMethod) -> Result<Config> {
        let value: Value = serde_json::from_str(json)
            .map_err(|_| Error::config("invalid config: not a JSON object"))?;
        Config::from_value(&value, client_auth, || [0; 16])
    }

    /// HelseID: every token request names one resource (RFC 8707 §2.2); the default is the
    /// expected audience when it is one of `resources`, else the first resource.
    pub fn default_resource(&self) -> Option<&str> {
        let expected = self.expected_audience.as_deref();
        expected
            .filter(|a| self.resources.iter().any(|r| r == a))
            .or(self.resources.first().map(String::as_str))
    }

    /// API.md `apiOrigins` (portal gateways included, turn 3): a token of `resource` (`""`: the
    /// default one) goes to `url` only when its origin is listed for that resource; else
    /// `origin_not_allowed`, before anything is sent.
    pub fn check_api_origin(&self, resource: &str, url: &str) -> Result<()> {
        let origin = uri::origin(url).unwrap_or(url);
        let listed = self
            .api_origins
            .get(resource)
            .is_some_and(|origins| origins.iter().any(|o| o == origin));
        if listed {
            return Ok(());
        }
        let resource = if resource.is_empty() {
            "the default resource"
        } else {
            resource
        };
        Err(Error::new(
            ErrorCode::OriginNotAllowed,
            format!("{origin} is not in apiOrigins for {resource}; nothing was sent"),
        ))
    }

    /// Whether tokens for `resource` carry the attest.
    pub fn needs_attest(&self, resource: &str) -> bool {
        self.attest_resources.iter().any(|r| r == resource)
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
    fn redirect_uris_must_be_https_or_loopback_http_when_allowed() {
        for (extra, ok) in [
            (r#","redirectUri":"http://app.test/""#, false),
            (
                r#","redirectUri":"https://app.test/","postLogoutRedirectUri":"http://app.test/""#,
                false,
            ),
            (r#","redirectUri":"http://127.0.0.1:4000/""#, false),
            (
                r#","redirectUri":"http://127.0.0.1:4000/","allowInsecureHttp":true"#,
                true,
            ),
            (
                r#","redirectUri":"https://app.test/","postLogoutRedirectUri":"https://app.test/bye""#,
                true,
            ),
        ] {
            let json = format!(
                "{{{}}}",
                BASE.replace(r#","redirectUri":"https://app.test/""#, "") + extra
            );
            assert_eq!(
                Config::from_json(&json, ClientAuthMethod::None).is_ok(),
                ok,
                "{extra}"
            );
        }
    }

    #[test]
    fn a_malformed_initial_context_is_context_invalid() {
        let e = parse(r#","context":{"organization":{"child":"12"}}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ContextInvalid);
        assert_eq!(e.claim.as_deref(), Some("organization.child"));
        let c = parse(r#","context":{"organization":{"child":"998877665"}}"#).unwrap();
        assert!(c.context.is_some());
    }

    #[test]
    fn api_origins_are_https_origins_per_resource() {
        let c = parse(
            r#","apiOrigins":{"e-helse:sfm.api":["https://sfm.test","https://sfm2.test:8443"]}"#,
        )
        .unwrap();
        assert_eq!(c.api_origins.get("e-helse:sfm.api").map(Vec::len), Some(2));
        for bad in [
            r#","apiOrigins":{"x":["https://sfm.test/path"]}"#,
            r#","apiOrigins":{"x":["http://sfm.test"]}"#,
            r#","apiOrigins":{"x":"https://sfm.test"}"#,
            r#","apiOrigins":["https://sfm.test"]"#,
        ] {
            assert_eq!(
                parse(bad).unwrap_err().code,
                ErrorCode::ConfigInvalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn every_api_origin_not_in_canonical_form_is_config_invalid_naming_the_entry() {
        for (entry, why) in [
            ("https://SFM.test", "the host must be lower-case"),
            ("HTTPS://sfm.test", "the scheme must be lower-case"),
            ("https://sfm.test:443", "it names the scheme's default port"),
            ("https://sfm.test.", "the host ends with a dot"),
            ("https://sfm.test/api", "it has a path (even a trailing /)"),
            ("https://sfm.test/", "it has a path (even a trailing /)"),
            ("https://sfm.test?a=1", "it has a query"),
            ("https://sfm.test#x", "it has a fragment"),
            ("https://user@sfm.test", "it has userinfo"),
            (
                "http://sfm.test",
                "it must use https (http only for loopback hosts with allowInsecureHttp)",
            ),
            (
                "http://127.0.0.1:4011",
                "it must use https (http only for loopback hosts with allowInsecureHttp)",
            ),
        ] {
            let e = parse(&format!(
                r#","apiOrigins":{{"e-helse:sfm.api":["https://ok.test","{entry}"]}}"#
            ))
            .unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{entry}");
            assert_eq!(
                e.message,
                format!(
                    r#"apiOrigins["e-helse:sfm.api"]: "{entry}" is not a bare origin such as "https://api.example": {why}"#
                ),
            );
        }
        let long = format!("https://{}.test/", "a".repeat(300));
        let e = parse(&format!(r#","apiOrigins":{{"x":["{long}"]}}"#)).unwrap_err();
        assert!(
            e.message.contains(&format!("\"{}…\"", &long[..100])),
            "{}",
            e.message
        );
    }

    #[test]
    fn canonical_api_origins_pass_with_a_port_and_loopback_http_when_allowed() {
        let c = parse(
            r#","apiOrigins":{"e-helse:sfm.api":["https://sfm.test:8443","https://[::1]:9"]}"#,
        )
        .unwrap();
        assert_eq!(
            c.api_origins.get("e-helse:sfm.api").unwrap(),
            &vec![
                "https://sfm.test:8443".to_string(),
                "https://[::1]:9".to_string()
            ]
        );
        let c = parse(
            r#","allowInsecureHttp":true,"apiOrigins":{"e-helse:sfm.api":["http://127.0.0.1:4011","http://localhost"]}"#,
        )
        .unwrap();
        assert_eq!(c.api_origins.get("e-helse:sfm.api").map(Vec::len), Some(2));
        let e = parse(r#","allowInsecureHttp":true,"apiOrigins":{"x":["http://api.test"]}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
    }

    #[test]
    fn a_token_goes_only_to_an_origin_listed_for_its_own_resource() {
        let c = parse(
            r#","apiOrigins":{"e-helse:sfm.api":["https://gw.test"],"nhn:kjernejournal":["https://kj.test:8443"]}"#,
        )
        .unwrap();
        assert!(c
            .check_api_origin("e-helse:sfm.api", "https://gw.test/api/v2/Session/create")
            .is_ok());
        assert!(c
            .check_api_origin(
                "nhn:kjernejournal",
                "https://kj.test:8443/api/session/create"
            )
            .is_ok());
        for (resource, url, origin, named) in [
            // Listed, but for another resource.
            (
                "e-helse:sfm.api",
                "https://kj.test:8443/api/session/create",
                "https://kj.test:8443",
                "e-helse:sfm.api",
            ),
            (
                "nhn:kjernejournal",
                "https://gw.test/x",
                "https://gw.test",
                "nhn:kjernejournal",
            ),
            // Another port, another scheme, a longer host.
            (
                "e-helse:sfm.api",
                "https://gw.test:444/x",
                "https://gw.test:444",
                "e-helse:sfm.api",
            ),
            (
                "e-helse:sfm.api",
                "http://gw.test/x",
                "http://gw.test",
                "e-helse:sfm.api",
            ),
            (
                "e-helse:sfm.api",
                "https://gw.test.evil/x",
                "https://gw.test.evil",
                "e-helse:sfm.api",
            ),
            (
                "",
                "https://gw.test/x",
                "https://gw.test",
                "the default resource",
            ),
        ] {
            let e = c.check_api_origin(resource, url).unwrap_err();
            assert_eq!(e.code, ErrorCode::OriginNotAllowed, "{url}");
            assert_eq!(
                e.message,
                format!("{origin} is not in apiOrigins for {named}; nothing was sent")
            );
        }
    }

    #[test]
    fn new_options_have_their_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.details_claim, DetailsClaim::AssertionDetails);
        assert_eq!(c.attest_max_age_seconds, 3600);
        assert!(c.needs_attest("nhn:kjernejournal"));
        assert!(!c.needs_attest("e-helse:sfm.api"));
        assert!(c.context.is_none());
        let c = parse(r#","detailsClaim":"authorization_details""#).unwrap();
        assert_eq!(c.details_claim, DetailsClaim::AuthorizationDetails);
        assert!(parse(r#","detailsClaim":"both""#).is_err());
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
}
