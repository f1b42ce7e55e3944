//! One VM per cgroup layout: its inputs written to the output share, the boot, and what
//! the guest left behind, turned into a verdict.

use super::payload::TestBinary;
use super::{Ctx, SELFTEST_ENV, initramfs, qemu, report};
use anyhow::{Context, Result, bail};
use report::Layout;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Size of the (sparse) scratch disk the guest mounts on /tmp.
const DISK_BYTES: u64 = 8 << 30;

/// How long a guest whose kernel reported a stall may stay without progress before the host
/// ends it: a stall report is 21 s after the stall began, and a slow but live guest finishes
/// a test or a suite well within this.
const STALL_QUIET: Duration = Duration::from_secs(120);

/// Boots of one layout at most: a guest whose kernel stalled is booted again for the suites
/// it had left. Stalls of unknown cause (see `qemu::Watch`) came in most recent full runs,
/// so a second one in the same layout is not rare enough to fail on.
const MAX_BOOTS: usize = 3;

/// How long past the test timeout a guest may stay without progress: its own watchdog
/// reports a suite at the timeout plus 60 s.
const WATCHDOG_GRACE: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Passed,
    TestsFailed,
    /// The guest ran but is not what the tests need (wrong cgroup layout, a failed check).
    BrokenEnvironment(String),
    /// The guest died or stopped without reporting (kernel panic, init failure).
    Crashed(String),
    TimedOut(Duration),
    /// Ended by the host: the guest made no progress (see `qemu::Watch`).
    Wedged(String),
}

impl Outcome {
    /// `vm-test`'s exit status for this outcome (see HELP).
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Outcome::Passed => 0,
            Outcome::TestsFailed => 1,
            Outcome::BrokenEnvironment(_) => 2,
            Outcome::Crashed(_) => 3,
            Outcome::TimedOut(_) | Outcome::Wedged(_) => 4,
        }
    }
}

#[derive(Debug)]
pub(crate) struct LayoutResult {
    pub(crate) layout: Layout,
    pub(crate) outcome: Outcome,
    pub(crate) passed: u32,
    pub(crate) failed: u32,
    pub(crate) skipped: u32,
    /// `label: test` of each failure.
    pub(crate) failures: Vec<String>,
    /// What to print for the failures (libtest's failure sections, crash notes).
    pub(crate) details: String,
    pub(crate) notes: Vec<String>,
    /// Summed over the boots, as is `payload_secs` (see `tests_secs`).
    pub(crate) wall: Duration,
    pub(crate) boot_to_payload: Option<f64>,
    pub(crate) payload_secs: Option<f64>,
    pub(crate) dir: PathBuf,
    /// Layout-independent suites this layout left out (see `--all-suites`).
    pub(crate) left_out: usize,
    /// `(label, guest seconds)` of each suite that ran, slowest first.
    pub(crate) durations: Vec<(String, f64)>,
}

impl LayoutResult {
    pub(crate) fn summary_line(&self) -> String {
        format!(
            "vm({}): {} passed, {} failed, {} skipped",
            self.layout, self.passed, self.failed, self.skipped
        )
    }

    pub(crate) fn problem(&self) -> Option<String> {
        let console = self.dir.join("console.log");
        match &self.outcome {
            Outcome::Passed => None,
            Outcome::TestsFailed => Some(format!(
                "vm({}): tests failed: {}",
                self.layout,
                self.failures.join(", ")
            )),
            Outcome::BrokenEnvironment(why) => Some(format!(
                "vm({}): guest environment broken: {why}",
                self.layout
            )),
            Outcome::Crashed(why) => Some(format!(
                "vm({}): guest crashed: {why} (see {})",
                self.layout,
                console.display()
            )),
            Outcome::Wedged(why) => Some(format!(
                "vm({}): ended by the host: {why} (see {})",
                self.layout,
                console.display()
            )),
            Outcome::TimedOut(t) => Some(format!(
                "vm({}): timed out after {}s (see {})",
                self.layout,
                t.as_secs(),
                console.display()
            )),
        }
    }

