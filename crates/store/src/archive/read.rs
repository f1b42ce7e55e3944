//! Loading `docker save` archives and OCI image layout archives.
//!
//! Three steps: [`ArchiveFile`] gets a plain tar on disk (the file itself, or a copy in
//! `ROOT/tmp` of a pipe or a compressed archive); the index maps each entry name to its byte
//! range (no file named by the archive is ever created); the plan reads and verifies every
//! JSON document and descriptor. Only then are layers ingested (blob and driver, each
//! verified), and each image recorded once all its layers are committed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::os::unix::fs::FileExt;

use oci_spec::image::Digest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    MAX_ENTRIES, MAX_ENTRY_SIZE, MAX_IMAGES, MAX_JSON_SIZE, MAX_LAYERS, Section, TempFile, bad,
    clean_strict, malformed, media, resolve_relative,
};
use crate::chain::chain_ids;
use crate::digest::{parse_sha256, sha256_hex, sha256_of};
use crate::driver::StorageDriver;
use crate::error::{ArchiveReason, Error, IoContext, Result};
use crate::image::{ImageRecord, NewImage, parse_manifest_and_config};
use crate::pull::LayerSource;
use crate::store::Store;

/// How deep symbolic/hard link chains inside an archive may go.
const MAX_LINK_DEPTH: usize = 16;
/// Largest extended header (PAX records, GNU long name or link) accepted: the tar reader
/// holds one in memory.
const MAX_EXTENDED_HEADER: u64 = 1 << 20;
/// Longest entry name or link target.
const MAX_NAME: usize = 4096;
/// Total bytes of all entry names, which the index holds in memory.
const MAX_NAMES_TOTAL: usize = 64 << 20;
/// How deep indexes may nest.
const MAX_INDEX_DEPTH: usize = 4;

/// A plain tar on disk, ready for [`load`].
#[derive(Debug)]
pub struct ArchiveFile {
    file: File,
    len: u64,
    _temp: Option<TempFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn sniff(head: &[u8]) -> Result<Compression> {
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => return Err(bad(ArchiveReason::Compression("xz"))),
        [b'B', b'Z', b'h', ..] => return Err(bad(ArchiveReason::Compression("bzip2"))),
        _ => Compression::None,
    })
}

/// Reads up to `buf.len()` bytes at `offset` (fewer only at end of file).
fn read_head(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
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

    fn section(&self, at: Loc) -> Section<'_> {
        Section::new(&self.file, at.offset, at.size)
    }
}

/// Where an entry's bytes are in the archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    offset: u64,
    size: u64,
}

#[derive(Debug, Clone)]
enum Node {
    File(Loc),
    /// A symlink or hard link, by the (clean) path it resolves to.
    Link(String),
}

/// Entry name -> content, for one archive.
#[derive(Debug)]
struct Index {
    nodes: HashMap<String, Node>,
}

fn tar_err(e: io::Error) -> Error {
    malformed("tar", e)
}

fn utf8(bytes: &[u8], what: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        malformed(
            "tar",
            format!("{what} {:?} is not UTF-8", String::from_utf8_lossy(bytes)),
        )
    })
}

