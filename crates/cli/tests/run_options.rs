//! `run` options of issue 14: `--privileged` with the capabilities the caller holds,
//! `--shm-size`, `--group-add`, `--stop-signal`, `--stop-timeout`, `-e VAR` without a
//! value, `--sysctl`, the CFS, memory and OOM options, `--uts`, `--cgroupns`,
//! `--domainname`, `--device`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;

fn cap_line(status: &str, key: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn privileged_gets_the_capabilities_held() {
    let env = Env::new("priv");
    let out = env.run(
        &["--privileged", "--network", "none"],
        &["cat", "/proc/self/status"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inside = String::from_utf8_lossy(&out.stdout).into_owned();
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(
        cap_line(&inside, "CapEff:"),
        cap_line(&host, "CapBnd:"),
        "{inside}"
    );
    // Every host device node (but console and ptmx) is there, as docker gives it.
    let inside = env.stdout(&["--privileged", "--network", "none"], &["ls", "/dev"]);
    let inside: Vec<&str> = inside.split_whitespace().collect();
    for e in std::fs::read_dir("/dev").unwrap().flatten() {
        use std::os::unix::fs::FileTypeExt;
        let ft = e.file_type().unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if (ft.is_char_device() || ft.is_block_device()) && name != "console" && name != "ptmx" {
            assert!(
                inside.contains(&name.as_str()),
                "/dev/{name} missing: {inside:?}"
            );
        }
    }
    // Not without --privileged.
    let plain = env.stdout(&["--network", "none"], &["ls", "/dev"]);
    assert!(
        !plain
            .split_whitespace()
            .any(|n| n == "loop-control" || n == "kmsg"),
        "{plain}"
    );
    // Masked paths are gone and /sys is writable.
    let mounts = env.stdout(
        &["--privileged", "--network", "none"],
        &["cat", "/proc/mounts"],
    );
    let sys = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/sys"))
        .unwrap();
    assert!(
        sys.split_whitespace().nth(3).unwrap().starts_with("rw"),
        "{sys}"
    );
    env.assert_clean();
}

#[test]
fn shm_groups_env_and_sysctls() {
    let env = Env::new("runopts");
    let shm = env.stdout(
        &["--shm-size", "1m", "--network", "none"],
        &["grep", " /dev/shm ", "/proc/mounts"],
    );
    assert!(shm.contains("size=1024k"), "{shm}");
    let (code, _) = env.md.fails(&env.args(&["--shm-size", "0"], &["true"]));
    assert_eq!(code, 125);
    let ids = env.stdout(
        &[
            "--group-add",
            "1234",
            "--group-add",
            "5678",
            "--network",
            "none",
        ],
        &["id", "-G"],
    );
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert!(ids.contains(&"1234") && ids.contains(&"5678"), "{ids:?}");
    // -e NAME takes this process's value; an unset one is left out.
    let out = env.md.run_env(
        &env.args(
            &[
                "-e",
                "MYDOCKER_TEST_FROM_HOST",
                "-e",
                "MYDOCKER_TEST_UNSET",
                "--network",
                "none",
            ],
            &[
                "sh",
                "-c",
                "echo \"$MYDOCKER_TEST_FROM_HOST\"; env | grep -c MYDOCKER_TEST_UNSET",
            ],
        ),
        &[("MYDOCKER_TEST_FROM_HOST", "hello")],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n0\n");
    // Namespaced sysctls are set; others are refused with docker's error.
    let v = env.stdout(
        &[
            "--network",
            "none",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.shmmni=1000",
        ],
        &[
            "sh",
            "-c",
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
        ],
    );
    assert_eq!(v, "1\n1000\n");
    let (code, err) = env
        .md
        .fails(&env.args(&["--sysctl", "vm.swappiness=1"], &["true"]));
    assert_eq!(code, 125);
    assert!(err.contains("is not allowed"), "{err}");
    let (code, _) = env.md.fails(&env.args(
        &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
        &["true"],
    ));
    assert_eq!(code, 125);
    env.assert_clean();
}

#[test]
fn stop_signal_and_timeout() {
    let env = Env::new("stopsig");
    let md = &env.md;
    let cg = env.cg.name.as_str();
    md.ok(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--cgroup-parent",
        cg,
        "--network",
        "none",
        "--stop-signal",
        "SIGUSR1",
        &env.image,
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    assert_eq!(
        md.ok(&["inspect", "--format", "{{.Config.StopSignal}}", "usr1"])
            .trim(),
        "SIGUSR1"
    );
    // Wait (bounded) until the trap is installed.
    for _ in 0..100 {
        if md.ok(&["logs", "usr1"]).contains("ready") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    md.ok(&["stop", "-t", "30", "usr1"]);
    assert_eq!(
        md.ok(&["inspect", "--format", "{{.State.ExitCode}}", "usr1"])
            .trim(),
        "0"
    );
    assert!(md.ok(&["logs", "usr1"]).contains("got-usr1"));
    // A PID 1 that ignores SIGTERM is killed after --stop-timeout.
    md.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--cgroup-parent",
        cg,
        "--network",
        "none",
        "--stop-timeout",
        "1",
        &env.image,
        "sleep",
        "600",
    ]);
    assert_eq!(
        md.ok(&["inspect", "--format", "{{.Config.StopTimeout}}", "stubborn"])
            .trim(),
        "1"
    );
    md.ok(&["stop", "stubborn"]);
    assert_eq!(
        md.ok(&["inspect", "--format", "{{.State.ExitCode}}", "stubborn"])
            .trim(),
        "137"
    );
    let (code, _) = md.fails(&["create", "--stop-signal", "NOPE", &env.image, "true"]);
    assert_eq!(code, 125);
    md.ok(&["rm", "usr1", "stubborn"]);
    env.assert_clean();
}

#[test]
fn cfs_memory_and_oom_options_reach_the_cgroup_and_inspect() {
    let env = Env::new("runcfs");
    let cg = env.cg.name.clone();
    let id = env
        .md
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--cgroup-parent",
            &cg,
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "25000",
            "-m",
            "64m",
            "--memory-reservation",
            "32m",
            "--oom-kill-disable",
            "--oom-score-adj",
            "500",
            &env.image,
            "sleep",
            "1000",
        ])
        .trim()
        .to_owned();
    match env.cg_file(&id, &["cpu.cfs_quota_us"]) {
        Some(q) => {
            assert_eq!(q, "25000");
            assert_eq!(
                env.cg_file(&id, &["cpu.cfs_period_us"]).as_deref(),
                Some("50000")
            );
            // v1 only: cgroup v2 cannot disable the OOM killer (a warning says so).
            let oom = env
                .cg_file(&id, &["memory.oom_control"])
                .unwrap_or_default();
            assert!(oom.contains("oom_kill_disable 1"), "{oom}");
        }
        None => assert_eq!(
            env.cg_file(&id, &["cpu.max"]).as_deref(),
            Some("25000 50000")
        ),
    }
    assert_eq!(
        env.cg_file(&id, &["memory.soft_limit_in_bytes", "memory.low"])
            .as_deref(),
        Some("33554432")
    );
    assert_eq!(
        env.md.ok(&["exec", &id, "cat", "/proc/1/oom_score_adj"]),
        "500\n"
    );
    assert_eq!(
        env.inspect(
            &id,
            "{{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.MemoryReservation}} {{.HostConfig.OomKillDisable}} {{.HostConfig.OomScoreAdj}}"
        ),
        "50000 25000 33554432 true 500"
    );
    env.md.ok(&["rm", "-f", &id]);
    for (flags, msg) in [
        (
            &["--cpus", "1", "--cpu-period", "50000"][..],
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            &["--cpu-period", "999"][..],
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (
            &["--cpu-quota", "999"][..],
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ),
        (
            &["--memory-swappiness", "101"][..],
            "Invalid value: 101, valid memory swappiness range is 0-100",
        ),
        (
            &["--oom-score-adj", "1001"][..],
            "Invalid value 1001, range for oom score adj is [-1000, 1000]",
        ),
        (
            &["-m", "16m", "--memory-reservation", "32m"][..],
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
    ] {
        let (code, err) = env.md.fails(&env.args(flags, &["true"]));
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: {err}");
    }
    assert_eq!(env.md.ok(&["ps", "-aq"]).trim(), "");
    env.assert_clean();
}

/// `--device DIR[:CONTAINER_DIR]`: every device node under the directory, at the same
/// place under the container's directory; other files and symbolic links are skipped.
#[test]
fn a_device_directory_gives_every_node_under_it() {
    let env = Env::new("rundevdir");
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("devs");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    let mknod = |path: &std::path::Path, major: u32, minor: u32| {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(major, minor),
        )
        .unwrap();
    };
    mknod(&host.join("null"), 1, 3);
    mknod(&host.join("sub/zero"), 1, 5);
    std::fs::write(host.join("file"), "not a device").unwrap();
    std::os::unix::fs::symlink("/dev/null", host.join("link")).unwrap();
    let spec = format!("{}:/devs", host.display());
    let out = env.stdout(
        &["--network", "none", "--device", &spec],
        &[
            "sh",
            "-c",
            "echo x > /devs/null && head -c 3 /devs/sub/zero | wc -c; \
             ls /devs/file /devs/link 2>/dev/null | wc -l",
        ],
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["3", "0"]);
    // Without a container path, the nodes keep the host's paths.
    let out = env.stdout(
        &["--network", "none", "--device", &host.display().to_string()],
        &[
            "sh",
            "-c",
            &format!("head -c 2 {}/sub/zero | wc -c", host.display()),
        ],
    );
    assert_eq!(out.trim(), "2");
    // A directory without device nodes is docker's "not a device node".
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, err) = env.md.fails(&env.args(
        &[
            "--network",
            "none",
            "--device",
            &empty.display().to_string(),
        ],
        &["true"],
    ));
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("not a device node"), "{err}");
    env.assert_clean();
}

#[test]
fn uts_cgroupns_domainname_and_devices() {
    let env = Env::new("runuts");
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let none = ["--network", "none"];
    let out = env.stdout(&[&none[..], &["--uts", "host"]].concat(), &["hostname"]);
    assert_eq!(out.trim(), host);
    let out = env.stdout(
        &[&none[..], &["--domainname", "example.org"]].concat(),
        &["cat", "/proc/sys/kernel/domainname"],
    );
    assert_eq!(out.trim(), "example.org");
    let ours = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
    let ours = ours.to_string_lossy();
    let ns = |mode: &str| {
        env.stdout(
            &[&none[..], &["--cgroupns", mode]].concat(),
            &["readlink", "/proc/self/ns/cgroup"],
        )
        .trim()
        .to_owned()
    };
    assert_eq!(ns("host"), ours);
    assert_ne!(ns("private"), ours);
    // A device with read permission only: it reads, opening it for writing is denied
    // by the cgroup. (/dev/cpu_dma_latency: in every kernel, not among the devices a
    // container may use by default, and opening it has no lasting effect.)
    let out = env.stdout(
        &[&none[..], &["--device", "/dev/cpu_dma_latency:/dev/lat:r"]].concat(),
        &[
            "sh",
            "-c",
            "head -c 4 /dev/lat | wc -c; if (exec 3>/dev/lat) 2>/dev/null; then echo opened; else echo denied; fi",
        ],
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["4", "denied"]);
    let out = env.stdout(
        &[&none[..], &["--device", "/dev/cpu_dma_latency:/dev/lat"]].concat(),
        &[
            "sh",
            "-c",
            "if (exec 3>/dev/lat) 2>/dev/null; then echo opened; else echo denied; fi",
        ],
    );
    assert_eq!(out.trim(), "opened");
    for (flags, msg) in [
        (
            &["--device", "/dev/nope"][..],
            "error gathering device information while adding custom device \"/dev/nope\": no such file or directory",
        ),
        (&["--device", "/etc/passwd"][..], "not a device node"),
        (
            &["--device", "/dev/zero:rel"][..],
            "bad format for path: rel",
        ),
        (&["--uts", "other"][..], "--uts: invalid UTS mode"),
        (
            &["--uts", "host", "-h", "x"][..],
            "Conflicting options: hostname and the UTS mode",
        ),
        (
            &["--cgroupns", "shared"][..],
            "invalid cgroup namespace mode: shared",
        ),
    ] {
        let (code, err) = env.md.fails(&env.args(flags, &["true"]));
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: {err}");
    }
    env.assert_clean();
}