    pub(crate) fn print_details(&self) {
        if !self.details.is_empty() {
            eprintln!("{}", self.details.trim_end());
        }
        // A guest that never finished: the end of its console says where it stood (the
        // suite that ran, the kernel's blocked tasks if its watchdog fired).
        if matches!(self.outcome, Outcome::TimedOut(_) | Outcome::Wedged(_)) {
            let console = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
            let lines: Vec<&str> = console.lines().collect();
            eprintln!("xtask: vm({}): the end of its console:", self.layout);
            for l in &lines[lines.len().saturating_sub(80)..] {
                eprintln!("  {l}");
            }
        }
        for n in &self.notes {
            eprintln!("xtask: vm({}): {n}", self.layout);
        }
        if self.left_out > 0 {
            eprintln!(
                "xtask: vm({}): {} layout-independent suites left to the v2 guest and the host (--all-suites runs them)",
                self.layout, self.left_out
            );
        }
        let slowest: Vec<String> = self
            .durations
            .iter()
            .take(5)
            .map(|(label, secs)| format!("{label} {secs:.0}s"))
            .collect();
        if !slowest.is_empty() {
            eprintln!(
                "xtask: vm({}): slowest suites: {}",
                self.layout,
                slowest.join(", ")
            );
        }
        eprintln!(
            "xtask: vm({}): VM wall {:.1}s, boot-to-payload {}, tests {}",
            self.layout,
            self.wall.as_secs_f64(),
            self.boot_to_payload
                .map_or("?".into(), |s| format!("{s:.1}s (guest uptime)")),
            self.payload_secs.map_or("?".into(), |s| format!("{s:.1}s")),
        );
    }
}

/// Single-quotes `s` for the guest shell.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

/// The suites a layout runs: all of them in v2 (or with `--all-suites`), else those whose
/// outcome may depend on the cgroup layout.
fn suites(ctx: &Ctx, layout: Layout) -> Vec<&TestBinary> {
    ctx.binaries
        .iter()
        .filter(|b| layout == Layout::V2 || ctx.opts.all_suites || !b.layout_independent())
        .collect()
}

