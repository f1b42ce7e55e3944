//! Writable layers of the previous release (`ROOT/containers/<id>/rw`, mounted at
//! `ROOT/containers/<id>/rootfs`) keep working: laid out here by hand as that release
//! left them, they are moved under the driver's root on first use, an overlay still
//! mounted on them survives the move, and the old mount point is unmounted and removed.
#![allow(clippy::unwrap_used)]
// Tests say on stderr why a part is skipped.
#![allow(clippy::print_stderr)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{apply_all, driver, fixture, is_root};
use oci_spec::runtime::Mount;
use store::Digest;
use store::testing::{assert_fixture_semantics, fixture_layers};

/// Lays out container `id`'s writable layer as the previous release did. Returns the old
/// `rw` directory.
fn old_layout(root: &Path, id: &str, driver: &str, parent: Option<&Digest>) -> PathBuf {
    let cdir = root.join("containers").join(id);
    let rw = cdir.join("rw");
    let dirs: &[&str] = match driver {
        "overlay" => &["upper", "work", "empty"],
        "aufs" => &["diff"],
        _ => &["fs"],
    };
    for d in dirs {
        fs::create_dir_all(rw.join(d)).unwrap();
    }
    if driver != "copy" {
        fs::create_dir_all(cdir.join("rootfs")).unwrap();
    }
    let meta = serde_json::json!({"driver": driver, "parent": parent.map(|p| p.to_string())});
    fs::write(
        rw.join("layer.json"),
        serde_json::to_vec_pretty(&meta).unwrap(),
    )
    .unwrap();
    // Another record the engine keeps there: it must stay.
    fs::write(cdir.join("container.json"), b"{}").unwrap();
    rw
}

/// Unmounts whatever is still mounted below `dir` when dropped (a failed test included).
struct Unmounter(PathBuf);

impl Drop for Unmounter {
    fn drop(&mut self) {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| Path::new(p).starts_with(&self.0))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

fn is_mount_point(p: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(p.to_str().unwrap()))
}

