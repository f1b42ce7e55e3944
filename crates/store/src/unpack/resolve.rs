//! Resolving an entry's parent directory below the layer root: `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, creating missing components one at a time.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{RESOLVE, Unpacker, join, lossy, remove_tree_at, set_opaque_at, uerr, uerr_io};
use crate::error::UnpackReason;

impl Unpacker {
    /// Opens (creating missing components) the directory `comps` below the root.
    pub(super) fn parent_fd(
        &mut self,
        comps: &[&[u8]],
        create: bool,
    ) -> std::result::Result<Option<OwnedFd>, UnpackReason> {
        if comps.is_empty() {
            return rustix::io::dup(&self.root).map(Some).map_err(uerr("dup"));
        }
        let key = join(comps);
        if let Some((k, fd)) = &self.cache
            && *k == key
        {
            return rustix::io::dup(fd).map(Some).map_err(uerr("dup"));
        }
        let fd = match rustix::fs::openat2(
            &self.root,
            OsStr::from_bytes(&key),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => {
                match self.walk_create(comps, create)? {
                    Some(fd) => fd,
                    None => return Ok(None),
                }
            }
            Err(Errno::AGAIN) => {
                // openat2 may ask for a retry when a rename raced with resolution.
                match self.walk_create(comps, create)? {
                    Some(fd) => fd,
                    None => return Ok(None),
                }
            }
            Err(e) => return Err(uerr("openat2")(e)),
        };
        for i in 1..=comps.len() {
            self.ancestors.insert(join(&comps[..i]));
        }
        let dup = rustix::io::dup(&fd).map_err(uerr("dup"))?;
        self.cache = Some((key, fd));
        Ok(Some(dup))
    }

    pub(super) fn walk_create(
        &mut self,
        comps: &[&[u8]],
        create: bool,
    ) -> std::result::Result<Option<OwnedFd>, UnpackReason> {
        let mut cur = rustix::io::dup(&self.root).map_err(uerr("dup"))?;
        for (i, c) in comps.iter().enumerate() {
            let name = OsStr::from_bytes(c);
            match rustix::fs::statat(&cur, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st)
                    if create
                        && FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
                        && st.st_rdev == 0
                        && self.overlay_whiteouts.contains(&join(&comps[..=i])) =>
                {
                    // Deleted earlier in this layer, now a parent again: a new opaque dir.
                    self.cache = None;
                    rustix::fs::unlinkat(&cur, name, AtFlags::empty()).map_err(uerr("unlink"))?;
                    rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755))
                        .map_err(uerr("mkdir"))?;
                    rustix::fs::chmodat(&cur, name, Mode::from_raw_mode(0o755), AtFlags::empty())
                        .map_err(uerr("chmod"))?;
                    set_opaque_at(&cur, c)?;
                    self.overlay_whiteouts.remove(&join(&comps[..=i]));
                }
                Ok(st) => {
                    let ft = FileType::from_raw_mode(st.st_mode);
                    if ft == FileType::Symlink {
                        return Err(UnpackReason::ThroughSymlink {
                            component: lossy(&join(&comps[..=i])),
                        });
                    }
                    if ft != FileType::Directory {
                        return Err(UnpackReason::ParentNotDirectory {
                            component: lossy(&join(&comps[..=i])),
                        });
                    }
                }
                Err(Errno::NOENT) => {
                    if !create {
                        return Ok(None);
                    }
                    rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755))
                        .map_err(uerr("mkdir"))?;
                    // mkdir applies the umask; implicit parents are 0755 like docker's.
                    rustix::fs::chmodat(&cur, name, Mode::from_raw_mode(0o755), AtFlags::empty())
                        .map_err(uerr("chmod"))?;
                    self.implicit.push(join(&comps[..=i]));
                }
                Err(e) => return Err(uerr("stat")(e)),
            }
            cur = rustix::fs::openat(
                &cur,
                name,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(uerr("open dir"))?;
        }
        Ok(Some(cur))
    }

    /// Makes room for a new entry `name` in `dir`: removes an existing non-directory, or an
    /// existing directory when `want_dir` is false. Returns whether a directory remains.
    pub(super) fn clear_slot(
        &mut self,
        dir: &OwnedFd,
        name: &[u8],
        want_dir: bool,
    ) -> std::result::Result<bool, UnpackReason> {
        let n = OsStr::from_bytes(name);
        match rustix::fs::statat(dir, n, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(uerr("stat")(e)),
            Ok(st) => {
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    if want_dir {
                        return Ok(true);
                    }
                    self.cache = None;
                    remove_tree_at(dir, name).map_err(uerr_io("remove directory"))?;
                } else {
                    rustix::fs::unlinkat(dir, n, AtFlags::empty()).map_err(uerr("unlink"))?;
                }
                Ok(false)
            }
        }
    }
}
