//! [`Token`]: parsing token-endpoint answers (RFC 6749 §5.1/§5.2 and the providers' own
//! dialects) and the expiry maths, as pure functions of the clocks they are given.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use ureq::http::HeaderValue;

use crate::header::sensitive;
use crate::{AccessToken, EndpointError, Error, Result, TokenScheme, form};

/// The lifetime assumed when an answer has no usable `expires_in` (missing, null, zero,
/// negative or not a number): 5 minutes. Never "valid forever".
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The longest lifetime believed, whatever the server says: 365 days.
pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Where a token stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Before its refresh time: use it.
    Fresh,
    /// Inside the refresh margin but still valid: use it, and refresh it soon.
    Stale,
    /// Past its expiry on either clock: do not use it.
    Expired,
}

/// An access token with its type, scope, expiry and the ready-made header values for each
/// [`TokenScheme`].
///
/// The expiry counts from when the token request was sent, on the monotonic clock. When the
/// token is a JWT with an `exp` claim, the earlier of `exp` and `expires_in` wins, and `exp`
/// is also checked on the wall clock (so a machine that slept past it knows). The JWT's
/// signature is not checked: the token is only passed on, never trusted for its claims.
#[derive(Clone)]
pub struct Token {
    access_token: AccessToken,
    scope: Option<String>,
    extras: Map<String, Value>,
    issued_at: Instant,
    lifetime: Duration,
    jwt_expiry: Option<SystemTime>,
    refresh_early: Duration,
    /// `issued_at + lifetime - refresh_early`: before it, a hit is one comparison.
    fresh_until: Instant,
    bearer: HeaderValue,
    connect_token: HeaderValue,
}

impl Token {
    /// Parses a token endpoint's answer.
    ///
    /// Accepts RFC 6749 §5.1 JSON, myConnectedFleet's `{"success": true, "accessToken": …}`
    /// and Apigee-style answers (`expires_in` as a string), as JSON or form-urlencoded
    /// whatever the Content-Type says. `sent_at` is when the request was sent; `now` is the
    /// wall-clock time, used to turn a JWT `exp` into a lifetime.
    ///
    /// # Errors
    ///
    /// - [`Error::CredentialsRejected`] / [`Error::EndpointRefused`]: a non-2xx status, or a
    ///   2xx body that carries an error (`error`, `"success": false`, …).
    /// - [`Error::InvalidResponse`]: a 2xx body without a usable token. The body itself is
    ///   never kept in the error: it may hold a token.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Instant, SystemTime};
    /// use apiauth::{Token, TokenScheme};
    ///
    /// let body = br#"{"success":true,"accessToken":"B98385","token_type":"bearer","expires_in":2591999}"#;
    /// let token = Token::from_response(200, body, Instant::now(), SystemTime::now())?;
    /// assert_eq!(token.access_token().secret(), "B98385");
    /// assert_eq!(token.header(TokenScheme::Bearer), "Bearer B98385");
    /// assert_eq!(token.header(TokenScheme::ConnectToken), "TOKEN B98385");
    /// assert_eq!(token.lifetime().as_secs(), 2591999);
    /// # Ok::<(), apiauth::Error>(())
    /// ```
    pub fn from_response(
        status: u16,
        body: &[u8],
        sent_at: Instant,
        now: SystemTime,
    ) -> Result<Token> {
        let success = (200..300).contains(&status);
        let Some(fields) = parse_body(body) else {
            return Err(match success {
                true => Error::InvalidResponse("body is neither a JSON object nor a form"),
                false => refused(status, &Map::new()),
            });
        };
        if !success || carries_error(&fields.rest) {
            return Err(refused(status, &fields.rest));
        }
        Token::from_fields(fields, sent_at, now)
    }

