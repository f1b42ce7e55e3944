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

mod create;
mod decompress;
mod entry;
mod resolve;
mod whiteout;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use rustix::fs::{Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::digest::{DigestMismatchIo, VerifyingReader};
use crate::error::{Error, IoContext, Result, UnpackReason};

pub use decompress::decompress;

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
}
