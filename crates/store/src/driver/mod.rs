//! Storage drivers: how unpacked layers are kept and turned into a container's rootfs.
//!
//! # Vocabulary
//!
//! - **Layer**: one image layer, unpacked from its tar (a "diff") and read-only once
//!   committed. A layer is stored once per driver and shared by every image containing it.
//! - **Chain ID**: a layer's identity, which covers the layer *and everything below it*
//!   ([`chain_id`](crate::chain_id())): the same diff on another parent is another layer.
//!   Layers live under the driver's root (`ROOT/layers/<driver>/<chain hex>/`) and are
//!   never shared between drivers.
//! - **Writable layer**: a container's private read-write layer on top of an image's top
//!   layer, keyed by container ID (ASCII letters, digits, `_`, `-`, `.`; at most 128 bytes;
//!   not starting with `.`), kept under the driver's root (`ROOT/layers/<driver>/rw/<id>/`).
//! - **Mounts**: the description, as data, of how to assemble a container's rootfs from
//!   its layers ([`StorageDriver::mounts`]). The container's init performs them inside the
//!   container's own mount namespace, so a running container leaves no mount on the host.
//! - **Host mount**: the same mounts performed on the host by the driver itself
//!   ([`StorageDriver::mount`], at `ROOT/layers/<driver>/rw/<id>/merged`), for `export` of
//!   a stopped container and for tests.
//!
//! A driver is built from plain [`DriverPaths`]; [`by_name`] and [`choose`] build one for a
//! [`Store`]. Each driver directory holds only that driver's data: the store's garbage
//! collection is handed the drivers ([`Store::gc`]) and asks each to remove its layers.
//!
//! # Lifecycle
//!
//! ```no_run
//! use store::{Store, driver};
//! # fn main() -> store::Result<()> {
//! # let (tar_stream, diff_ids): (std::fs::File, Vec<store::Digest>) = todo!();
//! let store = Store::open("/var/lib/mydocker")?;
//! let drv = driver::choose(&store, None)?; // overlay, else aufs, else copy
//!
//! // Pull: unpack each layer (possibly several at once, on several threads) ...
//! let staged = drv.stage_layer(None, &diff_ids[0], &mut store::decompress(
//!     "application/vnd.oci.image.layer.v1.tar+gzip", tar_stream)?)?;
//! // ... then commit them base first.
//! let info = drv.commit_layer(staged)?;
//!
//! // Create: a writable layer on the image's top layer ...
//! drv.create_writable("c0ffee", Some(&info.chain_id))?;
//! // ... and the mounts that make it a rootfs, for the container's init to perform (the
//! // overlay driver: one `overlay` mount whose destination `/` is the rootfs).
//! let mounts = drv.mounts("c0ffee")?;
//! assert_eq!(mounts[0].destination(), std::path::Path::new("/"));
//! // ... the container runs ...
//! // Commit: the container's changes as an OCI layer tar.
//! let mut tar = Vec::new();
//! drv.changes("c0ffee", &mut tar)?;
//! // Export of a stopped container: its rootfs mounted on the host.
//! let rootfs = drv.mount("c0ffee")?;
//! # let _ = rootfs;
//! drv.unmount("c0ffee")?;
//! drv.remove_writable("c0ffee")?;
//! # Ok(()) }
//! ```
//!
//! # Concurrent unpacking
//!
//! [`stage_layer`](StorageDriver::stage_layer) may run for several layers of one image at
//! once (one thread each, each fed by its own download stream), before their parents are
//! committed. [`commit_layer`](StorageDriver::commit_layer) must then be called base first:
//! it requires the parent layer to be committed, and it is where a layer is checked against
//! its lowers (a directory the layer created implicitly must not be a symlink or a file in
//! a lower layer). overlay and aufs unpack every layer straight into its own staging
//! directory; copy, whose layers are full flattened trees, unpacks directly only when the
//! parent is already committed, and otherwise spools the (verified) tar to `ROOT/tmp` and
//! unpacks it at commit time.
//!
//! A staged layer holds the layer's lock (`ROOT/locks/layer-<driver>-<hex>.lock`) until it
//! is committed or dropped: another process staging the same layer waits, then finds it
//! present ([`Staged::is_present`]). Dropping a staged layer removes its staging data.
//!
//! # Earlier releases
//!
//! Releases before this one kept writable layers in `ROOT/containers/<id>/rw` and mounted
//! them at `ROOT/containers/<id>/rootfs`. A driver built with
//! [`DriverPaths::legacy_containers`] moves such a layer under its root on first use (any
//! method taking the container's ID), which an overlay still mounted by the earlier
//! release survives; for that layer, [`unmount`](StorageDriver::unmount) also unmounts the
//! old mount point and [`remove_writable`](StorageDriver::remove_writable) removes it.
//! Layers created by this release never touch `ROOT/containers`. Committed layers kept
//! their format.

