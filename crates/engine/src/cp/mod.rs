//! `cp`: files between a container and the host (or a tar stream), with docker's path
//! rules: a trailing `/.` copies a directory's content, a trailing `/` asserts a
//! directory, a missing destination is created with the source's name, a directory never
//! replaces a file.
//!
//! Every path of the container is resolved inside the container's root (see [`tree`]):
//! a running container's root is reached through `/proc/PID/root` (its rootfs exists in
//! its own mount namespace only, with its volumes and mounts), a stopped one's through
//! its rootfs mounted for the copy on a private mount point. The host side of the copy
//! resolves paths below the destination directory the same way, so a symlink coming from
//! the container never sends a file elsewhere on the host.

pub(crate) mod tree;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use fsutil::FileLock;
use oci_spec::runtime::Mount;

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, invalid};
use crate::record::{Record, Status, is_alive};
use crate::recovery::lookup;
use tree::{Owner, Root};

/// Where `cp` from a container writes.
pub enum CopyTarget<'a> {
    /// A host path, with docker's rules.
    Host(&'a Path),
    /// A tar stream of the source (`-`).
    Stream(&'a mut dyn Write),
}

/// What `cp` into a container reads.
pub enum CopySource<'a> {
    /// A host path, with docker's rules.
    Host(&'a Path),
    /// A tar stream to unpack into the destination directory (`-`).
    Stream(&'a mut dyn Read),
}

impl std::fmt::Debug for CopyTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyTarget::Host(p) => f.debug_tuple("Host").field(p).finish(),
            CopyTarget::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl std::fmt::Debug for CopySource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopySource::Host(p) => f.debug_tuple("Host").field(p).finish(),
            CopySource::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// `cp`'s flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: follow a symlink given as the source.
    pub follow_link: bool,
    /// `-a`: keep the source's owners (else files copied in belong to root).
    pub archive: bool,
}

/// A container's rootfs mounted on the host for a copy (stopped containers), unmounted
/// when dropped.
#[derive(Debug)]
pub(crate) struct HostRootfs {
    target: PathBuf,
    mounts: Vec<Mount>,
    /// The container's own mounts placed in the rootfs (paths inside it), last on top.
    inner: Vec<PathBuf>,
}

/// One of a container's mounts to place into its rootfs for a copy.
#[derive(Debug)]
pub(crate) struct InnerMount {
    /// A host path mydocker or the container's creator chose (volume, bind, etc file).
    pub(crate) source: PathBuf,
    /// The path in the container.
    pub(crate) destination: PathBuf,
    /// Read-only.
    pub(crate) read_only: bool,
}

impl HostRootfs {
    /// Mounts container `id`'s rootfs at a private directory of `ROOT/tmp`. A disposable
    /// (`--rm`) overlay layer is mounted without `volatile` here, so the container's own
    /// (volatile) mount still works afterwards.
    pub(crate) fn mount(
        root: &Path,
        driver: &dyn store::driver::StorageDriver,
        id: &str,
    ) -> Result<HostRootfs> {
        let mut mounts = driver.mounts(id)?;
        for m in &mut mounts {
            if let Some(o) = m.options().clone() {
                m.set_options(Some(o.into_iter().filter(|o| o != "volatile").collect()));
            }
        }
        let target = root.join("tmp").join(fsutil::temp_name("cp-"));
        std::fs::create_dir_all(&target).map_err(|e| Error::io("creating", &target, e))?;
        if let Err(e) = store::driver::mount_all(&mounts, &target) {
            let _ = std::fs::remove_dir(&target);
            return Err(e.into());
        }
        Ok(HostRootfs {
            target,
            mounts,
            inner: Vec::new(),
        })
    }

    /// Bind-mounts a container's volumes, binds and /etc files over its rootfs, as a
    /// running container sees them (docker does the same for a stopped container's
    /// copy). Each mount point is resolved inside the rootfs (`RESOLVE_IN_ROOT`) and the
    /// mount is made on its descriptor, so a symlink in the container never moves a
    /// mount onto the host; a destination missing or of another type is skipped.
    pub(crate) fn mount_inner(&mut self, inner: &[InnerMount]) -> Result<()> {
        let root = self.root()?;
        for m in inner {
            let Ok(src) = std::fs::metadata(&m.source) else {
                continue;
            };
            if src.is_dir() && root.stat(&m.destination, true).is_err() {
                // A container never started has no mount points yet: made as its init
                // would make them.
                root.mkdir_all(&m.destination)
                    .map_err(|e| Error::io("creating the mount point", &m.destination, e))?;
            }
            let Ok(dst) = root.stat(&m.destination, true) else {
                continue;
            };
            if src.is_dir() != tree::is_dir(&dst) {
                continue;
            }
            let fd = root
                .path_fd(&m.destination)
                .map_err(|e| Error::io("opening", &m.destination, e))?;
            let at = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
            rustix::mount::mount_bind_recursive(&m.source, at.as_str())
                .map_err(|e| Error::io("mounting", &m.destination, e.into()))?;
            self.inner.push(m.destination.clone());
            if m.read_only {
                let fd = root
                    .path_fd(&m.destination)
                    .map_err(|e| Error::io("opening", &m.destination, e))?;
                let at = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
                rustix::mount::mount_remount(
                    at.as_str(),
                    rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY,
                    "",
                )
                .map_err(|e| Error::io("mounting read-only", &m.destination, e.into()))?;
            }
        }
        Ok(())
    }

    /// The rootfs as a resolution root.
    pub(crate) fn root(&self) -> Result<Root> {
        Root::open(&self.target).map_err(|e| Error::io("opening", &self.target, e))
    }
}

impl Drop for HostRootfs {
    fn drop(&mut self) {
        if let Ok(root) = self.root() {
            for dest in self.inner.iter().rev() {
                // The mount's own root, reached inside the rootfs again.
                if let Ok(fd) = root.path_fd(dest) {
                    let at = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
                    let _ =
                        rustix::mount::unmount(at.as_str(), rustix::mount::UnmountFlags::DETACH);
                }
            }
        }
        let _ = store::driver::unmount_all(&self.mounts, &self.target);
        let _ = std::fs::remove_dir(&self.target);
    }
}

/// A container's root for the duration of a copy.
struct Access {
    root: Root,
    rec: Record,
    _rootfs: Option<HostRootfs>,
    _lock: Option<FileLock>,
}

impl Engine {
    fn access(&self, name: &str) -> Result<Access> {
        let rec = lookup(self, name)?;
        let live = || {
            matches!(rec.state.status, Status::Running | Status::Paused)
                && is_alive(rec.state.pid, rec.state.pid_start)
        };
        if live() {
            let proc_root = PathBuf::from(format!("/proc/{}/root", rec.state.pid));
            let root = Root::open(&proc_root);
            // The PID is still the container's after the open: the root is its root.
            if let Ok(root) = root
                && live()
            {
                return Ok(Access {
                    root,
                    rec,
                    _rootfs: None,
                    _lock: None,
                });
            }
        }
        let containers = Containers::new(&self.config.root);
        let lock = containers.lock(&rec.id)?;
        let rec = containers.load(&rec.id)?;
        if rec.is_active() {
            return Err(Error::State(format!(
                "container {} changed state during the copy: try again",
                rec.name
            )));
        }
        let store = self.store()?;
        let driver = self.driver_named(&store, &rec.driver)?;
        let mut rootfs = HostRootfs::mount(&self.config.root, driver.as_ref(), &rec.id)?;
        rootfs.mount_inner(&inner_mounts(&containers.dir(&rec.id), &rec))?;
        Ok(Access {
            root: rootfs.root()?,
            rec,
            _rootfs: Some(rootfs),
            _lock: Some(lock),
        })
    }

    /// `cp CONTAINER:SRC DEST|-`; returns the bytes of content copied.
    ///
    /// # Errors
    /// No such container, `Could not find the file SRC in container NAME`, docker's
    /// path rule errors, I/O errors.
    pub fn copy_from_container(
        &self,
        container: &str,
        src: &str,
        target: CopyTarget<'_>,
        opts: CopyOptions,
    ) -> Result<u64> {
        let a = self.access(container)?;
        let s = PathRule::of(src);
        let st = a.root.stat(&s.path, opts.follow_link).map_err(|_| {
            Error::Invalid(format!(
                "Could not find the file {src} in container {container}"
            ))
        })?;
        let src_dir = tree::is_dir(&st);
        s.check_source(src_dir)?;
        match target {
            CopyTarget::Stream(out) => {
                let top = s.base_name();
                tree::write_archive(&a.root, &s.path, Some(&top), opts.follow_link, out)
                    .map_err(|e| Error::io("copying", src, e))
            }
            CopyTarget::Host(dst) => {
                let plan = host_destination(dst, &s, src_dir)?;
                let host = Root::open(&plan.dir).map_err(|e| Error::io("opening", &plan.dir, e))?;
                let follow = opts.follow_link;
                pipe(
                    |w| tree::write_archive(&a.root, &s.path, plan.top.as_deref(), follow, w),
                    |r| tree::extract(&host, Path::new("/"), r, Owner::Caller),
                )
                .map_err(|e| Error::io("copying to", dst, e))
            }
        }
    }

    /// `cp SRC|- CONTAINER:DEST`; returns the bytes of content copied.
    ///
    /// # Errors
    /// No such container, a missing source or destination directory, docker's path rule
    /// errors, I/O errors (a read-only rootfs...).
    pub fn copy_to_container(
        &self,
        source: CopySource<'_>,
        container: &str,
        dest: &str,
        opts: CopyOptions,
    ) -> Result<u64> {
        let a = self.access(container)?;
        let owner = if opts.archive {
            Owner::Keep
        } else {
            Owner::Fixed(0, 0)
        };
        let d = PathRule::of(dest);
        let dst_st = a.root.stat(&d.path, true).ok();
        match source {
            CopySource::Stream(input) => {
                if !dst_st.as_ref().is_some_and(tree::is_dir) {
                    invalid!("destination \"{container}:{dest}\" must be a directory");
                }
                tree::extract(&a.root, &d.path, input, owner)
                    .map_err(|e| Error::io("copying into", dest, e))
            }
            CopySource::Host(src) => {
                let s = PathRule::of(&src.to_string_lossy());
                let host = Root::open(Path::new("/")).map_err(|e| Error::io("opening", "/", e))?;
                let st = host
                    .stat(&s.path, opts.follow_link)
                    .map_err(|e| Error::io("lstat", src, e))?;
                let src_dir = tree::is_dir(&st);
                s.check_source(src_dir)?;
                let (dir, top) =
                    container_destination(&a, &d, dst_st.as_ref(), &s, src_dir, container, dest)?;
                let follow = opts.follow_link;
                pipe(
                    |w| tree::write_archive(&host, &s.path, top.as_deref(), follow, w),
                    |r| tree::extract(&a.root, &dir, r, owner),
                )
                .map_err(|e| Error::io("copying into", dest, e))
            }
        }
    }
}

/// The mounts a stopped container's copy sees: its /etc files, binds and volumes (tmpfs
/// mounts have no content while it is stopped).
fn inner_mounts(dir: &Path, rec: &Record) -> Vec<InnerMount> {
    let etc = crate::spec::EtcFiles::in_dir(dir);
    let mut out: Vec<InnerMount> = [
        (etc.resolv_conf, "/etc/resolv.conf"),
        (etc.hostname, "/etc/hostname"),
        (etc.hosts, "/etc/hosts"),
    ]
    .into_iter()
    .map(|(source, d)| InnerMount {
        source,
        destination: PathBuf::from(d),
        read_only: false,
    })
    .collect();
    let saved = crate::usermounts::load(dir);
    if saved.is_empty() {
        for v in &rec.options.volume {
            if let Ok(v) = crate::options::Volume::parse(v) {
                out.push(InnerMount {
                    source: crate::options::clean_abs(&v.source),
                    destination: v.target,
                    read_only: v.read_only,
                });
            }
        }
    }
    for m in saved.into_iter().filter(|m| m.typ != "tmpfs") {
        out.push(InnerMount {
            source: m.source,
            destination: m.destination,
            read_only: !m.rw,
        });
    }
    // Parents before children.
    out.sort_by_key(|m| m.destination.components().count());
    out
}

/// A `cp` path and what its spelling says (docker's `/.` and `/` suffixes).
struct PathRule {
    path: PathBuf,
    /// Ends with `/.`: the content of a directory.
    contents: bool,
    /// Ends with `/` or `/.`: must be a directory.
    dir: bool,
}

impl PathRule {
    fn of(p: &str) -> PathRule {
        let contents = p.ends_with("/.") || p == ".";
        let dir = contents || p.ends_with('/');
        PathRule {
            path: PathBuf::from(p),
            contents,
            dir,
        }
    }

    fn base_name(&self) -> String {
        let clean = tree::clean(&self.path);
        clean
            .file_name()
            .map_or_else(|| ".".to_owned(), |n| n.to_string_lossy().into_owned())
    }

    fn check_source(&self, is_dir: bool) -> Result<()> {
        if self.dir && !is_dir {
            invalid!("not a directory: {}", self.path.display());
        }
        Ok(())
    }
}

/// Where a copy lands: the directory to unpack into and the name of the top entry
/// (`None`: the source's content).
struct Landing {
    dir: PathBuf,
    top: Option<String>,
}

/// Docker's rules for a destination that is a directory, a file, or missing.
fn landing(
    dst_name: &Path,
    dst_is_dir: Option<bool>,
    dst: &PathRule,
    src: &PathRule,
    src_dir: bool,
) -> Result<Landing> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let parent = |p: &Path| {
        p.parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
    };
    let root_src = tree::clean(&src.path).as_os_str().is_empty();
    match dst_is_dir {
        Some(true) => Ok(Landing {
            dir: dst_name.to_path_buf(),
            top: (!src.contents && !root_src).then(|| src.base_name()),
        }),
        Some(false) if src_dir => invalid!("cannot copy a directory to a file"),
        Some(false) if dst.dir => invalid!("not a directory: {}", dst_name.display()),
        Some(false) => Ok(Landing {
            dir: parent(dst_name),
            top: name(dst_name),
        }),
        None if dst.dir => invalid!("no such directory: {}", dst_name.display()),
        None => Ok(Landing {
            dir: parent(dst_name),
            top: name(dst_name),
        }),
    }
}

