//! `cargo xtask bench [pull|unpack|copy|overlay|run|lifecycle|network|all] [--runs N]`:
//! mydocker side by side with the peers Debian installs (skopeo, umoci, crun, runc,
//! podman), each with private state in one temporary directory on the same disk
//! (`/var/tmp/mydocker-bench-PID`), private cgroup parents, and its own bridge and nft
//! table for mydocker. Every table gives the median wall time, the ratio to mydocker, the
//! median peak RSS (as `wait4` reports it: the largest RSS of the process and of the
//! descendants it waited for) and the run count, followed by the exact commands. Tools
//! that cannot run here are reported as `n/a (reason)`.
//!
//! Everything the benchmark made (mounts, cgroups, bridge, nft table, directories) is
//! removed at the end, also when a benchmark fails.

pub(crate) mod fixture;
mod lifecycle;
mod network;
mod pull;
mod run;
mod storage;

use crate::measure;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const USAGE: &str = "\
cargo xtask bench [pull|unpack|copy|overlay|run|lifecycle|network|all]... [--runs N]

  pull       the ~500 MB 5-layer image: mydocker pull (overlay and copy drivers), skopeo copy, podman pull
  unpack     mydocker pull beside skopeo copy + umoci unpack and podman pull (all unpack)
  copy       a container rootfs of the big image with the copy driver, beside cp -a
  overlay    run `true` in a 125-layer image (overlay mount and unmount) beside the 1-layer busybox
  run        start-to-exit of `true`: mydocker run, crun run, runc run, podman run
  lifecycle  run -d, exec, rm -f beside podman
  network    bridge vs none vs podman; TCP throughput through a published port vs direct
  all        everything (the default)

  --runs N   samples per case (default: as the issues ask: 5 for pulls, 20 for runs)
";

const ALL: &[&str] = &[
    "pull",
    "unpack",
    "copy",
    "overlay",
    "run",
    "lifecycle",
    "network",
];

/// The shared set-up of a benchmark session.
pub(crate) struct Env {
    /// The private directory every tool keeps its state in.
    pub(crate) dir: PathBuf,
    pub(crate) mydocker: PathBuf,
    pub(crate) runs: Option<usize>,
    /// The prefix of every cgroup made here (under each hierarchy's root).
    pub(crate) cgroup_parent: String,
    pub(crate) bridge: String,
    pub(crate) nft_table: String,
    pub(crate) subnet: String,
    pub(crate) registry: fixture::FixtureRegistry,
    pub(crate) busybox: String,
    pub(crate) big: Option<String>,
    pub(crate) layers: Option<String>,
    podman0_existed: bool,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut which: Vec<String> = Vec::new();
    let mut runs = None;
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
    which.dedup();
    let wants = |w: &str| which.iter().any(|x| x == w);

    crate::deps::install(&[crate::deps::TEST, crate::deps::PEERS].concat())?;
    let bins = build_release()?;
    let need_big = wants("pull") || wants("unpack") || wants("copy");
    let mut env = Env::start(&bins, runs, need_big, wants("overlay"))?;
    println!("# mydocker benchmarks\n");
    println!("{}", machine_summary(&env.dir));
    let mut failures = Vec::new();
    let mut section = |name: &str, f: &mut dyn FnMut(&mut Env) -> Result<String>| {
        let load = load_average();
        eprintln!("xtask: bench: == {name} (load average {load}) ==");
        match f(&mut env) {
            Ok(text) => {
                println!(
                    "\n## {name}\n\nLoad average at start: {load}; at end: {}",
                    load_average()
                );
                println!("{text}");
            }
            Err(e) => {
                println!("\n## {name}\n\nfailed: {e:#}");
                failures.push(name.to_owned());
            }
        }
    };
    if wants("pull") || wants("unpack") {
        section("pull and unpack", &mut |env| {
            pull::run(env, wants("pull"), wants("unpack"))
        });
    }
    if wants("copy") {
        section("copy driver", &mut storage::copy);
    }
    if wants("overlay") {
        section("overlay (125 layers)", &mut storage::overlay);
    }
    if wants("run") {
        section("run", &mut run::run);
    }
    if wants("lifecycle") {
        section("lifecycle", &mut lifecycle::run);
    }
    if wants("network") {
        section("network", &mut network::run);
    }
    drop(env);
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
    fn start(bins: &Bins, runs: Option<usize>, big: bool, layers: bool) -> Result<Env> {
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
            dir,
            mydocker: bins.mydocker.clone(),
            runs,
            cgroup_parent: format!("mydocker-bench-{pid}"),
            bridge: format!("mdb{}", pid % 1_000_000),
            nft_table: format!("mydocker_bench_{pid}"),
            subnet: format!("10.254.{}.0/24", pid % 256),
            busybox: String::new(),
            big: big_ref,
            layers: None,
            registry,
            podman0_existed: Path::new("/sys/class/net/podman0").exists(),
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
        Ok(env)
    }

