//! What outlives the runtime's process: one directory per container under the state
//! root (`--root`, default [`DEFAULT_ROOT`]), holding
//!
//! - `state.json`: the [`Record`] (init pid and its start time, bundle, rootfs, creation
//!   time, cgroup path, the resolved config), written atomically once the container
//!   exists;
//! - `exec.fifo`: the start gate while the container is `created` (see
//!   [`isolate::StartGate`]);
//! - `lock`: an `flock` taken by every command that changes the container.
//!
//! The status is never stored: it is read from the system each time ([`Container::status`]):
//! `stopped` when the init pid is gone (or a zombie, or reused by another process, told
//! apart by its start time), `created` while the start gate exists, `paused` while the
//! cgroup is frozen, else `running`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use cgroup::{AnyManager, CgroupFs, CgroupPath, FreezerState};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The default state root, as runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/mydocker-runc";

/// The OCI version this runtime reports.
pub const OCI_VERSION: &str = "1.1.0";

const RECORD: &str = "state.json";
const FIFO: &str = "exec.fifo";
const LOCK: &str = "lock";

/// The lifecycle status of a container (runc's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still setting it up.
    Creating,
    /// The init waits on the start gate.
    Created,
    /// The user's process runs.
    Running,
    /// The cgroup is frozen.
    Paused,
    /// The init has exited.
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The persistent record of a container (`state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The container ID.
    pub id: String,
    /// Host pid of the container's init (its PID 1).
    pub pid: i32,
    /// The init's start time (`/proc/PID/stat` field 22), to detect pid reuse.
    pub pid_start: u64,
    /// The bundle directory (absolute).
    pub bundle: PathBuf,
    /// The rootfs (absolute).
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 in UTC.
    pub created: String,
    /// The cgroup path (relative to every hierarchy's root), when the container has one.
    pub cgroup: Option<String>,
    /// The container's configuration, with paths resolved (for `exec`, hooks, `delete`).
    pub config: Spec,
}

/// The state `state` and `list --format json` print (runc's fields and order).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateView {
    /// The OCI version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// The container ID.
    pub id: String,
    /// The init's host pid (0 once stopped).
    pub pid: i32,
    /// The status.
    pub status: Status,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The rootfs.
    pub rootfs: PathBuf,
    /// Creation time.
    pub created: String,
    /// The config's annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The owner (empty: root).
    pub owner: String,
}

/// The state root directory.
#[derive(Debug, Clone)]
pub struct StateRoot {
    dir: PathBuf,
}

impl StateRoot {
    /// The state root at `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> StateRoot {
        StateRoot { dir: dir.into() }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// The start gate of container `id`.
    pub fn fifo(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(FIFO)
    }

    /// Creates the directory of a new container `id` and locks it. Fails with
    /// [`Error::Exists`] when it exists.
    pub fn reserve(&self, id: &str) -> Result<(PathBuf, fsutil::FileLock)> {
        validate_id(id)?;
        std::fs::create_dir_all(&self.dir).map_err(Error::io("create", &self.dir))?;
        let dir = self.container_dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists { id: id.to_string() });
            }
            Err(e) => return Err(Error::io("create", &dir)(e)),
        }
        let lock = fsutil::FileLock::exclusive(&dir.join(LOCK))?;
        Ok((dir, lock))
    }

    /// Locks container `id` (waiting for other commands) and loads it.
    pub fn lock(&self, id: &str) -> Result<(Container, fsutil::FileLock)> {
        validate_id(id)?;
        let dir = self.container_dir(id);
        if !dir.is_dir() {
            return Err(Error::NotFound { id: id.to_string() });
        }
        let lock = fsutil::FileLock::exclusive(&dir.join(LOCK))?;
        // Deleted while we waited: the lock is on a removed file.
        let container = self.load(id)?;
        Ok((container, lock))
    }

    /// Loads container `id` without locking it.
    pub fn load(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = self.container_dir(id);
        let path = dir.join(RECORD);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound { id: id.to_string() });
            }
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        let record: Record = serde_json::from_slice(&data)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(Container { record, dir })
    }

    /// Every container with a record, sorted by ID.
    pub fn list(&self) -> Result<Vec<Container>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(c) = self.load(&name) {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        Ok(out)
    }
}

/// runc's rule: letters, digits, `_`, `+`, `-` and `.`; not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > 1024 {
        return bad("it is longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("it names a directory");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
    {
        return bad("only letters, digits, '_', '+', '-' and '.' are allowed");
    }
    Ok(())
}

/// A loaded container.
#[derive(Debug, Clone)]
pub struct Container {
    /// The record.
    pub record: Record,
    dir: PathBuf,
}

