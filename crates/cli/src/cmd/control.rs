//! Controlling containers: `start`, `stop`, `restart`, `kill`, `wait`, `pause`, `unpause`
//! and `rename`. Each acts on every container named and prints the name as given when it
//! succeeds, one error line per failure (docker's behaviour and exit code 1).

use crate::cli::{ContainersArgs, KillArgs, RenameArgs, StartArgs, StopArgs};
use crate::cmd::{Status as ExitWith, each, each_line};
use crate::container::{Containers, Record, Status};
use crate::ctx::Ctx;
use crate::launch;
use crate::monitor::{self, Handshake};
use anyhow::{Result, anyhow, bail};
use rustix::process::Signal;
use std::time::Duration;

/// Docker's default grace period of `stop`.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// How long `kill`, `stop` and `rm -f` wait for a container's monitor to record the end
/// after SIGKILL (it also releases the network, cgroup and mount).
const AFTER_KILL: Duration = Duration::from_secs(30);

/// Signal names and numbers as `kill -s` and `stop -s` take them (`KILL`, `SIGKILL`, `9`).
pub(crate) fn parse_signal(s: &str) -> Result<Signal> {
    const TABLE: [(&str, Signal); 31] = [
        ("HUP", Signal::HUP),
        ("INT", Signal::INT),
        ("QUIT", Signal::QUIT),
        ("ILL", Signal::ILL),
        ("TRAP", Signal::TRAP),
        ("ABRT", Signal::ABORT),
        ("IOT", Signal::ABORT),
        ("BUS", Signal::BUS),
        ("FPE", Signal::FPE),
        ("KILL", Signal::KILL),
        ("USR1", Signal::USR1),
        ("SEGV", Signal::SEGV),
        ("USR2", Signal::USR2),
        ("PIPE", Signal::PIPE),
        ("ALRM", Signal::ALARM),
        ("TERM", Signal::TERM),
        ("STKFLT", Signal::STKFLT),
        ("CHLD", Signal::CHILD),
        ("CONT", Signal::CONT),
        ("STOP", Signal::STOP),
        ("TSTP", Signal::TSTP),
        ("TTIN", Signal::TTIN),
        ("TTOU", Signal::TTOU),
        ("URG", Signal::URG),
        ("XCPU", Signal::XCPU),
        ("XFSZ", Signal::XFSZ),
        ("VTALRM", Signal::VTALARM),
        ("PROF", Signal::PROF),
        ("WINCH", Signal::WINCH),
        ("IO", Signal::IO),
        ("PWR", Signal::POWER),
    ];
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::from_named_raw(n)
            .or_else(|| (n == Signal::SYS.as_raw()).then_some(Signal::SYS))
            .ok_or_else(|| anyhow!("Invalid signal: {s}"));
    }
    let upper = t.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if name == "SYS" {
        return Ok(Signal::SYS);
    }
    TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| anyhow!("Invalid signal: {s}"))
}

/// Sends `sig` to the container's init; thaws a paused container afterwards when the
/// signal must take effect (a frozen process cannot act on it).
fn signal_container(ctx: &Ctx, rec: &Record, sig: Signal, thaw: bool) -> Result<()> {
    monitor::signal_process(rec.state.pid, rec.state.pid_start, sig)
        .map_err(|_| anyhow!("Container {} is not running", rec.id))?;
    if thaw && rec.state.status == Status::Paused {
        let containers = Containers::new(&ctx.root);
        let _lock = containers.lock(&rec.id)?;
        let cg = launch::cgroup_of(rec)?;
        cg.thaw()?;
        if let Ok(mut r) = containers.load(&rec.id)
            && r.state.status == Status::Paused
        {
            r.state.status = Status::Running;
            containers.save(&r)?;
        }
    }
    Ok(())
}

/// docker's `stop` of one container: `sig` (SIGTERM), up to `timeout` seconds (negative:
/// forever) for the init to exit, then SIGKILL; returns once the end is recorded.
pub(crate) fn stop_container(
    ctx: &Ctx,
    name: &str,
    timeout: Option<i64>,
    sig: Option<&str>,
) -> Result<()> {
    let rec = monitor::lookup(ctx, name)?;
    if !monitor::is_active(&rec) {
        return Ok(());
    }
    let sig = parse_signal(sig.unwrap_or("TERM"))?;
    let grace = timeout.unwrap_or(DEFAULT_STOP_TIMEOUT);
    let (pid, start) = (rec.state.pid, rec.state.pid_start);
    if signal_container(ctx, &rec, sig, true).is_ok() {
        let limit = (grace >= 0).then(|| Duration::from_secs(grace as u64));
        if !monitor::wait_exit(pid, start, limit) {
            let _ = signal_container(ctx, &rec, Signal::KILL, true);
        }
    }
    monitor::wait_finished(ctx, &rec.id, Some(AFTER_KILL))?;
    Ok(())
}

pub(crate) fn stop(ctx: &Ctx, args: &StopArgs) -> Result<()> {
    each(&args.containers, |n| {
        stop_container(ctx, n, args.time, args.signal.as_deref())
    })
}

