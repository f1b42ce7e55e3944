//! Reading what a guest left behind: libtest output, the status of each test binary, the
//! exit marker, the console log and the cgroup mount table.

use std::collections::BTreeSet;
use std::fmt;

/// The cgroup layouts a VM can be booted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Only cgroup2 at /sys/fs/cgroup.
    V2,
    /// tmpfs at /sys/fs/cgroup with one v1 hierarchy per controller group; no cgroup2.
    V1,
    /// v1 hierarchies plus cgroup2 at /sys/fs/cgroup/unified.
    Hybrid,
}

impl Layout {
    pub(crate) const ALL: [Layout; 3] = [Layout::V2, Layout::V1, Layout::Hybrid];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Layout::V2 => "v2",
            Layout::V1 => "v1",
            Layout::Hybrid => "hybrid",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == s)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Classifies the cgroup mounts (lines of /proc/mounts under /sys/fs/cgroup) the guest saw.
pub(crate) fn classify_mounts(mounts: &str) -> Result<Layout, String> {
    let mut root_type = None;
    let mut v1_controllers = BTreeSet::new();
    let mut v1_mounts = 0;
    let mut unified = false;
    let mut other_v2 = Vec::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, point, fstype, opts, ..] = f[..] else {
            continue;
        };
        match (point, fstype) {
            ("/sys/fs/cgroup", t) => root_type = Some(t.to_owned()),
            ("/sys/fs/cgroup/unified", "cgroup2") => unified = true,
            (p, "cgroup2") => other_v2.push(p.to_owned()),
            (_, "cgroup") => {
                v1_mounts += 1;
                v1_controllers.extend(opts.split(',').map(str::to_owned));
            }
            _ => {}
        }
    }
    if !other_v2.is_empty() {
        return Err(format!(
            "cgroup2 mounted at unexpected places: {other_v2:?}"
        ));
    }
    match root_type.as_deref() {
        Some("cgroup2") if v1_mounts == 0 && !unified => Ok(Layout::V2),
        Some("tmpfs") if v1_mounts > 0 => {
            let missing: Vec<&str> = [
                "cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "devices",
            ]
            .into_iter()
            .filter(|c| !v1_controllers.contains(*c))
            .collect();
            if !missing.is_empty() {
                return Err(format!("v1 hierarchies lack controllers {missing:?}"));
            }
            Ok(if unified { Layout::Hybrid } else { Layout::V1 })
        }
        other => Err(format!(
            "/sys/fs/cgroup is {other:?} with {v1_mounts} v1 hierarchies and unified={unified}"
        )),
    }
}

/// The v2 controllers a layout must offer at its cgroup2 root and does not, from the
/// guest's `cgroup-controllers` file (`PATH: controller...` lines).
pub(crate) fn missing_v2_controllers(layout: Layout, controllers: &str) -> Vec<&'static str> {
    if layout != Layout::V2 {
        return Vec::new();
    }
    let root: Vec<&str> = controllers
        .lines()
        .find_map(|l| l.strip_prefix("/sys/fs/cgroup/cgroup.controllers:"))
        .map(|c| c.split_whitespace().collect())
        .unwrap_or_default();
    ["cpu", "cpuset", "io", "memory", "pids"]
        .into_iter()
        .filter(|c| !root.contains(c))
        .collect()
}

/// What one test binary's log says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct BinaryResult {
    pub(crate) passed: u32,
    pub(crate) failed: u32,
    pub(crate) ignored: u32,
    /// Tests that passed but printed `skipped: <reason>` (they could not run here).
    pub(crate) skipped: Vec<String>,
    pub(crate) failures: Vec<String>,
    /// The `failures:` details (each failing test's output), for printing.
    pub(crate) failure_output: String,
    /// Whether a `test result:` line was seen (a crashed or killed binary prints none).
    pub(crate) finished: bool,
}

