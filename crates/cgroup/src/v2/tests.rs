//! The v2 manager against fake unified trees in temp dirs.

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder,
};

use crate::fs::read_file;
use crate::testutil::{fake_v2, memory_resources, set_fixture};
use crate::{CgroupPath, Controller, Error, ErrorKind, FreezerState, Layout, Warning};

const OFFERED: [Controller; 4] = [
    Controller::Cpuset,
    Controller::Cpu,
    Controller::Memory,
    Controller::Pids,
];
const M: i64 = 1 << 20;

fn path() -> CgroupPath {
    CgroupPath::under("mydocker", "ctr").unwrap()
}

fn docker_like_resources() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0")
                .build()
                .unwrap(),
        )
        .memory(
            LinuxMemoryBuilder::default()
                .limit(32 * M)
                .swap(32 * M)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(20i64).build().unwrap())
        .build()
        .unwrap()
}

#[test]
fn create_enables_controllers_in_ancestors_and_writes_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cgroup = fake_v2(root, &OFFERED, "mydocker/ctr").manager(&path());
    assert_eq!(cgroup.layout(), Layout::V2);
    let warnings = cgroup.create(&docker_like_resources()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    for level in [root.to_path_buf(), root.join("mydocker")] {
        assert_eq!(
            read_file(&level, "cgroup.subtree_control").unwrap(),
            "+cpu +cpuset +memory +pids",
            "{}",
            level.display()
        );
    }
    let leaf = root.join("mydocker/ctr");
    // The leaf holds processes: its subtree stays empty.
    assert_eq!(read_file(&leaf, "cgroup.subtree_control").unwrap(), "");
    assert_eq!(read_file(&leaf, "cpu.weight").unwrap(), "100");
    assert_eq!(read_file(&leaf, "cpu.max").unwrap(), "50000 100000");
    assert_eq!(read_file(&leaf, "cpuset.cpus").unwrap(), "0");
    assert_eq!(
        read_file(&leaf, "memory.max").unwrap(),
        (32 * M).to_string()
    );
    assert_eq!(read_file(&leaf, "memory.swap.max").unwrap(), "0");
    assert_eq!(read_file(&leaf, "pids.max").unwrap(), "20");
    assert_eq!(cgroup.paths(), vec![leaf]);
}

#[test]
fn already_enabled_controllers_are_not_written_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cgroup = fake_v2(root, &OFFERED, "mydocker/ctr").manager(&path());
    set_fixture(root, "cgroup.subtree_control", "cpuset cpu memory pids\n");
    set_fixture(
        &root.join("mydocker"),
        "cgroup.subtree_control",
        "cpu memory\n",
    );
    cgroup.create(&LinuxResources::default()).unwrap();
    assert_eq!(
        read_file(root, "cgroup.subtree_control").unwrap(),
        "cpuset cpu memory pids\n"
    );
    assert_eq!(
        read_file(&root.join("mydocker"), "cgroup.subtree_control").unwrap(),
        "+cpuset +pids"
    );
}

#[test]
fn a_missing_controller_is_an_error_when_asked_for_and_a_warning_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let offered = [Controller::Cpu, Controller::Pids];
    let cgroup = fake_v2(root, &offered, "mydocker/ctr").manager(&path());
    let err = cgroup
        .create(&memory_resources(Some(32 * M), None))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ControllerMissing {
                controller: Controller::Memory,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // Nothing was enabled for a refused request.
    assert_eq!(read_file(root, "cgroup.subtree_control").unwrap(), "");

    let warnings = cgroup.create(&LinuxResources::default()).unwrap();
    assert_eq!(
        warnings,
        vec![
            Warning::ControllerMissing {
                controller: Controller::Cpuset,
                consequence: "CPUs and memory nodes cannot be pinned"
            },
            Warning::ControllerMissing {
                controller: Controller::Memory,
                consequence: "memory usage and OOM kills will not be reported"
            },
        ]
    );
    assert_eq!(
        read_file(root, "cgroup.subtree_control").unwrap(),
        "+cpu +pids"
    );
    let stats = cgroup.stats().unwrap();
    assert!(stats.memory.is_none());
    assert!(stats.pids.is_some() && stats.cpu.is_some());
}

