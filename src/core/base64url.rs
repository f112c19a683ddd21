//! base64url without padding (RFC 7515 §2, RFC 4648 §5), as JOSE and PKCE use it. A table
//! decoder: tokens are decoded on every verification, and base64ct's constant-time decoder
//! (built for key material) cost as much as parsing the JSON; no key is decoded here.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The value of each byte in the alphabet; 0xff for bytes that are not in it.
const VALUES: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Strict decode: padding, `+`, `/`, whitespace and non-canonical trailing bits are refused.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let input = text.as_bytes();
    if input.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    for chunk in input.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = VALUES[c as usize];
            if v == 0xff {
                return None;
            }
            n |= u32::from(v) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let len = chunk.len() - 1;
        // RFC 4648 §3.5: the bits after the last byte must be zero.
        if len < 3 && bytes[len] != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[..len]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    #[test]
    fn round_trips_and_refuses_padding_and_standard_alphabet() {
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(decode("-_8=").is_none());
        assert!(decode("+/8").is_none());
        assert!(decode("-_9").is_none(), "non-zero trailing bits");
        assert!(decode("A").is_none());
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn agrees_with_base64ct_on_every_length() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for len in 0..300 {
            let bytes = &data[len..len * 2];
            let text = encode(bytes);
            assert_eq!(text, Base64UrlUnpadded::encode_string(bytes), "{len}");
            assert_eq!(decode(&text).unwrap(), bytes, "{len}");
        }
    }
}
