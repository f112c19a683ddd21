//! base64url without padding (RFC 7515 §2, RFC 4648 §5), as JOSE and PKCE use it.

use base64ct::{Base64UrlUnpadded, Encoding};

pub fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Strict decode: padding, `+`, `/` and whitespace are refused.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_padding_and_standard_alphabet() {
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(decode("-_8=").is_none());
        assert!(decode("+/8").is_none());
    }
}
