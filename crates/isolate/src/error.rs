//! Error types: what the parent sees ([`Error`]), and the typed failures the container's
//! init reports back over the channel ([`InitFailure`], [`ExecFailure`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Errors of [`Container::spawn`](crate::Container::spawn),
/// [`Pending::start`](crate::Pending::start) and the other parent-side calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec cannot be run as given.
    #[error("invalid spec: {reason}")]
    InvalidSpec {
        /// What is wrong.
        reason: &'static str,
    },
    /// The spec asks for something this runtime does not support (yet).
    #[error("unsupported: {what}")]
    Unsupported {
        /// The feature.
        what: String,
    },
    /// A system call made by the parent failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A system call on a path made by the parent failed.
    #[error("{op} {}: {source}", path.display())]
    Path {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The init binary could not be executed in the new namespaces.
    #[error("cannot execute the container init {}: {source}", exe.display())]
    InitExec {
        /// The init binary.
        exe: PathBuf,
        /// The OS error of `execveat`.
        source: io::Error,
    },
    /// The container's init failed while setting the container up.
    #[error("container init: {0}")]
    Init(#[from] InitFailure),
    /// The user's command could not be executed.
    #[error(transparent)]
    Exec(#[from] ExecFailure),
    /// The container's init broke the protocol or died unexpectedly.
    #[error("container init: {0}")]
    Protocol(#[from] ProtocolError),
}

/// Problems of the parent/init channel itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Reading or writing the socket failed.
    #[error("channel i/o: {0}")]
    Io(#[from] io::Error),
    /// A frame did not decode.
    #[error("malformed message: {0}")]
    Decode(#[from] serde_json::Error),
    /// A frame exceeded the size limit.
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The peer sent a message that makes no sense at this step.
    #[error("unexpected message {got} while waiting for {expected}")]
    Unexpected {
        /// What the step waits for.
        expected: &'static str,
        /// The variant name received.
        got: &'static str,
    },
    /// The peer closed the channel before the step completed.
    #[error("exited before {step} (status {status})")]
    Died {
        /// The protocol step.
        step: &'static str,
        /// How the init ended, as `wait` reported it.
        status: String,
    },
    /// A message that should carry a descriptor came without one.
    #[error("{0} came without its file descriptor")]
    MissingFd(&'static str),
}

/// A coarse classification of [`Error`], errdefs-style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input (spec or options).
    InvalidInput,
    /// Not supported by this runtime or kernel.
    Unsupported,
    /// The command was not found (docker exit code 127).
    NotFound,
    /// The command cannot be invoked (docker exit code 126).
    PermissionDenied,
    /// Anything else: the runtime failed (docker exit code 125).
    Internal,
}

impl Error {
    /// The errdefs-style kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidSpec { .. } => ErrorKind::InvalidInput,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Exec(e) => match e.reason {
                ExecFailureReason::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::PermissionDenied,
            },
            _ => ErrorKind::Internal,
        }
    }

    /// Docker's exit code for this error: 127 command not found, 126 command not
    /// executable, 125 for every failure of the runtime itself.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exec(e) => e.exit_code(),
            _ => 125,
        }
    }

    pub(crate) fn sys(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Sys { op, source }
    }

    pub(crate) fn path(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Path { op, path, source }
    }
}

/// The setup step of the container's init that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Stage {
    /// Reading the configuration from the parent.
    Config,
    /// Joining namespaces given by path, or unsharing the cgroup namespace.
    Namespaces,
    /// Making the mount tree private/slave.
    Propagation,
    /// Assembling the rootfs ([`SpawnOptions::rootfs_mounts`](crate::SpawnOptions::rootfs_mounts))
    /// and binding it onto itself.
    Rootfs,
    /// A mount of `spec.mounts`.
    Mount,
    /// Creating device nodes and /dev symlinks.
    Devices,
    /// Allocating the terminal and /dev/console.
    Console,
    /// Creating or entering the working directory.
    Cwd,
    /// `pivot_root` and detaching the old root.
    PivotRoot,
    /// `linux.sysctl`.
    Sysctl,
    /// `linux.maskedPaths`.
    MaskedPaths,
    /// `linux.readonlyPaths` and `root.readonly`.
    ReadonlyPaths,
    /// Hostname and domain name.
    Hostname,
    /// `process.rlimits`, `process.oomScoreAdj`.
    Limits,
    /// Resolving a user name ([`SpawnOptions::user`](crate::SpawnOptions::user)) from the
    /// container's /etc/passwd and /etc/group; switching uid, gid and groups.
    User,
    /// Capabilities.
    Capabilities,
    /// `no_new_privs`.
    NoNewPrivileges,
    /// The seccomp filter.
    Seccomp,
    /// Preparing the command (argv, env).
    Command,
    /// Joining an existing container (`exec`).
    Join,
    /// The reaping init (`--init`).
    Reaper,
    /// An OCI hook run by the init (`createContainer`, `startContainer`).
    Hooks,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Stage::Config => "reading the configuration",
            Stage::Namespaces => "namespaces",
            Stage::Propagation => "mount propagation",
            Stage::Rootfs => "rootfs",
            Stage::Mount => "mount",
            Stage::Devices => "devices",
            Stage::Console => "console",
            Stage::Cwd => "working directory",
            Stage::PivotRoot => "pivot_root",
            Stage::Sysctl => "sysctl",
            Stage::MaskedPaths => "masked path",
            Stage::ReadonlyPaths => "read-only path",
            Stage::Hostname => "hostname",
            Stage::Limits => "resource limits",
            Stage::User => "user",
            Stage::Capabilities => "capabilities",
            Stage::NoNewPrivileges => "no_new_privs",
            Stage::Seccomp => "seccomp",
            Stage::Command => "command",
            Stage::Join => "joining the container",
            Stage::Reaper => "init process",
            Stage::Hooks => "hooks",
        };
        f.write_str(s)
    }
}

