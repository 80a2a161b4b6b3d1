//! Which redirects an authorized request may follow: only to its own origin (scheme, host,
//! port), as curl and Go keep credentials only there. A pure function of the request and
//! the answer; the sending is [`ApiClient`](crate::ApiClient)'s.

use ureq::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, TRANSFER_ENCODING};
use ureq::http::request::Parts;
use ureq::http::{HeaderMap, Method, StatusCode, Uri};

/// The next hop after a redirect answer, for a request that went to `parts`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hop {
    /// Not a redirect, or one that is not followed: the answer is the caller's.
    Stop,
    /// Follow to the same origin: `parts` now describe the next request; `keep_body` says
    /// whether it carries the same body (307/308) or none (303, and 301/302 after a POST).
    Follow { keep_body: bool },
}

/// Updates `parts` for the redirect `status` + `headers` answered, if it is followed.
pub(crate) fn next(parts: &mut Parts, status: StatusCode, headers: &HeaderMap) -> Hop {
    let followed = [301, 302, 303, 307, 308].contains(&status.as_u16());
    let Some(target) = (headers.get(LOCATION).filter(|_| followed))
        .and_then(|l| resolve(&parts.uri, l.to_str().ok()?))
        .filter(|target| same_origin(&parts.uri, target))
    else {
        return Hop::Stop;
    };
    let keep_body = matches!(status.as_u16(), 307 | 308);
    if !keep_body {
        // 301, 302, 303: a GET (or HEAD) goes on as it is; anything else becomes a GET
        // without a body, as browsers and curl do.
        if parts.method != Method::HEAD {
            parts.method = Method::GET;
        }
        for name in [CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING] {
            parts.headers.remove(name);
        }
    }
    parts.uri = target;
    Hop::Follow { keep_body }
}

/// Whether `a` and `b` share scheme, host and port (default ports made explicit): the rule
/// by which [`ApiClient`](crate::ApiClient) follows a redirect with the auth header.
///
/// # Examples
///
/// ```
/// use apiauth::{command::same_origin, http::Uri};
///
/// let base: Uri = "https://api.example.com/v1/".parse().unwrap();
/// assert!(same_origin(&base, &"https://API.example.com:443/v2".parse().unwrap()));
/// assert!(!same_origin(&base, &"http://api.example.com/v1/".parse().unwrap()));
/// ```
pub fn same_origin(a: &Uri, b: &Uri) -> bool {
    let origin = |u: &Uri| {
        let scheme = u.scheme_str()?.to_ascii_lowercase();
        let port = u.port_u16().or(match scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })?;
        Some((scheme, u.host()?.to_ascii_lowercase(), port))
    };
    origin(a).is_some_and(|o| Some(o) == origin(b))
}

/// `location` (absolute, scheme-relative, absolute-path or relative-path) against `base`,
/// without any user and password it names: ureq would turn them into an `Authorization`
/// header the auth scheme never asked for.
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{}", without_dots(location))
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        let path = without_dots(&format!("{dir}/{location}"));
        format!("{scheme}://{authority}{path}")
    };
    let mut parts = absolute.parse::<Uri>().ok()?.into_parts();
    let authority = parts.authority.as_ref()?.as_str();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    parts.authority = Some(host.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// An absolute path (and query) with its `.` and `..` segments resolved (RFC 3986 §5.2.4);
/// `..` never climbs above the root.
fn without_dots(target: &str) -> String {
    let (path, query) = target.split_at(target.find('?').unwrap_or(target.len()));
    let (mut kept, mut segments) = (Vec::new(), path.split('/').peekable());
    while let Some(segment) = segments.next() {
        let dots = segment == "." || segment == "..";
        if segment == ".." && kept.len() > 1 {
            kept.pop();
        }
        // A last `.` or `..` leaves the path ending in `/`.
        if !dots || segments.peek().is_none() {
            kept.push(if dots { "" } else { segment });
        }
    }
    format!("{}{query}", kept.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::Request;

    #[test]
    fn relative_locations_resolve_as_rfc_3986_says() {
        let base: Uri = "https://a.example/v1/things?x=1".parse().unwrap();
        let at = |location: &str| resolve(&base, location).unwrap().to_string();
        assert_eq!(at("?page=2"), "https://a.example/v1/things?page=2");
        assert_eq!(at("../v2/x"), "https://a.example/v2/x");
        assert_eq!(at("./y"), "https://a.example/v1/y");
        assert_eq!(at("y"), "https://a.example/v1/y");
        assert_eq!(at("/a/./b/../c"), "https://a.example/a/c");
        assert_eq!(at("../../../../z"), "https://a.example/z");
        assert_eq!(at("/v1/.."), "https://a.example/");
    }

    fn hop(method: Method, uri: &str, status: u16, location: &str) -> (Hop, Parts) {
        let (mut parts, ()) = Request::builder()
            .method(method)
            .uri(uri)
            .header(CONTENT_TYPE, "application/json")
            .body(())
            .unwrap()
            .into_parts();
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, location.parse().unwrap());
        let status = StatusCode::from_u16(status).unwrap();
        (next(&mut parts, status, &headers), parts)
    }

    #[test]
    fn only_the_same_origin_is_followed() {
        let follow = |uri, location| hop(Method::GET, uri, 302, location).0;
        let go = Hop::Follow { keep_body: false };
        assert_eq!(follow("https://a.example/x", "/y"), go);
        assert_eq!(follow("https://a.example/x/", "y"), go);
        assert_eq!(follow("https://a.example/x", "https://A.EXAMPLE:443/y"), go);
        assert_eq!(follow("http://127.0.0.1:8/x", "//127.0.0.1:8/y"), go);
        let (h, parts) = hop(
            Method::GET,
            "https://a.example/x",
            302,
            "https://u:pw@a.example/y",
        );
        assert_eq!(
            (h, parts.uri.to_string()),
            (go, "https://a.example/y".into())
        );
        for elsewhere in [
            "https://b.example/y",
            "http://a.example/y",
            "https://a.example:8443/y",
            "//b.example/y",
            "ftp://a.example/y",
        ] {
            assert_eq!(
                follow("https://a.example/x", elsewhere),
                Hop::Stop,
                "{elsewhere}"
            );
        }
        for status in [200, 300, 304, 305, 306] {
            assert_eq!(
                hop(Method::GET, "https://a.example/x", status, "/y").0,
                Hop::Stop
            );
        }
    }

    #[test]
    fn methods_and_bodies_follow_the_status() {
        let (h, parts) = hop(Method::POST, "https://a.example/x", 303, "/done");
        assert_eq!(
            (h, parts.method),
            (Hop::Follow { keep_body: false }, Method::GET)
        );
        assert_eq!(parts.uri, "https://a.example/done");
        assert!(parts.headers.get(CONTENT_TYPE).is_none());
        let (h, parts) = hop(Method::PUT, "https://a.example/x", 308, "/moved");
        assert_eq!(
            (h, parts.method),
            (Hop::Follow { keep_body: true }, Method::PUT)
        );
        assert!(parts.headers.get(CONTENT_TYPE).is_some());
    }
}
