//! Checks of writable layers: their lifecycle, the mounts contract, host mounts, changes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::{Ctx, Fail, ensure, need_root};
use crate::error::{Error, ErrorKind};
use crate::testing::{
    LayerTar, assert_fixture_semantics, assert_same_tree, diff_id, fixture_layers,
};

fn not_found<T: std::fmt::Debug>(r: crate::Result<T>, what: &str) -> Result<(), Fail> {
    match r {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(Fail::Failed(format!(
            "{what}: want NotFound, got {other:?}"
        ))),
    }
}

/// A writable layer is created once, on a committed layer only; removing it twice is
/// fine; disposable needs the layer.
pub(super) fn create_remove(ctx: &mut Ctx) -> Result<(), Fail> {
    let top = ctx.apply(&fixture_layers())?;
    let d = ctx.driver.clone();
    let id = ctx.new_id(&d);
    d.create_writable(&id, top.as_ref())?;
    ensure(d.create_writable(&id, top.as_ref()).is_err(), || {
        "created the same writable layer twice".into()
    })?;
    d.set_disposable(&id)?;
    let missing = diff_id(b"no such layer");
    let other = ctx.new_id(&d);
    not_found(
        d.create_writable(&other, Some(&missing)),
        "create on a missing layer",
    )?;
    not_found(d.mounts(&other), "mounts of a failed create")?;
    d.remove_writable(&id)?;
    d.remove_writable(&id)?;
    not_found(d.mounts(&id), "mounts after remove")?;
    not_found(d.changes(&id, &mut Vec::new()), "changes after remove")?;
    d.create_writable(&id, top.as_ref())?;
    d.remove_writable(&id)?;
    d.remove_writable("never-created")?;
    Ok(())
}

/// A layer created disposable gives the image like any other, refuses a second create
/// of its ID, and goes with `remove_writable`.
pub(super) fn disposable_layer(ctx: &mut Ctx) -> Result<(), Fail> {
    need_root()?;
    let layers = fixture_layers();
    let reference = ctx.reference_root(&layers)?;
    let top = ctx.apply(&layers)?;
    let d = ctx.driver.clone();
    let id = ctx.new_id(&d);
    d.create_disposable(&id, top.as_ref())?;
    ensure(d.create_writable(&id, top.as_ref()).is_err(), || {
        "created a writable layer over a disposable one".into()
    })?;
    mount_and_compare(&d.mounts(&id)?, &ctx.dir.join("disposable"), &reference)?;
    d.remove_writable(&id)?;
    not_found(d.mounts(&id), "mounts of a removed disposable layer")?;
    Ok(())
}

/// IDs that are not safe file names are refused by every method taking one.
pub(super) fn invalid_ids(ctx: &mut Ctx) -> Result<(), Fail> {
    let d = ctx.driver.clone();
    let long = "x".repeat(129);
    for id in ["", "../escape", ".hidden", "a/b", long.as_str()] {
        let invalid = |r: Result<(), Error>, what: &str| match r {
            Err(Error::InvalidId { .. }) => Ok(()),
            other => Err(Fail::Failed(format!("{what}({id:?}): {other:?}"))),
        };
        invalid(d.create_writable(id, None), "create_writable")?;
        invalid(d.mounts(id).map(|_| ()), "mounts")?;
        invalid(d.mount(id).map(|_| ()), "mount")?;
        invalid(d.unmount(id), "unmount")?;
        invalid(d.changes(id, &mut Vec::new()), "changes")?;
        invalid(d.remove_writable(id), "remove_writable")?;
    }
    let escaped = ctx.dir.parent().map(|p| p.join("escape"));
    ensure(escaped.is_none_or(|p| !p.exists()), || {
        "an ID escaped".into()
    })
}

/// Absolute paths named by a mount: its source and the directories in its options
/// (`key=/dir` values, `:`-separated lists, aufs' `=rw`/`=ro+wh` suffixes).
fn paths_of(m: &Mount) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = m
        .source()
        .iter()
        .filter(|s| s.is_absolute())
        .cloned()
        .collect();
    for o in m.options().iter().flatten() {
        let Some((_, value)) = o.split_once(['=', ':']) else {
            continue;
        };
        let value = value
            .replace("\\:", "\u{0}")
            .replace("\\,", ",")
            .replace("\\\\", "\\");
        for part in value.split(':') {
            let part = part.replace('\u{0}', ":");
            let part = part.split('=').next().unwrap_or("");
            if part.starts_with('/') {
                out.push(PathBuf::from(part));
            }
        }
    }
    out
}

fn mountinfo_lines() -> usize {
    fs::read_to_string("/proc/self/mountinfo").map_or(0, |s| s.lines().count())
}

