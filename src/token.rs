//! [`Token`]: a parsed access token, its expiry, and its ready-made header values (see
//! [`TokenScheme`]). What
//! the answer looked like is [`answer`]'s business; when to refresh is the cache's.

mod answer;
pub(crate) use answer::finish_texts;
pub(crate) mod jwt;
mod server_time;
pub(crate) use crate::clock::{shifted, skew_ms};
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use ureq::http::{HeaderName, HeaderValue, header::AUTHORIZATION};

use crate::secret::sensitive;
use crate::{AccessToken, Error, Result};

/// The lifetime assumed when an answer has no usable `expires_in` (missing, null, zero,
/// negative or not a number): 5 minutes. Never "valid forever".
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The longest lifetime believed, whatever the server says: 365 days.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// The shortest lifetime a server is taken at its word for: 1 s. A shorter `expires_in` is
/// read as missing ([`Token::DEFAULT_LIFETIME`]); a JWT whose `exp` is closer than this on the
/// server's clock is kept but marked as living too short, which the cache treats as a
/// failure (with backoff), never as a reason to fetch on every call.
pub(crate) const MIN_LIFETIME: Duration = Duration::from_secs(1);

/// An access token with its scope, expiry and ready-made header values.
///
/// The expiry counts from when the token request was sent, on the monotonic clock. When the
/// token is a JWT with an `exp` claim, the earlier of `exp` and `expires_in` wins, `exp`
/// being read against the *server's* clock (the JWT's `iat`, an `issued_at` field, or the
/// answer's `Date`), so a host whose clock is off neither refuses good tokens nor keeps
/// expired ones. `exp` is also checked on the host's wall clock moved by the skew measured
/// then (so a machine that slept past it knows). The JWT's signature is not checked: the
/// token is only passed on, never trusted for its claims.
#[derive(Clone)]
pub struct Token {
    access_token: AccessToken,
    scope: Option<String>,
    extras: Map<String, Value>,
    validity: Validity,
    bearer: HeaderValue,
    connect_token: HeaderValue,
}

/// When a token was issued and how long it lives, on both clocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validity {
    /// When the token request was sent, on the monotonic clock.
    pub issued_at: Instant,
    /// When the token was issued on the host's wall clock (to within the request's round
    /// trip).
    pub issued_wall: SystemTime,
    /// `expires_in`, shortened to the JWT's `exp` (on the server's clock) if that comes
    /// first.
    pub lifetime: Duration,
    /// The JWT's `exp` claim, on the server's clock.
    pub jwt_expiry: Option<SystemTime>,
    /// The host's wall clock minus the server's, in milliseconds, as measured when the
    /// token was fetched; 0 when the answer did not tell the server's time.
    pub skew_ms: i64,
    /// The server gave the token less than [`Token::MIN_LIFETIME`].
    pub below_floor: bool,
}

/// A token as a store keeps it: when it was fetched, for how long (in the server's terms),
/// the JWT's `exp` (on the server's clock), and how far the clock `issued_at` is on was
/// ahead of the server's, in milliseconds (negative: behind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub access_token: String,
    pub scope: Option<String>,
    pub issued_at: SystemTime,
    pub lifetime: Duration,
    pub exp: Option<SystemTime>,
    pub skew_ms: i64,
}

impl Validity {
    /// When the token expires, on the monotonic clock.
    pub fn expires_at(&self) -> Instant {
        self.issued_at + self.lifetime
    }

    /// How long before the JWT's `exp`, judged at `host_wall` moved by the measured skew
    /// (zero once past it); `None` for a token that is not a JWT with an `exp`.
    pub fn wall_left(&self, host_wall: SystemTime) -> Option<Duration> {
        let server_now = shifted(host_wall, self.skew_ms.saturating_neg());
        let exp = self.jwt_expiry?;
        Some(exp.duration_since(server_now).unwrap_or_default())
    }
}

impl Token {
    /// The lifetime assumed when an answer has no `expires_in` (or `null`): 5 minutes.
    /// Never "valid forever".
    pub const DEFAULT_LIFETIME: Duration = DEFAULT_LIFETIME;
    /// The longest lifetime believed, whatever the server says: 365 days.
    pub const MAX_LIFETIME: Duration = MAX_LIFETIME;
    /// The shortest lifetime a server is taken at its word for: 1 s. A token the server
    /// gives less is handed out while it lasts, but counts as a failure (with backoff).
    pub const MIN_LIFETIME: Duration = MIN_LIFETIME;

