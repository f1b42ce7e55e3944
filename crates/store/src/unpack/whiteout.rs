//! Whiteout entries (`.wh.NAME`, `.wh..wh..opq`), stored as the [`Whiteouts`] strategy
//! says.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, XattrFlags};
use rustix::io::Errno;

use super::{
    Key, Meta, Unpacker, Whiteouts, child_key, gid, join, proc_fd_path, remove_tree_at, uerr,
    uerr_io, uid,
};
use crate::error::UnpackReason;

impl Unpacker {
    /// A whiteout entry `parent/base`, where `base` is `.wh.` + `wh`.
    pub(super) fn whiteout(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        wh: &[u8],
        meta: &Meta,
    ) -> Result<(), UnpackReason> {
        let opaque = wh == b".wh..opq";
        if !opaque {
            if wh.starts_with(b".wh.") {
                // Other aufs metadata (`.wh..wh.plnk`, ...): not part of the image.
                return Ok(());
            }
            if wh.is_empty() || wh == b"." || wh == b".." {
                return Err(UnpackReason::InvalidWhiteout);
            }
        }
        let pkey = join(parent);
        // Like any entry, a whiteout implies its directory (the overlay and aufs forms
        // must create it to hold the marker; the applied form shows it too).
        let dir = self
            .parent_fd(parent, true)?
            .ok_or(UnpackReason::InvalidPath)?;
        match self.opts.whiteouts {
            Whiteouts::Aufs => self.whiteout_aufs(&dir, pkey, base, meta),
            Whiteouts::Overlay if opaque => {
                let fd = rustix::fs::openat(
                    &dir,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(uerr("open dir"))?;
                rustix::fs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(uerr("set opaque xattr"))?;
                self.ancestors.insert(pkey);
                Ok(())
            }
            Whiteouts::Overlay => self.whiteout_overlay(&dir, &pkey, wh),
            Whiteouts::Delete if opaque => {
                self.clear_lower_children(&dir, &pkey)?;
                self.ancestors.insert(pkey);
                Ok(())
            }
            Whiteouts::Delete => self.whiteout_delete(&dir, &pkey, wh),
        }
    }

    /// aufs: the marker is kept literally, as an empty regular file.
    fn whiteout_aufs(
        &mut self,
        dir: &OwnedFd,
        pkey: Key,
        base: &[u8],
        meta: &Meta,
    ) -> Result<(), UnpackReason> {
        self.clear_slot(dir, base, false)?;
        let fd = rustix::fs::openat(
            dir,
            OsStr::from_bytes(base),
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o444),
        )
        .map_err(uerr("create whiteout"))?;
        if self.is_root {
            rustix::fs::fchown(&fd, Some(uid(meta.uid)?), Some(gid(meta.gid)?))
                .map_err(uerr("chown"))?;
        }
        self.touched.insert(child_key(&pkey, base));
        Ok(())
    }

    /// overlay: a 0/0 character device, unless this layer created the path or something
    /// is there already.
    fn whiteout_overlay(
        &mut self,
        dir: &OwnedFd,
        pkey: &[u8],
        wh: &[u8],
    ) -> Result<(), UnpackReason> {
        let key = child_key(pkey, wh);
        if self.touched.contains(&key) {
            return Ok(());
        }
        let n = OsStr::from_bytes(wh);
        match rustix::fs::statat(dir, n, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => return Ok(()),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(uerr("stat")(e)),
        }
        rustix::fs::mknodat(dir, n, FileType::CharacterDevice, Mode::empty(), 0)
            .map_err(uerr("mknod whiteout"))?;
        self.overlay_whiteouts.insert(key);
        Ok(())
    }

    /// Applied: the named lower path is deleted, unless this layer created it.
    fn whiteout_delete(
        &mut self,
        dir: &OwnedFd,
        pkey: &[u8],
        wh: &[u8],
    ) -> Result<(), UnpackReason> {
        let key = child_key(pkey, wh);
        if self.touched.contains(&key) || self.ancestors.contains(&key) {
            return Ok(());
        }
        let n = OsStr::from_bytes(wh);
        match rustix::fs::statat(dir, n, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => {}
            Err(e) => return Err(uerr("stat")(e)),
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                self.cache = None;
                remove_tree_at(dir, wh).map_err(uerr_io("remove"))?;
            }
            Ok(_) => rustix::fs::unlinkat(dir, n, AtFlags::empty()).map_err(uerr("unlink"))?,
        }
        Ok(())
    }

    /// For an opaque directory in `Delete` mode: removes everything below `dir` that this
    /// layer did not create.
    fn clear_lower_children(&mut self, dir: &OwnedFd, key: &[u8]) -> Result<(), UnpackReason> {
        let listing =
            std::fs::read_dir(proc_fd_path(dir.as_fd(), b"")).map_err(uerr_io("read dir"))?;
        for child in listing {
            let child = child.map_err(uerr_io("read dir"))?;
            let name = child.file_name();
            let name = name.as_bytes();
            let ckey = child_key(key, name);
            if self.touched.contains(&ckey) || self.ancestors.contains(&ckey) {
                let st =
                    rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(uerr("stat"))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    let sub = rustix::fs::openat(
                        dir,
                        OsStr::from_bytes(name),
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(uerr("open dir"))?;
                    self.clear_lower_children(&sub, &ckey)?;
                }
                continue;
            }
            self.cache = None;
            remove_tree_at(dir, name).map_err(uerr_io("remove"))?;
        }
        Ok(())
    }
}
