//! The security steps of the init, in the order they must run, and the call sites of the
//! `caps` and `seccomp` modules (written on the `seccomp` branch).
//!
//! Order (as runc does it), all after pivot, mounts and the parent's go-ahead:
//!
//! 1. [`Security::prepare`]: compile the seccomp profile to BPF while we may still allocate
//!    freely and before anything is restricted.
//! 2. [`Security::before_user_change`]: without `no_new_privs`, installing a filter needs
//!    CAP_SYS_ADMIN, which the user may be about to lose, so the filter goes in first
//!    (docker's profile allows every call made after it). Then, for a non-root user,
//!    PR_SET_KEEPCAPS keeps the permitted set across `setuid`.
//! 3. The init switches groups, gid and uid.
//! 4. [`Security::after_user_change`]: cut the bounding set, set effective, permitted,
//!    inheritable and ambient to the spec's sets, clear keep-caps.
//! 5. [`Security::finish`], just before `execve`: `no_new_privs` if asked, then the
//!    seccomp filter when it was not installed in step 2: as late as possible, so that as
//!    few of our own system calls as possible run under it.
//!
//! MERGE NOTE (lead): the four `CALL SITE` functions at the bottom are the only places
//! that touch capabilities and seccomp. When merging the `seccomp` branch (its
//! `caps::{keep_caps_across_setuid, apply}` and `seccomp::{compile, install, Arch}` as of
//! its commit a49376b), replace their bodies with the code given in each doc comment and
//! `SeccompProgram` with `crate::seccomp::BpfProgram`. Until then a spec that asks for
//! capabilities or seccomp is refused with a clear error instead of being run with
//! weaker security than it asked for.

use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, Process};

use crate::error::{InitFailure, Stage};

/// The security settings of one process, prepared before any of them is applied.
#[derive(Debug)]
pub(crate) struct Security {
    caps: Option<LinuxCapabilities>,
    uid: u32,
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
            uid: process.user().uid(),
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
        if let Some(caps) = &self.caps {
            keep_caps_across_setuid(caps, self.uid)?;
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

// ---------------------------------------------------------------------------------------
// CALL SITES for the `seccomp` branch (crate::caps, crate::seccomp).
// ---------------------------------------------------------------------------------------

/// A compiled seccomp filter. MERGE: `crate::seccomp::BpfProgram`.
#[derive(Debug)]
pub(crate) struct SeccompProgram(());

/// CALL SITE: compile the profile for this machine. MERGE:
/// ```text
/// let arch = crate::seccomp::Arch::native()
///     .ok_or_else(|| InitFailure::new(Stage::Seccomp, "no seccomp support for this architecture"))?;
/// crate::seccomp::compile(profile, arch).map_err(|e| InitFailure::new(Stage::Seccomp, e.to_string()))
/// ```
fn compile_seccomp(_profile: &LinuxSeccomp) -> Result<SeccompProgram, InitFailure> {
    Err(InitFailure::new(
        Stage::Seccomp,
        "seccomp profiles are not supported by this build (the seccomp module is not merged)",
    ))
}

/// CALL SITE: install the filter. MERGE:
/// ```text
/// crate::seccomp::install(prog).map_err(|e| InitFailure::new(Stage::Seccomp, e.to_string()))
/// ```
fn install_seccomp(_prog: &SeccompProgram) -> Result<(), InitFailure> {
    Err(InitFailure::new(
        Stage::Seccomp,
        "seccomp is not supported by this build",
    ))
}

/// CALL SITE: before the uid switch, keep the permitted set across it (the bounding set
/// is cut by `apply` afterwards, which raises CAP_SETPCAP from the permitted set). MERGE:
/// ```text
/// if uid != 0 {
///     crate::caps::keep_caps_across_setuid()
///         .map_err(|e| InitFailure::new(Stage::Capabilities, e.to_string()))?;
/// }
/// Ok(())
/// ```
fn keep_caps_across_setuid(_caps: &LinuxCapabilities, _uid: u32) -> Result<(), InitFailure> {
    Err(InitFailure::new(
        Stage::Capabilities,
        "capability sets are not supported by this build (the caps module is not merged)",
    ))
}

/// CALL SITE: after the uid switch: bounding, effective, permitted, inheritable and
/// ambient sets exactly as `caps` says; clears keep-caps. MERGE:
/// ```text
/// crate::caps::apply(caps).map_err(|e| InitFailure::new(Stage::Capabilities, e.to_string()))
/// ```
fn apply_capabilities(_caps: &LinuxCapabilities) -> Result<(), InitFailure> {
    Err(InitFailure::new(
        Stage::Capabilities,
        "capability sets are not supported by this build",
    ))
}
