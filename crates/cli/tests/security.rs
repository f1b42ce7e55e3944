//! What a process in a default container can do to the user who started it (root): the
//! caller's terminal and the caller's own descriptors must be out of its reach, as with
//! docker and podman. The attempts are made by `test_support::PROBE`, a static program
//! mounted read-only into the container.

#![allow(clippy::unwrap_used)]

mod common;

use common::Env;
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::process::Command;
use std::time::{Duration, Instant};

/// What TIOCSTI pushes: a command line that would run on the host if it arrived in the
/// caller's shell.
const MARKER: &str = "echo MDPWNED\n";

/// The probe's `key value` lines.
fn parse(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Runs `mydocker ARGS` as the leader of a new session whose controlling terminal is a
/// pty the test owns (the user's terminal), with the pty as stdin, stdout and stderr.
/// Returns what mydocker wrote to the terminal, its exit status, and whatever input is
/// waiting in the terminal afterwards (what TIOCSTI would have typed into the user's
/// shell).
fn on_terminal(env: &Env, args: &[&str]) -> (String, std::process::ExitStatus, String) {
    let (master, slave) = common::pty_pair();
    // Non-canonical, so a pushed byte is readable at once even without a newline.
    let mut t = rustix::termios::tcgetattr(&slave).unwrap();
    t.local_modes.remove(rustix::termios::LocalModes::ICANON);
    rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();
    let mut cmd = Command::new("setsid");
    cmd.arg("-c")
        .arg(env!("CARGO_BIN_EXE_mydocker"))
        .arg("--root")
        .arg(env.md.root())
        .args(args)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let mut master = std::fs::File::from(master);
    rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let mut buf = [0u8; 4096];
        match master.read(&mut buf) {
            Ok(n) if n > 0 => {
                seen.extend_from_slice(&buf[..n]);
                continue;
            }
            _ => {}
        }
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "mydocker {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    // Input waiting in the terminal: it would be read by the user's shell next.
    let mut pending = Vec::new();
    rustix::fs::fcntl_setfl(slave.as_fd(), rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut slave = slave;
    while let Ok(n) = slave.read(&mut buf) {
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
    }
    (
        String::from_utf8_lossy(&seen).into_owned(),
        status,
        String::from_utf8_lossy(&pending).into_owned(),
    )
}

fn probe_mount() -> String {
    format!("{}:/probe:ro", test_support::PROBE)
}

/// Without `-t`: no controlling terminal, stdio are pipes or /dev/null: every TIOCSTI
/// fails. With `-t`: the only terminal is the container's own pty, whose session is the
/// container process's.
fn assert_contained(case: &str, tty: bool, out: &str, pending: &str) {
    let r = parse(out);
    assert!(
        pending.is_empty(),
        "{case}: the container typed {pending:?} into the caller's terminal\n{out}"
    );
    let pid = r
        .get("pid")
        .unwrap_or_else(|| panic!("{case}: no probe output: {out}"));
    assert_eq!(
        r.get("sid"),
        Some(pid),
        "{case}: the process does not lead a session of its own inside the container\n{out}"
    );
    if tty {
        assert_eq!(
            r.get("tty_sid"),
            Some(pid),
            "{case}: the terminal is not the container's own\n{out}"
        );
        assert!(!out.contains("MDPWNED\r\n$"), "{case}: {out}");
    } else {
        for target in ["tty", "fd0", "fd1", "fd2"] {
            let v = r.get(&format!("tiocsti.{target}")).map(String::as_str);
            assert!(
                v.is_some_and(|v| v.starts_with("errno")),
                "{case}: TIOCSTI on {target} gave {v:?}\n{out}"
            );
        }
        assert!(
            r.get("tty_sid").is_some_and(|v| v.starts_with("errno")),
            "{case}: fd 0 is a terminal\n{out}"
        );
    }
}

/// `run` and `exec`, with and without `-t` (and `-i`), from the user's terminal: the
/// container can neither reach that terminal nor push input into it.
#[test]
fn container_processes_cannot_type_into_the_callers_terminal() {
    let env = Env::new("tiocsti");
    let probe = probe_mount();
    let cg = env.cg.name.clone();
    let run = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["run", "--rm", "--network", "none", "--cgroup-parent", &cg]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(["-v", &probe, &env.image, "/probe", "tiocsti", MARKER].map(str::to_owned));
        a
    };
    for (case, flags, tty) in [
        ("run", &[][..], false),
        ("run -i", &["-i"][..], false),
        ("run -t", &["-t"][..], true),
        ("run -it", &["-it"][..], true),
    ] {
        let args = run(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, status, pending) = on_terminal(&env, &args);
        assert!(status.success(), "{case}: {status:?}\n{out}");
        assert_contained(case, tty, &out, &pending);
    }

    env.md.ok(&[
        "run",
        "-d",
        "--name",
        "target",
        "--init",
        "--network",
        "none",
        "--cgroup-parent",
        &cg,
        "-v",
        &probe,
        &env.image,
        "sleep",
        "300",
    ]);
    for (case, flags, tty) in [
        ("exec", &[][..], false),
        ("exec -i", &["-i"][..], false),
        ("exec -t", &["-t"][..], true),
        ("exec -it", &["-it"][..], true),
    ] {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend(["target", "/probe", "tiocsti", MARKER]);
        let (out, status, pending) = on_terminal(&env, &args);
        assert!(status.success(), "{case}: {status:?}\n{out}");
        assert_contained(case, tty, &out, &pending);
    }
    env.md.ok(&["rm", "-f", "target"]);
    env.assert_clean();
}

/// A file of the host given as stdout/stdin to `run` or `exec` stays out of the
/// container's reach: it sees pipes (or /dev/null), so it can neither read the file
/// through /proc/self/fd nor truncate it.
#[test]
fn container_processes_never_get_the_callers_descriptors() {
    let env = Env::new("callerfds");
    let cg = env.cg.name.clone();
    env.md.ok(&[
        "run",
        "-d",
        "--name",
        "target",
        "--init",
        "--network",
        "none",
        "--cgroup-parent",
        &cg,
        &env.image,
        "sleep",
        "300",
    ]);
    let script = "for f in 0 1 2; do readlink /proc/self/fd/$f; done; \
                  : > /proc/self/fd/1; : > /proc/self/fd/2; echo end";
    let dir = tempfile::tempdir().unwrap();
    let run_args = |i: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = ["run", "--rm", "--network", "none", "--cgroup-parent", &cg]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(i.iter().map(|s| s.to_string()));
        a.extend([env.image.as_str(), "sh", "-c", script].map(str::to_owned));
        a
    };
    let exec_args = |i: &[&'static str]| -> Vec<String> {
        let mut a = vec!["exec".to_owned()];
        a.extend(i.iter().map(|s| s.to_string()));
        a.extend(["target", "sh", "-c", script].map(str::to_owned));
        a
    };
    let cases = [
        ("run", run_args(&[]), false),
        ("run -i", run_args(&["-i"]), true),
        (
            "run --log-driver none",
            run_args(&["--log-driver", "none"]),
            false,
        ),
        ("exec", exec_args(&[]), false),
        ("exec -i", exec_args(&["-i"]), true),
    ];
    for (case, args, interactive) in cases {
        let input = dir.path().join("input");
        std::fs::write(&input, "SECRET INPUT\n").unwrap();
        let output = dir.path().join("output");
        std::fs::write(&output, "SECRET OUTPUT\n").unwrap();
        let mut cmd = env
            .md
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let out_file = std::fs::OpenOptions::new()
            .append(true)
            .open(&output)
            .unwrap();
        cmd.stdin(std::fs::File::open(&input).unwrap())
            .stdout(out_file.try_clone().unwrap())
            .stderr(out_file);
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{case}: mydocker did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let written = std::fs::read_to_string(&output).unwrap();
        assert!(status.success(), "{case}: {status:?}\n{written}");
        assert!(
            written.starts_with("SECRET OUTPUT\n"),
            "{case}: the container truncated the caller's output file:\n{written}"
        );
        assert!(written.contains("end"), "{case}: {written}");
        let links: Vec<&str> = written
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("WARNING:"))
            .take(3)
            .collect();
        let stdin = if interactive { "pipe:[" } else { "/dev/null" };
        assert!(
            links[0].starts_with(stdin),
            "{case}: stdin is {:?}",
            links[0]
        );
        for l in &links[1..] {
            assert!(
                l.starts_with("pipe:["),
                "{case}: an output is {l:?}\n{written}"
            );
        }
    }
    env.md.ok(&["rm", "-f", "target"]);
    env.assert_clean();
}

