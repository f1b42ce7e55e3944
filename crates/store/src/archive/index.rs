//! The index of an archive: each entry name mapped to its byte range in the archive file
//! (no file named by the archive is ever created), with links resolved inside the
//! archive's own namespace.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek};

use super::read::{ArchiveFile, read_head};
use super::{
    MAX_ENTRIES, MAX_ENTRY_SIZE, MAX_JSON_SIZE, bad, clean_strict, malformed, resolve_relative,
};
use crate::error::{ArchiveReason, Error, IoContext, Result};

/// How deep symbolic/hard link chains inside an archive may go.
const MAX_LINK_DEPTH: usize = 16;
/// Largest extended header (PAX records, GNU long name or link) accepted: the tar reader
/// holds one in memory.
const MAX_EXTENDED_HEADER: u64 = 1 << 20;
/// Longest entry name or link target.
const MAX_NAME: usize = 4096;
/// Total bytes of all entry names, which the index holds in memory.
const MAX_NAMES_TOTAL: usize = 64 << 20;

/// Where an entry's bytes are in the archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) offset: u64,
    pub(super) size: u64,
}

#[derive(Debug, Clone)]
enum Node {
    File(Loc),
    /// A symlink or hard link, by the (clean) path it resolves to.
    Link(String),
}

/// Entry name -> content, for one archive.
#[derive(Debug)]
pub(super) struct Index {
    nodes: HashMap<String, Node>,
}

fn tar_err(e: io::Error) -> Error {
    malformed("tar", e)
}

fn utf8(bytes: &[u8], what: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        malformed(
            "tar",
            format!("{what} {:?} is not UTF-8", String::from_utf8_lossy(bytes)),
        )
    })
}