mod aufs;
mod base;
mod changes;
mod copy;
mod copytree;
mod hostmount;
mod lowers;
mod overlay;
mod paths;
mod staged;
mod writable;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::Digest;
use oci_spec::runtime::Mount;

use crate::error::{Error, Result};
use crate::store::Store;

pub use aufs::{AufsDriver, aufs_mount_options};
pub(crate) use base::Base;
pub use copy::CopyDriver;
pub use hostmount::{mount_all, unmount_all};
pub use overlay::OverlayDriver;
pub use paths::DriverPaths;
pub(crate) use staged::StagedState;
pub use staged::{LayerInfo, Staged};

/// The driver names, in auto-selection order.
pub const DRIVER_NAMES: [&str; 3] = ["overlay", "aufs", "copy"];

/// One storage driver; see the module docs for the vocabulary and the lifecycle.
///
/// Every method may be called from several threads and processes at once for different
/// layers and containers. Methods taking a container ID reject an ID that is not a safe
/// file name ([`Error::InvalidId`]).
///
/// # The mounts contract
///
/// [`mounts`](Self::mounts) describes container `id`'s rootfs as
/// [`oci_spec::runtime::Mount`]s, performed in order by the caller. A mount whose
/// destination is `/` is the rootfs itself: the caller mounts it on the directory it
/// chose as the rootfs (the container's init does so in the container's new mount
/// namespace, before `pivot_root`). Another destination would be a path inside the rootfs
/// (no driver returns one today).
///
/// - The list is data: building it mounts nothing and changes nothing on the host (except
///   moving an earlier release's writable layer into place, see the module docs). It
///   reflects the writable layer as it is now: call it after
///   [`create_writable`](Self::create_writable) and [`set_disposable`](Self::set_disposable).
/// - Paths (sources, directories in options) are absolute. Options are fstab-style: the
///   performer turns `ro`, `rw`, `bind`, `rbind`, `nosuid`, `nodev` and `noexec` into
///   mount flags and passes the others, joined by `,`, as the filesystem's data.
/// - **overlay**: `type=overlay, source=overlay`, options `lowerdir=<dir>:<dir>...` (top
///   first; the driver names its layers by their short links, `<root>/l/<short>`),
///   `upperdir=<dir>`, `workdir=<dir>`, then `redirect_dir=off`, `index=off` and
///   `metacopy=off` where the overlay module has those parameters, and `volatile` for a
///   [disposable](Self::set_disposable) layer on Linux 5.10 or later. `\`, `,` and `:` in
///   a path are escaped with `\`. When the data exceeds a page, the performer changes its
///   working directory to the common parent of the lower directories and names them
///   relative to it (as containerd does); the short links keep that under a page for 120+
///   layers. The kernel refuses to mount an upper directory that was mounted `volatile`
///   before, so a disposable layer is mounted once.
/// - **aufs**: `type=aufs, source=none`, options `br:<rw>=rw:<dir>=ro+wh:...` (every
///   branch, writable first, then top first), `dio`, `xino=/dev/shm/aufs.xino`. When the
///   data exceeds a page, the performer mounts with as many branches as fit and adds the
///   others, in order, by `remount` with `append:<dir>=ro+wh` ([`aufs_mount_options`]).
/// - **copy**: `type=bind, source=<the container's directory>, options=[rbind, rw]`.
///
/// [`mount_all`] is the reference performer (what [`mount`](Self::mount) uses on the
/// host); `store::testing::driver_suite` checks a driver against this contract.
pub trait StorageDriver: Send + Sync + std::fmt::Debug {
    /// The driver's name (`overlay`, `aufs`, `copy`), also its directory under `ROOT/layers`.
    fn name(&self) -> &'static str;

