//! The store's own filesystem helpers, on top of the `fsutil` crate's locks and atomic
//! writes: the clean-up of stale staging entries in `ROOT/tmp`, directory creation and
//! disk usage.

use std::fs::{self, File};
use std::path::Path;

use fsutil::{FileLock, pid_of_temp_name, remove_tree};

use crate::error::{IoContext, Result};

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes stale staging entries left in `tmp_dir` by crashed processes.
///
/// An entry is stale when it is not locked (`flock`) by anyone and the process that
/// created it (the PID in its name, see [`fsutil::temp_name`]) is gone. Entries of the
/// current process and of live processes that have not taken their lock yet are kept.
/// Returns how many were removed.
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
        // Atomic writes name their temp files `.tmp-<pid>-...`.
        let Some(pid) = name
            .to_str()
            .map(|n| n.trim_start_matches('.'))
            .and_then(pid_of_temp_name)
        else {
            continue;
        };
        if pid == me || pid_alive(pid) {
            continue;
        }
        let path = entry.path();
        let Ok(f) = File::open(&path) else { continue };
        // A live holder (e.g. a process that inherited the name's PID slot) keeps it.
        if !FileLock::try_lock_open(&f).unwrap_or(false) {
            continue;
        }
        if remove_tree(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
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

/// Bytes of the regular files under `dir`, not following symlinks nor crossing into other
/// filesystems (a mount point below `dir`). 0 when `dir` is missing.
pub(crate) fn file_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                if m.dev() == top.dev() {
                    stack.push(e.path());
                }
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stale_entries_of_dead_pids_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // PID 0x7fffffff is above pid_max, so never alive.
        let dead = dir.path().join("blob-2147483647-0-0");
        fs::write(&dead, b"x").unwrap();
        let dead_dir = dir.path().join("layer-2147483647-1-0");
        fs::create_dir_all(dead_dir.join("sub")).unwrap();
        let dead_record = dir.path().join(".tmp-2147483647-2-0");
        fs::write(&dead_record, b"x").unwrap();
        let mine = dir.path().join(fsutil::temp_name("blob"));
        fs::write(&mine, b"x").unwrap();
        let other = dir.path().join("unrelated");
        fs::write(&other, b"x").unwrap();
        assert_eq!(clean_stale(dir.path()).unwrap(), 3);
        assert!(!dead.exists() && !dead_dir.exists() && !dead_record.exists());
        assert!(mine.exists() && other.exists());
    }

    #[test]
    fn file_bytes_counts_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/f"), b"12345").unwrap();
        fs::write(dir.path().join("g"), b"12").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("l")).unwrap();
        assert_eq!(file_bytes(dir.path()), 7);
        assert_eq!(file_bytes(&dir.path().join("missing")), 0);
    }
}
