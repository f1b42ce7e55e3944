//! The rootfs assembled inside the container from a storage driver's mounts
//! ([`SpawnOptions::rootfs_mounts`](crate::SpawnOptions::rootfs_mounts)).
//!
//! They are performed in the container's new mount namespace once its tree was made
//! rslave (or private), so nothing propagates to the host, and before the rootfs is bound
//! onto itself for `pivot_root`; they end with the namespace. A destination of `/` is
//! the rootfs directory itself (a path the caller trusts); any other destination is
//! resolved inside what the mounts before it made (the image's tree, which is not
//! trusted).
//!
//! `overlay` and `aufs` take their layers in the mount data. `fsconfig` limits each
//! string to 256 bytes (on 6.1), so they go through `mount(2)`, whose data may fill a
//! page. When it would not, the `lowerdir` entries are made relative to their longest
//! common parent directory and the mount is made from there (containerd's
//! `compactLowerdirOption`): the init is single-threaded, so changing its working
//! directory for the call is harmless, and it is restored right after.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags};
use rustix::mount::MountPropagationFlags;

use super::mounts::{Bind, is_bind};
use super::root::{Create, RootDir, Symlinks};
use crate::error::{InitFailure, Stage};
use crate::mountopt::MountOptions;

type Result<T> = std::result::Result<T, InitFailure>;

/// Perform the rootfs mounts onto `rootfs`, in order.
pub(super) fn mount_rootfs(rootfs: &Path, mounts: &[Mount]) -> Result<()> {
    for m in mounts {
        mount_layer(rootfs, m).map_err(|e| e.at(m.destination()))?;
    }
    Ok(())
}

fn mount_layer(rootfs: &Path, m: &Mount) -> Result<()> {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    if is_bind(m) {
        let bind = Bind::open(m, &opts, Stage::Rootfs)?;
        let create = if bind.is_dir {
            Create::Dir
        } else {
            Create::File
        };
        let target = open_target(rootfs, m.destination(), create)?;
        return bind.attach(&target, &opts, Stage::Rootfs);
    }
    let target = open_target(rootfs, m.destination(), Create::Dir)?;
    legacy_mount(m, &target, &opts)
}

/// The mount point: `rootfs` for `/`, else the destination resolved inside it.
fn open_target(rootfs: &Path, dest: &Path, create: Create) -> Result<OwnedFd> {
    let err = |what: &str, e: io::Error| InitFailure::os(Stage::Rootfs, what, &e);
    let root = RootDir::open(rootfs).map_err(|e| err(&format!("open {}", rootfs.display()), e))?;
    root.resolve(dest, create, Symlinks::FollowInRoot)
        .map_err(|e| err("resolve destination", e))
}

/// `mount(2)` of a filesystem whose options are its data string.
fn legacy_mount(m: &Mount, target: &OwnedFd, opts: &MountOptions) -> Result<()> {
    let typ = m
        .typ()
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| InitFailure::new(Stage::Rootfs, "mount has no type"))?;
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from("none"));
    let (flags, items) = opts.legacy();
    let (data, dir) = fit_data(&items, rustix::param::page_size() - 1)?;
    let data = CString::new(data)
        .map_err(|_| InitFailure::new(Stage::Rootfs, "NUL byte in the mount options"))?;
    // The descriptor's magic link: mount(2) takes paths, the target was resolved safely.
    let target_path = format!("/proc/self/fd/{}", target.as_raw_fd());
    let res = in_dir(dir.as_deref(), || {
        rustix::mount::mount(
            source.as_path(),
            target_path.as_str(),
            typ,
            flags,
            data.as_c_str(),
        )
    })?;
    if let Err(e) = res {
        return Err(explain(typ, e.into(), &items));
    }
    if let Some(p) = opts.propagation {
        let mut flags = MountPropagationFlags::from_bits_retain(p.kind as u32);
        if p.recursive {
            flags |= MountPropagationFlags::REC;
        }
        rustix::mount::mount_change(target_path.as_str(), flags)
            .map_err(|e| InitFailure::os(Stage::Rootfs, "propagation", &e.into()))?;
    }
    Ok(())
}

