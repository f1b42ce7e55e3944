//! Pulling the ~500 MB, 5-layer gzip image from the local registry into an empty root:
//! mydocker (which unpacks while streaming) with the overlay and copy drivers, `skopeo
//! copy` to an OCI layout (download only), `skopeo copy` + `umoci unpack` (download, then
//! unpack), and `podman pull` (download and unpack).

use super::{Env, remove};
use crate::measure::{Case, Row, commands, compare, table};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

pub(crate) fn run(env: &mut Env, pull: bool, unpack: bool) -> Result<String> {
    let big = env.big.clone().context("no big image")?;
    let runs = env.runs(5);
    let env = &*env;
    let fresh = |p: PathBuf| {
        move |_i: usize| -> Result<()> {
            remove(&p)?;
            Ok(())
        }
    };
    let clean = |p: PathBuf| {
        move |_i: usize| -> Result<()> {
            remove(&p)?;
            sync();
            Ok(())
        }
    };
    let md_root = env.path("pull-mydocker");
    let md_copy_root = env.path("pull-mydocker-copy");
    let oci = env.path("pull-skopeo-oci");
    let umoci_dir = env.path("pull-umoci");
    let podman_root = env.path("pull-podman");
    let layout = umoci_dir.join("oci");
    let bundle = umoci_dir.join("bundle");
    let oci_src = format!("docker://{big}");
    let mut cases = vec![
        Case::new("mydocker pull", |_| {
            let mut c = env.md(&md_root);
            c.args(["pull", &big]);
            c
        })
        .before(fresh(md_root.clone()))
        .after(clean(md_root.clone())),
    ];
    if pull {
        cases.push(
            Case::new("mydocker --storage-driver copy pull", |_| {
                let mut c = env.md(&md_copy_root);
                c.args(["--storage-driver", "copy", "pull", &big]);
                c
            })
            .before(fresh(md_copy_root.clone()))
            .after(clean(md_copy_root.clone())),
        );
        cases.push(
            Case::new("skopeo copy (download only)", |_| {
                let mut c = Command::new("skopeo");
                c.args(["copy", "--quiet", "--src-tls-verify=false", &oci_src])
                    .arg(format!("oci:{}:big", oci.display()));
                c
            })
            .before(fresh(oci.clone()))
            .after(clean(oci.clone())),
        );
    }
    if unpack {
        cases.push(
            Case::new("skopeo copy + umoci unpack", |_| {
                let script = format!(
                    "skopeo copy --quiet --src-tls-verify=false {oci_src} oci:{}:big && \
                     umoci unpack --image {}:big {}",
                    layout.display(),
                    layout.display(),
                    bundle.display()
                );
                let mut c = Command::new("sh");
                c.args(["-c", &script]);
                c
            })
            .before(fresh(umoci_dir.clone()))
            .after(clean(umoci_dir.clone())),
        );
    }
    cases.push(
        Case::new("podman pull", |_| {
            let mut c = env.podman(&podman_root);
            c.args(["pull", "-q", "--tls-verify=false", &big]);
            c
        })
        .before(fresh(podman_root.clone()))
        .after(clean(podman_root.clone())),
    );
    let rows = compare(runs, cases);
    let pick = |names: &[&str]| -> Vec<Row> {
        names
            .iter()
            .filter_map(|n| rows.iter().find(|r| r.name == *n).cloned())
            .collect()
    };
    let mut out = String::new();
    if pull {
        let rows = pick(&[
            "mydocker pull",
            "mydocker --storage-driver copy pull",
            "skopeo copy (download only)",
            "podman pull",
        ]);
        out.push_str(&table(
            "pull: ~500 MB, 5 gzip layers, empty root (mydocker and podman also unpack)",
            &rows,
        ));
        out.push_str(&commands(&rows));
    }
    if unpack {
        let rows = pick(&["mydocker pull", "skopeo copy + umoci unpack", "podman pull"]);
        out.push_str(&table(
            "pull with unpack: ~500 MB, 5 gzip layers, empty root",
            &rows,
        ));
        out.push_str(&commands(&rows));
    }
    Ok(out)
}

/// Flushes dirty pages (untimed, between samples) so one sample's writeback does not
/// slow the next.
pub(crate) fn sync() {
    let _ = Command::new("sync").status();
}
