//! Safe extraction of OCI layer tars.
//!
//! Every tar entry is treated as hostile. Paths are normalised (`.` dropped; `..` and
//! absolute paths rejected) and resolved by the unpacker itself, never by the tar crate:
//! the parent directory is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` below the layer root, missing parents are
//! created one component at a time with `mkdirat`, and the entry itself is created with
//! `*at` calls on that directory descriptor without following a final symlink. Anything
//! whose path goes through a symlink (planted by an earlier entry, or present in a lower
//! layer for the copy driver, which unpacks onto the flattened tree) is an error naming
//! the entry. Hard links may only point at files this layer created.
//!
//! Parent directories that had to be created implicitly are reported in
//! [`UnpackStats::implicit_dirs`]: drivers whose layers are separate directories
//! (overlay, aufs) check them against the lower layers before committing, since a lower
//! layer may have a symlink or a file at that path.
//!
//! Whiteouts are handled by a [`Whiteouts`] strategy chosen by the driver.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::digest::{DigestMismatchIo, VerifyingReader};
use crate::error::{Error, IoContext, Result, UnpackReason};

/// How OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Applied: the named lower files are deleted (the layer is unpacked onto a flattened
    /// tree that contains the lower layers). Used by the copy driver.
    Delete,
    /// overlayfs form: a 0/0 character device per whiteout, `trusted.overlay.opaque=y`
    /// on opaque directories.
    Overlay,
    /// aufs form: the `.wh.` files are kept as they are in the tar.
    Aufs,
}

/// Options of [`unpack`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// The whiteout strategy.
    pub whiteouts: Whiteouts,
    /// Entries claiming more than this many bytes are rejected (default 64 GiB).
    pub max_entry_size: u64,
    /// Whether device nodes may be created (default: when running as root). Without it
    /// a device entry is an error.
    pub allow_devices: bool,
}

