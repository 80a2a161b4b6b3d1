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
use crate::refresh::{Backoff, Freshness, RefreshPolicy};
use crate::{BasicEncoding, ClientAuth, Error, Result, Token};

mod failure;
mod files;

/// The largest entry that is read; a longer file is corrupt.
const MAX_ENTRY: u64 = 64 * 1024;

/// A directory of cached tokens shared by every process of the same user: one file per
/// (token URL, client id, client authentication, scopes, parameters). Unix only.
///
/// Give it to [`TokenConfig::with_disk_cache`](crate::TokenConfig::with_disk_cache). Before
/// a token request, the source looks here: a fresh entry (by the same expiry and refresh
/// margin rules as in memory) is used and nothing is sent. Otherwise the source takes an
/// advisory lock on the entry, looks again, and only then asks the endpoint and writes the
/// answer, so that processes started together make one request between them. The OS
/// releases the lock of a process that dies; a holder that hangs is waited for no longer
/// than a token request can take, then ignored.
///
/// **What is written.** An entry is a JSON file, mode 0600, written atomically (temporary
/// file, fsync, rename), holding: the format version; the token URL, client id, client
/// authentication method, scopes and parameters it was fetched with; the access token (it is
/// what the cache is for), its scope, when it was issued and its lifetime; and `check`, the
/// top 16 bits of a 64-bit FNV-1a hash of the client secret, token URL and client id.
/// The secret itself is never written. The check binds an entry to the secret that fetched
/// it: a process with another secret (mistyped, rotated, revoked) does not use the entry
/// but asks the endpoint, and the answer replaces the entry only if the endpoint accepted
/// that secret. One other secret in 65,536 has the same check and is taken for the right
/// one (then, as before checks, the entry serves it until the token expires). Someone who
/// reads the file learns those 16 bits and no more: they rule out all but one in 65,536 of
/// the secrets they might guess, and the rest must still be tried against the endpoint;
/// every entry of the same client carries the same 16 bits, so entries do not add up.
///
/// **Failures are shared.** A token request that fails leaves a failure record beside the
/// entry (`<hash>.fail`, written under the entry's lock, atomically, mode 0600, with the
/// same key and secret check): when it failed and when to try again, as wall-clock
/// milliseconds, how many failed in a row, and the error as much as it takes to rebuild it
/// with the same message (an endpoint's status, code, description, URI and `Retry-After`;
/// an unusable answer's reason, never the answer; a transport error's text). Until then,
/// every process gets that error at once, without a request: the backoff (1 s doubling to
/// 60 s, or a longer `Retry-After`, at most an hour) holds across processes, and processes
/// queued on the lock of a request that timed out get its error instead of each waiting
/// out a timeout of their own. A record that claims a wait longer than an hour, or a failure
/// in the future (the clock was set back), is ignored. A success removes the record.
/// Configuration errors are not recorded, nor transport errors whose message could not be
/// rebuilt the same (TLS, protocol).
///
/// **What is trusted, and against whom.** The directory must belong to the current user and
/// be closed to everyone else (it is created mode 0700), and nobody but that user or root
/// may be able to replace it: [`open`](Self::open) resolves its path and refuses it if a
/// directory or symlink on the way belongs to another user, or a directory is writable by
/// every user without being sticky (`/tmp` is fine; a `/tmp/.cache` made by someone else is
/// not). The directory found is remembered (device and inode) and checked again, without
/// following symlinks, before each use; if it was replaced, the cache is bypassed. Entries,
/// lock files and failure records are opened without following symlinks and without
/// waiting (a FIFO opens at once), and are used only if they are regular files of this
/// user; an entry or record that is not, or that is readable by others, corrupt, truncated,
/// written for other settings or bound to another secret, is ignored and replaced by the
/// next token fetched or failure met. Not defended: root
/// and the same user, who can read the access tokens anyway; members of a group that may
/// write to a directory on the path (group-writable directories are accepted, as a umask of
/// 002 makes them).
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
    /// `dir` with symlinks resolved, as checked by `open`.
    real: PathBuf,
    /// The directory's (device, inode) when `open` checked it.
    id: (u64, u64),
    uid: u32,
}

