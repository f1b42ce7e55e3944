//! Controlling containers: `start`, `stop`, `restart`, `kill`, `wait`, `pause`,
//! `unpause`, `rename`, `rm` and `container prune`, each on one container; the caller
//! loops over names and reports each outcome.

use std::time::Duration;

use rustix::process::Signal;

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, invalid};
use crate::lifecycle::{cgroup_of, remove};
use crate::monitor::Detached;
use crate::record::{Record, Status};
use crate::recovery::{lookup, signal_process, sweep, wait_exit, wait_finished};

/// Docker's default grace period of `stop`.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// How long `kill`, `stop` and `rm -f` wait for a container's owner to record the end
/// after SIGKILL (it also releases the network and cgroup).
const AFTER_KILL: Duration = Duration::from_secs(30);

/// Signal names and numbers as `kill -s` and `stop -s` take them (`KILL`, `SIGKILL`, `9`).
///
/// # Errors
/// `Invalid signal: ...`.
pub fn parse_signal(s: &str) -> Result<Signal> {
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
    let bad = || Error::Invalid(format!("Invalid signal: {s}"));
    if let Ok(n) = t.parse::<i32>() {
        return Signal::from_named_raw(n)
            .or_else(|| (n == Signal::SYS.as_raw()).then_some(Signal::SYS))
            .ok_or_else(bad);
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
        .ok_or_else(bad)
}

/// What `container prune` did.
#[derive(Debug, Default)]
pub struct Pruned {
    /// The IDs removed.
    pub deleted: Vec<String>,
    /// Bytes of writable layers removed.
    pub reclaimed: u64,
    /// The containers that could not be removed, and why.
    pub failed: Vec<(String, Error)>,
}

impl Engine {
    /// Finds a container by name, ID or unique ID prefix, with a true status (a dead
    /// owner is detected and cleaned up after).
    ///
    /// # Errors
    /// [`Error::NoSuchContainer`].
    pub fn container(&self, name: &str) -> Result<Record> {
        lookup(self, name)
    }

    /// Every container, newest first, with true statuses.
    ///
    /// # Errors
    /// The records cannot be read.
    pub fn containers(&self) -> Result<Vec<Record>> {
        sweep(self)
    }

    /// Sends `sig` to the container's init; thaws a paused container afterwards when the
    /// signal must take effect (a frozen process cannot act on it).
    fn signal(&self, rec: &Record, sig: Signal, thaw: bool) -> Result<()> {
        signal_process(rec.state.pid, rec.state.pid_start, sig)
            .map_err(|_| Error::State(format!("Container {} is not running", rec.id)))?;
        if thaw && rec.state.status == Status::Paused {
            let containers = Containers::new(&self.config.root);
            let _lock = containers.lock(&rec.id)?;
            cgroup_of(rec)?.thaw()?;
            if let Ok(mut r) = containers.load(&rec.id)
                && r.state.status == Status::Paused
            {
                r.state.status = Status::Running;
                containers.save(&r)?;
            }
        }
        Ok(())
    }

    /// docker's `stop` of one container: `sig` (SIGTERM), up to `timeout` seconds
    /// (negative: forever; default 10) for the init to exit, then SIGKILL; returns once
    /// the end is recorded.
    ///
    /// # Errors
    /// No such container, an invalid signal, or it did not end.
    pub fn stop(&self, name: &str, timeout: Option<i64>, sig: Option<&str>) -> Result<()> {
        let rec = lookup(self, name)?;
        if !rec.is_active() {
            return Ok(());
        }
        let rec = self.stopped_by_user(&rec)?;
        // The flag, else the container's --stop-signal/--stop-timeout, else the image's
        // StopSignal, else docker's defaults.
        let image_signal = crate::inspect::image_config(self, &rec)
            .get("StopSignal")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let sig = sig
            .map(str::to_owned)
            .or_else(|| rec.options.stop_signal.clone())
            .or(image_signal)
            .unwrap_or_else(|| "TERM".to_owned());
        let sig = parse_signal(&sig)?;
        let grace = timeout
            .or(rec.options.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let (pid, start) = (rec.state.pid, rec.state.pid_start);
        if self.signal(&rec, sig, true).is_ok() {
            let limit = (grace >= 0).then(|| Duration::from_secs(grace as u64));
            if !wait_exit(pid, start, limit) {
                let _ = self.signal(&rec, Signal::KILL, true);
            }
        }
        wait_finished(self, &rec.id, Some(AFTER_KILL))?;
        Ok(())
    }

    /// Marks an active container as stopped by the user, before it is signalled: its
    /// restart policy does not restart it (and one waiting for a restart ends); returns
    /// the record as it is now.
    fn stopped_by_user(&self, rec: &Record) -> Result<Record> {
        let containers = Containers::new(&self.config.root);
        let _lock = containers.lock(&rec.id)?;
        let Ok(mut now) = containers.load(&rec.id) else {
            return Ok(rec.clone());
        };
        if now.is_active() && !now.state.stopped_by_user {
            now.state.stopped_by_user = true;
            containers.save(&now)?;
        }
        Ok(now)
    }

    /// `kill`: sends `sig` (after SIGKILL, waits until the end is recorded).
    ///
    /// # Errors
    /// No such container, not running.
    pub fn kill(&self, name: &str, sig: Signal) -> Result<()> {
        let rec = lookup(self, name)?;
        rec.state.status.can_kill(name, &rec.id)?;
        let rec = self.stopped_by_user(&rec)?;
        if rec.state.status != Status::Restarting {
            self.signal(&rec, sig, sig == Signal::KILL)
                .map_err(|e| Error::State(format!("Cannot kill container: {name}: {e}")))?;
        }
        if sig == Signal::KILL {
            wait_finished(self, &rec.id, Some(AFTER_KILL))?;
        }
        Ok(())
    }

    /// `start` of a detached container: under a new monitor (nothing to do when it
    /// runs).
    ///
    /// # Errors
    /// No such container, a state that cannot start, or the start failed.
    pub fn start(&self, name: &str) -> Result<()> {
        let rec = lookup(self, name)?;
        if !rec.state.status.can_start(&rec.id)? {
            return Ok(());
        }
        match self.start_detached(&rec.id) {
            Ok(Detached::Started | Detached::AlreadyRunning) => Ok(()),
            Err(e) => Err(Error::StartFailed {
                code: e.exit_code(),
                message: format!("failed to start container {name}: {e}"),
            }),
        }
    }

    /// `wait`: blocks until the container has stopped; returns its exit code.
    ///
    /// # Errors
    /// No such container (also when it was removed meanwhile).
    pub fn wait(&self, name: &str) -> Result<i32> {
        let rec = lookup(self, name)?;
        let rec = if rec.is_active() {
            wait_finished(self, &rec.id, None)?
                .ok_or_else(|| Error::NoSuchContainer(name.to_owned()))?
        } else {
            rec
        };
        Ok(rec.state.exit_code)
    }

    /// `pause` (freeze) or `unpause` (thaw) the container's cgroup, and record it.
    ///
    /// # Errors
    /// No such container, or the state does not allow it.
    pub fn set_paused(&self, name: &str, pause: bool) -> Result<()> {
        let rec = lookup(self, name)?;
        let containers = Containers::new(&self.config.root);
        let _lock = containers.lock(&rec.id)?;
        let mut rec = containers.load(&rec.id)?;
        let cg = if pause {
            rec.state.status.can_pause(&rec.id)?;
            let cg = cgroup_of(&rec)?;
            cg.freeze()?;
            rec.state.status = Status::Paused;
            cg
        } else {
            rec.state.status.can_unpause(&rec.id)?;
            let cg = cgroup_of(&rec)?;
            cg.thaw()?;
            rec.state.status = Status::Running;
            cg
        };
        drop(cg);
        containers.save(&rec)
    }

    /// `rename`.
    ///
    /// # Errors
    /// An invalid or taken name, no such container.
    pub fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        let new = new_name.strip_prefix('/').unwrap_or(new_name);
        if new.is_empty() {
            invalid!("Neither old nor new names may be empty");
        }
        if !crate::names::valid_name(new) {
            invalid!("Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        }
        let rec = lookup(self, name)?;
        let containers = Containers::new(&self.config.root);
        let _lock = containers.lock(&rec.id)?;
        let mut rec = containers.load(&rec.id)?;
        if rec.name == new {
            invalid!("Renaming a container with the same name as its current name");
        }
        containers.reserve_name(new, &rec.id, !rec.auto_remove)?;
        let old = std::mem::replace(&mut rec.name, new.to_owned());
        if let Err(e) = containers.save(&rec) {
            containers.release_name(new, &rec.id);
            return Err(e);
        }
        containers.release_name(&old, &rec.id);
        Ok(())
    }

    /// `rm`: removes one container; `force` kills a running one first.
    ///
    /// # Errors
    /// No such container, running without `force`, or a removal failure.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let rec = lookup(self, name)?;
        let containers = Containers::new(&self.config.root);
        if rec.is_active() {
            if !force {
                rec.state.status.can_remove(&rec.name)?;
            }
            let rec = self.stopped_by_user(&rec)?;
            let _ = signal_process(rec.state.pid, rec.state.pid_start, Signal::KILL);
            if rec.state.status == Status::Paused
                && let Ok(cg) = cgroup_of(&rec)
            {
                let _ = cg.thaw();
            }
            // The owner records the end and releases the runtime resources (and removes
            // a `--rm` container itself).
            if wait_finished(self, &rec.id, Some(AFTER_KILL))?.is_none() {
                return Ok(());
            }
        }
        let Ok(_lock) = containers.lock(&rec.id) else {
            return Ok(()); // removed meanwhile
        };
        let Ok(rec) = containers.load(&rec.id) else {
            return Ok(());
        };
        if rec.is_active() {
            return Err(Error::State(format!(
                "cannot remove container \"/{}\": it was started again meanwhile",
                rec.name
            )));
        }
        remove(self, &rec)
    }

    /// `container prune`: removes every stopped container.
    ///
    /// # Errors
    /// The records cannot be read.
    pub fn prune_containers(&self) -> Result<Pruned> {
        let containers = Containers::new(&self.config.root);
        let store = self.store()?;
        let (mut deleted, mut reclaimed, mut failed) = (Vec::new(), 0, Vec::new());
        for rec in sweep(self)? {
            if rec.is_active() {
                continue;
            }
            let Ok(_lock) = containers.lock(&rec.id) else {
                continue;
            };
            let Ok(rec) = containers.load(&rec.id) else {
                continue;
            };
            if rec.is_active() {
                continue;
            }
            let size = self
                .driver_named(&store, &rec.driver)
                .ok()
                .and_then(|d| d.writable_size(&rec.id).ok())
                .unwrap_or(0);
            match remove(self, &rec) {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(rec.id);
                }
                Err(e) => failed.push((rec.id, e)),
            }
        }
        Ok(Pruned {
            deleted,
            reclaimed,
            failed,
        })
    }
}

impl Engine {
    /// Every container record as stored (no liveness check; for counts like `info`).
    ///
    /// # Errors
    /// The records cannot be read.
    pub fn records(&self) -> Result<Vec<Record>> {
        Containers::new(&self.config.root).list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::KILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::TERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::KILL);
        assert_eq!(parse_signal("SYS").unwrap(), Signal::SYS);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
