//! Integration tests on the real cgroups of the machine (root only).
//!
//! They work on whatever layout they detect (v1, v2 or hybrid) and read back the files of
//! that layout. Set `MYDOCKER_EXPECT_CGROUP=v1|v2|hybrid` to also assert the detected
//! layout (the VM test harness does). Every test makes its own parent cgroup
//! `mydocker-test-<pid>-<n>` with the container cgroup `ctr` below it, runs only processes
//! it spawned, and removes both cgroups in a `Drop` guard, even when it fails.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
#![allow(clippy::print_stderr)] // Tests say why they are skipped, and what cleanup failed.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use cgroup::{AnyManager, CgroupFs, CgroupPath, Controller, FreezerState, Layout, Warning};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};

const MIB: i64 = 1 << 20;

/// A test's own cgroups and processes, cleaned up on drop.
struct TestCgroup {
    fs: CgroupFs,
    parent: CgroupPath,
    cgroup: AnyManager,
    children: Vec<Child>,
}

/// The test's cgroups, or `None` (after saying why) where these tests cannot run.
fn setup() -> Option<TestCgroup> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: managing real cgroups needs root");
        return None;
    }
    let fs = match CgroupFs::detect() {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!("skipped: {e}");
            return None;
        }
    };
    if let Ok(expected) = std::env::var("MYDOCKER_EXPECT_CGROUP") {
        assert_eq!(fs.layout().to_string(), expected, "detected cgroup layout");
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let parent = format!("mydocker-test-{}-{n}", std::process::id());
    let path = CgroupPath::under(&parent, "ctr").unwrap();
    let cgroup = fs.manager(&path);
    Some(TestCgroup {
        parent: CgroupPath::new(&parent).unwrap(),
        fs,
        cgroup,
        children: Vec::new(),
    })
}

impl TestCgroup {
    /// The cgroup's directory holding `controller`'s files.
    fn dir(&self, controller: Controller) -> PathBuf {
        let path = self.cgroup.cgroup_path().as_path();
        match self.fs.layout() {
            Layout::V2 => self.fs.unified_mount().unwrap().join(path),
            Layout::V1 | Layout::Hybrid => self.fs.v1_mount(controller).unwrap().join(path),
        }
    }

    fn read(&self, controller: Controller, file: &str) -> String {
        let path = self.dir(controller).join(file);
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .trim()
            .to_string()
    }

