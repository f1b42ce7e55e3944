//! `diff`: the changes of a container's writable layer against its image, as docker
//! lists them (`A` added, `C` changed, `D` deleted), from the storage driver's change set
//! (an OCI layer tar with whiteouts) and the paths of the image's layers.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::config::Engine;
use crate::error::{Error, Result};
use crate::images::find_image;
use crate::recovery::lookup;

/// One kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// `C`: the path existed in the image.
    Changed,
    /// `A`: new in the container.
    Added,
    /// `D`: removed in the container.
    Deleted,
}

impl ChangeKind {
    /// Docker's letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Changed => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// A tar entry's path as an absolute, clean container path.
fn abs(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// Applies one layer tar to the set of image paths (whiteouts remove).
fn apply_layer(paths: &mut HashSet<PathBuf>, tar: impl Read) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let entry = entry?;
        let p = abs(&entry.path()?);
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let parent = p
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        match name.as_deref() {
            Some(".wh..wh..opq") => paths.retain(|q| !q.starts_with(&parent) || *q == parent),
            Some(n) if n.starts_with(".wh.") => {
                let gone = parent.join(&n[4..]);
                paths.retain(|q| !q.starts_with(&gone));
            }
            _ => {
                paths.insert(p);
            }
        }
    }
    Ok(())
}

/// The changes a layer tar with whiteouts describes, against the image's paths.
fn changes_of(
    image: &HashSet<PathBuf>,
    tar: impl Read,
) -> std::io::Result<Vec<(ChangeKind, PathBuf)>> {
    let mut out: BTreeMap<PathBuf, ChangeKind> = BTreeMap::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let entry = entry?;
        let p = abs(&entry.path()?);
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let parent = p
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        match name.as_deref() {
            Some(".wh..wh..opq") => {
                out.entry(parent).or_insert(ChangeKind::Changed);
            }
            Some(n) if n.starts_with(".wh.") => {
                out.insert(parent.join(&n[4..]), ChangeKind::Deleted);
            }
            _ if p == Path::new("/") => {}
            _ => {
                let kind = if image.contains(&p) {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Added
                };
                out.insert(p, kind);
            }
        }
    }
    Ok(out.into_iter().map(|(p, k)| (k, p)).collect())
}

impl Engine {
    /// `diff CONTAINER`: the changed paths, sorted.
    ///
    /// # Errors
    /// No such container, its image or layer gone, I/O errors.
    pub fn container_changes(&self, name: &str) -> Result<Vec<(ChangeKind, PathBuf)>> {
        let rec = lookup(self, name)?;
        let store = self.store()?;
        let driver = self.driver_named(&store, &rec.driver)?;
        let image = find_image(&store, &rec.image_id)?;
        let mut paths = HashSet::new();
        for l in &image.layers {
            let f = store.blobs().open(&l.digest)?;
            let tar = store::decompress(&l.media_type, BufReader::with_capacity(256 * 1024, f))?;
            apply_layer(&mut paths, tar)
                .map_err(|e| Error::io("reading layer", l.digest.to_string(), e))?;
        }
        let mut tar = Vec::new();
        driver.changes(&rec.id, &mut tar)?;
        changes_of(&paths, &tar[..]).map_err(|e| Error::io("reading the changes of", &rec.id, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(entries: &[&str]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            if e.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
            }
            b.append_data(&mut h, e, &[][..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn added_changed_deleted() {
        let mut image = HashSet::new();
        apply_layer(
            &mut image,
            &tar(&["etc/", "etc/passwd", "etc/old", "tmp/", "bin/"])[..],
        )
        .unwrap();
        apply_layer(&mut image, &tar(&["etc/.wh.old"])[..]).unwrap();
        assert!(!image.contains(Path::new("/etc/old")));
        let got = changes_of(
            &image,
            &tar(&[
                "etc/",
                "etc/passwd",
                "etc/new",
                "tmp/.wh.gone",
                "bin/.wh..wh..opq",
            ])[..],
        )
        .unwrap();
        let lines: Vec<String> = got
            .iter()
            .map(|(k, p)| format!("{} {}", k.letter(), p.display()))
            .collect();
        assert_eq!(
            lines,
            [
                "C /bin",
                "C /etc",
                "A /etc/new",
                "C /etc/passwd",
                "D /tmp/gone"
            ]
        );
    }
}
