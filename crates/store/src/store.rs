//! [`Store`]: one root directory with blobs, image records, layers and staging.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;

use crate::blob::BlobStore;
use crate::chain::chain_ids;
use crate::digest::{parse_sha256, sha256_hex};
use crate::error::{Error, IoContext, Result};
use fsutil::{FileLock, write_atomic_in};

use crate::files::{clean_stale, ensure_dir};
use crate::image::{
    ImageEntry, ImageRecord, LayerRecord, NewImage, References, parse_manifest_and_config, repo_of,
    split_tag,
};

/// The store rooted at one directory (`/var/lib/mydocker` by default).
///
/// Layout:
/// ```text
/// ROOT/blobs/sha256/<hex>        manifests, configs, compressed layers; immutable
/// ROOT/images/by-id/<hex>.json   image records (ID = config digest)
/// ROOT/images/references.json    repo:tag and repo@digest -> image ID; repo:tag -> the
///                                digest it was pulled by
/// ROOT/layers/<driver>/...       unpacked layers, keyed by chain ID, and containers'
///                                writable layers (`rw/<id>/`): see [`crate::driver`]
/// ROOT/containers/<id>/          container state, owned by the caller (earlier releases
///                                kept writable layers there: drivers move them on use)
/// ROOT/tmp/                      staging, cleaned of stale entries on open
/// ROOT/locks/                    per-blob and per-layer lock files
/// ROOT/lock, ROOT/gc.lock        the store-wide record lock and the GC lease lock
/// ```
///
/// # Concurrency
/// Several processes may use one root at once. Record mutations take the store-wide
/// [`lock`](Self::lock) internally. A puller takes a [`lease`](Self::lease) for the whole
/// pull (shared: pulls run side by side) so that garbage collection (exclusive, in
/// [`remove_image`](Self::remove_image), [`prune`](Self::prune) and [`gc`](Self::gc)) never
/// deletes a blob or layer that a running pull has committed but not yet recorded; and it
/// takes [`BlobStore::lock`] around "check, download, commit" of each blob so that a blob
/// is downloaded once.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    blobs: BlobStore,
}

/// Shared hold on the store that keeps garbage collection away; see [`Store::lease`].
#[derive(Debug)]
pub struct Lease {
    _lock: FileLock,
}

impl Store {
    /// Opens (creating if needed) the store at `root`, and removes staging entries left in
    /// `ROOT/tmp` by crashed processes.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref().to_path_buf();
        for d in [
            "blobs/sha256",
            "images/by-id",
            "layers",
            "containers",
            "tmp",
            "locks",
        ] {
            ensure_dir(&root.join(d))?;
        }
        let store = Store {
            blobs: BlobStore::new(
                root.join("blobs/sha256"),
                root.join("tmp"),
                root.join("locks"),
            ),
            root,
        };
        clean_stale(&store.tmp_dir())?;
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The staging directory (`ROOT/tmp`), on the same filesystem as everything else.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The directory of per-object lock files.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// The directory holding a driver's layers: `ROOT/layers/<driver>`.
    pub fn layers_dir(&self, driver: &str) -> PathBuf {
        self.root.join("layers").join(driver)
    }

    /// The containers directory (`ROOT/containers`).
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Takes the store-wide exclusive lock for mutating records. Held briefly; the store's
    /// own mutating methods take it themselves (do not call them while holding it).
    pub fn lock(&self) -> Result<FileLock> {
        Ok(FileLock::exclusive(&self.root.join("lock"))?)
    }

    /// Takes a shared lease that keeps garbage collection from running until dropped.
    /// Hold it for a whole pull (or container creation) so that content committed but not
    /// yet referenced by a record is not collected. Do not call GC methods while holding it.
    pub fn lease(&self) -> Result<Lease> {
        Ok(Lease {
            _lock: FileLock::shared(&self.root.join("gc.lock"))?,
        })
    }

    pub(crate) fn gc_lock(&self) -> Result<FileLock> {
        Ok(FileLock::exclusive(&self.root.join("gc.lock"))?)
    }

    fn refs_path(&self) -> PathBuf {
        self.root.join("images/references.json")
    }

    pub(crate) fn record_path(&self, id: &Digest) -> Result<PathBuf> {
        Ok(self
            .root
            .join("images/by-id")
            .join(format!("{}.json", sha256_hex(id)?)))
    }

