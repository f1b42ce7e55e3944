//! The build context: the directory walked once with `.dockerignore` applied, as an index
//! of relative paths; file contents are hashed on demand (once) for the cache keys of
//! COPY and ADD.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::ignore::{Ignore, has_wildcards, path_match};
use crate::error::{Error, Result};

/// What a context entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link and its target.
    Symlink(PathBuf),
    /// A FIFO, socket or device: copied as docker does not (skipped).
    Other,
}

/// One file of the context.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    /// Permission bits (with setuid, setgid, sticky).
    pub(crate) mode: u32,
    /// Modification time (seconds, nanoseconds).
    pub(crate) mtime: (i64, i64),
    hash: OnceCell<[u8; 32]>,
}

/// The build context (empty for a Dockerfile from stdin).
#[derive(Debug, Default)]
pub(crate) struct Context {
    root: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(what, path, e)
}

impl Context {
    /// Walks `root`, leaving out what `ignore` excludes.
    ///
    /// # Errors
    /// An unreadable directory or file.
    pub(crate) fn walk(root: &Path, ignore: &Ignore) -> Result<Context> {
        let mut ctx = Context {
            root: Some(root.to_path_buf()),
            entries: BTreeMap::new(),
        };
        let mut stack = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let rd = std::fs::read_dir(&dir).map_err(|e| io("reading the context", &dir, e))?;
            for e in rd {
                let e = e.map_err(|e| io("reading the context", &dir, e))?;
                let name = e.file_name();
                let Some(name) = name.to_str() else {
                    return Err(Error::Invalid(format!(
                        "the build context has a file name that is not UTF-8: {}",
                        e.path().display()
                    )));
                };
                let path = if rel.is_empty() {
                    name.to_owned()
                } else {
                    format!("{rel}/{name}")
                };
                let excluded = ignore.excludes(&path);
                let meta = std::fs::symlink_metadata(e.path())
                    .map_err(|err| io("reading the context", &e.path(), err))?;
                let ft = meta.file_type();
                if ft.is_dir() {
                    if !excluded || ignore.has_exclusions() {
                        stack.push((e.path(), path.clone()));
                    }
                } else if excluded {
                    continue;
                }
                let kind = if ft.is_dir() {
                    Kind::Dir
                } else if ft.is_file() {
                    Kind::File
                } else if ft.is_symlink() {
                    let target = std::fs::read_link(e.path())
                        .map_err(|err| io("reading the context", &e.path(), err))?;
                    Kind::Symlink(target)
                } else {
                    Kind::Other
                };
                ctx.entries.insert(
                    path,
                    Entry {
                        kind,
                        mode: meta.permissions().mode() & 0o7777,
                        mtime: (meta.mtime(), meta.mtime_nsec()),
                        hash: OnceCell::new(),
                    },
                );
            }
        }
        // Directories excluded but kept for an included file below them stay, as parents.
        if ignore.has_exclusions() {
            let dirs: Vec<String> = ctx
                .entries
                .iter()
                .filter(|(p, e)| e.kind == Kind::Dir && ignore.excludes(p))
                .map(|(p, _)| p.clone())
                .collect();
            // Deepest first, so that a parent sees its children's fate.
            for d in dirs.into_iter().rev() {
                if ctx.children(&d).next().is_none() {
                    ctx.entries.remove(&d);
                }
            }
        }
        Ok(ctx)
    }

    /// The entry at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Every entry strictly below directory `dir` (`""`: the whole context), in order.
    pub(crate) fn children<'a>(
        &'a self,
        dir: &str,
    ) -> Box<dyn Iterator<Item = (&'a String, &'a Entry)> + 'a> {
        if dir.is_empty() {
            return Box::new(self.entries.iter());
        }
        let lo = format!("{dir}/");
        let hi = format!("{dir}0"); // '0' follows '/'
        Box::new(self.entries.range(lo..hi))
    }

    /// The host path of a context path.
    pub(crate) fn host_path(&self, rel: &str) -> Option<PathBuf> {
        let root = self.root.as_ref()?;
        Some(if rel.is_empty() {
            root.clone()
        } else {
            root.join(rel)
        })
    }

    /// Resolves a COPY/ADD source (cleaned, relative to the context root) to the context
    /// paths it names: itself, or what its wildcards match. A symlink named directly is
    /// followed inside the context.
    ///
    /// # Errors
    /// A source outside the context, nothing matched, a symlink loop.
    pub(crate) fn sources(&self, src: &str) -> Result<Vec<String>> {
        let cleaned = clean_rel(src).ok_or_else(|| {
            Error::Invalid(format!(
                "Forbidden path outside the build context: {src} ()"
            ))
        })?;
        if has_wildcards(&cleaned) {
            let mut out = Vec::new();
            for p in self.entries.keys() {
                if path_match(&cleaned, p)? {
                    out.push(self.follow(p, src)?);
                }
            }
            return Ok(out);
        }
        if cleaned.is_empty() {
            return Ok(vec![String::new()]);
        }
        Ok(vec![self.follow(&cleaned, src)?])
    }

    /// `path` with symlinks (in it and at its end) followed inside the context.
    fn follow(&self, path: &str, shown: &str) -> Result<String> {
        let not_found = || {
            Error::Invalid(format!(
                "file not found in build context or excluded by .dockerignore: stat {shown}: file does not exist"
            ))
        };
        let done = super::fsops::resolve_links(path, shown, true, |components| {
            match self.entries.get(&components.join("/")).map(|e| &e.kind) {
                None => Err(not_found()),
                Some(Kind::Symlink(target)) => Ok(Some(target.to_string_lossy().into_owned())),
                Some(_) => Ok(None),
            }
        })?;
        Ok(done.join("/"))
    }

    /// A hash of `path` and everything below it: names (relative to `path`), kinds,
    /// permission bits, link targets and contents; not times or owners (as docker's).
    ///
    /// # Errors
    /// An unreadable file.
    pub(crate) fn tree_hash(&self, path: &str) -> Result<String> {
        let mut h = Sha256::new();
        let mut add = |rel: &str, e: &Entry| -> Result<()> {
            h.update(rel.as_bytes());
            h.update([0]);
            h.update(e.mode.to_le_bytes());
            match &e.kind {
                Kind::File => h.update(self.content_hash(rel_join(path, rel).as_str(), e)?),
                Kind::Dir => h.update(b"d"),
                Kind::Symlink(t) => h.update(t.as_os_str().as_encoded_bytes()),
                Kind::Other => h.update(b"o"),
            }
            h.update([0]);
            Ok(())
        };
        if let Some(e) = self.entries.get(path) {
            add("", e)?;
        }
        let skip = if path.is_empty() { 0 } else { path.len() + 1 };
        for (p, e) in self.children(path) {
            add(&p[skip..], e)?;
        }
        Ok(hex::encode(h.finalize()))
    }

    fn content_hash(&self, rel: &str, e: &Entry) -> Result<[u8; 32]> {
        if let Some(h) = e.hash.get() {
            return Ok(*h);
        }
        let path = self.host_path(rel).unwrap_or_default();
        let mut f = std::fs::File::open(&path).map_err(|err| io("reading", &path, err))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(|err| io("reading", &path, err))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let out: [u8; 32] = h.finalize().into();
        let _ = e.hash.set(out);
        Ok(out)
    }
}