fn host_destination(dst: &Path, src: &PathRule, src_dir: bool) -> Result<Landing> {
    let d = PathRule::of(&dst.to_string_lossy());
    let abs = std::path::absolute(dst).map_err(|e| Error::io("resolving", dst, e))?;
    let is_dir = match std::fs::metadata(&abs) {
        Ok(m) => Some(m.is_dir()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("stat", dst, e)),
    };
    let l = landing(&abs, is_dir, &d, src, src_dir)?;
    if !l.dir.is_dir() {
        return Err(Error::io(
            "copying to",
            dst,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    Ok(l)
}

fn container_destination(
    a: &Access,
    d: &PathRule,
    dst_st: Option<&rustix::fs::Stat>,
    src: &PathRule,
    src_dir: bool,
    container: &str,
    dest: &str,
) -> Result<(PathBuf, Option<String>)> {
    let path = Path::new("/").join(tree::clean(&d.path));
    let l = landing(&path, dst_st.map(tree::is_dir), d, src, src_dir)?;
    if !a.root.stat(&l.dir, true).is_ok_and(|s| tree::is_dir(&s)) {
        let _ = &a.rec;
        invalid!(
            "Could not find the file {} in container {container}",
            l.dir.display()
        );
    }
    let _ = dest;
    Ok((l.dir, l.top))
}

/// Runs `produce` (writing a tar) on a thread and `consume` (reading it) here, joined by
/// a pipe; the first error wins.
fn pipe(
    produce: impl FnOnce(&mut dyn Write) -> std::io::Result<u64> + Send,
    consume: impl FnOnce(&mut dyn Read) -> std::io::Result<u64>,
) -> std::io::Result<u64> {
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (mut reader, writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut w = writer;
            produce(&mut w)
        });
        let consumed = consume(&mut reader);
        // Unblock a producer still writing when the consumer gave up.
        drop(reader);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the copy thread panicked")));
        match (produced, consumed) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(_), Ok(n)) => Ok(n),
        }
    })
}