/// A tar number field: octal (NUL/space padded), or GNU base-256.
fn tar_number(field: &[u8]) -> Option<u64> {
    if let Some((&first, rest)) = field.split_first()
        && first & 0x80 != 0
    {
        let mut v: u64 = u64::from(first & 0x7f);
        for &b in rest {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// The `size` record of PAX extended header data, if any.
fn pax_size(mut data: &[u8]) -> Option<u64> {
    let mut found = None;
    while !data.is_empty() {
        let sp = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > data.len() {
            return found;
        }
        let record = &data[sp + 1..len];
        if let Some(v) = record.strip_prefix(b"size=") {
            let v = v.strip_suffix(b"\n").unwrap_or(v);
            found = std::str::from_utf8(v).ok()?.parse().ok();
        }
        data = &data[len..];
    }
    found
}

/// Walks the raw headers before the tar reader does, refusing extended headers (PAX,
/// GNU long names) larger than [`MAX_EXTENDED_HEADER`]: the tar reader would hold them in
/// memory whole. Stops quietly where the archive ends or stops making sense; the tar reader
/// reports those errors itself.
fn check_extended_headers(archive: &ArchiveFile) -> Result<()> {
    let mut pos = 0u64;
    let mut next_size: Option<u64> = None;
    let mut header = [0u8; 512];
    loop {
        if pos.checked_add(512).is_none_or(|end| end > archive.len) {
            return Ok(());
        }
        if read_head(&archive.file, pos, &mut header).ctx("read", "<archive>")? < 512
            || header.iter().all(|&b| b == 0)
        {
            return Ok(());
        }
        let Some(header_size) = tar_number(&header[124..136]) else {
            return Ok(());
        };
        let kind = header[156];
        let size = if matches!(kind, b'x' | b'g' | b'L' | b'K') {
            if header_size > MAX_EXTENDED_HEADER {
                return Err(bad(ArchiveReason::TooLarge {
                    what: "a tar extended header".into(),
                    size: header_size,
                    limit: MAX_EXTENDED_HEADER,
                }));
            }
            if kind == b'x' {
                let mut data = vec![0u8; usize::try_from(header_size).unwrap_or(0)];
                let n = read_head(&archive.file, pos + 512, &mut data).ctx("read", "<archive>")?;
                data.truncate(n);
                next_size = pax_size(&data);
            }
            header_size
        } else {
            next_size.take().unwrap_or(header_size)
        };
        let Some(next) = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .and_then(|s| s.checked_add(pos + 512))
        else {
            return Ok(());
        };
        pos = next;
    }
}

impl Index {
    fn build(archive: &ArchiveFile) -> Result<Index> {
        check_extended_headers(archive)?;
        let mut nodes = HashMap::new();
        let mut names_total = 0usize;
        // Entry positions are counted from where the reader starts: the file's beginning.
        (&archive.file)
            .seek(io::SeekFrom::Start(0))
            .ctx("seek", "<archive>")?;
        let mut tar = tar::Archive::new(&archive.file);
        let mut count = 0usize;
        for entry in tar.entries_with_seek().map_err(tar_err)? {
            let mut entry = entry.map_err(tar_err)?;
            count += 1;
            if count > MAX_ENTRIES {
                return Err(bad(ArchiveReason::TooMany {
                    what: "entries",
                    limit: MAX_ENTRIES,
                }));
            }
            let name = utf8(&entry.path_bytes(), "entry name")?;
            names_total += name.len();
            if name.len() > MAX_NAME || names_total > MAX_NAMES_TOTAL {
                return Err(bad(ArchiveReason::TooLarge {
                    what: format!(
                        "entry name {:?}...",
                        name.chars().take(64).collect::<String>()
                    ),
                    size: name.len() as u64,
                    limit: MAX_NAME as u64,
                }));
            }
            let path = clean_strict(&name)
                .ok_or_else(|| bad(ArchiveReason::PathEscapes { path: name.clone() }))?;
            let kind = entry.header().entry_type();
            if let Some(pax) = entry.pax_extensions().map_err(tar_err)? {
                for ext in pax {
                    let ext = ext.map_err(tar_err)?;
                    if ext.key_bytes().starts_with(b"GNU.sparse") {
                        return Err(bad(ArchiveReason::UnsupportedEntry {
                            path: name,
                            kind: "sparse file".into(),
                        }));
                    }
                }
            }
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if path.is_empty() {
                        return Err(malformed("tar", "a file entry without a name"));
                    }
                    let size = entry.size();
                    if size > MAX_ENTRY_SIZE {
                        return Err(bad(ArchiveReason::TooLarge {
                            what: format!("entry {name:?}"),
                            size,
                            limit: MAX_ENTRY_SIZE,
                        }));
                    }
                    let offset = entry.raw_file_position();
                    if offset.checked_add(size).is_none_or(|end| end > archive.len) {
                        return Err(malformed("tar", format!("entry {name:?} is truncated")));
                    }
                    nodes.insert(path, Node::File(Loc { offset, size }));
                }
                tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let raw = entry
                        .link_name_bytes()
                        .ok_or_else(|| malformed("tar", format!("link {name:?} has no target")))?;
                    let target_name = utf8(&raw, "link target")?;
                    names_total += target_name.len();
                    if target_name.len() > MAX_NAME || names_total > MAX_NAMES_TOTAL {
                        return Err(bad(ArchiveReason::TooLarge {
                            what: format!("link target of {name:?}"),
                            size: target_name.len() as u64,
                            limit: MAX_NAME as u64,
                        }));
                    }
                    let target = if kind == tar::EntryType::Symlink {
                        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                        resolve_relative(dir, &target_name)
                    } else {
                        clean_strict(&target_name)
                    }
                    .ok_or(bad(ArchiveReason::PathEscapes { path: target_name }))?;
                    nodes.insert(path, Node::Link(target));
                }
                other => {
                    return Err(bad(ArchiveReason::UnsupportedEntry {
                        path: name,
                        kind: format!("{other:?}"),
                    }));
                }
            }
        }
        Ok(Index { nodes })
    }

    fn has(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// The content of the file at `path` (a clean path), following links.
    fn resolve(&self, path: &str) -> Result<Loc> {
        let mut cur = path;
        for _ in 0..MAX_LINK_DEPTH {
            match self.nodes.get(cur) {
                Some(Node::File(loc)) => return Ok(*loc),
                Some(Node::Link(t)) => cur = t,
                None => {
                    return Err(bad(ArchiveReason::Missing {
                        path: path.to_owned(),
                    }));
                }
            }
        }
        Err(bad(ArchiveReason::LinkLoop {
            path: path.to_owned(),
        }))
    }

    /// A path as a manifest names it: cleaned (escapes refused), then resolved.
    fn resolve_named(&self, named: &str) -> Result<(String, Loc)> {
        let path = clean_strict(named).ok_or_else(|| {
            bad(ArchiveReason::PathEscapes {
                path: named.to_owned(),
            })
        })?;
        let loc = self.resolve(&path)?;
        Ok((path, loc))
    }
}

fn read_small(archive: &ArchiveFile, loc: Loc, what: &str) -> Result<Vec<u8>> {
    if loc.size > MAX_JSON_SIZE {
        return Err(bad(ArchiveReason::TooLarge {
            what: what.to_owned(),
            size: loc.size,
            limit: MAX_JSON_SIZE,
        }));
    }
    let mut buf = Vec::with_capacity(usize::try_from(loc.size).unwrap_or(0));
    archive
        .section(loc)
        .read_to_end(&mut buf)
        .ctx("read archive", what)?;
    Ok(buf)
}

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
struct PlannedLayer {
    loc: Loc,
    media_type: String,
    digest: Digest,
    diff_id: Digest,
}

/// One image to load, fully checked except for the layers' content.
#[derive(Debug)]
struct Plan {
    config: Vec<u8>,
    config_digest: Digest,
    manifest: Vec<u8>,
    manifest_digest: Digest,
    layers: Vec<PlannedLayer>,
    names: Vec<String>,
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

fn plan_oci(index: &Index, archive: &ArchiveFile) -> Result<Vec<Plan>> {
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

fn plan_docker(index: &Index, archive: &ArchiveFile, oci: &[Plan]) -> Result<Vec<Plan>> {
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
        let mut layers = Vec::with_capacity(e.layers.len());
        for (lp, diff_id) in e.layers.iter().zip(diff_ids) {
            let (path, loc) = index.resolve_named(lp)?;
            let media_type = layer_media_type(archive, loc)?;
            // The blob digest: named by the path (verified as the blob is stored), the
            // diff ID for a plain tar (verified twice: blob and unpack), else hashed now.
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
        // docker 25 archives carry the image's OCI manifest too: keep it when it matches.
        let same = oci.iter().find(|p| {
            p.config_digest == config_digest
                && p.layers.len() == layers.len()
                && p.layers
                    .iter()
                    .zip(&layers)
                    .all(|(a, b)| a.digest == b.digest)
        });
        let (manifest, manifest_digest) = match same {
            Some(p) => (p.manifest.clone(), p.manifest_digest.clone()),
            None => {
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
                (m, d)
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_numbers_and_pax_sizes() {
        assert_eq!(tar_number(b"0000644\0"), Some(0o644));
        assert_eq!(tar_number(b"00000000012 "), Some(10));
        assert_eq!(tar_number(b"\0\0\0\0"), Some(0));
        assert_eq!(tar_number(&[0x80, 0, 0, 1, 0]), Some(256));
        assert_eq!(tar_number(b"9x"), None);
        assert_eq!(
            pax_size(b"16 size=1234567\n20 path=some/file\n"),
            Some(1_234_567)
        );
        assert_eq!(pax_size(b"19 path=some/file\n"), None);
        assert_eq!(pax_size(b"999 size=1\n"), None);
    }
}
