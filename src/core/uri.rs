//! Just enough URL handling for the core's checks (scheme, host, loopback, `htu`); the browser's
//! `URL` does real parsing in the shell, so the `url` crate's 78 KB stay out of the bundle.

/// Scheme and host (lower-cased, brackets kept for IPv6) of an absolute http(s) URL.
pub fn scheme_and_host(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let host = if authority.starts_with('[') {
        let end = authority.find(']')?;
        &authority[..=end]
    } else {
        authority.split(':').next()?
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
        return None;
    }
    Some((scheme, host.to_ascii_lowercase()))
}

pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// `https`, or `http` on a loopback host when `allow_insecure_http` is set.
pub fn is_allowed_endpoint(url: &str, allow_insecure_http: bool) -> bool {
    match scheme_and_host(url) {
        Some((scheme, _)) if scheme == "https" => true,
        Some((_, host)) => allow_insecure_http && is_loopback_host(&host),
        None => false,
    }
}

/// RFC 9449 §4.2: `htu` is the target URI without query and fragment.
pub fn without_query_and_fragment(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// `scheme://authority` of an absolute URL, the key of per-server DPoP nonces.
pub fn origin(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_allowed_and_http_only_on_loopback_when_asked() {
        assert!(is_allowed_endpoint(
            "https://helseid-sts.test.nhn.no",
            false
        ));
        assert!(!is_allowed_endpoint("http://127.0.0.1:4010", false));
        assert!(is_allowed_endpoint(
            "http://127.0.0.1:4010/connect/par",
            true
        ));
        assert!(is_allowed_endpoint("http://localhost", true));
        assert!(is_allowed_endpoint("http://[::1]:8080/", true));
        assert!(!is_allowed_endpoint("http://127.0.0.1.evil.example", true));
        assert!(!is_allowed_endpoint("http://user@127.0.0.1/", true));
        assert!(!is_allowed_endpoint("ftp://127.0.0.1/", true));
        assert!(!is_allowed_endpoint("not a url", true));
    }

    #[test]
    fn htu_drops_query_and_fragment_and_origin_keeps_the_port() {
        assert_eq!(
            without_query_and_fragment("https://a.test/api/x?y=1#z"),
            "https://a.test/api/x"
        );
        assert_eq!(
            origin("http://127.0.0.1:4011/api?x"),
            Some("http://127.0.0.1:4011")
        );
        assert_eq!(origin("https://a.test"), Some("https://a.test"));
    }
}
