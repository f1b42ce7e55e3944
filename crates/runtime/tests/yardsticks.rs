//! The yardsticks of issue 16 (`../shared/oci/` beside the workspace, or
//! `$OCI_YARDSTICKS`): the OCI conformance suite (opencontainers/runtime-tools) and the
//! client steps through containerd's runc v2 shim (`ctr`) and podman. They run as root
//! where their tools are; otherwise the test says `skipped:` and why.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Runtime, can_run};

/// Tests that runc or crun pass here and that do not race (see the README's notes):
/// each must pass.
const MUST_PASS: &[&str] = &[
    "config_updates_without_affect",
    "create",
    "default",
    "delete_only_create_resources",
    "delete_resources",
    "hooks_stdin",
    "hostname",
    "kill",
    "kill_no_effect",
    "killsig",
    "linux_cgroups_cpus",
    "linux_cgroups_devices",
    "linux_cgroups_pids",
    "linux_cgroups_relative_cpus",
    "linux_cgroups_relative_devices",
    "linux_cgroups_relative_pids",
    "linux_devices",
    "linux_masked_paths",
    "linux_mount_label",
    "linux_ns_itype",
    "linux_ns_nopath",
    "linux_ns_path",
    "linux_ns_path_type",
    "linux_readonly_paths",
    "linux_rootfs_propagation",
    "linux_seccomp",
    "linux_sysctl",
    "linux_uid_mappings",
    "mounts",
    "poststart_fail",
    "poststop",
    "poststop_fail",
    "prestart_fail",
    "process",
    "process_oom_score_adj",
    "process_rlimits_fail",
    "process_user",
    "root_readonly_true",
    "state",
];

fn yardsticks() -> Option<PathBuf> {
    let dir = std::env::var_os("OCI_YARDSTICKS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/oci"));
    dir.join("runtime-tools.sh").is_file().then_some(dir)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `N passed, M failed` at the end of a script's output.
fn counts(text: &str) -> (u32, u32) {
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    let mut nums = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap());
    (nums.next().unwrap(), nums.next().unwrap())
}

#[test]
fn conformance_suite() {
    if !can_run("conformance_suite") {
        return;
    }
    let Some(dir) = yardsticks() else {
        eprintln!("skipped: conformance_suite needs runtime-tools.sh (set OCI_YARDSTICKS)");
        return;
    };
    let out = Command::new(dir.join("runtime-tools.sh"))
        .arg(Runtime::bin())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && !text.contains(" passed, ") {
        eprintln!(
            "skipped: conformance_suite: the suite could not be built (no Go?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    eprintln!("{text}");
    let (passed, _) = counts(&text);
    let failed: Vec<&str> = MUST_PASS
        .iter()
        .copied()
        .filter(|t| {
            !text
                .lines()
                .any(|l| l.split_whitespace().take(2).eq(["PASS", t]))
        })
        .collect();
    assert!(failed.is_empty(), "these must pass: {failed:?}\n{text}");
    // 42 pass every time; `poststart` races (the hook against the container's own
    // write, as for runc) and passes most runs.
    assert!(passed >= 42, "{passed} of 58 passed\n{text}");
}

fn clients(part: &str, tools: &[&str]) {
    if !can_run(part) {
        return;
    }
    let Some(dir) = yardsticks() else {
        eprintln!("skipped: clients {part} needs clients.sh (set OCI_YARDSTICKS)");
        return;
    };
    if let Some(t) = tools.iter().find(|t| !have(t)) {
        eprintln!("skipped: clients {part} needs {t}");
        return;
    }
    let fixtures = test_support::Fixtures::shared();
    // Short: podman refuses a run root longer than 50 characters.
    let state = tempfile::Builder::new()
        .prefix("mrc-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let out = Command::new(dir.join("clients.sh"))
        .arg(Runtime::bin())
        .arg(part)
        .env("IMAGE", fixtures.busybox.reference.to_string())
        .env("OCI_CLIENTS_DIR", state.path())
        .output()
        .unwrap();
    remove_client_cgroups();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let (passed, failed) = counts(&text);
    assert_eq!(failed, 0, "{text}");
    assert!(passed > 0, "{text}");
}

/// The parent cgroups the clients name (containerd's namespace `oci-clients`, podman's
/// `libpod_parent`): made on the way to the containers' own, left empty after them.
/// Only empty directories are removed.
fn remove_client_cgroups() {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut hierarchies: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    hierarchies.push(PathBuf::from("/sys/fs/cgroup"));
    for h in hierarchies {
        for d in ["libpod_parent/conmon", "libpod_parent", "oci-clients"] {
            let _ = std::fs::remove_dir(h.join(d));
        }
    }
}

#[test]
fn containerd_drives_it() {
    clients("ctr", &["ctr", "containerd"]);
}

#[test]
fn podman_drives_it() {
    clients("podman", &["podman", "conmon"]);
}
