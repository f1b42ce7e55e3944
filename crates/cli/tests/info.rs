//! `info` and `version` with docker's sections and `--format` (issue 14).

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Mydocker;

#[test]
fn version_has_client_and_server_sections_and_formats() {
    let md = Mydocker::new();
    let out = md.ok(&["version"]);
    let v = env!("CARGO_PKG_VERSION");
    assert!(
        out.starts_with(&format!("Client:\n Version:           {v}\n")),
        "{out}"
    );
    assert!(
        out.contains("\nServer: mydocker (daemonless)\n Engine:\n"),
        "{out}"
    );
    assert_eq!(
        md.ok(&[
            "version",
            "--format",
            "{{.Client.Version}}|{{.Server.Version}}|{{.Server.Os}}"
        ]),
        format!("{v}|{v}|linux\n")
    );
    let json: serde_json::Value = serde_json::from_str(&md.ok(&["version", "-f", "json"])).unwrap();
    assert_eq!(json["Server"]["Components"][0]["Name"], "Engine");
    let (code, _) = md.fails(&["version", "--format", "{{.Client"]);
    assert_ne!(code, 0);
}

#[test]
fn info_formats_with_dockers_field_names() {
    let md = Mydocker::new();
    let out = md.ok(&[
        "info",
        "--format",
        "{{.Containers}} {{.Images}} {{.OSType}} {{.CgroupDriver}}",
    ]);
    assert_eq!(out, "0 0 linux cgroupfs\n");
    let root = md.ok(&["system", "info", "-f", "{{.DockerRootDir}}"]);
    assert_eq!(root.trim(), md.root().display().to_string());
    let json: serde_json::Value =
        serde_json::from_str(&md.ok(&["info", "--format", "{{json .}}"])).unwrap();
    assert!(json["NCPU"].as_u64().unwrap() >= 1, "{json}");
    assert!(
        ["1", "2"].contains(&json["CgroupVersion"].as_str().unwrap()),
        "{json}"
    );
    // The text layout stays docker's.
    let text = md.ok(&["info"]);
    assert!(
        text.starts_with("Server:\n Containers: 0\n  Running: 0\n"),
        "{text}"
    );
}
