//! Removing images and garbage collection: [`Store::remove_image`], [`Store::prune`],
//! [`Store::gc`], and [`Store::disk_usage`].

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::image::Digest;

use crate::digest::parse_sha256;
use crate::driver::StorageDriver;
use crate::error::{Error, IoContext, Result};
use crate::files::du;
use crate::image::repo_of;
use crate::store::Store;

/// Options of [`Store::remove_image`] and [`Store::prune`].
pub struct RemoveOptions<'a> {
    /// Remove even when a container uses the image. A used image is then untagged but
    /// kept (as a dangling image) so that its layers stay valid for the container.
    pub force: bool,
    /// Returns the name or ID of a container using the image, if any.
    pub in_use: &'a dyn Fn(&Digest) -> Option<String>,
}

impl std::fmt::Debug for RemoveOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoveOptions")
            .field("force", &self.force)
            .finish_non_exhaustive()
    }
}

impl RemoveOptions<'_> {
    /// No container uses any image; not forced.
    pub fn unused() -> RemoveOptions<'static> {
        RemoveOptions {
            force: false,
            in_use: &|_| None,
        }
    }
}

/// What a removal or prune did, in the order docker prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveReport {
    /// References removed (`repo:tag`, `repo@digest`).
    pub untagged: Vec<String>,
    /// Image IDs whose records were deleted.
    pub deleted: Vec<Digest>,
    /// Garbage collected afterwards.
    pub gc: GcReport,
}

/// What garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs removed.
    pub blobs: Vec<Digest>,
    /// Layers removed, as (driver, chain ID).
    pub layers: Vec<(String, Digest)>,
    /// Bytes freed (blob sizes plus layer disk usage).
    pub reclaimed: u64,
}

/// `system df`-style usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Number of images.
    pub images: usize,
    /// Images used by at least one container.
    pub active_images: usize,
    /// Bytes of all blobs.
    pub blobs_size: u64,
    /// Bytes of all unpacked layers (every driver).
    pub layers_size: u64,
    /// Bytes that removing every unused image would free.
    pub reclaimable: u64,
}

impl DiskUsage {
    /// Blobs plus layers.
    pub fn total(&self) -> u64 {
        self.blobs_size + self.layers_size
    }
}

impl Store {
    /// `rmi`: removes a reference or an image, then garbage-collects blobs and layers no
    /// image references any more.
    ///
    /// - By `repo:tag`/`repo@digest`: that reference is removed; when it was the image's
    ///   last tag, its digest references go too and the image is deleted.
    /// - By ID: every reference goes and the image is deleted; an image tagged in several
    ///   repositories needs `force`.
    /// - An image a container uses (per `opts.in_use`) is not deleted: without `force` the
    ///   call fails before changing anything; with `force` its references are removed and
    ///   the image stays as a dangling image.
    ///
    /// Layers are collected through `drivers` as in [`gc`](Self::gc).
    pub fn remove_image(
        &self,
        reference: &str,
        opts: &RemoveOptions<'_>,
        drivers: &[Arc<dyn StorageDriver>],
    ) -> Result<RemoveReport> {
        let _gc = self.gc_lock()?;
        let mut report = RemoveReport::default();
        {
            let _lock = self.lock()?;
            let rec = self.image(reference)?;
            let mut refs = self.read_refs()?;
            let by_name = refs.tags.contains_key(reference) || refs.digests.contains_key(reference);
            let user = (opts.in_use)(&rec.id);
            if by_name {
                let other_tags = rec.repo_tags.iter().filter(|t| *t != reference).count();
                let deletes = other_tags == 0;
                if deletes
                    && !opts.force
                    && let Some(container) = user.clone()
                {
                    return Err(Error::ImageInUse {
                        reference: reference.to_owned(),
                        container,
                    });
                }
                refs.tags.remove(reference);
                refs.digests.remove(reference);
                report.untagged.push(reference.to_owned());
                if deletes {
                    report.untagged.extend(refs.remove_all(&rec.id));
                }
            } else {
                let repos: HashSet<&str> = rec
                    .repo_tags
                    .iter()
                    .chain(&rec.repo_digests)
                    .map(|r| repo_of(r))
                    .collect();
                if repos.len() > 1 && !opts.force {
                    return Err(Error::ImageMultipleRepositories {
                        id: rec.short_id().to_owned(),
                    });
                }
                if let Some(container) = user.clone()
                    && !opts.force
                {
                    return Err(Error::ImageInUse {
                        reference: reference.to_owned(),
                        container,
                    });
                }
                report.untagged.extend(refs.remove_all(&rec.id));
            }
            self.write_refs(&refs)?;
            if !refs.is_referenced(&rec.id) && user.is_none() {
                self.delete_record(&rec.id)?;
                report.deleted.push(rec.id.clone());
            }
        }
        report.gc = self.gc_locked(drivers)?;
        Ok(report)
    }

