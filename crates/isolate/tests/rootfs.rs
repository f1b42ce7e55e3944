//! The rootfs assembled inside the container from a storage driver's mounts
//! (`SpawnOptions::rootfs_mounts`): overlay, bind, long lowerdir lists, failures. The
//! host must never see these mounts. Root needed.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::{Guard, host_mounts_under, options, populate_busybox, run_with, spec_at};
use isolate::{Container, Error, ExitStatus, Stage, Stdio};
use oci_spec::runtime::Mount;

/// A directory for layers, upper, work and the mount point, removed when dropped.
struct Layers {
    dir: tempfile::TempDir,
}

impl Layers {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("isolate-test-")
            .tempdir()
            .unwrap();
        Self { dir }
    }

    /// `rel` under the directory, created.
    fn dir(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Nothing is mounted anywhere under the directory, as the host sees it.
    fn assert_no_host_mounts(&self, when: &str) {
        let mounts = host_mounts_under(self.dir.path());
        assert!(mounts.is_empty(), "{when}: the host sees {mounts:?}");
    }
}

fn overlay(lowers: &[PathBuf], upper: &Path, work: &Path) -> Mount {
    let lowerdir: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    let mut m = Mount::default();
    m.set_destination("/".into());
    m.set_typ(Some("overlay".into()));
    m.set_source(Some("overlay".into()));
    m.set_options(Some(vec![
        format!("lowerdir={}", lowerdir.join(":")),
        format!("upperdir={}", upper.display()),
        format!("workdir={}", work.display()),
        "index=off".into(),
    ]));
    m
}

#[test]
fn overlay_rootfs_is_merged_and_private_to_the_container() {
    let l = Layers::new();
    let bottom = l.dir("lower/1");
    populate_busybox(&bottom);
    std::fs::write(bottom.join("etc/which"), "bottom").unwrap();
    let top = l.dir("lower/2");
    std::fs::create_dir(top.join("etc")).unwrap();
    std::fs::write(top.join("etc/which"), "top").unwrap();
    std::fs::write(top.join("only-top"), "T").unwrap();
    let (upper, work, mnt) = (l.dir("upper"), l.dir("work"), l.dir("mnt"));

    let script = "cat /etc/which /only-top; echo; echo new > /written; \
                  echo changed > /etc/which; read -r x || true";
    let spec = spec_at(&mnt, &["sh", "-c", script]);
    let mut opts = options();
    opts.stdin = Stdio::Piped;
    opts.rootfs_mounts = vec![overlay(&[top.clone(), bottom.clone()], &upper, &work)];
    let mut running = Guard(Container::spawn(&spec, opts).unwrap().start().unwrap());
    // The command runs (blocked on stdin): the overlay exists, in its namespace only.
    l.assert_no_host_mounts("while the container runs");
    drop(running.stdin.take());
    let mut out = String::new();
    running
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(running.wait().unwrap(), ExitStatus::Exited(0), "{out}");
    assert_eq!(out, "topT\n");
    l.assert_no_host_mounts("after the run");
    // Writes went to the upper directory; the layers are untouched.
    assert_eq!(
        std::fs::read_to_string(upper.join("written")).unwrap(),
        "new\n"
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("etc/which")).unwrap(),
        "changed\n"
    );
    assert_eq!(
        std::fs::read_to_string(top.join("etc/which")).unwrap(),
        "top"
    );
    assert!(!bottom.join("written").exists() && !top.join("written").exists());
    assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0, "mount point");
}

#[test]
fn overlay_of_125_layers_beyond_a_page_mounts() {
    let l = Layers::new();
    // Long enough names that the absolute lowerdir list exceeds a page.
    let lowers: Vec<PathBuf> = (0..125)
        .map(|i| l.dir(&format!("layers-with-rather-long-names/{i:03}-layer/diff")))
        .collect();
    populate_busybox(&lowers[124]);
    std::fs::write(lowers[0].join("from-the-top"), "0").unwrap();
    std::fs::write(lowers[124].join("from-the-bottom"), "124").unwrap();
    let (upper, work, mnt) = (l.dir("upper"), l.dir("work"), l.dir("mnt"));
    let m = overlay(&lowers, &upper, &work);
    let data_len = m.options().as_ref().unwrap().join(",").len();
    assert!(
        data_len > 4096,
        "the test needs a long lowerdir: {data_len}"
    );

    let spec = spec_at(&mnt, &["cat", "/from-the-top", "/from-the-bottom"]);
    let mut opts = options();
    opts.rootfs_mounts = vec![m];
    let out = run_with(&spec, opts, None).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(out.stdout, "0124");
    l.assert_no_host_mounts("after the run");
}

