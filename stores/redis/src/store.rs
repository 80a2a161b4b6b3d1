//! [`RedisStore`]: a slot's record and lease as Redis keys under one hash tag, and the calls
//! that reach them: each with one deadline, on a connection no other thread is using, and
//! none at all for a while after Redis failed.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use apiauth::store::{Store, StoreError, StoreGuard, StoreKey};

use crate::connection::{Connection, Failure, TlsConfig};
use crate::lease;
use crate::resp::Reply;
use crate::target::{Target, join};

/// Idle connections kept per node: one per thread that was busy at once, up to this.
const MAX_IDLE: usize = 4;
/// Redirections (`MOVED`, `ASK`) followed in one call.
const MAX_REDIRECTS: usize = 3;
/// The pause before a command refused with `TRYAGAIN` (a slot being migrated) is sent again.
const TRY_AGAIN_PAUSE: Duration = Duration::from_millis(10);

/// A [`Store`] on a Redis server, a Valkey server, or a Redis Cluster: the hosts of a fleet
/// that share one client id share one token, one token request and one backoff.
///
/// Give it to [`TokenConfig::with_store`](apiauth::TokenConfig::with_store). Each slot
/// ([`StoreKey::id`], 16 hex digits) is one record, `PREFIX{id}`, with a TTL no longer
/// than it is worth, and a lease `PREFIX{id}:lock` while a host asks for a token; the
/// `{id}` hash tag puts both in one cluster slot. See the crate docs for what Redis sees.
///
/// Every call has one deadline for all of it (resolving, connecting, TLS, writing,
/// reading; [`with_timeout`](Self::with_timeout)). A call that times out, loses its
/// connection or reads a reply that is not Redis's makes the store refuse calls at once for
/// a cool-down ([`with_cool_down`](Self::with_cool_down)): the source logs the failure once
/// and goes on alone. Calls of different threads never wait for each other: each takes an
/// idle connection or opens its own.
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
    target: Target,
    /// The server, for messages: address and database, never the user or password.
    server: String,
    prefix: String,
    timeout: Duration,
    cool_down: Duration,
    #[cfg(feature = "tls-rustls")]
    tls_settings: crate::tls::TlsSettings,
    tls: Option<TlsConfig>,
    /// Idle connections by node (`host:port`).
    idle: Mutex<HashMap<String, Vec<Connection>>>,
    /// The node that serves a hash tag, learnt from `MOVED`.
    routes: Mutex<HashMap<String, (String, u16)>>,
    /// Until when calls are refused after a failure.
    cooling: Mutex<Option<Instant>>,
    /// Redis's clock minus this host's, in nanoseconds, measured on the last connection.
    offset_ns: AtomicI64,
    offset_known: AtomicBool,
    /// The operator's key records are signed with, if any.
    #[cfg(feature = "record-mac")]
    record_key: Option<crate::mac::RecordKey>,
    /// Whether an unsigned or forged record was reported already.
    #[cfg(feature = "record-mac")]
    warned: AtomicBool,
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `rediss://…` with the `tls-rustls` feature), with every key starting with
    /// `prefix`. Any one node of a Redis Cluster will do: redirections are followed.
    /// Connects on first use, not here.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](apiauth::Error::Config) for a URL that cannot be parsed (the
    /// message never quotes it), `rediss://` in a build without the `tls-rustls` feature,
    /// no usable platform CA file, or a prefix that is empty or holds a control character,
    /// a space or a brace (braces are the hash tag's).
    pub fn open(url: &str, prefix: impl Into<String>) -> Result<RedisStore, apiauth::Error> {
        let prefix = prefix.into();
        if prefix.is_empty()
            || prefix
                .chars()
                .any(|c| c.is_control() || matches!(c, ' ' | '{' | '}'))
        {
            return Err(config(
                "redis key prefix must be non-empty, without spaces, braces or control characters",
            ));
        }
        let target =
            Target::parse(url).map_err(|e| config(format_args!("redis url is not valid: {e}")))?;
        let mut store = RedisStore {
            server: target.server(),
            target,
            prefix,
            timeout: Duration::from_millis(250),
            cool_down: Duration::from_secs(5),
            #[cfg(feature = "tls-rustls")]
            tls_settings: Default::default(),
            tls: None,
            idle: Mutex::default(),
            routes: Mutex::default(),
            cooling: Mutex::default(),
            offset_ns: AtomicI64::new(0),
            offset_known: AtomicBool::new(false),
            #[cfg(feature = "record-mac")]
            record_key: None,
            #[cfg(feature = "record-mac")]
            warned: AtomicBool::new(false),
        };
        if store.target.tls {
            store.configure_tls()?;
        }
        Ok(store)
    }

    /// The deadline of each store call: resolving, connecting, TLS, authenticating, writing
    /// and reading, all in it. Defaults to 250 ms.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long the store refuses calls (at once, without a connection) after one timed
    /// out, lost its connection or read something that is not Redis's reply. Defaults to
    /// 5 s.
    pub fn with_cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// Trusts only the CA certificates in this PEM file for `rediss://` (a private CA),
    /// instead of the platform's (the system bundle, or `SSL_CERT_FILE` when set).
    /// Defaults to the platform's.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](apiauth::Error::Config) when the file cannot be read or holds no
    /// certificate, or the build lacks the `tls-rustls` feature.
    pub fn with_ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, apiauth::Error> {
        #[cfg(feature = "tls-rustls")]
        {
            let mut store = self;
            store.tls_settings.ca_file = Some(path.as_ref().to_owned());
            store.configure_tls()?;
            Ok(store)
        }
        #[cfg(not(feature = "tls-rustls"))]
        {
            let _ = (self, path);
            Err(no_tls())
        }
    }

    /// Shows this client certificate (a PEM chain) and proves it with its key (a PEM
    /// private key) when the Redis server asks for one (`tls-auth-clients`). Defaults to
    /// none.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](apiauth::Error::Config) when a file cannot be read or used, or the
    /// build lacks the `tls-rustls` feature.
    pub fn with_client_cert(
        self,
        chain: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self, apiauth::Error> {
        #[cfg(feature = "tls-rustls")]
        {
            let mut store = self;
            let pair = (chain.as_ref().to_owned(), key.as_ref().to_owned());
            store.tls_settings.client = Some(pair);
            store.configure_tls()?;
            Ok(store)
        }
        #[cfg(not(feature = "tls-rustls"))]
        {
            let _ = (self, chain, key);
            Err(no_tls())
        }
    }

    /// Signs every record with HMAC-SHA256 under this key (over the record and its Redis
    /// key), and reads a record without a valid signature as none (logged at warn once):
    /// give every host of the fleet the same key. Feature `record-mac`. Defaults to
    /// unsigned records.
    ///
    /// # Security
    ///
    /// It protects the records' integrity from whoever can write the keys but lacks the key
    /// (another application with the same ACL, a Redis exposed without a password): they
    /// cannot plant a token the fleet would send to your APIs, a failure or a backoff that
    /// would stop it, nor move a record to another slot. It does not hide the tokens (a
    /// reader of Redis still reads them), nor stop a writer from deleting records, holding
    /// the lease (hosts then wait up to their lock wait and ask alone), or putting back an
    /// older record of the same slot that the key signed (a token until it expires, a
    /// backoff until it ends). Every host that has the key can sign.
    #[cfg(feature = "record-mac")]
    pub fn with_record_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.record_key = Some(crate::mac::RecordKey::new(key.as_ref()));
        self
    }

    /// The bytes stored for `record`: signed, with a record key.
    pub(crate) fn sealed<'a>(
        &self,
        key: &StoreKey,
        record: &'a [u8],
    ) -> std::borrow::Cow<'a, [u8]> {
        #[cfg(feature = "record-mac")]
        if let Some(mac) = &self.record_key {
            return mac.seal(&self.record_key(key), record).into();
        }
        let _ = key;
        record.into()
    }

    /// The record in `stored`: `None` when a record key is set and the MAC is not valid.
    fn opened(&self, key: &StoreKey, stored: Vec<u8>) -> Option<Vec<u8>> {
        #[cfg(feature = "record-mac")]
        if let Some(mac) = &self.record_key {
            let opened = mac.open(&self.record_key(key), &stored);
            if opened.is_none() && !self.warned.swap(true, Relaxed) {
                log::warn!(
                    "redis {} record {} ignored: not signed with the record key (a writer \
                     without it, or a host without it)",
                    self.server,
                    self.record_key(key)
                );
            }
            return opened;
        }
        let _ = key;
        Some(stored)
    }

    #[cfg(feature = "tls-rustls")]
    fn configure_tls(&mut self) -> Result<(), apiauth::Error> {
        let tls = self.tls_settings.config().map_err(config)?;
        self.tls = Some(tls);
        Ok(())
    }

    #[cfg(not(feature = "tls-rustls"))]
    fn configure_tls(&mut self) -> Result<(), apiauth::Error> {
        Err(no_tls())
    }

    /// The key prefix given to [`open`](Self::open).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of `key`'s record: `PREFIX{id}`.
    pub fn record_key(&self, key: &StoreKey) -> String {
        format!("{}{{{}}}", self.prefix, key.id())
    }

    /// The Redis key of `key`'s lease: `PREFIX{id}:lock`.
    pub fn lock_key(&self, key: &StoreKey) -> String {
        format!("{}{{{}}}:lock", self.prefix, key.id())
    }

    /// Runs `commands` (pipelined) on the node serving `tag`, with one deadline for all of
    /// it, following `MOVED` and `ASK`; a reply of each, or why not.
    pub(crate) fn call(
        &self,
        doing: &str,
        tag: &str,
        commands: &[&[&[u8]]],
    ) -> Result<Vec<Reply>, StoreError> {
        if let Some(until) = *lock(&self.cooling)
            && Instant::now() < until
        {
            return Err(StoreError::new(format_args!(
                "redis {} not used for {:?} after a failed call",
                self.server, self.cool_down
            )));
        }
        let deadline = Instant::now() + self.timeout;
        self.call_by(tag, commands, deadline).map_err(|failure| {
            if failure.is_transport() {
                *lock(&self.cooling) = Some(Instant::now() + self.cool_down);
                lock(&self.idle).clear();
            }
            StoreError::new(format_args!(
                "redis {} cannot {doing}: {failure}",
                self.server
            ))
        })
    }

    fn call_by(
        &self,
        tag: &str,
        commands: &[&[&[u8]]],
        deadline: Instant,
    ) -> Result<Vec<Reply>, Failure> {
        let (mut host, mut port) = lock(&self.routes)
            .get(tag)
            .cloned()
            .unwrap_or_else(|| (self.target.host.clone(), self.target.port));
        let mut asking = false;
        let mut redirects = 0;
        loop {
            let node = join(&host, port);
            let asked = [&[b"ASKING".as_slice()][..]];
            let sent: Vec<&[&[u8]]> = match asking {
                true => asked.iter().chain(commands).copied().collect(),
                false => commands.to_vec(),
            };
            let idle = lock(&self.idle).get_mut(&node).and_then(Vec::pop);
            let (connection, mut replies) = match idle.map(|mut c| (c.exec(&sent, deadline), c)) {
                Some((Ok(replies), connection)) => (connection, replies),
                // An idle connection the server closed (its `timeout`, a restart, a
                // failover): the others of this node too, most likely. Once more on a
                // new one, within the same deadline.
                Some((Err(failure), _)) if failure.is_closed() => {
                    lock(&self.idle).remove(&node);
                    let mut connection = self.connect(&host, port, deadline)?;
                    let replies = connection.exec(&sent, deadline)?;
                    (connection, replies)
                }
                Some((Err(failure), _)) => return Err(failure),
                None => {
                    let mut connection = self.connect(&host, port, deadline)?;
                    let replies = connection.exec(&sent, deadline)?;
                    (connection, replies)
                }
            };
            if asking {
                replies.remove(0);
            }
            // A reply read whole leaves the connection ready for the next call.
            let mut idle = lock(&self.idle);
            let pool = idle.entry(node).or_default();
            if pool.len() < MAX_IDLE {
                pool.push(connection);
            }
            drop(idle);
            let error = replies.iter().find_map(|r| match r {
                Reply::Error(line) => Some(line.as_str()),
                _ => None,
            });
            // A multi-key script in a slot being migrated, its keys on both nodes: the
            // migration is under way, try again while the deadline allows.
            if error.is_some_and(|e| e.starts_with("TRYAGAIN"))
                && Instant::now() + TRY_AGAIN_PAUSE < deadline
            {
                std::thread::sleep(TRY_AGAIN_PAUSE);
                continue;
            }
            match error.and_then(redirection) {
                None => return Ok(std::mem::take(&mut replies)),
                Some(_) if redirects == MAX_REDIRECTS => {
                    return Err(Failure::Protocol("too many redirections"));
                }
                Some((moved, to_host, to_port)) => {
                    redirects += 1;
                    host = if to_host.is_empty() { host } else { to_host };
                    port = to_port;
                    asking = !moved;
                    if moved {
                        let mut routes = lock(&self.routes);
                        if routes.len() > 1024 {
                            routes.clear();
                        }
                        routes.insert(tag.to_owned(), (host.clone(), port));
                    }
                }
            }
        }
    }

    fn connect(&self, host: &str, port: u16, deadline: Instant) -> Result<Connection, Failure> {
        let opened = Connection::open(&self.target, host, port, self.tls.as_ref(), deadline)?;
        self.offset_ns.store(opened.offset_ns, Relaxed);
        self.offset_known.store(true, Relaxed);
        Ok(opened.connection)
    }

    /// The one reply of a one-command call; a server's error reply is an error.
    pub(crate) fn call_one(
        &self,
        doing: &str,
        tag: &str,
        command: &[&[u8]],
    ) -> Result<Reply, StoreError> {
        let reply = self.call(doing, tag, &[command])?.pop();
        match reply {
            Some(Reply::Error(line)) => Err(StoreError::new(format_args!(
                "redis {} cannot {doing}: {}",
                self.server,
                Failure::server(&line)
            ))),
            Some(reply) => Ok(reply),
            None => Err(StoreError::new("no reply")),
        }
    }

    /// An unexpected reply, as an error.
    pub(crate) fn unexpected(&self, doing: &str) -> StoreError {
        StoreError::new(format_args!(
            "redis {} cannot {doing}: {}",
            self.server,
            Failure::Protocol("not the reply of this command")
        ))
    }

    /// `GET` of the record.
    pub(crate) fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let record = self.record_key(key);
        match self.call_one("read", key.id(), &[b"GET", record.as_bytes()])? {
            Reply::Bulk(value) => Ok(value.and_then(|v| self.opened(key, v))),
            _ => Err(self.unexpected("read")),
        }
    }
}

