//! Checks of a staged layer against its lower layers (overlay and aufs forms), done at
//! commit time when the lowers are complete.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::UnpackReason;
use crate::unpack::Whiteouts;

/// Checks the directories a layer created implicitly against its lower layers (top
/// first), as the merged view would resolve them: a lower symlink or non-directory at such
/// a path, not covered by an explicit directory of the layer itself, means the layer's
/// entries "went through" it, which the copy driver (unpacking onto the flattened tree)
/// rejects too. Returns the first offending path and reason, or for each implicit
/// directory that exists as a directory below, the topmost lower directory (whose metadata
/// the implicit one should take, as an overlay copy-up would).
pub(crate) fn check_implicit_dirs(
    staged: &Path,
    implicit: &[PathBuf],
    lowers: &[PathBuf],
    mode: Whiteouts,
) -> std::result::Result<Vec<(PathBuf, PathBuf)>, (PathBuf, UnpackReason)> {
    let implicit_set: HashSet<&PathBuf> = implicit.iter().collect();
    let mut sources = Vec::new();
    for path in implicit {
        // (directory, is the staged layer)
        let mut layers: Vec<(PathBuf, bool)> = std::iter::once((staged.to_path_buf(), true))
            .chain(lowers.iter().map(|l| (l.clone(), false)))
            .collect();
        let mut prefix = PathBuf::new();
        let mut source = None;
        for comp in path.components() {
            prefix.push(comp);
            let step = step(
                &layers,
                comp.as_os_str(),
                implicit_set.contains(&prefix),
                mode,
            );
            source = step.source;
            if let Some(m) = step.blocker {
                let component = prefix.to_string_lossy().into_owned();
                let reason = if m.file_type().is_symlink() {
                    UnpackReason::ThroughSymlink { component }
                } else {
                    UnpackReason::ParentNotDirectory { component }
                };
                return Err((path.clone(), reason));
            }
            if step.next.is_empty() {
                break;
            }
            layers = step.next;
        }
        if let Some(src) = source {
            sources.push((path.clone(), src));
        }
    }
    Ok(sources)
}

/// One component of the walk of [`check_implicit_dirs`].
struct Step {
    /// The directories named so in the layers that the merged view reaches, top first.
    next: Vec<(PathBuf, bool)>,
    /// The topmost lower directory, whose metadata an implicit directory takes.
    source: Option<PathBuf>,
    /// A lower non-directory in the way, not covered by a directory above it.
    blocker: Option<std::fs::Metadata>,
}

fn is_opaque(q: &Path, mode: Whiteouts) -> bool {
    match mode {
        Whiteouts::Overlay => {
            let mut buf = [0u8; 4];
            matches!(rustix::fs::lgetxattr(q, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
        }
        Whiteouts::Aufs => q.join(".wh..wh..opq").exists(),
        Whiteouts::Delete => false,
    }
}

/// Looks `name` up in `layers` (top first) as the merged view would; `implicit`: the path
/// so far is a directory the staged layer created implicitly (which covers nothing).
fn step(layers: &[(PathBuf, bool)], name: &OsStr, implicit: bool, mode: Whiteouts) -> Step {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Step {
        next: Vec::new(),
        source: None,
        blocker: None,
    };
    let mut covered = false;
    for (layer, is_staged) in layers {
        if mode == Whiteouts::Aufs {
            let mut wh = std::ffi::OsString::from(".wh.");
            wh.push(name);
            if std::fs::symlink_metadata(layer.join(&wh)).is_ok() {
                break;
            }
        }
        let q = layer.join(name);
        let Ok(m) = std::fs::symlink_metadata(&q) else {
            continue;
        };
        if m.is_dir() {
            let opaque = is_opaque(&q, mode);
            if *is_staged {
                covered |= !implicit;
            } else {
                covered = true;
                if out.source.is_none() {
                    out.source = Some(q.clone());
                }
            }
            out.next.push((q, *is_staged));
            if opaque {
                break;
            }
            continue;
        }
        let is_whiteout =
            mode == Whiteouts::Overlay && m.file_type().is_char_device() && m.rdev() == 0;
        if !is_whiteout && !covered && !*is_staged {
            out.blocker = Some(m);
        }
        break;
    }
    out
}

/// Whether `path` names something in the lower layers as seen through the staged layer
/// (overlay form): directories merge down unless opaque, whiteouts and non-directories stop
/// the search. A whiteout that hides nothing must not be kept: overlayfs lists it in
/// directories that are not merged.
pub(crate) fn lower_has(staged: &Path, lowers: &[PathBuf], path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let comps: Vec<_> = path.components().collect();
    let Some((last, parents)) = comps.split_last() else {
        return false;
    };
    let mut layers: Vec<(PathBuf, bool)> = std::iter::once((staged.to_path_buf(), true))
        .chain(lowers.iter().map(|l| (l.clone(), false)))
        .collect();
    for comp in parents {
        let mut next = Vec::new();
        for (layer, is_staged) in &layers {
            let q = layer.join(comp);
            let Ok(m) = std::fs::symlink_metadata(&q) else {
                continue;
            };
            if !m.is_dir() {
                break;
            }
            let mut buf = [0u8; 4];
            let opaque = matches!(rustix::fs::lgetxattr(&q, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y');
            next.push((q, *is_staged));
            if opaque {
                break;
            }
        }
        if next.is_empty() {
            return false;
        }
        layers = next;
    }
    for (layer, is_staged) in &layers {
        if *is_staged {
            continue;
        }
        if let Ok(m) = std::fs::symlink_metadata(layer.join(last)) {
            return !(m.file_type().is_char_device() && m.rdev() == 0);
        }
    }
    false
}
