//! The command's one URL rule, and URLs as it prints them (no user, no password, no query):
//! the only place that calls the library's URL helpers.

use apiauth::command::check_url;
use apiauth::{Credentials, TokenConfig};

/// Checks `url` by the library's rule (`apiauth::command::check_url`: https, or http to a loopback
/// host, no user or password). The message says what is wrong, never the URL.
pub fn check(url: &str) -> Result<(), String> {
    match (check_url(url, false), check_url(url, true)) {
        (Ok(()), _) => Ok(()),
        (Err(_), Ok(())) => Err(HTTPS.into()),
        (Err(_), Err(_)) => Err("takes an http(s) URL without user or password".into()),
    }
}

const HTTPS: &str =
    "must be https: plain http is allowed only to loopback (127.0.0.0/8, [::1], localhost)";

/// `url` as the command prints it: without user, password, query or fragment.
pub use apiauth::command::redacted_url as shown;
/// Whether `target` is on `base`'s origin (scheme, host and port).
pub use apiauth::command::same_origin;

/// The token URL of a provider's `preset`, moved to `base` (keeping its path) if given.
pub fn preset_url(preset: impl FnOnce(Credentials) -> TokenConfig, base: Option<&str>) -> String {
    // The URL does not depend on the credentials; these are never sent.
    let config = Credentials::new("", "").map(preset);
    let config = config.map(|c| base.map_or(c.clone(), |base| c.with_base_url(base)));
    config.map(|c| c.token_url().to_owned()).unwrap_or_default()
}

/// `path` with its `{customerId}` replaced by `id`, which must be one plain path segment
/// (letters, digits, `-`, `_`, `.`) so that it can never change the path.
pub fn customer_path(path: &str, id: &str) -> Option<String> {
    let plain = (id.bytes()).all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let plain = plain && !id.is_empty() && id != "." && id != "..";
    plain.then(|| path.replace("{customerId}", id))
}

/// `text` with every http(s) URL in it [`shown`]: for messages from the library and from
/// ureq, which may quote a URL as given.
pub fn redact(text: &str) -> String {
    let (mut out, mut rest) = (String::new(), text);
    while let Some(at) = find_url(rest) {
        out.push_str(&rest[..at]);
        let url = &rest[at..];
        let end = url.find(|c: char| c.is_whitespace() || "\"'<>`".contains(c));
        let end = end.unwrap_or(url.len());
        out.push_str(&shown(&url[..end]));
        rest = &url[end..];
    }
    out + rest
}

/// Where the first http(s) URL in `text` starts, in any case.
pub fn find_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let at = |scheme| lower.find(scheme);
    [at("http://"), at("https://")].into_iter().flatten().min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert_eq!(check("https://a.example/t"), Ok(()));
        assert_eq!(check("http://127.0.0.1:9/t"), Ok(()));
        assert_eq!(check("http://[::1]/t"), Ok(()));
        assert!(
            check("http://a.example/t")
                .unwrap_err()
                .starts_with("must be https")
        );
        for bad in ["https://u:SECRET@a.example/", "ftp://a/", "SECRET", "/t"] {
            let why = check(bad).unwrap_err();
            assert_eq!(why, "takes an http(s) URL without user or password");
        }
    }

    #[test]
    fn shown_and_redacted() {
        assert_eq!(
            shown("https://u:SECRET@a.example:8/t?api_key=SECRET#x"),
            "https://a.example:8/t"
        );
        assert_eq!(shown("http://127.0.0.1"), "http://127.0.0.1/");
        // A `#` in a password: a hand split would show the password's start.
        assert_eq!(
            shown("http://127.0.0.1:p#ss@127.0.0.1:9/t"),
            "[invalid url]"
        );
        assert_eq!(
            redact("token url \"https://a.example/t?key=SECRET\" failed: https://u:SECRET@b/ x"),
            "token url \"https://a.example/t\" failed: https://b/ x"
        );
    }
}
