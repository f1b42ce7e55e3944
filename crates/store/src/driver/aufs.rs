//! The `aufs` driver: layers are read-only aufs branches, whiteouts stay `.wh.` files.
//!
//! ```text
//! ROOT/layers/aufs/<chain hex>/diff/    the layer's files, .wh.* kept as in the tar
//! ROOT/layers/aufs/rw/<id>/diff/        container <id>'s writable branch
//! ROOT/layers/aufs/rw/<id>/merged       the host mount point
//! ```
//!
//! Mounting follows Docker's aufs driver: `br:<rw>=rw:<top>=ro+wh:...` with as many
//! branches as fit in a page, the rest appended with `remount,append:<dir>=ro+wh`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use oci_spec::runtime::Mount;

use super::hostmount::{is_mounted, kernel_has_fs, mount_all, split_aufs};
use super::{
    Base, DriverPaths, LayerInfo, Staged, StagedState, StorageDriver, changes, rootfs_mount,
};
use crate::error::{Error, IoContext, Result};
use crate::files::ensure_dir;
use crate::unpack::Whiteouts;

/// Options after the branch list, as Docker passes them.
const AUFS_OPTS: [&str; 2] = ["dio", "xino=/dev/shm/aufs.xino"];

/// The options of an aufs mount of the writable branch `rw` on the read-only branches
/// `lowers_top_first`: one `br:` option listing every branch, then Docker's options.
fn aufs_options(rw: &Path, lowers_top_first: &[PathBuf]) -> Vec<String> {
    let mut br = format!("br:{}=rw", rw.display());
    for l in lowers_top_first {
        br.push_str(&format!(":{}=ro+wh", l.display()));
    }
    std::iter::once(br)
        .chain(AUFS_OPTS.iter().map(|o| (*o).to_owned()))
        .collect()
}

/// Builds the aufs mount data: the first mount's data (writable branch plus as many
/// read-only branches, top first, as fit in `page_size` bytes) and the `append:` remount
/// data for each remaining branch.
pub fn aufs_mount_options(
    rw: &Path,
    lowers_top_first: &[PathBuf],
    page_size: usize,
) -> (String, Vec<String>) {
    let options = aufs_options(rw, lowers_top_first);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    split_aufs(&options, page_size)
}

/// The aufs driver. This kernel may lack aufs; [`StorageDriver::supported`] says so.
#[derive(Debug)]
pub struct AufsDriver {
    base: Base,
}

impl AufsDriver {
    /// The driver working in `paths` (no support check).
    pub fn new(paths: DriverPaths) -> Result<Self> {
        Ok(AufsDriver {
            base: Base::new(paths, "aufs")?,
        })
    }
}

impl StorageDriver for AufsDriver {
    fn name(&self) -> &'static str {
        "aufs"
    }

    fn supported(&self) -> std::result::Result<(), String> {
        if !kernel_has_fs("aufs") {
            return Err("kernel has no aufs (not listed in /proc/filesystems)".into());
        }
        if !rustix::process::geteuid().is_root() {
            return Err("aufs mounts need root".into());
        }
        Ok(())
    }

    fn has_layer(&self, chain_id: &Digest) -> Result<bool> {
        self.base.has_layer(chain_id)
    }

    fn layer_info(&self, chain_id: &Digest) -> Result<LayerInfo> {
        self.base.layer_info(chain_id)
    }

    fn stage_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tar: &mut dyn Read,
    ) -> Result<Staged> {
        self.base.stage_diff(parent, diff_id, tar, Whiteouts::Aufs)
    }

    fn commit_layer(&self, mut staged: Staged) -> Result<LayerInfo> {
        let Some((dir, stats, _lowers)) = self
            .base
            .prepare_diff_commit(&mut staged, Whiteouts::Aufs)?
        else {
            return self.base.layer_info(&staged.chain_id);
        };
        let info = staged.info(stats.tar_size);
        self.base.install(&dir, &info)?;
        staged.state = StagedState::Present;
        Ok(info)
    }

    fn remove_layer(&self, chain_id: &Digest) -> Result<()> {
        self.base.remove_layer_dir(chain_id)
    }

    fn create_writable(&self, id: &str, image_top: Option<&Digest>) -> Result<()> {
        self.base.create_writable(id, image_top, false, |staging| {
            for d in ["diff", "merged"] {
                fs::create_dir(staging.join(d)).ctx("create dir", staging.join(d))?;
            }
            Ok(())
        })
    }

    fn mounts(&self, id: &str) -> Result<Vec<Mount>> {
        let meta = self.base.writable_meta(id)?;
        let lowers = self.base.lower_diffs(meta.parent.as_ref())?;
        let rw = self.base.rw_dir(id)?.join("diff");
        Ok(vec![rootfs_mount(
            "aufs",
            "none",
            aufs_options(&rw, &lowers),
        )])
    }

    fn mount(&self, id: &str) -> Result<PathBuf> {
        self.supported()
            .map_err(|reason| Error::DriverUnsupported {
                name: "aufs",
                reason,
            })?;
        let mounts = self.mounts(id)?;
        let target = self.base.mount_point(id)?;
        ensure_dir(&target)?;
        if !is_mounted(&target)? {
            mount_all(&mounts, &target)?;
        }
        Ok(target)
    }

    fn unmount(&self, id: &str) -> Result<()> {
        self.base.unmount_writable(id)
    }

    fn changes(&self, id: &str, out: &mut dyn Write) -> Result<()> {
        self.base.writable_meta(id)?;
        changes::write_upper(
            &self.base.rw_dir(id)?.join("diff"),
            changes::UpperKind::Aufs,
            out,
        )
    }

    fn writable_size(&self, id: &str) -> Result<u64> {
        self.base.writable_size(id)
    }

    fn remove_writable(&self, id: &str) -> Result<()> {
        self.base.remove_writable(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_fit_a_page_and_append_the_rest() {
        let lowers: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/var/lib/mydocker/layers/aufs/{i:064x}/diff")))
            .collect();
        let (first, rest) = aufs_mount_options(Path::new("/r/rw"), &lowers, 4096);
        assert!(first.len() <= 4096, "{}", first.len());
        assert!(first.starts_with("br:/r/rw=rw:/var/lib/mydocker/layers/aufs/"));
        assert!(first.ends_with(",dio,xino=/dev/shm/aufs.xino"));
        let in_first = first.matches("=ro+wh").count();
        assert!(in_first > 10);
        assert_eq!(in_first + rest.len(), 200);
        // Order is preserved: top first, then appended in order.
        assert!(first.contains(&format!(":{}=ro+wh", lowers[0].display())));
        assert_eq!(
            rest[0],
            format!("append:{}=ro+wh", lowers[in_first].display())
        );
        assert_eq!(
            rest.last().unwrap(),
            &format!("append:{}=ro+wh", lowers[199].display())
        );
    }

    #[test]
    fn small_images_need_no_append() {
        let (first, rest) = aufs_mount_options(
            Path::new("/rw"),
            &[PathBuf::from("/a"), PathBuf::from("/b")],
            4096,
        );
        assert_eq!(
            first,
            "br:/rw=rw:/a=ro+wh:/b=ro+wh,dio,xino=/dev/shm/aufs.xino"
        );
        assert!(rest.is_empty());
    }
}
