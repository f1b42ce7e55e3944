//! Pulling from the local registry into an empty root (a cold store every sample): the
//! ~500 MB, 5-layer gzip image and the 125-layer image. mydocker unpacks while it streams
//! (overlay and copy drivers); `skopeo copy` to an OCI layout only downloads; `skopeo
//! copy` + `umoci unpack` downloads, then unpacks; `podman pull` downloads and unpacks.

use super::{Env, NO_DAEMONS, remove};
use crate::measure::{Case, Row, commands, compare, table};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The big image: every tool, with and without unpacking.
pub(crate) fn big(env: &mut Env) -> Result<String> {
    let image = env.big.clone().context("no big image")?;
    let mut rows = pull_rows(env, &image, "pull", true)?;
    rows.push(Row::unavailable(
        "docker pull / ctr image pull (containerd)",
        "docker pull IMAGE",
        NO_DAEMONS,
    ));
    let mut out = table(
        "pull: ~500 MB in 5 gzip layers from the local registry into an empty root \
         (mydocker, podman and umoci also unpack; skopeo copy alone only downloads)",
        &rows,
    );
    out.push_str(&commands(&rows));
    Ok(out)
}

/// The 125-layer image: many small layers (per-layer overhead).
pub(crate) fn layers(env: &mut Env) -> Result<String> {
    let image = env.layers.clone().context("no layered image")?;
    let rows = pull_rows(env, &image, "layers", false)?;
    let mut out = table(
        "pull: 125 small layers (the busybox layer and 124 one-file layers) into an empty root",
        &rows,
    );
    out.push_str(&commands(&rows));
    Ok(out)
}

fn pull_rows(env: &Env, image: &str, tag: &str, all: bool) -> Result<Vec<Row>> {
    let runs = env.runs(if all { 3 } else { 5 });
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
    let md_root = env.path(&format!("{tag}-mydocker"));
    let md_copy_root = env.path(&format!("{tag}-mydocker-copy"));
    let oci = env.path(&format!("{tag}-skopeo-oci"));
    let umoci_dir = env.path(&format!("{tag}-umoci"));
    let podman_root = env.path(&format!("{tag}-podman"));
    let layout = umoci_dir.join("oci");
    let bundle = umoci_dir.join("bundle");
    let oci_src = format!("docker://{image}");
    let mut cases = vec![
        Case::new("mydocker pull (overlay driver)", |_| {
            let mut c = env.md(&md_root);
            c.args(["pull", "-q", image]);
            c
        })
        .before(fresh(md_root.clone()))
        .after(clean(md_root.clone())),
    ];
    if all {
        cases.push(
            Case::new("mydocker pull (copy driver)", |_| {
                let mut c = env.md(&md_copy_root);
                c.args(["--storage-driver", "copy", "pull", "-q", image]);
                c
            })
            .before(fresh(md_copy_root.clone()))
            .after(clean(md_copy_root.clone())),
        );
    }
    cases.push(
        Case::new("skopeo copy (download only)", |_| {
            let mut c = Command::new("skopeo");
            c.args(["copy", "--quiet", "--src-tls-verify=false", &oci_src])
                .arg(format!("oci:{}:img", oci.display()));
            c
        })
        .before(fresh(oci.clone()))
        .after(clean(oci.clone())),
    );
    if all {
        cases.push(
            Case::new("skopeo copy + umoci unpack", |_| {
                let script = format!(
                    "skopeo copy --quiet --src-tls-verify=false {oci_src} oci:{}:img && \
                     umoci unpack --image {}:img {}",
                    layout.display(),
                    layout.display(),
                    bundle.display()
                );
                let mut c = Command::new("sh");
                c.args(["-c", &script]);
                c
            })
            .before(|_| {
                remove(&umoci_dir)?;
                // skopeo makes the layout directory but not its parent.
                std::fs::create_dir_all(&umoci_dir)
                    .with_context(|| format!("creating {}", umoci_dir.display()))
            })
            .after(clean(umoci_dir.clone())),
        );
    }
    cases.push(
        Case::new("podman pull", |_| {
            let mut c = env.podman_host_net(&podman_root);
            c.args(["pull", "-q", "--tls-verify=false", image]);
            c
        })
        .before(fresh(podman_root.clone()))
        .after(clean(podman_root.clone()))
        .unavailable_if(env.jail().err()),
    );
    Ok(compare(runs, cases))
}

/// Flushes dirty pages (untimed, between samples) so one sample's writeback does not
/// slow the next.
pub(crate) fn sync() {
    let _ = Command::new("sync").status();
}
