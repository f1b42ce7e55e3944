//! `cargo xtask vm-test`: the workspace's tests (the root integration suite included) run as
//! root inside qemu VMs booted with a Debian kernel, once per cgroup layout.
//!
//! Everything the VMs need is prepared and cached under `target/vm/` and rebuilt only when its
//! inputs change: the kernel package (`kernel/`), qemu with its firmware and missing
//! libraries (`qemu/`), and a base initramfs (`base.cpio`, keyed by a hash of its content
//! list). Per run and layout, `target/vm/<layout>/` holds `console.log` (kept), the 9p
//! output directory `out/` (test logs, kept on failure or with `--keep`), a scratch ext4
//! disk, and, for a guest the host had to end, `vcpus.txt` (its vCPUs' registers). The guest sees the workspace read-only at its host path, so the paths compiled
//! into test binaries work unchanged; it has no network card.
//!
//! The v2 guest runs every suite; the v1 and hybrid guests run the suites whose outcome may
//! depend on the cgroup layout (`payload::LAYOUT_INDEPENDENT` lists the others; the host runs
//! them too), unless `--all-suites`. Under TCG a guest is CPU-bound, so the time saved is
//! the time those suites would take.

mod cpio;
mod debs;
mod initramfs;
mod json;
mod kernel;
mod payload;
mod qemu;
mod qmp;
pub(crate) mod report;
mod vmrun;

use anyhow::{Context, Result, bail};
use payload::{TestBinary, Workspace};
use report::Layout;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vmrun::{LayoutResult, Outcome};

const HELP: &str = "\
cargo xtask vm-test [OPTIONS]

Builds the workspace's test binaries and runs them as root in qemu VMs (Debian kernel,
KVM when usable, TCG otherwise), one VM per cgroup layout, and fails with the names of the
failing tests. Caches under target/vm/; console logs in target/vm/<layout>/console.log.
A guest ended by the host (timeout, no progress) has its vCPUs' registers, sampled three
times over QMP just before, in target/vm/<layout>/vcpus.txt.

Options:
  --cgroup v2|v1|hybrid|all  layouts to boot, in that order for `all` (default: all)
      v2:     only cgroup2 at /sys/fs/cgroup, every controller enabled for children
      v1:     tmpfs with every v1 controller (systemd style: cpu,cpuacct co-mounted)
      hybrid: one v1 hierarchy per controller plus cgroup2 at /sys/fs/cgroup/unified
  --filter PATTERN           run only tests whose name contains PATTERN (repeatable)
  --all-suites               also run, in the v1 and hybrid guests, the suites whose outcome
                             cannot depend on the cgroup layout (registry, store, network,
                             test-support, cli network/pull/auth_push/archives); the v2
                             guest always runs every suite, the host runs them all too
  --keep                     keep target/vm/<layout>/out (test logs) and the scratch disk
  --timeout SECS             host-side limit per VM (default 2400)
  --test-timeout SECS        guest-side limit per test binary (default 900)
  --memory MB                guest memory (default 2048)
  --smp N                    guest CPUs, also --test-threads (default 2)
  --selftest                 prove the harness catches failures: asks the guest to fail
                             vm::tests::selftest_deliberate_failure and succeeds only if the
                             run fails naming exactly that test (default layout: v2)

Environment: MYDOCKER_VMTEST_SELFTEST_FAIL=1 is passed into the guest (makes the run fail).

Exit status (the worst over the layouts): 0 all passed, 1 tests failed, 2 the guest was not
what the tests need (cgroup layout, environment checks), 3 the guest crashed (kernel panic,
init failure), 4 a VM timed out or made no progress (a guest whose kernel reports a stall
is booted again for the suites left, three boots at most); the per-layout lines above the
error tell which layout.
";

/// Debian packages the host needs to build the guest image and its scratch disk.
const HOST_PACKAGES: &[&str] = &[
    "busybox-static",
    "iproute2",
    "nftables",
    "docker-registry",
    "skopeo",
    "umoci",
    "apache2-utils",
    "e2fsprogs",
    "xz-utils",
];

