//! The security steps of the init, in the order they must run: the only call sites of
//! the `caps` and `seccomp` modules.
//!
//! Order (as runc does it), all after pivot, mounts and the parent's go-ahead:
//!
//! 1. [`Security::prepare`]: compile the seccomp profile to BPF while we may still allocate
//!    freely and before anything is restricted.
//! 2. [`Security::before_user_change`]: without `no_new_privs`, installing a filter needs
//!    CAP_SYS_ADMIN, which the user may be about to lose, so the filter goes in first
//!    (docker's profile allows every call made after it). Then PR_SET_KEEPCAPS keeps the
//!    permitted set across `setuid`.
//! 3. The init switches groups, gid and uid.
//! 4. [`Security::after_user_change`]: cut the bounding set (raising CAP_SETPCAP from the
//!    permitted set for that), clear keep-caps, set effective, permitted, inheritable and
//!    ambient to the spec's sets.
//! 5. [`Security::finish`], just before `execve`: `no_new_privs` if asked, then the
//!    seccomp filter when it was not installed in step 2: as late as possible, so that as
//!    few of our own system calls as possible run under it.

use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, Process};

use crate::error::{InitFailure, Stage};

/// The security settings of one process, prepared before any of them is applied.
#[derive(Debug)]
pub(crate) struct Security {
    caps: Option<LinuxCapabilities>,
    seccomp: Option<SeccompProgram>,
    seccomp_installed: bool,
    no_new_privs: bool,
}

impl Security {
    /// Step 1: read the spec and compile the filter.
    pub(crate) fn prepare(
        process: &Process,
        seccomp: Option<&LinuxSeccomp>,
    ) -> Result<Self, InitFailure> {
        let seccomp = match seccomp {
            Some(profile) => Some(compile_seccomp(profile)?),
            None => None,
        };
        Ok(Self {
            caps: process.capabilities().clone(),
            seccomp,
            seccomp_installed: false,
            no_new_privs: process.no_new_privileges().unwrap_or(false),
        })
    }

    /// Step 2.
    pub(crate) fn before_user_change(&mut self) -> Result<(), InitFailure> {
        if !self.no_new_privs {
            if let Some(prog) = &self.seccomp {
                install_seccomp(prog)?;
                self.seccomp_installed = true;
            }
        }
        if self.caps.is_some() {
            keep_capabilities()?;
        }
        Ok(())
    }

    /// Step 4.
    pub(crate) fn after_user_change(&self) -> Result<(), InitFailure> {
        if let Some(caps) = &self.caps {
            apply_capabilities(caps)?;
        }
        Ok(())
    }

    /// Step 5.
    pub(crate) fn finish(&mut self) -> Result<(), InitFailure> {
        if self.no_new_privs {
            rustix::thread::set_no_new_privs(true).map_err(|e| {
                InitFailure::os(
                    Stage::NoNewPrivileges,
                    "prctl(PR_SET_NO_NEW_PRIVS)",
                    &e.into(),
                )
            })?;
        }
        if !self.seccomp_installed {
            if let Some(prog) = &self.seccomp {
                install_seccomp(prog)?;
                self.seccomp_installed = true;
            }
        }
        Ok(())
    }
}

/// A compiled seccomp filter.
#[derive(Debug)]
pub(crate) struct SeccompProgram(crate::seccomp::BpfProgram);

fn compile_seccomp(profile: &LinuxSeccomp) -> Result<SeccompProgram, InitFailure> {
    let arch = crate::seccomp::Arch::native().ok_or_else(|| {
        InitFailure::new(
            Stage::Seccomp,
            "seccomp filters cannot be built for this architecture",
        )
    })?;
    crate::seccomp::compile(profile, arch)
        .map(SeccompProgram)
        .map_err(|e| {
            InitFailure::new(
                Stage::Seccomp,
                format!("compiling the seccomp profile: {e}"),
            )
        })
}

fn install_seccomp(prog: &SeccompProgram) -> Result<(), InitFailure> {
    crate::seccomp::install(&prog.0).map_err(|e| {
        InitFailure::new(
            Stage::Seccomp,
            format!("installing the seccomp filter: {e}"),
        )
    })
}

/// Keep the permitted set across the uid switch; [`apply_capabilities`] then cuts the
/// bounding set and sets the others.
fn keep_capabilities() -> Result<(), InitFailure> {
    crate::caps::keep_caps_across_setuid()
        .map_err(|e| InitFailure::new(Stage::Capabilities, format!("keeping capabilities: {e}")))
}

fn apply_capabilities(caps: &LinuxCapabilities) -> Result<(), InitFailure> {
    crate::caps::apply(caps)
        .map_err(|e| InitFailure::new(Stage::Capabilities, format!("setting capabilities: {e}")))
}
