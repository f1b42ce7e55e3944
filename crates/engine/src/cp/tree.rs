//! File trees reached through a root directory descriptor, never through host paths:
//! every path is resolved by `openat2` with `RESOLVE_IN_ROOT` (absolute symlinks and
//! `..` stay inside the root, as if it were `/`) and `RESOLVE_NO_MAGICLINKS`, the last
//! component is never followed unless asked, and files are opened `O_NOFOLLOW` relative
//! to their parent's descriptor. A symlink a container planted (`/x -> /`, `/y ->
//! /etc/shadow`) therefore names a path inside the container, whatever it does while we
//! copy (the race of CVE-2018-15664 has no window: no path is resolved twice).
//!
//! [`write_archive`] writes a tree as a tar; [`extract`] unpacks a tar below a directory.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat, Timestamps};

/// How every path is resolved below a root.
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// A directory that paths are resolved in, as if it were `/`.
#[derive(Debug)]
pub(crate) struct Root(OwnedFd);

/// Who owns what [`extract`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The archive's owners (`cp -a`, copy-up).
    Keep,
    /// Fixed IDs (docker's root for files copied into a container).
    Fixed(u32, u32),
    /// Whoever runs the copy (files copied to the host).
    Caller,
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

/// `path` as components below the root: `.` dropped, `..` resolved lexically (never above
/// the root).
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

impl Root {
    /// The directory at `path` (a host path the caller trusts).
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(Root(fd))
    }

    fn open_in(&self, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = clean(path);
        let p: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &rel
        };
        rustix::fs::openat2(&self.0, p, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
            .map_err(errno)
    }

    /// The parent directory of `path` (resolved in the root) and the last component;
    /// `None` for the root itself.
    fn parent(&self, path: &Path) -> io::Result<Option<(OwnedFd, std::ffi::OsString)>> {
        let rel = clean(path);
        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            return Ok(None);
        };
        let dir = self.open_in(
            rel.parent().unwrap_or(Path::new("")),
            OFlags::PATH | OFlags::DIRECTORY,
        )?;
        Ok(Some((dir, name)))
    }

    /// `stat` of `path`, following a final symlink only when `follow`.
    pub(crate) fn stat(&self, path: &Path, follow: bool) -> io::Result<Stat> {
        if follow {
            let fd = self.open_in(path, OFlags::PATH)?;
            return rustix::fs::fstat(&fd).map_err(errno);
        }
        match self.parent(path)? {
            None => rustix::fs::fstat(&self.0).map_err(errno),
            Some((dir, name)) => {
                rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)
            }
        }
    }

    /// An `O_PATH` descriptor of `path` (symlinks followed inside the root).
    pub(crate) fn path_fd(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open_in(path, OFlags::PATH)
    }

    /// Creates the directory `path` and its missing parents (mode 0755), each resolved
    /// inside the root.
    pub(crate) fn mkdir_all(&self, path: &Path) -> io::Result<()> {
        let rel = clean(path);
        let mut done = PathBuf::new();
        for c in rel.components() {
            let dir = self.open_in(&done, OFlags::PATH | OFlags::DIRECTORY)?;
            match rustix::fs::mkdirat(&dir, c.as_os_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(errno(e)),
            }
            done.push(c);
        }
        Ok(())
    }

    /// The directory at `path` (symlinks followed inside the root).
    pub(crate) fn dir(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open_in(path, OFlags::RDONLY | OFlags::DIRECTORY)
    }
}

fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Whether `st` is a directory.
pub(crate) fn is_dir(st: &Stat) -> bool {
    file_type(st) == FileType::Directory
}

/// A reader of exactly `n` bytes: a file that shrank while being read is padded with
/// zeros, one that grew is cut, so the tar stays well-formed.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let mut n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            buf[..want].fill(0);
            n = want;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes entries to a tar, hard links once.
struct Writer<'a> {
    tar: tar::Builder<&'a mut dyn Write>,
    links: HashMap<(u64, u64), String>,
    bytes: u64,
}

