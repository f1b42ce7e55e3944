//! `attach` to a detached container (issue 14): its output, its exit code, its input
//! (`-i`), the detach keys (`-it`), signals proxied, docker's errors.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::Env;

/// Removes the named containers when the test ends, even on failure.
struct Cleanup<'a>(&'a Env, &'a [&'a str]);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for name in self.1 {
            let _ = self.0.md.run(&["rm", "-f", name]);
        }
    }
}

/// `attach NAME` in the background: its stdout lines arrive on the channel.
fn attach(env: &Env, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    attach_with_input(env, args, None)
}

/// `attach NAME` in the background with `input` (then EOF) as its stdin (none: /dev/null).
fn attach_with_input(
    env: &Env,
    args: &[&str],
    input: Option<&[u8]>,
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut full = vec!["attach"];
    full.extend_from_slice(args);
    let mut child = env
        .md
        .command(&full)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(data).unwrap(); // and EOF, as it is dropped
    }
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (bounded) for a line equal to `want`.
fn wait_line(rx: &mpsc::Receiver<String>, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l == want => return,
            Ok(_) => {}
            Err(e) => panic!("no line {want:?}: {e}"),
        }
    }
}

/// Waits (bounded) for the attach to end; its exit code.
fn exit_code(mut child: std::process::Child) -> Option<i32> {
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("attach did not end");
}

#[test]
fn attach_shows_output_and_returns_the_exit_code() {
    let env = Env::new("attach");
    let _c = Cleanup(&env, &["att"]);
    let cg = env.cg.name.as_str();
    env.md.ok(&[
        "run",
        "-d",
        "--name",
        "att",
        "--cgroup-parent",
        cg,
        &env.image,
        "sh",
        "-c",
        "while [ ! -f /tmp/go ]; do echo tick; sleep 0.1; done; echo done; exit 3",
    ]);
    let (child, rx) = attach(&env, &["att"]);
    wait_line(&rx, "tick");
    env.md.ok(&["exec", "att", "touch", "/tmp/go"]);
    wait_line(&rx, "done");
    assert_eq!(exit_code(child), Some(3));
    // A stopped container cannot be attached to (docker's message).
    let (code, err) = env.md.fails(&["attach", "att"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "Error: You cannot attach to a stopped container, start it first"
    );
    let (code, err) = env.md.fails(&["attach", "--detach-keys", "ctrl-1", "att"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Invalid detach keys (ctrl-1) provided"),
        "{err}"
    );
    env.md.ok(&["rm", "att"]);
    env.assert_clean();
}

#[test]
fn attach_proxies_signals() {
    let env = Env::new("attsig");
    let _c = Cleanup(&env, &["sig"]);
    let cg = env.cg.name.as_str();
    env.md.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        "--cgroup-parent",
        cg,
        &env.image,
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; while true; do echo ready; sleep 0.1; done",
    ]);
    let (child, rx) = attach(&env, &["sig"]);
    wait_line(&rx, "ready");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    wait_line(&rx, "got-term");
    assert_eq!(exit_code(child), Some(7));
    env.md.ok(&["rm", "sig"]);
    env.assert_clean();
}

