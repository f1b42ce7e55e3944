//! `mydocker pull`, `images`, `rmi`, `image inspect` against a real registry (Debian's
//! docker-registry on 127.0.0.1) holding fixture images built from busybox.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::{Mydocker, blob_gets};
use std::time::Duration;
use test_support::{Fixtures, Registry};

fn fixtures() -> &'static Fixtures {
    Fixtures::shared()
}

#[test]
fn every_fixture_pulls_lists_inspects_and_is_removed() {
    let fx = fixtures();
    let md = Mydocker::new();
    for f in fx.all() {
        let reference = f.reference.to_string();
        let out = md.ok(&["pull", &reference]);
        assert!(out.contains(&format!("Digest: {}", f.digest)), "{out}");
        assert!(out.contains("Status: Downloaded newer image for"), "{out}");
        assert!(out.lines().last() == Some(reference.as_str()), "{out}");
        // Every layer got a line, ending in "Pull complete" or, for a layer an earlier
        // fixture shares, "Already exists" (not on a terminal: plain lines).
        let image = f
            .image_for(&registry::Platform::host())
            .unwrap_or_else(|| f.image());
        for layer in &image.layers {
            let short = &layer.digest.digest()[..12];
            assert!(
                out.contains(&format!("{short}: Pull complete"))
                    || out.contains(&format!("{short}: Already exists")),
                "{short} in {out}"
            );
        }
        let id = md.ok(&["image", "inspect", "--format", "{{.Id}}", &reference]);
        assert_eq!(id.trim(), image.config_digest.to_string());
    }
    let listed = md.ok(&["images"]);
    let header = listed.lines().next().unwrap();
    assert!(
        header.starts_with("REPOSITORY") && header.contains("IMAGE ID") && header.ends_with("SIZE")
    );
    for f in fx.all() {
        let repo = f.reference.name();
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(&repo) && l.contains("latest")),
            "{repo} in\n{listed}"
        );
    }
    let ids = md.ok(&["images", "-q"]);
    assert_eq!(
        ids.lines().count(),
        ids.lines().collect::<std::collections::HashSet<_>>().len()
    );
    assert!(ids.lines().all(|l| l.len() == 12));
    let digests = md.ok(&["images", "--digests"]);
    assert!(
        digests.contains(&fx.busybox.digest.to_string()),
        "{digests}"
    );

    for f in fx.all() {
        let out = md.ok(&["rmi", &f.reference.to_string()]);
        assert!(out.contains("Untagged: "), "{out}");
    }
    assert_eq!(md.ok(&["images", "-q"]), "");
    assert!(
        md.files_under("blobs").is_empty(),
        "{:?}",
        md.files_under("blobs")
    );
    // No unpacked layer (chain ID directories) and no overlay short link is left; the
    // short-link dir and the driver's support record stay.
    let left: Vec<_> = std::fs::read_dir(md.root().join("layers/overlay"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "l" && n != "probed-ok")
        .collect();
    assert!(left.is_empty(), "unpacked layers left after rmi: {left:?}");
    let links = std::fs::read_dir(md.root().join("layers/overlay/l")).map_or(0, |d| d.count());
    assert_eq!(links, 0, "overlay short links left after rmi");
}

#[test]
fn pulling_again_downloads_nothing() {
    let fx = fixtures();
    let registry = Registry::shared();
    let md = Mydocker::new();
    let reference = fx.multilayer.reference.to_string();
    md.ok(&["pull", &reference]);
    let layers = &fx.multilayer.image().layers;
    let before: Vec<usize> = layers
        .iter()
        .map(|l| blob_gets(registry, l.digest.as_ref()))
        .collect();
    assert!(
        before.iter().all(|&n| n >= 1),
        "the access log shows the first pull: {before:?}"
    );
    let out = md.ok(&["pull", &reference]);
    assert!(out.contains("Status: Image is up to date for"), "{out}");
    assert!(out.contains("Already exists"), "{out}");
    let after: Vec<usize> = layers
        .iter()
        .map(|l| blob_gets(registry, l.digest.as_ref()))
        .collect();
    assert_eq!(before, after, "a second pull fetched blobs again");
}

