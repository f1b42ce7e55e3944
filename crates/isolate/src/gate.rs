//! The start gate of an OCI runtime: `create` leaves the container's init waiting, a
//! later `start` (another process) lets it execute the user's command.
//!
//! The gate is a FIFO in the runtime's state directory (runc's `exec.fifo`).
//! [`StartGate::create`] makes it and opens it read-write; the descriptor goes to the
//! init with [`Pending::start_gated`](crate::Pending::start_gated), which finishes every
//! setup step, reports that it waits, and blocks reading one byte from it. The creating
//! process may then exit: the init lives on, holding the only open end of the FIFO.
//!
//! [`StartGate::release`] (the runtime's `start`) opens the FIFO for writing without
//! blocking: that only succeeds while a reader holds it open, so a gate whose init has
//! died fails with [`GateError::NoWaiter`] instead of hanging. It removes the FIFO (its
//! absence is what tells `state` that the container left `created`), then writes the
//! byte that releases the init.
//!
//! ```no_run
//! # fn demo(pending: isolate::Pending) -> Result<(), Box<dyn std::error::Error>> {
//! use isolate::StartGate;
//! let fifo = std::path::Path::new("/run/example/ctr/exec.fifo");
//! let created = pending.start_gated(StartGate::create(fifo)?)?;
//! println!("created, init pid {}", created.pid());
//! // ... later, in another process:
//! StartGate::release(fifo)?;
//! # Ok(()) }
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// What went wrong opening or releasing a gate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The FIFO does not exist: the container was started already (or never created).
    #[error("{}: no start gate (the container is not waiting to be started)", path.display())]
    Missing {
        /// The FIFO's path.
        path: PathBuf,
    },
    /// Nobody holds the FIFO open: the init that waited on it has exited.
    #[error("{}: the container's init is no longer waiting (it has exited)", path.display())]
    NoWaiter {
        /// The FIFO's path.
        path: PathBuf,
    },
    /// Another system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The FIFO's path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The init's end of a start gate: a FIFO opened read-write (see the module docs).
#[derive(Debug)]
pub struct StartGate {
    fd: OwnedFd,
}

impl StartGate {
    /// Creates the FIFO at `path` (mode 0600; it must not exist yet) and opens it.
    pub fn create(path: &Path) -> Result<StartGate, GateError> {
        let io = |op, source: rustix::io::Errno| GateError::Io {
            op,
            path: path.to_path_buf(),
            source: source.into(),
        };
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(|e| io("mkfifo", e))?;
        // Read-write: the open does not block, and the init's end keeps the FIFO open
        // (so that `release` can tell a waiting init from a dead one).
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io("open", e))?;
        Ok(StartGate { fd })
    }

    /// Releases the init waiting on the FIFO at `path` and removes the FIFO.
    pub fn release(path: &Path) -> Result<(), GateError> {
        let fd = match rustix::fs::open(
            path,
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                return Err(GateError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(rustix::io::Errno::NXIO) => {
                return Err(GateError::NoWaiter {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(GateError::Io {
                    op: "open",
                    path: path.to_path_buf(),
                    source: e.into(),
                });
            }
        };
        // Removed first, so that nobody sees a `created` container that already runs.
        match rustix::fs::unlink(path) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => {
                return Err(GateError::Io {
                    op: "remove",
                    path: path.to_path_buf(),
                    source: e.into(),
                });
            }
        }
        match rustix::io::write(&fd, b"0") {
            Ok(_) => {
                wait_for_exec(&fd);
                Ok(())
            }
            Err(rustix::io::Errno::PIPE) => Err(GateError::NoWaiter {
                path: path.to_path_buf(),
            }),
            Err(e) => Err(GateError::Io {
                op: "write",
                path: path.to_path_buf(),
                source: e.into(),
            }),
        }
    }

    /// Whether a gate exists at `path` (the container was created and not started).
    pub fn exists(path: &Path) -> bool {
        rustix::fs::lstat(path).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo
        })
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// How long [`StartGate::release`] waits for the init to execute the command.
const EXEC_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits (bounded) until nobody reads the FIFO any more: the init holds its end until
/// the `execve` of the command closes it, so `start` returns once the command runs (or
/// the init has failed).
fn wait_for_exec(fd: &OwnedFd) {
    let deadline = std::time::Instant::now() + EXEC_WAIT;
    let mut pause = std::time::Duration::from_micros(100);
    loop {
        let mut fds = [rustix::event::PollFd::new(
            fd,
            rustix::event::PollFlags::OUT,
        )];
        let closed = match rustix::event::poll(&mut fds, None) {
            Ok(_) => fds[0].revents().contains(rustix::event::PollFlags::ERR),
            Err(rustix::io::Errno::INTR) => false,
            Err(_) => true,
        };
        if closed || std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(5));
    }
}

/// Block until the gate's byte arrives (the init's side). An EOF cannot happen while we
/// hold the FIFO read-write; any error ends the wait.
pub(crate) fn wait(fd: &OwnedFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(fd, &mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_wakes_the_holder_and_removes_the_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exec.fifo");
        let gate = StartGate::create(&path).unwrap();
        assert!(StartGate::exists(&path));
        assert!(matches!(
            StartGate::create(&path),
            Err(GateError::Io { op: "mkfifo", .. })
        ));
        let fd = gate.fd.try_clone().unwrap();
        let waiter = std::thread::spawn(move || wait(&fd));
        StartGate::release(&path).unwrap();
        waiter.join().unwrap().unwrap();
        assert!(!StartGate::exists(&path));
        assert!(matches!(
            StartGate::release(&path),
            Err(GateError::Missing { .. })
        ));
    }

    #[test]
    fn release_without_a_waiter_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exec.fifo");
        drop(StartGate::create(&path).unwrap());
        assert!(matches!(
            StartGate::release(&path),
            Err(GateError::NoWaiter { .. })
        ));
        assert!(StartGate::exists(&path), "nothing was released");
    }
}