/// What identifies an entry, and is checked again when it is read.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Key {
    token_url: String,
    client_id: String,
    client_auth: String,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
}

/// An entry as written.
#[derive(Serialize, Deserialize)]
struct Entry {
    version: u32,
    #[serde(flatten)]
    key: Key,
    /// [`secret_check`] of the secret that fetched the token.
    check: u16,
    access_token: String,
    scope: Option<String>,
    /// When the token request was sent, in milliseconds since the Unix epoch.
    issued_at_ms: u64,
    lifetime_ms: u64,
}

/// The entry format's version; an entry of another version is ignored.
const VERSION: u32 = 2;

impl DiskCache {
    /// Opens (creating it mode 0700 if needed) the cache directory `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the directory cannot be created, belongs to another user, is
    /// open to other users (fix: `chmod 700 DIR`), or could be replaced by another user (a
    /// directory on its path belongs to someone other than the user or root, or is writable
    /// by every user and not sticky).
    pub fn open(dir: impl Into<PathBuf>) -> Result<DiskCache> {
        let dir = dir.into();
        let failed = |why: &str| Error::Config(format!("cache directory {}: {why}", dir.display()));
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| failed(&e.to_string()))?;
        let uid = files::current_uid(&dir).map_err(|e| failed(&e.to_string()))?;
        let real = files::trusted_path(&dir, uid).map_err(|e| failed(&e))?;
        let meta = fs::symlink_metadata(&real).map_err(|e| failed(&e.to_string()))?;
        if meta.uid() != uid {
            return Err(failed("belongs to another user"));
        }
        if !files::private_to(&meta, uid) {
            return Err(failed(&format!(
                "is open to other users (mode {:o}; chmod 700 it)",
                meta.mode() & 0o777
            )));
        }
        let id = (meta.dev(), meta.ino());
        Ok(DiskCache { dir, real, id, uid })
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
    /// still-valid stale token is returned with the error. An entry holding the `rejected`
    /// token is treated as absent.
    ///
    /// A live failure record (see the `failure` module) is the answer instead of `fetch`, looked for
    /// before the lock (a process that comes late waits for nothing) and again under it (a
    /// process that waited for the lock gets the error its holder met). A failed `fetch`
    /// writes the record; a successful one removes it. With an error, read or met, comes the
    /// backoff it sets (`None` when the error is not recorded: then the caller's own applies).
    pub(crate) fn token(
        &self,
        request: &TokenRequest,
        policy: &RefreshPolicy,
        clock: &Clock,
        keep_stale: bool,
        rejected: Option<&str>,
        fetch: impl FnOnce() -> Result<Token>,
    ) -> (Result<(Token, Option<Error>)>, Option<Backoff>) {
        if !files::same_dir(&self.real, self.id, self.uid) {
            log::warn!(
                "disk cache {} is no longer the directory that was opened; not using it",
                self.dir.display()
            );
            return (fetch().map(|token| (token, None)), None);
        }
        let slot = Slot::new(self, request);
        let load = || {
            let token = slot.load(clock)?;
            if rejected.is_some_and(|t| token.access_token().secret() == t) {
                return None;
            }
            let schedule = policy.schedule(token.validity());
            let freshness = schedule.freshness(token.validity(), clock.now(), || clock.wall());
            (freshness != Freshness::Expired).then_some((token, freshness))
        };
        let failed = |cached: Option<(Token, Freshness)>, error| match cached {
            Some((stale, _)) if keep_stale => Ok((stale, Some(error))),
            _ => Err(error),
        };
        let cached = load();
        if let Some((token, Freshness::Fresh)) = cached {
            return (Ok((token, None)), None);
        }
        if let Some((error, backoff)) = slot.failure(clock) {
            return (failed(cached, error), Some(backoff));
        }
        let _lock = slot.lock(request.timeout.saturating_mul(LOCK_WAIT_PHASES));
        let cached = load();
        if let Some((token, Freshness::Fresh)) = cached {
            return (Ok((token, None)), None);
        }
        if let Some((error, backoff)) = slot.failure(clock) {
            return (failed(cached, error), Some(backoff));
        }
        match fetch() {
            Ok(token) => {
                slot.save(&token, clock);
                slot.clear_failure();
                (Ok((token, None)), None)
            }
            Err(error) => {
                let backoff = slot.save_failure(&error, clock);
                (failed(cached, error), backoff)
            }
        }
    }

