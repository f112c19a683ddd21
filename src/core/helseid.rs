//! HelseID's claim names, in one place (README "Tokens", "SFM", "Context"), and the typed view
//! of them that a `Session` carries (API.md `Session.helseid`).

use serde::Serialize;
use serde_json::{Map, Value};

pub const PID: &str = "helseid://claims/identity/pid";
pub const PID_PSEUDONYM: &str = "helseid://claims/identity/pid_pseudonym";
/// `"4"` for high (README "Tokens").
pub const SECURITY_LEVEL: &str = "helseid://claims/identity/security_level";
pub const ASSURANCE_LEVEL: &str = "helseid://claims/identity/assurance_level";
pub const NETWORK: &str = "helseid://claims/identity/network";
pub const HPR_NUMBER: &str = "helseid://claims/hpr/hpr_number";
pub const ORGNR_PARENT: &str = "helseid://claims/client/claims/orgnr_parent";
pub const ORGNR_CHILD: &str = "helseid://claims/client/claims/orgnr_child";
pub const ORGNR_SUPPLIER: &str = "helseid://claims/client/claims/orgnr_supplier";
/// SFM single-tenant id (README "SFM").
pub const SFM_ID: &str = "e-helse:sfm.api/client/claims/sfm-id";
/// SFM multi-tenant journal id: a string, or an object with `journal_id`.
pub const JOURNAL_ID: &str = "nhn:sfm:journal-id";
/// The trust-framework attest, echoed into tokens for the APIs that need it (README "Context").
pub const TRUST_FRAMEWORK: &str = "nhn:tillitsrammeverk:parameters";
/// The identity provider the user logged in with (`testidp-oidc`, `idporten-oidc`, ...).
pub const IDP: &str = "idp";
pub const AMR: &str = "amr";
pub const AUTH_TIME: &str = "auth_time";

/// A claim's text: a non-empty string, or a number written out.
pub fn claim_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// [`JOURNAL_ID`]: a string, or an object's `journal_id`.
pub fn journal_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Object(object) => claim_text(object.get("journal_id")),
        other => claim_text(Some(other)),
    }
}

/// The HelseID claims that are present, as text (numbers are written out; empty strings are
/// left out). Identity claims come from the ID token first, client and SFM claims from the
/// access token first; each falls back to the other token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelseIdView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_pseudonym: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hpr_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assurance_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orgnr_parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orgnr_child: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orgnr_supplier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sfm_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// `auth_time`, epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// `amr` (RFC 8176), always as an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

impl HelseIdView {
    pub fn from_claims(id_token: &Map<String, Value>, access_token: &Map<String, Value>) -> Self {
        let identity = |name| claim_text(id_token.get(name)).or(claim_text(access_token.get(name)));
        let client = |name| claim_text(access_token.get(name)).or(claim_text(id_token.get(name)));
        HelseIdView {
            pid: identity(PID),
            pid_pseudonym: identity(PID_PSEUDONYM),
            hpr_number: identity(HPR_NUMBER),
            security_level: identity(SECURITY_LEVEL),
            assurance_level: identity(ASSURANCE_LEVEL),
            network: identity(NETWORK),
            name: identity("name"),
            given_name: identity("given_name"),
            family_name: identity("family_name"),
            client_id: client("client_id"),
            orgnr_parent: client(ORGNR_PARENT),
            orgnr_child: client(ORGNR_CHILD),
            orgnr_supplier: client(ORGNR_SUPPLIER),
            sfm_id: client(SFM_ID),
            journal_id: journal_id(access_token.get(JOURNAL_ID))
                .or(journal_id(id_token.get(JOURNAL_ID))),
            idp: identity(IDP),
            auth_time: id_token
                .get(AUTH_TIME)
                .or(access_token.get(AUTH_TIME))
                .and_then(Value::as_i64),
            amr: amr(id_token.get(AMR)).or(amr(access_token.get(AMR))),
        }
    }
}

/// `amr` as an array of strings (a single string is read as one method).
fn amr(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(vec![s.clone()]),
        Value::Array(items) => {
            let list: Vec<String> = items
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            (!list.is_empty()).then_some(list)
        }
        _ => None,
    }
}
