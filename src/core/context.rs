//! The user's context (API.md "Organisation, journal and patient context"): the organisation,
//! the SFM journal and the trust-framework attest HelseID takes as structured details in the
//! client assertion of a token request (README "Context"), and the checks of the claims it puts
//! into the access token.

use serde_json::{Map, Value};

use super::error::{Error, ErrorCode, Result};
use super::helseid::{
    claim_text, journal_id, JOURNAL_ID, ORGNR_CHILD, ORGNR_PARENT, TRUST_FRAMEWORK,
};
use super::json::Read;

/// Multi-tenant organisation identifiers (README "Context").
pub const MULTI_TENANT_SYSTEM: &str = "urn:oid:1.0.6523";
/// Single-tenant: the Norwegian register of legal entities (Enhetsregisteret).
pub const SINGLE_TENANT_SYSTEM: &str = "urn:oid:2.16.578.1.12.4.1.4.101";
pub const ORGANIZATION_DETAIL: &str = "helseid_authorization";
/// The detail type of the attest, and the claim HelseID echoes it in.
pub const TRUST_FRAMEWORK_DETAIL: &str = TRUST_FRAMEWORK;
/// `purpose_of_use.code` values the trust framework allows.
pub const PURPOSES_OF_USE: [&str; 4] = ["TREAT", "ETREAT", "COC", "BTG"];
/// HelseID refuses attests older than an hour (`attestation_has_expired`).
pub use super::limits::ATTEST_MAX_AGE_SECONDS as DEFAULT_ATTEST_MAX_AGE_SECONDS;

/// Where the details ride in the client assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetailsClaim {
    AssertionDetails,
    AuthorizationDetails,
}

impl DetailsClaim {
    pub fn as_str(self) -> &'static str {
        match self {
            DetailsClaim::AssertionDetails => "assertion_details",
            DetailsClaim::AuthorizationDetails => "authorization_details",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Organization {
    /// 9 digits: the multi-tenant client's customer (the legal entity).
    pub parent: Option<String>,
    /// 9 digits: the unit the user acts for.
    pub child: Option<String>,
}

/// A checked context. Build it with [`Context::parse`].
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    pub organization: Option<Organization>,
    pub journal_id: Option<String>,
    /// The attest in its wire shape without `type`, with `decision_ref.id` filled in.
    pub trust_framework: Option<Map<String, Value>>,
}

fn invalid(field: impl Into<String>, why: &str) -> Error {
    let field = field.into();
    Error::new(ErrorCode::ContextInvalid, format!("context {field}: {why}")).with_claim(field)
}

fn is_org_number(text: &str) -> bool {
    text.len() == 9 && text.bytes().all(|b| b.is_ascii_digit())
}

/// 8-4-4-4-12 hexadecimal digits (RFC 9562 §4).
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// RFC 9562 §5.4: a random (version 4) UUID from 16 random bytes.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// What an attest member holds (see [`ATTEST`]).
#[derive(Clone, Copy)]
enum Member {
    /// A string of at most [`MAX_ATTEST_STRING_CHARS`] characters.
    Text,
    Flag,
    Object(&'static [(&'static str, Member)]),
    Objects(&'static [(&'static str, Member)]),
}

/// An identified party (Tillitsrammeverk, "Informasjons- og datamodell" §4.2.2.1).
const PARTY: &[(&str, Member)] = &[
    ("id", Member::Text),
    ("name", Member::Text),
    ("system", Member::Text),
    ("authority", Member::Text),
];
/// A coded value (same section).
const CODED: &[(&str, Member)] = &[
    ("code", Member::Text),
    ("text", Member::Text),
    ("system", Member::Text),
    ("assigner", Member::Text),
];
/// The members HelseID's attest defines (README "Context", `nhn:tillitsrammeverk:parameters`,
/// without `type`); nothing else reaches the signer (finding 13).
const ATTEST: &[(&str, Member)] = &[
    (
        "practitioner",
        Member::Object(&[
            ("authorization", Member::Object(CODED)),
            ("legal_entity", Member::Object(PARTY)),
            ("point_of_care", Member::Object(PARTY)),
            ("department", Member::Object(PARTY)),
        ]),
    ),
    (
        "care_relationship",
        Member::Object(&[
            ("healthcare_service", Member::Object(CODED)),
            ("purpose_of_use", Member::Object(CODED)),
            ("purpose_of_use_details", Member::Object(CODED)),
            (
                "decision_ref",
                Member::Object(&[("id", Member::Text), ("user_selected", Member::Flag)]),
            ),
        ]),
    ),
    (
        "patients",
        Member::Objects(&[
            ("point_of_care", Member::Object(PARTY)),
            ("department", Member::Object(PARTY)),
        ]),
    ),
];
pub const MAX_ATTEST_STRING_CHARS: usize = 256;
/// The attest with its `decision_ref.id`, as JSON text.
pub const MAX_ATTEST_JSON_BYTES: usize = 8 * 1024;

