//! What a failure record keeps of an error: a summary that rebuilds the same variant with
//! the same message without reading any library's message text: an endpoint's URL, status,
//! code, description, URI and `Retry-After`; an unusable answer's reason (never the answer);
//! a transport error's side, URL, cause and detail. Nothing else: errors never hold a secret,
//! a token or a body (their texts were scrubbed of the secret when they were made).

use std::io::ErrorKind;
use std::time::Duration;

use serde_json::{Value, json};

use super::record::millis;
use crate::{Cause, EndpointError, Error, Side, Unreachable, Unusable};

/// What a failure record keeps of an [`Error`]: the error's own plain parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Summary {
    /// [`Error::CredentialsRejected`].
    Rejected(EndpointError),
    /// [`Error::EndpointRefused`].
    Refused(EndpointError),
    /// [`Error::InvalidResponse`].
    Unusable(Unusable),
    /// [`Error::Transport`].
    Unreachable(Unreachable),
}

/// The stable names of the reasons an answer is unusable, as records keep them.
const UNUSABLE: [(Unusable, &str); 7] = [
    (Unusable::NotJsonOrForm, "not_json_or_form"),
    (Unusable::NoAccessToken, "no_access_token"),
    (Unusable::BadTokenBytes, "bad_token_bytes"),
    (Unusable::NotBearer, "not_bearer"),
    (Unusable::JwtExpired, "jwt_expired"),
    (Unusable::TooLarge, "too_large"),
    (Unusable::ShortLived, "short_lived"),
];

/// The I/O error kinds a record tells apart, by their `Debug` names (the variant names);
/// any other comes back as `Other`.
const IO_KINDS: [ErrorKind; 24] = [
    ErrorKind::TimedOut,
    ErrorKind::ConnectionRefused,
    ErrorKind::ConnectionReset,
    ErrorKind::ConnectionAborted,
    ErrorKind::NotConnected,
    ErrorKind::HostUnreachable,
    ErrorKind::NetworkUnreachable,
    ErrorKind::NetworkDown,
    ErrorKind::AddrInUse,
    ErrorKind::AddrNotAvailable,
    ErrorKind::BrokenPipe,
    ErrorKind::UnexpectedEof,
    ErrorKind::WriteZero,
    ErrorKind::Interrupted,
    ErrorKind::WouldBlock,
    ErrorKind::NotFound,
    ErrorKind::PermissionDenied,
    ErrorKind::InvalidInput,
    ErrorKind::InvalidData,
    ErrorKind::Unsupported,
    ErrorKind::OutOfMemory,
    ErrorKind::ResourceBusy,
    ErrorKind::StorageFull,
    ErrorKind::Other,
];

