//! Reading files of a container's rootfs safely: the image may plant symlinks that point
//! outside it, so paths are resolved with `openat2(RESOLVE_IN_ROOT)` (the kernel treats the
//! rootfs as `/` for every component, `..` and absolute link targets included).

use anyhow::{Context, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::io::Read;
use std::path::Path;

/// Largest file read this way (passwd and group files are small; a hostile image must not
/// make us read gigabytes).
const MAX_SIZE: u64 = 4 << 20;

/// Reads `path` (relative to the rootfs) as text; `Ok(None)` when it does not exist.
pub(crate) fn read_in_root(rootfs: &Path, path: &str) -> Result<Option<String>> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening rootfs {}", rootfs.display()))?;
    let fd = match rustix::fs::openat2(
        &root,
        path.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {path} in the image")),
    };
    let file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut text = String::new();
    file.take(MAX_SIZE)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {path} in the image"))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        // An absolute link and a `..`-climbing one, both aimed at the host's file.
        let target = outside.path().join("secret");
        std::os::unix::fs::symlink(&target, root.path().join("etc/passwd")).unwrap();
        let climb = format!("../../../../../../..{}", target.display());
        std::os::unix::fs::symlink(&climb, root.path().join("etc/group")).unwrap();
        assert_eq!(read_in_root(root.path(), "/etc/passwd").unwrap(), None);
        assert_eq!(read_in_root(root.path(), "/etc/group").unwrap(), None);
        std::fs::create_dir_all(
            root.path()
                .join(target.parent().unwrap().strip_prefix("/").unwrap()),
        )
        .unwrap();
        std::fs::write(
            root.path().join(target.strip_prefix("/").unwrap()),
            "inside",
        )
        .unwrap();
        assert_eq!(
            read_in_root(root.path(), "/etc/passwd").unwrap().as_deref(),
            Some("inside")
        );
        assert_eq!(read_in_root(root.path(), "etc/missing").unwrap(), None);
    }
}
