//! The crate's error type: every I/O failure carries the cgroup file or directory it concerns.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::{Controller, FreezerState};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while detecting or managing cgroups.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cgroup file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A value could not be written to a cgroup file.
    #[error("cannot write {data:?} to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        data: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A cgroup directory could not be created.
    #[error("cannot create cgroup {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("cannot remove cgroup {path}: {source}")]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A cgroup still had processes after the bounded wait for them to exit.
    #[error("cannot remove cgroup {path}: still busy, processes {pids:?}")]
    Busy {
        /// The directory.
        path: PathBuf,
        /// The processes still in it when we gave up (may be empty: a child cgroup
        /// or an exiting task can keep it busy too).
        pids: Vec<u32>,
    },
    /// `statfs` failed on a path that was expected to hold cgroups.
    #[error("cannot statfs {path}: {source}")]
    Statfs {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A cgroup file had content we do not understand.
    #[error("cannot parse {path}: unexpected content {content:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending content (or line).
        content: String,
    },
    /// No cgroup filesystem is mounted where one was expected.
    #[error("no cgroup filesystem found at {root}")]
    NoCgroupFs {
        /// The directory that was searched (usually `/sys/fs/cgroup`).
        root: PathBuf,
    },
    /// A limit was requested for a controller this system does not offer.
    #[error(
        "the {controller} cgroup controller is not available on this system ({resource} needs it)"
    )]
    ControllerMissing {
        /// The missing controller.
        controller: Controller,
        /// What needed it, e.g. `memory limit` or `pausing`.
        resource: &'static str,
    },
    /// A resource value is out of range or contradicts another one.
    #[error("invalid {resource} {value:?}: {reason}")]
    InvalidResource {
        /// The resource, e.g. `memory swap`.
        resource: &'static str,
        /// The offending value.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A cgroup path (parent or name) was refused.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Pid 0 (which the kernel reads as "the writer itself") or a pid out of range.
    #[error("invalid pid {pid}")]
    InvalidPid {
        /// The offending pid.
        pid: u32,
    },
    /// The freezer did not reach the wanted state in the bounded wait.
    #[error("cgroup {path} did not become {wanted} (last state {last})")]
    FreezeTimeout {
        /// The cgroup directory.
        path: PathBuf,
        /// The wanted state.
        wanted: FreezerState,
        /// The last state read.
        last: FreezerState,
    },
    /// A signal could not be sent to a process of the cgroup.
    #[error("cannot send SIGKILL to pid {pid}: {source}")]
    Kill {
        /// The process.
        pid: u32,
        /// The underlying error.
        source: io::Error,
    },
    /// The eBPF program of cgroup v2 device rules could not be loaded or attached.
    #[error("device rules of {}: bpf {op}: {source}", path.display())]
    Bpf {
        /// What failed (load, attach, query).
        op: &'static str,
        /// The cgroup.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Coarse classes of [`Error`], in the spirit of containerd's errdefs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file or cgroup does not exist.
    NotFound,
    /// The caller passed something invalid.
    InvalidInput,
    /// The system lacks what was asked for (a controller, a kernel feature).
    Unsupported,
    /// The cgroup (or the resource) is in use.
    Busy,
    /// Permission denied by the kernel.
    PermissionDenied,
    /// A bounded wait ran out.
    Timeout,
    /// Any other I/O or kernel failure.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "not found",
            Self::InvalidInput => "invalid input",
            Self::Unsupported => "unsupported",
            Self::Busy => "busy",
            Self::PermissionDenied => "permission denied",
            Self::Timeout => "timed out",
            Self::Other => "other",
        })
    }
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Read { source, .. }
            | Self::Write { source, .. }
            | Self::CreateDir { source, .. }
            | Self::RemoveDir { source, .. }
            | Self::Statfs { source, .. }
            | Self::Kill { source, .. }
            | Self::Bpf { source, .. } => io_kind(source),
            Self::Busy { .. } => ErrorKind::Busy,
            Self::Parse { .. } => ErrorKind::Other,
            Self::NoCgroupFs { .. } | Self::ControllerMissing { .. } => ErrorKind::Unsupported,
            Self::InvalidResource { .. } | Self::InvalidPath { .. } | Self::InvalidPid { .. } => {
                ErrorKind::InvalidInput
            }
            Self::FreezeTimeout { .. } => ErrorKind::Timeout,
        }
    }

    /// The raw OS error code behind this error, if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Read { source, .. }
            | Self::Write { source, .. }
            | Self::CreateDir { source, .. }
            | Self::RemoveDir { source, .. }
            | Self::Statfs { source, .. }
            | Self::Kill { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

fn io_kind(err: &io::Error) -> ErrorKind {
    match err.raw_os_error() {
        Some(code) if code == libc_errno::EBUSY => ErrorKind::Busy,
        Some(code) if code == libc_errno::EINVAL || code == libc_errno::ERANGE => {
            ErrorKind::InvalidInput
        }
        Some(code) if code == libc_errno::ENOSPC => ErrorKind::InvalidInput,
        _ => match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::Unsupported => ErrorKind::Unsupported,
            _ => ErrorKind::Other,
        },
    }
}

/// The errno values we classify, from rustix so no libc dependency is needed.
mod libc_errno {
    use rustix::io::Errno;
    pub(super) const EBUSY: i32 = Errno::BUSY.raw_os_error();
    pub(super) const EINVAL: i32 = Errno::INVAL.raw_os_error();
    pub(super) const ERANGE: i32 = Errno::RANGE.raw_os_error();
    pub(super) const ENOSPC: i32 = Errno::NOSPC.raw_os_error();
}

/// Adds path context to `io::Result`s, the way youki's `WrapIoResult` does.
pub(crate) trait WrapIoResult<T> {
    /// The read of `path` failed.
    fn wrap_read(self, path: &Path) -> Result<T>;
    /// Writing `data` to `path` failed.
    fn wrap_write(self, path: &Path, data: &str) -> Result<T>;
}

impl<T> WrapIoResult<T> for io::Result<T> {
    fn wrap_read(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    fn wrap_write(self, path: &Path, data: &str) -> Result<T> {
        self.map_err(|source| Error::Write {
            path: path.to_path_buf(),
            data: data.to_string(),
            source,
        })
    }
}
