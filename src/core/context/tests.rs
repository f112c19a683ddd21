//! Context parsing, the wire form of the details (byte for byte against NHN's samples in
//! README "Context"), and the checks of the resulting claims.

use super::*;
use crate::core::ErrorCode;
use serde_json::json;

const UUID: &str = "6f1c9e2a-4b7d-4c1e-9a3f-2d5b8c7e1f00";

fn no_random() -> [u8; 16] {
    panic!("no random bytes expected")
}

fn parse(value: Value) -> Result<Option<Context>> {
    Context::parse(&value, || [7; 16])
}

fn invalid_field(value: Value) -> String {
    let e = parse(value).unwrap_err();
    assert_eq!(e.code, ErrorCode::ContextInvalid, "{e}");
    e.claim.unwrap().into_owned()
}

/// README "Context": NHN's attest, as the EPJ samples send it (minus `type`).
fn attest() -> Value {
    json!({
        "practitioner": {
            "authorization": { "code": "LE", "system": "urn:oid:2.16.578.1.12.4.1.1.9060" },
            "legal_entity": { "id": "912345678", "system": "urn:oid:2.16.578.1.12.4.1.4.101" },
            "point_of_care": { "id": "998877665", "system": "urn:oid:2.16.578.1.12.4.1.4.101" },
            "department": { "id": "1234", "system": "urn:oid:2.16.578.1.12.4.1.4.102" }
        },
        "care_relationship": {
            "healthcare_service": { "code": "01", "system": "urn:oid:2.16.578.1.12.4.1.1.8666" },
            "purpose_of_use": { "code": "TREAT", "system": "urn:oid:2.16.840.1.113883.1.11.20448" },
            "purpose_of_use_details": { "code": "BEHANDLER", "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation" },
            "decision_ref": { "id": UUID, "user_selected": true }
        },
        "patients": [ { "point_of_care": { "id": "998877665", "system": "urn:oid:2.16.578.1.12.4.1.4.101" } } ]
    })
}

#[test]
fn multi_tenant_organisation_is_the_samples_detail_byte_for_byte() {
    let ctx = parse(json!({ "organization": { "parent": "912345678", "child": "998877665" } }))
        .unwrap()
        .unwrap();
    assert_eq!(
        to_ordered_json(&Value::Array(ctx.details(true))),
        r#"[{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"system":"urn:oid:1.0.6523","type":"ENH","value":"NO:ORGNR:912345678:998877665"}}}}]"#
    );
}

#[test]
fn multi_tenant_organisation_without_child_leaves_the_child_empty() {
    let ctx = parse(json!({ "organization": { "parent": "912345678" } }))
        .unwrap()
        .unwrap();
    assert_eq!(
        ctx.details(true)[0]["practitioner_role"]["organization"]["identifier"]["value"],
        "NO:ORGNR:912345678:"
    );
}

#[test]
fn single_tenant_organisation_is_the_child_in_the_enh_register() {
    let ctx = parse(json!({ "organization": { "child": "998877665" } }))
        .unwrap()
        .unwrap();
    assert_eq!(
        to_ordered_json(&ctx.details(true)[0]),
        r#"{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"system":"urn:oid:2.16.578.1.12.4.1.4.101","type":"ENH","value":"998877665"}}}}"#
    );
}

