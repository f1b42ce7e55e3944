//! Driver behaviour: overlay/copy equivalence, writable layers and their changes, many
//! layers, concurrent staging, and a cross-check with umoci. Mounts need root; without
//! root the overlay parts print `skipped:` and only the copy driver runs.
#![allow(clippy::unwrap_used)]
// Tests say on stderr why a part is skipped.
#![allow(clippy::print_stderr)]

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{apply_all, driver, drivers, fixture, is_root, rootfs};
use store::testing::{
    LayerTar, assert_fixture_semantics, assert_same_tree, diff_id, fixture_layers, snapshot, xattr,
};
use store::{Digest, StorageDriver};

#[test]
fn every_driver_gives_the_same_tree_as_copy() {
    let f = fixture();
    let layers = fixture_layers();
    let copy = driver(&f.store, "copy").unwrap();
    let copy_top = apply_all(&*copy, &layers).unwrap();
    let (_cg, copy_root) = rootfs(&copy, copy_top.as_ref());
    assert_fixture_semantics(&copy_root);
    let mut compared = 0;
    for d in drivers(&f.store, "equivalence") {
        if d.name() == "copy" {
            continue;
        }
        let top = apply_all(&*d, &layers).unwrap();
        assert_eq!(top, copy_top, "chain IDs do not depend on the driver");
        let (_g, root) = rootfs(&d, top.as_ref());
        assert_fixture_semantics(&root);
        assert_same_tree(&root, &copy_root);
        compared += 1;
    }
    if compared == 0 {
        eprintln!(
            "skipped: every_driver_gives_the_same_tree_as_copy: no mounting driver usable (needs root)"
        );
    }
}

#[test]
fn layers_are_shared_and_keyed_by_driver() {
    let f = fixture();
    let layers = fixture_layers();
    let copy = driver(&f.store, "copy").unwrap();
    let top = apply_all(&*copy, &layers).unwrap().unwrap();
    // Applying again reads nothing and changes nothing.
    let staged = copy
        .stage_layer(None, &diff_id(&layers[0]), &mut std::io::empty())
        .unwrap();
    assert!(staged.is_present());
    let info = copy.layer_info(&top).unwrap();
    assert_eq!(info.diff_id, diff_id(&layers[2]));
    assert!(
        f.store
            .root()
            .join("layers/copy")
            .join(top.digest())
            .is_dir()
    );
    // Another driver does not see the copy driver's layers.
    let aufs = store::driver::by_name(&f.store, "aufs").unwrap();
    assert!(!aufs.has_layer(&top).unwrap());
    // Nothing left in staging.
    assert_eq!(fs::read_dir(f.store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn concurrent_staging_then_ordered_commit() {
    let f = fixture();
    let layers = fixture_layers();
    let diff_ids: Vec<Digest> = layers.iter().map(|l| diff_id(l)).collect();
    let chains = store::chain_ids(&diff_ids).unwrap();
    for d in drivers(&f.store, "concurrent staging") {
        // Stage all layers at once (top first to make parents late), then commit in order.
        let staged: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..layers.len())
                .rev()
                .map(|i| {
                    let (d, l, parent) = (
                        d.clone(),
                        &layers[i],
                        i.checked_sub(1).map(|p| chains[p].clone()),
                    );
                    let did = diff_ids[i].clone();
                    s.spawn(move || d.stage_layer(parent.as_ref(), &did, &mut &l[..]).unwrap())
                })
                .collect();
            let mut v: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            v.reverse();
            v
        });
        for (s, chain) in staged.into_iter().zip(&chains) {
            assert_eq!(s.chain_id(), chain);
            d.commit_layer(s).unwrap();
        }
        let (_g, root) = rootfs(&d, chains.last());
        assert_fixture_semantics(&root);
    }
}

#[test]
fn committing_before_the_parent_fails_cleanly() {
    let f = fixture();
    let layers = fixture_layers();
    let parent = diff_id(&layers[0]);
    for d in drivers(&f.store, "commit order") {
        let s = d
            .stage_layer(Some(&parent), &diff_id(&layers[1]), &mut &layers[1][..])
            .unwrap();
        let chain = s.chain_id().clone();
        let e = d.commit_layer(s).unwrap_err();
        assert_eq!(e.kind(), store::ErrorKind::NotFound, "{}: {e}", d.name());
        assert!(!d.has_layer(&chain).unwrap());
        assert_eq!(
            fs::read_dir(f.store.tmp_dir()).unwrap().count(),
            0,
            "{}",
            d.name()
        );
    }
}

