//! A spec mount of type `cgroup` at `/sys/fs/cgroup`: the container's own cgroup,
//! read-only, as runc mounts it.
//!
//! - cgroup v1 (and hybrid): a tmpfs with, per hierarchy of the host, a read-only bind of
//!   the container's own directory (`linux.cgroupsPath` in that hierarchy, which exists
//!   before the init starts); the host's symlinks (`cpu,cpuacct`) are kept. Done with the
//!   other spec mounts, before `pivot_root`, while the host's hierarchies are visible.
//! - cgroup v2: a fresh, read-only cgroup2 mount made after the go-ahead, once the init
//!   is in its cgroup and (with a cgroup namespace) has made the namespace rooted there.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountAttrFlags, OpenTreeFlags};

use super::mounts::{attach, new_fs_mount};
use super::root::{Create, RootDir, Symlinks};
use crate::error::{InitFailure, Stage};
use crate::mountopt::MountOptions;
use crate::sys::{self, MountAttr};

type Result<T> = std::result::Result<T, InitFailure>;

const HOST_CGROUP: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const RO: MountAttrFlags = MountAttrFlags::MOUNT_ATTR_RDONLY
    .union(MountAttrFlags::MOUNT_ATTR_NOSUID)
    .union(MountAttrFlags::MOUNT_ATTR_NODEV)
    .union(MountAttrFlags::MOUNT_ATTR_NOEXEC);

fn fail(dest: &Path, what: &str, e: io::Error) -> InitFailure {
    InitFailure::os(Stage::Mount, what, &e).at(dest)
}

/// Whether the host's `/sys/fs/cgroup` is a cgroup2 (unified) mount.
// `f_type` is not an i64 on every architecture.
#[allow(clippy::unnecessary_cast)]
pub(super) fn host_is_v2() -> bool {
    rustix::fs::statfs(HOST_CGROUP).is_ok_and(|s| s.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// The hierarchies mounted under the host's `/sys/fs/cgroup` (name, mount point), from
/// `mountinfo` text.
fn hierarchies(mountinfo: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or("");
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        if !matches!(fstype, "cgroup" | "cgroup2") {
            continue;
        }
        if let Some(name) = point.strip_prefix("/sys/fs/cgroup/")
            && !name.is_empty()
            && !name.contains('/')
        {
            out.push((name.to_owned(), PathBuf::from(point)));
        }
    }
    out
}

/// v1: a read-only tmpfs at `m.destination()` with the container's own directory of each
/// host hierarchy bound read-only under the hierarchy's name.
pub(super) fn mount_v1(root: &RootDir, m: &Mount, cgroups_path: Option<&Path>) -> Result<()> {
    let dest = m.destination();
    let Some(own) = cgroups_path else {
        return Err(InitFailure::new(
            Stage::Mount,
            "a cgroup mount on cgroup v1 needs linux.cgroupsPath",
        )
        .at(dest));
    };
    let own = own.strip_prefix("/").unwrap_or(own);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| fail(dest, "read mountinfo", e))?;
    let target = root
        .resolve(dest, Create::Dir, Symlinks::FollowInRoot)
        .map_err(|e| fail(dest, "resolve destination", e))?;
    let opts = MountOptions::parse(&["nosuid", "nodev", "noexec", "mode=755"]);
    let tmpfs = new_fs_mount("tmpfs", Some("tmpfs"), &opts).map_err(|e| e.at(dest))?;
    // The tree is filled while detached, attached, and only then gets the binds: older
    // kernels (before 6.15) refuse to attach a mount onto a detached tree.
    let mut binds = Vec::new();
    for (name, point) in hierarchies(&mountinfo) {
        let source = point.join(own);
        if !source.is_dir() {
            continue;
        }
        let tree = rustix::mount::open_tree(
            rustix::fs::CWD,
            &source,
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )
        .map_err(|e| fail(dest, &format!("clone {}", source.display()), e.into()))?;
        set_ro(&tree).map_err(|e| fail(dest, "mount_setattr", e))?;
        rustix::fs::mkdirat(&tmpfs, name.as_str(), Mode::from_raw_mode(0o555))
            .map_err(|e| fail(dest, &format!("mkdir {name}"), e.into()))?;
        binds.push((name, tree));
    }
    // The host's links between hierarchies (`cpu -> cpu,cpuacct`).
    if let Ok(entries) = std::fs::read_dir(HOST_CGROUP) {
        for e in entries.flatten() {
            if let Ok(link) = std::fs::read_link(e.path())
                && !link.is_absolute()
            {
                rustix::fs::symlinkat(&link, &tmpfs, e.file_name().as_os_str())
                    .map_err(|e| fail(dest, "symlink", e.into()))?;
            }
        }
    }
    attach(&tmpfs, &target).map_err(|e| fail(dest, "move_mount", e))?;
    for (name, tree) in binds {
        let sub = rustix::fs::openat(
            &tmpfs,
            name.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(dest, &format!("open {name}"), e.into()))?;
        attach(&tree, &sub).map_err(|e| fail(dest, &format!("move_mount {name}"), e))?;
    }
    set_ro(&tmpfs).map_err(|e| fail(dest, "mount_setattr", e))
}

/// v2, after `pivot_root`: a read-only cgroup2 mount at `m.destination()`.
pub(super) fn mount_v2(m: &Mount) -> Result<()> {
    let dest = m.destination();
    let root = RootDir::open(Path::new("/")).map_err(|e| fail(dest, "open /", e))?;
    let target = root
        .resolve(dest, Create::Nothing, Symlinks::FollowInRoot)
        .map_err(|e| fail(dest, "resolve destination", e))?;
    let opts = MountOptions::parse(&["nosuid", "nodev", "noexec"]);
    let mnt = new_fs_mount("cgroup2", Some("cgroup2"), &opts).map_err(|e| e.at(dest))?;
    set_ro(&mnt).map_err(|e| fail(dest, "mount_setattr", e))?;
    attach(&mnt, &target).map_err(|e| fail(dest, "move_mount", e))
}

fn set_ro(mnt: &OwnedFd) -> io::Result<()> {
    sys::mount_setattr(
        mnt.as_fd(),
        true,
        &MountAttr {
            attr_set: RO.bits() as u64,
            ..MountAttr::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchies_under_sys_fs_cgroup() {
        let info = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    40 31 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                    50 23 0:40 / /mnt/x rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            hierarchies(info),
            [
                ("cpu".to_owned(), PathBuf::from("/sys/fs/cgroup/cpu")),
                (
                    "unified".to_owned(),
                    PathBuf::from("/sys/fs/cgroup/unified")
                ),
            ]
        );
    }
}