    /// Starts `sh -c 'read go; SCRIPT'`, moves it into the cgroup, then lets it go on:
    /// everything the script does happens inside the cgroup.
    fn run_inside(&mut self, script: &str) -> usize {
        let child = Command::new("sh")
            .args(["-c", &format!("read go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        let index = self.children.len() - 1;
        self.cgroup.add_task(pid).unwrap();
        assert!(self.cgroup.pids().unwrap().contains(&pid));
        let mut stdin = self.children[index].stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        index
    }

    fn stdout(&mut self, index: usize) -> BufReader<ChildStdout> {
        BufReader::new(self.children[index].stdout.take().unwrap())
    }

    fn cpu_usage(&self) -> u64 {
        self.cgroup
            .stats()
            .unwrap()
            .cpu
            .expect("cpu accounting")
            .usage_ns
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // A frozen process cannot die: thaw first (an error just means "not frozen").
        let _ = self.cgroup.thaw();
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Processes the scripts forked are in our cgroup: kill them there.
        if let Err(e) = self.cgroup.kill_all() {
            eprintln!("cleanup: {e}");
        }
        if let Err(e) = self.cgroup.remove() {
            eprintln!("cleanup: {e}");
        }
        if let Err(e) = self.fs.manager(&self.parent).remove() {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Polls `condition` every 20 ms for at most 10 s.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn resources(
    cpu: Option<(i64, u64, u64)>,
    cpus: Option<&str>,
    memory: Option<(i64, i64)>,
    pids: Option<i64>,
) -> LinuxResources {
    let mut r = LinuxResourcesBuilder::default();
    if cpu.is_some() || cpus.is_some() {
        let mut b = LinuxCpuBuilder::default();
        if let Some((quota, period, shares)) = cpu {
            b = b.quota(quota).period(period).shares(shares);
        }
        if let Some(cpus) = cpus {
            b = b.cpus(cpus);
        }
        r = r.cpu(b.build().unwrap());
    }
    if let Some((limit, swap)) = memory {
        r = r.memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .swap(swap)
                .build()
                .unwrap(),
        );
    }
    if let Some(limit) = pids {
        r = r.pids(LinuxPidsBuilder::default().limit(limit).build().unwrap());
    }
    r.build().unwrap()
}

/// Swap warnings are expected where the kernel does not account swap; nothing else.
fn assert_only_swap_warnings(warnings: &[Warning]) {
    for w in warnings {
        assert!(
            matches!(
                w,
                Warning::Ignored {
                    resource: "memory+swap limit",
                    ..
                }
            ),
            "unexpected warning: {w}"
        );
    }
}

#[test]
fn limits_reach_the_kernel_files() {
    let Some(t) = setup() else { return };
    let r = resources(
        Some((50_000, 100_000, 512)),
        Some("0"),
        Some((32 * MIB, 32 * MIB)),
        Some(20),
    );
    let warnings = t.cgroup.create(&r).unwrap();
    assert_only_swap_warnings(&warnings);
    let swap_limited = warnings.is_empty();
    for dir in t.cgroup.paths() {
        assert!(dir.is_dir(), "{}", dir.display());
    }
    match t.fs.layout() {
        Layout::V2 => {
            assert_eq!(t.read(Controller::Cpu, "cpu.max"), "50000 100000");
            assert_eq!(t.read(Controller::Cpu, "cpu.weight"), "59");
            assert_eq!(
                t.read(Controller::Memory, "memory.max"),
                (32 * MIB).to_string()
            );
            if swap_limited {
                assert_eq!(t.read(Controller::Memory, "memory.swap.max"), "0");
            }
            assert_eq!(t.read(Controller::Pids, "pids.max"), "20");
            assert_eq!(t.read(Controller::Cpuset, "cpuset.cpus"), "0");
            let root = t.fs.unified_mount().unwrap();
            let enabled =
                fs::read_to_string(root.join(t.parent.as_path()).join("cgroup.subtree_control"))
                    .unwrap();
            for c in ["cpu", "cpuset", "memory", "pids"] {
                assert!(
                    enabled.split_whitespace().any(|e| e == c),
                    "{c} not in {enabled:?}"
                );
            }
        }
        Layout::V1 | Layout::Hybrid => {
            assert_eq!(t.read(Controller::Cpu, "cpu.cfs_quota_us"), "50000");
            assert_eq!(t.read(Controller::Cpu, "cpu.cfs_period_us"), "100000");
            assert_eq!(t.read(Controller::Cpu, "cpu.shares"), "512");
            assert_eq!(
                t.read(Controller::Memory, "memory.limit_in_bytes"),
                (32 * MIB).to_string()
            );
            if swap_limited {
                assert_eq!(
                    t.read(Controller::Memory, "memory.memsw.limit_in_bytes"),
                    (32 * MIB).to_string()
                );
            }
            assert_eq!(t.read(Controller::Pids, "pids.max"), "20");
            assert_eq!(t.read(Controller::Cpuset, "cpuset.cpus"), "0");
            // The parent cpuset was populated, so tasks can join below it.
            let mount = t.fs.v1_mount(Controller::Cpuset).unwrap();
            let parent = mount.join(t.parent.as_path());
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let value = fs::read_to_string(parent.join(file)).unwrap();
                assert!(!value.trim().is_empty(), "{file} of the parent is empty");
            }
        }
    }
    let stats = t.cgroup.stats().unwrap();
    assert_eq!(stats.memory.unwrap().limit, Some(32 << 20));
    assert_eq!(stats.pids.unwrap().limit, Some(20));
    // Updating works on the live cgroup, and unlimited values are written as such.
    t.cgroup
        .apply(&resources(Some((-1, 100_000, 1024)), None, None, Some(-1)))
        .unwrap();
    let stats = t.cgroup.stats().unwrap();
    assert_eq!(stats.pids.unwrap().limit, None);
    match t.fs.layout() {
        Layout::V2 => assert_eq!(t.read(Controller::Cpu, "cpu.max"), "max 100000"),
        _ => assert_eq!(t.read(Controller::Cpu, "cpu.cfs_quota_us"), "-1"),
    }
}

#[test]
fn a_process_inside_is_listed_and_accounted() {
    let Some(mut t) = setup() else { return };
    t.cgroup
        .create(&resources(None, None, Some((64 * MIB, -1)), Some(100)))
        .unwrap();
    let i = t.run_inside("echo ready; exec sleep 60");
    let mut line = String::new();
    t.stdout(i).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let pid = t.children[i].id();
    assert_eq!(t.cgroup.pids().unwrap(), vec![pid]);
    // The kernel agrees on the membership.
    let proc_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let shown = t.cgroup.cgroup_path().to_string();
    let member = proc_cgroup.lines().any(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap_or(""), parts.next());
        path == Some(shown.as_str())
            && match t.fs.layout() {
                Layout::V2 => controllers.is_empty(),
                _ => controllers.split(',').any(|c| c == "memory"),
            }
    });
    assert!(member, "{shown} not in\n{proc_cgroup}");
    // exec'ing sleep inside used CPU and memory that are charged to the cgroup.
    wait_until("cpu, memory and pids are accounted", || {
        let s = t.cgroup.stats().unwrap();
        s.cpu.unwrap().usage_ns > 0
            && s.memory.as_ref().unwrap().usage > 0
            && s.pids.as_ref().unwrap().current >= 1
    });
    assert!(!t.cgroup.oom_killed().unwrap());
}

#[test]
fn freezing_stops_the_processes_and_thawing_resumes_them() {
    let Some(mut t) = setup() else { return };
    t.cgroup.create(&LinuxResources::default()).unwrap();
    assert_eq!(t.cgroup.freezer_state().unwrap(), FreezerState::Thawed);
    t.run_inside("while :; do :; done");
    wait_until("the busy loop accrues cpu time", || t.cpu_usage() > 0);

    t.cgroup.freeze().unwrap();
    assert_eq!(t.cgroup.freezer_state().unwrap(), FreezerState::Frozen);
    match t.fs.layout() {
        Layout::V2 => {
            assert_eq!(t.read(Controller::Freezer, "cgroup.freeze"), "1");
            assert!(
                t.read(Controller::Freezer, "cgroup.events")
                    .contains("frozen 1")
            );
        }
        _ => assert_eq!(t.read(Controller::Freezer, "freezer.state"), "FROZEN"),
    }
    // A frozen busy loop gets no CPU at all, however long we look.
    let frozen_at = t.cpu_usage();
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        t.cpu_usage(),
        frozen_at,
        "a frozen process accrued cpu time"
    );

    t.cgroup.thaw().unwrap();
    assert_eq!(t.cgroup.freezer_state().unwrap(), FreezerState::Thawed);
    wait_until("the thawed loop accrues cpu time again", || {
        t.cpu_usage() > frozen_at
    });
}

/// A quota of a tenth of a CPU really holds a busy loop back: the kernel throttles the
/// cgroup (its own `cpu.stat` says so) and the CPU time charged to it stays far below the
/// wall time it ran (a load on the machine can only lower that use, never raise it).
/// Reading back `cpu.max` or `cpu.cfs_quota_us` would not show a quota the kernel ignores.
#[test]
fn a_cpu_quota_throttles_a_busy_loop() {
    let Some(mut t) = setup() else { return };
    t.cgroup
        .create(&resources(Some((10_000, 100_000, 1024)), None, None, None))
        .unwrap();
    let start = Instant::now();
    t.run_inside("while :; do :; done");
    // At most 10 s (bounded), and at least a second of wall time: ten periods.
    wait_until("the kernel throttles the busy loop", || {
        let cpu = t.cgroup.stats().unwrap().cpu.unwrap();
        cpu.throttled_periods >= 3 && start.elapsed() >= Duration::from_secs(1)
    });
    let cpu = t.cgroup.stats().unwrap().cpu.unwrap();
    let wall = start.elapsed().as_secs_f64();
    let used = cpu.usage_ns as f64 / 1e9;
    assert!(cpu.periods >= cpu.throttled_periods, "{cpu:?}");
    assert!(cpu.throttled_ns > 0, "{cpu:?}");
    // 0.1 CPU, plus one period's quota of slack; a lost quota would show about 1.0.
    assert!(
        used <= 0.1 * wall + 0.2,
        "{used:.3} CPU-seconds in {wall:.3} s under a 0.1 CPU quota: {cpu:?}"
    );
}

#[test]
fn allocating_past_the_memory_limit_is_an_oom_kill() {
    let Some(mut t) = setup() else { return };
    // Memory+swap equal to memory: no swap to escape to.
    let warnings = t
        .cgroup
        .create(&resources(None, None, Some((32 * MIB, 32 * MIB)), None))
        .unwrap();
    assert_only_swap_warnings(&warnings);
    assert!(!t.cgroup.oom_killed().unwrap());
    // dd fills a 64 MiB buffer from /dev/zero: twice the limit.
    let i = t.run_inside("exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    let status = t.children[i].wait().unwrap();
    assert_eq!(status.signal(), Some(9), "dd was not SIGKILLed: {status}");
    assert!(t.cgroup.oom_killed().unwrap());
    let memory = t.cgroup.stats().unwrap().memory.unwrap();
    if let Some(kills) = memory.oom_kills {
        assert!(kills >= 1);
    }
    assert!(memory.max_usage.is_none_or(|m| m <= 32 << 20));
}

#[test]
fn forking_past_the_pids_limit_fails_and_kill_all_empties_the_cgroup() {
    let Some(mut t) = setup() else { return };
    t.cgroup
        .create(&resources(None, None, None, Some(5)))
        .unwrap();
    let i = t.run_inside("n=0; while [ $n -lt 20 ]; do sleep 60 & n=$((n+1)); done; echo done");
    let _ = t.children[i].wait().unwrap();
    // The kernel refused forks beyond the limit and counted the refusals.
    let events = t.read(Controller::Pids, "pids.events");
    let refused: u64 = events
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "pids.events: {events}");
    let stats = t.cgroup.stats().unwrap().pids.unwrap();
    assert!(
        stats.current <= 5,
        "{} processes under a limit of 5",
        stats.current
    );
    let survivors = t.cgroup.pids().unwrap();
    assert!(
        !survivors.is_empty() && survivors.len() <= 5,
        "{survivors:?}"
    );

    t.cgroup.kill_all().unwrap();
    wait_until("the cgroup is empty", || {
        t.cgroup.pids().unwrap().is_empty()
    });
    for pid in survivors {
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    }
    // The shell saw its forks fail (dash "Cannot fork", busybox "can't fork", bash
    // "fork: retry"). Read only now: the killed sleeps held the pipe open.
    let mut stderr = String::new();
    t.children[i]
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.to_lowercase().contains("fork"),
        "shell stderr: {stderr:?}"
    );
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[test]
fn remove_waits_for_killed_processes_and_leaves_nothing() {
    let Some(mut t) = setup() else { return };
    t.cgroup
        .create(&resources(None, None, None, Some(10)))
        .unwrap();
    t.run_inside("exec sleep 60");
    let dirs = t.cgroup.paths();
    // Right after SIGKILL the process may still be exiting (EBUSY): remove retries.
    t.cgroup.kill_all().unwrap();
    t.cgroup.remove().unwrap();
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    // Removing again is not an error, and the parent is still there until removed.
    t.cgroup.remove().unwrap();
    let parent_manager = t.fs.manager(&t.parent);
    for dir in parent_manager.paths() {
        assert!(dir.is_dir(), "{}", dir.display());
    }
    parent_manager.remove().unwrap();
    for dir in parent_manager.paths() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

/// On a hybrid, the v2 side mount holds no controller we use, but the v2 core works there:
/// membership, `cgroup.freeze`, `cgroup.kill`, `cpu.stat` and removal. This runs the v2
/// manager on a real kernel without a v2 VM; a requested limit must be refused by name.
#[test]
fn v2_core_works_on_the_hybrid_side_mount() {
    let Some(host) = setup() else { return };
    if host.fs.layout() != Layout::Hybrid {
        eprintln!("skipped: not a hybrid layout ({})", host.fs.layout());
        return;
    }
    let unified = host.fs.unified_mount().unwrap().to_path_buf();
    let fs = CgroupFs::v2(unified);
    let mut t = TestCgroup {
        cgroup: fs.manager(host.cgroup.cgroup_path()),
        fs,
        parent: host.parent.clone(),
        children: Vec::new(),
    };
    drop(host);
    assert_eq!(t.cgroup.layout(), Layout::V2);

    let err = t
        .cgroup
        .create(&resources(None, None, Some((32 * MIB, -1)), None))
        .unwrap_err();
    assert!(
        matches!(
            err,
            cgroup::Error::ControllerMissing {
                controller: Controller::Memory,
                ..
            }
        ),
        "{err}"
    );
    assert!(t.cgroup.paths().iter().all(|p| !p.exists()));

    let warnings = t.cgroup.create(&LinuxResources::default()).unwrap();
    assert!(
        warnings.iter().any(|w| matches!(
            w,
            Warning::ControllerMissing {
                controller: Controller::Memory,
                ..
            }
        )),
        "{warnings:?}"
    );
    let i = t.run_inside("while :; do :; done");
    let pid = t.children[i].id();
    assert_eq!(t.cgroup.pids().unwrap(), vec![pid]);
    let proc_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        proc_cgroup
            .lines()
            .any(|l| l == format!("0::{}", t.cgroup.cgroup_path())),
        "{proc_cgroup}"
    );
    wait_until("the busy loop accrues cpu time", || t.cpu_usage() > 0);
    t.cgroup.freeze().unwrap();
    assert_eq!(t.cgroup.freezer_state().unwrap(), FreezerState::Frozen);
    let frozen_at = t.cpu_usage();
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        t.cpu_usage(),
        frozen_at,
        "a frozen process accrued cpu time"
    );
    t.cgroup.thaw().unwrap();
    wait_until("the thawed loop accrues cpu time again", || {
        t.cpu_usage() > frozen_at
    });

