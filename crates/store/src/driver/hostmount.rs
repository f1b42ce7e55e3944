//! Performing a driver's mounts on the host ([`mount_all`], [`unmount_all`]): the
//! reference implementation of the [`mounts`](super::StorageDriver::mounts) contract,
//! used by the drivers' host-side [`mount`](super::StorageDriver::mount), and the
//! mountinfo and kernel probes the drivers share.

use std::ffi::CString;
use std::fs;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use crate::error::{Error, IoContext, Result};

/// Performs `mounts`, in order, as [`StorageDriver::mounts`](super::StorageDriver::mounts)
/// describes a rootfs, with destination `/` meaning `target` (other destinations are
/// taken below `target`). What a runtime does in a container's mount namespace, done
/// here on the host: `overlay` mounts whose data exceeds a page are mounted from the
/// common parent of their lower directories with relative names (as containerd does);
/// an `aufs` branch list that exceeds a page is mounted with the branches that fit and
/// the rest added by `remount,append:` (as Docker does); `bind`/`rbind` options make a
/// bind mount. On error, what was mounted is unmounted again.
///
/// # Errors
/// [`Error::Mount`] naming the mount point.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    let mut done: Vec<PathBuf> = Vec::new();
    for m in mounts {
        let dest = destination_under(target, m.destination());
        if let Err(e) = mount_one(m, &dest) {
            for d in done.iter().rev() {
                let _ = unmount_path(d);
            }
            return Err(e);
        }
        done.push(dest);
    }
    Ok(())
}

/// Undoes [`mount_all`]: unmounts each mount's destination under `target`, last first. A
/// destination that is not mounted is skipped; a busy one is detached lazily.
///
/// # Errors
/// [`Error::Mount`] naming the mount point.
pub fn unmount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    for m in mounts.iter().rev() {
        unmount_path(&destination_under(target, m.destination()))?;
    }
    Ok(())
}

fn destination_under(target: &Path, dest: &Path) -> PathBuf {
    let rel: PathBuf = dest
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        target.to_path_buf()
    } else {
        target.join(rel)
    }
}

fn mount_err(op: &'static str, target: &Path, source: impl Into<std::io::Error>) -> Error {
    Error::Mount {
        op,
        target: target.to_path_buf(),
        source: source.into(),
    }
}

/// Splits fstab-style options into mount flags and the filesystem's data options.
fn flags_and_data(options: &[String]) -> (MountFlags, Vec<&str>) {
    let mut flags = MountFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MountFlags::RDONLY,
            "rw" => flags.remove(MountFlags::RDONLY),
            "bind" => flags |= MountFlags::BIND,
            "rbind" => flags |= MountFlags::BIND | MountFlags::REC,
            "nosuid" => flags |= MountFlags::NOSUID,
            "nodev" => flags |= MountFlags::NODEV,
            "noexec" => flags |= MountFlags::NOEXEC,
            other => data.push(other),
        }
    }
    (flags, data)
}

fn mount_one(m: &Mount, target: &Path) -> Result<()> {
    let typ = m.typ().as_deref().unwrap_or("");
    let options = m.options().as_deref().unwrap_or(&[]);
    let (flags, data) = flags_and_data(options);
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "none".to_owned());
    let page = rustix::param::page_size();
    if flags.contains(MountFlags::BIND) || typ == "bind" {
        return bind(&source, target, flags);
    }
    match typ {
        "overlay" => mount_overlay(&source, target, flags, &data, page),
        "aufs" => mount_aufs(&source, target, flags, &data, page),
        _ => {
            let data = cstring(data.join(","), target)?;
            rustix::mount::mount(source.as_str(), target, typ, flags, data.as_c_str())
                .map_err(|e| mount_err("mount", target, e))
        }
    }
}

fn cstring(s: String, target: &Path) -> Result<CString> {
    CString::new(s).map_err(|_| {
        mount_err(
            "mount",
            target,
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        )
    })
}

