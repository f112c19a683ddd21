//! The Kjernejournal portal session (README "Kjernejournal portal session";
//! NorskHelsenett/kjernejournal-innlogging-klient): create with a PKCE-style challenge and the
//! claims block, open `hentpasient.html` with the code and the verifier in a new tab, refresh
//! and end with the session id.

use serde_json::{json, Value};

use super::portal_error;
use crate::core::authorize::join_query;
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::form;
use crate::core::json::{parse_object, Read};

pub const RESOURCE: &str = "nhn:kjernejournal";
pub const ACCESS_BASES: [&str; 3] = ["SAMTYKKE", "AKUTT", "UNNTAK"];

/// What `openKjernejournalSession` asks for (API.md).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub source_system: String,
    /// fødselsnummer or D-number.
    pub patient: String,
    pub access_basis: String,
    /// Volven 9060 (`LE` for a doctor).
    pub practitioner_authorization: String,
}

impl Request {
    /// `config_invalid` for anything the API would refuse, before a request is sent.
    pub fn check(&self) -> Result<()> {
        let n = self.source_system.chars().count();
        if !(3..=512).contains(&n) {
            return Err(Error::config(
                "sourceSystem must be 3 to 512 characters (X-SOURCE-SYSTEM)",
            ));
        }
        if self.patient.len() != 11 || !self.patient.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::config("patient must be an 11-digit identity number"));
        }
        if !ACCESS_BASES.contains(&self.access_basis.as_str()) {
            return Err(Error::config(
                "accessBasis must be SAMTYKKE, AKUTT or UNNTAK",
            ));
        }
        if self.practitioner_authorization.is_empty() {
            return Err(Error::config("practitionerAuthorization must not be empty"));
        }
        Ok(())
    }
}

/// `api` and `web` (finding 12): https (loopback http with `allowInsecureHttp`), an origin and
/// a path only, so neither a query nor a fragment can change where the session's calls go or
/// what `kj.url` opens; else `config_invalid`, before anything is sent.
pub fn check_url(name: &str, url: &str, allow_insecure_http: bool) -> Result<()> {
    if crate::core::uri::is_allowed_endpoint(url, allow_insecure_http) && !url.contains(['?', '#'])
    {
        return Ok(());
    }
    Err(Error::config(format!(
        "{name} must be an https URL (http only for loopback hosts with allowInsecureHttp): \
         an origin and a path, no query or fragment"
    )))
}

pub struct Paths {
    pub create: String,
    pub refresh: String,
    pub end: String,
}

pub fn paths(api: &str) -> Paths {
    let root = format!("{}/api/session", api.trim_end_matches('/'));
    Paths {
        create: format!("{root}/create"),
        refresh: format!("{root}/refresh"),
        end: format!("{root}/end"),
    }
}

/// `api/session/create`: the S256 challenge of a verifier the portal page gets later, and the
/// claims that say who looks at whom and why.
pub fn create_body(code_challenge: &str, r: &Request) -> Value {
    json!({
        "ehr_code_challenge": code_challenge,
        "claims": {
            "patient_identifier": {
                "id": r.patient,
                "system": "urn:oid:2.16.578.1.12.4.1.4.1",
                "authority": "https://www.skatteetaten.no",
            },
            "practitioner_authorization": {
                "code": r.practitioner_authorization,
                "system": "urn:oid:2.16.578.1.12.4.1.1.9060",
                "assigner": "https://www.helsedirektoratet.no/",
            },
            "access_basis": {
                "code": r.access_basis,
                "system": "SYSTEM_GRUNNLAG",
                "assigner": "https://nhn.no",
            },
        },
    })
}

/// `{code, sessionId}`.
pub fn process_create(
    status: u16,
    www_authenticate: Option<&str>,
    body: &str,
) -> Result<(String, String)> {
    if !(200..300).contains(&status) {
        return Err(portal_error(
            "the Kjernejournal API (session/create)",
            status,
            www_authenticate,
            body,
        ));
    }
    parse_object(body)
        .and_then(|o| Some((o.string("code")?, o.string("sessionId")?)))
        .filter(|(code, id)| !code.is_empty() && !id.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorCode::PortalFailed,
                "the Kjernejournal answer lacks code or sessionId",
            )
            .with_status(status)
        })
}