#[test]
fn wrong_diff_id_is_rejected() {
    let f = fixture();
    let layers = fixture_layers();
    for d in drivers(&f.store, "diff id") {
        let e = d
            .apply_layer(None, &diff_id(b"something else"), &mut &layers[0][..])
            .unwrap_err();
        assert!(
            matches!(e, store::Error::DigestMismatch { .. }),
            "{}: {e}",
            d.name()
        );
        assert_eq!(fs::read_dir(f.store.tmp_dir()).unwrap().count(), 0);
    }
}

/// Writes, deletes and renames in a mounted rootfs, then checks the driver's change set.
fn exercise_writable(d: &std::sync::Arc<dyn StorageDriver>, f: &common::Fixture) {
    let layers = fixture_layers();
    let top = apply_all(&**d, &layers).unwrap();
    let (g, root) = rootfs(d, top.as_ref());
    fs::write(root.join("etc/hostname"), b"box\n").unwrap();
    fs::write(root.join("etc/group"), b"root:x:0:\nwheel:x:10:\n").unwrap();
    fs::remove_file(root.join("bin/su")).unwrap();
    fs::remove_dir_all(root.join("opq")).unwrap();
    fs::rename(root.join("etc/new.conf"), root.join("etc/renamed.conf")).unwrap();
    fs::create_dir_all(root.join("var/log")).unwrap();
    fs::write(root.join("var/log/app.log"), b"log").unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1770)).unwrap();
    std::os::unix::fs::symlink("hostname", root.join("etc/hn")).unwrap();
    d.unmount(&g.id).unwrap();

    let mut tar = Vec::new();
    d.changes(&g.id, &mut tar).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let e = e.unwrap();
        names.push(
            String::from_utf8_lossy(&e.path_bytes())
                .trim_end_matches('/')
                .to_owned(),
        );
    }
    for want in [
        "etc/hostname",
        "etc/group",
        "bin/.wh.su",
        ".wh.opq",
        "etc/.wh.new.conf",
        "etc/renamed.conf",
        "var/log/app.log",
        "tmp",
        "etc/hn",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{}: {want} missing from {names:?}",
            d.name()
        );
    }
    assert!(
        !names.iter().any(|n| n == "bin/busybox"),
        "{}: unchanged file in changes: {names:?}",
        d.name()
    );

    // Applying the changes on the image reproduces the container's tree.
    let copy = driver(&f.store, "copy").unwrap();
    let ctop = apply_all(&*copy, &layers).unwrap();
    let info = copy
        .apply_layer(ctop.as_ref(), &diff_id(&tar), &mut &tar[..])
        .unwrap();
    let (_cg, croot) = rootfs(&copy, Some(&info.chain_id));
    let root = d.mount(&g.id).unwrap();
    assert_same_tree(&root, &croot);
}

#[test]
fn writable_layer_changes_reproduce_the_tree() {
    let f = fixture();
    for d in drivers(&f.store, "writable layer") {
        exercise_writable(&d, &f);
    }
}

#[test]
fn overlay_mounts_an_image_of_125_layers() {
    let f = fixture();
    let Some(d) = driver(&f.store, "overlay") else {
        return;
    };
    let layers: Vec<Vec<u8>> = (0..125)
        .map(|i| {
            LayerTar::new()
                .file(&format!("layer{i:03}"), format!("{i}").as_bytes(), 0o644)
                .finish()
        })
        .collect();
    let top = apply_all(&*d, &layers).unwrap();
    let (g, root) = rootfs(&d, top.as_ref());
    for i in [0, 61, 124] {
        assert_eq!(
            fs::read(root.join(format!("layer{i:03}"))).unwrap(),
            format!("{i}").as_bytes()
        );
    }
    assert_eq!(fs::read_dir(&root).unwrap().count(), 125);
    // The mounts name every lower layer by its absolute short link; the options exceed a
    // page and the performer mounted them from the short links' directory.
    let mounts = d.mounts(&g.id).unwrap();
    let opts = mounts[0].options().clone().unwrap();
    let links = f.store.layers_dir("overlay").join("l");
    let lower = opts[0].strip_prefix("lowerdir=").unwrap();
    assert_eq!(lower.split(':').count(), 125);
    assert!(
        lower
            .split(':')
            .all(|l| Path::new(l).parent() == Some(links.as_path())),
        "{lower}"
    );
    assert!(
        opts.join(",").len() > 4096,
        "long enough to need compacting"
    );
    d.unmount(&g.id).unwrap();
    assert!(fs::read_dir(&root).unwrap().next().is_none(), "unmounted");
    // Mounting again works (idempotent mount state).
    d.mount(&g.id).unwrap();
    assert_eq!(fs::read_dir(&root).unwrap().count(), 125);
}

