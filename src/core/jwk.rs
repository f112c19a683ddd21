//! JSON Web Keys (RFC 7517): the issuer's key set, choosing the key that verifies a token,
//! and JWK thumbprints (RFC 7638) for DPoP `cnf.jkt` (RFC 9449 §6.1).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::alg::Family;
use super::base64url;
use super::error::{Error, ErrorCode, Result};

/// Where a token to verify came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// The token endpoint's answer to our own request, over TLS from the issuer.
    Issuer,
    /// Another page of the origin (a tab's view): any script of the origin can send one.
    Page,
}

/// Whether a token whose key the cached JWKS lacks (`unknown_key`) makes the JWKS be fetched
/// again (key rotation, OIDC Core 10.1.1; `last_fetch`: when it was last fetched, epoch
/// seconds). For the issuer's own answer, always (once per token). For a token another page
/// sent, at most once per [`JWKS_REFETCH_COOLDOWN_SECONDS`]: a page that posts tokens naming
/// made-up keys must not make every tab fetch the issuer's JWKS (jose's `cooldownDuration` is
/// the same guard). A follower that misses a rotation that way takes the holder's next view.
///
/// [`JWKS_REFETCH_COOLDOWN_SECONDS`]: crate::core::limits::JWKS_REFETCH_COOLDOWN_SECONDS
pub fn refetch_jwks(error: &Error, source: TokenSource, last_fetch: Option<i64>, now: i64) -> bool {
    use crate::core::limits::JWKS_REFETCH_COOLDOWN_SECONDS;
    error.code == ErrorCode::UnknownKey
        && match source {
            TokenSource::Issuer => true,
            TokenSource::Page => {
                last_fetch.is_none_or(|at| now - at >= JWKS_REFETCH_COOLDOWN_SECONDS)
            }
        }
}

/// A public JWK: the members this library reads (RFC 7517 §4, RFC 7518 §6). Other members,
/// private key material included, are dropped when parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    pub kid: Option<String>,
    pub alg: Option<String>,
    /// `use` (RFC 7517 §4.2).
    pub key_use: Option<String>,
    pub key_ops: Option<Vec<String>>,
    pub crv: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
    pub n: Option<String>,
    pub e: Option<String>,
}

/// A JWK Set (RFC 7517 §5). Keys this library cannot use (another `kty`, or not a JWK at all)
/// are skipped rather than failing the set (RFC 7517 §5: "ignore JWKs ... not understood").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// Reads the members this library uses from a JSON object; `None` when `kty` is missing or
    /// a member has the wrong type. (By hand: a second serde path costs wasm bytes.)
    pub fn from_json(value: &Value) -> Option<Jwk> {
        let object = value.as_object()?;
        let text = |name: &str| -> std::result::Result<Option<String>, ()> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(()),
            }
        };
        let key_ops = match object.get("key_ops") {
            None | Some(Value::Null) => None,
            Some(Value::Array(ops)) => Some(
                ops.iter()
                    .map(|op| op.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()?,
            ),
            Some(_) => return None,
        };
        Some(Jwk {
            kty: text("kty").ok()??,
            kid: text("kid").ok()?,
            alg: text("alg").ok()?,
            key_use: text("use").ok()?,
            key_ops,
            crv: text("crv").ok()?,
            x: text("x").ok()?,
            y: text("y").ok()?,
            n: text("n").ok()?,
            e: text("e").ok()?,
        })
    }
}

impl Jwks {
    /// Parses a JWKS document; a body that is not a key set is `discovery_failed` (API.md).
    pub fn parse(json: &str) -> Result<Jwks> {
        let value: Value = serde_json::from_str(json)
            .map_err(|_| Error::new(ErrorCode::DiscoveryFailed, "the JWKS is not a JWK Set"))?;
        Jwks::from_json(&value)
            .ok_or_else(|| Error::new(ErrorCode::DiscoveryFailed, "the JWKS is not a JWK Set"))
    }

