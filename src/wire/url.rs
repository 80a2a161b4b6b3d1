//! The URL rule every request that carries credentials passes (token URLs, API bases, API
//! calls, the CLI's URLs), and the redacted form URLs are shown in. Both read a URL with the
//! parser the request is sent with (`http::Uri`, as ureq), never by hand.

use std::net::IpAddr;

use ureq::http::Uri;

use crate::{Error, Result};

/// Checks that `url` may carry credentials: an absolute `https` URL, or plain `http` to a
/// loopback host (`localhost`, `127.0.0.0/8`, `::1`) or with `allow_http`; no user or
/// password (whatever characters the password holds), no fragment, a numeric port if any.
/// apiauth applies the same rule to token URLs, API base URLs and every API call.
///
/// # Errors
///
/// [`Error::Config`] saying what is wrong. The message shows the URL only without user,
/// password and query, or not at all.
///
/// # Security
///
/// `allow_http` sends credentials in clear to a host that is not loopback: anyone on the
/// path can read them.
///
/// # Examples
///
/// ```
/// use apiauth::command::check_url;
///
/// assert!(check_url("https://auth.example.com/token", false).is_ok());
/// assert!(check_url("http://127.0.0.1:8080/token", false).is_ok());
/// assert!(check_url("http://auth.example.com/token", false).is_err());
/// assert!(check_url("https://user:p#ss@auth.example.com/token", false).is_err());
/// ```
pub fn check_url(url: &str, allow_http: bool) -> Result<()> {
    check(url, "url", allow_http)
}

/// [`check_url`], with `what` naming the URL in the message (`token url`, `api url`).
pub(crate) fn check(url: &str, what: &str, allow_http: bool) -> Result<()> {
    // A fragment is never sent; a `#` before the host is a password cut short.
    if url.contains('#') {
        return invalid(what, "it holds a '#' (a fragment, or part of a password)");
    }
    match url.parse() {
        Ok(uri) => check_uri(&uri, what, allow_http),
        Err(_) => invalid(what, "it cannot be parsed"),
    }
}

/// [`check`] of a URL already parsed (a request's).
pub(crate) fn check_uri(uri: &Uri, what: &str, allow_http: bool) -> Result<()> {
    let Some(authority) = uri.authority() else {
        return invalid(what, "it is not absolute");
    };
    if authority.as_str().contains('@') {
        return Err(Error::Config(format!(
            "the {what} holds a user and password; pass them as Credentials"
        )));
    }
    let host = uri.host().unwrap_or_default();
    if !port_is_valid(uri) {
        return invalid(what, "its port is not a number");
    }
    if odd_ipv4(host) {
        let why = "its host is an IP address written in a non-standard form";
        return invalid(what, why);
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_http || is_loopback(host) => Ok(()),
        _ => Err(Error::Config(format!(
            "{what} {:?} must be https (plain http only to loopback, or with insecure http \
             allowed)",
            redacted_uri(uri)
        ))),
    }
}

fn invalid<T>(what: &str, why: &str) -> Result<T> {
    let message = format!("the {what} is not a valid URL: {why}");
    Err(Error::Config(message))
}

