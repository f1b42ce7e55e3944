//! Checks of a staged layer against its lower layers (overlay and aufs forms), done at
//! commit time when the lowers are complete.

use std::collections::HashSet;
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
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let implicit_set: HashSet<&PathBuf> = implicit.iter().collect();
    let is_opaque = |q: &Path| match mode {
        Whiteouts::Overlay => {
            let mut buf = [0u8; 4];
            matches!(rustix::fs::lgetxattr(q, "trusted.overlay.opaque", &mut buf), Ok(1) if buf[0] == b'y')
        }
        Whiteouts::Aufs => q.join(".wh..wh..opq").exists(),
        Whiteouts::Delete => false,
    };
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
            let name = comp.as_os_str();
            let mut next = Vec::new();
            let mut covered = false;
            let mut blocker: Option<std::fs::Metadata> = None;
            source = None;
            for (layer, is_staged) in &layers {
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
                    let opaque = is_opaque(&q);
                    if *is_staged {
                        if !implicit_set.contains(&prefix) {
                            covered = true;
                        }
                    } else {
                        covered = true;
                        if source.is_none() {
                            source = Some(q.clone());
                        }
                    }
                    next.push((q, *is_staged));
                    if opaque {
                        break;
                    }
                    continue;
                }
                let is_whiteout =
                    mode == Whiteouts::Overlay && m.file_type().is_char_device() && m.rdev() == 0;
                if !is_whiteout && !covered && !*is_staged {
                    blocker = Some(m);
                }
                break;
            }
            if let Some(m) = blocker {
                let component = prefix.to_string_lossy().into_owned();
                let reason = if m.file_type().is_symlink() {
                    UnpackReason::ThroughSymlink { component }
                } else {
                    UnpackReason::ParentNotDirectory { component }
                };
                return Err((path.clone(), reason));
            }
            if next.is_empty() {
                break;
            }
            layers = next;
        }
        if let Some(src) = source {
            sources.push((path.clone(), src));
        }
    }
    Ok(sources)
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
