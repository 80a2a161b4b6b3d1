//! What a [`DiskCache`] holds, described without the tokens, and removal by selection (the
//! command's `cache list` and `cache clear`).
//!
//! A child module of `disk_cache`, so that it reads entries with the same code and the same
//! trust checks as the cache itself ([`Slot::read`]), and touches none of it.

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{DiskCache, Key, MAX_ENTRY, Slot, fnv1a};
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

    /// When a source with refresh margin `margin` stops using the token without refreshing
    /// it: `margin` before expiry, but not before half-way through its life (the rule of
    /// [`TokenConfig::with_refresh_margin`](crate::TokenConfig::with_refresh_margin)).
    pub fn stale_at(&self, margin: Duration) -> SystemTime {
        let lifetime = self
            .expires_at
            .duration_since(self.issued_at)
            .unwrap_or_default();
        self.expires_at - margin.min(lifetime / 2)
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
        let Ok(dir) = fs::read_dir(&self.dir) else {
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

    /// The entry in the file at `path`, if the cache would trust it and the file has the
    /// name its key gives it.
    fn listed(&self, path: &Path) -> Option<CacheEntry> {
        let mut text = Vec::new();
        File::open(path)
            .ok()?
            .take(MAX_ENTRY)
            .read_to_end(&mut text)
            .ok()?;
        let key: Key = serde_json::from_slice(&text).ok()?;
        let name = serde_json::to_vec(&key).ok()?;
        let slot = Slot {
            cache: self,
            key,
            path: self.dir.join(format!("{:016x}.json", fnv1a(&name))),
        };
        if slot.path != path {
            return None;
        }
        let entry = slot.read()?;
        let issued_at = UNIX_EPOCH.checked_add(Duration::from_millis(entry.issued_at_ms))?;
        let expires_at = issued_at.checked_add(Duration::from_millis(entry.lifetime_ms))?;
        Some(CacheEntry {
            token_url: entry.key.token_url,
            client_id: entry.key.client_id,
            scopes: entry.key.scopes,
            issued_at,
            expires_at,
            path: slot.path,
        })
    }
}
