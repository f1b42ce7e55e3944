//! What happens when the process owning a container dies (its monitor, a foreground
//! `run`, or any `start` half-way), and waiting for containers to end.
//!
//! A record says `running` while its owner lives. If the owner is gone (killed, host
//! rebooted: its PID is gone or reused, told apart by the start time), nobody can collect
//! the container's output, exit code or `--rm` any more, so the next operation that looks
//! at the container ([`refresh`]) ends it: it kills what is left in the container's
//! cgroup, records it as exited (137 when it had to kill the init, 255 when the exit
//! status is unknown, as docker reports containers lost in a crash), releases its network
//! attachments and cgroup, and removes `--rm` containers. A `start` records its owner
//! before it sets anything up, so one that died half-way is released the same way.

use std::time::{Duration, Instant};

use fsutil::FileLock;
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result};
use crate::lifecycle::{cgroup_of, finish, release, remove};
use crate::record::{Record, Status, is_alive};

/// Whether the process owning an active container (its monitor, or the foreground `run`)
/// still lives.
pub(crate) fn owner_alive(rec: &Record) -> bool {
    if rec.state.monitor_pid != 0 {
        is_alive(rec.state.monitor_pid, rec.state.monitor_start)
    } else {
        is_alive(rec.state.pid, rec.state.pid_start)
    }
}

/// The record with a true status: an active container whose monitor died is ended and
/// released now (see the module docs). `None` when that removed it (`--rm`).
pub(crate) fn refresh(engine: &Engine, rec: Record) -> Result<Option<Record>> {
    if !rec.is_active() && rec.state.monitor_pid != 0 && !owner_alive(&rec) {
        return start_died(engine, rec);
    }
    if !rec.is_active() || owner_alive(&rec) {
        return Ok(Some(rec));
    }
    let containers = Containers::new(&engine.config.root);
    let Ok(_lock) = containers.lock(&rec.id) else {
        return Ok(None);
    };
    let Ok(mut rec) = containers.load(&rec.id) else {
        return Ok(None);
    };
    if !rec.is_active() || owner_alive(&rec) {
        return Ok(Some(rec));
    }
    recover_locked(engine, &mut rec)?;
    if rec.auto_remove {
        return Ok(None);
    }
    Ok(Some(rec))
}

/// A container whose start was under way (its owner is recorded before anything is set
/// up) when the starting process died: release what it had set up (the init, if it got
/// that far, dies with its channel), and leave the container as it was before the start.
fn start_died(engine: &Engine, rec: Record) -> Result<Option<Record>> {
    let containers = Containers::new(&engine.config.root);
    let Ok(_lock) = containers.lock(&rec.id) else {
        return Ok(None);
    };
    let Ok(mut rec) = containers.load(&rec.id) else {
        return Ok(None);
    };
    if rec.is_active() || rec.state.monitor_pid == 0 || owner_alive(&rec) {
        return Ok(Some(rec));
    }
    engine.debug(format_args!(
        "the process starting container {} (pid {}) died",
        &rec.id[..12],
        rec.state.monitor_pid
    ));
    release(engine, &rec);
    rec.state.error = format!(
        "the process starting the container (pid {}) died",
        rec.state.monitor_pid
    );
    rec.state.monitor_pid = 0;
    rec.state.monitor_start = 0;
    if rec.auto_remove {
        remove(engine, &rec)?;
        return Ok(None);
    }
    containers.save(&rec)?;
    Ok(Some(rec))
}

/// What a `create`, `start` or `rm` killed half-way left behind without anyone to finish
/// it: directories without a record (their names, writable layers and mounts go too), and
/// the rootfs mount of `created` containers (`run` keeps it between create and start; a
/// start mounts it again). Best effort: whatever fails is tried again next time.
fn collect_leftovers(engine: &Engine, records: &[Record]) {
    let containers = Containers::new(&engine.config.root);
    let store = engine.store().ok();
    let unmount = |id: &str, driver: &str| {
        if let Some(store) = &store
            && let Ok(d) = engine.driver_named(store, driver)
        {
            let _ = d.unmount(id);
        }
    };
    for rec in records {
        if rec.state.status == Status::Created
            && rec.state.monitor_pid == 0
            && let Ok(Some(_lock)) = FileLock::try_exclusive(&containers.dir(&rec.id).join("lock"))
            && containers
                .load(&rec.id)
                .is_ok_and(|r| r.state.status == Status::Created && r.state.monitor_pid == 0)
        {
            unmount(&rec.id, &rec.driver);
        }
    }
    let Ok(Some((_creating, orphans))) = containers.orphans() else {
        return;
    };
    for id in orphans {
        let Ok(Some(_lock)) = FileLock::try_exclusive(&containers.dir(&id).join("lock")) else {
            continue;
        };
        if crate::containers::has_record(&containers.dir(&id)) {
            continue;
        }
        engine.debug(format_args!(
            "removing the remains of container {}",
            &id[..12]
        ));
        if let Some(store) = &store {
            for name in store::driver::DRIVER_NAMES {
                if let Ok(d) = engine.driver_named(store, name) {
                    let _ = d.unmount(&id);
                    let _ = d.remove_writable(&id);
                }
            }
        }
        containers.release_names_of(&id);
        let _ = std::fs::remove_dir_all(containers.dir(&id));
    }
}

