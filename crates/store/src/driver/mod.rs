//! Storage drivers: how unpacked layers are kept and turned into a container's rootfs.
//!
//! # Vocabulary
//!
//! - **Layer**: one image layer, unpacked from its tar (a "diff") and read-only once
//!   committed. A layer is stored once per driver and shared by every image containing it.
//! - **Chain ID**: a layer's identity, which covers the layer *and everything below it*
//!   ([`chain_id`](crate::chain_id())): the same diff on another parent is another layer.
//!   Layers live under `ROOT/layers/<driver>/<chain hex>/` and are never shared between
//!   drivers.
//! - **Writable layer**: a container's private read-write layer on top of an image's top
//!   layer, keyed by container ID, kept under `ROOT/containers/<id>/rw/`.
//! - **Mount**: the container's root filesystem view (image layers + writable layer), at
//!   the path [`StorageDriver::mount`] returns (`ROOT/containers/<id>/rootfs` for mounting
//!   drivers).
//!
//! # Lifecycle
//!
//! ```no_run
//! use store::{Store, driver};
//! # fn main() -> store::Result<()> {
//! # let (tar_stream, diff_ids): (std::fs::File, Vec<store::Digest>) = todo!();
//! let store = Store::open("/var/lib/mydocker")?;
//! let drv = driver::choose(&store, None)?; // overlay, else aufs, else copy
//!
//! // Pull: unpack each layer (possibly several at once, on several threads) ...
//! let staged = drv.stage_layer(None, &diff_ids[0], &mut store::decompress(
//!     "application/vnd.oci.image.layer.v1.tar+gzip", tar_stream)?)?;
//! // ... then commit them base first.
//! let info = drv.commit_layer(staged)?;
//!
//! // Run: a writable layer on the image's top layer, mounted as the rootfs.
//! drv.create_writable("c0ffee", Some(&info.chain_id))?;
//! let rootfs = drv.mount("c0ffee")?;
//! // ... the container runs in `rootfs` ...
//! drv.unmount("c0ffee")?;
//! // Commit: the container's changes as an OCI layer tar.
//! let mut tar = Vec::new();
//! drv.changes("c0ffee", &mut tar)?;
//! drv.remove_writable("c0ffee")?;
//! # Ok(()) }
//! ```
//!
//! # Concurrent unpacking
//!
//! [`stage_layer`](StorageDriver::stage_layer) may run for several layers of one image at
//! once (one thread each, each fed by its own download stream), before their parents are
//! committed. [`commit_layer`](StorageDriver::commit_layer) must then be called base first:
//! it requires the parent layer to be committed, and it is where a layer is checked against
//! its lowers (a directory the layer created implicitly must not be a symlink or a file in
//! a lower layer). overlay and aufs unpack every layer straight into its own staging
//! directory; copy, whose layers are full flattened trees, unpacks directly only when the
//! parent is already committed, and otherwise spools the (verified) tar to `ROOT/tmp` and
//! unpacks it at commit time.
//!
//! A staged layer holds the layer's lock (`ROOT/locks/layer-<driver>-<hex>.lock`) until it
//! is committed or dropped: another process staging the same layer waits, then finds it
//! present ([`Staged::is_present`]). Dropping a staged layer removes its staging data.

mod aufs;
mod changes;
mod copy;
mod copytree;
mod lowers;
mod overlay;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use crate::chain::chain_id;
use crate::digest::sha256_hex;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{FileLock, ensure_dir, fsync_dir, remove_tree, temp_name, write_atomic};
use crate::store::Store;
use crate::unpack::UnpackStats;

pub use aufs::{AufsDriver, aufs_mount_options};
pub use copy::CopyDriver;
pub use overlay::OverlayDriver;

/// The driver names, in auto-selection order.
pub const DRIVER_NAMES: [&str; 3] = ["overlay", "aufs", "copy"];

/// Metadata of a committed layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// The layer's chain ID.
    pub chain_id: Digest,
    /// The diff ID (digest of the uncompressed tar).
    pub diff_id: Digest,
    /// The parent layer's chain ID.
    pub parent: Option<Digest>,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
}

