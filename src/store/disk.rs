//! [`DiskCache`]: a [`Store`] in a directory, so that the processes of one user (a command
//! run many times, build scripts) share one token, one token request and one backoff.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant, SystemTime};

use super::{Store, StoreError, StoreGuard, StoreKey};
use crate::{Error, Result};

pub(crate) mod files;

/// The largest record that is read; a longer file is corrupt.
const MAX_RECORD: u64 = 64 * 1024;

/// A crashed writer's temporary file older than this is removed by the next write.
const STRAY_AGE: Duration = Duration::from_secs(60);

/// A directory of token records shared by every process of the same user: a
/// [`Store`] on one host. Unix only.
///
/// Give it to [`TokenConfig::with_disk_cache`](crate::TokenConfig::with_disk_cache). Each
/// slot (token URL, client id, client authentication, scopes, parameters and client secret,
/// hashed into a 16-hex-digit name) has two files: `<name>.json`, its record (the token, the
/// last failed request and the last token an API rejected), and `<name>.lock`, the lock a process holds while it asks for a token, so that processes
/// started together make one request between them. The OS releases the lock of a process
/// that dies; a holder that hangs is waited for no longer than a token request can take.
/// What the records hold and how they are used is the source's business (see
/// [`TokenSource`](crate::TokenSource)); the directory only keeps them.
///
/// **What is written.** Each record is a JSON file, mode 0600, written atomically
/// (temporary file `<name>.<pid>.<n>.tmp`, fsync, rename, directory fsync): the format
/// version; the settings it was written for; `check`, the top 16 bits of a 64-bit FNV-1a
/// hash of the client secret, token URL and client id; and its contents: the access token
/// (it is what the cache is for), its scope, when it was issued and its lifetime; or when a
/// request failed, when to try again, how many failed in a row and a summary of the error
/// (status, code, description, `Retry-After`, or a reason, or an I/O error kind and text;
/// never a body); or a hash of a rejected token and the rejection's backoff. The secret
/// itself is never written. A second secret of the same client (mistyped, or a rotation in
/// progress) has a slot of its own: it neither reads nor overwrites another secret's
/// records. One other secret in 65,536 has the same check (and the same slot); someone who
/// reads a file learns those 16 bits and no more. A temporary file left by a writer that
/// was killed is removed by the next write after a minute, and by `apiauth cache clear`.
///
/// **What is trusted, and against whom.** The directory must belong to the current user and
/// be closed to everyone else (it is created mode 0700), and nobody but that user or root
/// may be able to replace it: [`open`](Self::open) resolves its path and refuses it if a
/// directory or symlink on the way belongs to another user, or a directory is writable by
/// every user without being sticky (`/tmp` is fine; a `/tmp/.cache` made by someone else is
/// not). The directory found is remembered (device and inode) and checked again, without
/// following symlinks, before each use; if it was replaced, the store reports an error and
/// the source goes on without it. Records and lock files are opened without following
/// symlinks and without waiting (a FIFO opens at once), and are used only if they are
/// regular files of this user, private and at most 64 KiB. Not defended: root and the same
/// user, who can read the access tokens anyway; members of a group that may write to a
/// directory on the path (group-writable directories are accepted, as a umask of 002 makes
/// them).
///
/// **When the disk fails** (full, read-only, a lock file that cannot be made), the source
/// logs a warning once and goes on as a single process would: memory cache, in-process
/// single flight and backoff.
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
    pub(crate) real: PathBuf,
    /// The directory's (device, inode) when `open` checked it.
    id: (u64, u64),
    pub(crate) uid: u32,
}

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

    /// An error unless the directory is still the one `open` checked.
    pub(crate) fn checked(&self) -> Result<(), StoreError> {
        match files::same_dir(&self.real, self.id, self.uid) {
            true => Ok(()),
            false => Err(StoreError::new(format_args!(
                "cache directory {} is no longer the directory that was opened",
                self.dir.display()
            ))),
        }
    }

    fn path(&self, key: &StoreKey) -> PathBuf {
        self.real.join(format!("{}.json", key.id()))
    }

    fn failed(&self, doing: &str, error: std::io::Error) -> StoreError {
        StoreError::new(format_args!(
            "cache directory {}: {doing}: {error}",
            self.dir.display()
        ))
    }

    /// The bytes of the record at `path`, if it is a regular, private file of this user of
    /// at most 64 KiB; `None` (and a debug log) for anything else.
    pub(crate) fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        let mut options = OpenOptions::new();
        let (file, meta) = match files::open_regular(options.read(true), path, self.uid) {
            Ok(Some(opened)) => opened,
            Ok(None) => {
                log::debug!(
                    "disk cache file {} ignored: not a regular file of this user",
                    shown(path)
                );
                return Ok(None);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.failed("cannot read", e)),
        };
        if !files::private_to(&meta, self.uid) || meta.len() > MAX_RECORD {
            log::debug!(
                "disk cache file {} ignored: open to others, or over 64 KiB",
                shown(path)
            );
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        match file.take(MAX_RECORD).read_to_end(&mut bytes) {
            Ok(_) => Ok(Some(bytes)),
            Err(e) => Err(self.failed("cannot read", e)),
        }
    }

    /// Takes the lock of `key`, waiting at most `wait`. A lock file that was removed or
    /// replaced while this process waited on it (`apiauth cache clear`) locks nothing: it
    /// is opened again.
    fn lock_file(&self, key: &StoreKey, wait: Duration) -> Result<Option<File>, StoreError> {
        let path = self.real.join(format!("{}.lock", key.id()));
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut file = self.open_lock(&path)?;
        let mut waited = false;
        loop {
            match file.try_lock() {
                // A holder that could not write its record (a full or read-only disk) marks
                // the lock file so: its waiters go on alone at once, rather than each taking
                // the lock in turn to find nothing and ask again.
                Ok(()) if waited && files::names(&path, &file) && marked(&file) => {
                    return Err(StoreError::new(format_args!(
                        "cache directory {}: another process could not write its record \
                         (disk full or read-only?)",
                        self.dir.display()
                    )));
                }
                Ok(()) if files::names(&path, &file) => return Ok(Some(file)),
                Ok(()) if started.elapsed() < wait.max(Duration::from_secs(1)) => {
                    file = self.open_lock(&path)?;
                }
                Ok(()) => return Ok(None),
                // A holder that does not progress (stopped with Ctrl-Z, in a debugger) no
                // longer beats: it is given up a few seconds later, whatever its time limit.
                Err(TryLockError::WouldBlock)
                    if started.elapsed() < wait
                        && (started.elapsed() < STOPPED_AFTER || beating(&file)) =>
                {
                    waited = true;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(self.failed("cannot lock", e)),
            }
        }
    }

    /// Opens (creating it) the lock file at `path`. A symlink, FIFO, directory or someone
    /// else's file there is replaced, never followed or waited on.
    fn open_lock(&self, path: &Path) -> Result<File, StoreError> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(false).mode(0o600);
        let opened = match files::open_regular(&mut options, path, self.uid) {
            Ok(None) | Err(_) if files::is_impostor(path, self.uid) => {
                fs::remove_file(path).map_err(|e| self.failed("cannot replace a lock file", e))?;
                files::open_regular(options.create_new(true), path, self.uid)
            }
            opened => opened,
        };
        match opened {
            Ok(Some((file, _))) => Ok(file),
            Ok(None) => Err(self.failed("cannot lock", ErrorKind::Other.into())),
            Err(e) => Err(self.failed("cannot lock", e)),
        }
    }

    /// Replaces the file at `path` with `bytes`, atomically; the first write of a process
    /// also removes temporary files that writers killed mid-write left over a minute ago.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
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
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(self.failed("cannot write", e));
        }
        // The rename is durable once the directory is synced.
        let _ = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_DIRECTORY)
            .open(&self.real)
            .and_then(|dir| dir.sync_all());
        // Once per process: a directory scan is not for every write.
        static SWEPT: AtomicBool = AtomicBool::new(false);
        if !SWEPT.swap(true, Relaxed) {
            let cutoff = SystemTime::now()
                .checked_sub(STRAY_AGE)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            self.remove_files(|name, meta| {
                name.ends_with(".tmp") && meta.modified().is_ok_and(|at| at < cutoff)
            });
        }
        Ok(())
    }

    /// Removes what `select` picks (by name and metadata) in the directory, and returns how
    /// many: regular files of this user, and anything else but a regular file (a directory
    /// and what it holds, a FIFO, a symlink itself), never used as a record but in the way.
    pub(crate) fn remove_files(
        &self,
        mut select: impl FnMut(&str, &fs::Metadata) -> bool,
    ) -> usize {
        let Ok(dir) = fs::read_dir(&self.real) else {
            return 0;
        };
        dir.filter_map(|file| {
            let file = file.ok()?;
            let meta = file.metadata().ok()?; // does not follow a symlink
            let name = file.file_name().into_string().ok()?;
            let ours = !meta.is_file() || meta.uid() == self.uid;
            (ours && select(&name, &meta)).then(|| match meta.is_dir() {
                true => fs::remove_dir_all(file.path()).ok(),
                false => fs::remove_file(file.path()).ok(),
            })?
        })
        .count()
    }
}