fn header(st: &Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

impl Writer<'_> {
    /// Adds `name` of directory `dir` (never following it) as `archive_name`.
    fn add(&mut self, dir: &OwnedFd, name: &OsStr, archive_name: &str) -> io::Result<()> {
        let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        self.add_stat(dir, name, &st, archive_name)
    }

    fn add_stat(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        st: &Stat,
        archive_name: &str,
    ) -> io::Result<()> {
        match file_type(st) {
            FileType::Directory => {
                let mut h = header(st, tar::EntryType::Directory);
                self.tar
                    .append_data(&mut h, format!("{archive_name}/"), io::empty())?;
                let fd = rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                self.children(&fd, archive_name)
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        let mut h = header(st, tar::EntryType::Link);
                        return self.tar.append_link(&mut h, archive_name, first.clone());
                    }
                    self.links.insert(key, archive_name.to_owned());
                }
                let fd = rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                let st = rustix::fs::fstat(&fd).map_err(errno)?;
                if file_type(&st) != FileType::RegularFile {
                    return Err(io::Error::other(format!(
                        "{archive_name} changed while being copied"
                    )));
                }
                let size = u64::try_from(st.st_size).unwrap_or(0);
                let mut h = header(&st, tar::EntryType::Regular);
                h.set_size(size);
                self.bytes += size;
                let file = std::fs::File::from(fd);
                self.tar.append_data(
                    &mut h,
                    archive_name,
                    Exact {
                        inner: file,
                        left: size,
                    },
                )
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, name, Vec::new()).map_err(errno)?;
                let target = OsStr::from_bytes(target.as_bytes()).to_os_string();
                let mut h = header(st, tar::EntryType::Symlink);
                self.bytes += target.len() as u64;
                self.tar.append_link(&mut h, archive_name, target)
            }
            t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let kind = match t {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header(st, kind);
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, archive_name, io::empty())
            }
            // Sockets and unknown types are not copied, as docker does.
            _ => Ok(()),
        }
    }

    /// Adds every entry of directory `fd` below `prefix` (`""`: at the top).
    fn children(&mut self, fd: &OwnedFd, prefix: &str) -> io::Result<()> {
        let mut names = Vec::new();
        for entry in Dir::read_from(fd).map_err(errno)? {
            let entry = entry.map_err(errno)?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        names.sort();
        for n in names {
            let child = match prefix {
                "" => n.to_string_lossy().into_owned(),
                p => format!("{p}/{}", n.to_string_lossy()),
            };
            self.add(fd, &n, &child)?;
        }
        Ok(())
    }
}

/// Writes the tree at `path` (in `root`) as a tar: named `top` in the archive, or, when
/// `top` is `None`, its entries at the top (docker's `SRC/.`). A final symlink is
/// followed only when `follow`. Returns the bytes of content written.
pub(crate) fn write_archive(
    root: &Root,
    path: &Path,
    top: Option<&str>,
    follow: bool,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let mut w = Writer {
        tar: tar::Builder::new(out),
        links: HashMap::new(),
        bytes: 0,
    };
    match (top, follow) {
        (None, _) => {
            let fd = root.dir(path)?;
            w.children(&fd, "")?;
        }
        (Some(name), true) => add_followed(&mut w, root, path, name)?,
        (Some(name), false) => add_named(&mut w, root, path, name)?,
    }
    w.tar.finish()?;
    Ok(w.bytes)
}

/// Adds what `path` names after following its final symlink (inside the root).
fn add_followed(w: &mut Writer<'_>, root: &Root, path: &Path, name: &str) -> io::Result<()> {
    let fd = root.open_in(path, OFlags::PATH)?;
    let st = rustix::fs::fstat(&fd).map_err(errno)?;
    match file_type(&st) {
        FileType::Directory => {
            let mut h = header(&st, tar::EntryType::Directory);
            w.tar.append_data(&mut h, format!("{name}/"), io::empty())?;
            w.children(&reopen_dir(&fd)?, name)
        }
        FileType::RegularFile => {
            let f = root.open_in(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
            let st = rustix::fs::fstat(&f).map_err(errno)?;
            if file_type(&st) != FileType::RegularFile {
                return Err(io::Error::other(format!(
                    "{name} changed while being copied"
                )));
            }
            let size = u64::try_from(st.st_size).unwrap_or(0);
            let mut h = header(&st, tar::EntryType::Regular);
            h.set_size(size);
            w.bytes += size;
            let file = std::fs::File::from(f);
            w.tar.append_data(
                &mut h,
                name,
                Exact {
                    inner: file,
                    left: size,
                },
            )
        }
        _ => add_named(w, root, path, name),
    }
}

fn add_named(w: &mut Writer<'_>, root: &Root, path: &Path, name: &str) -> io::Result<()> {
    match root.parent(path)? {
        Some((dir, last)) => {
            let dir = reopen_dir(&dir)?;
            w.add(&dir, &last, name)
        }
        None => {
            let st = rustix::fs::fstat(&root.0).map_err(errno)?;
            let mut h = header(&st, tar::EntryType::Directory);
            w.tar.append_data(&mut h, format!("{name}/"), io::empty())?;
            let fd = root.dir(Path::new("/"))?;
            w.children(&fd, name)
        }
    }
}

/// An `O_PATH` directory descriptor as a readable one (for `openat` of its entries).
fn reopen_dir(fd: &OwnedFd) -> io::Result<OwnedFd> {
    rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)
}

