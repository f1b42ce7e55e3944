//! Named and anonymous volumes of the `local` driver, as docker keeps them:
//!
//! ```text
//! ROOT/volumes/<name>/_data        the content (what containers mount)
//! ROOT/volumes/<name>/volume.json  name, creation time, labels, options
//! ROOT/volumes/.lock               shared by container creates, exclusive by rm/prune
//! ROOT/volumes/.tmp-*              a volume being created (renamed into place whole)
//! ```
//!
//! A volume appears at once or not at all: it is assembled in a `.tmp-` directory and
//! renamed to its name (two creates of one name: the second finds it made). Which
//! containers use a volume is read from their mounts (`ROOT/containers/<id>/mounts.json`,
//! written by `create` while it holds the volumes lock shared), so `volume rm` and
//! `volume prune`, holding it exclusively, never remove a volume a container is being
//! created with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fsutil::FileLock;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::Engine;
use crate::containers::Containers;
use crate::create::now_rfc3339;
use crate::error::{Error, Result, invalid};

pub use crate::usermounts::{MountPoint, MountSpec};

/// The label docker puts on anonymous volumes (what `volume prune` removes by default).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume's record (`volume.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Its name (64 hex digits for an anonymous volume).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// `--label`s (anonymous volumes carry [`ANONYMOUS_LABEL`]).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `--opt`s (kept and shown; the local driver mounts nothing).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Where its content is (`ROOT/volumes/<name>/_data`); filled in on read.
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

impl Volume {
    /// Whether it was made for an image's `VOLUME` or a `-v /path` without a name.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// Docker's `volume inspect` document.
    pub fn document(&self) -> Value {
        json!({
            "CreatedAt": created_seconds(&self.created),
            "Driver": self.driver,
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": self.options,
            "Scope": "local",
        })
    }
}

/// `2024-01-02T03:04:05.123Z` -> `2024-01-02T03:04:05Z`, as docker shows volume times.
fn created_seconds(t: &str) -> String {
    humantime::parse_rfc3339_weak(t)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|_| t.to_owned())
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The volumes directory of a root.
pub(crate) fn dir(root: &Path) -> PathBuf {
    root.join("volumes")
}

/// The lock `create` holds shared and `rm`/`prune` exclusive.
pub(crate) fn lock(root: &Path, exclusive: bool) -> Result<FileLock> {
    let d = dir(root);
    std::fs::create_dir_all(&d).map_err(|e| Error::io("creating", &d, e))?;
    let path = d.join(".lock");
    Ok(if exclusive {
        FileLock::exclusive(&path)?
    } else {
        FileLock::shared(&path)?
    })
}

fn load(root: &Path, name: &str) -> Result<Volume> {
    if !valid_name(name) {
        invalid!("get {name}: no such volume");
    }
    let d = dir(root).join(name);
    let bytes = match std::fs::read(d.join("volume.json")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            invalid!("get {name}: no such volume")
        }
        Err(e) => return Err(Error::io("reading", d.join("volume.json"), e)),
    };
    let mut v: Volume = serde_json::from_slice(&bytes)
        .map_err(|e| Error::json(format!("the record of volume {name}"), e))?;
    v.mountpoint = d.join("_data");
    Ok(v)
}

/// Creates volume `name` unless it exists; returns it and whether this call made it.
pub(crate) fn ensure(
    root: &Path,
    name: &str,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
) -> Result<(Volume, bool)> {
    if !valid_name(name) {
        invalid!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }
    if let Ok(v) = load(root, name) {
        return Ok((v, false));
    }
    let d = dir(root);
    std::fs::create_dir_all(&d).map_err(|e| Error::io("creating", &d, e))?;
    let tmp = d.join(fsutil::temp_name(".tmp-"));
    let made = (|| -> Result<()> {
        std::fs::create_dir_all(tmp.join("_data")).map_err(|e| Error::io("creating", &tmp, e))?;
        let record = Volume {
            name: name.to_owned(),
            driver: "local".into(),
            created: now_rfc3339(),
            labels,
            options,
            mountpoint: PathBuf::new(),
        };
        let bytes = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::json("encoding a volume record", e))?;
        fsutil::write_atomic(&tmp.join("volume.json"), &bytes)?;
        Ok(())
    })();
    if let Err(e) = made {
        let _ = fsutil::remove_tree(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, d.join(name)) {
        Ok(()) => {
            let _ = fsutil::fsync_dir(&d);
            Ok((load(root, name)?, true))
        }
        Err(_) => {
            // Made by someone else meanwhile.
            let _ = fsutil::remove_tree(&tmp);
            Ok((load(root, name)?, false))
        }
    }
}

/// Removes a volume's directory (the caller holds the lock exclusively, or made it).
pub(crate) fn destroy(root: &Path, name: &str) -> Result<u64> {
    let d = dir(root).join(name);
    let size = tree_size(&d.join("_data"));
    // Renamed out of the way first, so a half-removed volume is never seen under its name.
    let gone = dir(root).join(fsutil::temp_name(".tmp-"));
    std::fs::rename(&d, &gone).map_err(|e| Error::io("removing the volume", &d, e))?;
    fsutil::remove_tree(&gone)?;
    Ok(size)
}

/// Bytes of the regular files under `dir` (hard links counted once), as docker sums them.
pub(crate) fn tree_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.len() > 0 && seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

