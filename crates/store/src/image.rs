//! Image records and references (tags and repo digests).
//!
//! On disk:
//! ```text
//! ROOT/images/by-id/<config hex>.json   one ImageRecord per image (ID = config digest)
//! ROOT/images/references.json           "repo:tag" -> ID, "repo@digest" -> ID, and
//!                                       "repo:tag" -> the digest the tag was pulled by
//! ```
//!
//! `References` describes the references file's versions and their migration.

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
    /// The repo digest shown for the row (`images --digests`): for a tag, the digest it
    /// was last pulled by; for a tag that was not pulled (made by `tag`, `commit` or
    /// `load`), or whose pull digest was removed, a repo digest the image has in this
    /// repository, as docker shows; for a row without a tag, the repository's digest.
    pub repo_digest: Option<Digest>,
    /// The image.
    pub image: ImageRecord,
}

/// The version [`References`] writes (`"version"` in `references.json`).
///
/// - 1 (no `version` key): `tags` (`repo:tag` -> image ID) and `digests`
///   (`repo@digest` -> image ID).
/// - 2: adds `tag_digests` (`repo:tag` -> the digest the tag was pulled by). Every key of
///   version 1 keeps its meaning, so a release that knows only version 1 still reads the
///   file (and, when it rewrites it, drops `tag_digests`, which the next read migrates
///   again).
pub(crate) const REFERENCES_VERSION: u32 = 2;

/// References: what `ROOT/images/references.json` holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct References {
    /// `repo:tag` -> image ID.
    pub tags: BTreeMap<String, Digest>,
    /// `repo@sha256:...` -> image ID.
    pub digests: BTreeMap<String, Digest>,
    /// `repo:tag` -> the repo digest (the top-level manifest or index digest the registry
    /// served) the tag was last pulled by. An entry counts only while `repo@digest` names
    /// the image the tag names (see [`tag_digest`](Self::tag_digest)); others are dropped
    /// on read and on write.
    pub tag_digests: BTreeMap<String, Digest>,
}

/// `references.json` as read: every key optional, so that files of every version load.
#[derive(Deserialize)]
struct ReferencesFile {
    // `version` is not read: which keys are present decides what to migrate.
    #[serde(default)]
    tags: BTreeMap<String, Digest>,
    #[serde(default)]
    digests: BTreeMap<String, Digest>,
    /// Absent in files of version 1 (or rewritten by a release that knows only that).
    #[serde(default)]
    tag_digests: Option<BTreeMap<String, Digest>>,
}

/// `references.json` as written.
#[derive(Serialize)]
struct ReferencesFileOut<'a> {
    version: u32,
    tags: &'a BTreeMap<String, Digest>,
    digests: &'a BTreeMap<String, Digest>,
    tag_digests: BTreeMap<&'a String, &'a Digest>,
}

/// The digest part of a `repo@digest` key.
fn digest_of_key(key: &str) -> Option<Digest> {
    key.rsplit_once('@').and_then(|(_, d)| parse_sha256(d).ok())
}

impl References {
    /// Parses `references.json` of any version. A file without `tag_digests` (version 1)
    /// is migrated: a tag gets the digest it can only have been pulled by, the one repo
    /// digest its image has in its repository; a tag whose image has several there (or
    /// none) gets none, and `images --digests` shows a digest of the repository for it.
    pub(crate) fn from_json(bytes: &[u8]) -> serde_json::Result<References> {
        let file: ReferencesFile = serde_json::from_slice(bytes)?;
        let migrate = file.tag_digests.is_none();
        let mut refs = References {
            tags: file.tags,
            digests: file.digests,
            tag_digests: file.tag_digests.unwrap_or_default(),
        };
        if migrate {
            refs.migrate_v1();
        }
        refs.tag_digests
            .retain(|t, d| Self::valid(&refs.tags, &refs.digests, t, d));
        Ok(refs)
    }

