//! The container lifecycle, one step per table, mydocker beside podman: `create`, `start`
//! (returns once the container runs), `exec true` in it, `stop` (the container's shell
//! exits on SIGTERM, so this is the signal round trip, not the 10 s grace period), and
//! `rm`. Sample i of every step works on container i, so the steps run in order.

use super::run::podman_ready;
use super::{Env, quiet};
use crate::measure::{Case, Row, commands, compare, table};
use anyhow::Result;
use std::process::Command;

/// PID 1 of the container: exits at once on SIGTERM (a shell waiting on a background sleep
/// runs its trap as soon as the signal comes).
const MAIN: &str = "trap 'exit 0' TERM; sleep 600 & wait";

pub(crate) fn run(env: &mut Env) -> Result<String> {
    let runs = env.runs(20);
    let env = &*env;
    let root = env.md_root();
    let podman_root = env.podman_root();
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let podman = podman_ready(env, &podman_root);
    let pid = std::process::id();
    let name = |tool: &str, i: usize| format!("bench-{tool}-{pid}-{i}");
    let md = |args: &[&str]| {
        let mut c = env.md(&root);
        c.args(args);
        c
    };
    let pm = |args: &[&str]| {
        let mut c = env.podman(&podman_root);
        c.args(args);
        c
    };
    let create_args = ["--network", "none"];
    let mut cases = vec![
        Case::new("mydocker create", |i| {
            let n = name("md", i);
            env.md_container(
                &root,
                "create",
                &[
                    &create_args[..],
                    &["--name", &n, &env.busybox, "sh", "-c", MAIN],
                ]
                .concat(),
            )
        }),
        Case::new("mydocker start", |i| md(&["start", &name("md", i)])),
        Case::new("mydocker exec", |i| md(&["exec", &name("md", i), "true"])),
        Case::new("mydocker stop", |i| md(&["stop", &name("md", i)])),
        Case::new("mydocker rm", |i| md(&["rm", &name("md", i)])),
    ];
    let podman_cases = vec![
        Case::new("podman create", |i| {
            let n = name("podman", i);
            env.podman_container(
                &podman_root,
                "create",
                &[
                    &create_args[..],
                    &["--name", &n, &env.busybox, "sh", "-c", MAIN],
                ]
                .concat(),
            )
        }),
        Case::new("podman start", |i| pm(&["start", &name("podman", i)])),
        Case::new("podman exec", |i| pm(&["exec", &name("podman", i), "true"])),
        Case::new("podman stop", |i| pm(&["stop", &name("podman", i)])),
        Case::new("podman rm", |i| pm(&["rm", &name("podman", i)])),
    ];
    cases.extend(
        podman_cases
            .into_iter()
            .map(|c| c.unavailable_if(podman.clone())),
    );
    let rows = compare(runs, cases);
    // Whatever a failed step left behind.
    if let Ok(ids) = super::output(env.md(&root).args(["ps", "-aq"])) {
        for id in ids.split_whitespace() {
            let _ = quiet(env.md(&root).args(["rm", "-f", id]));
        }
    }
    if podman.is_none() {
        let _ = quiet(env.podman(&podman_root).args(["rm", "-af", "-t", "0"]));
    }
    let mut out = String::new();
    for (step, title) in [
        "create (container record, rootfs, spec)",
        "start (returns once the container runs)",
        "exec true in the running container",
        "stop (SIGTERM; the container exits at once)",
        "rm of the stopped container",
    ]
    .iter()
    .enumerate()
    {
        let pair: Vec<Row> = vec![rows[step].clone(), rows[step + 5].clone()];
        out.push_str(&table(&format!("lifecycle: {title}"), &pair));
        out.push_str(&commands(&pair));
    }
    let _ = Command::new("sync").status();
    Ok(out)
}
