//! `cargo xtask demo`: a guided tour on a fresh Debian 12 machine (as root). Installs what
//! is needed, builds mydocker, starts a local registry with the busybox fixture, pulls it
//! into a private root, lists images, runs containers, shows `info`, and cleans up.
//!
//! The demo keeps everything private so it never touches a real installation: its root is
//! a temporary directory (`/var/tmp/mydocker-demo-PID`), its default network has its own
//! bridge, subnet and nftables table, and its containers get their own cgroup parent.
//! All of it is removed at the end, also when a step fails.

use crate::bench::{self, fixture::FixtureRegistry};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("demo takes no arguments (got {a:?})");
    }
    step(
        1,
        "install the Debian packages the demo needs (skipped when present)",
    );
    crate::deps::install(crate::deps::TEST)?;

    step(2, "build mydocker and the fixture registry (release)");
    let bins = bench::build_release()?;

    let demo = Demo::new(&bins.mydocker)?;
    let result = demo.tour(&bins.fixture_registry);
    drop(demo);
    result?;
    println!("\nThe demo is over: its root, bridge, nft table and cgroups are removed.");
    Ok(())
}

struct Demo {
    root: PathBuf,
    mydocker: PathBuf,
    env: Vec<(&'static str, String)>,
    bridge: String,
    nft_table: String,
    cgroup_parent: String,
}

impl Demo {
    fn new(mydocker: &Path) -> Result<Demo> {
        let pid = std::process::id();
        let root = PathBuf::from(format!("/var/tmp/mydocker-demo-{pid}"));
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let bridge = format!("mdemo{}", pid % 1_000_000);
        let nft_table = format!("mydocker_demo_{pid}");
        let cgroup_parent = format!("mydocker-demo-{pid}");
        let env = vec![
            ("MYDOCKER_ROOT", root.display().to_string()),
            ("MYDOCKER_DEFAULT_BRIDGE", bridge.clone()),
            (
                "MYDOCKER_DEFAULT_SUBNET",
                format!("10.253.{}.0/24", pid % 256),
            ),
            ("MYDOCKER_NFT_TABLE", nft_table.clone()),
            ("MYDOCKER_CGROUP_PARENT", cgroup_parent.clone()),
        ];
        Ok(Demo {
            root,
            mydocker: mydocker.to_owned(),
            env,
            bridge,
            nft_table,
            cgroup_parent,
        })
    }

    fn tour(&self, fixture_registry: &Path) -> Result<()> {
        step(
            3,
            "start a local registry (Debian's docker-registry on 127.0.0.1) with fixture \
             images built from busybox-static",
        );
        let mut registry = FixtureRegistry::start(fixture_registry, &[])?;
        for image in registry.images() {
            println!("    {image}");
        }
        let busybox = registry
            .image("busybox")
            .context("the fixture registry printed no busybox image")?
            .to_owned();
        println!(
            "\nThe demo's mydocker keeps its state in {} (a temporary directory) and uses its \
             own default bridge, subnet, nft table and cgroup parent:",
            self.root.display()
        );
        for (k, v) in &self.env {
            println!("    export {k}={v}");
        }
        println!("    alias mydocker={}", self.mydocker.display());

        step(
            4,
            "pull the busybox image into the demo root (plain HTTP: it is 127.0.0.1)",
        );
        self.mydocker(&["pull", &busybox])?;

        step(5, "list the images");
        self.mydocker(&["images"])?;

        step(
            6,
            "run a container on the default bridge network: its hostname is its short ID, \
             it has no /etc/os-release, and it runs as root",
        );
        self.mydocker(&[
            "run",
            "--rm",
            &busybox,
            "sh",
            "-c",
            "echo hello from $(hostname); cat /etc/os-release || true; id",
        ])?;

        step(
            7,
            "run with --network none: only the loopback interface exists",
        );
        self.mydocker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &busybox,
            "sh",
            "-c",
            "ip link; ls /sys/class/net",
        ])?;

        step(
            8,
            "system information: storage driver, cgroup version, root",
        );
        self.mydocker(&["info"])?;

        step(9, "stop the registry and clean up");
        registry.stop();
        Ok(())
    }

    /// Runs mydocker with the demo's environment, its output shown as it comes.
    fn mydocker(&self, args: &[&str]) -> Result<()> {
        println!("$ mydocker {}", shell_words(args));
        let status = Command::new(&self.mydocker)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .status()
            .context("starting mydocker")?;
        if !status.success() {
            bail!("`mydocker {}` failed: {status}", shell_words(args));
        }
        Ok(())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        bench::cleanup_dir(&self.root);
        bench::remove_cgroups(&self.cgroup_parent);
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .status();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn step(n: u32, what: &str) {
    println!("\n==> Step {n}: {what}");
}

fn shell_words(args: &[&str]) -> String {
    let mut c = Command::new("x");
    c.args(args);
    let shown = crate::measure::show(&c);
    shown.strip_prefix("x ").unwrap_or(&shown).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words_quote_the_script() {
        assert_eq!(
            super::shell_words(&["run", "--rm", "img", "sh", "-c", "echo $(hostname)"]),
            "run --rm img sh -c 'echo $(hostname)'"
        );
    }
}
