//! The fake kernels of the suite: the files each layout's kernel creates in a cgroup, what
//! they hold once limits are set, and how the kernel reports usage, freezing and OOM kills.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Kernel, Usage};
use crate::testutil::set_fixture;
use crate::{CgroupFs, Controller, Layout};

/// What a v1 kernel shows for "no limit" on a 4 KiB page system.
const V1_UNLIMITED: &str = "9223372036854771712\n";

/// cgroup v1: one hierarchy per controller at `ROOT/<controller>`.
#[derive(Debug)]
pub(crate) struct V1;

/// cgroup v2: one unified hierarchy at `ROOT`.
#[derive(Debug)]
pub(crate) struct V2;

/// A hybrid: the v1 hierarchies of [`V1`] plus a cgroup2 side mount at `ROOT/unified`
/// holding no controller, found through a mount table as on a real system.
#[derive(Debug)]
pub(crate) struct Hybrid;

/// The files of a fresh v1 cgroup of `controller`; `root` marks the hierarchy's root
/// cgroup (populated cpuset, no freezer.state).
fn v1_files(controller: Controller, root: bool) -> Vec<(&'static str, &'static str)> {
    let mut files = vec![("cgroup.procs", ""), ("tasks", "")];
    files.extend(match controller {
        Controller::Cpu => vec![
            ("cpu.shares", "1024\n"),
            ("cpu.cfs_period_us", "100000\n"),
            ("cpu.cfs_quota_us", "-1\n"),
            (
                "cpu.stat",
                "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
            ),
        ],
        Controller::Cpuacct => vec![
            ("cpuacct.usage", "0\n"),
            ("cpuacct.usage_user", "0\n"),
            ("cpuacct.usage_sys", "0\n"),
            ("cpuacct.stat", "user 0\nsystem 0\n"),
        ],
        Controller::Cpuset if root => vec![("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")],
        Controller::Cpuset => vec![("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
        Controller::Memory => vec![
            ("memory.limit_in_bytes", V1_UNLIMITED),
            ("memory.memsw.limit_in_bytes", V1_UNLIMITED),
            ("memory.soft_limit_in_bytes", V1_UNLIMITED),
            ("memory.usage_in_bytes", "0\n"),
            ("memory.max_usage_in_bytes", "0\n"),
            ("memory.swappiness", "60\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
            ("memory.failcnt", "0\n"),
            ("memory.stat", "cache 0\ntotal_inactive_file 0\n"),
        ],
        Controller::Pids if root => vec![],
        Controller::Pids => vec![("pids.max", "max\n"), ("pids.current", "0\n")],
        Controller::Freezer if root => vec![],
        Controller::Freezer => vec![("freezer.state", "THAWED\n")],
        Controller::Devices => vec![
            ("devices.allow", ""),
            ("devices.deny", ""),
            ("devices.list", "a *:* rwm\n"),
        ],
        Controller::Blkio => vec![
            ("blkio.weight", "500\n"),
            ("blkio.weight_device", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
        ],
    });
    files
}

/// Writes the v1 hierarchies of `present` under `root`: the hierarchy root and every
/// level of `cgroup` holding the kernel's files.
fn write_v1_hierarchies(root: &Path, present: &[Controller], cgroup: &str) {
    for &controller in present {
        let mut level = root.join(controller.name());
        for (name, value) in v1_files(controller, true) {
            set_fixture(&level, name, value);
        }
        for part in cgroup.split('/') {
            level = level.join(part);
            for (name, value) in v1_files(controller, false) {
                set_fixture(&level, name, value);
            }
        }
    }
}

impl Kernel for V1 {
    const LAYOUT: Layout = Layout::V1;
    const MANAGED: &'static [Controller] = &Controller::ALL;

    fn build(root: &Path, present: &[Controller], cgroup: &str) -> CgroupFs {
        write_v1_hierarchies(root, present, cgroup);
        CgroupFs::v1(present.iter().map(|c| (*c, root.join(c.name()))))
    }

    fn dir(root: &Path, controller: Controller, cgroup: &str) -> PathBuf {
        root.join(controller.name()).join(cgroup)
    }

    fn limit_files() -> Vec<(&'static str, &'static str, String)> {
        let mib32 = (32u64 << 20).to_string();
        let mib64 = (64u64 << 20).to_string();
        vec![
            ("cpu/mydocker/ctr", "cpu.shares", "512".into()),
            ("cpu/mydocker/ctr", "cpu.cfs_quota_us", "50000".into()),
            ("cpu/mydocker/ctr", "cpu.cfs_period_us", "100000".into()),
            ("cpuset/mydocker/ctr", "cpuset.cpus", "1".into()),
            // An empty v1 cpuset is given its parent's sets, level by level.
            ("cpuset/mydocker/ctr", "cpuset.mems", "0".into()),
            ("cpuset/mydocker", "cpuset.cpus", "0-3".into()),
            ("cpuset/mydocker", "cpuset.mems", "0".into()),
            ("memory/mydocker/ctr", "memory.limit_in_bytes", mib32),
            ("memory/mydocker/ctr", "memory.memsw.limit_in_bytes", mib64),
            ("pids/mydocker/ctr", "pids.max", "20".into()),
            ("blkio/mydocker/ctr", "blkio.weight", "300".into()),
            (
                "blkio/mydocker/ctr",
                "blkio.throttle.read_bps_device",
                "8:0 1048576".into(),
            ),
        ]
    }

    fn freezer_files(frozen: bool) -> Vec<(&'static str, &'static str, &'static str)> {
        let state = if frozen { "FROZEN" } else { "THAWED" };
        vec![("freezer/mydocker/ctr", "freezer.state", state)]
    }

    fn kill_files() -> Vec<(&'static str, &'static str, &'static str)> {
        // Frozen around the round of kills, then thawed again.
        Self::freezer_files(false)
    }

    fn report_frozen(_root: &Path, _frozen: bool) {
        // freezer.state holds what was written, as the kernel's does once it is done.
    }

    fn report_usage(root: &Path, usage: &Usage) {
        let dir = |c: Controller| Self::dir(root, c, super::CGROUP);
        set_fixture(
            &dir(Controller::Cpuacct),
            "cpuacct.usage",
            &format!("{}\n", usage.cpu_ns),
        );
        let cpu_stat = format!(
            "nr_periods {}\nnr_throttled {}\nthrottled_time {}\n",
            usage.periods, usage.throttled_periods, usage.throttled_ns
        );
        set_fixture(&dir(Controller::Cpu), "cpu.stat", &cpu_stat);
        let memory = dir(Controller::Memory);
        set_fixture(
            &memory,
            "memory.usage_in_bytes",
            &format!("{}\n", usage.memory),
        );
        set_fixture(
            &memory,
            "memory.limit_in_bytes",
            &format!("{}\n", usage.memory_limit),
        );
        set_fixture(
            &dir(Controller::Pids),
            "pids.current",
            &format!("{}\n", usage.pids),
        );
    }

    fn report_oom_kill(root: &Path) {
        set_fixture(
            &Self::dir(root, Controller::Memory, super::CGROUP),
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
    }
}

/// The controllers a v2 kernel offers in `cgroup.controllers`, of those this crate uses.
const V2_CONTROLLERS: [Controller; 5] = [
    Controller::Cpuset,
    Controller::Cpu,
    Controller::Blkio,
    Controller::Memory,
    Controller::Pids,
];

/// The files of a v2 `controller` in a fresh non-root cgroup.
fn v2_files(controller: Controller) -> &'static [(&'static str, &'static str)] {
    match controller {
        Controller::Cpu => &[("cpu.weight", "100\n"), ("cpu.max", "max 100000\n")],
        Controller::Cpuset => &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
        Controller::Memory => &[
            ("memory.max", "max\n"),
            ("memory.swap.max", "max\n"),
            ("memory.low", "0\n"),
            ("memory.current", "0\n"),
            ("memory.stat", "anon 0\ninactive_file 0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
        ],
        Controller::Pids => &[("pids.max", "max\n"), ("pids.current", "0\n")],
        Controller::Blkio => &[("io.weight", "default 100\n"), ("io.max", "")],
        _ => &[],
    }
}

impl Kernel for V2 {
    const LAYOUT: Layout = Layout::V2;
    // The freezer is v2's core `cgroup.freeze` (Linux 5.2+): the fake has it when the
    // freezer is present.
    const MANAGED: &'static [Controller] = &[
        Controller::Cpu,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
        Controller::Blkio,
        Controller::Freezer,
    ];

    /// Every level of `cgroup` gets `cgroup.controllers` as the kernel fills it once the
    /// parents enable the controllers, and the core files of Linux 5.14+ (`cgroup.kill`).
    fn build(root: &Path, present: &[Controller], cgroup: &str) -> CgroupFs {
        let offered: Vec<Controller> = V2_CONTROLLERS
            .into_iter()
            .filter(|c| present.contains(c))
            .collect();
        let names: Vec<&str> = offered.iter().map(|c| c.v2_name()).collect();
        let controllers = format!("{}\n", names.join(" "));
        set_fixture(root, "cgroup.controllers", &controllers);
        set_fixture(root, "cgroup.subtree_control", "");
        set_fixture(root, "cgroup.procs", "1\n");
        let mut level = root.to_path_buf();
        for part in cgroup.split('/') {
            level = level.join(part);
            let core: &[(&str, &str)] = &[
                ("cgroup.controllers", &controllers),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", ""),
                ("cgroup.kill", ""),
                ("cgroup.events", "populated 0\nfrozen 0\n"),
                ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"),
            ];
            for (name, value) in core {
                set_fixture(&level, name, value);
            }
            if present.contains(&Controller::Freezer) {
                set_fixture(&level, "cgroup.freeze", "0\n");
            }
            for controller in &offered {
                for (name, value) in v2_files(*controller) {
                    set_fixture(&level, name, value);
                }
            }
        }
        CgroupFs::v2(root.to_path_buf())
    }

    fn dir(root: &Path, _controller: Controller, cgroup: &str) -> PathBuf {
        root.join(cgroup)
    }

    fn limit_files() -> Vec<(&'static str, &'static str, String)> {
        let enabled = "+cpu +cpuset +memory +pids +io";
        vec![
            // Enabled in every ancestor; the leaf holds processes, its subtree stays empty.
            ("", "cgroup.subtree_control", enabled.into()),
            ("mydocker", "cgroup.subtree_control", enabled.into()),
            ("mydocker/ctr", "cgroup.subtree_control", String::new()),
            // Shares 512 are weight 59; Docker's memory+swap 64 MiB is 32 MiB of swap.
            ("mydocker/ctr", "cpu.weight", "59".into()),
            ("mydocker/ctr", "cpu.max", "50000 100000".into()),
            ("mydocker/ctr", "cpuset.cpus", "1".into()),
            ("mydocker/ctr", "memory.max", (32u64 << 20).to_string()),
            ("mydocker/ctr", "memory.swap.max", (32u64 << 20).to_string()),
            ("mydocker/ctr", "pids.max", "20".into()),
            // Blkio weight 300 is io.weight 2930; the last io.max line written stays.
            ("mydocker/ctr", "io.weight", "default 2930".into()),
            ("mydocker/ctr", "io.max", "8:0 rbps=1048576".into()),
        ]
    }

    fn freezer_files(frozen: bool) -> Vec<(&'static str, &'static str, &'static str)> {
        vec![(
            "mydocker/ctr",
            "cgroup.freeze",
            if frozen { "1" } else { "0" },
        )]
    }

    fn kill_files() -> Vec<(&'static str, &'static str, &'static str)> {
        vec![("mydocker/ctr", "cgroup.kill", "1")]
    }

    fn report_frozen(root: &Path, frozen: bool) {
        let events = format!("populated 0\nfrozen {}\n", u8::from(frozen));
        set_fixture(&root.join(super::CGROUP), "cgroup.events", &events);
    }

    fn report_usage(root: &Path, usage: &Usage) {
        let leaf = root.join(super::CGROUP);
        // The kernel counts v2 CPU time in microseconds.
        let cpu_stat = [
            ("usage_usec", usage.cpu_ns / 1000),
            ("user_usec", 0),
            ("system_usec", 0),
            ("nr_periods", usage.periods),
            ("nr_throttled", usage.throttled_periods),
            ("throttled_usec", usage.throttled_ns / 1000),
        ]
        .map(|(key, value)| format!("{key} {value}\n"))
        .concat();
        set_fixture(&leaf, "cpu.stat", &cpu_stat);
        set_fixture(&leaf, "memory.current", &format!("{}\n", usage.memory));
        set_fixture(&leaf, "memory.max", &format!("{}\n", usage.memory_limit));
        set_fixture(&leaf, "pids.current", &format!("{}\n", usage.pids));
    }

    fn report_oom_kill(root: &Path) {
        set_fixture(
            &root.join(super::CGROUP),
            "memory.events",
            "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n",
        );
    }
}

/// `path` as `/proc/self/mountinfo` shows it: spaces, tabs, newlines and backslashes in
/// octal escapes.
fn mountinfo_escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_str().unwrap().chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => {
                let _ = write!(out, "\\{:03o}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

impl Kernel for Hybrid {
    const LAYOUT: Layout = Layout::Hybrid;
    const MANAGED: &'static [Controller] = V1::MANAGED;

    fn build(root: &Path, present: &[Controller], cgroup: &str) -> CgroupFs {
        write_v1_hierarchies(root, present, cgroup);
        let unified = root.join("unified");
        set_fixture(&unified, "cgroup.controllers", "\n");
        set_fixture(&unified, "cgroup.subtree_control", "");
        let mut mountinfo = format!(
            "30 1 0:28 / {} rw,relatime - tmpfs tmpfs rw,mode=755\n",
            mountinfo_escape(root)
        );
        for (i, controller) in present.iter().enumerate() {
            let mount = mountinfo_escape(&root.join(controller.name()));
            let name = controller.name();
            let _ = writeln!(
                mountinfo,
                "{id} 30 0:{id} / {mount} rw,relatime - cgroup cgroup rw,{name}",
                id = 31 + i
            );
        }
        let _ = writeln!(
            mountinfo,
            "60 30 0:60 / {} rw,relatime - cgroup2 cgroup2 rw",
            mountinfo_escape(&unified)
        );
        let fs = CgroupFs::from_mountinfo(&mountinfo, root).unwrap();
        assert_eq!(fs.unified_mount(), Some(unified.as_path()));
        fs
    }

    fn dir(root: &Path, controller: Controller, cgroup: &str) -> PathBuf {
        V1::dir(root, controller, cgroup)
    }

    fn limit_files() -> Vec<(&'static str, &'static str, String)> {
        V1::limit_files()
    }

    fn freezer_files(frozen: bool) -> Vec<(&'static str, &'static str, &'static str)> {
        V1::freezer_files(frozen)
    }

    fn kill_files() -> Vec<(&'static str, &'static str, &'static str)> {
        V1::kill_files()
    }

    fn report_frozen(root: &Path, frozen: bool) {
        V1::report_frozen(root, frozen);
    }

    fn report_usage(root: &Path, usage: &Usage) {
        V1::report_usage(root, usage);
    }

    fn report_oom_kill(root: &Path) {
        V1::report_oom_kill(root);
    }
}