#[test]
fn journal_id_is_the_sfm_detail_byte_for_byte() {
    let ctx = parse(json!({ "journalId": UUID })).unwrap().unwrap();
    assert_eq!(
        to_ordered_json(&ctx.details(true)[0]),
        format!(r#"{{"type":"nhn:sfm:journal-id","value":{{"journal_id":"{UUID}"}}}}"#)
    );
}

#[test]
fn attest_is_the_samples_detail_byte_for_byte() {
    let ctx = Context::parse(&json!({ "trustFramework": attest() }), no_random)
        .unwrap()
        .unwrap();
    let expected = concat!(
        r#"{"type":"nhn:tillitsrammeverk:parameters","#,
        r#""practitioner":{"authorization":{"code":"LE","system":"urn:oid:2.16.578.1.12.4.1.1.9060"},"#,
        r#""legal_entity":{"id":"912345678","system":"urn:oid:2.16.578.1.12.4.1.4.101"},"#,
        r#""point_of_care":{"id":"998877665","system":"urn:oid:2.16.578.1.12.4.1.4.101"},"#,
        r#""department":{"id":"1234","system":"urn:oid:2.16.578.1.12.4.1.4.102"}},"#,
        r#""care_relationship":{"healthcare_service":{"code":"01","system":"urn:oid:2.16.578.1.12.4.1.1.8666"},"#,
        r#""purpose_of_use":{"code":"TREAT","system":"urn:oid:2.16.840.1.113883.1.11.20448"},"#,
        r#""purpose_of_use_details":{"code":"BEHANDLER","system":"urn:AuditEventHL7Norway/CodeSystem/carerelation"},"#,
        r#""decision_ref":{"id":"6f1c9e2a-4b7d-4c1e-9a3f-2d5b8c7e1f00","user_selected":true}},"#,
        r#""patients":[{"point_of_care":{"id":"998877665","system":"urn:oid:2.16.578.1.12.4.1.4.101"}}]}"#,
    );
    assert_eq!(to_ordered_json(&ctx.details(true)[0]), expected);
}

#[test]
fn all_three_go_out_as_one_array_in_order_and_the_attest_only_when_asked() {
    let ctx = parse(json!({
        "organization": { "parent": "912345678", "child": "998877665" },
        "journalId": UUID,
        "trustFramework": attest(),
    }))
    .unwrap()
    .unwrap();
    let types: Vec<_> = ctx
        .details(true)
        .iter()
        .map(|d| d["type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            json!("helseid_authorization"),
            json!("nhn:sfm:journal-id"),
            json!("nhn:tillitsrammeverk:parameters")
        ]
    );
    assert_eq!(ctx.details(false).len(), 2);
}

#[test]
fn a_missing_decision_ref_id_becomes_a_fresh_uuid_v4() {
    let mut a = attest();
    a["care_relationship"]
        .as_object_mut()
        .unwrap()
        .remove("decision_ref");
    let ctx = Context::parse(&json!({ "trustFramework": a }), || [0xab; 16])
        .unwrap()
        .unwrap();
    let id = ctx.to_json()["trustFramework"]["care_relationship"]["decision_ref"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id, "abababab-abab-4bab-abab-abababababab");
    assert!(is_uuid(&id));
}

#[test]
fn uuid_v4_sets_version_and_variant() {
    assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

#[test]
fn null_and_empty_contexts_are_no_context() {
    assert_eq!(parse(Value::Null).unwrap(), None);
    assert_eq!(parse(json!({})).unwrap(), None);
}

#[test]
fn every_malformed_field_is_context_invalid_naming_it() {
    let cases = [
        (json!("org"), "context"),
        (json!({ "organisation": {} }), "organisation"),
        (json!({ "organization": "912345678" }), "organization"),
        (json!({ "organization": {} }), "organization"),
        (
            json!({ "organization": { "parent": "91234567" } }),
            "organization.parent",
        ),
        (
            json!({ "organization": { "child": "9123456789" } }),
            "organization.child",
        ),
        (
            json!({ "organization": { "child": "99887766x" } }),
            "organization.child",
        ),
        (
            json!({ "organization": { "child": 998877665 } }),
            "organization.child",
        ),
        (
            json!({ "organization": { "parent": "912345678", "unit": "1" } }),
            "organization.unit",
        ),
        (json!({ "journalId": "not-a-uuid" }), "journalId"),
        (
            json!({ "journalId": "6f1c9e2a4b7d4c1e9a3f2d5b8c7e1f00" }),
            "journalId",
        ),
        (json!({ "trustFramework": [] }), "trustFramework"),
    ];
    for (value, field) in cases {
        assert_eq!(invalid_field(value.clone()), field, "{value}");
    }
}

#[test]
fn an_attest_without_what_helseid_needs_is_context_invalid_naming_the_field() {
    let without = |path: &[&str]| {
        let mut a = attest();
        let (last, parents) = path.split_last().unwrap();
        let mut node = &mut a;
        for p in parents {
            node = node.get_mut(*p).unwrap();
        }
        node.as_object_mut().unwrap().remove(*last);
        json!({ "trustFramework": a })
    };
    assert_eq!(
        invalid_field(without(&["practitioner", "legal_entity"])),
        "trustFramework.practitioner.legal_entity"
    );
    assert_eq!(
        invalid_field(without(&["practitioner", "point_of_care"])),
        "trustFramework.practitioner.point_of_care"
    );
    assert_eq!(
        invalid_field(without(&["care_relationship", "purpose_of_use"])),
        "trustFramework.care_relationship.purpose_of_use"
    );
    assert_eq!(
        invalid_field(without(&["practitioner"])),
        "trustFramework.practitioner"
    );
    let mut a = attest();
    a["care_relationship"]["purpose_of_use"]["code"] = json!("CURIOUS");
    assert_eq!(
        invalid_field(json!({ "trustFramework": a })),
        "trustFramework.care_relationship.purpose_of_use.code"
    );
    let mut a = attest();
    a["practitioner"]["legal_entity"]["id"] = json!("12");
    assert_eq!(
        invalid_field(json!({ "trustFramework": a })),
        "trustFramework.practitioner.legal_entity.id"
    );
    let mut a = attest();
    a["type"] = json!("something:else");
    assert_eq!(
        invalid_field(json!({ "trustFramework": a })),
        "trustFramework.type"
    );
}

/// `attest()` with `edit` applied, as a context.
fn attest_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut a = attest();
    edit(&mut a);
    json!({ "trustFramework": a })
}

#[test]
fn only_the_members_the_attest_defines_reach_the_signer() {
    let long_claim = format!("trustFramework.{}...", "y".repeat(64));
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            attest_with(|a| a["practitioner"]["nickname"] = json!("Doc")),
            "trustFramework.practitioner.nickname",
            "is not a member of the attest",
        ),
        (
            attest_with(|a| a["__proto__"] = json!({ "polluted": true })),
            "trustFramework.__proto__",
            "is not a member of the attest",
        ),
        (
            attest_with(|a| a["care_relationship"]["decision_ref"]["note"] = json!("x")),
            "trustFramework.care_relationship.decision_ref.note",
            "is not a member of the attest",
        ),
        (
            attest_with(|a| a["patients"][0]["pid"] = json!("13116900216")),
            "trustFramework.patients[0].pid",
            "is not a member of the attest",
        ),
        (
            attest_with(|a| a["practitioner"]["legal_entity"]["constructor"] = json!({})),
            "trustFramework.practitioner.legal_entity.constructor",
            "is not a member of the attest",
        ),
        (
            attest_with(|a| a["practitioner"]["legal_entity"]["name"] = json!("x".repeat(2 << 20))),
            "trustFramework.practitioner.legal_entity.name",
            "is longer than 256 characters",
        ),
        (
            attest_with(|a| a["care_relationship"]["purpose_of_use"]["system"] = json!(12)),
            "trustFramework.care_relationship.purpose_of_use.system",
            "must be a string",
        ),
        (
            attest_with(|a| a["care_relationship"]["decision_ref"]["user_selected"] = json!("yes")),
            "trustFramework.care_relationship.decision_ref.user_selected",
            "must be true or false",
        ),
        (
            attest_with(|a| a["practitioner"]["department"] = json!("1234")),
            "trustFramework.practitioner.department",
            "must be an object",
        ),
        (
            attest_with(|a| a["patients"] = json!({ "point_of_care": {} })),
            "trustFramework.patients",
            "must be an array of objects",
        ),
        (
            attest_with(|a| {
                a["patients"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("998877665"))
            }),
            "trustFramework.patients[1]",
            "must be an object",
        ),
        (
            attest_with(|a| a[format!("{}z", "y".repeat(100))] = json!(1)),
            &long_claim,
            "is not a member of the attest",
        ),
    ];
    for (value, claim, why) in cases {
        let e = parse(value).unwrap_err();
        assert_eq!(e.code, ErrorCode::ContextInvalid, "{claim}");
        assert_eq!(e.claim.as_deref(), Some(claim));
        assert_eq!(e.message, format!("context {claim}: {why}"));
    }
}

