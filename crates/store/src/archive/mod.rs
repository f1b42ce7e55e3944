//! Image archives: `docker save`/`docker load` tars and OCI image layouts, plus the two
//! ways of making a new layer from a tar stream (`commit`, `import`) and the flattened
//! filesystem tar of `export`.
//!
//! # Formats
//!
//! [`save`] writes what `docker save` 25+ writes: both a docker-archive (`manifest.json`
//! with `Config`/`RepoTags`/`Layers`, `repositories`) and an OCI image layout (`oci-layout`,
//! `index.json` with `io.containerd.image.name` and `org.opencontainers.image.ref.name`
//! annotations, `blobs/sha256/<hex>`), sharing one copy of each blob. Layers are stored
//! uncompressed, as docker does, so `Layers` entries hash to the config's diff IDs.
//!
//! [`load`] reads docker-archives of every age (`<id>/layer.tar` with symlinked duplicates,
//! skopeo's `<diff id>.tar`, docker 25's `blobs/sha256`), OCI image layout archives
//! (skopeo's `oci-archive:`), plain or gzip/zstd-compressed, from a file or a pipe.
//!
//! # Hostile input
//!
//! Archives come from anywhere. The reader never creates a file named by the archive: it
//! indexes the tar (entry name -> byte range of the archive file) and reads those ranges.
//! Entry names, link targets and manifest paths that are absolute or contain `..` are
//! rejected; links resolve inside the archive's own namespace with a depth limit; JSON
//! documents, entry counts and layer counts are bounded; every blob is checked against
//! its digest (manifest, config and layer blobs, and each layer's diff ID while it is
//! unpacked by the storage driver's safe unpacker). An archive is checked completely
//! (structure, JSON, metadata digests) before anything is written to the store, and an
//! image is recorded only when all its layers are committed.
//!
//! # Example: save then load
//!
//! ```no_run
//! use store::{Store, archive, driver};
//! # fn main() -> store::Result<()> {
//! let store = Store::open("/var/lib/mydocker")?;
//! let drv = driver::choose(&store, None)?;
//! let image = store.image("docker.io/library/busybox:latest")?;
//! let mut out = std::fs::File::create("/tmp/busybox.tar").map_err(|e| {
//!     store::Error::Io { op: "create", path: "/tmp/busybox.tar".into(), source: e }
//! })?;
//! archive::save(&store, Some(&*drv), &[archive::SaveImage {
//!     image,
//!     names: vec![archive::ImageName::new("docker.io/library/busybox:latest", "busybox:latest")],
//! }], &mut out)?;
//!
//! let file = std::fs::File::open("/tmp/busybox.tar").map_err(|e| {
//!     store::Error::Io { op: "open", path: "/tmp/busybox.tar".into(), source: e }
//! })?;
//! let archive = archive::ArchiveFile::open(&store, file)?;
//! let loaded = archive::load(&store, &*drv, &archive, &archive::LoadOptions {
//!     resolve_name: &|name| Some(("docker.io/library/busybox".into(), name.rsplit(':').next()?.into())),
//! })?;
//! assert_eq!(loaded[0].image.id, store.image("docker.io/library/busybox:latest")?.id);
//! # Ok(()) }
//! ```

mod index;
mod layer;
mod plan;
mod read;
mod write;

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

pub use layer::{BuiltLayer, build_layer};
pub use read::{ArchiveFile, LoadOptions, Loaded, load};
pub use write::{ImageName, SaveImage, save, write_tree, write_tree_one_filesystem};

use crate::error::{ArchiveReason, Error, IoContext, Result};
use fsutil::{FileLock, temp_name};

/// Largest JSON document (manifest.json, index.json, an image manifest or config) read.
pub const MAX_JSON_SIZE: u64 = 16 << 20;
/// Most tar entries an archive may have.
pub const MAX_ENTRIES: usize = 200_000;
/// Most images one archive may hold.
pub const MAX_IMAGES: usize = 10_000;
/// Most layers one image may have.
pub const MAX_LAYERS: usize = 1_000;
/// Largest single entry (a layer) accepted.
pub const MAX_ENTRY_SIZE: u64 = 64 << 30;

/// OCI media types written by this module.
pub(crate) mod media {
    pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub(crate) const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub(crate) const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub(crate) const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub(crate) const DOCKER_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
}

pub(crate) fn bad(reason: ArchiveReason) -> Error {
    Error::ImageArchive { reason }
}

pub(crate) fn malformed(what: impl Into<String>, reason: impl std::fmt::Display) -> Error {
    bad(ArchiveReason::Malformed {
        what: what.into(),
        reason: reason.to_string(),
    })
}

/// Whether a layer media type is an uncompressed tar.
pub(crate) fn is_uncompressed(media_type: &str) -> bool {
    let mt = media_type.trim();
    mt.ends_with(".tar") || mt.ends_with("diff.tar") || mt == media::OCI_LAYER
}

/// Normalises an archive path: `.` and empty components dropped; `None` when it is
/// absolute or has any `..` component (archive entries and manifest paths never need one).
pub(crate) fn clean_strict(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Resolves a symlink target relative to the link's directory, inside the archive: `..`
/// may climb up to the archive's root but not above it; absolute targets are refused.
pub(crate) fn resolve_relative(link_dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link_dir.split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// A read-only window `[start, start + len)` of a file, read with positional reads so that
/// several windows of one file can be open at once.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl<'a> Section<'a> {
    pub(crate) fn new(file: &'a File, start: u64, len: u64) -> Self {
        Section {
            file,
            pos: start,
            end: start.saturating_add(len),
        }
    }
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive truncated",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A file in `ROOT/tmp`, locked against the stale clean-up while alive, removed on drop.
#[derive(Debug)]
pub(crate) struct TempFile {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
}

impl TempFile {
    pub(crate) fn create(tmp_dir: &std::path::Path, prefix: &str) -> Result<TempFile> {
        let path = tmp_dir.join(temp_name(prefix));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        FileLock::try_lock_open(&file).ctx("flock", &path)?;
        Ok(TempFile { path, file })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_paths_refuse_escapes() {
        assert_eq!(clean_strict("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(
            clean_strict("manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(
            clean_strict("blobs/sha256/").as_deref(),
            Some("blobs/sha256")
        );
        assert_eq!(clean_strict("/etc/passwd"), None);
        assert_eq!(clean_strict("a/../b"), None);
        assert_eq!(clean_strict(".."), None);
    }

    #[test]
    fn link_targets_stay_inside() {
        assert_eq!(
            resolve_relative("abc", "../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(resolve_relative("", "x").as_deref(), Some("x"));
        assert_eq!(resolve_relative("abc", "../../etc/passwd"), None);
        assert_eq!(resolve_relative("abc", "/etc/passwd"), None);
    }

    #[test]
    fn media_types() {
        assert!(is_uncompressed(media::OCI_LAYER));
        assert!(is_uncompressed(
            "application/vnd.docker.image.rootfs.diff.tar"
        ));
        assert!(!is_uncompressed(media::OCI_LAYER_GZIP));
        assert!(!is_uncompressed(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
    }
}
