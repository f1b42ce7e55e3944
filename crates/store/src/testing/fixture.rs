//! A rich fixture image and the semantics any rootfs built from it must show.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::{LayerTar, xattr};

/// A three-layer fixture image exercising layer semantics: deletions, an opaque directory,
/// file->dir and dir->file, delete-and-repopulate in one layer, a file added below a lower
/// directory without its entry, a symlink chain, hard links, setuid/setgid, sticky, fifos,
/// xattrs, owners, and a device node when running as root. Check a rootfs built from it
/// with [`assert_fixture_semantics`].
pub fn fixture_layers() -> Vec<Vec<u8>> {
    let mut l1 = LayerTar::new();
    l1.dir("bin", 0o755)
        .dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
        .file("etc/group", b"root:x:0:\n", 0o644)
        .file("bin/busybox", b"\x7fELF pretend busybox", 0o755)
        .symlink("bin/sh", "busybox")
        .symlink("bin/ash", "sh")
        .symlink("bin/abs", "/bin/busybox")
        .hardlink("bin/busybox-hl", "bin/busybox")
        .file("bin/su", b"setuid", 0o4755)
        .file("bin/sg", b"setgid", 0o2755)
        .dir("tmp", 0o1777)
        .dir("run", 0o755)
        .fifo("run/fifo", 0o600)
        .fifo("fifo2", 0o644)
        .dir("opq", 0o755)
        .file("opq/a", b"a", 0o644)
        .dir("opq/sub", 0o700)
        .file("opq/sub/c", b"c", 0o600)
        .dir("d2f", 0o755)
        .file("d2f/inside", b"x", 0o644)
        .file("f2d", b"file", 0o644)
        .dir("usr", 0o755)
        .dir("usr/lib", 0o755)
        .file("usr/lib/libx.so", b"lib", 0o644)
        .owner(1000, 1000)
        .dir("home", 0o755)
        .file("home/user.txt", b"mine", 0o640)
        .owner(0, 0)
        .xattr("user.mydocker", b"value")
        .file("etc/xattr", b"x", 0o644);
    if rustix::process::geteuid().is_root() {
        l1.dir("dev", 0o755).char_dev("dev/null", 1, 3, 0o666);
    }
    let mut l2 = LayerTar::new();
    l2.whiteout("etc/passwd")
        .dir("opq", 0o755)
        .opaque("opq")
        .file("opq/new", b"new", 0o644)
        .whiteout("d2f")
        .file("d2f", b"now a file", 0o600)
        .dir("f2d", 0o750)
        .file("f2d/inner", b"inner", 0o644)
        .whiteout("usr")
        .file("bin/busybox", b"\x7fELF newer busybox", 0o755)
        .dir("etc", 0o755)
        .file("etc/new.conf", b"conf", 0o600);
    let mut l3 = LayerTar::new();
    l3.file("etc/passwd", b"root:x:0:0:new:/root:/bin/ash\n", 0o644)
        .whiteout("bin/busybox-hl")
        .symlink("opq/link", "../etc/passwd")
        .file("lib64/ld.so", b"ld", 0o755)
        .hardlink("lib64/ld-linux.so", "lib64/ld.so")
        // A file added below a lower directory without an entry for the directory: the
        // directory keeps its lower metadata (1777) in every driver.
        .file("tmp/implicit-parent", b"x", 0o644)
        // Deleted and re-populated in one layer: only the new content remains.
        .whiteout("run")
        .file("run/new", b"new", 0o644)
        .whiteout("home")
        .dir("home", 0o700)
        .file("home/fresh", b"fresh", 0o644);
    vec![l1.finish(), l2.finish(), l3.finish()]
}

/// Asserts what a rootfs of [`fixture_layers`] must contain (panics otherwise).
pub fn assert_fixture_semantics(root: &Path) {
    let read = |p: &str| fs::read(root.join(p)).unwrap();
    assert_eq!(read("etc/passwd"), b"root:x:0:0:new:/root:/bin/ash\n");
    let mut opq: Vec<_> = fs::read_dir(root.join("opq"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    opq.sort();
    assert_eq!(opq, ["link", "new"]);
    assert!(fs::symlink_metadata(root.join("d2f")).unwrap().is_file());
    assert_eq!(read("f2d/inner"), b"inner");
    assert!(!root.join("usr").exists());
    assert!(!root.join("bin/busybox-hl").exists());
    assert_eq!(read("bin/busybox"), b"\x7fELF newer busybox");
    assert_eq!(
        fs::read_link(root.join("bin/ash")).unwrap(),
        Path::new("sh")
    );
    assert_eq!(
        fs::metadata(root.join("bin/su"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        fs::metadata(root.join("tmp")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert!(
        fs::symlink_metadata(root.join("fifo2"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let ld = fs::metadata(root.join("lib64/ld.so")).unwrap();
    let ld2 = fs::metadata(root.join("lib64/ld-linux.so")).unwrap();
    assert_eq!(ld.ino(), ld2.ino(), "hard link kept");
    if rustix::process::geteuid().is_root() {
        let m = fs::metadata(root.join("opq/new")).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0));
        let dev = fs::symlink_metadata(root.join("dev/null")).unwrap();
        assert!(dev.file_type().is_char_device());
        assert_eq!(dev.rdev(), rustix::fs::makedev(1, 3));
        assert_eq!(
            xattr(&root.join("etc/xattr"), "user.mydocker").as_deref(),
            Some(&b"value"[..])
        );
    }
}
