//! The builder's state under `ROOT/builder/`:
//!
//! - `cache/<key>`: the layer cache, one file per step: its key is a hash of the parent
//!   image's ID and of what the step does (the instruction after substitution, the build
//!   arguments it sees, the hash of the files it copies); the file holds the ID of the
//!   image the step made. A hit counts only while that image and its layers exist.
//! - `parents/<image hex>`: the image a step image was built on (docker's `Parent`); an
//!   untagged image that is the parent of another is an intermediate image, which
//!   `images` hides as docker does.
//! - `scratch/<name>`: what a build holds while it runs (a temporary writable layer, a
//!   step's container), each a file the build keeps locked. A build killed half-way
//!   leaves the file unlocked; the next build removes what it names.

use std::path::{Path, PathBuf};

use fsutil::FileLock;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use store::Digest;

use crate::config::Engine;
use crate::error::{Error, Result};

/// Bumped when the meaning of a key changes.
const KEY_VERSION: &str = "mydocker-build-v1";

fn dir(root: &Path) -> PathBuf {
    root.join("builder")
}

/// The cache key of a step on `parent`.
pub(crate) fn key(parent: &str, step: &str) -> String {
    let mut h = Sha256::new();
    for part in [KEY_VERSION, parent, step] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The image a cached step made, if any.
pub(crate) fn lookup(root: &Path, key: &str) -> Option<Digest> {
    let text = std::fs::read_to_string(dir(root).join("cache").join(key)).ok()?;
    store::parse_sha256(text.trim()).ok()
}

fn write(path: &Path, data: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    // Unsynced: a cache entry lost in a crash costs a rebuild of one step, no more.
    Ok(fsutil::write_atomic_unsynced(path, data.as_bytes())?)
}

/// Records that the step `key` made `image` on `parent`.
pub(crate) fn record(
    root: &Path,
    key: &str,
    parent: Option<&Digest>,
    image: &Digest,
) -> Result<()> {
    write(&dir(root).join("cache").join(key), image.as_ref())?;
    if let Some(parent) = parent
        && parent != image
    {
        write(
            &dir(root).join("parents").join(image.digest()),
            parent.as_ref(),
        )?;
    }
    Ok(())
}

/// The image `id` was built on (docker's `Parent`), when a build made it.
pub fn parent_of(root: &Path, id: &Digest) -> Option<Digest> {
    let text = std::fs::read_to_string(dir(root).join("parents").join(id.digest())).ok()?;
    store::parse_sha256(text.trim()).ok()
}

/// Forgets the parent of `id` (removed).
pub fn forget(root: &Path, id: &Digest) {
    let _ = std::fs::remove_file(dir(root).join("parents").join(id.digest()));
}

/// Every recorded (image, parent) pair.
pub fn parents(root: &Path) -> Vec<(Digest, Digest)> {
    let Ok(entries) = std::fs::read_dir(dir(root).join("parents")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let child = store::parse_sha256(&format!("sha256:{}", e.file_name().to_str()?)).ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some((child, store::parse_sha256(text.trim()).ok()?))
        })
        .collect()
}

/// What a build holds while it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Held {
    /// A temporary writable layer of a driver.
    Layer {
        /// The storage driver.
        driver: String,
        /// The layer's ID.
        id: String,
    },
    /// A step's container.
    Container {
        /// Its ID.
        id: String,
    },
}

/// A [`Held`] thing, recorded in a locked file until [`Claim::release`].
#[derive(Debug)]
pub(crate) struct Claim {
    path: PathBuf,
    _lock: FileLock,
}

impl Claim {
    /// Records `held` under `name` and locks the record.
    pub(crate) fn new(root: &Path, name: &str, held: &Held) -> Result<Claim> {
        let scratch = dir(root).join("scratch");
        std::fs::create_dir_all(&scratch).map_err(|e| Error::io("creating", &scratch, e))?;
        let path = scratch.join(name);
        let json = serde_json::to_string(held).map_err(|e| Error::json("encoding", e))?;
        // Locked before it has its name, so a sweep never sees it unlocked.
        let temp = scratch.join(format!(".{name}"));
        let lock = FileLock::exclusive(&temp)?;
        std::fs::write(&temp, json).map_err(|e| Error::io("writing", &temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io("renaming", &temp, e))?;
        Ok(Claim { path, _lock: lock })
    }

    /// The thing was removed: forget it.
    pub(crate) fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes what builds that died left behind (records nobody holds locked).
pub(crate) fn sweep(engine: &Engine) {
    let scratch = dir(&engine.config.root).join("scratch");
    let Ok(entries) = std::fs::read_dir(&scratch) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(Some(_lock)) = FileLock::try_exclusive(&path) else {
            continue;
        };
        let held = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Held>(&b).ok());
        match held {
            Some(Held::Layer { driver, id }) => {
                if let Ok(store) = engine.store()
                    && let Ok(d) = engine.driver_named(&store, &driver)
                {
                    let _ = d.unmount(&id);
                    if d.remove_writable(&id).is_err() {
                        continue;
                    }
                }
            }
            Some(Held::Container { id }) => {
                if let Err(e) = engine.remove(&id, true)
                    && !matches!(e.root(), Error::NoSuchContainer(_))
                {
                    continue;
                }
            }
            None => {}
        }
        engine.debug(format_args!("removed {} left by a build", path.display()));
        let _ = std::fs::remove_file(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_records() {
        let d = tempfile::tempdir().unwrap();
        let a = store::sha256_of(b"a");
        let b = store::sha256_of(b"b");
        let k = key(a.as_ref(), "RUN x");
        assert_ne!(k, key(a.as_ref(), "RUN y"));
        assert_ne!(k, key(b.as_ref(), "RUN x"));
        assert_eq!(lookup(d.path(), &k), None);
        record(d.path(), &k, Some(&a), &b).unwrap();
        assert_eq!(lookup(d.path(), &k), Some(b.clone()));
        assert_eq!(parent_of(d.path(), &b), Some(a));
    }
}
