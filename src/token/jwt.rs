//! The two claims apiauth reads from a JWT: `exp`, to know when the token expires, and
//! `iat`, the server's clock when it issued the token. The signature is not checked: the
//! token is only passed on, never trusted for its claims.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

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
    let claims = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let claims = serde_json::from_slice::<Claims>(&claims).ok()?;
    let time = |claim: Option<Value>| {
        let secs = Duration::try_from_secs_f64(claim?.as_f64()?).ok()?;
        UNIX_EPOCH.checked_add(secs)
    };
    Some(Times {
        exp: time(claims.exp)?,
        iat: time(claims.iat),
    })
}

/// The claims object read for `exp` and `iat` alone: the other claims are skipped, not
/// built. A hand-written impl, as apiauth derives none (no proc macros to build for its
/// users).
struct Claims {
    exp: Option<Value>,
    iat: Option<Value>,
}

/// A claim's name, as far as apiauth cares (escaped or not).
enum Name {
    Exp,
    Iat,
    Other,
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Name, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Name, E> {
                Ok(match name {
                    "exp" => Name::Exp,
                    "iat" => Name::Iat,
                    _ => Name::Other,
                })
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Claims, D::Error> {
        struct ClaimsVisitor;
        impl<'de> Visitor<'de> for ClaimsVisitor {
            type Value = Claims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWT claims object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
                let mut claims = Claims {
                    exp: None,
                    iat: None,
                };
                while let Some(name) = map.next_key()? {
                    let slot = match name {
                        Name::Exp => &mut claims.exp,
                        Name::Iat => &mut claims.iat,
                        Name::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom("a claim is given twice"));
                    }
                    *slot = Some(map.next_value::<Value>()?);
                }
                Ok(claims)
            }
        }
        deserializer.deserialize_map(ClaimsVisitor)
    }
}
