//! [`Unreachable`]: why a request got no answer apiauth could read, as plain data (the side,
//! the redacted URL, a small cause), so that it can be stored and rebuilt without ureq.

use std::fmt;
use std::io::ErrorKind;
use std::time::Duration;

use ureq::config::Timeouts;

use crate::Error;
use crate::secret::scrub;

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
}

impl Unreachable {
    /// An [`Error::Transport`] of these parts.
    pub(crate) fn error(side: Side, url: String, cause: Cause, detail: Option<String>) -> Error {
        Error::Transport(Box::new(Unreachable {
            side,
            url,
            cause,
            detail,
        }))
    }

    /// The error of `error` on a request to `url` of `side`, whose phases had the limits
    /// `limits`; `secret` is removed from any text kept.
    pub(crate) fn from_ureq(
        side: Side,
        url: String,
        error: ureq::Error,
        limits: &Timeouts,
        secret: &str,
    ) -> Error {
        let (cause, keep_text) = match &error {
            ureq::Error::Timeout(phase) => (limit(limits, *phase), false),
            ureq::Error::HostNotFound => (Cause::HostNotFound, false),
            ureq::Error::BodyExceedsLimit(limit) => (Cause::TooLarge { limit: *limit }, false),
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => (Cause::ConnectionRefused, false),
                ErrorKind::TimedOut => (Cause::TimedOut { after: None }, false),
                // std's resolver gives an uncategorised error; its text is the only sign.
                _ if io.to_string().starts_with("failed to lookup address") => {
                    (Cause::HostNotFound, true)
                }
                kind => (Cause::Io(kind), true),
            },
            ureq::Error::Tls(_) | ureq::Error::TlsRequired => (Cause::Tls, true),
            #[cfg(feature = "rustls")]
            ureq::Error::Rustls(_) => (Cause::Tls, true),
            #[cfg(feature = "native-tls")]
            ureq::Error::NativeTls(_) => (Cause::Tls, true),
            ureq::Error::Protocol(_)
            | ureq::Error::Http(_)
            | ureq::Error::BadUri(_)
            | ureq::Error::LargeResponseHeader(..) => (Cause::Protocol, true),
            _ => (Cause::Other, true),
        };
        let detail = keep_text.then(|| one_line(&scrub(&error.to_string(), secret)));
        Unreachable::error(side, url, cause, detail)
    }
}

/// The limit of `phase` in `limits`, as a cause.
fn limit(limits: &Timeouts, phase: ureq::Timeout) -> Cause {
    use ureq::Timeout::*;
    let after = match phase {
        Global => limits.global,
        PerCall => limits.per_call,
        Resolve => limits.resolve,
        Connect => limits.connect,
        SendRequest => limits.send_request,
        SendBody => limits.send_body,
        RecvResponse => limits.recv_response,
        RecvBody => limits.recv_body,
        _ => None,
    };
    Cause::TimedOut { after }
}

/// `text` cut to 256 characters, control characters as spaces.
fn one_line(text: &str) -> String {
    let line = text.chars().take(256);
    line.map(|c| if c.is_control() { ' ' } else { c }).collect()
}

impl Cause {
    /// The `std::io::ErrorKind` this cause is closest to.
    pub(crate) fn io_kind(&self) -> ErrorKind {
        match self {
            Cause::TimedOut { .. } => ErrorKind::TimedOut,
            Cause::ConnectionRefused => ErrorKind::ConnectionRefused,
            Cause::Io(kind) => *kind,
            Cause::TooLarge { .. } => ErrorKind::InvalidData,
            _ => ErrorKind::Other,
        }
    }
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
        let Unreachable {
            side, url, cause, ..
        } = self;
        match cause {
            Cause::TooLarge { .. } => write!(f, "{side} {url} sent an {cause}")?,
            _ => write!(f, "could not reach the {side} {url}: {cause}")?,
        }
        match &self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(error: ureq::Error) -> String {
        let limits = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(1)))
            .build()
            .timeouts();
        let url = "https://a.example/t".to_owned();
        Unreachable::from_ureq(Side::TokenEndpoint, url, error, &limits, "s3cr3t!").to_string()
    }

    #[test]
    fn each_cause_names_the_side_the_url_and_itself() {
        let io = |kind, text| ureq::Error::Io(std::io::Error::new(kind, text));
        let lookup = "failed to lookup address information: Name or service not known";
        for (error, text) in [
            (
                ureq::Error::Timeout(ureq::Timeout::Connect),
                "could not reach the token endpoint https://a.example/t: timed out after 1s",
            ),
            (
                io(ErrorKind::ConnectionRefused, "refused (os error 111)"),
                "could not reach the token endpoint https://a.example/t: connection refused",
            ),
            (
                ureq::Error::HostNotFound,
                "could not reach the token endpoint https://a.example/t: host not found",
            ),
            (
                io(ErrorKind::Other, lookup),
                &format!(
                    "could not reach the token endpoint https://a.example/t: host not found (io: {lookup})"
                ),
            ),
            (
                ureq::Error::BodyExceedsLimit(10 << 20),
                "token endpoint https://a.example/t sent an answer larger than 10 MiB",
            ),
            (
                io(ErrorKind::ConnectionReset, "reset by s3cr3t!\n"),
                "could not reach the token endpoint https://a.example/t: i/o error: connection \
                 reset (io: reset by [redacted] )",
            ),
        ] {
            assert_eq!(shown(error), text);
        }
    }
}