#[test]
fn seed_syntax_pulls() {
    let fx = fixtures();
    let md = Mydocker::new();
    let reference = fx.busybox.reference.to_string();
    let out = md.ok(&["pull", "-img", &reference]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert!(md.ok(&["images"]).contains(&fx.busybox.reference.name()));
}

#[test]
fn quiet_pull_prints_only_the_reference() {
    let fx = fixtures();
    let md = Mydocker::new();
    let reference = fx.zstd.reference.to_string();
    assert_eq!(md.ok(&["pull", "-q", &reference]), format!("{reference}\n"));
}

#[test]
fn pull_by_digest_and_platform_choice() {
    let fx = fixtures();
    let md = Mydocker::new();
    let by_digest = format!("{}@{}", fx.busybox.reference.name(), fx.busybox.digest);
    let out = md.ok(&["pull", &by_digest]);
    assert!(
        out.contains(&format!("{}: Pulling from", fx.busybox.digest)),
        "{out}"
    );

    let index = fx.multiarch.reference.to_string();
    md.ok(&["pull", "--platform", "linux/arm64", &index]);
    let arch = md.ok(&["image", "inspect", "--format", "{{.Architecture}}", &index]);
    assert_eq!(arch.trim(), "arm64");
    md.ok(&["pull", "--platform", "linux/amd64", &index]);
    let arch = md.ok(&["image", "inspect", "--format", "{{.Architecture}}", &index]);
    assert_eq!(arch.trim(), "amd64");

    let (code, err) = md.fails(&["pull", "--platform", "linux/s390x", &index]);
    assert_eq!(code, 1);
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
}

#[test]
fn bad_input_gets_one_clear_line_and_leaves_the_store_as_it_was() {
    let fx = fixtures();
    let md = Mydocker::new();
    let host = fx.busybox.reference.registry().to_owned();

    let unknown_tag = format!("{host}/busybox:does-not-exist");
    let (code, err) = md.fails(&["pull", &unknown_tag]);
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("manifest unknown"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let unknown_repo = format!("{host}/no/such/repo:latest");
    let (code, err) = md.fails(&["pull", &unknown_repo]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not exist") || err.to_lowercase().contains("unknown"),
        "{err}"
    );

    let (code, err) = md.fails(&["pull", "Not_A/Valid::Ref"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid reference format"), "{err}");

    // A loopback port that was free a moment ago and is closed again: connection
    // refused (no assumption about which ports the host leaves unused).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .to_string();
    let (code, err) = md.fails(&["pull", &format!("{closed}/busybox:latest")]);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&closed), "{err}");

    assert!(
        md.files_under("blobs").is_empty(),
        "{:?}",
        md.files_under("blobs")
    );
    assert!(
        md.files_under("tmp").is_empty(),
        "{:?}",
        md.files_under("tmp")
    );
    assert_eq!(md.ok(&["images", "-q"]), "");
}

#[test]
fn concurrent_pulls_share_blobs_and_download_each_once() {
    let fx = fixtures();
    let registry = Registry::shared();
    // A repository no other test pulls, so the access log counts only these pulls.
    let client = registry.client().unwrap();
    let reference = registry.reference("concurrent/multilayer:latest").unwrap();
    fx.multilayer.image().push(&client, &reference).unwrap();
    let md = Mydocker::new();
    let r = reference.to_string();
    let children: Vec<_> = (0..4)
        .map(|_| {
            let c = md.command(&["pull", &r]);
            std::thread::spawn(move || common::run_bounded(c, Duration::from_secs(120)))
        })
        .collect();
    for c in children {
        let out = c.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for layer in &fx.multilayer.image().layers {
        let gets = registry
            .log_text()
            .lines()
            .filter(|l| {
                l.contains("GET /v2/concurrent/multilayer/blobs/")
                    && l.contains(&layer.digest.to_string())
            })
            .count();
        assert_eq!(gets, 1, "layer {} downloaded {gets} times", layer.digest);
    }
    assert_eq!(md.ok(&["images", "-q"]).lines().count(), 1);
    assert!(
        md.files_under("tmp").is_empty(),
        "{:?}",
        md.files_under("tmp")
    );
}

/// A pull that runs out of disk space fails with the kernel's message and leaves neither
/// partial blobs nor staging files.
#[test]
fn a_full_disk_fails_cleanly() {
    let fx = fixtures();
    let md = Mydocker::new();
    let small = md.root().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mounting a 1 MiB tmpfs (needs root)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(small.clone());
    let out = common::run_bounded(
        {
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_mydocker"));
            c.arg("--root")
                .arg(&small)
                .args(["pull", &fx.busybox.reference.to_string()]);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    let mut left = Vec::new();
    for sub in ["tmp", "images/by-id"] {
        if let Ok(d) = std::fs::read_dir(small.join(sub)) {
            left.extend(d.flatten().map(|e| e.path()));
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}
