//! Newtypes for secrets that never print.

use std::fmt;

/// A client secret. Its `Debug` prints `ClientSecret([redacted])`; it has no `Display`.
///
/// # Examples
///
/// ```
/// let secret = apiauth::ClientSecret::new("s3cr3t");
/// assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
/// assert_eq!(secret.secret(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself.
    ///
    /// # Security
    ///
    /// Whatever you do with the returned value can leak it; do not log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// An OAuth2 access token. Its `Debug` prints `AccessToken([redacted])`; it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself.
    ///
    /// # Security
    ///
    /// Whatever you do with the returned value can leak it; do not log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// Secrets shorter than this are not scrubbed: removing every `a` from a text would hide
/// the text, not the secret (which is then guessable anyway).
const SCRUB_MIN: usize = 4;

/// `text` without `secret`, its form-urlencoded and its percent-encoded forms (with upper-
/// or lowercase hex), each replaced by `[redacted]`: for server text (an error description
/// that echoes the request, an API's error body) before it enters an error or a log.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.len() < SCRUB_MIN {
        return text.to_owned();
    }
    let mut form = String::new();
    crate::form::encode_into(&mut form, secret);
    let percent = (form.replace('+', "%20").replace('*', "%2A")).replace("%7E", "~");
    let mut forms = vec![secret.to_owned()];
    for encoded in [form, percent] {
        forms.push(lower_hex(&encoded));
        forms.push(encoded);
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut text = text.to_owned();
    for form in forms {
        if text.contains(&form) {
            text = text.replace(&form, "[redacted]");
        }
    }
    text
}

/// `encoded` with the two hex digits after each `%` in lowercase.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            hex_left = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn scrub_removes_the_secret_and_its_encodings() {
        let secret = "a:b+c%d e&é/~*";
        let echoed = "client_secret=a%3Ab%2Bc%25d+e%26%C3%A9%2F%7E*&raw=a:b+c%d e&é/~*\
                      &pct=a%3Ab%2Bc%25d%20e%26%C3%A9%2F~%2A&low=a%3ab%2bc%25d+e%26%c3%a9%2f%7e*";
        assert_eq!(
            scrub(echoed, secret),
            "client_secret=[redacted]&raw=[redacted]&pct=[redacted]&low=[redacted]"
        );
        assert_eq!(scrub("the sky is blue", "sky1"), "the sky is blue");
        assert_eq!(scrub("abc", "ab"), "abc");
    }
}
