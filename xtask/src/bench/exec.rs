//! `exec true` in a running busybox container: mydocker's (a `run -d` container) beside
//! `crun exec` and `runc exec` in containers those runtimes run from an OCI bundle of the
//! same image (`skopeo copy` + `umoci unpack`). No network set-up on either side.

use super::run::oci_bundle;
use super::{Env, quiet};
use crate::measure::{Case, commands, compare, table};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};

/// The containers' main process: long enough for every sample.
const MAIN: [&str; 2] = ["sleep", "3600"];

pub(crate) fn run(env: &mut Env) -> Result<String> {
    let runs = env.runs(30);
    let env = &*env;
    let root = env.md_root();
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let name = format!("bench-exec-{}", std::process::id());
    let mut run_args = vec!["-d", "--network", "none", "--name", &name, &env.busybox];
    run_args.extend_from_slice(&MAIN);
    quiet(&mut env.md_run(&root, &run_args))?;
    let _md = MdContainer {
        env,
        root: &root,
        name: &name,
    };

    let crun = Oci::start(env, "crun", || env.crun());
    let runc = Oci::start(env, "runc", || Command::new("runc"));
    let md_exec = |_i: usize| {
        let mut c = env.md(&root);
        c.args(["exec", &name, "true"]);
        c
    };
    let mut cases = vec![Case::new("mydocker exec", md_exec)];
    for oci in [&crun, &runc] {
        let case = Case::new(&format!("{} exec", oci.runtime), |_| oci.exec());
        cases.push(case.unavailable_if(oci.failed.clone()));
    }
    let rows = compare(runs, cases);
    let mut out = table(
        "exec: `exec true` in a running busybox container (crun and runc: `exec` in a \
         container they run from a umoci-unpacked bundle)",
        &rows,
    );
    out.push_str(&commands(&rows));
    Ok(out)
}

/// mydocker's container of the section, removed on drop (also on failure).
struct MdContainer<'a> {
    env: &'a Env,
    root: &'a Path,
    name: &'a str,
}

impl Drop for MdContainer<'_> {
    fn drop(&mut self) {
        let _ = quiet(self.env.md(self.root).args(["rm", "-f", self.name]));
    }
}

/// A container an OCI runtime runs detached from its own bundle, deleted on drop.
struct Oci<'a> {
    runtime: &'static str,
    new: Box<dyn Fn() -> Command + 'a>,
    state: std::path::PathBuf,
    name: String,
    /// Why it could not be started.
    failed: Option<String>,
}

impl<'a> Oci<'a> {
    fn start(env: &'a Env, runtime: &'static str, new: impl Fn() -> Command + 'a) -> Self {
        let mut oci = Oci {
            runtime,
            new: Box::new(new),
            state: env.path(&format!("exec-{runtime}-state")),
            name: format!("bench-exec-{runtime}-{}", std::process::id()),
            failed: None,
        };
        let tag = format!("exec-{runtime}");
        let started = oci_bundle(env, &tag, &MAIN).and_then(|bundle| oci.run(&bundle));
        if let Err(e) = started {
            eprintln!("xtask: bench: {runtime} cannot run a container here: {e:#}");
            oci.failed = Some(crate::measure::one_line(&format!(
                "{runtime} cannot run a container here: {}",
                e.root_cause()
            )));
        }
        oci
    }

    fn command(&self) -> Command {
        let mut c = (self.new)();
        c.arg("--root").arg(&self.state);
        c
    }

    fn run(&self, bundle: &Path) -> Result<()> {
        let mut c = self.command();
        c.args(["run", "-d", "--bundle"])
            .arg(bundle)
            .arg(&self.name);
        // Detached: the container keeps its stdio, so no pipes of ours (a captured output
        // would never end).
        let status = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {}", crate::measure::show(&c)))?;
        if !status.success() {
            bail!("{} run -d: {status}", self.runtime);
        }
        Ok(())
    }

    fn exec(&self) -> Command {
        let mut c = self.command();
        c.args(["exec", &self.name, "true"]);
        c
    }
}

impl Drop for Oci<'_> {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["delete", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
