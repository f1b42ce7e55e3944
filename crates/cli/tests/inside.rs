//! What a container sees of itself (issue 14): supplementary groups from its
//! /etc/group as docker sets them, and its own cgroup, read-only, at /sys/fs/cgroup.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;

#[test]
fn supplementary_groups_from_etc_group() {
    let env = Env::new("groups");
    let dir = tempfile::tempdir().unwrap();
    let group = dir.path().join("group");
    std::fs::write(
        &group,
        "root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nuser:x:1000:\nstaff:x:50:user,root\n",
    )
    .unwrap();
    let bind = format!("{}:/etc/group:ro", group.display());
    let out = env.stdout(&["--network", "none", "-v", &bind], &["id"]);
    assert_eq!(
        out.trim(),
        "uid=0(root) gid=0(root) groups=0(root),10(wheel),50(staff)"
    );
    let out = env.stdout(&["--network", "none", "-v", &bind, "-u", "user"], &["id"]);
    assert_eq!(
        out.trim(),
        "uid=1000(user) gid=1000(user) groups=50(staff),1000(user)"
    );
    // An explicit group: no supplementary groups from the file (docker's rule).
    let out = env.stdout(
        &["--network", "none", "-v", &bind, "-u", "user:daemon"],
        &["id"],
    );
    assert_eq!(out.trim(), "uid=1000(user) gid=1(daemon) groups=1(daemon)");
    env.assert_clean();
}
