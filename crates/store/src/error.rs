//! The store's error type and its errdefs-style [`ErrorKind`].

use std::io;
use std::path::{Path, PathBuf};

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A coarse classification of an [`Error`], in the spirit of containerd's errdefs. The CLI
/// maps these to messages and exit codes without matching on every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The thing asked for (image, blob, layer) does not exist.
    NotFound,
    /// The input (a digest, a reference, a tar stream) is malformed or hostile.
    InvalidInput,
    /// The operation conflicts with the current state (image in use, ambiguous prefix).
    Conflict,
    /// Content did not match its digest or size.
    DataCorruption,
    /// The kernel or filesystem lacks a required feature.
    Unsupported,
    /// Any other I/O failure.
    Io,
}

/// Why a layer tar entry was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackReason {
    /// The path is absolute or contains `..` components.
    #[error("path escapes the layer root (absolute or contains '..')")]
    PathEscapes,
    /// The path is empty or otherwise unusable.
    #[error("invalid path")]
    InvalidPath,
    /// A parent component of the path is a symlink (planted by this or a lower layer).
    #[error("path goes through symlink {component:?}")]
    ThroughSymlink {
        /// The offending component, relative to the layer root.
        component: String,
    },
    /// A parent component of the path exists and is not a directory.
    #[error("parent {component:?} is not a directory")]
    ParentNotDirectory {
        /// The offending component, relative to the layer root.
        component: String,
    },
    /// A hard link target escapes the layer or was not created by this layer.
    #[error("hard link target {target:?} is not a file of this layer")]
    HardlinkOutside {
        /// The link target as written in the tar.
        target: String,
    },
    /// The hard link target is a directory.
    #[error("hard link target {target:?} is a directory")]
    HardlinkToDirectory {
        /// The link target as written in the tar.
        target: String,
    },
    /// A whiteout names `.`/`..` or an otherwise invalid entry.
    #[error("invalid whiteout")]
    InvalidWhiteout,
    /// The PAX `size` record disagrees with the ustar header size.
    #[error("PAX size {pax} disagrees with header size {header}")]
    PaxSizeMismatch {
        /// Size from the PAX extended header.
        pax: u64,
        /// Size from the ustar header.
        header: u64,
    },
    /// The entry claims an absurd size.
    #[error("entry size {size} exceeds the limit {limit}")]
    AbsurdSize {
        /// The claimed size.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The archive ended inside the entry.
    #[error("archive truncated")]
    Truncated,
    /// Device nodes may only be created by root (CAP_MKNOD).
    #[error("device nodes require root")]
    DeviceNotPermitted,
    /// The tar entry type is not supported in image layers.
    #[error("unsupported entry type {0}")]
    UnsupportedType(u8),
    /// A malformed header field (mode, uid, link name, PAX record).
    #[error("malformed header: {0}")]
    MalformedHeader(String),
    /// A filesystem operation on the entry failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation (e.g. `mkdir`, `write`).
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A digest uses an algorithm other than sha256.
    #[error("unsupported digest {digest}: only sha256 is supported")]
    UnsupportedDigest {
        /// The digest as given.
        digest: String,
    },
    /// Content did not hash to the expected digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was verified (blob, layer diff ID).
        what: &'static str,
        /// The expected digest.
        expected: String,
        /// The digest actually computed.
        actual: String,
    },
    /// A blob is not in the store.
    #[error("blob {digest} not found")]
    BlobNotFound {
        /// The missing blob.
        digest: String,
    },
    /// No image matches the reference.
    #[error("No such image: {reference}")]
    ImageNotFound {
        /// The reference as given.
        reference: String,
    },
    /// An image ID prefix matches several images.
    #[error("ambiguous image ID prefix {prefix}: matches {count} images")]
    AmbiguousImage {
        /// The prefix as given.
        prefix: String,
        /// How many images match.
        count: usize,
    },
    /// The image is used by a container and removal was not forced.
    #[error(
        "conflict: unable to remove image {reference} (must be forced) - image is being used by container {container}"
    )]
    ImageInUse {
        /// The reference as given.
        reference: String,
        /// A container using it.
        container: String,
    },
    /// Removing by ID an image tagged in several repositories needs force.
    #[error(
        "conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories"
    )]
    ImageMultipleRepositories {
        /// The short image ID.
        id: String,
    },
    /// A record on disk could not be parsed.
    #[error("corrupt record {path}: {source}", path = path.display())]
    CorruptRecord {
        /// The record file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// An image record refers to content that is not present.
    #[error("image is incomplete: {what} {digest} is missing")]
    Incomplete {
        /// Kind of content (manifest, config, layer).
        what: &'static str,
        /// Its digest.
        digest: String,
    },
    /// A layer tar entry was rejected.
    #[error("layer entry {entry:?}: {reason}")]
    Unpack {
        /// The entry's path as written in the tar (lossy UTF-8).
        entry: String,
        /// Why it was rejected.
        reason: UnpackReason,
    },
    /// A manifest or image config is malformed.
    #[error("invalid manifest or config: {reason}")]
    InvalidManifest {
        /// What is wrong.
        reason: String,
    },
    /// A layer stream is not a valid tar archive.
    #[error("invalid layer archive: {reason}")]
    InvalidArchive {
        /// What is wrong.
        reason: String,
    },
    /// A layer media type this store cannot decompress.
    #[error("unsupported layer media type {media_type}")]
    UnsupportedMediaType {
        /// The media type.
        media_type: String,
    },
    /// A layer is not present in the driver.
    #[error("layer {chain_id} not found in driver {driver}")]
    LayerNotFound {
        /// The driver name.
        driver: &'static str,
        /// The chain ID.
        chain_id: String,
    },
    /// A container's writable layer is not present.
    #[error("writable layer {id} not found in driver {driver}")]
    ContainerLayerNotFound {
        /// The driver name.
        driver: &'static str,
        /// The container ID.
        id: String,
    },
    /// A storage driver name is unknown.
    #[error("unknown storage driver {name:?} (known: overlay, aufs, copy)")]
    UnknownDriver {
        /// The name as given.
        name: String,
    },
    /// A storage driver cannot be used on this kernel/filesystem.
    #[error("storage driver {name} is not supported here: {reason}")]
    DriverUnsupported {
        /// The driver name.
        name: &'static str,
        /// Why not.
        reason: String,
    },
    /// A mount or unmount failed.
    #[error("{op} {target}: {source}", target = target.display())]
    Mount {
        /// `mount` or `unmount`.
        op: &'static str,
        /// The mount point.
        target: PathBuf,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// An ID (container ID, chain ID) is not a safe file name.
    #[error("invalid id {id:?}")]
    InvalidId {
        /// The ID as given.
        id: String,
    },
    /// An image archive (`docker save` tar, OCI image layout) was rejected.
    #[error("invalid image archive: {reason}")]
    ImageArchive {
        /// Why.
        reason: ArchiveReason,
    },
}

/// Why an image archive ([`crate::archive`]) was rejected. Paths are the archive's own,
/// as written in it (lossy UTF-8).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveReason {
    /// An entry name, link target or manifest path is absolute or climbs out with `..`.
    #[error("path {path:?} escapes the archive (absolute or contains '..')")]
    PathEscapes {
        /// The path as written.
        path: String,
    },
    /// An entry type that image archives never contain (device, fifo, sparse file).
    #[error("entry {path:?} has an unsupported type ({kind})")]
    UnsupportedEntry {
        /// The entry's path.
        path: String,
        /// The tar type.
        kind: String,
    },
    /// A file the manifest or index names is not in the archive.
    #[error("{path:?} is missing from the archive")]
    Missing {
        /// The path (or blob) looked for.
        path: String,
    },
    /// Something is larger than this reader accepts.
    #[error("{what} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// What (e.g. `manifest.json`, `config`).
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Too many entries, images or layers.
    #[error("more than {limit} {what}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Symbolic or hard links loop, or chain deeper than the limit.
    #[error("links loop or nest too deeply at {path:?}")]
    LinkLoop {
        /// Where resolution gave up.
        path: String,
    },
    /// A descriptor's size disagrees with the archive's content.
    #[error("{what} {digest} is {actual} bytes but its descriptor says {expected}")]
    SizeMismatch {
        /// What (manifest, config, layer).
        what: &'static str,
        /// The blob.
        digest: String,
        /// Size in the descriptor.
        expected: u64,
        /// Size in the archive.
        actual: u64,
    },
    /// Neither `manifest.json` (docker save) nor `index.json` (OCI layout) is present.
    #[error("neither manifest.json nor index.json found: not a docker save or OCI layout archive")]
    UnknownFormat,
    /// A compression the reader does not handle (bzip2, xz).
    #[error("{0}-compressed archives are not supported: decompress it first")]
    Compression(&'static str),
    /// The index has no image for this platform.
    #[error("no image for {platform} in {what}")]
    NoMatchingPlatform {
        /// The platform wanted (os/arch).
        platform: String,
        /// The index.
        what: String,
    },
    /// A malformed JSON document or tar stream.
    #[error("{what}: {reason}")]
    Malformed {
        /// The document (e.g. `manifest.json`) or `tar`.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The archive holds no image.
    #[error("it holds no image")]
    Empty,
}

impl From<fsutil::Error> for Error {
    fn from(e: fsutil::Error) -> Self {
        Error::Io {
            op: e.op,
            path: e.path,
            source: e.source,
        }
    }
}

impl Error {
    /// The errdefs-style classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } | Error::Mount { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                io::ErrorKind::Unsupported => ErrorKind::Unsupported,
                _ => ErrorKind::Io,
            },
            Error::Unpack {
                reason: UnpackReason::Io { .. },
                ..
            } => ErrorKind::Io,
            Error::BlobNotFound { .. }
            | Error::ImageNotFound { .. }
            | Error::LayerNotFound { .. }
            | Error::ContainerLayerNotFound { .. } => ErrorKind::NotFound,
            Error::UnsupportedDigest { .. }
            | Error::Unpack { .. }
            | Error::InvalidArchive { .. }
            | Error::InvalidManifest { .. }
            | Error::UnknownDriver { .. }
            | Error::InvalidId { .. }
            | Error::ImageArchive { .. } => ErrorKind::InvalidInput,
            Error::AmbiguousImage { .. }
            | Error::ImageInUse { .. }
            | Error::ImageMultipleRepositories { .. }
            | Error::Incomplete { .. } => ErrorKind::Conflict,
            Error::DigestMismatch { .. } | Error::CorruptRecord { .. } => ErrorKind::DataCorruption,
            Error::UnsupportedMediaType { .. } | Error::DriverUnsupported { .. } => {
                ErrorKind::Unsupported
            }
        }
    }

    pub(crate) fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// Adds path context to `io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e.into()))
    }
}
