//! The container's filesystem: propagation, the rootfs bind, `spec.mounts` through the
//! new mount API onto descriptors resolved inside the root, /dev, the console,
//! `pivot_root`, masked and read-only paths.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountPropagationFlags, MoveMountFlags,
    OpenTreeFlags, UnmountFlags,
};

use super::root::{Create, RootDir, Symlinks, file_type, is_procfs};
use crate::error::{InitFailure, Stage};
use crate::mountopt::{FsParam, MountOptions, Propagation};
use crate::sys::{self, MountAttr};

type Result<T> = std::result::Result<T, InitFailure>;

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

fn mount_err(dest: &Path, what: &str, e: impl Into<io::Error>) -> InitFailure {
    InitFailure::os(Stage::Mount, what, &e.into()).at(dest)
}

/// Make the whole mount tree of our new namespace slave (or what the spec asks), so that
/// nothing we mount propagates to the host.
pub(super) fn set_root_propagation(spec_value: Option<&str>) -> Result<()> {
    let flags = match spec_value {
        None | Some("") | Some("rslave") => {
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC
        }
        Some("slave") => MountPropagationFlags::DOWNSTREAM,
        Some("rprivate") => MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        Some("private") => MountPropagationFlags::PRIVATE,
        // Shared: first cut from the host (rslave), the rootfs is made shared after the pivot.
        Some("rshared") | Some("shared") | Some("runbindable") | Some("unbindable") => {
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC
        }
        Some(other) => {
            return Err(InitFailure::new(
                Stage::Propagation,
                format!("unknown rootfsPropagation {other:?}"),
            ));
        }
    };
    rustix::mount::mount_change("/", flags)
        .map_err(|e| InitFailure::os(Stage::Propagation, "make / slave", &e.into()))
}

/// After the pivot, apply a shared/unbindable rootfs propagation if asked.
pub(super) fn finish_root_propagation(spec_value: Option<&str>) -> Result<()> {
    let Some(p) = spec_value.and_then(Propagation::parse) else {
        return Ok(());
    };
    if p.kind != libc::MS_SHARED && p.kind != libc::MS_UNBINDABLE {
        return Ok(());
    }
    let mut flags = MountPropagationFlags::from_bits_retain(p.kind as u32);
    if p.recursive {
        flags |= MountPropagationFlags::REC;
    }
    rustix::mount::mount_change("/", flags)
        .map_err(|e| InitFailure::os(Stage::Propagation, "rootfs propagation", &e.into()))
}

/// Bind the rootfs onto itself (pivot_root needs a mount point) and open it as the root.
pub(super) fn bind_rootfs(rootfs: &Path) -> Result<RootDir> {
    rustix::mount::mount_bind_recursive(rootfs, rootfs)
        .map_err(|e| InitFailure::os(Stage::Rootfs, "bind rootfs", &e.into()).at(rootfs))?;
    RootDir::open(rootfs).map_err(|e| InitFailure::os(Stage::Rootfs, "open rootfs", &e).at(rootfs))
}

/// A descriptor of the host's /dev/null, kept across the pivot to mask files.
pub(super) fn open_host_devnull() -> Result<OwnedFd> {
    let fd = rustix::fs::open("/dev/null", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| InitFailure::os(Stage::MaskedPaths, "open /dev/null", &e.into()))?;
    let st = rustix::fs::fstat(&fd)
        .map_err(|e| InitFailure::os(Stage::MaskedPaths, "stat /dev/null", &e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || rustix::fs::major(st.st_rdev) != 1
        || rustix::fs::minor(st.st_rdev) != 3
    {
        return Err(InitFailure::new(
            Stage::MaskedPaths,
            "/dev/null is not the null device",
        ));
    }
    Ok(fd)
}

/// Whether a spec mount is a bind mount.
pub(super) fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|s| s == "bind" || s == "rbind"))
}

/// Whether a spec mount is a `cgroup` mount (done after the go-ahead).
pub(super) fn is_cgroup(m: &Mount) -> bool {
    matches!(m.typ().as_deref(), Some("cgroup") | Some("cgroup2"))
}

