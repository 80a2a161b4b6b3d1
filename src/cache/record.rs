//! The records a source shares through a [`Store`](crate::store::Store), as JSON: a token,
//! a failure, a rejection. Each carries the format version, the settings it was written
//! for and the check of the secret (see [`Binding`]); a record that is not this version, not
//! for these settings or not for this secret is ignored. Times are wall-clock milliseconds
//! since the Unix epoch: the one clock processes and hosts share.
//!
//! Errors are kept as a summary that rebuilds the same variant with the same message
//! without reading any library's message text: an endpoint's URL, status, code,
//! description, URI and `Retry-After`; an unusable answer's reason (never the answer); a
//! transport error's side, URL, cause and detail. Nothing else: errors never hold a secret,
//! a token or a body (their texts were scrubbed of the secret when they were made).

use std::io::ErrorKind;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::key::{Binding, fnv1a};
use crate::{Cause, EndpointError, Error, Side, Unreachable, Unusable};

/// The records' format version; a record of another version is ignored.
pub(crate) const VERSION: u64 = 3;

/// A token as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRecord {
    pub access_token: String,
    pub scope: Option<String>,
    /// When the token request was sent, on the host's wall clock.
    pub issued_at: SystemTime,
    /// The token's lifetime, in the server's terms.
    pub lifetime: Duration,
    /// How far the host's wall clock was ahead of the token server's (negative: behind), in
    /// milliseconds: the JWT's `exp` is judged on the host clock moved by it.
    pub skew_ms: i64,
}

/// The last failed token request.
#[derive(Debug, Clone)]
pub(crate) struct FailureRecord {
    pub failed_at: SystemTime,
    pub retry_at: SystemTime,
    pub in_a_row: u32,
    pub error: Summary,
}

/// The last rejection of a token by an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RejectionRecord {
    /// FNV-1a of the rejected access token: enough to recognise it, and nothing to use.
    pub token_hash: u64,
    pub rejected_at: SystemTime,
    pub retry_at: SystemTime,
    pub in_a_row: u32,
}

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

/// The I/O error kinds a failed request is told apart by; any other is `other`.
const IO_KINDS: [(ErrorKind, &str); 9] = [
    (ErrorKind::TimedOut, "timed_out"),
    (ErrorKind::ConnectionRefused, "connection_refused"),
    (ErrorKind::ConnectionReset, "connection_reset"),
    (ErrorKind::ConnectionAborted, "connection_aborted"),
    (ErrorKind::NotConnected, "not_connected"),
    (ErrorKind::AddrNotAvailable, "addr_not_available"),
    (ErrorKind::BrokenPipe, "broken_pipe"),
    (ErrorKind::UnexpectedEof, "unexpected_eof"),
    (ErrorKind::Other, "other"),
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

    fn to_json(&self) -> Value {
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
                    Cause::Io(kind) => (name_of(&IO_KINDS, kind), None),
                    Cause::TooLarge { limit } => ("too_large", Some(limit)),
                    _ => ("other", None),
                };
                json!({
                    "kind": "unreachable",
                    "side": match e.side { Side::Api => "api", _ => "token_endpoint" },
                    "url": e.url,
                    "cause": cause,
                    "cause_value": extra,
                    "detail": e.detail,
                })
            }
        }
    }

    fn from_json(value: &Value) -> Option<Summary> {
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
                    io => Cause::Io(named(&IO_KINDS, io)?),
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

/// The fields every record starts with.
fn header(binding: &Binding, kind: &str) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("version".into(), VERSION.into());
    map.insert("kind".into(), kind.into());
    map.insert("settings".into(), binding.settings.clone());
    map.insert("check".into(), binding.check.into());
    map
}

/// The record in `bytes` if it is of this version and `kind`, and for `binding`.
fn open(bytes: &[u8], kind: &str, binding: &Binding) -> Option<Value> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let ours = value.get("version").and_then(Value::as_u64) == Some(VERSION)
        && value.get("kind").and_then(Value::as_str) == Some(kind)
        && binding.matches(&value);
    ours.then_some(value)
}

fn encode(map: serde_json::Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
}

impl TokenRecord {
    pub fn encode(&self, binding: &Binding) -> Vec<u8> {
        let mut map = header(binding, "token");
        map.insert("access_token".into(), self.access_token.clone().into());
        map.insert("scope".into(), self.scope.clone().into());
        map.insert("issued_at_ms".into(), wall_ms(self.issued_at).into());
        map.insert("lifetime_ms".into(), millis(self.lifetime).into());
        map.insert("skew_ms".into(), self.skew_ms.into());
        encode(map)
    }

