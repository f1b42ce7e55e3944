//! Manifests and image indexes: fetching them (size-capped, digest-checked), telling the
//! four supported media types apart, and choosing a platform's manifest from an index.

mod fetch;

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};

use crate::error::Error;
use crate::platform::Platform;
use crate::reference::Reference;

/// Media type strings of manifests, configs and layers.
pub mod media_types {
    /// Docker image manifest v2, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list (multi-platform).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index (multi-platform).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker's obsolete schema 1 manifest (signed).
    pub const DOCKER_MANIFEST_V1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    /// Docker's obsolete schema 1 manifest.
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker gzip layer (the usual one).
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker uncompressed layer (as containerd names it).
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    /// Docker zstd layer (as containerd names it).
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    /// Docker foreign (non-distributable) uncompressed layer.
    pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
    /// Docker foreign (non-distributable) gzip layer.
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// OCI uncompressed layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// OCI non-distributable layers (deprecated, but still seen).
    pub const OCI_LAYER_NONDIST: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    /// OCI non-distributable gzip layer.
    pub const OCI_LAYER_NONDIST_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    /// OCI non-distributable zstd layer.
    pub const OCI_LAYER_NONDIST_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

    /// What `Accept` says when fetching manifests.
    pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
}

/// The four kinds of manifest documents this client understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// Docker image manifest v2 schema 2.
    DockerManifest,
    /// OCI image manifest.
    OciManifest,
    /// Docker manifest list.
    DockerManifestList,
    /// OCI image index.
    OciIndex,
}

impl ManifestKind {
    /// The kind of a media type, if it is one of the four.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            media_types::DOCKER_MANIFEST => Some(Self::DockerManifest),
            media_types::OCI_MANIFEST => Some(Self::OciManifest),
            media_types::DOCKER_MANIFEST_LIST => Some(Self::DockerManifestList),
            media_types::OCI_INDEX => Some(Self::OciIndex),
            _ => None,
        }
    }

    /// The media type string.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::DockerManifest => media_types::DOCKER_MANIFEST,
            Self::OciManifest => media_types::OCI_MANIFEST,
            Self::DockerManifestList => media_types::DOCKER_MANIFEST_LIST,
            Self::OciIndex => media_types::OCI_INDEX,
        }
    }

    /// Whether this is a multi-platform index (or manifest list).
    pub fn is_index(self) -> bool {
        matches!(self, Self::DockerManifestList | Self::OciIndex)
    }
}

/// A manifest or index exactly as the registry served it, with its verified digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawManifest {
    /// The digest of `bytes` (checked against the reference when pulled by digest).
    pub digest: Digest,
    /// Its kind.
    pub kind: ManifestKind,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl RawManifest {
    /// Its media type string.
    pub fn media_type(&self) -> &'static str {
        self.kind.media_type()
    }

    /// A descriptor for this manifest (for pushing it into an index, say).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::from(self.media_type()),
            self.bytes.len() as u64,
            self.digest.clone(),
        )
    }
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression of a layer media type (docker or OCI flavour), if it is a layer
    /// type this client knows.
    pub fn of_layer(media_type: &str) -> Option<Self> {
        use media_types as m;
        match media_type {
            m::OCI_LAYER | m::OCI_LAYER_NONDIST | m::DOCKER_LAYER | m::DOCKER_FOREIGN_LAYER => {
                Some(Self::None)
            }
            m::OCI_LAYER_GZIP
            | m::OCI_LAYER_NONDIST_GZIP
            | m::DOCKER_LAYER_GZIP
            | m::DOCKER_FOREIGN_LAYER_GZIP => Some(Self::Gzip),
            m::OCI_LAYER_ZSTD | m::OCI_LAYER_NONDIST_ZSTD | m::DOCKER_LAYER_ZSTD => {
                Some(Self::Zstd)
            }
            _ => None,
        }
    }
}

/// A reference resolved, for one platform, to an image manifest.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// The reference that was resolved.
    pub reference: Reference,
    /// What the tag (or digest) points at: the index when there is one, else the
    /// manifest. This is what docker prints as `Digest:`.
    pub digest: Digest,
    /// The index or manifest list, when the reference points at one.
    pub index: Option<RawManifest>,
    /// The chosen image manifest.
    pub manifest: RawManifest,
    /// `manifest`, parsed (Docker v2 schema 2 manifests parse into the same type).
    pub image: ImageManifest,
    /// The platform of the chosen index entry (`None` for a single-platform reference,
    /// whose platform is only known from the image config).
    pub platform: Option<Platform>,
}

impl ResolvedImage {
    /// The image config descriptor.
    pub fn config(&self) -> &Descriptor {
        self.image.config()
    }

    /// The layer descriptors, base layer first.
    pub fn layers(&self) -> &[Descriptor] {
        self.image.layers()
    }

    /// The compression of each layer, in order (all known; [`crate::Client::resolve`]
    /// refuses manifests with other layer types).
    pub fn layer_compressions(&self) -> Vec<Compression> {
        self.layers()
            .iter()
            .map(|l| Compression::of_layer(l.media_type().as_ref()).unwrap_or(Compression::None))
            .collect()
    }

