//! `cargo xtask bench [SECTION]... [--runs N] [--quick]`: mydocker side by side with the
//! peers Debian installs (crun, runc, podman, skopeo, umoci), each with private state in one
//! temporary directory on the same disk (`/var/tmp/mydocker-bench-PID`), private cgroup
//! parents, and its own bridge, bridge prefix and nft table for mydocker. podman and crun
//! run in a private mount and network namespace ([`jail`]) so that they leave the host's
//! sysctls, firewall and `/run` alone. Every table gives the median and p90 wall time, the
//! ratio of medians to the first row, the median peak RSS (as `wait4` reports it: the
//! largest RSS of the process and of the descendants it waited for) and the run count,
//! followed by the exact commands. Tools that cannot run here are reported as
//! `n/a (reason)`.
//!
//! Everything the benchmark made (containers, mounts, cgroups, bridges, nft table,
//! namespaces, directories) is removed at the end, also when a benchmark fails or the run
//! is interrupted with Ctrl-C.

mod build;
mod exec;
pub(crate) mod fixture;
mod jail;
mod lifecycle;
mod network;
mod pull;
mod run;
mod start;
mod storage;

use crate::measure;
use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const USAGE: &str = "\
cargo xtask bench [SECTION]... [--runs N] [--quick]

Sections (default: all of them, in this order):
  run        start-to-exit of `true` in busybox: mydocker run --rm, crun run, runc run, podman run --rm
  start      the phase table of `mydocker run --rm` (--log-level debug), none and bridge
  pull       the ~500 MB 5-layer image into an empty root: mydocker pull (overlay, copy),
             skopeo copy, skopeo copy + umoci unpack, podman pull
  layers     the 125-layer image into an empty root: mydocker pull, skopeo copy, podman pull
  copy       a container rootfs of the big image with the copy driver (create + rm), beside cp -a
  overlay    run `true` in the 125-layer image beside the 1-layer busybox (overlay mount cost)
  lifecycle  create, start, exec, stop, rm of a busybox container beside podman's
  exec       exec true in a running busybox container beside crun exec and runc exec
  build      a 6-step Dockerfile (COPY of 1,000 files, two RUNs), cold and cached, beside podman build
  network    bridge vs none on run --rm; network connect/disconnect; TCP throughput
  all        every section

  --runs N   samples per case (default: 30 for `run`, 20 for other short commands, 3 for
             the big pull, copies and throughput, 5 for the 125-layer pull)
  --quick    a fifth of the default samples (at least 1): a smoke run of a few minutes
";

const ALL: &[&str] = &[
    "run",
    "start",
    "pull",
    "layers",
    "copy",
    "overlay",
    "lifecycle",
    "exec",
    "build",
    "network",
];

/// Why docker and containerd have no numbers here.
pub(crate) const NO_DAEMONS: &str = "not run: dockerd and containerd are system daemons \
    (dockerd takes over the host's iptables and ip_forward); this shared machine keeps them off";

