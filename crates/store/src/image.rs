//! Image records and references (tags and repo digests).
//!
//! On disk:
//! ```text
//! ROOT/images/by-id/<config hex>.json   one ImageRecord per image (ID = config digest)
//! ROOT/images/references.json           "repo:tag" -> ID and "repo@digest" -> ID
//! ```

use std::collections::BTreeMap;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use crate::digest::parse_sha256;
use crate::error::{Error, Result};

/// A layer of an image, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the (usually compressed) layer blob.
    pub digest: Digest,
    /// Media type of the blob (gzip, zstd or uncompressed tar).
    pub media_type: String,
    /// Size of the blob in bytes.
    pub size: u64,
    /// Digest of the uncompressed tar (from the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// OCI chain ID of the layer stack up to and including this layer.
    pub chain_id: Digest,
}

/// One image, identified by its config digest (docker's image ID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Image ID: the config digest.
    pub id: Digest,
    /// The platform-specific manifest.
    pub manifest_digest: Digest,
    /// The manifest's media type, when it declares one.
    #[serde(default)]
    pub manifest_media_type: Option<String>,
    /// The config blob (same as `id`).
    pub config_digest: Digest,
    /// `created` from the config (RFC 3339), when present.
    #[serde(default)]
    pub created: Option<String>,
    /// Sum of the layer blob sizes.
    pub size: u64,
    /// Layers, base first.
    pub layers: Vec<LayerRecord>,
    /// `repo:tag` references to this image (filled in on read).
    #[serde(skip)]
    pub repo_tags: Vec<String>,
    /// `repo@digest` references to this image (filled in on read).
    #[serde(skip)]
    pub repo_digests: Vec<String>,
}

impl ImageRecord {
    /// The 12-hex short ID docker prints.
    pub fn short_id(&self) -> &str {
        let hex = self.id.digest();
        &hex[..hex.len().min(12)]
    }

    /// The chain ID of the top layer (what a container's writable layer sits on), or
    /// `None` for an image without layers.
    pub fn top_chain_id(&self) -> Option<&Digest> {
        self.layers.last().map(|l| &l.chain_id)
    }

    /// Chain IDs of all layers, base first.
    pub fn chain_ids(&self) -> impl Iterator<Item = &Digest> {
        self.layers.iter().map(|l| &l.chain_id)
    }

    /// All blobs this image needs: manifest, config, layers (and any repo digests, which
    /// may name an index blob).
    pub(crate) fn blob_digests(&self) -> Vec<Digest> {
        let mut v = vec![self.manifest_digest.clone(), self.config_digest.clone()];
        v.extend(self.layers.iter().map(|l| l.digest.clone()));
        for rd in &self.repo_digests {
            if let Some((_, d)) = rd.rsplit_once('@')
                && let Ok(d) = parse_sha256(d)
            {
                v.push(d);
            }
        }
        v
    }
}

/// What the puller knows when it records a pulled image. The store reads the manifest and
/// config blobs (which must be present) for the layers, diff IDs and created time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImage {
    /// Full normalised repository name, e.g. `docker.io/library/busybox`.
    pub repository: String,
    /// Tag, when the image was pulled by tag.
    pub tag: Option<String>,
    /// The top-level digest the registry served for the reference (an index or the
    /// manifest itself); recorded as `repository@digest`.
    pub repo_digest: Option<Digest>,
    /// The platform-specific image manifest (its blob must be in the store).
    pub manifest_digest: Digest,
}

/// One row of `images`: an image under one of its references (or none: dangling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// Repository, or `None` for a dangling image.
    pub repository: Option<String>,
    /// Tag, or `None` when listed only by digest or dangling.
    pub tag: Option<String>,
    /// The repo digest of this repository for the image, if known.
    pub repo_digest: Option<Digest>,
    /// The image.
    pub image: ImageRecord,
}

/// References file content.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct References {
    /// `repo:tag` -> image ID.
    #[serde(default)]
    pub tags: BTreeMap<String, Digest>,
    /// `repo@sha256:...` -> image ID.
    #[serde(default)]
    pub digests: BTreeMap<String, Digest>,
}