/// The state of a staged layer.
#[derive(Debug)]
pub(crate) enum StagedState {
    /// The layer was already committed (by someone else); nothing to do.
    Present,
    /// Unpacked into a staging directory (in `ROOT/tmp`), renamed into place on commit.
    Unpacked { dir: PathBuf, stats: UnpackStats },
    /// The verified tar was spooled to a file in `ROOT/tmp`; unpacked on commit.
    Spooled { file: PathBuf, tar_size: u64 },
}

/// A layer unpacked (or spooled) but not committed yet; see the module docs.
#[derive(Debug)]
pub struct Staged {
    pub(crate) driver: &'static str,
    pub(crate) chain_id: Digest,
    pub(crate) diff_id: Digest,
    pub(crate) parent: Option<Digest>,
    pub(crate) state: StagedState,
    pub(crate) lock: Option<FileLock>,
}

impl Staged {
    /// The chain ID this layer will be committed as.
    pub fn chain_id(&self) -> &Digest {
        &self.chain_id
    }

    /// The driver that staged it.
    pub fn driver(&self) -> &'static str {
        self.driver
    }

    /// Whether the layer was found already present (the tar stream was not read).
    pub fn is_present(&self) -> bool {
        matches!(self.state, StagedState::Present)
    }

    /// Bytes of uncompressed tar read (0 when already present).
    pub fn tar_size(&self) -> u64 {
        match &self.state {
            StagedState::Present => 0,
            StagedState::Unpacked { stats, .. } => stats.tar_size,
            StagedState::Spooled { tar_size, .. } => *tar_size,
        }
    }

    pub(crate) fn take_state(&mut self) -> StagedState {
        std::mem::replace(&mut self.state, StagedState::Present)
    }

    pub(crate) fn info(&self, tar_size: u64) -> LayerInfo {
        LayerInfo {
            chain_id: self.chain_id.clone(),
            diff_id: self.diff_id.clone(),
            parent: self.parent.clone(),
            tar_size,
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        match &self.state {
            StagedState::Present => {}
            StagedState::Unpacked { dir, .. } => {
                let _ = remove_tree(dir);
            }
            StagedState::Spooled { file, .. } => {
                let _ = fs::remove_file(file);
            }
        }
    }
}

/// One storage driver; see the module docs for the vocabulary and the lifecycle.
///
/// Every method may be called from several threads and processes at once for different
/// layers and containers.
pub trait StorageDriver: Send + Sync + std::fmt::Debug {
    /// The driver's name (`overlay`, `aufs`, `copy`), also its directory under `ROOT/layers`.
    fn name(&self) -> &'static str;

    /// `Ok(())` when this kernel and filesystem can use the driver, else the reason.
    fn supported(&self) -> std::result::Result<(), String>;

    /// Whether the layer with this chain ID is committed.
    fn has_layer(&self, chain_id: &Digest) -> Result<bool>;

    /// Metadata of a committed layer.
    fn layer_info(&self, chain_id: &Digest) -> Result<LayerInfo>;

