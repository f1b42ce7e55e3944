//! The runtime's error type: one variant per kind of failure, each a clear sentence.

use std::io;
use std::path::PathBuf;

use crate::state::Status;

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container ID is not acceptable.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The ID given.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No container with this ID exists under the state root.
    #[error("container does not exist")]
    NotFound {
        /// The ID given.
        id: String,
    },
    /// A container with this ID exists already.
    #[error("container with id exists: {id}")]
    Exists {
        /// The ID given.
        id: String,
    },
    /// The operation is not allowed in the container's current status.
    #[error("{action}: container {id} is {status}")]
    WrongStatus {
        /// What was refused, e.g. `cannot start a container that is not created`.
        action: &'static str,
        /// The container.
        id: String,
        /// Its status.
        status: Status,
    },
    /// The bundle or its `config.json` cannot be used.
    #[error("{0}")]
    Config(String),
    /// A feature that this runtime does not support was asked for.
    #[error("{0}")]
    Unsupported(String),
    /// Invalid command-line input (a signal name, a resource value...).
    #[error("{0}")]
    InvalidInput(String),
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Setting up or running the container's process failed.
    #[error(transparent)]
    Isolate(#[from] isolate::Error),
    /// The start gate could not be released.
    #[error(transparent)]
    Gate(#[from] isolate::GateError),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] cgroup::Error),
    /// A state file could not be written or locked.
    #[error(transparent)]
    State(#[from] fsutil::Error),
    /// A hook failed (prestart, createRuntime).
    #[error("{kind} hook: {source}")]
    Hook {
        /// The hook kind.
        kind: &'static str,
        /// What went wrong.
        source: isolate::hooks::HookError,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn sys(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Sys { op, source }
    }

    /// The exit code of the runtime binary for this error: the container command's own
    /// 126/127 for a command that cannot be executed, else 1 (runc's).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Isolate(e @ isolate::Error::Exec(_)) => e.exit_code(),
            _ => 1,
        }
    }
}