/// `path` + `name` for a claim, with a long member name cut short (the claim is shown).
fn member_path(path: &str, name: &str) -> String {
    match name.char_indices().nth(64) {
        Some((end, _)) => format!("{path}{}...", &name[..end]),
        None => format!("{path}{name}"),
    }
}

/// Every member of `o` is one `shape` defines, of its kind and size; `context_invalid` names
/// the first that is not.
fn check_members(o: &Map<String, Value>, shape: &[(&str, Member)], path: &str) -> Result<()> {
    for (name, value) in o {
        let at = member_path(path, name);
        let Some((_, kind)) = shape.iter().find(|(n, _)| n == name) else {
            return Err(invalid(at, "is not a member of the attest"));
        };
        match (kind, value) {
            (Member::Text, Value::String(t))
                if t.chars().nth(MAX_ATTEST_STRING_CHARS).is_some() =>
            {
                return Err(invalid(at, "is longer than 256 characters"))
            }
            (Member::Text, Value::String(_)) | (Member::Flag, Value::Bool(_)) => {}
            (Member::Object(inner), Value::Object(m)) => {
                check_members(m, inner, &format!("{at}."))?
            }
            (Member::Objects(inner), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let Value::Object(m) = item else {
                        return Err(invalid(format!("{at}[{i}]"), "must be an object"));
                    };
                    check_members(m, inner, &format!("{at}[{i}]."))?;
                }
            }
            (Member::Text, _) => return Err(invalid(at, "must be a string")),
            (Member::Flag, _) => return Err(invalid(at, "must be true or false")),
            (Member::Object(_), _) => return Err(invalid(at, "must be an object")),
            (Member::Objects(_), _) => return Err(invalid(at, "must be an array of objects")),
        }
    }
    Ok(())
}

fn only_keys(o: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<()> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!("{path}{k}"), "is not a context field")),
        None => Ok(()),
    }
}

fn object_at<'a>(
    o: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a Map<String, Value>> {
    o.object(name)
        .ok_or_else(|| invalid(format!("{path}{name}"), "is required (an object)"))
}

