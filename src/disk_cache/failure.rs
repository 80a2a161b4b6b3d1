//! Failure records: the last failed token request of an entry, kept beside it
//! (`<hash>.fail`), so that every process backs off together instead of each sending its own
//! request and waiting out its own timeout.
//!
//! A record is written, read and removed under the same rules as an entry: atomically, mode
//! 0600, opened without following symlinks or waiting on a FIFO, used only if it is a
//! regular, private file of this user, well formed, for the same key and bound to the same
//! secret (a process with a mistyped secret backs off alone; it cannot make the right
//! secret's processes fail). It holds when the request failed and when to try again, on the
//! wall clock in milliseconds, how many failed in a row, and the error, in a form that
//! rebuilds the same variant with the same message: an endpoint's status, code,
//! description, URI and `Retry-After`; an unusable answer's reason (never the answer); or a
//! transport error's text. Nothing else: errors never hold a secret, a token or a body.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Key, MAX_ENTRY, Slot, VERSION, files};
use crate::clock::Clock;
use crate::refresh::{Backoff, backoff, retry_after};
use crate::wire::MAX_RETRY_AFTER;
use crate::{Cause, EndpointError, Error, Side, Unreachable, Unusable};

/// A record as written.
#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    #[serde(flatten)]
    key: Key,
    /// The `check` of the secret whose request failed.
    check: u16,
    /// When the request failed, in milliseconds since the Unix epoch.
    failed_at_ms: u64,
    /// Until then, the error is the answer.
    retry_at_ms: u64,
    in_a_row: u32,
    error: Stored,
}

