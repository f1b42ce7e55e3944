//! Writing a writable layer's changes as an OCI layer tar.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::copytree::list_xattrs;
use crate::error::{Error, IoContext, Result};

/// How the upper directory encodes whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpperKind {
    /// 0/0 char devices and `trusted.overlay.opaque=y`.
    Overlay,
    /// `.wh.` files.
    Aufs,
}

/// Appends one PAX extended header with `records` before the next entry.
pub(crate) fn append_pax<W: Write>(
    b: &mut tar::Builder<W>,
    records: &[(String, Vec<u8>)],
) -> io::Result<()> {
    let mut data = Vec::new();
    for (key, value) in records {
        let rest_len = 1 + key.len() + 1 + value.len() + 1; // " key=value\n"
        let mut n = rest_len + 1;
        loop {
            let total = rest_len + n.to_string().len();
            if total == n {
                break;
            }
            n = total;
        }
        data.extend_from_slice(n.to_string().as_bytes());
        data.push(b' ');
        data.extend_from_slice(key.as_bytes());
        data.push(b'=');
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_path("PaxHeader")?;
    h.set_cksum();
    b.append(&h, &data[..])
}

struct Out<'a> {
    b: tar::Builder<&'a mut dyn Write>,
    links: HashMap<(u64, u64), PathBuf>,
    /// Stay on this filesystem: another one mounted below (a mount point) is written as
    /// an empty directory or file and not descended into.
    one_fs: Option<u64>,
}

impl Out<'_> {
    fn foreign(&self, m: &fs::Metadata) -> bool {
        self.one_fs.is_some_and(|dev| dev != m.dev())
    }
}

fn terr(e: io::Error) -> Error {
    Error::io("write changes tar", "<changes>", e)
}

