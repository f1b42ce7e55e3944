//! Writing `docker save` archives (docker-archive and OCI layout in one tar) and the
//! flattened filesystem tar of `export`.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use oci_spec::image::Digest;
use serde_json::{Value, json};

use super::{is_uncompressed, media};
use crate::digest::{DigestMismatchIo, VerifyingReader, sha256_hex, sha256_of};
use crate::driver::StorageDriver;
use crate::error::{Error, Result};
use crate::image::{ImageRecord, LayerRecord};
use crate::store::Store;
use crate::unpack::decompress;

/// One name of a saved image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The full reference, e.g. `docker.io/library/busybox:latest` (`index.json`'s
    /// `io.containerd.image.name`).
    pub full: String,
    /// Docker's familiar form, e.g. `busybox:latest` (`manifest.json`'s `RepoTags`).
    pub familiar: String,
}

impl ImageName {
    /// A name from its full and familiar forms.
    pub fn new(full: impl Into<String>, familiar: impl Into<String>) -> Self {
        ImageName {
            full: full.into(),
            familiar: familiar.into(),
        }
    }

    fn tag(&self) -> &str {
        tag_of(&self.full).unwrap_or("latest")
    }
}

/// An image to [`save`], with the names to record for it (none: saved by ID).
#[derive(Debug, Clone)]
pub struct SaveImage {
    /// The image.
    pub image: ImageRecord,
    /// Its names in the archive.
    pub names: Vec<ImageName>,
}

fn tag_of(reference: &str) -> Option<&str> {
    let (_, tag) = reference.rsplit_once(':')?;
    (!tag.contains('/')).then_some(tag)
}

fn repo_of(reference: &str) -> &str {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => reference,
    }
}

fn werr(e: io::Error) -> Error {
    match e
        .get_ref()
        .and_then(|i| i.downcast_ref::<DigestMismatchIo>())
    {
        Some(m) => Error::DigestMismatch {
            what: "stored layer",
            expected: m.expected.clone(),
            actual: m.actual.clone(),
        },
        None => Error::io("write archive", "<archive>", e),
    }
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    // The epoch, as docker does: the same images always give the same archive.
    h.set_mtime(0);
    h
}

struct Writer<'a> {
    b: tar::Builder<&'a mut dyn Write>,
    written: HashSet<String>,
}

impl Writer<'_> {
    fn dir(&mut self, path: &str) -> Result<()> {
        let mut h = header(tar::EntryType::Directory, 0, 0o755);
        self.b.append_data(&mut h, path, io::empty()).map_err(werr)
    }

    fn file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
        self.b.append_data(&mut h, path, data).map_err(werr)
    }

    /// Writes a blob once; returns its path.
    fn blob(&mut self, digest: &Digest, data: &[u8]) -> Result<String> {
        let path = format!("blobs/sha256/{}", sha256_hex(digest)?);
        if self.written.insert(path.clone()) {
            self.file(&path, data)?;
        }
        Ok(path)
    }

    /// Writes a layer's uncompressed tar once, verified against its diff ID; returns its
    /// path.
    fn layer(&mut self, store: &Store, layer: &LayerRecord, tar_size: u64) -> Result<String> {
        let path = format!("blobs/sha256/{}", sha256_hex(&layer.diff_id)?);
        if !self.written.insert(path.clone()) {
            return Ok(path);
        }
        let f = store.blobs().open(&layer.digest)?;
        let tar = decompress(&layer.media_type, BufReader::with_capacity(256 * 1024, f))?;
        let mut exact = Exact {
            inner: VerifyingReader::new(tar, layer.diff_id.clone())?,
            left: tar_size,
        };
        let mut h = header(tar::EntryType::Regular, tar_size, 0o644);
        self.b
            .append_data(&mut h, &path, &mut exact)
            .map_err(werr)?;
        Ok(path)
    }
}

/// A reader that must yield exactly `left` bytes (and then end, which lets a wrapped
/// [`VerifyingReader`] check its digest).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other("stored layer is longer than recorded")),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::other("stored layer is shorter than recorded"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The size of a layer's uncompressed tar: the blob's size when it is uncompressed, else
/// what the driver recorded when it unpacked it, else counted by decompressing.
fn tar_size(store: &Store, driver: Option<&dyn StorageDriver>, layer: &LayerRecord) -> Result<u64> {
    if is_uncompressed(&layer.media_type) {
        return store.blobs().size(&layer.digest);
    }
    if let Some(d) = driver
        && d.has_layer(&layer.chain_id)?
    {
        let info = d.layer_info(&layer.chain_id)?;
        if info.diff_id == layer.diff_id && info.tar_size > 0 {
            return Ok(info.tar_size);
        }
    }
    let f = store.blobs().open(&layer.digest)?;
    let mut tar = decompress(&layer.media_type, BufReader::with_capacity(256 * 1024, f))?;
    io::copy(&mut tar, &mut io::sink())
        .map_err(|e| Error::io("read layer", layer.digest.to_string(), e))
}

