//! The `Session` handed to JavaScript (API.md "Session"): the validated claims, when the access
//! token expires, and a typed view of the HelseID claims.

use serde_json::{Map, Value};

use super::helseid::HelseIdView;

/// `scope` as a JSON array of strings (HelseID access tokens) or a space-separated string
/// (RFC 6749 §3.3, RFC 9068 §2.2.3). Anything else is no scope.
pub fn parse_scope(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// When the access token expires, in epoch seconds (API.md `expiresAt`): from `expires_in`
/// (RFC 6749 §5.1; immune to clock skew), else from the token's `exp`. A negative
/// `expires_in` counts as already expired.
pub fn expires_at(now: i64, expires_in: Option<i64>, access_token_exp: Option<i64>) -> Option<i64> {
    match expires_in {
        Some(secs) => Some(now.saturating_add(secs.max(0))),
        None => access_token_exp,
    }
}

/// API.md `Session`.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id_token_claims: Map<String, Value>,
    pub access_token_claims: Map<String, Value>,
    /// Epoch seconds; see [`expires_at`].
    pub expires_at: i64,
    /// `DPoP` or `Bearer`.
    pub token_type: String,
    pub scope: Vec<String>,
    pub helseid: HelseIdView,
    /// The context in force (API.md), with a generated `decision_ref.id`; `null` when none.
    pub context: Option<Value>,
    /// Scopes HelseID refused on the last successful token response.
    pub rejected_scope: Vec<String>,
}

impl Session {
    /// The `Session` JavaScript gets (camelCase; `context` null when there is none).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "idTokenClaims": self.id_token_claims,
            "accessTokenClaims": self.access_token_claims,
            "expiresAt": self.expires_at,
            "tokenType": self.token_type,
            "scope": self.scope,
            "helseid": self.helseid.to_json(),
            "context": self.context,
            "rejectedScope": self.rejected_scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::helseid::*;
    use crate::core::jwt::fixtures;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn fixture_session() -> Session {
        let id = fixtures::id_token().claims;
        let at = fixtures::access_token().claims;
        let exp = at["exp"].as_i64();
        let now = at["iat"].as_i64().unwrap();
        Session {
            helseid: HelseIdView::from_claims(&id, &at),
            scope: parse_scope(at.get("scope")),
            expires_at: expires_at(now, Some(600), exp).unwrap(),
            token_type: "DPoP".into(),
            id_token_claims: id,
            access_token_claims: at,
            context: None,
            rejected_scope: Vec::new(),
        }
    }

    #[test]
    fn fixtures_map_into_the_helseid_view() {
        let view = fixture_session().helseid;
        assert_eq!(view.pid.as_deref(), Some("06828399789"));
        assert_eq!(view.security_level.as_deref(), Some("4"));
        assert_eq!(view.name.as_deref(), Some("KVART GREVLING"));
        assert_eq!(view.given_name.as_deref(), Some("KVART"));
        assert_eq!(view.family_name.as_deref(), Some("GREVLING"));
        assert_eq!(
            view.client_id.as_deref(),
            Some("88d474a8-07df-4dc4-abb0-6b759c2b99ec")
        );
        assert_eq!(
            view.pid_pseudonym.as_deref(),
            Some("PGzVzvP2JvlXV++OJSJAQG5d99BH8QsikmxpdIAKSZk=")
        );
        assert_eq!(view.hpr_number, None);
        assert_eq!(view.sfm_id, None);
        assert_eq!(view.journal_id, None);
    }

    #[test]
    fn fixture_session_takes_the_scope_array_of_the_access_token() {
        let session = fixture_session();
        assert_eq!(
            session.scope,
            [
                "openid",
                "profile",
                "helseid://scopes/identity/pid",
                "helseid://scopes/identity/pid_pseudonym",
                "helseid://scopes/identity/security_level",
                "fhi:weather/access",
                "offline_access",
            ]
        );
        assert_eq!(session.expires_at, 1_739_548_033 + 600);
    }