/// Whether the authority's port, if it has one, is a number that fits (`http::Uri` accepts
/// `host:p` and gives no port: a password cut short by `#`, `/` or `?`).
fn port_is_valid(uri: &Uri) -> bool {
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host = uri.host().unwrap_or_default();
    let after_host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match (after_host.strip_prefix(host)).and_then(|r| r.strip_prefix(':')) {
        None => after_host.len() == host.len(),
        Some(port) => port.parse::<u16>().is_ok() && port.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// `localhost` (with or without its root dot), or an IP address this host connects to
/// itself at: the loopback range (`127.0.0.0/8`, `::1`, also as `::ffff:127.x.y.z`) and the
/// unspecified address (`0.0.0.0`, `::`).
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let ip = host.trim_matches(['[', ']']).parse::<IpAddr>();
    let ip = ip.map(|ip| ip.to_canonical());
    host.eq_ignore_ascii_case("localhost")
        || ip.is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// Whether `host` is an IPv4 address in a form other than four decimal numbers (`127.1`,
/// `0x7f.1`, `2130706433`): resolvers read these as addresses, so no rule on names or
/// addresses can judge them. Refused.
fn odd_ipv4(host: &str) -> bool {
    let numeric = |label: &str| match label.strip_prefix("0x").or(label.strip_prefix("0X")) {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    host.split('.').all(numeric) && host.parse::<std::net::Ipv4Addr>().is_err()
}

/// Whether a request to `uri` goes straight to its host, never through a proxy, whatever
/// the agent or the environment (`ALL_PROXY`, `HTTP_PROXY`, …) says: plain http, whose
/// bytes are in clear, and loopback, whose bytes must never leave the host.
pub(crate) fn direct(uri: &Uri) -> bool {
    uri.scheme_str() != Some("https") || is_loopback(uri.host().unwrap_or_default())
}

/// Whether the URL's host is an IP address, which needs no resolving.
pub(crate) fn host_is_ip(url: &str) -> bool {
    (url.parse::<Uri>().ok())
        .and_then(|uri| uri.host()?.trim_matches(['[', ']']).parse::<IpAddr>().ok())
        .is_some()
}

/// `url` fit for a message, a log record or a `Debug` print: scheme, host, port and path,
/// without user, password, query or fragment; `[invalid url]` when it cannot be read so. It
/// reads the URL with the parser requests use, so what it shows is where a request goes.
///
/// # Examples
///
/// ```
/// use apiauth::command::redacted_url;
///
/// assert_eq!(redacted_url("https://u:pw@a.example:8/t?key=k"), "https://a.example:8/t");
/// assert_eq!(redacted_url("http://127.0.0.1:p#ss@127.0.0.1:9/t"), "[invalid url]");
/// ```
pub fn redacted_url(url: &str) -> String {
    url.parse()
        .map_or_else(|_| "[invalid url]".into(), |uri| redacted_uri(&uri))
}

/// [`redacted`] of a parsed URL.
pub(crate) fn redacted_uri(uri: &Uri) -> String {
    let (Some(scheme), Some(host), true) = (uri.scheme_str(), uri.host(), port_is_valid(uri))
    else {
        return "[invalid url]".into();
    };
    let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of writing this host goes direct (never through a proxy), and IPv4
    /// addresses in forms only a resolver reads are refused.
    #[test]
    fn every_spelling_of_loopback_goes_direct_or_is_refused() {
        for url in [
            "https://localhost./t",
            "https://LOCALHOST/t",
            "https://[::ffff:127.0.0.1]/t",
            "https://0.0.0.0/t",
            "https://[::]/t",
            "https://127.0.0.2/t",
        ] {
            assert!(direct(&url.parse().unwrap()), "{url}");
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        for url in [
            "https://127.1/t",
            "https://2130706433/t",
            "https://0x7f.1/t",
        ] {
            let error = check_url(url, false).unwrap_err().to_string();
            assert!(
                error.ends_with("an IP address written in a non-standard form"),
                "{url}"
            );
        }
        assert!(!direct(&"https://a1.example/t".parse().unwrap()));
        assert!(check_url("https://1a.example/t", false).is_ok());
    }

    #[test]
    fn https_or_loopback_only() {
        for good in [
            "https://a.example/t",
            "https://a.example:8443/t?x=@",
            "http://127.0.0.1:1/t",
            "http://127.0.0.2/t",
            "http://[::1]:8/t",
            "http://LOCALHOST:8/t",
        ] {
            assert!(check_url(good, false).is_ok(), "{good}");
        }
        for bad in [
            "http://a.example/t",
            "http://10.0.0.1/t",
            "ftp://a.example/t",
            "/t",
        ] {
            assert!(
                matches!(check_url(bad, false), Err(Error::Config(_))),
                "{bad}"
            );
        }
        assert!(check_url("http://a.example/t", true).is_ok());
    }

    #[test]
    fn plain_http_and_loopback_go_direct() {
        let direct = |url: &str| direct(&url.parse().unwrap());
        for url in [
            "http://a.example/t",
            "http://127.0.0.1:8/t",
            "https://127.0.0.2/t",
            "https://[::1]:8/t",
            "https://LocalHost/t",
        ] {
            assert!(direct(url), "{url}");
        }
        assert!(!direct("https://a.example/t"));
        assert!(!direct("https://localhost.a.example/t"));
    }

    #[test]
    fn userinfo_is_refused_whatever_the_password_holds() {
        for password in ["p", "p#ss", "p@ss", "p/ss", "p?ss", "p%40ss"] {
            let url = format!("http://127.0.0.1:{password}@127.0.0.1:8/token");
            let error = check_url(&url, true).unwrap_err().to_string();
            assert!(!error.contains(&format!(":{password}")), "{error}");
        }
        let error = check_url("https://u:p@a.example/t", false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: the url holds a user and password; pass them as Credentials"
        );
    }

    #[test]
    fn urls_are_shown_without_userinfo_or_query() {
        let shown = |u| redacted_url(u);
        assert_eq!(shown("https://u:p@h.example/t?x=@"), "https://h.example/t");
        assert_eq!(
            shown("http://127.0.0.1:p#ss@127.0.0.1:80/t"),
            "[invalid url]"
        );
        assert_eq!(shown("http://u:p/ss@h/t"), "[invalid url]");
        assert_eq!(
            shown("https://h.example:8443/a@b"),
            "https://h.example:8443/a@b"
        );
        assert_eq!(shown("not a url"), "[invalid url]");
    }
}
