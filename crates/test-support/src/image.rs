//! Building images in code: tar layers entry by entry ([`LayerBuilder`]), compressed
//! layers ([`Layer`]), image configs and manifests ([`ImageBuilder`]), image indexes
//! ([`IndexBuilder`]), and pushing them with the registry crate's own push.

use std::io::Write;

use registry::{
    Client, Compression, Descriptor, Digest, MediaType, Platform, Reference, media_types,
};

use crate::error::{Error, IoContext};

/// The modification time fixture entries get unless told otherwise (2023-11-14), so
/// fixture digests are the same on every run.
pub const FIXED_MTIME: u64 = 1_700_000_000;

/// The `created` time of fixture image configs.
pub const FIXED_CREATED: &str = "2023-11-14T22:13:20Z";

/// Mode, owner and modification time of a tar entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time (seconds since the epoch).
    pub mtime: u64,
}

impl Meta {
    /// Root-owned with `mode` and [`FIXED_MTIME`].
    pub fn mode(mode: u32) -> Self {
        Self {
            mode,
            uid: 0,
            gid: 0,
            mtime: FIXED_MTIME,
        }
    }

    /// The same with another owner.
    pub fn owner(self, uid: u64, gid: u64) -> Self {
        Self { uid, gid, ..self }
    }

    /// The same with another modification time.
    pub fn mtime(self, mtime: u64) -> Self {
        Self { mtime, ..self }
    }
}

/// Writes a layer tar entry by entry: files, directories, symlinks, hard links,
/// whiteouts, and raw (possibly hostile) entries. Paths are relative (`etc/passwd`).
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
    error: Option<Error>,
}

impl std::fmt::Debug for LayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerBuilder").finish_non_exhaustive()
    }
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn header(kind: tar::EntryType, meta: Meta, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode);
    h.set_uid(meta.uid);
    h.set_gid(meta.gid);
    h.set_mtime(meta.mtime);
    h.set_size(size);
    h
}

impl LayerBuilder {
    /// An empty layer.
    pub fn new() -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        tar.mode(tar::HeaderMode::Complete);
        Self { tar, error: None }
    }

    fn record(&mut self, what: &str, path: &str, r: std::io::Result<()>) {
        if let Err(source) = r {
            if self.error.is_none() {
                self.error = Some(Error::Io {
                    context: format!("adding {what} {path:?} to a layer"),
                    source,
                });
            }
        }
    }

    /// A directory.
    pub fn dir(&mut self, path: &str, meta: Meta) -> &mut Self {
        let mut h = header(tar::EntryType::Directory, meta, 0);
        let r = self.tar.append_data(&mut h, path, std::io::empty());
        self.record("directory", path, r);
        self
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, contents: &[u8], meta: Meta) -> &mut Self {
        let mut h = header(tar::EntryType::Regular, meta, contents.len() as u64);
        let r = self.tar.append_data(&mut h, path, contents);
        self.record("file", path, r);
        self
    }

    /// A symbolic link to `target` (stored verbatim, absolute or relative).
    pub fn symlink(&mut self, path: &str, target: &str, meta: Meta) -> &mut Self {
        let mut h = header(tar::EntryType::Symlink, meta, 0);
        let r = self.tar.append_link(&mut h, path, target);
        self.record("symlink", path, r);
        self
    }

    /// A hard link to `target`, an earlier entry's path in this layer.
    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(tar::EntryType::Link, Meta::mode(0o644), 0);
        let r = self.tar.append_link(&mut h, path, target);
        self.record("hard link", path, r);
        self
    }

    /// A FIFO.
    pub fn fifo(&mut self, path: &str, meta: Meta) -> &mut Self {
        let mut h = header(tar::EntryType::Fifo, meta, 0);
        let r = self.tar.append_data(&mut h, path, std::io::empty());
        self.record("fifo", path, r);
        self
    }

    /// A whiteout deleting `path` from lower layers (`dir/.wh.name`).
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let path = path.trim_end_matches('/');
        let wh = match path.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/.wh.{name}"),
            None => format!(".wh.{path}"),
        };
        self.file(&wh, b"", Meta::mode(0o644))
    }

    /// An opaque whiteout: `dir` hides everything lower layers had in it
    /// (`dir/.wh..wh..opq`).
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        let p = format!("{}/.wh..wh..opq", dir.trim_end_matches('/'));
        self.file(&p, b"", Meta::mode(0o644))
    }

    /// A raw entry whose name (and link name) bytes are written as given, without the
    /// checks `tar` normally applies: for hostile layers (`../x`, `/etc/x`, links out of
    /// the root). Names are limited to 100 bytes.
    pub fn raw(
        &mut self,
        name: &[u8],
        kind: tar::EntryType,
        link: Option<&[u8]>,
        data: &[u8],
        meta: Meta,
    ) -> &mut Self {
        let shown = String::from_utf8_lossy(name).into_owned();
        if name.len() > 100 || link.is_some_and(|l| l.len() > 100) {
            self.record(
                "raw entry",
                &shown,
                Err(std::io::Error::other("raw names are limited to 100 bytes")),
            );
            return self;
        }
        let mut h = header(kind, meta, data.len() as u64);
        if let Some(gnu) = h.as_gnu_mut() {
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name);
            if let Some(link) = link {
                gnu.linkname = [0; 100];
                gnu.linkname[..link.len()].copy_from_slice(link);
            }
        }
        h.set_cksum();
        let r = self.tar.append(&h, data);
        self.record("raw entry", &shown, r);
        self
    }

    /// The finished (uncompressed) tar.
    ///
    /// # Errors
    /// The first error met while adding entries (an invalid path, say).
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.tar
            .into_inner()
            .context(|| "finishing a layer tar".into())
    }
}