/// The shared set-up of a benchmark session.
pub(crate) struct Env {
    /// The private directory every tool keeps its state in.
    pub(crate) dir: PathBuf,
    pub(crate) mydocker: PathBuf,
    runs: Option<usize>,
    quick: bool,
    /// The prefix of every cgroup made here (under each hierarchy's root).
    pub(crate) cgroup_parent: String,
    pub(crate) bridge: String,
    /// The prefix of user networks' bridges (mydocker's `--bridge-prefix`).
    pub(crate) bridge_prefix: String,
    pub(crate) nft_table: String,
    pub(crate) subnet: String,
    pub(crate) registry: fixture::FixtureRegistry,
    pub(crate) busybox: String,
    pub(crate) big: Option<String>,
    pub(crate) layers: Option<String>,
    /// The private namespaces of podman and crun, or why they could not be made.
    jail: std::result::Result<jail::Jail, String>,
    /// Bridges of user networks made by the benchmark (removed on drop if still there).
    pub(crate) user_bridges: RefCell<Vec<String>>,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut which: Vec<String> = Vec::new();
    let mut runs = None;
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                let v = it.next().context("--runs needs a value")?;
                let n: usize = v.parse().with_context(|| format!("bad --runs {v:?}"))?;
                if n == 0 {
                    bail!("--runs must be at least 1");
                }
                runs = Some(n);
            }
            "--quick" => quick = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "all" => which.extend(ALL.iter().map(|s| s.to_string())),
            w if ALL.contains(&w) => which.push(w.to_owned()),
            other => bail!("unknown benchmark {other:?}\n{USAGE}"),
        }
    }
    if which.is_empty() {
        which.extend(ALL.iter().map(|s| s.to_string()));
    }
    // In the order of ALL, each once.
    let which: Vec<String> = ALL
        .iter()
        .filter(|a| which.iter().any(|w| w == *a))
        .map(|a| a.to_string())
        .collect();
    let wants = |w: &str| which.iter().any(|x| x == w);

    measure::catch_interrupts();
    crate::deps::install(&[crate::deps::TEST, crate::deps::PEERS].concat())?;
    let bins = build_release()?;
    let need_big = wants("pull") || wants("copy");
    let need_layers = wants("layers") || wants("overlay");
    let started = std::time::Instant::now();
    let mut env = Env::start(&bins, runs, quick, need_big, need_layers)?;
    println!("# mydocker benchmarks\n");
    println!("{}", machine_summary(&env, &which, runs, quick));
    let mut failures = Vec::new();
    for name in ALL.iter().filter(|n| wants(n)) {
        if measure::interrupted() {
            failures.push(format!("{name} (interrupted)"));
            continue;
        }
        let load = load_average();
        eprintln!("xtask: bench: == {name} (load average {load}) ==");
        let t = std::time::Instant::now();
        let result = match *name {
            "run" => run::run(&mut env),
            "start" => start::run(&mut env),
            "pull" => pull::big(&mut env),
            "layers" => pull::layers(&mut env),
            "copy" => storage::copy(&mut env),
            "overlay" => storage::overlay(&mut env),
            "lifecycle" => lifecycle::run(&mut env),
            "exec" => exec::run(&mut env),
            "build" => build::run(&mut env),
            "network" => network::run(&mut env),
            other => bail!("no section {other}"),
        };
        let took = measure::fmt_duration(t.elapsed());
        match result {
            Ok(text) => {
                println!(
                    "\n## {name}\n\nLoad average at start: {load}; at end: {}; section time {took}.",
                    load_average()
                );
                println!("{text}");
            }
            Err(e) => {
                println!("\n## {name}\n\nfailed: {e:#}");
                failures.push(name.to_string());
            }
        }
    }
    drop(env);
    println!(
        "\nTotal time of the measured sections and their set-up: {}.",
        measure::fmt_duration(started.elapsed())
    );
    if !failures.is_empty() {
        bail!("benchmarks failed: {}", failures.join(", "));
    }
    Ok(())
}

/// The release binaries the benchmarks and the demo use.
pub(crate) struct Bins {
    pub(crate) mydocker: PathBuf,
    pub(crate) fixture_registry: PathBuf,
    pub(crate) push_layered: PathBuf,
}

/// Builds mydocker and the test-support binaries with `--release`.
pub(crate) fn build_release() -> Result<Bins> {
    let mut cargo = crate::cargo();
    // `cargo run` gave us the variables of xtask's own package; build scripts that watch
    // them (ring's does) would rebuild on every switch between `cargo build` by hand and
    // this build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&&*k)
        {
            cargo.env_remove(&*k);
        }
    }
    crate::run_cmd(cargo.args([
        "build",
        "--release",
        "-p",
        "mydocker",
        "-p",
        "mydocker-test-support",
        "--bins",
    ]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::project_root().join("target"))
        .join("release");
    let bins = Bins {
        mydocker: target.join("mydocker"),
        fixture_registry: target.join("fixture-registry"),
        push_layered: target.join("push-layered"),
    };
    for b in [&bins.mydocker, &bins.fixture_registry, &bins.push_layered] {
        if !b.is_file() {
            bail!("{} was not built", b.display());
        }
    }
    Ok(bins)
}

