//! The container's /dev: docker's default devices and symlinks, and the terminal
//! allocated from the container's own devpts (with its /dev/console).

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::mount::OpenTreeFlags;

use super::mounts::attach;
use super::root::{Create, RootDir, Symlinks};
use crate::error::{InitFailure, Stage};

type Result<T> = std::result::Result<T, InitFailure>;

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Docker's default devices: null, zero, full, random, urandom, tty (all 0666 root:root).
fn default_devices() -> Vec<LinuxDevice> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| {
        let mut d = LinuxDevice::default();
        d.set_path(PathBuf::from("/dev").join(name));
        d.set_typ(LinuxDeviceType::C);
        d.set_major(major);
        d.set_minor(minor);
        d.set_file_mode(Some(0o666));
        d.set_uid(Some(0));
        d.set_gid(Some(0));
        d
    })
    .collect()
}

/// Create the default devices plus `linux.devices`, and docker's /dev symlinks.
pub(super) fn setup_dev(root: &RootDir, extra: &[LinuxDevice]) -> Result<()> {
    let mut devices = default_devices();
    for d in extra {
        devices.retain(|x| x.path() != d.path());
        devices.push(d.clone());
    }
    for d in &devices {
        create_device(root, d)
            .map_err(|e| InitFailure::os(Stage::Devices, "create device", &e).at(d.path()))?;
    }
    let dev = root
        .resolve(Path::new("/dev"), Create::Dir, Symlinks::FollowInRoot)
        .map_err(|e| InitFailure::os(Stage::Devices, "open", &e).at("/dev"))?;
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ];
    for (name, target) in links {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                return Err(InitFailure::os(Stage::Devices, "symlink", &e.into())
                    .at(Path::new("/dev").join(name)));
            }
        }
    }
    Ok(())
}

fn create_device(root: &RootDir, d: &LinuxDevice) -> io::Result<()> {
    let path = d.path();
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (p, n),
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let dir = root.resolve(parent, Create::Dir, Symlinks::FollowInRoot)?;
    let ft = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        LinuxDeviceType::A => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let rdev = rustix::fs::makedev(d.major() as u32, d.minor() as u32);
    let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
    let made = match rustix::fs::mknodat(&dir, name, ft, Mode::from_raw_mode(mode), rdev) {
        Err(rustix::io::Errno::EXIST) => {
            // Replace whatever the image put there (never follow it).
            rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty())?;
            rustix::fs::mknodat(&dir, name, ft, Mode::from_raw_mode(mode), rdev)
        }
        other => other,
    };
    match made {
        Ok(()) => {}
        // In a user namespace device nodes cannot be made: bind the host's instead.
        Err(rustix::io::Errno::PERM) => return bind_host_device(&dir, name, path),
        Err(e) => return Err(e.into()),
    }
    rustix::fs::chownat(
        &dir,
        name,
        d.uid().map(rustix::fs::Uid::from_raw),
        d.gid().map(rustix::fs::Gid::from_raw),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

/// Bind the host's device node at `host` (same path, seen before `pivot_root`) onto an
/// empty file `name` of `dir`. The node keeps the host's owner and mode.
fn bind_host_device(dir: &OwnedFd, name: &std::ffi::OsStr, host: &Path) -> io::Result<()> {
    let node = rustix::mount::open_tree(
        rustix::fs::CWD,
        host,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    let st = rustix::fs::fstat(&node)?;
    if !matches!(
        FileType::from_raw_mode(st.st_mode),
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo
    ) {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    match rustix::fs::openat(
        dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(f) => drop(f),
        Err(rustix::io::Errno::EXIST) => {
            rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty())?;
            return bind_host_device(dir, name, host);
        }
        Err(e) => return Err(e.into()),
    }
    let target = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    attach(&node, &target)
}

/// The terminal allocated inside the container.
pub(crate) struct Console {
    pub(crate) master: OwnedFd,
    pub(crate) slave: OwnedFd,
}

/// Open a pty from the container's devpts (`/dev/pts/ptmx`, checked to be a devpts),
/// sized as `size` (rows, columns) when given.
pub(crate) fn open_pty(root: &RootDir, size: Option<(u64, u64)>) -> Result<Console> {
    let err = |what: &str, e: io::Error| InitFailure::os(Stage::Console, what, &e);
    let pts = root
        .resolve(
            Path::new("/dev/pts"),
            Create::Nothing,
            Symlinks::FollowInRoot,
        )
        .map_err(|e| err("open /dev/pts", e))?;
    let magic = rustix::fs::fstatfs(&pts)
        .map_err(|e| err("statfs /dev/pts", e.into()))?
        .f_type as i64;
    if magic != DEVPTS_SUPER_MAGIC {
        return Err(InitFailure::new(
            Stage::Console,
            "/dev/pts is not a devpts mount",
        ));
    }
    let master = rustix::fs::openat(
        &pts,
        "ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open /dev/pts/ptmx", e.into()))?;
    rustix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e.into()))?;
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        rustix::pty::OpenptFlags::RDWR
            | rustix::pty::OpenptFlags::NOCTTY
            | rustix::pty::OpenptFlags::CLOEXEC,
    )
    .map_err(|e| err("open the pty slave", e.into()))?;
    if let Some((rows, cols)) = size.filter(|(r, c)| *r > 0 && *c > 0) {
        let ws = rustix::termios::Winsize {
            ws_row: rows.min(u16::MAX as u64) as u16,
            ws_col: cols.min(u16::MAX as u64) as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, ws)
            .map_err(|e| err("set the terminal size", e.into()))?;
    }
    Ok(Console { master, slave })
}

/// Bind the pty slave onto /dev/console.
pub(super) fn bind_console(root: &RootDir, console: &Console) -> Result<()> {
    let err = |what: &str, e: io::Error| InitFailure::os(Stage::Console, what, &e);
    let target = root
        .resolve(
            Path::new("/dev/console"),
            Create::File,
            Symlinks::FollowInRoot,
        )
        .map_err(|e| err("create /dev/console", e))?;
    let bind = rustix::mount::open_tree(
        &console.slave,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .map_err(|e| err("clone the pty slave mount", e.into()))?;
    attach(&bind, &target).map_err(|e| err("bind /dev/console", e))
}