const SELFTEST_ENV: &str = "MYDOCKER_VMTEST_SELFTEST_FAIL";
const SELFTEST_NAME: &str = "vm::tests::selftest_deliberate_failure";

#[derive(Debug, Clone, PartialEq)]
struct Options {
    layouts: Vec<Layout>,
    filters: Vec<String>,
    keep: bool,
    timeout: Duration,
    test_timeout: u64,
    memory_mb: u32,
    smp: u32,
    selftest: bool,
    all_suites: bool,
}

impl Options {
    /// `Ok(None)` for `--help`.
    fn parse(args: &[String]) -> Result<Option<Options>> {
        let mut o = Options {
            layouts: Vec::new(),
            filters: Vec::new(),
            keep: false,
            timeout: Duration::from_secs(2400),
            test_timeout: 900,
            memory_mb: 2048,
            smp: 2,
            selftest: false,
            all_suites: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || -> Result<String> {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .with_context(|| format!("{flag} needs a value"))
            };
            let number = |v: String| -> Result<u64> {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("{flag}: {v:?} is not a positive number"))
            };
            match flag {
                "-h" | "--help" => return Ok(None),
                "--cgroup" => {
                    let v = value()?;
                    if v == "all" {
                        o.layouts.extend(Layout::ALL);
                    } else {
                        o.layouts.push(Layout::parse(&v).with_context(|| {
                            format!("--cgroup {v:?}: expected v2, v1, hybrid or all")
                        })?);
                    }
                }
                "--filter" => o.filters.push(value()?),
                "--keep" => o.keep = true,
                "--selftest" => o.selftest = true,
                "--all-suites" => o.all_suites = true,
                "--timeout" => o.timeout = Duration::from_secs(number(value()?)?),
                "--test-timeout" => o.test_timeout = number(value()?)?,
                "--memory" => o.memory_mb = u32::try_from(number(value()?)?)?,
                "--smp" => o.smp = u32::try_from(number(value()?)?)?,
                other => {
                    bail!("vm-test: unknown argument {other:?}; see `cargo xtask vm-test --help`")
                }
            }
        }
        if o.layouts.is_empty() {
            o.layouts = if o.selftest {
                vec![Layout::V2]
            } else {
                Layout::ALL.to_vec()
            };
        }
        let mut seen = Vec::new();
        o.layouts.retain(|l| {
            let new = !seen.contains(l);
            seen.push(*l);
            new
        });
        Ok(Some(o))
    }
}

/// 64-bit FNV-1a, for cache keys: stable across Rust versions, unlike `DefaultHasher`.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Hashes `bytes` as one field (a separator follows, so ("ab","c") != ("a","bc")).
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        for b in bytes.iter().chain(&[0xff]) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// Everything a VM run needs, prepared once.
struct Ctx {
    ws: Workspace,
    cache: PathBuf,
    kernel: kernel::Kernel,
    qemu: qemu::Qemu,
    initrd: PathBuf,
    binaries: Vec<TestBinary>,
    opts: Options,
    kvm: bool,
    selftest_fail: bool,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let Some(opts) = Options::parse(args)? else {
        print!("{HELP}");
        return Ok(());
    };
    let all = Instant::now();
    crate::deps::install(HOST_PACKAGES)?;
    let ws = payload::workspace()?;
    let cache = ws.target.join("vm");
    fs::create_dir_all(&cache)?;
    // One vm-test at a time per target directory: they share the cache and output dirs.
    let lock = fs::File::create(cache.join(".lock"))?;
    if lock.try_lock().is_err() {
        eprintln!(
            "xtask: vm: another vm-test uses {}; waiting",
            cache.display()
        );
        lock.lock()?;
    }
    debs::use_memo(&cache.join("apt-memo"));

