//! The validated name of a cgroup, relative to the root of every hierarchy.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The default parent of container cgroups, like Docker's `/docker`.
pub const DEFAULT_PARENT: &str = "mydocker";

/// A cgroup's path relative to the root of each hierarchy, such as `mydocker/<id>`.
///
/// A leading `/` is accepted and ignored: the path always starts at the root of the
/// hierarchies (unlike Docker, a relative `--cgroup-parent` is not taken relative to the
/// caller's own cgroup; mydocker has no daemon whose cgroup would make sense there).
/// `..`, `.`, empty names and the kernel's reserved `cgroup.` prefix are refused, so a
/// path can never leave the hierarchy or name a control file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CgroupPath(PathBuf);

impl CgroupPath {
    /// Parses a path such as `mydocker/abc` or `/mydocker/abc`.
    pub fn new(path: &str) -> Result<CgroupPath> {
        let invalid = |reason| Error::InvalidPath {
            path: path.to_string(),
            reason,
        };
        let mut out = PathBuf::new();
        for component in Path::new(path).components() {
            match component {
                Component::RootDir => {}
                Component::Normal(name) => {
                    let name = name.to_str().ok_or_else(|| invalid("not UTF-8"))?;
                    if name.starts_with("cgroup.") {
                        return Err(invalid("a name must not start with \"cgroup.\""));
                    }
                    if name.contains('\n') {
                        return Err(invalid("a name must not contain a newline"));
                    }
                    out.push(name);
                }
                Component::CurDir | Component::ParentDir | Component::Prefix(_) => {
                    return Err(invalid("\".\" and \"..\" are not allowed"));
                }
            }
        }
        if out.as_os_str().is_empty() {
            return Err(invalid("the path names the root cgroup"));
        }
        Ok(CgroupPath(out))
    }

    /// The cgroup `name` under `parent`, e.g. `CgroupPath::under("mydocker", id)`.
    /// `name` must be a single path component.
    pub fn under(parent: &str, name: &str) -> Result<CgroupPath> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::InvalidPath {
                path: name.to_string(),
                reason: "a container's cgroup name must be one non-empty path component",
            });
        }
        let parent = CgroupPath::new(parent)?;
        CgroupPath::new(&format!("{}/{name}", parent.0.display()))
    }

    /// The relative path, e.g. `mydocker/abc`.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The path from the hierarchy root down to this cgroup, one component at a time:
    /// `mydocker`, then `mydocker/abc`.
    pub(crate) fn ancestors_and_self(&self) -> Vec<PathBuf> {
        let mut acc = PathBuf::new();
        self.0
            .components()
            .map(|c| {
                acc.push(c);
                acc.clone()
            })
            .collect()
    }
}

impl fmt::Display for CgroupPath {
    /// Shown as the kernel shows it in `/proc/PID/cgroup`: `/mydocker/abc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_relative() {
        assert_eq!(
            CgroupPath::new("/mydocker/abc").unwrap().as_path(),
            Path::new("mydocker/abc")
        );
        assert_eq!(
            CgroupPath::new("mydocker//abc/").unwrap().as_path(),
            Path::new("mydocker/abc")
        );
        let p = CgroupPath::under("/a/b", "c").unwrap();
        assert_eq!(p.as_path(), Path::new("a/b/c"));
        assert_eq!(p.to_string(), "/a/b/c");
        assert_eq!(
            p.ancestors_and_self(),
            vec![
                PathBuf::from("a"),
                PathBuf::from("a/b"),
                PathBuf::from("a/b/c")
            ]
        );
    }

    #[test]
    fn escaping_and_reserved_paths_are_refused() {
        for bad in ["", "/", "..", "a/../b", "./a", "a/cgroup.procs", "a\nb"] {
            let err = CgroupPath::new(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(CgroupPath::under("mydocker", "").is_err());
        assert!(CgroupPath::under("mydocker", "a/b").is_err());
        assert!(CgroupPath::under("..", "a").is_err());
    }
}