    fn delete_record(&self, id: &Digest) -> Result<()> {
        let p = self.record_path(id)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).ctx("remove", &p),
            _ => Ok(fsutil::fsync_dir(&self.root().join("images/by-id"))?),
        }
    }

    /// `image prune`: deletes dangling images (with `all`: every image) that no container
    /// uses, then garbage-collects (through `drivers`, as [`gc`](Self::gc)).
    pub fn prune(
        &self,
        all: bool,
        opts: &RemoveOptions<'_>,
        drivers: &[Arc<dyn StorageDriver>],
    ) -> Result<RemoveReport> {
        let _gc = self.gc_lock()?;
        let mut report = RemoveReport::default();
        {
            let _lock = self.lock()?;
            let mut refs = self.read_refs()?;
            for rec in self.all_records()? {
                if (opts.in_use)(&rec.id).is_some() {
                    continue;
                }
                if refs.is_referenced(&rec.id) {
                    if !all {
                        continue;
                    }
                    report.untagged.extend(refs.remove_all(&rec.id));
                }
                self.delete_record(&rec.id)?;
                report.deleted.push(rec.id);
            }
            self.write_refs(&refs)?;
        }
        report.gc = self.gc_locked(drivers)?;
        Ok(report)
    }

    /// Removes every blob and layer that no image record references. Waits for running
    /// pulls (leases) to finish.
    ///
    /// Layers are removed by the driver that owns them, found by name among `drivers`
    /// (pass [`driver::all`](crate::driver::all) for every driver of the store): the
    /// layers of a driver not given are left alone.
    pub fn gc(&self, drivers: &[Arc<dyn StorageDriver>]) -> Result<GcReport> {
        let _gc = self.gc_lock()?;
        self.gc_locked(drivers)
    }

    fn referenced(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let mut blobs = HashSet::new();
        let mut chains = HashSet::new();
        for rec in self.images()? {
            for d in rec.blob_digests() {
                blobs.insert(d.digest().to_owned());
            }
            for c in rec.chain_ids() {
                chains.insert(c.digest().to_owned());
            }
        }
        Ok((blobs, chains))
    }

    fn gc_locked(&self, drivers: &[Arc<dyn StorageDriver>]) -> Result<GcReport> {
        let _lock = self.lock()?;
        let (blobs, chains) = self.referenced()?;
        let mut report = GcReport::default();
        for (d, size) in self.blobs().list()? {
            if !blobs.contains(d.digest()) {
                self.blobs().remove(&d)?;
                report.reclaimed += size;
                report.blobs.push(d);
            }
        }
        for (driver, chain, path) in self.layer_dirs()? {
            let Some(d) = drivers.iter().find(|d| d.name() == driver) else {
                continue;
            };
            if !chains.contains(chain.digest()) {
                report.reclaimed += du(&path);
                d.remove_layer(&chain)?;
                report.layers.push((driver, chain));
            }
        }
        Ok(report)
    }

    /// Every unpacked layer directory: (driver, chain ID, path).
    fn layer_dirs(&self) -> Result<Vec<(String, Digest, PathBuf)>> {
        let mut out = Vec::new();
        let layers = self.root().join("layers");
        for drv in fs::read_dir(&layers).ctx("read dir", &layers)? {
            let drv = drv.ctx("read dir", &layers)?;
            let Some(driver) = drv.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let dir = drv.path();
            if !dir.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&dir).ctx("read dir", &dir)? {
                let entry = entry.ctx("read dir", &dir)?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if let Ok(chain) = parse_sha256(&format!("sha256:{name}")) {
                    out.push((driver.clone(), chain, entry.path()));
                }
            }
        }
        Ok(out)
    }

    /// `system df`: sizes of blobs and layers and what removing unused images would free.
    pub fn disk_usage(&self, in_use: &dyn Fn(&Digest) -> Option<String>) -> Result<DiskUsage> {
        let images = self.images()?;
        let mut used_blobs = HashSet::new();
        let mut used_chains = HashSet::new();
        let mut active = 0;
        for rec in &images {
            if in_use(&rec.id).is_some() {
                active += 1;
                used_blobs.extend(rec.blob_digests().iter().map(|d| d.digest().to_owned()));
                used_chains.extend(rec.chain_ids().map(|d| d.digest().to_owned()));
            }
        }
        let mut usage = DiskUsage {
            images: images.len(),
            active_images: active,
            ..DiskUsage::default()
        };
        for (d, size) in self.blobs().list()? {
            usage.blobs_size += size;
            if !used_blobs.contains(d.digest()) {
                usage.reclaimable += size;
            }
        }
        for (_, chain, path) in self.layer_dirs()? {
            let size = du(&path);
            usage.layers_size += size;
            if !used_chains.contains(chain.digest()) {
                usage.reclaimable += size;
            }
        }
        Ok(usage)
    }
}
