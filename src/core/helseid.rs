//! HelseID's claim names, in one place (README "Tokens", "SFM", "Context"), and the typed view
//! of them that a `Session` carries (API.md `Session.helseid`).

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HelseIdView {
    pub pid: Option<String>,
    pub pid_pseudonym: Option<String>,
    pub hpr_number: Option<String>,
    pub security_level: Option<String>,
    pub assurance_level: Option<String>,
    pub network: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub client_id: Option<String>,
    pub orgnr_parent: Option<String>,
    pub orgnr_child: Option<String>,
    pub orgnr_supplier: Option<String>,
    pub sfm_id: Option<String>,
    pub journal_id: Option<String>,
    pub idp: Option<String>,
    /// `auth_time`, epoch seconds.
    pub auth_time: Option<i64>,
    /// `amr` (RFC 8176), always as an array.
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

impl HelseIdView {
    /// API.md `Session.helseid`: the claims present, in camelCase.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (name, value) in [
            ("pid", &self.pid),
            ("pidPseudonym", &self.pid_pseudonym),
            ("hprNumber", &self.hpr_number),
            ("securityLevel", &self.security_level),
            ("assuranceLevel", &self.assurance_level),
            ("network", &self.network),
            ("name", &self.name),
            ("givenName", &self.given_name),
            ("familyName", &self.family_name),
            ("clientId", &self.client_id),
            ("orgnrParent", &self.orgnr_parent),
            ("orgnrChild", &self.orgnr_child),
            ("orgnrSupplier", &self.orgnr_supplier),
            ("sfmId", &self.sfm_id),
            ("journalId", &self.journal_id),
            ("idp", &self.idp),
        ] {
            if let Some(v) = value {
                m.insert(name.into(), Value::from(v.as_str()));
            }
        }
        if let Some(t) = self.auth_time {
            m.insert("authTime".into(), Value::from(t));
        }
        if let Some(amr) = &self.amr {
            m.insert("amr".into(), Value::from(amr.clone()));
        }
        Value::Object(m)
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
