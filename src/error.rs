//! The one error type of the crate and its details: plain data (std, `http` and
//! `serde_json` types), made by the layers above it.

use std::fmt;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, split by what a caller does about it.
///
/// `Error` is `Clone` (a failed fetch is handed to every thread that waited for it) and never
/// holds a secret, a token or the raw body of a successful answer.
///
/// # Examples
///
/// ```
/// use apiauth::{Credentials, Error};
///
/// match Credentials::new("id", "line\r\nbreak") {
///     Err(Error::InvalidHeaderValue(what)) => assert_eq!(what, "client secret"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The token endpoint or an API could not be reached, did not answer in time, or sent
    /// more than apiauth reads: which side, its URL (without user, password or query) and
    /// the cause. Usually worth retrying later.
    Transport(Box<Unreachable>),
    /// The token endpoint rejected the client credentials (HTTP 401, `invalid_client`,
    /// `unauthorized_client`, or myConnectedFleet's `"success": false`). Retrying with the
    /// same credentials will not help.
    CredentialsRejected(Box<EndpointError>),
    /// The token endpoint answered with an error that is not about the credentials
    /// (RFC 6749 §5.2 `invalid_scope`, 429, 5xx, an HTML error page, …).
    EndpointRefused(Box<EndpointError>),
    /// A 2xx answer that holds no usable token: not JSON or a form, no access token, an
    /// unsupported token type, an already expired JWT, or larger than the body cap.
    InvalidResponse(Unusable),
    /// A value that would become a header (the named part) holds CR, LF, NUL or another
    /// byte that is not allowed there. Nothing was sent.
    InvalidHeaderValue(&'static str),
    /// An API answered a call with a 4xx or 5xx status (after the one retry a 401 gets):
    /// the status, the URL and the start of the body.
    ApiStatus(Box<ApiError>),
    /// An API's 2xx answer was not the JSON the caller asked for: the URL it came from
    /// (without user, password or query); serde's reason is the [`source`](std::error::Error::source).
    ApiBody {
        /// The URL the answer came from, without user, password or query.
        url: String,
        /// Why the answer is not the expected JSON.
        source: Arc<serde_json::Error>,
    },
    /// The configuration cannot work (a non-https token URL, a form parameter that collides
    /// with one the library sets, …). Nothing was sent.
    Config(String),
    /// No client assertion could be had for a token request (its file empty, unreadable or
    /// not a private regular file, its command failed or overran, its function failed): what
    /// and where, never its content. Nothing was sent; usually worth retrying later.
    Assertion(String),
}

/// Why a 2xx token answer is unusable: the reason of an [`Error::InvalidResponse`].
///
/// # Examples
///
/// ```
/// use apiauth::Unusable;
///
/// assert_eq!(Unusable::NotBearer.to_string(), "token type is not bearer");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unusable {
    /// The body is neither a JSON object nor a form.
    NotJsonOrForm,
    /// No access token in the answer.
    NoAccessToken,
    /// The access token is empty or holds bytes not allowed in a header.
    BadTokenBytes,
    /// The token type is not bearer.
    NotBearer,
    /// The JWT's `exp` is already past by the token server's own clock.
    JwtExpired,
    /// The answer is larger than 64 KiB.
    TooLarge,
    /// The token lives less than [`Token::MIN_LIFETIME`](crate::Token::MIN_LIFETIME) by the server's own
    /// clock. It is handed out while it lasts, but counts as a failure: the next request
    /// waits for the backoff, so such a server is never asked once per call.
    ShortLived,
    /// `expires_in` is present but neither a non-negative number nor a string of digits
    /// (RFC 6749 §5.1): `false`, `{}`, `"zzz"`, `-5`.
    InvalidExpiresIn,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unusable::NotJsonOrForm => "body is neither a JSON object nor a form",
            Unusable::NoAccessToken => "no access token in the answer",
            Unusable::BadTokenBytes => {
                "access token is empty or holds bytes not allowed in a header"
            }
            Unusable::NotBearer => "token type is not bearer",
            Unusable::JwtExpired => "the JWT's exp is already past by the token server's clock",
            Unusable::TooLarge => "answer is larger than 64 KiB",
            Unusable::ShortLived => "the token lives less than a second by the server's clock",
            Unusable::InvalidExpiresIn => "expires_in is not a non-negative number of seconds",
        })
    }
}