/// Mount one entry of `spec.mounts` inside the root.
pub(super) fn mount_one(root: &RootDir, m: &Mount) -> Result<()> {
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(InitFailure::new(Stage::Mount, "mount destination must be absolute").at(dest));
    }
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    if is_bind(m) {
        return bind_mount(root, m, &opts);
    }
    let typ = m.typ().as_deref().unwrap_or("");
    if typ.is_empty() {
        return Err(InitFailure::new(Stage::Mount, "mount has no type").at(dest));
    }
    // procfs and sysfs must land on a plain directory: a symlink there is an attack
    // (CVE-2019-16884), so any symlink on the way is refused.
    let symlinks = match typ {
        "proc" | "sysfs" => Symlinks::Refuse,
        _ => Symlinks::FollowInRoot,
    };
    let target = root
        .resolve(dest, Create::Dir, symlinks)
        .map_err(|e| mount_err(dest, "resolve destination", e))?;
    if file_type(target.as_fd()).map_err(|e| mount_err(dest, "stat destination", e))?
        != FileType::Directory
    {
        return Err(InitFailure::new(Stage::Mount, "destination is not a directory").at(dest));
    }
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    let mnt = new_fs_mount(typ, source.as_deref(), &opts).map_err(|e| e.at(dest))?;
    attach(&mnt, &target).map_err(|e| mount_err(dest, "move_mount", e))?;
    if let Some(p) = opts.propagation {
        set_propagation(&mnt, p).map_err(|e| mount_err(dest, "propagation", e))?;
    }
    if typ == "proc" {
        // Check that what is now at the destination really is a procfs.
        let check = root
            .resolve(dest, Create::Nothing, Symlinks::Refuse)
            .map_err(|e| mount_err(dest, "reopen", e))?;
        if !is_procfs(check.as_fd()).map_err(|e| mount_err(dest, "statfs", e))? {
            return Err(InitFailure::new(Stage::Mount, "not a procfs after mounting").at(dest));
        }
    }
    Ok(())
}

/// Create a detached mount of a new filesystem instance.
pub(super) fn new_fs_mount(
    typ: &str,
    source: Option<&str>,
    opts: &MountOptions,
) -> Result<OwnedFd> {
    let fs = rustix::mount::fsopen(typ, FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| InitFailure::os(Stage::Mount, &format!("fsopen {typ}"), &e.into()))?;
    let fail = |what: String, e: rustix::io::Errno| {
        let detail = fs_log(fs.as_fd());
        let mut f = InitFailure::os(Stage::Mount, &what, &e.into());
        if !detail.is_empty() {
            f.message = format!("{} ({detail})", f.message);
        }
        f
    };
    if let Some(src) = source.filter(|s| !s.is_empty()) {
        rustix::mount::fsconfig_set_string(&fs, "source", src)
            .map_err(|e| fail("source".into(), e))?;
    }
    for p in &opts.params {
        match p {
            FsParam::Flag(k) => rustix::mount::fsconfig_set_flag(&fs, k.as_str()),
            FsParam::Value(k, v) => rustix::mount::fsconfig_set_string(&fs, k.as_str(), v.as_str()),
        }
        .map_err(|e| fail(format!("option {p:?}"), e))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(|e| fail(format!("create {typ}"), e))?;
    rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, opts.attr_set)
        .map_err(|e| fail(format!("fsmount {typ}"), e))
}

/// The filesystem context's error log, if any.
fn fs_log(fs: BorrowedFd<'_>) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..8 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => {
                if !out.is_empty() {
                    out.push(b';');
                }
                out.extend_from_slice(&buf[..n]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).trim().to_string()
}

/// Attach a detached mount onto a resolved target descriptor.
pub(super) fn attach(mnt: &OwnedFd, target: &OwnedFd) -> io::Result<()> {
    rustix::mount::move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(())
}

fn set_propagation(mnt: &OwnedFd, p: Propagation) -> io::Result<()> {
    sys::mount_setattr(
        mnt.as_fd(),
        p.recursive,
        &MountAttr {
            propagation: p.kind,
            ..MountAttr::default()
        },
    )
}

