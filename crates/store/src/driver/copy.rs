//! The `copy` driver (vfs-like): every layer is a full flattened tree.
//!
//! ```text
//! ROOT/layers/copy/<chain hex>/fs/   the flattened image up to this layer, whiteouts applied
//! ROOT/layers/copy/rw/<id>/fs/       container <id>'s own full copy (its rootfs, bind-mounted)
//! ```
//!
//! Copies use reflinks (FICLONE) where the filesystem supports them and an in-kernel copy
//! otherwise; hard links stay hard links. Since a layer is built on a copy of its parent,
//! a layer whose parent is not committed yet is spooled (verified) to `ROOT/tmp` at stage
//! time and unpacked when committed.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;

use fsutil::remove_tree;
use oci_spec::image::Digest;
use oci_spec::runtime::Mount;

use super::copytree::copy_tree;
use super::paths::check_id;
use super::{
    Base, DriverPaths, LayerInfo, Staged, StagedState, StorageDriver, changes, rootfs_mount,
};
use crate::error::{IoContext, Result};
use crate::unpack::{UnpackOptions, UnpackStats, Whiteouts, unpack};

/// The copy driver. Always supported.
#[derive(Debug)]
pub struct CopyDriver {
    base: Base,
}

impl CopyDriver {
    /// The driver working in `paths`.
    pub fn new(paths: DriverPaths) -> Result<Self> {
        Ok(CopyDriver {
            base: Base::new(paths, "copy")?,
        })
    }

    fn fs_dir(&self, chain: &Digest) -> Result<PathBuf> {
        Ok(self.base.layer_dir(chain)?.join("fs"))
    }

    /// A staging dir holding `fs/` = copy of the parent's tree with `tar` applied.
    fn build(
        &self,
        parent: Option<&Digest>,
        tar: &mut dyn Read,
        diff_id: Option<&Digest>,
    ) -> Result<(PathBuf, UnpackStats)> {
        let (dir, _hold) = self.base.new_staging_dir("layer")?;
        let fsdir = dir.join("fs");
        let result = (|| {
            match parent {
                Some(p) => {
                    self.base.require_layer(p)?;
                    copy_tree(&self.fs_dir(p)?, &fsdir)?;
                }
                None => fs::create_dir(&fsdir).ctx("create dir", &fsdir)?,
            }
            unpack(&fsdir, tar, diff_id, &UnpackOptions::new(Whiteouts::Delete))
        })();
        match result {
            Ok(stats) => Ok((dir, stats)),
            Err(e) => {
                let _ = remove_tree(&dir);
                Err(e)
            }
        }
    }
}

impl StorageDriver for CopyDriver {
    fn name(&self) -> &'static str {
        "copy"
    }

    fn supported(&self) -> std::result::Result<(), String> {
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
        let mut staged = self.base.begin_stage(parent, diff_id)?;
        if staged.lock.is_none() {
            return Ok(staged);
        }
        let parent_ready = match parent {
            None => true,
            Some(p) => self.base.has_layer(p)?,
        };
        if parent_ready {
            let (dir, stats) = self.build(parent, tar, Some(diff_id))?;
            staged.state = StagedState::Unpacked { dir, stats };
        } else {
            let (file, tar_size) = self.base.spool(tar, diff_id)?;
            staged.state = StagedState::Spooled { file, tar_size };
        }
        Ok(staged)
    }

    fn commit_layer(&self, mut staged: Staged) -> Result<LayerInfo> {
        self.base.check_staged(&staged)?;
        let (dir, tar_size) = match staged.take_state() {
            StagedState::Present => return self.base.layer_info(&staged.chain_id),
            StagedState::Unpacked { dir, stats } => {
                let size = stats.tar_size;
                staged.state = StagedState::Unpacked {
                    dir: dir.clone(),
                    stats,
                };
                (dir, size)
            }
            StagedState::Spooled { file, tar_size } => {
                staged.state = StagedState::Spooled {
                    file: file.clone(),
                    tar_size,
                };
                let mut f = fs::File::open(&file).ctx("open", &file)?;
                let (dir, stats) = self.build(staged.parent.as_ref(), &mut f, None)?;
                let _ = fs::remove_file(&file);
                staged.state = StagedState::Unpacked {
                    dir: dir.clone(),
                    stats,
                };
                (dir, tar_size)
            }
        };
        let info = staged.info(tar_size);
        self.base.install(&dir, &info)?;
        staged.state = StagedState::Present;
        Ok(info)
    }

    fn remove_layer(&self, chain_id: &Digest) -> Result<()> {
        self.base.remove_layer_dir(chain_id)
    }

    fn create_writable(&self, id: &str, image_top: Option<&Digest>) -> Result<()> {
        let src = image_top.map(|t| self.fs_dir(t)).transpose()?;
        self.base
            .create_writable(id, image_top, false, |staging| match &src {
                Some(s) => copy_tree(s, &staging.join("fs")),
                None => fs::create_dir(staging.join("fs")).ctx("create dir", staging.join("fs")),
            })
    }

    fn mounts(&self, id: &str) -> Result<Vec<Mount>> {
        self.base.writable_meta(id)?;
        let mut m = rootfs_mount("bind", "", vec!["rbind".to_owned(), "rw".to_owned()]);
        m.set_source(Some(self.base.rw_dir(id)?.join("fs")));
        Ok(vec![m])
    }

    /// The copy is a plain directory: nothing is mounted, the bind mount's source is the
    /// rootfs.
    fn mount(&self, id: &str) -> Result<PathBuf> {
        self.mounts(id)?
            .into_iter()
            .find_map(|m| m.source().clone())
            .ok_or_else(|| crate::error::Error::ContainerLayerNotFound {
                driver: "copy",
                id: id.to_owned(),
            })
    }

    fn unmount(&self, id: &str) -> Result<()> {
        check_id(id)
    }

    fn changes(&self, id: &str, out: &mut dyn Write) -> Result<()> {
        let meta = self.base.writable_meta(id)?;
        let lower = meta.parent.as_ref().map(|p| self.fs_dir(p)).transpose()?;
        if let Some(p) = &meta.parent {
            self.base.require_layer(p)?;
        }
        changes::diff_trees(lower.as_deref(), &self.base.rw_dir(id)?.join("fs"), out)
    }

    fn writable_size(&self, id: &str) -> Result<u64> {
        self.base.writable_size(id)
    }

    fn remove_writable(&self, id: &str) -> Result<()> {
        self.base.remove_writable(id)
    }
}