    pub fn decode(bytes: &[u8], binding: &Binding) -> Option<TokenRecord> {
        TokenRecord::from_value(&open(bytes, "token", binding)?)
    }

    /// The token in a record of any settings (a listing: no secret to check).
    pub fn from_value(value: &Value) -> Option<TokenRecord> {
        Some(TokenRecord {
            access_token: value.get("access_token")?.as_str()?.to_owned(),
            scope: value.get("scope")?.as_str().map(str::to_owned),
            issued_at: wall(value.get("issued_at_ms")?)?,
            lifetime: Duration::from_millis(value.get("lifetime_ms")?.as_u64()?),
            skew_ms: value.get("skew_ms")?.as_i64()?,
        })
    }
}

impl FailureRecord {
    pub fn encode(&self, binding: &Binding) -> Vec<u8> {
        let mut map = header(binding, "failure");
        map.insert("failed_at_ms".into(), wall_ms(self.failed_at).into());
        map.insert("retry_at_ms".into(), wall_ms(self.retry_at).into());
        map.insert("in_a_row".into(), self.in_a_row.into());
        map.insert("error".into(), self.error.to_json());
        encode(map)
    }

    pub fn decode(bytes: &[u8], binding: &Binding) -> Option<FailureRecord> {
        FailureRecord::from_value(&open(bytes, "failure", binding)?)
    }

    pub fn from_value(value: &Value) -> Option<FailureRecord> {
        Some(FailureRecord {
            failed_at: wall(value.get("failed_at_ms")?)?,
            retry_at: wall(value.get("retry_at_ms")?)?,
            in_a_row: u32::try_from(value.get("in_a_row")?.as_u64()?).ok()?,
            error: Summary::from_json(value.get("error")?)?,
        })
    }
}

impl RejectionRecord {
    pub fn encode(&self, binding: &Binding) -> Vec<u8> {
        let mut map = header(binding, "rejection");
        map.insert(
            "token_hash".into(),
            format!("{:016x}", self.token_hash).into(),
        );
        map.insert("rejected_at_ms".into(), wall_ms(self.rejected_at).into());
        map.insert("retry_at_ms".into(), wall_ms(self.retry_at).into());
        map.insert("in_a_row".into(), self.in_a_row.into());
        encode(map)
    }

    pub fn decode(bytes: &[u8], binding: &Binding) -> Option<RejectionRecord> {
        RejectionRecord::from_value(&open(bytes, "rejection", binding)?)
    }

    pub fn from_value(value: &Value) -> Option<RejectionRecord> {
        let hash = value.get("token_hash")?.as_str()?;
        Some(RejectionRecord {
            token_hash: u64::from_str_radix(hash, 16).ok()?,
            rejected_at: wall(value.get("rejected_at_ms")?)?,
            retry_at: wall(value.get("retry_at_ms")?)?,
            in_a_row: u32::try_from(value.get("in_a_row")?.as_u64()?).ok()?,
        })
    }
}

/// What a rejection record keeps of an access token.
pub(crate) fn token_hash(access_token: &str) -> u64 {
    fnv1a(access_token.as_bytes())
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn wall_ms(t: SystemTime) -> u64 {
    millis(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn wall(value: &Value) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(value.as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TokenRequest;
    use crate::{ClientAuth, Credentials};

    fn binding(secret: &str) -> Binding {
        let creds = Credentials::new("id", secret).unwrap();
        let request =
            TokenRequest::new("https://a.example/t".into(), creds, ClientAuth::RequestBody);
        Binding::new(&request)
    }

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
                Cause::TooLarge { limit: 65536 },
                Cause::Other,
            ]
            .map(unreachable),
        );
        let b = binding("s");
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

    #[test]
    fn a_record_serves_only_its_own_secret_and_version() {
        let (b, other) = (binding("s"), binding("t"));
        let record = TokenRecord {
            access_token: "tok".into(),
            scope: None,
            issued_at: UNIX_EPOCH + Duration::from_secs(5),
            lifetime: Duration::from_secs(60),
            skew_ms: -7_200_000,
        };
        let bytes = record.encode(&b);
        assert_eq!(TokenRecord::decode(&bytes, &b), Some(record));
        assert_eq!(TokenRecord::decode(&bytes, &other), None);
        assert!(FailureRecord::decode(&bytes, &b).is_none());
        let old = String::from_utf8(bytes)
            .unwrap()
            .replace("\"version\":3", "\"version\":2");
        assert_eq!(TokenRecord::decode(old.as_bytes(), &b), None);
    }
}
