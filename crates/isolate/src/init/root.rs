//! Resolving paths inside the (hostile) rootfs.
//!
//! The image controls every file of the rootfs: `/proc`, `/dev`, `/etc/hosts`, a volume's
//! target or the workdir may be symlinks (absolute or `..`-climbing) meant to make the
//! runtime mount or create something on the host (CVE-2019-16884, CVE-2021-30465).
//! [`RootDir`] walks a path one component at a time from a directory descriptor of the
//! root, never with a path string the kernel would resolve on its own: every component
//! is opened with `O_NOFOLLOW` relative to the descriptor of its parent, `..` never goes
//! above the root, and a symlink is read and its target walked again from the root (or
//! its parent) as the kernel's `RESOLVE_IN_ROOT` does. Missing directories (and a final
//! file, on request) are created on the way, which also covers dangling symlinks inside
//! the root. The result is an `O_PATH` descriptor that mounts are attached to with
//! `move_mount`, so no path is resolved again afterwards.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{FileType, Mode, OFlags};

/// Symlinks followed in one resolution before giving up (as the kernel's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

/// What to create when the path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Nothing: fail with `ENOENT`.
    Nothing,
    /// Directories all the way.
    Dir,
    /// Directories, then an empty regular file as the last component.
    File,
}

/// How to treat symlinks met on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Symlinks {
    /// Follow them, scoped to the root.
    FollowInRoot,
    /// Follow them in the parent components, but return the final one itself.
    NoFollowLast,
    /// Refuse any symlink with `ELOOP` (mount points of procfs and sysfs).
    Refuse,
}

/// A directory treated as `/` for path resolution.
#[derive(Debug)]
pub(crate) struct RootDir {
    fd: OwnedFd,
}

impl RootDir {
    /// Open `path` (a trusted host path) as the root.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { fd })
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Resolve `path` inside the root; see the module documentation.
    pub(crate) fn resolve(
        &self,
        path: &Path,
        create: Create,
        symlinks: Symlinks,
    ) -> io::Result<OwnedFd> {
        self.walk(path, create, symlinks).map(|found| found.fd)
    }