impl Context {
    /// Checks a context as JavaScript gives it. `None` for `null` or `{}` (no context).
    /// `random` gives 16 random bytes when the attest lacks `decision_ref.id`.
    pub fn parse(value: &Value, random: impl FnOnce() -> [u8; 16]) -> Result<Option<Context>> {
        let o = match value {
            Value::Null => return Ok(None),
            Value::Object(o) => o,
            _ => return Err(invalid("context", "must be an object or null")),
        };
        only_keys(o, &["organization", "journalId", "trustFramework"], "")?;
        let organization = match o.get("organization") {
            None | Some(Value::Null) => None,
            Some(Value::Object(org)) => Some(Self::organization(org)?),
            Some(_) => return Err(invalid("organization", "must be an object")),
        };
        let journal_id = match o.get("journalId") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if is_uuid(id) => Some(id.to_ascii_lowercase()),
            Some(_) => return Err(invalid("journalId", "must be a UUID")),
        };
        let trust_framework = match o.get("trustFramework") {
            None | Some(Value::Null) => None,
            Some(Value::Object(attest)) => Some(Self::attest(attest, random)?),
            Some(_) => return Err(invalid("trustFramework", "must be an object")),
        };
        if organization.is_none() && journal_id.is_none() && trust_framework.is_none() {
            return Ok(None);
        }
        Ok(Some(Context {
            organization,
            journal_id,
            trust_framework,
        }))
    }

    fn organization(org: &Map<String, Value>) -> Result<Organization> {
        only_keys(org, &["parent", "child"], "organization.")?;
        let number = |name: &str| -> Result<Option<String>> {
            match org.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(n)) if is_org_number(n) => Ok(Some(n.clone())),
                Some(_) => Err(invalid(
                    format!("organization.{name}"),
                    "must be an organisation number of 9 digits",
                )),
            }
        };
        let organization = Organization {
            parent: number("parent")?,
            child: number("child")?,
        };
        if organization.parent.is_none() && organization.child.is_none() {
            return Err(invalid("organization", "needs parent or child"));
        }
        Ok(organization)
    }

    /// The attest as NHN's EPJ samples send it (README "Context"): only the members it defines
    /// ([`ATTEST`]), strings of at most 256 characters, 8 KiB in all; the fields HelseID needs
    /// are checked.
    fn attest(
        attest: &Map<String, Value>,
        random: impl FnOnce() -> [u8; 16],
    ) -> Result<Map<String, Value>> {
        const P: &str = "trustFramework.";
        let mut attest = attest.clone();
        match attest.remove("type") {
            None => {}
            Some(Value::String(t)) if t == TRUST_FRAMEWORK_DETAIL => {}
            Some(_) => {
                return Err(invalid(
                    format!("{P}type"),
                    "is not nhn:tillitsrammeverk:parameters",
                ))
            }
        }
        // A `decision_ref.id` of null is one the library makes (below).
        if let Some(Value::Object(d)) = attest
            .get_mut("care_relationship")
            .and_then(|c| c.get_mut("decision_ref"))
        {
            if d.get("id").is_some_and(Value::is_null) {
                d.remove("id");
            }
        }
        check_members(&attest, ATTEST, P)?;
        let practitioner = object_at(&attest, "practitioner", P)?;
        for name in ["legal_entity", "point_of_care"] {
            let path = format!("{P}practitioner.");
            let entity = object_at(practitioner, name, &path)?;
            match entity.str("id") {
                Some(id) if is_org_number(id) => {}
                _ => {
                    return Err(invalid(
                        format!("{path}{name}.id"),
                        "must be an organisation number of 9 digits",
                    ))
                }
            }
        }
        let care = object_at(&attest, "care_relationship", P)?;
        let purpose = object_at(care, "purpose_of_use", &format!("{P}care_relationship."))?;
        match purpose.str("code") {
            Some(code) if PURPOSES_OF_USE.contains(&code) => {}
            _ => {
                return Err(invalid(
                    format!("{P}care_relationship.purpose_of_use.code"),
                    "must be TREAT, ETREAT, COC or BTG",
                ))
            }
        }
        // A fresh decision reference when the EPJ gives none (README "Context").
        let care = attest
            .get_mut("care_relationship")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| invalid(format!("{P}care_relationship"), "is required (an object)"))?;
        let decision = care
            .entry("decision_ref")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(decision) = decision else {
            return Err(invalid(
                format!("{P}care_relationship.decision_ref"),
                "must be an object",
            ));
        };
        match decision.get("id") {
            None => {
                decision.insert("id".into(), Value::String(uuid_v4(random())));
            }
            Some(Value::String(id)) if !id.is_empty() => {}
            Some(_) => {
                return Err(invalid(
                    format!("{P}care_relationship.decision_ref.id"),
                    "must be a non-empty string",
                ))
            }
        }
        if to_ordered_json(&Value::Object(attest.clone())).len() > MAX_ATTEST_JSON_BYTES {
            return Err(invalid("trustFramework", "is longer than 8 KiB as JSON"));
        }
        Ok(attest)
    }

    /// The context as the API shows it (`Session.context`, `context()`), with the generated
    /// `decision_ref.id`.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        if let Some(org) = &self.organization {
            let mut m = Map::new();
            if let Some(p) = &org.parent {
                m.insert("parent".into(), Value::String(p.clone()));
            }
            if let Some(c) = &org.child {
                m.insert("child".into(), Value::String(c.clone()));
            }
            o.insert("organization".into(), Value::Object(m));
        }
        if let Some(id) = &self.journal_id {
            o.insert("journalId".into(), Value::String(id.clone()));
        }
        if let Some(attest) = &self.trust_framework {
            o.insert("trustFramework".into(), Value::Object(attest.clone()));
        }
        Value::Object(o)
    }

    pub fn has_attest(&self) -> bool {
        self.trust_framework.is_some()
    }

    /// The structured details, in the order organisation, journal, attest. The attest is left
    /// out when `with_attest` is false (it has expired, and the token is for an API that does
    /// not need it).
    pub fn details(&self, with_attest: bool) -> Vec<Value> {
        let mut details = Vec::new();
        if let Some(org) = &self.organization {
            let (system, value) = match &org.parent {
                Some(parent) => (
                    MULTI_TENANT_SYSTEM,
                    format!("NO:ORGNR:{parent}:{}", org.child.as_deref().unwrap_or("")),
                ),
                None => (SINGLE_TENANT_SYSTEM, org.child.clone().unwrap_or_default()),
            };
            details.push(serde_json::json!({
                "type": ORGANIZATION_DETAIL,
                "practitioner_role": { "organization": { "identifier": {
                    "system": system, "type": "ENH", "value": value,
                } } },
            }));
        }
        if let Some(id) = &self.journal_id {
            details.push(serde_json::json!({ "type": JOURNAL_ID, "value": { "journal_id": id } }));
        }
        if let (Some(attest), true) = (&self.trust_framework, with_attest) {
            let mut detail = attest.clone();
            detail.insert("type".into(), Value::String(TRUST_FRAMEWORK_DETAIL.into()));
            details.push(Value::Object(detail));
        }
        details
    }

    /// Checks the claims HelseID put into an access token obtained under this context (API.md):
    /// `claim_invalid` names the full claim.
    pub fn check_claims(&self, claims: &Map<String, Value>, needs_attest: bool) -> Result<()> {
        if let Some(org) = &self.organization {
            for (name, expected) in [(ORGNR_PARENT, &org.parent), (ORGNR_CHILD, &org.child)] {
                if let Some(expected) = expected {
                    if claim_text(claims.get(name)).as_deref() != Some(expected.as_str()) {
                        return Err(Error::claim(name, format!("{name} is not {expected}")));
                    }
                }
            }
        }
        if let Some(expected) = &self.journal_id {
            let actual = journal_id(claims.get(JOURNAL_ID)).map(|j| j.to_ascii_lowercase());
            if actual.as_deref() != Some(expected.as_str()) {
                return Err(Error::claim(
                    JOURNAL_ID,
                    "the SFM journal id is not the one asked for",
                ));
            }
        }
        if self.has_attest()
            && needs_attest
            && claims.get(TRUST_FRAMEWORK).is_none_or(Value::is_null)
        {
            return Err(Error::claim(
                TRUST_FRAMEWORK,
                "the token carries no trust-framework attest",
            ));
        }
        Ok(())
    }
}

/// The order NHN's samples write the members in (README "Context"), so that the details are
/// byte for byte what HelseID's documentation shows; other members follow alphabetically.
const MEMBER_ORDER: [&str; 21] = [
    "code",
    "id",
    "system",
    "type",
    "value",
    "journal_id",
    "user_selected",
    "practitioner",
    "practitioner_role",
    "organization",
    "identifier",
    "authorization",
    "legal_entity",
    "point_of_care",
    "department",
    "care_relationship",
    "healthcare_service",
    "purpose_of_use",
    "purpose_of_use_details",
    "decision_ref",
    "patients",
];

/// JSON text of `value` with object members in [`MEMBER_ORDER`].
pub fn to_ordered_json(value: &Value) -> String {
    let mut out = String::new();
    write_ordered(value, &mut out);
    out
}

fn write_ordered(value: &Value, out: &mut String) {
    match value {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            let rank = |k: &str| {
                MEMBER_ORDER
                    .iter()
                    .position(|m| *m == k)
                    .unwrap_or(usize::MAX)
            };
            // Keys are distinct, so the unstable sort gives the one order (and no second sort
            // routine in the wasm).
            keys.sort_unstable_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_ordered(&o[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_ordered(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests;