    /// Parses a token endpoint's answer.
    ///
    /// Accepts RFC 6749 §5.1 JSON, myConnectedFleet's `{"success": true, "accessToken": …}`
    /// and Apigee-style answers (`expires_in` as a string), as JSON or form-urlencoded
    /// whatever the Content-Type says. A missing or empty `token_type` means Bearer; any
    /// other type is refused (RFC 6749 §7.1). `sent_at` is when the request was sent; `now`
    /// is the host's wall-clock time when the answer came; `date` is the answer's HTTP
    /// `Date`, if any. A JWT's `exp` is read against the server's clock: its `iat` when
    /// plausible, else an `issued_at` field (milliseconds), else `date`, else `now`; a
    /// server clock more than the token's `expires_in` away from when its `exp` says it was
    /// issued (a `Date` of 1970, a stale `iat`) is not believed, and `now` is used. The
    /// difference between `now` and the server's clock is kept for later wall-clock checks,
    /// and logged (once per process, as a warning) when over a minute.
    ///
    /// # Errors
    ///
    /// - [`Error::CredentialsRejected`] / [`Error::EndpointRefused`]: a non-2xx status, or a
    ///   2xx body that carries an error (`error`, `"success": false`, …).
    /// - [`Error::InvalidResponse`]: a 2xx body without a usable token, or a JWT whose `exp`
    ///   is already past on the server's clock. The body itself is never kept in the error:
    ///   it may hold a token.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Instant, SystemTime};
    /// use apiauth::{Token, TokenScheme};
    ///
    /// let body = br#"{"success":true,"accessToken":"B98385","token_type":"bearer","expires_in":2591999}"#;
    /// let token = Token::from_response(200, body, Instant::now(), SystemTime::now(), None)?;
    /// assert_eq!(token.access_token().secret(), "B98385");
    /// let (name, value) = token.header(TokenScheme::ConnectToken);
    /// assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-connect-token", "TOKEN B98385"));
    /// assert_eq!(token.lifetime().as_secs(), 2591999);
    /// # Ok::<(), apiauth::Error>(())
    /// ```
    pub fn from_response(
        status: u16,
        body: &[u8],
        sent_at: Instant,
        now: SystemTime,
        date: Option<SystemTime>,
    ) -> Result<Token> {
        Token::parse(status, body, sent_at, now, date).map_err(|mut error| {
            answer::finish_texts(&mut error, str::to_owned);
            error
        })
    }

    /// [`from_response`](Self::from_response), with an error's server texts not yet cut:
    /// the caller scrubs them of the secret, then [`answer::finish_texts`] cuts them.
    pub(crate) fn parse(
        status: u16,
        body: &[u8],
        sent_at: Instant,
        now: SystemTime,
        date: Option<SystemTime>,
    ) -> Result<Token> {
        let answer = answer::read(status, body)?;
        let expires_in = answer.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let jwt = jwt::times(&answer.access_token);
        let issued_at = server_time::issued_at(&answer.extras);
        // The token's life as the answer states it, to judge the server's clock by.
        let life = answer.expires_in.unwrap_or(MAX_LIFETIME);
        let server_now = server_time::reading(jwt, issued_at, date)
            .filter(|t| jwt.is_none_or(|jwt| server_time::plausible(*t, jwt.exp, life)));
        let skew_ms = server_now.map_or(0, |server| skew_ms(now, server));
        server_time::warn_if_off(skew_ms);
        let lifetime = match jwt {
            None => expires_in,
            Some(jwt) => match jwt.exp.duration_since(server_now.unwrap_or(now)) {
                Ok(left) if !left.is_zero() => expires_in.min(left),
                _ => return Err(Error::InvalidResponse(crate::Unusable::JwtExpired)),
            },
        };
        let validity = Validity {
            issued_at: sent_at,
            issued_wall: now,
            lifetime,
            jwt_expiry: jwt.map(|jwt| jwt.exp),
            skew_ms,
            below_floor: lifetime < MIN_LIFETIME,
        };
        Token::build(answer.access_token, answer.scope, answer.extras, validity)
    }

