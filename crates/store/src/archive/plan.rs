//! Planning a load: every JSON document of the archive read and verified (manifests,
//! configs, descriptors and their sizes) before anything is written to the store.

use std::collections::HashMap;
use std::io;

use oci_spec::image::Digest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::index::{Index, Loc, read_small};
use super::read::{ArchiveFile, Compression, read_head, sniff};
use super::{MAX_IMAGES, MAX_LAYERS, bad, malformed, media};
use crate::digest::{parse_sha256, sha256_hex, sha256_of};
use crate::error::{ArchiveReason, Error, IoContext, Result};

/// How deep indexes may nest.
const MAX_INDEX_DEPTH: usize = 4;

/// An OCI descriptor, as far as loading needs it.
#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Debug, Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct ManifestDoc {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// One layer to ingest.
#[derive(Debug, Clone)]
pub(super) struct PlannedLayer {
    pub(super) loc: Loc,
    pub(super) media_type: String,
    pub(super) digest: Digest,
    pub(super) diff_id: Digest,
}

/// One image to load, fully checked except for the layers' content.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) config: Vec<u8>,
    pub(super) config_digest: Digest,
    pub(super) manifest: Vec<u8>,
    pub(super) manifest_digest: Digest,
    pub(super) layers: Vec<PlannedLayer>,
    pub(super) names: Vec<String>,
}

fn diff_ids_of(config: &[u8], what: &str) -> Result<Vec<Digest>> {
    let v: Value = serde_json::from_slice(config).map_err(|e| malformed(what, e))?;
    let ids = v
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(what, "no rootfs.diff_ids"))?;
    if ids.len() > MAX_LAYERS {
        return Err(bad(ArchiveReason::TooMany {
            what: "layers",
            limit: MAX_LAYERS,
        }));
    }
    ids.iter()
        .map(|d| {
            d.as_str()
                .ok_or_else(|| malformed(what, "a diff ID is not a string"))
                .and_then(parse_sha256)
        })
        .collect()
}

/// `blobs/sha256/<hex>` for a descriptor digest.
fn blob_path(digest: &Digest) -> Result<String> {
    Ok(format!("blobs/sha256/{}", sha256_hex(digest)?))
}

/// The digest a path's name claims (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>.tar`).
fn named_digest(path: &str) -> Option<Digest> {
    let name = path.strip_prefix("blobs/sha256/").unwrap_or(path);
    let hex = name
        .strip_suffix(".json")
        .or_else(|| name.strip_suffix(".tar"))
        .unwrap_or(name);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        parse_sha256(&format!("sha256:{}", hex.to_ascii_lowercase())).ok()
    } else {
        None
    }
}

