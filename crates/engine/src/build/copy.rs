//! COPY and ADD as docker does them: sources from the context (or, with `--from`, from
//! another image's rootfs) resolved with their wildcards; a directory's contents are
//! copied (not the directory itself); a file goes into the destination when that ends
//! with `/` or is a directory, else becomes it; modes and times are kept, owners are
//! root's unless `--chown` (names resolved in the image's own `/etc/passwd` and
//! `/etc/group`, the group defaulting to the user's name or ID as docker does). ADD
//! extracts local tar archives (plain, gzip, bzip2, xz, zstd) into the destination.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::archive;
use super::context::{Context, Kind, clean_rel};
use super::fsops::{Owner, mkdir_in_root, resolve_in_root};
use super::ignore::{has_wildcards, path_match};
use crate::error::{Error, Result};

/// One matched source.
#[derive(Debug, Clone)]
pub(crate) struct Match {
    /// Its base name (where a file goes inside a directory destination).
    pub(crate) name: String,
    /// The context path (for the cache key), or the path in the other image.
    pub(crate) path: String,
    /// Where it is on the host.
    pub(crate) host: PathBuf,
    /// Directory or not (symlinks named directly were followed).
    pub(crate) is_dir: bool,
}

/// Something to create below a directory destination.
#[derive(Debug, Clone)]
struct Node {
    rel: String,
    host: PathBuf,
    kind: Kind,
    mode: u32,
    mtime: (i64, i64),
}

/// Where sources come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The build context.
    Context(&'a Context),
    /// Another image's rootfs (`--from`).
    Rootfs(&'a Path),
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

impl Source<'_> {
    /// The matches of one source argument.
    pub(crate) fn matches(&self, src: &str, keyword: &str) -> Result<Vec<Match>> {
        match self {
            Source::Context(ctx) => {
                let mut out = Vec::new();
                for path in ctx.sources(src).map_err(|e| copy_failed(keyword, e))? {
                    let is_dir =
                        path.is_empty() || ctx.get(&path).is_some_and(|e| e.kind == Kind::Dir);
                    out.push(Match {
                        name: base_name(&path),
                        host: ctx.host_path(&path).ok_or_else(|| {
                            copy_failed(keyword, Error::Invalid(format!(
                                "file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
                            )))
                        })?,
                        path,
                        is_dir,
                    });
                }
                Ok(out)
            }
            Source::Rootfs(root) => rootfs_matches(root, src, keyword),
        }
    }

    /// Everything below a directory match, parents first.
    fn nodes(&self, m: &Match) -> Result<Vec<Node>> {
        match self {
            Source::Context(ctx) => {
                let skip = if m.path.is_empty() {
                    0
                } else {
                    m.path.len() + 1
                };
                Ok(ctx
                    .children(&m.path)
                    .map(|(p, e)| Node {
                        rel: p[skip..].to_owned(),
                        host: ctx.host_path(p).unwrap_or_default(),
                        kind: e.kind.clone(),
                        mode: e.mode,
                        mtime: e.mtime,
                    })
                    .collect())
            }
            Source::Rootfs(_) => {
                let mut out = Vec::new();
                walk(&m.host, "", &mut out)?;
                Ok(out)
            }
        }
    }
}

fn copy_failed(keyword: &str, e: Error) -> Error {
    Error::Invalid(format!("{keyword} failed: {e}"))
}

fn node_of(host: &Path, rel: String) -> Result<Node> {
    let meta = std::fs::symlink_metadata(host).map_err(|e| Error::io("reading", host, e))?;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink(std::fs::read_link(host).map_err(|e| Error::io("reading", host, e))?)
    } else {
        Kind::Other
    };
    Ok(Node {
        rel,
        host: host.to_path_buf(),
        kind,
        mode: meta.permissions().mode() & 0o7777,
        mtime: (meta.mtime(), meta.mtime_nsec()),
    })
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<Node>) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("reading", dir, e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let node = node_of(&dir.join(&name), r.clone())?;
        let is_dir = node.kind == Kind::Dir;
        out.push(node);
        if is_dir {
            walk(&dir.join(&name), &r, out)?;
        }
    }
    Ok(())
}

/// Matches in another image's rootfs (wildcards in the last component).
fn rootfs_matches(root: &Path, src: &str, keyword: &str) -> Result<Vec<Match>> {
    let cleaned = clean_rel(src).unwrap_or_default();
    let not_found = || {
        copy_failed(
            keyword,
            Error::Invalid(format!("stat {src}: file does not exist")),
        )
    };
    let (dir, last) = match cleaned.rsplit_once('/') {
        Some((d, l)) => (d.to_owned(), l.to_owned()),
        None => (String::new(), cleaned.clone()),
    };
    let mut paths = Vec::new();
    if has_wildcards(&last) {
        let host_dir = resolve_in_root(root, &dir, true)?;
        let mut names: Vec<String> = std::fs::read_dir(&host_dir)
            .map_err(|_| not_found())?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        for n in names {
            if path_match(&last, &n)? {
                paths.push(if dir.is_empty() {
                    n
                } else {
                    format!("{dir}/{n}")
                });
            }
        }
    } else {
        paths.push(cleaned.clone());
    }
    let mut out = Vec::new();
    for p in paths {
        let host = resolve_in_root(root, &p, true)?;
        let meta = std::fs::metadata(&host).map_err(|_| not_found())?;
        out.push(Match {
            name: base_name(&p),
            path: p,
            host,
            is_dir: meta.is_dir(),
        });
    }
    Ok(out)
}

