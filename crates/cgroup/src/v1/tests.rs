//! The v1 manager against fake hierarchies in temp dirs.

use std::fs as stdfs;
use std::path::Path;

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use crate::fs::read_file;
use crate::testutil::{fake_v1, pids_resources, set_fixture};
use crate::{CgroupFs, CgroupPath, Controller, Error, ErrorKind, FreezerState, Layout, Warning};

const ALL: [Controller; 7] = Controller::ALL;
const M: i64 = 1 << 20;

fn path() -> CgroupPath {
    CgroupPath::under("mydocker", "ctr").unwrap()
}

fn docker_like_resources() -> LinuxResources {
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
                .limit(32 * M)
                .swap(64 * M)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(20i64).build().unwrap())
        .build()
        .unwrap()
}

#[test]
fn create_writes_every_limit_in_its_hierarchy() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let fs = fake_v1(root, &ALL, "mydocker/ctr");
    let cgroup = fs.manager(&path());
    assert_eq!(cgroup.layout(), Layout::V1);
    let warnings = cgroup.create(&docker_like_resources()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let leaf = |c: Controller| root.join(c.name()).join("mydocker/ctr");
    assert_eq!(
        read_file(&leaf(Controller::Cpu), "cpu.shares").unwrap(),
        "512"
    );
    assert_eq!(
        read_file(&leaf(Controller::Cpu), "cpu.cfs_quota_us").unwrap(),
        "50000"
    );
    assert_eq!(
        read_file(&leaf(Controller::Cpu), "cpu.cfs_period_us").unwrap(),
        "100000"
    );
    assert_eq!(
        read_file(&leaf(Controller::Cpuset), "cpuset.cpus").unwrap(),
        "1"
    );
    assert_eq!(
        read_file(&leaf(Controller::Memory), "memory.limit_in_bytes").unwrap(),
        (32 * M).to_string()
    );
    assert_eq!(
        read_file(&leaf(Controller::Memory), "memory.memsw.limit_in_bytes").unwrap(),
        (64 * M).to_string()
    );
    assert_eq!(
        read_file(&leaf(Controller::Pids), "pids.max").unwrap(),
        "20"
    );
    // The parent's empty cpuset got the root's sets, and the leaf its memory nodes.
    let parent = root.join("cpuset/mydocker");
    assert_eq!(read_file(&parent, "cpuset.cpus").unwrap(), "0-3");
    assert_eq!(read_file(&parent, "cpuset.mems").unwrap(), "0");
    assert_eq!(
        read_file(&leaf(Controller::Cpuset), "cpuset.mems").unwrap(),
        "0"
    );
    // One directory per hierarchy.
    let mut paths = cgroup.paths();
    paths.sort();
    let mut expected: Vec<_> = ALL.iter().map(|c| leaf(*c)).collect();
    expected.sort();
    assert_eq!(paths, expected);
}

#[test]
fn comounted_hierarchies_get_one_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("cpu,cpuacct");
    stdfs::create_dir_all(&mount).unwrap();
    let fs = CgroupFs::v1([
        (Controller::Cpu, mount.clone()),
        (Controller::Cpuacct, mount.clone()),
    ]);
    let cgroup = fs.manager(&path());
    assert_eq!(cgroup.paths(), vec![mount.join("mydocker/ctr")]);
}

