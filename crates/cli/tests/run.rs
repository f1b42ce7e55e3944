//! `mydocker run`: real containers from the fixture images, as root.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics (seeds, skips).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;

#[test]
fn isolation_hostname_pid1_and_network_none() {
    let env = Env::new("iso");
    let out = env.stdout(
        &["--network", "none"],
        &[
            "sh",
            "-c",
            "hostname; echo $$; ls /sys/class/net; cat /proc/1/cmdline | tr '\\0' ' '",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].len(), 12, "hostname is the short ID: {out}");
    assert!(lines[0].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(lines[1], "1", "the command is PID 1: {out}");
    assert_eq!(lines[2], "lo", "only lo in a new network namespace: {out}");
    assert!(lines[3].starts_with("sh -c"), "{out}");
    let named = env.stdout(&["--hostname", "web"], &["hostname"]);
    assert_eq!(named.trim(), "web");
    // Mount and IPC namespaces differ from the host's.
    let ns = env.stdout(
        &[],
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/mnt; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts",
        ],
    );
    for (line, kind) in ns.lines().zip(["mnt", "ipc", "uts"]) {
        let host = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        assert_ne!(
            line,
            host.to_string_lossy(),
            "{kind} namespace is the host's"
        );
    }
    env.assert_clean();
}

#[test]
fn exit_codes_follow_docker() {
    let env = Env::new("exit");
    let ok = env.run(&[], &["true"]);
    assert_eq!(ok.status.code(), Some(0));
    // Defaults (docker's nofile 1048576 included) are what this host can set: no warning.
    assert_eq!(String::from_utf8_lossy(&ok.stderr), "");
    assert_eq!(env.run(&[], &["sh", "-c", "exit 3"]).status.code(), Some(3));
    // PID 1 ignores signals from inside its namespace (as with docker); with --init the
    // shell is the reaper's child, so it dies and the reaper reports 128+9.
    assert_eq!(
        env.run(&["--init"], &["sh", "-c", "kill -9 $$"])
            .status
            .code(),
        Some(137)
    );
    let nf = env.run(&[], &["/no/such/command"]);
    assert_eq!(
        nf.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&nf.stderr)
    );
    let nx = env.run(&[], &["/etc/passwd"]);
    assert_eq!(
        nx.status.code(),
        Some(126),
        "{}",
        String::from_utf8_lossy(&nx.stderr)
    );
    let bad = env.run(&["--memory", "1k"], &["true"]);
    assert_eq!(bad.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim().lines().count(),
        1
    );
    env.assert_clean();
}

#[test]
fn env_workdir_user_entrypoint_and_cmd() {
    let env = Env::new("cfg");
    let out = env.stdout(
        &["-e", "FOO=bar", "-w", "/tmp/work", "-u", "1000:1000"],
        &["sh", "-c", "echo $FOO; pwd; id -u; id -g"],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["bar", "/tmp/work", "1000", "1000"]
    );
    let who = env.stdout(&["-u", "nobody"], &["id", "-un"]);
    assert_eq!(who.trim(), "nobody");
    let missing = env.run(&["-u", "mallory"], &["true"]);
    assert_eq!(missing.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("unable to find user mallory"));
    // The image's Cmd is `sh`; --entrypoint replaces the entrypoint and drops the Cmd.
    let ep = env.stdout(&["--entrypoint", "echo"], &["from", "entrypoint"]);
    assert_eq!(ep.trim(), "from entrypoint");
    let path = env.stdout(&[], &["sh", "-c", "echo $PATH; echo $HOME; echo $HOSTNAME"]);
    let lines: Vec<&str> = path.lines().collect();
    assert!(lines[0].contains("/bin"), "{path}");
    assert_eq!(lines[1], "/root");
    assert_eq!(lines[2].len(), 12);
    env.assert_clean();
}