    t.cgroup.kill_all().unwrap();
    let status = t.children[i].wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    t.cgroup.remove().unwrap();
    assert!(t.cgroup.paths().iter().all(|p| !p.exists()));
}

/// cgroup v2 device rules (an eBPF program): allowed /dev/null (1:3) opens, a node of
/// /dev/zero (1:5), readable by root without the rules, does not.
#[test]
fn device_rules_are_enforced_by_the_v2_program() {
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};
    let unified = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.controllers").exists());
    let Some(unified) = unified else {
        eprintln!("skipped: no cgroup v2 hierarchy mounted");
        return;
    };
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = unified.join(format!("mydocker-test-bpf-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            for _ in 0..100 {
                if std::fs::remove_dir(&self.0).is_ok() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
    let _remove = Remove(dir.clone());
    let rule = |allow: bool, typ, maj: Option<i64>, min: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .access(access);
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        b.build().unwrap()
    };
    let rules = vec![
        rule(false, LinuxDeviceType::A, None, None, "rwm"),
        rule(true, LinuxDeviceType::C, None, None, "m"),
        rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
    ];
    cgroup::apply_device_rules_v2(&dir, &rules).unwrap();
    // Applying again replaces the program rather than stacking a second one.
    cgroup::apply_device_rules_v2(&dir, &rules).unwrap();
    let nodes = tempfile::tempdir().unwrap();
    let mem = nodes.path().join("zero");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &mem,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(1, 5),
    )
    .unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs && \
         if cat /dev/null; then echo null-ok; fi; \
         if head -c 1 {} >/dev/null 2>&1; then echo mem-open; else echo mem-denied; fi",
        dir.display(),
        mem.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), "null-ok\nmem-denied", "{out:?}");
}

