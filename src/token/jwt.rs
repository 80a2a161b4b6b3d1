//! The one claim apiauth reads from a JWT: `exp`, to know when the token expires. The
//! signature is not checked: the token is only passed on, never trusted for its claims.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The `exp` claim of a JWT (three base64url segments), as a wall-clock time. `None` for an
/// opaque token, a JWT without a numeric `exp`, or one that does not decode.
pub(crate) fn expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let claims = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let exp = serde_json::from_slice::<Exp>(&claims).ok()?.0?;
    let exp = Duration::try_from_secs_f64(exp).ok()?;
    UNIX_EPOCH.checked_add(exp)
}

/// The claims object read for `exp` alone: the other claims are skipped, not built. A
/// hand-written impl, as apiauth derives none (no proc macros to build for its users).
struct Exp(Option<f64>);

/// Whether a claim's name is `exp` (escaped or not).
struct IsExp(bool);

impl<'de> Deserialize<'de> for IsExp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IsExp, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = IsExp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<IsExp, E> {
                Ok(IsExp(name == "exp"))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for Exp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Exp, D::Error> {
        struct ClaimsVisitor;
        impl<'de> Visitor<'de> for ClaimsVisitor {
            type Value = Exp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWT claims object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut claims: A) -> Result<Exp, A::Error> {
                let mut exp = None;
                while let Some(IsExp(is_exp)) = claims.next_key()? {
                    if !is_exp {
                        claims.next_value::<IgnoredAny>()?;
                    } else if exp.is_some() {
                        return Err(de::Error::duplicate_field("exp"));
                    } else {
                        exp = Some(claims.next_value::<Option<f64>>()?);
                    }
                }
                Ok(Exp(exp.flatten()))
            }
        }
        deserializer.deserialize_map(ClaimsVisitor)
    }
}
