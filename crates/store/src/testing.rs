//! Test utilities (feature `testing`), shared with the CLI's integration tests: a layer tar
//! builder (including deliberately malformed entries), a file-tree snapshot and
//! comparison walker, a rich fixture image, and a guard that removes a container's
//! writable layer. Assertion helpers panic on failure, as test code does.

// Test-only utilities: failing loudly is their job.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

use crate::digest::sha256_of;
use crate::driver::StorageDriver;

/// Builds layer tars in memory.
pub struct LayerTar {
    b: tar::Builder<Vec<u8>>,
    mtime: u64,
    uid: u64,
    gid: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for LayerTar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerTar").finish_non_exhaustive()
    }
}

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerTar {
    /// An empty tar.
    pub fn new() -> Self {
        LayerTar {
            b: tar::Builder::new(Vec::new()),
            mtime: 1_700_000_000,
            uid: 0,
            gid: 0,
            xattrs: Vec::new(),
        }
    }

    /// Owner of the following entries.
    pub fn owner(&mut self, uid: u64, gid: u64) -> &mut Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Adds an xattr (PAX `SCHILY.xattr.NAME`) to the next entry.
    pub fn xattr(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.xattrs
            .push((format!("SCHILY.xattr.{name}"), value.to_vec()));
        self
    }

    fn header(&mut self, t: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        if !self.xattrs.is_empty() {
            let recs = std::mem::take(&mut self.xattrs);
            let _ = crate::driver::append_pax_for_tests(&mut self.b, &recs);
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(t);
        h.set_mode(mode);
        h.set_uid(self.uid);
        h.set_gid(self.gid);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }

    /// A directory.
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Directory, mode, 0);
        let _ = self.b.append_data(&mut h, path, io::empty());
        self
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, content: &[u8], mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Regular, mode, content.len() as u64);
        let _ = self.b.append_data(&mut h, path, content);
        self
    }

    /// A symlink.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = self.header(tar::EntryType::Symlink, 0o777, 0);
        let _ = self.b.append_link(&mut h, path, target);
        self
    }

    /// A hard link to `target` (a path in the archive).
    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = self.header(tar::EntryType::Link, 0o644, 0);
        let _ = self.b.append_link(&mut h, path, target);
        self
    }

    /// A fifo.
    pub fn fifo(&mut self, path: &str, mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Fifo, mode, 0);
        let _ = self.b.append_data(&mut h, path, io::empty());
        self
    }

    /// A character device.
    pub fn char_dev(&mut self, path: &str, major: u32, minor: u32, mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Char, mode, 0);
        let _ = h.set_device_major(major);
        let _ = h.set_device_minor(minor);
        let _ = self.b.append_data(&mut h, path, io::empty());
        self
    }

    /// A whiteout deleting `path` (written as `dir/.wh.name`).
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&wh, b"", 0o644)
    }

    /// Marks directory `dir` opaque (`dir/.wh..wh..opq`).
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        let p = if dir.is_empty() {
            ".wh..wh..opq".to_owned()
        } else {
            format!("{dir}/.wh..wh..opq")
        };
        self.file(&p, b"", 0o644)
    }

    /// An entry whose name and link name bytes are written into the ustar header as they
    /// are (no validation: `..`, absolute paths), with `data` as content.
    pub fn raw(
        &mut self,
        t: tar::EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        data: &[u8],
    ) -> &mut Self {
        let mut h = self.header(t, mode, data.len() as u64);
        {
            let old = h.as_old_mut();
            let n = name.len().min(old.name.len());
            old.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(old.linkname.len());
            old.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_cksum();
        let _ = self.b.append(&h, data);
        self
    }

    /// A PAX extended header with these records, applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let recs: Vec<(String, Vec<u8>)> = records
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        let _ = crate::driver::append_pax_for_tests(&mut self.b, &recs);
        self
    }

    /// Finishes the archive and returns its bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        let _ = self.b.finish();
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap_or_default()
    }
}

/// The diff ID of an uncompressed layer tar.
pub fn diff_id(tar: &[u8]) -> Digest {
    sha256_of(tar)
}

/// The type and type-specific data of a tree node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file with the sha256 of its content.
    File(String),
    /// A symlink with its target.
    Symlink(PathBuf),
    /// A fifo.
    Fifo,
    /// A character device with its rdev.
    Char(u64),
    /// A block device with its rdev.
    Block(u64),
    /// A socket.
    Socket,
}

