//! OCI Distribution client for mydocker: image references, authentication, manifests and
//! image indexes, platform choice, verified streamed blob download, and push.
//!
//! This crate knows nothing about files on disk or namespaces; callers decide where blobs go.
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

mod digest;
mod error;
mod platform;
mod reference;

pub use digest::{DigestHasher, sha256_digest, verify_digest};
pub use error::{
    Access, Error, ErrorCode, ErrorKind, ParseError, RegistryErrorEntry, RegistryErrors,
};
pub use oci_spec::image::{Descriptor, Digest, DigestAlgorithm, MediaType};
pub use platform::Platform;
pub use reference::{
    DEFAULT_TAG, DOCKER_HUB, DOCKER_HUB_API_HOST, DOCKER_HUB_AUTH_KEY, NAME_TOTAL_LENGTH_MAX,
    Reference, api_host,
};
