//! What a [`DiskCache`] holds, described without the tokens, and removal by selection (the
//! command's `cache list` and `cache clear`).
//!
//! Above both the store (whose files it reads with the same trust checks as the store
//! itself) and the cache (whose records it reads); it writes nothing.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::cache::RefreshPolicy;
use crate::cache::record::{Record, settings_of};
use crate::store::disk::{DiskCache, files};
use crate::wire::redacted_url;

/// One slot of a [`DiskCache`]: what it is for, when its token expires, and a failure or a
/// rejection still in force; never the token.
///
/// # Examples
///
/// ```no_run
/// use apiauth::DiskCache;
///
/// let cache = DiskCache::open(DiskCache::default_dir().unwrap())?;
/// for entry in cache.entries() {
///     println!("{} {} {:?}", entry.token_url(), entry.client_id(), entry.expires_at());
/// }
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CacheEntry {
    token_url: String,
    client_id: String,
    scopes: Vec<String>,
    token: Option<(SystemTime, SystemTime)>,
    failure: Option<(String, SystemTime)>,
    rejected_until: Option<SystemTime>,
    id: String,
    /// Of this format version and where its settings put it (else only a removal sees it).
    current: bool,
}

impl CacheEntry {
    /// The token endpoint the token came from.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The scopes that were asked for.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// When the token request was sent, on the wall clock; `None` when the slot holds no
    /// token (only a failure or a rejection).
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.token.map(|(issued, _)| issued)
    }

    /// When the token expires, on the wall clock; `None` without a token.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.token.map(|(_, expires)| expires)
    }

    /// When a source with the default refresh schedule (see
    /// [`TokenConfig::with_refresh_margin`](crate::TokenConfig::with_refresh_margin)) starts
    /// refreshing the token, jitter aside; `None` without a token.
    pub fn stale_at(&self) -> Option<SystemTime> {
        let (issued, expires) = self.token?;
        let lifetime = expires.duration_since(issued).unwrap_or_default();
        Some(expires - RefreshPolicy::default().early(lifetime))
    }

    /// The last failed token request, as its error's message, and until when every process
    /// gets that error instead of sending a request; `None` when no failure is in force at
    /// `now` (on the wall clock).
    pub fn failure(&self, now: SystemTime) -> Option<(&str, SystemTime)> {
        let (message, until) = self.failure.as_ref()?;
        (now < *until).then_some((message.as_str(), *until))
    }

    /// Until when a token that an API rejects again is kept rather than replaced; `None`
    /// when no rejection window is open at `now`.
    pub fn rejected_until(&self, now: SystemTime) -> Option<SystemTime> {
        self.rejected_until.filter(|until| now < *until)
    }
}

impl fmt::Debug for CacheEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheEntry")
            .field("token_url", &redacted_url(&self.token_url))
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("token", &self.token)
            .field("failure", &self.failure)
            .field("rejected_until", &self.rejected_until)
            .finish_non_exhaustive()
    }
}

/// What [`DiskCache::remove_entries`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Removed {
    /// Tokens.
    pub tokens: usize,
    /// Failure and rejection records.
    pub records: usize,
    /// What a listing does not show: temporary files left by writers killed mid-write,
    /// records of another format version and records it cannot read (they may hold a
    /// token), and anything but a regular file at a
    /// record or lock file's name (a directory, a FIFO, a symlink). Lock files hold nothing
    /// and are removed without being counted.
    pub stray: usize,
}

impl DiskCache {
    /// The slots a source would trust (the user's own, private, well formed, expired or
    /// not), sorted by token URL, client id and scopes. Symbolic links are skipped, and so
    /// are files that cannot be read.
    pub fn entries(&self) -> Vec<CacheEntry> {
        let mut entries: Vec<CacheEntry> = (self.paths().iter())
            .filter_map(|path| describe(record_name(path)?, &self.read_file(path).ok()??, false))
            .collect();
        entries.sort_by_key(|e| (e.token_url.clone(), e.client_id.clone(), e.scopes.clone()));
        entries
    }

