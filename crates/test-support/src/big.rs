//! A big, deterministic image for the pull benchmark: layers of mixed random and text
//! files, generated and gzip-compressed as streams into temporary files (never held in
//! memory), then pushed from those files.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::Path;

use registry::{Compression, Digest, DigestHasher, Reference, media_types};

use crate::error::{Error, IoContext};
use crate::image::{FIXED_CREATED, FIXED_MTIME, Flavour};
use crate::server::Registry;

/// The seed of the big image's content.
pub const BIG_SEED: u64 = 0x6d79_646f_636b_6572;

/// One generated layer.
#[derive(Clone, Debug)]
pub struct BigLayer {
    /// The digest of the gzip blob.
    pub digest: Digest,
    /// The size of the gzip blob.
    pub size: u64,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
    /// The size of the uncompressed tar.
    pub tar_size: u64,
}

/// The pushed big image.
#[derive(Clone, Debug)]
pub struct BigImage {
    /// Where it was pushed.
    pub reference: Reference,
    /// The manifest digest.
    pub digest: Digest,
    /// The layers.
    pub layers: Vec<BigLayer>,
}

impl BigImage {
    /// The sum of the compressed layer sizes (what a pull downloads).
    pub fn compressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// The sum of the uncompressed layer sizes.
    pub fn uncompressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.tar_size).sum()
    }
}

/// xorshift64*: small, fast, deterministic.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// An endless stream of incompressible bytes.
struct RandomReader(Rng);

impl Read for RandomReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for chunk in buf.chunks_mut(8) {
            let v = self.0.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(buf.len())
    }
}

const WORDS: &[&str] = &[
    "container",
    "image",
    "layer",
    "registry",
    "manifest",
    "digest",
    "namespace",
    "cgroup",
    "overlay",
    "whiteout",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "pull",
    "push",
    "run",
    "exec",
    "process",
    "kernel",
    "mount",
    "network",
    "bridge",
    "veth",
    "tar",
    "gzip",
    "zstd",
    "config",
    "entrypoint",
    "command",
    "volume",
    "port",
    "signal",
    "exit",
];

/// An endless stream of text lines made of common words.
struct TextReader {
    rng: Rng,
    line: Vec<u8>,
    pos: usize,
}

impl Read for TextReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            if self.pos == self.line.len() {
                self.line.clear();
                self.pos = 0;
                let words = 4 + self.rng.below(12);
                for i in 0..words {
                    if i > 0 {
                        self.line.push(b' ');
                    }
                    let w = WORDS[self.rng.below(WORDS.len() as u64) as usize];
                    self.line.extend_from_slice(w.as_bytes());
                }
                self.line.push(b'\n');
            }
            let k = (self.line.len() - self.pos).min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&self.line[self.pos..self.pos + k]);
            self.pos += k;
            n += k;
        }
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: DigestHasher,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes layer `index` of about `budget` content bytes, gzip-compressed, into `path`.
fn write_layer(path: &Path, index: usize, budget: u64, seed: u64) -> Result<BigLayer, Error> {
    let ctx = || format!("writing big layer {}", path.display());
    let file = File::create(path).context(ctx)?;
    let compressed = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: DigestHasher::sha256(),
        count: 0,
    };
    let gz = flate2::write::GzEncoder::new(compressed, flate2::Compression::new(1));
    let uncompressed = HashingWriter {
        inner: gz,
        hasher: DigestHasher::sha256(),
        count: 0,
    };
    let mut tar = tar::Builder::new(uncompressed);
    let mut rng = Rng::new(seed ^ (index as u64 + 1).wrapping_mul(0x1000_0000_01B3));
    let dir = format!("big/layer{index}");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    // An unset numeric field is all NULs, which strict tar readers (the `tar` crate's, so
    // mydocker's) refuse; every real image sets owners.
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(FIXED_MTIME);
    h.set_size(0);
    tar.append_data(&mut h, "big", io::empty()).context(ctx)?;
    tar.append_data(&mut h, &dir, io::empty()).context(ctx)?;
    let mut written = 0u64;
    let mut file_no = 0u32;
    while written < budget {
        let size = (256 * 1024 + rng.below(8 * 1024 * 1024)).min(budget - written);
        let text = file_no % 2 == 1;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(FIXED_MTIME);
        h.set_size(size);
        let name = format!("{dir}/{file_no:04}.{}", if text { "txt" } else { "bin" });
        let content_seed = rng.next();
        if text {
            let reader = TextReader {
                rng: Rng::new(content_seed),
                line: Vec::new(),
                pos: 0,
            };
            tar.append_data(&mut h, &name, reader.take(size))
                .context(ctx)?;
        } else {
            tar.append_data(
                &mut h,
                &name,
                RandomReader(Rng::new(content_seed)).take(size),
            )
            .context(ctx)?;
        }
        written += size;
        file_no += 1;
    }
    let uncompressed = tar.into_inner().context(ctx)?;
    let diff_id = uncompressed.hasher.finish();
    let tar_size = uncompressed.count;
    let mut compressed = uncompressed.inner.finish().context(ctx)?;
    compressed.flush().context(ctx)?;
    Ok(BigLayer {
        digest: compressed.hasher.finish(),
        size: compressed.count,
        diff_id,
        tar_size,
    })
}

