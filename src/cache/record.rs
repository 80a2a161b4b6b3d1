//! The one record a slot of a [`Store`](crate::store::Store) keeps, as JSON: the token, the
//! last failure and the last rejection, each optional. The record carries the format
//! version, the settings it was written for and a check of the secret (see [`Binding`]); a
//! record that is not this version, not for these settings or not for this secret is
//! ignored. Times are milliseconds since the Unix epoch on the record clock (the store's, or
//! the hosts' wall clocks). Every field is range-checked when read: a hostile record is data.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::policy::{self, Backoff};
use crate::error::millis;
use crate::store::StoreKey;
use crate::token::Stored;
use crate::wire::TokenRequest;
use crate::{Error, TlsSettings};

/// The records' format version; a record of another version is ignored (and removed by
/// `cache clear`).
pub(crate) const VERSION: u64 = 5;

/// What a slot holds: each part is there or not.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record {
    pub token: Option<Stored>,
    pub failure: Option<(Row, Error)>,
    /// The row of rejections, and the FNV-1a hash of the last rejected token: enough to
    /// recognise it, and nothing to use.
    pub rejection: Option<(Row, u64)>,
}

/// A row of failures or rejections: since when, until when it answers, how many in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub since: SystemTime,
    pub until: SystemTime,
    pub in_a_row: u32,
}

/// The settings a record was written for, and the secret's check. A record is used only if
/// both match the reader's.
#[derive(Clone)]
pub(crate) struct Binding {
    /// `{"client_auth", "client_id", "params", "scopes", "token_url"}` (and what
    /// authenticates, hashed, when it is not a secret), as JSON text with its keys sorted.
    pub settings: String,
    /// [`secret_check`] of the client secret.
    pub check: u16,
    /// Names the store slot: the settings and the check, hashed.
    pub key: StoreKey,
}

impl Binding {
    pub fn new(request: &TokenRequest) -> Binding {
        // The JSON text of the settings, keys sorted: what serde_json writes of the same
        // object, so that a listing finds the key again from a record's settings.
        fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
            serde_json::to_string(value).unwrap_or_default()
        }
        let mut settings = format!("{{\"client_auth\":{}", json(request.client_auth.name()));
        // What authenticates, hashed (never key material), and only when set, so that the
        // slots of the other methods keep their names.
        if let Some(cert) = request.tls.as_ref().and_then(TlsSettings::client_cert_der) {
            settings += &format!(",\"client_cert\":\"{:016x}\"", fnv1a(cert));
        }
        settings += &format!(",\"client_id\":{}", json(request.credentials.id()));
        if let Some(key) = &request.client_key {
            let hash = fnv1a(key.binding().as_bytes());
            settings += &format!(",\"client_key\":\"{hash:016x}\"");
        }
        settings += &format!(
            ",\"params\":{},\"scopes\":{},\"token_url\":{}}}",
            json(&request.params),
            json(&request.scopes),
            json(&request.url)
        );
        let secret = request.credentials.secret().secret();
        let check = secret_check(secret, &request.url, request.credentials.id());
        let key = key_of(&settings, check);
        Binding {
            settings,
            check,
            key,
        }
    }
}

/// The key a record with these settings (their JSON text) and check lives under: a listing
/// checks that a record is where its contents say it belongs.
fn key_of(settings: &str, check: u16) -> StoreKey {
    // The version too: binaries that write other versions keep out of each other's slots.
    let version = VERSION.to_be_bytes();
    let hash = fnv1a_of(&[settings.as_bytes(), &check.to_be_bytes(), &version]);
    StoreKey::new(format!("{hash:016x}"))
}

/// FNV-1a, 64 bits: names that are stable across builds and Rust versions (std's hashers
/// promise neither). Collisions are harmless: a record's settings are checked on reading.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_of(&[bytes])
}