/// Parses the output of a libtest binary run with `--show-output`.
pub(crate) fn parse_libtest(log: &str) -> BinaryResult {
    let mut r = BinaryResult::default();
    let lines: Vec<&str> = log.lines().collect();
    for line in &lines {
        // libtest's summary, or that of a `harness = false` suite (store's driver
        // conformance), which counts its skips apart: they count as passed here, as
        // libtest's do, and are listed by name below.
        if let Some(rest) = line
            .strip_prefix("test result: ")
            .or_else(|| line.strip_prefix("conformance result: "))
        {
            r.finished = true;
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(what), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = n.parse::<u32>() else { continue };
                match what {
                    "passed" | "skipped" => r.passed += n,
                    "failed" => r.failed += n,
                    "ignored" => r.ignored += n,
                    _ => {}
                }
            }
        }
        // A suite that reports a skip on the test's own line.
        if let Some((name, _)) = line
            .strip_prefix("test ")
            .and_then(|l| l.split_once(" ... skipped: "))
            && !r.skipped.iter().any(|s| s == name)
        {
            r.skipped.push(name.to_owned());
        }
    }
    // Captured output sections: "---- NAME stdout ----" up to the next header or list.
    let mut current: Option<&str> = None;
    let mut in_failures = false;
    for line in &lines {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            current = Some(name);
            continue;
        }
        if *line == "successes:" || *line == "failures:" || line.starts_with("test result: ") {
            current = None;
        }
        if let Some(name) = current
            && line.trim_start().starts_with("skipped:")
            && !r.skipped.iter().any(|s| s == name)
        {
            r.skipped.push(name.to_owned());
        }
        // The name list closing each run: "failures:" then indented names.
        if *line == "failures:" {
            in_failures = true;
            continue;
        }
        if in_failures {
            if let Some(name) = line.strip_prefix("    ") {
                if !name.starts_with(' ') && !r.failures.iter().any(|f| f == name) {
                    r.failures.push(name.to_owned());
                }
            } else if !line.is_empty() {
                in_failures = false;
            }
        }
    }
    // A failing test that printed "skipped:" before failing is a failure, not a skip.
    r.skipped.retain(|s| !r.failures.contains(s));
    if let (Some(start), Some(end)) = (
        lines.iter().position(|l| *l == "failures:"),
        lines.iter().rposition(|l| *l == "failures:"),
    ) && start < end
    {
        r.failure_output = lines[start + 1..end].join("\n").trim().to_owned();
    }
    r
}

/// The marker line the guest writes to its second serial port.
pub(crate) fn exit_marker(text: &str) -> Option<i32> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("VMTEST-EXIT "))
        .find_map(|c| c.trim().parse().ok())
}

/// The kernel's panic line, if the console log has one, with the init's last error when
/// init died (a shell error in the init script shows as `/init: LINE: ...`).
pub(crate) fn kernel_panic(console: &str) -> Option<String> {
    let panic = console.lines().find(|l| l.contains("Kernel panic"))?.trim();
    match console.lines().rfind(|l| l.starts_with("/init:")) {
        Some(err) if panic.contains("kill init") => Some(format!("{panic} ({})", err.trim())),
        _ => Some(panic.to_owned()),
    }
}

/// The guest init's own fatal error (`vmtest: FATAL: ...`), if it printed one.
pub(crate) fn guest_fatal(console: &str) -> Option<String> {
    console
        .lines()
        .find(|l| l.contains("vmtest: FATAL:"))
        .map(|l| l.trim().to_owned())
}

/// What the kernel prints when a CPU or a kernel thread stopped making progress (an RCU
/// stall, a soft lockup).
const STALL_MARKERS: &[&str] = &[
    "rcu: INFO:",
    "kthread starved",
    "soft lockup",
    "self-detected stall",
];

/// What the kernel prints on an oops, a BUG or a warning.
const TROUBLE_MARKERS: &[&str] = &["BUG:", "Oops", "WARNING: CPU", "general protection"];

/// The console's lines that contain one of `markers`, trimmed, in order.
fn marked_lines<'a>(
    console: &'a str,
    markers: &'static [&'static str],
) -> impl Iterator<Item = &'a str> {
    console
        .lines()
        .filter(|l| markers.iter().any(|m| l.contains(m)))
        .map(str::trim)
}

/// The guest kernel's first report that a CPU or a kernel thread stopped making progress
/// (an RCU stall, a soft lockup), if it printed one.
pub(crate) fn kernel_stall(console: &str) -> Option<String> {
    marked_lines(console, STALL_MARKERS)
        .next()
        .map(str::to_owned)
}

