//! Start-to-exit wall time of `true` in the busybox image, image present: mydocker run
//! (no network, default bridge network), crun run and runc run on an OCI bundle of the same
//! image made with `skopeo copy` + `umoci unpack`, and podman run. mydocker runs once more
//! with its root on tmpfs, which shows what the filesystem of the root costs (on this
//! machine, ext4 without a journal: see docs/bench.md).

use super::{Env, NO_DAEMONS, quiet};
use crate::measure::{Case, Row, commands, compare, one_line, table};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn run(env: &mut Env) -> Result<String> {
    let runs = env.runs(30);
    let env = &*env;
    let root = env.md_root();
    let podman_root = env.podman_root();
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let bundle = oci_bundle(env, "run", &["true"])?;
    let podman = podman_ready(env, &podman_root);
    let crun_na = env.jail().err();
    let tmpfs_root = TmpfsRoot::new();
    let tmpfs_na = match &tmpfs_root {
        Ok(t) => quiet(env.md(&t.path).args(["pull", "-q", &env.busybox]))
            .err()
            .map(|e| one_line(&format!("{e:#}"))),
        Err(reason) => Some(reason.clone()),
    };
    let crun_state = env.path("run-crun-state");
    let runc_state = env.path("run-runc-state");
    let md = |extra: &[&str]| {
        let mut args = vec!["--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&env.busybox, "true"]);
        env.md_run(&root, &args)
    };
    let oci_run = |mut c: Command, runtime: &str, state: &Path, i: usize| {
        c.arg("--root")
            .arg(state)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("bench-{runtime}-{}-{i}", std::process::id()));
        c
    };
    let oci_delete = |new: fn(&Env) -> Command, runtime: &'static str, state: PathBuf| {
        move |i: usize| -> Result<()> {
            // `run` deletes the container when it exits; this only catches a failed one.
            let _ = new(env)
                .arg("--root")
                .arg(&state)
                .args(["delete", "-f"])
                .arg(format!("bench-{runtime}-{}-{i}", std::process::id()))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            Ok(())
        }
    };
    let mut rows = compare(
        runs,
        vec![
            Case::new("mydocker run --rm --network none", |_| {
                md(&["--network", "none"])
            }),
            Case::new("mydocker run --rm (default bridge network)", |_| md(&[])),
            Case::new("mydocker run --rm --network none, root on tmpfs", |_| {
                let root = tmpfs_root
                    .as_ref()
                    .map_or_else(|_| root.clone(), |t| t.path.clone());
                env.md_run(&root, &["--rm", "--network", "none", &env.busybox, "true"])
            })
            .unavailable_if(tmpfs_na),
            Case::new("crun run", |i| oci_run(env.crun(), "crun", &crun_state, i))
                .after(oci_delete(Env::crun, "crun", crun_state.clone()))
                .unavailable_if(crun_na),
            Case::new("runc run", |i| {
                oci_run(Command::new("runc"), "runc", &runc_state, i)
            })
            .after(oci_delete(
                |_| Command::new("runc"),
                "runc",
                runc_state.clone(),
            )),
            Case::new("podman run --rm --network none", |_| {
                env.podman_run(
                    &podman_root,
                    &["--rm", "--network", "none", &env.busybox, "true"],
                )
            })
            .unavailable_if(podman.clone()),
            Case::new("podman run --rm (default bridge network)", |_| {
                env.podman_run(&podman_root, &["--rm", &env.busybox, "true"])
            })
            .unavailable_if(podman),
        ],
    );
    rows.push(Row::unavailable(
        "docker run --rm",
        "docker run --rm busybox true",
        NO_DAEMONS,
    ));
    rows.push(Row::unavailable(
        "ctr run --rm (containerd)",
        "ctr run --rm busybox x true",
        NO_DAEMONS,
    ));
    let mut out = table(
        "run: start-to-exit of `true` in busybox, image present (crun and runc: `run` of a \
         umoci-unpacked bundle, which creates and deletes the container too, with new empty \
         namespaces and no network set-up)",
        &rows,
    );
    out.push_str(&commands(&rows));
    Ok(out)
}

/// A mydocker root in `/dev/shm` (tmpfs), removed on drop; its containers are all `--rm`.
struct TmpfsRoot {
    path: PathBuf,
}

