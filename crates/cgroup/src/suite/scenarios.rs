//! The scenarios, each written once for every [`Kernel`]. A fake cgroup never holds a
//! real process: only fake pids are written, and `kill_all` runs on empty cgroups only,
//! so nothing on the host is ever signalled.

use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResources, LinuxResourcesBuilder};

use super::{Fake, Kernel, MIB, Usage, docker_like};
use crate::testutil::{memory_resources, pids_resources, set_fixture};
use crate::{Controller, Error, ErrorKind, FreezerState, Warning};

/// `create` writes every limit of a Docker-like request where this layout keeps it, and
/// the manager has one directory per hierarchy.
pub(super) fn limits_reach_the_kernel_files<K: Kernel>() {
    let fake = Fake::<K>::new(&Controller::ALL);
    let cgroup = fake.manager();
    assert_eq!(cgroup.layout(), K::LAYOUT);
    let warnings = cgroup.create(&docker_like()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    fake.assert_files(&K::limit_files());
    let mut expected: Vec<_> = Controller::ALL.iter().map(|c| fake.dir(*c)).collect();
    expected.sort();
    expected.dedup();
    let mut paths = cgroup.paths();
    paths.sort();
    assert_eq!(paths, expected);
}

/// A request that contradicts itself (memory+swap below memory) is refused as invalid
/// input by `apply` before any file is touched, and by `create` too.
pub(super) fn invalid_resources_are_refused_before_anything_is_written<K: Kernel>() {
    let fake = Fake::<K>::new(&Controller::ALL);
    let cgroup = fake.manager();
    let before = fake.snapshot();
    let contradiction = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 * MIB)
                .swap(32 * MIB)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = cgroup.apply(&contradiction).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(fake.snapshot(), before);
    let err = cgroup.create(&contradiction).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// Without cpuset, memory and freezer: a limit asked of a missing controller is an error
/// naming it (and nothing is written), a missing controller nobody asked anything of is
/// a warning saying what will not work, and the freezer's absence makes pausing fail.
pub(super) fn a_missing_controller_is_an_error_when_asked_for_and_a_warning_otherwise<K: Kernel>() {
    let present = [Controller::Cpu, Controller::Cpuacct, Controller::Pids];
    let fake = Fake::<K>::new(&present);
    let cgroup = fake.manager();
    let before = fake.snapshot();
    let err = cgroup.create(&docker_like()).unwrap_err();
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
    let err = cgroup
        .apply(&memory_resources(Some(32 * MIB), None))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ControllerMissing {
            controller: Controller::Memory,
            resource: "memory limit",
        }
    ));
    assert_eq!(fake.snapshot(), before, "a refused request wrote files");

    let warnings = cgroup.create(&pids_resources(10)).unwrap();
    let missing: Vec<Controller> = warnings
        .iter()
        .map(|w| match w {
            Warning::ControllerMissing { controller, .. } => *controller,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // Every missing controller but blkio, which reports nothing: without a request,
    // nothing is lost.
    let expected: Vec<Controller> = K::MANAGED
        .iter()
        .copied()
        .filter(|c| !present.contains(c) && *c != Controller::Blkio)
        .collect();
    assert_eq!(missing, expected);
    let freezer = &warnings[missing
        .iter()
        .position(|c| *c == Controller::Freezer)
        .unwrap()];
    assert!(freezer.to_string().contains("pause"), "{freezer}");

    for result in [
        cgroup.freeze(),
        cgroup.thaw(),
        cgroup.freezer_state().map(drop),
    ] {
        assert!(matches!(
            result,
            Err(Error::ControllerMissing {
                controller: Controller::Freezer,
                ..
            })
        ));
    }
    // Stats simply lack what is missing.
    let stats = cgroup.stats().unwrap();
    assert!(stats.memory.is_none());
    assert!(stats.cpu.is_some() && stats.pids.is_some());
    assert!(!cgroup.oom_killed().unwrap());
}

/// `add_task` writes the pid into every directory of the cgroup, `pids` lists it and the
/// processes of descendant cgroups, and pids the kernel would misread are refused.
pub(super) fn tasks_join_every_directory_and_descendants_count<K: Kernel>() {
    let fake = Fake::<K>::new(&Controller::ALL);
    let cgroup = fake.manager();
    cgroup.create(&LinuxResources::default()).unwrap();
    cgroup.add_task(4242).unwrap();
    for dir in cgroup.paths() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert_eq!(procs, "4242", "{}", dir.display());
    }
    assert_eq!(cgroup.pids().unwrap(), vec![4242]);
    for bad in [0, u32::MAX] {
        assert!(matches!(
            cgroup.add_task(bad),
            Err(Error::InvalidPid { pid }) if pid == bad
        ));
    }
    set_fixture(
        &fake.dir(Controller::Pids).join("sub"),
        "cgroup.procs",
        "4343\n",
    );
    assert_eq!(cgroup.pids().unwrap(), vec![4242, 4343]);
}