    let t = Instant::now();
    let kernel = kernel::prepare(&cache)?;
    let kernel_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let qemu = qemu::prepare(&cache)?;
    let qemu_version = qemu::version_line(&qemu)?;
    let qemu_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (binaries, programs) = payload::build()?;
    let build_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let base = initramfs::prepare(&cache, &kernel, &programs)?;
    let image_secs = t.elapsed().as_secs_f64();
    let kvm = qemu::kvm_usable();
    eprintln!(
        "xtask: vm: build {build_secs:.1}s; prepare {:.1}s: kernel {} {kernel_secs:.1}s, {} {qemu_secs:.1}s, base image ({} entries, {}) {image_secs:.1}s; {}",
        kernel_secs + qemu_secs + image_secs,
        kernel.release,
        qemu_version,
        base.files,
        if base.built { "written" } else { "cached" },
        if kvm { "KVM" } else { "TCG (no vmx/svm)" },
    );
    let selftest_fail = opts.selftest || std::env::var(SELFTEST_ENV).as_deref() == Ok("1");
    let ctx = Ctx {
        ws,
        cache,
        kernel,
        qemu,
        initrd: base.cpio,
        binaries,
        opts,
        kvm,
        selftest_fail,
    };

    let mut results = Vec::new();
    for layout in &ctx.opts.layouts {
        let r = vmrun::run_layout(&ctx, *layout)?;
        r.print_details();
        results.push(r);
    }
    eprintln!(
        "xtask: vm: total {:.1}s for {} layout(s)",
        all.elapsed().as_secs_f64(),
        results.len()
    );
    for r in &results {
        println!("{}", r.summary_line());
    }
    if ctx.opts.selftest {
        return check_selftest(&results);
    }
    let bad: Vec<String> = results.iter().filter_map(LayoutResult::problem).collect();
    if !bad.is_empty() {
        // The exit status tells the kind of failure (the worst over the layouts).
        let code = results
            .iter()
            .map(|r| r.outcome.exit_code())
            .max()
            .unwrap_or(1);
        eprintln!("xtask: error: vm-test failed:\n  {}", bad.join("\n  "));
        std::process::exit(code);
    }
    Ok(())
}

