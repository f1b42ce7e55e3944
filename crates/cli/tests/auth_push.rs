//! `login`, `logout` and `push` against real registries, cross-checked with skopeo.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.

mod common;

use common::Mydocker;
use std::io::Write;
use std::process::{Command, Stdio};
use test_support::{Fixtures, Registry, RegistryAuth, RegistryOptions};

/// `login --password-stdin` with the right and wrong passwords, what a stored login
/// allows, and `logout`.
#[test]
fn login_logout_against_a_registry_with_basic_auth() {
    let user = registry::Credentials::new("alice", "s3cret-pw");
    let private = Registry::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![user]),
    })
    .unwrap();
    // Put an image there with the harness's own authenticated client.
    let image = Fixtures::shared().busybox.image().clone();
    let reference = private.reference("private/busybox:latest").unwrap();
    image.push(&private.client().unwrap(), &reference).unwrap();

    let md = Mydocker::new();
    let r = reference.to_string();
    let (code, err) = md.fails(&["pull", &r]);
    assert_eq!(code, 1);
    assert!(
        err.to_lowercase().contains("unauthorized") || err.contains("denied"),
        "{err}"
    );

    let login = |password: &str| {
        let mut child = md
            .command(&["login", "-u", "alice", "--password-stdin", private.host()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = login("nope");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        !md.root().join("docker-config/config.json").exists() || {
            let cfg = std::fs::read_to_string(md.root().join("docker-config/config.json")).unwrap();
            !cfg.contains(private.host())
        }
    );
    let ok = login("s3cret-pw");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "Login Succeeded"
    );
    let cfg_path = md.root().join("docker-config/config.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&cfg_path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "credentials are private");

    let out = md.ok(&["pull", &r]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let out = md.ok(&["logout", private.host()]);
    assert!(out.contains("Removing login credentials"), "{out}");
    md.ok(&["rmi", &r]);
    let (code, _) = md.fails(&["pull", &r]);
    assert_eq!(code, 1, "after logout the registry refuses again");
}

/// `push` uploads what `pull` got; another root pulls it back with the same digests, and
/// skopeo (an independent client) reads the same manifest digest.
#[test]
fn push_then_pull_elsewhere_and_skopeo_agrees() {
    let fx = Fixtures::shared();
    let registry = Registry::shared();
    let md = Mydocker::new();
    let src = fx.multilayer.reference.to_string();
    md.ok(&["pull", "-q", &src]);
    let dest = format!("{}/pushed/multilayer:v1", registry.host());
    let (code, err) = md.fails(&["push", &dest]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not exist locally"),
        "not a local image: {err}"
    );

    md.ok(&["tag", &src, &dest]);
    let out = md.ok(&["push", &dest]);
    assert!(out.contains("The push refers to repository"), "{out}");
    for layer in &fx.multilayer.image().layers {
        let short = &layer.digest.digest()[..12];
        assert!(
            out.contains(&format!("{short}: Pushed")),
            "{short} uploaded: {out}"
        );
    }
    let digest = out
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .unwrap()
        .to_owned();
    // skopeo (an independent client) reads back the manifest digest we pushed.
    let skopeo = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{dest}"))
        .output()
        .unwrap();
    assert!(
        skopeo.status.success(),
        "{}",
        String::from_utf8_lossy(&skopeo.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&skopeo.stdout).trim(), digest);
    // A second push finds everything there.
    let again = md.ok(&["push", &dest]);
    assert!(again.contains("Layer already exists"), "{again}");

    let other = Mydocker::new();
    other.ok(&["pull", "-q", &dest]);
    let a = md.ok(&["image", "inspect", "--format", "{{.Id}}", &src]);
    let b = other.ok(&["image", "inspect", "--format", "{{.Id}}", &dest]);
    assert_eq!(a, b, "the pushed image pulls back as the same image");
    let cg = common::CgroupParent::new("push");
    let listed = other.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &cg.name,
        &dest,
        "ls",
        "/",
    ]);
    assert!(listed.contains("bin"), "{listed}");
}