/// `freeze` and `thaw` write the freezer's file and return once the kernel reports the
/// state; `freezer_state` reads it back.
pub(super) fn freeze_and_thaw_follow_the_kernel<K: Kernel>() {
    let fake = Fake::<K>::new(&Controller::ALL);
    let cgroup = fake.manager();
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Thawed);

    K::report_frozen(fake.root(), true);
    cgroup.freeze().unwrap();
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Frozen);
    fake.assert_files(&K::freezer_files(true));

    K::report_frozen(fake.root(), false);
    cgroup.thaw().unwrap();
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Thawed);
    fake.assert_files(&K::freezer_files(false));
}

/// `stats` converts the kernel's counters into the manager's units, and `oom_killed`
/// follows the kernel's OOM kill count.
pub(super) fn stats_and_oom_kills_come_from_the_kernel_counters<K: Kernel>() {
    let fake = Fake::<K>::new(&Controller::ALL);
    let cgroup = fake.manager();
    let usage = Usage {
        cpu_ns: 777_000,
        periods: 5,
        throttled_periods: 1,
        throttled_ns: 99_000,
        memory: 8192,
        memory_limit: 32 << 20,
        pids: 2,
    };
    K::report_usage(fake.root(), &usage);
    let stats = cgroup.stats().unwrap();
    let cpu = stats.cpu.unwrap();
    assert_eq!(
        (
            cpu.usage_ns,
            cpu.periods,
            cpu.throttled_periods,
            cpu.throttled_ns
        ),
        (777_000, 5, 1, 99_000)
    );
    let memory = stats.memory.unwrap();
    assert_eq!((memory.usage, memory.limit), (8192, Some(32 << 20)));
    let pids = stats.pids.unwrap();
    assert_eq!((pids.current, pids.limit), (2, None));

    assert!(!cgroup.oom_killed().unwrap());
    K::report_oom_kill(fake.root());
    assert!(cgroup.oom_killed().unwrap());
}

/// `kill_all` on an empty cgroup leaves it thawed, `remove` names a directory it cannot
/// remove, then takes the cgroup and its descendants away and keeps the parent; removing
/// again is not an error.
pub(super) fn kill_all_then_remove_takes_the_cgroup_away<K: Kernel>() {
    let fake = Fake::<K>::new(&Controller::ALL);
    let cgroup = fake.manager();
    cgroup.create(&LinuxResources::default()).unwrap();
    assert!(cgroup.pids().unwrap().is_empty());
    cgroup.kill_all().unwrap();
    fake.assert_files(&K::kill_files());
    assert_eq!(cgroup.freezer_state().unwrap(), FreezerState::Thawed);

    let dirs = cgroup.paths();
    // The fake's files keep its directories from being removed, as processes would.
    let err = cgroup.remove().unwrap_err();
    assert!(
        matches!(&err, Error::RemoveDir { path, .. } if dirs.contains(path)),
        "{err}"
    );
    fake.forget_kernel_files(&dirs);
    for dir in &dirs {
        std::fs::create_dir(dir.join("sub")).unwrap();
    }
    cgroup.remove().unwrap();
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    for controller in Controller::ALL {
        assert!(fake.parent_dir(controller).is_dir(), "{controller}");
    }
    cgroup.remove().unwrap();
}

/// When applying the resources fails after `create` made the cgroup's directory (the
/// files the kernel would have made are missing), the directory is removed again and the
/// parent kept.
pub(super) fn a_failed_create_removes_the_cgroup_it_made<K: Kernel>() {
    let fake = Fake::<K>::without_leaf(&[Controller::Memory, Controller::Pids]);
    let cgroup = fake.manager();
    let err = cgroup.create(&pids_resources(5)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("mydocker/ctr/"), "{err}");
    for controller in [Controller::Memory, Controller::Pids] {
        assert!(!fake.dir(controller).exists(), "{controller}");
        assert!(fake.parent_dir(controller).is_dir(), "{controller}");
    }
}