    /// The sum of the layer sizes (compressed, as docker reports download sizes).
    pub fn download_size(&self) -> u64 {
        self.layers().iter().map(Descriptor::size).sum()
    }
}

/// Determines the kind of a fetched manifest from its `Content-Type`, falling back to its
/// `mediaType` field and then to its shape (some registries serve `application/json`).
pub(crate) fn detect_kind(
    reference: &Reference,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ManifestKind, Error> {
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty());
    if let Some(kind) = content_type
        .as_deref()
        .and_then(ManifestKind::from_media_type)
    {
        return Ok(kind);
    }
    let unsupported = |media_type: &str| Error::UnsupportedMediaType {
        reference: reference.familiar_string(),
        media_type: media_type.to_owned(),
    };
    if let Some(ct) = content_type.as_deref() {
        if ct.starts_with("application/vnd.docker.distribution.manifest.v1") {
            return Err(unsupported(ct));
        }
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        schema_version: Option<u64>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let shape: Shape =
        serde_json::from_slice(bytes).map_err(|source| Error::MalformedManifest {
            reference: reference.familiar_string(),
            media_type: content_type.clone().unwrap_or_default(),
            source,
        })?;
    if let Some(mt) = shape.media_type.as_deref() {
        return ManifestKind::from_media_type(mt).ok_or_else(|| unsupported(mt));
    }
    if shape.schema_version == Some(1) {
        return Err(unsupported(media_types::DOCKER_MANIFEST_V1));
    }
    if shape.manifests.is_some() {
        return Ok(ManifestKind::OciIndex);
    }
    if shape.config.is_some() {
        return Ok(ManifestKind::OciManifest);
    }
    Err(unsupported(content_type.as_deref().unwrap_or("(none)")))
}

pub(crate) fn parse_manifest(
    reference: &Reference,
    raw: &RawManifest,
) -> Result<ImageManifest, Error> {
    let image: ImageManifest =
        serde_json::from_slice(&raw.bytes).map_err(|source| Error::MalformedManifest {
            reference: reference.familiar_string(),
            media_type: raw.media_type().to_owned(),
            source,
        })?;
    let config_type = image.config().media_type().to_string();
    if config_type != media_types::DOCKER_CONFIG && config_type != media_types::OCI_CONFIG {
        return Err(Error::UnsupportedMediaType {
            reference: reference.familiar_string(),
            media_type: config_type,
        });
    }
    for layer in image.layers() {
        let mt = layer.media_type().to_string();
        if Compression::of_layer(&mt).is_none() {
            return Err(Error::UnsupportedMediaType {
                reference: reference.familiar_string(),
                media_type: mt,
            });
        }
    }
    Ok(image)
}

pub(crate) fn parse_index(reference: &Reference, raw: &RawManifest) -> Result<ImageIndex, Error> {
    serde_json::from_slice(&raw.bytes).map_err(|source| Error::MalformedManifest {
        reference: reference.familiar_string(),
        media_type: raw.media_type().to_owned(),
        source,
    })
}

/// Picks the entry of `index` that best fits `wanted`: the highest-ranked match, the
/// first one among equals (docker's order).
pub(crate) fn choose_platform<'a>(
    reference: &Reference,
    index: &'a ImageIndex,
    wanted: &Platform,
) -> Result<(&'a Descriptor, Platform), Error> {
    let mut best: Option<(u32, &Descriptor, Platform)> = None;
    let mut available: Vec<Platform> = Vec::new();
    for entry in index.manifests() {
        let Some(p) = entry.platform() else { continue };
        let platform = Platform::from_oci(p);
        if platform.os() == "unknown" && platform.architecture() == "unknown" {
            // Attestation manifests (buildkit) are not images.
            continue;
        }
        if !available.contains(&platform) {
            available.push(platform.clone());
        }
        if let Some(rank) = wanted.rank(&platform) {
            if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                best = Some((rank, entry, platform));
            }
        }
    }
    match best {
        Some((_, entry, platform)) => Ok((entry, platform)),
        None => Err(Error::NoMatchingPlatform {
            reference: reference.familiar_string(),
            wanted: wanted.clone(),
            available,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    fn r() -> Reference {
        "localhost:5000/x:1".parse().unwrap()
    }

    const DIGEST_A: &str =
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const DIGEST_B: &str =
        "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn index_json() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
            {{"mediaType":"{m}","digest":"{DIGEST_A}","size":10,"platform":{{"architecture":"amd64","os":"linux"}}}},
            {{"mediaType":"{m}","digest":"{DIGEST_B}","size":10,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{m}","digest":"{DIGEST_B}","size":10,"platform":{{"architecture":"unknown","os":"unknown"}}}},
            {{"mediaType":"{m}","digest":"{DIGEST_B}","size":10,"platform":{{"architecture":"arm","os":"linux","variant":"v6"}}}},
            {{"mediaType":"{m}","digest":"{DIGEST_A}","size":10,"platform":{{"architecture":"arm","os":"linux","variant":"v7"}}}}
            ]}}"#,
            media_types::DOCKER_MANIFEST_LIST,
            m = media_types::DOCKER_MANIFEST
        )
    }

    #[test]
    fn kinds_from_content_type_field_and_shape() {
        let r = r();
        let k = |ct: Option<&str>, body: &str| detect_kind(&r, ct, body.as_bytes());
        assert_eq!(
            k(
                Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
                "{}"
            )
            .unwrap(),
            ManifestKind::OciIndex
        );
        assert_eq!(
            k(
                Some("application/json"),
                &format!(r#"{{"mediaType":"{}"}}"#, media_types::DOCKER_MANIFEST)
            )
            .unwrap(),
            ManifestKind::DockerManifest
        );
        assert_eq!(
            k(None, r#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            ManifestKind::OciIndex
        );
        assert_eq!(
            k(Some("text/plain"), r#"{"schemaVersion":2,"config":{}}"#).unwrap(),
            ManifestKind::OciManifest
        );
        let e = k(Some(media_types::DOCKER_MANIFEST_V1_SIGNED), "{}").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        assert!(e.to_string().contains("schema 1"), "{e}");
        let e = k(None, r#"{"schemaVersion":1,"fsLayers":[]}"#).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        let e = k(None, r#"{"mediaType":"application/vnd.cncf.helm.chart"}"#).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        let e = k(Some("application/json"), "{not json").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Malformed);
    }

    #[test]
    fn layer_compressions() {
        use media_types as m;
        assert_eq!(
            Compression::of_layer(m::DOCKER_LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::of_layer(m::OCI_LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::of_layer(m::OCI_LAYER_ZSTD),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::of_layer(m::OCI_LAYER), Some(Compression::None));
        assert_eq!(Compression::of_layer("application/x-tar+lz4"), None);
    }

    fn manifest_json(config_type: &str, layer_type: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{config_type}","digest":"{DIGEST_A}","size":3}},
            "layers":[{{"mediaType":"{layer_type}","digest":"{DIGEST_B}","size":7}}]}}"#,
            media_types::DOCKER_MANIFEST
        )
        .into_bytes()
    }

    fn raw(bytes: Vec<u8>, kind: ManifestKind) -> RawManifest {
        RawManifest {
            digest: sha256_digest(&bytes),
            kind,
            bytes,
        }
    }

    #[test]
    fn docker_v2_manifest_parses_with_layer_types() {
        let m = raw(
            manifest_json(media_types::DOCKER_CONFIG, media_types::DOCKER_LAYER_GZIP),
            ManifestKind::DockerManifest,
        );
        let image = parse_manifest(&r(), &m).unwrap();
        assert_eq!(image.layers().len(), 1);
        assert_eq!(image.layers()[0].size(), 7);
        assert_eq!(image.config().digest().to_string(), DIGEST_A);

        let bad_layer = raw(
            manifest_json(media_types::OCI_CONFIG, "application/x-lz4"),
            ManifestKind::OciManifest,
        );
        assert_eq!(
            parse_manifest(&r(), &bad_layer).unwrap_err().kind(),
            crate::ErrorKind::Unsupported
        );
        let artifact = raw(
            manifest_json(
                "application/vnd.cncf.helm.config.v1+json",
                media_types::OCI_LAYER,
            ),
            ManifestKind::OciManifest,
        );
        assert_eq!(
            parse_manifest(&r(), &artifact).unwrap_err().kind(),
            crate::ErrorKind::Unsupported
        );
        let malformed = raw(
            br#"{"schemaVersion":2,"layers":"x"}"#.to_vec(),
            ManifestKind::OciManifest,
        );
        assert_eq!(
            parse_manifest(&r(), &malformed).unwrap_err().kind(),
            crate::ErrorKind::Malformed
        );
    }

    #[test]
    fn platform_choice() {
        let idx = parse_index(
            &r(),
            &raw(index_json().into_bytes(), ManifestKind::DockerManifestList),
        )
        .unwrap();
        let pick = |p: &str| {
            choose_platform(&r(), &idx, &p.parse().unwrap())
                .map(|(d, p)| (d.digest().to_string(), p.to_string()))
        };
        assert_eq!(
            pick("linux/amd64").unwrap(),
            (DIGEST_A.to_owned(), "linux/amd64".to_owned())
        );
        assert_eq!(
            pick("linux/arm64").unwrap(),
            (DIGEST_B.to_owned(), "linux/arm64/v8".to_owned())
        );
        assert_eq!(
            pick("linux/arm/v7").unwrap(),
            (DIGEST_A.to_owned(), "linux/arm/v7".to_owned())
        );
        assert_eq!(
            pick("linux/arm/v6").unwrap(),
            (DIGEST_B.to_owned(), "linux/arm/v6".to_owned())
        );
        let err = pick("linux/s390x").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(
            msg.contains("no matching manifest for linux/s390x")
                && msg.contains("linux/amd64, linux/arm64/v8, linux/arm/v6, linux/arm/v7"),
            "{msg}"
        );
        assert!(!msg.contains("unknown"), "{msg}");
    }
}
