//! The image service: finding images by any name docker accepts, listing, tagging,
//! removing, pruning, the image inspect document, disk usage, and pushing.

use serde_json::{Value, json};
use store::{Digest, ImageRecord, RemoveOptions, RemoveReport};

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, invalid};
use crate::progress::{LayerStatus, Progress, short_id};

/// `docker.io/library/busybox` -> `busybox`; other registries are kept.
pub fn familiar_repo(repo: &str) -> String {
    registry::Reference::parse(repo)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| repo.to_owned())
}

/// A stored reference (`repo:tag` or `repo@digest`) in docker's familiar form.
pub fn familiar_reference(r: &str) -> String {
    match r.split_once('@') {
        Some((repo, d)) => format!("{}@{d}", familiar_repo(repo)),
        None => match r.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((repo, t)) => format!("{}:{t}", familiar_repo(repo)),
            None => r.to_owned(),
        },
    }
}

/// Turns what the user typed (`busybox`, `busybox:1`, `localhost:5000/x@sha256:..`, an ID
/// or ID prefix) into the store's reference form (`docker.io/library/busybox:latest`).
pub fn store_reference(name: &str) -> String {
    let hexish = name.strip_prefix("sha256:").unwrap_or(name);
    if !hexish.is_empty() && hexish.bytes().all(|b| b.is_ascii_hexdigit()) && hexish.len() >= 3 {
        // Could be an ID prefix; the store tries IDs before names for hex input.
        return name.to_owned();
    }
    named_reference(name).unwrap_or_else(|| name.to_owned())
}

/// `name` as a normalised image reference, if it parses as one.
fn named_reference(name: &str) -> Option<String> {
    let r = registry::Reference::parse(name).ok()?;
    Some(match (r.tag(), r.digest()) {
        (_, Some(d)) => format!("{}@{d}", r.name()),
        (Some(t), None) => format!("{}:{t}", r.name()),
        (None, None) => format!("{}:latest", r.name()),
    })
}

/// Parses a user's image reference with docker's error wording.
///
/// # Errors
/// `invalid reference format: ...`.
pub fn parse_reference(s: &str) -> Result<registry::Reference> {
    registry::Reference::parse(s).map_err(|e| Error::Invalid(e.to_string()))
}

