//! A source's side of a [`Store`]: its slot, read and written as one [`Record`] bound to
//! this source's settings and secret, on the record clock, and a store that fails reported
//! once. I/O only: what the record means is the policy's business.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::record::{Binding, Record};
use crate::Token;
use crate::clock::Clock;
use crate::store::{Store, StoreError, StoreGuard};
use crate::token::{Stored, shifted, skew_ms as offset_ms};
use crate::wire::TokenRequest;

/// The slot's lock, held: dropping it releases the lock.
pub(super) type Held<'a> = Box<dyn StoreGuard + 'a>;

/// A store, and what this source's record is bound to.
pub(super) struct Slot {
    store: Arc<dyn Store>,
    binding: Binding,
    /// How long a holder may keep the lock (a lease), and how long it is waited for: every phase
    /// of its request (resolve, connect, send the request and its body, receive the answer and
    /// its body) at its limit, and a second. A store that can tell a holder that does not
    /// progress (the disk store: a stopped process stops touching its lock file) gives it up
    /// sooner. A holder that took longer (it was stopped) writes nothing: others have gone on.
    pub hold: Duration,
    /// Whether a failing store was reported already.
    warned: AtomicBool,
}

impl Slot {
    pub fn new(store: Arc<dyn Store>, request: &TokenRequest) -> Slot {
        Slot {
            store,
            binding: Binding::new(request),
            hold: (request.timeout.saturating_mul(6)).saturating_add(Duration::from_secs(1)),
            warned: AtomicBool::new(false),
        }
    }

    /// Logs `error` at warn (target `apiauth::store`), once per source: the source goes on
    /// without the store.
    fn report(&self, error: &StoreError) {
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

    fn decode(&self, read: Result<Option<Vec<u8>>, StoreError>) -> Result<Record, ()> {
        let bytes = read.map_err(|error| self.report(&error))?;
        let record = (bytes.as_deref()).and_then(|b| Record::decode(b, Some(&self.binding)));
        Ok(record.unwrap_or_default())
    }

    /// The record, read without the lock; empty when there is none or the store failed.
    pub fn read(&self) -> Record {
        self.decode(self.store.read(&self.binding.key))
            .unwrap_or_default()
    }

    /// Writes `record` under the lock; `false` when the store failed (reported).
    pub fn write(&self, guard: &mut dyn StoreGuard, record: &Record) -> bool {
        let written = guard.write(&record.encode(&self.binding), record.keep_for());
        written.map_err(|error| self.report(&error)).is_ok()
    }

    /// Reads the record under the lock, waiting for it at most 100 ms (another process is
    /// fetching: then memory alone decides), lets `change` change it, and writes it back;
    /// `None` when the lock or the store failed. For `reject` and `invalidate`, on an API
    /// call's path.
    pub fn update<T>(&self, change: impl FnOnce(&mut Record) -> T) -> Option<T> {
        let Ok(Some((mut record, mut guard))) = self.lock(Duration::from_millis(100)) else {
            return None;
        };
        let result = change(&mut record);
        self.write(&mut *guard, &record).then_some(result)
    }

    /// Takes the lock, waiting at most `wait` for another holder, and reads the record
    /// again under it: `Ok(None)` when another process holds the lock still, `Err` when the
    /// store failed (reported: go on as a single process).
    pub fn lock(&self, wait: Duration) -> Result<Option<(Record, Held<'_>)>, ()> {
        let locked = (self.store).lock(&self.binding.key, wait, self.hold);
        let Some(mut guard) = locked.map_err(|error| self.report(&error))? else {
            return Ok(None);
        };
        Ok(Some((self.decode(guard.read())?, guard)))
    }

    /// Now on the record clock: the store's own, or this host's wall clock.
    pub fn now(&self, clock: &Clock) -> SystemTime {
        self.store.now().unwrap_or_else(|| clock.wall())
    }

    /// `token` as a record keeps it, its times moved onto the record clock.
    pub fn stored(&self, token: &Token, clock: &Clock) -> Stored {
        let (wall, record_now) = (clock.wall(), self.now(clock));
        let age = clock.now().saturating_duration_since(token.issued_at());
        let offset = offset_ms(record_now, wall);
        Stored {
            access_token: token.access_token().secret().to_owned(),
            scope: token.scope().map(str::to_owned),
            issued_at: record_now.checked_sub(age).unwrap_or(UNIX_EPOCH),
            lifetime: token.lifetime(),
            exp: token.jwt_expiry(),
            skew_ms: token.clock_skew_ms().saturating_add(offset),
        }
    }

    /// The token `stored` holds, its times moved back onto this host's clocks; `None` when
    /// it cannot be a token.
    pub fn restore(&self, stored: &Stored, clock: &Clock) -> Option<Token> {
        let (wall, record_now) = (clock.wall(), self.now(clock));
        let offset = offset_ms(wall, record_now);
        let stored = Stored {
            issued_at: shifted(stored.issued_at, offset),
            skew_ms: stored.skew_ms.saturating_add(offset),
            ..stored.clone()
        };
        Token::restore(stored, clock.now(), wall)
    }
}