#[test]
fn attach_feeds_the_input_of_an_interactive_container() {
    let env = Env::new("attin");
    let _c = Cleanup(&env, &["inp", "noin"]);
    let cg = env.cg.name.as_str();
    let script = r#"read a; echo "got $a"; read b; echo "then $b"; exit 5"#;
    env.md.ok(&[
        "run",
        "-di",
        "--name",
        "inp",
        "--cgroup-parent",
        cg,
        &env.image,
        "sh",
        "-c",
        script,
    ]);
    // The first attacher's input ends after one line: the container's stdin stays open
    // (as docker's), and a second attacher goes on; both see the output and the end.
    let (first, rx1) = attach_with_input(&env, &["inp"], Some(b"one\n"));
    wait_line(&rx1, "got one");
    let (second, rx2) = attach_with_input(&env, &["inp"], Some(b"two\n"));
    wait_line(&rx2, "then two");
    wait_line(&rx1, "then two");
    assert_eq!(exit_code(first), Some(5));
    assert_eq!(exit_code(second), Some(5));
    let socks: Vec<_> = env
        .md
        .files_under("containers")
        .into_iter()
        .filter(|p| p.ends_with("attach.sock"))
        .collect();
    assert!(
        socks.is_empty(),
        "the input socket outlived its container: {socks:?}"
    );

    // `--no-stdin`: nothing of our input reaches the container.
    env.md.ok(&[
        "run",
        "-di",
        "--name",
        "noin",
        "--cgroup-parent",
        cg,
        &env.image,
        "sh",
        "-c",
        r#"read a; echo "first $a""#,
    ]);
    let (quiet, _rx) = attach_with_input(&env, &["--no-stdin", "noin"], Some(b"x\n"));
    let (loud, rx) = attach_with_input(&env, &["noin"], Some(b"y\n"));
    wait_line(&rx, "first y");
    assert_eq!(exit_code(loud), Some(0));
    assert_eq!(exit_code(quiet), Some(0));
    env.md.ok(&["rm", "inp", "noin"]);
    env.assert_clean();
}

/// Reads the pty `master` until `want` appears (bounded); what was read.
fn read_until(master: &OwnedFd, want: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "no {want:?} in {:?}",
            String::from_utf8_lossy(&got)
        );
        let mut fds = [rustix::event::PollFd::new(
            master,
            rustix::event::PollFlags::IN,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        if rustix::event::poll(&mut fds, Some(&ts)).unwrap_or(0) > 0 {
            match rustix::io::read(master, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("reading the pty: {e}"),
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn attach_to_a_terminal_types_into_it_and_detaches_with_the_keys() {
    let env = Env::new("atttty");
    let _c = Cleanup(&env, &["term"]);
    let cg = env.cg.name.as_str();
    env.md.ok(&[
        "run",
        "-dit",
        "--name",
        "term",
        "--cgroup-parent",
        cg,
        &env.image,
        "sh",
    ]);
    // The user's terminal: a pty of the test's own.
    let (master, slave) = common::pty_pair();
    let child = env
        .md
        .command(&["attach", "--detach-keys", "ctrl-x,y", "term"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    rustix::io::write(&master, b"echo ab$((1+2))cd\r").unwrap();
    read_until(&master, "ab3cd");
    rustix::io::write(&master, b"\x18y").unwrap();
    let out = read_until(&master, "read escape sequence");
    assert!(out.contains("read escape sequence"), "{out}");
    assert_eq!(exit_code(child), Some(1));
    assert_eq!(
        env.md
            .ok(&["inspect", "--format", "{{.State.Status}}", "term"])
            .trim(),
        "running"
    );
    env.md.ok(&["rm", "-f", "term"]);
    env.assert_clean();
}

#[test]
fn a_monitor_that_cannot_serve_the_input_ends_its_container() {
    let env = Env::new("attfail");
    let _c = Cleanup(&env, &["nosock"]);
    let cg = env.cg.name.as_str();
    let id = env
        .md
        .ok(&[
            "create",
            "-i",
            "--name",
            "nosock",
            "--cgroup-parent",
            cg,
            &env.image,
            "sleep",
            "1000",
        ])
        .trim()
        .to_owned();
    // A non-empty directory where the input socket goes: the monitor cannot bind it
    // once the container runs.
    let sock = env
        .md
        .root()
        .join("containers")
        .join(&id)
        .join("attach.sock");
    std::fs::create_dir_all(sock.join("in-the-way")).unwrap();
    // `start` answers once the monitor serves the container's streams: here, with why
    // it could not.
    let (code, err) = env.md.fails(&["start", "nosock"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("attach.sock"), "{err}");
    // The monitor ended the container itself and recorded why (recovery would have said
    // that the monitor died).
    assert_eq!(env.inspect("nosock", "{{.State.Status}}"), "exited");
    let error = env.inspect("nosock", "{{.State.Error}}");
    assert!(error.contains("attach.sock"), "{error}");
    assert_eq!(env.inspect("nosock", "{{.State.ExitCode}}"), "137");
    std::fs::remove_dir_all(&sock).unwrap();
    env.md.ok(&["rm", "nosock"]);
    env.assert_clean();
}
