//! The SFM session (README "SFM"; NHN's web EPJ sample, ThulaSource/WebEPJSampleApp): create
//! with the hash of a nonce, hand the code and the nonce to the SFM web client in its iframe,
//! refresh after every token refresh, end at logout. Paths of the current gateway (`/api/v2`,
//! DPoP); `/api` for the older one.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::portal_error;
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::json::{parse_object, Read};

pub const RESOURCE: &str = "e-helse:sfm.api";

/// How long `setPatient` waits for each answer of the SFM web client: its login after
/// `attach`, then its answer to `setPatient` (API.md, settled in turn 3: every promise settles).
pub use crate::core::limits::SFM_CLIENT_ANSWER_SECONDS as CLIENT_ANSWER_SECONDS;

/// `setPatient` heard nothing of the client's login: `portal_failed`; the sessions are kept.
pub fn login_not_finished() -> Error {
    Error::new(
        ErrorCode::PortalFailed,
        format!(
            "the SFM web client did not finish its login within {CLIENT_ANSWER_SECONDS} s \
             (attach the iframe first; is the client reachable?)"
        ),
    )
}

/// The client took the `setPatient` message and never answered: `portal_failed`; the
/// sessions are kept.
pub fn set_patient_unanswered() -> Error {
    Error::new(
        ErrorCode::PortalFailed,
        format!("the SFM web client did not answer setPatient within {CLIENT_ANSWER_SECONDS} s"),
    )
}

/// The gateway's API paths under `apiBase`: `/api/v2` (NHN's current sample) unless the
/// caller names another (`/api` for the older gateway).
pub struct Paths {
    pub create: String,
    pub refresh: String,
    pub end: String,
    pub patient_ticket: String,
}

pub const DEFAULT_API_BASE: &str = "/api/v2";

/// `openSfmSession`'s `gateway` and `apiBase`. The base is a plain absolute path, so no
/// `apiBase` can lead the token to another host (`"@evil.test"`, `"//evil.test"`) or put the
/// paths into a query; the gateway has no query or fragment for the same reason.
pub fn paths(gateway: &str, api_base: Option<&Value>) -> Result<Paths> {
    let base = match api_base {
        None | Some(Value::Null) => DEFAULT_API_BASE,
        Some(v) => v
            .as_str()
            .filter(|b| {
                b.starts_with('/')
                    && !b.starts_with("//")
                    && b.split('/')
                        .all(|segment| segment != ".." && segment != ".")
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"/-._~".contains(&c))
            })
            .ok_or_else(|| {
                Error::config(
                    r#"apiBase must be a path on the gateway, such as "/api/v2" or "/api""#,
                )
            })?,
    };
    if crate::core::uri::without_query_and_fragment(gateway) != gateway {
        return Err(Error::config(
            "gateway must be the URL of the SFM session gateway, without query or fragment",
        ));
    }
    let root = format!(
        "{}{}",
        gateway.trim_end_matches('/'),
        base.trim_end_matches('/')
    );
    Ok(Paths {
        create: format!("{root}/Session/create"),
        refresh: format!("{root}/Session/refresh"),
        end: format!("{root}/Session/end"),
        patient_ticket: format!("{root}/PatientTicket"),
    })
}

fn standard_base64(bytes: &[u8]) -> String {
    use base64ct::{Base64, Encoding};
    Base64::encode_string(bytes)
}

/// The nonce: base64 of 64 random bytes (goes to the SFM client in the `login` message), and
/// base64 of its SHA-512 (`sha512`, made by WebCrypto; goes to `Session/create`): SFM checks
/// that both ends belong together.
pub fn nonce(random: &[u8; 64], sha512: &[u8]) -> (String, String) {
    (standard_base64(random), standard_base64(sha512))
}

pub fn create_body(nonce_hash: &str) -> String {
    json!({ "nonce": nonce_hash }).to_string()
}