/// Which family of media types an image uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// Docker v2 schema 2 manifests, Docker manifest lists, Docker layer types.
    Docker,
    /// OCI image manifests, indexes and layer types.
    Oci,
}

impl Flavour {
    /// The image manifest media type.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            Self::Docker => media_types::DOCKER_MANIFEST,
            Self::Oci => media_types::OCI_MANIFEST,
        }
    }

    /// The index (manifest list) media type.
    pub fn index_media_type(self) -> &'static str {
        match self {
            Self::Docker => media_types::DOCKER_MANIFEST_LIST,
            Self::Oci => media_types::OCI_INDEX,
        }
    }

    /// The config media type.
    pub fn config_media_type(self) -> &'static str {
        match self {
            Self::Docker => media_types::DOCKER_CONFIG,
            Self::Oci => media_types::OCI_CONFIG,
        }
    }

    /// The layer media type for `compression`.
    pub fn layer_media_type(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (Self::Docker, Compression::Gzip) => media_types::DOCKER_LAYER_GZIP,
            (Self::Docker, Compression::None) => media_types::DOCKER_LAYER,
            (Self::Docker, Compression::Zstd) => media_types::DOCKER_LAYER_ZSTD,
            (Self::Oci, Compression::Gzip) => media_types::OCI_LAYER_GZIP,
            (Self::Oci, Compression::None) => media_types::OCI_LAYER,
            (Self::Oci, Compression::Zstd) => media_types::OCI_LAYER_ZSTD,
        }
    }
}

/// A compressed layer blob with its digests.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Its media type.
    pub media_type: String,
    /// The blob as pushed.
    pub blob: Vec<u8>,
    /// The digest of `blob`.
    pub digest: Digest,
    /// The digest of the uncompressed tar (the config's `diff_id`).
    pub diff_id: Digest,
    /// The size of the uncompressed tar.
    pub tar_size: u64,
}

impl Layer {
    /// Compresses `tar` for `flavour`.
    ///
    /// # Errors
    /// [`Error::Io`] when compression fails.
    pub fn new(tar: &[u8], compression: Compression, flavour: Flavour) -> Result<Self, Error> {
        let blob = match compression {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(tar)
                    .context(|| "gzip-compressing a layer".into())?;
                enc.finish().context(|| "gzip-compressing a layer".into())?
            }
            Compression::Zstd => {
                zstd::stream::encode_all(tar, 3).context(|| "zstd-compressing a layer".into())?
            }
        };
        Ok(Self {
            media_type: flavour.layer_media_type(compression).to_owned(),
            digest: registry::sha256_digest(&blob),
            diff_id: registry::sha256_digest(tar),
            tar_size: tar.len() as u64,
            blob,
        })
    }

    /// Its descriptor.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::from(self.media_type.as_str()),
            self.blob.len() as u64,
            self.digest.clone(),
        )
    }
}

