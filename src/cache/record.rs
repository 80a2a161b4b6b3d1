//! The records a source shares through a [`Store`](crate::store::Store), as JSON: a token,
//! a failure, a rejection. Each carries the format version, the settings it was written
//! for and the check of the secret (see [`Binding`]); a record that is not this version, not
//! for these settings or not for this secret is ignored. Times are wall-clock milliseconds
//! since the Unix epoch: the one clock processes and hosts share.
//!
//! Errors are kept as a summary that rebuilds the same variant with the same message
//! without reading any library's message text: an endpoint's status, code, description,
//! URI and `Retry-After`; an unusable answer's reason (never the answer); a transport
//! error's kind and text. Nothing else: errors never hold a secret, a token or a body.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::key::{Binding, fnv1a};
use crate::error::unusable;
use crate::{EndpointError, Error};

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

/// What a failure record keeps of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Summary {
    /// [`Error::CredentialsRejected`].
    Rejected(Refusal),
    /// [`Error::EndpointRefused`].
    Refused(Refusal),
    /// [`Error::InvalidResponse`], by its reason.
    Unusable(&'static str),
    /// [`Error::Transport`]: what kind of I/O failure it was, and its text.
    Unreachable { kind: ErrorKind, text: String },
}

/// An endpoint's refusal, as [`EndpointError`] holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(EndpointError);

/// The I/O error kinds a failed request is told apart by; any other is `Other`.
const KINDS: [(ErrorKind, &str); 9] = [
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

impl Summary {
    /// What to keep of `error`; `None` for an error that is not about the endpoint (a
    /// configuration error: nothing was sent, and nothing is shared).
    pub fn of(error: &Error) -> Option<Summary> {
        Some(match error {
            Error::CredentialsRejected(e) => Summary::Rejected(Refusal((**e).clone())),
            Error::EndpointRefused(e) => Summary::Refused(Refusal((**e).clone())),
            Error::InvalidResponse(why) => Summary::Unusable(why),
            Error::Transport(e) => Summary::Unreachable {
                kind: std::io::Error::from(error.clone()).kind(),
                text: e.to_string(),
            },
            _ => return None,
        })
    }

    /// The error again.
    pub fn error(&self) -> Error {
        match self {
            Summary::Rejected(r) => Error::CredentialsRejected(Box::new(r.0.clone())),
            Summary::Refused(r) => Error::EndpointRefused(Box::new(r.0.clone())),
            Summary::Unusable(why) => Error::InvalidResponse(why),
            Summary::Unreachable { kind, text } => Error::Transport(Arc::new(ureq::Error::Io(
                std::io::Error::new(*kind, text.clone()),
            ))),
        }
    }

    fn to_json(&self) -> Value {
        let refusal = |kind, r: &Refusal| {
            json!({
                "kind": kind,
                "status": r.0.status,
                "code": r.0.code,
                "description": r.0.description,
                "uri": r.0.uri,
                "retry_after_ms": r.0.retry_after.map(millis),
            })
        };
        match self {
            Summary::Rejected(r) => refusal("rejected", r),
            Summary::Refused(r) => refusal("refused", r),
            Summary::Unusable(why) => json!({"kind": "unusable", "why": why}),
            Summary::Unreachable { kind, text } => json!({
                "kind": "unreachable",
                "io": KINDS.iter().find(|(k, _)| k == kind).map_or("other", |(_, name)| name),
                "text": text,
            }),
        }
    }

    fn from_json(value: &Value) -> Option<Summary> {
        let text = |name| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let refusal = || {
            Some(Refusal(EndpointError {
                status: u16::try_from(value.get("status")?.as_u64()?).ok()?,
                code: text("code"),
                description: text("description"),
                uri: text("uri"),
                retry_after: (value.get("retry_after_ms"))
                    .and_then(Value::as_u64)
                    .map(Duration::from_millis),
            }))
        };
        Some(match value.get("kind")?.as_str()? {
            "rejected" => Summary::Rejected(refusal()?),
            "refused" => Summary::Refused(refusal()?),
            "unusable" => {
                let why = value.get("why")?.as_str()?;
                Summary::Unusable(unusable::ALL.into_iter().find(|known| *known == why)?)
            }
            "unreachable" => {
                let io = value.get("io")?.as_str()?;
                let kind =
                    (KINDS.iter().find(|(_, name)| *name == io)).map_or(ErrorKind::Other, |k| k.0);
                Summary::Unreachable {
                    kind,
                    text: text("text")?,
                }
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
    use crate::endpoint::TokenRequest;
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
            status: 429,
            code: Some("slow_down".into()),
            description: Some("later".into()),
            uri: None,
            retry_after: Some(Duration::from_secs(3600)),
        };
        let io = std::io::Error::new(ErrorKind::ConnectionRefused, "refused (os error 111)");
        let errors = [
            Error::EndpointRefused(Box::new(refusal.clone())),
            Error::CredentialsRejected(Box::new(refusal)),
            Error::InvalidResponse(unusable::NOT_BEARER),
            Error::from(ureq::Error::Timeout(ureq::Timeout::RecvResponse)),
            Error::from(ureq::Error::HostNotFound),
            Error::from(ureq::Error::Io(io)),
            // Protocol errors are failures like any other.
            Error::from(ureq::Error::LargeResponseHeader(100, 64)),
            Error::from(ureq::Error::Tls("handshake")),
        ];
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