    /// The current format's bytes (stale tag digests left out).
    pub(crate) fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec_pretty(&ReferencesFileOut {
            version: REFERENCES_VERSION,
            tags: &self.tags,
            digests: &self.digests,
            tag_digests: self
                .tag_digests
                .iter()
                .filter(|(t, d)| Self::valid(&self.tags, &self.digests, t, d))
                .collect(),
        })
    }

    fn migrate_v1(&mut self) {
        let mut found = BTreeMap::new();
        for (tag, id) in &self.tags {
            let Some((repo, _)) = split_tag(tag) else {
                continue;
            };
            let mut candidates = self.repo_digests_of(id, repo);
            if let (Some(d), None) = (candidates.next(), candidates.next()) {
                found.insert(tag.clone(), d);
            }
        }
        self.tag_digests = found;
    }

    /// Whether `repo_tag` pulled by `digest` still holds: the tag and `repo@digest` name
    /// the same image.
    fn valid(
        tags: &BTreeMap<String, Digest>,
        digests: &BTreeMap<String, Digest>,
        repo_tag: &str,
        digest: &Digest,
    ) -> bool {
        let Some((repo, _)) = split_tag(repo_tag) else {
            return false;
        };
        match (tags.get(repo_tag), digests.get(&format!("{repo}@{digest}"))) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// Records that `repo_tag` was pulled by `digest` (call after pointing the tag and
    /// `repo@digest` at the image).
    pub(crate) fn set_tag_digest(&mut self, repo_tag: String, digest: Digest) {
        self.tag_digests.insert(repo_tag, digest);
    }

    /// The digest `repo_tag` was pulled by, while it still names the tag's image.
    pub(crate) fn tag_digest(&self, repo_tag: &str) -> Option<&Digest> {
        self.tag_digests
            .get(repo_tag)
            .filter(|d| Self::valid(&self.tags, &self.digests, repo_tag, d))
    }

    /// The repo digests image `id` has in `repo`, in key order.
    pub(crate) fn repo_digests_of<'a>(
        &'a self,
        id: &'a Digest,
        repo: &'a str,
    ) -> impl Iterator<Item = Digest> + 'a {
        self.digests
            .iter()
            .filter(move |(k, v)| *v == id && repo_of(k) == repo)
            .filter_map(|(k, _)| digest_of_key(k))
    }

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

    fn d(c: char) -> Digest {
        parse_sha256(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    const REPO: &str = "docker.io/library/busybox";

    /// `references.json` exactly as the previous release wrote it (`serde_json` pretty,
    /// `tags` and `digests` only).
    fn v1_file() -> String {
        format!(
            r#"{{
  "tags": {{
    "{REPO}:latest": "{c}",
    "{REPO}:oci": "{c}",
    "{REPO}:old": "{o}",
    "localhost:5000/mirror:1": "{o}"
  }},
  "digests": {{
    "{REPO}@{m1}": "{c}",
    "{REPO}@{m2}": "{c}",
    "{REPO}@{m3}": "{o}"
  }}
}}"#,
            c = d('c'),
            o = d('0'),
            m1 = d('1'),
            m2 = d('2'),
            m3 = d('3'),
        )
    }

    #[test]
    fn references_of_the_previous_release_load_and_migrate() {
        let refs = References::from_json(v1_file().as_bytes()).unwrap();
        assert_eq!(refs.tags.len(), 4);
        assert_eq!(refs.tags[&format!("{REPO}:latest")], d('c'));
        assert_eq!(refs.digests[&format!("{REPO}@{}", d('3'))], d('0'));
        // One repo digest for the image in the tag's repository: that is what the tag was
        // pulled by.
        assert_eq!(refs.tag_digest(&format!("{REPO}:old")), Some(&d('3')));
        // Two: which one each tag was pulled by is unknown.
        assert_eq!(refs.tag_digest(&format!("{REPO}:latest")), None);
        assert_eq!(refs.tag_digest(&format!("{REPO}:oci")), None);
        // None in that repository.
        assert_eq!(refs.tag_digest("localhost:5000/mirror:1"), None);

        // Written back in the current format, which reads back the same; the old keys keep
        // their meaning.
        let bytes = refs.to_json().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["version"], REFERENCES_VERSION);
        assert_eq!(v["tags"][format!("{REPO}:oci")], d('c').to_string());
        assert_eq!(
            v["tag_digests"],
            serde_json::json!({format!("{REPO}:old"): d('3').to_string()})
        );
        assert_eq!(References::from_json(&bytes).unwrap(), refs);
    }

    #[test]
    fn an_empty_or_minimal_file_loads() {
        assert_eq!(References::from_json(b"{}").unwrap(), References::default());
        let refs = References::from_json(br#"{"tags": {}}"#).unwrap();
        assert!(refs.tags.is_empty() && refs.tag_digests.is_empty());
        assert!(References::from_json(b"not json").is_err());
    }

    #[test]
    fn a_tag_digest_counts_only_while_tag_and_digest_name_one_image() {
        let mut refs = References::from_json(v1_file().as_bytes()).unwrap();
        let latest = format!("{REPO}:latest");
        refs.set_tag_digest(latest.clone(), d('1'));
        refs.set_tag_digest(format!("{REPO}:oci"), d('2'));
        assert_eq!(refs.tag_digest(&latest), Some(&d('1')));
        let reread = References::from_json(&refs.to_json().unwrap()).unwrap();
        assert_eq!(reread.tag_digest(&latest), Some(&d('1')));
        assert_eq!(reread.tag_digest(&format!("{REPO}:oci")), Some(&d('2')));

        // The digest reference goes: the tag no longer has it.
        refs.digests.remove(&format!("{REPO}@{}", d('1')));
        assert_eq!(refs.tag_digest(&latest), None);
        // The tag moves to another image: same.
        refs.tags.insert(format!("{REPO}:oci"), d('0'));
        assert_eq!(refs.tag_digest(&format!("{REPO}:oci")), None);
        // Neither is written, so a later digest of the same value cannot revive them.
        let v: serde_json::Value = serde_json::from_slice(&refs.to_json().unwrap()).unwrap();
        assert_eq!(
            v["tag_digests"],
            serde_json::json!({format!("{REPO}:old"): d('3').to_string()})
        );
        // A file whose tag digests are stale (say, edited by hand) loads without them.
        let stale = format!(
            r#"{{"version": 2, "tags": {{"{REPO}:a": "{c}"}}, "digests": {{}},
                "tag_digests": {{"{REPO}:a": "{m}", "{REPO}:gone": "{m}"}}}}"#,
            c = d('c'),
            m = d('1'),
        );
        let refs = References::from_json(stale.as_bytes()).unwrap();
        assert!(refs.tag_digests.is_empty(), "{refs:?}");
    }
}
