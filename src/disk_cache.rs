//! [`DiskCache`]: tokens kept on disk, so that processes (a command run many times, build
//! scripts) share one token and one token request.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::endpoint::TokenRequest;
use crate::refresh::{Freshness, Schedule};
use crate::{Error, Result, Token};

/// The largest entry that is read; a longer file is corrupt.
const MAX_ENTRY: u64 = 64 * 1024;

/// A directory of cached tokens shared by every process of the same user: one file per
/// (token URL, client id, scopes, parameters). Unix only.
///
/// Give it to [`TokenConfig::with_disk_cache`](crate::TokenConfig::with_disk_cache). Before
/// a token request, the source looks here: a fresh entry (by the same expiry and refresh
/// margin rules as in memory) is used and nothing is sent. Otherwise the source takes an
/// advisory lock on the entry, looks again, and only then asks the endpoint and writes the
/// answer, so that processes started together make one request between them. The OS
/// releases the lock of a process that dies; a holder that hangs is waited for no longer
/// than a token request can take, then ignored.
///
/// **What is trusted.** The directory must belong to the current user and be closed to
/// everyone else (it is created mode 0700). Entries are written mode 0600, atomically
/// (temporary file, fsync, rename); an entry that is readable by others, owned by someone
/// else, corrupt, truncated or written for other settings is ignored and replaced. The client
/// secret is never written; the access token is (it is what the cache is for).
///
/// # Examples
///
/// ```no_run
/// use apiauth::{Credentials, DiskCache, TokenConfig};
///
/// let dir = DiskCache::default_dir().expect("HOME or XDG_CACHE_HOME is set");
/// let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("id", "secret")?)
///     .with_disk_cache(DiskCache::open(dir)?)
///     .build()?;
/// let token = source.token()?; // from disk if another process fetched it recently
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    uid: u32,
}

/// What identifies an entry, and is checked again when it is read.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Key {
    token_url: String,
    client_id: String,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
}

/// An entry as written.
#[derive(Serialize, Deserialize)]
struct Entry {
    version: u32,
    #[serde(flatten)]
    key: Key,
    access_token: String,
    scope: Option<String>,
    /// When the token request was sent, in milliseconds since the Unix epoch.
    issued_at_ms: u64,
    lifetime_ms: u64,
}

/// The entry format's version; an entry of another version is ignored.
const VERSION: u32 = 1;