#[test]
fn an_attest_of_more_than_8_kib_is_context_invalid_and_256_characters_pass() {
    let name = "n".repeat(MAX_ATTEST_STRING_CHARS);
    let patient = json!({ "point_of_care": { "id": "998877665", "name": name } });
    let with = |n: usize| attest_with(|a| a["patients"] = Value::Array(vec![patient.clone(); n]));
    assert!(parse(with(20)).unwrap().is_some(), "about 6 KiB");
    let e = parse(with(40)).unwrap_err();
    assert_eq!(
        (e.code, e.claim.as_deref(), e.message.as_str()),
        (
            ErrorCode::ContextInvalid,
            Some("trustFramework"),
            "context trustFramework: is longer than 8 KiB as JSON"
        )
    );
}

#[test]
fn every_defined_member_passes_and_a_null_decision_id_is_made_here() {
    let a = attest_with(|a| {
        a["practitioner"]["legal_entity"]["name"] = json!("Lege Leif Lagesen ENK");
        a["practitioner"]["legal_entity"]["authority"] = json!("https://www.brreg.no");
        a["practitioner"]["authorization"]["text"] = json!("Lege");
        a["practitioner"]["authorization"]["assigner"] = json!("https://www.helsedirektoratet.no/");
        a["patients"][0]["department"] =
            json!({ "id": "705592", "system": "urn:oid:2.16.578.1.12.4.1.4.102" });
        a["care_relationship"]["decision_ref"]["id"] = Value::Null;
    });
    let ctx = Context::parse(&a, || [1; 16]).unwrap().unwrap();
    assert_eq!(
        ctx.to_json()["trustFramework"]["care_relationship"]["decision_ref"]["id"],
        uuid_v4([1; 16])
    );
}

