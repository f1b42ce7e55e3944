//! Containers' writable layers, common to all drivers: `<driver root>/rw/<id>/` with its
//! `layer.json`, the disposable marker, the host mount point, and the migration of the
//! layers earlier releases kept in `ROOT/containers/<id>/rw`.

use std::fs;
use std::path::{Path, PathBuf};

use fsutil::{fsync_dir, remove_tree, temp_name};
use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use super::base::{Base, write_json};
use super::hostmount::unmount_path;
use super::paths::check_id;
use crate::error::{Error, IoContext, Result};
use crate::files::{ensure_dir, file_bytes};

/// The file in a writable layer's directory that marks it disposable.
const DISPOSABLE: &str = "disposable";

/// The file in a writable layer's directory that marks it as moved from where an earlier
/// release kept it.
const LEGACY: &str = "moved-from-containers";

/// A writable layer's record (`rw/<id>/layer.json`); the format is the one earlier
/// releases wrote in `ROOT/containers/<id>/rw/layer.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WritableMeta {
    pub(crate) driver: String,
    pub(crate) parent: Option<Digest>,
    /// Made disposable at creation. Layers marked later (and by earlier releases) have
    /// the `disposable` marker file instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) disposable: bool,
}

impl Base {
    /// `<driver root>/rw`: every writable layer of this driver.
    fn rw_root(&self) -> PathBuf {
        self.layers.join("rw")
    }

    /// Container `id`'s writable layer directory, `<driver root>/rw/<id>` (which may not
    /// exist). A layer of this driver that an earlier release left in
    /// `ROOT/containers/<id>/rw` is moved here first.
    pub(crate) fn rw_dir(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        let dir = self.rw_root().join(id);
        if !dir.exists() {
            self.migrate_legacy(id, &dir)?;
        }
        Ok(dir)
    }