/// A file's name, for messages.
fn shown(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name().unwrap_or_default().to_string_lossy()
}

impl Store for DiskCache {
    fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.checked()?;
        self.read_file(&self.path(key))
    }

    fn lock(
        &self,
        key: &StoreKey,
        wait: Duration,
        _hold: Duration,
    ) -> Result<Option<Box<dyn StoreGuard + '_>>, StoreError> {
        self.checked()?;
        let Some(file) = self.lock_file(key, wait)? else {
            return Ok(None);
        };
        let heart = file.try_clone().ok().and_then(Heart::start);
        Ok(Some(Box::new(DiskGuard {
            cache: self,
            key: key.clone(),
            lock: file,
            heart,
        })))
    }
}

/// A held lock file; dropping it (closing the file) releases the lock.
struct DiskGuard<'a> {
    cache: &'a DiskCache,
    key: StoreKey,
    /// Its thread holds a copy of the lock file: the lock is free once both are closed,
    /// when the guard drops (the heart's drop waits for its thread).
    heart: Option<Heart>,
    lock: File,
}

/// How often a holder touches its lock file (its modification time, which a full disk
/// still allows) while it holds it: the sign that it progresses.
const BEAT: Duration = Duration::from_millis(500);

/// A lock file untouched for this long belongs to a holder that does not progress.
const STOPPED_AFTER: Duration = Duration::from_secs(2);

