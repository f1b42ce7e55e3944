//! The storage drivers: a container rootfs of the big image with the copy driver beside
//! `cp -a` of the same tree, and the overlay mount and unmount of a 125-layer image.

use super::pull::sync;
use super::{Env, output, quiet, remove};
use crate::measure::{Case, Outcome, Row, commands, compare, table};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn copy(env: &mut Env) -> Result<String> {
    let big = env.big.clone().context("no big image")?;
    let runs = env.runs(3);
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
    let name = |i: usize| format!("bench-copy-{}-{i}", std::process::id());
    let create = |image: &str, i: usize| {
        let mut c = env.md(&root);
        c.args(["--storage-driver", "copy", "create"])
            .args(["--cgroup-parent", &format!("{}-md", env.cgroup_parent)])
            .args(["--network", "none", "--name", &name(i), image, "true"]);
        c
    };
    let rm = |i: usize| -> Result<()> {
        quiet(
            env.md(&root)
                .args(["--storage-driver", "copy", "rm", "-f", &name(i)]),
        )?;
        sync();
        Ok(())
    };
    let rows = compare(
        runs,
        vec![
            Case::new("mydocker --storage-driver copy create (big image)", |i| {
                create(&big, i)
            })
            .after(rm),
            Case::new("mydocker --storage-driver copy create (busybox)", |i| {
                create(&env.busybox, i)
            })
            .after(rm),
            Case::new("cp -a of the same tree", |_| {
                let mut c = Command::new("cp");
                c.arg("-a").arg(&source).arg(&dest);
                c
            })
            .after(|_| {
                remove(&dest)?;
                sync();
                Ok(())
            }),
        ],
    );
    let mut table_rows = vec![
        rows[0].clone(),
        difference(
            "mydocker copy driver: the rootfs copy alone (big − busybox)",
            &rows[0],
            &rows[1],
        ),
    ];
    table_rows.extend(rows[1..].iter().cloned());
    let mut out = table(
        &format!(
            "copy driver: `create` makes a full copy of the image as the container's rootfs \
             ({files} entries, {du}), beside `cp -a` of the same tree (rm -f untimed)"
        ),
        &table_rows,
    );
    out.push_str(&commands(&table_rows));
    remove(&root)?;
    Ok(out)
}

pub(crate) fn overlay(env: &mut Env) -> Result<String> {
    let layers = env.layers.clone().context("no layered image")?;
    let runs = env.runs(20);
    let env = &*env;
    let root = env.md_root();
    let podman_root = env.podman_root();
    quiet(env.md(&root).args(["pull", "-q", &layers]))?;
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let podman = env
        .podman_pull(&podman_root, &layers)
        .and_then(|()| env.podman_pull(&podman_root, &env.busybox))
        .err()
        .map(|e| crate::measure::one_line(&format!("podman pull failed: {}", e.root_cause())));
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
    let table_rows = vec![
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
    let mut out = table(
        "overlay: run `true` with --network none in a 125-layer image (mount, run, unmount)",
        &table_rows,
    );
    out.push_str(&commands(&table_rows));
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
                p90: None,
                cpu: a.cpu().zip(b.cpu()).map(|(x, y)| x.saturating_sub(y)),
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
                p90: None,
                cpu: Some(Duration::from_millis(ms / 2)),
                rss_kib: Some(1),
                runs: 3,
            },
        };
        let d = difference("d", &m(50), &m(20));
        assert_eq!(d.wall(), Some(Duration::from_millis(30)));
        assert_eq!(d.cpu(), Some(Duration::from_millis(15)));
        let na = Row::unavailable("p", "p", "no podman");
        assert!(
            matches!(difference("d", &m(5), &na).outcome, Outcome::Unavailable(r) if r == "no podman")
        );
    }
}
