//! The records a source shares through a [`Store`](crate::store::Store), as JSON: a token,
//! a failure, a rejection. Each carries the format version, the settings it was written
//! for and the check of the secret (see [`Binding`]); a record that is not this version, not
//! for these settings or not for this secret is ignored. Times are wall-clock milliseconds
//! since the Unix epoch: the one clock processes and hosts share.
//!
//! A failure record keeps its error as a [`Summary`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::key::{Binding, fnv1a};
pub(crate) use super::summary::Summary;

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
    use crate::cache::key::for_tests;

    #[test]
    fn a_record_serves_only_its_own_secret_and_version() {
        let (b, other) = (for_tests("s"), for_tests("t"));
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
