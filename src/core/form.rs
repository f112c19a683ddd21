//! `application/x-www-form-urlencoded` bodies (WHATWG URL §5.2, as RFC 6749 §4.1.3 requires).

/// Encodes name/value pairs in order; repeated names (e.g. RFC 8707 `resource`) stay repeated.
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape_into(name.as_ref(), &mut out);
        out.push('=');
        escape_into(value.as_ref(), &mut out);
    }
    out
}

fn escape_into(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(byte >> 4) as usize] as char);
                out.push(HEX[(byte & 0xf) as usize] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_url_search_params() {
        let body = encode(&[
            ("scope", "openid e-helse:sfm.api/sfm.api2"),
            ("redirect_uri", "https://app.test/cb?x=1&y=æ"),
            ("resource", "a"),
            ("resource", "b"),
        ]);
        assert_eq!(
            body,
            "scope=openid+e-helse%3Asfm.api%2Fsfm.api2&redirect_uri=https%3A%2F%2Fapp.test%2Fcb%3Fx%3D1%26y%3D%C3%A6&resource=a&resource=b"
        );
    }
}