impl References {
    pub(crate) fn refs_of(&self, id: &Digest) -> (Vec<String>, Vec<String>) {
        let tags = self
            .tags
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect();
        let digests = self
            .digests
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect();
        (tags, digests)
    }

    pub(crate) fn is_referenced(&self, id: &Digest) -> bool {
        self.tags.values().any(|v| v == id) || self.digests.values().any(|v| v == id)
    }

    pub(crate) fn remove_all(&mut self, id: &Digest) -> Vec<String> {
        let mut removed = Vec::new();
        self.tags.retain(|k, v| {
            let keep = v != id;
            if !keep {
                removed.push(k.clone());
            }
            keep
        });
        self.digests.retain(|k, v| {
            let keep = v != id;
            if !keep {
                removed.push(k.clone());
            }
            keep
        });
        removed
    }
}

/// Splits `repo:tag` at the tag colon (a colon after the last `/`).
pub(crate) fn split_tag(reference: &str) -> Option<(&str, &str)> {
    let (repo, tag) = reference.rsplit_once(':')?;
    if tag.contains('/') || repo.is_empty() || tag.is_empty() {
        return None;
    }
    Some((repo, tag))
}

/// The repository part of a `repo:tag` or `repo@digest` reference.
pub(crate) fn repo_of(reference: &str) -> &str {
    if let Some((repo, _)) = reference.split_once('@') {
        return repo;
    }
    split_tag(reference).map_or(reference, |(r, _)| r)
}

/// Layers and metadata read from a manifest and its config.
#[derive(Debug)]
pub(crate) struct ParsedImage {
    pub config_digest: Digest,
    pub media_type: Option<String>,
    pub created: Option<String>,
    /// (blob digest, media type, size, diff ID)
    pub layers: Vec<(Digest, String, u64, Digest)>,
}

fn bad_manifest(what: &str) -> Error {
    Error::InvalidManifest {
        reason: what.to_owned(),
    }
}

/// Parses a Docker v2 schema 2 or OCI image manifest plus its config.
pub(crate) fn parse_manifest_and_config(
    manifest: &[u8],
    config_of: impl FnOnce(&Digest) -> Result<Vec<u8>>,
) -> Result<ParsedImage> {
    let m: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| bad_manifest(&e.to_string()))?;
    let media_type = m
        .get("mediaType")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let config_digest = m
        .pointer("/config/digest")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad_manifest("missing config digest"))?;
    let config_digest = parse_sha256(config_digest)?;
    let config_bytes = config_of(&config_digest)?;
    let c: serde_json::Value =
        serde_json::from_slice(&config_bytes).map_err(|e| bad_manifest(&e.to_string()))?;
    let created = c.get("created").and_then(|v| v.as_str()).map(str::to_owned);
    let diff_ids: Vec<Digest> = c
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|d| {
                    d.as_str()
                        .ok_or_else(|| bad_manifest("diff_id not a string"))
                        .and_then(parse_sha256)
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?
        .unwrap_or_default();
    let layers_json = m
        .get("layers")
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad_manifest("missing layers"))?;
    if layers_json.len() != diff_ids.len() {
        return Err(bad_manifest(&format!(
            "{} layers but {} diff_ids",
            layers_json.len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(layers_json.len());
    for (l, diff_id) in layers_json.iter().zip(diff_ids) {
        let digest = l
            .get("digest")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad_manifest("layer without digest"))?;
        let mt = l
            .get("mediaType")
            .and_then(|v| v.as_str())
            .unwrap_or("application/vnd.oci.image.layer.v1.tar+gzip");
        let size = l.get("size").and_then(|v| v.as_u64()).unwrap_or(0);
        layers.push((parse_sha256(digest)?, mt.to_owned(), size, diff_id));
    }
    Ok(ParsedImage {
        config_digest,
        media_type,
        created,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_splitting_respects_registry_ports() {
        assert_eq!(
            split_tag("localhost:5000/a/b:tag"),
            Some(("localhost:5000/a/b", "tag"))
        );
        assert_eq!(split_tag("localhost:5000/a/b"), None);
        assert_eq!(
            repo_of("docker.io/library/busybox:latest"),
            "docker.io/library/busybox"
        );
        assert_eq!(
            repo_of("docker.io/library/busybox@sha256:abc"),
            "docker.io/library/busybox"
        );
    }
}
