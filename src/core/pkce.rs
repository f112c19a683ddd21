//! PKCE (RFC 7636) with S256 only; `plain` is never offered.

use sha2::{Digest, Sha256};

use super::base64url;

/// RFC 7636 §4.1: 32 random octets, base64url, give a 43-character `code_verifier`.
pub fn code_verifier(random: &[u8; 32]) -> String {
    base64url::encode(random)
}

/// RFC 7636 §4.2: `code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn code_challenge_s256(code_verifier: &str) -> String {
    base64url::encode(&Sha256::digest(code_verifier.as_bytes()))
}

/// A random value for `state`, `nonce` or `jti`: 32 octets, base64url (256 bits of entropy).
pub fn random_token(random: &[u8; 32]) -> String {
    base64url::encode(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn s256_challenge_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            code_challenge_s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_from_32_octets_is_43_unreserved_characters() {
        let v = code_verifier(&[0xff; 32]);
        assert_eq!(v.len(), 43);
        assert!(v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
