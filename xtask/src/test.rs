//! `cargo xtask test`: what CI runs. Installs system packages, checks formatting and
//! clippy, then runs every test of the workspace.

use crate::{cargo, deps, run_cmd};
use anyhow::Result;

pub(crate) fn run(extra: &[String]) -> Result<()> {
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
    Ok(())
}
