//! One scenario suite for every layout: each scenario in [`scenarios`] is written once,
//! against a [`Fake`] cgroupfs in a temp dir, and instantiated below for the fake kernels
//! of [`kernels`]: v1, v2 and hybrid (v1 hierarchies beside a cgroup2 side mount).
//!
//! A scenario drives the manager through the [`crate::CgroupManager`] trait only. What
//! differs between layouts (which files the kernel has, what they hold after a limit is
//! set, how it reports usage, freezing and OOM kills) is the [`Kernel`]'s to say, so a
//! scenario never matches on the layout.

mod kernels;
mod scenarios;

use std::collections::BTreeMap;
use std::fs;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};

use crate::{AnyManager, CgroupFs, CgroupPath, Controller, Layout};

/// The container cgroup of every scenario, and its parent.
const CGROUP: &str = "mydocker/ctr";
const PARENT: &str = "mydocker";
const MIB: i64 = 1 << 20;

/// A fake kernel: how one layout lays out and fills its cgroup files.
pub(crate) trait Kernel {
    /// The layout the manager of this fake reports.
    const LAYOUT: Layout;

    /// The controllers whose absence is reported, in the order of the warnings.
    const MANAGED: &'static [Controller];

    /// Builds a fake system under `root` with the `present` controllers (those the layout
    /// does not know are ignored), and the kernel's files in the hierarchy roots and in
    /// every level of `cgroup`, as after the kernel's `mkdir`.
    fn build(root: &Path, present: &[Controller], cgroup: &str) -> CgroupFs;

    /// The directory of `cgroup` that holds `controller`'s files.
    fn dir(root: &Path, controller: Controller, cgroup: &str) -> PathBuf;

    /// The files, relative to the root, and their content once [`docker_like`] resources
    /// were applied to [`CGROUP`].
    fn limit_files() -> Vec<(&'static str, &'static str, String)>;

    /// The files that show the freezer state, relative to the root, once frozen or thawed.
    fn freezer_files(frozen: bool) -> Vec<(&'static str, &'static str, &'static str)>;

    /// The files that show a `kill_all` happened on an empty cgroup.
    fn kill_files() -> Vec<(&'static str, &'static str, &'static str)>;

    /// Makes the kernel report the cgroup as frozen or not, as it would once the
    /// processes stopped (or went on).
    fn report_frozen(root: &Path, frozen: bool);

    /// Writes the usage counters the kernel would show for `usage`.
    fn report_usage(root: &Path, usage: &Usage);

    /// Makes the kernel count one OOM kill in the cgroup.
    fn report_oom_kill(root: &Path);
}

/// Usage counters a scenario makes the kernel report, in the manager's units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    pub(crate) cpu_ns: u64,
    pub(crate) periods: u64,
    pub(crate) throttled_periods: u64,
    pub(crate) throttled_ns: u64,
    pub(crate) memory: u64,
    pub(crate) memory_limit: u64,
    pub(crate) pids: u64,
}

/// A fake system in a temp dir (removed on drop) and the manager of [`CGROUP`] on it.
pub(crate) struct Fake<K: Kernel> {
    tmp: tempfile::TempDir,
    fs: CgroupFs,
    kernel: PhantomData<K>,
}

impl<K: Kernel> Fake<K> {
    /// A system offering `present`, with [`CGROUP`] already made by the kernel.
    pub(crate) fn new(present: &[Controller]) -> Self {
        Self::build(present, CGROUP)
    }

    /// A system offering `present` where only [`PARENT`] exists.
    pub(crate) fn without_leaf(present: &[Controller]) -> Self {
        Self::build(present, PARENT)
    }

    fn build(present: &[Controller], levels: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let fs = K::build(tmp.path(), present, levels);
        Fake {
            tmp,
            fs,
            kernel: PhantomData,
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub(crate) fn manager(&self) -> AnyManager {
        self.fs.manager(&CgroupPath::new(CGROUP).unwrap())
    }

    /// The container cgroup's directory holding `controller`'s files.
    pub(crate) fn dir(&self, controller: Controller) -> PathBuf {
        K::dir(self.root(), controller, CGROUP)
    }

    /// The parent cgroup's directory holding `controller`'s files.
    pub(crate) fn parent_dir(&self, controller: Controller) -> PathBuf {
        K::dir(self.root(), controller, PARENT)
    }

    /// The content of `relative/file` under the root, without the trailing newline.
    pub(crate) fn read(&self, relative: &str, file: &str) -> String {
        let path = self.root().join(relative).join(file);
        let content =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        content.trim_end().to_string()
    }

    /// Asserts that each `(dir, file, content)` holds what it says.
    pub(crate) fn assert_files<S: AsRef<str>>(&self, expected: &[(&str, &str, S)]) {
        for (dir, file, content) in expected {
            assert_eq!(
                self.read(dir, file),
                content.as_ref(),
                "{}",
                Path::new(dir).join(file).display()
            );
        }
    }

    /// Every file under the root and its content.
    pub(crate) fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), fs::read_to_string(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(self.root(), &mut files);
        files
    }

    /// cgroupfs lets `rmdir` take a cgroup together with its control files; a temp dir
    /// does not. The fake forgets the files of `dirs` so that they can be removed.
    pub(crate) fn forget_kernel_files(&self, dirs: &[PathBuf]) {
        for dir in dirs {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    fs::remove_file(path).unwrap();
                }
            }
        }
    }
}

/// What `docker run --cpu-shares 512 --cpus 0.5 --cpuset-cpus 1 -m 32m --memory-swap 64m
/// --pids-limit 20 --blkio-weight 300 --device-read-bps /dev/sda:1mb` asks for.
pub(crate) fn docker_like() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("1")
                .build()
                .unwrap(),
        )
        .memory(
            LinuxMemoryBuilder::default()
                .limit(32 * MIB)
                .swap(64 * MIB)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(20i64).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(300u16)
                .throttle_read_bps_device(vec![
                    LinuxThrottleDeviceBuilder::default()
                        .major(8i64)
                        .minor(0i64)
                        .rate(1u64 << 20)
                        .build()
                        .unwrap(),
                ])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// Instantiates the named scenarios for one kernel.
macro_rules! scenarios_for {
    ($kernel:ty: $($scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                super::scenarios::$scenario::<$kernel>();
            }
        )+
    };
}

/// Instantiates every scenario for one kernel.
macro_rules! suite {
    ($kernel:ty) => {
        scenarios_for!($kernel:
            limits_reach_the_kernel_files,
            invalid_resources_are_refused_before_anything_is_written,
            a_missing_controller_is_an_error_when_asked_for_and_a_warning_otherwise,
            tasks_join_every_directory_and_descendants_count,
            freeze_and_thaw_follow_the_kernel,
            stats_and_oom_kills_come_from_the_kernel_counters,
            kill_all_then_remove_takes_the_cgroup_away,
            a_failed_create_removes_the_cgroup_it_made,
        );
    };
}

mod v1 {
    suite!(super::kernels::V1);
}

mod v2 {
    suite!(super::kernels::V2);
}

mod hybrid {
    suite!(super::kernels::Hybrid);
}