#[test]
fn stdin_is_piped_with_i() {
    let env = Env::new("stdin");
    let out = env.md.run_input(
        &[
            "run",
            "--rm",
            "-i",
            "--cgroup-parent",
            &env.cg.name,
            &env.image,
            "cat",
        ],
        b"hi\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    // Without -i, stdin is /dev/null: cat ends at once.
    assert_eq!(env.stdout(&[], &["cat"]), "");
    env.assert_clean();
}

#[test]
fn volumes_tmpfs_and_read_only() {
    let env = Env::new("vol");
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host").unwrap();
    let vol = format!("{}:/data", host.path().display());
    let out = env.stdout(
        &["-v", &vol],
        &["sh", "-c", "cat /data/in; echo out > /data/out"],
    );
    assert_eq!(out, "from host");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "out\n"
    );
    let ro = format!("{}:/data:ro", host.path().display());
    assert_ne!(
        env.run(&["-v", &ro], &["sh", "-c", "echo x > /data/y"])
            .status
            .code(),
        Some(0)
    );
    let missing = host.path().join("created/by/run");
    let vol = format!("{}:/m", missing.display());
    env.stdout(&["-v", &vol], &["true"]);
    assert!(
        missing.is_dir(),
        "a missing volume source is created, as docker does"
    );
    assert_ne!(
        env.run(&["--read-only"], &["touch", "/x"]).status.code(),
        Some(0)
    );
    let t = env.stdout(
        &["--read-only", "--tmpfs", "/scratch"],
        &["sh", "-c", "echo ok > /scratch/f && cat /scratch/f"],
    );
    assert_eq!(t, "ok\n");
    env.assert_clean();
}

#[test]
fn limits_memory_pids_and_cpu() {
    let env = Env::new("lim");
    // Past a 32 MiB limit the kernel's OOM killer ends the process: exit 137.
    let oom = env.run(
        &["-m", "32m"],
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64",
        ],
    );
    assert_eq!(
        oom.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&oom.stderr)
    );
    assert!(String::from_utf8_lossy(&oom.stderr).contains("OOM"));
    // Forking past --pids-limit 20 fails inside.
    let pids = env.run(
        &["--pids-limit", "20"],
        &["sh", "-c", "for i in $(seq 40); do sleep 5 & done; wait"],
    );
    let err = String::from_utf8_lossy(&pids.stderr);
    assert!(
        err.contains("fork") || err.contains("Resource temporarily unavailable"),
        "{err}"
    );
    env.assert_clean();
}

