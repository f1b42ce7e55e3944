//! Fake cgroupfs trees in temp dirs, holding the files the kernel would create.

use std::fs;
use std::path::Path;

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use crate::Controller;

/// Writes `dir/name` (creating `dir`), as the kernel would have it.
pub(crate) fn set_fixture(dir: &Path, name: &str, value: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), value).unwrap();
}

pub(crate) fn cpu_resources(
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
) -> LinuxResources {
    let mut cpu = LinuxCpuBuilder::default();
    if let Some(s) = shares {
        cpu = cpu.shares(s);
    }
    if let Some(q) = quota {
        cpu = cpu.quota(q);
    }
    if let Some(p) = period {
        cpu = cpu.period(p);
    }
    LinuxResourcesBuilder::default()
        .cpu(cpu.build().unwrap())
        .build()
        .unwrap()
}

pub(crate) fn memory_resources(limit: Option<i64>, swap: Option<i64>) -> LinuxResources {
    let mut memory = LinuxMemoryBuilder::default();
    if let Some(l) = limit {
        memory = memory.limit(l);
    }
    if let Some(s) = swap {
        memory = memory.swap(s);
    }
    LinuxResourcesBuilder::default()
        .memory(memory.build().unwrap())
        .build()
        .unwrap()
}

pub(crate) fn pids_resources(limit: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(limit).build().unwrap())
        .build()
        .unwrap()
}

const V1_UNLIMITED: &str = "9223372036854771712\n";

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
    });
    files
}

/// A fake v1 system under `root`: one hierarchy per controller at `root/<name>`, with the
/// hierarchy root and every level of `cgroup` (e.g. `mydocker/ctr`) holding the kernel's
/// files. The directories exist beforehand, as they would after the kernel's mkdir.
pub(crate) fn fake_v1(root: &Path, controllers: &[Controller], cgroup: &str) -> crate::CgroupFs {
    for &controller in controllers {
        let mount = root.join(controller.name());
        let mut level = mount.clone();
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
    crate::CgroupFs::v1(controllers.iter().map(|c| (*c, root.join(c.name()))))
}

/// A fake v2 system at `root` offering `offered`, with every level of `cgroup` created and
/// its `cgroup.controllers` as the kernel would fill it once the parents enable them.
pub(crate) fn fake_v2(root: &Path, offered: &[Controller], cgroup: &str) -> crate::CgroupFs {
    let names: Vec<&str> = offered.iter().map(|c| c.name()).collect();
    let controllers = format!("{}\n", names.join(" "));
    set_fixture(root, "cgroup.controllers", &controllers);
    set_fixture(root, "cgroup.subtree_control", "");
    set_fixture(root, "cgroup.procs", "1\n");
    let mut level = root.to_path_buf();
    for part in cgroup.split('/') {
        level = level.join(part);
        let files: &[(&str, &str)] = &[
            ("cgroup.controllers", &controllers),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
            ("cgroup.freeze", "0\n"),
            ("cgroup.events", "populated 0\nfrozen 0\n"),
            ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"),
        ];
        for (name, value) in files {
            set_fixture(&level, name, value);
        }
        for controller in offered {
            let files: &[(&str, &str)] = match controller {
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
                _ => &[],
            };
            for (name, value) in files {
                set_fixture(&level, name, value);
            }
        }
    }
    crate::CgroupFs::v2(root.to_path_buf())
}