impl Out<'_> {
    fn entry(&mut self, rel: &Path, abs: &Path, m: &fs::Metadata) -> Result<()> {
        let ft = m.file_type();
        if self.foreign(m) {
            let mut h = tar::Header::new_gnu();
            h.set_mode(m.mode() & 0o7777);
            h.set_uid(u64::from(m.uid()));
            h.set_gid(u64::from(m.gid()));
            h.set_size(0);
            h.set_entry_type(if ft.is_dir() {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            return self.b.append_data(&mut h, rel, io::empty()).map_err(terr);
        }
        let xattrs = list_xattrs(abs)?;
        if !xattrs.is_empty() {
            let recs: Vec<(String, Vec<u8>)> = xattrs
                .into_iter()
                .map(|(n, v)| (format!("SCHILY.xattr.{}", String::from_utf8_lossy(&n)), v))
                .collect();
            append_pax(&mut self.b, &recs).map_err(terr)?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(u64::from(m.uid()));
        h.set_gid(u64::from(m.gid()));
        h.set_mtime(u64::try_from(m.mtime()).unwrap_or(0));
        h.set_size(0);
        if !ft.is_dir() && m.nlink() > 1 {
            if let Some(first) = self.links.get(&(m.dev(), m.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return self.b.append_link(&mut h, rel, first).map_err(terr);
            }
            self.links.insert((m.dev(), m.ino()), rel.to_path_buf());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            self.b.append_data(&mut h, rel, io::empty()).map_err(terr)
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            let f = File::open(abs).ctx("open", abs)?;
            self.b.append_data(&mut h, rel, f).map_err(terr)
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(abs).ctx("readlink", abs)?;
            self.b.append_link(&mut h, rel, target).map_err(terr)
        } else if ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            let dev = m.rdev();
            h.set_device_major(rustix::fs::major(dev)).map_err(terr)?;
            h.set_device_minor(rustix::fs::minor(dev)).map_err(terr)?;
            self.b.append_data(&mut h, rel, io::empty()).map_err(terr)
        } else if ft.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            self.b.append_data(&mut h, rel, io::empty()).map_err(terr)
        } else {
            // Sockets are not part of images.
            Ok(())
        }
    }

    fn marker(&mut self, rel_dir: &Path, name: &[u8]) -> Result<()> {
        let mut n = OsString::from(".wh.");
        n.push(std::ffi::OsStr::from_bytes(name));
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(0);
        self.b
            .append_data(&mut h, rel_dir.join(n), io::empty())
            .map_err(terr)
    }

    fn whiteout(&mut self, rel_dir: &Path, name: &[u8]) -> Result<()> {
        self.marker(rel_dir, name)
    }

    fn opaque(&mut self, rel_dir: &Path) -> Result<()> {
        self.marker(rel_dir, b".wh..opq")
    }

    fn finish(self) -> Result<()> {
        self.b.into_inner().map_err(terr)?;
        Ok(())
    }
}

fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .ctx("read dir", dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .ctx("read dir", dir)?;
    names.sort();
    Ok(names)
}

/// Writes the content of an overlay upper or aufs rw branch as an OCI layer tar.
pub(crate) fn write_upper(upper: &Path, kind: UpperKind, out: &mut dyn Write) -> Result<()> {
    let mut o = Out {
        b: tar::Builder::new(out),
        links: HashMap::new(),
        one_fs: None,
    };
    walk_upper(upper, Path::new(""), kind, &mut o, true)?;
    o.finish()
}

fn walk_upper(dir: &Path, rel: &Path, kind: UpperKind, o: &mut Out<'_>, top: bool) -> Result<()> {
    for name in sorted_names(dir)? {
        let abs = dir.join(&name);
        let r = rel.join(&name);
        let m = fs::symlink_metadata(&abs).ctx("stat", &abs)?;
        let nb = name.as_bytes();
        if kind == UpperKind::Aufs
            && let Some(wh) = nb.strip_prefix(b".wh.")
        {
            if wh == b".wh..opq" {
                o.opaque(rel)?;
            } else if !wh.starts_with(b".wh.") {
                o.whiteout(rel, wh)?;
            }
            // Other `.wh..wh.*` entries (plnk, aufs, orph) are aufs internals.
            let _ = top;
            continue;
        }
        if kind == UpperKind::Overlay && m.file_type().is_char_device() && m.rdev() == 0 {
            o.whiteout(rel, nb)?;
            continue;
        }
        o.entry(&r, &abs, &m)?;
        if m.is_dir() {
            if kind == UpperKind::Overlay {
                let mut buf = [0u8; 4];
                if matches!(rustix::fs::lgetxattr(&abs, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
                {
                    o.opaque(&r)?;
                }
            }
            walk_upper(&abs, &r, kind, o, false)?;
        }
    }
    Ok(())
}

/// Writes the difference between two full trees (`upper` against `lower`) as an OCI layer
/// tar: new or changed entries, whiteouts for removed ones.
pub(crate) fn diff_trees(lower: Option<&Path>, upper: &Path, out: &mut dyn Write) -> Result<()> {
    let mut o = Out {
        b: tar::Builder::new(out),
        links: HashMap::new(),
        one_fs: None,
    };
    diff_dir(lower, upper, Path::new(""), &mut o)?;
    o.finish()
}

/// The tree under `root` as a tar, staying on `root`'s filesystem: mount points below
/// are written as empty directories or files (a running container's rootfs seen through
/// `/proc/PID/root`, without its /proc, volumes or bind-mounted /etc files).
pub(crate) fn tree_one_filesystem(root: &Path, out: &mut dyn Write) -> Result<()> {
    let dev = fs::metadata(root).ctx("stat", root)?.dev();
    let mut o = Out {
        b: tar::Builder::new(out),
        links: HashMap::new(),
        one_fs: Some(dev),
    };
    diff_dir(None, root, Path::new(""), &mut o)?;
    o.finish()
}

fn changed(l: &fs::Metadata, u: &fs::Metadata, lp: &Path, up: &Path) -> Result<bool> {
    if l.file_type() != u.file_type()
        || l.mode() != u.mode()
        || l.uid() != u.uid()
        || l.gid() != u.gid()
        || l.rdev() != u.rdev()
    {
        return Ok(true);
    }
    if !u.is_dir()
        && (l.len() != u.len() || l.mtime() != u.mtime() || l.mtime_nsec() != u.mtime_nsec())
    {
        return Ok(true);
    }
    if u.file_type().is_symlink()
        && fs::read_link(lp).ctx("readlink", lp)? != fs::read_link(up).ctx("readlink", up)?
    {
        return Ok(true);
    }
    Ok(list_xattrs(lp)? != list_xattrs(up)?)
}

fn diff_dir(lower: Option<&Path>, upper: &Path, rel: &Path, o: &mut Out<'_>) -> Result<()> {
    let up_names = sorted_names(upper)?;
    let up_set: BTreeSet<&OsString> = up_names.iter().collect();
    for name in &up_names {
        let up = upper.join(name);
        let r = rel.join(name);
        let um = fs::symlink_metadata(&up).ctx("stat", &up)?;
        let lp = lower.map(|l| l.join(name));
        let lm = lp.as_ref().and_then(|p| fs::symlink_metadata(p).ok());
        let is_changed = match (&lm, &lp) {
            (Some(lm), Some(lp)) => changed(lm, &um, lp, &up)?,
            _ => true,
        };
        if is_changed {
            o.entry(&r, &up, &um)?;
        }
        if um.is_dir() && !o.foreign(&um) {
            let sub_lower = match (&lm, &lp) {
                (Some(lm), Some(lp)) if lm.is_dir() => Some(lp.as_path()),
                _ => None,
            };
            diff_dir(sub_lower, &up, &r, o)?;
        }
    }
    if let Some(l) = lower {
        for name in sorted_names(l)? {
            if !up_set.contains(&name) {
                o.whiteout(rel, name.as_bytes())?;
            }
        }
    }
    Ok(())
}