/// Looks an image up by any of the names docker accepts.
///
/// # Errors
/// [`Error::NoSuchImage`], or the store's error.
pub fn find_image(store: &store::Store, name: &str) -> Result<ImageRecord> {
    let reference = store_reference(name);
    // A name made of hex digits (`added`, `cafe`) is a name first, as docker looks it up.
    if reference == name
        && let Some(named) = named_reference(name).filter(|n| n != name)
        && let Ok(rec) = store.image(&named)
    {
        return Ok(rec);
    }
    match store.image(&reference) {
        Ok(rec) => Ok(rec),
        Err(e) if e.kind() == store::ErrorKind::NotFound && reference != name => store
            .image(name)
            .map_err(|_| Error::NoSuchImage(name.to_owned())),
        Err(e) if e.kind() == store::ErrorKind::NotFound => {
            Err(Error::NoSuchImage(name.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The image's creation time in seconds since the epoch.
pub fn created_unix(rec: &ImageRecord) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(rec.created.as_deref()?).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// Docker's image inspect document for one image.
///
/// # Errors
/// The config blob is missing or not JSON.
pub fn inspect_document(store: &store::Store, rec: &ImageRecord, driver: &str) -> Result<Value> {
    let config: Value = serde_json::from_slice(&store.blobs().read(&rec.config_digest)?)
        .map_err(|e| Error::json("image config is not valid JSON", e))?;
    let familiar = |r: &String| familiar_reference(r);
    Ok(json!({
        "Id": rec.id.to_string(),
        "RepoTags": rec.repo_tags.iter().map(familiar).collect::<Vec<_>>(),
        "RepoDigests": rec.repo_digests.iter().map(familiar).collect::<Vec<_>>(),
        "Parent": "",
        // `commit -m`'s comment, else the newest history entry's (docker's choice).
        "Comment": config
            .get("comment")
            .or_else(|| {
                config
                    .get("history")
                    .and_then(Value::as_array)
                    .and_then(|h| h.last())
                    .and_then(|e| e.get("comment"))
            })
            .cloned()
            .unwrap_or(json!("")),
        "Created": config.get("created").cloned().unwrap_or(Value::Null),
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Config": config.get("config").cloned().unwrap_or(Value::Null),
        "Architecture": config.get("architecture").cloned().unwrap_or(Value::Null),
        "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
        "Os": config.get("os").cloned().unwrap_or(Value::Null),
        "Size": rec.size,
        "GraphDriver": {"Name": driver, "Data": null},
        "RootFS": {
            "Type": "layers",
            "Layers": rec.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": rec.manifest_media_type,
            "digest": rec.manifest_digest.to_string(),
        },
    }))
}

/// The outcome of removing one image reference.
#[derive(Debug)]
pub enum Removal {
    /// What was untagged and deleted.
    Done(RemoveReport),
    /// No image by that name.
    NotFound,
    /// It could not be removed (in use, ...).
    Failed(Error),
}

impl Engine {
    /// Every `repo:tag` row of `images`, newest first.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn images(&self) -> Result<Vec<store::ImageEntry>> {
        let mut entries = self.store()?.list()?;
        entries.sort_by(|a, b| {
            created_unix(&b.image)
                .cmp(&created_unix(&a.image))
                .then_with(|| a.repository.cmp(&b.repository))
                .then_with(|| a.tag.cmp(&b.tag))
        });
        Ok(entries)
    }

    /// Finds an image by any name docker accepts.
    ///
    /// # Errors
    /// [`Error::NoSuchImage`].
    pub fn image(&self, name: &str) -> Result<ImageRecord> {
        find_image(&self.store()?, name)
    }

    /// The image inspect document of `name`.
    ///
    /// # Errors
    /// [`Error::NoSuchImage`], an unreadable config.
    pub fn image_document(&self, name: &str) -> Result<Value> {
        let store = self.store()?;
        let rec = find_image(&store, name)?;
        inspect_document(&store, &rec, &self.driver_name())
    }

    /// `rmi NAME`: untags (and deletes when nothing else names it) one image; refused
    /// while a container uses it, unless `force`.
    /// With `prune`, the untagged intermediate images of the build that made it go too
    /// (docker's default; `--no-prune` keeps them).
    pub fn remove_image(&self, name: &str, force: bool, prune: bool) -> Removal {
        let (store, containers) = match self.store() {
            Ok(s) => (s, Containers::new(&self.config.root)),
            Err(e) => return Removal::Failed(e),
        };
        let in_use = |id: &Digest| containers.user_of(id.as_ref());
        let opts = RemoveOptions {
            force,
            in_use: &in_use,
        };
        let drivers = match store::driver::all(&store) {
            Ok(d) => d,
            Err(e) => return Removal::Failed(e.into()),
        };
        let reference = store_reference(name);
        let result = store
            .remove_image(&reference, &opts, &drivers)
            .or_else(|e| match e.kind() {
                store::ErrorKind::NotFound if reference != name => {
                    store.remove_image(name, &opts, &drivers)
                }
                _ => Err(e),
            });
        match result {
            Ok(mut report) => {
                if prune {
                    self.prune_build_parents(&store, &opts, &drivers, &mut report);
                }
                Removal::Done(report)
            }
            Err(e) if e.kind() == store::ErrorKind::NotFound => Removal::NotFound,
            Err(e) => Removal::Failed(e.into()),
        }
    }

    /// `tag SOURCE TARGET`: TARGET (a name, `:latest` when it has no tag) now names SOURCE.
    ///
    /// # Errors
    /// A digest target, an unknown source.
    pub fn tag_image(&self, source: &str, target: &str) -> Result<()> {
        let target = parse_reference(target)?;
        if target.digest().is_some() {
            invalid!("refusing to create a tag with a digest reference");
        }
        let store = self.store()?;
        let source = find_image(&store, source)?;
        let repo_tag = format!("{}:{}", target.name(), target.tag().unwrap_or("latest"));
        store.tag(source.id.as_ref(), &repo_tag)?;
        Ok(())
    }

    /// `image prune [-a]`: removes dangling (or, with `all`, unused) images.
    ///
    /// # Errors
    /// The store's.
    pub fn prune_images(&self, all: bool) -> Result<RemoveReport> {
        let store = self.store()?;
        let containers = Containers::new(&self.config.root);
        let in_use = |id: &Digest| containers.user_of(id.as_ref());
        let drivers = store::driver::all(&store)?;
        Ok(store.prune(
            all,
            &RemoveOptions {
                force: false,
                in_use: &in_use,
            },
            &drivers,
        )?)
    }

    /// Disk usage of the images (for `system df`).
    ///
    /// # Errors
    /// The store's.
    pub fn image_usage(&self) -> Result<store::DiskUsage> {
        let store = self.store()?;
        let containers = Containers::new(&self.config.root);
        let in_use = |id: &Digest| containers.user_of(id.as_ref());
        Ok(store.disk_usage(&in_use)?)
    }

    /// `push NAME`: uploads the image's blobs the registry lacks, then its manifest;
    /// returns the reference pushed, the manifest's digest and size.
    ///
    /// # Errors
    /// An image that does not exist locally, a registry failure.
    pub fn push(
        &self,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<(registry::Reference, String, usize)> {
        let reference = parse_reference(name)?;
        let reference = if reference.tag().is_none() && reference.digest().is_none() {
            reference
                .with_tag("latest")
                .map_err(|e| Error::Invalid(e.to_string()))?
        } else {
            reference
        };
        let store = self.store()?;
        // docker's one line for a missing image (not also "No such image: ...").
        let image = find_image(&store, name).map_err(|e| match e {
            Error::NoSuchImage(_) => Error::Invalid(format!(
                "An image does not exist locally with the tag: {}",
                familiar_repo(&reference.name())
            )),
            other => other,
        })?;
        let client = self.registry_client()?;
        progress.line(&format!(
            "The push refers to repository [{}]",
            reference.name()
        ));
        for layer in image.layers.iter().rev() {
            progress.layer(
                short_id(layer.digest.digest()),
                LayerStatus::Preparing,
                None,
            );
        }
        for layer in image.layers.iter().rev() {
            let id = short_id(layer.digest.digest());
            if client.blob_exists(&reference, &layer.digest)? {
                progress.layer(id, LayerStatus::LayerAlreadyExists, None);
                continue;
            }
            let mut file = store.blobs().open(&layer.digest)?;
            progress.layer(id, LayerStatus::Pushing, Some((0, layer.size)));
            client.push_blob(&reference, &layer.digest, layer.size, &mut file)?;
            progress.layer(id, LayerStatus::Pushed, None);
        }
        let config = store.blobs().read(&image.config_digest)?;
        if !client.blob_exists(&reference, &image.config_digest)? {
            client.push_blob_bytes(&reference, &config)?;
        }
        let manifest = store.blobs().read(&image.manifest_digest)?;
        let media_type = image
            .manifest_media_type
            .clone()
            .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_owned());
        let digest = client.push_manifest(&reference, &media_type, &manifest)?;
        progress.finish();
        Ok((reference, digest.to_string(), manifest.len()))
    }
}

impl Engine {
    /// After `rmi` deleted images, the intermediate images of the builds that made them
    /// (untagged, used by no other image or container) go too, as docker's `rmi` prunes
    /// untagged parents.
    fn prune_build_parents(
        &self,
        store: &store::Store,
        opts: &RemoveOptions<'_>,
        drivers: &[std::sync::Arc<dyn store::StorageDriver>],
        report: &mut RemoveReport,
    ) {
        let root = &self.config.root;
        let mut todo = report.deleted.clone();
        while let Some(id) = todo.pop() {
            let parent = crate::build::cache::parent_of(root, &id);
            crate::build::cache::forget(root, &id);
            let Some(parent) = parent else { continue };
            let Ok(rec) = store.image(parent.as_ref()) else {
                continue;
            };
            if !rec.repo_tags.is_empty() || !rec.repo_digests.is_empty() {
                continue;
            }
            let present: std::collections::HashSet<Digest> = match store.list() {
                Ok(l) => l.into_iter().map(|e| e.image.id).collect(),
                Err(_) => continue,
            };
            let has_children = crate::build::cache::parents(root)
                .iter()
                .any(|(child, p)| *p == parent && present.contains(child));
            if has_children {
                continue;
            }
            // `rmi -f` forces the named image only: a parent a container uses stays.
            let parent_opts = RemoveOptions {
                force: false,
                in_use: opts.in_use,
            };
            if let Ok(r) = store.remove_image(parent.as_ref(), &parent_opts, drivers) {
                report.deleted.extend(r.deleted);
                report.gc.blobs.extend(r.gc.blobs);
                report.gc.layers.extend(r.gc.layers);
                report.gc.reclaimed += r.gc.reclaimed;
                todo.push(parent);
            }
        }
    }

    /// The intermediate images of builds (the parents of present step images), which
    /// `images` hides unless `-a`, as docker does.
    ///
    /// # Errors
    /// An unreadable store.
    pub fn intermediate_images(&self) -> Result<std::collections::HashSet<Digest>> {
        let store = self.store()?;
        let present: std::collections::HashSet<Digest> =
            store.list()?.into_iter().map(|e| e.image.id).collect();
        Ok(crate::build::cache::parents(&self.config.root)
            .into_iter()
            .filter(|(child, _)| present.contains(child))
            .map(|(_, parent)| parent)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalised_like_docker() {
        assert_eq!(
            store_reference("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            store_reference("busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            store_reference("127.0.0.1:5000/fixtures/busybox"),
            "127.0.0.1:5000/fixtures/busybox:latest"
        );
        assert_eq!(store_reference("abc123"), "abc123");
        assert_eq!(familiar_repo("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_repo("docker.io/arm64v8/ubuntu"), "arm64v8/ubuntu");
        assert_eq!(familiar_repo("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b");
        assert_eq!(
            familiar_reference("docker.io/library/busybox:1"),
            "busybox:1"
        );
    }
}