    fn from_fields(fields: Fields, sent_at: Instant, now: SystemTime) -> Result<Token> {
        let access_token = fields
            .access_token
            .ok_or(Error::InvalidResponse("no access token in the answer"))?;
        if access_token.is_empty() || !access_token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidResponse(
                "access token is empty or holds bytes not allowed in a header",
            ));
        }
        if !fields.bearer_type {
            return Err(Error::InvalidResponse("token type is not bearer"));
        }
        let expires_in = fields.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let jwt_expiry = jwt_expiry(&access_token);
        let lifetime = match jwt_expiry {
            None => expires_in,
            Some(exp) => match exp.duration_since(now) {
                Ok(left) if !left.is_zero() => expires_in.min(left),
                _ => {
                    return Err(Error::InvalidResponse(
                        "the JWT's exp is already past (check the clock)",
                    ));
                }
            },
        };
        let times = (sent_at, lifetime, jwt_expiry);
        Token::build(access_token, fields.scope, fields.rest, times)
    }

    /// A token read back from a store: issued at `issued` on the wall clock, valid for
    /// `lifetime` from then. `now` and `wall` are the two clocks' present readings. `None`
    /// when the stored values cannot be a token, or were stored more than a minute "in the
    /// future".
    pub(crate) fn restore(
        access_token: String,
        scope: Option<String>,
        (issued, lifetime): (SystemTime, Duration),
        (now, wall): (Instant, SystemTime),
    ) -> Option<Token> {
        if lifetime > MAX_LIFETIME || !access_token.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        // Issued in the future: the clock was set back since. A little is NTP at work; more
        // and the token's age is unknown, so it is not trusted.
        let age = match wall.duration_since(issued) {
            Ok(age) => age,
            Err(ahead) if ahead.duration() <= Duration::from_secs(60) => Duration::ZERO,
            Err(_) => return None,
        };
        let times = (now.checked_sub(age)?, lifetime, jwt_expiry(&access_token));
        Token::build(access_token, scope, Map::new(), times).ok()
    }

    fn build(
        access_token: String,
        scope: Option<String>,
        extras: Map<String, Value>,
        (issued_at, lifetime, jwt_expiry): (Instant, Duration, Option<SystemTime>),
    ) -> Result<Token> {
        Ok(Token {
            bearer: header_for(TokenScheme::Bearer, &access_token)?,
            connect_token: header_for(TokenScheme::ConnectToken, &access_token)?,
            access_token: AccessToken::new(access_token),
            scope,
            extras,
            issued_at,
            lifetime,
            jwt_expiry,
            refresh_early: lifetime / 2,
            fresh_until: issued_at + lifetime / 2,
        })
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The token type, normalised: always `Bearer` (a missing type is taken as `Bearer`;
    /// any other type is refused when parsing, as RFC 6749 §7.1 asks).
    pub fn token_type(&self) -> &str {
        "Bearer"
    }

    /// The granted scope, when the server said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The answer's other fields (`issued_at`, `client_id`, `success`, …), as sent.
    ///
    /// # Security
    ///
    /// A server may put other secrets here (a `refresh_token`, an `id_token`).
    pub fn extras(&self) -> &Map<String, Value> {
        &self.extras
    }

    /// How long the token is valid, counted from [`Token::issued_at`]: `expires_in`
    /// (or [`DEFAULT_LIFETIME`]), shortened to the JWT `exp` if that comes first, and at most
    /// [`MAX_LIFETIME`].
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// When the token request was sent, on the monotonic clock.
    pub fn issued_at(&self) -> Instant {
        self.issued_at
    }

    /// When the token expires, on the monotonic clock.
    pub fn expires_at(&self) -> Instant {
        self.issued_at + self.lifetime
    }

    /// The JWT `exp` claim, when the token is a JWT that has one.
    pub fn jwt_expiry(&self) -> Option<SystemTime> {
        self.jwt_expiry
    }

    /// The header value for `scheme`, built when the token was parsed and marked sensitive:
    /// `Bearer <token>` or `TOKEN <token>`.
    #[inline]
    pub fn header(&self, scheme: TokenScheme) -> &HeaderValue {
        match scheme {
            TokenScheme::Bearer => &self.bearer,
            TokenScheme::ConnectToken => &self.connect_token,
        }
    }

    /// Sets how long before expiry the token counts as [`Freshness::Stale`]: `margin`, but
    /// never more than half the lifetime, so a short-lived token is still reused.
    pub(crate) fn set_refresh_margin(&mut self, margin: Duration) {
        self.refresh_early = margin.min(self.lifetime / 2);
        self.fresh_until = self.expires_at() - self.refresh_early;
    }

    /// Where the token stands at `now`. `wall` is read only when the token has a JWT `exp`.
    #[inline]
    pub fn freshness(&self, now: Instant, wall: impl FnOnce() -> SystemTime) -> Freshness {
        let on_monotonic = match now {
            now if now < self.fresh_until => Freshness::Fresh,
            now if now < self.expires_at() => Freshness::Stale,
            _ => return Freshness::Expired,
        };
        let Some(exp) = self.jwt_expiry else {
            return on_monotonic;
        };
        match exp.duration_since(wall()) {
            Ok(left) if left > self.refresh_early => on_monotonic,
            Ok(left) if !left.is_zero() => Freshness::Stale,
            _ => Freshness::Expired,
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &self.access_token)
            .field("scope", &self.scope)
            .field("extras", &self.extras.keys().collect::<Vec<_>>())
            .field("lifetime", &self.lifetime)
            .field("jwt_expiry", &self.jwt_expiry)
            .finish_non_exhaustive()
    }
}

fn header_for(scheme: TokenScheme, token: &str) -> Result<HeaderValue> {
    sensitive(scheme.prefix(), token, "access token")
}

/// The fields of an answer the library reads, and the others as they came. Read in one
/// pass: the known keys (in either dialect's spelling) are matched without allocating.
struct Fields {
    access_token: Option<String>,
    /// False when a `token_type` other than bearer (in any case) was given.
    bearer_type: bool,
    expires_in: Option<Duration>,
    scope: Option<String>,
    rest: Map<String, Value>,
}

/// The keys [`Fields`] knows.
enum Key {
    AccessToken,
    TokenType,
    ExpiresIn,
    Scope,
    Other(String),
}

impl Key {
    fn new(key: &str) -> Key {
        match key {
            "access_token" | "accessToken" => Key::AccessToken,
            "token_type" | "tokenType" => Key::TokenType,
            "expires_in" | "expiresIn" => Key::ExpiresIn,
            "scope" => Key::Scope,
            other => Key::Other(other.to_owned()),
        }
    }
}

impl Fields {
    fn new() -> Fields {
        Fields {
            access_token: None,
            bearer_type: true,
            expires_in: None,
            scope: None,
            rest: Map::new(),
        }
    }

    fn set(&mut self, key: Key, value: Value) {
        let text = |value: Value| match value {
            Value::String(s) => Some(s),
            _ => None,
        };
        match key {
            Key::AccessToken => self.access_token = text(value),
            Key::TokenType => {
                self.bearer_type = value
                    .as_str()
                    .is_none_or(|t| t.eq_ignore_ascii_case("bearer"))
            }
            Key::ExpiresIn => self.expires_in = seconds(&value),
            Key::Scope => self.scope = text(value),
            Key::Other(key) => drop(self.rest.insert(key, value)),
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<Key, E> {
                Ok(Key::new(key))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Fields, A::Error> {
                let mut fields = Fields::new();
                while let Some(key) = map.next_key::<Key>()? {
                    fields.set(key, map.next_value()?);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// A JSON object, or a form (`a=1&b=2`), whatever the Content-Type claims.
fn parse_body(body: &[u8]) -> Option<Fields> {
    let body = body.trim_ascii();
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match body.first()? {
        b'{' => serde_json::from_slice(body).ok(),
        b'<' => None,
        _ if body.contains(&b'=') => {
            let mut fields = Fields::new();
            for (k, v) in form::decode_pairs(body)? {
                fields.set(Key::new(&k), Value::String(v));
            }
            Some(fields)
        }
        _ => None,
    }
}

/// Whether a 2xx body is in fact an error.
fn carries_error(fields: &Map<String, Value>) -> bool {
    let present = |k: &str| fields.get(k).is_some_and(|v| !v.is_null());
    is_false(fields.get("success"))
        || ["error", "ErrorCode", "errorCode", "fault"]
            .iter()
            .any(|k| present(k))
        || (fields.get("status").and_then(Value::as_u64)).is_some_and(|s| s >= 400)
}

fn is_false(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(false))) || value.and_then(Value::as_str) == Some("false")
}

/// The typed error for a refusal, with the code and description of whichever known shape
/// the body has.
fn refused(status: u16, fields: &Map<String, Value>) -> Error {
    let text = |keys: &[&str]| keys.iter().find_map(|k| fields.get(*k).and_then(clean));
    let fault = fields.get("fault");
    let code = text(&["error", "ErrorCode", "errorCode", "code"]).or_else(|| {
        fault
            .and_then(|f| f.pointer("/detail/errorcode"))
            .and_then(clean)
    });
    let description = text(&["error_description", "Error", "errorMsg", "message"])
        .or_else(|| fault.and_then(|f| f.get("faultstring")).and_then(clean));
    let details = Box::new(EndpointError {
        status,
        uri: text(&["error_uri"]),
        code,
        description,
        retry_after: None,
    });
    let code_says_client = details.code.as_deref().is_some_and(|c| {
        c.eq_ignore_ascii_case("invalid_client") || c.eq_ignore_ascii_case("unauthorized_client")
    });
    let body_status = fields.get("status").and_then(Value::as_u64);
    let unsuccessful = is_false(fields.get("success")) && status < 500 && status != 429;
    match status == 401 || body_status == Some(401) || code_says_client || unsuccessful {
        true => Error::CredentialsRejected(details),
        false => Error::EndpointRefused(details),
    }
}

/// A string or number from an error body, cut to 256 characters, control characters dropped.
fn clean(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let text: String = text.chars().filter(|c| !c.is_control()).take(256).collect();
    (!text.is_empty()).then_some(text)
}

/// `expires_in` as a number or a numeric string; `None` when missing, zero, negative or not
/// a number. Clamped to [`MAX_LIFETIME`].
fn seconds(value: &Value) -> Option<Duration> {
    let secs = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (secs >= 1.0).then(|| Duration::from_secs_f64(secs.min(MAX_LIFETIME.as_secs_f64())))
}

/// The `exp` claim of a JWT (three base64url segments), as a wall-clock time. `None` for an
/// opaque token, a JWT without a numeric `exp`, or one that does not decode.
pub(crate) fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: Option<f64>,
    }
    let claims = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let exp = serde_json::from_slice::<Claims>(&claims).ok()?.exp?;
    let exp = Duration::try_from_secs_f64(exp).ok()?;
    UNIX_EPOCH.checked_add(exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    fn parse(body: &str) -> Result<Token> {
        Token::from_response(200, body.as_bytes(), Instant::now(), SystemTime::now())
    }

    #[test]
    fn expires_in_forms() {
        let lifetime = |v: &str| {
            parse(&format!(r#"{{"access_token":"t","expires_in":{v}}}"#))
                .unwrap()
                .lifetime()
        };
        assert_eq!(lifetime("3599"), Duration::from_secs(3599));
        assert_eq!(lifetime(r#""3599""#), Duration::from_secs(3599));
        assert_eq!(lifetime("12.5"), Duration::from_secs_f64(12.5));
        for default in ["0", "-5", "null", r#""soon""#, "[]", "0.5"] {
            assert_eq!(lifetime(default), DEFAULT_LIFETIME, "{default}");
        }
        assert_eq!(lifetime("1e300"), MAX_LIFETIME);
        assert_eq!(lifetime("18446744073709551616"), MAX_LIFETIME);
        assert_eq!(
            parse(r#"{"access_token":"t"}"#).unwrap().lifetime(),
            DEFAULT_LIFETIME
        );
    }

    #[test]
    fn jwt_exp_shortens_the_lifetime() {
        let now = SystemTime::now();
        let exp = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 100;
        let token = jwt(&format!(r#"{{"exp":{exp}}}"#));
        let body = format!(r#"{{"access_token":"{token}","expires_in":3599}}"#);
        let t = Token::from_response(200, body.as_bytes(), Instant::now(), now).unwrap();
        assert_eq!(t.jwt_expiry(), Some(UNIX_EPOCH + Duration::from_secs(exp)));
        assert!(t.lifetime() <= Duration::from_secs(100) && t.lifetime() > Duration::from_secs(98));
        // exp later than expires_in: expires_in wins.
        let late = jwt(r#"{"exp":253402300799}"#);
        let t = parse(&format!(r#"{{"access_token":"{late}","expires_in":60}}"#)).unwrap();
        assert_eq!(t.lifetime(), Duration::from_secs(60));
        // exp in 1970: refused, the clock or the token is wrong.
        let past = jwt(r#"{"exp":1}"#);
        assert!(matches!(
            parse(&format!(r#"{{"access_token":"{past}"}}"#)),
            Err(Error::InvalidResponse(_))
        ));
    }

    #[test]
    fn jwt_claims_that_do_not_count() {
        for claims in [
            r#"{"exp":"12"}"#,
            r#"{"sub":"x"}"#,
            "not json",
            r#"{"exp":-1}"#,
        ] {
            assert_eq!(jwt_expiry(&jwt(claims)), None, "{claims}");
        }
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(jwt_expiry("a.b"), None);
        assert_eq!(jwt_expiry("a.b.c.d"), None);
        let float = jwt(r#"{"exp":2000000000.5}"#);
        assert_eq!(
            jwt_expiry(&float),
            Some(UNIX_EPOCH + Duration::from_secs_f64(2000000000.5))
        );
    }

    #[test]
    fn freshness_follows_margin_capped_at_half_life() {
        let sent = Instant::now();
        let body = br#"{"access_token":"t","expires_in":10}"#;
        let mut t = Token::from_response(200, body, sent, SystemTime::now()).unwrap();
        t.set_refresh_margin(Duration::from_secs(60));
        let at = |s: f64| t.freshness(sent + Duration::from_secs_f64(s), || unreachable!());
        assert_eq!(at(4.9), Freshness::Fresh);
        assert_eq!(at(5.1), Freshness::Stale);
        assert_eq!(at(10.0), Freshness::Expired);
    }

    #[test]
    fn wall_clock_past_exp_means_expired() {
        let now = SystemTime::now();
        let exp = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
        let body = format!(
            r#"{{"access_token":"{}"}}"#,
            jwt(&format!(r#"{{"exp":{exp}}}"#))
        );
        let sent = Instant::now();
        let t = Token::from_response(200, body.as_bytes(), sent, now).unwrap();
        // The monotonic clock says a second passed; the wall clock says the machine slept 2 h.
        let woke = now + Duration::from_secs(7200);
        assert_eq!(
            t.freshness(sent + Duration::from_secs(1), || woke),
            Freshness::Expired
        );
        assert_eq!(
            t.freshness(sent + Duration::from_secs(1), || now),
            Freshness::Fresh
        );
    }

    #[test]
    fn a_restored_token_keeps_its_age_and_margin() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let hour = Duration::from_secs(3600);
        let restore = |token: &str, issued_ago: i64, lifetime| {
            let issued = match issued_ago {
                ago @ 0.. => wall - Duration::from_secs(ago as u64),
                ahead => wall + Duration::from_secs(ahead.unsigned_abs()),
            };
            Token::restore(token.into(), None, (issued, lifetime), (now, wall))
        };
        let mut t = restore("T", 3000, hour).unwrap();
        t.set_refresh_margin(Duration::from_secs(60));
        assert_eq!(t.expires_at(), now + Duration::from_secs(600));
        assert_eq!(t.freshness(now, || wall), Freshness::Fresh);
        let stale = now + Duration::from_secs(545);
        assert_eq!(t.freshness(stale, || wall), Freshness::Stale);
        // A short-lived token's margin is half its *original* life, not of what is left.
        let mut short = restore("S", 5, Duration::from_secs(20)).unwrap();
        short.set_refresh_margin(Duration::from_secs(60));
        assert_eq!(short.freshness(now, || wall), Freshness::Fresh);
        assert_eq!(
            short.freshness(now + Duration::from_secs(6), || wall),
            Freshness::Stale
        );
        // Clock set back: a little is tolerated, more is not trusted.
        assert!(restore("T", -30, hour).is_some_and(|t| t.issued_at() == now));
        assert!(restore("T", -120, hour).is_none());
        assert!(restore("bad token", 0, hour).is_none());
        assert!(restore("T", 0, MAX_LIFETIME + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn token_types_and_values() {
        assert_eq!(
            parse(r#"{"access_token":"t","token_type":"BEARER"}"#)
                .unwrap()
                .token_type(),
            "Bearer"
        );
        assert!(matches!(
            parse(r#"{"access_token":"t","token_type":"mac"}"#),
            Err(Error::InvalidResponse("token type is not bearer"))
        ));
        for bad in [r#""""#, r#""a b""#, r#""a\r\nb""#, r#""é""#, "42"] {
            assert!(
                matches!(
                    parse(&format!(r#"{{"access_token":{bad}}}"#)),
                    Err(Error::InvalidResponse(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn form_and_text_bodies_parse_like_json() {
        let t = parse(" access_token=a%2Eb&token_type=bearer&expires_in=60&scope=x+y\n").unwrap();
        assert_eq!(t.access_token().secret(), "a.b");
        assert_eq!(t.scope(), Some("x y"));
        assert_eq!(t.lifetime(), Duration::from_secs(60));
    }
}
