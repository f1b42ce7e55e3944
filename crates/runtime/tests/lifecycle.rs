//! The binary driven through runc's lifecycle on a busybox bundle: create, start, state,
//! exec, ps, pause/resume, kill, delete; run; the console socket; security properties.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

mod common;

use std::io::{IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;

use common::{Bundle, Runtime, can_run, cgroup_exists};

#[test]
fn create_start_state_exec_kill_delete() {
    if !can_run("create_start_state_exec_kill_delete") {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&rt, "life", &["sleep", "300"]);
    let id = "life";
    rt.track(id);
    let pid_file = b.path().join("pid");
    let bundle = b.path().to_str().unwrap();
    rt.ok_detached(&[
        "create",
        "--bundle",
        bundle,
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ]);
    let st = rt.state(id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["ociVersion"], "1.1.0");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(cgroup_exists(&b.cgroup()), "the cgroup was made");
    // The same ID twice is refused.
    let again = rt.run(&["create", "--bundle", bundle, id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    rt.ok(&["start", id]);
    assert_eq!(rt.state(id)["status"], "running");
    let out = rt.ok(&["exec", id, "sh", "-c", "echo in-$(hostname); exit 0"]);
    assert!(out.starts_with("in-"), "{out}");
    let code = rt.run(&["exec", id, "sh", "-c", "exit 7"]).status.code();
    assert_eq!(code, Some(7), "exec returns the process's status");
    let missing = rt.run(&["exec", id, "/no/such/command"]).status.code();
    assert_eq!(missing, Some(127));
    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", id])).unwrap();
    assert_eq!(pids, vec![pid]);
    let listed: serde_json::Value =
        serde_json::from_str(&rt.ok(&["list", "--format=json"])).unwrap();
    assert_eq!(listed[0]["id"], id);

    rt.ok(&["pause", id]);
    assert_eq!(rt.state(id)["status"], "paused");
    rt.ok(&["resume", id]);
    assert_eq!(rt.state(id)["status"], "running");
    rt.ok(&["update", "--pids-limit", "50", id]);

    let busy = rt.run(&["delete", id]);
    assert_eq!(
        busy.status.code(),
        Some(1),
        "a running container is not deleted"
    );
    rt.ok(&["kill", id, "KILL"]);
    assert!(rt.wait_status(id, "stopped"));
    rt.ok(&["delete", id]);
    assert!(!cgroup_exists(&b.cgroup()), "delete removes the cgroup");
    let gone = rt.run(&["state", id]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"));
    // --force of a missing container is not an error (the shim relies on it).
    rt.ok(&["delete", "--force", id]);
}

#[test]
fn run_returns_the_exit_code_and_cleans_up() {
    if !can_run("run_returns_the_exit_code_and_cleans_up") {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&rt, "run", &["sh", "-c", "echo out; exit 3"]);
    rt.track("run");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), "run"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(rt.ok(&["list", "-q"]), "", "run deletes the container");
    assert!(!cgroup_exists(&b.cgroup()));
}

#[test]
fn errors_are_one_json_line_in_the_log() {
    if !can_run("errors_are_one_json_line_in_the_log") {
        return;
    }
    let rt = Runtime::new();
    let log = rt.root.path().join("log.json");
    let log_arg = format!("--log={}", log.display());
    let out = rt.run(&[&log_arg, "--log-format", "json", "start", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist");
    assert!(line["time"].is_string());
    let cp = rt.run(&["checkpoint", "--image-path", "/x", "c"]);
    assert_eq!(cp.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&cp.stderr).contains("not supported"));
    let bad = rt.run(&["kill", "c", "SIGNOPE"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown signal"));
    let features: serde_json::Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert_eq!(features["ociVersionMax"], "1.1.0");
}

fn recv_fd(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
    rustix::net::recvmsg(
        &conn,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        rustix::net::RecvFlags::CMSG_CLOEXEC,
    )
    .unwrap();
    control
        .drain()
        .find_map(|m| match m {
            rustix::net::RecvAncillaryMessage::ScmRights(mut f) => f.next(),
            _ => None,
        })
        .expect("a descriptor arrived")
}

#[test]
fn console_socket_receives_the_pty_master() {
    if !can_run("console_socket_receives_the_pty_master") {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&rt, "tty", &["sh", "-c", "tty; echo done"]);
    b.edit(|c| c["process"]["terminal"] = serde_json::json!(true));
    rt.track("tty");
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let bundle = b.path().to_str().unwrap().to_string();
    let sock_arg = sock.to_str().unwrap().to_string();
    let creator = {
        let mut c = rt.cmd(&[
            "create",
            "--bundle",
            &bundle,
            "--console-socket",
            &sock_arg,
            "tty",
        ]);
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let master = recv_fd(&listener);
    let out = creator.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    rt.ok(&["start", "tty"]);
    let mut text = String::new();
    // EIO once the container's side is closed ends the read.
    let _ = std::fs::File::from(master).read_to_string(&mut text);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("done"), "{text:?}");
    assert!(rt.wait_status("tty", "stopped"));
    rt.ok(&["delete", "tty"]);
}

#[test]
fn the_container_leads_its_session_and_inherits_no_descriptors() {
    if !can_run("the_container_leads_its_session_and_inherits_no_descriptors") {
        return;
    }
    let rt = Runtime::new();
    let script = "read a b c d e sid rest < /proc/1/stat; echo sid=$sid; ls /proc/self/fd";
    let b = Bundle::new(&rt, "sec", &["sh", "-c", script]);
    rt.track("sec");
    // A descriptor of the caller without close-on-exec: it must not reach the container.
    let leak = std::fs::File::open("/etc/hostname").unwrap();
    rustix::io::fcntl_setfd(leak.as_fd(), rustix::io::FdFlags::empty()).unwrap();
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), "sec"]);
    drop(leak);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("sid=1"), "{text}");
    let fds: Vec<&str> = lines.collect();
    // 0, 1, 2 and ls's own directory descriptor.
    assert_eq!(fds, ["0", "1", "2", "3"], "{text}");
    // CVE-2019-5736: while the container is `created`, its PID 1 is our binary; a
    // process in the container must not be able to write to it through /proc/1/exe.
    let b2 = Bundle::new(&rt, "exe", &["sleep", "300"]);
    rt.track("exe");
    rt.ok_detached(&["create", "--bundle", b2.path().to_str().unwrap(), "exe"]);
    let before = std::fs::read(Runtime::bin()).unwrap();
    let out = rt.run(&[
        "exec",
        "exe",
        "sh",
        "-c",
        "echo x >> /proc/1/exe && echo WROTE",
    ]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("WROTE"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(Runtime::bin()).unwrap(), before);
    rt.ok(&["delete", "--force", "exe"]);
}

#[test]
fn without_a_mount_namespace_the_container_is_chrooted() {
    if !can_run("without_a_mount_namespace_the_container_is_chrooted") {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(
        &rt,
        "nomnt",
        &["sh", "-c", "ls /; test -e /proc/self || echo no-proc"],
    );
    b.edit(|c| {
        c["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "uts"}]);
        c["linux"]["maskedPaths"] = serde_json::json!([]);
        c["linux"]["readonlyPaths"] = serde_json::json!([]);
    });
    rt.track("nomnt");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), "nomnt"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // Only the rootfs's own entries (and the working directory it made), no mounts.
    assert!(text.lines().any(|l| l == "bin"), "{text}");
    assert!(text.contains("no-proc"), "nothing was mounted: {text}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let bundle = b.path().to_str().unwrap();
    assert!(
        !mounts.contains(bundle),
        "nothing mounted on the host: {mounts}"
    );
}