/// `Session/create`'s answer (API.md `sfm.info`).
#[derive(Clone, Debug, PartialEq)]
pub struct Info {
    pub id: String,
    pub code: String,
    pub client_address: String,
    pub api_address: String,
    pub metadata: Value,
}

impl Info {
    /// `sfm.info`: everything but the one-time code.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "clientAddress": self.client_address,
            "apiAddress": self.api_address,
            "metadata": self.metadata,
        })
    }
}

/// `Session/create`'s answer. The `clientAddress` the iframe loads (and the `login` message's
/// target origin) must be https, or loopback http with `allowInsecureHttp` (finding 12): else
/// `portal_failed`, and nothing is loaded.
pub fn process_create(
    status: u16,
    www_authenticate: Option<&str>,
    body: &str,
    allow_insecure_http: bool,
) -> Result<Info> {
    if !(200..300).contains(&status) {
        return Err(portal_error(
            "the SFM session gateway (Session/create)",
            status,
            www_authenticate,
            body,
        ));
    }
    let o = parse_object(body);
    let read = |o: &crate::core::json::Object| {
        Some(Info {
            id: o.string("id")?,
            code: o.string("code")?,
            client_address: o.string("clientAddress")?,
            api_address: o.string("apiAddress")?,
            metadata: o
                .get("metadata")
                .cloned()
                .unwrap_or(Value::Object(Map::new())),
        })
    };
    let info = o
        .as_ref()
        .and_then(read)
        .filter(|i| !i.code.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorCode::PortalFailed,
                "the SFM session gateway's answer lacks id, code, clientAddress or apiAddress",
            )
            .with_status(status)
        })?;
    if !crate::core::uri::is_allowed_endpoint(&info.client_address, allow_insecure_http) {
        return Err(Error::new(
            ErrorCode::PortalFailed,
            "the SFM session gateway's clientAddress is not an https URL (http only for loopback \
             hosts with allowInsecureHttp); nothing was loaded",
        )
        .with_status(status));
    }
    Ok(info)
}

/// The `metadata` of the `login` message (NHN's sample, late 2024): the user agent, the point
/// of care (`orgnr_parent`) and a pseudonym of the practitioner (hex SHA-256 of the HPR number).
pub fn login_metadata(
    user_agent: &str,
    point_of_care: Option<&str>,
    hpr_number: Option<&str>,
) -> Value {
    let mut m = Map::new();
    m.insert("sfm-user-agent".into(), Value::from(user_agent));
    if let Some(org) = point_of_care {
        m.insert("x-point-of-care".into(), Value::from(org));
    }
    if let Some(hpr) = hpr_number {
        let hex: String = Sha256::digest(hpr.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        m.insert("x-practitioner-pseudo".into(), Value::from(hex));
    }
    Value::Object(m)
}

/// What the EPJ posts to the SFM client once it says `clientLoaded`.
pub fn login_message(info: &Info, nonce: &str, metadata: Value) -> Value {
    json!({
        "action": "login",
        "code": info.code,
        "nonce": nonce,
        "apiEndpoint": info.api_address,
        "metadata": metadata,
    })
}

/// A patient is an 11-digit Norwegian identity number (fødselsnummer or D-number).
pub fn check_patient(pid: &str) -> Result<()> {
    if pid.len() == 11 && pid.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::config(
            "the patient must be an 11-digit identity number",
        ))
    }
}

pub fn ticket_body(pid: &str) -> String {
    json!({ "patientPid": pid }).to_string()
}

/// `PatientTicket` answers the ticket as a JSON string.
pub fn process_ticket(status: u16, www_authenticate: Option<&str>, body: &str) -> Result<String> {
    if !(200..300).contains(&status) {
        return Err(portal_error(
            "the SFM session gateway (PatientTicket)",
            status,
            www_authenticate,
            body,
        ));
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::String(ticket)) if !ticket.is_empty() => Ok(ticket),
        _ => Err(Error::new(
            ErrorCode::PortalFailed,
            "the patient ticket is not a JSON string",
        )
        .with_status(status)),
    }
}