/// Run `f` with `dir` (when given) as the working directory, then restore it.
fn in_dir<T>(dir: Option<&Path>, f: impl FnOnce() -> T) -> Result<T> {
    let Some(dir) = dir else {
        return Ok(f());
    };
    let err = |what: &str, e: rustix::io::Errno| InitFailure::os(Stage::Rootfs, what, &e.into());
    let saved = rustix::fs::open(
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open the working directory", e))?;
    rustix::process::chdir(dir).map_err(|e| err(&format!("chdir {}", dir.display()), e))?;
    let out = f();
    rustix::process::fchdir(&saved).map_err(|e| err("restore the working directory", e))?;
    Ok(out)
}

/// The failure of a mount; for an overlay whose directory is missing, which one.
fn explain(typ: &str, e: io::Error, items: &[String]) -> InitFailure {
    if typ == "overlay" && e.raw_os_error() == Some(libc::ENOENT) {
        if let Some((key, path)) = missing_overlay_dir(items) {
            return InitFailure::os(Stage::Rootfs, &format!("mount overlay: {key} {path}"), &e);
        }
    }
    InitFailure::os(Stage::Rootfs, &format!("mount {typ}"), &e)
}

/// The first `lowerdir`, `upperdir` or `workdir` entry that does not exist.
fn missing_overlay_dir(items: &[String]) -> Option<(&'static str, String)> {
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        let key = match key {
            "lowerdir" => "lowerdir",
            "upperdir" => "upperdir",
            "workdir" => "workdir",
            _ => continue,
        };
        for dir in split_unescaped(value, ':') {
            let path = unescape(dir);
            if std::fs::metadata(&path).is_err() {
                return Some((key, path));
            }
        }
    }
    None
}

/// The data string of `items`, at most `limit` bytes: as given, or with the `lowerdir`
/// compacted, then with the directory to mount from.
fn fit_data(items: &[String], limit: usize) -> Result<(String, Option<PathBuf>)> {
    let data = items.join(",");
    if data.len() <= limit {
        return Ok((data, None));
    }
    if let Some((dir, compacted)) = compact_lowerdir(items) {
        let short = compacted.join(",");
        if short.len() <= limit {
            return Ok((short, Some(dir)));
        }
    }
    Err(InitFailure::new(
        Stage::Rootfs,
        format!(
            "the mount options take {} bytes, more than the {limit} the kernel accepts \
             (even with the lowerdir entries relative to their common parent)",
            data.len()
        ),
    ))
}

/// containerd's `compactLowerdirOption`: the `lowerdir` entries relative to their
/// longest common parent directory, and that directory. `None` when there is nothing to
/// gain (no `lowerdir`, relative entries, `.`/`..` components, no common parent but `/`).
fn compact_lowerdir(items: &[String]) -> Option<(PathBuf, Vec<String>)> {
    let idx = items.iter().position(|i| i.starts_with("lowerdir="))?;
    let value = &items[idx]["lowerdir=".len()..];
    let mut dirs: Vec<Vec<&str>> = Vec::new();
    for dir in split_unescaped(value, ':') {
        if !dir.starts_with('/') {
            return None;
        }
        let parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
        if parts.is_empty() || parts.iter().any(|c| *c == "." || *c == "..") {
            return None;
        }
        dirs.push(parts);
    }
    // The common prefix of the entries' parents, so that every entry keeps a name.
    let first = dirs.first()?;
    let mut common = first.len() - 1;
    for d in &dirs[1..] {
        common = common.min(d.len() - 1);
        common = first
            .iter()
            .zip(d.iter())
            .take(common)
            .take_while(|(a, b)| a == b)
            .count();
    }
    if common == 0 {
        return None;
    }
    let relative: Vec<String> = dirs.iter().map(|d| d[common..].join("/")).collect();
    let mut out = items.to_vec();
    out[idx] = format!("lowerdir={}", relative.join(":"));
    Some((
        PathBuf::from(format!("/{}", first[..common].join("/"))),
        out,
    ))
}

