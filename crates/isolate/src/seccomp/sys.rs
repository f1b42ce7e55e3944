//! The one system call of this module: `seccomp(SECCOMP_SET_MODE_FILTER)`.

use std::io;

use seccompiler::sock_filter;

use super::{Error, Result};

/// Installs `program` on the calling thread with `flags` (`SECCOMP_FILTER_FLAG_*`).
pub(super) fn set_mode_filter(program: &[sock_filter], flags: u32) -> Result<()> {
    let len = u16::try_from(program.len())
        .ok()
        .filter(|&len| len > 0)
        .ok_or(Error::BadProgram("empty or longer than the kernel accepts"))?;
    // Copy into libc's own type rather than assume seccompiler's layout matches it.
    let mut filter: Vec<libc::sock_filter> = program
        .iter()
        .map(|insn| libc::sock_filter {
            code: insn.code,
            jt: insn.jt,
            jf: insn.jf,
            k: insn.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `fprog` describes `filter`, `len` instructions that stay alive and unmoved for
    // the whole call; the kernel only reads them (copy_from_user) and keeps no pointer to them.
    // The other arguments are plain integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    match rc {
        0 => Ok(()),
        // With SECCOMP_FILTER_FLAG_TSYNC, a positive result is the thread that could not sync.
        tid if tid > 0 => Err(Error::ThreadSync(tid)),
        _ => {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EACCES) {
                Err(Error::NeedsPrivilege)
            } else {
                Err(Error::Install(error))
            }
        }
    }
}
