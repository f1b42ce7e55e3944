//! The container's filesystem: propagation, the rootfs bind, `spec.mounts` through the
//! new mount API onto descriptors resolved inside the root, `pivot_root`, sysctls,
//! masked and read-only paths. (/dev and the console are in `dev`, the mounts that
//! assemble the rootfs in `rootfs`.)

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Mount;
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
    let bind = Bind::open(m, opts, Stage::Mount)?;
    let create = if bind.is_dir {
        Create::Dir
    } else {
        Create::File
    };
    let target = root
        .resolve(dest, create, Symlinks::FollowInRoot)
        .map_err(|e| mount_err(dest, "resolve destination", e))?;
    bind.attach(&target, opts, Stage::Mount)
        .map_err(|e| e.at(dest))
}

/// The cloned source tree of a bind mount, ready to be attached.
pub(super) struct Bind {
    tree: OwnedFd,
    /// Whether the source is a directory (else a file).
    pub(super) is_dir: bool,
}

impl Bind {
    /// Clone the tree at the mount's (absolute) source, recursively for `rbind`.
    /// Failures are reported at `stage`, with the mount's destination.
    pub(super) fn open(m: &Mount, opts: &MountOptions, stage: Stage) -> Result<Self> {
        let dest = m.destination();
        let err = |what: &str, e: io::Error| InitFailure::os(stage, what, &e).at(dest);
        let Some(source) = m.source().as_deref() else {
            return Err(InitFailure::new(stage, "bind mount without a source").at(dest));
        };
        if !source.is_absolute() {
            return Err(InitFailure::new(
                stage,
                format!("bind source {} is not absolute", source.display()),
            )
            .at(dest));
        }
        let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
        if opts.recursive {
            flags |= OpenTreeFlags::AT_RECURSIVE;
        }
        let tree = rustix::mount::open_tree(rustix::fs::CWD, source, flags)
            .map_err(|e| err(&format!("open bind source {}", source.display()), e.into()))?;
        let is_dir =
            file_type(tree.as_fd()).map_err(|e| err("stat bind source", e))? == FileType::Directory;
        Ok(Self { tree, is_dir })
    }

    /// Attach onto a resolved target of the same kind (directory or file), with the
    /// options' attributes and propagation. Failures carry no path: the caller adds it.
    pub(super) fn attach(&self, target: &OwnedFd, opts: &MountOptions, stage: Stage) -> Result<()> {
        let err = |what: &str, e: io::Error| InitFailure::os(stage, what, &e);
        let target_is_dir = file_type(target.as_fd()).map_err(|e| err("stat destination", e))?
            == FileType::Directory;
        if target_is_dir != self.is_dir {
            let what = if self.is_dir {
                "bind source is a directory but the destination is not"
            } else {
                "bind source is a file but the destination is a directory"
            };
            return Err(InitFailure::new(stage, what));
        }
        bind_attrs(&self.tree, opts.attr_set, opts.attr_clr, opts.recursive)
            .map_err(|e| err("mount_setattr", e))?;
        attach(&self.tree, target).map_err(|e| err("move_mount", e))?;
        if let Some(p) = opts.propagation {
            set_propagation(&self.tree, p).map_err(|e| err("propagation", e))?;
        }
        Ok(())
    }
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

/// Clones `/dev/shm` of the mount namespace at `mnt_ns` (entered for the clone, then
/// left again) onto the container's `/dev/shm`: both then share one tmpfs.
pub(super) fn share_shm(root: &RootDir, mnt_ns: &Path) -> Result<()> {
    let dest = Path::new("/dev/shm");
    let err = |what: &str, e: io::Error| InitFailure::os(Stage::Mount, what, &e).at(dest);
    let open = |p: &Path| {
        rustix::fs::open(
            p,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| err(&format!("open {}", p.display()), e.into()))
    };
    let own = open(Path::new("/proc/self/ns/mnt"))?;
    let donor = open(mnt_ns)?;
    sys::setns(donor.as_fd(), libc::CLONE_NEWNS).map_err(|e| err("setns (donor)", e))?;
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        dest,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    );
    sys::setns(own.as_fd(), libc::CLONE_NEWNS).map_err(|e| err("setns (back)", e))?;
    let tree = tree.map_err(|e| err("clone the shared /dev/shm", e.into()))?;
    let target = root
        .resolve(dest, Create::Dir, Symlinks::FollowInRoot)
        .map_err(|e| err("resolve", e))?;
    attach(&tree, &target).map_err(|e| err("move_mount", e))
}
