//! `cargo xtask`: project automation for mydocker (system packages, tests, demo, benchmarks).

//!
//! Run `cargo xtask help` for the list of tasks. Every task can run on a fresh Debian 12
//! machine as root: it installs what it needs with apt first.

#![allow(clippy::print_stdout, clippy::print_stderr)] // A script: printing is its output.

mod bench;
mod demo;
mod deps;
mod measure;
mod test;
mod vm;

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const HELP: &str = "\
cargo xtask <task>

Tasks:
  deps        install the Debian packages the tests, demo and benchmarks need (idempotent)
  test        install deps, check formatting and clippy, run every test on the host, then
              in VMs per cgroup layout (this is CI; --host-only skips the VMs)
  vm-test     run the tests as root in qemu VMs per cgroup layout (see vm-test --help)
  demo        install deps, build, start a local registry, pull and run busybox, step by step
  bench       compare mydocker with crun, runc, podman, skopeo and umoci (see bench --help):
              bench [run|start|pull|layers|copy|overlay|lifecycle|network|all]... [--runs N] [--quick]
  help        this text
";

fn main() {
    if let Err(err) = run() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_else(|| "help".to_owned());
    let rest: Vec<String> = args.collect();
    std::env::set_current_dir(project_root())?;
    match task.as_str() {
        "deps" => deps::install(&[deps::TEST, deps::PEERS].concat()),
        "test" => test::run(&rest),
        "vm-test" => vm::run(&rest),
        "demo" => demo::run(&rest),
        "bench" => bench::run(&rest),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown task {other:?}; see `cargo xtask help`"),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command with inherited stdio and fails with its command line if it fails.
pub(crate) fn run_cmd(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", display(cmd));
    let status = cmd.status()?;
    if !status.success() {
        bail!("`{}` failed: {status}", display(cmd));
    }
    Ok(())
}

/// The `cargo` that invoked us (so toolchain overrides carry through).
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

pub(crate) fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
