//! [`Store`]: where a [`TokenSource`](crate::TokenSource) shares one record per slot (its
//! token, its last failure and its last rejection) with other processes or hosts, and the
//! disk store. A store keeps bytes; every decision (fresh or stale, whose record, how long
//! to back off) is the source's.

use std::fmt;
use std::time::{Duration, SystemTime};

#[cfg(unix)]
pub(crate) mod disk;

/// Names one slot of a store: a hash (16 hex digits) of the token URL, client id, client
/// authentication, scopes, parameters and a 16-bit check of the client secret. It holds no
/// secret; two secrets of one client get two slots, so neither can read or overwrite the
/// other's records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    pub(crate) fn new(id: String) -> StoreKey {
        StoreKey(id)
    }

    /// The key as 16 lowercase hex digits, usable in a file name or after a prefix.
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// Why a store could not read, write or lock. Logged (at warn, once per source) and
/// otherwise ignored: the source goes on as if it had no store, keeping its in-process
/// single flight and backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with this message. It must not hold a secret or a token.
    pub fn new(message: impl fmt::Display) -> StoreError {
        StoreError {
            message: message.to_string(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// A place to share one record per slot between processes or hosts:
/// [`DiskCache`](crate::DiskCache) on one host, or a store on a server for a fleet. Give one
/// to [`TokenConfig::with_store`](crate::TokenConfig::with_store).
///
/// A store keeps bytes and decides nothing. The source reads the slot's record without a
/// lock; when it needs a request it takes the slot's lock (single flight across processes),
/// reads again, sends, and writes the new record under the lock. Records are bound to the
/// client secret and checked by the source when read, so a store may return anything it
/// holds: a record that does not check out is ignored. `keep_for` is how long a record is
/// worth keeping; a store with expiry (a TTL) may drop it after that, a store without may
/// keep it.
///
/// # Examples
///
/// A store in memory, shared by the sources of one process (tests, or a place to start):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use apiauth::store::{Store, StoreError, StoreGuard, StoreKey};
///
/// #[derive(Debug, Default)]
/// struct Memory(Arc<Mutex<HashMap<String, Vec<u8>>>>);
///
/// struct Guard<'a>(&'a Memory, StoreKey);
///
/// impl Store for Memory {
///     fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
///         Ok(self.0.lock().unwrap().get(key.id()).cloned())
///     }
///     fn lock(&self, key: &StoreKey, _wait: Duration, _hold: Duration)
///         -> Result<Option<Box<dyn StoreGuard + '_>>, StoreError> {
///         Ok(Some(Box::new(Guard(self, key.clone())))) // one process: no lock needed
///     }
/// }
///
/// impl StoreGuard for Guard<'_> {
///     fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
///         self.0.read(&self.1)
///     }
///     fn write(&mut self, bytes: &[u8], _keep_for: Duration) -> Result<(), StoreError> {
///         self.0.0.lock().unwrap().insert(self.1.id().to_owned(), bytes.to_vec());
///         Ok(())
///     }
///     fn remove(&mut self) -> Result<(), StoreError> {
///         self.0.0.lock().unwrap().remove(self.1.id());
///         Ok(())
///     }
/// }
///
/// let source = apiauth::TokenConfig::new(
///     "https://auth.example.com/token",
///     apiauth::Credentials::new("id", "secret")?,
/// )
/// .with_store(Memory::default())
/// .build()?;
/// # Ok::<(), apiauth::Error>(())
/// ```
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// The slot's record under `key`, without taking the lock; `None` when there is none.
    fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Takes `key`'s lock, waiting at most `wait` for another holder (zero: do not wait);
    /// the holder may need it for up to `hold` (a lease lasts at least that long).
    /// `Ok(None)` when it is still held after `wait`. The lock is released when the guard is
    /// dropped, and must also be released if the holder dies (a lease that expires, a file
    /// lock the OS drops).
    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
        hold: Duration,
    ) -> Result<Option<Box<dyn StoreGuard + '_>>, StoreError>;

    /// The store's own clock, read by every host that shares it (a server's time), or
    /// `None`: each host's wall clock. Record times are on this clock, so hosts whose clocks
    /// differ share tokens and backoffs as if they agreed. It must be cheap (an offset
    /// measured when connecting, not a round trip per call). Defaults to `None`.
    fn now(&self) -> Option<SystemTime> {
        None
    }
}

/// A held lock on one slot of a [`Store`], and the reads and writes done under it.
pub trait StoreGuard {
    /// The slot's record, read again under the lock.
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the record with `bytes`, atomically (a reader sees the old record or the new
    /// one, never a mix), worth keeping for `keep_for`. A store with leases refuses (`Err`)
    /// a write by a guard whose lease has passed to another holder.
    fn write(&mut self, bytes: &[u8], keep_for: Duration) -> Result<(), StoreError>;

    /// Removes the record, if there is one.
    fn remove(&mut self) -> Result<(), StoreError>;
}