/// A tar number field: octal (NUL/space padded), or GNU base-256.
fn tar_number(field: &[u8]) -> Option<u64> {
    if let Some((&first, rest)) = field.split_first()
        && first & 0x80 != 0
    {
        let mut v: u64 = u64::from(first & 0x7f);
        for &b in rest {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// The `size` record of PAX extended header data, if any.
fn pax_size(mut data: &[u8]) -> Option<u64> {
    let mut found = None;
    while !data.is_empty() {
        let sp = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > data.len() {
            return found;
        }
        let record = &data[sp + 1..len];
        if let Some(v) = record.strip_prefix(b"size=") {
            let v = v.strip_suffix(b"\n").unwrap_or(v);
            found = std::str::from_utf8(v).ok()?.parse().ok();
        }
        data = &data[len..];
    }
    found
}

/// Walks the raw headers before the tar reader does, refusing extended headers (PAX,
/// GNU long names) larger than [`MAX_EXTENDED_HEADER`]: the tar reader would hold them in
/// memory whole. Stops quietly where the archive ends or stops making sense; the tar reader
/// reports those errors itself.
fn check_extended_headers(archive: &ArchiveFile) -> Result<()> {
    let mut pos = 0u64;
    let mut next_size: Option<u64> = None;
    let mut header = [0u8; 512];
    loop {
        if pos.checked_add(512).is_none_or(|end| end > archive.len) {
            return Ok(());
        }
        if read_head(&archive.file, pos, &mut header).ctx("read", "<archive>")? < 512
            || header.iter().all(|&b| b == 0)
        {
            return Ok(());
        }
        let Some(header_size) = tar_number(&header[124..136]) else {
            return Ok(());
        };
        let kind = header[156];
        let size = if matches!(kind, b'x' | b'g' | b'L' | b'K') {
            if header_size > MAX_EXTENDED_HEADER {
                return Err(bad(ArchiveReason::TooLarge {
                    what: "a tar extended header".into(),
                    size: header_size,
                    limit: MAX_EXTENDED_HEADER,
                }));
            }
            if kind == b'x' {
                let mut data = vec![0u8; usize::try_from(header_size).unwrap_or(0)];
                let n = read_head(&archive.file, pos + 512, &mut data).ctx("read", "<archive>")?;
                data.truncate(n);
                next_size = pax_size(&data);
            }
            header_size
        } else {
            next_size.take().unwrap_or(header_size)
        };
        let Some(next) = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .and_then(|s| s.checked_add(pos + 512))
        else {
            return Ok(());
        };
        pos = next;
    }
}

/// The clean path inside the archive that the link entry `name` (at `path`) points at.
fn link_target(
    entry: &tar::Entry<'_, &File>,
    name: &str,
    path: &str,
    budget: &mut Budget,
) -> Result<String> {
    let raw = entry
        .link_name_bytes()
        .ok_or_else(|| malformed("tar", format!("link {name:?} has no target")))?;
    let target_name = utf8(&raw, "link target")?;
    budget.name(&target_name, || format!("link target of {name:?}"))?;
    if entry.header().entry_type() == tar::EntryType::Symlink {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        resolve_relative(dir, &target_name)
    } else {
        clean_strict(&target_name)
    }
    .ok_or(bad(ArchiveReason::PathEscapes { path: target_name }))
}

/// Running totals of an index being built, checked against the limits.
struct Budget {
    entries: usize,
    names: usize,
}

impl Budget {
    fn name(&mut self, name: &str, what: impl FnOnce() -> String) -> Result<()> {
        self.names += name.len();
        if name.len() > MAX_NAME || self.names > MAX_NAMES_TOTAL {
            return Err(bad(ArchiveReason::TooLarge {
                what: what(),
                size: name.len() as u64,
                limit: MAX_NAME as u64,
            }));
        }
        Ok(())
    }
}

/// Refuses sparse files (GNU PAX `GNU.sparse.*` records).
fn refuse_sparse(entry: &mut tar::Entry<'_, &File>, name: &str) -> Result<()> {
    if let Some(pax) = entry.pax_extensions().map_err(tar_err)? {
        for ext in pax {
            let ext = ext.map_err(tar_err)?;
            if ext.key_bytes().starts_with(b"GNU.sparse") {
                return Err(bad(ArchiveReason::UnsupportedEntry {
                    path: name.to_owned(),
                    kind: "sparse file".into(),
                }));
            }
        }
    }
    Ok(())
}

impl Index {
    pub(super) fn build(archive: &ArchiveFile) -> Result<Index> {
        check_extended_headers(archive)?;
        let mut index = Index {
            nodes: HashMap::new(),
        };
        let mut budget = Budget {
            entries: 0,
            names: 0,
        };
        // Entry positions are counted from where the reader starts: the file's beginning.
        (&archive.file)
            .seek(io::SeekFrom::Start(0))
            .ctx("seek", "<archive>")?;
        let mut tar = tar::Archive::new(&archive.file);
        for entry in tar.entries_with_seek().map_err(tar_err)? {
            let mut entry = entry.map_err(tar_err)?;
            budget.entries += 1;
            if budget.entries > MAX_ENTRIES {
                return Err(bad(ArchiveReason::TooMany {
                    what: "entries",
                    limit: MAX_ENTRIES,
                }));
            }
            index.add(&mut entry, archive.len, &mut budget)?;
        }
        Ok(index)
    }

    /// Indexes one entry.
    fn add(
        &mut self,
        entry: &mut tar::Entry<'_, &File>,
        archive_len: u64,
        budget: &mut Budget,
    ) -> Result<()> {
        let name = utf8(&entry.path_bytes(), "entry name")?;
        budget.name(&name, || {
            format!(
                "entry name {:?}...",
                name.chars().take(64).collect::<String>()
            )
        })?;
        let path = clean_strict(&name)
            .ok_or_else(|| bad(ArchiveReason::PathEscapes { path: name.clone() }))?;
        let kind = entry.header().entry_type();
        refuse_sparse(entry, &name)?;
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if path.is_empty() {
                    return Err(malformed("tar", "a file entry without a name"));
                }
                let size = entry.size();
                if size > MAX_ENTRY_SIZE {
                    return Err(bad(ArchiveReason::TooLarge {
                        what: format!("entry {name:?}"),
                        size,
                        limit: MAX_ENTRY_SIZE,
                    }));
                }
                let offset = entry.raw_file_position();
                if offset.checked_add(size).is_none_or(|end| end > archive_len) {
                    return Err(malformed("tar", format!("entry {name:?} is truncated")));
                }
                self.nodes.insert(path, Node::File(Loc { offset, size }));
            }
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = link_target(entry, &name, &path, budget)?;
                self.nodes.insert(path, Node::Link(target));
            }
            other => {
                return Err(bad(ArchiveReason::UnsupportedEntry {
                    path: name,
                    kind: format!("{other:?}"),
                }));
            }
        }
        Ok(())
    }

    pub(super) fn has(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// The content of the file at `path` (a clean path), following links.
    pub(super) fn resolve(&self, path: &str) -> Result<Loc> {
        let mut cur = path;
        for _ in 0..MAX_LINK_DEPTH {
            match self.nodes.get(cur) {
                Some(Node::File(loc)) => return Ok(*loc),
                Some(Node::Link(t)) => cur = t,
                None => {
                    return Err(bad(ArchiveReason::Missing {
                        path: path.to_owned(),
                    }));
                }
            }
        }
        Err(bad(ArchiveReason::LinkLoop {
            path: path.to_owned(),
        }))
    }

    /// A path as a manifest names it: cleaned (escapes refused), then resolved.
    pub(super) fn resolve_named(&self, named: &str) -> Result<(String, Loc)> {
        let path = clean_strict(named).ok_or_else(|| {
            bad(ArchiveReason::PathEscapes {
                path: named.to_owned(),
            })
        })?;
        let loc = self.resolve(&path)?;
        Ok((path, loc))
    }
}

pub(super) fn read_small(archive: &ArchiveFile, loc: Loc, what: &str) -> Result<Vec<u8>> {
    if loc.size > MAX_JSON_SIZE {
        return Err(bad(ArchiveReason::TooLarge {
            what: what.to_owned(),
            size: loc.size,
            limit: MAX_JSON_SIZE,
        }));
    }
    let mut buf = Vec::with_capacity(usize::try_from(loc.size).unwrap_or(0));
    archive
        .section(loc)
        .read_to_end(&mut buf)
        .ctx("read archive", what)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_numbers_and_pax_sizes() {
        assert_eq!(tar_number(b"0000644\0"), Some(0o644));
        assert_eq!(tar_number(b"00000000012 "), Some(10));
        assert_eq!(tar_number(b"\0\0\0\0"), Some(0));
        assert_eq!(tar_number(&[0x80, 0, 0, 1, 0]), Some(256));
        assert_eq!(tar_number(b"9x"), None);
        assert_eq!(
            pax_size(b"16 size=1234567\n20 path=some/file\n"),
            Some(1_234_567)
        );
        assert_eq!(pax_size(b"19 path=some/file\n"), None);
        assert_eq!(pax_size(b"999 size=1\n"), None);
    }
}
