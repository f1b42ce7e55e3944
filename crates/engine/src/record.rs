//! A container's record (`ROOT/containers/<id>/container.json`) and its state machine:
//! which operations each [`Status`] allows, with docker's messages, in one place.

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::options::CreateOptions;

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or its start failed).
    Created,
    /// Its process runs.
    Running,
    /// Its processes are frozen.
    Paused,
    /// Being restarted.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process ended.
    Exited,
    /// Could not be removed.
    Dead,
}

impl Status {
    /// Docker's lowercase name.
    pub fn as_str(self) -> &'static str {
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

    /// The container has processes (running, paused or restarting).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    /// `start`: allowed from created and exited; a running container is left alone
    /// (`Ok(false)`), as docker's `start` of a running one succeeds without doing anything.
    pub fn can_start(self, id: &str) -> Result<bool> {
        match self {
            Status::Created | Status::Exited => Ok(true),
            Status::Running | Status::Restarting => Ok(false),
            Status::Paused => Err(Error::State(
                "cannot start a paused container, try unpause instead".into(),
            )),
            Status::Removing | Status::Dead => Err(Error::State(format!(
                "container {id} is marked for removal and cannot be started"
            ))),
        }
    }

    /// `kill` and `exec` need a process; a paused one cannot exec.
    pub fn can_exec(self, id: &str) -> Result<()> {
        match self {
            Status::Running => Ok(()),
            Status::Paused => Err(Error::State(format!(
                "Container {id} is paused, unpause the container before exec"
            ))),
            _ => Err(Error::State(format!("container {id} is not running"))),
        }
    }

    /// `kill`: the container must have processes.
    pub fn can_kill(self, name: &str, id: &str) -> Result<()> {
        if self.is_active() {
            return Ok(());
        }
        Err(Error::State(format!(
            "Cannot kill container: {name}: Container {id} is not running"
        )))
    }

    /// `pause`.
    pub fn can_pause(self, id: &str) -> Result<()> {
        match self {
            Status::Running => Ok(()),
            Status::Paused => Err(Error::State(format!("Container {id} is already paused"))),
            _ => Err(Error::State(format!("Container {id} is not running"))),
        }
    }

    /// `unpause`.
    pub fn can_unpause(self, id: &str) -> Result<()> {
        match self {
            Status::Paused => Ok(()),
            Status::Running => Err(Error::State(format!("Container {id} is not paused"))),
            _ => Err(Error::State(format!("Container {id} is not running"))),
        }
    }

    /// `rm` without `-f`.
    pub fn can_remove(self, name: &str) -> Result<()> {
        if !self.is_active() {
            return Ok(());
        }
        Err(Error::State(format!(
            "cannot remove container \"/{name}\": container is running: stop the container before removing or force remove"
        )))
    }
}

/// The mutable part of a record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Where the container is in its life.
    pub status: Status,
    /// PID (in mydocker's PID namespace) of the container's init, while running.
    #[serde(default)]
    pub pid: u32,
    /// The init's start time in clock ticks after boot (field 22 of /proc/PID/stat), so
    /// a reused PID is never mistaken for the container.
    #[serde(default)]
    pub pid_start: u64,
    /// PID of the process that owns the container while it starts or runs (its monitor,
    /// or the foreground `run`).
    #[serde(default)]
    pub monitor_pid: u32,
    /// The owner's start time.
    #[serde(default)]
    pub monitor_start: u64,
    /// The last exit code (128+N for signal N).
    #[serde(default)]
    pub exit_code: i32,
    /// Whether the kernel's OOM killer ended it.
    #[serde(default)]
    pub oom_killed: bool,
    /// Why it failed to start or stopped abnormally.
    #[serde(default)]
    pub error: String,
    /// RFC 3339; empty when not yet.
    #[serde(default)]
    pub started_at: String,
    /// RFC 3339; empty when not yet.
    #[serde(default)]
    pub finished_at: String,
    /// How often its restart policy restarted it since it was last started by the user
    /// (docker's `RestartCount`).
    #[serde(default)]
    pub restart_count: u32,
    /// Stopped (or killed) by the user since its last start: its restart policy does
    /// not restart it (docker's `HasBeenManuallyStopped`).
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Its health, when it has a health check (docker's `State.Health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
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
            restart_count: 0,
            stopped_by_user: false,
            health: None,
        }
    }
}

