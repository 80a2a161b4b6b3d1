//! Newtypes for secrets that never print, and header values made of them: checked for
//! control bytes and marked sensitive.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ureq::http::HeaderValue;

use crate::{Error, Result};

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

/// An echo cut short is scrubbed once it shows this many characters of a form of the
/// secret: a server that truncates what it echoes shows at most 7.
const PREFIX_MIN: usize = 8;

/// `text` without `secret`, its form-urlencoded, percent-encoded and base64 forms, in any
/// ASCII case, whole or cut short after 8 characters or more, each echo replaced by
/// `[redacted]`: for server text (an error description that echoes the request, an API's
/// error body) before it enters an error or a log.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    scrub_forms(text, &forms(secret))
}

/// The forms of `secret` a server may echo; none for a secret too short to scrub.
pub(crate) fn forms(secret: &str) -> Vec<String> {
    if secret.len() < SCRUB_MIN {
        return Vec::new();
    }
    let mut form = String::new();
    crate::form::encode_into(&mut form, secret);
    let percent = (form.replace('+', "%20").replace('*', "%2A")).replace("%7E", "~");
    let base64 = STANDARD_NO_PAD.encode(secret);
    vec![secret.to_owned(), form, percent, base64]
}

/// `text` with each echo of one of `forms` replaced by `[redacted]`, the longest where
/// several start at the same place.
pub(crate) fn scrub_forms(text: &str, forms: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        // An echo, when there is one, holds at least the whole of `c`.
        let n = forms.iter().map(|form| echo(rest, form)).max().unwrap_or(0);
        match n {
            0 => out.push(c),
            _ => out.push_str("[redacted]"),
        }
        rest = &rest[n.max(c.len_utf8())..];
    }
    out
}

/// How long the echo of `form` that `text` starts with is, in any ASCII case: all of
/// `form`, or its first [`PREFIX_MIN`] characters or more; 0 when there is none.
fn echo(text: &str, form: &str) -> usize {
    let same = (text.bytes().zip(form.bytes()))
        .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
        .count();
    let n = (0..=same).rfind(|n| form.is_char_boundary(*n)).unwrap_or(0);
    let whole_or_long = n == form.len() || form[..n].chars().count() >= PREFIX_MIN;
    if whole_or_long { n } else { 0 }
}

/// Rejects control bytes (C0, DEL): what CR/LF header injection and NUL truncation need.
pub(crate) fn reject_control(value: &str, what: &'static str) -> Result<()> {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(Error::InvalidHeaderValue(what));
    }
    Ok(())
}

/// `prefix + value` as a header value marked sensitive, so that its `Debug` prints
/// `Sensitive` and HTTP/2 stacks never index it.
/// `HeaderValue` itself refuses control bytes; callers have already checked the value.
pub(crate) fn sensitive(prefix: &str, value: &str, what: &'static str) -> Result<HeaderValue> {
    // Exactly sized, so that turning it into the header's bytes does not reallocate.
    let mut text = String::with_capacity(prefix.len() + value.len());
    text.push_str(prefix);
    text.push_str(value);
    let mut header = HeaderValue::try_from(text).map_err(|_| Error::InvalidHeaderValue(what))?;
    header.set_sensitive(true);
    Ok(header)
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

    #[test]
    fn scrub_finds_echoes_in_any_case_in_base64_and_cut_short() {
        let scrubbed = |text: &str| scrub(text, "s3cr3t-Value-42");
        assert_eq!(scrubbed("bad S3CR3T-VALUE-42!"), "bad [redacted]!");
        assert_eq!(scrubbed("b64 czNjcjN0LVZhbHVlLTQy."), "b64 [redacted].");
        assert_eq!(
            scrubbed("cut s3cr3t-V, b64 CZNJCJN0"),
            "cut [redacted], b64 [redacted]"
        );
        assert_eq!(scrubbed("7 only: s3cr3t-"), "7 only: s3cr3t-");
        // Where an echo and an encoded echo share a start, the longer is taken whole.
        let both = scrub("abcdefgh/xyz abcdefgh%2Fxyz", "abcdefgh/xyz");
        assert_eq!(both, "[redacted] [redacted]");
    }

    #[test]
    fn scrub_credentials_covers_both_basic_encodings() {
        let creds = crate::Credentials::new("id", "a:b+c%d/ef").unwrap();
        let text = "raw aWQ6YTpiK2MlZC9lZg== form aWQ6YSUzQWIlMkJjJTI1ZCUyRmVm cut aWQ6YSUzQWIl";
        assert_eq!(
            creds.scrub(text),
            "raw [redacted] form [redacted] cut [redacted]"
        );
    }
}
