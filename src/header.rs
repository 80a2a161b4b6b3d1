//! Header names, schemes and the checks every value passes before it can become a header.

use ureq::http::{HeaderName, HeaderValue, header::AUTHORIZATION};

use crate::{Error, Result};

/// How an access token is presented to an API.
///
/// # Examples
///
/// ```
/// use apiauth::TokenScheme;
///
/// assert_eq!(TokenScheme::Bearer.header_name(), "authorization");
/// assert_eq!(TokenScheme::ConnectToken.header_name(), "x-connect-token");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenScheme {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1): Motorweb, and myConnectedFleet's
    /// Smart Tire, Tacho and Vehicle Check APIs.
    Bearer,
    /// `x-connect-token: TOKEN <token>`: myConnectedFleet's Job Management API. No
    /// `Authorization` header goes with it.
    ConnectToken,
}

/// Made when compiling: `from_static` checks its name on every call.
const CONNECT_TOKEN: HeaderName = HeaderName::from_static("x-connect-token");

impl TokenScheme {
    /// The header this scheme is sent in.
    pub fn header_name(self) -> HeaderName {
        match self {
            TokenScheme::Bearer => AUTHORIZATION,
            TokenScheme::ConnectToken => CONNECT_TOKEN,
        }
    }

    pub(crate) fn prefix(self) -> &'static str {
        match self {
            TokenScheme::Bearer => "Bearer ",
            TokenScheme::ConnectToken => "TOKEN ",
        }
    }
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
