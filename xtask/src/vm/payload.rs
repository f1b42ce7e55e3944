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
    /// `package/target (kind)`, for people (package: the package's directory name).
    pub(crate) label: String,
    /// The package's directory name (`cli`, `network`, ...).
    pub(crate) package: String,
    /// The target's name (`run` for `tests/run.rs`, the crate name for unit tests).
    pub(crate) target: String,
    pub(crate) exe: PathBuf,
    /// The package directory: cargo runs tests there, so the guest does too.
    pub(crate) manifest_dir: PathBuf,
}

/// Suites whose outcome cannot depend on the cgroup layout, as `(package directory, target)`
/// (`None`: every target of the package): they create no cgroups, or use containers only
/// through the cgroup paths (create, limits, freeze for `commit`'s pause, kill, remove) that
/// `cli/run`, `cli/lifecycle` and `cgroup/real` check in every layout. The v2 guest runs
/// them (and the host runs them on its own layout); the v1 and hybrid guests leave them out
/// unless `--all-suites`. A new suite runs everywhere until it is listed here.
const LAYOUT_INDEPENDENT: &[(&str, Option<&str>)] = &[
    ("registry", None),
    ("store", None),
    ("network", None),
    ("test-support", None),
    ("cli", Some("network")),
    ("cli", Some("pull")),
    ("cli", Some("auth_push")),
    ("cli", Some("archives")),
];

impl TestBinary {
    /// Whether this suite behaves the same whatever the cgroup layout (see
    /// [`LAYOUT_INDEPENDENT`]).
    pub(crate) fn layout_independent(&self) -> bool {
        LAYOUT_INDEPENDENT
            .iter()
            .any(|(p, t)| *p == self.package && t.is_none_or(|t| t == self.target))
    }
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
            let name = target.get("name").as_str().unwrap_or("?").to_owned();
            let label = format!("{package}/{name} ({kind})");
            Some(TestBinary {
                id,
                label,
                package,
                target: name,
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
    fn layout_independent_suites_are_named_by_package_and_target() {
        let bin = |package: &str, target: &str| TestBinary {
            id: format!("{target}-0"),
            label: format!("{package}/{target} (test)"),
            package: package.into(),
            target: target.into(),
            exe: PathBuf::from("/x"),
            manifest_dir: PathBuf::from("/w"),
        };
        assert!(bin("network", "real").layout_independent());
        assert!(bin("cli", "pull").layout_independent());
        assert!(!bin("cli", "run").layout_independent());
        assert!(!bin("cli", "lifecycle").layout_independent());
        assert!(!bin("cgroup", "real").layout_independent());
        assert!(!bin("xtask", "xtask").layout_independent());
        assert!(!bin("newcrate", "anything").layout_independent());
    }

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
        assert_eq!(
            (bins[1].package.as_str(), bins[1].target.as_str()),
            ("store", "store")
        );
        assert_eq!(bins[1].exe, PathBuf::from("/w/target/debug/deps/store-02"));
    }
}