/// A thread that touches the lock file every [`BEAT`] until dropped.
struct Heart {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heart {
    /// `None` when no thread can be started: then the holder does not beat, and waiters
    /// take it to be stopped after a while, as they would a holder that is.
    fn start(lock: File) -> Option<Heart> {
        let _ = lock.set_modified(SystemTime::now());
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let beats = std::thread::Builder::new().name("apiauth-lock".into());
        let thread = beats.spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(BEAT) {
                let _ = lock.set_modified(SystemTime::now());
            }
        });
        let thread = Some(thread.ok()?);
        Some(Heart { stop, thread })
    }
}

impl Drop for Heart {
    /// Stops the beats, and waits for the last one: the beating thread's copy of the lock
    /// file holds the lock too.
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether the holder of `lock` touched it lately.
fn beating(lock: &File) -> bool {
    let touched = lock.metadata().and_then(|m| m.modified());
    touched.is_ok_and(|t| t.elapsed().is_ok_and(|age| age < STOPPED_AFTER))
}

/// Whether the lock file carries the mark of a holder whose write failed: a modification
/// time of the Unix epoch (set without writing a byte, which a full disk still allows).
fn marked(lock: &File) -> bool {
    lock.metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| t == SystemTime::UNIX_EPOCH)
}

impl StoreGuard for DiskGuard<'_> {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.cache.checked()?;
        self.cache.read_file(&self.cache.path(&self.key))
    }

    fn write(&mut self, bytes: &[u8], _keep_for: Duration) -> Result<(), StoreError> {
        self.cache.checked()?;
        let written = (self.cache).write_atomically(&self.cache.path(&self.key), bytes);
        if written.is_err() {
            // The mark for the waiters, which the beats must not overwrite.
            drop(self.heart.take());
            let _ = self.lock.set_modified(SystemTime::UNIX_EPOCH);
        }
        written
    }

    fn remove(&mut self) -> Result<(), StoreError> {
        self.cache.checked()?;
        match fs::remove_file(self.cache.path(&self.key)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(self.cache.failed("cannot remove", e)),
            _ => Ok(()),
        }
    }
}