/// What COPY or ADD does with its matches.
pub(crate) struct CopyOp<'a> {
    pub(crate) source: Source<'a>,
    pub(crate) matches: &'a [Match],
    /// The destination in the image (absolute; a trailing `/` makes it a directory).
    pub(crate) dest: &'a str,
    pub(crate) owner: Owner,
    pub(crate) chmod: Option<u32>,
    /// ADD: extract local archives.
    pub(crate) extract: bool,
    pub(crate) cancelled: &'a dyn Fn() -> bool,
}

impl CopyOp<'_> {
    /// Copies everything into the rootfs at `root`.
    pub(crate) fn run(&self, root: &Path) -> Result<()> {
        let dest_is_dir = self.dest.ends_with('/')
            || resolve_in_root(root, self.dest, true).is_ok_and(|p| p.is_dir());
        let mut dir_times = Vec::new();
        for m in self.matches {
            if (self.cancelled)() {
                return Err(super::cancelled());
            }
            if m.is_dir {
                let d = mkdir_in_root(root, self.dest, self.owner)?;
                for n in self.source.nodes(m)? {
                    if (self.cancelled)() {
                        return Err(super::cancelled());
                    }
                    self.write(&d.join(&n.rel), &n, &mut dir_times)?;
                }
                continue;
            }
            if self.extract
                && let Some(reader) = archive::open(&m.host)?
            {
                let d = mkdir_in_root(root, self.dest, self.owner)?;
                archive::extract(reader, &d, self.cancelled)?;
                continue;
            }
            let target = if dest_is_dir {
                format!("{}/{}", self.dest.trim_end_matches('/'), m.name)
            } else {
                self.dest.trim_end_matches('/').to_owned()
            };
            let (parent, name) = target.rsplit_once('/').unwrap_or(("", target.as_str()));
            let parent = mkdir_in_root(root, parent, self.owner)?;
            let node = node_of(&m.host, String::new())?;
            self.write(&parent.join(name), &node, &mut dir_times)?;
        }
        // Directories last, deepest first: writing into them changed their times.
        for (path, mtime) in dir_times.iter().rev() {
            set_times(path, *mtime)?;
        }
        Ok(())
    }

    fn write(&self, t: &Path, n: &Node, dir_times: &mut Vec<(PathBuf, (i64, i64))>) -> Result<()> {
        let io = |what: &'static str| move |e: std::io::Error| Error::io(what, t, e);
        match std::fs::symlink_metadata(t) {
            Ok(m) if m.is_dir() && n.kind == Kind::Dir => {}
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(t).map_err(io("replacing"))?,
            Ok(_) => std::fs::remove_file(t).map_err(io("replacing"))?,
            Err(_) => {}
        }
        match &n.kind {
            Kind::File => {
                std::fs::copy(&n.host, t).map_err(io("copying to"))?;
            }
            Kind::Dir => {
                if !t.is_dir() {
                    std::fs::create_dir(t).map_err(io("creating"))?;
                }
            }
            Kind::Symlink(target) => {
                std::os::unix::fs::symlink(target, t).map_err(io("creating"))?
            }
            Kind::Other => return Ok(()),
        }
        std::os::unix::fs::lchown(t, Some(self.owner.uid), Some(self.owner.gid))
            .map_err(io("chown"))?;
        if !matches!(n.kind, Kind::Symlink(_)) {
            let mode = self.chmod.unwrap_or(n.mode);
            std::fs::set_permissions(t, std::fs::Permissions::from_mode(mode))
                .map_err(io("chmod"))?;
        }
        if n.kind == Kind::Dir {
            dir_times.push((t.to_path_buf(), n.mtime));
        } else {
            set_times(t, n.mtime)?;
        }
        Ok(())
    }
}

fn set_times(path: &Path, (sec, nsec): (i64, i64)) -> Result<()> {
    let ts = rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::io("setting the times of", path, e.into()))
}

/// `--chown=user[:group]` resolved in the image's own files; the group defaults to the
/// user's name or ID (docker's rule).
pub(crate) fn owner(root: &Path, spec: &str) -> Result<Owner> {
    let (user, group) = spec.split_once(':').unwrap_or((spec, spec));
    let read = |p: &str| {
        resolve_in_root(root, p, true)
            .ok()
            .and_then(|h| std::fs::read_to_string(h).ok())
    };
    let req = isolate::user::UserRequest {
        user: user.to_owned(),
        group: Some(group.to_owned()),
        additional_groups: Vec::new(),
    };
    let r = isolate::user::resolve(
        &req,
        read("/etc/passwd").as_deref(),
        read("/etc/group").as_deref(),
    )
    .map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(Owner {
        uid: r.uid,
        gid: r.gid,
    })
}

/// `--chmod=0755`.
pub(crate) fn mode(spec: &str) -> Result<u32> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| Error::Invalid(format!("invalid chmod parameter: {spec}")))
}