impl UnpackOptions {
    /// Default options with the given whiteout strategy.
    pub fn new(whiteouts: Whiteouts) -> Self {
        UnpackOptions {
            whiteouts,
            max_entry_size: 64 << 30,
            allow_devices: rustix::process::geteuid().is_root(),
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries processed.
    pub entries: u64,
    /// Bytes of the (uncompressed) tar stream.
    pub tar_size: u64,
    /// Parent directories created implicitly (relative paths), in creation order.
    pub implicit_dirs: Vec<PathBuf>,
    /// Whiteout devices created ([`Whiteouts::Overlay`] only), relative paths.
    pub whiteouts: Vec<PathBuf>,
}

/// Unpacks the layer tar `tar` into the existing directory `dest`.
///
/// With `diff_id`, the whole stream must hash to it (checked at the end of the stream;
/// the stream is read to its end). On error `dest` may hold a partial tree: callers unpack
/// into a staging directory and remove it on error (the drivers do).
///
/// # Errors
/// [`Error::Unpack`] naming the offending entry, [`Error::InvalidArchive`],
/// [`Error::DigestMismatch`], or I/O errors.
pub fn unpack(
    dest: &Path,
    tar: impl Read,
    diff_id: Option<&Digest>,
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    match diff_id {
        Some(d) => {
            let mut r = VerifyingReader::new(tar, d.clone())?;
            let mut stats = unpack_inner(dest, &mut r, opts)?;
            r.finish().map_err(|e| stream_error(e, "end of archive"))?;
            stats.tar_size = r.count();
            Ok(stats)
        }
        None => {
            let mut counter = CountingReader { inner: tar, n: 0 };
            let mut stats = unpack_inner(dest, &mut counter, opts)?;
            io::copy(&mut counter, &mut io::sink())
                .map_err(|e| stream_error(e, "end of archive"))?;
            stats.tar_size = counter.n;
            Ok(stats)
        }
    }
}

struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

fn mismatch_of(e: &io::Error) -> Option<&DigestMismatchIo> {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<DigestMismatchIo>())
}

fn stream_error(e: io::Error, after: &str) -> Error {
    if let Some(m) = mismatch_of(&e) {
        return Error::DigestMismatch {
            what: "layer diff ID",
            expected: m.expected.clone(),
            actual: m.actual.clone(),
        };
    }
    Error::InvalidArchive {
        reason: format!("{e} (after {after})"),
    }
}

fn unpack_inner(dest: &Path, tar: &mut dyn Read, opts: &UnpackOptions) -> Result<UnpackStats> {
    let root = rustix::fs::open(
        dest,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open layer root", dest)?;
    let mut u = Unpacker {
        root,
        opts: opts.clone(),
        is_root: rustix::process::geteuid().is_root(),
        touched: HashSet::new(),
        ancestors: HashSet::new(),
        files: HashSet::new(),
        implicit: Vec::new(),
        overlay_whiteouts: HashSet::new(),
        dir_times: Vec::new(),
        cache: None,
        buf: vec![0; 256 * 1024],
    };
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive.entries().map_err(|e| stream_error(e, "start"))?;
    let mut last = String::from("start of archive");
    let mut count = 0u64;
    loop {
        let entry = match entries.next() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => return Err(stream_error(e, &format!("entry {last:?}"))),
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        u.entry(entry).map_err(|reason| Error::Unpack {
            entry: name.clone(),
            reason,
        })?;
        last = name;
        count += 1;
    }
    u.finish_dir_times();
    Ok(UnpackStats {
        entries: count,
        tar_size: 0,
        implicit_dirs: u
            .implicit
            .iter()
            .map(|p| PathBuf::from(OsStr::from_bytes(p)))
            .collect(),
        whiteouts: u
            .overlay_whiteouts
            .iter()
            .map(|p| PathBuf::from(OsStr::from_bytes(p)))
            .collect(),
    })
}

type Key = Vec<u8>;

struct Unpacker {
    root: OwnedFd,
    opts: UnpackOptions,
    is_root: bool,
    /// Paths of entries created (or whited out / made opaque) by this layer.
    touched: HashSet<Key>,
    /// Directories that are ancestors of entries of this layer.
    ancestors: HashSet<Key>,
    /// Non-directories created by this layer (valid hard link targets).
    files: HashSet<Key>,
    implicit: Vec<Key>,
    /// Whiteout devices this layer created (overlay): a directory later created at such a
    /// path is a new, opaque directory.
    overlay_whiteouts: HashSet<Key>,
    dir_times: Vec<(Key, Timestamps)>,
    cache: Option<(Key, OwnedFd)>,
    buf: Vec<u8>,
}

fn uerr(op: &'static str) -> impl FnOnce(Errno) -> UnpackReason {
    move |e| UnpackReason::Io {
        op,
        source: e.into(),
    }
}

fn uerr_io(op: &'static str) -> impl FnOnce(io::Error) -> UnpackReason {
    move |source| UnpackReason::Io { op, source }
}

/// Splits a tar path into normal components, rejecting absolute paths and `..`.
fn normalize(raw: &[u8]) -> std::result::Result<Vec<&[u8]>, UnpackReason> {
    if raw.first() == Some(&b'/') {
        return Err(UnpackReason::PathEscapes);
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(UnpackReason::PathEscapes),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(comps: &[&[u8]]) -> Key {
    comps.join(&b'/')
}

fn lossy(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

fn proc_fd_path(fd: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    if !name.is_empty() {
        p.push(OsStr::from_bytes(name));
    }
    p
}

/// Metadata of one entry, gathered before its data is read.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: Timestamps,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Unpacker {
    fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
    ) -> std::result::Result<(), UnpackReason> {
        let etype = entry.header().entry_type();
        if etype.is_pax_global_extensions()
            || etype.is_pax_local_extensions()
            || etype.is_gnu_longname()
            || etype.is_gnu_longlink()
        {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let header_size = entry
            .header()
            .entry_size()
            .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?;
        let mut pax_mtime = None;
        let mut pax_size = None;
        let mut xattrs = Vec::new();
        if let Some(pax) = entry
            .pax_extensions()
            .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?
        {
            for ext in pax {
                let ext = ext.map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?;
                let key = ext
                    .key()
                    .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?;
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.as_bytes().to_vec(), ext.value_bytes().to_vec()));
                } else if key == "size" {
                    let v = ext
                        .value()
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| UnpackReason::MalformedHeader("PAX size".into()))?;
                    pax_size = Some(v);
                } else if key == "mtime" {
                    pax_mtime = ext.value().ok().and_then(parse_pax_time);
                }
            }
        }
        if let Some(pax) = pax_size {
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
        let mtime = pax_mtime.unwrap_or_else(|| {
            let s = h.mtime().unwrap_or(0);
            Timespec {
                tv_sec: i64::try_from(s).unwrap_or(i64::MAX),
                tv_nsec: 0,
            }
        });
        let meta = Meta {
            mode: h
                .mode()
                .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?
                & 0o7777,
            uid: h
                .uid()
                .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?,
            gid: h
                .gid()
                .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?,
            mtime: Timestamps {
                last_access: mtime,
                last_modification: mtime,
            },
            xattrs,
        };
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
                if etype != T::Fifo && !self.opts.allow_devices {
                    return Err(UnpackReason::DeviceNotPermitted);
                }
                let h = entry.header();
                let (major, minor) = if etype == T::Fifo {
                    (0, 0)
                } else {
                    let major = h
                        .device_major()
                        .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?
                        .unwrap_or(0);
                    let minor = h
                        .device_minor()
                        .map_err(|e| UnpackReason::MalformedHeader(e.to_string()))?
                        .unwrap_or(0);
                    (major, minor)
                };
                let ft = match etype {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                self.special(
                    parent,
                    base,
                    &key,
                    ft,
                    rustix::fs::makedev(major, minor),
                    &meta,
                )?
            }
            other => return Err(UnpackReason::UnsupportedType(other.as_byte())),
        }
        self.overlay_whiteouts.remove(&key);
        self.touched.insert(key);
        Ok(())
    }