    /// A token read back from a store, its times already moved onto this host's clocks;
    /// `now` and `wall` are their present readings. `None` when the stored values cannot be
    /// a token, or were stored more than a minute "in the future".
    pub(crate) fn restore(stored: Stored, now: Instant, wall: SystemTime) -> Option<Token> {
        let Stored {
            access_token,
            lifetime,
            ..
        } = &stored;
        if *lifetime > MAX_LIFETIME || !access_token.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        // Issued in the future: the clock was set back since. A little is NTP at work; more
        // and the token's age is unknown, so it is not trusted.
        let age = match wall.duration_since(stored.issued_at) {
            Ok(age) => age,
            Err(ahead) if ahead.duration() <= Duration::from_secs(60) => Duration::ZERO,
            Err(_) => return None,
        };
        let validity = Validity {
            issued_at: now.checked_sub(age)?,
            issued_wall: stored.issued_at,
            lifetime: stored.lifetime,
            jwt_expiry: stored.exp,
            skew_ms: stored.skew_ms,
            below_floor: stored.lifetime < MIN_LIFETIME,
        };
        Token::build(stored.access_token, stored.scope, Map::new(), validity).ok()
    }

    fn build(
        access_token: String,
        scope: Option<String>,
        extras: Map<String, Value>,
        validity: Validity,
    ) -> Result<Token> {
        let value = |scheme: TokenScheme| sensitive(scheme.prefix(), &access_token, "access token");
        Ok(Token {
            bearer: value(TokenScheme::Bearer)?,
            connect_token: value(TokenScheme::ConnectToken)?,
            access_token: AccessToken::new(access_token),
            scope,
            extras,
            validity,
        })
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
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
    /// (or [`Token::DEFAULT_LIFETIME`]), shortened to the JWT `exp` if that comes first, and at most
    /// [`Token::MAX_LIFETIME`].
    pub fn lifetime(&self) -> Duration {
        self.validity.lifetime
    }

    /// When the token request was sent, on the monotonic clock.
    pub fn issued_at(&self) -> Instant {
        self.validity.issued_at
    }

    /// When the token expires, on the monotonic clock: [`Token::issued_at`] plus
    /// [`Token::lifetime`].
    pub fn expires_at_instant(&self) -> Instant {
        self.validity.expires_at()
    }

    /// When the token expires, on the host's wall clock: when it was issued on that clock
    /// (to within the request's round trip) plus [`Token::lifetime`]. For a JWT this is
    /// `exp` moved by the host clock's measured skew, not `exp` itself; see
    /// [`Token::jwt_expiry`].
    pub fn expires_at(&self) -> SystemTime {
        let issued = self.validity.issued_wall;
        issued.checked_add(self.validity.lifetime).unwrap_or(issued)
    }

    /// The JWT `exp` claim, when the token is a JWT that has one. It is a time on the
    /// *token server's* clock, which may differ from the host's; [`Token::expires_at`] is
    /// on the host's.
    pub fn jwt_expiry(&self) -> Option<SystemTime> {
        self.validity.jwt_expiry
    }

    /// How far the host's wall clock was ahead of the token server's when the token was
    /// fetched, in milliseconds (negative: behind); 0 when the answer did not tell the
    /// server's time.
    pub fn clock_skew_ms(&self) -> i64 {
        self.validity.skew_ms
    }

    pub(crate) fn validity(&self) -> &Validity {
        &self.validity
    }

    /// The header for `scheme`, as a ureq request builder takes it: `(authorization,
    /// "Bearer <token>")` or `(x-connect-token, "TOKEN <token>")`. The value was built when
    /// the token was parsed and is marked sensitive (its `Debug` prints `Sensitive`); it is lent,
    /// not cloned, so that a cache hit and its header cost one reference count, not two.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let token = apiauth::Token::from_response(200, br#"{"access_token":"t"}"#,
    /// #     std::time::Instant::now(), std::time::SystemTime::now(), None)?;
    /// let (name, value) = token.header(apiauth::TokenScheme::Bearer);
    /// let request = apiauth::http::Request::get("https://api.example.com/v1/things")
    ///     .header(name, value)
    ///     .body(())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header(&self, scheme: TokenScheme) -> (HeaderName, &HeaderValue) {
        (scheme.header_name(), self.header_value(scheme))
    }

    #[inline]
    pub(crate) fn header_value(&self, scheme: TokenScheme) -> &HeaderValue {
        match scheme {
            TokenScheme::Bearer => &self.bearer,
            TokenScheme::ConnectToken => &self.connect_token,
        }
    }
}

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

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &self.access_token)
            .field("scope", &self.scope)
            .field("extras", &self.extras.keys().collect::<Vec<_>>())
            .field("lifetime", &self.validity.lifetime)
            .field("jwt_expiry", &self.validity.jwt_expiry)
            .field("clock_skew_ms", &self.validity.skew_ms)
            .field("below_floor", &self.validity.below_floor)
            .finish_non_exhaustive()
    }
}