/// One entry's path inside the archive, as components (`..` and absolute paths refused).
fn entry_path(raw: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::other(format!(
                    "invalid archive entry {}: it leaves the destination",
                    raw.display()
                )));
            }
        }
    }
    Ok(out)
}

/// Unpacks `tar` below directory `base` of `root`; returns the bytes of content written.
/// Existing files are replaced, existing directories kept (a directory is never replaced
/// by a file).
pub(crate) fn extract(
    root: &Root,
    base: &Path,
    tar: &mut dyn Read,
    owner: Owner,
) -> io::Result<u64> {
    let mut archive = tar::Archive::new(tar);
    let mut bytes = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = entry_path(&entry.path()?)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let full = base.join(&rel);
        let Some((dir, name)) = root.parent(&full)? else {
            continue;
        };
        let h = entry.header().clone();
        let kind = h.entry_type();
        let existing = rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW).ok();
        let existing_dir = existing.as_ref().is_some_and(is_dir);
        if kind.is_dir() {
            if existing.is_some() && !existing_dir {
                rustix::fs::unlinkat(&dir, &name, AtFlags::empty()).map_err(errno)?;
            }
            if !existing_dir {
                rustix::fs::mkdirat(&dir, &name, Mode::from_raw_mode(0o700)).map_err(errno)?;
            }
            let fd = rustix::fs::openat(
                &dir,
                &name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            set_owner_mode(&fd, &h, owner, true)?;
            continue;
        }
        if existing_dir {
            return Err(io::Error::other(format!(
                "cannot overwrite directory {} with non-directory",
                full.display()
            )));
        }
        if existing.is_some() {
            rustix::fs::unlinkat(&dir, &name, AtFlags::empty()).map_err(errno)?;
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = rustix::fs::openat(
                    &dir,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(errno)?;
                let mut file = std::fs::File::from(fd);
                bytes += io::copy(&mut entry, &mut file)?;
                set_owner_mode(file.as_fd(), &h, owner, true)?;
                let t = rustix::fs::Timespec {
                    tv_sec: h.mtime().map_or(0, |m| m as i64),
                    tv_nsec: 0,
                };
                let _ = rustix::fs::futimens(
                    &file,
                    &Timestamps {
                        last_access: t,
                        last_modification: t,
                    },
                );
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| io::Error::other("a symlink without a target"))?
                    .into_owned();
                bytes += target.as_os_str().len() as u64;
                rustix::fs::symlinkat(&target, &dir, &name).map_err(errno)?;
                if let Some((uid, gid)) = owner_ids(&h, owner) {
                    rustix::fs::chownat(
                        &dir,
                        &name,
                        Some(uid),
                        Some(gid),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(errno)?;
                }
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| io::Error::other("a hard link without a target"))?;
                let target = base.join(entry_path(&target)?);
                let Some((tdir, tname)) = root.parent(&target)? else {
                    return Err(io::Error::other("a hard link to the destination itself"));
                };
                rustix::fs::linkat(&tdir, &tname, &dir, &name, AtFlags::empty()).map_err(errno)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(
                    h.device_major()?.unwrap_or(0),
                    h.device_minor()?.unwrap_or(0),
                );
                rustix::fs::mknodat(&dir, &name, ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(errno)?;
                let fd = rustix::fs::openat(
                    &dir,
                    &name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                set_owner_mode(&fd, &h, owner, false)?;
            }
            // PAX and GNU extension headers are read by the tar reader itself.
            _ => {}
        }
    }
    Ok(bytes)
}

