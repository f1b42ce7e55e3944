//! The mydocker store: a content-addressed blob store, image records and tags, safe layer
//! unpacking, and the storage drivers (`overlay`, `aufs`, `copy`) behind one trait.
//!
//! This crate knows nothing about HTTP or processes: the registry client hands it
//! `std::io::Read` streams, the CLI decides what to pull and run.
//!
//! # Example: store a pulled image
//!
//! ```no_run
//! use std::io::Write;
//! use store::{NewImage, Store};
//!
//! # fn main() -> store::Result<()> {
//! let store = Store::open("/var/lib/mydocker")?;
//! let _lease = store.lease()?; // keeps GC away for the whole pull
//! # let (manifest_bytes, config_bytes): (Vec<u8>, Vec<u8>) = (vec![], vec![]);
//! let manifest = store.blobs().write_bytes(&manifest_bytes, None)?;
//! store.blobs().write_bytes(&config_bytes, None)?;
//! // ... for each layer: take store.blobs().lock(&digest), stream into a BlobWriter ...
//! let image = store.add_image(&NewImage {
//!     repository: "docker.io/library/busybox".into(),
//!     tag: Some("latest".into()),
//!     repo_digest: Some(manifest.clone()),
//!     manifest_digest: manifest,
//! })?;
//! println!("{}", image.short_id());
//! # Ok(()) }
//! ```

mod blob;
mod chain;
mod digest;
pub mod driver;
mod error;
mod fsutil;
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
pub use error::{Error, ErrorKind, Result, UnpackReason};
pub use fsutil::FileLock;
pub use image::{ImageEntry, ImageRecord, LayerRecord, NewImage};
pub use oci_spec::image::Digest;
pub use pull::{Ingested, LayerSource};
pub use store::{DiskUsage, GcReport, Lease, RemoveOptions, RemoveReport, Store};
pub use unpack::{UnpackOptions, UnpackStats, Whiteouts, decompress, unpack};
