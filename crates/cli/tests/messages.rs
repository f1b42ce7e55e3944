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
