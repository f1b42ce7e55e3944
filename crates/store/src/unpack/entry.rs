//! One tar entry: its header and PAX records read and checked, then dispatched by type.

use std::io::Read;

use rustix::fs::{FileType, Timespec, Timestamps};

use super::{Meta, Unpacker, join, normalize, parse_pax_time, uerr};
use crate::error::UnpackReason;

fn malformed(e: impl std::fmt::Display) -> UnpackReason {
    UnpackReason::MalformedHeader(e.to_string())
}

/// What an entry's PAX extended header says.
#[derive(Default)]
struct Pax {
    mtime: Option<Timespec>,
    size: Option<u64>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn pax_records<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Pax, UnpackReason> {
    let mut pax = Pax::default();
    let Some(exts) = entry.pax_extensions().map_err(malformed)? else {
        return Ok(pax);
    };
    for ext in exts {
        let ext = ext.map_err(malformed)?;
        let key = ext.key().map_err(malformed)?;
        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
            pax.xattrs
                .push((name.as_bytes().to_vec(), ext.value_bytes().to_vec()));
        } else if key == "size" {
            let v = ext
                .value()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| UnpackReason::MalformedHeader("PAX size".into()))?;
            pax.size = Some(v);
        } else if key == "mtime" {
            pax.mtime = ext.value().ok().and_then(parse_pax_time);
        }
    }
    Ok(pax)
}

impl Unpacker {
    /// Reads the entry's metadata and checks its size (PAX against ustar, and the limit);
    /// returns the metadata and the size of its data.
    fn entry_meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(Meta, u64), UnpackReason> {
        let header_size = entry.header().entry_size().map_err(malformed)?;
        let pax = pax_records(entry)?;
        if let Some(pax) = pax.size {
            // A ustar size field cannot hold 8 GiB or more; writers then leave it zero.
            let unrepresentable = header_size == 0 && pax > 0o77777777777;
            if pax != header_size && !unrepresentable {
                return Err(UnpackReason::PaxSizeMismatch {
                    pax,
                    header: header_size,
                });
            }
        }
        let size = entry.size();
        if size > self.opts.max_entry_size {
            return Err(UnpackReason::AbsurdSize {
                size,
                limit: self.opts.max_entry_size,
            });
        }
        let h = entry.header();
        let mtime = pax.mtime.unwrap_or_else(|| {
            let s = h.mtime().unwrap_or(0);
            Timespec {
                tv_sec: i64::try_from(s).unwrap_or(i64::MAX),
                tv_nsec: 0,
            }
        });
        let meta = Meta {
            mode: h.mode().map_err(malformed)? & 0o7777,
            uid: h.uid().map_err(malformed)?,
            gid: h.gid().map_err(malformed)?,
            mtime: Timestamps {
                last_access: mtime,
                last_modification: mtime,
            },
            xattrs: pax.xattrs,
        };
        Ok((meta, size))
    }

    /// Unpacks one entry.
    pub(super) fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
    ) -> Result<(), UnpackReason> {
        let etype = entry.header().entry_type();
        if etype.is_pax_global_extensions()
            || etype.is_pax_local_extensions()
            || etype.is_gnu_longname()
            || etype.is_gnu_longlink()
        {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let (meta, size) = self.entry_meta(&mut entry)?;
        let comps = normalize(&raw)?;
        let Some((base, parent)) = comps.split_last() else {
            if etype.is_dir() {
                let root = rustix::io::dup(&self.root).map_err(uerr("dup"))?;
                return self.dir_meta_root(root, &meta);
            }
            return Err(UnpackReason::InvalidPath);
        };
        let key = join(&comps);
        if let Some(wh) = base.strip_prefix(b".wh.") {
            return self.whiteout(parent, base, wh, &meta);
        }
        use tar::EntryType as T;
        match etype {
            T::Directory => self.directory(parent, base, &key, &meta)?,
            T::Regular | T::Continuous | T::GNUSparse => {
                self.regular(parent, base, &key, &meta, &mut entry, size)?
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| UnpackReason::MalformedHeader("symlink without target".into()))?
                    .into_owned();
                self.symlink(parent, base, &key, &target, &meta)?
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        UnpackReason::MalformedHeader("hard link without target".into())
                    })?
                    .into_owned();
                self.hardlink(parent, base, &key, &target)?
            }
            T::Char | T::Block | T::Fifo => {
                let (ft, dev) = self.device(&entry)?;
                self.special(parent, base, &key, ft, dev, &meta)?
            }
            other => return Err(UnpackReason::UnsupportedType(other.as_byte())),
        }
        self.overlay_whiteouts.remove(&key);
        self.touched.insert(key);
        Ok(())
    }

    /// The file type and device number of a device or fifo entry.
    fn device<R: Read>(&self, entry: &tar::Entry<'_, R>) -> Result<(FileType, u64), UnpackReason> {
        use tar::EntryType as T;
        let h = entry.header();
        let etype = h.entry_type();
        if etype == T::Fifo {
            return Ok((FileType::Fifo, 0));
        }
        if !self.opts.allow_devices {
            return Err(UnpackReason::DeviceNotPermitted);
        }
        let major = h.device_major().map_err(malformed)?.unwrap_or(0);
        let minor = h.device_minor().map_err(malformed)?.unwrap_or(0);
        let ft = if etype == T::Char {
            FileType::CharacterDevice
        } else {
            FileType::BlockDevice
        };
        Ok((ft, rustix::fs::makedev(major, minor)))
    }
}
