//! [`Store`]: where a [`TokenSource`](crate::TokenSource) shares its token, its last failure
//! and its last rejection with other processes or hosts. The store keeps bytes; every
//! decision (fresh or stale, whose record, how long to back off) is the source's.

use std::fmt;
use std::time::{Duration, SystemTime};

/// The three records the source still keeps (crude bridge until issue 26 lands: they are
/// stored together in the slot's one record; see `source::shared`).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RecordKind {
    Token,
    Failure,
    Rejection,
}

impl RecordKind {
    pub(crate) const ALL: [RecordKind; 3] = [
        RecordKind::Token,
        RecordKind::Failure,
        RecordKind::Rejection,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            RecordKind::Token => "token",
            RecordKind::Failure => "failure",
            RecordKind::Rejection => "rejection",
        }
    }
}

/// Names one slot of a store: a hash (16 hex digits) of the token URL, client id, client
/// authentication, scopes, parameters and a 16-bit check of the client secret. It holds no
/// secret; two secrets of one client get two slots, so neither can read or overwrite the
/// other's records.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreKey {
    id: String,
}

impl StoreKey {
    pub(crate) fn new(id: String) -> StoreKey {
        StoreKey { id }
    }

    /// The key as 16 lowercase hex digits, usable in a file name or after a prefix.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreKey").field(&self.id).finish()
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

/// A place to share records between processes or hosts: [`DiskCache`](crate::DiskCache) on
/// one host, or a store on a server for a fleet. Give one to
/// [`TokenConfig::with_store`](crate::TokenConfig::with_store).
///
/// A store keeps bytes and decides nothing. The source reads the token record without a
/// lock; when it needs a request it takes the key's lock (single flight across processes),
/// reads again, sends, and writes the outcome under the lock. Records are bound to the
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
/// use std::time::{Duration, SystemTime};
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
    /// The slot's one record under `key`, without the lock; `None` when there is none.
    fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Takes `key`'s lock, waiting at most `wait` for another holder; the holder may keep it
    /// up to `hold` (a lease lasts at least that long). `Ok(None)`: still held after `wait`.
    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
        hold: Duration,
    ) -> Result<Option<Box<dyn StoreGuard + '_>>, StoreError>;

    /// The store's own clock, read by every host that shares it (Redis `TIME`), or `None`:
    /// each host's wall clock. Records' times are on this clock. Must be cheap (no round
    /// trip per call: e.g. an offset measured when connecting).
    fn now(&self) -> Option<SystemTime> {
        None
    }
}

/// A held lock on one key of a [`Store`], and the reads and writes done under it.
pub trait StoreGuard {
    /// The record, read again under the lock.
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the record atomically, worth keeping for `keep_for`; fails (Err) if the lock
    /// (lease) is no longer this guard's — a fenced write.
    fn write(&mut self, bytes: &[u8], keep_for: Duration) -> Result<(), StoreError>;

    /// Removes the record (also fenced).
    fn remove(&mut self) -> Result<(), StoreError>;
}