/// [`fnv1a`] of `parts` one after the other, without joining them.
fn fnv1a_of(parts: &[&[u8]]) -> u64 {
    let bytes = parts.iter().flat_map(|part| part.iter());
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What a record keeps of the client secret: 16 bits, enough to tell another secret apart
/// (all but one in 65,536) and too few to tell anything about it. Any well-mixed hash
/// truncated to 16 bits leaks exactly that much, so FNV-1a serves (no cryptographic hash is
/// in the tree of both TLS features); a slow hash would make a cached run dearer than a
/// token request, to guard only secrets weak enough to guess online.
fn secret_check(secret: &str, token_url: &str, client_id: &str) -> u16 {
    let parts = [secret, "\0", token_url, "\0", client_id].map(str::as_bytes);
    (fnv1a_of(&parts) >> 48) as u16 // the top bits: the last multiplications mix every byte
}

impl Record {
    /// How long the record is worth keeping: until its token expires, its failure's backoff
    /// ends or its rejection stops counting, whichever is last.
    pub fn keep_for(&self) -> Duration {
        let token = self.token.as_ref().map_or(Duration::ZERO, |t| t.lifetime);
        let rows =
            (self.failure.as_ref().map(|f| f.0).into_iter()).chain(self.rejection.map(|r| r.0));
        let lasts = |row: Row| row.until.duration_since(row.since).unwrap_or_default();
        rows.map(|row| lasts(row) + policy::REJECTION_MEMORY)
            .fold(token, Duration::max)
    }

    pub fn encode(&self, binding: &Binding) -> Vec<u8> {
        let token = self.token.as_ref().map(|t| {
            json!({"access_token": t.access_token, "scope": t.scope,
                "issued_at_ms": wall_ms(t.issued_at), "lifetime_ms": millis(t.lifetime),
                "exp_ms": t.exp.map(wall_ms), "skew_ms": t.skew_ms})
        });
        let failure =
            (self.failure.as_ref()).and_then(|(row, error)| Some(row.to_json(error.to_record()?)));
        let rejection =
            (self.rejection.as_ref()).map(|(row, hash)| row.to_json(format!("{hash:016x}").into()));
        // The settings go in as the very text they are compared with when read.
        let rest = json!({"version": VERSION, "check": binding.check, "token": token,
            "failure": failure, "rejection": rejection});
        let rest = rest.to_string();
        format!("{{\"settings\":{},{}", binding.settings, &rest[1..]).into_bytes()
    }

    /// The record in `bytes` if it is of this version and for `binding` (any binding when
    /// `None`: a listing), with the parts that are well formed.
    pub fn decode(bytes: &[u8], binding: Option<&Binding>) -> Option<Record> {
        // The settings are compared as the text they were written as, never parsed: a new
        // process's first read costs about a bare parse.
        let parts: BTreeMap<&str, &RawValue> = serde_json::from_slice(bytes).ok()?;
        let part = |name| serde_json::from_str::<Value>(parts.get(name)?.get()).ok();
        let ours = binding.is_none_or(|b| {
            parts.get("settings").map(|s| s.get()) == Some(b.settings.as_str())
                && part("check") == Some(b.check.into())
        });
        if part("version") != Some(VERSION.into()) || !ours {
            return None;
        }
        let token = part("token").and_then(|t| {
            let exp = t.get("exp_ms")?;
            Some(Stored {
                access_token: t.get("access_token")?.as_str()?.to_owned(),
                scope: t.get("scope")?.as_str().map(str::to_owned),
                issued_at: wall(t.get("issued_at_ms")?)?,
                lifetime: Duration::from_millis(t.get("lifetime_ms")?.as_u64()?),
                exp: if exp.is_null() {
                    None
                } else {
                    Some(wall(exp)?)
                },
                skew_ms: t.get("skew_ms")?.as_i64()?,
            })
        });
        let failure = part("failure")
            .and_then(|f| Some((Row::from_json(&f)?, Error::from_record(f.get("detail")?)?)));
        let rejection = part("rejection").and_then(|r| {
            let hash = u64::from_str_radix(r.get("detail")?.as_str()?, 16).ok()?;
            Some((Row::from_json(&r)?, hash))
        });
        Some(Record {
            token,
            failure,
            rejection,
        })
    }
}

impl Row {
    /// The row `backoff` makes, starting at `since` on the record clock (`now` on the
    /// monotonic one).
    pub fn of(backoff: Backoff, since: SystemTime, now: Instant) -> Row {
        Row {
            since,
            until: since + backoff.retry_at.saturating_duration_since(now),
            in_a_row: backoff.in_a_row,
        }
    }

    /// The backoff this row still makes at `wall` on the record clock, moved onto the
    /// monotonic clock at `now`; `None` when it is over or cannot be trusted.
    pub fn backoff(&self, wall: SystemTime, now: Instant) -> Option<Backoff> {
        let left = policy::row_left(self.since, self.until, wall)?;
        Some(Backoff {
            in_a_row: self.in_a_row,
            retry_at: now + left,
        })
    }

    fn to_json(self, detail: Value) -> Value {
        json!({"since_ms": wall_ms(self.since), "until_ms": wall_ms(self.until),
            "in_a_row": self.in_a_row, "detail": detail})
    }

    fn from_json(value: &Value) -> Option<Row> {
        let in_a_row = value.get("in_a_row")?.as_u64()?;
        Some(Row {
            since: wall(value.get("since_ms")?)?,
            until: wall(value.get("until_ms")?)?,
            // A forged count saturates; the policy caps every wait it makes.
            in_a_row: u32::try_from(in_a_row).unwrap_or(u32::MAX),
        })
    }
}

/// The settings of a record, and its slot's key as its contents give it (for a listing).
pub(crate) fn settings_of(bytes: &[u8]) -> Option<(Value, StoreKey)> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let check = u16::try_from(value.get("check")?.as_u64()?).ok()?;
    let settings = value.get("settings")?.clone();
    let key = key_of(&settings.to_string(), check);
    Some((settings, key))
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
    use crate::{Cause, EndpointError, Side, Unreachable};
    use std::io::ErrorKind;

    /// The binding of client `id` with `secret` at `https://a.example/t`.
    fn binding(secret: &str) -> Binding {
        let creds = crate::Credentials::new("id", secret).unwrap();
        let url = "https://a.example/t".into();
        Binding::new(&TokenRequest::new(
            url,
            creds,
            crate::ClientAuth::RequestBody,
        ))
    }

    #[test]
    fn names_are_stable_and_one_per_secret() {
        // Published FNV-1a 64 test vectors: a name must not change between builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let (one, other) = (binding("s1"), binding("s2"));
        assert_eq!(one.settings, other.settings);
        assert_ne!(one.key, other.key);
        assert_eq!(one.key, binding("s1").key);
        assert!(!one.key.id().contains("s1") && one.key.id().len() == 16);
        // The format version is part of the name: binaries of two versions keep apart.
        let unversioned = fnv1a_of(&[one.settings.as_bytes(), &one.check.to_be_bytes()]);
        assert_ne!(one.key.id(), format!("{unversioned:016x}"));
        let check = |secret: &str| secret_check(secret, "https://a.example/t", "id");
        let distinct: std::collections::HashSet<u16> =
            (0..1000).map(|n| check(&format!("secret-{n}"))).collect();
        assert!(distinct.len() > 980, "{}", distinct.len());
    }

    /// The settings' text is what serde_json writes of the same object: a listing finds a
    /// record's key again from its settings.
    #[test]
    fn the_settings_text_is_serde_jsons() {
        let creds = crate::Credentials::new("i\"d", "s").unwrap();
        let mut request = TokenRequest::new(
            "https://a.example/t?x=\u{e9}".into(),
            creds,
            crate::ClientAuth::RequestBody,
        );
        request.scopes = vec!["read".into(), "wr\nite".into()];
        request.params = vec![("audience".into(), "https://api".into())];
        let same = |request: &TokenRequest| {
            let binding = Binding::new(request);
            let value: Value = serde_json::from_str(&binding.settings).unwrap();
            assert_eq!(value.to_string(), binding.settings);
            assert_eq!(key_of(&value.to_string(), binding.check), binding.key);
        };
        same(&request);
        // With what authenticates instead of a secret, hashed: a certificate and a key.
        let pem = |name: &str| std::fs::read(format!("tests/it/keys/{name}")).unwrap();
        let tls = TlsSettings::new().with_client_cert(&pem("client.pem"), &pem("client.key"));
        request.tls = Some(tls.unwrap());
        request.client_key = Some(crate::ClientKey::tls_client_auth());
        same(&request);
    }

    #[test]
    fn a_record_serves_only_its_own_secret_and_version() {
        let (b, other) = (binding("s"), binding("t"));
        let token = Stored {
            access_token: "tok".into(),
            scope: None,
            issued_at: UNIX_EPOCH + Duration::from_secs(5),
            lifetime: Duration::from_secs(60),
            exp: Some(UNIX_EPOCH + Duration::from_secs(65)),
            skew_ms: -7_200_000,
        };
        let record = Record {
            token: Some(token.clone()),
            ..Record::default()
        };
        let bytes = record.encode(&b);
        assert_eq!(Record::decode(&bytes, Some(&b)).unwrap().token, Some(token));
        assert!(Record::decode(&bytes, Some(&other)).is_none());
        let old = String::from_utf8(bytes)
            .unwrap()
            .replace("\"version\":5", "\"version\":4");
        assert!(Record::decode(old.as_bytes(), Some(&b)).is_none());
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
            Error::Transport(Box::new(Unreachable {
                side: Side::TokenEndpoint,
                url: "https://a.example/t".into(),
                cause,
                detail: Some("detail".into()),
                proxy: Some("http://proxy.example:3128/".into()),
            }))
        };
        let mut errors = vec![
            Error::EndpointRefused(Box::new(refusal.clone())),
            Error::CredentialsRejected(Box::new(refusal)),
        ];
        errors.extend(crate::error::UNUSABLE.map(|(why, _)| Error::InvalidResponse(why)));
        errors.extend(
            [
                Cause::TimedOut {
                    after: Some(Duration::from_millis(1500)),
                },
                Cause::TimedOut { after: None },
                Cause::ConnectionRefused,
                Cause::HostNotFound,
                Cause::Tls,
                Cause::Protocol,
                Cause::Io(ErrorKind::ConnectionReset),
                Cause::Io(ErrorKind::NetworkUnreachable),
                Cause::Io(ErrorKind::Other),
                Cause::TooLarge { limit: 65536 },
                Cause::Other,
            ]
            .map(unreachable),
        );
        let b = binding("s");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let row = Row {
            since: t0,
            until: t0 + Duration::from_secs(2),
            in_a_row: 2,
        };
        for error in errors {
            let record = Record {
                failure: Some((row, error.clone())),
                ..Record::default()
            };
            let back = Record::decode(&record.encode(&b), Some(&b)).unwrap();
            let (back_row, back) = back.failure.unwrap();
            assert_eq!(back_row, row);
            assert_eq!(back.to_string(), error.to_string());
            let kind = |e: Error| std::io::Error::from(e).kind();
            assert_eq!(kind(back), kind(error));
        }
        assert!(Error::Config("bad".into()).to_record().is_none());
    }

    #[test]
    fn each_client_key_and_certificate_gets_its_own_slot() {
        use crate::{ClientAuth, ClientKey, Credentials};
        let pem = |name: &str| std::fs::read(format!("tests/it/keys/{name}")).unwrap();
        let tls =
            |cert: &str, key: &str| TlsSettings::new().with_client_cert(&pem(cert), &pem(key));
        let binding = |key: Option<ClientKey>, tls: Option<TlsSettings>| {
            let creds = Credentials::new("id", "").unwrap();
            let url = "https://a.example/t".into();
            let mut request = TokenRequest::new(url, creds, ClientAuth::RequestBody);
            (request.client_key, request.tls) = (key, tls);
            Binding::new(&request)
        };
        let plain = binding(None, None);
        assert!(
            !plain.settings.contains("client_key"),
            "other slots keep their names"
        );
        let keys = [
            plain.key,
            binding(Some(ClientKey::assertion_file("/run/a")), None).key,
            binding(Some(ClientKey::assertion_file("/run/b")), None).key,
            binding(Some(ClientKey::assertion_command("cat", &["/run/a"])), None).key,
            binding(
                Some(ClientKey::tls_client_auth()),
                tls("client.pem", "client.key").ok(),
            )
            .key,
            binding(
                Some(ClientKey::tls_client_auth()),
                tls("server.pem", "server.key").ok(),
            )
            .key,
        ];
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        let again = binding(Some(ClientKey::assertion_file("/run/a")), None);
        assert_eq!(again.key, keys[1]);
        assert!(!again.settings.contains("/run/a"), "a hash, not the path");
    }
}