fn bind(source: &str, target: &Path, flags: MountFlags) -> Result<()> {
    let bound = if flags.contains(MountFlags::REC) {
        rustix::mount::mount_bind_recursive(source, target)
    } else {
        rustix::mount::mount_bind(source, target)
    };
    bound.map_err(|e| mount_err("bind mount", target, e))?;
    let extra = flags & (MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV);
    if !extra.is_empty()
        && let Err(e) = rustix::mount::mount_remount(target, MountFlags::BIND | extra, c"")
    {
        let _ = unmount_path(target);
        return Err(mount_err("remount", target, e));
    }
    Ok(())
}

fn mount_overlay(
    source: &str,
    target: &Path,
    flags: MountFlags,
    data: &[&str],
    page: usize,
) -> Result<()> {
    let full = data.join(",");
    let (data, cwd) = if full.len() < page {
        (full, None)
    } else {
        let (compact, dir) = compact_lowerdirs(data).ok_or_else(|| too_long(target, full.len()))?;
        if compact.len() >= page {
            return Err(too_long(target, compact.len()));
        }
        (compact, Some(dir))
    };
    let cdata = cstring(data, target)?;
    let (t, src) = (target.to_path_buf(), source.to_owned());
    let Some(dir) = cwd else {
        return rustix::mount::mount(src.as_str(), &t, "overlay", flags, cdata.as_c_str())
            .map_err(|e| mount_err("mount overlay", target, e));
    };
    let dirfd = rustix::fs::open(
        &dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open", &dir)?;
    crate::sys::with_private_cwd(dirfd, move || {
        rustix::mount::mount(src.as_str(), &t, "overlay", flags, cdata.as_c_str())
            .map_err(Into::into)
    })
    .map_err(|e| mount_err("mount overlay", target, e))
}

fn too_long(target: &Path, len: usize) -> Error {
    mount_err(
        "mount overlay",
        target,
        std::io::Error::other(format!(
            "overlay mount options are {len} bytes, over a page"
        )),
    )
}

/// Escapes a path for an overlay option value (`\`, `,` and `:` are special there).
pub(crate) fn escape_overlay_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits an overlay `lowerdir` value on unescaped `:` and unescapes each path.
fn split_lowerdirs(value: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(last)) = (chars.next(), out.last_mut()) {
                    last.push(n);
                }
            }
            ':' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

/// Rewrites the `lowerdir` option relative to the common parent of its (absolute)
/// directories; returns the new data and that parent.
fn compact_lowerdirs(data: &[&str]) -> Option<(String, PathBuf)> {
    let lower = data.iter().find_map(|o| o.strip_prefix("lowerdir="))?;
    let dirs: Vec<PathBuf> = split_lowerdirs(lower)
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let mut common = dirs.first()?.parent()?.to_path_buf();
    while !dirs.iter().all(|d| d.starts_with(&common)) {
        common = common.parent()?.to_path_buf();
    }
    if !common.is_absolute() || dirs.iter().any(|d| d == &common) {
        return None;
    }
    let rel: Vec<String> = dirs
        .iter()
        .map(|d| escape_overlay_path(d.strip_prefix(&common).unwrap_or(d)))
        .collect();
    let lowerdir = format!("lowerdir={}", rel.join(":"));
    let out: Vec<&str> = data
        .iter()
        .map(|o| {
            if o.starts_with("lowerdir=") {
                lowerdir.as_str()
            } else {
                o
            }
        })
        .collect();
    Some((out.join(","), common))
}

fn mount_aufs(
    source: &str,
    target: &Path,
    flags: MountFlags,
    data: &[&str],
    page: usize,
) -> Result<()> {
    let (first, rest) = split_aufs(data, page);
    let first = cstring(first, target)?;
    rustix::mount::mount(source, target, "aufs", flags, first.as_c_str())
        .map_err(|e| mount_err("mount aufs", target, e))?;
    for more in rest {
        let more = cstring(more, target)?;
        if let Err(e) = rustix::mount::mount_remount(target, flags, more.as_c_str()) {
            let _ = unmount_path(target);
            return Err(mount_err("mount aufs", target, e));
        }
    }
    Ok(())
}

