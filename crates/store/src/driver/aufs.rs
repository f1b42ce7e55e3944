//! The `aufs` driver: layers are read-only aufs branches, whiteouts stay `.wh.` files.
//!
//! ```text
//! ROOT/layers/aufs/<chain hex>/diff/    the layer's files, .wh.* kept as in the tar
//! ROOT/containers/<id>/rw/diff/         the writable branch
//! ROOT/containers/<id>/rootfs           the mount point
//! ```
//!
//! Mounting follows Docker's aufs driver: `br:<rw>=rw:<top>=ro+wh:...` with as many
//! branches as fit in a page, the rest appended with `remount,append:<dir>=ro+wh`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use rustix::mount::MountFlags;

use super::{
    Base, LayerInfo, Staged, StagedState, StorageDriver, changes, is_mounted, kernel_has_fs,
    unmount_path,
};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{ensure_dir, remove_tree};
use crate::store::Store;
use crate::unpack::Whiteouts;

/// Options after the branch list, as Docker passes them.
const AUFS_OPTS: &str = "dio,xino=/dev/shm/aufs.xino";

/// Builds the aufs mount data: the first mount's data (writable branch plus as many
/// read-only branches, top first, as fit in `page_size` bytes) and the `append:` remount
/// data for each remaining branch.
pub fn aufs_mount_options(
    rw: &Path,
    lowers_top_first: &[PathBuf],
    page_size: usize,
) -> (String, Vec<String>) {
    let budget = page_size.saturating_sub(AUFS_OPTS.len() + 2);
    let mut first = format!("br:{}=rw", rw.display());
    let mut rest = Vec::new();
    let mut full = false;
    for l in lowers_top_first {
        let branch = format!(":{}=ro+wh", l.display());
        if !full && first.len() + branch.len() <= budget {
            first.push_str(&branch);
        } else {
            full = true;
            rest.push(format!("append{branch}"));
        }
    }
    first.push(',');
    first.push_str(AUFS_OPTS);
    (first, rest)
}

/// The aufs driver. This kernel may lack aufs; [`StorageDriver::supported`] says so.
#[derive(Debug)]
pub struct AufsDriver {
    base: Base,
}

impl AufsDriver {
    /// The driver for `store` (no support check).
    pub fn new(store: &Store) -> Result<Self> {
        Ok(AufsDriver {
            base: Base::new(store, "aufs")?,
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
        self.base.create_writable(id, image_top, |staging| {
            fs::create_dir(staging.join("diff")).ctx("create dir", staging.join("diff"))
        })?;
        ensure_dir(&self.base.rootfs_dir(id)?)
    }

    fn mount(&self, id: &str) -> Result<PathBuf> {
        self.supported()
            .map_err(|reason| Error::DriverUnsupported {
                name: "aufs",
                reason,
            })?;
        let meta = self.base.writable_meta(id)?;
        let target = self.base.rootfs_dir(id)?;
        ensure_dir(&target)?;
        if is_mounted(&target)? {
            return Ok(target);
        }
        let lowers = self.base.lower_diffs(meta.parent.as_ref())?;
        let page = rustix::param::page_size();
        let (first, rest) = aufs_mount_options(&self.base.rw_dir(id)?.join("diff"), &lowers, page);
        let err = |e: rustix::io::Errno| Error::Mount {
            op: "mount aufs",
            target: target.clone(),
            source: e.into(),
        };
        let cdata = |s: String| {
            std::ffi::CString::new(s).map_err(|_| Error::Mount {
                op: "mount aufs",
                target: target.clone(),
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            })
        };
        let first = cdata(first)?;
        rustix::mount::mount(
            "none",
            &target,
            "aufs",
            MountFlags::empty(),
            first.as_c_str(),
        )
        .map_err(err)?;
        for data in rest {
            let data = cdata(data)?;
            if let Err(e) =
                rustix::mount::mount_remount(&target, MountFlags::empty(), data.as_c_str())
            {
                let _ = unmount_path(&target);
                return Err(err(e));
            }
        }
        Ok(target)
    }

    fn unmount(&self, id: &str) -> Result<()> {
        unmount_path(&self.base.rootfs_dir(id)?)
    }

    fn changes(&self, id: &str, out: &mut dyn Write) -> Result<()> {
        self.base.writable_meta(id)?;
        changes::write_upper(
            &self.base.rw_dir(id)?.join("diff"),
            changes::UpperKind::Aufs,
            out,
        )
    }

    fn remove_writable(&self, id: &str) -> Result<()> {
        self.unmount(id)?;
        remove_tree(&self.base.rw_dir(id)?)?;
        match fs::remove_dir(self.base.rootfs_dir(id)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).ctx("remove", self.base.rootfs_dir(id)?)
            }
            _ => Ok(()),
        }
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