/// mydocker's own binary inside a container (the reaping PID 1 of `--init`, and the init
/// or `exec` helper before they execute the command) cannot be looked into from the
/// container: no /proc/PID/exe, fd or environ; and while an `exec` runs, every process
/// the container can see is the container's own command.
#[test]
fn mydocker_processes_are_out_of_the_containers_reach() {
    let env = Env::new("helper");
    let cg = env.cg.name.clone();
    env.md.ok(&[
        "run",
        "-d",
        "--name",
        "target",
        "--init",
        "--network",
        "none",
        "--cgroup-parent",
        &cg,
        &env.image,
        "sleep",
        "300",
    ]);
    let out = env.md.ok(&[
        "exec",
        "target",
        "sh",
        "-c",
        "t() { if \"$@\" >/dev/null 2>&1; then echo open $2; else echo denied $2; fi; }; \
         t cat /proc/1/exe; t cat /proc/1/environ; t readlink /proc/1/fd/0; \
         t readlink /proc/1/cwd; t ls /proc/1/root/",
    ]);
    for f in [
        "/proc/1/exe",
        "/proc/1/environ",
        "/proc/1/fd/0",
        "/proc/1/cwd",
        "/proc/1/root/",
    ] {
        assert!(
            out.contains(&format!("denied {f}\n")),
            "{f} of the reaping init is reachable:\n{out}"
        );
    }
    let bg = env
        .md
        .command(&["exec", "target", "sleep", "30"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _bg = Reap(bg);
    // Bounded: the background exec shows up within 30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let listing = loop {
        let l = env.md.ok(&[
            "exec",
            "target",
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(cat $p/comm) $(readlink $p/exe)\"; done",
        ]);
        if l.lines()
            .any(|l| l.contains(" sleep ") && !l.starts_with("2 "))
        {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "the exec'd sleep never showed:\n{l}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for line in listing.lines() {
        let pid = line.split(' ').next().unwrap_or_default();
        if pid == "1" {
            continue; // the reaper, checked above
        }
        assert!(
            line.ends_with(" /bin/busybox"),
            "a process that is not the container's own command is visible: {line}\n{listing}"
        );
    }
    env.md.ok(&["rm", "-f", "target"]);
    env.assert_clean();
}

/// A default container may make device nodes (docker grants CAP_MKNOD) but opens only
/// docker's harmless devices (null, zero, full, random, tty, ptmx...): a loop device
/// node it made itself stays closed to it with EPERM (the v1 devices controller, or
/// the eBPF program on cgroup v2), while a /dev/zero node it made opens. Without the
/// device rules, the loop node would open (root needs no capability for it) or fail
/// with ENXIO where the loop driver is absent, never EPERM.
#[test]
fn device_nodes_made_in_a_container_stay_closed() {
    let env = Env::new("devices");
    let out = env.stdout(
        &["--network", "none"],
        &[
            "sh",
            "-c",
            "mknod /tmp/z c 1 5 && mknod /tmp/loop b 7 0 && echo made; \
             if head -c 1 /tmp/z >/dev/null; then echo zero-ok; fi; \
             (exec 3</tmp/loop) 2>&1 | grep -q 'Operation not permitted' && echo loop-denied; \
             true",
        ],
    );
    assert_eq!(out.trim(), "made\nzero-ok\nloop-denied", "{out}");
    env.assert_clean();
}
