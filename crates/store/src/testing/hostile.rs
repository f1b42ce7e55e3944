//! A corpus of hostile layer tars, for any layer applier.

use std::fs;
use std::path::Path;

use super::LayerTar;
use crate::error::UnpackReason;

/// A test of the reason a hostile layer was refused for.
pub type ReasonCheck = fn(&UnpackReason) -> bool;

/// A hostile layer (on benign lower layers) and how it must be refused.
#[derive(Debug)]
pub struct HostileCase {
    /// What it tries.
    pub name: &'static str,
    /// Benign lower layers, then the hostile layer last.
    pub layers: Vec<Vec<u8>>,
    /// The rejected entry's path ([`Error::Unpack`](crate::Error::Unpack)'s `entry`)
    /// contains this.
    pub entry: &'static str,
    /// The reason it must be refused for.
    pub reason: ReasonCheck,
}

/// The hostile tar corpus: path escapes (`..`, absolute paths), writes through symlinks
/// planted by the layer itself or by a lower layer, hard links out of the layer, bad
/// whiteouts, PAX size lies, absurd sizes, truncation, and (when not root) device nodes.
/// Absolute targets point into `sentinel`, a directory outside the store whose content
/// must not change; every file a successful escape would create is named `escape*`
/// (see [`find_escapes`]).
pub fn hostile_layers(sentinel: &Path) -> Vec<HostileCase> {
    let s = sentinel.to_str().unwrap_or("/nonexistent-sentinel");
    let mut cases = Vec::new();
    escapes_in_one_layer(s, &mut cases);
    writes_through_own_symlinks(s, &mut cases);
    escapes_through_lowers_and_links(s, &mut cases);
    hardlinks_and_whiteouts(s, &mut cases);
    malformed_headers(&mut cases);
    cases
}

fn add(
    cases: &mut Vec<HostileCase>,
    name: &'static str,
    layers: Vec<Vec<u8>>,
    entry: &'static str,
    reason: ReasonCheck,
) {
    cases.push(HostileCase {
        name,
        layers,
        entry,
        reason,
    });
}

fn esc(r: &UnpackReason) -> bool {
    matches!(r, UnpackReason::PathEscapes)
}

fn through(r: &UnpackReason) -> bool {
    matches!(r, UnpackReason::ThroughSymlink { .. })
}

fn outside(r: &UnpackReason) -> bool {
    matches!(r, UnpackReason::HardlinkOutside { .. })
}

fn bad_wh(r: &UnpackReason) -> bool {
    matches!(r, UnpackReason::InvalidWhiteout)
}

/// `..` and absolute paths.
fn escapes_in_one_layer(s: &str, cases: &mut Vec<HostileCase>) {
    add(
        cases,
        "tar-slip",
        vec![
            LayerTar::new()
                .raw(
                    tar::EntryType::Regular,
                    b"../../../escape-slip",
                    b"",
                    0o644,
                    b"x",
                )
                .finish(),
        ],
        "escape-slip",
        esc as ReasonCheck,
    );
    add(
        cases,
        "tar-slip-inner-dotdot",
        vec![
            LayerTar::new()
                .dir("a", 0o755)
                .raw(
                    tar::EntryType::Regular,
                    b"a/../../escape-slip2",
                    b"",
                    0o644,
                    b"x",
                )
                .finish(),
        ],
        "escape-slip2",
        esc as ReasonCheck,
    );
    let abs = format!("{s}/escape-abs");
    add(
        cases,
        "absolute-path",
        vec![
            LayerTar::new()
                .raw(tar::EntryType::Regular, abs.as_bytes(), b"", 0o644, b"x")
                .finish(),
        ],
        "escape-abs",
        esc as ReasonCheck,
    );
}

/// Symlinks planted by the layer, then written, created or changed through.
fn writes_through_own_symlinks(s: &str, cases: &mut Vec<HostileCase>) {
    add(
        cases,
        "CVE-2014-9356 absolute symlink then write through it",
        vec![
            LayerTar::new()
                .symlink("evil", s)
                .file("evil/escape-cve", b"pwned", 0o644)
                .finish(),
        ],
        "evil/escape-cve",
        through as ReasonCheck,
    );
    add(
        cases,
        "relative symlink up and out then write",
        vec![
            LayerTar::new()
                .symlink("up", "../../../../../../../../../../../..")
                .file(&format!("up{s}/escape-rel"), b"pwned", 0o644)
                .finish(),
        ],
        "escape-rel",
        through as ReasonCheck,
    );
    add(
        cases,
        "RUSTSEC-2021-0080 symlink then mkdir through it",
        vec![
            LayerTar::new()
                .symlink("x", s)
                .dir("x/escape-dir", 0o755)
                .finish(),
        ],
        "x/escape-dir",
        through as ReasonCheck,
    );
    add(
        cases,
        "RUSTSEC-2026-0067 symlink then chmod through it",
        vec![
            LayerTar::new()
                .symlink("x", s)
                .file("x/keep", b"overwritten", 0o777)
                .finish(),
        ],
        "x/keep",
        through as ReasonCheck,
    );
    add(
        cases,
        "symlink then dir entry below it (chmod of target)",
        vec![
            LayerTar::new()
                .symlink("y", s)
                .raw(tar::EntryType::Directory, b"y/.", b"", 0o777, b"")
                .raw(tar::EntryType::Directory, b"y/sub/..", b"", 0o777, b"")
                .finish(),
        ],
        "y/sub/..",
        esc as ReasonCheck,
    );
}