impl Container {
    /// Writes the record (atomically).
    pub fn save(record: &Record, dir: &Path) -> Result<Container> {
        let data = serde_json::to_vec(record)
            .map_err(|e| Error::Config(format!("serializing the state: {e}")))?;
        fsutil::write_atomic_unsynced(&dir.join(RECORD), &data)?;
        Ok(Container {
            record: record.clone(),
            dir: dir.to_path_buf(),
        })
    }

    /// The container's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The start gate's path.
    pub fn fifo(&self) -> PathBuf {
        self.dir.join(FIFO)
    }

    /// Whether the init (the same process that was recorded) is alive.
    pub fn init_alive(&self) -> bool {
        proc_start_time(self.record.pid).is_some_and(|t| t == self.record.pid_start)
    }

    /// The status, read from the system now.
    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if isolate::StartGate::exists(&self.fifo()) {
            return Status::Created;
        }
        match self.cgroup().map(|c| c.freezer_state()) {
            Some(Ok(FreezerState::Frozen | FreezerState::Freezing)) => Status::Paused,
            _ => Status::Running,
        }
    }

    /// The container's cgroup, if it has one and cgroups are mounted.
    pub fn cgroup(&self) -> Option<AnyManager> {
        let path = CgroupPath::new(self.record.cgroup.as_deref()?).ok()?;
        Some(CgroupFs::detect().ok()?.manager(&path))
    }

    /// What `state` prints.
    pub fn view(&self) -> StateView {
        let status = self.status();
        StateView {
            oci_version: OCI_VERSION.to_string(),
            id: self.record.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.record.pid
            },
            status,
            bundle: self.record.bundle.clone(),
            rootfs: self.record.rootfs.clone(),
            created: self.record.created.clone(),
            annotations: self.record.config.annotations().clone().unwrap_or_default(),
            owner: String::new(),
        }
    }

    /// The state passed to hooks, in `status`.
    pub fn hook_state(
        &self,
        status: oci_spec::runtime::ContainerState,
    ) -> oci_spec::runtime::State {
        hook_state(&self.record, status)
    }
}

/// The OCI state of `record` for hooks.
pub(crate) fn hook_state(
    record: &Record,
    status: oci_spec::runtime::ContainerState,
) -> oci_spec::runtime::State {
    let mut s = oci_spec::runtime::State::default();
    s.set_version(OCI_VERSION.to_string());
    s.set_id(record.id.clone());
    s.set_status(status);
    s.set_pid((record.pid > 0).then_some(record.pid));
    s.set_bundle(record.bundle.clone());
    s.set_annotations(record.config.annotations().clone());
    s
}

/// The start time of process `pid` (`/proc/PID/stat` field 22), `None` when it does
/// not exist or is a zombie.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Fields after the command name (which may hold spaces and parentheses): the state is
/// field 3, the start time field 22.
fn parse_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if matches!(state, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// The current time as RFC 3339 in UTC with nanoseconds (`2024-05-01T12:00:00.123456789Z`).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs(), now.subsec_nanos())
}

fn rfc3339(secs: u64, nanos: u32) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
    humantime::format_rfc3339_nanos(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc() {
        for ok in ["abc", "a.b-c_d+e", "0123", "x".repeat(64).as_str()] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ä", "a\n"] {
            assert!(
                matches!(validate_id(bad), Err(Error::InvalidId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 1000 10 18446744073709551615";
        assert_eq!(parse_stat(stat), Some(987_654));
        let zombie = stat.replace(") S ", ") Z ");
        assert_eq!(parse_stat(&zombie), None);
        assert_eq!(parse_stat("garbage"), None);
        assert!(proc_start_time(std::process::id() as i32).is_some());
        assert_eq!(proc_start_time(0), None);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(
            rfc3339(1_714_564_800, 123),
            "2024-05-01T12:00:00.000000123Z"
        );
    }

    #[test]
    fn records_round_trip_and_missing_ones_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::new(dir.path().join("root"));
        assert!(matches!(root.load("nope"), Err(Error::NotFound { .. })));
        let (cdir, lock) = root.reserve("c1").unwrap();
        assert!(matches!(root.reserve("c1"), Err(Error::Exists { .. })));
        let record = Record {
            id: "c1".into(),
            pid: 0,
            pid_start: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            cgroup: None,
            config: Spec::default(),
        };
        Container::save(&record, &cdir).unwrap();
        drop(lock);
        let c = root.load("c1").unwrap();
        assert_eq!(c.status(), Status::Stopped);
        let v = c.view();
        assert_eq!((v.pid, v.status), (0, Status::Stopped));
        assert_eq!(root.list().unwrap().len(), 1);
    }
}