/// Kernel warnings worth showing even when the run passed (oopses, BUGs, warnings).
pub(crate) fn kernel_trouble(console: &str) -> Vec<String> {
    marked_lines(console, TROUBLE_MARKERS)
        .take(10)
        .map(str::to_owned)
        .collect()
}

/// One line of the guest's `status` file: `ID RC START END` (guest uptime seconds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Status {
    pub(crate) id: String,
    pub(crate) rc: i32,
    pub(crate) seconds: f64,
}

pub(crate) fn parse_status(text: &str) -> Vec<Status> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [id, rc, t0, t1] = f[..] else { return None };
            Some(Status {
                id: id.to_owned(),
                rc: rc.parse().ok()?,
                seconds: t1.parse::<f64>().ok()? - t0.parse::<f64>().ok()?,
            })
        })
        .collect()
}

/// Guest uptime at a named point of `timings` (`NAME SECONDS` lines).
pub(crate) fn timing(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (n, t) = l.split_once(' ')?;
        (n == name).then(|| t.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str =
        "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n";
    const HOST_HYBRID: &str = "\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/blkio cgroup rw,relatime,blkio 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
";

    #[test]
    fn layouts_are_told_apart() {
        assert_eq!(classify_mounts(V2), Ok(Layout::V2));
        assert_eq!(classify_mounts(HOST_HYBRID), Ok(Layout::Hybrid));
        let v1: String = HOST_HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(classify_mounts(&v1), Ok(Layout::V1));
        // systemd-style co-mounts count their controllers.
        let comounted = v1
            .replace(
                "/cpu cgroup rw,relatime,cpu ",
                "/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct ",
            )
            .replace(
                "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n",
                "",
            );
        assert_eq!(classify_mounts(&comounted), Ok(Layout::V1));
    }

    #[test]
    fn v2_root_must_offer_the_main_controllers() {
        let full =
            "/sys/fs/cgroup/cgroup.controllers: cpuset cpu io memory hugetlb pids rdma misc\n";
        assert!(missing_v2_controllers(Layout::V2, full).is_empty());
        assert_eq!(
            missing_v2_controllers(Layout::V2, "/sys/fs/cgroup/cgroup.controllers: cpu io\n"),
            ["cpuset", "memory", "pids"]
        );
        assert_eq!(missing_v2_controllers(Layout::V2, "").len(), 5);
        assert!(missing_v2_controllers(Layout::Hybrid, "").is_empty());
    }

    #[test]
    fn wrong_or_partial_layouts_are_errors() {
        assert!(classify_mounts("").is_err());
        // v1 without the memory controller.
        let no_mem: String = HOST_HYBRID
            .lines()
            .filter(|l| !l.contains("memory") && !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(classify_mounts(&no_mem).unwrap_err().contains("memory"));
        // cgroup2 at the root plus v1 hierarchies is not v2.
        assert!(
            classify_mounts(&format!("{V2}cgroup /sys/fs/cgroup/x cgroup rw,pids 0 0\n")).is_err()
        );
        // A stray cgroup2 mount elsewhere.
        assert!(
            classify_mounts(&format!(
                "{HOST_HYBRID}cgroup2 /sys/fs/cgroup/other cgroup2 rw 0 0\n"
            ))
            .is_err()
        );
    }

    const FAILING: &str = "\
running 4 tests
test a::ok_one ... ok
test a::skips ... ok
test a::bad ... FAILED
test a::ign ... ignored

successes:

---- a::skips stdout ----
skipped: no aufs in this kernel


successes:
    a::ok_one
    a::skips

failures:

---- a::bad stdout ----
thread 'a::bad' panicked at src/lib.rs:3:5:
boom
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    a::bad

test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

";

    #[test]
    fn libtest_output_is_counted() {
        let r = parse_libtest(FAILING);
        assert!(r.finished);
        assert_eq!((r.passed, r.failed, r.ignored), (2, 1, 1));
        assert_eq!(r.skipped, ["a::skips"]);
        let suite = parse_libtest(
            "test copy::empty_image ... ok\ntest aufs::empty_image ... skipped: no aufs\n\nconformance result: ok. 1 passed; 0 failed; 1 skipped\n",
        );
        assert_eq!((suite.passed, suite.failed), (2, 0));
        assert_eq!(suite.skipped, ["aufs::empty_image"]);
        assert!(suite.finished);
        assert_eq!(r.failures, ["a::bad"]);
        assert!(r.failure_output.contains("boom"), "{}", r.failure_output);
        assert!(!r.failure_output.contains("a::ok_one"));
    }

    #[test]
    fn passing_and_crashed_binaries() {
        let ok = parse_libtest(
            "running 1 test\ntest x ... ok\n\nsuccesses:\n    x\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.00s\n\n",
        );
        assert_eq!((ok.passed, ok.failed, ok.finished), (1, 0, true));
        assert!(ok.skipped.is_empty() && ok.failures.is_empty());
        let crashed = parse_libtest("running 2 tests\ntest x ... ");
        assert!(!crashed.finished);
        assert_eq!(crashed.passed + crashed.failed, 0);
    }

    #[test]
    fn each_kernel_marker_is_caught_by_its_own_filter() {
        for m in STALL_MARKERS {
            let line = format!("[ 7.5] {m} x");
            let console = format!("[ 1.0] fine\n  {line}  \n[ 8.0] {m} again\n");
            assert_eq!(kernel_stall(&console), Some(line), "{m}");
            assert!(kernel_trouble(&console).is_empty(), "{m}");
        }
        for m in TROUBLE_MARKERS {
            let console = format!("[ 1.0] fine\n[ 7.5] {m} x\n");
            assert_eq!(kernel_trouble(&console), [format!("[ 7.5] {m} x")], "{m}");
            assert_eq!(kernel_stall(&console), None, "{m}");
        }
        let many = "[ 1.0] Oops: 0000\n".repeat(12);
        assert_eq!(kernel_trouble(&many).len(), 10);
    }

    #[test]
    fn markers_panics_status_and_timings() {
        assert_eq!(exit_marker("junk\r\nVMTEST-EXIT 1\r\n"), Some(1));
        assert_eq!(exit_marker("VMTEST-EXIT \n"), None);
        assert_eq!(exit_marker(""), None);
        let console = "[ 1.0] foo\n[ 2.0] Kernel panic - not syncing: Attempted to kill init!\n";
        assert_eq!(
            kernel_panic(console).as_deref(),
            Some("[ 2.0] Kernel panic - not syncing: Attempted to kill init!")
        );
        assert_eq!(kernel_panic("[ 1.0] fine\n"), None);
        assert_eq!(
            kernel_panic("/init: 179: Syntax error: \"done\" unexpected\n[ 9.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000200\n").as_deref(),
            Some("[ 9.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000200 (/init: 179: Syntax error: \"done\" unexpected)")
        );
        assert_eq!(
            guest_fatal("x\nvmtest: FATAL: cannot mount the scratch disk\n").as_deref(),
            Some("vmtest: FATAL: cannot mount the scratch disk")
        );
        assert_eq!(
            kernel_trouble("[ 3.0] BUG: unable to handle page fault\n").len(),
            1
        );
        // The console of a CI run that made no progress after this report.
        let wedged = "vmtest: build-292af0d65dcc3b71\n[ 1538.310792] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n[ 1538.310792] rcu: rcu_preempt kthread starved for 383420 jiffies! g24589 f0x2 RCU_GP_WAIT_FQS(5) ->state=0x0 ->cpu=1\n";
        assert_eq!(
            kernel_stall(wedged).as_deref(),
            Some("[ 1538.310792] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:")
        );
        assert_eq!(
            kernel_stall("[ 1.0] rcu: Hierarchical RCU implementation.\n"),
            None
        );
        let st = parse_status("mydocker-abc 0 10.5 12.0\nxtask-1 101 12.0 12.25\nbroken\n");
        assert_eq!(st.len(), 2);
        assert_eq!(
            (st[1].id.as_str(), st[1].rc, st[1].seconds),
            ("xtask-1", 101, 0.25)
        );
        assert_eq!(timing("stage2 1.5\nready 2.25\n", "ready"), Some(2.25));
        assert_eq!(timing("stage2 1.5\n", "ready"), None);
    }
}
