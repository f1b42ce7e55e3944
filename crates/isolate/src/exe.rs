//! Protection of the host's init binary against being overwritten from inside a
//! container (the CVE-2019-5736 class).
//!
//! A process of the container can reach our binary through `/proc/<pid>/exe` of any
//! process running it inside the container: the init before it executes the user's
//! command, the reaping init of `--init` for the container's whole life, an `exec` before
//! its `execve`. Opening that magic link for writing would write the host's file.
//!
//! The init is therefore never executed from the host path itself, but from:
//! - [`ExeProtection::ReadOnlyBind`] (default): a detached, read-only bind mount of the
//!   binary (`open_tree(OPEN_TREE_CLONE)` + `mount_setattr(MOUNT_ATTR_RDONLY)`), executed
//!   with `execveat(fd, "", AT_EMPTY_PATH)`. `/proc/<pid>/exe` then names a file on a
//!   read-only mount that exists in no mount namespace, so opening it for writing fails
//!   with `EROFS`, and no mount of the container leads to the host's writable mount.
//!   It costs two system calls and no copy.
//! - [`ExeProtection::SealedMemfd`]: a copy in a sealed memfd (`F_SEAL_WRITE` and
//!   friends), as runc did; costs a copy of the binary per container. Used automatically
//!   when the mount API is not available (old kernel, no CAP_SYS_ADMIN).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{MemfdFlags, OFlags, SealFlags};
use rustix::mount::{MountAttrFlags, OpenTreeFlags};

use crate::sys::{self, MountAttr};

/// How the init binary is protected from writes from inside the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExeProtection {
    /// A detached read-only bind mount of the binary (falls back to a sealed memfd copy
    /// when the mount API is unavailable).
    #[default]
    ReadOnlyBind,
    /// A sealed memfd copy of the binary.
    SealedMemfd,
}

/// A descriptor of the protected init binary, ready for `execveat`.
pub(crate) fn protect(path: &Path, how: ExeProtection) -> io::Result<OwnedFd> {
    match how {
        ExeProtection::SealedMemfd => sealed_memfd(path),
        ExeProtection::ReadOnlyBind => match read_only_bind(path) {
            Ok(fd) => Ok(fd),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPERM)
                        | Some(libc::ENOSYS)
                        | Some(libc::EINVAL)
                        | Some(libc::EOPNOTSUPP)
                ) =>
            {
                sealed_memfd(path)
            }
            Err(e) => Err(e),
        },
    }
}

fn read_only_bind(path: &Path) -> io::Result<OwnedFd> {
    let fd = rustix::mount::open_tree(
        rustix::fs::CWD,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    sys::mount_setattr(
        fd.as_fd(),
        false,
        &MountAttr {
            attr_set: (MountAttrFlags::MOUNT_ATTR_RDONLY | MountAttrFlags::MOUNT_ATTR_NODEV).bits()
                as u64,
            ..MountAttr::default()
        },
    )?;
    Ok(fd)
}

fn sealed_memfd(path: &Path) -> io::Result<OwnedFd> {
    let mut src = File::from(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?);
    let memfd = rustix::fs::memfd_create(
        "mydocker-init",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut dst = File::from(memfd);
    io::copy(&mut src, &mut dst)?;
    let memfd = OwnedFd::from(dst);
    rustix::fs::fcntl_add_seals(
        &memfd,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(memfd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_bind_refuses_writes() {
        // Needs CAP_SYS_ADMIN (root). A file that is not executing, so that ETXTBSY
        // cannot hide what the mount does.
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"binary").unwrap();
        let fd = read_only_bind(&bin).unwrap();
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        assert_eq!(std::fs::read(&path).unwrap(), b"binary");
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        // The file itself stays writable on the host: only the clone is read-only.
        std::fs::write(&bin, b"updated").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"updated");
    }

    #[test]
    fn memfd_copy_is_sealed_and_identical() {
        let fd = sealed_memfd(Path::new("/proc/self/exe")).unwrap();
        let seals = rustix::fs::fcntl_get_seals(&fd).unwrap();
        assert!(seals.contains(SealFlags::WRITE | SealFlags::SEAL));
        let copy = std::fs::read(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .unwrap();
        assert_eq!(copy, std::fs::read("/proc/self/exe").unwrap());
        // Writing through the descriptor's path is refused by the seals.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ))
            .unwrap();
        let err = std::io::Write::write_all(&mut f, b"pwned").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    }
}
