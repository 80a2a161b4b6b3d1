//! A ureq error as the crate's [`Unreachable`]: the side, the redacted URL and a small
//! cause, with the transport's own words scrubbed of the secret.

use std::io::ErrorKind;

use ureq::config::Timeouts;

use crate::secret::scrub;
use crate::{Cause, Error, Side, Unreachable};

/// The error of `error` on a request to `url` of `side`, whose phases had the limits
/// `limits`, through `proxy` if any; `secret` is removed from any text kept.
pub(crate) fn from_ureq(
    side: Side,
    url: String,
    error: ureq::Error,
    limits: &Timeouts,
    secret: &str,
    proxy: Option<String>,
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
    // The text cut to 256 characters, control characters as spaces.
    let text = scrub(&error.to_string(), secret);
    let line = text.chars().take(256);
    let line = line.map(|c| if c.is_control() { ' ' } else { c });
    let detail = keep_text.then(|| line.collect());
    Error::Transport(Box::new(Unreachable {
        side,
        url,
        cause,
        detail,
        proxy,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn shown(error: ureq::Error) -> String {
        let limits = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(1)))
            .build()
            .timeouts();
        let url = "https://a.example/t".to_owned();
        from_ureq(Side::TokenEndpoint, url, error, &limits, "s3cr3t!", None).to_string()
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