impl Env {
    fn start(
        bins: &Bins,
        runs: Option<usize>,
        quick: bool,
        big: bool,
        layers: bool,
    ) -> Result<Env> {
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/var/tmp/mydocker-bench-{pid}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut fixture_args = Vec::new();
        if big {
            fixture_args.push("--big");
        }
        // From here on, dropping the registry or the env cleans up.
        let registry = fixture::FixtureRegistry::start(&bins.fixture_registry, &fixture_args)
            .inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&dir);
            })?;
        let busybox = registry.image("busybox").map(str::to_owned);
        let big_ref = registry.image("big").map(str::to_owned);
        let mut env = Env {
            jail: Err("not started".to_owned()),
            dir,
            mydocker: bins.mydocker.clone(),
            runs,
            quick,
            cgroup_parent: format!("mydocker-bench-{pid}"),
            bridge: format!("mdb{}", pid % 1_000_000),
            bridge_prefix: "mb-".to_owned(),
            nft_table: format!("mydocker_bench_{pid}"),
            subnet: format!("10.254.{}.0/24", pid % 256),
            busybox: String::new(),
            big: big_ref,
            layers: None,
            registry,
            user_bridges: RefCell::new(Vec::new()),
        };
        env.busybox = busybox.context("the fixture registry printed no busybox image")?;
        if big && env.big.is_none() {
            bail!("the fixture registry printed no big image");
        }
        if layers {
            let out = Command::new(&bins.push_layered)
                .args(["--registry", env.registry.host(), "--layers", "125"])
                .stderr(Stdio::inherit())
                .output()
                .context("running push-layered")?;
            if !out.status.success() {
                bail!("push-layered failed: {}", out.status);
            }
            env.layers = Some(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        env.jail = jail::Jail::start(&env.dir).map_err(|e| {
            measure::one_line(&format!(
                "could not make the private namespaces podman and crun run in: {e:#}"
            ))
        });
        Ok(env)
    }

    /// The number of samples: `--runs`, else `default` (a fifth of it with `--quick`).
    pub(crate) fn runs(&self, default: usize) -> usize {
        self.runs.unwrap_or(if self.quick {
            (default / 5).max(1)
        } else {
            default
        })
    }

    /// The mydocker root shared by the sections that run containers (run, overlay,
    /// lifecycle, network): one default network, images pulled once. The pull and copy
    /// sections use roots of their own, emptied for every sample.
    pub(crate) fn md_root(&self) -> PathBuf {
        self.dir.join("mydocker")
    }

    /// The podman root shared like [`Env::md_root`].
    pub(crate) fn podman_root(&self) -> PathBuf {
        self.dir.join("podman")
    }

    /// A fresh path under the private directory (nothing is created).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `mydocker` with a private root and the benchmark's own bridge, subnet, bridge prefix
    /// and nft table.
    pub(crate) fn md(&self, root: &Path) -> Command {
        let mut c = Command::new(&self.mydocker);
        // The host's sysctls are not ours to change: no `ip_forward` for the bridge.
        c.env("MYDOCKER_MANAGE_IP_FORWARD", "0")
            .arg("--root")
            .arg(root)
            .args(["--default-bridge", &self.bridge])
            .args(["--default-subnet", &self.subnet])
            .args(["--bridge-prefix", &self.bridge_prefix])
            .args(["--nft-table", &self.nft_table]);
        c
    }

    /// `mydocker ... run` with the benchmark's cgroup parent; add the rest.
    pub(crate) fn md_run(&self, root: &Path, extra: &[&str]) -> Command {
        self.md_container(root, "run", extra)
    }

    /// `mydocker ... SUBCOMMAND --cgroup-parent P EXTRA` for `run` and `create`.
    pub(crate) fn md_container(&self, root: &Path, subcommand: &str, extra: &[&str]) -> Command {
        let mut c = self.md(root);
        c.arg(subcommand)
            .args(["--cgroup-parent", &format!("{}-md", self.cgroup_parent)])
            .args(extra);
        c
    }

    /// The private namespaces, or why there are none.
    pub(crate) fn jail(&self) -> std::result::Result<&jail::Jail, String> {
        self.jail.as_ref().map_err(Clone::clone)
    }

    /// podman in the private namespaces (network included), with private storage, run and
    /// tmp dirs under `root`, overlay, cgroupfs, its default runtime (crun), no event log.
    pub(crate) fn podman(&self, root: &Path) -> Command {
        let mut c = self.podman_host_net(root);
        if let Ok(jail) = &self.jail {
            jail.enter(&mut c, true);
        }
        c
    }

    /// podman as [`Env::podman`] but in the host's network namespace, for pulls from the
    /// registry on the host's 127.0.0.1 (a pull changes no network state).
    pub(crate) fn podman_host_net(&self, root: &Path) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(root.join("storage"))
            .arg("--runroot")
            .arg(root.join("run"))
            .arg("--tmpdir")
            .arg(root.join("tmp"))
            .args(["--storage-driver", "overlay"])
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "none"]);
        if let Ok(jail) = &self.jail {
            jail.enter(&mut c, false);
        }
        c
    }

    /// `podman ... SUBCOMMAND` for `run` and `create`, with the benchmark's cgroup parent
    /// and rlimits root may set here (podman's rootful defaults, nofile 1048576 and nproc
    /// 4194304, exceed the hard limits of a root without CAP_SYS_RESOURCE; mydocker clamps
    /// its docker-like nofile default to the hard limit itself).
    pub(crate) fn podman_container(
        &self,
        root: &Path,
        subcommand: &str,
        extra: &[&str],
    ) -> Command {
        let mut c = self.podman(root);
        let nofile = hard_limit(libc::RLIMIT_NOFILE).unwrap_or(1024);
        // podman runs with at most 32768 processes itself, so its containers cannot get more.
        let nproc = hard_limit(libc::RLIMIT_NPROC).unwrap_or(32768).min(32768);
        c.arg(subcommand)
            .args([
                "--cgroup-parent",
                &format!("/{}-podman", self.cgroup_parent),
            ])
            .args(["--ulimit", &format!("nofile={nofile}:{nofile}")])
            .args(["--ulimit", &format!("nproc={nproc}:{nproc}")])
            .args(extra);
        c
    }

    /// `podman ... run` ([`Env::podman_container`]).
    pub(crate) fn podman_run(&self, root: &Path, extra: &[&str]) -> Command {
        self.podman_container(root, "run", extra)
    }

    /// Pulls `image` into a private podman root (plain HTTP: the registry is local).
    pub(crate) fn podman_pull(&self, root: &Path, image: &str) -> Result<()> {
        self.jail()
            .map_err(anyhow::Error::msg)
            .context("podman runs only in the private namespaces")?;
        quiet(
            self.podman_host_net(root)
                .args(["pull", "-q", "--tls-verify=false", image]),
        )
    }

    /// crun in the private mount namespace (where the cgroup2 mount of the hybrid layout,
    /// which crun 1.8 refuses, is detached), in the host's network namespace.
    pub(crate) fn crun(&self) -> Command {
        let mut c = Command::new("crun");
        if let Ok(jail) = &self.jail {
            jail.enter(&mut c, false);
        }
        c
    }

    /// Removes every mydocker container and user network and every podman container under
    /// the private directory (the roots are its subdirectories).
    fn remove_containers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let root = e.path();
            if root.join("containers").is_dir() {
                if let Ok(ids) = output(self.md(&root).args(["ps", "-aq"])) {
                    for id in ids.split_whitespace() {
                        let _ = quiet(self.md(&root).args(["rm", "-f", id]));
                    }
                }
                let _ = quiet(self.md(&root).args(["network", "prune", "-f"]));
            }
            if root.join("storage/libpod").is_dir() && self.jail.is_ok() {
                let _ = quiet(self.podman(&root).args(["rm", "-af", "-t", "0"]));
            }
        }
    }
}