fn rel_join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

/// A source path cleaned and made relative to the context (`/a/./b` is `a/b`); `None`
/// when it climbs out of it.
pub(crate) fn clean_rel(src: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, Context) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("src/sub")).unwrap();
        std::fs::create_dir_all(p.join("build/out")).unwrap();
        std::fs::write(p.join("src/a.txt"), "a").unwrap();
        std::fs::write(p.join("src/sub/b.txt"), "b").unwrap();
        std::fs::write(p.join("build/out/x"), "x").unwrap();
        std::fs::write(p.join("build/keep"), "k").unwrap();
        std::fs::write(p.join("top.log"), "l").unwrap();
        std::os::unix::fs::symlink("src/a.txt", p.join("link")).unwrap();
        let ignore = Ignore::parse("*.log\nbuild\n!build/keep\n").unwrap();
        let ctx = Context::walk(p, &ignore).unwrap();
        (d, ctx)
    }

    #[test]
    fn the_walk_applies_dockerignore() {
        let (_d, ctx) = tree();
        let paths: Vec<&String> = ctx.children("").map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "build",
                "build/keep",
                "link",
                "src",
                "src/a.txt",
                "src/sub",
                "src/sub/b.txt"
            ]
        );
        assert_eq!(ctx.children("src").count(), 3);
    }

    #[test]
    fn sources_resolve_wildcards_and_links() {
        let (_d, ctx) = tree();
        assert_eq!(ctx.sources("link").unwrap(), ["src/a.txt"]);
        assert_eq!(ctx.sources("/src/./a.txt").unwrap(), ["src/a.txt"]);
        assert_eq!(ctx.sources("src/*.txt").unwrap(), ["src/a.txt"]);
        assert_eq!(ctx.sources("*/*.txt").unwrap(), ["src/a.txt"]);
        assert_eq!(ctx.sources(".").unwrap(), [""]);
        assert!(
            ctx.sources("../x")
                .unwrap_err()
                .to_string()
                .contains("outside")
        );
        assert!(
            ctx.sources("top.log")
                .unwrap_err()
                .to_string()
                .contains("not found")
        );
        assert!(ctx.sources("nope/*.c").unwrap().is_empty());
    }

    #[test]
    fn hashes_follow_contents_not_times() {
        let (d, ctx) = tree();
        let h1 = ctx.tree_hash("src").unwrap();
        assert_eq!(h1, ctx.tree_hash("src").unwrap());
        assert_ne!(h1, ctx.tree_hash("").unwrap());
        std::fs::write(d.path().join("src/sub/b.txt"), "changed").unwrap();
        let ctx2 = Context::walk(d.path(), &Ignore::parse("").unwrap()).unwrap();
        assert_ne!(h1, ctx2.tree_hash("src").unwrap());
    }
}
