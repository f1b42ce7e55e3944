//! Small system helpers: entering a network namespace on a throw-away thread, sysctls,
//! random IDs and timestamps. No `unsafe` here: rustix wraps the syscalls.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use crate::error::Error;

/// A network namespace to attach a container in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// The namespace of this process (`/proc/PID/ns/net`), typically the container's
    /// init.
    Pid(u32),
    /// A namespace file (a bind-mounted `/run/netns/NAME`, or `/proc/PID/ns/net`).
    Path(PathBuf),
}

impl Netns {
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            Netns::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
            Netns::Path(p) => p.clone(),
        }
    }

    /// Opens the namespace file: holding it keeps the namespace alive and pinned to the
    /// same namespace even if the process exits and its PID is reused meanwhile.
    pub(crate) fn open(&self) -> Result<OwnedFd, Error> {
        let path = self.path();
        File::open(&path)
            .map(OwnedFd::from)
            .map_err(|source| Error::Netns { path, source })
    }
}

/// Whether `ns` is the calling thread's own network namespace (attaching "a container"
/// there would put its interface into the host).
pub(crate) fn is_own_netns(ns: &OwnedFd, path: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;
    let err = |source| Error::Netns {
        path: path.to_path_buf(),
        source,
    };
    let target = rustix::fs::fstat(ns).map_err(|e| err(e.into()))?;
    let own = std::fs::metadata("/proc/thread-self/ns/net").map_err(err)?;
    Ok(target.st_ino == own.ino() && target.st_dev == own.dev())
}

impl From<u32> for Netns {
    fn from(pid: u32) -> Self {
        Netns::Pid(pid)
    }
}

/// Runs `f` on a new thread that first moves itself into the network namespace `ns`.
/// The thread exits when `f` returns, so the caller's threads never change namespace.
/// Sockets created by `f` stay bound to that namespace and can be used from any thread.
pub(crate) fn in_netns<T, F>(ns: BorrowedFd<'_>, path: &Path, f: F) -> Result<T, Error>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).map_err(
                |e| Error::Netns {
                    path: path.to_path_buf(),
                    source: e.into(),
                },
            )?;
            f()
        });
        handle.join().unwrap_or_else(|_| {
            Err(Error::Netns {
                path: path.to_path_buf(),
                source: std::io::Error::other("helper thread panicked"),
            })
        })
    })
}

/// Writes a sysctl under `/proc/sys` (of the calling thread's network namespace for
/// `net.*`).
pub(crate) fn write_sysctl(path: &str, value: &str) -> Result<(), Error> {
    std::fs::write(path, value).map_err(|source| Error::Sysctl {
        path: PathBuf::from(path),
        source,
    })
}

/// Reads a sysctl, trimmed.
pub(crate) fn read_sysctl(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| Error::Sysctl {
            path: PathBuf::from(path),
            source,
        })
}

/// 64 random hex digits (a docker-style ID).
pub(crate) fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("read", "/dev/urandom", e))?;
    Ok(hex::encode(bytes))
}

/// Nanoseconds since the epoch.
pub(crate) fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The time as docker prints `Created`: `2024-05-01T12:34:56.123456789Z`.
pub(crate) fn rfc3339(nanos: u128) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    humantime::format_rfc3339_nanos(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29T12:00:00.5Z
        assert_eq!(
            rfc3339(951_825_600_500_000_000),
            "2000-02-29T12:00:00.500000000Z"
        );
        // 2024-12-31T23:59:59Z
        assert_eq!(
            rfc3339(1_735_689_599_000_000_000),
            "2024-12-31T23:59:59.000000000Z"
        );
    }

    #[test]
    fn ids_are_64_hex_and_differ() {
        let a = random_id().unwrap();
        let b = random_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