/// `setPatient` (API.md): the ticket and the options the EPJ chose.
pub fn set_patient_message(ticket: &str, options: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("action".into(), Value::from("setPatient"));
    m.insert("ticket".into(), Value::from(ticket));
    for name in [
        "showAllergies",
        "showLib",
        "onBehalfOf",
        "encounterIdentifier",
    ] {
        if let Some(v) = options.get(name).filter(|v| !v.is_null()) {
            m.insert(name.into(), v.clone());
        }
    }
    Value::Object(m)
}

/// A session call that answers nothing (`refresh`, `end`): any 2xx.
pub fn process_empty(
    what: &str,
    status: u16,
    www_authenticate: Option<&str>,
    body: &str,
) -> Result<()> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(portal_error(what, status, www_authenticate, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_hash_is_base64_of_sha512_of_the_64_bytes() {
        use sha2::Sha512;
        let (nonce, hash) = nonce(&[0u8; 64], &Sha512::digest([0u8; 64]));
        assert_eq!(nonce.len(), 88);
        // SHA-512 of 64 zero bytes.
        assert_eq!(
            hash,
            "e+n9pI9BeeYRxpinPP8J+vcoaUMe/ubqrRTeDLRLv2ZQP3Ureo6xcIM1Xzzm630oBvI2slr5aiTiK4h0BcIAgQ=="
        );
        assert_eq!(create_body(&hash), format!(r#"{{"nonce":"{hash}"}}"#));
    }

    #[test]
    fn create_answers_info_and_refusals_are_portal_failed() {
        let body = r#"{"id":"s1","code":"c1","clientAddress":"https://sfm.test/client/","apiAddress":"https://sfm.test/api","metadata":{"patientportal":"x"}}"#;
        let info = process_create(200, None, body, false).unwrap();
        assert_eq!(info.code, "c1");
        assert_eq!(info.to_json()["clientAddress"], "https://sfm.test/client/");
        assert!(
            info.to_json().get("code").is_none(),
            "the code is not shown"
        );
        let e = process_create(200, None, r#"{"id":"s1"}"#, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::PortalFailed);
        let e = process_create(401, Some(r#"DPoP error="invalid_token""#), "", false).unwrap_err();
        assert_eq!(
            (e.status, e.oauth_error.as_deref()),
            (Some(401), Some("invalid_token"))
        );
    }

    #[test]
    fn a_client_address_that_is_not_https_is_portal_failed_and_nothing_is_loaded() {
        let answer = |address: &str| {
            format!(
                r#"{{"id":"s","code":"c","clientAddress":"{address}","apiAddress":"https://a.test/api"}}"#
            )
        };
        for (address, insecure) in [
            ("http://sfm.test/client/", false),
            ("http://sfm.test/client/", true),
            ("http://127.0.0.1:4013/sfm-client/", false),
            ("javascript:alert(1)", true),
            ("data:text/html,x", true),
            ("//sfm.test/client/", true),
            ("/client/", true),
            ("https://user@sfm.test/", false),
            ("", false),
        ] {
            let e = process_create(200, None, &answer(address), insecure).unwrap_err();
            assert_eq!(e.code, ErrorCode::PortalFailed, "{address}");
            assert_eq!(e.status, Some(200));
            assert_eq!(
                e.message,
                "the SFM session gateway's clientAddress is not an https URL (http only for \
                 loopback hosts with allowInsecureHttp); nothing was loaded",
                "{address}"
            );
        }
        for (address, insecure) in [
            ("https://sfm.test/client/", false),
            ("http://127.0.0.1:4013/sfm-client/", true),
            ("http://localhost/sfm-client/", true),
        ] {
            let info = process_create(200, None, &answer(address), insecure).unwrap();
            assert_eq!(info.client_address, address);
        }
    }

    #[test]
    fn the_login_message_carries_code_nonce_endpoint_and_hashed_practitioner() {
        let info = process_create(
            200,
            None,
            r#"{"id":"s","code":"c","clientAddress":"https://c.test/","apiAddress":"https://a.test/api"}"#,
            false,
        )
        .unwrap();
        let m = login_message(
            &info,
            "n",
            login_metadata("EPJ/1", Some("912345678"), Some("565501872")),
        );
        assert_eq!(m["action"], "login");
        assert_eq!(m["apiEndpoint"], "https://a.test/api");
        assert_eq!(m["metadata"]["x-point-of-care"], "912345678");
        // hex SHA-256 of "565501872"
        assert_eq!(
            m["metadata"]["x-practitioner-pseudo"],
            "45f5c79f50d91d1e29f15f6d1216b002830366d3d4748bce2001d3c6b7c4089d"
        );
    }

    #[test]
    fn a_silent_client_is_portal_failed_naming_what_was_awaited_and_for_how_long() {
        assert_eq!(CLIENT_ANSWER_SECONDS, 15);
        let e = set_patient_unanswered();
        assert_eq!(e.code, ErrorCode::PortalFailed);
        assert_eq!(
            e.message,
            "the SFM web client did not answer setPatient within 15 s"
        );
        assert!(!e.retryable);
        let e = login_not_finished();
        assert_eq!(e.code, ErrorCode::PortalFailed);
        assert!(
            e.message
                .starts_with("the SFM web client did not finish its login within 15 s"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_paths_default_to_api_v2_and_api_base_reaches_the_older_ones() {
        for default in [None, Some(&Value::Null)] {
            let p = paths("https://gw.test/", default).unwrap();
            assert_eq!(p.create, "https://gw.test/api/v2/Session/create");
            assert_eq!(p.refresh, "https://gw.test/api/v2/Session/refresh");
            assert_eq!(p.end, "https://gw.test/api/v2/Session/end");
            assert_eq!(p.patient_ticket, "https://gw.test/api/v2/PatientTicket");
        }
        let p = paths("https://gw.test", Some(&json!("/api"))).unwrap();
        assert_eq!(p.create, "https://gw.test/api/Session/create");
        assert_eq!(p.end, "https://gw.test/api/Session/end");
        assert_eq!(p.patient_ticket, "https://gw.test/api/PatientTicket");
        let p = paths("https://gw.test/sfm", Some(&json!("/api/v2/"))).unwrap();
        assert_eq!(p.refresh, "https://gw.test/sfm/api/v2/Session/refresh");
    }

    #[test]
    fn an_api_base_or_gateway_that_could_lead_elsewhere_is_config_invalid() {
        for bad in [
            json!("api"),
            json!(""),
            json!("@evil.test"),
            json!("//evil.test"),
            json!("/api/../../x"),
            json!("/api?x="),
            json!("/api#x"),
            json!("/api v2"),
            json!(2),
            json!(["/api"]),
        ] {
            let e = paths("https://gw.test", Some(&bad)).err().unwrap();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{bad}");
            assert!(e.message.starts_with("apiBase must be a path"), "{bad}");
        }
        for gateway in ["https://gw.test/?a=1", "https://gw.test#x"] {
            let e = paths(gateway, None).err().unwrap();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{gateway}");
        }
    }

    #[test]
    fn tickets_and_set_patient() {
        assert_eq!(process_ticket(200, None, r#""t-1""#).unwrap(), "t-1");
        assert!(process_ticket(200, None, r#"{"t":1}"#).is_err());
        let mut o = Map::new();
        o.insert("showAllergies".into(), Value::from(true));
        o.insert("other".into(), Value::from(1));
        assert_eq!(
            set_patient_message("t-1", &o),
            json!({"action": "setPatient", "ticket": "t-1", "showAllergies": true})
        );
        assert!(check_patient("13116900216").is_ok());
        assert!(check_patient("1311690021").is_err());
    }
}
