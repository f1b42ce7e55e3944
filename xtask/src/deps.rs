//! Idempotent installation of the Debian packages that tests, demo and benchmarks use.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// What the test suite needs: a real registry server, busybox for fixture images, htpasswd
/// for the basic-auth registry, independent OCI tools for cross-checks (skopeo, umoci, and
/// podman for `save`/`load`, run with a private root and vfs storage), and the low-level
/// runtimes and firewall tools used by later suites.
pub(crate) const TEST: &[&str] = &[
    "docker-registry",
    "busybox-static",
    "apache2-utils",
    "skopeo",
    "umoci",
    "podman",
    "iproute2",
    "nftables",
];

/// The peers the benchmarks compare against (with [`TEST`], everything).
pub(crate) const PEERS: &[&str] = &["crun", "runc"];

/// Installs the packages of `wanted` that are not installed yet; does nothing (and needs no
/// network) when all of them already are.
pub(crate) fn install(wanted: &[&str]) -> Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "these Debian packages are missing and installing them needs root: {}",
            missing.join(" ")
        );
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    crate::run_cmd(Command::new("apt-get").args(["update", "-q"]))?;
    crate::run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("apt-get install")?;
    Ok(())
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).ends_with(" installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    // `id -u` keeps xtask free of libc bindings.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
