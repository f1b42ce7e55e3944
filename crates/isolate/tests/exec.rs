//! `Container::exec`: joining a running container (root).

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::PathBuf;

use common::{Guard, Rootfs, options, test_init};
use isolate::{Container, ExecOptions, ExitStatus, Stdio};
use oci_spec::runtime::Process;

fn exec_options() -> ExecOptions {
    let mut o = ExecOptions::new(["isolate-test-init"]);
    o.init_exe = test_init();
    o.stdin = Stdio::Null;
    o.stdout = Stdio::Piped;
    o.stderr = Stdio::Piped;
    o
}

fn process(args: &[&str]) -> Process {
    let mut p = Process::default();
    p.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
    p.set_env(Some(vec!["PATH=/bin".into()]));
    p.set_cwd("/".into());
    p.set_capabilities(None);
    p.set_rlimits(None);
    p.set_no_new_privileges(Some(false));
    p
}

fn exec_output(target: i32, p: &Process, o: ExecOptions) -> (ExitStatus, String, String) {
    let mut running = Guard(Container::exec(target, p, None, o).unwrap());
    let mut out = String::new();
    let mut err = String::new();
    running
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    running
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (running.wait().unwrap(), out, err)
}

fn sleeper(r: &Rootfs) -> Guard {
    let mut o = options();
    o.stdout = Stdio::Null;
    o.stderr = Stdio::Null;
    Guard(
        Container::spawn(&r.spec(&["sleep", "1000"]), o)
            .unwrap()
            .start()
            .unwrap(),
    )
}

#[test]
fn exec_joins_every_namespace() {
    let r = Rootfs::busybox();
    let c = sleeper(&r);
    let script = "hostname; echo $$; cat /proc/1/cmdline; echo; \
                  for n in mnt ipc uts net pid; do readlink /proc/self/ns/$n; done";
    let (status, out, err) = exec_output(c.pid(), &process(&["sh", "-c", script]), exec_options());
    assert_eq!(status, ExitStatus::Exited(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "isolated");
    assert_ne!(lines[1], "1");
    assert_eq!(
        lines[2].trim_end_matches('\0'),
        "sleep\u{0}1000",
        "PID 1 is the container's command"
    );
    for (i, n) in ["mnt", "ipc", "uts", "net", "pid"].iter().enumerate() {
        let theirs = std::fs::read_link(format!("/proc/{}/ns/{n}", c.pid())).unwrap();
        assert_eq!(lines[3 + i], theirs.to_str().unwrap(), "{n}");
    }
}

#[test]
fn exec_applies_user_cwd_env_and_exit_codes() {
    let r = Rootfs::busybox();
    let c = sleeper(&r);
    let mut p = process(&["sh", "-c", "id -u; id -g; pwd; echo $WHO; exit 4"]);
    p.set_env(Some(vec!["PATH=/bin".into(), "WHO=exec".into()]));
    p.set_cwd("/tmp".into());
    p.user_mut().set_uid(1000);
    p.user_mut().set_gid(1000);
    let (status, out, err) = exec_output(c.pid(), &p, exec_options());
    assert_eq!(status, ExitStatus::Exited(4), "{err}");
    assert_eq!(out, "1000\n1000\n/tmp\nexec\n");

    let e = Container::exec(c.pid(), &process(&["nope"]), None, exec_options()).unwrap_err();
    assert_eq!(e.exit_code(), 127, "{e}");
}

/// A cgroup made for this test on the pids controller (v1) or the unified tree (v2),
/// removed when dropped.
struct TestCgroup(PathBuf);

impl TestCgroup {
    fn new() -> Option<Self> {
        let base = if std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
            PathBuf::from("/sys/fs/cgroup/pids")
        } else if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            PathBuf::from("/sys/fs/cgroup")
        } else {
            return None;
        };
        let dir = base.join(format!("isolate-test-exec-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        Some(Self(dir))
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Bounded: the members are killed before this runs.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn exec_joins_the_cgroup() {
    let Some(cg) = TestCgroup::new() else {
        common::skip("no pids cgroup v1 hierarchy nor cgroup v2 here");
        return;
    };
    let r = Rootfs::busybox();
    let c = sleeper(&r);
    std::fs::write(cg.0.join("cgroup.procs"), c.pid().to_string()).unwrap();
    let mut o = exec_options();
    o.cgroup_procs = vec![cg.0.join("cgroup.procs")];
    let (status, out, err) = exec_output(c.pid(), &process(&["cat", "/proc/self/cgroup"]), o);
    assert_eq!(status, ExitStatus::Exited(0), "{err}");
    let name = cg.0.file_name().unwrap().to_str().unwrap();
    assert!(
        out.lines().any(|l| l.ends_with(&format!("/{name}"))),
        "{out}"
    );
    drop(c);
}

#[test]
fn exec_with_a_terminal() {
    let r = Rootfs::busybox();
    let c = sleeper(&r);
    let mut p = process(&["sh"]);
    p.set_terminal(Some(true));
    p.set_env(Some(vec!["PATH=/bin".into(), "PS1=exec# ".into()]));
    // Declared after the container: dropped (killed and reaped) first if the test fails.
    let mut running = Guard(Container::exec(c.pid(), &p, None, exec_options()).unwrap());
    let master = running.take_pty_master().unwrap();
    let mut file = std::fs::File::from(master);
    std::io::Write::write_all(&mut file, b"tty; echo $((2+3)); exit 9\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    // Bounded: the shell exits, then the read fails with EIO.
    for _ in 0..1000 {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("/dev/pts/"), "{seen}");
    assert!(seen.contains("\n5\r\n") || seen.contains("5\r\n"), "{seen}");
    assert_eq!(running.wait().unwrap(), ExitStatus::Exited(9));
}

/// The container's PID 1 and an exec'd process each lead a session of their own inside
/// the container (session ID = their PID there), without a controlling terminal.
#[test]
fn run_and_exec_lead_their_own_sessions() {
    let r = Rootfs::busybox();
    let script = "read -r l < /proc/self/stat; set -- $l; echo \"$1 $6 $7\"";
    let out = common::run(&r.spec(&["sh", "-c", script])).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    // pid, session, tty_nr: PID 1 leads session 1 and has no terminal.
    assert_eq!(out.stdout.trim(), "1 1 0", "{out:?}");

    let c = sleeper(&r);
    let (status, out, err) = exec_output(c.pid(), &process(&["sh", "-c", script]), exec_options());
    assert_eq!(status, ExitStatus::Exited(0), "{err}");
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.len(), 3, "{out}");
    assert_eq!(f[0], f[1], "an exec'd process leads its own session: {out}");
    assert_eq!(f[2], "0", "no controlling terminal: {out}");
}