    pub(crate) fn read_refs(&self) -> Result<References> {
        let p = self.refs_path();
        match fs::read(&p) {
            Ok(b) => References::from_json(&b).map_err(|e| Error::CorruptRecord {
                path: p.clone(),
                source: e,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(References::default()),
            Err(e) => Err(e).ctx("read", &p),
        }
    }

    pub(crate) fn write_refs(&self, refs: &References) -> Result<()> {
        let data = refs.to_json().map_err(|e| Error::CorruptRecord {
            path: self.refs_path(),
            source: e,
        })?;
        Ok(write_atomic_in(&self.tmp_dir(), &self.refs_path(), &data)?)
    }

    pub(crate) fn read_record(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        let p = self.record_path(id)?;
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::CorruptRecord { path: p, source: e }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx("read", &p),
        }
    }

    fn write_record(&self, rec: &ImageRecord) -> Result<()> {
        let p = self.record_path(&rec.id)?;
        let data = serde_json::to_vec_pretty(rec).map_err(|e| Error::CorruptRecord {
            path: p.clone(),
            source: e,
        })?;
        Ok(write_atomic_in(&self.tmp_dir(), &p, &data)?)
    }

    pub(crate) fn all_records(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("images/by-id");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read dir", &dir)? {
            let entry = entry.ctx("read dir", &dir)?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = parse_sha256(&format!("sha256:{hex}")) else {
                continue;
            };
            if let Some(r) = self.read_record(&id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub(crate) fn with_refs(mut rec: ImageRecord, refs: &References) -> ImageRecord {
        let (tags, digests) = refs.refs_of(&rec.id);
        rec.repo_tags = tags;
        rec.repo_digests = digests;
        rec
    }

    /// Records a pulled image and points `repository:tag` (and `repository@repo_digest`)
    /// at it; a tag recorded with a repo digest remembers it as the digest it was pulled
    /// by (what `images --digests` shows for the tag). The manifest, config and layer blobs
    /// must be present; layers, diff IDs and the created time come from them. A tag that
    /// pointed at another image moves (the old image stays, dangling, until pruned).
    /// Returns the record.
    pub fn add_image(&self, new: &NewImage) -> Result<ImageRecord> {
        let manifest = self.blobs.read(&new.manifest_digest).map_err(|e| match e {
            Error::BlobNotFound { digest } => Error::Incomplete {
                what: "manifest",
                digest,
            },
            e => e,
        })?;
        let parsed = parse_manifest_and_config(&manifest, |d| {
            self.blobs.read(d).map_err(|e| match e {
                Error::BlobNotFound { digest } => Error::Incomplete {
                    what: "config",
                    digest,
                },
                e => e,
            })
        })?;
        let diff_ids: Vec<Digest> = parsed.layers.iter().map(|l| l.3.clone()).collect();
        let chains = chain_ids(&diff_ids)?;
        let mut layers = Vec::with_capacity(parsed.layers.len());
        for ((digest, media_type, size, diff_id), chain_id) in parsed.layers.into_iter().zip(chains)
        {
            if !self.blobs.has(&digest)? {
                return Err(Error::Incomplete {
                    what: "layer",
                    digest: digest.to_string(),
                });
            }
            layers.push(LayerRecord {
                digest,
                media_type,
                size,
                diff_id,
                chain_id,
            });
        }
        let rec = ImageRecord {
            id: parsed.config_digest.clone(),
            manifest_digest: new.manifest_digest.clone(),
            manifest_media_type: parsed.media_type,
            config_digest: parsed.config_digest,
            created: parsed.created,
            size: layers.iter().map(|l| l.size).sum(),
            layers,
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
        };
        let _lock = self.lock()?;
        self.write_record(&rec)?;
        let mut refs = self.read_refs()?;
        let repo_tag = new.tag.as_ref().map(|t| format!("{}:{t}", new.repository));
        if let Some(repo_tag) = &repo_tag {
            refs.tags.insert(repo_tag.clone(), rec.id.clone());
        }
        if let Some(d) = &new.repo_digest {
            sha256_hex(d)?;
            refs.digests
                .insert(format!("{}@{d}", new.repository), rec.id.clone());
            if let Some(repo_tag) = repo_tag {
                refs.set_tag_digest(repo_tag, d.clone());
            }
        }
        // A tag recorded without a digest keeps the one it was pulled by only while it
        // names the same image (References drops it otherwise).
        self.write_refs(&refs)?;
        Ok(Self::with_refs(rec, &refs))
    }

    /// [`add_image`](Self::add_image), after checking that every layer of the image is
    /// committed in `driver`: an image is only recorded once all its layers are unpacked.
    pub fn add_unpacked_image(
        &self,
        new: &NewImage,
        driver: &dyn crate::driver::StorageDriver,
    ) -> Result<ImageRecord> {
        let manifest = self.blobs.read(&new.manifest_digest)?;
        let parsed = parse_manifest_and_config(&manifest, |d| self.blobs.read(d))?;
        let diff_ids: Vec<Digest> = parsed.layers.iter().map(|l| l.3.clone()).collect();
        for chain in chain_ids(&diff_ids)? {
            if !driver.has_layer(&chain)? {
                return Err(Error::Incomplete {
                    what: "unpacked layer",
                    digest: chain.to_string(),
                });
            }
        }
        self.add_image(new)
    }

    /// Points `repo:tag` at an existing image (`docker tag`).
    pub fn tag(&self, image: &str, repo_tag: &str) -> Result<()> {
        if split_tag(repo_tag).is_none() {
            return Err(Error::InvalidId {
                id: repo_tag.to_owned(),
            });
        }
        let _lock = self.lock()?;
        let rec = self.image(image)?;
        let mut refs = self.read_refs()?;
        refs.tags.insert(repo_tag.to_owned(), rec.id);
        self.write_refs(&refs)
    }

    /// Looks an image up by `repo:tag` (normalised, e.g. `docker.io/library/busybox:latest`),
    /// by `repo@sha256:...` (repo digest, or the manifest digest of an image of that
    /// repository), by full image ID (`sha256:<hex>` or `<hex>`) or by any unique prefix of
    /// the ID's hex. The CLI should try the normalised name and, when the user typed
    /// something hex-like, the raw string.
    pub fn image(&self, reference: &str) -> Result<ImageRecord> {
        let refs = self.read_refs()?;
        let not_found = || Error::ImageNotFound {
            reference: reference.to_owned(),
        };
        let id = if let Some(id) = refs.tags.get(reference) {
            id.clone()
        } else if let Some(id) = refs.digests.get(reference) {
            id.clone()
        } else if let Some((repo, d)) = reference.split_once('@') {
            // A platform manifest digest of an image known in this repository.
            let d = parse_sha256(d).map_err(|_| not_found())?;
            let mut found = None;
            for rec in self.all_records()? {
                let rec = Self::with_refs(rec, &refs);
                if rec.manifest_digest == d
                    && rec
                        .repo_tags
                        .iter()
                        .chain(&rec.repo_digests)
                        .any(|r| repo_of(r) == repo)
                {
                    found = Some(rec.id.clone());
                }
            }
            found.ok_or_else(not_found)?
        } else {
            let prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
            if prefix.is_empty()
                || prefix.len() > 64
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(not_found());
            }
            let matches: Vec<Digest> = self
                .all_records()?
                .into_iter()
                .filter(|r| r.id.digest().starts_with(prefix))
                .map(|r| r.id)
                .collect();
            match matches.len() {
                0 => return Err(not_found()),
                1 => matches.into_iter().next().ok_or_else(not_found)?,
                n => {
                    return Err(Error::AmbiguousImage {
                        prefix: reference.to_owned(),
                        count: n,
                    });
                }
            }
        };
        let rec = self.read_record(&id)?.ok_or_else(not_found)?;
        Ok(Self::with_refs(rec, &refs))
    }

    /// All images, with their references filled in.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let refs = self.read_refs()?;
        Ok(self
            .all_records()?
            .into_iter()
            .map(|r| Self::with_refs(r, &refs))
            .collect())
    }

    /// The rows of `images`: one per `repo:tag`; an image known only by digest in a
    /// repository gets one row with no tag; an image with no reference one dangling row.
    /// A tag's row carries the digest the tag was pulled by, else (a tag made by `tag`,
    /// say) a repo digest of the image in that repository, if any.
    /// Sorted newest first (by created time), then by reference.
    pub fn list(&self) -> Result<Vec<ImageEntry>> {
        let refs = self.read_refs()?;
        let mut rows = Vec::new();
        for img in self.all_records()? {
            let img = Self::with_refs(img, &refs);
            let digest_for = |repo: &str| refs.repo_digests_of(&img.id, repo).next();
            let mut repos_with_tags = HashSet::new();
            for t in &img.repo_tags {
                if let Some((repo, tag)) = split_tag(t) {
                    repos_with_tags.insert(repo.to_owned());
                    rows.push(ImageEntry {
                        repository: Some(repo.to_owned()),
                        tag: Some(tag.to_owned()),
                        repo_digest: refs.tag_digest(t).cloned().or_else(|| digest_for(repo)),
                        image: img.clone(),
                    });
                }
            }
            for d in &img.repo_digests {
                let repo = repo_of(d);
                if repos_with_tags.insert(repo.to_owned()) {
                    rows.push(ImageEntry {
                        repository: Some(repo.to_owned()),
                        tag: None,
                        repo_digest: digest_for(repo),
                        image: img.clone(),
                    });
                }
            }
            if img.repo_tags.is_empty() && img.repo_digests.is_empty() {
                rows.push(ImageEntry {
                    repository: None,
                    tag: None,
                    repo_digest: None,
                    image: img.clone(),
                });
            }
        }
        rows.sort_by(|a, b| {
            b.image
                .created
                .cmp(&a.image.created)
                .then_with(|| a.repository.cmp(&b.repository))
                .then_with(|| a.tag.cmp(&b.tag))
        });
        Ok(rows)
    }

    /// Removes one reference (`repo:tag` or `repo@digest`); the image itself stays.
    /// Returns the image ID it pointed at.
    pub fn untag(&self, reference: &str) -> Result<Digest> {
        let _lock = self.lock()?;
        let mut refs = self.read_refs()?;
        let id = refs
            .tags
            .remove(reference)
            .or_else(|| refs.digests.remove(reference))
            .ok_or_else(|| Error::ImageNotFound {
                reference: reference.to_owned(),
            })?;
        self.write_refs(&refs)?;
        Ok(id)
    }
}
