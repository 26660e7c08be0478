//! The same-origin check of state-changing requests: a second line behind
//! the CSRF tokens. Browsers name the page a request comes from in `Origin`
//! (and in `Sec-Fetch-Site`); a form on another site that posts here is
//! refused before any handler runs, whatever tokens it carries.

use axum::http::{HeaderMap, Method, header};

/// Whether a request may change state as far as its origin goes.
///
/// `public_origin` is the portal's own origin (`https://veto.example`);
/// without it the origin is the one the request addressed (its `Host`).
/// A request that names no origin at all (a service calling the API, an
/// old browser) passes here; the CSRF token still guards every form.
pub fn allowed(method: &Method, headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE) {
        return true;
    }
    let origin = headers.get(header::ORIGIN).map(|o| o.to_str());
    // A browser sends `Origin: null` where its referrer policy hides the
    // origin, or from a sandboxed frame; then only Sec-Fetch-Site can vouch.
    let hidden = matches!(origin, Some(Ok(o)) if o.trim() == "null");
    match origin {
        Some(Ok(origin)) if !hidden => {
            return match public_origin {
                Some(own) => normalize(origin).is_some_and(|o| Some(o) == normalize(own)),
                None => host_matches(origin, headers),
            };
        }
        Some(Err(_)) => return false,
        _ => {}
    }
    match headers.get("sec-fetch-site").map(|v| v.to_str()) {
        // "none": typed into the address bar or a bookmark, not another site.
        Some(Ok(site)) => site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"),
        Some(Err(_)) => false,
        None => !hidden,
    }
}

/// Whether `origin` is this request's own `Host`, over http or https.
fn host_matches(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some(origin) = normalize(origin) else { return false };
    ["http", "https"]
        .iter()
        .any(|scheme| normalize(&format!("{scheme}://{host}")).as_ref() == Some(&origin))
}

/// `scheme://host[:port]` in lower case without a default port, or None for
/// anything else (`null`, a path, user info).
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cross_origin_posts_are_refused_and_same_origin_ones_pass() {
        let post = Method::POST;
        let own = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        assert!(allowed(&post, &own, None));
        let evil = headers(&[("host", "127.0.0.1:8080"), ("origin", "https://evil.example")]);
        assert!(!allowed(&post, &evil, None));
        assert!(allowed(&Method::GET, &evil, None), "reading is not changing");
        assert!(!allowed(&post, &headers(&[("host", "a"), ("origin", "null")]), None));
        let sandboxed = headers(&[("host", "a"), ("origin", "null"), ("sec-fetch-site", "cross-site")]);
        assert!(!allowed(&post, &sandboxed, None));
        let hidden = headers(&[("host", "a"), ("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert!(
            allowed(&post, &hidden, None),
            "a same-origin form under a strict referrer policy"
        );
        let proxied = headers(&[("host", "internal:8080"), ("origin", "https://veto.example")]);
        assert!(allowed(&post, &proxied, Some("https://veto.example:443/")));
        assert!(!allowed(&post, &proxied, None));
        assert!(!allowed(&post, &own, Some("https://veto.example")));
    }

    #[test]
    fn without_origin_sec_fetch_site_decides_and_without_both_the_token_does() {
        let post = Method::POST;
        assert!(!allowed(&post, &headers(&[("sec-fetch-site", "cross-site")]), None));
        assert!(!allowed(&post, &headers(&[("sec-fetch-site", "same-site")]), None));
        assert!(allowed(&post, &headers(&[("sec-fetch-site", "same-origin")]), None));
        assert!(allowed(&post, &headers(&[]), None));
    }
}