#[test]
fn a_missing_controller_is_an_error_when_asked_for_and_a_warning_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let present = [Controller::Cpu, Controller::Cpuacct, Controller::Pids];
    let fs = fake_v1(tmp.path(), &present, "mydocker/ctr");
    let cgroup = fs.manager(&path());
    let err = cgroup.create(&docker_like_resources()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        matches!(
            err,
            Error::ControllerMissing {
                controller: Controller::Cpuset,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("cpuset"), "{err}");

    let warnings = cgroup.create(&pids_resources(10)).unwrap();
    let missing: Vec<Controller> = warnings
        .iter()
        .map(|w| match w {
            Warning::ControllerMissing { controller, .. } => *controller,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        missing,
        vec![
            Controller::Cpuset,
            Controller::Memory,
            Controller::Freezer,
            Controller::Devices
        ]
    );
    assert!(warnings[2].to_string().contains("pause"), "{}", warnings[2]);
    // Pausing without a freezer is an error naming it.
    let err = cgroup.freeze().unwrap_err();
    assert!(matches!(
        err,
        Error::ControllerMissing {
            controller: Controller::Freezer,
            ..
        }
    ));
    // Stats simply lack what is missing.
    let stats = cgroup.stats().unwrap();
    assert!(stats.memory.is_none());
    assert!(stats.cpu.is_some() && stats.pids.is_some());
    assert!(!cgroup.oom_killed().unwrap());
}

#[test]
fn tasks_join_every_hierarchy_and_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cgroup = fake_v1(root, &ALL, "mydocker/ctr").manager(&path());
    cgroup.create(&LinuxResources::default()).unwrap();
    cgroup.add_task(4242).unwrap();
    for c in ALL {
        let dir = root.join(c.name()).join("mydocker/ctr");
        assert_eq!(read_file(&dir, "cgroup.procs").unwrap(), "4242", "{c}");
    }
    assert_eq!(cgroup.pids().unwrap(), vec![4242]);
    for bad in [0, u32::MAX] {
        assert!(matches!(
            cgroup.add_task(bad),
            Err(Error::InvalidPid { .. })
        ));
    }
    // Descendants count too.
    set_fixture(
        &root.join("pids/mydocker/ctr/sub"),
        "cgroup.procs",
        "4343\n",
    );
    assert_eq!(cgroup.pids().unwrap(), vec![4242, 4343]);
}

#[test]
fn freeze_thaw_and_stats_read_the_right_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cgroup = fake_v1(root, &ALL, "mydocker/ctr").manager(&path());
    cgroup.freeze().unwrap();
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Frozen);
    assert_eq!(
        read_file(&root.join("freezer/mydocker/ctr"), "freezer.state").unwrap(),
        "FROZEN"
    );
    cgroup.thaw().unwrap();
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Thawed);

    set_fixture(&root.join("cpuacct/mydocker/ctr"), "cpuacct.usage", "777\n");
    set_fixture(
        &root.join("cpu/mydocker/ctr"),
        "cpu.stat",
        "nr_periods 5\nnr_throttled 1\nthrottled_time 99\n",
    );
    set_fixture(
        &root.join("memory/mydocker/ctr"),
        "memory.usage_in_bytes",
        "8192\n",
    );
    set_fixture(
        &root.join("memory/mydocker/ctr"),
        "memory.limit_in_bytes",
        "33554432\n",
    );
    set_fixture(&root.join("pids/mydocker/ctr"), "pids.current", "2\n");
    let stats = cgroup.stats().unwrap();
    let cpu = stats.cpu.unwrap();
    assert_eq!(
        (
            cpu.usage_ns,
            cpu.periods,
            cpu.throttled_periods,
            cpu.throttled_ns
        ),
        (777, 5, 1, 99)
    );
    let memory = stats.memory.unwrap();
    assert_eq!((memory.usage, memory.limit), (8192, Some(1 << 25)));
    assert_eq!(stats.pids.unwrap().current, 2);

    set_fixture(
        &root.join("memory/mydocker/ctr"),
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    assert!(cgroup.oom_killed().unwrap());
}

/// Empty hierarchies: `create` makes the directories itself (no files are written for
/// empty resources), and `remove` takes the leaf away but keeps the parent.
#[test]
fn create_and_remove_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let mounts: Vec<(Controller, std::path::PathBuf)> = [Controller::Memory, Controller::Pids]
        .iter()
        .map(|c| (*c, tmp.path().join(c.name())))
        .collect();
    for (_, m) in &mounts {
        stdfs::create_dir(m).unwrap();
    }
    let cgroup = CgroupFs::v1(mounts.clone()).manager(&path());
    cgroup.create(&LinuxResources::default()).unwrap();
    for (_, m) in &mounts {
        assert!(m.join("mydocker/ctr").is_dir());
    }
    cgroup.remove().unwrap();
    for (_, m) in &mounts {
        assert!(!m.join("mydocker/ctr").exists());
        assert!(m.join("mydocker").is_dir());
    }
    // Removing again is fine.
    cgroup.remove().unwrap();
}

#[test]
fn a_failed_create_removes_the_new_cgroup() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("pids");
    stdfs::create_dir(&mount).unwrap();
    let cgroup = CgroupFs::v1([(Controller::Pids, mount.clone())]).manager(&path());
    // pids.max does not exist in this bare directory: the write fails.
    let err = cgroup.create(&pids_resources(5)).unwrap_err();
    assert!(err.to_string().contains("pids.max"), "{err}");
    assert!(!mount.join("mydocker/ctr").exists());
    assert!(Path::new(&mount).join("mydocker").is_dir());
}

#[test]
fn invalid_resources_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cgroup = fake_v1(root, &ALL, "mydocker/ctr").manager(&path());
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 * M)
                .swap(32 * M)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = cgroup.apply(&r).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        read_file(&root.join("memory/mydocker/ctr"), "memory.limit_in_bytes").unwrap(),
        "9223372036854771712\n"
    );
}