    /// Unpacks the uncompressed layer tar `tar` (which must hash to `diff_id`; see
    /// [`decompress`](crate::decompress)) as a layer on `parent` (a chain ID, `None` for a
    /// base layer), into staging. The parent need not be committed yet. When the layer is
    /// already present, returns at once without reading `tar`.
    fn stage_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tar: &mut dyn Read,
    ) -> Result<Staged>;

    /// Checks a staged layer against its (committed) parent chain and moves it into place.
    fn commit_layer(&self, staged: Staged) -> Result<LayerInfo>;

    /// [`stage_layer`](Self::stage_layer) then [`commit_layer`](Self::commit_layer).
    fn apply_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tar: &mut dyn Read,
    ) -> Result<LayerInfo> {
        let staged = self.stage_layer(parent, diff_id, tar)?;
        self.commit_layer(staged)
    }

    /// Removes a committed layer (for `rmi`/prune; the caller knows no image uses it).
    fn remove_layer(&self, chain_id: &Digest) -> Result<()>;

    /// Creates container `id`'s writable layer on the image's top layer (`None`: empty
    /// image).
    fn create_writable(&self, id: &str, image_top: Option<&Digest>) -> Result<()>;

    /// Marks container `id`'s writable layer as disposable: it is removed when the
    /// container ends (`run --rm`) and never survives a crash, so the driver may skip work
    /// done only for durability. Overlay mounts it `volatile` (no sync of the upper
    /// directory at unmount, tens of milliseconds on a busy disk); the default does nothing.
    fn set_disposable(&self, id: &str) -> Result<()> {
        let _ = id;
        Ok(())
    }

    /// Makes the container's rootfs available and returns its path. Idempotent.
    fn mount(&self, id: &str) -> Result<PathBuf>;

    /// Undoes [`mount`](Self::mount). Idempotent.
    fn unmount(&self, id: &str) -> Result<()>;

    /// Writes the writable layer's changes against the image as an OCI layer tar (with
    /// `.wh.` whiteouts and `.wh..wh..opq` markers), e.g. for `commit`. The container
    /// should be stopped (unmounted or quiescent).
    fn changes(&self, id: &str, out: &mut dyn Write) -> Result<()>;

    /// Removes the writable layer (unmounting first if needed).
    fn remove_writable(&self, id: &str) -> Result<()>;
}

/// Creates a driver by name without checking support.
pub fn by_name(store: &Store, name: &str) -> Result<Arc<dyn StorageDriver>> {
    match name {
        "overlay" | "overlay2" => Ok(Arc::new(OverlayDriver::new(store)?)),
        "aufs" => Ok(Arc::new(AufsDriver::new(store)?)),
        "copy" | "vfs" => Ok(Arc::new(CopyDriver::new(store)?)),
        _ => Err(Error::UnknownDriver {
            name: name.to_owned(),
        }),
    }
}

/// Picks the driver: `name` when given (an error when unknown or unsupported here), else
/// the first supported of overlay, aufs, copy.
pub fn choose(store: &Store, name: Option<&str>) -> Result<Arc<dyn StorageDriver>> {
    if let Some(name) = name {
        let d = by_name(store, name)?;
        d.supported().map_err(|reason| Error::DriverUnsupported {
            name: d.name(),
            reason,
        })?;
        return Ok(d);
    }
    for n in DRIVER_NAMES {
        let d = by_name(store, n)?;
        if d.supported().is_ok() {
            return Ok(d);
        }
    }
    // The copy driver is always supported; this is unreachable in practice.
    by_name(store, "copy")
}

/// Removes one layer of driver `driver` (by directory name under `ROOT/layers`).
pub(crate) fn remove_layer_of(store: &Store, driver: &str, chain: &Digest) -> Result<()> {
    match by_name(store, driver) {
        Ok(d) => d.remove_layer(chain),
        Err(_) => remove_tree(&store.layers_dir(driver).join(sha256_hex(chain)?)),
    }
}

// ---- shared plumbing for the drivers ----

/// Validates a container ID for use as a directory name.
pub(crate) fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId { id: id.to_owned() })
    }
}

/// Paths and locking common to all drivers.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub name: &'static str,
    pub layers: PathBuf,
    pub tmp: PathBuf,
    pub locks: PathBuf,
    pub containers: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WritableMeta {
    pub driver: String,
    pub parent: Option<Digest>,
}

impl Base {
    pub fn new(store: &Store, name: &'static str) -> Result<Self> {
        let layers = store.layers_dir(name);
        ensure_dir(&layers)?;
        Ok(Base {
            name,
            layers,
            tmp: store.tmp_dir(),
            locks: store.locks_dir(),
            containers: store.containers_dir(),
        })
    }

    pub fn layer_dir(&self, chain: &Digest) -> Result<PathBuf> {
        Ok(self.layers.join(sha256_hex(chain)?))
    }

    pub fn has_layer(&self, chain: &Digest) -> Result<bool> {
        Ok(self.layer_dir(chain)?.join("layer.json").is_file())
    }

