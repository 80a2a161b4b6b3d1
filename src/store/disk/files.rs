//! The file system calls of the disk cache that must not be tricked: a directory whose path
//! nobody else can change, and files opened without following symlinks or blocking.

use std::fs::{self, File, Metadata, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Opens `path` never through a symlink (`O_NOFOLLOW`) and never waiting (`O_NONBLOCK`: a
/// FIFO opens at once), and keeps it only if it is a regular file owned by `uid`
/// (`Ok(None)` otherwise). A symlink or a FIFO without a reader is `Ok(None)` too.
pub(crate) fn open_regular(
    options: &mut OpenOptions,
    path: &Path,
    uid: u32,
) -> std::io::Result<Option<(File, Metadata)>> {
    let file = match options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        // ELOOP: a symlink; ENXIO: a FIFO opened for writing with no reader.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENXIO)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    Ok((meta.is_file() && meta.uid() == uid).then_some((file, meta)))
}

/// Whether something other than a regular file of `uid` is at `path` (a symlink, a FIFO,
/// a directory, another user's file): to be replaced, never used.
pub(crate) fn is_impostor(path: &Path, uid: u32) -> bool {
    path.symlink_metadata().is_ok() && !is_regular_of(path, uid)
}

/// Whether `path` still names the open `file` (the same device and inode).
pub(crate) fn names(path: &Path, file: &File) -> bool {
    let id = |meta: Metadata| (meta.dev(), meta.ino());
    match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(at_path), Ok(open)) => id(at_path) == id(open),
        _ => false,
    }
}

/// Whether `path` is a regular file of `uid` (not following a symlink).
pub(crate) fn is_regular_of(path: &Path, uid: u32) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file() && meta.uid() == uid)
}

/// The directory `dir`, if it still is the one with `id` (device, inode): not a symlink,
/// ours and private.
pub(crate) fn same_dir(dir: &Path, id: (u64, u64), uid: u32) -> bool {
    fs::symlink_metadata(dir)
        .is_ok_and(|meta| meta.is_dir() && (meta.dev(), meta.ino()) == id && private_to(&meta, uid))
}

/// Whether `meta` belongs to `uid` and is closed to everyone else.
pub(crate) fn private_to(meta: &Metadata, uid: u32) -> bool {
    meta.uid() == uid && meta.mode() & 0o077 == 0
}

/// `dir` with every symlink resolved, like `realpath`, refused if anyone but `uid` or root
/// could change what it names: each directory and symlink on the way must belong to one of
/// them, and no directory may be writable by all users unless it is sticky (as `/tmp` is,
/// where others cannot rename or remove what is not theirs).
///
/// # Errors
///
/// The reason, naming the path at fault.
pub(crate) fn trusted_path(dir: &Path, uid: u32) -> Result<PathBuf, String> {
    let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
    let mut todo: Vec<PathBuf> = dir
        .components()
        .rev()
        .map(|c| c.as_os_str().into())
        .collect();
    let (mut real, mut links) = (PathBuf::new(), 0);
    while let Some(part) = todo.pop() {
        if part.as_os_str() == ".." {
            real.pop();
            continue;
        }
        let next = real.join(&part);
        let shown = next.display();
        let meta = fs::symlink_metadata(&next).map_err(|e| format!("{shown}: {e}"))?;
        if let Some(why) = untrusted(meta.uid(), meta.mode(), uid) {
            return Err(format!("{shown} {why}"));
        }
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return Err(format!("{shown}: too many symbolic links"));
            }
            let target = fs::read_link(&next).map_err(|e| format!("{shown}: {e}"))?;
            todo.extend(target.components().rev().map(|c| c.as_os_str().into()));
        } else if meta.is_dir() {
            real = next;
        } else {
            return Err(format!("{shown} is not a directory"));
        }
    }
    Ok(real)
}

/// Why a directory or symlink owned by `owner` with `mode` cannot be trusted by `uid`.
fn untrusted(owner: u32, mode: u32, uid: u32) -> Option<&'static str> {
    let (writable_by_all, sticky) = (mode & 0o002 != 0, mode & 0o1000 != 0);
    let is_dir = mode & 0o170000 == 0o040000;
    if owner != uid && owner != 0 {
        Some("belongs to another user")
    } else if is_dir && writable_by_all && !sticky {
        Some("is writable by every user")
    } else {
        None
    }
}

/// The effective user id: `/proc/self`'s owner on Linux, else the owner of a file created
/// (and removed) in `dir`. std has no `geteuid`, and this crate has no `unsafe`.
pub(crate) fn current_uid(dir: &Path) -> std::io::Result<u32> {
    if let Ok(meta) = fs::metadata("/proc/self") {
        return Ok(meta.uid());
    }
    let probe = dir.join(format!(".uid-probe-{}", std::process::id()));
    let uid = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&probe)
        .and_then(|f| f.metadata())
        .map(|m| m.uid());
    let _ = fs::remove_file(&probe);
    uid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_or_the_user_may_change_the_path() {
        let (me, other) = (1000, 1001);
        assert_eq!(untrusted(me, 0o040700, me), None);
        assert_eq!(untrusted(0, 0o040755, me), None);
        // /tmp: anyone may create, nobody may rename what is not theirs.
        assert_eq!(untrusted(0, 0o041777, me), None);
        assert_eq!(
            untrusted(me, 0o040777, me),
            Some("is writable by every user")
        );
        assert_eq!(
            untrusted(other, 0o040700, me),
            Some("belongs to another user")
        );
        // A symlink's own mode is always 0777 and means nothing; its owner does.
        assert_eq!(untrusted(me, 0o120777, me), None);
        assert_eq!(
            untrusted(other, 0o120777, me),
            Some("belongs to another user")
        );
    }
}
