//! `build` of a 6-step Dockerfile (FROM busybox, ENV, COPY of 1,000 small files, two
//! RUNs, CMD), base image present: from cold (`--no-cache`) and with a warm cache (every
//! step reused), mydocker beside `podman build` (buildah) of the same context. RUN steps
//! have no network (`--network none`) in both, so the bridge set-up is not measured;
//! podman build runs its steps with runc (its crun config fails on the hybrid layout).

use super::run::podman_ready;
use super::{Env, hard_limit, quiet};
use crate::measure::{Case, commands, compare, table};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// The context: a Dockerfile and `files/` with 1,000 small files.
fn make_context(dir: &Path, base: &str) -> Result<()> {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).with_context(|| format!("creating {}", files.display()))?;
    for i in 0..1000 {
        let p = files.join(format!("f{i:04}.txt"));
        std::fs::write(&p, format!("file {i}\n"))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let dockerfile = format!(
        "FROM {base}\nENV APP=/app\nCOPY files /app/files\n\
         RUN ls /app/files | wc -l > /app/count\nRUN cat /app/files/f0001.txt > /app/one\n\
         CMD [\"cat\", \"/app/count\"]\n"
    );
    let p = dir.join("Dockerfile");
    std::fs::write(&p, dockerfile).with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

pub(crate) fn run(env: &mut Env) -> Result<String> {
    let runs = env.runs(10);
    let env = &*env;
    let root = env.md_root();
    let podman_root = env.podman_root();
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let podman = podman_ready(env, &podman_root);
    let ctx = env.path("build-context");
    make_context(&ctx, &env.busybox)?;
    let md = |extra: &[&str]| {
        let mut c = env.md(&root);
        c.arg("build")
            .args(["--cgroup-parent", &format!("{}-md", env.cgroup_parent)])
            .args(["--network", "none", "-q", "-t", "bench-build"])
            .args(extra)
            .arg(&ctx);
        c
    };
    let pm = |extra: &[&str]| {
        let mut c = env.podman(&podman_root);
        let nofile = hard_limit(libc::RLIMIT_NOFILE).unwrap_or(1024);
        let nproc = hard_limit(libc::RLIMIT_NPROC).unwrap_or(32768).min(32768);
        // buildah's crun config fails on this hybrid layout (`devices.deny`); runc works.
        // Its containers' cgroup is the parent itself: one of its own, without children.
        c.arg("build")
            .args(["--runtime", "runc"])
            .args([
                "--cgroup-parent",
                &format!("/{}-podman-build", env.cgroup_parent),
            ])
            .args(["--ulimit", &format!("nofile={nofile}:{nofile}")])
            .args(["--ulimit", &format!("nproc={nproc}:{nproc}")])
            .args(["--network", "none", "--layers", "-q", "-t", "bench-build"])
            .args(extra)
            .arg(&ctx);
        c
    };
    // The warm cases find every step in the cache of a first build.
    quiet(&mut md(&[]))?;
    let podman = podman.or_else(|| {
        quiet(&mut pm(&[]))
            .err()
            .map(|e| format!("podman build failed: {}", e.root_cause()))
    });
    let rows = compare(
        runs,
        vec![
            Case::new("mydocker build --no-cache (cold)", |_| md(&["--no-cache"])),
            Case::new("mydocker build (every step cached)", |_| md(&[])),
            Case::new("podman build --no-cache (cold)", |_| pm(&["--no-cache"]))
                .unavailable_if(podman.clone()),
            Case::new("podman build (every step cached)", |_| pm(&[])).unavailable_if(podman),
        ],
    );
    let _ = Command::new("sync").status();
    let mut out = table(
        "build: a 6-step Dockerfile (COPY of 1,000 small files, two RUNs), busybox present, \
         RUN steps without network",
        &rows,
    );
    out.push_str(&commands(&rows));
    Ok(out)
}
