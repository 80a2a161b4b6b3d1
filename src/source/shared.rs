//! A source's side of a [`Store`]: reading and writing the records, bound to this
//! source's settings and secret, and reporting a store that fails (once). What the records
//! mean is the policy's business; what they are, the records module's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use crate::cache::key::Binding;
use crate::cache::policy::{self, Backoff, OnRejection, Rejected};
use crate::cache::record::{FailureRecord, RejectionRecord, Summary, TokenRecord, token_hash};
use crate::clock::Clock;
use crate::store::{RecordKind, Store, StoreError, StoreGuard, StoreKey};
use crate::wire::{MAX_RETRY_AFTER, TokenRequest};
use crate::{Error, Token, TokenConfig};

/// How many phases of a token request (connect, send, wait, read, …) a process waits for
/// another's lock: past that, the holder is taken to hang and is ignored.
const LOCK_WAIT_PHASES: u32 = 5;

/// A store, and what this source's records are bound to.
pub(super) struct Shared {
    store: Arc<dyn Store>,
    binding: Binding,
    /// Whether a failing store was reported already.
    warned: AtomicBool,
    /// How long a lock holder may keep the lock.
    hold: Duration,
}

/// Reads records, with or without the lock.
pub(super) trait Reader {
    fn read(&mut self, key: &StoreKey, kind: RecordKind) -> Result<Option<Vec<u8>>, StoreError>;
}

impl Reader for &dyn Store {
    fn read(&mut self, key: &StoreKey, kind: RecordKind) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(part(Store::read(*self, key)?, kind))
    }
}

impl Reader for Box<dyn StoreGuard + '_> {
    fn read(&mut self, _: &StoreKey, kind: RecordKind) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(part(StoreGuard::read(&mut **self)?, kind))
    }
}

// Crude bridge until issue 26 lands: the three records as one JSON object of strings.
fn part(bundle: Option<Vec<u8>>, kind: RecordKind) -> Option<Vec<u8>> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bundle?).ok()?;
    Some(map.get(kind.name())?.as_str()?.as_bytes().to_vec())
}

fn put(
    guard: &mut dyn StoreGuard,
    kind: RecordKind,
    bytes: Option<&[u8]>,
    keep_for: Duration,
) -> Result<(), StoreError> {
    let old = guard.read()?;
    let mut map: serde_json::Map<String, serde_json::Value> = old
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let had = map.contains_key(kind.name());
    match bytes {
        Some(b) => {
            let text = String::from_utf8_lossy(b).into_owned();
            map.insert(kind.name().into(), text.into());
        }
        None if !had => return Ok(()),
        None => {
            map.remove(kind.name());
        }
    }
    if map.is_empty() {
        return guard.remove();
    }
    let keep_for = match kind {
        RecordKind::Token if bytes.is_some() => keep_for,
        _ => keep_for.max(Duration::from_secs(24 * 3600)),
    };
    guard.write(&serde_json::to_vec(&map).unwrap_or_default(), keep_for)
}

/// What a store holds for this source, as the policy sees it.
pub(super) struct Found {
    /// The token, unless it is the one this process dropped after a rejection.
    pub token: Option<Token>,
    /// A failure record still in force: its error and its backoff on this host's clock.
    pub failure: Option<(Error, Backoff)>,
    /// How many failed in a row by the last record, in force or not.
    pub failures_in_a_row: Option<u32>,
}

/// The lock, or why there is none.
pub(super) enum Lock<'a> {
    Held(Box<dyn StoreGuard + 'a>),
    /// Another process holds it (after `wait`).
    Busy,
    /// The store failed (reported): go on as a single process.
    Failed,
}