/// An API's 4xx or 5xx answer: its status, the request's method and URL, and the start of
/// its body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The method of the request that got the answer.
    pub method: String,
    /// The URL the answer came from, without user, password or query.
    pub url: String,
    /// The body's first 4 KiB (as UTF-8, lossily), with the client secret and the token
    /// removed.
    pub body: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, url, status) = (&self.method, &self.url, self.status);
        write!(f, "api {method} {url} returned {status}")?;
        let body: String = (self.body.chars().take(200))
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let body = body.trim();
        part(f, " (", (!body.is_empty()).then_some(body), ")")
    }
}

/// What a token endpoint said when it refused: the HTTP status and, when the body had one
/// of the known shapes, its code and description.
///
/// Known shapes: RFC 6749 §5.2 (`error`, `error_description`, `error_uri`), Apigee's
/// `{"ErrorCode", "Error"}` and `{"fault": {"faultstring", "detail": {"errorcode"}}}`, and
/// myConnectedFleet's `{"success": false, …}`, `{"errorCode", "errorMsg"}` and
/// `{"status", "message"}`. Texts are cut to 256 characters with control characters removed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointError {
    /// The token URL, without user, password or query (empty when not known).
    pub url: String,
    /// The HTTP status of the answer (200 when a 2xx body carried an error).
    pub status: u16,
    /// The machine-readable code, e.g. `invalid_client`.
    pub code: Option<String>,
    /// The human-readable description.
    pub description: Option<String>,
    /// RFC 6749 `error_uri`.
    pub uri: Option<String>,
    /// How long the server asked us to wait (`Retry-After` in seconds), if it did.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.url.as_str() {
            "" => write!(f, "token endpoint returned {}", self.status)?,
            url => write!(f, "token endpoint {url} returned {}", self.status)?,
        }
        part(f, ": ", self.code.as_deref(), "")?;
        part(f, " (", self.description.as_deref(), ")")?;
        part(f, "; see ", self.uri.as_deref(), "")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport(e) => e.fmt(f),
            Error::CredentialsRejected(e) => write!(f, "credentials rejected: {e}"),
            Error::EndpointRefused(e) => e.fmt(f),
            Error::InvalidResponse(why) => write!(f, "unusable token response: {why}"),
            Error::InvalidHeaderValue(what) => {
                write!(f, "{what} holds a byte not allowed in a header value")
            }
            Error::ApiStatus(e) => e.fmt(f),
            Error::ApiBody { url, .. } => write!(f, "api {url} answered json of another shape"),
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
            Error::Assertion(why) => write!(f, "no client assertion: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ApiBody { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// For `?` in functions that return `std::io::Result`: the error becomes the source of an
/// `io::Error` whose kind says what it was (`TimedOut`, `PermissionDenied`,
/// `InvalidInput`, `InvalidData`, or `Other`).
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        let kind = match &error {
            Error::Transport(e) => match e.cause {
                Cause::TimedOut { .. } => ErrorKind::TimedOut,
                Cause::ConnectionRefused => ErrorKind::ConnectionRefused,
                Cause::Io(kind) => kind,
                Cause::TooLarge { .. } => ErrorKind::InvalidData,
                _ => ErrorKind::Other,
            },
            Error::CredentialsRejected(_) => ErrorKind::PermissionDenied,
            Error::Config(_) | Error::InvalidHeaderValue(_) => ErrorKind::InvalidInput,
            Error::InvalidResponse(_) | Error::ApiBody { .. } => ErrorKind::InvalidData,
            _ => ErrorKind::Other,
        };
        std::io::Error::new(kind, error)
    }
}

/// `before`, `text` and `after` when there is a text: an optional part of a message.
fn part(f: &mut fmt::Formatter<'_>, before: &str, text: Option<&str>, after: &str) -> fmt::Result {
    match text {
        Some(text) => write!(f, "{before}{text}{after}"),
        None => Ok(()),
    }
}

/// Which side of a client a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// The token endpoint.
    TokenEndpoint,
    /// An API.
    Api,
}

/// Why a request got no answer apiauth could read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// A time limit ran out; `after` is the limit when known.
    TimedOut {
        /// The limit that ran out.
        after: Option<Duration>,
    },
    /// Nothing listens at the host and port (or a firewall said so).
    ConnectionRefused,
    /// The host name did not resolve.
    HostNotFound,
    /// TLS failed (handshake, certificate, …).
    Tls,
    /// The server did not speak HTTP as expected.
    Protocol,
    /// Another I/O error, by kind (connection reset, …).
    Io(ErrorKind),
    /// The answer is larger than apiauth reads.
    TooLarge {
        /// The most that is read, in bytes.
        limit: u64,
    },
    /// Anything else (a proxy, a redirect, …); the detail says what.
    Other,
}

