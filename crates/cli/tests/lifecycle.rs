//! The container lifecycle with real containers, as root: `run -d` and its monitor, `ps`,
//! `logs`, `exec`, `stop`, `kill`, `start`, `pause`, `rename`, `rm`, `inspect`, `wait`,
//! `top`, `stats`, `port`, and recovery when a monitor dies.

mod common;

use common::{Env, alive, eventually, kill9, mounts_under};
use std::path::PathBuf;
use std::time::Duration;

/// The runtime facts of a container, from its record.
#[derive(Debug)]
struct Pids {
    init: u32,
    monitor: u32,
}

/// What the lifecycle tests add to the shared container-test [`Env`].
trait Detached {
    /// `run -d --cgroup-parent P [flags] IMAGE cmd...`; returns the full ID.
    fn run_d(&self, flags: &[&str], cmd: &[&str]) -> String;
    fn ok(&self, args: &[&str]) -> String;
    fn pids(&self, id: &str) -> Pids;
    /// The container's freezer state file (v1) or events file (v2).
    fn freezer_file(&self, id: &str) -> PathBuf;
}

impl Detached for Env {
    fn run_d(&self, flags: &[&str], cmd: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--cgroup-parent", &self.cg.name];
        args.extend_from_slice(flags);
        args.push(&self.image);
        args.extend_from_slice(cmd);
        let id = self.md.ok(&args).trim().to_owned();
        assert_eq!(id.len(), 64, "run -d prints the full ID: {id:?}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        id
    }

    fn ok(&self, args: &[&str]) -> String {
        self.md.ok(args)
    }

    fn pids(&self, id: &str) -> Pids {
        let r = self.record(id);
        Pids {
            init: r["state"]["pid"].as_u64().expect("pid") as u32,
            monitor: r["state"]["monitor_pid"].as_u64().expect("monitor pid") as u32,
        }
    }

    fn freezer_file(&self, id: &str) -> PathBuf {
        for d in self.cg.dirs() {
            for f in ["freezer.state", "cgroup.events"] {
                let p = d.join(id).join(f);
                if p.exists() {
                    return p;
                }
            }
        }
        panic!("no freezer file for {id} under {:?}", self.cg.dirs());
    }
}

#[test]
fn detached_container_ps_exec_inspect_top_stats() {
    let env = Env::new("det");
    let id = env.run_d(
        &["--name", "sleeper", "--network", "none"],
        &["sleep", "1000"],
    );
    // `run -d` returned once it really runs: ps shows it Up at once.
    let ps = env.ok(&["ps"]);
    let line = ps
        .lines()
        .find(|l| l.ends_with("sleeper"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(line.starts_with(&id[..12]), "{line}");
    assert!(line.contains("\"sleep 1000\""), "{line}");
    assert!(line.contains(" Up "), "{line}");
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert_eq!(env.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(env.ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(
        env.ok(&["ps", "--format", "{{.Names}} {{.State}}"]).trim(),
        "sleeper running"
    );
    let table = env.ok(&["ps", "--format", "table {{.Names}}\\t{{.Image}}"]);
    assert_eq!(
        table,
        format!("NAMES     IMAGE\nsleeper   {}\n", env.image),
        "{table}"
    );

    // inspect's PID is the container's init, running `sleep 1000`.
    let pid: u32 = env.inspect("sleeper", "{{.State.Pid}}").parse().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x001000\x00");
    assert_eq!(env.inspect(&id[..8], "{{.Name}}"), "/sleeper");
    assert_eq!(env.inspect("sleeper", "{{.State.Status}}"), "running");
    let doc: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "sleeper"])).unwrap();
    assert_eq!(doc[0]["Id"], id.as_str());
    assert_eq!(
        doc[0]["Config"]["Cmd"],
        serde_json::json!(["sleep", "1000"])
    );
    assert_eq!(doc[0]["HostConfig"]["NetworkMode"], "none");
    assert_eq!(doc[0]["HostConfig"]["CgroupParent"], env.cg.name.as_str());
    assert_eq!(doc[0]["State"]["Running"], true);

    // exec: same hostname and PID namespace; its process shows in the container's ps.
    let hostname = env.ok(&["exec", "sleeper", "hostname"]);
    assert_eq!(hostname.trim(), &id[..12]);
    let ns = env.ok(&["exec", "sleeper", "readlink", "/proc/self/ns/pid"]);
    let host_view = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_eq!(ns.trim(), host_view.to_string_lossy());
    let inside = env.ok(&["exec", "sleeper", "ps", "-o", "pid,args"]);
    assert!(
        inside
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep", "1000"]),
        "{inside}"
    );
    assert!(inside.contains("ps -o pid,args"), "{inside}");
    let env_out = env.ok(&[
        "exec",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "sleeper",
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u)",
    ]);
    assert_eq!(env_out.trim(), "bar /tmp 0");
    assert_eq!(
        env.ok(&["exec", "-u", "nobody", "sleeper", "id", "-un"])
            .trim(),
        "nobody"
    );
    // The exit code is the command's; 127 when it is not found.
    let (code, _) = env.md.fails(&["exec", "sleeper", "sh", "-c", "exit 7"]);
    assert_eq!(code, 7);
    let (code, err) = env.md.fails(&["exec", "sleeper", "/no/such/cmd"]);
    assert_eq!(code, 127, "{err}");
    // exec -i passes stdin on.
    let out = env
        .md
        .run_input(&["exec", "-i", "sleeper", "cat"], b"through exec\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through exec\n");
    // inspect falls back to images.
    assert!(env.inspect(&env.image, "{{.Id}}").starts_with("sha256:"));
    let top = env.ok(&["top", "sleeper"]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("sleep 1000"), "{top}");
    assert!(top.contains(&pid.to_string()), "{top}");
    let stats = env.ok(&["stats", "--no-stream", "sleeper"]);
    let lines: Vec<&str> = stats.lines().collect();
    assert!(lines[0].starts_with("CONTAINER ID   NAME"), "{stats}");
    assert!(lines[1].starts_with(&id[..12]), "{stats}");
    assert!(lines[1].contains("sleeper"), "{stats}");
    assert!(
        lines[1].contains("MiB") || lines[1].contains("KiB"),
        "{stats}"
    );
    assert_eq!(lines[1].split_whitespace().last(), Some("1"), "{stats}");
    // Without --no-stream the table is redrawn every second, until interrupted.
    let mut live = env
        .md
        .command(&["stats", "sleeper"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = live.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while seen.matches("CONTAINER ID").count() < 2 {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        let _ = tx.send(seen);
    });
    let seen = rx.recv_timeout(Duration::from_secs(60));
    live.kill().unwrap();
    live.wait().unwrap();
    let seen = seen.expect("two tables within a minute");
    assert!(seen.matches("CONTAINER ID").count() >= 2, "{seen}");
    assert!(
        seen.contains("\x1b[2J"),
        "the screen is cleared between tables"
    );

    // exec -d returns at once; its command runs in the container (and
    // stays a zombie: `sleep` as PID 1 reaps nothing, as in docker).
    env.ok(&["exec", "-d", "sleeper", "sh", "-c", "echo bg > /tmp/bg"]);
    eventually("the detached exec ran", || {
        env.md
            .run(&["exec", "sleeper", "grep", "-q", "bg", "/tmp/bg"])
            .status
            .success()
    });
    // rm refuses a running container, rm -f removes it.
    let (code, err) = env.md.fails(&["rm", "sleeper"]);
    assert_eq!(code, 1);
    assert!(err.contains("container is running"), "{err}");
    let monitor = env.pids(&id).monitor;
    assert_eq!(env.ok(&["rm", "-f", "sleeper"]).trim(), "sleeper");
    assert!(!alive(pid), "the init is gone");
    assert!(!alive(monitor), "the monitor is gone");
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    env.assert_clean();
}

#[test]
fn logs_replay_follow_tail_and_timestamps() {
    let env = Env::new("logs");
    let id = env.run_d(
        &["--name", "talker", "--network", "none"],
        &[
            "sh",
            "-c",
            "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo oops >&2",
        ],
    );
    // -f follows until the container exits.
    let out = env
        .md
        .run_with(&["logs", "-f", "talker"], Duration::from_secs(60));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line 1\nline 2\nline 3\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert_eq!(env.ok(&["wait", "talker"]).trim(), "0");
    assert_eq!(env.ok(&["logs", "talker"]), "line 1\nline 2\nline 3\n");
    // The last entry is the stderr line.
    let tail = env.md.run(&["logs", "--tail", "2", "talker"]);
    assert_eq!(String::from_utf8_lossy(&tail.stdout), "line 3\n");
    assert_eq!(String::from_utf8_lossy(&tail.stderr), "oops\n");
    let ts = env.ok(&["logs", "-t", "--tail", "3", &id[..6]]);
    let lines: Vec<&str> = ts.lines().collect();
    assert_eq!(lines.len(), 2, "{ts}");
    for (l, want) in lines.iter().zip(["line 2", "line 3"]) {
        let (time, text) = l.split_once(' ').unwrap();
        assert!(time.starts_with("20") && time.ends_with('Z'), "{l}");
        assert_eq!(text, want);
    }
    assert_eq!(
        env.ok(&["logs", "--since", "1h", "talker"]).lines().count(),
        3
    );
    assert_eq!(env.ok(&["logs", "--until", "1h", "talker"]), "");
    // The file is docker's json-file format.
    let raw = std::fs::read_to_string(
        env.md
            .root()
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "line 1\n");
    assert_eq!(first["stream"], "stdout");
    let line = env.ps_line("talker");
    assert!(line.contains("Exited (0)"), "{line}");

    // A foreground run writes the log too, and still prints to the terminal.
    let fg = env.md.run(&[
        "run",
        "--name",
        "fg",
        "--network",
        "none",
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ]);
    assert!(fg.status.success());
    assert_eq!(String::from_utf8_lossy(&fg.stdout), "to-out\n");
    // (This host clamps docker's nofile limit, with a warning.)
    let err = String::from_utf8_lossy(&fg.stderr);
    let err: Vec<&str> = err.lines().filter(|l| !l.starts_with("WARNING:")).collect();
    assert_eq!(err, ["to-err"]);
    let out = env.md.run(&["logs", "fg"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-err\n");
    // When our stdout goes away (`run ... yes | head -1`), the container's does too.
    let mut yes = env
        .md
        .command(&env.args(&["--network", "none"], &["yes"]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Read;
        let mut stdout = yes.stdout.take().unwrap();
        let mut first = [0u8; 2];
        stdout.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"y\n");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = yes.id();
    std::thread::spawn(move || {
        let _ = tx.send(yes.wait());
    });
    let status = rx.recv_timeout(Duration::from_secs(60));
    if status.is_err() {
        kill9(pid);
    }
    let status = status.expect("run ends once its stdout is closed").unwrap();
    // PID 1 is immune to SIGPIPE (as in docker): `yes` sees EPIPE and exits 1.
    assert_eq!(status.code(), Some(1));

    // --log-opt rotates; --log-driver none keeps nothing.
    let id = env.run_d(
        &[
            "--name",
            "chatty",
            "--network",
            "none",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=2",
        ],
        &["seq", "1000"],
    );
    assert_eq!(env.ok(&["wait", "chatty"]).trim(), "0");
    let log = env
        .md
        .root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    assert!(std::fs::metadata(&log).unwrap().len() <= 1024);
    assert!(log.with_extension("log.1").exists());
    let kept = env.ok(&["logs", "chatty"]);
    assert_eq!(kept.lines().last(), Some("1000"));
    assert!(kept.lines().count() < 1000);
    env.run_d(
        &[
            "--name",
            "mute",
            "--network",
            "none",
            "--log-driver",
            "none",
        ],
        &["echo", "hi"],
    );
    assert_eq!(env.ok(&["wait", "mute"]).trim(), "0");
    let (_, err) = env.md.fails(&["logs", "mute"]);
    assert!(err.contains("does not support reading"), "{err}");
    env.ok(&["rm", "talker", "fg", "chatty", "mute"]);
    env.assert_clean();
}

#[test]
fn stop_honours_the_grace_period() {
    let env = Env::new("stop");
    // A shell that handles TERM gets the chance to: it exits with its own code.
    env.run_d(
        &["--name", "polite", "--network", "none"],
        &[
            "sh",
            "-c",
            "trap 'echo got TERM; exit 3' TERM; while true; do sleep 0.1; done",
        ],
    );
    assert_eq!(env.ok(&["stop", "-t", "20", "polite"]).trim(), "polite");
    assert_eq!(env.inspect("polite", "{{.State.ExitCode}}"), "3");
    assert_eq!(env.ok(&["logs", "polite"]), "got TERM\n");
    // A PID 1 shell ignores TERM: SIGKILL after the grace period, exit 137.
    env.run_d(
        &["--name", "deaf", "--network", "none"],
        &["sh", "-c", "while true; do sleep 0.1; done"],
    );
    env.ok(&["stop", "-t", "1", "deaf"]);
    let line = env.ps_line("deaf");
    assert!(line.contains("Exited (137)"), "{line}");
    // With --init the shell is not PID 1: TERM ends it, exit 143.
    env.run_d(
        &["--name", "inited", "--init", "--network", "none"],
        &["sh", "-c", "sleep 1000"],
    );
    env.ok(&["stop", "-t", "20", "inited"]);
    assert_eq!(env.inspect("inited", "{{.State.ExitCode}}"), "143");
    // Stopping a stopped container is fine.
    env.ok(&["stop", "deaf"]);
    assert_eq!(env.ok(&["container", "prune", "-f"]).lines().count(), 6);
    env.assert_clean();
}

#[test]
fn kill_delivers_signals() {
    let env = Env::new("kill");
    let id = env.run_d(
        &["--name", "trapper", "--network", "none"],
        &[
            "sh",
            "-c",
            "trap 'touch /tmp/got-usr1' USR1; while true; do sleep 0.1; done",
        ],
    );
    env.ok(&["kill", "-s", "USR1", "trapper"]);
    eventually("the USR1 trap ran", || {
        env.md
            .run(&["exec", "trapper", "test", "-f", "/tmp/got-usr1"])
            .status
            .success()
    });
    let (code, err) = env.md.fails(&["kill", "-s", "NOPE", "trapper"]);
    assert_eq!(code, 1);
    assert!(err.contains("Invalid signal"), "{err}");
    env.ok(&["kill", &id[..10]]);
    let line = env.ps_line("trapper");
    assert!(line.contains("Exited (137)"), "{line}");
    let (_, err) = env.md.fails(&["kill", "trapper"]);
    assert!(err.contains("is not running"), "{err}");
    env.ok(&["rm", "trapper"]);
    env.assert_clean();
}

#[test]
fn start_reruns_an_exited_container_with_its_rootfs() {
    let env = Env::new("start");
    let id = env.run_d(
        &["--name", "counter", "--network", "none"],
        &["sh", "-c", "echo run >> /count; wc -l < /count"],
    );
    assert_eq!(env.ok(&["wait", "counter"]).trim(), "0");
    assert_eq!(env.ok(&["logs", "counter"]), "1\n");
    assert_eq!(env.ok(&["start", "counter"]).trim(), "counter");
    assert_eq!(env.ok(&["wait", "counter"]).trim(), "0");
    assert_eq!(env.ok(&["logs", "counter"]), "1\n2\n");
    // `start -a` attaches: the output, then the exit code.
    let out = env.md.run(&["start", "-a", "counter"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3\n");
    assert_eq!(env.inspect("counter", "{{.Id}}"), id);
    // restart of a long-running container: a new init.
    env.run_d(
        &["--name", "long", "-p", "127.0.0.1::80"],
        &["sleep", "1000"],
    );
    let before = env.pids(&env.inspect("long", "{{.Id}}")).init;
    env.ok(&["restart", "-t", "0", "long"]);
    let after: u32 = env.inspect("long", "{{.State.Pid}}").parse().unwrap();
    assert_ne!(before, after);
    assert!(!alive(before));
    let line = env.ps_line("long");
    assert!(line.contains(" Up ") && line.contains("->80/tcp"), "{line}");
    // The restarted container is on the network again.
    let ip = env.inspect("long", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    env.ok(&["rm", "-f", "counter", "long"]);
    env.assert_clean();
}

#[test]
fn pause_freezes_and_unpause_thaws() {
    let env = Env::new("pause");
    let id = env.run_d(&["--name", "icy", "--network", "none"], &["sleep", "1000"]);
    env.ok(&["pause", "icy"]);
    let f = env.freezer_file(&id);
    let state = std::fs::read_to_string(&f).unwrap();
    assert!(
        state.trim() == "FROZEN" || state.contains("frozen 1"),
        "{}: {state}",
        f.display()
    );
    let line = env.ps_line("icy");
    assert!(line.contains("(Paused)"), "{line}");
    assert_eq!(env.inspect("icy", "{{.State.Status}}"), "paused");
    assert_eq!(env.inspect("icy", "{{.State.Paused}}"), "true");
    let (_, err) = env.md.fails(&["exec", "icy", "true"]);
    assert!(err.contains("paused"), "{err}");
    let (_, err) = env.md.fails(&["pause", "icy"]);
    assert!(err.contains("already paused"), "{err}");
    env.ok(&["unpause", "icy"]);
    let state = std::fs::read_to_string(&f).unwrap();
    assert!(
        state.trim() == "THAWED" || state.contains("frozen 0"),
        "{state}"
    );
    let line = env.ps_line("icy");
    assert!(line.contains(" Up ") && !line.contains("Paused"), "{line}");
    // A paused container can be removed by force.
    env.ok(&["pause", "icy"]);
    env.ok(&["rm", "-f", "icy"]);
    env.assert_clean();
}

#[test]
fn rename_keeps_names_unique() {
    let env = Env::new("rename");
    let id = env.run_d(
        &["--name", "first", "--network", "none"],
        &["sleep", "1000"],
    );
    let mut args = vec![
        "run",
        "-d",
        "--name",
        "first",
        "--network",
        "none",
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "true",
    ];
    let (code, err) = env.md.fails(&args);
    assert_eq!(code, 125);
    assert!(err.contains("is already in use"), "{err}");
    env.ok(&["rename", "first", "second"]);
    assert_eq!(env.inspect("second", "{{.Id}}"), id);
    assert_eq!(env.inspect("second", "{{.Name}}"), "/second");
    env.md.fails(&["inspect", "first"]);
    let (_, err) = env.md.fails(&["rename", "second", "second"]);
    assert!(err.contains("same name"), "{err}");
    // The old name is free again; the new one is taken.
    args[3] = "first";
    env.md.ok(&args);
    let (_, err) = env.md.fails(&["rename", "first", "second"]);
    assert!(err.contains("is already in use"), "{err}");
    env.ok(&["rm", "-f", "first", "second"]);
    env.assert_clean();
}

#[test]
fn failed_starts_return_dockers_codes() {
    let env = Env::new("fail");
    let out = env.md.run(&[
        "run",
        "-d",
        "--name",
        "nocmd",
        "--network",
        "none",
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "/no/such/command",
    ]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        out.stdout.is_empty(),
        "no ID for a container that did not start"
    );
    // As docker: it stays, created, with the error.
    let line = env.ps_line("nocmd");
    assert!(line.contains("Created"), "{line}");
    assert!(!env.inspect("nocmd", "{{.State.Error}}").is_empty());
    let out = env.md.run(&[
        "run",
        "-d",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "/etc/passwd",
    ]);
    assert_eq!(out.status.code(), Some(126));
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 1);
    // A --rm container removes itself when it ends.
    env.run_d(&["--rm", "--name", "brief", "--network", "none"], &["true"]);
    eventually("the --rm container is gone", || {
        env.ps_line("brief").is_empty()
    });
    // wait prints exit codes.
    env.run_d(
        &["--name", "three", "--network", "none"],
        &["sh", "-c", "exit 3"],
    );
    assert_eq!(env.ok(&["wait", "three"]).trim(), "3");
    let (_, err) = env.md.fails(&["start", "nocmd"]);
    assert!(
        err.contains("no such") || err.contains("not found"),
        "{err}"
    );
    env.ok(&["rm", "nocmd", "three"]);
    env.assert_clean();
}

#[test]
fn published_ports_show_in_ps_port_and_inspect() {
    let env = Env::new("port");
    let id = env.run_d(
        &["--name", "web", "-p", "127.0.0.1::80", "--expose", "443"],
        &["sleep", "1000"],
    );
    let port = env.ok(&["port", "web"]);
    let line = port.lines().next().unwrap();
    let host_port = line
        .strip_prefix("80/tcp -> 127.0.0.1:")
        .unwrap_or_else(|| panic!("{port}"));
    assert!(host_port.parse::<u16>().is_ok(), "{port}");
    assert_eq!(
        env.ok(&["port", "web", "80"]).trim(),
        format!("127.0.0.1:{host_port}")
    );
    let ps = env.ps_line("web");
    assert!(
        ps.contains(&format!("127.0.0.1:{host_port}->80/tcp, 443/tcp")),
        "{ps}"
    );
    let ip = env.inspect("web", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    assert_eq!(
        env.inspect(
            "web",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        ),
        ip
    );
    assert_eq!(
        env.inspect("web", "{{json .NetworkSettings.Ports}}"),
        format!(
            "{{\"443/tcp\":null,\"80/tcp\":[{{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"{host_port}\"}}]}}"
        )
    );
    env.ok(&["rm", "-f", &id]);
    env.assert_clean();
}

#[test]
fn twenty_detached_containers_leave_nothing_behind() {
    let env = Env::new("twenty");
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(env.run_d(&[], &["sleep", "1000"]));
    }
    let pids: Vec<Pids> = ids.iter().map(|id| env.pids(id)).collect();
    for p in &pids {
        assert!(alive(p.init) && alive(p.monitor), "{p:?}");
    }
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), 20);
    let brif = PathBuf::from("/sys/class/net")
        .join(&env.md.bridge)
        .join("brif");
    assert_eq!(std::fs::read_dir(&brif).unwrap().count(), 20);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    env.ok(&args);
    for p in &pids {
        assert!(!alive(p.init) && !alive(p.monitor), "{p:?}");
    }
    let veths = common::wait_no_veths(&env.md.bridge);
    assert_eq!(veths, 0, "veths left on {}", env.md.bridge);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    env.assert_clean();
}

#[test]
fn a_killed_monitor_is_detected_and_cleaned_up() {
    let env = Env::new("crash");
    // The monitor dies, the container still runs: it is ended and released.
    let id = env.run_d(&["--name", "orphan"], &["sleep", "1000"]);
    let p = env.pids(&id);
    kill9(p.monitor);
    eventually("the monitor is gone", || !alive(p.monitor));
    let line = env.ps_line("orphan");
    assert!(line.contains("Exited (137)"), "{line}");
    assert!(!alive(p.init), "the orphaned init was killed");
    assert!(env.cg.children().is_empty(), "{:?}", env.cg.children());
    assert!(mounts_under(env.md.root()).is_empty());
    assert!(
        env.inspect("orphan", "{{.State.Error}}")
            .contains("monitor"),
        "the reason is recorded"
    );
    // Monitor and init both gone: the exit status is unknown (255, as docker).
    let id2 = env.run_d(&["--name", "lost", "--network", "none"], &["sleep", "1000"]);
    let p2 = env.pids(&id2);
    kill9(p2.monitor);
    kill9(p2.init);
    eventually("both are gone", || !alive(p2.init) && !alive(p2.monitor));
    let (_, err) = env.md.fails(&["exec", "lost", "true"]);
    assert!(err.contains("not running"), "{err}");
    assert_eq!(env.inspect("lost", "{{.State.ExitCode}}"), "255");
    // A --rm container whose monitor died is removed by the next command.
    let id3 = env.run_d(
        &["--rm", "--name", "gone", "--network", "none"],
        &["sleep", "1000"],
    );
    let p3 = env.pids(&id3);
    kill9(p3.monitor);
    eventually("the monitor is gone", || !alive(p3.monitor));
    assert!(env.ps_line("gone").is_empty());
    assert!(!alive(p3.init));
    env.ok(&["rm", "orphan", "lost"]);
    let brif = PathBuf::from("/sys/class/net")
        .join(&env.md.bridge)
        .join("brif");
    assert_eq!(std::fs::read_dir(&brif).map(|d| d.count()).unwrap_or(0), 0);
    env.assert_clean();
}

/// `exec -it sh` in a detached container, driven through a pty the test owns: the prompt
/// comes back, the shell has a terminal of the container's, and the exit code is the
/// shell's.
#[test]
fn exec_it_gives_a_terminal() {
    use std::io::{Read, Write};
    let env = Env::new("execit");
    env.run_d(&["--name", "host", "--network", "none"], &["sleep", "1000"]);
    let (master, slave) = common::pty_pair();
    let mut cmd = std::process::Command::new("setsid");
    cmd.arg("-c")
        .arg(env!("CARGO_BIN_EXE_mydocker"))
        .arg("--root")
        .arg(env.md.root())
        .args(["exec", "-it", "host", "sh"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().unwrap();
    let mut master = std::fs::File::from(master);
    rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut seen = String::new();
    let mut expect = |master: &mut std::fs::File, what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !seen.contains(what) {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("waiting for {what:?}, got {seen:?}");
            }
            let mut buf = [0u8; 4096];
            match master.read(&mut buf) {
                Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let end = seen.find(what).map_or(0, |i| i + what.len());
        seen.drain(..end);
    };
    expect(&mut master, "# ");
    master
        .write_all(b"tty; echo $((6*7)); ps -o pid,args | grep -c 'sleep 1000'\r")
        .unwrap();
    expect(&mut master, "/dev/pts/");
    expect(&mut master, "42");
    master.write_all(b"exit 5\r").unwrap();
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        child.wait().unwrap()
    });
    assert_eq!(status.code(), Some(5));
    env.ok(&["rm", "-f", "host"]);
    env.assert_clean();
}
