//! Finding out how cgroups are mounted: v1, v2 (unified) or hybrid.
//!
//! The root (normally `/sys/fs/cgroup`) is first asked for its filesystem magic with
//! `statfs(2)`: `cgroup2` there means a unified (v2) system. Otherwise the mount table
//! (`/proc/self/mountinfo`) lists the v1 hierarchies below the root and their controllers,
//! and a `cgroup2` mount beside them (usually `ROOT/unified`) makes the system a hybrid.
//! Hybrids are driven exactly like v1 systems: every controller we use lives in a v1
//! hierarchy there.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, WrapIoResult};
use crate::manager::AnyManager;
use crate::path::CgroupPath;
use crate::{v1, v2};

/// Where cgroups are normally mounted.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// `CGROUP2_SUPER_MAGIC` from `<linux/magic.h>`.
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// How the cgroup filesystems of this system are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Only v1 hierarchies, one (or a few co-mounted) controllers each.
    V1,
    /// One unified v2 hierarchy at the root.
    V2,
    /// v1 hierarchies plus a v2 mount (such as `/sys/fs/cgroup/unified`) that holds few or
    /// no controllers. Managed as v1.
    Hybrid,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
            Self::Hybrid => "hybrid",
        })
    }
}

/// The cgroup controllers this crate manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    /// CPU bandwidth and weight (`cpu.*`).
    Cpu,
    /// CPU accounting (v1 only; part of `cpu` in v2).
    Cpuacct,
    /// CPU and memory node placement (`cpuset.*`).
    Cpuset,
    /// Memory limits and accounting (`memory.*`).
    Memory,
    /// Process count limit (`pids.*`).
    Pids,
    /// Freezing (v1 `freezer.state`; v2's core `cgroup.freeze`).
    Freezer,
    /// Device access rules (v1 `devices.*`; needs eBPF on v2, not implemented).
    Devices,
    /// Block I/O weight and throttling (v1 `blkio.*`; v2's `io` controller, `io.*`).
    Blkio,
}

impl Controller {
    /// Every controller, in the order they are set up.
    pub const ALL: [Controller; 8] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
        Controller::Freezer,
        Controller::Devices,
        Controller::Blkio,
    ];

    /// The kernel's (v1) name for the controller.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cpuacct => "cpuacct",
            Self::Cpuset => "cpuset",
            Self::Memory => "memory",
            Self::Pids => "pids",
            Self::Freezer => "freezer",
            Self::Devices => "devices",
            Self::Blkio => "blkio",
        }
    }

    /// The kernel's name for the controller in cgroup v2's `cgroup.controllers` and
    /// `cgroup.subtree_control`: the same as [`name`](Self::name) except `io` for
    /// [`Controller::Blkio`].
    pub fn v2_name(self) -> &'static str {
        match self {
            Self::Blkio => "io",
            other => other.name(),
        }
    }

    /// The controller with the kernel name `name`, its v1 or its v2 name.
    pub fn from_name(name: &str) -> Option<Controller> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name || c.v2_name() == name)
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The cgroup filesystems of a system (or of a fake tree in tests): the layout and where
/// each hierarchy is mounted. Cheap to clone; holds no open files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupFs {
    layout: Layout,
    /// v1: the mount point of each controller's hierarchy (co-mounted controllers share one).
    v1: BTreeMap<Controller, PathBuf>,
    /// The cgroup2 mount: the root for [`Layout::V2`], the side mount for a hybrid.
    unified: Option<PathBuf>,
}

impl CgroupFs {
    /// Detects the layout under [`DEFAULT_ROOT`] from `statfs(2)` and `/proc/self/mountinfo`.
    pub fn detect() -> Result<CgroupFs> {
        Self::detect_at(Path::new(DEFAULT_ROOT))
    }

