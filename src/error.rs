//! The one error type of the crate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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
    /// The endpoint could not be reached or did not answer in time (DNS, connect, TLS,
    /// timeout, connection closed). Usually worth retrying later.
    Transport(Arc<ureq::Error>),
    /// The token endpoint rejected the client credentials (HTTP 401, `invalid_client`,
    /// `unauthorized_client`, or myConnectedFleet's `"success": false`). Retrying with the
    /// same credentials will not help.
    CredentialsRejected(Box<EndpointError>),
    /// The token endpoint answered with an error that is not about the credentials
    /// (RFC 6749 §5.2 `invalid_scope`, 429, 5xx, an HTML error page, …).
    EndpointRefused(Box<EndpointError>),
    /// A 2xx answer that holds no usable token: not JSON or a form, no access token, an
    /// unsupported token type, an already expired JWT, or larger than the body cap.
    InvalidResponse(&'static str),
    /// A value that would become a header (the named part) holds CR, LF, NUL or another
    /// byte that is not allowed there. Nothing was sent.
    InvalidHeaderValue(&'static str),
    /// An API answered a call with this non-2xx status (after the one retry a 401 gets).
    ApiStatus(u16),
    /// An API's 2xx answer was not the JSON the caller asked for.
    ApiBody(Arc<serde_json::Error>),
    /// The configuration cannot work (a non-https token URL, a form parameter that collides
    /// with one the library sets, …). Nothing was sent.
    Config(String),
}

/// The reasons an [`Error::InvalidResponse`] gives, each written once: the disk cache's
/// failure records name them, and rebuild only these.
pub(crate) mod unusable {
    pub const NOT_JSON_OR_FORM: &str = "body is neither a JSON object nor a form";
    pub const NO_ACCESS_TOKEN: &str = "no access token in the answer";
    pub const BAD_TOKEN_BYTES: &str =
        "access token is empty or holds bytes not allowed in a header";
    pub const NOT_BEARER: &str = "token type is not bearer";
    pub const JWT_EXPIRED: &str = "the JWT's exp is already past (check the clock)";
    pub const TOO_LARGE: &str = "answer is larger than 64 KiB";
    /// Every reason above.
    pub const ALL: [&str; 6] = [
        NOT_JSON_OR_FORM,
        NO_ACCESS_TOKEN,
        BAD_TOKEN_BYTES,
        NOT_BEARER,
        JWT_EXPIRED,
        TOO_LARGE,
    ];
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
        write!(f, "token endpoint returned {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        if let Some(description) = &self.description {
            write!(f, " ({description})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport(_) => f.write_str("could not reach the endpoint"),
            Error::CredentialsRejected(e) => write!(f, "credentials rejected: {e}"),
            Error::EndpointRefused(e) => e.fmt(f),
            Error::InvalidResponse(why) => write!(f, "unusable token response: {why}"),
            Error::InvalidHeaderValue(what) => {
                write!(f, "{what} holds a byte not allowed in a header value")
            }
            Error::ApiStatus(status) => write!(f, "api returned {status}"),
            Error::ApiBody(_) => f.write_str("api answer is not the expected json"),
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => Some(&**e),
            Error::ApiBody(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<ureq::Error> for Error {
    fn from(e: ureq::Error) -> Self {
        Error::Transport(Arc::new(e))
    }
}

/// For `?` in functions that return `std::io::Result`: the error becomes the source of an
/// `io::Error` whose kind says what it was (`TimedOut`, `PermissionDenied`,
/// `InvalidInput`, `InvalidData`, or `Other`).
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match &error {
            Error::Transport(e) if matches!(**e, ureq::Error::Timeout(_)) => ErrorKind::TimedOut,
            Error::Transport(e) => match &**e {
                ureq::Error::Io(io) => io.kind(),
                _ => ErrorKind::Other,
            },
            Error::CredentialsRejected(_) => ErrorKind::PermissionDenied,
            Error::Config(_) | Error::InvalidHeaderValue(_) => ErrorKind::InvalidInput,
            Error::InvalidResponse(_) | Error::ApiBody(_) => ErrorKind::InvalidData,
            _ => ErrorKind::Other,
        };
        std::io::Error::new(kind, error)
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
            status: 401,
            code: Some("invalid_client".into()),
            description: None,
            uri: None,
            retry_after: None,
        }));
        assert_eq!(
            e.to_string(),
            "credentials rejected: token endpoint returned 401: invalid_client"
        );
    }
}
