//! The commands on an existing container: `start`, `kill`, `delete`, `pause`, `resume`,
//! `ps` and `update`. Each checks the container's status first (runc's rules, and the
//! OCI runtime spec's where they differ: `delete` of a container that is not stopped is
//! an error without `--force`).

use std::time::{Duration, Instant};

use oci_spec::runtime::{ContainerState, LinuxResources};

use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{self, Container, StateRoot, Status};

/// How long `delete --force` waits for a killed init to be gone.
const KILL_WAIT: Duration = Duration::from_secs(10);

fn wrong(action: &'static str, c: &Container, status: Status) -> Error {
    Error::WrongStatus {
        action,
        id: c.record.id.clone(),
        status,
    }
}

/// `start`: releases the init of a `created` container and runs the `poststart` hooks.
/// Returns warnings (failed `poststart` hooks).
pub fn start(root: &StateRoot, id: &str) -> Result<Vec<String>> {
    let (c, _lock) = root.lock(id)?;
    let status = c.status();
    if status != Status::Created {
        return Err(wrong(
            "cannot start a container that is not created",
            &c,
            status,
        ));
    }
    isolate::StartGate::release(&c.fifo())?;
    let state = c.hook_state(ContainerState::Running);
    Ok(hooks::run_warn(
        "poststart",
        hooks::poststart(&c.record.config),
        &state,
    ))
}

/// `kill [--all] ID SIGNAL`: to the init, or to every process of the cgroup.
pub fn kill(root: &StateRoot, id: &str, signal: i32, all: bool) -> Result<()> {
    let c = root.load(id)?;
    let status = c.status();
    if status == Status::Stopped {
        return Err(wrong("container not running (cannot kill it)", &c, status));
    }
    if all {
        let cg = c
            .cgroup()
            .ok_or_else(|| Error::Unsupported("kill --all: the container has no cgroup".into()))?;
        for pid in cg.pids()? {
            send(pid as i32, signal)?;
        }
        if status == Status::Paused && signal == libc::SIGKILL {
            // Frozen tasks only die once thawed.
            cg.thaw()?;
        }
        return Ok(());
    }
    send(c.record.pid, signal)
}

fn send(pid: i32, signal: i32) -> Result<()> {
    match crate::sys::kill(pid, signal) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map_err(Error::sys("kill")),
    }
}

/// `delete [--force]`: a stopped container is removed (cgroup, state), then its
/// `poststop` hooks run; with `force`, a created, running or paused one is killed first.
/// Returns warnings.
pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<Vec<String>> {
    let (c, _lock) = match root.lock(id) {
        Ok(x) => x,
        Err(Error::NotFound { .. }) => {
            // An aborted create may have left a directory without a record.
            let dir = root.container_dir(id);
            if dir.is_dir() {
                fsutil::remove_tree(&dir)?;
            }
            return if force {
                Ok(Vec::new())
            } else {
                Err(Error::NotFound { id: id.to_string() })
            };
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    if status != Status::Stopped {
        if !force {
            return Err(wrong(
                "cannot delete a container that is not stopped",
                &c,
                status,
            ));
        }
        kill_everything(&c)?;
    }
    Ok(destroy(&c))
}

/// SIGKILL to the whole container, then a bounded wait for the init to be gone.
fn kill_everything(c: &Container) -> Result<()> {
    match c.cgroup() {
        Some(cg) => cg.kill_all()?,
        None => send(c.record.pid, libc::SIGKILL)?,
    }
    if c.cgroup().is_some() && c.init_alive() {
        send(c.record.pid, libc::SIGKILL)?;
    }
    let deadline = Instant::now() + KILL_WAIT;
    let mut pause = Duration::from_millis(1);
    while c.init_alive() {
        if Instant::now() >= deadline {
            return Err(Error::Sys {
                op: "wait for the killed init",
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    Ok(())
}

/// Removes a stopped container: what is left in its cgroup is killed, the cgroup and
/// the state directory removed; then the `poststop` hooks run. Never fails: what could
/// not be done comes back as warnings.
pub(crate) fn destroy(c: &Container) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(cg) = c.cgroup() {
        // Without a PID namespace of its own, the container's processes outlive its init.
        if cg.pids().is_ok_and(|p| !p.is_empty()) {
            if let Err(e) = cg.kill_all() {
                warnings.push(format!("killing the container's processes: {e}"));
            }
        }
        if let Err(e) = cg.remove() {
            warnings.push(format!("removing the cgroup: {e}"));
        }
    }
    if let Err(e) = fsutil::remove_tree(c.dir()) {
        warnings.push(format!("removing the state: {e}"));
    }
    let state = c.hook_state(ContainerState::Stopped);
    warnings.extend(hooks::run_warn(
        "poststop",
        hooks::poststop(&c.record.config),
        &state,
    ));
    warnings
}

/// `pause`: freezes the cgroup of a running container.
pub fn pause(root: &StateRoot, id: &str) -> Result<()> {
    let (c, _lock) = root.lock(id)?;
    let status = c.status();
    if status != Status::Running {
        return Err(wrong(
            "cannot pause a container that is not running",
            &c,
            status,
        ));
    }
    Ok(cgroup_of(&c)?.freeze()?)
}

/// `resume`: thaws the cgroup of a paused container.
pub fn resume(root: &StateRoot, id: &str) -> Result<()> {
    let (c, _lock) = root.lock(id)?;
    let status = c.status();
    if status != Status::Paused {
        return Err(wrong(
            "cannot resume a container that is not paused",
            &c,
            status,
        ));
    }
    Ok(cgroup_of(&c)?.thaw()?)
}

fn cgroup_of(c: &Container) -> Result<cgroup::AnyManager> {
    c.cgroup()
        .ok_or_else(|| Error::Unsupported("the container has no cgroup".into()))
}

/// `ps`: the host pids of the container's processes.
pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<u32>> {
    let c = root.load(id)?;
    if c.status() == Status::Stopped {
        return Ok(Vec::new());
    }
    Ok(cgroup_of(&c)?.pids()?)
}

/// `update`: applies `resources` to the container's cgroup. Returns warnings.
pub fn update(root: &StateRoot, id: &str, resources: &LinuxResources) -> Result<Vec<String>> {
    let (c, _lock) = root.lock(id)?;
    let status = c.status();
    if status == Status::Stopped {
        return Err(wrong(
            "cannot update a container that is not running",
            &c,
            status,
        ));
    }
    let warnings = cgroup_of(&c)?.apply(resources)?;
    Ok(warnings.iter().map(ToString::to_string).collect())
}

/// The state of `id` (`state`).
pub fn state(root: &StateRoot, id: &str) -> Result<state::StateView> {
    Ok(root.load(id)?.view())
}