    /// A JWK Set value. Keys this library cannot use (another `kty`, or not a JWK at all) are
    /// skipped rather than failing the set (RFC 7517 §5: "ignore JWKs ... not understood").
    pub fn from_json(value: &Value) -> Option<Jwks> {
        let keys = value.get("keys")?.as_array()?;
        Some(Jwks {
            keys: keys
                .iter()
                .filter_map(Jwk::from_json)
                .filter(|key| matches!(key.kty.as_str(), "RSA" | "EC"))
                .collect(),
        })
    }
}

impl Jwk {
    /// The members this library reads, as a JWK (for WebCrypto's `importKey`).
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("kty".into(), Value::from(self.kty.as_str()));
        for (name, value) in [
            ("kid", &self.kid),
            ("alg", &self.alg),
            ("use", &self.key_use),
            ("crv", &self.crv),
            ("x", &self.x),
            ("y", &self.y),
            ("n", &self.n),
            ("e", &self.e),
        ] {
            if let Some(v) = value {
                out.insert(name.into(), Value::from(v.as_str()));
            }
        }
        if let Some(ops) = &self.key_ops {
            out.insert("key_ops".into(), Value::from(ops.clone()));
        }
        Value::Object(out)
    }

    /// Whether this key can verify a JWS with `alg` (RFC 7518 §3.1, RFC 7517 §4.2-4.4).
    pub fn fits(&self, alg: &str) -> bool {
        let signing = self.key_use.as_deref().is_none_or(|u| u == "sig")
            && self
                .key_ops
                .as_ref()
                .is_none_or(|ops| ops.iter().any(|op| op == "verify"));
        let same_alg = self.alg.as_deref().is_none_or(|a| a == alg);
        let family = match super::alg::find(alg).map(|a| a.family) {
            Some(Family::Rsa | Family::RsaPss) => {
                self.kty == "RSA" && self.n.is_some() && self.e.is_some()
            }
            Some(Family::Ec { curve }) => self.is_ec(curve),
            None => false,
        };
        signing && same_alg && family
    }

    fn is_ec(&self, curve: &str) -> bool {
        self.kty == "EC"
            && self.crv.as_deref() == Some(curve)
            && self.x.is_some()
            && self.y.is_some()
    }
}

/// Chooses the key that verifies a token with header `kid` and `alg` (RFC 7515 §4.1.4).
/// Without a `kid` the choice must be unambiguous. `unknown_key` tells the shell to fetch the
/// JWKS once more (key rotation) and call again.
pub fn select_key<'a>(jwks: &'a Jwks, kid: Option<&str>, alg: &str) -> Result<&'a Jwk> {
    let mut candidates = jwks.keys.iter().filter(|key| key.fits(alg));
    match kid {
        Some(kid) => candidates
            .find(|key| key.kid.as_deref() == Some(kid))
            .ok_or_else(|| Error::new(ErrorCode::UnknownKey, "no JWKS key has the token's kid")),
        None => match (candidates.next(), candidates.next()) {
            (Some(only), None) => Ok(only),
            (None, _) => Err(Error::new(
                ErrorCode::UnknownKey,
                "no JWKS key fits the token's alg",
            )),
            (Some(_), Some(_)) => Err(Error::new(
                ErrorCode::UnknownKey,
                "the token has no kid and several JWKS keys fit",
            )),
        },
    }
}

/// RFC 7638 §3: the required members in lexicographic order, no whitespace (§3.2-3.3).
pub fn thumbprint_input(jwk: &Jwk) -> Result<String> {
    let member = |value: &Option<String>, name: &str| {
        value
            .as_deref()
            .map(json_string)
            .ok_or_else(|| Error::config(format!("the JWK lacks the required member {name}")))
    };
    match jwk.kty.as_str() {
        "RSA" => Ok(format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member(&jwk.e, "e")?,
            member(&jwk.n, "n")?
        )),
        "EC" => Ok(format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member(&jwk.crv, "crv")?,
            member(&jwk.x, "x")?,
            member(&jwk.y, "y")?
        )),
        // RFC 8037 §2.
        "OKP" => Ok(format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            member(&jwk.crv, "crv")?,
            member(&jwk.x, "x")?
        )),
        _ => Err(Error::config("the JWK kty has no thumbprint here")),
    }
}