/// mydocker's host-wide lock directory (the network crate's default).
const HOST_LOCK_DIR: &str = "/run/lock/mydocker";

impl Drop for Env {
    fn drop(&mut self) {
        self.remove_containers();
        // Killing the holder ends the namespaces (and their mounts) once podman's
        // containers are gone.
        self.jail = Err("stopped".to_owned());
        cleanup_dir(&self.dir);
        remove_cgroups(&self.cgroup_parent);
        let bridges = std::iter::once(self.bridge.clone()).chain(self.user_bridges.take());
        for bridge in bridges {
            if Path::new("/sys/class/net").join(&bridge).exists() {
                let _ = quiet(Command::new("ip").args(["link", "del", &bridge]));
            }
            // mydocker removes a bridge's host-wide lock file only when it deletes the
            // bridge itself; this one was deleted behind its back.
            let _ = std::fs::remove_file(
                Path::new(HOST_LOCK_DIR).join(format!("bridge-{bridge}.lock")),
            );
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(
            Path::new(HOST_LOCK_DIR).join(format!("nft-{}.lock", self.nft_table)),
        );
        self.registry.stop();
    }
}

/// The hard limit of `resource` for this process.
pub(crate) fn hard_limit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
    let r = unsafe { libc::getrlimit(resource, &mut lim) };
    (r == 0 && lim.rlim_max != libc::RLIM_INFINITY).then_some(lim.rlim_max)
}

/// Runs `cmd` with its output captured, failing with its stderr.
pub(crate) fn quiet(cmd: &mut Command) -> Result<()> {
    output(cmd).map(|_| ())
}