/// `--selftest` passes only when every layout failed with exactly the deliberate failure.
fn check_selftest(results: &[LayoutResult]) -> Result<()> {
    for r in results {
        let expected_name = r.failures.len() == 1 && r.failures[0].ends_with(SELFTEST_NAME);
        if !(matches!(r.outcome, Outcome::TestsFailed) && expected_name && r.failed == 1) {
            bail!(
                "selftest: vm({}) should have failed with only {SELFTEST_NAME}, got {:?} with failures {:?}",
                r.layout,
                r.outcome,
                r.failures
            );
        }
        println!(
            "selftest: vm({}) failed as asked, naming {}",
            r.layout, r.failures[0]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    /// The harness's proof that it cannot pass vacuously: `cargo xtask vm-test --selftest`
    /// (or `MYDOCKER_VMTEST_SELFTEST_FAIL=1`) asks the guest to make this test fail, and the
    /// run must then fail naming it. Anywhere else it passes.
    #[test]
    fn selftest_deliberate_failure() {
        let asked = std::env::var_os("MYDOCKER_VMTEST").is_some()
            && std::env::var(SELFTEST_ENV).as_deref() == Ok("1");
        assert!(
            !asked,
            "deliberate failure requested by vm-test's self-test"
        );
    }

    /// Inside a vm-test guest, the cgroup mounts are the layout the host asked for.
    #[test]
    fn guest_cgroup_layout_is_the_one_asked_for() {
        let Ok(asked) = std::env::var("MYDOCKER_VMTEST_CGROUP") else {
            println!("skipped: not inside a vm-test guest");
            return;
        };
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
        let only_cgroup: String = mounts
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.starts_with("/sys/fs/cgroup"))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            report::classify_mounts(&only_cgroup).map(Layout::name),
            Ok(asked.as_str()),
            "{only_cgroup}"
        );
    }

    /// Inside a vm-test guest, the cgroup layout is usable, not only mounted: a pids limit
    /// set in a new cgroup (v2 root, or the v1 pids hierarchy) stops a fork.
    #[test]
    fn guest_cgroup_pids_limit_is_enforced() {
        let Ok(layout) = std::env::var("MYDOCKER_VMTEST_CGROUP") else {
            return println!("skipped: not inside a vm-test guest");
        };
        let parent = if layout == "v2" {
            "/sys/fs/cgroup"
        } else {
            "/sys/fs/cgroup/pids"
        };
        let dir = format!("{parent}/vmtest-probe-{}", std::process::id());
        struct Remove<'a>(&'a str);
        impl Drop for Remove<'_> {
            fn drop(&mut self) {
                // The shell that joined may take a moment to leave: bounded retries.
                for _ in 0..50 {
                    if fs::remove_dir(self.0).is_ok() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        fs::create_dir(&dir).unwrap();
        let _remove = Remove(&dir);
        let join_and_fork = |limit: &str| {
            fs::write(format!("{dir}/pids.max"), limit).unwrap();
            Command::new("sh")
                .arg("-c")
                .arg(format!("echo $$ > {dir}/cgroup.procs && /bin/true"))
                .output()
                .unwrap()
        };
        let free = join_and_fork("max");
        assert!(
            free.status.success(),
            "{}",
            String::from_utf8_lossy(&free.stderr)
        );
        let limited = join_and_fork("1");
        assert!(
            !limited.status.success(),
            "fork succeeded despite pids.max=1"
        );
        assert!(
            String::from_utf8_lossy(&limited.stderr).contains("fork"),
            "{}",
            String::from_utf8_lossy(&limited.stderr)
        );
    }

    /// Inside a vm-test guest, every program of the image runs (its libraries are all
    /// there). Checked in the v2 guest only: the programs do not depend on the layout, and Go
    /// programs are slow to start under TCG.
    #[test]
    fn guest_programs_run() {
        match std::env::var("MYDOCKER_VMTEST_CGROUP").as_deref() {
            Ok("v2") => {}
            Ok(_) => return println!("skipped: checked in the v2 guest only"),
            Err(_) => return println!("skipped: not inside a vm-test guest"),
        }
        for argv in [
            &["bash", "-c", "echo ok"][..],
            &["sh", "-c", "echo ok"],
            &["/bin/busybox", "echo", "ok"],
            &["ip", "-V"],
            &["nft", "--version"],
            &["htpasswd", "-nbB", "user", "pass"],
            &["skopeo", "--version"],
            &["umoci", "--version"],
            &["docker-registry", "--version"],
        ] {
            let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
            assert!(
                out.status.success() && !out.stdout.is_empty(),
                "{argv:?}: {} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Commands run through the wrappers reach iproute2, not busybox's applets.
        let out = Command::new("timeout")
            .args(["10", "nsenter", "--net=/proc/self/ns/net", "ip", "-V"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("iproute2"),
            "{out:?}"
        );
    }

    #[test]
    fn options_are_parsed() {
        let o = Options::parse(&[]).unwrap().unwrap();
        assert_eq!(o.layouts, Layout::ALL);
        assert!(!o.keep && !o.selftest && !o.all_suites && o.filters.is_empty());
        let o = Options::parse(&args(
            "--cgroup v1 --filter a --filter=b --keep --timeout 5 --smp 1 --all-suites",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(o.layouts, [Layout::V1]);
        assert_eq!(o.filters, ["a", "b"]);
        assert!(o.keep && o.all_suites);
        assert_eq!((o.timeout, o.smp), (Duration::from_secs(5), 1));
        let o = Options::parse(&args("--cgroup=hybrid --cgroup v2 --cgroup v2"))
            .unwrap()
            .unwrap();
        assert_eq!(o.layouts, [Layout::Hybrid, Layout::V2]);
        let o = Options::parse(&args("--selftest")).unwrap().unwrap();
        assert_eq!(o.layouts, [Layout::V2]);
        assert!(Options::parse(&args("--help")).unwrap().is_none());
        for bad in [
            "--cgroup v3",
            "--cgroup",
            "--timeout 0",
            "--smp x",
            "--bogus",
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn fnv_is_stable_and_field_separated() {
        let hash = |fields: &[&str]| {
            let mut h = Fnv::new();
            for f in fields {
                h.put(f.as_bytes());
            }
            h.finish()
        };
        assert_eq!(hash(&["a"]), hash(&["a"]));
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_ne!(hash(&[""]), hash(&[]));
    }
}