pub(crate) fn restart(ctx: &Ctx, args: &StopArgs) -> Result<()> {
    each(&args.containers, |n| {
        stop_container(ctx, n, args.time, args.signal.as_deref())?;
        start_detached(ctx, n)
    })
}

pub(crate) fn kill(ctx: &Ctx, args: &KillArgs) -> Result<()> {
    let sig = parse_signal(&args.signal)?;
    each(&args.containers, |n| {
        let rec = monitor::lookup(ctx, n)?;
        if !monitor::is_active(&rec) {
            bail!(
                "Cannot kill container: {n}: Container {} is not running",
                rec.id
            );
        }
        signal_container(ctx, &rec, sig, sig == Signal::KILL)
            .map_err(|e| anyhow!("Cannot kill container: {n}: {e}"))?;
        if sig == Signal::KILL {
            monitor::wait_finished(ctx, &rec.id, Some(AFTER_KILL))?;
        }
        Ok(())
    })
}

/// Starts a container under a new monitor (no-op when it runs).
fn start_detached(ctx: &Ctx, name: &str) -> Result<()> {
    let rec = monitor::lookup(ctx, name)?;
    match rec.state.status {
        Status::Paused => bail!("cannot start a paused container, try unpause instead"),
        Status::Running | Status::Restarting => return Ok(()),
        Status::Removing | Status::Dead => {
            bail!(
                "container {} is marked for removal and cannot be started",
                rec.id
            )
        }
        Status::Created | Status::Exited => {}
    }
    match monitor::start_detached(ctx, &rec.id)? {
        Handshake::Started | Handshake::AlreadyRunning => Ok(()),
        Handshake::Failed { error, .. } => bail!("failed to start container {name}: {error}"),
    }
}

pub(crate) fn start(ctx: &Ctx, args: &StartArgs) -> Result<()> {
    let _ = monitor::sweep(ctx);
    if args.attach || args.interactive {
        let [name] = args.containers.as_slice() else {
            bail!("you cannot start and attach multiple containers at once");
        };
        let rec = monitor::lookup(ctx, name)?;
        match rec.state.status {
            Status::Paused => bail!("cannot start a paused container, try unpause instead"),
            Status::Running | Status::Restarting => {
                bail!(
                    "container {name} is already running: attaching to a running container is not supported"
                )
            }
            _ => {}
        }
        let code = crate::cmd::run::foreground(ctx, rec, args.interactive)?;
        return Err(ExitWith(code).into());
    }
    each(&args.containers, |n| start_detached(ctx, n))
}

pub(crate) fn wait(ctx: &Ctx, args: &ContainersArgs) -> Result<()> {
    each_line(&args.containers, |n| {
        let rec = monitor::lookup(ctx, n)?;
        let rec = if monitor::is_active(&rec) {
            monitor::wait_finished(ctx, &rec.id, None)?
                .ok_or_else(|| anyhow!("No such container: {n}"))?
        } else {
            rec
        };
        Ok(rec.state.exit_code.to_string())
    })
}

/// Freezes (`pause`) or thaws (`unpause`) a container's cgroup and records it.
fn set_paused(ctx: &Ctx, name: &str, pause: bool) -> Result<()> {
    let rec = monitor::lookup(ctx, name)?;
    let containers = Containers::new(&ctx.root);
    let _lock = containers.lock(&rec.id)?;
    let mut rec = containers.load(&rec.id)?;
    match (rec.state.status, pause) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => bail!("Container {} is already paused", rec.id),
        (Status::Running, false) => bail!("Container {} is not paused", rec.id),
        _ => bail!("Container {} is not running", rec.id),
    }
    let cg = launch::cgroup_of(&rec)?;
    if pause {
        cg.freeze()?;
        rec.state.status = Status::Paused;
    } else {
        cg.thaw()?;
        rec.state.status = Status::Running;
    }
    containers.save(&rec)
}

pub(crate) fn pause(ctx: &Ctx, args: &ContainersArgs) -> Result<()> {
    each(&args.containers, |n| set_paused(ctx, n, true))
}

pub(crate) fn unpause(ctx: &Ctx, args: &ContainersArgs) -> Result<()> {
    each(&args.containers, |n| set_paused(ctx, n, false))
}

pub(crate) fn rename(ctx: &Ctx, args: &RenameArgs) -> Result<()> {
    let new = args.new_name.strip_prefix('/').unwrap_or(&args.new_name);
    if new.is_empty() {
        bail!("Neither old nor new names may be empty");
    }
    if !crate::names::valid_name(new) {
        bail!("Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    }
    let rec = monitor::lookup(ctx, &args.container)?;
    let containers = Containers::new(&ctx.root);
    let _lock = containers.lock(&rec.id)?;
    let mut rec = containers.load(&rec.id)?;
    if rec.name == new {
        bail!("Renaming a container with the same name as its current name");
    }
    containers.reserve_name(new, &rec.id)?;
    let old = std::mem::replace(&mut rec.name, new.to_owned());
    if let Err(e) = containers.save(&rec) {
        containers.release_name(new, &rec.id);
        return Err(e);
    }
    containers.release_name(&old, &rec.id);
    Ok(())
}
