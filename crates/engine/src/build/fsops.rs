//! File system work of COPY, ADD and WORKDIR: a [`Scratch`] writable layer mounted on the
//! host (removed, with its mount, whatever happens), paths resolved inside an image's
//! rootfs as the image sees them ([`resolve_in_root`]: symlinks followed, never out of the
//! rootfs), and directories created there.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use store::archive::BuiltLayer;
use store::{Digest, StorageDriver, Store};

use super::cache::{Claim, Held};
use crate::config::Engine;
use crate::error::{Error, Result, ResultExt};

/// A temporary writable layer on an image, mounted on the host: where COPY, ADD and
/// WORKDIR write (or, for `COPY --from`, what they read). Dropping it unmounts and
/// removes it.
#[derive(Debug)]
pub(crate) struct Scratch {
    driver: Arc<dyn StorageDriver>,
    id: String,
    rootfs: PathBuf,
    claim: Option<Claim>,
}

impl Scratch {
    /// A writable layer on the layer `top` (`None`: empty), mounted.
    pub(crate) fn mount(
        engine: &Engine,
        driver: &Arc<dyn StorageDriver>,
        top: Option<&Digest>,
    ) -> Result<Scratch> {
        let id = format!("build-{}", &crate::names::new_id()?[..24]);
        let claim = Claim::new(
            &engine.config.root,
            &id,
            &Held::Layer {
                driver: driver.name().to_owned(),
                id: id.clone(),
            },
        )?;
        let mut scratch = Scratch {
            driver: driver.clone(),
            id,
            rootfs: PathBuf::new(),
            claim: Some(claim),
        };
        driver.create_writable(&scratch.id, top)?;
        scratch.rootfs = driver.mount(&scratch.id)?;
        Ok(scratch)
    }

    /// The mounted rootfs.
    pub(crate) fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// Unmounts the layer and makes an image layer of its changes on `parent` (`None`
    /// when there are none and `allow_empty` is false).
    pub(crate) fn layer(
        &self,
        store: &Store,
        parent: Option<&Digest>,
        allow_empty: bool,
    ) -> Result<Option<BuiltLayer>> {
        self.driver.unmount(&self.id)?;
        if !allow_empty {
            let mut count = super::tarfilter::EntryCounter::default();
            self.driver.changes(&self.id, &mut count)?;
            if count.entries() == 0 {
                return Ok(None);
            }
        }
        let layer = store::archive::build_layer(store, &*self.driver, parent, &mut |w| {
            self.driver.changes(&self.id, w)
        })
        .ctx("committing the layer")?;
        Ok(Some(layer))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.driver.unmount(&self.id);
        if self.driver.remove_writable(&self.id).is_ok()
            && let Some(c) = self.claim.take()
        {
            c.release();
        }
    }
}

/// Resolves `path` component by component as seen from inside a root: `..` never
/// climbs above the root, an absolute link target starts again at it; the last
/// component is followed only when `follow_last`. `link_target(components)` says
/// whether the path made of `components` is a symlink (and where it points) or fails
/// (a component that must exist and does not). Returns the resolved components.
///
/// # Errors
/// What `link_target` returns; more than 40 symlinks (`shown` names the path).
pub(crate) fn resolve_links(
    path: &str,
    shown: &str,
    follow_last: bool,
    mut link_target: impl FnMut(&[String]) -> Result<Option<String>>,
) -> Result<Vec<String>> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        done.push(c);
        let last = todo.iter().all(|t| t.is_empty() || t == ".");
        if last && !follow_last {
            continue;
        }
        if let Some(target) = link_target(&done)? {
            hops += 1;
            if hops > 40 {
                return Err(Error::Invalid(format!(
                    "too many levels of symbolic links in {shown}"
                )));
            }
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_owned));
        }
    }
    Ok(done)
}

/// The host path of `path` (absolute or not, as the image sees it) inside `root`:
/// symlinks met on the way are followed as the image would see them (an absolute target
/// starts again at `root`, `..` never climbs above it); the last component is followed
/// only when `follow_last`. Missing components are kept as they are.
///
/// # Errors
/// More than 40 symlinks.
pub(crate) fn resolve_in_root(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf> {
    let done = resolve_links(path, path, follow_last, |components| {
        let mut candidate = root.to_path_buf();
        candidate.extend(components);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&candidate)
                .map(|t| Some(t.to_string_lossy().into_owned()))
                .map_err(|e| Error::io("reading the link", &candidate, e)),
            _ => Ok(None),
        }
    })?;
    let mut out = root.to_path_buf();
    out.extend(&done);
    Ok(out)
}

/// Owner of what a step creates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `mkdir -p` of `path` inside `root` (resolved as the image sees it); created
/// directories get mode 0755 and `owner`. Returns the host path.
///
/// # Errors
/// A component that exists and is not a directory.
pub(crate) fn mkdir_in_root(root: &Path, path: &str, owner: Owner) -> Result<PathBuf> {
    let host = resolve_in_root(root, path, true)?;
    let rel = host.strip_prefix(root).unwrap_or(Path::new(""));
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        let Component::Normal(c) = c else { continue };
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(Error::Invalid(format!(
                    "mkdir {path}: {} is not a directory",
                    cur.strip_prefix(root).unwrap_or(&cur).display()
                )));
            }
            Err(_) => {
                std::fs::create_dir(&cur).map_err(|e| Error::io("creating", &cur, e))?;
                std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| Error::io("chmod", &cur, e))?;
                if owner != Owner::default() {
                    std::os::unix::fs::lchown(&cur, Some(owner.uid), Some(owner.gid))
                        .map_err(|e| Error::io("chown", &cur, e))?;
                }
            }
        }
    }
    Ok(host)
}

/// A clean absolute path from `path`, relative ones taken from `workdir` (WORKDIR and
/// COPY destinations); a trailing `/` is kept.
pub(crate) fn image_path(workdir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{}/{path}", if workdir.is_empty() { "/" } else { workdir })
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    let dir = path.ends_with('/') || path == "." || path.ends_with("/.");
    if dir && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib", r.join("lib")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("usr/esc")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert_eq!(
            resolve_in_root(r, "/lib/x", true).unwrap(),
            r.join("usr/lib/x")
        );
        assert_eq!(resolve_in_root(r, "lib", false).unwrap(), r.join("lib"));
        assert_eq!(
            resolve_in_root(r, "/usr/esc/passwd", true).unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(r, "/../../a", true).unwrap(), r.join("a"));
        assert!(resolve_in_root(r, "/loop", true).is_err());
        let made = mkdir_in_root(r, "/lib/new/deeper", Owner::default()).unwrap();
        assert_eq!(made, r.join("usr/lib/new/deeper"));
        assert!(made.is_dir());
        std::fs::write(r.join("file"), "").unwrap();
        assert!(mkdir_in_root(r, "/file/x", Owner::default()).is_err());
    }

    #[test]
    fn image_paths() {
        assert_eq!(image_path("/app", "src"), "/app/src");
        assert_eq!(image_path("/app", "src/"), "/app/src/");
        assert_eq!(image_path("", "x"), "/x");
        assert_eq!(image_path("/app", "/abs/../b"), "/b");
        assert_eq!(image_path("/app", "."), "/app/");
        assert_eq!(image_path("/app", "./"), "/app/");
        assert_eq!(image_path("/", "/"), "/");
    }
}
