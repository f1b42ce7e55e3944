//! `--pid`, `--ipc` and `--network container:NAME` (issue 14): sharing another
//! container's namespaces (and /dev/shm), the host's, and docker's errors.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;

fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Removes the named containers when the test ends, even on failure.
struct Cleanup<'a>(&'a Env, &'a [&'a str]);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for name in self.1 {
            let _ = self.0.md.run(&["rm", "-f", name]);
        }
    }
}

#[test]
fn containers_share_a_donors_namespaces() {
    let env = Env::new("nsshare");
    let _c = Cleanup(&env, &["donor", "private", "stopped"]);
    let cg = env.cg.name.as_str();
    let id = env
        .md
        .ok(&[
            "run",
            "-d",
            "--name",
            "donor",
            "--ipc",
            "shareable",
            "--cgroup-parent",
            cg,
            &env.image,
            "sh",
            "-c",
            "echo shm-data > /dev/shm/m; exec sleep 1000",
        ])
        .trim()
        .to_owned();
    let pid = env.md.ok(&["inspect", "-f", "{{.State.Pid}}", "donor"]);
    let pid = pid.trim();

    // Network: the same namespace, interfaces, address and hostname.
    let script = "readlink /proc/self/ns/net; hostname; ip -o -4 addr show eth0 | awk '{print $4}'";
    let donor_view = env.md.ok(&["exec", "donor", "sh", "-c", script]);
    let shared = env.stdout(&["--network", "container:donor"], &["sh", "-c", script]);
    assert_eq!(shared, donor_view);
    assert!(shared.starts_with(&ns(pid, "net")), "{shared}");
    assert!(shared.contains('.'), "an IPv4 address: {shared}");
    env.md.ok(&[
        "create",
        "--name",
        "stopped",
        "--network",
        "container:donor",
        &env.image,
    ]);
    assert_eq!(
        env.md
            .ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "stopped"])
            .trim(),
        format!("container:{id}")
    );

    // PID: the donor's processes are visible, and its namespace is ours.
    let out = env.stdout(
        &["--pid", "container:donor"],
        &["sh", "-c", "readlink /proc/self/ns/pid; ps -o comm"],
    );
    assert!(out.starts_with(&ns(pid, "pid")), "{out}");
    assert!(out.lines().any(|l| l.trim() == "sleep"), "{out}");

    // IPC: the donor's namespace and its /dev/shm.
    let out = env.stdout(
        &["--ipc", "container:donor"],
        &["sh", "-c", "readlink /proc/self/ns/ipc; cat /dev/shm/m"],
    );
    assert_eq!(out, format!("{}\nshm-data\n", ns(pid, "ipc")));
    assert_eq!(
        env.md
            .ok(&["inspect", "-f", "{{.HostConfig.IpcMode}}", "donor"])
            .trim(),
        "shareable"
    );

    // A private IPC donor (docker's default) cannot be joined.
    env.md.ok(&[
        "run",
        "-d",
        "--name",
        "private",
        "--cgroup-parent",
        cg,
        &env.image,
        "sleep",
        "1000",
    ]);
    assert_eq!(
        env.md
            .ok(&["inspect", "-f", "{{.HostConfig.IpcMode}}", "private"])
            .trim(),
        "private"
    );
    let out = env.run(&["--ipc", "container:private"], &["true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)"),
        "{err}"
    );

    // A donor that is not running.
    env.md.ok(&["stop", "-t", "0", "private"]);
    let private_id = env.md.ok(&["inspect", "-f", "{{.Id}}", "private"]);
    let out = env.run(&["--network", "container:private"], &["true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains(&format!(
            "cannot join network of a non running container: {}",
            private_id.trim()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = env.run(&["--pid", "container:private"], &["true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));

    for name in ["donor", "private", "stopped"] {
        env.md.ok(&["rm", "-f", name]);
    }
    env.assert_clean();
}

#[test]
fn host_pid_and_ipc() {
    let env = Env::new("nshost");
    let out = env.stdout(
        &["--pid", "host", "--ipc", "host", "--network", "none"],
        &["sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; ls /proc/1/ns >/dev/null && echo host-init"],
    );
    assert_eq!(
        out,
        format!("{}\n{}\nhost-init\n", ns("self", "pid"), ns("self", "ipc"))
    );
    // The defaults are new namespaces.
    let out = env.stdout(&["--network", "none"], &["readlink", "/proc/self/ns/pid"]);
    assert_ne!(out.trim(), ns("self", "pid"));
    env.assert_clean();
}

#[test]
fn bad_modes_and_unknown_donors_fail_as_docker() {
    let env = Env::new("nsbad");
    for (flags, want) in [
        (&["--pid", "bogus"][..], "--pid: invalid PID mode"),
        (&["--ipc", "bogus"][..], "--ipc: invalid IPC mode"),
        (
            &["--network", "container:nope"][..],
            "No such container: nope",
        ),
        (&["--pid", "container:nope"][..], "No such container: nope"),
        (&["--ipc", "container:nope"][..], "No such container: nope"),
    ] {
        let out = env.run(flags, &["true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{flags:?}: {err}");
    }
    let out = env.run(&["--network", "container:x", "--hostname", "h"], &["true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("conflicting options: hostname and the network mode")
    );
    env.assert_clean();
}