/// An [`Error`] of a token request, as much as it takes to rebuild it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stored {
    CredentialsRejected(Refusal),
    EndpointRefused(Refusal),
    InvalidResponse {
        why: String,
    },
    /// An [`Unreachable`]'s parts; `cause` by name, `n` its number (milliseconds of a
    /// timeout, bytes of a limit), `io_kind` an I/O error's kind by its `Debug` name.
    Transport {
        api: bool,
        url: String,
        cause: String,
        n: Option<u64>,
        io_kind: Option<String>,
        detail: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct Refusal {
    #[serde(default)]
    url: String,
    status: u16,
    code: Option<String>,
    description: Option<String>,
    uri: Option<String>,
    retry_after_ms: Option<u64>,
}

/// The reasons of an [`Error::InvalidResponse`] a record can name.
const REASONS: [Unusable; 6] = [
    Unusable::NotJsonOrForm,
    Unusable::NoAccessToken,
    Unusable::BadTokenBytes,
    Unusable::NotBearer,
    Unusable::JwtExpired,
    Unusable::TooLarge,
];

/// The I/O error kinds a token request meets, by their `Debug` names; another is `Other`.
const IO_KINDS: [ErrorKind; 10] = [
    ErrorKind::ConnectionRefused,
    ErrorKind::ConnectionReset,
    ErrorKind::ConnectionAborted,
    ErrorKind::NotConnected,
    ErrorKind::AddrNotAvailable,
    ErrorKind::BrokenPipe,
    ErrorKind::TimedOut,
    ErrorKind::UnexpectedEof,
    ErrorKind::Interrupted,
    ErrorKind::Other,
];

impl Stored {
    /// What to write of `error`; `None` for an error that is not an endpoint's answer or
    /// could not be rebuilt the same.
    fn of(error: &Error) -> Option<Stored> {
        let refusal = |e: &EndpointError| Refusal {
            url: e.url.clone(),
            status: e.status,
            code: e.code.clone(),
            description: e.description.clone(),
            uri: e.uri.clone(),
            retry_after_ms: e.retry_after.map(millis),
        };
        let stored = match error {
            Error::CredentialsRejected(e) => Stored::CredentialsRejected(refusal(e)),
            Error::EndpointRefused(e) => Stored::EndpointRefused(refusal(e)),
            Error::InvalidResponse(why) => Stored::InvalidResponse {
                why: why.to_string(),
            },
            Error::Transport(e) => {
                let (cause, n, io_kind) = match e.cause {
                    Cause::TimedOut { after } => ("timed_out", after.map(millis), None),
                    Cause::ConnectionRefused => ("connection_refused", None, None),
                    Cause::HostNotFound => ("host_not_found", None, None),
                    Cause::Tls => ("tls", None, None),
                    Cause::Protocol => ("protocol", None, None),
                    Cause::Io(kind) => ("io", None, Some(format!("{kind:?}"))),
                    Cause::TooLarge { limit } => ("too_large", Some(limit), None),
                    _ => ("other", None, None),
                };
                Stored::Transport {
                    api: e.side == Side::Api,
                    url: e.url.clone(),
                    cause: cause.into(),
                    n,
                    io_kind,
                    detail: e.detail.clone(),
                }
            }
            _ => return None,
        };
        stored.restore().is_some().then_some(stored)
    }

    /// The error again: the same variant, the same message.
    fn restore(&self) -> Option<Error> {
        let endpoint = |r: &Refusal| {
            Box::new(EndpointError {
                url: r.url.clone(),
                status: r.status,
                code: r.code.clone(),
                description: r.description.clone(),
                uri: r.uri.clone(),
                retry_after: r.retry_after_ms.map(Duration::from_millis),
            })
        };
        Some(match self {
            Stored::CredentialsRejected(r) => Error::CredentialsRejected(endpoint(r)),
            Stored::EndpointRefused(r) => Error::EndpointRefused(endpoint(r)),
            Stored::InvalidResponse { why } => {
                Error::InvalidResponse(REASONS.into_iter().find(|r| r.to_string() == *why)?)
            }
            Stored::Transport {
                api,
                url,
                cause,
                n,
                io_kind,
                detail,
            } => {
                let cause = match (cause.as_str(), *n) {
                    ("timed_out", after) => Cause::TimedOut {
                        after: after.map(Duration::from_millis),
                    },
                    ("connection_refused", _) => Cause::ConnectionRefused,
                    ("host_not_found", _) => Cause::HostNotFound,
                    ("tls", _) => Cause::Tls,
                    ("protocol", _) => Cause::Protocol,
                    ("io", _) => Cause::Io(
                        (IO_KINDS.into_iter())
                            .find(|k| Some(format!("{k:?}")) == *io_kind)
                            .unwrap_or(ErrorKind::Other),
                    ),
                    ("too_large", Some(limit)) => Cause::TooLarge { limit },
                    ("other", _) => Cause::Other,
                    _ => return None,
                };
                let side = if *api { Side::Api } else { Side::TokenEndpoint };
                Unreachable::error(side, url.clone(), cause, detail.clone())
            }
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Now on `clock`'s wall clock, in milliseconds since the Unix epoch.
fn wall_ms(clock: &Clock) -> u64 {
    millis(clock.wall().duration_since(UNIX_EPOCH).unwrap_or_default())
}

impl Slot<'_> {
    fn failure_path(&self) -> std::path::PathBuf {
        self.path.with_extension("fail")
    }

    /// The record, if the file is ours, private, well formed, for this key and this secret.
    fn read_failure(&self) -> Option<Record> {
        let mut options = OpenOptions::new();
        let path = self.failure_path();
        let (file, meta) = files::open_regular(options.read(true), &path, self.cache.uid)?;
        if !files::private_to(&meta, self.cache.uid) || meta.len() > MAX_ENTRY {
            return None;
        }
        let mut text = Vec::new();
        file.take(MAX_ENTRY).read_to_end(&mut text).ok()?;
        let record: Record = serde_json::from_slice(&text).ok()?;
        let ours =
            record.version == VERSION && record.key == self.key && record.check == self.check;
        ours.then_some(record)
    }

    /// The error of a live record, and the backoff it sets on the monotonic clock.
    ///
    /// Live means: failed no later than now, and to be retried later than now, by the wall
    /// clock (the one clock processes share). A record that asks for more than the longest
    /// wait there is ([`MAX_RETRY_AFTER`], one hour), or that failed in the future, is not
    /// trusted: the clock was set back since, or the file is not what it claims to be.
    pub(super) fn failure(&self, clock: &Clock) -> Option<(Error, Backoff)> {
        let record = self.read_failure()?;
        let now = wall_ms(clock);
        let wait = record.retry_at_ms.checked_sub(record.failed_at_ms)?;
        let live = record.failed_at_ms <= now && now < record.retry_at_ms;
        if !live || wait > millis(MAX_RETRY_AFTER) {
            return None;
        }
        let left = Duration::from_millis(record.retry_at_ms - now);
        let backoff = Backoff {
            retry_at: clock.now() + left,
            in_a_row: record.in_a_row,
        };
        Some((record.error.restore()?, backoff))
    }

    /// Records that a token request failed with `error`, one more in a row than the record
    /// before it, and returns the backoff it sets; `None` (nothing written) for an error that
    /// is not recorded. Called under the entry's lock.
    pub(super) fn save_failure(&self, error: &Error, clock: &Clock) -> Option<Backoff> {
        let stored = Stored::of(error)?;
        let in_a_row = self
            .read_failure()
            .map_or(1, |r| r.in_a_row.saturating_add(1));
        let wait = backoff(in_a_row, retry_after(error)).min(MAX_RETRY_AFTER);
        let failed_at_ms = wall_ms(clock);
        let record = Record {
            version: VERSION,
            key: self.key.clone(),
            check: self.check,
            failed_at_ms,
            retry_at_ms: failed_at_ms.saturating_add(millis(wait)),
            in_a_row,
            error: stored,
        };
        let json = serde_json::to_vec(&record).ok()?;
        self.write_atomically(&self.failure_path(), &json);
        Some(Backoff {
            retry_at: clock.now() + wait,
            in_a_row,
        })
    }

    /// Removes this secret's record after a success: the next failure starts a new row.
    /// Another secret's record is left to it (a success with the right secret does not
    /// lift the backoff of a wrong one).
    pub(super) fn clear_failure(&self) {
        if self.read_failure().is_some() {
            let _ = fs::remove_file(self.failure_path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `error` as a record would give it back, if it is recorded at all.
    fn round_trip(error: &Error) -> Option<Error> {
        let json = serde_json::to_vec(&Stored::of(error)?).unwrap();
        serde_json::from_slice::<Stored>(&json).unwrap().restore()
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
        let url = || "https://a.example/t".to_owned();
        let unreachable = |cause, detail: Option<&str>| {
            Unreachable::error(Side::TokenEndpoint, url(), cause, detail.map(Into::into))
        };
        let errors = [
            Error::EndpointRefused(Box::new(refusal.clone())),
            Error::CredentialsRejected(Box::new(refusal.clone())),
            Error::InvalidResponse(Unusable::NotBearer),
            unreachable(
                Cause::TimedOut {
                    after: Some(Duration::from_millis(1500)),
                },
                None,
            ),
            unreachable(Cause::HostNotFound, None),
            unreachable(Cause::ConnectionRefused, None),
            unreachable(Cause::Io(ErrorKind::ConnectionReset), Some("io: reset")),
            unreachable(Cause::Tls, Some("tls: handshake")),
        ];
        for error in errors {
            let back = round_trip(&error).unwrap();
            assert_eq!(back.to_string(), error.to_string());
            assert_eq!(format!("{:?}", back), format!("{error:?}"));
            let kind = |e: Error| std::io::Error::from(e).kind();
            assert_eq!(kind(back), kind(error));
        }
        // Not the endpoint's answer, or not rebuilt the same: not recorded.
        let unknown = [
            Error::Config("bad".into()),
            Error::InvalidHeaderValue("client secret"),
        ];
        for error in unknown {
            assert!(Stored::of(&error).is_none(), "{error:?}");
        }
    }
}
