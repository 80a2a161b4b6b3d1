//! The one claim apiauth reads from a JWT: `exp`, to know when the token expires. The
//! signature is not checked: the token is only passed on, never trusted for its claims.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The `exp` claim of a JWT (three base64url segments), as a wall-clock time. `None` for an
/// opaque token, a JWT without a numeric `exp`, or one that does not decode.
pub(crate) fn expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let claims = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    // A `Value`, not a derived struct: apiauth derives no serde impls (no proc macros to
    // build for its users).
    let exp = serde_json::from_slice::<serde_json::Value>(&claims).ok()?["exp"].as_f64()?;
    let exp = Duration::try_from_secs_f64(exp).ok()?;
    UNIX_EPOCH.checked_add(exp)
}
