//! The lease: a host's lock on one slot while it asks for a token. `SET <lock> <value> NX
//! PX <hold>` takes it; every write and remove under it is a script that changes the record
//! only if the lease still holds this holder's value (a fenced write), and the release
//! deletes the lease only if it does. Redis drops it after `hold` if the host dies or hangs.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apiauth::store::{StoreError, StoreGuard, StoreKey};

use crate::RedisStore;
use crate::resp::{MAX_BULK, Reply};

/// Sets the record (KEYS[1]) for ARGV[3] ms only while the lease (KEYS[2]) holds ARGV[1].
const WRITE: &str = "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end \
     redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1";
/// Deletes the record (KEYS[1]) only while the lease (KEYS[2]) holds ARGV[1].
const REMOVE: &str = "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end \
     redis.call('DEL', KEYS[1]) return 1";
/// Deletes the lease (KEYS[1]) only if it holds this holder's value (another host's lease,
/// taken after this one expired, is left alone).
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// The longest pause between two tries for a busy lease.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// A held lease; dropping it releases it.
pub(crate) struct Lease<'a> {
    store: &'a RedisStore,
    key: StoreKey,
    record: String,
    lock: String,
    value: String,
}

/// Takes `key`'s lease for `hold` (whole milliseconds, rounded up), trying again for up to
/// `wait` while another host holds it.
pub(crate) fn take<'a>(
    store: &'a RedisStore,
    key: &StoreKey,
    wait: Duration,
    hold: Duration,
) -> Result<Option<Lease<'a>>, StoreError> {
    let lock = store.lock_key(key);
    let value = unique_value();
    let ms = millis_up(hold).to_string();
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let command: [&[u8]; 6] = [
            b"SET",
            lock.as_bytes(),
            value.as_bytes(),
            b"NX",
            b"PX",
            ms.as_bytes(),
        ];
        match store.call_one("lock", key.id(), &command)? {
            Reply::Status(_) => {
                return Ok(Some(Lease {
                    store,
                    key: key.clone(),
                    record: store.record_key(key),
                    lock,
                    value,
                }));
            }
            Reply::Bulk(None) => {}
            _ => return Err(store.unexpected("lock")),
        }
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Whole milliseconds, rounded up, at least 1.
fn millis_up(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000).max(1);
    u64::try_from(ms)
        .unwrap_or(u64::MAX)
        .min(i64::MAX as u64 / 2)
}

/// A value no other holder has: 128 bits from the process's random hasher keys, its id,
/// the time and a counter. It is not a secret; it only tells holders apart.
fn unique_value() -> String {
    static TAKEN: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = TAKEN.fetch_add(1, Relaxed);
    let half = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.write_u128(nanos);
        h.write_u64(count);
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

impl Lease<'_> {
    /// Runs a fenced script; `Err` when the lease is no longer this holder's.
    fn fenced(&self, doing: &str, script: &str, args: &[&[u8]]) -> Result<(), StoreError> {
        let mut command: Vec<&[u8]> = vec![
            b"EVAL",
            script.as_bytes(),
            b"2",
            self.record.as_bytes(),
            self.lock.as_bytes(),
            self.value.as_bytes(),
        ];
        command.extend_from_slice(args);
        match self.store.call_one(doing, self.key.id(), &command)? {
            Reply::Int(1) => Ok(()),
            Reply::Int(0) => Err(StoreError::new(format_args!(
                "redis lease of {} lost (it outlived its hold and another host took it): \
                 the record was not changed",
                self.key.id()
            ))),
            _ => Err(self.store.unexpected(doing)),
        }
    }
}

impl StoreGuard for Lease<'_> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(&self.key)
    }

    fn write(&mut self, bytes: &[u8], keep_for: Duration) -> Result<(), StoreError> {
        let bytes = self.store.sealed(&self.key, bytes);
        if bytes.len() > MAX_BULK {
            // It could not be read back.
            return Err(StoreError::new("redis record not written: over 64 KiB"));
        }
        // Never longer than `keep_for`: whole milliseconds, rounded down; nothing to keep
        // under a millisecond.
        let ms = u64::try_from(keep_for.as_millis())
            .unwrap_or(u64::MAX)
            .min(i64::MAX as u64 / 2);
        if ms == 0 {
            return self.remove();
        }
        let ms = ms.to_string();
        self.fenced("write", WRITE, &[&bytes, ms.as_bytes()])
    }

    fn remove(&mut self) -> Result<(), StoreError> {
        self.fenced("remove", REMOVE, &[])
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let command: [&[u8]; 5] = [
            b"EVAL",
            RELEASE.as_bytes(),
            b"1",
            self.lock.as_bytes(),
            self.value.as_bytes(),
        ];
        if let Err(error) = self
            .store
            .call_one("release the lock", self.key.id(), &command)
        {
            // It expires by itself after its hold.
            log::debug!("{error}");
        }
    }
}