    #[test]
    fn session_serializes_in_camel_case_without_absent_view_fields() {
        let value = fixture_session().to_json();
        let object = value.as_object().unwrap();
        let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "accessTokenClaims",
                "context",
                "expiresAt",
                "helseid",
                "idTokenClaims",
                "rejectedScope",
                "scope",
                "tokenType"
            ]
        );
        assert_eq!(value["tokenType"], "DPoP");
        assert_eq!(
            value["helseid"]["pidPseudonym"],
            "PGzVzvP2JvlXV++OJSJAQG5d99BH8QsikmxpdIAKSZk="
        );
        assert_eq!(value["helseid"]["securityLevel"], "4");
        assert_eq!(value["helseid"]["givenName"], "KVART");
        assert!(value["helseid"].get("hprNumber").is_none());
        assert!(value["helseid"].get("sfmId").is_none());
    }

    #[test]
    fn journal_id_object_form_is_read() {
        let at = map(json!({ JOURNAL_ID: { "journal_id": "j-1", "other": 1 } }));
        let view = HelseIdView::from_claims(&Map::new(), &at);
        assert_eq!(view.journal_id.as_deref(), Some("j-1"));
    }

    #[test]
    fn journal_id_string_form_is_read() {
        let at = map(json!({ JOURNAL_ID: "j-2" }));
        let view = HelseIdView::from_claims(&Map::new(), &at);
        assert_eq!(view.journal_id.as_deref(), Some("j-2"));
    }

    #[test]
    fn identity_claims_prefer_the_id_token() {
        let id = map(json!({ PID: "from-id", "name": "ID NAME" }));
        let at = map(json!({ PID: "from-at", "name": "AT NAME", NETWORK: "nhn" }));
        let view = HelseIdView::from_claims(&id, &at);
        assert_eq!(view.pid.as_deref(), Some("from-id"));
        assert_eq!(view.name.as_deref(), Some("ID NAME"));
        assert_eq!(
            view.network.as_deref(),
            Some("nhn"),
            "falls back to the access token"
        );
    }

    #[test]
    fn client_and_sfm_claims_prefer_the_access_token() {
        let id = map(json!({
            "client_id": "from-id", ORGNR_PARENT: "111", ORGNR_SUPPLIER: "333", SFM_ID: "s-id",
        }));
        let at = map(json!({ "client_id": "from-at", ORGNR_PARENT: "999", ORGNR_CHILD: "222" }));
        let view = HelseIdView::from_claims(&id, &at);
        assert_eq!(view.client_id.as_deref(), Some("from-at"));
        assert_eq!(view.orgnr_parent.as_deref(), Some("999"));
        assert_eq!(view.orgnr_child.as_deref(), Some("222"));
        assert_eq!(
            view.orgnr_supplier.as_deref(),
            Some("333"),
            "falls back to the ID token"
        );
        assert_eq!(
            view.sfm_id.as_deref(),
            Some("s-id"),
            "falls back to the ID token"
        );
    }

    #[test]
    fn numbers_become_strings_and_empty_strings_are_absent() {
        let id = map(json!({ SECURITY_LEVEL: 4, HPR_NUMBER: 565_501_872, "given_name": "" }));
        let view = HelseIdView::from_claims(&id, &Map::new());
        assert_eq!(view.security_level.as_deref(), Some("4"));
        assert_eq!(view.hpr_number.as_deref(), Some("565501872"));
        assert_eq!(view.given_name, None);
    }

    #[test]
    fn empty_id_token_value_falls_back_to_the_access_token() {
        let id = map(json!({ "family_name": "" }));
        let at = map(json!({ "family_name": "GREVLING" }));
        let view = HelseIdView::from_claims(&id, &at);
        assert_eq!(view.family_name.as_deref(), Some("GREVLING"));
    }

    #[test]
    fn objects_arrays_and_booleans_are_absent() {
        let id = map(json!({ PID: ["1"], "name": { "x": 1 }, NETWORK: true }));
        let view = HelseIdView::from_claims(&id, &Map::new());
        assert_eq!(view, HelseIdView::default());
    }

    #[test]
    fn scope_array_of_strings_is_parsed() {
        assert_eq!(
            parse_scope(Some(&json!(["openid", "profile"]))),
            ["openid", "profile"]
        );
    }

    #[test]
    fn scope_space_separated_string_is_parsed() {
        assert_eq!(
            parse_scope(Some(&json!(" openid  profile offline_access "))),
            ["openid", "profile", "offline_access"]
        );
    }

    #[test]
    fn scope_that_is_missing_or_malformed_is_empty() {
        assert!(parse_scope(None).is_empty());
        assert!(parse_scope(Some(&json!(42))).is_empty());
        assert!(parse_scope(Some(&json!(""))).is_empty());
        assert_eq!(parse_scope(Some(&json!(["a", 1, "", "b"]))), ["a", "b"]);
    }

    #[test]
    fn expires_at_uses_expires_in_first() {
        assert_eq!(expires_at(1_000, Some(600), Some(5_000)), Some(1_600));
    }

    #[test]
    fn expires_at_uses_exp_only_without_expires_in() {
        assert_eq!(expires_at(1_000, None, Some(5_000)), Some(5_000));
    }

    #[test]
    fn expires_at_is_unknown_without_either() {
        assert_eq!(expires_at(1_000, None, None), None);
    }

    #[test]
    fn negative_expires_in_means_expired_now_and_huge_values_saturate() {
        assert_eq!(expires_at(1_000, Some(-5), Some(5_000)), Some(1_000));
        assert_eq!(expires_at(1_000, Some(i64::MAX), None), Some(i64::MAX));
    }
}
