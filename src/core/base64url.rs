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
/// Four characters to three bytes at a time, one validity check per group: a token's three
/// parts are decoded on every verification.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let input = text.as_bytes();
    let tail_len = input.len() % 4;
    if tail_len == 1 {
        return None;
    }
    let (whole, tail) = input.split_at(input.len() - tail_len);
    let mut out = vec![0u8; whole.len() / 4 * 3 + tail_len.saturating_sub(1)];
    let (body, last) = out.split_at_mut(whole.len() / 4 * 3);
    for (bytes, chars) in body.chunks_exact_mut(3).zip(whole.chunks_exact(4)) {
        let v = chars.iter().map(|&c| VALUES[c as usize]);
        // Valid values are below 64: one bit test finds any 0xff.
        let (n, any) = v.fold((0u32, 0u8), |(n, any), v| {
            ((n << 6) | u32::from(v), any | v)
        });
        if any & 0x80 != 0 {
            return None;
        }
        bytes.copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    if !tail.is_empty() {
        let mut n = 0u32;
        for (i, &c) in tail.iter().enumerate() {
            let v = VALUES[c as usize];
            if v == 0xff {
                return None;
            }
            n |= u32::from(v) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // RFC 4648 §3.5: the bits after the last byte must be zero.
        if bytes[last.len()] != 0 {
            return None;
        }
        last.copy_from_slice(&bytes[..last.len()]);
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

    /// Any text, valid or not: accepted by both or refused by both, to the same bytes.
    #[test]
    fn agrees_with_base64ct_on_arbitrary_text() {
        let alphabet = b"AQgw_-09az+/= .\xff";
        let mut seed = 0x2545_f491_u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (seed >> 16) as usize % 14;
            let text: String = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    alphabet[(seed >> 16) as usize % alphabet.len()] as char
                })
                .collect();
            assert_eq!(
                decode(&text),
                Base64UrlUnpadded::decode_vec(&text).ok(),
                "{text:?}"
            );
        }
    }
}
