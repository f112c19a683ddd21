//! The one table of JWS algorithms this library signs and verifies with WebCrypto (RFC 7518
//! §3.1): RSASSA-PKCS1-v1_5, RSASSA-PSS and ECDSA with SHA-2. `none` and HMAC are not in it
//! (RFC 8725 §3.1), so nothing here can accept them.

/// The key family an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// RSASSA-PKCS1-v1_5 (RFC 7518 §3.3).
    Rsa,
    /// RSASSA-PSS (RFC 7518 §3.5); WebCrypto's salt length is the hash size.
    RsaPss,
    /// ECDSA (RFC 7518 §3.4) on `curve`.
    Ec { curve: &'static str },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alg {
    pub name: &'static str,
    pub family: Family,
    /// SHA-2 output size in bits (256, 384, 512).
    pub hash_bits: u16,
}

impl Alg {
    /// WebCrypto's name of the hash (`SHA-256`, ...).
    pub fn hash_name(&self) -> &'static str {
        match self.hash_bits {
            384 => "SHA-384",
            512 => "SHA-512",
            _ => "SHA-256",
        }
    }

    /// WebCrypto's algorithm name for the key family.
    pub fn webcrypto_name(&self) -> &'static str {
        match self.family {
            Family::Rsa => "RSASSA-PKCS1-v1_5",
            Family::RsaPss => "RSA-PSS",
            Family::Ec { .. } => "ECDSA",
        }
    }

    /// The JWK `kty` of keys for this algorithm.
    pub fn kty(&self) -> &'static str {
        match self.family {
            Family::Ec { .. } => "EC",
            _ => "RSA",
        }
    }
}

const fn alg(name: &'static str, family: Family, hash_bits: u16) -> Alg {
    Alg {
        name,
        family,
        hash_bits,
    }
}

/// Every algorithm HelseID accepts for client assertions and DPoP proofs, and that it may sign
/// tokens with (README "What HelseID requires": RS/PS/ES 256/384/512).
pub const ALGORITHMS: [Alg; 9] = [
    alg("RS256", Family::Rsa, 256),
    alg("RS384", Family::Rsa, 384),
    alg("RS512", Family::Rsa, 512),
    alg("PS256", Family::RsaPss, 256),
    alg("PS384", Family::RsaPss, 384),
    alg("PS512", Family::RsaPss, 512),
    alg("ES256", Family::Ec { curve: "P-256" }, 256),
    alg("ES384", Family::Ec { curve: "P-384" }, 384),
    alg("ES512", Family::Ec { curve: "P-521" }, 512),
];

/// Token algorithms accepted when the caller names none (API.md `verifyJwt`).
pub const DEFAULT_VERIFY: [&str; 3] = ["RS256", "PS256", "ES256"];

/// DPoP proofs are signed with a P-256 key made by WebCrypto (RFC 9449 §2).
pub const DPOP: &str = "ES256";

/// The table entry for `name` (exact, case-sensitive: RFC 7515 §4.1.1).
pub fn find(name: &str) -> Option<&'static Alg> {
    ALGORITHMS.iter().find(|a| a.name == name)
}

/// The default assertion algorithm for a private JWK (RFC 7518 §6): its `alg`, else by key type.
pub fn for_key(
    jwk_alg: Option<&str>,
    kty: Option<&str>,
    crv: Option<&str>,
) -> Option<&'static str> {
    if let Some(alg) = jwk_alg {
        return find(alg).map(|a| a.name);
    }
    ALGORITHMS.iter().find_map(|a| match (a.family, kty, crv) {
        (Family::Rsa, Some("RSA"), _) => Some(a.name),
        (Family::Ec { curve }, Some("EC"), Some(crv)) if curve == crv => Some(a.name),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_has_its_hash_and_family() {
        let names: Vec<_> = ALGORITHMS
            .iter()
            .map(|a| (a.name, a.hash_name(), a.webcrypto_name()))
            .collect();
        assert_eq!(names[0], ("RS256", "SHA-256", "RSASSA-PKCS1-v1_5"));
        assert_eq!(names[4], ("PS384", "SHA-384", "RSA-PSS"));
        assert_eq!(names[8], ("ES512", "SHA-512", "ECDSA"));
        assert_eq!(find("ES512").unwrap().family, Family::Ec { curve: "P-521" });
    }

    #[test]
    fn none_hmac_and_other_cases_are_not_in_the_table() {
        for name in ["none", "HS256", "rs256", "EdDSA", ""] {
            assert!(find(name).is_none(), "{name}");
        }
    }

    #[test]
    fn default_assertion_alg_comes_from_the_key() {
        assert_eq!(for_key(None, Some("RSA"), None), Some("RS256"));
        assert_eq!(for_key(None, Some("EC"), Some("P-256")), Some("ES256"));
        assert_eq!(for_key(None, Some("EC"), Some("P-521")), Some("ES512"));
        assert_eq!(for_key(Some("PS256"), Some("RSA"), None), Some("PS256"));
        assert_eq!(for_key(Some("HS256"), Some("oct"), None), None);
        assert_eq!(for_key(None, Some("oct"), None), None);
    }
}