    /// Opens (creating missing components) the directory `comps` below the root.
    fn parent_fd(
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

    fn walk_create(
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
    fn clear_slot(
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

    fn directory(
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

    fn dir_meta_root(
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

    fn regular<R: Read>(
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
        self.fd_meta(&fd, meta)?;
        rustix::fs::futimens(&fd, &meta.mtime).map_err(uerr("utimes"))?;
        self.files.insert(key.to_vec());
        Ok(())
    }

    fn symlink(
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

    fn hardlink(
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

    fn special(
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

    fn whiteout(
        &mut self,
        parent: &[&[u8]],
        base: &[u8],
        wh: &[u8],
        meta: &Meta,
    ) -> std::result::Result<(), UnpackReason> {
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
        match self.opts.whiteouts {
            Whiteouts::Aufs => {
                // Kept literally, as an empty regular file (aufs' native form).
                let dir = self
                    .parent_fd(parent, true)?
                    .ok_or(UnpackReason::InvalidPath)?;
                self.clear_slot(&dir, base, false)?;
                let fd = rustix::fs::openat(
                    &dir,
                    OsStr::from_bytes(base),
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o444),
                )
                .map_err(uerr("create whiteout"))?;
                if self.is_root {
                    rustix::fs::fchown(&fd, Some(uid(meta.uid)?), Some(gid(meta.gid)?))
                        .map_err(uerr("chown"))?;
                }
                let mut k = pkey.clone();
                if !k.is_empty() {
                    k.push(b'/');
                }
                k.extend_from_slice(base);
                self.touched.insert(k);
            }
            Whiteouts::Overlay => {
                let dir = self
                    .parent_fd(parent, true)?
                    .ok_or(UnpackReason::InvalidPath)?;
                if opaque {
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
                } else {
                    let key = child_key(&pkey, wh);
                    if self.touched.contains(&key) {
                        return Ok(());
                    }
                    let n = OsStr::from_bytes(wh);
                    match rustix::fs::statat(&dir, n, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(_) => return Ok(()),
                        Err(Errno::NOENT) => {}
                        Err(e) => return Err(uerr("stat")(e)),
                    }
                    rustix::fs::mknodat(&dir, n, FileType::CharacterDevice, Mode::empty(), 0)
                        .map_err(uerr("mknod whiteout"))?;
                    self.overlay_whiteouts.insert(key);
                }
            }
            Whiteouts::Delete => {
                // Like any entry, a whiteout implies its directory (as the overlay and aufs
                // forms, which must create it to hold the marker, show it).
                let dir = self
                    .parent_fd(parent, true)?
                    .ok_or(UnpackReason::InvalidPath)?;
                if opaque {
                    self.clear_lower_children(&dir, &pkey)?;
                    self.ancestors.insert(pkey);
                } else {
                    let key = child_key(&pkey, wh);
                    if self.touched.contains(&key) || self.ancestors.contains(&key) {
                        return Ok(());
                    }
                    let n = OsStr::from_bytes(wh);
                    match rustix::fs::statat(&dir, n, AtFlags::SYMLINK_NOFOLLOW) {
                        Err(Errno::NOENT) => {}
                        Err(e) => return Err(uerr("stat")(e)),
                        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                            self.cache = None;
                            remove_tree_at(&dir, wh).map_err(uerr_io("remove"))?;
                        }
                        Ok(_) => rustix::fs::unlinkat(&dir, n, AtFlags::empty())
                            .map_err(uerr("unlink"))?,
                    }
                }
            }
        }
        Ok(())
    }

    /// For an opaque directory in `Delete` mode: removes everything below `dir` that this
    /// layer did not create.
    fn clear_lower_children(
        &mut self,
        dir: &OwnedFd,
        key: &[u8],
    ) -> std::result::Result<(), UnpackReason> {
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

    fn fd_meta(&self, fd: &OwnedFd, meta: &Meta) -> std::result::Result<(), UnpackReason> {
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
    fn finish_dir_times(&mut self) {
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

fn set_opaque_at(dir: &OwnedFd, name: &[u8]) -> std::result::Result<(), UnpackReason> {
    let fd = rustix::fs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(uerr("open dir"))?;
    rustix::fs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
        .map_err(uerr("set opaque xattr"))
}

fn child_key(parent: &[u8], name: &[u8]) -> Key {
    let mut k = parent.to_vec();
    if !k.is_empty() {
        k.push(b'/');
    }
    k.extend_from_slice(name);
    k
}

fn uid(v: u64) -> std::result::Result<rustix::fs::Uid, UnpackReason> {
    let v = u32::try_from(v).map_err(|_| UnpackReason::MalformedHeader(format!("uid {v}")))?;
    Ok(rustix::fs::Uid::from_raw(v))
}

fn gid(v: u64) -> std::result::Result<rustix::fs::Gid, UnpackReason> {
    let v = u32::try_from(v).map_err(|_| UnpackReason::MalformedHeader(format!("gid {v}")))?;
    Ok(rustix::fs::Gid::from_raw(v))
}

/// xattrs a layer may not set: overlayfs' own (they would change how the overlay mount
/// interprets the layer: redirects, opaque markers, metacopy).
fn xattr_allowed(name: &[u8]) -> bool {
    !name.starts_with(b"trusted.overlay.") && !name.is_empty()
}

fn ignore_unsupported(r: rustix::io::Result<()>, is_root: bool) -> rustix::io::Result<()> {
    match r {
        Err(Errno::NOTSUP) => Ok(()),
        Err(Errno::PERM) if !is_root => Ok(()),
        r => r,
    }
}

fn parse_pax_time(v: &str) -> Option<Timespec> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let tv_sec: i64 = s.parse().ok()?;
    let mut nanos = 0i64;
    let digits: String = frac.chars().take(9).collect();
    if !digits.is_empty() {
        let n: i64 = digits.parse().ok()?;
        nanos = n * 10i64.pow(9 - digits.len() as u32);
        if tv_sec < 0 && nanos > 0 {
            return Some(Timespec {
                tv_sec: tv_sec - 1,
                tv_nsec: 1_000_000_000 - nanos,
            });
        }
    }
    Some(Timespec {
        tv_sec,
        tv_nsec: nanos,
    })
}

/// Removes `name` (a file or a whole directory tree) inside `dir`, never following
/// symlinks below it.
pub(crate) fn remove_tree_at(dir: &OwnedFd, name: &[u8]) -> io::Result<()> {
    let p = proc_fd_path(dir.as_fd(), name);
    let m = std::fs::symlink_metadata(&p)?;
    if m.is_dir() {
        std::fs::remove_dir_all(&p)
    } else {
        std::fs::remove_file(&p)
    }
}

/// Wraps a compressed layer stream in the decompressor its media type calls for.
///
/// Known: OCI and Docker layer types, plain tar, `+gzip`/`.tar.gzip`, `+zstd`, including
/// the non-distributable/foreign variants.
pub fn decompress<'a, R: Read + Send + 'a>(
    media_type: &str,
    r: R,
) -> Result<Box<dyn Read + Send + 'a>> {
    let mt = media_type.trim();
    let is = |suffixes: &[&str]| suffixes.iter().any(|s| mt.ends_with(s));
    let known_prefix = mt.starts_with("application/vnd.oci.image.layer.")
        || mt.starts_with("application/vnd.docker.image.rootfs.");
    if !known_prefix {
        return Err(Error::UnsupportedMediaType {
            media_type: media_type.to_owned(),
        });
    }
    if is(&["tar+gzip", "tar.gzip"]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(128 * 1024, r),
        )))
    } else if is(&["tar+zstd"]) {
        let d = zstd::stream::read::Decoder::new(r)
            .map_err(|e| Error::io("zstd init", media_type, e))?;
        Ok(Box::new(d))
    } else if is(&[".tar", "diff.tar"]) || mt == "application/vnd.oci.image.layer.v1.tar" {
        Ok(Box::new(r))
    } else {
        Err(Error::UnsupportedMediaType {
            media_type: media_type.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_escapes() {
        assert!(normalize(b"/etc/passwd").is_err());
        assert!(normalize(b"a/../../b").is_err());
        assert!(normalize(b"..").is_err());
        assert_eq!(
            normalize(b"./a//b/./c/").unwrap(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert!(normalize(b"./").unwrap().is_empty());
    }

    #[test]
    fn pax_times_parse_fractions() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time("12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
    }

    #[test]
    fn media_types_pick_decompressors() {
        for mt in [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        ] {
            assert!(decompress(mt, io::empty()).is_ok(), "{mt}");
        }
        assert!(decompress("application/json", io::empty()).is_err());
        assert!(decompress("application/vnd.oci.image.layer.v1.tar+bzip2", io::empty()).is_err());
    }
}