/// `mounts()` is data: the rootfs mount has destination `/`, a type and options, names
/// only absolute paths that exist, does not change between calls and mounts nothing.
pub(super) fn mounts_data_shape(ctx: &mut Ctx) -> Result<(), Fail> {
    let top = ctx.apply(&fixture_layers())?;
    let d = ctx.driver.clone();
    let id = ctx.new_id(&d);
    d.create_writable(&id, top.as_ref())?;
    let before = mountinfo_lines();
    let mounts = d.mounts(&id)?;
    ensure(mountinfo_lines() == before, || {
        "mounts() mounted something".into()
    })?;
    let first = mounts.first().ok_or("no mounts")?;
    ensure(first.destination() == Path::new("/"), || {
        format!("first destination {:?}, want /", first.destination())
    })?;
    for m in &mounts {
        ensure(m.destination().is_absolute(), || {
            format!("relative destination in {m:?}")
        })?;
        ensure(m.typ().as_deref().is_some_and(|t| !t.is_empty()), || {
            format!("no type in {m:?}")
        })?;
        ensure(m.options().is_some(), || format!("no options in {m:?}"))?;
        for p in paths_of(m) {
            ensure(p.exists(), || {
                format!("{} named by {m:?} does not exist", p.display())
            })?;
        }
    }
    ensure(d.mounts(&id)? == mounts, || {
        "mounts() changed between calls".into()
    })?;
    d.set_disposable(&id)?;
    let disposable = d.mounts(&id)?;
    ensure(
        disposable.first().map(|m| m.destination().as_path()) == Some(Path::new("/")),
        || "disposable layer's mounts".into(),
    )?;
    Ok(())
}

/// The mounts, performed by the reference performer at a directory of the caller's
/// choice, give the image (same tree as the copy driver's); undoing them leaves the
/// directory empty.
pub(super) fn mounts_performed(ctx: &mut Ctx) -> Result<(), Fail> {
    need_root()?;
    let layers = fixture_layers();
    let reference = ctx.reference_root(&layers)?;
    let top = ctx.apply(&layers)?;
    let d = ctx.driver.clone();
    let id = ctx.new_id(&d);
    d.create_writable(&id, top.as_ref())?;
    let target = ctx.dir.join("performed");
    mount_and_compare(&d.mounts(&id)?, &target, &reference)?;
    ensure(fs::read_dir(&target)?.next().is_none(), || {
        "target not empty after unmount".into()
    })
}

/// Performs `mounts` on a new directory `target`, checks that it shows the fixture
/// image (the same tree as `reference`), and unmounts them again.
fn mount_and_compare(mounts: &[Mount], target: &Path, reference: &Path) -> Result<(), Fail> {
    fs::create_dir(target)?;
    crate::driver::mount_all(mounts, target)?;
    let checked = std::panic::catch_unwind(|| {
        assert_fixture_semantics(target);
        assert_same_tree(target, reference);
    });
    crate::driver::unmount_all(mounts, target)?;
    if let Err(p) = checked {
        std::panic::resume_unwind(p);
    }
    Ok(())
}

/// The host mount gives the image, the same tree as the copy driver's; mounting again
/// changes nothing.
pub(super) fn host_mount_same_tree(ctx: &mut Ctx) -> Result<(), Fail> {
    let layers = fixture_layers();
    let reference = ctx.reference_root(&layers)?;
    let top = ctx.apply(&layers)?;
    let (id, root) = ctx.host_rootfs(top.as_ref())?;
    assert_fixture_semantics(&root);
    assert_same_tree(&root, &reference);
    let again = ctx.driver.mount(&id)?;
    ensure(again == root, || {
        format!("mounted again at {}", again.display())
    })?;
    let at_root = crate::driver::mounts_below_for_tests(&root)
        .iter()
        .filter(|m| *m == &root)
        .count();
    ensure(at_root <= 1, || {
        format!("{at_root} mounts stacked at the rootfs")
    })
}

/// Whiteouts and opaque directories across layers, and changes that delete and replace
/// directories, give the same tree as the copy driver.
pub(super) fn whiteouts_and_opaque(ctx: &mut Ctx) -> Result<(), Fail> {
    let layers = vec![
        LayerTar::new()
            .dir("a", 0o755)
            .file("a/x", b"x", 0o644)
            .dir("a/sub", 0o755)
            .file("a/sub/y", b"y", 0o644)
            .dir("b", 0o755)
            .file("b/z", b"z", 0o644)
            .file("c", b"c", 0o644)
            .finish(),
        LayerTar::new()
            .dir("a", 0o755)
            .opaque("a")
            .file("a/new", b"new", 0o644)
            .whiteout("b")
            .whiteout("c")
            .finish(),
        LayerTar::new()
            .dir("b", 0o700)
            .file("b/w", b"w", 0o644)
            .finish(),
    ];
    let reference = ctx.reference_root(&layers)?;
    let top = ctx.apply(&layers)?;
    let (_, root) = ctx.host_rootfs(top.as_ref())?;
    let names = |p: &Path| -> Result<Vec<String>, Fail> {
        let mut v: Vec<String> = fs::read_dir(p)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    };
    ensure(names(&root.join("a"))? == ["new"], || {
        "opaque directory merged".into()
    })?;
    ensure(names(&root.join("b"))? == ["w"], || {
        "recreated directory merged".into()
    })?;
    ensure(!root.join("c").exists(), || {
        "whited-out file visible".into()
    })?;
    assert_same_tree(&root, &reference);
    Ok(())
}