    /// Removes the entry for `request`; with `only`, only if it holds that access token. An
    /// entry bound to another secret is not this request's to remove. Under the entry's
    /// lock, so that no process reads it back while it goes.
    pub(crate) fn forget(&self, request: &TokenRequest, only: Option<&str>) {
        if !files::same_dir(&self.real, self.id, self.uid) {
            return;
        }
        let slot = Slot::new(self, request);
        let _lock = slot.lock(request.timeout.saturating_mul(LOCK_WAIT_PHASES));
        let remove = slot
            .read()
            .is_some_and(|entry| only.is_none_or(|token| entry.access_token == token));
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
    /// The secret's [`secret_check`].
    check: u16,
    /// `<real dir>/<hash>.json`
    path: PathBuf,
}

impl<'a> Slot<'a> {
    fn new(cache: &'a DiskCache, request: &TokenRequest) -> Slot<'a> {
        let key = Key {
            token_url: request.url.clone(),
            client_id: request.credentials.id().to_owned(),
            client_auth: match request.client_auth {
                // As the command's --client-auth names them.
                ClientAuth::Basic(BasicEncoding::FormUrlEncoded) => "basic",
                ClientAuth::Basic(BasicEncoding::Raw) => "basic-raw",
                ClientAuth::RequestBody => "body",
            }
            .to_owned(),
            scopes: request.scopes.clone(),
            params: request.params.clone(),
        };
        let serialized = serde_json::to_vec(&key).unwrap_or_default();
        let path = cache.real.join(format!("{:016x}.json", fnv1a(&serialized)));
        let secret = request.credentials.secret().secret();
        let check = secret_check(secret, &key.token_url, &key.client_id);
        Slot {
            cache,
            key,
            check,
            path,
        }
    }

    /// The entry, if the file is ours, private, well formed, for this key and this secret.
    fn read(&self) -> Option<Entry> {
        let ignored = |why: &str| log::debug!("disk cache entry {} ignored: {why}", self.name());
        let mut options = OpenOptions::new();
        let Some((file, meta)) =
            files::open_regular(options.read(true), &self.path, self.cache.uid)
        else {
            if self.path.symlink_metadata().is_ok() {
                ignored("not a regular file of this user");
            }
            return None;
        };
        if !files::private_to(&meta, self.cache.uid) || meta.len() > MAX_ENTRY {
            ignored("open to other users, or larger than 64 KiB");
            return None;
        }
        let mut text = String::new();
        file.take(MAX_ENTRY).read_to_string(&mut text).ok()?;
        let Ok(entry) = serde_json::from_str::<Entry>(&text) else {
            ignored("corrupt");
            return None;
        };
        let why = match () {
            _ if entry.version != VERSION => "another format version",
            _ if entry.key != self.key => "written for other settings",
            _ if entry.check != self.check => "fetched with another client secret",
            _ => return Some(entry),
        };
        ignored(why);
        None
    }

    /// The entry's file name, for messages.
    fn name(&self) -> std::borrow::Cow<'_, str> {
        self.path.file_name().unwrap_or_default().to_string_lossy()
    }