/// Writes `images` as one `docker save` archive to `out`: a docker-archive
/// (`manifest.json`, `repositories`) and an OCI image layout (`oci-layout`, `index.json`)
/// sharing `blobs/sha256/`, with uncompressed layers, as docker 25+ does. `driver`, when
/// given, supplies uncompressed layer sizes without a decompression pass. Each layer is
/// checked against its diff ID as it is written.
///
/// # Errors
/// Missing blobs, a stored layer that does not match its diff ID, and write errors. The
/// output is incomplete after an error: write to a temp file and rename it on success.
pub fn save(
    store: &Store,
    driver: Option<&dyn StorageDriver>,
    images: &[SaveImage],
    out: &mut dyn Write,
) -> Result<()> {
    let mut w = Writer {
        b: tar::Builder::new(out),
        written: HashSet::new(),
    };
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    let mut docs = Documents::default();
    for img in images {
        docs.add_image(&mut w, store, driver, img)?;
    }
    docs.write(&mut w)?;
    let out = w.b.into_inner().map_err(werr)?;
    out.flush().map_err(werr)
}

fn to_json(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::InvalidManifest {
        reason: e.to_string(),
    })
}

/// The archive's top-level documents, filled image by image.
#[derive(Default)]
struct Documents {
    /// `manifest.json` entries.
    manifest_json: Vec<Value>,
    /// `index.json` manifest descriptors.
    index: Vec<Value>,
    /// `repositories`: repository -> tag -> top layer's diff ID hex.
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

impl Documents {
    /// Writes one image's config, layers and manifest, and records it in the documents.
    fn add_image(
        &mut self,
        w: &mut Writer<'_>,
        store: &Store,
        driver: Option<&dyn StorageDriver>,
        img: &SaveImage,
    ) -> Result<()> {
        let rec = &img.image;
        let config = store.blobs().read(&rec.config_digest)?;
        let config_path = w.blob(&rec.config_digest, &config)?;
        let mut layer_paths = Vec::new();
        let mut layer_descs = Vec::new();
        for layer in &rec.layers {
            let size = tar_size(store, driver, layer)?;
            layer_paths.push(w.layer(store, layer, size)?);
            layer_descs.push(json!({
                "mediaType": media::OCI_LAYER,
                "digest": layer.diff_id.to_string(),
                "size": size,
            }));
        }
        let manifest = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {
                "mediaType": media::OCI_CONFIG,
                "digest": rec.config_digest.to_string(),
                "size": config.len(),
            },
            "layers": layer_descs,
        }))?;
        let manifest_digest = sha256_of(&manifest);
        w.blob(&manifest_digest, &manifest)?;
        let familiar: Vec<&str> = img.names.iter().map(|n| n.familiar.as_str()).collect();
        self.manifest_json.push(json!({
            "Config": config_path,
            "RepoTags": if familiar.is_empty() { Value::Null } else { json!(familiar) },
            "Layers": layer_paths,
        }));
        let desc = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": media::OCI_MANIFEST,
                "digest": manifest_digest.to_string(),
                "size": manifest.len(),
            });
            if let (Some(a), Some(obj)) = (annotations, d.as_object_mut()) {
                obj.insert("annotations".into(), a);
            }
            d
        };
        if img.names.is_empty() {
            self.index.push(desc(None));
        }
        for name in &img.names {
            self.index.push(desc(Some(json!({
                "io.containerd.image.name": name.full,
                "org.opencontainers.image.ref.name": name.tag(),
            }))));
            if let Some(top) = rec.layers.last() {
                self.repositories
                    .entry(repo_of(&name.familiar).to_owned())
                    .or_default()
                    .insert(name.tag().to_owned(), sha256_hex(&top.diff_id)?.to_owned());
            }
        }
        Ok(())
    }

    /// Writes `index.json`, `manifest.json`, `oci-layout` and `repositories`.
    fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        w.file(
            "index.json",
            &to_json(&json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": self.index,
            }))?,
        )?;
        w.file("manifest.json", &to_json(&json!(self.manifest_json))?)?;
        w.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        if !self.repositories.is_empty() {
            w.file("repositories", &to_json(&json!(self.repositories))?)?;
        }
        Ok(())
    }
}

/// Writes the file tree under `root` (a container's mounted rootfs, say) as a tar, as
/// `docker export` does: every file, directory, symlink, device and fifo with its mode,
/// owner, times and extended attributes; hard links kept as links; sockets skipped.
///
/// # Errors
/// I/O errors reading the tree or writing `out`.
pub fn write_tree(root: &Path, out: &mut dyn Write) -> Result<()> {
    crate::driver::tree_tar(root, out)
}

/// [`write_tree`] staying on `root`'s filesystem: other filesystems mounted below it are
/// written as empty directories (or empty files, for a file mount point) and not read.
/// For a running container's rootfs seen through `/proc/PID/root`: its image and its
/// changes, without /proc, /sys, volumes or the bind-mounted /etc files, as
/// `docker export` shows it.
///
/// # Errors
/// I/O errors reading the tree or writing `out`.
pub fn write_tree_one_filesystem(root: &Path, out: &mut dyn Write) -> Result<()> {
    crate::driver::tree_tar_one_filesystem(root, out)
}
