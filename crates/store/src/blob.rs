//! The content-addressed blob store: `ROOT/blobs/sha256/<hex>`.
//!
//! Blobs (manifests, configs, compressed layers) are immutable. They are written through a
//! [`BlobWriter`] into `ROOT/tmp`, hashed while written, and renamed into place only after
//! the digest is verified, so nothing half-written is ever visible under a blob's name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;

use crate::digest::{HashingWriter, digest_from_hasher, parse_sha256, sha256_hex};
use crate::error::{Error, IoContext, Result};
use fsutil::{FileLock, fsync_dir, temp_name};

/// The blob store of one root. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
    locks: PathBuf,
}

impl BlobStore {
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf, locks: PathBuf) -> Self {
        BlobStore { dir, tmp, locks }
    }

    /// The path where the blob with this digest lives (whether present or not).
    pub fn path(&self, digest: &Digest) -> Result<PathBuf> {
        Ok(self.dir.join(sha256_hex(digest)?))
    }

    /// Whether the blob is present.
    pub fn has(&self, digest: &Digest) -> Result<bool> {
        let p = self.path(digest)?;
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).ctx("stat", &p),
        }
    }

    /// The size in bytes of a present blob.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.path(digest)?;
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound {
                digest: digest.to_string(),
            }),
            Err(e) => Err(e).ctx("stat", &p),
        }
    }

    /// Opens a present blob for reading.
    pub fn open(&self, digest: &Digest) -> Result<File> {
        let p = self.path(digest)?;
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound {
                digest: digest.to_string(),
            }),
            Err(e) => Err(e).ctx("open", &p),
        }
    }

    /// Reads a whole (small) blob such as a manifest or config into memory.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let p = self.path(digest)?;
        match fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound {
                digest: digest.to_string(),
            }),
            Err(e) => Err(e).ctx("read", &p),
        }
    }

    /// Starts writing a new blob. See [`BlobWriter`].
    pub fn writer(&self) -> Result<BlobWriter> {
        let path = self.tmp.join(temp_name("blob"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .ctx("create", &path)?;
        // The lock marks the temp file as owned by a live writer for the stale clean-up.
        FileLock::try_lock_open(&file).ctx("flock", &path)?;
        Ok(BlobWriter {
            out: Some(HashingWriter::new(file)),
            path,
            dir: self.dir.clone(),
            unflushed: 0,
        })
    }

    /// Stores `data` as a blob. With `expected`, the content must hash to it. Returns the
    /// digest. Storing a blob that exists already is a no-op (dedupe).
    pub fn write_bytes(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let mut w = self.writer()?;
        w.write_all(data).ctx("write", &w.path)?;
        match expected {
            Some(d) => {
                w.commit(d)?;
                Ok(d.clone())
            }
            None => w.commit_computed(),
        }
    }

    /// Takes the per-digest lock. A puller holds it around "check, download, commit" so a
    /// second process pulling the same blob waits and then finds it present:
    ///
    /// ```no_run
    /// # fn f(store: &store::Store, d: &oci_spec::image::Digest) -> store::Result<()> {
    /// let _lock = store.blobs().lock(d)?;
    /// if !store.blobs().has(d)? {
    ///     let mut w = store.blobs().writer()?;
    ///     // ... stream the download into `w` ...
    ///     w.commit(d)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn lock(&self, digest: &Digest) -> Result<FileLock> {
        let hex = sha256_hex(digest)?;
        Ok(FileLock::exclusive(
            &self.locks.join(format!("blob-{hex}.lock")),
        )?)
    }

    /// All blobs present, with their sizes.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).ctx("read dir", &self.dir)? {
            let entry = entry.ctx("read dir", &self.dir)?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(d) = parse_sha256(&format!("sha256:{name}")) else {
                continue;
            };
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((d, len));
        }
        Ok(out)
    }

    pub(crate) fn remove(&self, digest: &Digest) -> Result<()> {
        let p = self.path(digest)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).ctx("remove", &p),
            _ => Ok(()),
        }
    }
}

/// Writes one blob: hashes as it writes into `ROOT/tmp`, then [`commit`](Self::commit)
/// verifies the digest, fsyncs and renames into `ROOT/blobs/sha256/<hex>`. Dropped without
/// a successful commit, the temp file is removed.
#[derive(Debug)]
pub struct BlobWriter {
    out: Option<HashingWriter<File>>,
    path: PathBuf,
    dir: PathBuf,
    /// Bytes written since the writeback was last started.
    unflushed: u64,
}

/// How much a blob writer writes before it starts that part's writeback (the `fsync` at
/// commit then finds it written).
const WRITEBACK_CHUNK: u64 = 8 << 20;

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.as_ref().map_or(0, |o| o.count)
    }

    /// The temp file being written.
    pub fn temp_path(&self) -> &Path {
        &self.path
    }

    /// Verifies that the content hashes to `expected`, then makes the blob visible. A blob
    /// already present under that digest is fine (the content is identical by definition).
    ///
    /// # Errors
    /// [`Error::DigestMismatch`] (the temp file is removed), or I/O errors.
    pub fn commit(mut self, expected: &Digest) -> Result<()> {
        let hex = sha256_hex(expected)?.to_owned();
        let actual = self.finish_hash()?;
        if &actual != expected {
            return Err(Error::DigestMismatch {
                what: "blob",
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        self.install(&hex)
    }

    /// Commits under whatever digest the content has, and returns it.
    pub fn commit_computed(mut self) -> Result<Digest> {
        let actual = self.finish_hash()?;
        let hex = sha256_hex(&actual)?.to_owned();
        self.install(&hex)?;
        Ok(actual)
    }

    fn finish_hash(&mut self) -> Result<Digest> {
        let Some(mut out) = self.out.take() else {
            return Err(Error::io(
                "commit",
                &self.path,
                io::Error::other("blob writer already finished"),
            ));
        };
        out.flush().ctx("flush", &self.path)?;
        out.inner.sync_all().ctx("fsync", &self.path)?;
        Ok(digest_from_hasher(out.hasher))
    }

    fn install(&mut self, hex: &str) -> Result<()> {
        let dest = self.dir.join(hex);
        fs::rename(&self.path, &dest).ctx("rename", &dest)?;
        self.path = PathBuf::new();
        Ok(fsync_dir(&self.dir)?)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(o) = self.out.as_mut() else {
            return Err(io::Error::other("blob writer already finished"));
        };
        let n = o.write(buf)?;
        self.unflushed += n as u64;
        if self.unflushed >= WRITEBACK_CHUNK {
            let _ = crate::sys::start_writeback(
                o.inner.as_fd(),
                o.count - self.unflushed,
                self.unflushed,
            );
            self.unflushed = 0;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}