/// The mounts of every container (ID, mounts), for "in use" checks.
pub(crate) fn users(root: &Path) -> Vec<(String, Vec<MountPoint>)> {
    let containers = Containers::new(root);
    let mut out = Vec::new();
    for rec in containers.list().unwrap_or_default() {
        let mounts = crate::usermounts::load(&containers.dir(&rec.id));
        out.push((rec.id, mounts));
    }
    out
}

/// The IDs of the containers that mount volume `name`.
fn used_by(users: &[(String, Vec<MountPoint>)], name: &str) -> Vec<String> {
    users
        .iter()
        .filter(|(_, m)| m.iter().any(|m| m.name.as_deref() == Some(name)))
        .map(|(id, _)| id.clone())
        .collect()
}

/// A volume and the containers using it (`volume ls`).
#[derive(Debug, Clone)]
pub struct VolumeInfo {
    /// The volume.
    pub volume: Volume,
    /// IDs of the containers that mount it.
    pub containers: Vec<String>,
}

/// What `volume prune` removed.
#[derive(Debug, Default)]
pub struct PrunedVolumes {
    /// Names removed.
    pub deleted: Vec<String>,
    /// Bytes of their content.
    pub reclaimed: u64,
}

impl Engine {
    /// `volume create [NAME]`: creates a volume (a random name when `None`); creating one
    /// that exists returns it unchanged, as docker does.
    ///
    /// # Errors
    /// An invalid name, a file that cannot be written.
    pub fn volume_create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let name = match name {
            Some(n) => n.to_owned(),
            None => crate::names::new_id()?,
        };
        Ok(ensure(&self.config.root, &name, labels, options)?.0)
    }

    /// `volume inspect NAME`.
    ///
    /// # Errors
    /// `get NAME: no such volume`.
    pub fn volume(&self, name: &str) -> Result<Volume> {
        load(&self.config.root, name)
    }

    /// Every volume, by name, with the containers using it.
    ///
    /// # Errors
    /// The volumes directory cannot be read.
    pub fn volumes(&self) -> Result<Vec<VolumeInfo>> {
        let root = &self.config.root;
        let d = dir(root);
        let users = users(root);
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("reading", &d, e)),
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(volume) = load(root, &name) {
                let containers = used_by(&users, &name);
                out.push(VolumeInfo { volume, containers });
            }
        }
        out.sort_by(|a, b| a.volume.name.cmp(&b.volume.name));
        Ok(out)
    }

    /// `volume rm [-f] NAME`: refused while a container (running or not) uses it; `force`
    /// makes a missing volume no error.
    ///
    /// # Errors
    /// `remove NAME: volume is in use - [ID]`, `get NAME: no such volume`.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let root = &self.config.root;
        let _lock = lock(root, true)?;
        match load(root, name) {
            Ok(_) => {}
            Err(_) if force => return Ok(()),
            Err(e) => return Err(e),
        }
        let ids = used_by(&users(root), name);
        if !ids.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                ids.join(", ")
            )));
        }
        destroy(root, name).map(|_| ())
    }

    /// `volume prune [-a]`: removes unused anonymous volumes (with `all`, every unused
    /// one) whose labels match `filter` (`KEY` or `KEY=VALUE`, all must match).
    ///
    /// # Errors
    /// The volumes cannot be read.
    pub fn prune_volumes(&self, all: bool, filter: &[String]) -> Result<PrunedVolumes> {
        let root = &self.config.root;
        let _lock = lock(root, true)?;
        let users = users(root);
        let mut pruned = PrunedVolumes::default();
        for info in self.volumes()? {
            let v = &info.volume;
            let matches = filter.iter().all(|f| label_matches(&v.labels, f));
            if (!all && !v.is_anonymous()) || !matches || !used_by(&users, &v.name).is_empty() {
                continue;
            }
            pruned.reclaimed += destroy(root, &v.name)?;
            pruned.deleted.push(v.name.clone());
        }
        Ok(pruned)
    }
}

/// Docker's `label=KEY` / `label=KEY=VALUE` filter against a label map.
pub fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(filter),
    }
}

/// `KEY=VALUE` strings as a map (a later key wins; `KEY` alone is an empty value).
pub fn label_map(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol.1-x"));
        assert!(!valid_name("x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        let l = label_map(&["a=1".into(), "b".into(), "a=2".into()]);
        assert_eq!(l["a"], "2");
        assert!(label_matches(&l, "b") && label_matches(&l, "a=2") && !label_matches(&l, "a=1"));
    }

    #[test]
    fn volumes_are_created_once_and_removed_whole() {
        let root = tempfile::tempdir().unwrap();
        let (v, made) = ensure(root.path(), "data", BTreeMap::new(), BTreeMap::new()).unwrap();
        assert!(made && v.mountpoint.is_dir());
        std::fs::write(v.mountpoint.join("f"), b"12345").unwrap();
        let (again, made) = ensure(root.path(), "data", BTreeMap::new(), BTreeMap::new()).unwrap();
        assert!(!made);
        assert_eq!(again.created, v.created);
        assert!(ensure(root.path(), "a/b", BTreeMap::new(), BTreeMap::new()).is_err());
        assert_eq!(destroy(root.path(), "data").unwrap(), 5);
        assert!(load(root.path(), "data").is_err());
        let left: Vec<_> = std::fs::read_dir(dir(root.path()))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != ".lock")
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(
            created_seconds("2024-01-02T03:04:05.123456Z"),
            "2024-01-02T03:04:05Z"
        );
    }
}