/// Generates a deterministic image of `layers` gzip layers holding about `total_bytes` of
/// file content (half incompressible random data, half text; the compressed size is
/// roughly 60% of that), and pushes it to `registry` as `name` (e.g. `big:latest`).
/// Layers are generated in parallel into a temporary directory, removed afterwards.
///
/// # Errors
/// [`Error::Io`] for local failures, [`Error::Registry`] for push failures.
pub fn big_image(
    registry: &Registry,
    name: &str,
    total_bytes: u64,
    layers: usize,
) -> Result<BigImage, Error> {
    let layers = layers.max(1);
    let reference = registry.reference(name)?;
    let client = registry.client()?;
    let tmp = tempfile::Builder::new()
        .prefix("mydocker-big-image-")
        .tempdir()
        .context(|| "creating a temporary directory for the big image".into())?;
    let budget = total_bytes / layers as u64;
    let paths: Vec<_> = (0..layers)
        .map(|i| tmp.path().join(format!("layer{i}.tar.gz")))
        .collect();
    let results: Vec<Result<BigLayer, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| s.spawn(move || write_layer(p, i, budget, BIG_SEED)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Setup("a layer generator panicked".into())))
            })
            .collect()
    });
    let mut built = Vec::with_capacity(layers);
    for (result, path) in results.into_iter().zip(&paths) {
        let layer = result?;
        if !client.blob_exists(&reference, &layer.digest)? {
            let mut file = File::open(path).context(|| format!("opening {}", path.display()))?;
            file.rewind()
                .context(|| format!("reading {}", path.display()))?;
            client.push_blob(&reference, &layer.digest, layer.size, &mut file)?;
        }
        built.push(layer);
    }
    let flavour = Flavour::Docker;
    let platform = registry::Platform::host();
    let config = serde_json::json!({
        "architecture": platform.architecture(),
        "os": platform.os(),
        "created": FIXED_CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": built.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
    });
    let config = serde_json::to_vec(&config).map_err(|e| Error::Setup(e.to_string()))?;
    let config_digest = registry::sha256_digest(&config);
    crate::image::push_blob_once(&client, &reference, &config_digest, &config)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": flavour.manifest_media_type(),
        "config": {
            "mediaType": flavour.config_media_type(),
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": built.iter().map(|l| serde_json::json!({
            "mediaType": flavour.layer_media_type(Compression::Gzip),
            "digest": l.digest.to_string(),
            "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Setup(e.to_string()))?;
    let digest = client.push_manifest(&reference, media_types::DOCKER_MANIFEST, &manifest)?;
    Ok(BigImage {
        reference,
        digest,
        layers: built,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_mixed() {
        let mut a = Vec::new();
        RandomReader(Rng::new(7))
            .take(1000)
            .read_to_end(&mut a)
            .unwrap();
        let mut b = Vec::new();
        RandomReader(Rng::new(7))
            .take(1000)
            .read_to_end(&mut b)
            .unwrap();
        assert_eq!(a, b);
        let mut t = Vec::new();
        TextReader {
            rng: Rng::new(3),
            line: Vec::new(),
            pos: 0,
        }
        .take(10_000)
        .read_to_end(&mut t)
        .unwrap();
        assert_eq!(t.len(), 10_000);
        assert!(
            t.iter()
                .all(|c| c.is_ascii_lowercase() || *c == b' ' || *c == b'\n')
        );
    }

    #[test]
    fn small_layer_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let one = write_layer(&dir.path().join("a"), 0, 3 << 20, 42).unwrap();
        let two = write_layer(&dir.path().join("b"), 0, 3 << 20, 42).unwrap();
        assert_eq!(one.digest, two.digest);
        assert_eq!(one.diff_id, two.diff_id);
        assert!(one.tar_size > 3 << 20);
        // Half random content keeps the compressed size well above half.
        assert!(
            one.size > one.tar_size / 3 && one.size < one.tar_size,
            "{one:?}"
        );
        let other = write_layer(&dir.path().join("c"), 1, 3 << 20, 42).unwrap();
        assert_ne!(one.digest, other.digest);
        let bytes = std::fs::read(dir.path().join("a")).unwrap();
        assert_eq!(registry::sha256_digest(&bytes), one.digest);
    }
}
