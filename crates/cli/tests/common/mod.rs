//! Helpers for the CLI's integration tests: a private root per test and bounded runs of
//! the real `mydocker` binary.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private mydocker root (and run root) removed at the end of the test, with network
/// names of its own: default bridge, nft table, default subnet and user-bridge prefix.
pub(crate) struct Mydocker {
    pub(crate) root: tempfile::TempDir,
    pub(crate) bridge: String,
    pub(crate) nft_table: String,
    pub(crate) subnet: String,
    pub(crate) bridge_prefix: String,
}

impl Mydocker {
    pub(crate) fn new() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        Mydocker {
            root: tempfile::Builder::new()
                .prefix("mydocker-test-")
                .tempdir()
                .expect("temp root"),
            // IFNAMSIZ allows 15 characters.
            bridge: format!("mdt{}x{n}", pid % 100_000),
            nft_table: format!("mydocker_test_{pid}_{n}"),
            subnet: format!("10.{}.{}.0/24", 100 + pid % 100, n % 256),
            bridge_prefix: [
                "t0-", "t1-", "t2-", "t3-", "t4-", "t5-", "t6-", "t7-", "t8-", "t9-",
            ][n % 10]
                .to_owned(),
        }
    }

    /// The network manager with this root's settings (for checks and clean-up).
    pub(crate) fn networks(&self) -> network::Networks {
        let mut c = network::Config::new(self.root().join("networks"));
        c.default_bridge = self.bridge.clone();
        c.nft_table = self.nft_table.clone();
        c.default_subnet = self.subnet.parse().expect("subnet");
        c.bridge_prefix = self.bridge_prefix.clone();
        network::Networks::new(c).expect("networks")
    }

    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mydocker"));
        c.arg("--root").arg(self.root()).args(args);
        c.env_remove("MYDOCKER_STORAGE_DRIVER");
        c.env("MYDOCKER_DEFAULT_BRIDGE", &self.bridge);
        c.env("MYDOCKER_NFT_TABLE", &self.nft_table);
        c.env("MYDOCKER_DEFAULT_SUBNET", &self.subnet);
        c.env("MYDOCKER_BRIDGE_PREFIX", &self.bridge_prefix);
        // The host's sysctls are not the tests' to change.
        c.env("MYDOCKER_MANAGE_IP_FORWARD", "0");
        c.env("DOCKER_CONFIG", self.root().join("docker-config"));
        c
    }

    /// Runs `mydocker --root R ARGS`, killed after `limit`.
    pub(crate) fn run_with(&self, args: &[&str], limit: Duration) -> Output {
        run_bounded(self.command(args), limit)
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, Duration::from_secs(120))
    }

    /// Runs with `input` on stdin.
    pub(crate) fn run_input(&self, args: &[&str], input: &[u8]) -> Output {
        run_bounded_with_input(self.command(args), Some(input), Duration::from_secs(120))
    }

    /// Runs and expects success; returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mydocker {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with extra environment variables.
    pub(crate) fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut c = self.command(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        run_bounded(c, Duration::from_secs(120))
    }

    /// Runs and expects success; returns stdout as bytes.
    pub(crate) fn ok_bytes(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mydocker {args:?} failed ({:?}):\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs and expects failure; returns (exit code, stderr).
    pub(crate) fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "mydocker {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Files anywhere under ROOT/`sub` (recursively), for "nothing left behind" checks.
    pub(crate) fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root().join(sub), &mut out);
        out
    }
}

impl Drop for Mydocker {
    fn drop(&mut self) {
        // Containers first (they hold mounts, cgroups and veths), then the networks.
        if let Ok(out) = self.command(&["ps", "-aq"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.command(&["rm", "-f", id]).output();
            }
        }
        if self.root().join("networks").exists() {
            // A stopped container's veth goes with its network namespace, which the kernel
            // frees a little later. Until then the bridge has a port, and `purge` leaves a
            // default bridge with ports alone (another root may use it): wait, bounded.
            let ports = Path::new("/sys/class/net").join(&self.bridge).join("brif");
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::fs::read_dir(&ports).is_ok_and(|mut d| d.next().is_some())
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.networks().purge();
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs `cmd` with piped output, killing it (by PID) when it outlives `limit`.
pub(crate) fn run_bounded(cmd: Command, limit: Duration) -> Output {
    run_bounded_with_input(cmd, None, limit)
}

/// [`run_bounded`], with `input` written to the command's stdin (then closed) when given,
/// stdin from /dev/null otherwise.
pub(crate) fn run_bounded_with_input(
    mut cmd: Command,
    input: Option<&[u8]>,
    limit: Duration,
) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mydocker");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        // A thread of its own: a command that does not read must not block the deadline.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let s = child.wait().expect("wait");
            panic!("command timed out after {limit:?}: {cmd:?} ({s})");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// How many times the registry served `GET .../blobs/<digest>` so far.
pub(crate) fn blob_gets(registry: &test_support::Registry, digest: &str) -> usize {
    registry
        .log_text()
        .lines()
        .filter(|l| l.contains("\"GET /v2/") && l.contains(&format!("/blobs/{digest}")))
        .count()
}

/// A cgroup parent of the test's own, removed (with anything left under it) at the end.
pub(crate) struct CgroupParent {
    pub(crate) name: String,
}

impl CgroupParent {
    pub(crate) fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        CgroupParent {
            name: format!("mydocker-test-{}-{tag}-{n}", std::process::id()),
        }
    }

    /// The cgroup directories of this parent that exist, in every hierarchy.
    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
            return out;
        };
        for e in entries.flatten() {
            let d = e.path().join(&self.name);
            if d.is_dir() {
                out.push(d);
            }
        }
        let d = Path::new("/sys/fs/cgroup").join(&self.name);
        if d.is_dir() && !out.contains(&d) {
            out.push(d);
        }
        out
    }

