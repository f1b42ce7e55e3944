//! Seccomp filters as docker applies them: docker's default profile, docker-format profiles,
//! compilation of an OCI [`LinuxSeccomp`] to a BPF program, and its installation.
//!
//! The flow for a container:
//!
//! 1. The caller picks the profile: [`docker_default`] (docker's default, which depends on the
//!    container's bounding capability set), [`from_docker_json`] for
//!    `--security-opt seccomp=profile.json`, or none at all for
//!    `--security-opt seccomp=unconfined`. Either way the result is the OCI runtime spec's
//!    `linux.seccomp`, so a spec written by someone else works the same.
//! 2. [`compile()`] turns it into a [`BpfProgram`] for one architecture. This is pure
//!    computation; do it in the parent before creating the container and hand the bytes
//!    ([`BpfProgram::to_bytes`]) to the container's init, so a bad profile fails early and
//!    the init does no work it does not need to.
//! 3. The container's init calls [`install`] just before `execve`. Installing a filter needs
//!    either `no_new_privs` set on the thread or `CAP_SYS_ADMIN` in its effective set: see
//!    [`install`] for where it goes relative to dropping capabilities and changing user.
//!
//! ```no_run
//! use isolate::{caps, seccomp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let capabilities = caps::docker_default();
//! let arch = seccomp::Arch::native().ok_or("unsupported architecture")?;
//! let profile = seccomp::docker_default(arch, &capabilities);
//! let program = seccomp::compile(&profile, arch)?;
//! // ... in the container's init, while it still has CAP_SYS_ADMIN:
//! seccomp::install(&program)?;
//! # Ok(())
//! # }
//! ```
//!
//! # How a profile becomes BPF
//!
//! The semantics are libseccomp's as runc uses them, so a profile means what it means under
//! docker: rules whose action equals the default action are dropped; syscall names the
//! architecture does not have are skipped; several conditions on the same argument in one rule
//! are alternatives (runc's rule), otherwise a rule's conditions must all hold; and, as runc's
//! `-ENOSYS` patch does, when the default action denies, syscalls numbered above the highest one
//! the profile names fail with `ENOSYS` rather than the default, so that libc falls back from
//! syscalls newer than the profile (glibc does that for `clone3`, `faccessat2`, `fchmodat2`...).
//!
//! [`seccompiler`] generates the code of rules with argument conditions, including the
//! two-word comparisons of 64-bit arguments; syscalls allowed (or denied) outright are one
//! comparison each. seccompiler emits one action per filter, so [`compile()`] groups the rules by
//! action and chains the groups in one program, the most restrictive action first, with a final
//! return of the default action. Docker's default profile compiles to about 800 instructions
//! (the kernel accepts 4096) in a few hundred microseconds. On x86_64 the program also covers
//! 32-bit x86 programs (`AUDIT_ARCH_I386`), as docker's profile does; the x32 ABI is not
//! covered (its syscalls get `ENOSYS`, as on kernels without x32), nor is 32-bit ARM on aarch64
//! (a 32-bit ARM process is killed at its first syscall).

mod compile;
mod default_profile;
mod docker;
mod sys;
mod syscalls;

use std::fmt;
use std::io;

use oci_spec::runtime::{Arch as OciArch, LinuxCapabilities, LinuxSeccomp, LinuxSeccompFilterFlag};

pub use compile::{BpfProgram, compile};

/// The architectures mydocker compiles filters for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64 (docker's `amd64`), with 32-bit x86 programs as a sub-architecture.
    X86_64,
    /// aarch64 (docker's `arm64`).
    Aarch64,
}

impl Arch {
    /// The architecture this program was built for, if filters can be compiled for it.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    /// The name docker's profiles use for this architecture in `includes`/`excludes`.
    pub fn docker_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The OCI (libseccomp) name of the architecture.
    fn oci(self) -> OciArch {
        match self {
            Arch::X86_64 => OciArch::ScmpArchX86_64,
            Arch::Aarch64 => OciArch::ScmpArchAarch64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        })
    }
}