/// A parent made for a caller's cgroups goes with the last of them (`remove_if_empty`),
/// stays while one is left, and a cgroup created after it went makes it again.
#[test]
fn an_empty_parent_is_removed_and_a_used_one_kept() {
    let Some(t) = setup() else { return };
    let none = LinuxResources::default();
    let sibling =
        t.fs.manager(&CgroupPath::under(t.parent.as_path().to_str().unwrap(), "other").unwrap());
    t.cgroup.create(&none).unwrap();
    sibling.create(&none).unwrap();
    let parents = t.fs.manager(&t.parent).paths();
    assert!(!parents.is_empty());
    t.cgroup.remove().unwrap();
    t.fs.remove_if_empty(&t.parent).unwrap();
    for p in &parents {
        assert!(
            p.exists(),
            "{} removed while a cgroup is left in it",
            p.display()
        );
    }
    sibling.remove().unwrap();
    t.fs.remove_if_empty(&t.parent).unwrap();
    for p in &parents {
        assert!(!p.exists(), "{} left empty", p.display());
    }
    t.fs.remove_if_empty(&t.parent).unwrap(); // gone already: fine
    t.cgroup.create(&none).unwrap();
    assert!(parents.iter().all(|p| p.exists()));
}

/// `MAJ:MIN` of a whole block device of this machine: the root filesystem's when it is
/// one (not a partition), else the first of `/sys/block/*/dev`.
fn a_whole_block_device() -> Option<(u32, u32)> {
    let dev = rustix::fs::stat("/").ok()?.st_dev;
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let sys = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if sys.is_dir() && !sys.join("partition").exists() {
        return Some((major, minor));
    }
    let mut devs: Vec<PathBuf> = fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("dev")))
        .filter(|p| p.exists())
        .collect();
    devs.sort();
    let text = fs::read_to_string(devs.first()?).ok()?;
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn block_io(weight: Option<u16>, read_bps: Option<(u32, u32, u64)>) -> LinuxResources {
    let mut b = LinuxBlockIoBuilder::default();
    if let Some(weight) = weight {
        b = b.weight(weight);
    }
    if let Some((major, minor, rate)) = read_bps {
        b = b.throttle_read_bps_device(vec![
            LinuxThrottleDeviceBuilder::default()
                .major(i64::from(major))
                .minor(i64::from(minor))
                .rate(rate)
                .build()
                .unwrap(),
        ]);
    }
    LinuxResourcesBuilder::default()
        .block_io(b.build().unwrap())
        .build()
        .unwrap()
}

