//! Decompressing layer streams by media type.

use std::io::{self, Read};

use crate::error::{Error, Result};

/// Wraps a compressed layer stream in the decompressor its media type calls for.
///
/// Known: OCI and Docker layer types, plain tar, `+gzip`/`.tar.gzip`, `+zstd`, including
/// the non-distributable/foreign variants.
pub fn decompress<'a, R: Read + Send + 'a>(
    media_type: &str,
    r: R,
) -> Result<Box<dyn Read + Send + 'a>> {
    let mt = media_type.trim();
    let is = |suffixes: &[&str]| suffixes.iter().any(|s| mt.ends_with(s));
    let known_prefix = mt.starts_with("application/vnd.oci.image.layer.")
        || mt.starts_with("application/vnd.docker.image.rootfs.");
    if !known_prefix {
        return Err(Error::UnsupportedMediaType {
            media_type: media_type.to_owned(),
        });
    }
    if is(&["tar+gzip", "tar.gzip"]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(128 * 1024, r),
        )))
    } else if is(&["tar+zstd"]) {
        let d = zstd::stream::read::Decoder::new(r)
            .map_err(|e| Error::io("zstd init", media_type, e))?;
        Ok(Box::new(d))
    } else if is(&[".tar", "diff.tar"]) || mt == "application/vnd.oci.image.layer.v1.tar" {
        Ok(Box::new(r))
    } else {
        Err(Error::UnsupportedMediaType {
            media_type: media_type.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_pick_decompressors() {
        for mt in [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        ] {
            assert!(decompress(mt, io::empty()).is_ok(), "{mt}");
        }
        assert!(decompress("application/json", io::empty()).is_err());
        assert!(decompress("application/vnd.oci.image.layer.v1.tar+bzip2", io::empty()).is_err());
    }
}
