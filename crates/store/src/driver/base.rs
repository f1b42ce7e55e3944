//! [`Base`]: the paths, layer records, staging and locking every driver shares. The
//! writable-layer half is in `writable.rs`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use fsutil::{FileLock, fsync_dir, remove_tree, temp_name, write_atomic_in};
use oci_spec::image::Digest;

use super::paths::DriverPaths;
use super::{LayerInfo, Staged, StagedState, copytree, lowers};
use crate::chain::chain_id;
use crate::digest::sha256_hex;
use crate::error::{Error, IoContext, Result};
use crate::files::ensure_dir;
use crate::unpack::{UnpackOptions, UnpackStats, Whiteouts, unpack};

/// Paths and locking common to all drivers.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub(crate) name: &'static str,
    /// The driver's root (`ROOT/layers/<driver>`).
    pub(crate) layers: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) locks: PathBuf,
    /// Where earlier releases kept writable layers (`ROOT/containers`).
    pub(crate) legacy_containers: Option<PathBuf>,
}

impl Base {
    pub(crate) fn new(paths: DriverPaths, name: &'static str) -> Result<Self> {
        ensure_dir(&paths.root)?;
        // Created when missing; whatever is there already is used as it is.
        for d in [&paths.tmp, &paths.locks] {
            if fs::symlink_metadata(d).is_err() {
                ensure_dir(d)?;
            }
        }
        Ok(Base {
            name,
            layers: paths.root,
            tmp: paths.tmp,
            locks: paths.locks,
            legacy_containers: paths.legacy_containers,
        })
    }

    pub(crate) fn layer_dir(&self, chain: &Digest) -> Result<PathBuf> {
        Ok(self.layers.join(sha256_hex(chain)?))
    }

    pub(crate) fn has_layer(&self, chain: &Digest) -> Result<bool> {
        Ok(self.layer_dir(chain)?.join("layer.json").is_file())
    }

    pub(crate) fn layer_info(&self, chain: &Digest) -> Result<LayerInfo> {
        let p = self.layer_dir(chain)?.join("layer.json");
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| Error::CorruptRecord { path: p, source: e })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.not_found(chain)),
            Err(e) => Err(e).ctx("read", &p),
        }
    }

    fn not_found(&self, chain: &Digest) -> Error {
        Error::LayerNotFound {
            driver: self.name,
            chain_id: chain.to_string(),
        }
    }

    pub(crate) fn require_layer(&self, chain: &Digest) -> Result<()> {
        if self.has_layer(chain)? {
            Ok(())
        } else {
            Err(self.not_found(chain))
        }
    }

    /// The chain of layers from `top` down to the base: `[top, parent, ..., base]`.
    pub(crate) fn chain_of(&self, top: &Digest) -> Result<Vec<Digest>> {
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

    pub(crate) fn lock_layer(&self, chain: &Digest) -> Result<FileLock> {
        let name = format!("layer-{}-{}.lock", self.name, sha256_hex(chain)?);
        Ok(FileLock::exclusive(&self.locks.join(name))?)
    }

    pub(crate) fn check_staged(&self, staged: &Staged) -> Result<()> {
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
    pub(crate) fn begin_stage(&self, parent: Option<&Digest>, diff_id: &Digest) -> Result<Staged> {
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
    pub(crate) fn new_staging_dir(&self, prefix: &str) -> Result<(PathBuf, fs::File)> {
        let dir = self.tmp.join(temp_name(prefix));
        fs::create_dir(&dir).ctx("create dir", &dir)?;
        let f = fs::File::open(&dir).ctx("open", &dir)?;
        FileLock::try_lock_open(&f).ctx("flock", &dir)?;
        Ok((dir, f))
    }

    /// Makes the staged files durable, writes `layer.json` into the staging dir and
    /// renames it to the layer's final place. The files are written without `fsync`s; one
    /// `syncfs` of the store's filesystem before `layer.json` exists makes them durable
    /// together, so that a crash of the machine cannot leave a committed layer with
    /// files whose data was never written (delayed allocation would leave them empty).
    pub(crate) fn install(&self, staging: &Path, info: &LayerInfo) -> Result<()> {
        let dir = fs::File::open(staging).ctx("open", staging)?;
        rustix::fs::syncfs(&dir)
            .map_err(std::io::Error::from)
            .ctx("syncfs", staging)?;
        write_json(&self.tmp, &staging.join("layer.json"), info)?;
        let dest = self.layer_dir(&info.chain_id)?;
        // A leftover without layer.json (e.g. a crash mid-removal) is replaced.
        if dest.exists() && !self.has_layer(&info.chain_id)? {
            remove_tree(&dest)?;
        }
        fs::rename(staging, &dest).ctx("rename", &dest)?;
        Ok(fsync_dir(&self.layers)?)
    }

    /// Removes a committed layer: moved into `ROOT/tmp` first, so it disappears at once,
    /// then deleted. A missing layer is not an error.
    pub(crate) fn remove_layer_dir(&self, chain_id: &Digest) -> Result<()> {
        let _lock = self.lock_layer(chain_id)?;
        let dir = self.layer_dir(chain_id)?;
        if !dir.exists() {
            return Ok(());
        }
        let doomed = self.tmp.join(temp_name("rm"));
        fs::rename(&dir, &doomed).ctx("rename", &dir)?;
        Ok(remove_tree(&doomed)?)
    }

    /// The `diff` directories of `parent`'s chain, top first (for drivers that keep each
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
        whiteouts: Whiteouts,
    ) -> Result<Staged> {
        let mut staged = self.begin_stage(parent, diff_id)?;
        if staged.lock.is_none() {
            return Ok(staged);
        }
        let (dir, _hold) = self.new_staging_dir("layer")?;
        let diff = dir.join("diff");
        let result = fs::create_dir(&diff)
            .ctx("create dir", &diff)
            .and_then(|()| unpack(&diff, tar, Some(diff_id), &UnpackOptions::new(whiteouts)));
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
        whiteouts: Whiteouts,
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

    /// Spools a layer tar into `ROOT/tmp`, verifying its diff ID; returns (file, size).
    pub(crate) fn spool(&self, tar: &mut dyn Read, diff_id: &Digest) -> Result<(PathBuf, u64)> {
        let path = self.tmp.join(temp_name("spool"));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .ctx("create", &path)?;
            FileLock::try_lock_open(&f).ctx("flock", &path)?;
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
}

/// Writes `value` as pretty JSON to `dest`, atomically, staging in `tmp`.
pub(crate) fn write_json<T: serde::Serialize>(tmp: &Path, dest: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|e| Error::CorruptRecord {
        path: dest.to_path_buf(),
        source: e,
    })?;
    Ok(write_atomic_in(tmp, dest, &data)?)
}
