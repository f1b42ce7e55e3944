//! Creating entries: directories, regular files, symlinks, hard links and special files,
//! with their metadata; directory times are set last.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, XattrFlags};

use super::{
    Meta, RESOLVE, Unpacker, Whiteouts, gid, ignore_unsupported, join, lossy, mismatch_of,
    normalize, proc_fd_path, set_opaque_at, uerr, uerr_io, uid, xattr_allowed,
};
use crate::error::UnpackReason;

/// Files from this size on get their writeback started as soon as they are written.
const EARLY_WRITEBACK: u64 = 1 << 20;

impl Unpacker {
    pub(super) fn directory(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        key: &[u8],
        meta: &Meta,
    ) -> std::result::Result<(), UnpackReason> {
        let dir = self
            .parent_fd(parent, true)?
            .ok_or(UnpackReason::InvalidPath)?;
        let n = OsStr::from_bytes(base);
        self.overlay_whiteouts.remove(key);
        self.files.remove(key);
        // A directory replacing a non-directory this layer created (a whiteout, a file):
        // in the flattened view whatever was below is gone, so the new directory must not
        // merge with the lower layers.
        let replaces_nondir = match rustix::fs::statat(&dir, n, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => FileType::from_raw_mode(st.st_mode) != FileType::Directory,
            Err(_) => false,
        };
        if !self.clear_slot(&dir, base, true)? {
            rustix::fs::mkdirat(&dir, n, Mode::from_raw_mode(0o700)).map_err(uerr("mkdir"))?;
            if replaces_nondir {
                match self.opts.whiteouts {
                    Whiteouts::Overlay => set_opaque_at(&dir, base)?,
                    Whiteouts::Aufs => {
                        let sub = rustix::fs::openat(
                            &dir,
                            n,
                            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(uerr("open dir"))?;
                        rustix::fs::openat(
                            &sub,
                            ".wh..wh..opq",
                            OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::from_raw_mode(0o444),
                        )
                        .map_err(uerr("create opaque marker"))?;
                    }
                    Whiteouts::Delete => {}
                }
            }
        }
        let fd = rustix::fs::openat(
            &dir,
            n,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(uerr("open dir"))?;
        self.fd_meta(&fd, meta)?;
        self.dir_times.push((key.to_vec(), meta.mtime.clone()));
        Ok(())
    }

    pub(super) fn dir_meta_root(
        &mut self,
        root: OwnedFd,
        meta: &Meta,
    ) -> std::result::Result<(), UnpackReason> {
        let fd = rustix::fs::openat(
            &root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(uerr("open dir"))?;
        self.fd_meta(&fd, meta)?;
        self.dir_times.push((Vec::new(), meta.mtime.clone()));
        Ok(())
    }

    pub(super) fn regular<R: Read>(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        key: &[u8],
        meta: &Meta,
        data: &mut R,
        size: u64,
    ) -> std::result::Result<(), UnpackReason> {
        let dir = self
            .parent_fd(parent, true)?
            .ok_or(UnpackReason::InvalidPath)?;
        self.clear_slot(&dir, base, false)?;
        let fd = rustix::fs::openat(
            &dir,
            OsStr::from_bytes(base),
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(uerr("create"))?;
        let mut file = File::from(fd);
        let mut written = 0u64;
        while written < size {
            let want = usize::try_from((size - written).min(self.buf.len() as u64))
                .unwrap_or(self.buf.len());
            let n = match data.read(&mut self.buf[..want]) {
                Ok(0) => return Err(UnpackReason::Truncated),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if mismatch_of(&e).is_some() => return Err(UnpackReason::Truncated),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(UnpackReason::Truncated);
                }
                Err(e) => return Err(uerr_io("read")(e)),
            };
            file.write_all(&self.buf[..n]).map_err(uerr_io("write"))?;
            written += n as u64;
        }
        let fd = OwnedFd::from(file);
        if size >= EARLY_WRITEBACK {
            // The layer's `syncfs` at commit makes it durable; start writing it now.
            let _ = crate::sys::start_writeback(fd.as_fd(), 0, 0);
        }
        self.fd_meta(&fd, meta)?;
        rustix::fs::futimens(&fd, &meta.mtime).map_err(uerr("utimes"))?;
        self.files.insert(key.to_vec());
        Ok(())
    }

    pub(super) fn symlink(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        key: &[u8],
        target: &[u8],
        meta: &Meta,
    ) -> std::result::Result<(), UnpackReason> {
        let dir = self
            .parent_fd(parent, true)?
            .ok_or(UnpackReason::InvalidPath)?;
        self.clear_slot(&dir, base, false)?;
        let n = OsStr::from_bytes(base);
        rustix::fs::symlinkat(OsStr::from_bytes(target), &dir, n).map_err(uerr("symlink"))?;
        if self.is_root {
            rustix::fs::chownat(
                &dir,
                n,
                Some(uid(meta.uid)?),
                Some(gid(meta.gid)?),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(uerr("chown"))?;
        }
        for (name, value) in &meta.xattrs {
            if !xattr_allowed(name) {
                continue;
            }
            let p = proc_fd_path(dir.as_fd(), base);
            ignore_unsupported(
                rustix::fs::lsetxattr(&p, OsStr::from_bytes(name), value, XattrFlags::empty()),
                self.is_root,
            )
            .map_err(uerr("setxattr"))?;
        }
        rustix::fs::utimensat(&dir, n, &meta.mtime, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(uerr("utimes"))?;
        self.files.insert(key.to_vec());
        Ok(())
    }

    pub(super) fn hardlink(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        key: &[u8],
        target_raw: &[u8],
    ) -> std::result::Result<(), UnpackReason> {
        let outside = || UnpackReason::HardlinkOutside {
            target: lossy(target_raw),
        };
        let tcomps = normalize(target_raw).map_err(|_| outside())?;
        let tkey = join(&tcomps);
        if !self.files.contains(&tkey) {
            if self.touched.contains(&tkey) {
                return Err(UnpackReason::HardlinkToDirectory {
                    target: lossy(target_raw),
                });
            }
            return Err(outside());
        }
        if tkey == key {
            return Ok(());
        }
        let (tbase, tparent) = tcomps.split_last().ok_or_else(outside)?;
        let tdir = self.parent_fd(tparent, false)?.ok_or_else(outside)?;
        let dir = self
            .parent_fd(parent, true)?
            .ok_or(UnpackReason::InvalidPath)?;
        self.clear_slot(&dir, base, false)?;
        rustix::fs::linkat(
            &tdir,
            OsStr::from_bytes(tbase),
            &dir,
            OsStr::from_bytes(base),
            AtFlags::empty(),
        )
        .map_err(uerr("link"))?;
        self.files.insert(key.to_vec());
        Ok(())
    }

    pub(super) fn special(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        key: &[u8],
        ft: FileType,
        dev: u64,
        meta: &Meta,
    ) -> std::result::Result<(), UnpackReason> {
        let dir = self
            .parent_fd(parent, true)?
            .ok_or(UnpackReason::InvalidPath)?;
        self.clear_slot(&dir, base, false)?;
        let n = OsStr::from_bytes(base);
        rustix::fs::mknodat(&dir, n, ft, Mode::from_raw_mode(0o600), dev).map_err(uerr("mknod"))?;
        if self.is_root {
            rustix::fs::chownat(
                &dir,
                n,
                Some(uid(meta.uid)?),
                Some(gid(meta.gid)?),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(uerr("chown"))?;
        }
        // The node was just created by us and is not a symlink, so following is harmless.
        rustix::fs::chmodat(&dir, n, Mode::from_raw_mode(meta.mode), AtFlags::empty())
            .map_err(uerr("chmod"))?;
        for (name, value) in &meta.xattrs {
            if !xattr_allowed(name) {
                continue;
            }
            let p = proc_fd_path(dir.as_fd(), base);
            ignore_unsupported(
                rustix::fs::lsetxattr(&p, OsStr::from_bytes(name), value, XattrFlags::empty()),
                self.is_root,
            )
            .map_err(uerr("setxattr"))?;
        }
        rustix::fs::utimensat(&dir, n, &meta.mtime, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(uerr("utimes"))?;
        self.files.insert(key.to_vec());
        Ok(())
    }

    pub(super) fn fd_meta(
        &self,
        fd: &OwnedFd,
        meta: &Meta,
    ) -> std::result::Result<(), UnpackReason> {
        if self.is_root {
            rustix::fs::fchown(fd, Some(uid(meta.uid)?), Some(gid(meta.gid)?))
                .map_err(uerr("chown"))?;
        }
        // After chown, which clears setuid/setgid.
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(uerr("chmod"))?;
        for (name, value) in &meta.xattrs {
            if !xattr_allowed(name) {
                continue;
            }
            ignore_unsupported(
                rustix::fs::fsetxattr(fd, OsStr::from_bytes(name), value, XattrFlags::empty()),
                self.is_root,
            )
            .map_err(uerr("setxattr"))?;
        }
        Ok(())
    }

    /// Sets directory times last, after everything inside them was written.
    pub(super) fn finish_dir_times(&mut self) {
        let times = std::mem::take(&mut self.dir_times);
        for (key, ts) in times.iter().rev() {
            let fd = if key.is_empty() {
                rustix::fs::openat(
                    &self.root,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            } else {
                rustix::fs::openat2(
                    &self.root,
                    OsStr::from_bytes(key),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    RESOLVE,
                )
            };
            // A directory replaced or whited out later in the same layer is skipped.
            if let Ok(fd) = fd {
                let _ = rustix::fs::futimens(&fd, ts);
            }
        }
    }
}
