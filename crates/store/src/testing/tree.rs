//! File-tree snapshots and their comparison.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

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

/// Every path below `root`, sorted, without following symlinks.
fn walk(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut stack = vec![PathBuf::new()];
    let mut paths = Vec::new();
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel))? {
            let e = e?;
            let r = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                stack.push(r.clone());
            }
            paths.push(r);
        }
    }
    paths.sort();
    Ok(paths)
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn kind_of(abs: &Path, m: &fs::Metadata) -> io::Result<Kind> {
    let ft = m.file_type();
    Ok(if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File(sha256_file(abs)?)
    } else if ft.is_symlink() {
        Kind::Symlink(fs::read_link(abs)?)
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_char_device() {
        Kind::Char(m.rdev())
    } else if ft.is_block_device() {
        Kind::Block(m.rdev())
    } else {
        Kind::Socket
    })
}

fn xattrs_of(abs: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut xattrs = BTreeMap::new();
    if let Ok(list) = crate::driver::list_xattrs_for_tests(abs) {
        for (n, v) in list {
            let n = String::from_utf8_lossy(&n).into_owned();
            if n != "security.selinux" {
                xattrs.insert(n, v);
            }
        }
    }
    xattrs
}

/// Walks `root` without following symlinks.
pub fn snapshot(root: &Path) -> io::Result<Tree> {
    let mut tree = Tree::new();
    let mut inodes: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for rel in walk(root)? {
        let abs = root.join(&rel);
        let m = fs::symlink_metadata(&abs)?;
        let ft = m.file_type();
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
        let node = Node {
            kind: kind_of(&abs, &m)?,
            mode: if ft.is_symlink() {
                0
            } else {
                m.mode() & 0o7777
            },
            uid: m.uid(),
            gid: m.gid(),
            hardlink_of,
            xattrs: xattrs_of(&abs),
        };
        tree.insert(rel, node);
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

/// Reads an xattr without following symlinks.
pub fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(p, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}