/// One path of a tree snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Type and content.
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (not for symlinks).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// For hard-linked files: the first path (in sorted order) of the link group.
    pub hardlink_of: Option<PathBuf>,
    /// xattrs, except overlayfs' `trusted.overlay.*` and `security.selinux`.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// A snapshot of a file tree: relative path -> node (the root itself excluded).
pub type Tree = BTreeMap<PathBuf, Node>;

/// Walks `root` without following symlinks.
pub fn snapshot(root: &Path) -> io::Result<Tree> {
    let mut tree = Tree::new();
    let mut inodes: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    let mut paths = Vec::new();
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let r = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                stack.push(r.clone());
            }
            paths.push(r);
        }
    }
    paths.sort();
    for rel in paths {
        let abs = root.join(&rel);
        let m = fs::symlink_metadata(&abs)?;
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            let mut h = Sha256::new();
            let mut f = fs::File::open(&abs)?;
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Kind::File(hex::encode(h.finalize()))
        } else if ft.is_symlink() {
            Kind::Symlink(fs::read_link(&abs)?)
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_char_device() {
            Kind::Char(m.rdev())
        } else if ft.is_block_device() {
            Kind::Block(m.rdev())
        } else {
            Kind::Socket
        };
        let hardlink_of = if !ft.is_dir() && m.nlink() > 1 {
            match inodes.get(&(m.dev(), m.ino())) {
                Some(first) => Some(first.clone()),
                None => {
                    inodes.insert((m.dev(), m.ino()), rel.clone());
                    None
                }
            }
        } else {
            None
        };
        let mut xattrs = BTreeMap::new();
        if let Ok(list) = crate::driver::list_xattrs_for_tests(&abs) {
            for (n, v) in list {
                let n = String::from_utf8_lossy(&n).into_owned();
                if n != "security.selinux" {
                    xattrs.insert(n, v);
                }
            }
        }
        tree.insert(
            rel,
            Node {
                kind,
                mode: if ft.is_symlink() {
                    0
                } else {
                    m.mode() & 0o7777
                },
                uid: m.uid(),
                gid: m.gid(),
                hardlink_of,
                xattrs,
            },
        );
    }
    Ok(tree)
}

/// Human-readable differences between two snapshots (empty when equal).
pub fn tree_diff(a: &Tree, b: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (p, na) in a {
        match b.get(p) {
            None => out.push(format!("only in first: {} {:?}", p.display(), na.kind)),
            Some(nb) if nb != na => out.push(format!(
                "differs: {}\n  first:  {na:?}\n  second: {nb:?}",
                p.display()
            )),
            _ => {}
        }
    }
    for (p, nb) in b {
        if !a.contains_key(p) {
            out.push(format!("only in second: {} {:?}", p.display(), nb.kind));
        }
    }
    out
}

/// Panics with the differences when the trees under `a` and `b` differ.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = match (snapshot(a), snapshot(b)) {
        (Ok(ta), Ok(tb)) => (ta, tb),
        (ra, rb) => panic!("snapshot failed: {:?} / {:?}", ra.err(), rb.err()),
    };
    let d = tree_diff(&ta, &tb);
    assert!(
        d.is_empty(),
        "trees differ ({} vs {}):\n{}",
        a.display(),
        b.display(),
        d.join("\n")
    );
}