#[test]
fn every_purpose_of_use_code_is_accepted() {
    for code in PURPOSES_OF_USE {
        let mut a = attest();
        a["care_relationship"]["purpose_of_use"]["code"] = json!(code);
        assert!(
            parse(json!({ "trustFramework": a })).unwrap().is_some(),
            "{code}"
        );
    }
}

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn token_claims_must_match_the_organisation_and_journal() {
    let ctx = parse(json!({
        "organization": { "parent": "912345678", "child": "998877665" },
        "journalId": UUID,
    }))
    .unwrap()
    .unwrap();
    let good = json!({
        ORGNR_PARENT: "912345678", ORGNR_CHILD: "998877665",
        JOURNAL_ID: { "journal_id": UUID.to_uppercase() },
    });
    assert!(ctx.check_claims(&claims(good.clone()), false).is_ok());
    for (name, bad) in [
        (ORGNR_PARENT, json!("111111111")),
        (ORGNR_CHILD, json!("222222222")),
        (JOURNAL_ID, json!("00000000-0000-4000-8000-000000000000")),
    ] {
        let mut c = claims(good.clone());
        c.insert(name.into(), bad);
        let e = ctx.check_claims(&c, false).unwrap_err();
        assert_eq!(
            (e.code, e.claim.as_deref()),
            (ErrorCode::ClaimInvalid, Some(name))
        );
        c.remove(name);
        let e = ctx.check_claims(&c, false).unwrap_err();
        assert_eq!(e.claim.as_deref(), Some(name), "missing {name}");
    }
}

#[test]
fn the_attest_claim_is_required_only_for_apis_that_need_it() {
    let ctx = parse(json!({ "trustFramework": attest() }))
        .unwrap()
        .unwrap();
    let e = ctx.check_claims(&Map::new(), true).unwrap_err();
    assert_eq!(e.claim.as_deref(), Some(TRUST_FRAMEWORK));
    assert!(ctx.check_claims(&Map::new(), false).is_ok());
    let with = claims(json!({ TRUST_FRAMEWORK: { "practitioner": {} } }));
    assert!(ctx.check_claims(&with, true).is_ok());
}

#[test]
fn to_json_is_the_api_shape_with_the_generated_decision_id() {
    let ctx = parse(
        json!({ "organization": { "child": "998877665" }, "journalId": UUID.to_uppercase() }),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        ctx.to_json(),
        json!({ "organization": { "child": "998877665" }, "journalId": UUID })
    );
    let back = parse(ctx.to_json()).unwrap().unwrap();
    assert_eq!(back, ctx);
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any string that is not exactly 9 ASCII digits is refused as an org number, and any
        /// 9 digits are accepted.
        #[test]
        fn org_numbers_are_exactly_nine_digits(text in "\\PC{0,12}") {
            let result = parse(json!({ "organization": { "child": text.clone() } }));
            let nine_digits = text.len() == 9 && text.bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(result.is_ok(), nine_digits);
            if let Err(e) = result {
                prop_assert_eq!(e.code, ErrorCode::ContextInvalid);
                prop_assert_eq!(e.claim.as_deref(), Some("organization.child"));
            }
        }

        /// Journal ids are accepted exactly when they are 8-4-4-4-12 hex digits.
        #[test]
        fn journal_ids_are_uuids(text in "[0-9a-fA-F-]{30,40}|\\PC{0,40}") {
            let result = parse(json!({ "journalId": text.clone() }));
            prop_assert_eq!(result.is_ok(), is_uuid(&text));
        }

        /// Whatever JSON comes in, parsing either gives a context or context_invalid with a
        /// field, and never panics; a parsed context survives its own API form.
        #[test]
        fn any_json_gives_a_context_or_context_invalid(value in arb_json()) {
            match parse(value) {
                Ok(Some(ctx)) => prop_assert_eq!(parse(ctx.to_json()).unwrap(), Some(ctx)),
                Ok(None) => {}
                Err(e) => {
                    prop_assert_eq!(e.code, ErrorCode::ContextInvalid);
                    prop_assert!(e.claim.is_some());
                }
            }
        }

        /// Random v4 UUIDs are UUIDs.
        #[test]
        fn generated_uuids_are_uuids(bytes in any::<[u8; 16]>()) {
            prop_assert!(is_uuid(&uuid_v4(bytes)));
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            "[0-9]{9}".prop_map(Value::from),
            Just(json!(UUID)),
            Just(json!("TREAT")),
            "\\PC{0,10}".prop_map(Value::from),
        ];
        let keys = prop_oneof![
            Just("organization".to_string()),
            Just("parent".to_string()),
            Just("child".to_string()),
            Just("journalId".to_string()),
            Just("trustFramework".to_string()),
            Just("practitioner".to_string()),
            Just("legal_entity".to_string()),
            Just("point_of_care".to_string()),
            Just("care_relationship".to_string()),
            Just("purpose_of_use".to_string()),
            Just("code".to_string()),
            Just("id".to_string()),
            Just("decision_ref".to_string()),
            "[a-z]{1,5}",
        ];
        leaf.prop_recursive(4, 40, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map(keys.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