#[test]
fn driver_choice_and_forced_unsupported_driver() {
    let f = fixture();
    let auto = store::driver::choose(&f.store, None).unwrap();
    if is_root() {
        assert_eq!(auto.name(), "overlay");
    }
    let e = store::driver::choose(&f.store, Some("nope")).unwrap_err();
    assert!(matches!(e, store::Error::UnknownDriver { .. }));
    let aufs = store::driver::by_name(&f.store, "aufs").unwrap();
    match aufs.supported() {
        Err(reason) => {
            let e = store::driver::choose(&f.store, Some("aufs")).unwrap_err();
            assert!(
                matches!(e, store::Error::DriverUnsupported { name: "aufs", .. }),
                "{e}"
            );
            assert!(e.to_string().contains(&reason));
            eprintln!("skipped: aufs mount tests: {reason}");
        }
        Ok(()) => {
            store::driver::choose(&f.store, Some("aufs")).unwrap();
        }
    }
}

#[test]
fn aufs_layers_keep_whiteout_files() {
    // Layer storage (no mount) works without kernel aufs: whiteouts stay .wh. files.
    let f = fixture();
    let aufs = store::driver::by_name(&f.store, "aufs").unwrap();
    let layers = fixture_layers();
    let top = apply_all(&*aufs, &layers).unwrap().unwrap();
    let l2 = store::chain_id(Some(&diff_id(&layers[0])), &diff_id(&layers[1])).unwrap();
    let diff = f
        .store
        .root()
        .join("layers/aufs")
        .join(l2.digest())
        .join("diff");
    assert!(diff.join("etc/.wh.passwd").is_file());
    assert!(diff.join("opq/.wh..wh..opq").is_file());
    assert!(diff.join(".wh.usr").is_file());
    assert!(aufs.has_layer(&top).unwrap());
    // A writable layer can be created; mounting says why it cannot work here.
    if aufs.supported().is_err() {
        let id = common::unique_id("aufs");
        aufs.create_writable(&id, Some(&top)).unwrap();
        let _g = store::testing::WritableGuard {
            driver: aufs.clone(),
            id: id.clone(),
        };
        let e = aufs.mount(&id).unwrap_err();
        assert!(matches!(e, store::Error::DriverUnsupported { .. }), "{e}");
        eprintln!("skipped: aufs mount: kernel has no aufs");
    }
}

#[test]
fn overlay_whiteouts_are_native() {
    let f = fixture();
    let Some(d) = driver(&f.store, "overlay") else {
        return;
    };
    let layers = fixture_layers();
    apply_all(&*d, &layers).unwrap();
    let l2 = store::chain_id(Some(&diff_id(&layers[0])), &diff_id(&layers[1])).unwrap();
    let diff = f
        .store
        .root()
        .join("layers/overlay")
        .join(l2.digest())
        .join("diff");
    let wh = fs::symlink_metadata(diff.join("etc/passwd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(
        xattr(&diff.join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!diff.join("opq/.wh..wh..opq").exists());
}

/// Builds an OCI image layout for umoci from the layer tars.
fn oci_layout(dir: &Path, layers: &[Vec<u8>]) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> Digest {
        let d = store::sha256_of(data);
        fs::write(blobs.join(d.digest()), data).unwrap();
        d
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let d = put(l);
        diff_ids.push(d.to_string());
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": l.len()}));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let cd = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = put(&manifest);
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": manifest.len(),
                           "annotations": {"org.opencontainers.image.ref.name": "test"}}],
        }))
        .unwrap(),
    )
    .unwrap();
}

#[test]
fn umoci_unpack_matches_the_copy_driver() {
    if Command::new("umoci").arg("--version").output().is_err() {
        eprintln!("skipped: umoci cross-check: umoci not installed");
        return;
    }
    let f = fixture();
    let layers = fixture_layers();
    let layout = f._dir.path().join("oci");
    oci_layout(&layout, &layers);
    let bundle = f._dir.path().join("bundle");
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack")
        .arg("--image")
        .arg(format!("{}:test", layout.display()));
    if !is_root() {
        cmd.arg("--rootless");
    }
    let out = cmd.arg(&bundle).output().unwrap();
    assert!(
        out.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = driver(&f.store, "copy").unwrap();
    let top = apply_all(&*copy, &layers).unwrap();
    let (_g, root) = rootfs(&copy, top.as_ref());
    let theirs = snapshot(&bundle.join("rootfs")).unwrap();
    let ours = snapshot(&root).unwrap();
    let diff = store::testing::tree_diff(&theirs, &ours);
    assert!(
        diff.is_empty(),
        "umoci vs copy driver:\n{}",
        diff.join("\n")
    );
}

#[test]
fn writable_layer_on_an_empty_image() {
    let f = fixture();
    for d in drivers(&f.store, "empty image") {
        let (g, root) = rootfs(&d, None);
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "{}", d.name());
        fs::write(root.join("hello"), b"hi").unwrap();
        d.unmount(&g.id).unwrap();
        let mut tar = Vec::new();
        d.changes(&g.id, &mut tar).unwrap();
        let names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
            .collect();
        assert_eq!(names, ["hello"], "{}", d.name());
        // Creating it twice is an error; removing it twice is not.
        assert!(d.create_writable(&g.id, None).is_err());
        d.remove_writable(&g.id).unwrap();
        d.remove_writable(&g.id).unwrap();
        assert!(!f.store.layers_dir(d.name()).join("rw").join(&g.id).exists());
        assert!(!f.store.containers_dir().join(&g.id).exists());
    }
}

