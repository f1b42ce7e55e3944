//! Streaming looks at a layer tar as it is written, block by block: [`EntryCounter`]
//! counts entries (is a change set empty?) and [`MountPointFilter`] drops the empty
//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` that a RUN container's init
//! creates as mount points (docker keeps them out of commits too: they are its "init
//! layer").

use std::io::{self, Write};

const BLOCK: usize = 512;

/// The files a container's init may create as mount points.
const MOUNT_POINTS: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/// The size field of a header (octal, or GNU base-256).
fn size_of(h: &[u8]) -> u64 {
    let field = &h[124..136];
    if field[0] & 0x80 != 0 {
        return field[1..]
            .iter()
            .fold(0u64, |acc, b| acc.wrapping_shl(8) | u64::from(*b));
    }
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    u64::from_str_radix(text.trim(), 8).unwrap_or(0)
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn blocks(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64)
}

/// What the parser of a block stream is in.
#[derive(Debug, Default)]
struct Parser {
    buf: Vec<u8>,
    /// Data blocks left of the current entry.
    data_left: u64,
    /// Header blocks (and long-name/PAX data) of an entry not decided yet.
    pending: Vec<u8>,
    /// Data blocks left of a long-name or PAX header in `pending`.
    meta_left: u64,
    /// That header's type, size and data.
    meta: (u8, u64, Vec<u8>),
    long_name: Option<String>,
}

/// One parsed event.
enum Ev<'a> {
    /// A block to pass on as it is (data of a kept entry, end of archive).
    Pass(&'a [u8]),
    /// An entry's header sequence is complete: its path, type and size.
    Entry(String, u8, u64),
}

impl Parser {
    /// Feeds bytes; calls `f` for each event.
    fn feed(
        &mut self,
        data: &[u8],
        f: &mut dyn FnMut(&mut Parser, Ev<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        let mut off = 0;
        while self.buf.len() - off >= BLOCK {
            let block: Vec<u8> = self.buf[off..off + BLOCK].to_vec();
            off += BLOCK;
            self.block(&block, f)?;
        }
        self.buf.drain(..off);
        Ok(())
    }

    fn block(
        &mut self,
        b: &[u8],
        f: &mut dyn FnMut(&mut Parser, Ev<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.data_left > 0 {
            self.data_left -= 1;
            return f(self, Ev::Pass(b));
        }
        if self.meta_left > 0 {
            self.meta_left -= 1;
            self.pending.extend_from_slice(b);
            self.meta.2.extend_from_slice(b);
            if self.meta_left == 0 {
                self.end_meta();
            }
            return Ok(());
        }
        if b.iter().all(|c| *c == 0) {
            return f(self, Ev::Pass(b));
        }
        let typ = b[156];
        let size = size_of(b);
        self.pending.extend_from_slice(b);
        match typ {
            b'L' | b'x' | b'K' | b'g' => {
                self.meta_left = blocks(size);
                self.meta = (typ, size, Vec::new());
                if self.meta_left == 0 {
                    self.end_meta();
                }
                Ok(())
            }
            _ => {
                let name = self
                    .long_name
                    .take()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| {
                        let prefix = cstr(&b[345..500]);
                        let name = cstr(&b[..100]);
                        if prefix.is_empty() {
                            name
                        } else {
                            format!("{prefix}/{name}")
                        }
                    });
                self.data_left = if matches!(typ, b'0' | 0 | b'7') {
                    blocks(size)
                } else {
                    0
                };
                f(self, Ev::Entry(name, typ, size))
            }
        }
    }
}

impl Parser {
    /// A long-name or PAX header's data is complete: take the path from it.
    fn end_meta(&mut self) {
        let (typ, size, data) = std::mem::take(&mut self.meta);
        let data = &data[..data.len().min(size as usize)];
        match typ {
            b'L' => self.long_name = Some(cstr(data)),
            b'x' => {
                // Records: "<len> <key>=<value>\n".
                let mut rest = data;
                while let Some(sp) = rest.iter().position(|c| *c == b' ') {
                    let len: usize = std::str::from_utf8(&rest[..sp])
                        .ok()
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    if len <= sp || len > rest.len() {
                        break;
                    }
                    let record = &rest[sp + 1..len];
                    if let Some(v) = record.strip_prefix(b"path=") {
                        let v = v.strip_suffix(b"\n").unwrap_or(v);
                        self.long_name = Some(String::from_utf8_lossy(v).into_owned());
                    }
                    rest = &rest[len..];
                }
            }
            _ => {}
        }
    }
}

/// Counts the entries of a tar written to it.
#[derive(Debug, Default)]
pub(crate) struct EntryCounter {
    parser: Parser,
    entries: usize,
}

impl EntryCounter {
    /// Entries seen.
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }
}

impl Write for EntryCounter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut n = 0;
        self.parser.feed(data, &mut |p, ev| {
            if let Ev::Entry(..) = ev {
                n += 1;
                p.pending.clear();
            }
            Ok(())
        })?;
        self.entries += n;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Passes a tar through without the empty mount-point files of a container's init.
pub(crate) struct MountPointFilter<'a> {
    out: &'a mut dyn Write,
    parser: Parser,
    dropping: bool,
}

impl<'a> MountPointFilter<'a> {
    pub(crate) fn new(out: &'a mut dyn Write) -> Self {
        MountPointFilter {
            out,
            parser: Parser::default(),
            dropping: false,
        }
    }
}

fn is_mount_point(name: &str, typ: u8, size: u64) -> bool {
    let name = name.trim_start_matches("./").trim_start_matches('/');
    matches!(typ, b'0' | 0) && size == 0 && MOUNT_POINTS.contains(&name)
}

impl Write for MountPointFilter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let out = &mut *self.out;
        let dropping = &mut self.dropping;
        self.parser.feed(data, &mut |p, ev| match ev {
            Ev::Pass(b) if !*dropping || p.data_left == 0 && b.iter().all(|c| *c == 0) => {
                out.write_all(b)
            }
            Ev::Pass(_) => Ok(()),
            Ev::Entry(name, typ, size) => {
                let pending = std::mem::take(&mut p.pending);
                *dropping = is_mount_point(&name, typ, size);
                if *dropping {
                    Ok(())
                } else {
                    out.write_all(&pending)
                }
            }
        })?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn names(tar: &[u8]) -> Vec<String> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn mount_points_are_dropped_and_the_rest_passes() {
        let long = format!("dir/{}", "n".repeat(150));
        let tar = tar_of(&[
            ("etc/hosts", b""),
            ("etc/passwd", b"root:x:0:0::/:/bin/sh\n"),
            ("etc/hostname", b""),
            (long.as_str(), b"long"),
            ("etc/resolv.conf", b"nameserver 1.1.1.1\n"),
        ]);
        let mut out = Vec::new();
        let mut f = MountPointFilter::new(&mut out);
        for chunk in tar.chunks(100) {
            f.write_all(chunk).unwrap();
        }
        assert_eq!(
            names(&out),
            ["etc/passwd", long.as_str(), "etc/resolv.conf"]
        );
        let mut c = EntryCounter::default();
        c.write_all(&tar).unwrap();
        assert_eq!(c.entries(), 5);
        let mut c = EntryCounter::default();
        c.write_all(&tar_of(&[])).unwrap();
        assert_eq!(c.entries(), 0);
    }
}
