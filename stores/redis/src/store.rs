//! [`RedisStore`]: the records of a fleet's token sources as Redis values with a TTL, and
//! the one connection each process keeps to Redis.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use apiauth::store::{Store, StoreError, StoreGuard, StoreKey};
use redis::{Client, Connection, RedisResult};

use crate::lease;

/// The largest record that is used; a longer value is ignored (the source's records are a
/// few hundred bytes).
const MAX_RECORD: usize = 64 * 1024;

/// A [`Store`] on a Redis server: the hosts of a fleet that share one client id share one
/// token, one token request and one backoff.
///
/// Give it to [`TokenConfig::with_store`](apiauth::TokenConfig::with_store). For each slot
/// (token URL, client id, client authentication, scopes, parameters and a check of the
/// secret, hashed into 16 hex digits, [`StoreKey::id`]) it keeps up to three values,
/// `PREFIX<id>:token`, `PREFIX<id>:failure` and `PREFIX<id>:rejection`, each with a TTL no
/// longer than the record is worth (the token's remaining life, the backoff), and a lease
/// `PREFIX<id>:lock` while a host asks for a token. See the crate docs for what Redis sees.
///
/// Every call has a time limit (connect, write, read; [`with_timeout`](Self::with_timeout)).
/// A call that fails drops the connection and the next call opens a new one, so a Redis
/// that restarts is used again without the process restarting. The source logs a failing
/// store once and goes on with its memory cache.
///
/// # Examples
///
/// ```no_run
/// use apiauth::{Credentials, TokenConfig};
/// use apiauth_redis::RedisStore;
///
/// let store = RedisStore::open("redis://127.0.0.1:6379/0", "apiauth:billing:")?;
/// let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("id", "secret")?)
///     .with_store(store)
///     .build()?;
/// let token = source.token()?; // from Redis if another host fetched it
/// # Ok::<(), apiauth::Error>(())
/// ```
pub struct RedisStore {
    client: Client,
    /// The server, for messages: address and database, never the user or password.
    server: String,
    prefix: String,
    timeout: Duration,
    lease: Duration,
    connection: Mutex<Option<Connection>>,
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// `rediss://…` with the `tls-rustls` feature, or `redis+unix:///path`), with every
    /// key starting with `prefix`. Connects on first use, not here.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](apiauth::Error::Config) for a URL the client cannot parse, or a
    /// prefix that is empty or holds a control character or a space.
    pub fn open(url: &str, prefix: impl Into<String>) -> apiauth::Result<RedisStore> {
        let prefix = prefix.into();
        if prefix.is_empty() || prefix.chars().any(|c| c.is_control() || c == ' ') {
            return Err(apiauth::Error::Config(
                "redis key prefix must be non-empty, without spaces or control characters".into(),
            ));
        }
        // The client's error would quote the URL, password included: say only what failed.
        let client = Client::open(url).map_err(|e| {
            apiauth::Error::Config(format!("redis url is not valid ({:?})", e.kind()))
        })?;
        let info = client.get_connection_info();
        let server = format!("{}/{}", info.addr(), info.redis_settings().db());
        Ok(RedisStore {
            client,
            server,
            prefix,
            timeout: Duration::from_millis(250),
            lease: Duration::from_secs(30),
            connection: Mutex::new(None),
        })
    }

    /// The time limit for connecting to Redis, and for writing and reading each command.
    /// Defaults to 250 ms.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a host's lease (the lock it holds while it asks for a token) lasts: if the
    /// host dies or hangs, the next host may ask after this. Make it longer than a token
    /// request takes and at most the source's lock wait (5 times
    /// [`TokenConfig::with_timeout`](apiauth::TokenConfig::with_timeout)), so that a
    /// waiting host takes over a dead holder's lease rather than giving up on it. Defaults
    /// to 30 s.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// The key prefix given to [`open`](Self::open).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of `key`'s record, or of its lease: `PREFIX<id>:<what>`.
    pub fn redis_key(&self, key: &StoreKey, what: &str) -> String {
        format!("{}{}:{what}", self.prefix, key.id())
    }

    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }

    /// Runs `call` on the connection, opening one if there is none; any error drops it.
    pub(crate) fn call<T>(
        &self,
        doing: &str,
        call: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut slot = self.slot();
        let result = match slot.as_mut() {
            Some(connection) => call(connection),
            None => self.connect().and_then(|mut connection| {
                let result = call(&mut connection);
                *slot = Some(connection);
                result
            }),
        };
        result.map_err(|e| {
            *slot = None; // a timed-out reply may still come: never reuse the connection
            StoreError::new(format_args!(
                "redis {} cannot {doing}: {}",
                self.server,
                described(&e)
            ))
        })
    }

    fn slot(&self) -> MutexGuard<'_, Option<Connection>> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn connect(&self) -> RedisResult<Connection> {
        let connection = self.client.get_connection_with_timeout(self.timeout)?;
        connection.set_read_timeout(Some(self.timeout))?;
        connection.set_write_timeout(Some(self.timeout))?;
        Ok(connection)
    }

    pub(crate) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value: Option<Vec<u8>> = self.call("read", |c| redis::cmd("GET").arg(key).query(c))?;
        Ok(value.filter(|v| {
            let fits = v.len() <= MAX_RECORD;
            if !fits {
                log::debug!("redis value {key} ignored: over 64 KiB");
            }
            fits
        }))
    }

    pub(crate) fn set(
        &self,
        key: &str,
        bytes: &[u8],
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        // Never longer than `keep_for`: whole milliseconds, rounded down; nothing to keep
        // under a millisecond.
        let ms = u64::try_from(keep_for.as_millis()).unwrap_or(u64::MAX);
        let ms = ms.min(i64::MAX as u64 / 2);
        if ms == 0 {
            return self.del(key);
        }
        self.call("write", |c| {
            redis::cmd("SET")
                .arg(key)
                .arg(bytes)
                .arg("PX")
                .arg(ms)
                .query::<()>(c)
        })
    }

    pub(crate) fn del(&self, key: &str) -> Result<(), StoreError> {
        self.call("remove", |c| redis::cmd("DEL").arg(key).query::<()>(c))
    }
}

impl Store for RedisStore {
    fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(&self.redis_key(key, "record"))
    }

    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
        _hold: Duration,
    ) -> Result<Option<Box<dyn StoreGuard + '_>>, StoreError> {
        let guard = lease::take(self, key, wait)?;
        Ok(guard.map(|g| Box::new(g) as Box<dyn StoreGuard + '_>))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.server)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// A client error as a message: timed out, the I/O error, or the error's kind and the
/// server's code, never the client's full text (a parse error may quote a value: a token).
fn described(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_io_error() {
        error.to_string()
    } else {
        match error.code() {
            Some(code) => format!("{:?} ({code})", error.kind()),
            None => format!("{:?}", error.kind()),
        }
    }
}
