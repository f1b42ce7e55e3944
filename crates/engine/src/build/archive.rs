//! ADD's local archives: a tar, plain or compressed with gzip, bzip2, xz or zstd (told by
//! content, as docker does, not by name), extracted into the destination with owners,
//! modes and times kept. Entries never land outside the destination (no `..`, no
//! absolute names, no way through a symlink).

use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Whether a 512-byte block is a tar header (its checksum adds up).
fn is_tar_header(b: &[u8]) -> bool {
    if b.len() < 512 || b.iter().all(|c| *c == 0) {
        return false;
    }
    let field: String = b[148..156]
        .iter()
        .take_while(|c| **c != 0 && **c != b' ')
        .map(|c| *c as char)
        .collect();
    let Ok(stored) = u32::from_str_radix(field.trim(), 8) else {
        return false;
    };
    let sum: u32 = b[..512]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*c)
            }
        })
        .sum();
    sum == stored
}

fn read_up_to(r: &mut dyn Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The decompressed tar stream of `path`, or `None` when it is not an archive (ADD then
/// copies it as a file).
///
/// # Errors
/// An unreadable file.
pub(crate) fn open(path: &Path) -> Result<Option<Box<dyn Read>>> {
    let io = |e: std::io::Error| Error::io("reading", path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let magic = read_up_to(&mut file, 6).map_err(io)?;
    let file = BufReader::new(std::io::Cursor::new(magic.clone()).chain(file));
    let mut stream: Box<dyn Read> = match magic.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(file)),
        [b'B', b'Z', b'h', ..] => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => {
            Box::new(liblzma::read::XzDecoder::new_multi_decoder(file))
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            Box::new(zstd::stream::read::Decoder::new(file).map_err(io)?)
        }
        _ => Box::new(file),
    };
    // A compressed file that does not decompress is not an archive either.
    let Ok(head) = read_up_to(&mut stream, 512) else {
        return Ok(None);
    };
    if !is_tar_header(&head) {
        return Ok(None);
    }
    Ok(Some(Box::new(std::io::Cursor::new(head).chain(stream))))
}

/// Extracts the tar `reader` into `dest` (an existing directory).
///
/// # Errors
/// A broken archive, an entry that would escape `dest`, a write failure.
pub(crate) fn extract(
    reader: Box<dyn Read>,
    dest: &Path,
    cancelled: &dyn Fn() -> bool,
) -> Result<()> {
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(false);
    ar.set_overwrite(true);
    let err = |e: std::io::Error| Error::io("extracting into", dest, e);
    for entry in ar.entries().map_err(err)? {
        if cancelled() {
            return Err(super::cancelled());
        }
        let mut entry = entry.map_err(err)?;
        // `unpack_in` refuses `..`, absolute names and paths through symlinks that lead
        // out of `dest`.
        entry.unpack_in(dest).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o600);
        h.set_uid(7);
        h.set_gid(8);
        h.set_mtime(1_000_000);
        b.append_data(&mut h, "dir/f", &b"hi"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn archives_are_told_by_content_in_every_compression() {
        let d = tempfile::tempdir().unwrap();
        let tar = tar_bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar).unwrap();
        let zst = zstd::stream::encode_all(&tar[..], 1).unwrap();
        let cases: [(&str, Vec<u8>); 5] = [
            ("a.tar", tar.clone()),
            ("a.tgz", gz.finish().unwrap()),
            ("a.tbz", bz.finish().unwrap()),
            ("a.txz", xz.finish().unwrap()),
            ("a.tzst", zst),
        ];
        for (name, bytes) in cases {
            let p = d.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let out = d.path().join(format!("out-{name}"));
            std::fs::create_dir(&out).unwrap();
            let r = open(&p)
                .unwrap()
                .unwrap_or_else(|| panic!("{name} is an archive"));
            extract(r, &out, &|| false).unwrap();
            assert_eq!(std::fs::read_to_string(out.join("dir/f")).unwrap(), "hi");
        }
        let plain = d.path().join("plain.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"just text").unwrap();
        std::fs::write(&plain, gz.finish().unwrap()).unwrap();
        assert!(
            open(&plain).unwrap().is_none(),
            "gzip of a non-tar is a file"
        );
        std::fs::write(d.path().join("t.txt"), "text").unwrap();
        assert!(open(&d.path().join("t.txt")).unwrap().is_none());
    }

    #[test]
    fn entries_do_not_escape() {
        let d = tempfile::tempdir().unwrap();
        let mut raw = tar::Header::new_gnu();
        raw.set_size(1);
        raw.set_mode(0o644);
        let name = b"../evil";
        raw.as_old_mut().name[..name.len()].copy_from_slice(name);
        raw.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&raw, &b"x"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let r: Box<dyn Read> = Box::new(std::io::Cursor::new(bytes));
        let _ = extract(r, &out, &|| false);
        assert!(!d.path().join("evil").exists());
    }
}