/// The same public key: the members RFC 7638 §3.2 requires for the thumbprint are equal
/// (`kid`, `alg`, `use` and `key_ops` do not make another key).
pub fn same_public_key(a: &Jwk, b: &Jwk) -> bool {
    a.kty == b.kty && a.crv == b.crv && a.x == b.x && a.y == b.y && a.n == b.n && a.e == b.e
}

/// Imported verification keys (the shell's WebCrypto `CryptoKey`s), found by the algorithm they
/// were imported for and the public key material ([`same_public_key`]): importing costs more
/// than a verification. `kid`, `use`, `alg` and `key_ops` are not part of the entry: they decide
/// which key of a JWKS verifies a token ([`select_key`], on every call, before the cache), not
/// what the imported key verifies. So a different key under the same `kid` never finds another
/// key's import, and the same key under a new `kid` is not imported twice.
pub struct KeyCache<T> {
    /// Oldest first.
    entries: Vec<(String, Jwk, T)>,
}

impl<T> Default for KeyCache<T> {
    fn default() -> Self {
        KeyCache::new()
    }
}

impl<T> KeyCache<T> {
    /// At most this many keys are kept, the oldest dropped first (a JWKS holds a few keys;
    /// a rotation adds one at a time).
    pub const MAX: usize = 16;

    pub const fn new() -> KeyCache<T> {
        KeyCache {
            entries: Vec::new(),
        }
    }

    /// The key imported for `alg` from `jwk`'s public key material, if any.
    pub fn get(&self, jwk: &Jwk, alg: &str) -> Option<&T> {
        self.entries
            .iter()
            .find(|(a, k, _)| a == alg && same_public_key(k, jwk))
            .map(|(_, _, imported)| imported)
    }