    /// The number of samples: `--runs`, else `default`.
    pub(crate) fn runs(&self, default: usize) -> usize {
        self.runs.unwrap_or(default)
    }

    /// A fresh path under the private directory (nothing is created).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `mydocker` with a private root and the benchmark's own bridge, subnet and nft table.
    pub(crate) fn md(&self, root: &Path) -> Command {
        let mut c = Command::new(&self.mydocker);
        c.arg("--root")
            .arg(root)
            .args(["--default-bridge", &self.bridge])
            .args(["--default-subnet", &self.subnet])
            .args(["--nft-table", &self.nft_table]);
        c
    }

    /// `mydocker ... run` with the benchmark's cgroup parent; add the rest.
    pub(crate) fn md_run(&self, root: &Path, extra: &[&str]) -> Command {
        let mut c = self.md(root);
        c.arg("run")
            .args(["--cgroup-parent", &format!("{}-md", self.cgroup_parent)])
            .args(extra);
        c
    }

    /// podman with private storage, run and tmp dirs under `root`, cgroupfs, runc (crun
    /// 1.8 refuses hybrid cgroup layouts like this machine's), no event log.
    pub(crate) fn podman(&self, root: &Path) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(root.join("storage"))
            .arg("--runroot")
            .arg(root.join("run"))
            .arg("--tmpdir")
            .arg(root.join("tmp"))
            .args(["--storage-driver", "overlay"])
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--runtime", "runc"])
            .args(["--events-backend", "none"]);
        c
    }

    /// `podman ... run` with the benchmark's cgroup parent; add the rest.
    pub(crate) fn podman_run(&self, root: &Path, extra: &[&str]) -> Command {
        let mut c = self.podman(root);
        c.arg("run")
            .args([
                "--cgroup-parent",
                &format!("/{}-podman", self.cgroup_parent),
            ])
            .args(extra);
        c
    }

    /// The image reference podman needs for the plain-HTTP local registry.
    pub(crate) fn podman_pull(&self, root: &Path, image: &str) -> Result<()> {
        quiet(
            self.podman(root)
                .args(["pull", "-q", "--tls-verify=false", image]),
        )
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        cleanup_dir(&self.dir);
        remove_cgroups(&self.cgroup_parent);
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = quiet(Command::new("ip").args(["link", "del", &self.bridge]));
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .stderr(Stdio::null())
            .status();
        if !self.podman0_existed && Path::new("/sys/class/net/podman0").exists() {
            let _ = quiet(Command::new("ip").args(["link", "del", "podman0"]));
        }
        self.registry.stop();
    }
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
        bail!(
            "{} failed ({}): {}",
            measure::show(cmd),
            out.status,
            measure::last_lines(&String::from_utf8_lossy(&out.stderr), 3)
        );
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

fn machine_summary(dir: &Path) -> String {
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
    let fs = output(Command::new("df").args(["--output=fstype"]).arg(dir))
        .map(|s| s.lines().nth(1).unwrap_or("?").trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned());
    format!(
        "Machine: Linux {}, {cpus} CPUs, {mem} RAM; state of every tool under {} ({fs}); \
         load average {}.\nWall times are medians; peak RSS is the median of wait4's \
         ru_maxrss (the largest of the process and the children it waited for: podman's \
         conmon and the container of a detached run are not counted). Runs of the cases of a \
         table are interleaved; `sync` runs (untimed) after each sample that wrote files.",
        kernel.trim(),
        dir.display(),
        load_average()
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
