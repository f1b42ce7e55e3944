//! Labels: `run/create --label/--label-file`, the image's labels, `ps --filter label=`,
//! `{{.Labels}}`/`{{.Label "k"}}`, `inspect .Config.Labels`; and `--cidfile`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;

fn names(out: &str) -> Vec<&str> {
    let mut v: Vec<&str> = out.lines().collect();
    v.sort_unstable();
    v
}

#[test]
fn labels_from_flags_files_and_images() {
    let env = Env::new("labels");
    let md = &env.md;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels");
    std::fs::write(&file, "# team labels\n\nteam=core\ntier=web\nbare\n").unwrap();
    let file = file.to_string_lossy().into_owned();
    let cg = env.cg.name.as_str();
    md.ok(&[
        "create",
        "--name",
        "l1",
        "--cgroup-parent",
        cg,
        "--label",
        "app=shop",
        "-l",
        "tier=db",
        "--label-file",
        &file,
        &env.image,
        "true",
    ]);
    md.ok(&[
        "create",
        "--name",
        "l2",
        "--cgroup-parent",
        cg,
        "--label",
        "app=blog",
        &env.image,
        "true",
    ]);
    md.ok(&[
        "create",
        "--name",
        "l3",
        "--cgroup-parent",
        cg,
        &env.image,
        "true",
    ]);
    // A flag after the file wins (docker reads the files first).
    let labels = md.ok(&["inspect", "--format", "{{json .Config.Labels}}", "l1"]);
    let v: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"app": "shop", "team": "core", "tier": "db", "bare": ""})
    );
    assert_eq!(
        md.ok(&["inspect", "--format", "{{.Config.Labels}}", "l2"])
            .trim(),
        "map[app:blog]"
    );
    assert_eq!(
        md.ok(&[
            "inspect",
            "--format",
            r#"{{index .Config.Labels "team"}}"#,
            "l1"
        ])
        .trim(),
        "core"
    );
    // ps filters: a key, a key and value, several (all must match), none matching.
    assert_eq!(
        names(&md.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=app",
            "--format",
            "{{.Names}}"
        ])),
        ["l1", "l2"]
    );
    assert_eq!(
        names(&md.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=app=blog",
            "--format",
            "{{.Names}}"
        ])),
        ["l2"]
    );
    assert_eq!(
        names(&md.ok(&[
            "ps",
            "-a",
            "-f",
            "label=app",
            "-f",
            "label=team=core",
            "--format",
            "{{.Names}}"
        ])),
        ["l1"]
    );
    assert!(
        md.ok(&["ps", "-a", "-f", "label=nope", "-q"])
            .trim()
            .is_empty()
    );
    // Formats.
    assert_eq!(
        md.ok(&[
            "ps",
            "-a",
            "-f",
            "name=l1",
            "--format",
            r#"{{.Label "team"}}|{{.Label "none"}}|{{.Labels}}"#
        ])
        .trim(),
        "core||app=shop,bare=,team=core,tier=db"
    );
    let table = md.ok(&[
        "ps",
        "-a",
        "-f",
        "name=l2",
        "--format",
        "table {{.Names}}\t{{.Labels}}",
    ]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("NAMES"), "{table}");
    assert!(lines.next().unwrap().contains("app=blog"), "{table}");

    // The image's labels, under the container's.
    md.ok(&[
        "commit",
        "--change",
        "LABEL team=platform owner=ops",
        "l2",
        "labelled:1",
    ]);
    assert_eq!(
        md.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            "labelled:1"
        ])
        .trim(),
        r#"{"owner":"ops","team":"platform"}"#
    );
    md.ok(&[
        "create",
        "--name",
        "l4",
        "--cgroup-parent",
        cg,
        "--label",
        "team=mine",
        "labelled:1",
        "true",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&md.ok(&["inspect", "--format", "{{json .Config.Labels}}", "l4"]))
            .unwrap();
    assert_eq!(v, serde_json::json!({"owner": "ops", "team": "mine"}));
    assert_eq!(
        names(&md.ok(&[
            "ps",
            "-a",
            "-f",
            "label=owner=ops",
            "--format",
            "{{.Names}}"
        ])),
        ["l4"]
    );

    // Bad input: docker's exit code, nothing created.
    let (code, err) = md.fails(&["create", "--label", "=x", &env.image, "true"]);
    assert_eq!(code, 125, "{err}");
    let (code, _) = md.fails(&[
        "create",
        "--label-file",
        "/no/such/file",
        &env.image,
        "true",
    ]);
    assert_eq!(code, 125);
    let (code, err) = md.fails(&["ps", "-a", "-f", "bogus=1"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        names(&md.ok(&["ps", "-a", "--format", "{{.Names}}"])),
        ["l1", "l2", "l3", "l4"]
    );
    // docker's `ps -l` and `-n N` (the global -l is only valid before the command).
    assert_eq!(md.ok(&["ps", "-l", "-q"]).lines().count(), 1);
    assert_eq!(md.ok(&["ps", "-n", "2", "-q"]).lines().count(), 2);
    assert_eq!(md.ok(&["-l", "error", "ps", "-aq"]).lines().count(), 4);
    for c in ["l1", "l2", "l3", "l4"] {
        md.ok(&["rm", c]);
    }
    md.ok(&["rmi", "labelled:1"]);
    env.assert_clean();
}

#[test]
fn cidfile_is_written_once() {
    let env = Env::new("cidfile");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cid");
    let p = path.to_string_lossy().into_owned();
    let id = env.md.ok(&[
        "create",
        "--cidfile",
        &p,
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "true",
    ]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), id.trim());
    assert_eq!(
        env.md
            .ok(&[
                "inspect",
                "--format",
                "{{.HostConfig.ContainerIDFile}}",
                id.trim()
            ])
            .trim(),
        p
    );
    let (code, err) = env
        .md
        .fails(&["create", "--cidfile", &p, &env.image, "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("Container ID file found"), "{err}");
    assert_eq!(
        env.md.ok(&["ps", "-aq"]).lines().count(),
        1,
        "a refused create made a container"
    );
    env.md.ok(&["rm", id.trim()]);
    env.assert_clean();
}