/// A profile feature mydocker cannot apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// `SCMP_ACT_NOTIFY` (a user-space seccomp agent).
    NotifyAction,
    /// `listenerPath` (a user-space seccomp agent).
    ListenerPath,
    /// A filter flag that only makes sense with a seccomp agent.
    Flag(LinuxSeccompFilterFlag),
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::NotifyAction => f.write_str("the SCMP_ACT_NOTIFY action"),
            Unsupported::ListenerPath => f.write_str("a seccomp listener (listenerPath)"),
            Unsupported::Flag(flag) => write!(f, "the seccomp filter flag {flag}"),
        }
    }
}

/// What kind of failure an [`Error`] is, errdefs style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The profile is malformed.
    InvalidInput,
    /// The profile is valid but asks for something mydocker does not implement.
    Unsupported,
    /// The calling thread lacks the privilege to install a filter.
    PermissionDenied,
    /// The kernel refused for another reason.
    System,
}

/// Errors from parsing, compiling and installing seccomp profiles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The docker profile is not valid JSON for docker's format.
    #[error("invalid seccomp profile: {0}")]
    Json(#[source] serde_json::Error),
    /// A docker profile rule has both `name` and `names`.
    #[error("seccomp profile rule for {name:?} sets both 'name' and 'names'")]
    NameAndNames {
        /// The rule's `name`.
        name: String,
    },
    /// A docker profile has both `architectures` and `archMap`.
    #[error("seccomp profile sets both 'architectures' and 'archMap'")]
    ArchitecturesAndArchMap,
    /// Unknown action name.
    #[error("unknown seccomp action {0:?}")]
    UnknownAction(String),
    /// Unknown comparison operator name.
    #[error("unknown seccomp argument operator {0:?}")]
    UnknownOperator(String),
    /// Unknown architecture name.
    #[error("unknown seccomp architecture {0:?}")]
    UnknownArch(String),
    /// Unknown filter flag name.
    #[error("unknown seccomp filter flag {0:?}")]
    UnknownFlag(String),
    /// A `minKernel` that is not `major.minor`.
    #[error("invalid minKernel {0:?} in seccomp profile (expected major.minor)")]
    InvalidKernelVersion(String),
    /// The OCI types refused a value.
    #[error("building the OCI seccomp profile")]
    Spec(#[source] oci_spec::OciSpecError),
    /// A rule compares an argument index above 5.
    #[error("seccomp rule for {syscall} compares argument {index}; syscalls have arguments 0 to 5")]
    ArgIndex {
        /// The syscall the rule is for.
        syscall: String,
        /// The offending index.
        index: usize,
    },
    /// The profile's `architectures` leave out the architecture being compiled for, so every
    /// syscall would be killed.
    #[error("seccomp profile architectures do not include {0}")]
    ArchNotCovered(Arch),
    /// The profile uses a feature mydocker does not implement.
    #[error("seccomp profile uses {0}, which mydocker does not support")]
    Unsupported(Unsupported),
    /// The compiled program exceeds the kernel's limit of 4096 instructions.
    #[error("seccomp profile compiles to {0} BPF instructions; the kernel accepts at most 4096")]
    TooLarge(usize),
    /// seccompiler rejected a rule.
    #[error("compiling seccomp profile")]
    Backend(#[source] seccompiler::BackendError),
    /// Bytes given to [`BpfProgram::from_bytes`] are not a program.
    #[error("malformed compiled seccomp program: {0}")]
    BadProgram(&'static str),
    /// Installing needs `no_new_privs` or `CAP_SYS_ADMIN` (the kernel said `EACCES`).
    #[error(
        "installing the seccomp filter needs no_new_privs or CAP_SYS_ADMIN in the effective set"
    )]
    NeedsPrivilege,
    /// `SECCOMP_FILTER_FLAG_TSYNC` could not synchronize thread `0`.
    #[error("seccomp filter could not be synchronized to thread {0}")]
    ThreadSync(i64),
    /// The kernel refused the filter.
    #[error("installing the seccomp filter")]
    Install(#[source] io::Error),
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unsupported(_) | Error::ArchNotCovered(_) => ErrorKind::Unsupported,
            Error::NeedsPrivilege => ErrorKind::PermissionDenied,
            Error::ThreadSync(_) | Error::Install(_) => ErrorKind::System,
            _ => ErrorKind::InvalidInput,
        }
    }
}