#[test]
fn bind_rootfs_of_the_copy_driver() {
    let l = Layers::new();
    let tree = l.dir("copy/rootfs");
    populate_busybox(&tree);
    let mnt = l.dir("mnt");
    let mut m = Mount::default();
    m.set_destination("/".into());
    m.set_typ(Some("bind".into()));
    m.set_source(Some(tree.clone()));
    m.set_options(Some(vec!["rbind".into(), "rw".into()]));

    let spec = spec_at(
        &mnt,
        &["sh", "-c", "echo copied > /written; ls /bin/busybox"],
    );
    let mut opts = options();
    opts.rootfs_mounts = vec![m];
    let out = run_with(&spec, opts, None).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(out.stdout, "/bin/busybox\n");
    assert_eq!(
        std::fs::read_to_string(tree.join("written")).unwrap(),
        "copied\n"
    );
    assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0, "mount point");
    l.assert_no_host_mounts("after the run");
}

#[test]
fn a_mount_below_the_root_lands_inside_it() {
    let l = Layers::new();
    let tree = l.dir("rootfs");
    populate_busybox(&tree);
    // The image makes /data a symlink out of the root: the mount must stay inside.
    let outside = l.dir("outside");
    std::os::unix::fs::symlink(&outside, tree.join("data")).unwrap();
    let extra = l.dir("extra");
    std::fs::write(extra.join("file"), "extra").unwrap();
    let mnt = l.dir("mnt");
    let bind = |source: &Path, dest: &str| {
        let mut m = Mount::default();
        m.set_destination(dest.into());
        m.set_typ(Some("bind".into()));
        m.set_source(Some(source.to_path_buf()));
        m.set_options(Some(vec!["rbind".into()]));
        m
    };
    let spec = spec_at(&mnt, &["cat", "/data/file"]);
    let mut opts = options();
    opts.rootfs_mounts = vec![bind(&tree, "/"), bind(&extra, "/data")];
    let out = run_with(&spec, opts, None).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(out.stdout, "extra");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    l.assert_no_host_mounts("after the run");
}

#[test]
fn a_failing_rootfs_mount_is_a_typed_error_and_leaves_nothing() {
    let l = Layers::new();
    let lower = l.dir("lower");
    populate_busybox(&lower);
    let missing = l.dir.path().join("missing-layer");
    let (upper, work, mnt) = (l.dir("upper"), l.dir("work"), l.dir("mnt"));
    let spec = spec_at(&mnt, &["true"]);
    let mut opts = options();
    opts.rootfs_mounts = vec![overlay(&[missing.clone(), lower], &upper, &work)];
    let err = run_with(&spec, opts, None).unwrap_err();
    assert_eq!(err.exit_code(), 125, "{err}");
    let Error::Init(f) = &err else {
        panic!("expected an init failure, got {err:?}")
    };
    assert_eq!(f.stage, Stage::Rootfs, "{err}");
    assert_eq!(f.path.as_deref(), Some(Path::new("/")));
    assert_eq!(f.errno, Some(libc::ENOENT), "{err}");
    assert!(
        f.message
            .contains(&format!("lowerdir {}", missing.display())),
        "{err}"
    );
    l.assert_no_host_mounts("after the failure");
    assert_eq!(std::fs::read_dir(&upper).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0);
}

#[test]
fn rootfs_mounts_are_checked_before_anything_starts() {
    let l = Layers::new();
    let mnt = l.dir("mnt");
    let spec = spec_at(&mnt, &["true"]);
    let mut m = Mount::default();
    m.set_destination("relative".into());
    m.set_typ(Some("overlay".into()));
    let mut opts = options();
    opts.rootfs_mounts = vec![m];
    let err = Container::spawn(&spec, opts).unwrap_err();
    assert!(matches!(err, Error::InvalidSpec { .. }), "{err}");
}