pub(crate) fn run_layout(ctx: &Ctx, layout: Layout) -> Result<LayoutResult> {
    let dir = ctx.cache.join(layout.name());
    let suites = suites(ctx, layout);
    let out = dir.join("out");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    for n in 1..MAX_BOOTS {
        let _ = fs::remove_file(dir.join(format!("console-stalled-{n}.log")));
    }
    fs::create_dir_all(out.join("tests"))?;

    // What the guest reads from the output share.
    let target_tmp = ctx.ws.target.join("tmp");
    fs::create_dir_all(&target_tmp)?;
    let mut config = String::new();
    writeln!(config, "LAYOUT={}", sq(layout.name()))?;
    writeln!(config, "THREADS={}", ctx.opts.smp)?;
    writeln!(config, "TEST_TIMEOUT={}", ctx.opts.test_timeout)?;
    writeln!(config, "TARGET_TMPDIR={}", sq(path_str(&target_tmp)?))?;
    if ctx.selftest_fail {
        writeln!(config, "export {SELFTEST_ENV}=1")?;
    }
    fs::write(out.join("config.sh"), config)?;
    let mut shares = vec![qemu::Share {
        tag: "vmtest_out".into(),
        host: out.clone(),
        readonly: false,
    }];
    let mut share_list = String::new();
    writeln!(share_list, "vmtest_tools {}", initramfs::TOOLS_MOUNT)?;
    shares.push(qemu::Share {
        tag: "vmtest_tools".into(),
        host: ctx.cache.join("tools"),
        readonly: true,
    });
    for (tag, path) in [("ws", &ctx.ws.root), ("tgt", &ctx.ws.target)] {
        if tag == "tgt" && ctx.ws.target.starts_with(&ctx.ws.root) {
            continue;
        }
        writeln!(share_list, "{tag} {}", path_str(path)?)?;
        shares.push(qemu::Share {
            tag: tag.into(),
            host: path.clone(),
            readonly: true,
        });
    }
    fs::write(out.join("shares"), share_list)?;

    let disk = dir.join("scratch.img");
    let cmdline = [
        "console=ttyS0",
        "panic=-1",
        "rdinit=/init",
        "loglevel=4",
        "mitigations=off",
        "i8042.noaux",
        "i8042.nokbd",
        "i8042.nopnp",
        "random.trust_cpu=on",
        "nowatchdog",
    ]
    .join(" ");
    let spec = qemu::VmSpec {
        kernel: ctx.kernel.image.clone(),
        initrd: ctx.initrd.clone(),
        cmdline,
        console_log: dir.join("console.log"),
        marker: dir.join("exit-marker"),
        qemu_log: dir.join("qemu.log"),
        disk: disk.clone(),
        shares,
        memory_mb: ctx.opts.memory_mb,
        smp: ctx.opts.smp,
        timeout: ctx.opts.timeout,
        kvm: ctx.kvm,
        watch: qemu::Watch {
            progress: vec![out.clone(), out.join("tests")],
            after_stall: STALL_QUIET,
            quiet: Duration::from_secs(ctx.opts.test_timeout) + WATCHDOG_GRACE,
        },
        qmp: qmp_socket(&dir.join("qmp.sock")),
        vcpus: dir.join("vcpus.txt"),
    };
    eprintln!(
        "xtask: vm({layout}): booting {} with {} of {} test binaries",
        ctx.kernel
            .image
            .file_name()
            .map_or("".into(), |n| n.to_string_lossy()),
        suites.len(),
        ctx.binaries.len()
    );
    // A guest whose kernel stalled (see `qemu::Watch`) is booted again for the suites that
    // had not finished, up to MAX_BOOTS in all; the suite it stalled in starts over.
    let mut pending: Vec<&TestBinary> = suites.clone();
    let mut wall = Duration::ZERO;
    // Guest seconds of the suites the stalled boots finished, and how many status lines
    // (one per finished suite, kept across boots) the boots before this one wrote.
    let mut stalled_secs = 0.0;
    let mut finished = 0;
    let mut notes = Vec::new();
    let end = loop {
        write_payload(ctx, &out, &pending)?;
        make_disk(&disk)?;
        let (end, took) = qemu::boot(&ctx.qemu, &spec)?;
        wall += took;
        let qemu::VmEnd::Wedged {
            stall: Some(stall),
            quiet,
        } = &end
        else {
            break end;
        };
        if notes.len() + 1 >= MAX_BOOTS {
            break end;
        }
        let done = report::parse_status(&read(&out.join("status")));
        stalled_secs += done[finished.min(done.len())..]
            .iter()
            .map(|s| s.seconds)
            .sum::<f64>();
        finished = done.len();
        pending.retain(|b| !done.iter().any(|s| s.id == b.id));
        let saved = dir.join(format!("console-stalled-{}.log", notes.len() + 1));
        fs::rename(&spec.console_log, &saved)?;
        let vcpus = qmp_note(
            &spec.vcpus,
            &format!("vcpus-stalled-{}.txt", notes.len() + 1),
        );
        for b in &pending {
            let log = out.join("tests").join(format!("{}.log", b.id));
            if log.exists() {
                fs::rename(
                    &log,
                    out.join("tests")
                        .join(format!("{}.stalled-{}.log", b.id, notes.len() + 1)),
                )?;
            }
        }
        // What the next boot writes again.
        for f in [
            "timings",
            "preflight",
            "cgroup-mounts",
            "cgroup-controllers",
        ] {
            let _ = fs::remove_file(out.join(f));
        }
        let note = format!(
            "the guest kernel stalled (\"{stall}\"; no progress for {}s, {:.0}s into the boot) with {} of {} suites left; booted again for them (console: {}){vcpus}",
            quiet.as_secs(),
            took.as_secs_f64(),
            pending.len(),
            suites.len(),
            saved.display()
        );
        eprintln!(
            "xtask: vm({layout}): the guest kernel stalled; booting again for the {} suites left",
            pending.len()
        );
        notes.push(note);
    };
    let mut result = analyze(ctx, &suites, layout, &dir, end, wall, stalled_secs);
    result.notes.extend(notes);
    if spec.vcpus.exists() {
        result.notes.push(format!(
            "the guest was ended{}",
            qmp_note(&spec.vcpus, "vcpus.txt")
        ));
    }
    result.left_out = ctx.binaries.len() - suites.len();
    let clean = matches!(result.outcome, Outcome::Passed);
    if !ctx.opts.keep {
        let _ = fs::remove_file(&disk);
        if clean {
            let _ = fs::remove_dir_all(&out);
        }
    }
    Ok(result)
}