/// Docker's copy-up: the content of the image at `dest` (symlinks followed inside the
/// rootfs) into the empty volume directory `volume`, with the directory's owner and mode.
pub(crate) fn copy_up(rootfs: Root, dest: &Path, volume: &Path) -> Result<()> {
    let Ok(st) = rootfs.stat(dest, true) else {
        return Ok(());
    };
    if !tree::is_dir(&st) {
        return Ok(());
    }
    let target = Root::open(volume).map_err(|e| Error::io("opening", volume, e))?;
    pipe(
        |w| tree::write_archive(&rootfs, dest, None, true, w),
        |r| tree::extract(&target, Path::new("/"), r, Owner::Keep),
    )
    .map_err(|e| Error::io("copying the image's content into", volume, e))?;
    tree::copy_owner_mode(&st, volume).map_err(|e| Error::io("setting the owner of", volume, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn land(
        dst: &str,
        is_dir: Option<bool>,
        src: &str,
        src_dir: bool,
    ) -> Result<(String, Option<String>)> {
        let l = landing(
            Path::new(dst.trim_end_matches("/.")),
            is_dir,
            &PathRule::of(dst),
            &PathRule::of(src),
            src_dir,
        )?;
        Ok((l.dir.display().to_string(), l.top))
    }

    #[test]
    fn docker_path_rules() {
        // A file into a directory, onto a file, to a new name.
        assert_eq!(
            land("/d", Some(true), "/etc/hosts", false).unwrap(),
            ("/d".into(), Some("hosts".into()))
        );
        assert_eq!(
            land("/d/f", Some(false), "/etc/hosts", false).unwrap(),
            ("/d".into(), Some("f".into()))
        );
        assert_eq!(
            land("/d/new", None, "/etc/hosts", false).unwrap(),
            ("/d".into(), Some("new".into()))
        );
        assert!(land("/d/new/", None, "/etc/hosts", false).is_err());
        // A directory: into, its content into, as a new directory, never onto a file.
        assert_eq!(
            land("/d", Some(true), "/etc", true).unwrap(),
            ("/d".into(), Some("etc".into()))
        );
        assert_eq!(
            land("/d", Some(true), "/etc/.", true).unwrap(),
            ("/d".into(), None)
        );
        assert_eq!(
            land("/d/n", None, "/etc/.", true).unwrap(),
            ("/d".into(), Some("n".into()))
        );
        assert!(land("/d/f", Some(false), "/etc", true).is_err());
        assert!(PathRule::of("/etc/hosts/").check_source(false).is_err());
    }
}