impl TmpfsRoot {
    fn new() -> std::result::Result<TmpfsRoot, String> {
        let shm = Path::new("/dev/shm");
        let fs = std::process::Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(shm)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        if fs != "tmpfs" {
            return Err(format!("{} is not a tmpfs here ({fs:?})", shm.display()));
        }
        let path = shm.join(format!("mydocker-bench-{}-root", std::process::id()));
        std::fs::create_dir(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(TmpfsRoot { path })
    }
}

impl Drop for TmpfsRoot {
    fn drop(&mut self) {
        super::cleanup_dir(&self.path);
    }
}

/// Pulls busybox into a private podman root and checks that podman can run it; the reason
/// when it cannot.
pub(crate) fn podman_ready(env: &Env, root: &Path) -> Option<String> {
    let r = env.podman_pull(root, &env.busybox).and_then(|()| {
        quiet(&mut env.podman_run(root, &["--rm", "--network", "none", &env.busybox, "true"]))
    });
    r.err().map(|e| {
        eprintln!("xtask: bench: podman cannot run here: {e:#}");
        one_line(&format!("podman cannot run here: {}", e.root_cause()))
    })
}

/// An OCI bundle of busybox made with `skopeo copy` + `umoci unpack`, its config set to
/// run `args` without a terminal in a cgroup of its own (named `tag`) under the
/// benchmark's parent.
pub(crate) fn oci_bundle(env: &Env, tag: &str, args: &[&str]) -> Result<PathBuf> {
    let layout = env.path(&format!("{tag}-oci-layout"));
    let bundle = env.path(&format!("{tag}-bundle"));
    quiet(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}", env.busybox))
            .arg(format!("oci:{}:busybox", layout.display())),
    )?;
    quiet(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:busybox", layout.display()))
            .arg(&bundle),
    )?;
    let path = bundle.join("config.json");
    let config =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config = edit_config(&config, &format!("/{}-oci/{tag}", env.cgroup_parent), args)?;
    std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    Ok(bundle)
}

/// Sets `process.args` to `args`, `process.terminal` to false and `linux.cgroupsPath`,
/// by editing umoci's (Go-indented) JSON text.
fn edit_config(config: &str, cgroups_path: &str, args: &[&str]) -> Result<String> {
    let mut s = config.to_owned();
    let args_at = s
        .find("\"args\"")
        .context("config.json has no process args")?;
    let open = args_at + s[args_at..].find('[').context("args is not an array")?;
    let close = open + s[open..].find(']').context("args array not closed")?;
    let quoted: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    s.replace_range(open..=close, &format!("[{}]", quoted.join(", ")));
    if let Some(t) = s.find("\"terminal\": true") {
        s.replace_range(t..t + "\"terminal\": true".len(), "\"terminal\": false");
    }
    if s.contains("\"cgroupsPath\"") {
        bail!("config.json already has a cgroupsPath");
    }
    let linux = s
        .find("\"linux\": {")
        .context("config.json has no linux section")?;
    let at = linux + "\"linux\": {".len();
    s.insert_str(at, &format!("\n\t\t\"cgroupsPath\": \"{cgroups_path}\","));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_edit_sets_args_terminal_and_cgroups_path() {
        let c = "{\n\t\"process\": {\n\t\t\"terminal\": true,\n\t\t\"args\": [\n\t\t\t\"sh\"\n\t\t],\n\t\t\"cwd\": \"/\"\n\t},\n\t\"linux\": {\n\t\t\"namespaces\": []\n\t}\n}";
        let e = edit_config(c, "/x/y", &["true"]).unwrap();
        assert!(e.contains("\"args\": [\"true\"]"), "{e}");
        assert!(e.contains("\"terminal\": false"), "{e}");
        assert!(
            e.contains("\"linux\": {\n\t\t\"cgroupsPath\": \"/x/y\",\n\t\t\"namespaces\""),
            "{e}"
        );
        assert!(edit_config(&e, "/x/y", &["true"]).is_err());
        let e = edit_config(c, "/x/y", &["sleep", "600"]).unwrap();
        assert!(e.contains("\"args\": [\"sleep\", \"600\"]"), "{e}");
    }
}
