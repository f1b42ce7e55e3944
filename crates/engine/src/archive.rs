//! `export`, `save` and `load`: containers' filesystems and images as tar archives, in
//! docker's formats (see [`store::archive`]). The caller gives the stream to write or
//! the file to read.

use std::fs::File;
use std::io::Write;

use store::archive::{ArchiveFile, ImageName, LoadOptions, SaveImage};
use store::{ImageRecord, Store};

use crate::commit::image_name;
use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, ResultExt};
use crate::images::{familiar_repo, find_image, parse_reference};
use crate::record::{Status, is_alive};
use crate::recovery::lookup;

/// `repo`, `tag` -> `busybox:latest` (docker's familiar form).
pub fn familiar(repo: &str, tag: &str) -> String {
    format!("{}:{tag}", familiar_repo(repo))
}

/// An image `load` recorded.
#[derive(Debug)]
pub struct Loaded {
    /// The image.
    pub image: ImageRecord,
    /// The names it was loaded with (`repo:tag`, store form).
    pub names: Vec<String>,
}

/// What `save NAME` means, as docker has it: an ID (prefix) saves that image with no
/// names; `repo:tag` that tag; `repo` alone every tag of the repository.
fn images_for_save(store: &Store, name: &str) -> Result<Vec<(ImageRecord, Vec<ImageName>)>> {
    let hexish = name.strip_prefix("sha256:").unwrap_or(name);
    if hexish.len() >= 3
        && hexish.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(rec) = store.image(name)
    {
        return Ok(vec![(rec, Vec::new())]);
    }
    let r = parse_reference(name)?;
    if r.digest().is_some() {
        let rec = find_image(store, name)?;
        return Ok(vec![(rec, Vec::new())]);
    }
    let mut wanted: Vec<(String, String)> = Vec::new();
    match r.tag() {
        Some(tag) => wanted.push((r.name(), tag.to_owned())),
        None => {
            for e in store.list()? {
                if e.repository.as_deref() == Some(r.name().as_str())
                    && let Some(tag) = e.tag
                {
                    wanted.push((r.name(), tag));
                }
            }
            if wanted.is_empty() {
                return Err(Error::NoSuchImage(name.to_owned()));
            }
        }
    }
    let mut out: Vec<(ImageRecord, Vec<ImageName>)> = Vec::new();
    for (repo, tag) in wanted {
        let full = format!("{repo}:{tag}");
        let rec = store
            .image(&full)
            .map_err(|_| Error::NoSuchImage(familiar(&repo, &tag)))?;
        let n = ImageName::new(full, familiar(&repo, &tag));
        match out.iter_mut().find(|(r, _)| r.id == rec.id) {
            Some((_, names)) => names.push(n),
            None => out.push((rec, vec![n])),
        }
    }
    Ok(out)
}

impl Engine {
    /// `export`: the container's filesystem (image layers and its changes, without
    /// volumes or mounts) as a tar written to `out`.
    ///
    /// # Errors
    /// No such container, an unreadable tree, a failed write.
    pub fn export(&self, name: &str, out: &mut dyn Write) -> Result<()> {
        let containers = Containers::new(&self.config.root);
        // The true status: a container whose owner died is ended first.
        let found = lookup(self, name)?;
        let _lock = containers.lock(&found.id)?;
        let rec = containers.load(&found.id)?;
        let running = matches!(rec.state.status, Status::Running | Status::Paused)
            && is_alive(rec.state.pid, rec.state.pid_start);
        if running {
            // Its rootfs exists in its own mount namespace only: read it there, staying
            // on the rootfs's own filesystem (no volumes, /proc or /etc files).
            let root = std::path::PathBuf::from(format!("/proc/{}/root", rec.state.pid));
            return store::archive::write_tree_one_filesystem(&root, out)
                .with_ctx(|| format!("exporting {}", rec.name));
        }
        let store = self.store()?;
        let driver = self.driver_named(&store, &rec.driver)?;
        let rootfs = driver.mount(&rec.id)?;
        let written = store::archive::write_tree(&rootfs, out);
        if let Err(e) = driver.unmount(&rec.id) {
            self.warn(format_args!("unmounting the rootfs of {}: {e}", rec.name));
        }
        written.with_ctx(|| format!("exporting {}", rec.name))
    }

    /// `save`: the images named (docker's rules for IDs, `repo:tag` and `repo`) as a
    /// docker-archive tar (with an OCI layout inside) written to `out`.
    ///
    /// # Errors
    /// An unknown image, a failed write.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        let store = self.store()?;
        let mut images: Vec<SaveImage> = Vec::new();
        for name in names {
            for (image, names) in images_for_save(&store, name)? {
                match images.iter_mut().find(|i| i.image.id == image.id) {
                    Some(i) => {
                        for n in names {
                            if !i.names.contains(&n) {
                                i.names.push(n);
                            }
                        }
                    }
                    None => images.push(SaveImage { image, names }),
                }
            }
        }
        let driver = self.driver(&store).ok();
        // Garbage collection stays away while the blobs are read.
        let _lease = store.lease()?;
        Ok(store::archive::save(
            &store,
            driver.as_deref(),
            &images,
            out,
        )?)
    }

    /// `load`: the images of a docker-archive or OCI-layout tar.
    ///
    /// # Errors
    /// A malformed or hostile archive (nothing of it is recorded then).
    pub fn load(&self, file: File) -> Result<Vec<Loaded>> {
        let store = self.store()?;
        let driver = self.driver(&store)?;
        let archive = ArchiveFile::open(&store, file)?;
        let resolve = |n: &str| match image_name(n) {
            Ok(name) => Some(name),
            Err(e) => {
                self.warn(format_args!("ignoring the image name {n:?}: {e}"));
                None
            }
        };
        let loaded = store::archive::load(
            &store,
            &*driver,
            &archive,
            &LoadOptions {
                resolve_name: &resolve,
            },
        )?;
        Ok(loaded
            .into_iter()
            .map(|l| Loaded {
                image: l.image,
                names: l.names,
            })
            .collect())
    }
}
