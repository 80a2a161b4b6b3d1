//! The lease: a host's lock on one key while it asks for a token. `SET <lock> <value> NX
//! PX <lease>` takes it; a compare-and-delete script releases it only if it still holds
//! this host's value; Redis drops it after the lease if the host dies or hangs.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apiauth::store::{StoreError, StoreGuard, StoreKey};

use crate::RedisStore;

/// Deletes the lease only if it holds this holder's value (another host's lease, taken
/// after this one expired, is left alone).
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// The longest pause between two tries for a busy lease.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// A held lease; dropping it releases it.
pub(crate) struct Lease<'a> {
    store: &'a RedisStore,
    key: StoreKey,
    lock: String,
    value: String,
}

/// Takes `key`'s lease, trying again for up to `wait` while another host holds it.
pub(crate) fn take<'a>(
    store: &'a RedisStore,
    key: &StoreKey,
    wait: Duration,
) -> Result<Option<Lease<'a>>, StoreError> {
    let lock = store.redis_key(key, "lock");
    let value = unique_value();
    let ms = u64::try_from(store.lease().as_millis()).unwrap_or(u64::MAX);
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let taken: Option<String> = store.call("lock", |c| {
            redis::cmd("SET")
                .arg(&lock)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query(c)
        })?;
        if taken.is_some() {
            let key = key.clone();
            return Ok(Some(Lease {
                store,
                key,
                lock,
                value,
            }));
        }
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_PAUSE);
    }
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

impl StoreGuard for Lease<'_> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(&self.store.redis_key(&self.key, "record"))
    }

    fn write(&mut self, bytes: &[u8], keep_for: Duration) -> Result<(), StoreError> {
        let key = self.store.redis_key(&self.key, "record");
        self.store.set(&key, bytes, keep_for)
    }

    fn remove(&mut self) -> Result<(), StoreError> {
        self.store.del(&self.store.redis_key(&self.key, "record"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let released = self.store.call("release the lock", |c| {
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(&self.lock)
                .arg(&self.value)
                .query::<i64>(c)
        });
        if let Err(error) = released {
            // It expires by itself after the lease.
            log::debug!("{error}");
        }
    }
}
