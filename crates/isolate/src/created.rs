//! The parent-side steps an OCI runtime needs besides [`Pending::start`]: waiting for
//! the init's setup on its own ([`Pending::wait_ready`], to run `prestart` and
//! `createRuntime` hooks at that point), and a `create` that leaves the init waiting on
//! a start gate once the caller is gone ([`Pending::start_gated`] → [`Created`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::channel::ReadyReport;
use crate::error::Error;
use crate::gate::StartGate;
use crate::spawn::Pending;

impl Pending {
    /// Waits until the init has finished its setup (mounts, `pivot_root`, the terminal)
    /// and waits for the go-ahead; fails with the init's typed error. [`Pending::start`]
    /// and [`Pending::start_gated`] do this themselves; calling it first lets an OCI
    /// runtime run its `prestart` and `createRuntime` hooks once the container's
    /// namespaces and mounts exist. Calling it again does nothing.
    pub fn wait_ready(&mut self) -> Result<(), Error> {
        if self.ready.is_none() {
            let report = self.ch.wait_ready();
            match report {
                Ok(r) => self.ready = Some(r),
                Err(e) => return Err(self.step_failed(e, "it was ready")),
            }
        }
        Ok(())
    }

    /// The ready report, waiting for it first if needed.
    pub(crate) fn take_ready(&mut self) -> Result<ReadyReport, Error> {
        self.wait_ready()?;
        Ok(self.ready.take().unwrap_or_default())
    }

    /// An OCI runtime's `create`: gives the go-ahead but makes the init wait on `gate`
    /// before it executes the user's command (see [`StartGate`]). Returns once the init
    /// has applied every setting (user, capabilities, `no_new_privs`, seccomp when
    /// `no_new_privileges` is set) and checked that the command exists, or with the
    /// failure of any of those steps (the init is then killed and reaped).
    ///
    /// The returned [`Created`] does not own the process: the caller may exit, and the
    /// init (reparented to the nearest subreaper) waits until [`StartGate::release`].
    pub fn start_gated(mut self, gate: StartGate) -> Result<Created, Error> {
        let ReadyReport {
            console, warnings, ..
        } = self.take_ready()?;
        if let Err(e) = self.ch.go_ahead_gated(gate.as_fd()) {
            return Err(self.died_or(e, "the go-ahead"));
        }
        drop(gate);
        let mut warnings = warnings;
        match self.ch.wait_gated() {
            Ok(more) => warnings.extend(more),
            Err(e) => return Err(self.step_failed(e, "it waited on the start gate")),
        }
        // From here on the process is not ours to kill.
        self.reaped = true;
        Ok(Created {
            pid: self.pid,
            pty_master: console,
            warnings,
        })
    }
}

/// A container whose init waits on its start gate ([`Pending::start_gated`]).
///
/// Dropping it leaves the init waiting.
#[derive(Debug)]
pub struct Created {
    pid: i32,
    pty_master: Option<OwnedFd>,
    warnings: Vec<String>,
}

impl Created {
    /// Host pid of the container's init (its PID 1); the user's command replaces it.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// What the init adjusted (rlimits clamped...), to report as warnings.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The master end of the container's terminal (with `process.terminal`), for the
    /// runtime's console socket.
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// Borrow the terminal's master end.
    pub fn pty_master(&self) -> Option<BorrowedFd<'_>> {
        self.pty_master.as_ref().map(|f| f.as_fd())
    }
}
