//! `cargo xtask test`: what CI runs. Installs system packages, checks formatting and
//! clippy, runs every test of the workspace on the host, then the root suite inside qemu
//! VMs booted with cgroup v2, v1 and hybrid layouts (`cargo xtask vm-test`).
//!
//! `--host-only` skips the VMs; any other argument goes to `cargo test`.
//!
//! Skips are counted, not passed silently: a test that cannot run here prints a line
//! starting with `skipped: <reason>` and returns; the host run (like the VM runs) reads
//! every test's output (`--show-output`, kept in `target/test-host.log`) and reports those
//! tests as skipped, with their reasons.

use crate::vm::report::parse_libtest;
use crate::{cargo, deps, display, run_cmd};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

pub(crate) fn run(extra: &[String]) -> Result<()> {
    let host_only = extra.iter().any(|a| a == "--host-only");
    let extra: Vec<String> = extra
        .iter()
        .filter(|a| *a != "--host-only")
        .cloned()
        .collect();
    deps::install(deps::TEST)?;
    run_cmd(cargo().args(["fmt", "--all", "--check"]))?;
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    host_tests(&extra)?;
    if !host_only {
        crate::vm::run(&["--cgroup".to_owned(), "all".to_owned()])?;
    }
    Ok(())
}

/// `cargo test --workspace ARGS -- --show-output`: the output goes to the terminal (but
/// the captured output of passing tests, which goes to `target/test-host.log` only), then a
/// summary with the skipped tests and their reasons.
fn host_tests(extra: &[String]) -> Result<()> {
    let (cargo_args, test_args): (Vec<&String>, Vec<&String>) =
        match extra.iter().position(|a| a == "--") {
            Some(i) => (extra[..i].iter().collect(), extra[i + 1..].iter().collect()),
            None => (extra.iter().collect(), Vec::new()),
        };
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"])
        .args(cargo_args)
        .arg("--")
        .arg("--show-output")
        .args(test_args)
        .stdout(Stdio::piped());
    eprintln!("xtask: $ {}", display(&cmd));
    let mut child = cmd.spawn()?;
    let out = child.stdout.take().context("cargo test's output")?;
    let log_path = crate::project_root().join("target/test-host.log");
    let mut log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut all = String::new();
    let mut in_successes = false;
    let mut stdout = std::io::stdout().lock();
    for line in BufReader::new(out).lines() {
        let line = line?;
        writeln!(log, "{line}")?;
        all.push_str(&line);
        all.push('\n');
        if line == "successes:" {
            in_successes = true;
        } else if line.starts_with("test result: ") || line == "failures:" {
            in_successes = false;
        }
        if !in_successes {
            writeln!(stdout, "{line}")?;
        }
    }
    drop(stdout);
    let status = child.wait()?;
    let r = parse_libtest(&all);
    println!(
        "host: {} passed, {} failed, {} ignored, {} skipped (output of every test in {})",
        r.passed - r.skipped.len() as u32,
        r.failed,
        r.ignored,
        r.skipped.len(),
        log_path.display()
    );
    for name in &r.skipped {
        println!("  skipped: {name}: {}", skip_reason(&all, name));
    }
    if !status.success() {
        bail!("`cargo test` failed: {status}");
    }
    Ok(())
}

/// Why test `name` was skipped: the first `skipped:` line of its captured output, or
/// the reason on its own line (`test NAME ... skipped: REASON`).
fn skip_reason(log: &str, name: &str) -> String {
    let own_line = format!("test {name} ... skipped: ");
    if let Some(reason) = log.lines().find_map(|l| l.strip_prefix(&own_line)) {
        return reason.to_owned();
    }
    let header = format!("---- {name} stdout ----");
    log.split(&header)
        .nth(1)
        .and_then(|rest| {
            rest.lines()
                .find_map(|l| l.trim_start().strip_prefix("skipped:"))
                .map(|r| r.trim().to_owned())
        })
        .unwrap_or_default()
}