/// Split on `sep` where it is not escaped with a backslash (overlay's syntax); the
/// escapes stay in the pieces.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// Remove overlay's backslash escapes.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn lowerdirs_compact_to_their_common_parent() {
        let opts = items(&[
            "index=off",
            "lowerdir=/var/lib/x/overlay/l/2/diff:/var/lib/x/overlay/l/1/diff",
            "upperdir=/var/lib/x/c/diff",
            "workdir=/var/lib/x/c/work",
        ]);
        let (dir, out) = compact_lowerdir(&opts).unwrap();
        assert_eq!(dir, Path::new("/var/lib/x/overlay/l"));
        assert_eq!(
            out,
            items(&[
                "index=off",
                "lowerdir=2/diff:1/diff",
                "upperdir=/var/lib/x/c/diff",
                "workdir=/var/lib/x/c/work",
            ])
        );
        // One entry the parent of another: the common parent is above both.
        let (dir, out) = compact_lowerdir(&items(&["lowerdir=/a/b:/a/b/c"])).unwrap();
        assert_eq!(dir, Path::new("/a"));
        assert_eq!(out, items(&["lowerdir=b:b/c"]));
        // Double slashes are plain separators; escaped colons stay in their entry.
        let (dir, out) = compact_lowerdir(&items(&["lowerdir=/a//x\\:y:/a/z"])).unwrap();
        assert_eq!(dir, Path::new("/a"));
        assert_eq!(out, items(&["lowerdir=x\\:y:z"]));
    }

    #[test]
    fn nothing_to_compact() {
        for bad in [
            "upperdir=/a/b",
            "lowerdir=/a:/b",
            "lowerdir=/x/a:rel/b",
            "lowerdir=/x/../a:/x/b",
            "lowerdir=/x/a::/x/b",
        ] {
            assert_eq!(compact_lowerdir(&items(&[bad])), None, "{bad}");
        }
    }

    #[test]
    fn data_is_compacted_only_when_too_long() {
        let opts = items(&["lowerdir=/base/l/1:/base/l/2", "upperdir=/u"]);
        let (data, dir) = fit_data(&opts, 100).unwrap();
        assert_eq!(data, "lowerdir=/base/l/1:/base/l/2,upperdir=/u");
        assert_eq!(dir, None);
        let (data, dir) = fit_data(&opts, 30).unwrap();
        assert_eq!(data, "lowerdir=1:2,upperdir=/u");
        assert_eq!(dir.as_deref(), Some(Path::new("/base/l")));
        let err = fit_data(&opts, 10).unwrap_err();
        assert_eq!(err.stage, Stage::Rootfs);
        assert!(err.message.contains("take 40 bytes"), "{err}");
    }

    #[test]
    fn escapes() {
        assert_eq!(split_unescaped("a\\:b:c", ':'), ["a\\:b", "c"]);
        assert_eq!(split_unescaped("", ':'), [""]);
        assert_eq!(unescape("a\\:b\\\\c"), "a:b\\c");
    }

    #[test]
    fn the_missing_overlay_directory_is_named() {
        let t = tempfile::tempdir().unwrap();
        let present = t.path().display().to_string();
        let absent = t.path().join("absent").display().to_string();
        let opts = vec![
            format!("lowerdir={present}:{absent}"),
            format!("upperdir={present}"),
        ];
        assert_eq!(
            missing_overlay_dir(&opts),
            Some(("lowerdir", absent.clone()))
        );
        let e = explain("overlay", io::Error::from_raw_os_error(libc::ENOENT), &opts);
        assert!(
            e.message
                .starts_with(&format!("mount overlay: lowerdir {absent}: ")),
            "{e}"
        );
        assert_eq!(e.errno, Some(libc::ENOENT));
        let e = explain("aufs", io::Error::from_raw_os_error(libc::ENODEV), &opts);
        assert!(e.message.starts_with("mount aufs: "), "{e}");
    }
}