/// Result of this module's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Docker's default seccomp profile for `arch` and a container with capabilities `caps`.
///
/// As in docker, the bounding set decides: syscalls that need a capability are allowed only
/// when the container has it (`mount`, `unshare`, `setns`... with `CAP_SYS_ADMIN`, `ptrace`
/// with `CAP_SYS_PTRACE`, `reboot` with `CAP_SYS_BOOT`...), and without `CAP_SYS_ADMIN` `clone`
/// may not create namespaces and `clone3` fails with `ENOSYS`. Rules with a minimum kernel
/// version are checked against the running kernel.
pub fn docker_default(arch: Arch, caps: &LinuxCapabilities) -> LinuxSeccomp {
    let profile = default_profile::profile();
    let resolved = docker::resolve(
        &profile,
        arch,
        &docker::bounding_set(caps),
        docker::running_kernel(),
    );
    // The built-in table is static data whose resolution is covered by the unit tests; it has
    // a default action, so it never resolves to "no seccomp".
    resolved
        .ok()
        .flatten()
        .expect("the built-in default seccomp profile resolves")
}

/// Parses a docker-format seccomp profile (`--security-opt seccomp=profile.json`) and resolves
/// it for `arch` and the container's capabilities `caps`, as docker does before starting the
/// container (see the module docs of the format's `includes`/`excludes`).
///
/// Returns `Ok(None)` when the profile has neither a default action nor rules, which docker
/// takes as "no seccomp filter".
pub fn from_docker_json(
    bytes: &[u8],
    arch: Arch,
    caps: &LinuxCapabilities,
) -> Result<Option<LinuxSeccomp>> {
    let profile = docker::parse(bytes)?;
    docker::resolve(
        &profile,
        arch,
        &docker::bounding_set(caps),
        docker::running_kernel(),
    )
}

/// Installs `program` on the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER)`.
///
/// The filter stays for the life of the thread and is inherited by its children and across
/// `execve`. It applies to the calling thread only (plus `SECCOMP_FILTER_FLAG_TSYNC` if the
/// profile asked for it): call it from the container's single-threaded init.
///
/// # Privilege, and where it goes in the init
///
/// The kernel accepts a filter only if the thread has `no_new_privs` set or `CAP_SYS_ADMIN` in
/// its effective set; this function never sets `no_new_privs` itself, because docker leaves it
/// off unless `--security-opt no-new-privileges` is given (so setuid programs keep working). As
/// runc does:
///
/// - without `no-new-privileges` (the default): install while the init still has all its
///   capabilities, before [`crate::caps::apply`] drops `CAP_SYS_ADMIN` and before the
///   setgid/setuid. The profile must then allow what the init still does afterwards
///   (`setgroups`, `setresgid`, `setresuid`, `capset`, `prctl`, `close`, `execve`); docker's
///   default does.
/// - with `no-new-privileges`: set it (`prctl(PR_SET_NO_NEW_PRIVS)`), then change user and
///   apply capabilities, then install as the last step before `execve`.
///
/// # Errors
///
/// [`Error::NeedsPrivilege`] when neither condition holds, [`Error::Install`] when the kernel
/// rejects the program.
pub fn install(program: &BpfProgram) -> Result<()> {
    sys::set_mode_filter(program.instructions(), program.filter_flags())
}

#[cfg(test)]
mod tests;