fn owner_ids(h: &tar::Header, owner: Owner) -> Option<(rustix::fs::Uid, rustix::fs::Gid)> {
    let (uid, gid) = match owner {
        Owner::Caller => return None,
        Owner::Fixed(u, g) => (u, g),
        Owner::Keep => (
            u32::try_from(h.uid().unwrap_or(0)).unwrap_or(0),
            u32::try_from(h.gid().unwrap_or(0)).unwrap_or(0),
        ),
    };
    // SAFETY-free constructors: any ID value is valid for chown.
    Some((
        rustix::fs::Uid::from_raw(uid),
        rustix::fs::Gid::from_raw(gid),
    ))
}

/// Owner then mode (chown clears set-ID bits) of an open file; `readable` descriptors
/// take `fchmod`, `O_PATH` ones go through `/proc/self/fd` (after checking the type).
fn set_owner_mode(fd: impl AsFd, h: &tar::Header, owner: Owner, readable: bool) -> io::Result<()> {
    if let Some((uid, gid)) = owner_ids(h, owner) {
        rustix::fs::chownat(&fd, "", Some(uid), Some(gid), AtFlags::EMPTY_PATH).map_err(errno)?;
    }
    let mode = Mode::from_raw_mode(h.mode().unwrap_or(0o644) & 0o7777);
    if readable {
        return rustix::fs::fchmod(&fd, mode).map_err(errno);
    }
    let st = rustix::fs::fstat(&fd).map_err(errno)?;
    if file_type(&st) == FileType::Symlink {
        return Ok(());
    }
    let proc_path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    rustix::fs::chmod(proc_path.as_str(), mode).map_err(errno)
}

/// Gives directory `dst` the owner and mode of `src` (a volume's root after copy-up).
pub(crate) fn copy_owner_mode(src: &Stat, dst: &Path) -> io::Result<()> {
    let fd = rustix::fs::open(
        dst,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)?;
    rustix::fs::fchown(
        &fd,
        Some(rustix::fs::Uid::from_raw(src.st_uid)),
        Some(rustix::fs::Gid::from_raw(src.st_gid)),
    )
    .map_err(errno)?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(src.st_mode & 0o7777)).map_err(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_in_the_root() {
        assert_eq!(clean(Path::new("/a/../../b/./c")), Path::new("b/c"));
        assert_eq!(clean(Path::new("/")), Path::new(""));
        assert!(entry_path(Path::new("../x")).is_err());
        assert!(entry_path(Path::new("/etc/x")).is_err());
        assert_eq!(entry_path(Path::new("./a/b")).unwrap(), Path::new("a/b"));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        let outside = host.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"host").unwrap();
        let rootdir = host.path().join("root");
        std::fs::create_dir_all(rootdir.join("etc")).unwrap();
        std::fs::write(rootdir.join("etc/secret"), b"container").unwrap();
        // Absolute links name paths of the root; `..` stops at it.
        std::os::unix::fs::symlink("/", rootdir.join("x")).unwrap();
        std::os::unix::fs::symlink(&outside, rootdir.join("hostdir")).unwrap();
        std::os::unix::fs::symlink("../../../outside", rootdir.join("up")).unwrap();
        let root = Root::open(&rootdir).unwrap();
        let mut tar = Vec::new();
        write_archive(&root, Path::new("/x/etc/secret"), Some("s"), true, &mut tar).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert_eq!(s, "container");
        assert!(root.stat(Path::new("/up/secret"), true).is_err());
        // Extracting through the links writes inside the root only.
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        t.append_data(&mut h, "new", &b"abc"[..]).unwrap();
        let data = t.into_inner().unwrap();
        for dir in ["/hostdir", "/up", "/x/x/x"] {
            let _ = extract(&root, Path::new(dir), &mut &data[..], Owner::Caller);
        }
        assert!(!outside.join("new").exists());
        assert!(!host.path().join("new").exists());
        assert_eq!(std::fs::read(rootdir.join("new")).unwrap(), b"abc");
    }
}