    /// Keeps `imported` (the key made from `jwk` for `alg`), dropping the oldest entry when
    /// full. (Two calls that import the same key at once may both keep it: harmless.)
    pub fn insert(&mut self, jwk: &Jwk, alg: &str, imported: T) {
        if self.entries.len() >= Self::MAX {
            self.entries.remove(0);
        }
        self.entries.push((alg.to_owned(), jwk.clone(), imported));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// RFC 7638 §3: base64url(SHA-256(thumbprint input)).
pub fn thumbprint(jwk: &Jwk) -> Result<String> {
    let input = thumbprint_input(jwk)?;
    Ok(base64url::encode(&Sha256::digest(input.as_bytes())))
}

/// A JSON string literal (RFC 7638 §3.3: the members' values as JSON strings).
fn json_string(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7638 §3.1.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    fn jwk(value: Value) -> Jwk {
        Jwk::from_json(&value).unwrap()
    }

    fn rsa(kid: Option<&str>) -> Value {
        let mut key = json!({ "kty": "RSA", "n": RFC7638_N, "e": "AQAB" });
        if let Some(kid) = kid {
            key["kid"] = json!(kid);
        }
        key
    }

    fn ec(kid: &str, crv: &str) -> Value {
        json!({ "kty": "EC", "kid": kid, "crv": crv, "x": "xx", "y": "yy" })
    }

    fn set(keys: Vec<Value>) -> Jwks {
        Jwks::from_json(&json!({ "keys": keys })).unwrap()
    }

    fn assert_unknown_key(result: Result<&Jwk>) {
        assert_eq!(result.unwrap_err().code, ErrorCode::UnknownKey);
    }

    #[test]
    fn rfc7638_rsa_example_thumbprint() {
        let key = jwk(json!({
            "kty": "RSA",
            "n": RFC7638_N,
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        assert_eq!(
            thumbprint_input(&key).unwrap(),
            format!(r#"{{"e":"AQAB","kty":"RSA","n":"{RFC7638_N}"}}"#)
        );
        assert_eq!(
            thumbprint(&key).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// The P-256 key of RFC 7517 appendix A.1; digest computed independently (Python hashlib).
    #[test]
    fn ec_thumbprint_input_is_crv_kty_x_y_without_whitespace() {
        let key = jwk(json!({
            "kty": "EC",
            "crv": "P-256",
            "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
            "y": "4Etl6SRW2YilurMyS7s8I-s1ttcM1iDYR5h64qxl6eE",
            "use": "enc",
            "kid": "1"
        }));
        assert_eq!(
            thumbprint_input(&key).unwrap(),
            r#"{"crv":"P-256","kty":"EC","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YilurMyS7s8I-s1ttcM1iDYR5h64qxl6eE"}"#
        );
        assert_eq!(
            thumbprint(&key).unwrap(),
            "7ligrKn8nJJ88vxlTtbeFRyhOD1Ny23Q5UaCumBYreA"
        );
    }

    #[test]
    fn okp_thumbprint_input_is_crv_kty_x() {
        // RFC 8037 appendix A.3.
        let key = jwk(json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }));
        assert_eq!(
            thumbprint_input(&key).unwrap(),
            r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
        );
        assert_eq!(
            thumbprint(&key).unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn same_public_key_ignores_kid_alg_and_use_but_not_key_material() {
        let plain = jwk(rsa(None));
        let mut labelled = rsa(Some("k2"));
        labelled["alg"] = json!("RS256");
        labelled["use"] = json!("sig");
        assert!(same_public_key(&plain, &jwk(labelled)));
        let mut other_e = rsa(None);
        other_e["e"] = json!("AQAC");
        assert!(!same_public_key(&plain, &jwk(other_e)));
        assert!(same_public_key(
            &jwk(ec("a", "P-256")),
            &jwk(ec("b", "P-256"))
        ));
        assert!(!same_public_key(
            &jwk(ec("a", "P-256")),
            &jwk(ec("a", "P-384"))
        ));
        let mut other_y = ec("a", "P-256");
        other_y["y"] = json!("yz");
        assert!(!same_public_key(&jwk(ec("a", "P-256")), &jwk(other_y)));
    }

    #[test]
    fn key_cache_finds_a_key_by_alg_and_material_never_by_kid() {
        let mut cache = KeyCache::new();
        let a = jwk(rsa(Some("k1")));
        cache.insert(&a, "RS256", 1);
        assert_eq!(cache.get(&a, "RS256"), Some(&1));
        // Another key under the same kid: no hit.
        let mut other = rsa(Some("k1"));
        other["n"] = json!(format!("{RFC7638_N}A"));
        assert_eq!(cache.get(&jwk(other.clone()), "RS256"), None);
        other["n"] = json!(RFC7638_N);
        other["e"] = json!("AQAC");
        assert_eq!(cache.get(&jwk(other), "RS256"), None);
        // The same material for another alg is another import (PS256 keys are RSA-PSS keys).
        assert_eq!(cache.get(&a, "PS256"), None);
        // The same material under another kid, or with alg/use/key_ops, is the same key.
        let mut labelled = rsa(Some("k2"));
        labelled["use"] = json!("sig");
        labelled["alg"] = json!("RS256");
        labelled["key_ops"] = json!(["verify"]);
        assert_eq!(cache.get(&jwk(labelled), "RS256"), Some(&1));
        // EC: each of crv, x and y counts.
        let p256 = jwk(ec("e", "P-256"));
        cache.insert(&p256, "ES256", 2);
        assert_eq!(cache.get(&p256, "ES256"), Some(&2));
        for (member, value) in [("crv", "P-384"), ("x", "xy"), ("y", "yx")] {
            let mut changed = ec("e", "P-256");
            changed[member] = json!(value);
            assert_eq!(cache.get(&jwk(changed), "ES256"), None, "{member}");
        }
        assert_eq!(cache.get(&jwk(ec("e", "P-256")), "RS256"), None);
    }

    #[test]
    fn key_cache_is_bounded_and_drops_the_oldest_first() {
        let mut cache = KeyCache::new();
        let key =
            |i: usize| jwk(json!({ "kty": "EC", "crv": "P-256", "x": format!("x{i}"), "y": "y" }));
        for i in 0..KeyCache::<usize>::MAX {
            cache.insert(&key(i), "ES256", i);
        }
        assert_eq!(cache.len(), KeyCache::<usize>::MAX);
        // One more: the oldest (key 0) goes, the rest stay.
        cache.insert(&key(99), "ES256", 99);
        assert_eq!(cache.len(), KeyCache::<usize>::MAX);
        assert_eq!(cache.get(&key(0), "ES256"), None);
        for i in 1..KeyCache::<usize>::MAX {
            assert_eq!(cache.get(&key(i), "ES256"), Some(&i));
        }
        assert_eq!(cache.get(&key(99), "ES256"), Some(&99));
    }

    #[test]
    fn thumbprint_of_key_missing_a_required_member_fails() {
        let key = jwk(json!({ "kty": "EC", "crv": "P-256", "x": "xx" }));
        assert_eq!(thumbprint(&key).unwrap_err().code, ErrorCode::ConfigInvalid);
        let key = jwk(json!({ "kty": "oct" }));
        assert_eq!(thumbprint(&key).unwrap_err().code, ErrorCode::ConfigInvalid);
    }

    #[test]
    fn jwks_skips_unknown_kty_and_malformed_keys_and_ignores_unknown_members() {
        let jwks = set(vec![
            json!({ "kty": "oct", "k": "c2VjcmV0" }),
            json!({ "kty": "OKP", "crv": "Ed25519", "x": "xx" }),
            json!("not a key"),
            json!({ "no": "kty" }),
            json!({ "kty": "RSA", "kid": "r", "n": "nn", "e": "AQAB", "x5t": "t", "d": "private" }),
            ec("e", "P-256"),
        ]);
        let kids: Vec<_> = jwks.keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, [Some("r"), Some("e")]);
        let serialized = jwks.keys[0].to_json();
        assert_eq!(
            serialized,
            json!({ "kty": "RSA", "kid": "r", "n": "nn", "e": "AQAB" }),
            "private and unknown members are dropped"
        );
    }

    #[test]
    fn jwks_tolerates_unknown_top_level_members() {
        let jwks = Jwks::parse(r#"{"keys":[{"kty":"RSA","n":"n","e":"e"}],"extra":1}"#).unwrap();
        assert_eq!(jwks.keys.len(), 1);
    }

    #[test]
    fn jwks_that_is_not_a_key_set_is_discovery_failed() {
        for body in ["not json", "{}", r#"{"keys":{}}"#, "[]"] {
            let err = Jwks::parse(body).unwrap_err();
            assert_eq!(err.code, ErrorCode::DiscoveryFailed, "{body}");
        }
    }

    #[test]
    fn use_serializes_as_use() {
        let key =
            jwk(json!({ "kty": "RSA", "n": "n", "e": "e", "use": "sig", "key_ops": ["verify"] }));
        assert_eq!(key.key_use.as_deref(), Some("sig"));
        let back = key.to_json();
        assert_eq!(back["use"], "sig");
        assert_eq!(back["key_ops"], json!(["verify"]));
    }

    #[test]
    fn selects_the_key_with_the_token_kid() {
        let jwks = set(vec![rsa(Some("a")), rsa(Some("b"))]);
        let key = select_key(&jwks, Some("b"), "RS256").unwrap();
        assert_eq!(key.kid.as_deref(), Some("b"));
    }

    #[test]
    fn kid_not_in_the_set_is_unknown_key() {
        let jwks = set(vec![rsa(Some("a"))]);
        assert_unknown_key(select_key(&jwks, Some("rotated"), "RS256"));
    }

    #[test]
    fn token_kid_does_not_match_a_key_without_kid() {
        let jwks = set(vec![rsa(None)]);
        assert_unknown_key(select_key(&jwks, Some("a"), "RS256"));
    }

    #[test]
    fn without_kid_the_single_fitting_key_is_chosen() {
        let jwks = set(vec![rsa(None), ec("e", "P-256")]);
        let key = select_key(&jwks, None, "ES256").unwrap();
        assert_eq!(key.kid.as_deref(), Some("e"));
        let key = select_key(&jwks, None, "PS256").unwrap();
        assert_eq!(key.kty, "RSA");
    }

    #[test]
    fn without_kid_several_fitting_keys_are_unknown_key() {
        let jwks = set(vec![rsa(Some("a")), rsa(Some("b"))]);
        assert_unknown_key(select_key(&jwks, None, "RS256"));
    }

    #[test]
    fn without_kid_and_no_fitting_key_is_unknown_key() {
        let jwks = set(vec![ec("e", "P-256")]);
        assert_unknown_key(select_key(&jwks, None, "RS256"));
        assert_unknown_key(select_key(&Jwks::default(), None, "RS256"));
    }

    #[test]
    fn rsa_key_does_not_fit_an_ec_alg_and_back() {
        let jwks = set(vec![rsa(Some("k")), ec("k2", "P-256")]);
        assert_unknown_key(select_key(&jwks, Some("k"), "ES256"));
        assert_unknown_key(select_key(&jwks, Some("k2"), "RS256"));
    }

    #[test]
    fn ec_curve_must_match_the_alg() {
        let jwks = set(vec![
            ec("p256", "P-256"),
            ec("p384", "P-384"),
            ec("p521", "P-521"),
        ]);
        select_key(&jwks, Some("p256"), "ES256").unwrap();
        select_key(&jwks, Some("p384"), "ES384").unwrap();
        select_key(&jwks, Some("p521"), "ES512").unwrap();
        assert_unknown_key(select_key(&jwks, Some("p256"), "ES384"));
        assert_unknown_key(select_key(&jwks, Some("p384"), "ES512"));
        assert_unknown_key(select_key(&jwks, Some("p521"), "ES256"));
    }

    #[test]
    fn key_for_encryption_is_not_used_to_verify() {
        let mut key = rsa(Some("a"));
        key["use"] = json!("enc");
        assert_unknown_key(select_key(&set(vec![key]), Some("a"), "RS256"));
    }

    #[test]
    fn key_with_sig_use_is_used() {
        let mut key = rsa(Some("a"));
        key["use"] = json!("sig");
        select_key(&set(vec![key]), Some("a"), "RS256").unwrap();
    }

    #[test]
    fn key_whose_key_ops_lack_verify_is_not_used() {
        let mut key = rsa(Some("a"));
        key["key_ops"] = json!(["encrypt"]);
        assert_unknown_key(select_key(&set(vec![key.clone()]), Some("a"), "RS256"));
        key["key_ops"] = json!(["verify"]);
        select_key(&set(vec![key]), Some("a"), "RS256").unwrap();
    }

    #[test]
    fn key_alg_must_equal_the_token_alg_when_present() {
        let mut key = rsa(Some("a"));
        key["alg"] = json!("RS256");
        let jwks = set(vec![key]);
        select_key(&jwks, Some("a"), "RS256").unwrap();
        assert_unknown_key(select_key(&jwks, Some("a"), "PS256"));
    }

    #[test]
    fn rsa_key_without_modulus_is_not_used() {
        let jwks = set(vec![json!({ "kty": "RSA", "kid": "a", "e": "AQAB" })]);
        assert_unknown_key(select_key(&jwks, Some("a"), "RS256"));
    }

    #[test]
    fn unsupported_alg_fits_no_key() {
        let jwks = set(vec![rsa(Some("a"))]);
        assert_unknown_key(select_key(&jwks, Some("a"), "HS256"));
        assert_unknown_key(select_key(&jwks, Some("a"), "none"));
    }

    #[test]
    fn an_unknown_key_refetches_the_jwks_for_the_issuer_always_and_for_a_page_once_per_cooldown() {
        let unknown = Error::new(ErrorCode::UnknownKey, "no key");
        let bad = Error::new(ErrorCode::SignatureInvalid, "bad");
        let t = 1_700_000_000;
        assert!(refetch_jwks(&unknown, TokenSource::Issuer, Some(t), t));
        assert!(
            !refetch_jwks(&bad, TokenSource::Issuer, None, t),
            "only an unknown key"
        );
        assert!(
            refetch_jwks(&unknown, TokenSource::Page, None, t),
            "never fetched"
        );
        assert!(!refetch_jwks(&unknown, TokenSource::Page, Some(t), t + 29));
        assert!(refetch_jwks(&unknown, TokenSource::Page, Some(t), t + 30));
        assert!(!refetch_jwks(&bad, TokenSource::Page, None, t));
    }
}