#[test]
fn seed_syntax_runs() {
    let env = Env::new("seed");
    let out = env.md.run(&[
        "run",
        "-cpus",
        "0.5",
        "-mmem",
        "200",
        "-mpid",
        "1000",
        "--rm",
        "--cgroup-parent",
        &env.cg.name,
        "-img",
        &env.image,
        "-cmds",
        "sh -c 'echo seed ok'",
        "-name",
        "seedtest",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "seed ok\n");
    env.assert_clean();
}

#[test]
fn names_are_unique_and_kept_containers_are_recorded() {
    let env = Env::new("names");
    let out = env.md.run(&[
        "run",
        "--name",
        "keep",
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "true",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = env.md.run(&[
        "run",
        "--name",
        "keep",
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "true",
    ]);
    assert_eq!(again.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is already in use"));
    assert!(env.cg.children().is_empty(), "{:?}", env.cg.children());
    assert!(common::mounts_under(env.md.root()).is_empty());
}

/// `-it sh` driven through a pty the test owns, as a user's terminal: the prompt comes
/// back, commands run, the window size arrives, the exit code is the shell's, and the
/// terminal's modes are restored afterwards.
#[test]
fn interactive_tty_session() {
    use rustix::termios::{self, LocalModes, Winsize};
    use std::io::{Read, Write};
    let env = Env::new("tty");
    let (master, slave) = common::pty_pair();
    termios::tcsetwinsize(
        &slave,
        Winsize {
            ws_row: 33,
            ws_col: 101,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
    let before = termios::tcgetattr(&slave).unwrap();
    assert!(
        before
            .local_modes
            .contains(LocalModes::ICANON | LocalModes::ECHO)
    );
    let mut cmd = std::process::Command::new("setsid");
    cmd.arg("-c")
        .arg(env!("CARGO_BIN_EXE_mydocker"))
        .args(["--root"])
        .arg(env.md.root())
        .args([
            "run",
            "-it",
            "--rm",
            "--network",
            "none",
            "--cgroup-parent",
            &env.cg.name,
            &env.image,
            "sh",
        ])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // Killed by PID if the test fails half-way, so no container outlives the test.
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
    let mut seen = String::new();
    let mut expect = |master: &mut std::fs::File, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !seen.contains(what) {
            assert!(
                std::time::Instant::now() < deadline,
                "waiting for {what:?}, got {seen:?}"
            );
            let mut buf = [0u8; 4096];
            match master.read(&mut buf) {
                Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        // Keep what came after the match for the next expectation.
        let end = seen.find(what).map_or(0, |i| i + what.len());
        seen.drain(..end);
    };
    expect(&mut master, "# ");
    master
        .write_all(b"echo $((6*7)); tty; stty size\r")
        .unwrap();
    expect(&mut master, "42");
    expect(&mut master, "/dev/pts/0");
    expect(&mut master, "33 101");
    master.write_all(b"exit 7\r").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mydocker did not exit"
        );
        let mut buf = [0u8; 4096];
        let _ = master.read(&mut buf);
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(7));
    let after = termios::tcgetattr(&slave).unwrap();
    assert_eq!(
        after.local_modes, before.local_modes,
        "terminal modes restored"
    );
    env.assert_clean();
}

/// `--cpus 0.5` holds a busy loop to half a CPU. Over a window the test times itself
/// (its bounds taken outside the two reads of `cpu.stat`), the CPU time charged to the
/// container's cgroup grows by at most half the wall time plus two periods' quota, with
/// margin; without the quota it would grow by about the whole window. The kernel must
/// also report throttled periods. Load on the machine can only lower the use, so only the
/// upper bound is checked. (A fixed-length `timeout 2` loop is no measure: busybox's
/// `timeout` starts its clock only once its watcher process has started, which a throttled
/// cgroup under emulation delays by seconds.)
#[test]
fn cpu_quota_is_enforced_by_the_cgroup() {
    let env = Env::new("cpu");
    let mut child = env
        .md
        .command(&[
            "run",
            "--rm",
            "--init",
            "--cpus",
            "0.5",
            "--network",
            "none",
            "--cgroup-parent",
            &env.cg.name,
            &env.image,
            "sh",
            "-c",
            "echo started; while :; do :; done",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "started");
    let cgroups = env.cg.children();
    let id = cgroups
        .first()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .expect("the container's cgroup");
    let fs = cgroup::CgroupFs::detect().unwrap();
    let manager = fs.manager(&cgroup::CgroupPath::under(&env.cg.name, &id).unwrap());
    let cpu = || manager.stats().unwrap().cpu.expect("cpu stats");
    let window_start = std::time::Instant::now();
    let before = cpu();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let after = cpu();
    let wall = window_start.elapsed().as_secs_f64();
    let used = after.usage_ns.saturating_sub(before.usage_ns) as f64 / 1e9;
    let files: String = cgroups
        .iter()
        .flat_map(|d| ["cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us"].map(|f| d.join(f)))
        .filter_map(|f| {
            Some(format!(
                "{}: {}",
                f.display(),
                std::fs::read_to_string(&f).ok()?
            ))
        })
        .collect();
    println!("{used:.3} CPU-seconds in {wall:.3} s: {after:?}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "SIGTERM through --init");
    assert!(
        after.throttled_periods > 0,
        "the kernel never throttled the container: {after:?}\n{files}"
    );
    assert!(
        used <= 0.5 * wall * 1.1 + 0.2,
        "{used:.3} CPU-seconds in {wall:.3} s under --cpus 0.5: {after:?}\n{files}"
    );
    env.assert_clean();
}

/// Only 0, 1 and 2 reach the container (CVE-2024-21626 class), even when mydocker itself
/// inherited more; and the host's mydocker binary cannot be written through /proc/1/exe
/// when PID 1 is mydocker's own reaping init (CVE-2019-5736 class).
#[test]
fn no_descriptor_leaks_and_the_host_binary_is_safe() {
    let env = Env::new("fd");
    let leaked = std::fs::File::open("/etc/hostname").unwrap();
    rustix::io::fcntl_setfd(&leaked, rustix::io::FdFlags::empty()).unwrap();
    let fds = env.stdout(&["--network", "none"], &["ls", "/proc/self/fd"]);
    let fds: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "ls itself holds 3 (its directory)"
    );
    drop(leaked);

    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_mydocker"));
    let before = std::fs::read(exe).unwrap();
    let out = env.stdout(
        &["--init", "--network", "none"],
        &[
            "sh",
            "-c",
            "readlink /proc/1/exe; echo evil >> /proc/1/exe && echo WROTE; true",
        ],
    );
    assert!(
        !out.contains("WROTE"),
        "the container wrote mydocker's binary: {out}"
    );
    assert_eq!(std::fs::read(exe).unwrap(), before, "host binary changed");
    env.assert_clean();
}

#[test]
fn the_copy_driver_runs_containers_too() {
    let env = Env::new("copy");
    let out = env.md.run(&[
        "--storage-driver",
        "copy",
        "run",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "sh",
        "-c",
        "echo hi > /tmp/x && cat /tmp/x && cat /etc/group | head -1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\nroot:x:0:\n");
    let info = env.md.ok(&["--storage-driver", "copy", "info"]);
    assert!(info.contains("Storage Driver: copy"), "{info}");
    // A forced driver this kernel cannot use is refused up front (dockerd would not start).
    let (code, err) = env.md.fails(&["--storage-driver", "aufs", "images"]);
    assert_eq!(code, 125);
    assert!(err.contains("aufs"), "{err}");
    env.assert_clean();
}
