//! Host-wide locks: what several roots (state directories) on one host must agree on.
//!
//! The state lock (`STATE/.lock`, see [`crate::state`]) serializes the processes of
//! one root. Two roots can share kernel objects, though: the default bridge (same name
//! and subnet, as two dockerd data roots would share `docker0`), and the nftables table.
//! Every process that allocates an address on a bridge, creates, adopts or deletes it,
//! must agree with every other such process *of any root*: so the lock is a file of a
//! host-wide directory ([`crate::Config::lock_dir`], `/run/lock/mydocker`), named after
//! the bridge (`bridge-NAME.lock`) or the table (`nft-NAME.lock`). Lock order, to stay
//! free of deadlocks: state lock, then bridge lock, then table lock; never two locks of
//! one kind at once.
//!
//! A lock file may be removed by the holder when what it protects is deleted (the
//! bridge, the table), so that names used once do not pile up until the next reboot. A
//! waiter that then gets the lock of the unlinked file notices that the path no longer
//! names its file and locks again. That check compares the locked descriptor with the
//! path, so these locks are taken here rather than with [`fsutil::FileLock`] (the state
//! lock's), which keeps its descriptor to itself; the lock files are also opened
//! without following a symlink.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock, fstat};

use crate::error::Error;

/// An exclusive host-wide lock, released on drop.
#[derive(Debug)]
pub(crate) struct HostLock {
    file: File,
    path: PathBuf,
}

/// The lock file of a bridge in `dir`.
pub(crate) fn bridge_lock_path(dir: &Path, bridge: &str) -> PathBuf {
    dir.join(format!("bridge-{bridge}.lock"))
}

/// The lock file of an nftables table in `dir`.
pub(crate) fn nft_lock_path(dir: &Path, table: &str) -> PathBuf {
    dir.join(format!("nft-{table}.lock"))
}

impl HostLock {
    /// Takes the lock of `path` (a file of a directory checked by [`check_dir`]),
    /// waiting for the current holder.
    pub(crate) fn acquire(path: PathBuf) -> Result<HostLock, Error> {
        let dir = path.parent().unwrap_or_else(|| Path::new("/"));
        check_dir(dir)?;
        // Bounded: each turn means another process removed the file while we waited.
        for _ in 0..1000 {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .mode(0o644)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&path)
                .map_err(|e| Error::io("open", &path, e))?;
            loop {
                match flock(&file, FlockOperation::LockExclusive) {
                    Ok(()) => break,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => return Err(Error::io("lock", &path, e.into())),
                }
            }
            let held = fstat(&file).map_err(|e| Error::io("stat", &path, e.into()))?;
            match fs::symlink_metadata(&path) {
                Ok(m) if m.ino() == held.st_ino && m.dev() == held.st_dev => {
                    return Ok(HostLock { file, path });
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("stat", &path, e)),
            }
        }
        Err(Error::io(
            "lock",
            &path,
            std::io::Error::other("the lock file keeps being removed"),
        ))
    }

    /// Removes the lock file, then releases the lock (for when what it protects was
    /// deleted). Waiters lock again on a new file.
    pub(crate) fn remove(self) {
        let _ = fs::remove_file(&self.path);
        drop(self.file);
    }
}

/// Creates the lock directory if needed, and refuses one that another user owns or can
/// write (it could hold or replace our locks).
fn check_dir(dir: &Path) -> Result<(), Error> {
    match DirBuilder::new().recursive(true).mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("create", dir, e)),
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
    let euid = rustix::process::geteuid().as_raw();
    let why = if !meta.file_type().is_dir() {
        Some("not a directory".to_string())
    } else if meta.uid() != euid {
        Some(format!("owned by uid {}, not {euid}", meta.uid()))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "writable by others (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::io(
            "use lock directory",
            dir,
            std::io::Error::other(why),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_removal_is_safe() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        let path = bridge_lock_path(&locks, "br0");
        let counter = std::sync::atomic::AtomicU32::new(0);
        let max_seen = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for i in 0..8 {
                let (path, counter, max_seen) = (path.clone(), &counter, &max_seen);
                s.spawn(move || {
                    for _ in 0..20 {
                        let lock = HostLock::acquire(path.clone()).unwrap();
                        let now = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        max_seen.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        std::thread::yield_now();
                        counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        // Half the holders remove the file, as deleting a bridge does.
                        if i % 2 == 0 {
                            lock.remove();
                        }
                    }
                });
            }
        });
        assert_eq!(max_seen.load(std::sync::atomic::Ordering::SeqCst), 1);
        let mode = fs::metadata(&locks).unwrap().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "{mode:o}");
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let err = HostLock::acquire(nft_lock_path(&open, "t")).unwrap_err();
        assert!(err.to_string().contains("writable by others"), "{err}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let err = HostLock::acquire(nft_lock_path(&link, "t")).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
