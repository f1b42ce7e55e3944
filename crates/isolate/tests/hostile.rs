//! Hostile images: symlinks in the rootfs that point out of it (absolute or
//! `..`-climbing) must never make a mount or a created file land on the host
//! (CVE-2019-16884, CVE-2021-30465 class). Root needed.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::{Rootfs, host_mounts_under, run};
use isolate::{Error, ExitStatus, Stage};

/// A host directory the image tries to reach, with one file to check it stays as is.
struct HostTarget {
    dir: tempfile::TempDir,
}

impl HostTarget {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("isolate-host-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("host-file"), "HOST").unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Nothing was created, removed or mounted in it.
    fn assert_untouched(&self) {
        let names: Vec<_> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            vec!["host-file".to_string()],
            "host directory was modified"
        );
        assert_eq!(
            std::fs::read_to_string(self.path().join("host-file")).unwrap(),
            "HOST"
        );
        assert!(
            host_mounts_under(self.path()).is_empty(),
            "something was mounted on the host"
        );
    }

    /// `../../..` climbing enough to reach / from anywhere, then the host path.
    fn climbing(&self) -> String {
        format!("../../../../../../../../..{}", self.path().display())
    }
}

fn replace_with_symlink(r: &Rootfs, name: &str, target: &str) {
    let p = r.path().join(name.trim_start_matches('/'));
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, &p).unwrap();
}

#[test]
fn proc_symlink_is_refused() {
    let host = HostTarget::new();
    let r = Rootfs::busybox();
    replace_with_symlink(&r, "proc", host.path().to_str().unwrap());
    let err = run(&r.spec(&["true"])).unwrap_err();
    match &err {
        Error::Init(f) => {
            assert_eq!(f.stage, Stage::Mount);
            assert_eq!(f.path.as_deref(), Some(Path::new("/proc")));
            assert_eq!(f.errno, Some(libc::ELOOP), "{f}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.exit_code(), 125);
    host.assert_untouched();
}

#[test]
fn sys_climbing_symlink_is_refused() {
    let host = HostTarget::new();
    let r = Rootfs::busybox();
    replace_with_symlink(&r, "sys", &host.climbing());
    let err = run(&r.spec(&["true"])).unwrap_err();
    assert!(
        matches!(&err, Error::Init(f) if f.stage == Stage::Mount && f.errno == Some(libc::ELOOP)),
        "{err:?}"
    );
    host.assert_untouched();
}

#[test]
fn dev_climbing_symlink_stays_inside() {
    let host = HostTarget::new();
    let r = Rootfs::busybox();
    replace_with_symlink(&r, "dev", &host.climbing());
    let out = run(&r.spec(&[
        "sh",
        "-c",
        "echo x > /dev/null && ls /dev/pts/ptmx /dev/zero && echo ok",
    ]))
    .unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert!(out.stdout.contains("ok"));
    host.assert_untouched();
    // What was created went inside the rootfs, under the path the link names.
    let inside = r.path().join(host.path().strip_prefix("/").unwrap());
    assert!(
        inside.is_dir(),
        "the /dev mount point was created inside the rootfs"
    );
}

#[test]
fn etc_hosts_absolute_symlink_bind_stays_inside() {
    let host = HostTarget::new();
    let r = Rootfs::busybox();
    let target = format!("/../../..{}", host.path().join("host-file").display());
    replace_with_symlink(&r, "etc/hosts", &target);
    let prepared = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(prepared.path(), "127.0.0.1 container\n").unwrap();
    let mut spec = r.spec(&["cat", "/etc/hosts"]);
    spec.mounts_mut()
        .as_mut()
        .unwrap()
        .push(isolate::spec::bind_mount(
            prepared.path(),
            "/etc/hosts",
            true,
        ));
    let out = run(&spec).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(out.stdout, "127.0.0.1 container\n");
    host.assert_untouched();
}

#[test]
fn volume_target_symlink_stays_inside() {
    let host = HostTarget::new();
    let r = Rootfs::busybox();
    replace_with_symlink(&r, "data", host.path().to_str().unwrap());
    let volume = tempfile::tempdir().unwrap();
    std::fs::write(volume.path().join("vol.txt"), "volume").unwrap();
    let mut spec = r.spec(&["sh", "-c", "ls /data; cat /data/vol.txt"]);
    spec.mounts_mut()
        .as_mut()
        .unwrap()
        .push(isolate::spec::bind_mount(volume.path(), "/data", false));
    let out = run(&spec).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(out.stdout, "vol.txt\nvolume");
    host.assert_untouched();
}

#[test]
fn workdir_symlink_stays_inside() {
    let host = HostTarget::new();
    let r = Rootfs::busybox();
    replace_with_symlink(&r, "work", &host.climbing());
    let mut spec = r.spec(&["sh", "-c", "touch made-here && pwd"]);
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_cwd("/work/sub".into());
    let out = run(&spec).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    host.assert_untouched();
    let inside = r
        .path()
        .join(host.path().strip_prefix("/").unwrap())
        .join("sub/made-here");
    assert!(
        inside.is_file(),
        "the workdir was created inside the rootfs"
    );
    assert_eq!(out.stdout.trim(), host.path().join("sub").to_str().unwrap());
}

#[test]
fn dangling_resolv_conf_symlink_is_created_inside() {
    let r = Rootfs::busybox();
    replace_with_symlink(
        &r,
        "etc/resolv.conf",
        "../run/systemd/resolve/stub-resolv.conf",
    );
    let prepared = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(prepared.path(), "nameserver 10.0.0.1\n").unwrap();
    let mut spec = r.spec(&["cat", "/etc/resolv.conf"]);
    spec.mounts_mut()
        .as_mut()
        .unwrap()
        .push(isolate::spec::bind_mount(
            prepared.path(),
            "/etc/resolv.conf",
            true,
        ));
    let out = run(&spec).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(out.stdout, "nameserver 10.0.0.1\n");
    assert!(
        r.path()
            .join("run/systemd/resolve/stub-resolv.conf")
            .is_file()
    );
}