    /// Detects the layout of the cgroup mounts at or below `root`.
    pub fn detect_at(root: &Path) -> Result<CgroupFs> {
        let stat = rustix::fs::statfs(root).map_err(|e| Error::Statfs {
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets.
        if stat.f_type as u64 == CGROUP2_SUPER_MAGIC {
            return Ok(Self::v2(root.to_path_buf()));
        }
        let mountinfo = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(mountinfo).wrap_read(mountinfo)?;
        Self::from_mountinfo(&text, root)
    }

    /// Builds the layout from the text of a `mountinfo` file, keeping the cgroup mounts at
    /// or below `root`. No filesystem access: usable on captured or fake mount tables.
    pub fn from_mountinfo(mountinfo: &str, root: &Path) -> Result<CgroupFs> {
        let mut v1 = BTreeMap::new();
        let mut root_v2 = None;
        let mut side_v2 = None;
        for mount in mountinfo.lines().filter_map(parse_mountinfo_line) {
            if !mount.mount_point.starts_with(root) {
                continue;
            }
            match mount.fs_type {
                "cgroup2" if mount.mount_point == root => root_v2 = Some(mount.mount_point),
                "cgroup2" => {
                    side_v2.get_or_insert(mount.mount_point);
                }
                "cgroup" => {
                    for option in mount.super_options.split(',') {
                        if let Some(controller) = Controller::from_name(option) {
                            v1.entry(controller)
                                .or_insert_with(|| mount.mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(unified) = root_v2 {
            return Ok(Self::v2(unified));
        }
        if v1.is_empty() {
            return Err(Error::NoCgroupFs {
                root: root.to_path_buf(),
            });
        }
        let layout = if side_v2.is_some() {
            Layout::Hybrid
        } else {
            Layout::V1
        };
        Ok(CgroupFs {
            layout,
            v1,
            unified: side_v2,
        })
    }

    /// A unified (v2) hierarchy mounted at `root`. For tests, a temp dir works.
    pub fn v2(root: PathBuf) -> CgroupFs {
        CgroupFs {
            layout: Layout::V2,
            v1: BTreeMap::new(),
            unified: Some(root),
        }
    }

    /// v1 hierarchies: each controller with the mount point of its hierarchy. For tests,
    /// temp dirs work. Controllers mapped to the same path are co-mounted.
    pub fn v1(hierarchies: impl IntoIterator<Item = (Controller, PathBuf)>) -> CgroupFs {
        CgroupFs {
            layout: Layout::V1,
            v1: hierarchies.into_iter().collect(),
            unified: None,
        }
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The mount point of the v1 hierarchy holding `controller` (none on v2).
    pub fn v1_mount(&self, controller: Controller) -> Option<&Path> {
        self.v1.get(&controller).map(PathBuf::as_path)
    }

    /// The cgroup2 mount: the root on v2, the side mount of a hybrid, none on v1.
    pub fn unified_mount(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// Removes the cgroup at `path` in every hierarchy where it is empty (no processes,
    /// no children): for a parent a caller made for its cgroups (mydocker's default
    /// `mydocker`), once the last of them is gone. One still in use stays; a creation
    /// that races with the removal makes the parent again.
    ///
    /// # Errors
    /// A directory that could not be removed for another reason than being in use.
    pub fn remove_if_empty(&self, path: &CgroupPath) -> Result<()> {
        let mut first = None;
        for dir in self.manager(path).paths() {
            if let Err(e) = crate::fs::remove_if_empty(&dir) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The manager of the cgroup at `path` (relative to every hierarchy's root). Nothing is
    /// read or created until the manager's methods are called, so this also opens the
    /// cgroup of an existing container (for `exec`, `stats`, `pause` or `rm`).
    pub fn manager(&self, path: &CgroupPath) -> AnyManager {
        match (self.layout, &self.unified) {
            (Layout::V2, Some(root)) => Box::new(v2::V2Manager::new(root, path)),
            _ => Box::new(v1::V1Manager::new(self.v1.clone(), path, self.layout)),
        }
    }
}

/// One line of `/proc/PID/mountinfo`, the fields we use.
#[derive(Debug, PartialEq, Eq)]
struct MountInfo<'a> {
    mount_point: PathBuf,
    fs_type: &'a str,
    super_options: &'a str,
}

/// Parses `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`:
/// the mount point is field 5, then optional fields up to `-`, then type, source and super
/// options. Malformed lines are skipped.
fn parse_mountinfo_line(line: &str) -> Option<MountInfo<'_>> {
    let mut fields = line.split(' ');
    let mount_point = fields.nth(4)?;
    // Skip the mount options and the optional fields.
    let mut rest = fields.skip(1).skip_while(|f| *f != "-");
    rest.next()?;
    let fs_type = rest.next()?;
    let _source = rest.next()?;
    let super_options = rest.next()?;
    Some(MountInfo {
        mount_point: PathBuf::from(unescape_octal(mount_point)),
        fs_type,
        super_options,
    })
}

/// Undoes the kernel's `\NNN` octal escaping of spaces, tabs, newlines and backslashes.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's mount table (Debian 12, hybrid with hugetlb only in the v2 mount).
    const HYBRID: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
23 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd v1 system with co-mounted controllers and optional fields.
    const V1_COMOUNTED: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
28 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
";

    const V2: &str = "\
24 18 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn this_machines_hybrid_is_detected_as_hybrid_with_v1_controllers() {
        let fs = CgroupFs::from_mountinfo(HYBRID, Path::new(DEFAULT_ROOT)).unwrap();
        assert_eq!(fs.layout(), Layout::Hybrid);
        assert_eq!(
            fs.unified_mount(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        for (controller, dir) in [
            (Controller::Cpu, "cpu"),
            (Controller::Cpuacct, "cpuacct"),
            (Controller::Cpuset, "cpuset"),
            (Controller::Memory, "memory"),
            (Controller::Pids, "pids"),
            (Controller::Freezer, "freezer"),
            (Controller::Devices, "devices"),
            (Controller::Blkio, "blkio"),
        ] {
            assert_eq!(
                fs.v1_mount(controller),
                Some(Path::new(DEFAULT_ROOT).join(dir).as_path()),
                "{controller}"
            );
        }
    }

    #[test]
    fn comounted_v1_controllers_share_one_hierarchy() {
        let fs = CgroupFs::from_mountinfo(V1_COMOUNTED, Path::new(DEFAULT_ROOT)).unwrap();
        assert_eq!(fs.layout(), Layout::V1);
        let both = Path::new("/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(fs.v1_mount(Controller::Cpu), Some(both));
        assert_eq!(fs.v1_mount(Controller::Cpuacct), Some(both));
        assert_eq!(fs.v1_mount(Controller::Cpuset), None);
        assert_eq!(fs.v1_mount(Controller::Freezer), None);
        assert_eq!(fs.unified_mount(), None);
    }

    #[test]
    fn unified_root_is_v2() {
        let fs = CgroupFs::from_mountinfo(V2, Path::new(DEFAULT_ROOT)).unwrap();
        assert_eq!(fs.layout(), Layout::V2);
        assert_eq!(fs.unified_mount(), Some(Path::new(DEFAULT_ROOT)));
        assert_eq!(fs.v1_mount(Controller::Memory), None);
    }

    #[test]
    fn mounts_outside_the_root_are_ignored() {
        // The same hybrid, seen with another root: nothing is below it.
        let err = CgroupFs::from_mountinfo(HYBRID, Path::new("/elsewhere")).unwrap_err();
        assert!(matches!(err, Error::NoCgroupFs { ref root } if root == Path::new("/elsewhere")));
        assert_eq!(err.kind(), crate::ErrorKind::Unsupported);
        // A prefix that is not a path ancestor does not match either.
        let err = CgroupFs::from_mountinfo(HYBRID, Path::new("/sys/fs/cgr")).unwrap_err();
        assert!(matches!(err, Error::NoCgroupFs { .. }));
    }

    #[test]
    fn fake_roots_with_escaped_names_are_found() {
        let text = "\
50 1 0:40 / /tmp/fake\\040root/memory rw - cgroup cgroup rw,memory
51 1 0:41 / /tmp/fake\\040root/pids rw shared:3 master:2 - cgroup none rw,pids
garbage line
";
        let fs = CgroupFs::from_mountinfo(text, Path::new("/tmp/fake root")).unwrap();
        assert_eq!(fs.layout(), Layout::V1);
        assert_eq!(
            fs.v1_mount(Controller::Memory),
            Some(Path::new("/tmp/fake root/memory"))
        );
        assert_eq!(
            fs.v1_mount(Controller::Pids),
            Some(Path::new("/tmp/fake root/pids"))
        );
    }

    #[test]
    fn mountinfo_lines_parse_optional_fields() {
        let line = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue";
        let m = parse_mountinfo_line(line).unwrap();
        assert_eq!(m.mount_point, Path::new("/mnt2"));
        assert_eq!(m.fs_type, "ext3");
        assert_eq!(m.super_options, "rw,errors=continue");
        assert_eq!(parse_mountinfo_line("36 35 98:0 /mnt1"), None);
        assert_eq!(parse_mountinfo_line("36 35 98:0 / /m rw - ext3"), None);
    }

    #[test]
    fn octal_escapes_are_undone() {
        assert_eq!(unescape_octal("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(unescape_octal("/trailing\\04"), "/trailing\\04");
        assert_eq!(unescape_octal("/not\\999octal"), "/not\\999octal");
    }

    #[test]
    #[allow(clippy::print_stderr)] // `skipped: <reason>` where there is no cgroupfs
    fn this_machine_is_detected() {
        // Whatever this machine is, detection must agree with the mount table's shape.
        let Ok(fs) = CgroupFs::detect() else {
            eprintln!("skipped: no cgroup filesystem mounted at {DEFAULT_ROOT}");
            return;
        };
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let has_root_v2 = text
            .lines()
            .filter_map(parse_mountinfo_line)
            .any(|m| m.fs_type == "cgroup2" && m.mount_point == Path::new(DEFAULT_ROOT));
        assert_eq!(fs.layout() == Layout::V2, has_root_v2);
    }
}
