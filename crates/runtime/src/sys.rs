//! The runtime's only raw system call: `kill(2)` with any signal number, real-time
//! signals included (rustix's safe API only takes the named ones).

use std::io;

/// Sends signal `sig` to `pid`.
pub(crate) fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours; the kernel
    // validates both (EINVAL for a bad signal, ESRCH for a missing process).
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
