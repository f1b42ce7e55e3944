//! The steps of a container's life after `create`:
//!
//! - [`start`]: the cgroup, the init (which assembles the rootfs from the storage
//!   driver's mounts inside its own mount namespace, so nothing is mounted on the host),
//!   the networks, then the go-ahead; the record becomes `running`;
//! - [`finish`]: record how it ended, then [`release`] what only a running container
//!   holds (network attachments, cgroup), and remove the container for `--rm`;
//! - [`remove`]: everything, idempotently (after a crash too).
//!
//! Each step undoes its own partial work when it fails, so nothing leaks; a process that
//! dies half-way through `start` is cleaned up after by the next command (see
//! `recovery`).

use std::path::Path;

use oci_spec::runtime::Spec;

use crate::config::Engine;
use crate::containers::Containers;
use crate::create::now_rfc3339;
use crate::error::{Error, Result, ResultExt, from_isolate};
use crate::record::{Record, State, Status, process_start};
use crate::{net, spec};

/// Where the container's standard streams go (ignored with a terminal).
#[derive(Debug, Default)]
pub(crate) struct StartIo {
    pub(crate) stdin: isolate::Stdio,
    pub(crate) stdout: isolate::Stdio,
    pub(crate) stderr: isolate::Stdio,
}

/// A started container: its process and cgroup.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) running: isolate::Running,
    pub(crate) cgroup: cgroup::AnyManager,
}

/// The cgroup manager of a record.
pub(crate) fn cgroup_of(rec: &Record) -> Result<cgroup::AnyManager> {
    let fs = cgroup::CgroupFs::detect()?;
    let path = cgroup::CgroupPath::new(&rec.cgroup_path)?;
    Ok(fs.manager(&path))
}

/// The runtime spec saved at create.
pub(crate) fn load_spec(dir: &Path, id: &str) -> Result<Spec> {
    let bytes = std::fs::read(dir.join("config.json"))
        .map_err(|e| Error::io("reading the spec of container", id, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::json(format!("the spec of container {id}"), e))
}

/// Starts a created (or exited) container whose owner (`rec.state.monitor_pid`) is the
/// calling process; on failure everything set up is released again and the error says
/// why (its `exit_code` gives docker's 125/126/127).
pub(crate) fn start(engine: &Engine, rec: &mut Record, io: StartIo) -> Result<Started> {
    let containers = Containers::new(&engine.config.root);
    // Who is starting it, before anything is set up: should this process die half-way,
    // the next command sees the owner gone and releases what was set up (`recovery`).
    containers.save_unsynced(rec)?;
    engine.mark("start: lock, record loaded, owner recorded");
    let mut guard = Undo::new(engine, rec);
    let dir = containers.dir(&rec.id);
    let mut spec = load_spec(&dir, &rec.id)?;
    let store = engine.store()?;
    let driver = engine.driver_named(&store, &rec.driver)?;
    let rootfs_mounts = driver.mounts(&rec.id)?;
    net::write_etc(&dir, &rec.net)?;
    let joined = crate::nsmodes::join(engine, rec, &mut spec, &dir)?;
    // Where the init finds its own cgroup for the /sys/fs/cgroup mount (cgroup v1).
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(rec.cgroup_path.clone().into()));
    }
    engine.mark("start: spec read, rootfs mounts listed, /etc files");

    let cg = cgroup_of(rec)?;
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    guard.armed = true;
    for w in cg.create(&resources)? {
        engine.warn(w);
    }
    engine.mark("start: cgroup created");
    let mut opts = isolate::SpawnOptions::new(["mydocker", "init"]);
    opts.reaper = rec.init;
    opts.stdin = io.stdin;
    opts.stdout = io.stdout;
    opts.stderr = io.stderr;
    opts.rootfs_mounts = rootfs_mounts;
    opts.trace = engine.tracing();
    opts.shm_from = joined.shm_from;
    if !rec.user.is_empty() {
        let mut user = spec::user_request(&rec.user)?;
        user.additional_groups = rec.options.group_add.clone();
        opts.user = Some(user);
    }
    let pending = isolate::Container::spawn(&spec, opts)?;
    engine.mark("start: init cloned and exec'd, configuration sent");
    let pid = pending.pid() as u32;
    let joined = cg
        .add_task(pid)
        .map_err(Error::from)
        .and_then(|()| net::attach(engine, rec, pid, &dir));
    match joined {
        Ok(ports) => rec.ports = ports,
        // The init's own failure (an unknown user...) is why joining it failed, if any.
        Err(e) => return Err(pending.failure().map_or(e, from_isolate)),
    }
    engine.mark("start: cgroup joined, network attached");
    let running = pending.start().map_err(from_isolate)?;
    engine.mark_all(running.phases());
    for w in running.warnings() {
        engine.warn(w);
    }
    let pid = running.pid() as u32;
    rec.state = State {
        status: Status::Running,
        pid,
        pid_start: process_start(pid).unwrap_or(0),
        // The owner set these before starting.
        monitor_pid: rec.state.monitor_pid,
        monitor_start: rec.state.monitor_start,
        started_at: now_rfc3339(),
        // Reset by the user's `start`, counted up by the restart policy.
        restart_count: rec.state.restart_count,
        // The prober records `starting` once it runs; the last verdict stays meanwhile.
        health: rec.state.health.take(),
        ..State::default()
    };
    containers.save(rec)?;
    guard.armed = false;
    engine.mark("start: record running");
    Ok(Started {
        running,
        cgroup: cg,
    })
}