/// The name `table` gives `value`, or its last name (the fallback) for one it lacks.
fn name_of<T: PartialEq + Copy>(table: &[(T, &'static str)], value: T) -> &'static str {
    let found = table.iter().find(|(v, _)| *v == value);
    found.or(table.last()).map_or("", |(_, name)| name)
}

/// The value `table` names `name`.
fn named<T: Copy>(table: &[(T, &'static str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
}

impl Summary {
    /// What to keep of `error`; `None` for an error that is not about the endpoint (a
    /// configuration error: nothing was sent, and nothing is shared).
    pub fn of(error: &Error) -> Option<Summary> {
        Some(match error {
            Error::CredentialsRejected(e) => Summary::Rejected((**e).clone()),
            Error::EndpointRefused(e) => Summary::Refused((**e).clone()),
            Error::InvalidResponse(why) => Summary::Unusable(*why),
            Error::Transport(e) => Summary::Unreachable((**e).clone()),
            _ => return None,
        })
    }

    /// The error again: the same variant with the same parts, so the same message.
    pub fn error(&self) -> Error {
        match self {
            Summary::Rejected(e) => Error::CredentialsRejected(Box::new(e.clone())),
            Summary::Refused(e) => Error::EndpointRefused(Box::new(e.clone())),
            Summary::Unusable(why) => Error::InvalidResponse(*why),
            Summary::Unreachable(e) => Error::Transport(Box::new(e.clone())),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        let refusal = |kind, e: &EndpointError| {
            json!({
                "kind": kind,
                "url": e.url,
                "status": e.status,
                "code": e.code,
                "description": e.description,
                "uri": e.uri,
                "retry_after_ms": e.retry_after.map(millis),
            })
        };
        match self {
            Summary::Rejected(e) => refusal("rejected", e),
            Summary::Refused(e) => refusal("refused", e),
            Summary::Unusable(why) => json!({"kind": "unusable", "why": name_of(&UNUSABLE, *why)}),
            Summary::Unreachable(e) => {
                let (cause, extra) = match e.cause {
                    Cause::TimedOut { after } => ("timed_out", after.map(millis)),
                    Cause::ConnectionRefused => ("connection_refused", None),
                    Cause::HostNotFound => ("host_not_found", None),
                    Cause::Tls => ("tls", None),
                    Cause::Protocol => ("protocol", None),
                    Cause::Io(_) => ("io", None),
                    Cause::TooLarge { limit } => ("too_large", Some(limit)),
                    _ => ("other", None),
                };
                let io_kind = match e.cause {
                    Cause::Io(kind) => Some(format!("{kind:?}")),
                    _ => None,
                };
                json!({
                    "kind": "unreachable",
                    "side": match e.side { Side::Api => "api", _ => "token_endpoint" },
                    "url": e.url,
                    "cause": cause,
                    "cause_value": extra,
                    "io_kind": io_kind,
                    "detail": e.detail,
                })
            }
        }
    }

    pub(super) fn from_json(value: &Value) -> Option<Summary> {
        let text = |name| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let number = |name| value.get(name).and_then(Value::as_u64);
        let refusal = || {
            Some(EndpointError {
                url: text("url")?,
                status: u16::try_from(number("status")?).ok()?,
                code: text("code"),
                description: text("description"),
                uri: text("uri"),
                retry_after: number("retry_after_ms").map(Duration::from_millis),
            })
        };
        Some(match value.get("kind")?.as_str()? {
            "rejected" => Summary::Rejected(refusal()?),
            "refused" => Summary::Refused(refusal()?),
            "unusable" => Summary::Unusable(named(&UNUSABLE, value.get("why")?.as_str()?)?),
            "unreachable" => {
                let extra = number("cause_value");
                let cause = match value.get("cause")?.as_str()? {
                    "timed_out" => Cause::TimedOut {
                        after: extra.map(Duration::from_millis),
                    },
                    "connection_refused" => Cause::ConnectionRefused,
                    "host_not_found" => Cause::HostNotFound,
                    "tls" => Cause::Tls,
                    "protocol" => Cause::Protocol,
                    "too_large" => Cause::TooLarge { limit: extra? },
                    "other" => Cause::Other,
                    "io" => {
                        let name = text("io_kind")?;
                        let known = IO_KINDS.into_iter().find(|k| format!("{k:?}") == name);
                        Cause::Io(known.unwrap_or(ErrorKind::Other))
                    }
                    _ => return None,
                };
                let side = match value.get("side")?.as_str()? {
                    "api" => Side::Api,
                    _ => Side::TokenEndpoint,
                };
                let Error::Transport(e) =
                    Unreachable::error(side, text("url")?, cause, text("detail"))
                else {
                    return None;
                };
                Summary::Unreachable(*e)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::cache::key::for_tests;
    use crate::cache::record::FailureRecord;

    #[test]
    fn recorded_errors_come_back_with_the_same_variant_and_message() {
        let refusal = EndpointError {
            url: "https://a.example/t".into(),
            status: 429,
            code: Some("slow_down".into()),
            description: Some("later".into()),
            uri: None,
            retry_after: Some(Duration::from_secs(3600)),
        };
        let unreachable = |cause| {
            let url = "https://a.example/t".to_owned();
            Unreachable::error(Side::TokenEndpoint, url, cause, Some("detail".into()))
        };
        let mut errors = vec![
            Error::EndpointRefused(Box::new(refusal.clone())),
            Error::CredentialsRejected(Box::new(refusal)),
        ];
        errors.extend(UNUSABLE.map(|(why, _)| Error::InvalidResponse(why)));
        errors.extend(
            [
                Cause::TimedOut {
                    after: Some(Duration::from_millis(1500)),
                },
                Cause::TimedOut { after: None },
                Cause::ConnectionRefused,
                Cause::HostNotFound,
                Cause::Tls,
                // Protocol errors (garbage, conflicting lengths) are failures like any other.
                Cause::Protocol,
                Cause::Io(ErrorKind::ConnectionReset),
                Cause::Io(ErrorKind::NetworkUnreachable),
                Cause::Io(ErrorKind::Other),
                Cause::TooLarge { limit: 65536 },
                Cause::Other,
            ]
            .map(unreachable),
        );
        let b = for_tests("s");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for error in errors {
            let record = FailureRecord {
                failed_at: t0,
                retry_at: t0 + Duration::from_secs(2),
                in_a_row: 2,
                error: Summary::of(&error).unwrap(),
            };
            let back = FailureRecord::decode(&record.encode(&b), &b).unwrap();
            assert_eq!(
                (back.failed_at, back.retry_at, back.in_a_row),
                (t0, record.retry_at, 2)
            );
            assert_eq!(back.error, record.error);
            let back = back.error.error();
            assert_eq!(back.to_string(), error.to_string());
            let kind = |e: Error| std::io::Error::from(e).kind();
            assert_eq!(kind(back), kind(error));
        }
        assert!(Summary::of(&Error::Config("bad".into())).is_none());
    }
}