/// The error of a request that got no answer apiauth could read: see
/// [`Error::Transport`]. Its `Display` is one line naming the side, the URL and the cause.
///
/// # Examples
///
/// ```
/// use apiauth::{Cause, Credentials, Error, TokenConfig};
///
/// // Port 9 on loopback: nothing listens there (the discard port is rarely served).
/// let source = TokenConfig::new("http://127.0.0.1:9/token", Credentials::new("id", "s")?)
///     .build()?;
/// match source.token() {
///     Err(Error::Transport(e)) => {
///         assert_eq!(e.url, "http://127.0.0.1:9/token");
///         println!("{e}"); // could not reach the token endpoint http://127.0.0.1:9/token: …
///     }
///     other => println!("{other:?}"),
/// }
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unreachable {
    /// The side the request went to.
    pub side: Side,
    /// Its URL, without user, password or query.
    pub url: String,
    /// What went wrong.
    pub cause: Cause,
    /// The transport's own words on it, when they add something (scrubbed of the secret).
    pub detail: Option<String>,
    /// The proxy the request went through, when one did (without user and password): a
    /// proxy that is down is named, not taken for the side it leads to.
    pub proxy: Option<String>,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::TimedOut { after: Some(d) } => write!(f, "timed out after {d:?}"),
            Cause::TimedOut { after: None } => f.write_str("timed out"),
            Cause::ConnectionRefused => f.write_str("connection refused"),
            Cause::HostNotFound => f.write_str("host not found"),
            Cause::Tls => f.write_str("tls failed"),
            Cause::Protocol => f.write_str("protocol error"),
            Cause::Io(kind) => write!(f, "i/o error: {kind}"),
            Cause::TooLarge { limit } if limit % (1 << 20) == 0 => {
                write!(f, "answer larger than {} MiB", limit >> 20)
            }
            Cause::TooLarge { limit } if limit % (1 << 10) == 0 => {
                write!(f, "answer larger than {} KiB", limit >> 10)
            }
            Cause::TooLarge { limit } => write!(f, "answer larger than {limit} bytes"),
            Cause::Other => f.write_str("request failed"),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::TokenEndpoint => "token endpoint",
            Side::Api => "api",
        })
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (side, url, cause) = (self.side, &self.url, self.cause);
        if let Cause::TooLarge { .. } = cause {
            write!(f, "{side} {url} sent an {cause}")?;
        } else {
            write!(f, "could not reach the {side} {url}")?;
            part(f, " through the proxy ", self.proxy.as_deref(), "")?;
            write!(f, ": {cause}")?;
        }
        part(f, " (", self.detail.as_deref(), ")")
    }
}

/// The stable names of the reasons an answer is unusable, as records keep them.
pub(crate) const UNUSABLE: [(Unusable, &str); 8] = [
    (Unusable::NotJsonOrForm, "not_json_or_form"),
    (Unusable::NoAccessToken, "no_access_token"),
    (Unusable::BadTokenBytes, "bad_token_bytes"),
    (Unusable::NotBearer, "not_bearer"),
    (Unusable::JwtExpired, "jwt_expired"),
    (Unusable::TooLarge, "too_large"),
    (Unusable::ShortLived, "short_lived"),
    (Unusable::InvalidExpiresIn, "invalid_expires_in"),
];

/// The I/O error kinds a record tells apart; any other comes back as `Other`.
const IO_KINDS: [ErrorKind; 16] = [
    ErrorKind::TimedOut,
    ErrorKind::ConnectionRefused,
    ErrorKind::ConnectionReset,
    ErrorKind::ConnectionAborted,
    ErrorKind::NotConnected,
    ErrorKind::HostUnreachable,
    ErrorKind::NetworkUnreachable,
    ErrorKind::NetworkDown,
    ErrorKind::AddrNotAvailable,
    ErrorKind::BrokenPipe,
    ErrorKind::UnexpectedEof,
    ErrorKind::PermissionDenied,
    ErrorKind::InvalidData,
    ErrorKind::StorageFull,
    ErrorKind::ResourceBusy,
    ErrorKind::Other,
];

