//! The mydocker store: a content-addressed blob store, image records and tags, safe layer
//! unpacking, and the storage drivers (`overlay`, `aufs`, `copy`) behind one trait.
//!
//! This crate knows nothing about HTTP or processes: the registry client hands it
//! `std::io::Read` streams, the CLI decides what to pull and run.
//!
//! # Example: pull, then run
//!
//! ```no_run
//! use store::{LayerSource, NewImage, Store, driver};
//!
//! # fn main() -> store::Result<()> {
//! # let (manifest_bytes, config_bytes): (Vec<u8>, Vec<u8>) = (vec![], vec![]);
//! # let layers: Vec<LayerSource> = vec![];
//! # fn download(_: &LayerSource) -> std::io::Result<std::fs::File> { todo!() }
//! let store = Store::open("/var/lib/mydocker")?;
//! let drv = driver::choose(&store, None)?; // overlay, else aufs, else copy
//! let lease = store.lease()?; // keeps GC away for the whole pull
//! let manifest = store.blobs().write_bytes(&manifest_bytes, None)?;
//! store.blobs().write_bytes(&config_bytes, None)?;
//!
//! // Each layer streams into the blob store and is unpacked as it arrives (layers may be
//! // ingested on several threads at once); commits go base first.
//! let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id.clone()).collect();
//! let chains = store::chain_ids(&diff_ids)?;
//! for (i, layer) in layers.iter().enumerate() {
//!     let parent = i.checked_sub(1).map(|p| &chains[p]);
//!     let (staged, _how) = store.ingest_layer(&*drv, parent, layer, || download(layer))?;
//!     drv.commit_layer(staged)?;
//! }
//! let image = store.add_unpacked_image(&NewImage {
//!     repository: "docker.io/library/busybox".into(),
//!     tag: Some("latest".into()),
//!     repo_digest: Some(manifest.clone()),
//!     manifest_digest: manifest,
//! }, &*drv)?;
//! drop(lease);
//!
//! // Run: a writable layer on the image, and the mounts (data) that make it the
//! // container's rootfs, for the container's init to perform in its own mount namespace.
//! drv.create_writable("c0ffee", image.top_chain_id())?;
//! let mounts = drv.mounts("c0ffee")?;
//! # let _ = mounts;
//! drv.remove_writable("c0ffee")?;
//! # Ok(()) }
//! ```
//!
//! See [`driver`] for the storage driver contract (and [`StorageDriver`] for its mounts),
//! [`Store`] for the on-disk layout and the locking rules, and [`archive`] for `docker
//! save`/`load` archives and OCI layouts. With the `testing` feature, `testing` holds the
//! drivers' conformance suite.

pub mod archive;
mod blob;
mod chain;
mod digest;
pub mod driver;
mod error;
mod files;
mod gc;
mod image;
mod pull;
mod store;
mod sys;
#[cfg(feature = "testing")]
pub mod testing;
mod unpack;

pub use blob::{BlobStore, BlobWriter};
pub use chain::{chain_id, chain_ids};
pub use digest::{DigestMismatchIo, VerifyingReader, parse_sha256, sha256_hex, sha256_of};
pub use driver::{LayerInfo, Staged, StorageDriver};
pub use error::{ArchiveReason, Error, ErrorKind, Result, UnpackReason};
/// The advisory `flock(2)` lock the store takes (from the `fsutil` crate).
pub use fsutil::FileLock;
pub use gc::{DiskUsage, GcReport, RemoveOptions, RemoveReport};
pub use image::{ImageEntry, ImageRecord, LayerRecord, NewImage};
pub use oci_spec::image::Digest;
pub use pull::{Ingested, LayerSource};
pub use store::{Lease, Store};
pub use unpack::{UnpackOptions, UnpackStats, Whiteouts, decompress, unpack};
