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

/// Why `text` is not a bare origin as browsers serialise one (RFC 6454 §6.2, WHATWG URL
/// "origin"): lower-case http(s) scheme and ASCII host, no default port, no trailing dot, no
/// userinfo, path, query or fragment. `None` when it is one, so `origin(url) == text` compares.
pub fn origin_problem(text: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Some("it is not scheme://host");
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        s if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http") => {
            return Some("the scheme must be lower-case")
        }
        _ => return Some("the scheme must be https"),
    };
    for (c, why) in [
        ('@', "it has userinfo"),
        ('/', "it has a path (even a trailing /)"),
        ('?', "it has a query"),
        ('#', "it has a fragment"),
    ] {
        if rest.contains(c) {
            return Some(why);
        }
    }
    let (host, port) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains(']') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(port) = port {
        if port == default_port {
            return Some("it names the scheme's default port");
        }
        let number = port.bytes().try_fold(0u32, |n, b| {
            (b.is_ascii_digit() && n < 65_536).then(|| n * 10 + u32::from(b - b'0'))
        });
        if port.starts_with('0') || !matches!(number, Some(1..=65_535)) {
            return Some("the port is not a number from 1 to 65535");
        }
    }
    if host.ends_with('.') {
        return Some("the host ends with a dot");
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("the host must be lower-case");
    }
    let ipv6 = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    let name = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
    let ok = if ipv6 {
        host[1..host.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty() && !host.starts_with('.') && !host.contains("..") && host.bytes().all(name)
    };
    (!ok).then_some("the host is not a lower-case ASCII name or address")
}

/// An error's `stack` with the query and fragment taken out of every URL in it (keeping a
/// frame's trailing `:line:column`), or `None` when no URL in it has one. Handles V8's
/// `at f (https://a/x.js?q:1:2)` and Gecko's `f@https://a/x.html?q:1:2` and
/// `@https://a/x.html?q line 3 > eval:1:2`.
pub fn strip_stack_queries(stack: &str) -> Option<String> {
    let mut out = String::with_capacity(stack.len());
    let mut rest = stack;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (before, url) = rest.split_at(at);
        out.push_str(before);
        // The URL runs to whitespace, a closing parenthesis or the end.
        let end = url
            .find(|c: char| c.is_whitespace() || c == ')')
            .unwrap_or(url.len());
        let (whole, after) = url.split_at(end);
        match whole.find(['?', '#']) {
            Some(q) => {
                changed = true;
                out.push_str(&whole[..q]);
                out.push_str(line_column_suffix(&whole[q..]));
            }
            None => out.push_str(whole),
        }
        rest = after;
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The trailing `:line:column` (or `:line`) of a stack frame's location.
fn line_column_suffix(s: &str) -> &str {
    let mut start = s.len();
    for _ in 0..2 {
        let head = &s[..start];
        let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || !head[..head.len() - digits].ends_with(':') {
            break;
        }
        start = head.len() - digits - 1;
    }
    &s[start..]
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

    #[test]
    fn only_canonical_bare_origins_pass() {
        for good in [
            "https://sfm.test",
            "https://sfm.test:8443",
            "http://127.0.0.1:4011",
            "http://localhost",
            "https://[::1]:8443",
            "https://xn--bcher-kva.test",
        ] {
            assert_eq!(origin_problem(good), None, "{good}");
            assert_eq!(origin(good), Some(good));
        }
        for (bad, why) in [
            ("https://SFM.test", "the host must be lower-case"),
            ("HTTPS://sfm.test", "the scheme must be lower-case"),
            ("https://sfm.test:443", "it names the scheme's default port"),
            ("http://127.0.0.1:80", "it names the scheme's default port"),
            ("https://sfm.test.", "the host ends with a dot"),
            ("https://sfm.test./", "it has a path (even a trailing /)"),
            ("https://sfm.test/api", "it has a path (even a trailing /)"),
            ("https://sfm.test/", "it has a path (even a trailing /)"),
            ("https://sfm.test?x=1", "it has a query"),
            ("https://sfm.test#f", "it has a fragment"),
            ("https://user:pw@sfm.test", "it has userinfo"),
            (
                "https://sfm.test:",
                "the port is not a number from 1 to 65535",
            ),
            (
                "https://sfm.test:08443",
                "the port is not a number from 1 to 65535",
            ),
            (
                "https://sfm.test:70000",
                "the port is not a number from 1 to 65535",
            ),
            (
                "https://bücher.test",
                "the host is not a lower-case ASCII name or address",
            ),
            (
                "https://sfm test",
                "the host is not a lower-case ASCII name or address",
            ),
            (
                "https://",
                "the host is not a lower-case ASCII name or address",
            ),
            ("ftp://sfm.test", "the scheme must be https"),
            ("sfm.test", "it is not scheme://host"),
        ] {
            assert_eq!(origin_problem(bad), Some(why), "{bad}");
        }
    }

    #[test]
    fn stacks_lose_every_query_and_fragment_but_keep_line_and_column() {
        let gecko = "f@http://127.0.0.1:1/pkg/x.js:1:15\n\
                     @http://127.0.0.1:1/app.html?code=SECRET&state=S line 311 > eval:6:38\n\
                     async*evaluate@http://127.0.0.1:1/app.html?code=SECRET&iss=http%3A%2F%2Fa:313:16\n\
                     @http://127.0.0.1:1/app.html#frag:1:44";
        let clean = strip_stack_queries(gecko).unwrap();
        assert!(
            !clean.contains("SECRET") && !clean.contains("frag"),
            "{clean}"
        );
        assert_eq!(
            clean,
            "f@http://127.0.0.1:1/pkg/x.js:1:15\n\
             @http://127.0.0.1:1/app.html line 311 > eval:6:38\n\
             async*evaluate@http://127.0.0.1:1/app.html:313:16\n\
             @http://127.0.0.1:1/app.html:1:44"
        );
        let v8 = "Error: x\n    at f (https://a.test/p.js?v=1:2:3)\n    at https://a.test/i.html?code=C:9";
        assert_eq!(
            strip_stack_queries(v8).unwrap(),
            "Error: x\n    at f (https://a.test/p.js:2:3)\n    at https://a.test/i.html:9"
        );
        assert_eq!(strip_stack_queries("at f (https://a.test/p.js:2:3)"), None);
        assert_eq!(strip_stack_queries("no url here?"), None);
    }
}
