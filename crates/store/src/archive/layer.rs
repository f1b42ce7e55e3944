//! A new gzip layer from a tar stream: the blob and the unpacked layer, made together.

use std::fs::File;
use std::io::{self, BufReader, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use oci_spec::image::Digest;

use super::media;
use crate::digest::{HashingWriter, digest_from_hasher};
use crate::driver::{LayerInfo, StorageDriver};
use crate::error::{IoContext, Result};
use crate::store::Store;
use crate::unpack::decompress;

/// A layer made by [`build_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// Digest of the gzip blob (the manifest's layer digest).
    pub digest: Digest,
    /// Size of the gzip blob.
    pub size: u64,
    /// Digest of the uncompressed tar (the config's diff ID).
    pub diff_id: Digest,
    /// The committed layer in the driver.
    pub info: LayerInfo,
}

impl BuiltLayer {
    /// The OCI media type of the blob.
    pub fn oci_media_type(&self) -> &'static str {
        media::OCI_LAYER_GZIP
    }
}

/// Makes a new layer on `parent` (`None`: a base layer) from the tar that `write_tar`
/// writes, as `commit` and `import` need it: the tar is streamed (never held in memory)
/// through a hasher (the diff ID) and a gzip encoder into a blob staged in `ROOT/tmp`
/// (hashed too: the blob digest); the layer is then unpacked from that blob into `driver`,
/// and only when unpacking succeeded are the blob and the layer committed. On error nothing
/// is left behind. Hold a [`Store::lease`] until the image using the layer is recorded.
///
/// # Errors
/// Whatever `write_tar` returns, I/O errors, and the unpacker's errors when the tar is not
/// a valid layer (for `import` of a random file, say).
pub fn build_layer(
    store: &Store,
    driver: &dyn StorageDriver,
    parent: Option<&Digest>,
    write_tar: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
) -> Result<BuiltLayer> {
    let mut blob = store.blobs().writer()?;
    let temp = blob.temp_path().to_path_buf();
    let diff_id = {
        let gz = GzEncoder::new(
            io::BufWriter::with_capacity(256 * 1024, &mut blob),
            Compression::default(),
        );
        let mut tar = HashingWriter::new(gz);
        write_tar(&mut tar)?;
        tar.flush().ctx("write layer", &temp)?;
        let diff_id = digest_from_hasher(tar.hasher);
        let mut out = tar.inner.finish().ctx("write layer", &temp)?;
        out.flush().ctx("write layer", &temp)?;
        diff_id
    };
    let size = blob.written();
    let reader = File::open(&temp).ctx("open", &temp)?;
    let mut tar = decompress(media::OCI_LAYER_GZIP, BufReader::new(reader))?;
    let staged = driver.stage_layer(parent, &diff_id, &mut tar)?;
    drop(tar);
    let digest = blob.commit_computed()?;
    let info = driver.commit_layer(staged)?;
    Ok(BuiltLayer {
        digest,
        size,
        diff_id,
        info,
    })
}
