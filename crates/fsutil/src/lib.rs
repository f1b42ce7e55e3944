//! Crash-safe files for state directories: records written atomically and advisory locks.
//!
//! Every record mydocker keeps (images, containers, networks) is written with
//! [`write_atomic`]: a temporary file in the same directory, `fsync`, `rename` over the
//! record, `fsync` of the directory. A crash at any instant leaves the old record or the
//! new one, never a mix. [`write_atomic_unsynced`] skips both `fsync`s, for state that
//! only matters while the machine stays up (it is still never half-written).
//!
//! [`FileLock`] is an `flock(2)` lock held on an open file, released on drop: locks
//! belong to the open file description, so two `FileLock`s on one path exclude each other
//! even between threads of one process.
//!
//! ```no_run
//! # fn main() -> Result<(), fsutil::Error> {
//! let dir = std::path::Path::new("/var/lib/example");
//! let _lock = fsutil::FileLock::exclusive(&dir.join(".lock"))?;
//! fsutil::write_atomic(&dir.join("record.json"), br#"{"state":"new"}"#)?;
//! # Ok(()) }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;

/// A file operation that failed, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct Error {
    /// What was being done (`open`, `rename`, `flock`...).
    pub op: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The system's error.
    #[source]
    pub source: std::io::Error,
}

impl Error {
    fn new(op: &'static str, path: &Path, source: impl Into<std::io::Error>) -> Self {
        Error {
            op,
            path: path.to_path_buf(),
            source: source.into(),
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An advisory `flock(2)` lock held on an open file; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes an exclusive lock on `path` (created if missing), waiting for other holders.
    pub fn exclusive(path: &Path) -> Result<Self> {
        Self::take(path, FlockOperation::LockExclusive)
    }

    /// Takes a shared lock on `path` (created if missing), waiting for an exclusive holder.
    pub fn shared(path: &Path) -> Result<Self> {
        Self::take(path, FlockOperation::LockShared)
    }

    /// Tries to take an exclusive lock without waiting; `Ok(None)` when it is held
    /// elsewhere.
    pub fn try_exclusive(path: &Path) -> Result<Option<Self>> {
        let file = open_lock_file(path)?;
        match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::new("flock", path, e)),
        }
    }

    /// Locks an already open file or directory exclusively without waiting; false when
    /// someone else holds it.
    pub fn try_lock_open(file: &File) -> std::io::Result<bool> {
        match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn take(path: &Path, op: FlockOperation) -> Result<Self> {
        let file = open_lock_file(path)?;
        loop {
            match rustix::fs::flock(file.as_fd(), op) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::new("flock", path, e)),
            }
        }
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file would release the lock too; unlocking first makes the release
        // independent of any duplicated descriptors.
        let _ = rustix::fs::flock(self.file.as_fd(), FlockOperation::Unlock);
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::new("open lock", path, e))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique name `<prefix>-<pid>-<n>-<nanos>` for a staging file or directory. The PID
/// lets a clean-up of stale entries tell the entries of live processes apart.
pub fn temp_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id())
}

/// The PID in a name made by [`temp_name`].
pub fn pid_of_temp_name(name: &str) -> Option<u32> {
    let mut parts = name.split('-');
    parts.next()?;
    parts.next()?.parse().ok()
}

/// `fsync`s a directory so that renames and creations inside it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(|e| Error::new("open dir", dir, e))?;
    f.sync_all().map_err(|e| Error::new("fsync dir", dir, e))
}

/// Writes `data` to `dest` atomically and durably: a temp file next to it, fsync,
/// rename, fsync of the directory. Readers see the old content or the new, never a mix.
pub fn write_atomic(dest: &Path, data: &[u8]) -> Result<()> {
    write_via(parent_of(dest)?, dest, data, true)
}

/// [`write_atomic`] with the temp file in `tmp_dir` (on the same filesystem as `dest`),
/// where a clean-up of stale entries can find what a crash left.
pub fn write_atomic_in(tmp_dir: &Path, dest: &Path, data: &[u8]) -> Result<()> {
    write_via(tmp_dir, dest, data, true)
}

/// [`write_atomic`] without the `fsync`s: never half-written, but a crash of the machine
/// may lose it. For state that only matters while this boot lasts.
pub fn write_atomic_unsynced(dest: &Path, data: &[u8]) -> Result<()> {
    write_via(parent_of(dest)?, dest, data, false)
}

fn parent_of(dest: &Path) -> Result<&Path> {
    dest.parent().ok_or_else(|| {
        Error::new(
            "write",
            dest,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no parent directory"),
        )
    })
}

fn write_via(tmp_dir: &Path, dest: &Path, data: &[u8], sync: bool) -> Result<()> {
    let tmp = tmp_dir.join(format!(".{}", temp_name("tmp")));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| Error::new("create", &tmp, e))?;
        f.write_all(data)
            .map_err(|e| Error::new("write", &tmp, e))?;
        if sync {
            f.sync_all().map_err(|e| Error::new("fsync", &tmp, e))?;
        }
        fs::rename(&tmp, dest).map_err(|e| Error::new("rename", dest, e))?;
        if sync && let Some(parent) = dest.parent() {
            fsync_dir(parent)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes a file or a directory tree without following symlinks. A missing path is not
/// an error.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::new("stat", path, e)),
        Ok(m) if m.is_dir() => match fs::remove_dir_all(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.map_err(|e| Error::new("remove", path, e)),
        },
        Ok(_) => match fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.map_err(|e| Error::new("remove", path, e)),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn temp_names_carry_pid_and_are_unique() {
        let a = temp_name("blob");
        let b = temp_name("blob");
        assert_ne!(a, b);
        assert_eq!(pid_of_temp_name(&a), Some(std::process::id()));
    }

    #[test]
    fn exclusive_locks_exclude_each_other_in_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let held = FileLock::exclusive(&p).unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        let shared = std::thread::spawn({
            let p = p.clone();
            move || FileLock::shared(&p).map(|_| ())
        });
        drop(held);
        shared.join().unwrap().unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn atomic_writes_replace_content_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("rec.json");
        write_atomic(&dest, b"one").unwrap();
        write_atomic_unsynced(&dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        write_atomic_in(&tmp, &dest, b"three").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"three");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_write_leaves_the_old_record() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("rec.json");
        write_atomic(&dest, b"old").unwrap();
        // Renaming onto a directory fails: the old record and no temp file remain.
        let blocker = dir.path().join("blocked");
        fs::create_dir_all(blocker.join("inner")).unwrap();
        assert!(write_atomic(&blocker, b"new").is_err());
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn remove_tree_takes_files_dirs_and_missing_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        fs::create_dir_all(d.join("a/b")).unwrap();
        fs::write(d.join("a/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/", d.join("a/root")).unwrap();
        remove_tree(&d).unwrap();
        assert!(!d.exists());
        remove_tree(&d).unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"x").unwrap();
        remove_tree(&f).unwrap();
        assert!(!f.exists());
    }
}
