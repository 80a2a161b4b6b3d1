//! The two claims apiauth reads from a JWT: `exp`, to know when the token expires, and
//! `iat`, the server's clock when it issued the token. The signature is not checked: the
//! token is only passed on, never trusted for its claims.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The times a JWT states, on the server's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    /// `exp`: when the token expires.
    pub exp: SystemTime,
    /// `iat`: when the token was issued, if stated.
    pub iat: Option<SystemTime>,
}

/// The `exp` and `iat` claims of a JWT (three base64url segments). `None` for an opaque
/// token, a JWT without a numeric `exp`, or one that does not decode; a non-numeric `iat`
/// is left out.
pub(crate) fn times(token: &str) -> Option<Times> {
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: Option<serde_json::Value>,
        iat: Option<serde_json::Value>,
    }
    let claims = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let claims = serde_json::from_slice::<Claims>(&claims).ok()?;
    let time = |claim: Option<serde_json::Value>| {
        let secs = Duration::try_from_secs_f64(claim?.as_f64()?).ok()?;
        UNIX_EPOCH.checked_add(secs)
    };
    Some(Times {
        exp: time(claims.exp)?,
        iat: time(claims.iat),
    })
}

/// The `exp` claim of a JWT, as [`times`] reads it.
pub(crate) fn expiry(token: &str) -> Option<SystemTime> {
    times(token).map(|t| t.exp)
}