fn bind_mount(root: &RootDir, m: &Mount, opts: &MountOptions) -> Result<()> {
    let dest = m.destination();
    let Some(source) = m.source().as_deref() else {
        return Err(InitFailure::new(Stage::Mount, "bind mount without a source").at(dest));
    };
    if !source.is_absolute() {
        return Err(InitFailure::new(
            Stage::Mount,
            format!("bind source {} is not absolute", source.display()),
        )
        .at(dest));
    }
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if opts.recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let src = rustix::mount::open_tree(rustix::fs::CWD, source, flags)
        .map_err(|e| mount_err(dest, &format!("open bind source {}", source.display()), e))?;
    let is_dir = file_type(src.as_fd()).map_err(|e| mount_err(dest, "stat bind source", e))?
        == FileType::Directory;
    let create = if is_dir { Create::Dir } else { Create::File };
    let target = root
        .resolve(dest, create, Symlinks::FollowInRoot)
        .map_err(|e| mount_err(dest, "resolve destination", e))?;
    let target_is_dir = file_type(target.as_fd())
        .map_err(|e| mount_err(dest, "stat destination", e))?
        == FileType::Directory;
    if target_is_dir != is_dir {
        let what = if is_dir {
            "bind source is a directory but the destination is not"
        } else {
            "bind source is a file but the destination is a directory"
        };
        return Err(InitFailure::new(Stage::Mount, what).at(dest));
    }
    bind_attrs(&src, opts.attr_set, opts.attr_clr, opts.recursive)
        .map_err(|e| mount_err(dest, "mount_setattr", e))?;
    attach(&src, &target).map_err(|e| mount_err(dest, "move_mount", e))?;
    if let Some(p) = opts.propagation {
        set_propagation(&src, p).map_err(|e| mount_err(dest, "propagation", e))?;
    }
    Ok(())
}

fn bind_attrs(
    mnt: &OwnedFd,
    set: MountAttrFlags,
    clr: MountAttrFlags,
    recursive: bool,
) -> io::Result<()> {
    if set.is_empty() && clr.is_empty() {
        return Ok(());
    }
    sys::mount_setattr(
        mnt.as_fd(),
        recursive,
        &MountAttr {
            attr_set: set.bits() as u64,
            attr_clr: clr.bits() as u64,
            ..MountAttr::default()
        },
    )
}

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
    let (ft, kind) = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => (FileType::CharacterDevice, libc::S_IFCHR),
        LinuxDeviceType::B => (FileType::BlockDevice, libc::S_IFBLK),
        LinuxDeviceType::P => (FileType::Fifo, libc::S_IFIFO),
        LinuxDeviceType::A => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let rdev = rustix::fs::makedev(d.major() as u32, d.minor() as u32);
    let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
    match rustix::fs::mknodat(&dir, name, ft, Mode::from_raw_mode(mode), rdev) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => {
            // Replace whatever the image put there (never follow it).
            rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty())?;
            rustix::fs::mknodat(&dir, name, ft, Mode::from_raw_mode(mode), rdev)?;
        }
        Err(e) => return Err(e.into()),
    }
    let _ = kind;
    rustix::fs::chownat(
        &dir,
        name,
        d.uid().map(rustix::fs::Uid::from_raw),
        d.gid().map(rustix::fs::Gid::from_raw),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
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

/// `pivot_root` into the rootfs and detach the old root.
pub(super) fn pivot(root: &RootDir) -> Result<()> {
    let err = |what: &str, e: rustix::io::Errno| InitFailure::os(Stage::PivotRoot, what, &e.into());
    rustix::process::fchdir(root.as_fd()).map_err(|e| err("chdir rootfs", e))?;
    // pivot_root(".", ".") stacks the old root on top of the new one at "/"; it is then
    // made a slave (so the unmount does not propagate) and lazily detached.
    rustix::process::pivot_root(".", ".").map_err(|e| err("pivot_root", e))?;
    rustix::mount::mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(|e| err("make old root slave", e))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(|e| err("detach old root", e))?;
    rustix::process::chdir("/").map_err(|e| err("chdir /", e))?;
    Ok(())
}

/// Mask `linux.maskedPaths`: directories get an empty read-only tmpfs, files /dev/null.
pub(super) fn mask_paths(root: &RootDir, paths: &[String], devnull: &OwnedFd) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        let target = match root.resolve(path, Create::Nothing, Symlinks::NoFollowLast) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(InitFailure::os(Stage::MaskedPaths, "resolve", &e).at(path)),
        };
        let ft = file_type(target.as_fd())
            .map_err(|e| InitFailure::os(Stage::MaskedPaths, "stat", &e).at(path))?;
        let mnt = match ft {
            FileType::Symlink => continue,
            FileType::Directory => {
                let opts = MountOptions {
                    attr_set: MountAttrFlags::MOUNT_ATTR_RDONLY,
                    ..MountOptions::default()
                };
                new_fs_mount("tmpfs", Some("tmpfs"), &opts).map_err(|e| e.at(path))?
            }
            _ => rustix::mount::open_tree(
                devnull,
                "",
                OpenTreeFlags::OPEN_TREE_CLONE
                    | OpenTreeFlags::OPEN_TREE_CLOEXEC
                    | OpenTreeFlags::AT_EMPTY_PATH,
            )
            .map_err(|e| {
                InitFailure::os(Stage::MaskedPaths, "clone /dev/null", &e.into()).at(path)
            })?,
        };
        attach(&mnt, &target)
            .map_err(|e| InitFailure::os(Stage::MaskedPaths, "mount", &e).at(path))?;
    }
    Ok(())
}

