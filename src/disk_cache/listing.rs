//! What a [`DiskCache`] holds, described without the tokens, and removal by selection (the
//! command's `cache list` and `cache clear`).
//!
//! A child module of `disk_cache`, so that it reads entries with the same code and the same
//! trust checks as the cache itself ([`Slot::read`]), and touches none of it.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{DiskCache, Entry, MAX_ENTRY, VERSION, files, fnv1a};
use crate::refresh::RefreshPolicy;
use crate::secret::shown;

/// One entry of a [`DiskCache`]: what it is for and when its token expires, never the token.
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
    issued_at: SystemTime,
    expires_at: SystemTime,
    path: PathBuf,
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

    /// When the token request was sent, on the wall clock.
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// When the token expires, on the wall clock.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// When a source with the default refresh schedule (see
    /// [`TokenConfig::with_refresh_margin`](crate::TokenConfig::with_refresh_margin)) starts
    /// refreshing the token, jitter aside.
    pub fn stale_at(&self) -> SystemTime {
        let lifetime = (self.expires_at.duration_since(self.issued_at)).unwrap_or_default();
        self.expires_at - RefreshPolicy::default().early(lifetime)
    }
}

impl fmt::Debug for CacheEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheEntry")
            .field("token_url", &shown(&self.token_url))
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl DiskCache {
    /// The entries a source would trust (the user's own, private, well formed, expired or
    /// not), sorted by token URL, client id and scopes. Symbolic links are skipped, and so
    /// are files that cannot be read.
    pub fn entries(&self) -> Vec<CacheEntry> {
        if !files::same_dir(&self.real, self.id, self.uid) {
            return Vec::new();
        }
        let Ok(dir) = fs::read_dir(&self.real) else {
            return Vec::new();
        };
        let mut entries: Vec<CacheEntry> = dir
            .filter_map(|file| {
                let file = file.ok()?;
                // `file_type` does not follow a symbolic link.
                let plain = file.file_type().ok()?.is_file();
                let json = file.path().extension().is_some_and(|e| e == "json");
                (plain && json).then(|| self.listed(&file.path()))?
            })
            .collect();
        entries.sort_by(|a, b| {
            let key = |e: &CacheEntry| (e.token_url.clone(), e.client_id.clone(), e.scopes.clone());
            key(a).cmp(&key(b))
        });
        entries
    }

    /// Removes the entries (of [`entries`](Self::entries)) that `select` picks, and returns
    /// how many were removed. A process that needs one of them again fetches a new token.
    pub fn remove_entries(&self, mut select: impl FnMut(&CacheEntry) -> bool) -> usize {
        self.entries()
            .iter()
            .filter(|entry| select(entry))
            .filter(|entry| fs::remove_file(&entry.path).is_ok())
            .count()
    }

    /// The entry in the file at `path`, if the cache would trust it (opened without
    /// following a link or waiting on a FIFO) and the file has the name its key gives it.
    /// Its secret check is not compared: listing needs no secret.
    fn listed(&self, path: &Path) -> Option<CacheEntry> {
        let mut options = OpenOptions::new();
        let (file, meta) = files::open_regular(options.read(true), path, self.uid)?;
        if !files::private_to(&meta, self.uid) || meta.len() > MAX_ENTRY {
            return None;
        }
        let mut text = Vec::new();
        file.take(MAX_ENTRY).read_to_end(&mut text).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        let name = serde_json::to_vec(&entry.key).ok()?;
        let expected = self.real.join(format!("{:016x}.json", fnv1a(&name)));
        if entry.version != VERSION || expected != path {
            return None;
        }
        let issued_at = UNIX_EPOCH.checked_add(Duration::from_millis(entry.issued_at_ms))?;
        let expires_at = issued_at.checked_add(Duration::from_millis(entry.lifetime_ms))?;
        Some(CacheEntry {
            token_url: entry.key.token_url,
            client_id: entry.key.client_id,
            scopes: entry.key.scopes,
            issued_at,
            expires_at,
            path: expected,
        })
    }
}
