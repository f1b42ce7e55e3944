//! The engine's errors: what went wrong, in docker's words, and the exit code a command
//! line tool should end with ([`Error::exit_code`]).

use std::path::{Path, PathBuf};

/// Results of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an engine operation can fail with. The message of each variant is the line
/// a user sees; library errors keep their own messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No container by that name, ID or ID prefix.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No image by that reference or ID.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// A value given by the caller is not valid (docker's message).
    #[error("{0}")]
    Invalid(String),
    /// The container's state does not allow the operation (docker's message).
    #[error("{0}")]
    State(String),
    /// A name or another resource is already taken (docker's message).
    #[error("{0}")]
    Conflict(String),
    /// The container's process could not be started: exit codes 125, 126 or 127.
    #[error(transparent)]
    Isolate(#[from] isolate::Error),
    /// The image store.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A registry.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// Networking.
    #[error(transparent)]
    Network(#[from] network::Error),
    /// cgroups.
    #[error(transparent)]
    Cgroup(#[from] cgroup::Error),
    /// A state file or lock.
    #[error(transparent)]
    File(#[from] fsutil::Error),
    /// A capability name.
    #[error(transparent)]
    Caps(#[from] isolate::caps::Error),
    /// An OCI document could not be built.
    #[error("{0}")]
    Spec(#[from] oci_spec::OciSpecError),
    /// A file operation, with what was being done and the path.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: String,
        /// The path.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A system call or stream without a path.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// A record or document that could not be parsed.
    #[error("{what}: {source}")]
    Json {
        /// What was being read.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// An error with the step it happened in.
    #[error("{context}: {source}")]
    Context {
        /// The step.
        context: String,
        /// The error.
        source: Box<Error>,
    },
    /// A container could not start in another process (its monitor): the reason, and
    /// docker's exit code.
    #[error("{message}")]
    StartFailed {
        /// Docker's exit code (125, 126, 127).
        code: u8,
        /// Why.
        message: String,
    },
    /// A build step failed, or the build was cancelled (docker's message).
    #[error("{0}")]
    Build(String),
    /// A build's RUN step ended with a non-zero status (docker's message; docker's build
    /// exits with that status).
    #[error("The command '{command}' returned a non-zero code: {code}")]
    StepFailed {
        /// The step's command line (`/bin/sh -c false`).
        command: String,
        /// Its exit status.
        code: i32,
    },
    /// The container's own process decided the exit code (a run or exec that ended).
    #[error("exit status {0}")]
    Exit(u8),
}

/// How an isolate error reads for a docker user: an unknown user or group is docker's
/// own sentence (`unable to find user alice: no matching entries in passwd file`), not a
/// step of the init.
pub(crate) fn from_isolate(e: isolate::Error) -> Error {
    match e {
        isolate::Error::Init(f) if f.stage == isolate::Stage::User => Error::StartFailed {
            code: 125,
            message: f.message,
        },
        e => Error::Isolate(e),
    }
}

impl Error {
    /// A file operation's error.
    pub fn io(what: impl Into<String>, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A system call's error.
    pub fn os(what: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Os {
            what: what.into(),
            source: source.into(),
        }
    }

    /// A parse error of a document.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            what: what.into(),
            source,
        }
    }

    /// `self` with the step it happened in.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The innermost error, past every [`Error::Context`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// Docker's exit code for a command that failed with this error when it was starting
    /// a container: 126 when the command cannot be invoked, 127 when it is not found, the
    /// container's own code for [`Error::Exit`], 125 when mydocker itself failed.
    pub fn exit_code(&self) -> u8 {
        match self.root() {
            Error::Isolate(e) => u8::try_from(e.exit_code()).unwrap_or(125),
            Error::Exit(code) | Error::StartFailed { code, .. } => *code,
            Error::StepFailed { code, .. } => {
                u8::try_from(*code).ok().filter(|c| *c != 0).unwrap_or(1)
            }
            _ => 125,
        }
    }
}

/// Adds the step an error happened in.
pub trait ResultExt<T> {
    /// Wraps the error with `context`.
    fn ctx(self, context: impl Into<String>) -> Result<T>;
    /// Wraps the error with the context `f` gives (computed only on error).
    fn with_ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn ctx(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Returns an [`Error::Invalid`] with a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Invalid(format!($($arg)*)))
    };
}

/// Returns an [`Error::State`] with a formatted message.
macro_rules! state {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::State(format!($($arg)*)))
    };
}

pub(crate) use {invalid, state};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_read_as_one_line_and_keep_the_exit_code() {
        let e = Error::Exit(3).context("running");
        assert_eq!(e.to_string(), "running: exit status 3");
        assert_eq!(e.exit_code(), 3);
        let e = Error::Invalid("bad".into()).context("a").context("b");
        assert_eq!(e.to_string(), "b: a: bad");
        assert_eq!(e.exit_code(), 125);
        let io = Error::io(
            "reading",
            "/x",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(io.to_string(), "reading /x: entity not found");
    }
}