/// Make `linux.readonlyPaths` read-only bind mounts of themselves.
pub(super) fn readonly_paths(root: &RootDir, paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        let target = match root.resolve(path, Create::Nothing, Symlinks::FollowInRoot) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(InitFailure::os(Stage::ReadonlyPaths, "resolve", &e).at(path)),
        };
        make_readonly(&target)
            .map_err(|e| InitFailure::os(Stage::ReadonlyPaths, "bind read-only", &e).at(path))?;
    }
    Ok(())
}

fn make_readonly(target: &OwnedFd) -> io::Result<()> {
    let clone = rustix::mount::open_tree(
        target,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH
            | OpenTreeFlags::AT_RECURSIVE,
    )?;
    bind_attrs(
        &clone,
        MountAttrFlags::MOUNT_ATTR_RDONLY,
        MountAttrFlags::empty(),
        true,
    )?;
    attach(&clone, target)
}

/// `root.readonly`: remount the container's / read-only (after the pivot).
pub(super) fn readonly_root() -> Result<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| InitFailure::os(Stage::ReadonlyPaths, "open /", &e.into()))?;
    sys::mount_setattr(
        root.as_fd(),
        false,
        &MountAttr {
            attr_set: MountAttrFlags::MOUNT_ATTR_RDONLY.bits() as u64,
            ..MountAttr::default()
        },
    )
    .map_err(|e| InitFailure::os(Stage::ReadonlyPaths, "remount / read-only", &e).at("/"))
}

/// Write `linux.sysctl` through the container's verified procfs.
pub(super) fn write_sysctls(root: &RootDir, sysctls: &[(String, String)]) -> Result<()> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let proc = root
        .resolve(Path::new("/proc"), Create::Nothing, Symlinks::Refuse)
        .map_err(|e| InitFailure::os(Stage::Sysctl, "open /proc", &e))?;
    if !is_procfs(proc.as_fd()).map_err(|e| InitFailure::os(Stage::Sysctl, "statfs /proc", &e))? {
        return Err(InitFailure::new(Stage::Sysctl, "/proc is not a procfs"));
    }
    for (key, value) in sysctls {
        let rel = format!("sys/{}", key.replace('.', "/"));
        let fd = rustix::fs::openat2(
            &proc,
            rel.as_str(),
            OFlags::WRONLY | OFlags::CLOEXEC | OFlags::TRUNC,
            Mode::empty(),
            rustix::fs::ResolveFlags::BENEATH
                | rustix::fs::ResolveFlags::NO_SYMLINKS
                | rustix::fs::ResolveFlags::NO_XDEV,
        )
        .map_err(|e| InitFailure::os(Stage::Sysctl, &format!("open {key}"), &e.into()))?;
        rustix::io::write(&fd, value.as_bytes()).map_err(|e| {
            InitFailure::os(Stage::Sysctl, &format!("write {key}={value}"), &e.into())
        })?;
    }
    Ok(())
}
