//! `attach` to a detached container (issue 14): its output, its exit code, signals
//! proxied, docker's errors.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use std::io::{BufRead, BufReader};
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
    let mut full = vec!["attach"];
    full.extend_from_slice(args);
    let mut child = env
        .md
        .command(&full)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
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