pub fn session_body(session_id: &str) -> String {
    json!({ "sessionId": session_id }).to_string()
}

/// The page to open in a new tab.
pub fn portal_url(web: &str, code: &str, verifier: &str) -> String {
    join_query(
        &format!("{}/hentpasient.html", web.trim_end_matches('/')),
        &form::encode(&[("code", code), ("ehr_code_verifier", verifier)]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            source_system: "EPJ Demo".into(),
            patient: "13116900216".into(),
            access_basis: "SAMTYKKE".into(),
            practitioner_authorization: "LE".into(),
        }
    }

    #[test]
    fn the_create_body_is_the_claims_block_of_nhns_client() {
        let body = create_body("chal", &request());
        assert_eq!(body["ehr_code_challenge"], "chal");
        assert_eq!(body["claims"]["patient_identifier"]["id"], "13116900216");
        assert_eq!(
            body["claims"]["patient_identifier"]["authority"],
            "https://www.skatteetaten.no"
        );
        assert_eq!(
            body["claims"]["practitioner_authorization"]["system"],
            "urn:oid:2.16.578.1.12.4.1.1.9060"
        );
        assert_eq!(body["claims"]["access_basis"]["code"], "SAMTYKKE");
        assert_eq!(body["claims"]["access_basis"]["system"], "SYSTEM_GRUNNLAG");
    }

    #[test]
    fn bad_requests_are_refused_before_anything_is_sent() {
        assert!(request().check().is_ok());
        for r in [
            Request {
                source_system: "EP".into(),
                ..request()
            },
            Request {
                patient: "1311690021x".into(),
                ..request()
            },
            Request {
                access_basis: "NYSGJERRIG".into(),
                ..request()
            },
            Request {
                practitioner_authorization: String::new(),
                ..request()
            },
        ] {
            assert_eq!(r.check().unwrap_err().code, ErrorCode::ConfigInvalid);
        }
    }

    #[test]
    fn api_and_web_are_an_origin_and_a_path_with_no_query_or_fragment() {
        for (url, insecure) in [
            ("https://st1.kjernejournal-test.no/hpp-webapp", false),
            ("https://st1.kjernejournal-test.no", false),
            ("https://kj.test:8443/a/b/", false),
            ("http://127.0.0.1:4015", true),
        ] {
            assert_eq!(check_url("web", url, insecure), Ok(()), "{url}");
        }
        for (url, insecure) in [
            ("https://kj.test/hpp-webapp?x=1", false),
            ("https://kj.test/hpp-webapp?", false),
            ("https://kj.test/hpp-webapp#frag", false),
            ("https://kj.test#", false),
            ("http://kj.test/hpp-webapp", true),
            ("http://127.0.0.1:4015", false),
            ("https://user@kj.test/", false),
            ("javascript:alert(1)", true),
            ("/hpp-webapp", true),
        ] {
            let e = check_url("web", url, insecure).unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{url}");
            assert_eq!(
                e.message,
                "web must be an https URL (http only for loopback hosts with allowInsecureHttp): \
                 an origin and a path, no query or fragment"
            );
        }
    }

    #[test]
    fn the_answer_and_the_page_url() {
        assert_eq!(
            process_create(200, None, r#"{"code":"c1","sessionId":"s1"}"#).unwrap(),
            ("c1".to_string(), "s1".to_string())
        );
        assert_eq!(
            process_create(200, None, "{}").unwrap_err().code,
            ErrorCode::PortalFailed
        );
        assert_eq!(
            portal_url("https://kj.test/", "c 1", "v"),
            "https://kj.test/hentpasient.html?code=c+1&ehr_code_verifier=v"
        );
        assert_eq!(
            paths("https://api.test").refresh,
            "https://api.test/api/session/refresh"
        );
    }
}
