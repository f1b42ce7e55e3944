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

#[test]
fn own_cgroup_read_only_at_sys_fs_cgroup() {
    let env = Env::new("cgview");
    let v2 = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - cgroup2 "));
    let (file, limit) = if v2 {
        ("/sys/fs/cgroup/memory.max", "67108864")
    } else {
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "67108864")
    };
    let dir = file.rsplit_once('/').unwrap().0;
    let script = format!(
        "cat {file}; echo x > /sys/fs/cgroup/probe 2>/dev/null && echo writable; \
         cat {dir}/cgroup.procs | wc -l"
    );
    let out = env.stdout(
        &["--network", "none", "--memory", "64m"],
        &["sh", "-c", &script],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], limit, "{out}");
    assert!(!out.contains("writable"), "read-only: {out}");
    // Only the container's own processes (sh, cat, wc) are in the cgroup shown.
    let procs: usize = lines[1].trim().parse().unwrap();
    assert!((1..=4).contains(&procs), "{out}");
    if !v2 {
        // Every controller of the host is there.
        let ls = env.stdout(&["--network", "none"], &["ls", "/sys/fs/cgroup"]);
        for c in ["cpu", "memory", "pids"] {
            assert!(ls.split_whitespace().any(|n| n == c), "{ls}");
        }
    }
    env.assert_clean();
}