/// Runs `cmd` and returns its stdout, failing with its stderr.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", measure::show(cmd)))?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "{}",
            measure::last_lines(&String::from_utf8_lossy(&out.stderr), 3)
        ))
        .with_context(|| format!("{} failed ({})", measure::show(cmd), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Unmounts everything under `dir` (deepest first, lazily) and removes it.
pub(crate) fn cleanup_dir(dir: &Path) {
    unmount_under(dir);
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        eprintln!("xtask: could not remove {}: {e}", dir.display());
    }
}

/// Removes `path` (a file tree the benchmark made), after unmounting what is under it.
pub(crate) fn remove(path: &Path) -> Result<()> {
    unmount_under(path);
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

fn unmount_under(dir: &Path) {
    for _ in 0..3 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return;
        }
        for m in mounts {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&m)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount_path(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from(
        String::from_utf8_lossy(&out).into_owned(),
    ))
}

/// Removes every cgroup directory whose top-level name starts with `prefix`, in every
/// hierarchy, children first. Bounded depth; a cgroup still holding processes stays (and is
/// reported).
pub(crate) fn remove_cgroups(prefix: &str) {
    fn rm_tree(dir: &Path, depth: usize) {
        if depth > 8 {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    rm_tree(&e.path(), depth + 1);
                }
            }
        }
        // A busy cgroup may need a moment after its last process exits.
        for _ in 0..20 {
            if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("xtask: could not remove cgroup {}", dir.display());
    }
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|e| e.path()));
    }
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix)
                && e.file_type().map(|t| t.is_dir()).unwrap_or(false)
            {
                rm_tree(&e.path(), 0);
            }
        }
    }
}

/// `uptime`'s load averages.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

fn machine_summary(env: &Env, which: &[String], runs: Option<usize>, quick: bool) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
        })
        .and_then(|k| k.parse::<u64>().ok())
        .map(|k| format!("{:.1} GiB", k as f64 / 1048576.0))
        .unwrap_or_default();
    let first_line = |cmd: &mut Command| {
        output(cmd)
            .map(|s| s.lines().next().unwrap_or("?").trim().to_owned())
            .unwrap_or_else(|_| "?".to_owned())
    };
    let fs = output(Command::new("df").args(["--output=fstype"]).arg(&env.dir))
        .map(|s| s.lines().nth(1).unwrap_or("?").trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned());
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]));
    let mut args: Vec<String> = if which.len() == ALL.len() {
        Vec::new()
    } else {
        which.to_vec()
    };
    if let Some(n) = runs {
        args.push(format!("--runs {n}"));
    }
    if quick {
        args.push("--quick".to_owned());
    }
    let command = std::iter::once("cargo xtask bench".to_owned())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    let versions = [
        first_line(Command::new(&env.mydocker).arg("version")),
        first_line(Command::new("crun").arg("--version")),
        first_line(Command::new("runc").arg("--version")),
        first_line(Command::new("podman").arg("--version")),
        first_line(Command::new("skopeo").arg("--version")),
        first_line(Command::new("umoci").arg("--version")),
    ];
    let jail = match &env.jail {
        Ok(_) => "podman (with its default runtime, crun) and crun run in a private mount and \
                  network namespace, so that podman's netavark sets ip_forward and iptables \
                  there and not on the host, and crun 1.8 does not see the hybrid layout's \
                  cgroup2 mount, which it refuses"
            .to_owned(),
        Err(e) => format!("podman and crun: {e}"),
    };
    format!(
        "Date: {date}. Command: `{command}`.\n\n\
         Machine: Linux {}, {cpus} CPUs (shared with other builds and a qemu VM while this \
         ran), {mem} RAM; state of every tool under {} ({fs}); load average at start {}.\n\n\
         Versions: {}.\n\n\
         Wall times are the median and the 90th percentile (nearest rank) of the samples; \
         ratios are of medians, to the first row of the table, from this same run. CPU is the \
         user and system time of the process and the descendants it waited for (wait4's \
         rusage): less disturbed than the wall time by what else the machine runs. Peak RSS is \
         the median of wait4's ru_maxrss (the largest of the process and the children it \
         waited for: podman's conmon and the container of a detached run are not counted). \
         The samples of the cases of a table are interleaved (sample 1 of every case, then \
         sample 2...) so that changes of the machine's load hit them alike, and the rounds' \
         orders form a Williams square, so that each case follows every other equally often \
         (a case run right after podman finds the CPU caches cold); `sync` runs \
         (untimed) after each sample that wrote many files. {jail}. mydocker runs with \
         MYDOCKER_MANAGE_IP_FORWARD=0 (the host's ip_forward stays as it is).",
        kernel.trim(),
        env.dir.display(),
        load_average(),
        versions.join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(
            unescape_mount_path(r"/var/tmp/a\040b\134c"),
            PathBuf::from(r"/var/tmp/a b\c")
        );
        assert_eq!(unescape_mount_path("/plain"), PathBuf::from("/plain"));
    }
}
