//! Building compact JWS (RFC 7515 §7.1) whose signature the shell makes with WebCrypto.
//! WebCrypto's ECDSA output (r || s) is already the JWS form (RFC 7518 §3.4).

use serde_json::Value;

use super::base64url;

/// `BASE64URL(header) || '.' || BASE64URL(claims)`: the bytes to sign.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    signing_input_text(header, &claims.to_string())
}

/// The same, for claims already written as JSON text.
pub fn signing_input_text(header: &Value, claims: &str) -> String {
    format!(
        "{}.{}",
        base64url::encode(header.to_string().as_bytes()),
        base64url::encode(claims.as_bytes())
    )
}

/// The compact serialization once the signature is made.
pub fn compact(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", base64url::encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signing_input_is_two_base64url_json_parts() {
        let input = signing_input(&json!({"alg":"ES256"}), &json!({"a":1}));
        assert_eq!(input, "eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ");
        assert_eq!(
            compact(&input, &[1, 2, 3]),
            "eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.AQID"
        );
    }
}
