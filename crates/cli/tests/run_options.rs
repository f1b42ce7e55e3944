//! `run` options of issue 14: `--privileged` with the capabilities the caller holds,
//! `--shm-size`, `--group-add`, `--stop-signal`, `--stop-timeout`, `-e VAR` without a
//! value, `--sysctl`.

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