    fn load(&self, clock: &Clock) -> Option<Token> {
        let entry = self.read()?;
        let issued = UNIX_EPOCH.checked_add(Duration::from_millis(entry.issued_at_ms))?;
        let lifetime = Duration::from_millis(entry.lifetime_ms);
        let (now, wall) = (clock.now(), clock.wall());
        Token::restore(
            entry.access_token,
            entry.scope,
            issued,
            lifetime,
            0,
            now,
            wall,
        )
    }

    /// Takes the entry's lock, waiting at most `wait`; `None` if it could not.
    fn lock(&self, wait: Duration) -> Option<File> {
        let path = self.path.with_extension("lock");
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(false).mode(0o600);
        let uid = self.cache.uid;
        let (file, _) = files::open_regular(&mut options, &path, uid).or_else(|| {
            // A symlink, FIFO or someone else's file: replaced, never followed or waited on.
            fs::remove_file(&path).ok()?;
            files::open_regular(options.create_new(true), &path, uid)
        })?;
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
            check: self.check,
            access_token: token.access_token().secret().to_owned(),
            scope: token.scope().map(str::to_owned),
            issued_at_ms: millis(issued.duration_since(UNIX_EPOCH).unwrap_or_default()),
            lifetime_ms: millis(token.lifetime()),
        };
        if let Ok(json) = serde_json::to_vec(&entry) {
            self.write_atomically(&self.path, &json);
        }
    }

    /// Replaces the file at `path` (an entry or a failure record) with `bytes`, atomically;
    /// a failure only means the next process fetches again.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) {
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "{}.{}.tmp",
            std::process::id(),
            WRITES.fetch_add(1, Relaxed)
        ));
        // `create_new` refuses any existing path, symlinks included; the rename replaces
        // whatever is at `path` (a symlink itself, not its target).
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut file| {
                file.write_all(bytes)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, path));
        match written {
            // The rename is durable once the directory is synced.
            Ok(()) => drop(
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_DIRECTORY)
                    .open(&self.cache.real)
                    .and_then(|dir| dir.sync_all()),
            ),
            Err(_) => drop(fs::remove_file(&tmp)),
        }
    }
}

/// FNV-1a, 64 bits: a file name that is stable across builds and Rust versions (std's
/// hashers promise neither). Collisions are harmless: the key is checked on reading.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What an entry keeps of the client secret: 16 bits, enough to tell another secret apart
/// (all but one in 65,536) and too few to tell anything about it but that it is one of the
/// 1 in 65,536 candidates that give them. Any well-mixed hash truncated to 16 bits leaks
/// exactly that much, so the FNV-1a the file names use serves (no hash in std, and no
/// cryptographic one in the tree of both TLS features); a slow hash would make a cached run
/// dearer than a token request, to guard only secrets weak enough to guess online.
fn secret_check(secret: &str, token_url: &str, client_id: &str) -> u16 {
    let parts = [secret, "\0", token_url, "\0", client_id];
    let hash = fnv1a(parts.concat().as_bytes());
    // The top bits: the last multiplications mix every byte into them.
    (hash >> 48) as u16
}

// `cache list` and `cache clear`: in a child module, which sees this one's private items.
mod listing;
pub use listing::CacheEntry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_check_tells_secrets_apart() {
        let check = |secret: &str| secret_check(secret, "https://a.example/t", "id");
        assert_eq!(check("s3cr3t"), check("s3cr3t"));
        let distinct: std::collections::HashSet<u16> =
            (0..1000).map(|n| check(&format!("secret-{n}"))).collect();
        assert!(distinct.len() > 980, "{}", distinct.len());
        assert_ne!(
            check("s3cr3t"),
            secret_check("s3cr3t", "https://a.example/t", "id2")
        );
    }

    #[test]
    fn file_names_are_stable() {
        // Published FNV-1a 64 test vectors: a name must not change between builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
