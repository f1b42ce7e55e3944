//! The few system calls besides file I/O: sending SIGKILL. (`statfs` is in `layout`.)

use std::io;

use crate::error::{Error, Result};

/// Sends SIGKILL to `pid`. A process that already exited is not an error.
pub(crate) fn kill(pid: u32) -> Result<()> {
    let raw = i32::try_from(pid).map_err(|_| Error::InvalidPid { pid })?;
    let target = rustix::process::Pid::from_raw(raw).ok_or(Error::InvalidPid { pid })?;
    match rustix::process::kill_process(target, rustix::process::Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(Error::Kill {
            pid,
            source: io::Error::from(e),
        }),
    }
}
