//! Helpers shared by the driver test files.
#![allow(dead_code, clippy::unwrap_used)]
// Tests say on stderr why a driver is skipped.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use store::testing::WritableGuard;
use store::{Digest, StorageDriver, Store, driver};

pub(crate) struct Fixture {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: Store,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("mydocker-store-test")
        .tempdir()
        .unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    Fixture { _dir: dir, store }
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The drivers usable here, printing why others are skipped.
pub(crate) fn drivers(store: &Store, test: &str) -> Vec<Arc<dyn StorageDriver>> {
    let mut out = Vec::new();
    for name in driver::DRIVER_NAMES {
        let d = driver::by_name(store, name).unwrap();
        match d.supported() {
            Ok(()) => out.push(d),
            Err(reason) => eprintln!("{test} [{name}]: skipped: {reason}"),
        }
    }
    out
}

pub(crate) fn driver(store: &Store, name: &str) -> Option<Arc<dyn StorageDriver>> {
    let d = driver::by_name(store, name).unwrap();
    match d.supported() {
        Ok(()) => Some(d),
        Err(reason) => {
            eprintln!("[{name}]: skipped: {reason}");
            None
        }
    }
}

/// Applies layer tars in order; returns the top chain ID.
pub(crate) fn apply_all(
    d: &dyn StorageDriver,
    layers: &[Vec<u8>],
) -> store::Result<Option<Digest>> {
    let mut parent: Option<Digest> = None;
    for l in layers {
        let info = d.apply_layer(parent.as_ref(), &store::testing::diff_id(l), &mut &l[..])?;
        parent = Some(info.chain_id);
    }
    Ok(parent)
}

static IDS: AtomicUsize = AtomicUsize::new(0);

/// A unique container ID for this test process.
pub(crate) fn unique_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        IDS.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates and mounts a writable layer on `top`; the guard unmounts and removes it.
pub(crate) fn rootfs(d: &Arc<dyn StorageDriver>, top: Option<&Digest>) -> (WritableGuard, PathBuf) {
    let id = unique_id(d.name());
    d.create_writable(&id, top).unwrap();
    let guard = WritableGuard {
        driver: d.clone(),
        id: id.clone(),
    };
    let path = d.mount(&id).unwrap();
    (guard, path)
}