#[test]
fn an_old_overlay_layer_moves_on_first_use() {
    let f = fixture();
    let Some(d) = driver(&f.store, "overlay") else {
        return;
    };
    let _u = Unmounter(f._dir.path().to_path_buf());
    let top = apply_all(&*d, &fixture_layers()).unwrap();
    let root = f.store.root();
    let old = old_layout(root, "old1", "overlay", top.as_ref());
    fs::create_dir_all(old.join("upper/etc")).unwrap();
    fs::write(old.join("upper/etc/hostname"), b"old\n").unwrap();
    fs::create_dir_all(old.join("upper/bin")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        old.join("upper/bin/su"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();

    let mounts = d.mounts("old1").unwrap();
    let new = root.join("layers/overlay/rw/old1");
    assert!(!old.exists(), "old rw moved");
    assert!(new.join("layer.json").is_file());
    assert!(root.join("containers/old1/container.json").is_file());
    let opts = mounts[0].options().clone().unwrap();
    assert!(
        opts.contains(&format!("upperdir={}", new.join("upper").display())),
        "{opts:?}"
    );
    let rootfs = d.mount("old1").unwrap();
    assert!(rootfs.starts_with(&new));
    assert_eq!(fs::read(rootfs.join("etc/hostname")).unwrap(), b"old\n");
    assert!(
        !rootfs.join("bin/su").exists(),
        "the old whiteout still hides"
    );
    d.unmount("old1").unwrap();
    let mut tar = Vec::new();
    d.changes("old1", &mut tar).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    assert!(names.contains(&"etc/hostname".to_owned()), "{names:?}");
    assert!(names.contains(&"bin/.wh.su".to_owned()), "{names:?}");
    d.remove_writable("old1").unwrap();
    assert!(!new.exists());
    assert!(
        !root.join("containers/old1/rootfs").exists(),
        "old mount point removed"
    );
    assert!(root.join("containers/old1/container.json").is_file());
}

/// The overlay the previous release mounted at `ROOT/containers/<id>/rootfs`.
fn old_mount(root: &Path, top: &Digest, id: &str) -> Mount {
    let layers = root.join("layers/overlay");
    let lower: Vec<String> = store::driver::OverlayDriver::new(store::driver::DriverPaths {
        root: layers.clone(),
        tmp: root.join("tmp"),
        locks: root.join("locks"),
        legacy_containers: None,
    })
    .unwrap()
    .lowerdir(top)
    .unwrap()
    .split(':')
    .map(|l| layers.join(l).display().to_string())
    .collect();
    let rw = root.join("containers").join(id).join("rw");
    let mut m = Mount::default();
    m.set_destination("/".into());
    m.set_typ(Some("overlay".into()));
    m.set_source(Some("overlay".into()));
    m.set_options(Some(vec![
        format!("lowerdir={}", lower.join(":")),
        format!("upperdir={}", rw.join("upper").display()),
        format!("workdir={}", rw.join("work").display()),
    ]));
    m
}

#[test]
fn a_live_old_mount_survives_the_move_and_is_unmounted() {
    if !is_root() {
        eprintln!("skipped: a_live_old_mount_survives_the_move_and_is_unmounted: needs root");
        return;
    }
    let f = fixture();
    let Some(d) = driver(&f.store, "overlay") else {
        return;
    };
    let _u = Unmounter(f._dir.path().to_path_buf());
    let top = apply_all(&*d, &fixture_layers()).unwrap().unwrap();
    let root = f.store.root();
    old_layout(root, "live", "overlay", Some(&top));
    let old_rootfs = root.join("containers/live/rootfs");
    let m = old_mount(root, &top, "live");
    store::driver::mount_all(std::slice::from_ref(&m), &old_rootfs).unwrap();
    assert_fixture_semantics(&old_rootfs);
    fs::write(old_rootfs.join("before"), b"1").unwrap();

    // First use by this release: the layer moves under the running container.
    let size = d.writable_size("live").unwrap();
    assert!(size >= 1, "{size}");
    let new = root.join("layers/overlay/rw/live");
    assert!(!root.join("containers/live/rw").exists());
    fs::write(old_rootfs.join("after"), b"2").unwrap();
    assert_eq!(fs::read(new.join("upper/before")).unwrap(), b"1");
    assert_eq!(fs::read(new.join("upper/after")).unwrap(), b"2");
    assert!(is_mount_point(&old_rootfs));

    // Unmounting the container unmounts the old mount point too.
    d.unmount("live").unwrap();
    assert!(!is_mount_point(&old_rootfs));
    let rootfs = d.mount("live").unwrap();
    assert_eq!(fs::read(rootfs.join("after")).unwrap(), b"2");
    d.remove_writable("live").unwrap();
    assert!(!new.exists() && !old_rootfs.exists());
}

#[test]
fn an_old_copy_layer_moves_and_other_drivers_leave_it() {
    let f = fixture();
    let copy = driver(&f.store, "copy").unwrap();
    let aufs = store::driver::by_name(&f.store, "aufs").unwrap();
    let top = apply_all(&*copy, &fixture_layers()).unwrap();
    let root = f.store.root();
    let old = old_layout(root, "oldcopy", "copy", top.as_ref());
    fs::write(old.join("fs/hello"), b"hi").unwrap();
    // Not the aufs driver's layer: it is neither taken nor found.
    let e = aufs.mounts("oldcopy").unwrap_err();
    assert_eq!(e.kind(), store::ErrorKind::NotFound, "{e}");
    aufs.remove_writable("oldcopy").unwrap();
    assert!(old.join("fs/hello").is_file());

    let rootfs = copy.mount("oldcopy").unwrap();
    assert_eq!(rootfs, root.join("layers/copy/rw/oldcopy/fs"));
    assert_eq!(fs::read(rootfs.join("hello")).unwrap(), b"hi");
    assert!(!old.exists());
    let mounts = copy.mounts("oldcopy").unwrap();
    assert_eq!(mounts[0].source().as_deref(), Some(rootfs.as_path()));
    copy.remove_writable("oldcopy").unwrap();
    assert!(!rootfs.exists());
}

#[test]
fn old_aufs_and_disposable_layers_move_with_their_marks() {
    let f = fixture();
    let root = f.store.root();
    // aufs: no kernel support is needed to describe the mounts.
    let aufs = store::driver::by_name(&f.store, "aufs").unwrap();
    let top = apply_all(&*aufs, &fixture_layers()).unwrap();
    let old = old_layout(root, "oldaufs", "aufs", top.as_ref());
    fs::write(old.join("diff/.wh.etc"), b"").unwrap();
    let mounts = aufs.mounts("oldaufs").unwrap();
    let br = &mounts[0].options().as_ref().unwrap()[0];
    let new_diff = root.join("layers/aufs/rw/oldaufs/diff");
    assert!(
        br.starts_with(&format!("br:{}=rw:", new_diff.display())),
        "{br}"
    );
    assert!(new_diff.join(".wh.etc").is_file());
    aufs.remove_writable("oldaufs").unwrap();

    // A disposable overlay layer keeps its mark: it still mounts volatile.
    let overlay = store::driver::by_name(&f.store, "overlay").unwrap();
    let old = old_layout(root, "olddisp", "overlay", None);
    fs::write(old.join("disposable"), b"").unwrap();
    let opts = overlay.mounts("olddisp").unwrap()[0]
        .options()
        .clone()
        .unwrap();
    let volatile_kernel = {
        let r = rustix::system::uname();
        let rel = r.release().to_string_lossy().into_owned();
        let mut v = rel.split(|c: char| !c.is_ascii_digit());
        let major: u32 = v.next().unwrap().parse().unwrap();
        let minor: u32 = v.next().unwrap().parse().unwrap();
        (major, minor) >= (5, 10)
    };
    assert_eq!(
        opts.contains(&"volatile".to_owned()),
        volatile_kernel,
        "{opts:?}"
    );
    assert!(
        opts[0].ends_with("/layers/overlay/rw/olddisp/empty"),
        "{opts:?}"
    );
    overlay.remove_writable("olddisp").unwrap();
}

#[test]
fn concurrent_first_uses_migrate_once() {
    let f = fixture();
    let root = f.store.root().to_path_buf();
    old_layout(&root, "race", "copy", None);
    fs::write(root.join("containers/race/rw/fs/x"), b"x").unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = f.store.clone();
                s.spawn(move || {
                    let d = store::driver::by_name(&store, "copy").unwrap();
                    d.mount("race")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        let p = r.unwrap();
        assert_eq!(fs::read(p.join("x")).unwrap(), b"x");
    }
    assert!(!root.join("containers/race/rw").exists());
    let d = store::driver::by_name(&f.store, "copy").unwrap();
    d.remove_writable("race").unwrap();
}

#[test]
fn a_corrupt_old_record_is_reported() {
    let f = fixture();
    let root = f.store.root();
    let old = old_layout(root, "corrupt", "overlay", None);
    fs::write(old.join("layer.json"), b"{not json").unwrap();
    let d = store::driver::by_name(&f.store, "overlay").unwrap();
    let e = d.mounts("corrupt").unwrap_err();
    assert!(matches!(e, store::Error::CorruptRecord { .. }), "{e}");
    assert!(old.is_dir(), "left in place");
}

#[test]
fn a_new_layer_never_touches_the_containers_directory() {
    let f = fixture();
    let d = driver(&f.store, "copy").unwrap();
    let top = apply_all(&*d, &fixture_layers()).unwrap();
    let cdir = f.store.containers_dir().join("fresh");
    // The caller's own rootfs directory for the container.
    fs::create_dir_all(cdir.join("rootfs")).unwrap();
    d.create_writable("fresh", top.as_ref()).unwrap();
    d.mount("fresh").unwrap();
    d.unmount("fresh").unwrap();
    d.remove_writable("fresh").unwrap();
    assert!(cdir.join("rootfs").is_dir());
    assert_eq!(fs::read_dir(&cdir).unwrap().count(), 1);
}

#[test]
fn a_moved_layer_whose_container_the_old_release_removed_is_collected() {
    let f = fixture();
    let d = driver(&f.store, "copy").unwrap();
    let root = f.store.root();
    old_layout(root, "gone", "copy", None);
    d.mounts("gone").unwrap();
    let moved = root.join("layers/copy/rw/gone");
    assert!(moved.is_dir());
    // The earlier release's monitor removes its `--rm` container: its removal looks for
    // the layer in the old place only, then removes the container's directory.
    fs::remove_dir_all(root.join("containers/gone")).unwrap();
    // A layer moved whose container still exists, and one of this release, are kept.
    old_layout(root, "alive", "copy", None);
    d.mounts("alive").unwrap();
    d.create_writable("fresh", None).unwrap();
    d.create_writable("next", None).unwrap();
    assert!(!moved.exists(), "orphan collected");
    for id in ["alive", "fresh", "next"] {
        assert!(root.join("layers/copy/rw").join(id).is_dir(), "{id}");
        d.remove_writable(id).unwrap();
    }
}