    /// Moves `ROOT/containers/<id>/rw` to `dest` when it holds a writable layer of this
    /// driver. A rename: an overlay the earlier release mounted on it keeps working (it
    /// holds the directories, not their paths), and two processes migrating at once are
    /// fine (the loser finds `dest` in place).
    fn migrate_legacy(&self, id: &str, dest: &Path) -> Result<()> {
        let Some(containers) = &self.legacy_containers else {
            return Ok(());
        };
        let old = containers.join(id).join("rw");
        let record = old.join("layer.json");
        let meta: WritableMeta = match fs::read(&record) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::CorruptRecord {
                path: record.clone(),
                source: e,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).ctx("read", &record),
        };
        if meta.driver != self.name {
            return Ok(());
        }
        ensure_dir(&self.rw_root())?;
        // Written first, so that it moves with the layer: its rootfs may still be mounted
        // at the old mount point, which unmount and removal then take care of.
        let moved = fs::write(old.join(LEGACY), b"").and_then(|()| fs::rename(&old, dest));
        match moved {
            Ok(()) => {
                fsync_dir(&self.rw_root())?;
                Ok(fsync_dir(&containers.join(id))?)
            }
            // Another process moved it first.
            Err(_) if dest.exists() => Ok(()),
            Err(e) => Err(e).ctx("move writable layer", &old),
        }
    }

    /// The host mount point of container `id`'s rootfs: `<driver root>/rw/<id>/merged`.
    pub(crate) fn mount_point(&self, id: &str) -> Result<PathBuf> {
        Ok(self.rw_dir(id)?.join("merged"))
    }

    /// Where an earlier release mounted the rootfs of a layer it created (moved here since):
    /// `ROOT/containers/<id>/rootfs`. `None` for layers created by this release, whose
    /// `ROOT/containers/<id>/` belongs to the caller alone.
    fn legacy_mount_point(&self, id: &str) -> Result<Option<PathBuf>> {
        let Some(c) = &self.legacy_containers else {
            return Ok(None);
        };
        let moved = self.rw_dir(id)?.join(LEGACY).exists();
        Ok(moved.then(|| c.join(id).join("rootfs")))
    }

    pub(crate) fn writable_meta(&self, id: &str) -> Result<WritableMeta> {
        let p = self.rw_dir(id)?.join("layer.json");
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| Error::CorruptRecord { path: p, source: e })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::ContainerLayerNotFound {
                    driver: self.name,
                    id: id.to_owned(),
                })
            }
            Err(e) => Err(e).ctx("read", &p),
        }
    }

    /// Creates the writable layer `<driver root>/rw/<id>` on `parent` via a staging dir
    /// prepared by `fill`. A `disposable` layer is marked so from the start and made
    /// without any `fsync`: it is removed when its container ends and, after a crash of
    /// the machine, as a leftover whatever state it is in.
    pub(crate) fn create_writable(
        &self,
        id: &str,
        parent: Option<&Digest>,
        disposable: bool,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        self.sweep_moved_orphans();
        let rw = self.rw_dir(id)?;
        if let Some(p) = parent {
            self.require_layer(p)?;
        }
        if rw.exists() {
            return Err(Error::io(
                "create writable layer",
                &rw,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        ensure_dir(&self.rw_root())?;
        let (staging, _lock) = self.new_staging_dir("rw")?;
        let result = (|| {
            fill(&staging)?;
            let meta = WritableMeta {
                driver: self.name.to_owned(),
                parent: parent.cloned(),
                disposable,
            };
            if disposable {
                // No marker file: the record says it, one inode less per `--rm` run.
                let data = serde_json::to_vec_pretty(&meta).map_err(|e| Error::CorruptRecord {
                    path: staging.join("layer.json"),
                    source: e,
                })?;
                let record = staging.join("layer.json");
                fs::write(&record, data).ctx("write", &record)?;
                return fs::rename(&staging, &rw).ctx("rename", &rw);
            }
            write_json(&self.tmp, &staging.join("layer.json"), &meta)?;
            fs::rename(&staging, &rw).ctx("rename", &rw)?;
            Ok(fsync_dir(&self.rw_root())?)
        })();
        if result.is_err() {
            let _ = remove_tree(&staging);
        }
        result
    }

    /// Marks the writable layer disposable (see `StorageDriver::set_disposable`).
    pub(crate) fn set_disposable(&self, id: &str) -> Result<()> {
        self.writable_meta(id)?;
        let marker = self.rw_dir(id)?.join(DISPOSABLE);
        fs::write(&marker, b"").ctx("create", &marker)
    }

    /// Whether container `id`'s writable layer, whose record is `meta`, is disposable.
    pub(crate) fn is_disposable(&self, id: &str, meta: &WritableMeta) -> Result<bool> {
        Ok(meta.disposable || self.rw_dir(id)?.join(DISPOSABLE).exists())
    }

    /// Bytes of the regular files of the writable layer (not crossing into its mount).
    pub(crate) fn writable_size(&self, id: &str) -> Result<u64> {
        self.writable_meta(id)?;
        Ok(file_bytes(&self.rw_dir(id)?))
    }

    /// Unmounts the host mount point, and the one of an earlier release. Idempotent.
    pub(crate) fn unmount_writable(&self, id: &str) -> Result<()> {
        unmount_path(&self.mount_point(id)?)?;
        if let Some(old) = self.legacy_mount_point(id)? {
            unmount_path(&old)?;
        }
        Ok(())
    }

    /// Unmounts and removes the writable layer: moved into `ROOT/tmp` first, so it
    /// disappears at once, then deleted. A missing layer is not an error.
    pub(crate) fn remove_writable(&self, id: &str) -> Result<()> {
        self.sweep_moved_orphans();
        self.remove_writable_now(id)
    }

    /// Removes the layers moved here from an earlier release whose container is gone
    /// (`ROOT/containers/<id>` removed): that release's own removal, say of a `--rm`
    /// container whose monitor it still ran, only knows the old place. This release
    /// removes a writable layer before the container's directory, so no live container's
    /// layer qualifies. Best effort.
    fn sweep_moved_orphans(&self) {
        let Some(containers) = &self.legacy_containers else {
            return;
        };
        let Ok(entries) = fs::read_dir(self.rw_root()) else {
            return;
        };
        for e in entries.flatten() {
            let Some(id) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if e.path().join(LEGACY).exists() && !containers.join(&id).exists() {
                let _ = self.remove_writable_now(&id);
            }
        }
    }

    fn remove_writable_now(&self, id: &str) -> Result<()> {
        self.unmount_writable(id)?;
        if let Some(old) = self.legacy_mount_point(id)? {
            match fs::remove_dir(&old) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).ctx("remove", &old);
                }
                _ => {}
            }
        }
        let rw = self.rw_dir(id)?;
        if !rw.exists() {
            return Ok(());
        }
        let doomed = self.tmp.join(temp_name("rm"));
        fs::rename(&rw, &doomed).ctx("rename", &rw)?;
        Ok(remove_tree(&doomed)?)
    }
}
