//! Small helpers to read, write and parse cgroup files, and to wait in bounded loops.
//!
//! cgroup files are written with one `write(2)` each and never created: on a real cgroupfs
//! a missing file means a missing controller, and the fake trees of the unit tests create
//! the files the kernel would.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::error::{Error, Result, WrapIoResult};

/// Value the v1 kernel reports for "no limit" starts above this (it is `PAGE_COUNTER_MAX`
/// times the page size, just below `i64::MAX`, and depends on the page size).
const V1_UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// Writes `data` to an existing cgroup file `dir/file` in a single write.
pub(crate) fn write_file(dir: &Path, file: &str, data: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, data)
}

/// Writes `data` to the existing file `path` in a single write.
pub(crate) fn write_path(path: &Path, data: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        // Like runc: O_TRUNC is harmless on cgroupfs, and makes fake trees hold the last value.
        .truncate(true)
        .create(false)
        .open(path)
        .wrap_write(path, data)?;
    // cgroup files parse each write(2) on its own: one call with the whole value.
    let written = f.write(data.as_bytes()).wrap_write(path, data)?;
    if written != data.len() {
        return Err(Error::Write {
            path: path.to_path_buf(),
            data: data.to_string(),
            source: io::Error::new(io::ErrorKind::WriteZero, "short write"),
        });
    }
    Ok(())
}

/// Reads `dir/file` as a string.
pub(crate) fn read_file(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).wrap_read(&path)
}

/// Reads `dir/file`, or `None` when it does not exist.
pub(crate) fn read_optional(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Read { path, source: e }),
    }
}

/// Whether `dir/file` exists.
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

fn parse_error(path: &Path, content: &str) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        content: content.trim().to_string(),
    }
}

/// Parses a file holding one unsigned number.
pub(crate) fn parse_u64(path: &Path, content: &str) -> Result<u64> {
    content
        .trim()
        .parse()
        .map_err(|_| parse_error(path, content))
}

/// Reads `dir/file` as one unsigned number.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let content = read_file(dir, file)?;
    parse_u64(&dir.join(file), &content)
}

/// Reads `dir/file` as one unsigned number, `None` when the file does not exist.
pub(crate) fn read_u64_optional(dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_optional(dir, file)? {
        Some(content) => parse_u64(&dir.join(file), &content).map(Some),
        None => Ok(None),
    }
}

/// Parses a v2 limit: `max` is `None`, anything else a number.
pub(crate) fn parse_max(path: &Path, content: &str) -> Result<Option<u64>> {
    match content.trim() {
        "max" => Ok(None),
        other => other
            .parse()
            .map(Some)
            .map_err(|_| parse_error(path, content)),
    }
}

/// Parses a v1 limit: values near `i64::MAX` (and `-1` in `cpu.cfs_quota_us` style files)
/// mean "no limit".
pub(crate) fn parse_v1_limit(path: &Path, content: &str) -> Result<Option<u64>> {
    let trimmed = content.trim();
    if trimmed == "max" || trimmed == "-1" {
        return Ok(None);
    }
    let value: u64 = trimmed.parse().map_err(|_| parse_error(path, content))?;
    Ok((value < V1_UNLIMITED_THRESHOLD).then_some(value))
}

/// Parses a flat keyed file (`key value` per line), as `cpu.stat`, `memory.stat`,
/// `memory.events` and `memory.oom_control` are.
pub(crate) fn parse_keyed(path: &Path, content: &str) -> Result<BTreeMap<String, u64>> {
    let mut map = BTreeMap::new();
    for line in content.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(parse_error(path, line));
        };
        let value = value.parse().map_err(|_| parse_error(path, line))?;
        map.insert(key.to_string(), value);
    }
    Ok(map)
}

/// Reads a flat keyed file, `None` when it does not exist.
pub(crate) fn read_keyed_optional(dir: &Path, file: &str) -> Result<Option<BTreeMap<String, u64>>> {
    match read_optional(dir, file)? {
        Some(content) => parse_keyed(&dir.join(file), &content).map(Some),
        None => Ok(None),
    }
}

/// Parses `cgroup.procs`: one pid per line.
pub(crate) fn parse_pids(path: &Path, content: &str) -> Result<Vec<u32>> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().map_err(|_| parse_error(path, l)))
        .collect()
}