/// The guest's payload: one `run_test` line per suite.
fn write_payload(ctx: &Ctx, out: &Path, suites: &[&TestBinary]) -> Result<()> {
    let mut script = String::new();
    for b in suites {
        write!(
            script,
            "run_test {} {} {}",
            sq(&b.id),
            sq(path_str(&b.manifest_dir)?),
            sq(path_str(&b.exe)?)
        )?;
        for f in &ctx.opts.filters {
            write!(script, " {}", sq(f))?;
        }
        script.push('\n');
    }
    fs::write(out.join("payload.sh"), script)?;
    Ok(())
}

fn make_disk(disk: &Path) -> Result<()> {
    let _ = fs::remove_file(disk);
    let f = fs::File::create(disk).with_context(|| format!("creating {}", disk.display()))?;
    f.set_len(DISK_BYTES)?;
    drop(f);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "vmtest", "-m", "0", "-O", "^has_journal"])
        .args(["-E", "lazy_itable_init=1,nodiscard"])
        .arg(disk)
        .output()
        .context("running mkfs.ext4 (e2fsprogs)")?;
    if !out.status.success() {
        bail!(
            "mkfs.ext4 {} failed: {}",
            disk.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn read(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// `path` if it fits in a Unix socket address (108 bytes with the NUL), else `None` (a
/// checkout deep enough loses the vCPU registers, not the run).
fn qmp_socket(path: &Path) -> Option<PathBuf> {
    (path.as_os_str().len() < 100).then(|| path.to_owned())
}

/// "; vCPUs when ended: SUMMARY (PATH)" for the register dump at `dump`, which is renamed
/// to `name` in its directory; empty without a dump.
fn qmp_note(dump: &Path, name: &str) -> String {
    let Some(summary) = super::qmp::summary_of_file(dump) else {
        return String::new();
    };
    let kept = dump.with_file_name(name);
    let shown = if kept == dump || fs::rename(dump, &kept).is_ok() {
        kept.as_path()
    } else {
        dump
    };
    format!("; vCPUs when ended: {summary} ({})", shown.display())
}

/// Guest seconds spent on the tests over all boots: the last boot's payload (from
/// `payload-start` to `payload-end` in its `timings`) plus `stalled_secs`, the suites that
/// earlier boots finished before they stalled (the suite a boot stalled in runs again in
/// the next one). None when the last boot did not finish its payload.
fn tests_secs(timings: &str, stalled_secs: f64) -> Option<f64> {
    let last = report::timing(timings, "payload-end")? - report::timing(timings, "payload-start")?;
    Some(last + stalled_secs)
}

fn analyze(
    ctx: &Ctx,
    suites: &[&TestBinary],
    layout: Layout,
    dir: &Path,
    end: qemu::VmEnd,
    wall: Duration,
    stalled_secs: f64,
) -> LayoutResult {
    let out = dir.join("out");
    let console = read(&dir.join("console.log"));
    let marker = report::exit_marker(&read(&dir.join("exit-marker")));
    let timings = read(&out.join("timings"));
    let statuses = report::parse_status(&read(&out.join("status")));
    let mut r = LayoutResult {
        layout,
        outcome: Outcome::Passed,
        passed: 0,
        failed: 0,
        skipped: 0,
        failures: Vec::new(),
        details: String::new(),
        notes: report::kernel_trouble(&console)
            .into_iter()
            .map(|l| format!("kernel: {l}"))
            .collect(),
        wall,
        boot_to_payload: report::timing(&timings, "payload-start"),
        payload_secs: tests_secs(&timings, stalled_secs),
        dir: dir.to_owned(),
        left_out: 0,
        durations: Vec::new(),
    };

    // Tests first: whatever ran is counted even if the guest died later.
    for b in suites {
        let Some(st) = statuses.iter().find(|s| s.id == b.id) else {
            continue;
        };
        r.durations.push((b.label.clone(), st.seconds));
        let res = report::parse_libtest(&read(&out.join("tests").join(format!("{}.log", b.id))));
        let skipped = res.skipped.len() as u32;
        r.passed += res.passed.saturating_sub(skipped);
        r.skipped += skipped + res.ignored;
        r.failed += res.failed;
        r.failures
            .extend(res.failures.iter().map(|f| format!("{}: {f}", b.label)));
        if !res.failure_output.is_empty() {
            let _ = writeln!(
                r.details,
                "---- {} failures ----\n{}",
                b.label, res.failure_output
            );
        }
        if st.rc != 0 && (!res.finished || res.failed == 0) {
            let why = if st.rc == 137 && st.seconds + 1.0 >= ctx.opts.test_timeout as f64 {
                format!(
                    "killed after the {}s guest-side timeout",
                    ctx.opts.test_timeout
                )
            } else if !res.finished {
                format!("exited with status {} before its summary", st.rc)
            } else {
                format!("exited with status {}", st.rc)
            };
            r.failed += 1;
            r.failures.push(format!("{} ({why})", b.label));
            let log = out.join("tests").join(format!("{}.log", b.id));
            let _ = writeln!(
                r.details,
                "---- {} {why}; log: {} ----",
                b.label,
                log.display()
            );
        }
    }
    r.durations.sort_by(|a, b| b.1.total_cmp(&a.1));
    let ran = suites
        .iter()
        .filter(|b| statuses.iter().any(|s| s.id == b.id))
        .count();

    r.outcome = match end {
        qemu::VmEnd::TimedOut => Outcome::TimedOut(wall),
        qemu::VmEnd::Wedged { stall, quiet } => Outcome::Wedged(match stall {
            Some(stall) => format!(
                "the guest kernel stalled in each of {MAX_BOOTS} boots (the last: \"{stall}\", no progress for {}s)",
                quiet.as_secs()
            ),
            None => format!(
                "no progress for {}s, past its own test timeout and watchdog",
                quiet.as_secs()
            ),
        }),
        qemu::VmEnd::Exited(status) => match marker {
            None => Outcome::Crashed(if let Some(p) = report::kernel_panic(&console) {
                p
            } else if let Some(f) = report::guest_fatal(&console) {
                f
            } else if !status.success() {
                let log = read(&dir.join("qemu.log"));
                format!("qemu {status}: {}", log.trim())
            } else {
                format!(
                    "the guest stopped without reporting a result ({ran}/{} test binaries ran)",
                    suites.len()
                )
            }),
            Some(code) => {
                let layout_check = report::classify_mounts(&read(&out.join("cgroup-mounts")));
                let missing =
                    report::missing_v2_controllers(layout, &read(&out.join("cgroup-controllers")));
                let preflight: Vec<String> = read(&out.join("preflight"))
                    .lines()
                    .filter(|l| !l.starts_with("ok "))
                    .map(str::to_owned)
                    .collect();
                match layout_check {
                    Err(e) => Outcome::BrokenEnvironment(format!("cgroup layout: {e}")),
                    Ok(seen) if seen != layout => Outcome::BrokenEnvironment(format!(
                        "asked for cgroup {layout}, the guest had {seen}"
                    )),
                    Ok(_) if !missing.is_empty() => Outcome::BrokenEnvironment(format!(
                        "the cgroup2 root lacks controllers {missing:?}"
                    )),
                    Ok(_) if !preflight.is_empty() => {
                        Outcome::BrokenEnvironment(preflight.join("; "))
                    }
                    Ok(_) if ran < suites.len() => Outcome::BrokenEnvironment(format!(
                        "only {ran} of {} test binaries ran",
                        suites.len()
                    )),
                    Ok(_) if r.failed > 0 => Outcome::TestsFailed,
                    Ok(_) if code != 0 => Outcome::BrokenEnvironment(format!(
                        "the guest reported exit {code} but no test failed"
                    )),
                    Ok(_) => Outcome::Passed,
                }
            }
        },
    };
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qmp_socket_path_too_long_for_unix_sockets_is_dropped() {
        let short = Path::new("/work/ci/target/vm/v2/qmp.sock");
        assert_eq!(qmp_socket(short).as_deref(), Some(short));
        let long = Path::new("/w").join("x".repeat(100)).join("qmp.sock");
        assert_eq!(qmp_socket(&long), None);
    }

    #[test]
    fn tests_time_adds_the_stalled_boots_to_the_last_payload() {
        let timings = "ready 3.0\npreflight 9.0\npayload-start 10.0\npayload-end 110.5\n";
        assert_eq!(tests_secs(timings, 0.0), Some(100.5));
        assert_eq!(tests_secs(timings, 250.0), Some(350.5));
        assert_eq!(tests_secs("payload-start 10.0\n", 250.0), None);
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(sq("a b"), "'a b'");
        assert_eq!(sq("it's"), r"'it'\''s'");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", sq("x'y \"$HOME\" `z`")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x'y \"$HOME\" `z`");
    }
}