    /// Read the regular file at `path` inside the root (symlinks followed inside it), at
    /// most `limit` bytes. `None` when it is missing or not a regular file: a FIFO or a
    /// device node planted by the image is never opened.
    pub(crate) fn read_file(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let found = match self.walk(path, Create::Nothing, Symlinks::FollowInRoot) {
            Ok(f) => f,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let st = rustix::fs::fstat(&found.fd)?;
        let Some((parent, name)) = found.parent else {
            return Ok(None);
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(None);
        }
        // An O_PATH descriptor cannot be read: open the same name again, without
        // following anything, and check that it still is the file that was checked.
        let fd = rustix::fs::openat(
            &parent,
            OsStr::from_bytes(&name),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let again = rustix::fs::fstat(&fd)?;
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) {
            return Err(io::Error::other("the file was replaced while being opened"));
        }
        let mut data = Vec::new();
        std::fs::File::from(fd).take(limit).read_to_end(&mut data)?;
        Ok(Some(data))
    }

    /// The walk behind [`RootDir::resolve`].
    fn walk(&self, path: &Path, create: Create, symlinks: Symlinks) -> io::Result<Found> {
        let mut w = Walk {
            queue: components(path).collect(),
            // Descriptors of the directories walked so far; index 0 is the root itself.
            stack: vec![self.fd.try_clone()?],
            links: 0,
        };
        loop {
            let Some(name) = w.queue.pop_front() else {
                // The path named the root (or climbed back to it).
                return w.top();
            };
            if name == b".." {
                if w.stack.len() > 1 {
                    w.stack.pop();
                }
                if w.queue.is_empty() {
                    return w.top();
                }
                continue;
            }
            let last = w.queue.is_empty();
            let parent = w.stack.last().ok_or(io::ErrorKind::NotFound)?;
            let name_os = OsStr::from_bytes(&name);
            match open_nofollow(parent.as_fd(), name_os) {
                Ok(fd) => {
                    let ft = file_type(fd.as_fd())?;
                    if ft == FileType::Symlink {
                        if last && symlinks == Symlinks::NoFollowLast {
                            return Ok(Found { fd, parent: None });
                        }
                        w.follow(name_os, symlinks)?;
                        continue;
                    }
                    if last {
                        let parent = w.stack.pop().map(|p| (p, name));
                        return Ok(Found { fd, parent });
                    }
                    if ft != FileType::Directory {
                        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
                    }
                    w.stack.push(fd);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create != Create::Nothing => {
                    create_missing(parent.as_fd(), name_os, last && create == Create::File)?;
                    // Created (or raced with another creator): look at it again.
                    w.queue.push_front(name);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What a walk ends on: the descriptor, and the directory it was found in with its name
/// there (not for the root itself, `..` or a symlink returned as such).
struct Found {
    fd: OwnedFd,
    parent: Option<(OwnedFd, Vec<u8>)>,
}

/// The state of one walk.
struct Walk {
    /// The components still to walk.
    queue: VecDeque<Vec<u8>>,
    /// The directories walked so far; index 0 is the root.
    stack: Vec<OwnedFd>,
    /// Symlinks followed so far.
    links: usize,
}

impl Walk {
    fn top(&mut self) -> io::Result<Found> {
        let fd = self.stack.pop().ok_or(io::ErrorKind::NotFound)?;
        Ok(Found { fd, parent: None })
    }

    /// Follow the symlink `name` of the current directory: its target's components are
    /// walked next, from the root for an absolute target.
    fn follow(&mut self, name: &OsStr, symlinks: Symlinks) -> io::Result<()> {
        if symlinks == Symlinks::Refuse {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let parent = self.stack.last().ok_or(io::ErrorKind::NotFound)?;
        if is_procfs(parent.as_fd())? {
            // procfs "magic links" point at objects, not paths.
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let target = rustix::fs::readlinkat(parent.as_fd(), name, Vec::new())?;
        let target = target.as_bytes();
        if target.first() == Some(&b'/') {
            self.stack.truncate(1);
        }
        for (i, c) in components(Path::new(OsStr::from_bytes(target))).enumerate() {
            self.queue.insert(i, c);
        }
        Ok(())
    }
}

/// Create a missing component: a directory, or an empty file when `file`.
fn create_missing(parent: BorrowedFd<'_>, name: &OsStr, file: bool) -> io::Result<()> {
    let res = if file {
        rustix::fs::openat(
            parent,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::WRONLY,
            Mode::from_raw_mode(0o644),
        )
        .map(drop)
    } else {
        rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755))
    };
    match res {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn open_nofollow(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The normal components of `path`, `..` kept (resolved against the walk), `.` and the
/// root dropped.
fn components(path: &Path) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.as_bytes().to_vec()),
        Component::ParentDir => Some(b"..".to_vec()),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// Whether `fd` is on a procfs.
pub(crate) fn is_procfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(rustix::fs::fstatfs(fd)?.f_type as i64 == libc::PROC_SUPER_MAGIC)
}

/// The file type behind a descriptor.
pub(crate) fn file_type(fd: BorrowedFd<'_>) -> io::Result<FileType> {
    Ok(FileType::from_raw_mode(rustix::fs::fstat(fd)?.st_mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn real_path(fd: &OwnedFd) -> std::path::PathBuf {
        std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))
        .unwrap()
    }

    #[test]
    fn creates_directories_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = RootDir::open(t.path()).unwrap();
        let fd = root
            .resolve(Path::new("/a/b/c"), Create::Dir, Symlinks::FollowInRoot)
            .unwrap();
        assert_eq!(real_path(&fd), t.path().join("a/b/c"));
        let f = root
            .resolve(Path::new("etc/hosts"), Create::File, Symlinks::FollowInRoot)
            .unwrap();
        assert_eq!(file_type(f.as_fd()).unwrap(), FileType::RegularFile);
        assert!(t.path().join("etc/hosts").is_file());
    }

    #[test]
    fn absolute_and_climbing_symlinks_stay_inside() {
        let host = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        // /proc -> <host dir>, /dev -> ../../../../<host dir>, /etc/hosts -> /../../x
        symlink(host.path(), t.path().join("proc")).unwrap();
        let climb = format!("../../../../../..{}", host.path().display());
        symlink(&climb, t.path().join("dev")).unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        symlink("/../../../hostfile", t.path().join("etc/hosts")).unwrap();
        let root = RootDir::open(t.path()).unwrap();

        let p = root
            .resolve(Path::new("/proc"), Create::Dir, Symlinks::FollowInRoot)
            .unwrap();
        assert!(real_path(&p).starts_with(t.path()), "{:?}", real_path(&p));
        let d = root
            .resolve(Path::new("/dev/pts"), Create::Dir, Symlinks::FollowInRoot)
            .unwrap();
        assert!(real_path(&d).starts_with(t.path()), "{:?}", real_path(&d));
        let h = root
            .resolve(
                Path::new("/etc/hosts"),
                Create::File,
                Symlinks::FollowInRoot,
            )
            .unwrap();
        assert_eq!(real_path(&h), t.path().join("hostfile"));
        // Nothing was created in the host directory.
        assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);

        let err = root
            .resolve(Path::new("/proc"), Create::Dir, Symlinks::Refuse)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        let link = root
            .resolve(Path::new("/proc"), Create::Nothing, Symlinks::NoFollowLast)
            .unwrap();
        assert_eq!(file_type(link.as_fd()).unwrap(), FileType::Symlink);
    }

    #[test]
    fn dotdot_never_leaves_the_root_and_loops_end() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("a")).unwrap();
        let root = RootDir::open(t.path()).unwrap();
        let fd = root
            .resolve(
                Path::new("../../a/../../a"),
                Create::Nothing,
                Symlinks::FollowInRoot,
            )
            .unwrap();
        assert_eq!(real_path(&fd), t.path().join("a"));
        symlink("loop", t.path().join("loop")).unwrap();
        let err = root
            .resolve(Path::new("/loop/x"), Create::Dir, Symlinks::FollowInRoot)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        std::fs::write(t.path().join("file"), b"").unwrap();
        let err = root
            .resolve(Path::new("/file/x"), Create::Dir, Symlinks::FollowInRoot)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn read_file_stays_inside_and_skips_special_files() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("passwd"), "host:x:1:1::/:/bin/sh\n").unwrap();
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::write(t.path().join("etc/group"), "root:x:0:\n").unwrap();
        // /etc/passwd -> <host>/passwd: followed inside the root, where it does not exist.
        symlink(host.path().join("passwd"), t.path().join("etc/passwd")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            t.path().join("etc/fifo").as_path(),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        symlink("/etc/group", t.path().join("etc/link")).unwrap();
        let root = RootDir::open(t.path()).unwrap();
        let read = |p: &str| root.read_file(Path::new(p), 1 << 20).unwrap();
        assert_eq!(read("/etc/group").as_deref(), Some(&b"root:x:0:\n"[..]));
        assert_eq!(read("etc/link").as_deref(), Some(&b"root:x:0:\n"[..]));
        assert_eq!(read("/etc/passwd"), None);
        assert_eq!(read("/etc/fifo"), None, "a FIFO is never opened");
        assert_eq!(read("/etc"), None);
        assert_eq!(read("/"), None);
        assert_eq!(read("/etc/group/x"), None);
        assert_eq!(read("/nope/x"), None);
        let short = root.read_file(Path::new("/etc/group"), 4).unwrap();
        assert_eq!(short.as_deref(), Some(&b"root"[..]));
    }
}