/// Writes, deletes, renames and mode changes in the rootfs come out of `changes()` as an
/// OCI layer that, applied on the image, reproduces the container's tree.
pub(super) fn changes_reproduce(ctx: &mut Ctx) -> Result<(), Fail> {
    let layers = fixture_layers();
    let top = ctx.apply(&layers)?;
    let d = ctx.driver.clone();
    let (id, root) = ctx.host_rootfs(top.as_ref())?;
    fs::write(root.join("etc/hostname"), b"box\n")?;
    fs::write(root.join("etc/group"), b"root:x:0:\nwheel:x:10:\n")?;
    fs::remove_file(root.join("bin/su"))?;
    fs::remove_dir_all(root.join("opq"))?;
    fs::rename(root.join("etc/new.conf"), root.join("etc/renamed.conf"))?;
    fs::create_dir_all(root.join("var/log"))?;
    fs::write(root.join("var/log/app.log"), b"log")?;
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1770))?;
    std::os::unix::fs::symlink("hostname", root.join("etc/hn"))?;
    fs::remove_dir_all(root.join("f2d"))?;
    fs::create_dir(root.join("f2d"))?;
    fs::write(root.join("f2d/fresh"), b"fresh")?;
    d.unmount(&id)?;
    let mut tar = Vec::new();
    d.changes(&id, &mut tar)?;
    let mut names = Vec::new();
    for e in ::tar::Archive::new(&tar[..]).entries()? {
        let e = e?;
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
        "f2d/fresh",
    ] {
        ensure(names.iter().any(|n| n == want), || {
            format!("{want} missing from {names:?}")
        })?;
    }
    ensure(!names.iter().any(|n| n == "bin/busybox"), || {
        format!("unchanged file in changes: {names:?}")
    })?;
    let mut with_changes = layers.clone();
    with_changes.push(tar);
    let reference = ctx.reference_root(&with_changes)?;
    let root = d.mount(&id)?;
    assert_same_tree(&root, &reference);
    Ok(())
}

/// A writable layer on no image starts empty; its changes are exactly what was written.
pub(super) fn empty_image(ctx: &mut Ctx) -> Result<(), Fail> {
    let d = ctx.driver.clone();
    let (id, root) = ctx.host_rootfs(None)?;
    ensure(fs::read_dir(&root)?.next().is_none(), || {
        "rootfs of no image not empty".into()
    })?;
    fs::write(root.join("hello"), b"hi")?;
    d.unmount(&id)?;
    let mut tar = Vec::new();
    d.changes(&id, &mut tar)?;
    let mut names = Vec::new();
    for e in ::tar::Archive::new(&tar[..]).entries()? {
        names.push(String::from_utf8_lossy(&e?.path_bytes()).into_owned());
    }
    ensure(names == ["hello"], || {
        format!("changes of an empty image: {names:?}")
    })
}

/// `writable_size` counts what the container wrote.
pub(super) fn size_grows(ctx: &mut Ctx) -> Result<(), Fail> {
    let top = ctx.apply(&fixture_layers())?;
    let d = ctx.driver.clone();
    let (id, root) = ctx.host_rootfs(top.as_ref())?;
    let before = d.writable_size(&id)?;
    fs::write(root.join("grown"), vec![7u8; 10_000])?;
    let after = d.writable_size(&id)?;
    ensure(after >= before + 10_000, || {
        format!("size {before} -> {after}")
    })?;
    not_found(
        d.writable_size("never-created"),
        "writable_size of a missing layer",
    )
}

/// Unmounting twice, unmounting what was never mounted, and removing twice are fine; a
/// removed layer leaves no mount.
pub(super) fn idempotent_unmount_remove(ctx: &mut Ctx) -> Result<(), Fail> {
    let top = ctx.apply(&fixture_layers())?;
    let d = ctx.driver.clone();
    let (id, root) = ctx.host_rootfs(top.as_ref())?;
    d.unmount(&id)?;
    d.unmount(&id)?;
    d.unmount("never-created")?;
    d.mount(&id)?;
    d.remove_writable(&id)?;
    d.remove_writable(&id)?;
    let left = crate::driver::mounts_below_for_tests(&ctx.dir);
    ensure(left.is_empty(), || {
        format!("mounts left after remove: {left:?} ({})", root.display())
    })
}