impl Shared {
    pub fn new(store: Arc<dyn Store>, request: &TokenRequest) -> Shared {
        Shared {
            store,
            binding: Binding::new(request),
            warned: AtomicBool::new(false),
            hold: Shared::lock_wait(request),
        }
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Logs `error` at warn (target `apiauth::store`), once per source: the source goes on
    /// without the store.
    pub fn report(&self, error: &StoreError) {
        if !self.warned.swap(true, Relaxed) {
            log::warn!(
                target: "apiauth::store",
                "token store failed ({error}); going on without it: tokens and failures are \
                 not shared with other processes for now"
            );
        } else {
            log::debug!(target: "apiauth::store", "token store failed ({error})");
        }
    }

    /// How long a holder of the lock may keep it before it is taken to hang.
    pub fn lock_wait(request: &TokenRequest) -> Duration {
        request.timeout.saturating_mul(LOCK_WAIT_PHASES)
    }

    /// How long `reject` and `invalidate`, which run on an API call's path, wait for a lock
    /// another process holds (it is fetching: then the memory alone decides).
    pub fn short_wait(request: &TokenRequest) -> Duration {
        Shared::lock_wait(request).min(Duration::from_millis(100))
    }

    pub fn lock(&self, wait: Duration) -> Lock<'_> {
        match self.store.lock(&self.binding.key, wait, self.hold) {
            Ok(Some(guard)) => Lock::Held(guard),
            Ok(None) => Lock::Busy,
            Err(error) => {
                self.report(&error);
                Lock::Failed
            }
        }
    }