    /// Removes the slots (of [`entries`](Self::entries)) that `select` picks: their tokens,
    /// failure and rejection records and lock files. With every slot selected, also every
    /// other lock file, every temporary file of this user (a writer killed mid-write leaves
    /// one, holding a token), and whatever is at a record or lock file's name without being
    /// a regular file (a directory there would fail every write). A process that needs a
    /// removed token fetches a new one.
    pub fn remove_entries(&self, mut select: impl FnMut(&CacheEntry) -> bool) -> Removed {
        // Records of another format version are selected by their settings too (never
        // listed): a filter must neither keep its own old token nor sweep another client's.
        let entries: Vec<CacheEntry> = (self.paths().iter())
            .filter_map(|path| describe(record_name(path)?, &self.read_file(path).ok()??, true))
            .collect();
        let (mut removed, mut unselected) = (Removed::default(), entries.len());
        for entry in entries.into_iter().filter(|entry| select(entry)) {
            unselected -= 1;
            let path = self.real.join(format!("{}.json", entry.id));
            if files::is_regular_of(&path, self.uid) && fs::remove_file(&path).is_ok() {
                let counter = match (entry.current, &entry.token) {
                    (false, _) => &mut removed.stray,
                    (true, Some(_)) => &mut removed.tokens,
                    (true, None) => &mut removed.records,
                };
                *counter += 1;
            }
            self.remove_unheld_lock(&self.real.join(format!("{}.lock", entry.id)));
        }
        if unselected == 0 && self.checked().is_ok() {
            // What a listing does not show but may hold a token: records of another format
            // version, unreadable ones, and temporary files of writers killed mid-write; and
            // what is not a lock file at a lock file's name.
            removed.stray += self.remove_files(|name, meta| {
                // `.fail` and `.reject`: the format before one record per slot.
                matches!(name.rsplit_once('.'), Some((_, "tmp" | "fail" | "reject")))
                    || record_name(Path::new(name)).is_some()
                    || (name.ends_with(".lock") && !meta.is_file())
            });
            for lock in self.paths() {
                if lock.extension().is_some_and(|e| e == "lock") {
                    self.remove_unheld_lock(&lock);
                }
            }
        }
        removed
    }

    /// The paths of the files in the directory: none if it cannot be read or is not the one
    /// [`open`](Self::open) checked.
    fn paths(&self) -> Vec<PathBuf> {
        let dir = self.checked().is_ok().then(|| fs::read_dir(&self.real));
        // The directory's entries, if it was checked and opens, that can be read.
        let files = dir.into_iter().flatten().flatten().flatten();
        files.map(|file| file.path()).collect()
    }

    /// Removes the lock file at `path` if no process holds it, taking it while it goes: a
    /// process that waited on it then finds it gone and opens a new one. A lock held by a
    /// process that is fetching is left alone.
    fn remove_unheld_lock(&self, path: &Path) {
        let mut options = fs::OpenOptions::new();
        if let Ok(Some((file, _))) = files::open_regular(options.write(true), path, self.uid)
            && file.try_lock().is_ok()
        {
            let _ = fs::remove_file(path);
        }
    }
}

/// The slot of a record file's name (`<16 hex digits>.json`).
fn record_name(path: &Path) -> Option<String> {
    let id = path.file_name()?.to_str()?.strip_suffix(".json")?;
    let hex = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| id.to_owned())
}

/// The entry the record `bytes` in slot `id` describes, if it is of this version and lives
/// where its settings put it; with `any_version`, also one of another version (or elsewhere),
/// described by its settings alone (not `current`).
fn describe(id: String, bytes: &[u8], any_version: bool) -> Option<CacheEntry> {
    let (settings, key) = settings_of(bytes)?;
    let record = Record::decode(bytes, None).filter(|_| key.id() == id);
    let current = record.is_some();
    let record = record.or_else(|| any_version.then(Record::default))?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let token = record.token.as_ref();
    let scopes = (settings["scopes"].as_array()).map(|s| s.iter().filter_map(text).collect());
    Some(CacheEntry {
        token_url: text(&settings["token_url"]).unwrap_or_default(),
        client_id: text(&settings["client_id"]).unwrap_or_default(),
        scopes: scopes.unwrap_or_default(),
        token: token.and_then(|t| Some((t.issued_at, t.issued_at.checked_add(t.lifetime)?))),
        failure: (record.failure).map(|(row, error)| (error.to_string(), row.until)),
        rejected_until: record.rejection.map(|(row, _)| row.until),
        id,
        current,
    })
}