/// A published port (`-p`), as `ps` and `port` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// Host address (`0.0.0.0` for all).
    pub host_ip: String,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// How a container is networked, resolved at create; kept for every `start`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetSettings {
    /// `bridge`, `none`, `host` or a network name.
    pub mode: String,
    /// The container's hostname.
    pub hostname: String,
    /// `--ip`.
    #[serde(default)]
    pub ip: Option<String>,
    /// `--network-alias`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `-p` specs as given.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Exposed ports (image `ExposedPorts` and `--expose`), published by `-P`.
    #[serde(default)]
    pub expose: Vec<String>,
    /// `-P`.
    #[serde(default)]
    pub publish_all: bool,
    /// `--dns`.
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--dns-search`.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    #[serde(default)]
    pub dns_option: Vec<String>,
    /// `--add-host`.
    #[serde(default)]
    pub add_host: Vec<String>,
}

/// Everything the engine knows about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// The name (without docker's leading `/`).
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The image as the user named it (what `ps` shows).
    pub image: String,
    /// The image ID (config digest).
    pub image_id: String,
    /// The command's path.
    pub path: String,
    /// The command's arguments.
    pub args: Vec<String>,
    /// Storage driver of the rootfs.
    pub driver: String,
    /// cgroup path (relative to the hierarchy roots).
    pub cgroup_path: String,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--init`.
    #[serde(default)]
    pub init: bool,
    /// Network mode: `bridge`, `none`, `host` or a network name.
    pub network: String,
    /// How the container is networked (for `start`).
    #[serde(default)]
    pub net: NetSettings,
    /// Ports published while it runs.
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// `json-file` (also when empty, for older records) or `none`.
    #[serde(default)]
    pub log_driver: String,
    /// `--log-opt`.
    #[serde(default)]
    pub log_opts: Vec<String>,
    /// The user the process runs as (`-u`, else the image's), resolved by the init
    /// against the container's own /etc/passwd at every start. Empty in records of the
    /// previous release, whose spec carries the numeric user resolved at create.
    #[serde(default)]
    pub user: String,
    /// Its labels: the image's, overlaid with `--label`/`--label-file` (docker's
    /// `Config.Labels`); empty in records of earlier releases.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// What it was created with (records of the previous release: its `run` flags).
    #[serde(default, alias = "run_args", deserialize_with = "options_or_null")]
    pub options: CreateOptions,
    /// Where it is in its life.
    pub state: State,
}

fn options_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<CreateOptions, D::Error> {
    Ok(Option::<CreateOptions>::deserialize(d)?.unwrap_or_default())
}

impl Record {
    /// The first 12 hex digits of the ID.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// Whether the record says the container has processes.
    pub fn is_active(&self) -> bool {
        self.state.status.is_active()
    }

    /// Whether the container is on a bridge network (has endpoints to release).
    pub fn on_bridge(&self) -> bool {
        !matches!(self.net.mode.as_str(), "none" | "host" | "")
            && !self.net.mode.starts_with("container:")
    }
}

/// The start time of `pid` in clock ticks after boot, or `None` when it does not exist.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start` (and not a zombie).
pub fn is_alive(pid: u32, start: u64) -> bool {
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

    #[test]
    fn the_state_machine_answers_with_dockers_messages() {
        let id = "abc";
        assert!(Status::Created.can_start(id).unwrap());
        assert!(Status::Exited.can_start(id).unwrap());
        assert!(!Status::Running.can_start(id).unwrap());
        assert!(
            Status::Paused
                .can_start(id)
                .unwrap_err()
                .to_string()
                .contains("unpause")
        );
        assert!(Status::Running.can_exec(id).is_ok());
        assert!(Status::Exited.can_exec(id).is_err());
        assert!(Status::Paused.can_kill("n", id).is_ok());
        assert!(Status::Created.can_kill("n", id).is_err());
        assert!(Status::Running.can_pause(id).is_ok());
        assert!(Status::Paused.can_pause(id).is_err());
        assert!(Status::Paused.can_unpause(id).is_ok());
        assert!(Status::Running.can_unpause(id).is_err());
        assert!(Status::Exited.can_remove("n").is_ok());
        assert!(
            Status::Running
                .can_remove("n")
                .unwrap_err()
                .to_string()
                .contains("force remove")
        );
    }

    #[test]
    fn a_record_of_the_previous_release_loads() {
        let old = serde_json::json!({
            "id": "a".repeat(64), "name": "web", "created": "2026-01-01T00:00:00Z",
            "image": "busybox", "image_id": "sha256:aa", "path": "sh", "args": [],
            "driver": "overlay", "cgroup_path": "mydocker/x", "tty": false,
            "open_stdin": false, "auto_remove": false, "network": "none",
            "run_args": {"user": "nobody", "cpus": "1.5"},
            "state": {"status": "exited", "exit_code": 3},
        });
        let r: Record = serde_json::from_value(old).unwrap();
        assert_eq!(r.options.user.as_deref(), Some("nobody"));
        assert_eq!(r.options.cpus, Some(1.5));
        assert_eq!(r.state.exit_code, 3);
        let null = serde_json::json!({
            "id": "b".repeat(64), "name": "x", "created": "", "image": "", "image_id": "",
            "path": "", "args": [], "driver": "", "cgroup_path": "", "tty": false,
            "open_stdin": false, "auto_remove": false, "network": "",
            "run_args": null, "state": {"status": "created"},
        });
        let r: Record = serde_json::from_value(null).unwrap();
        assert_eq!(r.options, CreateOptions::default());
    }
}