    /// Container cgroups left under this parent.
    pub(crate) fn children(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in self.dirs() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    out.push(e.path());
                }
            }
        }
        out
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        for d in self.dirs() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(&d);
        }
    }
}

/// Mount points under `dir` (from /proc/self/mountinfo).
pub(crate) fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&dir))
        .map(str::to_owned)
        .collect()
}

/// A root with the busybox fixture pulled, and a cgroup parent of its own: what most
/// container tests start from.
pub(crate) struct Env {
    pub(crate) md: Mydocker,
    pub(crate) cg: CgroupParent,
    pub(crate) image: String,
}

impl Env {
    pub(crate) fn new(tag: &str) -> Self {
        let md = Mydocker::new();
        let image = test_support::Fixtures::shared()
            .busybox
            .reference
            .to_string();
        md.ok(&["pull", "-q", &image]);
        Env {
            md,
            cg: CgroupParent::new(tag),
            image,
        }
    }

    /// `inspect --format FORMAT NAME`, trimmed.
    pub(crate) fn inspect(&self, name: &str, format: &str) -> String {
        self.md
            .ok(&["inspect", "--format", format, name])
            .trim()
            .to_owned()
    }

    /// `run -d` of a container named `name` that sleeps, with `flags`, in the test's
    /// cgroup parent and no network; its ID and its monitor's pid.
    pub(crate) fn run_sleeper(&self, name: &str, flags: &[&str], image: &str) -> (String, u32) {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "--cgroup-parent",
            &self.cg.name,
        ];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[image, "sleep", "1000"]);
        let id = self.md.ok(&args).trim().to_owned();
        let monitor = self.monitor_of(&id);
        (id, monitor)
    }

    /// The pid of container `id`'s monitor, as recorded (0 when there is none).
    pub(crate) fn monitor_of(&self, id: &str) -> u32 {
        self.record(id)["state"]["monitor_pid"]
            .as_u64()
            .unwrap_or_default() as u32
    }

    /// The container's record as stored (`Null` when there is none).
    pub(crate) fn record(&self, id: &str) -> serde_json::Value {
        let p = self
            .md
            .root()
            .join("containers")
            .join(id)
            .join("container.json");
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The first of `files` found in container `id`'s cgroup directories under the test's
    /// parent (v1 or v2 names), trimmed.
    pub(crate) fn cg_file(&self, id: &str, files: &[&str]) -> Option<String> {
        for d in self.cg.dirs() {
            for f in files {
                if let Ok(s) = std::fs::read_to_string(d.join(id).join(f)) {
                    return Some(s.trim().to_owned());
                }
            }
        }
        None
    }

    /// The `ps -a` line of the container named `name` (empty when there is none).
    pub(crate) fn ps_line(&self, name: &str) -> String {
        self.md
            .ok(&["ps", "-a"])
            .lines()
            .find(|l| l.split_whitespace().last() == Some(name))
            .unwrap_or_default()
            .to_owned()
    }

    /// `run --rm --cgroup-parent P [flags] IMAGE cmd...`
    pub(crate) fn args<'a>(&'a self, flags: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["run", "--rm", "--cgroup-parent", self.cg.name.as_str()];
        args.extend_from_slice(flags);
        args.push(&self.image);
        args.extend_from_slice(cmd);
        args
    }

    pub(crate) fn run(&self, flags: &[&str], cmd: &[&str]) -> Output {
        self.md.run(&self.args(flags, cmd))
    }

    /// Runs a container that must succeed; returns its stdout.
    pub(crate) fn stdout(&self, flags: &[&str], cmd: &[&str]) -> String {
        let out = self.run(flags, cmd);
        assert!(
            out.status.success(),
            "run {flags:?} {cmd:?}: {:?}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A foreground container in the background, ended when the returned guard drops (by
    /// SIGTERM, which mydocker forwards; it runs with `--init` so that TERM ends it).
    pub(crate) fn spawn(&self, flags: &[&str], cmd: &[&str]) -> Bg {
        let mut flags = flags.to_vec();
        flags.push("--init");
        let child = self
            .md
            .command(&self.args(&flags, cmd))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mydocker run");
        Bg(child)
    }

    /// Waits (bounded) until container NAME has an address on some network; returns it.
    pub(crate) fn wait_ip(&self, name: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(ip) = self.ip_of(name) {
                return ip;
            }
            assert!(
                Instant::now() < deadline,
                "container {name} did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The address of container NAME on any network, from `network inspect`.
    pub(crate) fn ip_of(&self, name: &str) -> Option<String> {
        let nets = self.md.run(&["network", "ls", "-q"]);
        for id in String::from_utf8_lossy(&nets.stdout).split_whitespace() {
            let out = self.md.run(&["network", "inspect", id]);
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
                continue;
            };
            let Some(containers) = v[0]["Containers"].as_object() else {
                continue;
            };
            for c in containers.values() {
                if c["Name"] == name {
                    let addr = c["IPv4Address"].as_str()?;
                    return Some(addr.split('/').next()?.to_owned());
                }
            }
        }
        None
    }

    /// Nothing of any container is left: no cgroup, mount, container state, network
    /// endpoint or veth.
    pub(crate) fn assert_clean(&self) {
        assert!(
            self.cg.children().is_empty(),
            "cgroups left: {:?}",
            self.cg.children()
        );
        let mounts = mounts_under(self.md.root());
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        let left: Vec<_> = std::fs::read_dir(self.md.root().join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "names" && !n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty(), "container state left: {left:?}");
        if !self.md.root().join("networks").exists() {
            return;
        }
        let nets = self.md.networks().list().expect("networks");
        for n in nets {
            assert!(
                n.containers.is_empty(),
                "endpoints left on {}: {:?}",
                n.name,
                n.containers
            );
            let left = wait_no_veths(n.bridge());
            assert_eq!(left, 0, "veths left on {}", n.bridge());
        }
    }
}

/// The number of veths still on `bridge` once the kernel has had a bounded time (5 s)
/// to finish deleting those of exited containers: mydocker leaves a pair whose
/// container has exited to the kernel, which deletes it with the container's network
/// namespace, in the background.
pub(crate) fn wait_no_veths(bridge: &str) -> usize {
    let brif = std::path::Path::new("/sys/class/net")
        .join(bridge)
        .join("brif");
    let count = || std::fs::read_dir(&brif).map(|d| d.count()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    count()
}

/// A background `mydocker run`, stopped (SIGTERM, then SIGKILL after 20 s) when dropped.
pub(crate) struct Bg(pub std::process::Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pty pair standing for the user's terminal: (master the test types into and reads
/// from, slave given to mydocker as its stdin/stdout/stderr).
pub(crate) fn pty_pair() -> (std::os::fd::OwnedFd, std::fs::File) {
    use rustix::pty::OpenptFlags;
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    rustix::pty::grantpt(&master).expect("grantpt");
    rustix::pty::unlockpt(&master).expect("unlockpt");
    let name = rustix::pty::ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("pty name is UTF-8"))
        .expect("open the pty's slave");
    (master, slave)
}

/// podman with everything private: storage, run root, locks, tmp and network config in a
/// temp dir (vfs storage: no mounts). `None` where podman is not installed.
pub(crate) struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    pub(crate) fn new() -> Option<Podman> {
        if Command::new("podman").arg("--version").output().is_err() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("mydocker-podman-")
            .tempdir()
            .expect("temp dir for podman");
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[network]\nnetwork_config_dir = \"{d}/net\"\n[engine]\nlock_type = \"file\"\n\
                 tmp_dir = \"{d}/tmp\"\nstatic_dir = \"{d}/root/libpod\"\nvolume_path = \"{d}/root/volumes\"\n\
                 events_logger = \"none\"\ncgroup_manager = \"cgroupfs\"\n"
            ),
        )
        .expect("writing podman's containers.conf");
        Some(Podman { dir })
    }

    /// `podman ARGS` on the private storage.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env_remove("CONTAINERS_STORAGE_CONF")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        c
    }
}

/// Polls `cond` every 100 ms for up to 30 s; panics naming `what` when it never held.
pub(crate) fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for: {what}");
}

/// Whether process `pid` runs; a zombie (not yet reaped) counts as gone, 0 never runs.
pub(crate) fn alive(pid: u32) -> bool {
    pid != 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_owned()))
            .is_some_and(|r| !r.starts_with('Z'))
}

/// SIGKILLs process `pid` (one the test started or found in a record).
pub(crate) fn kill9(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill -9");
}