impl Store for RedisStore {
    fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(key)
    }

    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
        hold: Duration,
    ) -> Result<Option<Box<dyn StoreGuard + '_>>, StoreError> {
        let guard = lease::take(self, key, wait, hold)?;
        Ok(guard.map(|g| Box::new(g) as Box<dyn StoreGuard + '_>))
    }

    /// Redis's `TIME`, through the offset from this host's clock measured on the last
    /// connection opened (one round trip, the first time, if none was).
    fn now(&self) -> Option<SystemTime> {
        if !self.offset_known.load(Relaxed) {
            self.call("read the time", "", &[&[b"TIME"]]).ok()?;
        }
        let offset = self.offset_ns.load(Relaxed);
        let now = SystemTime::now();
        let magnitude = Duration::from_nanos(offset.unsigned_abs());
        match offset >= 0 {
            true => now.checked_add(magnitude),
            false => now.checked_sub(magnitude),
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.server)
            .field("tls", &self.target.tls)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("cool_down", &self.cool_down)
            .finish_non_exhaustive()
    }
}

/// `MOVED <slot> <host>:<port>` (true) or `ASK …` (false): where to go. An empty host
/// means the node that answered.
fn redirection(line: &str) -> Option<(bool, String, u16)> {
    let mut words = line.split(' ');
    let moved = match words.next()? {
        "MOVED" => true,
        "ASK" => false,
        _ => return None,
    };
    let (host, port) = words.nth(1)?.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((moved, host.to_owned(), port.parse().ok()?))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn config(message: impl fmt::Display) -> apiauth::Error {
    apiauth::Error::Config(message.to_string())
}

#[cfg(not(feature = "tls-rustls"))]
fn no_tls() -> apiauth::Error {
    config("rediss:// (TLS) needs apiauth-redis's `tls-rustls` feature, which this build lacks")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirections_are_read() {
        assert_eq!(
            redirection("MOVED 3999 127.0.0.1:6381"),
            Some((true, "127.0.0.1".into(), 6381))
        );
        assert_eq!(
            redirection("ASK 3999 [::1]:7000"),
            Some((false, "::1".into(), 7000))
        );
        assert_eq!(
            redirection("MOVED 3999 :7002"),
            Some((true, "".into(), 7002))
        );
        assert_eq!(redirection("ERR unknown"), None);
    }
}
