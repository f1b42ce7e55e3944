//! Building the workspace's test binaries (and its programs, which integration tests find
//! through the `CARGO_BIN_EXE_*` paths compiled into them) and listing them for the guest.

use super::json::Json;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// One libtest binary to run in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestBinary {
    /// The file name (unique: cargo adds a hash), used for logs.
    pub(crate) id: String,
    /// `package/target (kind)`, for people.
    pub(crate) label: String,
    pub(crate) exe: PathBuf,
    /// The package directory: cargo runs tests there, so the guest does too.
    pub(crate) manifest_dir: PathBuf,
}

/// Workspace facts from `cargo metadata`.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    pub(crate) target: PathBuf,
}

pub(crate) fn workspace() -> Result<Workspace> {
    let out = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .context("cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", out.status);
    }
    let v = Json::parse(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| anyhow::anyhow!("cargo metadata output: {e}"))?;
    let get = |k: &str| {
        v.get(k)
            .as_str()
            .map(PathBuf::from)
            .with_context(|| format!("cargo metadata has no {k}"))
    };
    Ok(Workspace {
        root: get("workspace_root")?,
        target: get("target_directory")?,
    })
}

/// Runs a cargo build with `--message-format=json-render-diagnostics` and returns the
/// artifact messages (diagnostics go to the terminal as usual).
fn cargo_artifacts(args: &[&str]) -> Result<Vec<Json>> {
    let mut cmd = crate::cargo();
    cmd.args(args)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    eprintln!("xtask: $ cargo {}", args.join(" "));
    let mut child = cmd.spawn().context("running cargo")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    let mut artifacts = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(msg) = Json::parse(&line) else {
            continue;
        };
        if msg.get("reason").as_str() == Some("compiler-artifact") {
            artifacts.push(msg);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo {} failed: {status}", args.join(" "));
    }
    Ok(artifacts)
}

/// The test binaries among cargo's artifact messages, sorted by label.
pub(crate) fn test_binaries(artifacts: &[Json]) -> Vec<TestBinary> {
    let mut out: Vec<TestBinary> = artifacts
        .iter()
        .filter(|a| a.get("profile").get("test").as_bool() == Some(true))
        .filter_map(|a| {
            let exe = PathBuf::from(a.get("executable").as_str()?);
            let id = exe.file_name()?.to_string_lossy().into_owned();
            let manifest_dir = Path::new(a.get("manifest_path").as_str()?)
                .parent()?
                .to_owned();
            let target = a.get("target");
            let package = manifest_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kind = target
                .get("kind")
                .as_array()
                .first()
                .and_then(Json::as_str)
                .unwrap_or("?");
            let label = format!(
                "{package}/{} ({kind})",
                target.get("name").as_str().unwrap_or("?")
            );
            Some(TestBinary {
                id,
                label,
                exe,
                manifest_dir,
            })
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out.dedup_by(|a, b| a.exe == b.exe);
    out
}

/// Builds every test binary and every program of the workspace; returns the test binaries
/// and the programs (whose shared libraries the guest image must hold too).
pub(crate) fn build() -> Result<(Vec<TestBinary>, Vec<PathBuf>)> {
    let tests = cargo_artifacts(&["test", "--workspace", "--no-run"])?;
    let bins = cargo_artifacts(&["build", "--workspace", "--bins"])?;
    let binaries = test_binaries(&tests);
    if binaries.is_empty() {
        bail!("cargo built no test binaries");
    }
    let programs = bins
        .iter()
        .chain(tests.iter())
        .filter_map(|a| a.get("executable").as_str().map(PathBuf::from))
        .collect();
    Ok((binaries, programs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_binaries_are_picked_from_artifacts() {
        let lines = [
            r#"{"reason":"compiler-artifact","manifest_path":"/w/crates/cli/Cargo.toml","target":{"kind":["bin"],"name":"mydocker"},"profile":{"test":true},"executable":"/w/target/debug/deps/mydocker-01"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/w/crates/cli/Cargo.toml","target":{"kind":["bin"],"name":"mydocker"},"profile":{"test":false},"executable":"/w/target/debug/mydocker"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/w/crates/store/Cargo.toml","target":{"kind":["lib"],"name":"store"},"profile":{"test":true},"executable":"/w/target/debug/deps/store-02"}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/w/crates/store/Cargo.toml","target":{"kind":["lib"],"name":"store"},"profile":{"test":false},"executable":null}"#,
        ];
        let artifacts: Vec<Json> = lines.iter().map(|l| Json::parse(l).unwrap()).collect();
        let bins = test_binaries(&artifacts);
        assert_eq!(bins.len(), 2);
        assert_eq!(bins[0].label, "cli/mydocker (bin)");
        assert_eq!(bins[0].id, "mydocker-01");
        assert_eq!(bins[0].manifest_dir, PathBuf::from("/w/crates/cli"));
        assert_eq!(bins[1].label, "store/store (lib)");
        assert_eq!(bins[1].exe, PathBuf::from("/w/target/debug/deps/store-02"));
    }
}