/// `d` in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An error as a shared failure record keeps it: its own plain parts (an endpoint's URL,
/// status, code, description, URI and `Retry-After`; an unusable answer's reason; a transport
/// error's side, URL, cause, detail and proxy), so that the same variant with the same message
/// comes back. Never a secret, a token or a body: errors hold none.
impl Error {
    /// The record of the error; `None` for an error that is not the endpoint's (a
    /// configuration error: nothing was sent, and nothing is shared).
    pub(crate) fn to_record(&self) -> Option<Value> {
        let refusal = |kind, e: &EndpointError| {
            json!({"kind": kind, "url": e.url, "status": e.status, "code": e.code,
                "description": e.description, "uri": e.uri,
                "retry_after_ms": e.retry_after.map(millis)})
        };
        Some(match self {
            Error::CredentialsRejected(e) => refusal("rejected", e),
            Error::EndpointRefused(e) => refusal("refused", e),
            Error::InvalidResponse(why) => {
                let name = UNUSABLE.iter().find(|(w, _)| w == why).map(|(_, n)| *n);
                json!({"kind": "unusable", "why": name})
            }
            Error::Transport(e) => {
                let io_index = |kind| IO_KINDS.iter().position(|k| *k == kind).map(|i| i as u64);
                let (cause, value) = match e.cause {
                    Cause::TimedOut { after } => ("timed_out", after.map(millis)),
                    Cause::ConnectionRefused => ("connection_refused", None),
                    Cause::HostNotFound => ("host_not_found", None),
                    Cause::Tls => ("tls", None),
                    Cause::Protocol => ("protocol", None),
                    Cause::Io(kind) => ("io", io_index(kind)),
                    Cause::TooLarge { limit } => ("too_large", Some(limit)),
                    _ => ("other", None),
                };
                let api = e.side == Side::Api;
                let side = if api { "api" } else { "token_endpoint" };
                json!({"kind": "unreachable", "side": side, "url": e.url, "cause": cause,
                    "value": value, "detail": e.detail, "proxy": e.proxy})
            }
            _ => return None,
        })
    }

    /// The error a record holds: the same variant with the same parts, so the same message.
    pub(crate) fn from_record(value: &Value) -> Option<Error> {
        let text = |name| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let number = |name| value.get(name).and_then(Value::as_u64);
        let refusal = || {
            Some(Box::new(EndpointError {
                url: text("url")?,
                status: u16::try_from(number("status")?).ok()?,
                code: text("code"),
                description: text("description"),
                uri: text("uri"),
                retry_after: number("retry_after_ms").map(Duration::from_millis),
            }))
        };
        let error = match value.get("kind")?.as_str()? {
            "rejected" => Error::CredentialsRejected(refusal()?),
            "refused" => Error::EndpointRefused(refusal()?),
            "unusable" => {
                let why = text("why")?;
                Error::InvalidResponse(UNUSABLE.iter().find(|(_, n)| *n == why)?.0)
            }
            "unreachable" => {
                let extra = number("value");
                let io_kind = extra.and_then(|i| IO_KINDS.get(usize::try_from(i).ok()?));
                let after = extra.map(Duration::from_millis);
                let cause = match value.get("cause")?.as_str()? {
                    "timed_out" => Cause::TimedOut { after },
                    "connection_refused" => Cause::ConnectionRefused,
                    "host_not_found" => Cause::HostNotFound,
                    "tls" => Cause::Tls,
                    "protocol" => Cause::Protocol,
                    "too_large" => Cause::TooLarge { limit: extra? },
                    "io" => Cause::Io(*io_kind.unwrap_or(&ErrorKind::Other)),
                    "other" => Cause::Other,
                    _ => return None,
                };
                let api = value.get("side")?.as_str()? == "api";
                let side = if api { Side::Api } else { Side::TokenEndpoint };
                Error::Transport(Box::new(Unreachable {
                    side,
                    url: text("url")?,
                    cause,
                    detail: text("detail"),
                    proxy: text("proxy"),
                }))
            }
            _ => return None,
        };
        Some(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_thread_safe() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Error>();
        assert!(std::mem::size_of::<Error>() <= 32);
    }

    #[test]
    fn converts_to_io_error_keeping_the_kind_and_the_source() {
        fn read() -> std::io::Result<()> {
            Err(Error::Config("bad".into()))?
        }
        let e = read().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "invalid configuration: bad");
        let inner = e.into_inner().unwrap().downcast::<Error>().unwrap();
        assert!(matches!(*inner, Error::Config(_)));
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        let e = Error::CredentialsRejected(Box::new(EndpointError {
            url: "https://a.example/t".into(),
            status: 401,
            code: Some("invalid_client".into()),
            description: None,
            uri: None,
            retry_after: None,
        }));
        assert_eq!(
            e.to_string(),
            "credentials rejected: token endpoint https://a.example/t returned 401: invalid_client"
        );
    }
}