    /// `Ok(())` when this kernel and filesystem can use the driver, else the reason.
    fn supported(&self) -> std::result::Result<(), String>;

    /// Whether the layer with this chain ID is committed.
    fn has_layer(&self, chain_id: &Digest) -> Result<bool>;

    /// Metadata of a committed layer.
    fn layer_info(&self, chain_id: &Digest) -> Result<LayerInfo>;

    /// Unpacks the uncompressed layer tar `tar` (which must hash to `diff_id`; see
    /// [`decompress`](crate::decompress)) as a layer on `parent` (a chain ID, `None` for a
    /// base layer), into staging. The parent need not be committed yet. When the layer is
    /// already present, returns at once without reading `tar`.
    fn stage_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tar: &mut dyn Read,
    ) -> Result<Staged>;

    /// Checks a staged layer against its (committed) parent chain and moves it into place.
    fn commit_layer(&self, staged: Staged) -> Result<LayerInfo>;

    /// [`stage_layer`](Self::stage_layer) then [`commit_layer`](Self::commit_layer).
    fn apply_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tar: &mut dyn Read,
    ) -> Result<LayerInfo> {
        let staged = self.stage_layer(parent, diff_id, tar)?;
        self.commit_layer(staged)
    }

    /// Removes a committed layer (for `rmi`/prune; the caller knows no image uses it). A
    /// missing layer is not an error.
    fn remove_layer(&self, chain_id: &Digest) -> Result<()>;

    /// Creates container `id`'s writable layer on the image's top layer (`None`: empty
    /// image). An error when it exists already.
    fn create_writable(&self, id: &str, image_top: Option<&Digest>) -> Result<()>;

    /// Marks container `id`'s writable layer as disposable: it is removed when the
    /// container ends (`run --rm`) and never survives a crash, so the driver may skip work
    /// done only for durability. Overlay mounts it `volatile` (no sync of the upper
    /// directory at unmount, tens of milliseconds on a busy disk); the default does nothing.
    fn set_disposable(&self, id: &str) -> Result<()> {
        let _ = id;
        Ok(())
    }

    /// Creates a writable layer that is disposable from the start: what
    /// [`create_writable`](Self::create_writable) then
    /// [`set_disposable`](Self::set_disposable) make, but the driver may skip every
    /// `fsync` (overlay does): such a layer is removed when its container ends, and after
    /// a crash of the machine whatever is left of it is a leftover to remove.
    fn create_disposable(&self, id: &str, image_top: Option<&Digest>) -> Result<()> {
        self.create_writable(id, image_top)?;
        self.set_disposable(id)
    }

    /// The mounts that assemble container `id`'s rootfs, performed by the caller; see
    /// [the mounts contract](Self#the-mounts-contract).
    ///
    /// # Errors
    /// [`Error::ContainerLayerNotFound`] when the writable layer does not exist, and I/O
    /// errors reading the layer records.
    fn mounts(&self, id: &str) -> Result<Vec<Mount>>;

    /// Performs [`mounts`](Self::mounts) on the host and returns the rootfs path
    /// (`ROOT/layers/<driver>/rw/<id>/merged`; the copy driver mounts nothing and returns
    /// its directory). Idempotent. For `export` of a stopped container and for tests: a
    /// container's init performs the mounts itself.
    fn mount(&self, id: &str) -> Result<PathBuf>;

    /// Undoes [`mount`](Self::mount) (and, for a layer an earlier release created,
    /// unmounts what it mounted at `ROOT/containers/<id>/rootfs`). Idempotent; not an error
    /// when nothing is mounted.
    fn unmount(&self, id: &str) -> Result<()>;

    /// Writes the writable layer's changes against the image as an OCI layer tar (with
    /// `.wh.` whiteouts and `.wh..wh..opq` markers), e.g. for `commit`. The container
    /// should be stopped (unmounted or quiescent).
    fn changes(&self, id: &str, out: &mut dyn Write) -> Result<()>;

    /// Bytes of the regular files in container `id`'s writable layer (what `container
    /// prune` reports as reclaimed; the copy driver's layer holds the whole rootfs).
    fn writable_size(&self, id: &str) -> Result<u64>;

    /// Removes the writable layer (unmounting the host mount first if needed). Idempotent;
    /// a missing layer is not an error.
    fn remove_writable(&self, id: &str) -> Result<()>;
}

