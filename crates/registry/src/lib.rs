//! OCI Distribution client for mydocker: image references, authentication, manifests and
//! image indexes, platform choice, verified streamed blob download, and push.
//!
//! This crate knows nothing about files on disk or namespaces; callers decide where blobs
//! go. It is synchronous and starts no threads: a [`Client`] is `Send + Sync` and cheap to
//! clone, so callers download several layers at once from threads of their own.
//!
//! ```
//! use registry::{Platform, Reference};
//!
//! let image: Reference = "arm64v8/ubuntu:20.04".parse()?;
//! assert_eq!(image.to_string(), "docker.io/arm64v8/ubuntu:20.04");
//! assert_eq!(image.familiar(), "arm64v8/ubuntu");
//! let platform: Platform = "linux/arm64".parse()?;
//! assert_eq!(platform.to_string(), "linux/arm64/v8");
//! # Ok::<(), registry::ParseError>(())
//! ```
//!
//! Pulling an image: resolve the reference for a platform, then stream each layer (the
//! reader fails at EOF if the digest is wrong, so commit only after a clean EOF).
//!
//! ```no_run
//! use std::io::Read;
//! use registry::{Client, ClientConfig, Platform, Reference};
//!
//! let client = Client::new(ClientConfig::default())?;
//! let image: Reference = "localhost:5000/busybox:latest".parse()?;
//! let resolved = client.resolve(&image, &Platform::host())?;
//! println!("Digest: {}", resolved.digest);
//! let config = client.fetch_blob(&image, resolved.config(), 1 << 20)?;
//! for layer in resolved.layers() {
//!     let mut blob = client.open_blob(&image, layer)?;
//!     std::io::copy(&mut blob, &mut std::io::sink())
//!         .map_err(|e| registry::Error::from_io(e, "reading layer"))?;
//! }
//! # Ok::<(), registry::Error>(())
//! ```

mod auth;
mod blob;
mod client;
mod digest;
mod error;
mod manifest;
mod platform;
mod push;
mod reference;
mod registry_errors;

pub use auth::{Credentials, DockerConfig, auth_key, normalize_server};
pub use blob::BlobReader;
pub use client::{Client, ClientConfig, CredentialSource, MAX_MANIFEST_SIZE};
pub use digest::{DigestHasher, sha256_digest, verify_digest};
pub use error::{Access, Error, ErrorKind};
pub use manifest::{Compression, ManifestKind, RawManifest, ResolvedImage, media_types};
pub use oci_spec::image::{
    Descriptor, Digest, DigestAlgorithm, ImageIndex, ImageManifest, MediaType,
};
pub use platform::Platform;
pub use push::{login, logout};
pub use reference::{
    DEFAULT_TAG, DOCKER_HUB, DOCKER_HUB_API_HOST, DOCKER_HUB_AUTH_KEY, NAME_TOTAL_LENGTH_MAX,
    ParseError, Reference, api_host,
};
pub use registry_errors::{ErrorCode, RegistryErrorEntry, RegistryErrors};