/// Builds an image config and manifest around layers.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    flavour: Flavour,
    platform: Platform,
    layers: Vec<Layer>,
    config: serde_json::Map<String, serde_json::Value>,
}

/// A built image: config, manifest and layers, ready to push.
#[derive(Clone, Debug)]
pub struct Image {
    /// Media type family.
    pub flavour: Flavour,
    /// The platform in its config.
    pub platform: Platform,
    /// The config JSON.
    pub config: Vec<u8>,
    /// The digest of `config` (the image ID).
    pub config_digest: Digest,
    /// The manifest JSON.
    pub manifest: Vec<u8>,
    /// The digest of `manifest`.
    pub manifest_digest: Digest,
    /// The layers, base first.
    pub layers: Vec<Layer>,
}

impl ImageBuilder {
    /// An image for the host platform, with `PATH` set.
    pub fn new(flavour: Flavour) -> Self {
        let mut config = serde_json::Map::new();
        config.insert(
            "Env".into(),
            serde_json::json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ]),
        );
        Self {
            flavour,
            platform: Platform::host(),
            layers: Vec::new(),
            config,
        }
    }

    /// Sets the platform recorded in the config (and in an index entry).
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    /// Appends a layer.
    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    fn set(mut self, key: &str, value: serde_json::Value) -> Self {
        self.config.insert(key.to_owned(), value);
        self
    }

    /// `Cmd`.
    pub fn cmd(self, cmd: &[&str]) -> Self {
        self.set("Cmd", serde_json::json!(cmd))
    }

    /// `Entrypoint`.
    pub fn entrypoint(self, entrypoint: &[&str]) -> Self {
        self.set("Entrypoint", serde_json::json!(entrypoint))
    }

    /// `Env` (replacing the default `PATH`).
    pub fn env(self, env: &[&str]) -> Self {
        self.set("Env", serde_json::json!(env))
    }

    /// `WorkingDir`.
    pub fn workdir(self, dir: &str) -> Self {
        self.set("WorkingDir", serde_json::json!(dir))
    }

    /// `User`.
    pub fn user(self, user: &str) -> Self {
        self.set("User", serde_json::json!(user))
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        let labels = self
            .config
            .entry("Labels")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(map) = labels.as_object_mut() {
            map.insert(key.to_owned(), serde_json::json!(value));
        }
        self
    }

    /// Builds config and manifest.
    ///
    /// # Errors
    /// [`Error::Io`] if JSON serialisation fails.
    pub fn build(self) -> Result<Image, Error> {
        let mut config = serde_json::json!({
            "architecture": self.platform.architecture(),
            "os": self.platform.os(),
            "created": FIXED_CREATED,
            "config": self.config,
            "rootfs": {
                "type": "layers",
                "diff_ids": self.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
            },
            "history": self.layers.iter().enumerate().map(|(i, _)| serde_json::json!({
                "created": FIXED_CREATED,
                "created_by": format!("mydocker test-support layer {}", i + 1),
            })).collect::<Vec<_>>(),
        });
        if let (Some(v), Some(obj)) = (self.platform.variant(), config.as_object_mut()) {
            obj.insert("variant".into(), serde_json::json!(v));
        }
        let config = to_json(&config)?;
        let config_digest = registry::sha256_digest(&config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": self.flavour.manifest_media_type(),
            "config": {
                "mediaType": self.flavour.config_media_type(),
                "digest": config_digest.to_string(),
                "size": config.len(),
            },
            "layers": self.layers.iter().map(|l| serde_json::json!({
                "mediaType": l.media_type,
                "digest": l.digest.to_string(),
                "size": l.blob.len(),
            })).collect::<Vec<_>>(),
        });
        let manifest = to_json(&manifest)?;
        Ok(Image {
            flavour: self.flavour,
            platform: self.platform,
            manifest_digest: registry::sha256_digest(&manifest),
            manifest,
            config_digest,
            config,
            layers: self.layers,
        })
    }
}