/// Finds a container by name, ID or unique ID prefix, with a true status.
pub(crate) fn lookup(engine: &Engine, name: &str) -> Result<Record> {
    let rec = Containers::new(&engine.config.root).resolve(name)?;
    refresh(engine, rec)?.ok_or_else(|| Error::NoSuchContainer(name.to_owned()))
}

/// Every container, with true statuses (dead monitors detected and cleaned up).
pub(crate) fn sweep(engine: &Engine) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for rec in Containers::new(&engine.config.root).list()? {
        match refresh(engine, rec) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(e) => engine.warn(e),
        }
    }
    collect_leftovers(engine, &out);
    Ok(out)
}

/// Ends an active container whose monitor is gone (the caller holds its lock).
pub(crate) fn recover_locked(engine: &Engine, rec: &mut Record) -> Result<()> {
    let (pid, start) = (rec.state.pid, rec.state.pid_start);
    let init_alive = is_alive(pid, start);
    engine.debug(format_args!(
        "the monitor of container {} is gone; init alive: {init_alive}",
        &rec.id[..12]
    ));
    if let Ok(cg) = cgroup_of(rec) {
        let _ = cg.kill_all();
    }
    if init_alive && !wait_exit(pid, start, Some(Duration::from_secs(5))) {
        let _ = signal_process(pid, start, Signal::KILL);
        wait_exit(pid, start, Some(Duration::from_secs(5)));
    }
    let (code, what) = if init_alive {
        (137, "its processes were killed")
    } else {
        (255, "its exit status is unknown")
    };
    rec.state.error = format!(
        "the container's monitor (pid {}) died; {what}",
        rec.state.monitor_pid
    );
    finish(engine, rec, code, false)?;
    if rec.on_bridge() {
        // Endpoints of containers whose record is gone altogether.
        let containers = Containers::new(&engine.config.root);
        if let Ok(nets) = engine.networks()
            && let Err(e) = nets.recover(|cid| containers.dir(cid).join("container.json").exists())
        {
            engine.warn(format_args!("recovering network endpoints: {e}"));
        }
    }
    Ok(())
}

/// Sends `sig` to `pid` if it is still the process that started at `start` (through a
/// pidfd, so a recycled PID is never hit). Errors when it is gone.
pub(crate) fn signal_process(pid: u32, start: u64, sig: Signal) -> Result<()> {
    let gone = || Error::State(format!("process {pid} is gone"));
    let p = Pid::from_raw(pid as i32).ok_or_else(gone)?;
    let fd = rustix::process::pidfd_open(p, PidfdFlags::empty()).map_err(|_| gone())?;
    if !is_alive(pid, start) {
        return Err(gone());
    }
    rustix::process::pidfd_send_signal(&fd, sig)
        .map_err(|e| Error::os(format!("sending signal {} to {pid}", sig.as_raw()), e))
}

/// Waits until `pid` (started at `start`) has exited, for `limit` at most (`None`:
/// forever); true when it is gone.
pub(crate) fn wait_exit(pid: u32, start: u64, limit: Option<Duration>) -> bool {
    let Some(p) = Pid::from_raw(pid as i32) else {
        return true;
    };
    let Ok(fd) = rustix::process::pidfd_open(p, PidfdFlags::empty()) else {
        return true;
    };
    if !is_alive(pid, start) {
        return true;
    }
    let deadline = limit.map(|l| Instant::now() + l);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return !is_alive(pid, start);
        }
        let ts = left.map(|l| rustix::event::Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return !is_alive(pid, start),
        }
    }
}

/// Waits until an active container has ended and its owner recorded it (or, if the owner
/// died, until it was recovered): `limit` at most, `None` for ever. Returns the final
/// record, `None` when it was removed meanwhile.
pub(crate) fn wait_finished(
    engine: &Engine,
    id: &str,
    limit: Option<Duration>,
) -> Result<Option<Record>> {
    let containers = Containers::new(&engine.config.root);
    let deadline = limit.map(|l| Instant::now() + l);
    loop {
        let Ok(rec) = containers.load(id) else {
            return Ok(None);
        };
        if !rec.is_active() {
            return Ok(Some(rec));
        }
        if !owner_alive(&rec) {
            let refreshed = refresh(engine, rec)?;
            if refreshed.as_ref().is_none_or(|r| !r.is_active()) {
                return Ok(refreshed);
            }
            // A new owner took over (restarted meanwhile).
            continue;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(Error::State(format!(
                "timed out waiting for container {} to stop",
                &id[..12.min(id.len())]
            )));
        }
        // The owner exits right after recording the end: wait for that (bounded slices,
        // so a record changed by someone else is seen too).
        let slice = left.map_or(Duration::from_millis(500), |l| {
            l.min(Duration::from_millis(500))
        });
        let (pid, start) = if rec.state.monitor_pid != 0 {
            (rec.state.monitor_pid, rec.state.monitor_start)
        } else {
            (rec.state.pid, rec.state.pid_start)
        };
        if wait_exit(pid, start, Some(slice)) {
            // Gone: the record is final now (or recovery is needed), loop to see.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