    pub fn layer_info(&self, chain: &Digest) -> Result<LayerInfo> {
        let p = self.layer_dir(chain)?.join("layer.json");
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| Error::CorruptRecord { path: p, source: e })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::LayerNotFound {
                driver: self.name,
                chain_id: chain.to_string(),
            }),
            Err(e) => Err(e).ctx("read", &p),
        }
    }

    pub fn require_layer(&self, chain: &Digest) -> Result<()> {
        if self.has_layer(chain)? {
            Ok(())
        } else {
            Err(Error::LayerNotFound {
                driver: self.name,
                chain_id: chain.to_string(),
            })
        }
    }

    /// The chain of layers from `top` down to the base: `[top, parent, ..., base]`.
    pub fn chain_of(&self, top: &Digest) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let mut cur = Some(top.clone());
        while let Some(c) = cur {
            if out.len() > 1000 {
                return Err(Error::InvalidArchive {
                    reason: "layer parent chain loops".into(),
                });
            }
            let info = self.layer_info(&c)?;
            out.push(c);
            cur = info.parent;
        }
        Ok(out)
    }

    pub fn lock_layer(&self, chain: &Digest) -> Result<FileLock> {
        FileLock::exclusive(&self.locks.join(format!(
            "layer-{}-{}.lock",
            self.name,
            sha256_hex(chain)?
        )))
    }

    pub fn check_staged(&self, staged: &Staged) -> Result<()> {
        if staged.driver == self.name {
            Ok(())
        } else {
            Err(Error::InvalidId {
                id: format!(
                    "layer staged by driver {} committed to {}",
                    staged.driver, self.name
                ),
            })
        }
    }

    /// Takes the layer lock and computes the chain ID; `Present` when already committed.
    pub fn begin_stage(&self, parent: Option<&Digest>, diff_id: &Digest) -> Result<Staged> {
        let chain = chain_id(parent, diff_id)?;
        let lock = self.lock_layer(&chain)?;
        let present = self.has_layer(&chain)?;
        Ok(Staged {
            driver: self.name,
            chain_id: chain,
            diff_id: diff_id.clone(),
            parent: parent.cloned(),
            state: StagedState::Present,
            lock: if present { None } else { Some(lock) },
        })
    }

    /// A new staging directory in `ROOT/tmp`, locked so the stale clean-up leaves it alone
    /// while this process lives (the lock is held by the returned file).
    pub fn new_staging_dir(&self, prefix: &str) -> Result<(PathBuf, fs::File)> {
        let dir = self.tmp.join(temp_name(prefix));
        fs::create_dir(&dir).ctx("create dir", &dir)?;
        let f = fs::File::open(&dir).ctx("open", &dir)?;
        FileLock::lock_fd_nonblocking(&f).ctx("flock", &dir)?;
        Ok((dir, f))
    }

    /// Writes `layer.json` into the staging dir and renames it to the layer's final place.
    pub fn install(&self, staging: &Path, info: &LayerInfo) -> Result<()> {
        let data = serde_json::to_vec_pretty(info).map_err(|e| Error::CorruptRecord {
            path: staging.join("layer.json"),
            source: e,
        })?;
        write_atomic(&self.tmp, &staging.join("layer.json"), &data)?;
        let dest = self.layer_dir(&info.chain_id)?;
        // A leftover without layer.json (e.g. a crash mid-removal) is replaced.
        if dest.exists() && !self.has_layer(&info.chain_id)? {
            remove_tree(&dest)?;
        }
        fs::rename(staging, &dest).ctx("rename", &dest)?;
        fsync_dir(&self.layers)
    }

    pub fn container_dir(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.containers.join(id))
    }

    pub fn rw_dir(&self, id: &str) -> Result<PathBuf> {
        Ok(self.container_dir(id)?.join("rw"))
    }

    pub fn rootfs_dir(&self, id: &str) -> Result<PathBuf> {
        Ok(self.container_dir(id)?.join("rootfs"))
    }

    pub fn writable_meta(&self, id: &str) -> Result<WritableMeta> {
        let p = self.rw_dir(id)?.join("layer.json");
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| Error::CorruptRecord { path: p, source: e })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::ContainerLayerNotFound {
                    driver: self.name,
                    id: id.to_owned(),
                })
            }
            Err(e) => Err(e).ctx("read", &p),
        }
    }

    /// Creates `ROOT/containers/<id>/rw` via a staging dir prepared by `fill`.
    pub fn create_writable(
        &self,
        id: &str,
        parent: Option<&Digest>,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let rw = self.rw_dir(id)?;
        if let Some(p) = parent {
            self.require_layer(p)?;
        }
        let cdir = self.container_dir(id)?;
        ensure_dir(&cdir)?;
        if rw.exists() {
            return Err(Error::io(
                "create writable layer",
                &rw,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        let (staging, _lock) = self.new_staging_dir("rw")?;
        let result = (|| {
            fill(&staging)?;
            let meta = WritableMeta {
                driver: self.name.to_owned(),
                parent: parent.cloned(),
            };
            let data = serde_json::to_vec_pretty(&meta).map_err(|e| Error::CorruptRecord {
                path: staging.join("layer.json"),
                source: e,
            })?;
            write_atomic(&self.tmp, &staging.join("layer.json"), &data)?;
            fs::rename(&staging, &rw).ctx("rename", &rw)?;
            fsync_dir(&cdir)
        })();
        if result.is_err() {
            let _ = remove_tree(&staging);
        }
        result
    }

    /// Removes a committed layer: moved into `ROOT/tmp` first, so it disappears at once,
    /// then deleted. A missing layer is not an error.
    pub fn remove_layer_dir(&self, chain_id: &Digest) -> Result<()> {
        let _lock = self.lock_layer(chain_id)?;
        let dir = self.layer_dir(chain_id)?;
        if !dir.exists() {
            return Ok(());
        }
        let doomed = self.tmp.join(temp_name("rm"));
        fs::rename(&dir, &doomed).ctx("rename", &dir)?;
        remove_tree(&doomed)
    }

    /// The `diff` directories of `parent`'s chain, base first (for drivers that keep each
    /// layer as its own directory: overlay and aufs).
    pub(crate) fn lower_diffs(&self, parent: Option<&Digest>) -> Result<Vec<PathBuf>> {
        let Some(p) = parent else {
            return Ok(Vec::new());
        };
        self.chain_of(p)?
            .iter()
            .map(|c| Ok(self.layer_dir(c)?.join("diff")))
            .collect()
    }

    /// Stages a layer as its own `diff` directory, whiteouts in the `whiteouts` format.
    pub(crate) fn stage_diff(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        tar: &mut dyn Read,
        whiteouts: crate::unpack::Whiteouts,
    ) -> Result<Staged> {
        let mut staged = self.begin_stage(parent, diff_id)?;
        if staged.lock.is_none() {
            return Ok(staged);
        }
        let (dir, _hold) = self.new_staging_dir("layer")?;
        let diff = dir.join("diff");
        let result = fs::create_dir(&diff)
            .ctx("create dir", &diff)
            .and_then(|()| {
                crate::unpack::unpack(
                    &diff,
                    tar,
                    Some(diff_id),
                    &crate::unpack::UnpackOptions::new(whiteouts),
                )
            });
        match result {
            Ok(stats) => {
                staged.state = StagedState::Unpacked { dir, stats };
                Ok(staged)
            }
            Err(e) => {
                let _ = remove_tree(&dir);
                Err(e)
            }
        }
    }

    /// The first half of committing a staged `diff` layer, shared by overlay and aufs:
    /// requires the parent, checks the directories the layer created implicitly against
    /// its lowers (no symlink or file may be in their way) and gives them the lowers'
    /// metadata. Returns `None` when the layer was present already, else the staging
    /// directory, the unpack statistics and the lowers; the staged state is kept, so an
    /// error later still removes the staging directory.
    pub(crate) fn prepare_diff_commit(
        &self,
        staged: &mut Staged,
        whiteouts: crate::unpack::Whiteouts,
    ) -> Result<Option<(PathBuf, UnpackStats, Vec<PathBuf>)>> {
        self.check_staged(staged)?;
        let (dir, stats) = match staged.take_state() {
            StagedState::Present => return Ok(None),
            StagedState::Unpacked { dir, stats } => (dir, stats),
            StagedState::Spooled { file, .. } => {
                let _ = fs::remove_file(&file);
                return Err(Error::InvalidArchive {
                    reason: format!("{} layers are never spooled", self.name),
                });
            }
        };
        // Put the state back so that an error below removes the staging dir.
        staged.state = StagedState::Unpacked {
            dir: dir.clone(),
            stats: stats.clone(),
        };
        if let Some(p) = &staged.parent {
            self.require_layer(p)?;
        }
        let lowers = self.lower_diffs(staged.parent.as_ref())?;
        let sources = lowers::check_implicit_dirs(
            &dir.join("diff"),
            &stats.implicit_dirs,
            &lowers,
            whiteouts,
        )
        .map_err(|(path, reason)| Error::Unpack {
            entry: path.to_string_lossy().into_owned(),
            reason,
        })?;
        for (rel, src) in sources {
            copytree::copy_dir_meta(&src, &dir.join("diff").join(rel))?;
        }
        Ok(Some((dir, stats, lowers)))
    }
}

/// Spools a layer tar into `ROOT/tmp`, verifying its diff ID; returns (file, size).
pub(crate) fn spool(base: &Base, tar: &mut dyn Read, diff_id: &Digest) -> Result<(PathBuf, u64)> {
    let path = base.tmp.join(temp_name("spool"));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        FileLock::lock_fd_nonblocking(&f).ctx("flock", &path)?;
        let mut r = crate::digest::VerifyingReader::new(tar, diff_id.clone())?;
        let n = std::io::copy(&mut r, &mut f).map_err(|e| {
            match e
                .get_ref()
                .and_then(|i| i.downcast_ref::<crate::digest::DigestMismatchIo>())
            {
                Some(m) => Error::DigestMismatch {
                    what: "layer diff ID",
                    expected: m.expected.clone(),
                    actual: m.actual.clone(),
                },
                None => Error::io("spool layer", &path, e),
            }
        })?;
        f.flush().ctx("write", &path)?;
        Ok(n)
    })();
    match result {
        Ok(n) => Ok((path, n)),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Writes the whole tree under `root` as a tar (no whiteouts): `export`'s format.
pub(crate) fn tree_tar(root: &Path, out: &mut dyn Write) -> Result<()> {
    changes::diff_trees(None, root, out)
}

/// Whether `target` is a mount point (per `/proc/self/mountinfo`).
pub(crate) fn is_mounted(target: &Path) -> Result<bool> {
    let info = fs::read_to_string("/proc/self/mountinfo").ctx("read", "/proc/self/mountinfo")?;
    let want = target.to_string_lossy();
    Ok(info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .map(unescape_mountinfo)
            .is_some_and(|mp| mp == want)
    }))
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts `target` if mounted; a busy mount is detached lazily.
pub(crate) fn unmount_path(target: &Path) -> Result<()> {
    if !is_mounted(target)? {
        return Ok(());
    }
    match rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::BUSY) => {
            rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(|e| {
                Error::Mount {
                    op: "unmount",
                    target: target.to_path_buf(),
                    source: e.into(),
                }
            })
        }
        Err(e) => Err(Error::Mount {
            op: "unmount",
            target: target.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// `/proc/filesystems` lists `fs`.
pub(crate) fn kernel_has_fs(fs_name: &str) -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().last() == Some(fs_name))
        })
        .unwrap_or(false)
}

#[cfg(feature = "testing")]
pub(crate) fn append_pax_for_tests<W: Write>(
    b: &mut tar::Builder<W>,
    records: &[(String, Vec<u8>)],
) -> std::io::Result<()> {
    changes::append_pax(b, records)
}

#[cfg(feature = "testing")]
pub(crate) fn list_xattrs_for_tests(p: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    copytree::list_xattrs(p)
}