#[test]
fn a_crashed_unpack_leaves_nothing_and_is_redone() {
    let f = fixture();
    let layers = fixture_layers();
    for d in drivers(&f.store, "crash") {
        // What a process killed mid-unpack leaves: a staging dir named with its (dead) PID.
        let stale = f.store.tmp_dir().join("layer-2147483647-0-0");
        fs::create_dir_all(stale.join("diff/etc")).unwrap();
        fs::write(stale.join("diff/etc/passwd"), b"half").unwrap();
        let chain = diff_id(&layers[0]);
        assert!(
            !d.has_layer(&chain).unwrap(),
            "nothing under the final name"
        );
        let reopened = store::Store::open(f.store.root()).unwrap();
        assert!(!stale.exists(), "stale staging removed on open");
        let d2 = store::driver::by_name(&reopened, d.name()).unwrap();
        d2.apply_layer(None, &chain, &mut &layers[0][..]).unwrap();
        assert!(d.has_layer(&chain).unwrap());
    }
}

#[test]
fn overlay_support_is_probed_once_per_boot() {
    if !is_root() {
        eprintln!("skipped: overlay_support_is_probed_once_per_boot: needs root");
        return;
    }
    let f = fixture();
    let overlay = || store::driver::by_name(&f.store, "overlay").unwrap();
    let marker = f.store.layers_dir("overlay").join("probed-ok");
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    overlay().supported().unwrap();
    assert_eq!(fs::read_to_string(&marker).unwrap().trim(), boot_id.trim());
    // With the record, a later driver does not probe: a probe would fail now, as the
    // store's tmp dir (where it mounts) is a file.
    let tmp = f.store.tmp_dir();
    fs::remove_dir_all(&tmp).unwrap();
    fs::write(&tmp, b"").unwrap();
    overlay().supported().unwrap();
    // A record of another boot is not trusted: the probe runs (and fails here).
    fs::write(&marker, "another-boot\n").unwrap();
    assert!(overlay().supported().is_err());
    assert_eq!(fs::read_to_string(&marker).unwrap(), "another-boot\n");
    fs::remove_file(&tmp).unwrap();
    fs::create_dir(&tmp).unwrap();
    overlay().supported().unwrap();
    assert_eq!(fs::read_to_string(&marker).unwrap().trim(), boot_id.trim());
}

#[test]
fn a_disposable_overlay_layer_mounts_volatile() {
    if !is_root() {
        eprintln!("skipped: a_disposable_overlay_layer_mounts_volatile: needs root");
        return;
    }
    let f = fixture();
    let d = driver(&f.store, "overlay").unwrap();
    let top = apply_all(&*d, &fixture_layers()).unwrap();
    // The mountinfo line of the rootfs (its superblock options hold `volatile`).
    let options = |id: &str| {
        let root = d.mount(id).unwrap();
        let root = root.to_str().unwrap().to_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(root.as_str()))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    d.create_writable("kept", top.as_ref()).unwrap();
    d.create_writable("gone", top.as_ref()).unwrap();
    d.set_disposable("gone").unwrap();
    // Disposable from the start: its record says so (no marker file).
    d.create_disposable("born", top.as_ref()).unwrap();
    let (kept, gone, born) = (options("kept"), options("gone"), options("born"));
    for id in ["kept", "gone", "born"] {
        d.remove_writable(id).unwrap();
    }
    assert!(!kept.contains("volatile"), "{kept}");
    assert!(gone.contains("volatile"), "{gone}");
    assert!(born.contains("volatile"), "{born}");
    assert!(d.set_disposable("never-created").is_err());
}

#[test]
fn overlay_escapes_commas_and_colons_in_its_root() {
    if !is_root() {
        eprintln!("skipped: overlay_escapes_commas_and_colons_in_its_root: needs root");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("mydocker-store-test")
        .tempdir()
        .unwrap();
    let store = store::Store::open(dir.path().join("a,b:c")).unwrap();
    let d = driver(&store, "overlay").unwrap();
    let top = apply_all(&*d, &fixture_layers()).unwrap();
    let (g, root) = rootfs(&d, top.as_ref());
    assert_fixture_semantics(&root);
    let opts = d.mounts(&g.id).unwrap()[0].options().clone().unwrap();
    assert!(opts[1].contains("a\\,b\\:c"), "{opts:?}");
}
