//! Container records: `ROOT/containers/<id>/container.json` (configuration and state,
//! written atomically), names reserved in `ROOT/containers/names/<name>` (created with
//! O_EXCL, so two processes can never take the same name), and a per-container lock that
//! serialises commands acting on the same container.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// The mutable part of a record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) status: Status,
    /// PID (in mydocker's PID namespace) of the container's init, while running.
    #[serde(default)]
    pub(crate) pid: u32,
    /// The init's start time in clock ticks after boot (field 22 of /proc/PID/stat), so a
    /// reused PID is never mistaken for the container.
    #[serde(default)]
    pub(crate) pid_start: u64,
    /// PID of the monitor process of a detached container.
    #[serde(default)]
    pub(crate) monitor_pid: u32,
    #[serde(default)]
    pub(crate) monitor_start: u64,
    #[serde(default)]
    pub(crate) exit_code: i32,
    #[serde(default)]
    pub(crate) oom_killed: bool,
    #[serde(default)]
    pub(crate) error: String,
    /// RFC 3339 times; empty when not yet.
    #[serde(default)]
    pub(crate) started_at: String,
    #[serde(default)]
    pub(crate) finished_at: String,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            monitor_pid: 0,
            monitor_start: 0,
            exit_code: 0,
            oom_killed: false,
            error: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
        }
    }
}

/// A published port (`-p`), as shown by `ps` and `port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PortBinding {
    pub(crate) host_ip: String,
    pub(crate) host_port: u16,
    pub(crate) container_port: u16,
    pub(crate) protocol: String,
}

/// Everything mydocker knows about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) name: String,
    /// RFC 3339 creation time.
    pub(crate) created: String,
    /// The image as the user named it (what `ps` shows).
    pub(crate) image: String,
    /// The image ID (config digest).
    pub(crate) image_id: String,
    /// The command: path and arguments.
    pub(crate) path: String,
    pub(crate) args: Vec<String>,
    /// Storage driver of the rootfs.
    pub(crate) driver: String,
    /// cgroup path (relative to the hierarchy roots).
    pub(crate) cgroup_path: String,
    pub(crate) tty: bool,
    pub(crate) open_stdin: bool,
    /// `--rm`.
    pub(crate) auto_remove: bool,
    /// `--init`.
    #[serde(default)]
    pub(crate) init: bool,
    /// Network mode: `bridge`, `none`, `host` or a network name.
    pub(crate) network: String,
    /// How the container is networked (for `start`).
    #[serde(default)]
    pub(crate) net: crate::launch::NetSettings,
    #[serde(default)]
    pub(crate) ports: Vec<PortBinding>,
    /// `--log-driver`: `json-file` (also when empty, for older records) or `none`.
    #[serde(default)]
    pub(crate) log_driver: String,
    /// `--log-opt`.
    #[serde(default)]
    pub(crate) log_opts: Vec<String>,
    /// The `run` flags as given, for `inspect` and `start`.
    #[serde(default)]
    pub(crate) run_args: serde_json::Value,
    pub(crate) state: State,
}

/// The lock file of `create`s in progress, in the containers directory.
const CREATE_LOCK: &str = ".create.lock";

/// The containers directory of a root.
#[derive(Debug, Clone)]
pub(crate) struct Containers {
    dir: PathBuf,
}

impl Containers {
    pub(crate) fn new(root: &Path) -> Self {
        Containers {
            dir: root.join("containers"),
        }
    }

    pub(crate) fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn names_dir(&self) -> PathBuf {
        self.dir.join("names")
    }