impl DiskCache {
    /// Opens (creating it mode 0700 if needed) the cache directory `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the directory cannot be created, belongs to another user, or
    /// is open to other users (fix: `chmod 700 DIR`).
    pub fn open(dir: impl Into<PathBuf>) -> Result<DiskCache> {
        let dir = dir.into();
        let failed = |why: &str| Error::Config(format!("cache directory {}: {why}", dir.display()));
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| failed(&e.to_string()))?;
        let uid = current_uid(&dir).map_err(|e| failed(&e.to_string()))?;
        let meta = fs::metadata(&dir).map_err(|e| failed(&e.to_string()))?;
        if meta.uid() != uid {
            return Err(failed("belongs to another user"));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(failed(&format!(
                "is open to other users (mode {:o}; chmod 700 it)",
                meta.mode() & 0o777
            )));
        }
        Ok(DiskCache { dir, uid })
    }

    /// The per-user default: `$XDG_CACHE_HOME/apiauth`, or `$HOME/.cache/apiauth`. `None`
    /// when neither variable holds an absolute path.
    pub fn default_dir() -> Option<PathBuf> {
        let absolute = |var| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let base = absolute("XDG_CACHE_HOME").or_else(|| Some(absolute("HOME")?.join(".cache")));
        Some(base?.join("apiauth"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The token for `request`: from disk if fresh, else from `fetch` under the entry's
    /// lock, written back. A stale entry is refreshed; if that fails and `keep_stale`, the
    /// still-valid stale token is returned instead of the error.
    pub(crate) fn token(
        &self,
        request: &TokenRequest,
        margin: Duration,
        clock: &Clock,
        keep_stale: bool,
        fetch: impl FnOnce() -> Result<Token>,
    ) -> Result<Token> {
        let slot = Slot::new(self, request);
        let load = || {
            let token = slot.load(clock)?;
            let schedule = Schedule::new(token.validity(), margin);
            let freshness = schedule.freshness(token.validity(), clock.now(), || clock.wall());
            (freshness != Freshness::Expired).then_some((token, freshness))
        };
        if let Some((token, Freshness::Fresh)) = load() {
            return Ok(token);
        }
        let _lock = slot.lock(request.timeout.saturating_mul(LOCK_WAIT_PHASES));
        let cached = load();
        match cached {
            Some((token, Freshness::Fresh)) => Ok(token),
            _ => match fetch() {
                Ok(token) => {
                    slot.save(&token, clock);
                    Ok(token)
                }
                Err(error) => match cached {
                    Some((stale, _)) if keep_stale => Ok(stale),
                    _ => Err(error),
                },
            },
        }
    }

    /// Removes the entry for `request`; with `only`, only if it holds that access token.
    pub(crate) fn forget(&self, request: &TokenRequest, only: Option<&str>) {
        let slot = Slot::new(self, request);
        let remove = match only {
            None => true,
            Some(token) => slot.read().is_some_and(|entry| entry.access_token == token),
        };
        if remove {
            let _ = fs::remove_file(&slot.path);
        }
    }
}

/// How many phases of a token request (connect, send, wait, read, …) a process waits for
/// another's lock: past that, the holder is taken to hang and is ignored.
const LOCK_WAIT_PHASES: u32 = 5;

/// One entry's files.
struct Slot<'a> {
    cache: &'a DiskCache,
    key: Key,
    /// `<dir>/<hash>.json`
    path: PathBuf,
}

impl<'a> Slot<'a> {
    fn new(cache: &'a DiskCache, request: &TokenRequest) -> Slot<'a> {
        let key = Key {
            token_url: request.url.clone(),
            client_id: request.credentials.id().to_owned(),
            scopes: request.scopes.clone(),
            params: request.params.clone(),
        };
        let serialized = serde_json::to_vec(&key).unwrap_or_default();
        let path = cache.dir.join(format!("{:016x}.json", fnv1a(&serialized)));
        Slot { cache, key, path }
    }

    /// The entry, if the file is ours, private, well formed and for this key.
    fn read(&self) -> Option<Entry> {
        let file = File::open(&self.path).ok()?;
        let meta = file.metadata().ok()?;
        let trusted = meta.is_file() && meta.uid() == self.cache.uid && meta.mode() & 0o077 == 0;
        if !trusted || meta.len() > MAX_ENTRY {
            return None;
        }
        let mut text = String::new();
        file.take(MAX_ENTRY).read_to_string(&mut text).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        (entry.version == VERSION && entry.key == self.key).then_some(entry)
    }

    fn load(&self, clock: &Clock) -> Option<Token> {
        let entry = self.read()?;
        let issued = UNIX_EPOCH.checked_add(Duration::from_millis(entry.issued_at_ms))?;
        let lifetime = Duration::from_millis(entry.lifetime_ms);
        let (now, wall) = (clock.now(), clock.wall());
        Token::restore(entry.access_token, entry.scope, issued, lifetime, now, wall)
    }

    /// Takes the entry's lock, waiting at most `wait`; `None` if it could not.
    fn lock(&self, wait: Duration) -> Option<File> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.path.with_extension("lock"))
            .ok()?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Some(file),
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(_) => return None,
            }
        }
    }

    /// Writes the entry atomically; a failure only means the next process fetches again.
    fn save(&self, token: &Token, clock: &Clock) {
        let age = clock.now().saturating_duration_since(token.issued_at());
        let issued = clock.wall().checked_sub(age).unwrap_or(UNIX_EPOCH);
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let entry = Entry {
            version: VERSION,
            key: self.key.clone(),
            access_token: token.access_token().secret().to_owned(),
            scope: token.scope().map(str::to_owned),
            issued_at_ms: millis(issued.duration_since(UNIX_EPOCH).unwrap_or_default()),
            lifetime_ms: millis(token.lifetime()),
        };
        let Ok(json) = serde_json::to_vec(&entry) else {
            return;
        };
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = self.path.with_extension(format!(
            "{}.{}.tmp",
            std::process::id(),
            WRITES.fetch_add(1, Relaxed)
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| {
                file.write_all(&json)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, &self.path));
        match written {
            // The rename is durable once the directory is synced.
            Ok(()) => drop(File::open(&self.cache.dir).and_then(|dir| dir.sync_all())),
            Err(_) => drop(fs::remove_file(&tmp)),
        }
    }
}

/// The effective user id: `/proc/self`'s owner on Linux, else the owner of a file created
/// (and removed) in `dir`. std has no `geteuid`, and this crate has no `unsafe`.
fn current_uid(dir: &Path) -> std::io::Result<u32> {
    if let Ok(meta) = fs::metadata("/proc/self") {
        return Ok(meta.uid());
    }
    let probe = dir.join(format!(".uid-probe-{}", std::process::id()));
    let uid = File::create(&probe)
        .and_then(|f| f.metadata())
        .map(|m| m.uid());
    let _ = fs::remove_file(&probe);
    uid
}

/// FNV-1a, 64 bits: a file name that is stable across builds and Rust versions (std's
/// hashers promise neither). Collisions are harmless: the key is checked on reading.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// `cache list` and `cache clear`: in a child module, which sees this one's private items.
mod listing;
pub use listing::CacheEntry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_stable() {
        // Published FNV-1a 64 test vectors: a name must not change between builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
