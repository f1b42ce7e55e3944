//! [`DriverPaths`]: the directories a driver is built from.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::store::Store;

/// The directories a storage driver works in. Drivers are built from plain paths (no
/// [`Store`]), so that a store, a test suite or another program can host them.
///
/// `root`, `tmp` and `locks` must be on one filesystem (layers are staged in `tmp` and
/// renamed into `root`). The driver creates the three directories when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverPaths {
    /// The driver's own directory, `ROOT/layers/<driver>` in a store. It holds the
    /// committed layers (`<chain hex>/`), the containers' writable layers (`rw/<id>/`),
    /// their host mount points (`rw/<id>/merged`) and the driver's own records.
    pub root: PathBuf,
    /// Staging (`ROOT/tmp`): entries are named by [`fsutil::temp_name`] and `flock`ed
    /// while in use, so that a clean-up of stale entries (as [`Store::open`] does) can
    /// remove what a crashed process left.
    pub tmp: PathBuf,
    /// Lock files (`ROOT/locks`); may be shared by several drivers (lock names carry the
    /// driver's name).
    pub locks: PathBuf,
    /// Where earlier releases kept containers' writable layers, as `<dir>/<id>/rw`
    /// (`ROOT/containers` in a store): a writable layer of this driver found there is moved
    /// under `root` on first use; for such a layer only,
    /// [`unmount`](super::StorageDriver::unmount) also unmounts the old mount point
    /// (`<dir>/<id>/rootfs`) and [`remove_writable`](super::StorageDriver::remove_writable)
    /// removes that directory. Nothing else under `<dir>` is touched. `None`: nothing to
    /// migrate.
    pub legacy_containers: Option<PathBuf>,
}

impl DriverPaths {
    /// The paths of the driver named `driver` in `store`: `ROOT/layers/<driver>`,
    /// `ROOT/tmp`, `ROOT/locks`, and `ROOT/containers` for migration.
    pub fn in_store(store: &Store, driver: &str) -> DriverPaths {
        DriverPaths {
            root: store.layers_dir(driver),
            tmp: store.tmp_dir(),
            locks: store.locks_dir(),
            legacy_containers: Some(store.containers_dir()),
        }
    }

    /// Paths for a standalone driver under `dir`: `dir/layers`, `dir/tmp`, `dir/locks`,
    /// with no migration.
    pub fn under(dir: impl Into<PathBuf>) -> DriverPaths {
        let dir = dir.into();
        DriverPaths {
            root: dir.join("layers"),
            tmp: dir.join("tmp"),
            locks: dir.join("locks"),
            legacy_containers: None,
        }
    }
}

/// Validates a container ID for use as a directory name.
pub(crate) fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId { id: id.to_owned() })
    }
}
