//! Errors say one thing once, and prune reports as docker's (issue 14).

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Mydocker;

#[test]
fn errors_say_one_thing_once() {
    let md = Mydocker::new();
    let out = md.run(&["push", "nosuch.invalid/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: An image does not exist locally with the tag: nosuch.invalid/x\n"
    );
    // Nothing listens on port 1 of 127.0.0.1.
    let out = md.run(&["pull", "127.0.0.1:1/nothing"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
}

#[test]
fn prune_reports_as_docker() {
    let env = common::Env::new("prune");
    let id = env.md.ok(&[
        "create",
        "--cgroup-parent",
        env.cg.name.as_str(),
        &env.image,
        "true",
    ]);
    let out = env.md.ok(&["container", "prune", "-f"]);
    assert!(
        out.starts_with(&format!(
            "Deleted Containers:\n{}\n\nTotal reclaimed space: ",
            id.trim()
        )),
        "{out}"
    );
    let out = env.md.ok(&["image", "prune", "-a", "-f"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Deleted Images:", "{out}");
    assert!(lines[1].starts_with("untagged: "), "{out}");
    assert!(
        lines.iter().any(|l| l.starts_with("deleted: sha256:")),
        "{out}"
    );
    let total = lines.last().unwrap();
    assert!(total.starts_with("Total reclaimed space: "), "{out}");
    assert_ne!(*total, "Total reclaimed space: 0B", "{out}");
    assert_eq!(lines[lines.len() - 2], "", "{out}");
    // Nothing left: only the total.
    assert_eq!(
        env.md.ok(&["image", "prune", "-a", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    env.assert_clean();
}
