//! Loading `docker save` archives and OCI image layout archives.
//!
//! Three steps: [`ArchiveFile`] gets a plain tar on disk (the file itself, or a copy in
//! `ROOT/tmp` of a pipe or a compressed archive); the index maps each entry name to its byte
//! range (no file named by the archive is ever created); the plan reads and verifies every
//! JSON document and descriptor. Only then are layers ingested (blob and driver, each
//! verified), and each image recorded once all its layers are committed.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;

use oci_spec::image::Digest;

use super::index::{Index, Loc};
use super::plan::{plan_docker, plan_oci};
use super::{Section, TempFile, bad};
use crate::chain::chain_ids;
use crate::driver::StorageDriver;
use crate::error::{ArchiveReason, Error, IoContext, Result};
use crate::image::{ImageRecord, NewImage, parse_manifest_and_config};
use crate::pull::LayerSource;
use crate::store::Store;

/// A plain tar on disk, ready for [`load`].
#[derive(Debug)]
pub struct ArchiveFile {
    pub(super) file: File,
    pub(super) len: u64,
    _temp: Option<TempFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    Gzip,
    Zstd,
}

pub(super) fn sniff(head: &[u8]) -> Result<Compression> {
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => return Err(bad(ArchiveReason::Compression("xz"))),
        [b'B', b'Z', b'h', ..] => return Err(bad(ArchiveReason::Compression("bzip2"))),
        _ => Compression::None,
    })
}

/// Reads up to `buf.len()` bytes at `offset` (fewer only at end of file).
pub(super) fn read_head(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl ArchiveFile {
    /// Uses `file` in place when it is a regular file holding a plain tar; a compressed
    /// archive (gzip, zstd) or a pipe is first copied (decompressed) into `ROOT/tmp`.
    ///
    /// # Errors
    /// I/O errors, and [`ArchiveReason::Compression`] for bzip2 and xz.
    pub fn open(store: &Store, file: File) -> Result<ArchiveFile> {
        let meta = file.metadata().ctx("stat", "<archive>")?;
        if !meta.is_file() {
            return Self::from_reader(store, file);
        }
        let mut head = [0u8; 6];
        let n = read_head(&file, 0, &mut head).ctx("read", "<archive>")?;
        if sniff(&head[..n])? == Compression::None {
            return Ok(ArchiveFile {
                len: meta.len(),
                file,
                _temp: None,
            });
        }
        Self::from_reader(store, Section::new(&file, 0, meta.len()))
    }

    /// Copies the archive that `input` streams (plain, gzip or zstd) into `ROOT/tmp`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_reader(store: &Store, mut input: impl Read) -> Result<ArchiveFile> {
        let mut head = [0u8; 6];
        let mut n = 0;
        while n < head.len() {
            match input.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read", "<archive>", e)),
            }
        }
        let chained = (&head[..n]).chain(input);
        let mut reader: Box<dyn Read> = match sniff(&head[..n])? {
            Compression::None => Box::new(chained),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                BufReader::with_capacity(256 * 1024, chained),
            )),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(chained)
                    .map_err(|e| Error::io("zstd init", "<archive>", e))?,
            ),
        };
        let temp = TempFile::create(&store.tmp_dir(), "archive")?;
        let len = io::copy(&mut reader, &mut &temp.file).ctx("copy archive to", &temp.path)?;
        let file = temp.file.try_clone().ctx("open", &temp.path)?;
        Ok(ArchiveFile {
            file,
            len,
            _temp: Some(temp),
        })
    }

    pub(super) fn section(&self, at: Loc) -> Section<'_> {
        Section::new(&self.file, at.offset, at.size)
    }
}

/// Options of [`load`].
pub struct LoadOptions<'a> {
    /// Maps a name found in the archive (`busybox:latest` from `RepoTags`,
    /// `docker.io/library/busybox:latest` from an OCI annotation) to the store's
    /// (repository, tag); `None` drops the name.
    pub resolve_name: &'a dyn Fn(&str) -> Option<(String, String)>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions").finish_non_exhaustive()
    }
}