#[test]
fn device_rules_are_reported_as_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let cgroup = fake_v2(tmp.path(), &OFFERED, "mydocker/ctr").manager(&path());
    let r = LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    let warnings = cgroup.create(&r).unwrap();
    assert!(
        matches!(
            warnings.as_slice(),
            [Warning::Ignored {
                resource: "device access rules",
                ..
            }]
        ),
        "{warnings:?}"
    );
}

#[test]
fn tasks_stats_freezer_and_oom() {
    let tmp = tempfile::tempdir().unwrap();
    let leaf = tmp.path().join("mydocker/ctr");
    let cgroup = fake_v2(tmp.path(), &OFFERED, "mydocker/ctr").manager(&path());
    cgroup.create(&LinuxResources::default()).unwrap();
    cgroup.add_task(99).unwrap();
    assert_eq!(read_file(&leaf, "cgroup.procs").unwrap(), "99");
    assert_eq!(cgroup.pids().unwrap(), vec![99]);
    assert!(matches!(
        cgroup.add_task(0),
        Err(Error::InvalidPid { pid: 0 })
    ));

    set_fixture(&leaf, "cgroup.events", "populated 1\nfrozen 1\n");
    cgroup.freeze().unwrap();
    assert_eq!(read_file(&leaf, "cgroup.freeze").unwrap(), "1");
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Frozen);
    set_fixture(&leaf, "cgroup.events", "populated 1\nfrozen 0\n");
    cgroup.thaw().unwrap();
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Thawed);

    set_fixture(
        &leaf,
        "cpu.stat",
        "usage_usec 5\nuser_usec 3\nsystem_usec 2\n",
    );
    set_fixture(&leaf, "memory.current", "4096\n");
    set_fixture(&leaf, "pids.current", "1\n");
    let stats = cgroup.stats().unwrap();
    assert_eq!(stats.cpu.unwrap().usage_ns, 5000);
    assert_eq!(stats.memory.unwrap().usage, 4096);
    assert_eq!(stats.pids.unwrap().current, 1);

    assert!(!cgroup.oom_killed().unwrap());
    set_fixture(
        &leaf,
        "memory.events",
        "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
    );
    assert!(cgroup.oom_killed().unwrap());
}

#[test]
fn kill_all_uses_cgroup_kill_when_the_kernel_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let leaf = tmp.path().join("mydocker/ctr");
    let cgroup = fake_v2(tmp.path(), &OFFERED, "mydocker/ctr").manager(&path());
    set_fixture(&leaf, "cgroup.kill", "");
    cgroup.kill_all().unwrap();
    assert_eq!(read_file(&leaf, "cgroup.kill").unwrap(), "1");
}

#[test]
fn kernels_without_cgroup_freeze_have_no_freezer() {
    let tmp = tempfile::tempdir().unwrap();
    let leaf = tmp.path().join("mydocker/ctr");
    let cgroup = fake_v2(tmp.path(), &OFFERED, "mydocker/ctr").manager(&path());
    std::fs::remove_file(leaf.join("cgroup.freeze")).unwrap();
    let warnings = cgroup.create(&LinuxResources::default()).unwrap();
    assert!(
        matches!(
            warnings.as_slice(),
            [Warning::ControllerMissing {
                controller: Controller::Freezer,
                ..
            }]
        ),
        "{warnings:?}"
    );
    for result in [cgroup.freeze(), cgroup.thaw()] {
        assert!(matches!(
            result,
            Err(Error::ControllerMissing {
                controller: Controller::Freezer,
                ..
            })
        ));
    }
    assert!(cgroup.freezer_state().is_err());
}