/// As docker: a container that failed to start stays `created` (or `exited`) with the
/// error and the exit code, unless `--rm` removes it.
pub(crate) fn record_start_failure(engine: &Engine, rec: &mut Record, e: &Error) {
    rec.state.error = e.to_string();
    rec.state.exit_code = i32::from(e.exit_code());
    rec.state.monitor_pid = 0;
    rec.state.monitor_start = 0;
    if rec.auto_remove {
        let _ = remove(engine, rec);
    } else {
        let _ = Containers::new(&engine.config.root).save(rec);
    }
}

/// Records how a container ended, releases its runtime resources, and removes it when it
/// was started with `--rm`.
pub(crate) fn finish(engine: &Engine, rec: &mut Record, code: i32, oom: bool) -> Result<()> {
    rec.state.status = Status::Exited;
    health_ended(rec);
    rec.state.exit_code = code;
    rec.state.oom_killed = oom;
    rec.state.pid = 0;
    rec.state.pid_start = 0;
    rec.state.monitor_pid = 0;
    rec.state.monitor_start = 0;
    rec.state.finished_at = now_rfc3339();
    release(engine, rec);
    engine.mark("finish: network, cgroup released");
    if rec.auto_remove {
        let removed = remove_released(engine, rec);
        engine.mark("finish: removed (--rm)");
        return removed;
    }
    let saved = Containers::new(&engine.config.root).save(rec);
    engine.mark("finish: record exited");
    saved
}

/// Records an exit after which the restart policy restarts the container: it is
/// `restarting` (still owned by the caller) with the exit code, one more restart counted,
/// and what only a running container holds released until the restart.
pub(crate) fn finish_for_restart(
    engine: &Engine,
    rec: &mut Record,
    code: i32,
    oom: bool,
) -> Result<()> {
    rec.state.status = Status::Restarting;
    health_ended(rec);
    rec.state.exit_code = code;
    rec.state.oom_killed = oom;
    rec.state.pid = 0;
    rec.state.pid_start = 0;
    rec.state.finished_at = now_rfc3339();
    rec.state.restart_count = rec.state.restart_count.saturating_add(1);
    release(engine, rec);
    Containers::new(&engine.config.root).save(rec)
}

/// As docker: once its checks stop with the container, a container is `unhealthy`.
fn health_ended(rec: &mut Record) {
    if let Some(h) = &mut rec.state.health {
        h.status = crate::health::HealthStatus::Unhealthy;
    }
}

/// Records that a container waiting for its restart will not restart after all (stopped
/// by the user, or the restart failed): `exited`, without owner.
pub(crate) fn cancel_restart(engine: &Engine, rec: &mut Record) -> Result<()> {
    rec.state.status = Status::Exited;
    rec.state.monitor_pid = 0;
    rec.state.monitor_start = 0;
    if rec.auto_remove {
        return remove(engine, rec);
    }
    Containers::new(&engine.config.root).save(rec)
}

/// Releases what only a running container holds: network attachments and the cgroup
/// (its processes killed first). The rootfs was mounted in the container's own mount
/// namespace and went with it; a host mount left by the previous release is undone too.
/// Idempotent; errors are warnings.
pub(crate) fn release(engine: &Engine, rec: &Record) {
    net::detach(engine, rec);
    if let Ok(cg) = cgroup_of(rec) {
        let _ = cg.kill_all();
        if let Err(e) = cg.remove() {
            engine.warn(format_args!(
                "removing the cgroup of {}: {e}",
                rec.short_id()
            ));
        }
        // mydocker's own default parent goes with its last container (a parent the
        // user named is theirs).
        if rec.options.cgroup_parent.is_none()
            && let Ok(fs) = cgroup::CgroupFs::detect()
            && let Ok(parent) = cgroup::CgroupPath::new(cgroup::DEFAULT_PARENT)
        {
            let _ = fs.remove_if_empty(&parent);
        }
    }
    if let Ok(store) = engine.store()
        && let Ok(driver) = engine.driver_named(&store, &rec.driver)
        && let Err(e) = driver.unmount(&rec.id)
    {
        engine.warn(format_args!(
            "unmounting the rootfs of {}: {e}",
            rec.short_id()
        ));
    }
}

/// Removes a container entirely: runtime resources, writable layer, name, state.
pub(crate) fn remove(engine: &Engine, rec: &Record) -> Result<()> {
    release(engine, rec);
    remove_released(engine, rec)
}

/// [`remove`] of a container whose runtime resources were released already.
fn remove_released(engine: &Engine, rec: &Record) -> Result<()> {
    let store = engine.store()?;
    let driver = engine.driver_named(&store, &rec.driver)?;
    driver
        .remove_writable(&rec.id)
        .ctx(format!("removing the writable layer of {}", rec.short_id()))?;
    let containers = Containers::new(&engine.config.root);
    if rec.auto_remove {
        // `--rm` takes the container's anonymous volumes along, as docker does.
        engine.remove_anonymous_volumes(&containers.dir(&rec.id), &rec.id);
    }
    containers.release_name(&rec.name, &rec.id);
    Ok(fsutil::remove_tree(&containers.dir(&rec.id))?)
}

/// Undoes a partial `start`.
struct Undo<'a> {
    engine: &'a Engine,
    rec: Record,
    armed: bool,
}

impl<'a> Undo<'a> {
    fn new(engine: &'a Engine, rec: &Record) -> Self {
        Undo {
            engine,
            rec: rec.clone(),
            armed: false,
        }
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if self.armed {
            // The spawned init (if any) was killed when its `Pending` was dropped.
            release(self.engine, &self.rec);
        }
    }
}
