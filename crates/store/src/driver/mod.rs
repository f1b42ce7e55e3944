//! Storage drivers: how unpacked layers are kept and turned into a container's rootfs.

use oci_spec::image::Digest;

use crate::digest::sha256_hex;
use crate::error::Result;
use crate::fsutil::remove_tree;
use crate::store::Store;

/// Removes one layer of driver `driver` (by directory name under `ROOT/layers`).
pub(crate) fn remove_layer_of(store: &Store, driver: &str, chain: &Digest) -> Result<()> {
    let dir = store.layers_dir(driver).join(sha256_hex(chain)?);
    remove_tree(&dir)
}