/// An image [`load`] recorded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The record, with its references.
    pub image: ImageRecord,
    /// The names given to it, in the store's `repository:tag` form, in archive order
    /// (empty: loaded untagged).
    pub names: Vec<String>,
}

/// Loads every image of a `docker save` archive (old or new style) or an OCI image layout
/// archive: layers are stored as blobs and unpacked into `driver` (both verified), the
/// config and manifest stored (docker-archives without an OCI manifest get an OCI manifest
/// describing their layers as they are in the archive), and each image recorded and
/// tagged. A docker-archive's `manifest.json` wins over an OCI `index.json` in the same
/// tar, as with docker.
///
/// The whole archive is checked before anything is written; a layer that fails its digest
/// stops the load before its blob is committed, and an image is recorded only with all its
/// layers. Layers committed for an image that then failed stay, unreferenced, until
/// garbage collection (as after a failed pull).
///
/// # Errors
/// [`Error::ImageArchive`] for a malformed or hostile archive, [`Error::DigestMismatch`],
/// the unpacker's errors, and I/O errors.
pub fn load(
    store: &Store,
    driver: &dyn StorageDriver,
    archive: &ArchiveFile,
    opts: &LoadOptions<'_>,
) -> Result<Vec<Loaded>> {
    let index = Index::build(archive)?;
    let plans = if index.has("manifest.json") {
        // The OCI half of a docker 25 archive only lends its manifests; ignore it if broken.
        let oci = if index.has("index.json") {
            plan_oci(&index, archive).unwrap_or_default()
        } else {
            Vec::new()
        };
        plan_docker(&index, archive, &oci)?
    } else if index.has("index.json") {
        plan_oci(&index, archive)?
    } else {
        return Err(bad(ArchiveReason::UnknownFormat));
    };
    if plans.is_empty() {
        return Err(bad(ArchiveReason::Empty));
    }
    for p in &plans {
        // The store's own parser must agree with the plan before anything is written.
        parse_manifest_and_config(&p.manifest, |_| Ok(p.config.clone()))?;
    }

    let _lease = store.lease()?;
    let mut loaded = Vec::with_capacity(plans.len());
    for plan in plans {
        let diff_ids: Vec<Digest> = plan.layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids)?;
        for (i, l) in plan.layers.iter().enumerate() {
            let parent = i.checked_sub(1).map(|p| &chains[p]);
            let source = LayerSource {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                diff_id: l.diff_id.clone(),
            };
            let (staged, _) =
                store.ingest_layer(driver, parent, &source, || Ok(archive.section(l.loc)))?;
            driver.commit_layer(staged)?;
        }
        store
            .blobs()
            .write_bytes(&plan.config, Some(&plan.config_digest))?;
        store
            .blobs()
            .write_bytes(&plan.manifest, Some(&plan.manifest_digest))?;
        let mut names: Vec<(String, String)> = Vec::new();
        for n in &plan.names {
            if let Some(rt) = (opts.resolve_name)(n)
                && !names.contains(&rt)
            {
                names.push(rt);
            }
        }
        let first = names.first();
        let record = store.add_unpacked_image(
            &NewImage {
                repository: first.map(|n| n.0.clone()).unwrap_or_default(),
                tag: first.map(|n| n.1.clone()),
                repo_digest: None,
                manifest_digest: plan.manifest_digest.clone(),
            },
            driver,
        )?;
        for (repo, tag) in names.iter().skip(1) {
            store.tag(record.id.as_ref(), &format!("{repo}:{tag}"))?;
        }
        loaded.push(Loaded {
            image: store.image(record.id.as_ref())?,
            names: names.iter().map(|(r, t)| format!("{r}:{t}")).collect(),
        });
    }
    Ok(loaded)
}
