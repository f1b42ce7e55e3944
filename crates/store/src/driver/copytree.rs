//! Faithful tree copy for the copy driver: reflink (FICLONE) where the filesystem
//! supports it, an in-kernel copy otherwise; hard links stay hard links; owners, modes,
//! xattrs, device numbers and times are kept (directory times last).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps, XattrFlags};

use crate::error::{IoContext, Result};

/// Whether FICLONE failed with "unsupported" before (then it is not tried again).
static NO_REFLINK: AtomicBool = AtomicBool::new(false);

/// Copies the tree `src` to `dst` (which must not exist).
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links = HashMap::new();
    let mut dirs = Vec::new();
    copy_entry(src, dst, &mut links, &mut dirs)?;
    // Directory times last, deepest first.
    for (path, m) in dirs.iter().rev() {
        set_times(path, m)?;
    }
    Ok(())
}

fn copy_entry(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    dirs: &mut Vec<(PathBuf, fs::Metadata)>,
) -> Result<()> {
    let m = fs::symlink_metadata(src).ctx("stat", src)?;
    let ft = m.file_type();
    if ft.is_dir() {
        fs::create_dir(dst).ctx("create dir", dst)?;
        let mut names: Vec<_> = fs::read_dir(src)
            .ctx("read dir", src)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .ctx("read dir", src)?;
        names.sort();
        for n in names {
            copy_entry(&src.join(&n), &dst.join(&n), links, dirs)?;
        }
        set_meta(src, dst, &m)?;
        dirs.push((dst.to_path_buf(), m));
        return Ok(());
    }
    if m.nlink() > 1 {
        if let Some(first) = links.get(&(m.dev(), m.ino())) {
            return fs::hard_link(first, dst).ctx("link", dst);
        }
        links.insert((m.dev(), m.ino()), dst.to_path_buf());
    }
    if ft.is_file() {
        copy_file(src, dst)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(src).ctx("readlink", src)?;
        std::os::unix::fs::symlink(&target, dst).ctx("symlink", dst)?;
    } else {
        let kind = if ft.is_char_device() {
            FileType::CharacterDevice
        } else if ft.is_block_device() {
            FileType::BlockDevice
        } else if ft.is_fifo() {
            FileType::Fifo
        } else {
            FileType::Socket
        };
        rustix::fs::mknodat(CWD, dst, kind, Mode::from_raw_mode(0o600), m.rdev())
            .ctx("mknod", dst)?;
    }
    set_meta(src, dst, &m)?;
    set_times(dst, &m)
}

fn copy_file(src: &Path, dst: &Path) -> Result<()> {
    let mut from = File::open(src).ctx("open", src)?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .ctx("create", dst)?;
    if !NO_REFLINK.load(Ordering::Relaxed) {
        match rustix::fs::ioctl_ficlone(&to, &from) {
            Ok(()) => return Ok(()),
            Err(
                rustix::io::Errno::OPNOTSUPP
                | rustix::io::Errno::NOTTY
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::NOSYS,
            ) => {
                NO_REFLINK.store(true, Ordering::Relaxed);
            }
            Err(rustix::io::Errno::XDEV) => {}
            Err(e) => return Err(e).ctx("reflink", dst),
        }
    }
    // std uses copy_file_range (in-kernel copy) between regular files.
    std::io::copy(&mut from, &mut to).ctx("copy", dst)?;
    Ok(())
}

/// Gives `dst` the owner, mode, xattrs and times of `src` (both trusted paths).
pub(crate) fn copy_dir_meta(src: &Path, dst: &Path) -> Result<()> {
    let m = fs::symlink_metadata(src).ctx("stat", src)?;
    set_meta(src, dst, &m)?;
    set_times(dst, &m)
}

fn set_meta(src: &Path, dst: &Path, m: &fs::Metadata) -> Result<()> {
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid())).ctx("chown", dst)?;
    }
    copy_xattrs(src, dst)?;
    if !m.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))
            .ctx("chmod", dst)?;
    }
    Ok(())
}

fn set_times(dst: &Path, m: &fs::Metadata) -> Result<()> {
    let ts = Timestamps {
        last_access: Timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec(),
        },
        last_modification: Timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec(),
        },
    };
    rustix::fs::utimensat(CWD, dst, &ts, AtFlags::SYMLINK_NOFOLLOW).ctx("utimes", dst)
}

/// Lists a path's xattrs (not following symlinks), without overlayfs' own.
pub(crate) fn list_xattrs(p: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut names = vec![0u8; 4096];
    let n = loop {
        match rustix::fs::llistxattr(p, &mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) if names.len() < (1 << 20) => {
                names.resize(names.len() * 4, 0)
            }
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx("listxattr", p),
        }
    };
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 256];
        let len = loop {
            match rustix::fs::lgetxattr(p, OsStr::from_bytes(name), &mut value[..]) {
                Ok(n) => break n,
                Err(rustix::io::Errno::RANGE) if value.len() < (1 << 20) => {
                    value.resize(value.len() * 4, 0)
                }
                Err(rustix::io::Errno::NODATA) => break usize::MAX,
                Err(e) => return Err(e).ctx("getxattr", p),
            }
        };
        if len != usize::MAX {
            value.truncate(len);
            out.push((name.to_vec(), value));
        }
    }
    Ok(out)
}

fn copy_xattrs(src: &Path, dst: &Path) -> Result<()> {
    for (name, value) in list_xattrs(src)? {
        match rustix::fs::lsetxattr(dst, OsStr::from_bytes(&name), &value, XattrFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOTSUP) => {}
            Err(e) => return Err(e).ctx("setxattr", dst),
        }
    }
    Ok(())
}