/// Splits aufs options (one `br:` option listing the writable branch then the read-only
/// ones, top first, then other options) into the first mount's data (as many branches as
/// fit in `page_size` bytes, then the other options) and one `append:<dir>=ro+wh` remount
/// per remaining branch.
pub(crate) fn split_aufs(options: &[&str], page_size: usize) -> (String, Vec<String>) {
    let others: Vec<&str> = options
        .iter()
        .copied()
        .filter(|o| !o.starts_with("br:") && !o.starts_with("br="))
        .collect();
    let tail = others.join(",");
    let branches: Vec<&str> = options
        .iter()
        .find_map(|o| o.strip_prefix("br:").or_else(|| o.strip_prefix("br=")))
        .map(|b| b.split(':').collect())
        .unwrap_or_default();
    let budget = page_size.saturating_sub(tail.len() + 2);
    let mut first = String::from("br:");
    let mut rest = Vec::new();
    let mut full = false;
    for (i, branch) in branches.iter().enumerate() {
        let piece = if i == 0 {
            (*branch).to_owned()
        } else {
            format!(":{branch}")
        };
        if i == 0 || (!full && first.len() + piece.len() <= budget) {
            first.push_str(&piece);
        } else {
            full = true;
            rest.push(format!("append:{branch}"));
        }
    }
    if !tail.is_empty() {
        first.push(',');
        first.push_str(&tail);
    }
    (first, rest)
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

/// Mount points listed in `/proc/self/mountinfo` at or below `dir`, deepest first.
#[cfg(feature = "testing")]
pub(crate) fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape_mountinfo))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
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
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::BUSY) => rustix::mount::unmount(target, UnmountFlags::DETACH)
            .map_err(|e| mount_err("unmount", target, e)),
        Err(e) => Err(mount_err("unmount", target, e)),
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

/// Whether the running kernel's release (`uname -r`) is at least `major.minor`.
pub(crate) fn kernel_at_least(major: u32, minor: u32) -> bool {
    let uts = rustix::system::uname();
    parse_release(&uts.release().to_string_lossy()).is_some_and(|v| v >= (major, minor))
}

fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kernel_releases_parse() {
        assert_eq!(parse_release("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_release("5.10.209"), Some((5, 10)));
        assert_eq!(parse_release("4.19"), Some((4, 19)));
        assert_eq!(parse_release("weird"), None);
    }

    #[test]
    fn overlay_paths_escape_and_split() {
        let p = Path::new("/a,b:c\\d");
        let e = escape_overlay_path(p);
        assert_eq!(e, "/a\\,b\\:c\\\\d");
        assert_eq!(
            split_lowerdirs(&format!("{e}:/x/y")),
            vec!["/a,b:c\\d".to_owned(), "/x/y".to_owned()]
        );
    }

    #[test]
    fn long_lowerdirs_compact_to_their_common_parent() {
        let lower: Vec<String> = (0..3).map(|i| format!("/r/layers/l/SHORT{i}")).collect();
        let lowerdir = format!("lowerdir={}", lower.join(":"));
        let data = [lowerdir.as_str(), "upperdir=/r/rw/u", "workdir=/r/rw/w"];
        let (compact, dir) = compact_lowerdirs(&data).unwrap();
        assert_eq!(dir, Path::new("/r/layers/l"));
        assert_eq!(
            compact,
            "lowerdir=SHORT0:SHORT1:SHORT2,upperdir=/r/rw/u,workdir=/r/rw/w"
        );
        let mixed = ["lowerdir=/r/a/x:/r/b/y"];
        assert_eq!(compact_lowerdirs(&mixed).unwrap().0, "lowerdir=a/x:b/y");
    }

    #[test]
    fn destinations_resolve_below_the_target() {
        let t = Path::new("/t");
        assert_eq!(destination_under(t, Path::new("/")), Path::new("/t"));
        assert_eq!(
            destination_under(t, Path::new("/a/../b")),
            Path::new("/t/a/b")
        );
    }

    #[test]
    fn option_flags_are_split_from_data() {
        let opts: Vec<String> = ["rbind", "ro", "nosuid", "lowerdir=/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = flags_and_data(&opts);
        assert!(flags.contains(MountFlags::BIND | MountFlags::REC | MountFlags::RDONLY));
        assert_eq!(data, ["lowerdir=/x"]);
    }
}
