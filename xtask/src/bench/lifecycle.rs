//! `run -d` of busybox `sleep`, `exec` of `true` in it, `rm -f`: each beside podman's same
//! command. Skipped, with the reason, while mydocker's `run -d` is not available.

use super::run::podman_ready;
use super::{Env, output, quiet, remove};
use crate::measure::{Case, Row, commands, compare, one_line, table};
use anyhow::Result;
use std::process::Command;

pub(crate) fn run(env: &mut Env) -> Result<String> {
    let runs = env.runs(20);
    let env = &*env;
    let root = env.path("lifecycle-mydocker");
    let podman_root = env.path("lifecycle-podman");
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let pid = std::process::id();
    let probe = format!("bench-probe-{pid}");
    let probe_run = env
        .md_run(
            &root,
            &[
                "-d",
                "--network",
                "none",
                "--name",
                &probe,
                &env.busybox,
                "sleep",
                "60",
            ],
        )
        .output();
    let skip = match probe_run {
        Err(e) => Some(format!("mydocker could not be started: {e}")),
        Ok(o) if !o.status.success() => Some(one_line(&String::from_utf8_lossy(&o.stderr))),
        Ok(_) => {
            // It works: remove the probe (`rm -f` exists alongside `run -d`).
            quiet(env.md(&root).args(["rm", "-f", &probe]))?;
            None
        }
    };
    if let Some(reason) = skip {
        remove(&root)?;
        return Ok(format!(
            "\nskipped: `mydocker run -d` is not available in this build ({reason})\n"
        ));
    }
    let podman = podman_ready(env, &podman_root);
    let name = |tool: &str, i: usize| format!("bench-{tool}-{pid}-{i}");
    let rows = compare(
        runs,
        vec![
            Case::new("mydocker run -d", |i| {
                let n = name("md", i);
                env.md_run(
                    &root,
                    &[
                        "-d",
                        "--network",
                        "none",
                        "--name",
                        &n,
                        &env.busybox,
                        "sleep",
                        "120",
                    ],
                )
            }),
            Case::new("mydocker exec", |i| {
                let mut c = env.md(&root);
                c.args(["exec", &name("md", i), "true"]);
                c
            }),
            Case::new("mydocker rm -f", |i| {
                let mut c = env.md(&root);
                c.args(["rm", "-f", &name("md", i)]);
                c
            }),
            Case::new("podman run -d", |i| {
                let n = name("podman", i);
                env.podman_run(
                    &podman_root,
                    &[
                        "-d",
                        "--network",
                        "none",
                        "--name",
                        &n,
                        &env.busybox,
                        "sleep",
                        "120",
                    ],
                )
            })
            .unavailable_if(podman.clone()),
            Case::new("podman exec", |i| {
                let mut c = env.podman(&podman_root);
                c.args(["exec", &name("podman", i), "true"]);
                c
            })
            .unavailable_if(podman.clone()),
            Case::new("podman rm -f", |i| {
                let mut c = env.podman(&podman_root);
                c.args(["rm", "-f", "-t", "0", &name("podman", i)]);
                c
            })
            .unavailable_if(podman.clone()),
        ],
    );
    // Whatever a failed case left behind.
    if let Ok(ids) = output(env.md(&root).args(["ps", "-aq"])) {
        for id in ids.split_whitespace() {
            let _ = quiet(env.md(&root).args(["rm", "-f", id]));
        }
    }
    if podman.is_none() {
        let _ = quiet(env.podman(&podman_root).args(["rm", "-af", "-t", "0"]));
    }
    let mut out = String::new();
    for (title, md, pm) in [
        ("run -d busybox sleep 120 (returns once started)", 0, 3),
        ("exec true in the running container", 1, 4),
        ("rm -f of the running container", 2, 5),
    ] {
        let pair: Vec<Row> = vec![rows[md].clone(), rows[pm].clone()];
        out.push_str(&table(&format!("lifecycle: {title}"), &pair));
        out.push_str(&commands(&pair));
    }
    let _ = Command::new("sync").status();
    remove(&root)?;
    remove(&podman_root)?;
    Ok(out)
}