    /// Every record that can be read (a half-created directory without a record is
    /// skipped).
    pub(crate) fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.len() != 64 {
                continue;
            }
            if let Ok(rec) = self.load(id) {
                out.push(rec);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    pub(crate) fn load(&self, id: &str) -> Result<Record> {
        let p = self.dir(id).join("container.json");
        let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))
    }

    /// Writes the record atomically (temp file, fsync, rename, fsync of the directory).
    pub(crate) fn save(&self, rec: &Record) -> Result<()> {
        let dir = self.dir(&rec.id);
        write_atomic(
            &dir.join("container.json"),
            &serde_json::to_vec_pretty(rec)?,
        )
    }

    /// Finds a container by full ID, name, or unique ID prefix, as docker does.
    pub(crate) fn resolve(&self, name_or_id: &str) -> Result<Record> {
        let needle = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if needle.is_empty() {
            bail!("No such container: {name_or_id}");
        }
        if let Ok(id) = std::fs::read_to_string(self.names_dir().join(needle))
            && let Ok(rec) = self.load(id.trim())
            && rec.name == needle
        {
            return Ok(rec);
        }
        let all = self.list()?;
        if let Some(rec) = all.iter().find(|r| r.id == needle) {
            return Ok(rec.clone());
        }
        let matches: Vec<&Record> = all.iter().filter(|r| r.id.starts_with(needle)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => bail!("No such container: {name_or_id}"),
            _ => bail!("multiple containers found with provided prefix: {name_or_id}"),
        }
    }

    /// Reserves `name` for `id`; fails with docker's message when it is taken.
    pub(crate) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let dir = self.names_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(id.as_bytes())?;
                f.sync_all()?;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                // A reservation whose container directory is gone (crash between reserving
                // and creating) is stale: take it over.
                // So is one whose owner now has another name (a crash in the middle of
                // a rename).
                let renamed = self.load(owner.trim()).is_ok_and(|r| r.name != name);
                if !owner.is_empty() && (!self.dir(owner.trim()).exists() || renamed) {
                    std::fs::remove_file(&path)?;
                    return self.reserve_name(name, id);
                }
                bail!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    owner.trim()
                )
            }
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }

    /// Releases `name` if it belongs to `id`.
    pub(crate) fn release_name(&self, name: &str, id: &str) {
        let path = self.names_dir().join(name);
        if std::fs::read_to_string(&path).is_ok_and(|owner| owner.trim() == id) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Takes the container's lock (serialises commands on one container).
    pub(crate) fn lock(&self, id: &str) -> Result<store::FileLock> {
        Ok(store::FileLock::exclusive(&self.dir(id).join("lock"))?)
    }

    /// Held (shared) by every `create` from before its directory exists until its record
    /// is saved: while anyone holds it, a directory without a record may be a container
    /// being created right now.
    pub(crate) fn creating(&self) -> Result<store::FileLock> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        Ok(store::FileLock::shared(&self.dir.join(CREATE_LOCK))?)
    }

    /// The IDs of container directories left without a record by a `create` (or an `rm`)
    /// that was killed half-way, with the lock that proves no `create` is running; `None`
    /// when one is.
    pub(crate) fn orphans(&self) -> Result<Option<(store::FileLock, Vec<String>)>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(None);
        };
        let Some(lock) = store::FileLock::try_exclusive(&self.dir.join(CREATE_LOCK))? else {
            return Ok(None);
        };
        let mut ids = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.len() == 64
                && id.bytes().all(|b| b.is_ascii_hexdigit())
                && !entry.path().join("container.json").exists()
            {
                ids.push(id.to_owned());
            }
        }
        Ok(Some((lock, ids)))
    }

    /// Removes every name reserved for `id` (whatever the record says).
    pub(crate) fn release_names_of(&self, id: &str) {
        for entry in std::fs::read_dir(self.names_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if std::fs::read_to_string(entry.path()).is_ok_and(|owner| owner.trim() == id) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Writes the record atomically but without waiting for the disk: for state that only
    /// matters while this boot lasts (who is starting the container), which a crash of
    /// the machine makes moot anyway.
    pub(crate) fn save_unsynced(&self, rec: &Record) -> Result<()> {
        let dir = self.dir(&rec.id);
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("creating a temp file in {}", dir.display()))?;
        tmp.write_all(&serde_json::to_vec_pretty(rec)?)?;
        tmp.persist(dir.join("container.json"))
            .with_context(|| format!("renaming into {}", dir.display()))?;
        Ok(())
    }

    /// Which container (name) uses image `image_id`, for `rmi`.
    pub(crate) fn user_of(&self, image_id: &str) -> Option<String> {
        self.list()
            .ok()?
            .into_iter()
            .find(|r| r.image_id == image_id)
            .map(|r| r.name)
    }
}

/// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename,
/// fsync of the directory.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .context("record path has no parent directory")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The start time of `pid` in clock ticks after boot, or `None` when it does not exist.
pub(crate) fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start` (and not a zombie).
pub(crate) fn is_alive(pid: u32, start: u64) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 2..].split_whitespace();
    if fields.next() == Some("Z") {
        return false;
    }
    process_start(pid) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str) -> Record {
        Record {
            id: id.to_owned(),
            name: name.to_owned(),
            created: "2026-01-01T00:00:00Z".into(),
            image: "busybox".into(),
            image_id: "sha256:aa".into(),
            path: "sh".into(),
            args: vec![],
            driver: "overlay".into(),
            cgroup_path: "/mydocker/x".into(),
            tty: false,
            open_stdin: false,
            auto_remove: false,
            init: false,
            network: "none".into(),
            net: crate::launch::NetSettings::default(),
            ports: vec![],
            log_driver: String::new(),
            log_opts: vec![],
            run_args: serde_json::Value::Null,
            state: State::default(),
        }
    }

    #[test]
    fn records_round_trip_and_resolve() {
        let root = tempfile::tempdir().unwrap();
        let c = Containers::new(root.path());
        let a = format!("abc{}", "0".repeat(61));
        let b = format!("abd{}", "1".repeat(61));
        for (id, name) in [(&a, "web"), (&b, "db")] {
            std::fs::create_dir_all(c.dir(id)).unwrap();
            c.reserve_name(name, id).unwrap();
            c.save(&record(id, name)).unwrap();
        }
        assert_eq!(c.resolve("web").unwrap().id, a);
        assert_eq!(c.resolve("/db").unwrap().id, b);
        assert_eq!(c.resolve("abc").unwrap().id, a);
        assert_eq!(c.resolve(&b).unwrap().name, "db");
        assert!(
            c.resolve("ab")
                .unwrap_err()
                .to_string()
                .contains("multiple")
        );
        assert!(
            c.resolve("zzz")
                .unwrap_err()
                .to_string()
                .contains("No such container")
        );
        assert_eq!(c.list().unwrap().len(), 2);
        assert!(matches!(
            c.user_of("sha256:aa").as_deref(),
            Some("web" | "db")
        ));
        assert!(c.user_of("sha256:bb").is_none());
    }

    #[test]
    fn names_are_unique_and_stale_reservations_are_reclaimed() {
        let root = tempfile::tempdir().unwrap();
        let c = Containers::new(root.path());
        let a = "a".repeat(64);
        std::fs::create_dir_all(c.dir(&a)).unwrap();
        c.reserve_name("web", &a).unwrap();
        let err = c
            .reserve_name("web", &"b".repeat(64))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is already in use by container"), "{err}");
        // The owner's directory disappears (crash): the name can be taken again.
        std::fs::remove_dir_all(c.dir(&a)).unwrap();
        let b = "b".repeat(64);
        std::fs::create_dir_all(c.dir(&b)).unwrap();
        c.reserve_name("web", &b).unwrap();
        c.release_name("web", &a); // not the owner: no effect
        assert_eq!(
            c.resolve("web").unwrap_err().to_string(),
            "No such container: web"
        );
        c.release_name("web", &b);
        c.reserve_name("web", &b).unwrap();
    }

    #[test]
    fn liveness_uses_start_time() {
        let me = std::process::id();
        let start = process_start(me).unwrap();
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(0, 0));
    }
}