/// Symlinks and files of lower layers in the way.
fn escapes_through_lowers_and_links(s: &str, cases: &mut Vec<HostileCase>) {
    add(
        cases,
        "symlink planted by a lower layer, written through",
        vec![
            LayerTar::new().symlink("lib", s).finish(),
            LayerTar::new()
                .file("lib/escape-lower", b"pwned", 0o644)
                .finish(),
        ],
        "lib",
        through as ReasonCheck,
    );
    add(
        cases,
        "file in a lower layer used as a directory",
        vec![
            LayerTar::new().file("etc", b"a file", 0o644).finish(),
            LayerTar::new()
                .file("etc/escape-notdir", b"x", 0o644)
                .finish(),
        ],
        "etc",
        |r| matches!(r, UnpackReason::ParentNotDirectory { .. }),
    );
}

/// Hard links out of the layer, and whiteouts of `.` and `..`.
fn hardlinks_and_whiteouts(s: &str, cases: &mut Vec<HostileCase>) {
    add(
        cases,
        "hardlink out with dotdot",
        vec![
            LayerTar::new()
                .raw(
                    tar::EntryType::Link,
                    b"h",
                    b"../../../../etc/passwd",
                    0o644,
                    b"",
                )
                .finish(),
        ],
        "h",
        outside as ReasonCheck,
    );
    let abs_keep = format!("{s}/keep");
    add(
        cases,
        "hardlink out absolute",
        vec![
            LayerTar::new()
                .raw(tar::EntryType::Link, b"h2", abs_keep.as_bytes(), 0o644, b"")
                .finish(),
        ],
        "h2",
        outside as ReasonCheck,
    );
    add(
        cases,
        "hardlink through a symlink",
        vec![
            LayerTar::new()
                .symlink("s", s)
                .hardlink("h3", "s/keep")
                .finish(),
        ],
        "h3",
        outside as ReasonCheck,
    );
    add(
        cases,
        "hardlink to a lower layer's file",
        vec![
            LayerTar::new().file("f", b"lower", 0o644).finish(),
            LayerTar::new().hardlink("h4", "f").finish(),
        ],
        "h4",
        outside as ReasonCheck,
    );
    add(
        cases,
        "whiteout of ..",
        vec![
            LayerTar::new()
                .dir("a", 0o755)
                .raw(tar::EntryType::Regular, b"a/.wh...", b"", 0o644, b"")
                .finish(),
        ],
        "a/.wh...",
        bad_wh as ReasonCheck,
    );
    add(
        cases,
        "whiteout of .",
        vec![
            LayerTar::new()
                .raw(tar::EntryType::Regular, b".wh..", b"", 0o644, b"")
                .finish(),
        ],
        ".wh..",
        bad_wh as ReasonCheck,
    );
}

/// PAX size lies, absurd sizes, truncation, devices.
fn malformed_headers(cases: &mut Vec<HostileCase>) {
    add(
        cases,
        "RUSTSEC-2026-0068 PAX size disagrees with ustar size",
        vec![
            LayerTar::new()
                .pax(&[("size", b"5")])
                .file("paxfile", &[b'A'; 100], 0o644)
                .finish(),
        ],
        "paxfile",
        |r| {
            matches!(
                r,
                UnpackReason::PaxSizeMismatch {
                    pax: 5,
                    header: 100
                }
            )
        },
    );
    add(
        cases,
        "absurd size",
        vec![{
            let mut t = LayerTar::new();
            t.pax(&[("size", b"1099511627776")])
                .file("huge", &[], 0o644);
            // Make the ustar size agree so that the absurd size itself is what is caught.
            let mut bytes = t.finish();
            patch_size(&mut bytes, "huge", 1 << 40);
            bytes
        }],
        "huge",
        |r| matches!(r, UnpackReason::AbsurdSize { .. }),
    );
    add(
        cases,
        "truncated archive",
        vec![{
            let mut t = LayerTar::new()
                .dir("d", 0o755)
                .file("d/big", &[7u8; 10_000], 0o644)
                .finish();
            t.truncate(3000);
            t
        }],
        "d/big",
        |r| matches!(r, UnpackReason::Truncated),
    );
    if !rustix::process::geteuid().is_root() {
        add(
            cases,
            "device node when not root",
            vec![LayerTar::new().char_dev("dev/mem", 1, 1, 0o600).finish()],
            "dev/mem",
            |r| matches!(r, UnpackReason::DeviceNotPermitted),
        );
    }
}

/// Rewrites the ustar size field of entry `name` (GNU base-256 for big values).
fn patch_size(tar: &mut [u8], name: &str, size: u64) {
    let mut off = 0;
    while off + 512 <= tar.len() {
        let block = &tar[off..off + 512];
        if block[..name.len()] == *name.as_bytes() && block[name.len()] == 0 {
            let mut h = tar::Header::new_gnu();
            h.as_mut_bytes().copy_from_slice(block);
            h.set_size(size);
            h.set_cksum();
            tar[off..off + 512].copy_from_slice(h.as_bytes());
            return;
        }
        off += 512;
    }
    panic!("entry {name} not found");
}

/// Appends to `out` every path below `dir` whose name starts with `escape`: what a
/// [`hostile_layers`] case that got out would have written.
pub fn find_escapes(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("escape") {
            out.push(e.path().display().to_string());
        }
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            find_escapes(&e.path(), out);
        }
    }
}
