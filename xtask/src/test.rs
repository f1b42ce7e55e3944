//! `cargo xtask test`: what CI runs. Installs system packages, checks formatting and
//! clippy, runs every test of the workspace on the host, then the root suite inside qemu
//! VMs booted with cgroup v2, v1 and hybrid layouts (`cargo xtask vm-test`).
//!
//! `--host-only` skips the VMs; any other argument goes to `cargo test`.

use crate::{cargo, deps, run_cmd};
use anyhow::Result;

pub(crate) fn run(extra: &[String]) -> Result<()> {
    let host_only = extra.iter().any(|a| a == "--host-only");
    let extra: Vec<&String> = extra.iter().filter(|a| *a != "--host-only").collect();
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
    run_cmd(cargo().args(["test", "--workspace"]).args(extra))?;
    if !host_only {
        crate::vm::run(&["--cgroup".to_owned(), "all".to_owned()])?;
    }
    Ok(())
}