/// A read throttle on a whole disk reaches `blkio.throttle.read_bps_device` (v1) or
/// `io.max` (v2), and a rate of 0 removes it; a weight is written where the kernel has
/// a proportional I/O scheduler's file, and is a warning where it has none.
#[test]
fn a_read_throttle_reaches_the_blkio_files() {
    let Some(t) = setup() else { return };
    let present = match t.fs.layout() {
        Layout::V2 => {
            let root = t.fs.unified_mount().unwrap();
            fs::read_to_string(root.join("cgroup.controllers"))
                .unwrap()
                .split_whitespace()
                .any(|c| c == "io")
        }
        Layout::V1 | Layout::Hybrid => t.fs.v1_mount(Controller::Blkio).is_some(),
    };
    if !present {
        eprintln!("skipped: no blkio (v2: io) controller");
        return;
    }
    let Some((major, minor)) = a_whole_block_device() else {
        eprintln!("skipped: no whole block device found");
        return;
    };
    let warnings = t
        .cgroup
        .create(&block_io(None, Some((major, minor, 1 << 20))))
        .unwrap();
    if let Some(w) = warnings.iter().find(|w| {
        matches!(
            w,
            Warning::Ignored {
                resource: "blkio throttling",
                ..
            }
        )
    }) {
        eprintln!("skipped: {w}");
        return;
    }
    let (file, line) = match t.fs.layout() {
        Layout::V2 => ("io.max", format!("{major}:{minor} rbps=1048576")),
        _ => (
            "blkio.throttle.read_bps_device",
            format!("{major}:{minor} 1048576"),
        ),
    };
    let content = t.read(Controller::Blkio, file);
    assert!(
        content.lines().any(|l| l.starts_with(&line)),
        "{line:?} not in {file}: {content:?}"
    );
    // A rate of 0 removes the limit.
    t.cgroup
        .apply(&block_io(None, Some((major, minor, 0))))
        .unwrap();
    let content = t.read(Controller::Blkio, file);
    assert!(
        !content.contains("1048576"),
        "limit left in {file}: {content:?}"
    );
    // A weight: written where the kernel has the file, a warning where it has none.
    let warnings = t.cgroup.apply(&block_io(Some(500), None)).unwrap();
    let ignored = warnings.iter().any(|w| {
        matches!(
            w,
            Warning::Ignored {
                resource: "blkio weight",
                ..
            }
        )
    });
    if !ignored {
        let dir = t.dir(Controller::Blkio);
        let weights = [
            "blkio.weight",
            "blkio.bfq.weight",
            "io.weight",
            "io.bfq.weight",
        ];
        let file = weights.iter().find(|f| dir.join(f).exists()).unwrap();
        let value = t.read(Controller::Blkio, file);
        assert!(
            value.contains("500") || value.contains("4950"),
            "{file}: {value:?}"
        );
    }
}