/// A mount with destination `/` (the rootfs).
pub(crate) fn rootfs_mount(typ: &str, source: &str, options: Vec<String>) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from("/"));
    m.set_typ(Some(typ.to_owned()));
    if !source.is_empty() {
        m.set_source(Some(PathBuf::from(source)));
    }
    m.set_options(Some(options));
    m
}

/// Creates the driver called `name` (`overlay2` and `vfs` are accepted as aliases) working
/// in `paths`, without checking support.
pub fn with_paths(name: &str, paths: DriverPaths) -> Result<Arc<dyn StorageDriver>> {
    match name {
        "overlay" | "overlay2" => Ok(Arc::new(OverlayDriver::new(paths)?)),
        "aufs" => Ok(Arc::new(AufsDriver::new(paths)?)),
        "copy" | "vfs" => Ok(Arc::new(CopyDriver::new(paths)?)),
        _ => Err(Error::UnknownDriver {
            name: name.to_owned(),
        }),
    }
}

fn canonical(name: &str) -> &str {
    match name {
        "overlay2" => "overlay",
        "vfs" => "copy",
        n => n,
    }
}

/// Creates a driver of `store` by name without checking support.
pub fn by_name(store: &Store, name: &str) -> Result<Arc<dyn StorageDriver>> {
    let name = canonical(name);
    if !DRIVER_NAMES.contains(&name) {
        return Err(Error::UnknownDriver {
            name: name.to_owned(),
        });
    }
    with_paths(name, DriverPaths::in_store(store, name))
}

/// Every driver of `store` (supported here or not), e.g. for [`Store::gc`].
pub fn all(store: &Store) -> Result<Vec<Arc<dyn StorageDriver>>> {
    DRIVER_NAMES.iter().map(|n| by_name(store, n)).collect()
}

/// Picks the driver: `name` when given (an error when unknown or unsupported here), else
/// the first supported of overlay, aufs, copy.
pub fn choose(store: &Store, name: Option<&str>) -> Result<Arc<dyn StorageDriver>> {
    if let Some(name) = name {
        let d = by_name(store, name)?;
        d.supported().map_err(|reason| Error::DriverUnsupported {
            name: d.name(),
            reason,
        })?;
        return Ok(d);
    }
    for n in DRIVER_NAMES {
        let d = by_name(store, n)?;
        if d.supported().is_ok() {
            return Ok(d);
        }
    }
    // The copy driver is always supported; this is unreachable in practice.
    by_name(store, "copy")
}

/// Writes the whole tree under `root` as a tar (no whiteouts): `export`'s format.
pub(crate) fn tree_tar(root: &Path, out: &mut dyn Write) -> Result<()> {
    changes::diff_trees(None, root, out)
}

pub(crate) fn tree_tar_one_filesystem(root: &Path, out: &mut dyn Write) -> Result<()> {
    changes::tree_one_filesystem(root, out)
}

#[cfg(feature = "testing")]
pub(crate) fn append_pax_for_tests<W: Write>(
    b: &mut tar::Builder<W>,
    records: &[(String, Vec<u8>)],
) -> std::io::Result<()> {
    changes::append_pax(b, records)
}

#[cfg(feature = "testing")]
pub(crate) fn list_xattrs_for_tests(p: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    copytree::list_xattrs(p)
}

#[cfg(feature = "testing")]
pub(crate) fn mounts_below_for_tests(dir: &Path) -> Vec<PathBuf> {
    hostmount::mounts_below(dir)
}

#[cfg(feature = "testing")]
pub(crate) fn unmount_for_tests(target: &Path) -> Result<()> {
    hostmount::unmount_path(target)
}