/// Reads a small blob of an OCI layout and checks its size and digest.
fn read_blob(
    index: &Index,
    archive: &ArchiveFile,
    desc: &Descriptor,
    what: &'static str,
) -> Result<(Digest, Vec<u8>)> {
    let digest = parse_sha256(&desc.digest)?;
    let loc = index.resolve(&blob_path(&digest)?)?;
    if loc.size != desc.size {
        return Err(bad(ArchiveReason::SizeMismatch {
            what,
            digest: desc.digest.clone(),
            expected: desc.size,
            actual: loc.size,
        }));
    }
    let data = read_small(archive, loc, what)?;
    let actual = sha256_of(&data);
    if actual != digest {
        return Err(Error::DigestMismatch {
            what,
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok((digest, data))
}

/// The host platform in OCI terms.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    }
}

fn is_index(desc: &Descriptor, doc: &Value) -> bool {
    desc.media_type == media::OCI_INDEX
        || desc.media_type == media::DOCKER_LIST
        || (doc.get("manifests").is_some() && doc.get("layers").is_none())
}

/// Follows `desc` (a manifest, or an index: the host platform's entry) to an image
/// manifest; returns its digest and bytes.
fn image_manifest(
    index: &Index,
    archive: &ArchiveFile,
    desc: &Descriptor,
    depth: usize,
) -> Result<(Digest, Vec<u8>)> {
    let (digest, bytes) = read_blob(index, archive, desc, "manifest")?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| malformed("manifest", e))?;
    if !is_index(desc, &doc) {
        return Ok((digest, bytes));
    }
    if depth >= MAX_INDEX_DEPTH {
        return Err(malformed("index", "indexes nest too deeply"));
    }
    let nested: IndexDoc =
        serde_json::from_value(doc).map_err(|e| malformed(format!("index {digest}"), e))?;
    let arch = host_arch();
    let chosen = nested
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .or_else(|| match nested.manifests.as_slice() {
            [only] if only.platform.is_none() => Some(only),
            _ => None,
        })
        .ok_or_else(|| {
            bad(ArchiveReason::NoMatchingPlatform {
                platform: format!("linux/{arch}"),
                what: format!("index {digest}"),
            })
        })?;
    image_manifest(index, archive, chosen, depth + 1)
}

/// The names an OCI index entry gives its image: containerd's full name, else a
/// `ref.name` that is a whole reference (skopeo's `oci-archive:FILE:busybox:latest`). A
/// bare tag (`latest`) names no repository: the image loads untagged.
fn oci_names(annotations: &HashMap<String, String>) -> Vec<String> {
    if let Some(n) = annotations.get("io.containerd.image.name") {
        return vec![n.clone()];
    }
    match annotations.get("org.opencontainers.image.ref.name") {
        Some(r) if r.contains(':') || r.contains('/') => vec![r.clone()],
        _ => Vec::new(),
    }
}

pub(super) fn plan_oci(index: &Index, archive: &ArchiveFile) -> Result<Vec<Plan>> {
    let loc = index.resolve("index.json")?;
    let doc: IndexDoc = serde_json::from_slice(&read_small(archive, loc, "index.json")?)
        .map_err(|e| malformed("index.json", e))?;
    if doc.manifests.len() > MAX_IMAGES {
        return Err(bad(ArchiveReason::TooMany {
            what: "images",
            limit: MAX_IMAGES,
        }));
    }
    let mut plans: Vec<Plan> = Vec::new();
    for desc in &doc.manifests {
        let (manifest_digest, manifest) = image_manifest(index, archive, desc, 0)?;
        let names = oci_names(&desc.annotations);
        if let Some(p) = plans
            .iter_mut()
            .find(|p| p.manifest_digest == manifest_digest)
        {
            p.names.extend(names);
            continue;
        }
        let m: ManifestDoc = serde_json::from_slice(&manifest)
            .map_err(|e| malformed(format!("manifest {manifest_digest}"), e))?;
        let (config_digest, config) = read_blob(index, archive, &m.config, "config")?;
        let diff_ids = diff_ids_of(&config, "config")?;
        if diff_ids.len() != m.layers.len() {
            return Err(malformed(
                format!("manifest {manifest_digest}"),
                format!(
                    "{} layers but {} diff IDs in the config",
                    m.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let mut layers = Vec::with_capacity(m.layers.len());
        for (l, diff_id) in m.layers.iter().zip(diff_ids) {
            let digest = parse_sha256(&l.digest)?;
            let loc = index.resolve(&blob_path(&digest)?)?;
            if loc.size != l.size {
                return Err(bad(ArchiveReason::SizeMismatch {
                    what: "layer",
                    digest: l.digest.clone(),
                    expected: l.size,
                    actual: loc.size,
                }));
            }
            // Refuse an unknown layer type now rather than half-way through the load.
            crate::unpack::decompress(&l.media_type, io::empty())?;
            layers.push(PlannedLayer {
                loc,
                media_type: l.media_type.clone(),
                digest,
                diff_id,
            });
        }
        plans.push(Plan {
            config,
            config_digest,
            manifest,
            manifest_digest,
            layers,
            names,
        });
    }
    Ok(plans)
}

/// The media type of a docker-archive layer file, from its first bytes.
fn layer_media_type(archive: &ArchiveFile, loc: Loc) -> Result<&'static str> {
    let mut head = [0u8; 6];
    let n = read_head(
        &archive.file,
        loc.offset,
        &mut head[..usize::try_from(loc.size.min(6)).unwrap_or(6)],
    )
    .ctx("read", "<archive>")?;
    Ok(match sniff(&head[..n])? {
        Compression::None => media::OCI_LAYER,
        Compression::Gzip => media::OCI_LAYER_GZIP,
        Compression::Zstd => media::OCI_LAYER_ZSTD,
    })
}

fn hash_section(archive: &ArchiveFile, loc: Loc) -> Result<Digest> {
    let mut w = crate::digest::HashingWriter::new(io::sink());
    io::copy(&mut archive.section(loc), &mut w).ctx("read", "<archive>")?;
    Ok(crate::digest::digest_from_hasher(w.hasher))
}

/// A docker-archive image's config (checked against the digest its path names) and its
/// diff IDs (as many as the entry lists layers).
fn docker_config(
    index: &Index,
    archive: &ArchiveFile,
    e: &DockerEntry,
) -> Result<(Vec<u8>, Digest, Vec<Digest>)> {
    let (config_path, config_loc) = index.resolve_named(&e.config)?;
    let config = read_small(archive, config_loc, &config_path)?;
    let config_digest = sha256_of(&config);
    if let Some(named) = named_digest(&config_path)
        && named != config_digest
    {
        return Err(Error::DigestMismatch {
            what: "image config",
            expected: named.to_string(),
            actual: config_digest.to_string(),
        });
    }
    let diff_ids = diff_ids_of(&config, &config_path)?;
    if diff_ids.len() != e.layers.len() {
        return Err(malformed(
            "manifest.json",
            format!(
                "{} lists {} layers but its config has {} diff IDs",
                e.config,
                e.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    Ok((config, config_digest, diff_ids))
}

/// A docker-archive image's layers.
fn docker_layers(
    index: &Index,
    archive: &ArchiveFile,
    e: &DockerEntry,
    diff_ids: Vec<Digest>,
) -> Result<Vec<PlannedLayer>> {
    let mut layers = Vec::with_capacity(e.layers.len());
    for (lp, diff_id) in e.layers.iter().zip(diff_ids) {
        let (path, loc) = index.resolve_named(lp)?;
        let media_type = layer_media_type(archive, loc)?;
        // The blob digest: named by the path (verified as the blob is stored), the diff ID
        // for a plain tar (verified twice: blob and unpack), else hashed now.
        let digest = match named_digest(&path).filter(|_| path.starts_with("blobs/")) {
            Some(d) => d,
            None if media_type == media::OCI_LAYER => diff_id.clone(),
            None => hash_section(archive, loc)?,
        };
        layers.push(PlannedLayer {
            loc,
            media_type: media_type.to_owned(),
            digest,
            diff_id,
        });
    }
    Ok(layers)
}

/// The OCI manifest of a docker-archive image: the one a docker 25 archive carries for
/// it (in `oci`) when it matches, else one describing the layers as they are.
fn docker_manifest(
    oci: &[Plan],
    config: &[u8],
    config_digest: &Digest,
    layers: &[PlannedLayer],
) -> Result<(Vec<u8>, Digest)> {
    let same = oci.iter().find(|p| {
        &p.config_digest == config_digest
            && p.layers.len() == layers.len()
            && p.layers
                .iter()
                .zip(layers)
                .all(|(a, b)| a.digest == b.digest)
    });
    if let Some(p) = same {
        return Ok((p.manifest.clone(), p.manifest_digest.clone()));
    }
    let layer_descs: Vec<Value> = layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": l.media_type,
                "digest": l.digest.to_string(),
                "size": l.loc.size,
            })
        })
        .collect();
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {
            "mediaType": media::OCI_CONFIG,
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": layer_descs,
    }))
    .map_err(|e| malformed("manifest", e))?;
    let d = sha256_of(&m);
    Ok((m, d))
}

pub(super) fn plan_docker(index: &Index, archive: &ArchiveFile, oci: &[Plan]) -> Result<Vec<Plan>> {
    let loc = index.resolve("manifest.json")?;
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&read_small(archive, loc, "manifest.json")?)
            .map_err(|e| malformed("manifest.json", e))?;
    if entries.len() > MAX_IMAGES {
        return Err(bad(ArchiveReason::TooMany {
            what: "images",
            limit: MAX_IMAGES,
        }));
    }
    let mut plans = Vec::with_capacity(entries.len());
    for e in entries {
        let (config, config_digest, diff_ids) = docker_config(index, archive, &e)?;
        let layers = docker_layers(index, archive, &e, diff_ids)?;
        let (manifest, manifest_digest) = docker_manifest(oci, &config, &config_digest, &layers)?;
        plans.push(Plan {
            config,
            config_digest,
            manifest,
            manifest_digest,
            layers,
            names: e.repo_tags.unwrap_or_default(),
        });
    }
    Ok(plans)
}
