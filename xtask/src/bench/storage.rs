//! The storage drivers: a container rootfs of the big image with the copy driver beside
//! `cp -a` of the same tree, and the overlay mount and unmount of a 125-layer image.

use super::pull::sync;
use super::{Env, output, quiet, remove};
use crate::measure::{Case, Outcome, Row, commands, compare, table};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this mydocker has `create` (it comes with the lifecycle commands).
pub(crate) fn has_command(env: &Env, root: &Path, name: &str) -> bool {
    env.md(root)
        .args([name, "--help"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub(crate) fn copy(env: &mut Env) -> Result<String> {
    let big = env.big.clone().context("no big image")?;
    let runs = env.runs(5);
    let env = &*env;
    let root = env.path("copy-root");
    eprintln!("xtask: bench: copy: pulling the big image with the copy driver (untimed)");
    quiet(
        env.md(&root)
            .args(["--storage-driver", "copy", "pull", "-q", &big]),
    )?;
    quiet(
        env.md(&root)
            .args(["--storage-driver", "copy", "pull", "-q", &env.busybox]),
    )?;
    let source = top_copy_layer(&root)?.join("fs");
    let dest = env.path("copy-cp-dest");
    let files = output(Command::new("find").arg(&source).args(["-printf", "."]))?.len();
    let du = output(Command::new("du").args(["-sh"]).arg(&source))?;
    let du = du.split_whitespace().next().unwrap_or("?").to_owned();
    let run_true = |image: &str| {
        let mut c = env.md(&root);
        c.args(["--storage-driver", "copy", "run"])
            .args(["--cgroup-parent", &format!("{}-md", env.cgroup_parent)])
            .args(["--rm", "--network", "none", image, "true"]);
        c
    };
    let create = has_command(env, &root, "create");
    let cp = |_i: usize| {
        let mut c = Command::new("cp");
        c.arg("-a").arg(&source).arg(&dest);
        c
    };
    let rm_dest = |_i: usize| -> Result<()> {
        remove(&dest)?;
        sync();
        Ok(())
    };
    let mut out = String::new();
    if create {
        let name = |i: usize| format!("bench-copy-{i}");
        let rows = compare(
            runs,
            vec![
                Case::new("mydocker --storage-driver copy create", |i| {
                    let mut c = env.md(&root);
                    c.args(["--storage-driver", "copy", "create", "--network", "none"])
                        .args(["--cgroup-parent", &format!("{}-md", env.cgroup_parent)])
                        .args(["--name", &name(i), &big, "true"]);
                    c
                })
                .after(|i| {
                    quiet(
                        env.md(&root)
                            .args(["--storage-driver", "copy", "rm", "-f", &name(i)]),
                    )?;
                    sync();
                    Ok(())
                }),
                Case::new("cp -a", cp).after(rm_dest),
            ],
        );
        out.push_str(&table(
            &format!("copy driver: container rootfs of the big image ({files} entries, {du})"),
            &rows,
        ));
        out.push_str(&commands(&rows));
    } else {
        let rm_after = |_i: usize| -> Result<()> {
            sync();
            Ok(())
        };
        let rows = compare(
            runs,
            vec![
                Case::new("mydocker copy: run --rm BIG true", |_| run_true(&big)).after(rm_after),
                Case::new("mydocker copy: run --rm busybox true", |_| {
                    run_true(&env.busybox)
                }),
                Case::new("cp -a + rm -rf", |_| {
                    let mut c = Command::new("sh");
                    c.args([
                        "-c",
                        &format!(
                            "cp -a {} {} && rm -rf {}",
                            source.display(),
                            dest.display(),
                            dest.display()
                        ),
                    ]);
                    c
                })
                .after(rm_dest),
                Case::new("cp -a", cp).after(rm_dest),
            ],
        );
        let derived = difference(
            "mydocker copy: rootfs copy + removal (run BIG − run busybox)",
            &rows[0],
            &rows[1],
        );
        let table_rows = vec![
            derived,
            rows[2].clone(),
            rows[3].clone(),
            rows[0].clone(),
            rows[1].clone(),
        ];
        out.push_str(&table(
            &format!(
                "copy driver: container rootfs of the big image ({files} entries, {du}); \
                 `mydocker create` is not available yet, so the copy is measured as \
                 `run --rm` of the big image minus `run --rm` of busybox (both copy the \
                 rootfs, run `true` and remove the copy)"
            ),
            &table_rows,
        ));
        out.push_str(&commands(&table_rows));
    }
    remove(&root)?;
    Ok(out)
}

pub(crate) fn overlay(env: &mut Env) -> Result<String> {
    let layers = env.layers.clone().context("no layered image")?;
    let runs = env.runs(20);
    let env = &*env;
    let root = env.path("overlay-root");
    let podman_root = env.path("overlay-podman");
    quiet(env.md(&root).args(["pull", "-q", &layers]))?;
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let podman = env
        .podman_pull(&podman_root, &layers)
        .and_then(|()| env.podman_pull(&podman_root, &env.busybox))
        .err()
        .map(|e| {
            format!(
                "podman pull failed: {}",
                crate::measure::one_line(&format!("{e:#}"))
            )
        });
    let md = |image: &str| env.md_run(&root, &["--rm", "--network", "none", image, "true"]);
    let pm =
        |image: &str| env.podman_run(&podman_root, &["--rm", "--network", "none", image, "true"]);
    let rows = compare(
        runs,
        vec![
            Case::new("mydocker run, 125 layers", |_| md(&layers)),
            Case::new("mydocker run, 1 layer", |_| md(&env.busybox)),
            Case::new("podman run, 125 layers", |_| pm(&layers)).unavailable_if(podman.clone()),
            Case::new("podman run, 1 layer", |_| pm(&env.busybox)).unavailable_if(podman),
        ],
    );
    let mut table_rows = vec![
        rows[0].clone(),
        difference(
            "mydocker: cost of 124 more lower layers (125 − 1)",
            &rows[0],
            &rows[1],
        ),
        rows[1].clone(),
        rows[2].clone(),
        difference(
            "podman: cost of 124 more lower layers (125 − 1)",
            &rows[2],
            &rows[3],
        ),
        rows[3].clone(),
    ];
    // Keep mydocker's full run first: the ratio column compares to it.
    table_rows.truncate(6);
    let mut out = table(
        "overlay: run `true` with --network none in a 125-layer image (mount, run, unmount)",
        &table_rows,
    );
    out.push_str(&commands(&table_rows));
    remove(&root)?;
    remove(&podman_root)?;
    Ok(out)
}

/// A derived row: `a − b` of two measured rows (no RSS).
pub(crate) fn difference(name: &str, a: &Row, b: &Row) -> Row {
    let command = format!("median of `{}` − median of `{}`", a.name, b.name);
    match (a.wall(), b.wall(), &a.outcome, &b.outcome) {
        (Some(x), Some(y), Outcome::Measured { runs, .. }, _) => Row {
            name: name.to_owned(),
            command,
            outcome: Outcome::Measured {
                wall: x.saturating_sub(y),
                rss_kib: None,
                runs: *runs,
            },
        },
        (_, _, Outcome::Unavailable(r), _) | (_, _, _, Outcome::Unavailable(r)) => {
            Row::unavailable(name, &command, r)
        }
        _ => Row::unavailable(name, &command, "not measured"),
    }
}

/// The copy driver's top layer under `root`: the layer that is no other layer's parent
/// (the root holds one multi-layer image and busybox; the largest tree wins).
fn top_copy_layer(root: &Path) -> Result<PathBuf> {
    let dir = root.join("layers/copy");
    let mut layers = Vec::new();
    let mut parents = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let Ok(json) = std::fs::read_to_string(e.path().join("layer.json")) else {
            continue;
        };
        if let Some(parent) = json_string_field(&json, "parent") {
            parents.push(parent.trim_start_matches("sha256:").to_owned());
        } else {
            // A base layer: busybox's own (one layer) is a top too; skip bases.
            continue;
        }
        layers.push(e.file_name().to_string_lossy().into_owned());
    }
    let tops: Vec<&String> = layers.iter().filter(|l| !parents.contains(l)).collect();
    match tops.as_slice() {
        [one] => Ok(dir.join(one)),
        _ => bail!(
            "expected one multi-layer image in {}, found tops {tops:?}",
            dir.display()
        ),
    }
}

/// The string value of `"key": "value"` in a flat JSON text, `None` when absent or null.
pub(crate) fn json_string_field(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))?;
    let rest = json[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn json_string_fields_are_found_or_not() {
        let j = r#"{"chain_id": "sha256:ab", "parent": "sha256:cd", "x": null}"#;
        assert_eq!(json_string_field(j, "parent").as_deref(), Some("sha256:cd"));
        assert_eq!(json_string_field(j, "x"), None);
        assert_eq!(json_string_field(j, "missing"), None);
    }

    #[test]
    fn differences_subtract_medians_and_carry_reasons() {
        let m = |ms| Row {
            name: "m".into(),
            command: "c".into(),
            outcome: Outcome::Measured {
                wall: Duration::from_millis(ms),
                rss_kib: Some(1),
                runs: 3,
            },
        };
        let d = difference("d", &m(50), &m(20));
        assert_eq!(d.wall(), Some(Duration::from_millis(30)));
        let na = Row::unavailable("p", "p", "no podman");
        assert!(
            matches!(difference("d", &m(5), &na).outcome, Outcome::Unavailable(r) if r == "no podman")
        );
    }
}
