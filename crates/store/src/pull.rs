//! Streaming a downloaded layer into the blob store and a driver at the same time.

use std::io::{self, Read, Write};

use oci_spec::image::Digest;

use crate::blob::BlobWriter;
use crate::chain::chain_id;
use crate::driver::{Staged, StorageDriver};
use crate::error::{Error, IoContext, Result};
use crate::store::Store;
use crate::unpack::decompress;

/// A layer as the manifest and config describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSource {
    /// Digest of the compressed blob (manifest `layers[i].digest`).
    pub digest: Digest,
    /// Media type of the blob (gzip, zstd or plain tar).
    pub media_type: String,
    /// Digest of the uncompressed tar (config `rootfs.diff_ids[i]`).
    pub diff_id: Digest,
}

/// What [`Store::ingest_layer`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Blob and layer were present: nothing was downloaded or unpacked.
    Present,
    /// The blob was present; the layer was unpacked from it.
    FromBlob,
    /// The blob was downloaded (and the layer unpacked while it streamed in, unless it
    /// was present already).
    Downloaded,
}

struct Tee<'a, R> {
    inner: R,
    out: &'a mut BlobWriter,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

impl Store {
    /// Makes one layer of a pull present: its compressed blob in the blob store and its
    /// unpacked form in `driver` (staged; commit it with
    /// [`StorageDriver::commit_layer`] base first, as with
    /// [`stage_layer`](StorageDriver::stage_layer)).
    ///
    /// Takes the blob's lock, so concurrent pulls of the same layer download it once.
    /// When the blob must be downloaded, `open` is called for the registry stream, which
    /// is written to the blob store and decompressed and unpacked while it streams in; the
    /// blob is committed only when its digest matches. Several layers of one image may be
    /// ingested at once from several threads. Hold a [`lease`](Store::lease) meanwhile.
    pub fn ingest_layer<R: Read + Send>(
        &self,
        driver: &dyn StorageDriver,
        parent: Option<&Digest>,
        layer: &LayerSource,
        open: impl FnOnce() -> io::Result<R>,
    ) -> Result<(Staged, Ingested)> {
        let _blob_lock = self.blobs().lock(&layer.digest)?;
        let chain = chain_id(parent, &layer.diff_id)?;
        let blob_present = self.blobs().has(&layer.digest)?;
        if blob_present {
            if driver.has_layer(&chain)? {
                let staged = driver.stage_layer(parent, &layer.diff_id, &mut io::empty())?;
                return Ok((staged, Ingested::Present));
            }
            let f = self.blobs().open(&layer.digest)?;
            let mut tar = decompress(&layer.media_type, io::BufReader::new(f))?;
            let staged = driver.stage_layer(parent, &layer.diff_id, &mut tar)?;
            return Ok((staged, Ingested::FromBlob));
        }
        let stream =
            open().map_err(|e| Error::io("download layer", layer.digest.to_string(), e))?;
        let mut writer = self.blobs().writer()?;
        let staged = {
            let mut tee = Tee {
                inner: stream,
                out: &mut writer,
            };
            let staged = {
                let mut tar = decompress(&layer.media_type, &mut tee)?;
                let staged = driver.stage_layer(parent, &layer.diff_id, &mut tar)?;
                if !staged.is_present() {
                    // Whatever the tar reader did not need (trailing padding) still goes
                    // through the decompressor, which checks the stream's own trailer.
                    io::copy(&mut tar, &mut io::sink())
                        .ctx("download layer", layer.digest.to_string())?;
                }
                staged
            };
            // The rest of the blob (all of it when the layer was already present).
            io::copy(&mut tee, &mut io::sink()).ctx("download layer", layer.digest.to_string())?;
            staged
        };
        writer.commit(&layer.digest)?;
        Ok((staged, Ingested::Downloaded))
    }
}
