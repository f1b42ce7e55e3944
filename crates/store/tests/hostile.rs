//! The hostile tar corpus, against every driver's layer application: each archive is
//! rejected with an error naming the entry, nothing is written outside (a sentinel
//! directory next to the store is checked), and no partial layer remains.
#![allow(clippy::unwrap_used)]
// Tests say on stderr why a part is skipped.
#![allow(clippy::print_stderr)]

mod common;

use std::fs;

use common::{fixture, is_root};
use store::testing::{LayerTar, diff_id, find_escapes, hostile_layers, snapshot};
use store::{Error, UnpackReason};

#[test]
fn hostile_layers_are_rejected_by_every_driver() {
    let mut ran = 0;
    for name in store::driver::DRIVER_NAMES {
        if name == "overlay" && !is_root() {
            eprintln!("skipped: hostile corpus [overlay]: overlay whiteouts need root");
            continue;
        }
        // A fresh store and sentinel per driver.
        let f = fixture();
        let sentinel = f._dir.path().join("sentinel");
        fs::create_dir(&sentinel).unwrap();
        fs::write(sentinel.join("keep"), b"keep").unwrap();
        let before = snapshot(&sentinel).unwrap();
        let d = store::driver::by_name(&f.store, name).unwrap();
        for case in hostile_layers(&sentinel) {
            let mut parent = None;
            let (hostile, lowers) = case.layers.split_last().unwrap();
            for l in lowers {
                parent = Some(
                    d.apply_layer(parent.as_ref(), &diff_id(l), &mut &l[..])
                        .unwrap()
                        .chain_id,
                );
            }
            let did = diff_id(hostile);
            let chain = store::chain_id(parent.as_ref(), &did).unwrap();
            let err = d
                .apply_layer(parent.as_ref(), &did, &mut &hostile[..])
                .expect_err(&format!("[{name}] {}: accepted", case.name));
            match &err {
                Error::Unpack { entry, reason } => {
                    assert!(
                        entry.contains(case.entry),
                        "[{name}] {}: entry {entry:?}, want {:?}",
                        case.name,
                        case.entry
                    );
                    assert!(
                        (case.reason)(reason),
                        "[{name}] {}: reason {reason:?}",
                        case.name
                    );
                    assert!(err.to_string().contains(entry.as_str()));
                }
                other => panic!("[{name}] {}: unexpected error {other}", case.name),
            }
            assert!(
                !d.has_layer(&chain).unwrap(),
                "[{name}] {}: layer committed",
                case.name
            );
            assert_eq!(
                fs::read_dir(f.store.tmp_dir()).unwrap().count(),
                0,
                "[{name}] {}: staging left behind",
                case.name
            );
            assert!(
                !f.store
                    .root()
                    .join("layers")
                    .join(d.name())
                    .join(chain.digest())
                    .exists(),
                "[{name}] {}: partial layer",
                case.name
            );
            let after = snapshot(&sentinel).unwrap();
            assert_eq!(before, after, "[{name}] {}: sentinel changed", case.name);
            let mut escapes = Vec::new();
            find_escapes(f._dir.path(), &mut escapes);
            assert!(
                escapes.is_empty(),
                "[{name}] {}: written outside: {escapes:?}",
                case.name
            );
            ran += 1;
        }
    }
    assert!(ran >= 2 * 19, "ran {ran} cases");
}

#[test]
fn replacing_a_symlink_by_a_directory_never_touches_its_target() {
    // `y -> sentinel` then a directory entry `y/.`: the symlink is replaced by a real
    // directory (as docker and containerd do); the sentinel's mode is untouched.
    let f = fixture();
    let sentinel = f._dir.path().join("sentinel");
    fs::create_dir(&sentinel).unwrap();
    let before = snapshot(&sentinel).unwrap();
    let mode_before = fs::metadata(&sentinel).unwrap();
    let layer = LayerTar::new()
        .symlink("y", sentinel.to_str().unwrap())
        .raw(tar::EntryType::Directory, b"y/.", b"", 0o777, b"")
        .finish();
    let copy = store::driver::by_name(&f.store, "copy").unwrap();
    let info = copy
        .apply_layer(None, &diff_id(&layer), &mut &layer[..])
        .unwrap();
    let y = f
        .store
        .root()
        .join("layers/copy")
        .join(info.chain_id.digest())
        .join("fs/y");
    assert!(fs::symlink_metadata(&y).unwrap().is_dir());
    assert_eq!(snapshot(&sentinel).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&sentinel).unwrap().permissions().mode(),
        mode_before.permissions().mode()
    );
}

#[test]
fn device_nodes_are_refused_when_not_permitted() {
    // As a non-root process would: devices disabled (the corpus covers it for real when
    // the suite runs without root).
    let f = fixture();
    let dest = f._dir.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let layer = LayerTar::new().char_dev("dev/mem", 1, 1, 0o600).finish();
    let mut opts = store::UnpackOptions::new(store::Whiteouts::Delete);
    opts.allow_devices = false;
    let e = store::unpack(&dest, &layer[..], Some(&diff_id(&layer)), &opts).unwrap_err();
    assert!(
        matches!(&e, Error::Unpack { entry, reason: UnpackReason::DeviceNotPermitted } if entry == "dev/mem"),
        "{e}"
    );
    assert!(!dest.join("dev/mem").exists());
}