/// A setup failure inside the container's init, sent to the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct InitFailure {
    /// The step that failed.
    pub stage: Stage,
    /// The path involved (a mount destination, the workdir), relative to the rootfs.
    pub path: Option<PathBuf>,
    /// What went wrong.
    pub message: String,
    /// The OS error number, when the failure was a system call.
    pub errno: Option<i32>,
}

impl fmt::Display for InitFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.stage)?;
        if let Some(p) = &self.path {
            write!(f, " {}", p.display())?;
        }
        write!(f, ": {}", self.message)
    }
}

impl InitFailure {
    /// A failure with a message and no OS error.
    pub(crate) fn new(stage: Stage, message: impl Into<String>) -> Self {
        Self {
            stage,
            path: None,
            message: message.into(),
            errno: None,
        }
    }

    /// A failed system call.
    pub(crate) fn os(stage: Stage, what: &str, err: &io::Error) -> Self {
        Self {
            stage,
            path: None,
            message: format!("{what}: {err}"),
            errno: err.raw_os_error(),
        }
    }

    /// Attach the path the step was working on.
    pub(crate) fn at(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// Why the user's command could not be executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ExecFailureReason {
    /// No such file (in `$PATH` for a bare name): exit code 127.
    NotFound,
    /// Found but not executable by the user, or a directory: exit code 126.
    PermissionDenied,
    /// Not a format the kernel can execute: exit code 126.
    BadFormat,
    /// Any other `execve` error: exit code 126.
    Other,
}

/// The user's command failed to execute; the message follows docker's wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ExecFailure {
    /// `args[0]` as given.
    pub command: String,
    /// The classification.
    pub reason: ExecFailureReason,
    /// The `execve` errno (of the most relevant attempt).
    pub errno: Option<i32>,
}

impl ExecFailure {
    /// Docker's exit code: 127 for not found, 126 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.reason {
            ExecFailureReason::NotFound => 127,
            _ => 126,
        }
    }
}

impl fmt::Display for ExecFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cmd = &self.command;
        match self.reason {
            ExecFailureReason::NotFound if !cmd.contains('/') => {
                write!(f, "exec: \"{cmd}\": executable file not found in $PATH")
            }
            ExecFailureReason::NotFound => write!(f, "exec: \"{cmd}\": no such file or directory"),
            ExecFailureReason::PermissionDenied => write!(f, "exec: \"{cmd}\": permission denied"),
            ExecFailureReason::BadFormat => write!(f, "exec: \"{cmd}\": exec format error"),
            ExecFailureReason::Other => {
                let err = self.errno.map(io::Error::from_raw_os_error);
                match err {
                    Some(e) => write!(f, "exec: \"{cmd}\": {e}"),
                    None => write!(f, "exec: \"{cmd}\": failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_docker() {
        let nf = Error::Exec(ExecFailure {
            command: "nope".into(),
            reason: ExecFailureReason::NotFound,
            errno: Some(libc::ENOENT),
        });
        assert_eq!(nf.exit_code(), 127);
        assert_eq!(nf.kind(), ErrorKind::NotFound);
        assert_eq!(
            nf.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        let pd = Error::Exec(ExecFailure {
            command: "/etc/passwd".into(),
            reason: ExecFailureReason::PermissionDenied,
            errno: Some(libc::EACCES),
        });
        assert_eq!(pd.exit_code(), 126);
        assert_eq!(pd.to_string(), "exec: \"/etc/passwd\": permission denied");
        let setup = Error::Init(InitFailure::new(Stage::Mount, "boom").at("/proc"));
        assert_eq!(setup.exit_code(), 125);
        assert_eq!(setup.to_string(), "container init: mount /proc: boom");
    }
}