    /// What the store holds: the token first, and the failure record only when the token
    /// is not enough (`fresh` says whether it is). A store that fails reads as empty.
    pub fn find(
        &self,
        reader: &mut impl Reader,
        clock: &Clock,
        rejected: Option<&Token>,
        fresh: impl FnOnce(&Token) -> bool,
    ) -> Found {
        let key = &self.binding.key;
        let mut read = |kind| match reader.read(key, kind) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.report(&error);
                None
            }
        };
        let token = read(RecordKind::Token)
            .and_then(|bytes| TokenRecord::decode(&bytes, &self.binding))
            .and_then(|r| {
                Token::restore(
                    r.access_token,
                    r.scope,
                    r.issued_at,
                    r.lifetime,
                    r.skew_ms,
                    clock.now(),
                    clock.wall(),
                )
            })
            .filter(|t| rejected.is_none_or(|r| r.access_token() != t.access_token()));
        if token.as_ref().is_some_and(fresh) {
            return Found {
                token,
                failure: None,
                failures_in_a_row: None,
            };
        }
        let record =
            read(RecordKind::Failure).and_then(|b| FailureRecord::decode(&b, &self.binding));
        // A row ends with a success; a record long past (a store without expiry keeps it)
        // no longer counts towards it.
        let recent = |r: &&FailureRecord| clock.wall() < r.retry_at + MAX_RETRY_AFTER;
        let failures_in_a_row = record.as_ref().filter(recent).map(|r| r.in_a_row);
        let failure = record.and_then(|r| {
            let left = policy::record_left(r.failed_at, r.retry_at, clock.wall())?;
            let backoff = Backoff {
                in_a_row: r.in_a_row,
                retry_at: clock.now() + left,
            };
            Some((r.error.error(), backoff))
        });
        Found {
            token,
            failure,
            failures_in_a_row,
        }
    }

    /// Writes a token fetched under the lock, and lifts the failure record.
    pub fn save_token(&self, guard: &mut dyn StoreGuard, token: &Token, clock: &Clock) {
        let age = clock.now().saturating_duration_since(token.issued_at());
        let record = TokenRecord {
            access_token: token.access_token().secret().to_owned(),
            scope: token.scope().map(str::to_owned),
            issued_at: clock
                .wall()
                .checked_sub(age)
                .unwrap_or(std::time::UNIX_EPOCH),
            lifetime: token.lifetime(),
            skew_ms: token.clock_skew_ms(),
        };
        let bytes = record.encode(&self.binding);
        let keep_for = token
            .expires_at_instant()
            .saturating_duration_since(clock.now());
        let saved = put(guard, RecordKind::Token, Some(&bytes), keep_for);
        if let Err(error) = saved.and_then(|()| put(guard, RecordKind::Failure, None, keep_for))
        {
            self.report(&error);
        }
    }

    /// Writes a failure met under the lock (an error that is not the endpoint's is not
    /// shared: a configuration error).
    pub fn save_failure(
        &self,
        guard: &mut dyn StoreGuard,
        error: &Error,
        backoff: Backoff,
        clock: &Clock,
    ) {
        let Some(summary) = Summary::of(error) else {
            return;
        };
        let wait = backoff.retry_at.saturating_duration_since(clock.now());
        let failed_at = clock.wall();
        let record = FailureRecord {
            failed_at,
            retry_at: failed_at + wait,
            in_a_row: backoff.in_a_row,
            error: summary,
        };
        if let Err(error) = put(
            guard,
            RecordKind::Failure,
            Some(&record.encode(&self.binding)),
            wait,
        ) {
            self.report(&error);
        }
    }

    /// The rejection rule with the store's record, under the lock: `None` when the store
    /// cannot be used (then the caller applies it to memory alone).
    pub fn reject(
        &self,
        config: &TokenConfig,
        token: &Token,
        in_memory: Option<Rejected>,
    ) -> Option<OnRejection> {
        let Lock::Held(mut guard) = self.lock(Shared::short_wait(&config.request)) else {
            return None;
        };
        // Read after the lock: waiting for it must not make the token look younger.
        let clock = &config.clock;
        let (now, wall) = (clock.now(), clock.wall());
        let age = now.saturating_duration_since(token.issued_at());
        let record = match StoreGuard::read(&mut *guard) {
            Ok(bytes) => part(bytes, RecordKind::Rejection).and_then(|b| RejectionRecord::decode(&b, &self.binding)),
            Err(error) => {
                self.report(&error);
                return None;
            }
        };
        let hash = token_hash(token.access_token().secret());
        let previous = record.as_ref().map(|r| Rejected {
            in_a_row: r.in_a_row,
            retry_at: now
                + policy::record_left(r.rejected_at, r.retry_at, wall).unwrap_or_default(),
        });
        // Another process rejected this very token, fetched before that rejection, and
        // dropped it: drop it here too (the store holds its successor) without counting a
        // rejection twice. (The same string fetched again after the rejection, as servers
        // that hand out one token per client do, is a fresh token rejected again.)
        let issued = wall.checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        if let (Some(record), Some(previous)) = (&record, previous)
            && record.token_hash == hash
            && issued < record.rejected_at
        {
            return Some(OnRejection::Drop(previous));
        }
        let outcome = policy::on_rejection(previous.or(in_memory), age, now);
        if let OnRejection::Drop(rejected) = outcome {
            let wait = rejected.retry_at.saturating_duration_since(now);
            let record = RejectionRecord {
                token_hash: hash,
                rejected_at: wall,
                retry_at: wall + wait,
                in_a_row: rejected.in_a_row,
            };
            let written = put(
                &mut *guard,
                RecordKind::Rejection,
                Some(&record.encode(&self.binding)),
                wait + REJECTION_MEMORY,
            );
            if let Err(error) = written.and_then(|()| self.remove_token(&mut *guard, Some(token))) {
                self.report(&error);
            }
        }
        Some(outcome)
    }

    /// Removes the stored token, under the lock; `false` when the lock could not be had
    /// (another process is fetching) or the store failed.
    pub fn forget(&self, config: &TokenConfig) -> bool {
        let Lock::Held(mut guard) = self.lock(Shared::short_wait(&config.request)) else {
            return false;
        };
        let removed = self.remove_token(&mut *guard, None);
        if let Err(error) = &removed {
            self.report(error);
        }
        removed.is_ok()
    }

    fn remove_token(
        &self,
        guard: &mut dyn StoreGuard,
        only: Option<&Token>,
    ) -> Result<(), StoreError> {
        if let Some(only) = only {
            let stored = part(guard.read()?, RecordKind::Token);
            let holds = stored
                .and_then(|bytes| TokenRecord::decode(&bytes, &self.binding))
                .is_some_and(|r| r.access_token == only.access_token().secret());
            if !holds {
                return Ok(());
            }
        }
        put(guard, RecordKind::Token, None, Duration::ZERO)
    }
}

/// How long a rejection record is worth keeping past its window: rejections count in a
/// row while a token's age could still make them (see `policy::on_rejection`).
const REJECTION_MEMORY: Duration = Duration::from_secs(120);