/// The pids in `dir/cgroup.procs` and in every descendant cgroup of `dir`.
/// A directory that vanished while walking is skipped: its processes are gone too.
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<u32>> {
    let mut pids = Vec::new();
    collect_pids(dir, &mut pids, 0)?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// cgroup trees deeper than this are not walked (the kernel's default is unlimited,
/// but a container's own tree is never near this deep).
const MAX_DEPTH: usize = 64;

fn collect_pids(dir: &Path, pids: &mut Vec<u32>, depth: usize) -> Result<()> {
    if let Some(content) = read_optional(dir, "cgroup.procs")? {
        pids.extend(parse_pids(&dir.join("cgroup.procs"), &content)?);
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for child in child_dirs(dir)? {
        collect_pids(&child, pids, depth + 1)?;
    }
    Ok(())
}

/// The child cgroups (subdirectories) of `dir`; none when `dir` does not exist.
pub(crate) fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.wrap_read(dir)?;
        let file_type = entry.file_type().wrap_read(&entry.path())?;
        if file_type.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Creates `dir` if it does not exist yet. Returns whether it was created.
pub(crate) fn create_dir(dir: &Path) -> Result<bool> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::CreateDir {
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

/// Runs `create` (which makes a cgroup's directories level by level) again when a level
/// could not be made because its parent vanished meanwhile: another process removes an
/// empty parent when its last cgroup goes (`CgroupFs::remove_if_empty`).
pub(crate) fn retry_vanished_parent(mut create: impl FnMut() -> Result<bool>) -> Result<bool> {
    let mut tries = 0;
    loop {
        match create() {
            Err(Error::CreateDir { source, .. })
                if source.kind() == io::ErrorKind::NotFound && tries < 5 =>
            {
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Removes `dir` if it is an empty cgroup; one still in use (EBUSY) or already gone is
/// left as it is.
pub(crate) fn remove_if_empty(dir: &Path) -> Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::EBUSY)
                || e.raw_os_error() == Some(libc::ENOTEMPTY) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::RemoveDir {
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

/// A bounded wait: `attempts` tries with sleeps that grow from 1 ms to `max_sleep`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) attempts: u32,
    pub(crate) max_sleep: Duration,
}

impl Backoff {
    /// About five seconds in total at most.
    pub(crate) const DEFAULT: Backoff = Backoff {
        attempts: 110,
        max_sleep: Duration::from_millis(50),
    };

    /// The sleep before retry number `attempt` (0-based).
    pub(crate) fn sleep(&self, attempt: u32) {
        let ms = 1u64 << attempt.min(16);
        thread::sleep(Duration::from_millis(ms).min(self.max_sleep));
    }
}

/// Removes the cgroup `dir` and its descendant cgroups, deepest first. A cgroup that is
/// already gone counts as removed. `EBUSY` (tasks still exiting) is retried with
/// `backoff`; when it persists the error lists the pids still inside.
pub(crate) fn remove_cgroup_tree(dir: &Path, backoff: Backoff) -> Result<()> {
    remove_tree_at(dir, backoff, 0)
}

fn remove_tree_at(dir: &Path, backoff: Backoff, depth: usize) -> Result<()> {
    if depth < MAX_DEPTH {
        for child in child_dirs(dir)? {
            remove_tree_at(&child, backoff, depth + 1)?;
        }
    }
    for attempt in 0..backoff.attempts {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
                backoff.sleep(attempt);
            }
            Err(e) => {
                return Err(Error::RemoveDir {
                    path: dir.to_path_buf(),
                    source: e,
                });
            }
        }
    }
    Err(Error::Busy {
        path: dir.to_path_buf(),
        pids: pids_recursive(dir).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_parse_and_reject_garbage() {
        let p = Path::new("/x/cpu.stat");
        let map = parse_keyed(p, "usage_usec 12\nuser_usec 7\n\nsystem_usec 5\n").unwrap();
        assert_eq!(map["usage_usec"], 12);
        assert_eq!(map["system_usec"], 5);
        assert!(matches!(
            parse_keyed(p, "usage_usec twelve"),
            Err(Error::Parse { .. })
        ));
        assert!(matches!(parse_keyed(p, "a 1 2"), Err(Error::Parse { .. })));
    }

    #[test]
    fn limits_parse_for_both_versions() {
        let p = Path::new("/x");
        assert_eq!(parse_max(p, "max\n").unwrap(), None);
        assert_eq!(parse_max(p, "33554432\n").unwrap(), Some(33554432));
        assert!(parse_max(p, "lots").is_err());
        assert_eq!(parse_v1_limit(p, "9223372036854771712\n").unwrap(), None);
        // A 64 KiB page kernel rounds the "unlimited" value differently.
        assert_eq!(parse_v1_limit(p, "9223372036854710272\n").unwrap(), None);
        assert_eq!(parse_v1_limit(p, "-1\n").unwrap(), None);
        assert_eq!(parse_v1_limit(p, "33554432\n").unwrap(), Some(33554432));
    }

    #[test]
    fn pids_parse() {
        let p = Path::new("/x/cgroup.procs");
        assert_eq!(parse_pids(p, "1\n22\n333\n").unwrap(), vec![1, 22, 333]);
        assert_eq!(parse_pids(p, "").unwrap(), Vec::<u32>::new());
        assert!(parse_pids(p, "1\nabc\n").is_err());
    }

    #[test]
    fn writes_never_create_files() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write_file(tmp.path(), "memory.max", "1").unwrap_err();
        assert!(matches!(&err, Error::Write { path, data, .. }
            if path.ends_with("memory.max") && data == "1"));
        assert_eq!(err.kind(), crate::ErrorKind::NotFound);
        assert!(err.to_string().contains("memory.max"), "{err}");
        fs::write(tmp.path().join("memory.max"), "max\n").unwrap();
        write_file(tmp.path(), "memory.max", "1024").unwrap();
        assert_eq!(read_file(tmp.path(), "memory.max").unwrap(), "1024");
    }

    #[test]
    fn pids_are_collected_from_descendants() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("cgroup.procs"), "10\n11\n").unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/cgroup.procs"), "").unwrap();
        fs::write(root.join("a/b/cgroup.procs"), "12\n10\n").unwrap();
        assert_eq!(pids_recursive(root).unwrap(), vec![10, 11, 12]);
        assert_eq!(
            pids_recursive(&root.join("missing")).unwrap(),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn remove_tree_removes_descendants_and_tolerates_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ctr");
        fs::create_dir_all(dir.join("sub/subsub")).unwrap();
        remove_cgroup_tree(&dir, Backoff::DEFAULT).unwrap();
        assert!(!dir.exists());
        remove_cgroup_tree(&dir, Backoff::DEFAULT).unwrap();
    }

    #[test]
    fn remove_tree_reports_other_errors_with_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ctr");
        fs::create_dir_all(&dir).unwrap();
        // A regular file makes rmdir fail with ENOTEMPTY, which is not retried.
        fs::write(dir.join("stray"), "").unwrap();
        let err = remove_cgroup_tree(&dir, Backoff::DEFAULT).unwrap_err();
        assert!(
            matches!(&err, Error::RemoveDir { path, .. } if path == &dir),
            "{err}"
        );
    }
}
