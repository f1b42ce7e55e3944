//! Small filesystem building blocks: advisory file locks, atomic record writes, staging
//! names in `ROOT/tmp` and the clean-up of stale staging entries.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;

use crate::error::{IoContext, Result};

/// An advisory `flock(2)` lock held on an open file; released when dropped.
///
/// Locks belong to the open file description, so two `FileLock`s on the same path
/// exclude each other even inside one process (threads behave like processes here).
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

    /// Tries to take an exclusive lock without waiting; `Ok(None)` when it is held elsewhere.
    pub fn try_exclusive(path: &Path) -> Result<Option<Self>> {
        let file = open_lock_file(path)?;
        match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e).ctx("flock", path),
        }
    }

    fn take(path: &Path, op: FlockOperation) -> Result<Self> {
        let file = open_lock_file(path)?;
        loop {
            match rustix::fs::flock(file.as_fd(), op) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e).ctx("flock", path),
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

    /// Locks an already open file or directory exclusively without waiting.
    pub(crate) fn lock_fd_nonblocking(file: &File) -> rustix::io::Result<bool> {
        match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(e),
        }
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
        .ctx("open lock", path)
}

/// fsyncs a directory so that renames and creations inside it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).ctx("open dir", dir)?;
    f.sync_all().ctx("fsync dir", dir)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique staging name `<prefix>-<pid>-<n>-<nanos>` for `ROOT/tmp`.
///
/// The PID lets the stale clean-up tell entries of live processes apart.
pub(crate) fn temp_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Writes `data` to `dest` atomically: a temp file in `tmp_dir`, fsync, rename, fsync of the
/// destination directory. Readers see the old content or the new, never a mix.
pub(crate) fn write_atomic(tmp_dir: &Path, dest: &Path, data: &[u8]) -> Result<()> {
    let tmp = tmp_dir.join(temp_name("rec"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        fs::rename(&tmp, dest).ctx("rename", dest)?;
        if let Some(parent) = dest.parent() {
            fsync_dir(parent)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes stale staging entries left in `tmp_dir` by crashed processes.
///
/// An entry is stale when it is not locked (`flock`) by anyone and the process that
/// created it (the PID in its name) is gone. Entries of the current process and of live
/// processes that have not taken their lock yet are kept. Returns how many were removed.
pub(crate) fn clean_stale(tmp_dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(tmp_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).ctx("read dir", tmp_dir),
    };
    let me = std::process::id();
    for entry in entries {
        let entry = entry.ctx("read dir", tmp_dir)?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(pid_of_temp_name) else {
            continue;
        };
        if pid == me || pid_alive(pid) {
            continue;
        }
        let path = entry.path();
        let Ok(f) = File::open(&path) else { continue };
        // A live holder (e.g. a process that inherited the name's PID slot) keeps it.
        if !FileLock::lock_fd_nonblocking(&f).unwrap_or(false) {
            continue;
        }
        let is_dir = f.metadata().map(|m| m.is_dir()).unwrap_or(false);
        let res = if is_dir {
            remove_tree(&path)
        } else {
            fs::remove_file(&path).ctx("remove", &path)
        };
        if res.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn pid_of_temp_name(name: &str) -> Option<u32> {
    let mut parts = name.split('-');
    parts.next()?;
    parts.next()?.parse().ok()
}

/// Removes a directory tree without following symlinks (std's `remove_dir_all` is safe
/// against symlink races). A missing path is not an error.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx("stat", path),
        Ok(m) if m.is_dir() => match fs::remove_dir_all(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.ctx("remove", path),
        },
        Ok(_) => fs::remove_file(path).ctx("remove", path),
    }
}

/// Creates `dir` (and parents) if needed.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).ctx("create dir", dir)
}

/// Disk usage of a tree in bytes (allocated blocks), not following symlinks, counting
/// hard-linked inodes once.
pub(crate) fn du(path: &Path) -> u64 {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            continue;
        }
        total += m.blocks() * 512;
        if m.is_dir()
            && let Ok(rd) = fs::read_dir(&p)
        {
            stack.extend(rd.flatten().map(|e| e.path()));
        }
    }
    total
}

#[cfg(test)]
mod tests {
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
        drop(held);
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn stale_entries_of_dead_pids_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // PID 0x7fffffff is above pid_max, so never alive.
        let dead = dir.path().join("blob-2147483647-0-0");
        fs::write(&dead, b"x").unwrap();
        let dead_dir = dir.path().join("layer-2147483647-1-0");
        fs::create_dir_all(dead_dir.join("sub")).unwrap();
        let mine = dir.path().join(temp_name("blob"));
        fs::write(&mine, b"x").unwrap();
        let other = dir.path().join("unrelated");
        fs::write(&other, b"x").unwrap();
        assert_eq!(clean_stale(dir.path()).unwrap(), 2);
        assert!(!dead.exists() && !dead_dir.exists());
        assert!(mine.exists() && other.exists());
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("rec.json");
        write_atomic(dir.path(), &dest, b"one").unwrap();
        write_atomic(dir.path(), &dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