fn to_json(v: &serde_json::Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Io {
        context: "serialising JSON".into(),
        source: std::io::Error::other(e),
    })
}

/// Uploads `blob` unless the repository already has it.
pub(crate) fn push_blob_once(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    blob: &[u8],
) -> Result<(), Error> {
    if !client.blob_exists(reference, digest)? {
        let mut data = blob;
        client.push_blob(reference, digest, blob.len() as u64, &mut data)?;
    }
    Ok(())
}

impl Image {
    /// The manifest media type.
    pub fn manifest_media_type(&self) -> &'static str {
        self.flavour.manifest_media_type()
    }

    /// The manifest's descriptor, with the platform (as in an index entry).
    pub fn descriptor(&self) -> Descriptor {
        let mut d = Descriptor::new(
            MediaType::from(self.manifest_media_type()),
            self.manifest.len() as u64,
            self.manifest_digest.clone(),
        );
        let mut p = serde_json::json!({
            "architecture": self.platform.architecture(),
            "os": self.platform.os(),
        });
        if let (Some(v), Some(obj)) = (self.platform.variant(), p.as_object_mut()) {
            obj.insert("variant".into(), serde_json::json!(v));
        }
        d.set_platform(serde_json::from_value(p).ok());
        d
    }

    /// Pushes the layers and config (those the registry lacks), then the manifest under
    /// `reference`'s tag (or digest). Returns the manifest digest.
    ///
    /// # Errors
    /// [`Error::Registry`] from the client.
    pub fn push(&self, client: &Client, reference: &Reference) -> Result<Digest, Error> {
        for layer in &self.layers {
            push_blob_once(client, reference, &layer.digest, &layer.blob)?;
        }
        push_blob_once(client, reference, &self.config_digest, &self.config)?;
        Ok(client.push_manifest(reference, self.manifest_media_type(), &self.manifest)?)
    }
}

/// Builds an image index (or Docker manifest list) over images.
#[derive(Clone, Debug)]
pub struct IndexBuilder {
    flavour: Flavour,
    images: Vec<Image>,
}

/// A built index with its images.
#[derive(Clone, Debug)]
pub struct Index {
    /// Media type family.
    pub flavour: Flavour,
    /// The index JSON.
    pub manifest: Vec<u8>,
    /// Its digest.
    pub digest: Digest,
    /// The images, in entry order.
    pub images: Vec<Image>,
}

impl IndexBuilder {
    /// An empty index.
    pub fn new(flavour: Flavour) -> Self {
        Self {
            flavour,
            images: Vec::new(),
        }
    }

    /// Adds an image (its platform goes into the entry).
    pub fn image(mut self, image: Image) -> Self {
        self.images.push(image);
        self
    }

    /// Builds the index.
    ///
    /// # Errors
    /// [`Error::Io`] if JSON serialisation fails.
    pub fn build(self) -> Result<Index, Error> {
        let manifests: Vec<serde_json::Value> = self
            .images
            .iter()
            .map(|i| serde_json::to_value(i.descriptor()).unwrap_or_default())
            .collect();
        let manifest = to_json(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": self.flavour.index_media_type(),
            "manifests": manifests,
        }))?;
        Ok(Index {
            flavour: self.flavour,
            digest: registry::sha256_digest(&manifest),
            manifest,
            images: self.images,
        })
    }
}

impl Index {
    /// The index media type.
    pub fn media_type(&self) -> &'static str {
        self.flavour.index_media_type()
    }

    /// Pushes every image by digest, then the index under `reference`'s tag. Returns the
    /// index digest.
    ///
    /// # Errors
    /// [`Error::Registry`] from the client.
    pub fn push(&self, client: &Client, reference: &Reference) -> Result<Digest, Error> {
        for image in &self.images {
            image.push(
                client,
                &reference.with_digest(image.manifest_digest.clone()),
            )?;
        }
        Ok(client.push_manifest(reference, self.media_type(), &self.manifest)?)
    }
}
