//! End-to-end tests of `Container::spawn`/`start`/`wait` with real namespaces (root).

#![allow(clippy::unwrap_used)]

mod common;

use common::{Guard, Rootfs, options, run, run_with, sh};
use isolate::{Container, Error, ErrorKind, ExitStatus, Stage};

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn hostname_pid1_and_separate_namespaces() {
    let r = Rootfs::busybox();
    let out = sh(
        &r,
        "hostname; echo $$; for n in mnt ipc uts net pid; do readlink /proc/self/ns/$n; done",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "isolated");
    assert_eq!(lines[1], "1", "the command is PID 1");
    for (i, kind) in ["mnt", "ipc", "uts", "net", "pid"].iter().enumerate() {
        let inside = lines[2 + i];
        assert!(inside.starts_with(kind), "{inside}");
        assert_ne!(inside, host_ns(kind), "{kind} namespace must be new");
    }
}

#[test]
fn new_network_namespace_has_only_lo() {
    let r = Rootfs::busybox();
    let out = sh(&r, "ls /sys/class/net; ip -o link show | cut -d: -f2");
    let names: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(names, vec!["lo", "lo"], "{out:?}");
}

#[test]
fn env_cwd_and_user_are_applied() {
    let r = Rootfs::busybox();
    let mut spec = r.spec(&[
        "sh",
        "-c",
        "id -u; id -g; id -G; pwd; echo $GREETING; touch x || echo denied",
    ]);
    {
        let p = spec.process_mut().as_mut().unwrap();
        p.set_env(Some(vec![
            "PATH=/bin".into(),
            "GREETING=hello world".into(),
        ]));
        p.set_cwd("/home/user/work".into());
        let u = p.user_mut();
        u.set_uid(1000);
        u.set_gid(1000);
        u.set_additional_gids(Some(vec![1000, 2000]));
    }
    let out = run(&spec).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1000");
    assert_eq!(lines[2], "1000 2000");
    assert_eq!(lines[3], "/home/user/work");
    assert_eq!(lines[4], "hello world");
    // The workdir is created as root 0755, so user 1000 cannot write there (docker too).
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
    assert!(r.path().join("home/user/work").is_dir());
}

#[test]
fn exit_codes_follow_docker() {
    let r = Rootfs::busybox();
    let code =
        |args: &[&str]| -> Result<i32, Error> { run(&r.spec(args)).map(|o| o.status.code()) };
    assert_eq!(code(&["true"]).unwrap(), 0);
    assert_eq!(code(&["sh", "-c", "exit 3"]).unwrap(), 3);
    // Killed from outside (PID 1 cannot be SIGKILLed from inside its namespace).
    let mut running = Guard(
        Container::spawn(&r.spec(&["sleep", "100"]), options())
            .unwrap()
            .start()
            .unwrap(),
    );
    running.signal(libc::SIGKILL).unwrap();
    let status = running.wait().unwrap();
    assert_eq!(status, ExitStatus::Signaled(9));
    assert_eq!(status.code(), 137);

    let not_found = code(&["no-such-command"]).unwrap_err();
    assert_eq!(not_found.exit_code(), 127, "{not_found}");
    assert_eq!(not_found.kind(), ErrorKind::NotFound);
    assert!(
        not_found
            .to_string()
            .contains("executable file not found in $PATH"),
        "{not_found}"
    );
    let missing_path = code(&["/bin/nope"]).unwrap_err();
    assert_eq!(missing_path.exit_code(), 127, "{missing_path}");

    let not_exec = code(&["/etc/passwd"]).unwrap_err();
    assert_eq!(not_exec.exit_code(), 126, "{not_exec}");
    assert!(
        not_exec.to_string().contains("permission denied"),
        "{not_exec}"
    );
    let dir = code(&["/tmp"]).unwrap_err();
    assert_eq!(dir.exit_code(), 126, "{dir}");
}

#[test]
fn stdin_is_piped_through() {
    let r = Rootfs::busybox();
    let out = run_with(&r.spec(&["cat"]), options(), Some(b"hi\n")).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert_eq!(out.stdout, "hi\n");
}

#[test]
fn setup_failure_is_a_clear_125() {
    let r = Rootfs::busybox();
    let mut spec = r.spec(&["true"]);
    let missing = r.path().join("no-such-volume-source");
    spec.mounts_mut()
        .as_mut()
        .unwrap()
        .push(isolate::spec::bind_mount(&missing, "/data", false));
    let err = run(&spec).unwrap_err();
    assert_eq!(err.exit_code(), 125);
    match &err {
        Error::Init(f) => {
            assert_eq!(f.stage, Stage::Mount);
            assert_eq!(f.path.as_deref(), Some(std::path::Path::new("/data")));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("no-such-volume-source"), "{err}");
}

#[test]
fn no_command_and_impossible_workdir_are_clear_errors() {
    let r = Rootfs::busybox();
    let empty: [&str; 0] = [];
    let err = run(&r.spec(&empty)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.exit_code(), 125);
    assert!(err.to_string().contains("no command"), "{err}");

    let mut spec = r.spec(&["true"]);
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_cwd("/etc/passwd/sub".into());
    let err = run(&spec).unwrap_err();
    match &err {
        Error::Init(f) => {
            assert_eq!(f.stage, Stage::Cwd);
            assert_eq!(f.errno, Some(libc::ENOTDIR));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.exit_code(), 125);
}

#[test]
fn namespaces_given_by_path_are_joined() {
    let r = Rootfs::busybox();
    let mut o = options();
    o.stdout = isolate::Stdio::Null;
    o.stderr = isolate::Stdio::Null;
    let donor = Guard(
        Container::spawn(
            &r.spec(&["sh", "-c", "echo shared > /dev/shm/marker; exec sleep 1000"]),
            o,
        )
        .unwrap()
        .start()
        .unwrap(),
    );
    let pid = donor.pid();
    let ns_of = |kind: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let r2 = Rootfs::busybox();
    let mut spec = r2.spec(&[
        "sh",
        "-c",
        "for n in pid net ipc uts; do readlink /proc/self/ns/$n; done; ps -o comm; \
         for i in $(seq 50); do [ -s /dev/shm/marker ] && break; sleep 0.1; done; \
         cat /dev/shm/marker",
    ]);
    {
        let linux = spec.linux_mut().as_mut().unwrap();
        let mut nss = linux.namespaces().clone().unwrap();
        for n in &mut nss {
            let kind = match n.typ() {
                oci_spec::runtime::LinuxNamespaceType::Pid => "pid",
                oci_spec::runtime::LinuxNamespaceType::Network => "net",
                oci_spec::runtime::LinuxNamespaceType::Ipc => "ipc",
                _ => continue,
            };
            n.set_path(Some(format!("/proc/{pid}/ns/{kind}").into()));
        }
        linux.set_namespaces(Some(nss));
    }
    let mut o = options();
    o.shm_from = Some(format!("/proc/{pid}/ns/mnt").into());
    let out = run_with(&spec, o, None).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"shared"),
        "the donor's /dev/shm: {out:?}"
    );
    assert_eq!(lines[0], ns_of("pid"), "{out:?}");
    assert_eq!(lines[1], ns_of("net"), "{out:?}");
    assert_eq!(lines[2], ns_of("ipc"), "{out:?}");
    assert_ne!(lines[3], ns_of("uts"), "the UTS namespace stays new");
    // The donor's sleep is visible in the shared PID namespace.
    assert!(out.stdout.contains("sleep"), "{out:?}");
    // This process's own children still get its own PID namespace.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/pid_for_children").unwrap(),
        std::fs::read_link("/proc/self/ns/pid").unwrap()
    );
}