/// A file name as bytes (test helper).
pub fn name_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// A three-layer fixture image exercising layer semantics: deletions, an opaque directory,
/// file->dir and dir->file, delete-and-repopulate in one layer, a file added below a lower
/// directory without its entry, a symlink chain, hard links, setuid/setgid, sticky, fifos,
/// xattrs, owners, and a device node when running as root. Check a rootfs built from it
/// with [`assert_fixture_semantics`].
pub fn fixture_layers() -> Vec<Vec<u8>> {
    let mut l1 = LayerTar::new();
    l1.dir("bin", 0o755)
        .dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
        .file("etc/group", b"root:x:0:\n", 0o644)
        .file("bin/busybox", b"\x7fELF pretend busybox", 0o755)
        .symlink("bin/sh", "busybox")
        .symlink("bin/ash", "sh")
        .symlink("bin/abs", "/bin/busybox")
        .hardlink("bin/busybox-hl", "bin/busybox")
        .file("bin/su", b"setuid", 0o4755)
        .file("bin/sg", b"setgid", 0o2755)
        .dir("tmp", 0o1777)
        .dir("run", 0o755)
        .fifo("run/fifo", 0o600)
        .fifo("fifo2", 0o644)
        .dir("opq", 0o755)
        .file("opq/a", b"a", 0o644)
        .dir("opq/sub", 0o700)
        .file("opq/sub/c", b"c", 0o600)
        .dir("d2f", 0o755)
        .file("d2f/inside", b"x", 0o644)
        .file("f2d", b"file", 0o644)
        .dir("usr", 0o755)
        .dir("usr/lib", 0o755)
        .file("usr/lib/libx.so", b"lib", 0o644)
        .owner(1000, 1000)
        .dir("home", 0o755)
        .file("home/user.txt", b"mine", 0o640)
        .owner(0, 0)
        .xattr("user.mydocker", b"value")
        .file("etc/xattr", b"x", 0o644);
    if rustix::process::geteuid().is_root() {
        l1.dir("dev", 0o755).char_dev("dev/null", 1, 3, 0o666);
    }
    let mut l2 = LayerTar::new();
    l2.whiteout("etc/passwd")
        .dir("opq", 0o755)
        .opaque("opq")
        .file("opq/new", b"new", 0o644)
        .whiteout("d2f")
        .file("d2f", b"now a file", 0o600)
        .dir("f2d", 0o750)
        .file("f2d/inner", b"inner", 0o644)
        .whiteout("usr")
        .file("bin/busybox", b"\x7fELF newer busybox", 0o755)
        .dir("etc", 0o755)
        .file("etc/new.conf", b"conf", 0o600);
    let mut l3 = LayerTar::new();
    l3.file("etc/passwd", b"root:x:0:0:new:/root:/bin/ash\n", 0o644)
        .whiteout("bin/busybox-hl")
        .symlink("opq/link", "../etc/passwd")
        .file("lib64/ld.so", b"ld", 0o755)
        .hardlink("lib64/ld-linux.so", "lib64/ld.so")
        // A file added below a lower directory without an entry for the directory: the
        // directory keeps its lower metadata (1777) in every driver.
        .file("tmp/implicit-parent", b"x", 0o644)
        // Deleted and re-populated in one layer: only the new content remains.
        .whiteout("run")
        .file("run/new", b"new", 0o644)
        .whiteout("home")
        .dir("home", 0o700)
        .file("home/fresh", b"fresh", 0o644);
    vec![l1.finish(), l2.finish(), l3.finish()]
}

/// Asserts what a rootfs of [`fixture_layers`] must contain (panics otherwise).
pub fn assert_fixture_semantics(root: &Path) {
    let read = |p: &str| fs::read(root.join(p)).unwrap();
    assert_eq!(read("etc/passwd"), b"root:x:0:0:new:/root:/bin/ash\n");
    let mut opq: Vec<_> = fs::read_dir(root.join("opq"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    opq.sort();
    assert_eq!(opq, ["link", "new"]);
    assert!(fs::symlink_metadata(root.join("d2f")).unwrap().is_file());
    assert_eq!(read("f2d/inner"), b"inner");
    assert!(!root.join("usr").exists());
    assert!(!root.join("bin/busybox-hl").exists());
    assert_eq!(read("bin/busybox"), b"\x7fELF newer busybox");
    assert_eq!(
        fs::read_link(root.join("bin/ash")).unwrap(),
        Path::new("sh")
    );
    assert_eq!(
        fs::metadata(root.join("bin/su"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        fs::metadata(root.join("tmp")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert!(
        fs::symlink_metadata(root.join("fifo2"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let ld = fs::metadata(root.join("lib64/ld.so")).unwrap();
    let ld2 = fs::metadata(root.join("lib64/ld-linux.so")).unwrap();
    assert_eq!(ld.ino(), ld2.ino(), "hard link kept");
    if rustix::process::geteuid().is_root() {
        let m = fs::metadata(root.join("opq/new")).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0));
        let dev = fs::symlink_metadata(root.join("dev/null")).unwrap();
        assert!(dev.file_type().is_char_device());
        assert_eq!(dev.rdev(), rustix::fs::makedev(1, 3));
        assert_eq!(
            xattr(&root.join("etc/xattr"), "user.mydocker").as_deref(),
            Some(&b"value"[..])
        );
    }
}

/// Reads an xattr without following symlinks.
pub fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(p, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Removes a container's writable layer (unmounting it) when dropped.
#[derive(Debug)]
pub struct WritableGuard {
    /// The driver.
    pub driver: Arc<dyn StorageDriver>,
    /// The container ID.
    pub id: String,
}

impl Drop for WritableGuard {
    fn drop(&mut self) {
        if let Err(e) = self.driver.remove_writable(&self.id) {
            eprintln!("cleanup of writable layer {}: {e}", self.id);
        }
    }
}
