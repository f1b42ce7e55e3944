//! A minimal writer for the `newc` cpio format, the format the kernel unpacks as initramfs
//! (Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! Only what an initramfs needs: directories, regular files, symlinks and device nodes, no
//! hard links. The caller writes parents before children.

use std::io::{self, Read, Write};

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// Streams cpio `newc` entries into `out`.
#[derive(Debug)]
pub(crate) struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

/// Device numbers of a character device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DevNum {
    pub(crate) major: u32,
    pub(crate) minor: u32,
}

impl<W: Write> CpioWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    pub(crate) fn dir(&mut self, path: &str, perm: u32) -> io::Result<()> {
        self.header(path, S_IFDIR | (perm & 0o7777), 2, 0, None)
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.header(path, S_IFLNK | 0o777, 1, target.len() as u64, None)?;
        self.put(target.as_bytes())?;
        self.pad()
    }

    pub(crate) fn char_dev(&mut self, path: &str, perm: u32, dev: DevNum) -> io::Result<()> {
        self.header(path, S_IFCHR | (perm & 0o7777), 1, 0, Some(dev))
    }

    /// Writes a regular file of exactly `len` bytes read from `data`.
    pub(crate) fn file(
        &mut self,
        path: &str,
        perm: u32,
        len: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        if len > u64::from(u32::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path}: {len} bytes is too big for cpio newc"),
            ));
        }
        self.header(path, S_IFREG | (perm & 0o7777), 1, len, None)?;
        let copied = io::copy(&mut data.take(len), &mut self.out)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path}: expected {len} bytes, got {copied}"),
            ));
        }
        self.written += copied;
        self.pad()
    }

    /// Writes the trailer (padded to 512 bytes) and returns the underlying writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, 1, 0, None)?;
        while !self.written.is_multiple_of(512) {
            self.put(&[0])?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn header(
        &mut self,
        path: &str,
        mode: u32,
        nlink: u32,
        size: u64,
        dev: Option<DevNum>,
    ) -> io::Result<()> {
        let name = path.trim_start_matches('/');
        if name.is_empty() || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad cpio entry name {path:?}"),
            ));
        }
        let ino = if name == "TRAILER!!!" {
            0
        } else {
            self.next_ino += 1;
            self.next_ino
        };
        let rdev = dev.unwrap_or(DevNum { major: 0, minor: 0 });
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: reproducible images
            size as u32,
            0, // devmajor
            0, // devminor
            rdev.major,
            rdev.minor,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut head = String::with_capacity(110);
        head.push_str("070701");
        for f in fields {
            head.push_str(&format!("{f:08x}"));
        }
        self.put(head.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        while !self.written.is_multiple_of(4) {
            self.put(&[0])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed entry: (name, mode, rdev, data).
    type Entry = (String, u32, (u32, u32), Vec<u8>);

    /// An independent reader of the format, written from the kernel's description, to check
    /// the writer round-trips.
    fn parse(mut buf: &[u8]) -> Vec<Entry> {
        let mut out = Vec::new();
        let total = buf.len();
        loop {
            let pos = total - buf.len();
            assert_eq!(pos % 4, 0, "header not 4-byte aligned");
            assert_eq!(&buf[..6], b"070701");
            let field = |i: usize| {
                let s = std::str::from_utf8(&buf[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap()
            };
            let (mode, size, rmaj, rmin, namesize) =
                (field(1), field(6), field(9), field(10), field(11));
            let name_end = 110 + namesize as usize;
            let name = std::str::from_utf8(&buf[110..name_end - 1])
                .unwrap()
                .to_owned();
            assert_eq!(buf[name_end - 1], 0);
            let data_start = name_end.next_multiple_of(4);
            let data_end = data_start + size as usize;
            let data = buf[data_start..data_end].to_vec();
            buf = &buf[data_end.next_multiple_of(4)..];
            if name == "TRAILER!!!" {
                assert!(buf.iter().all(|b| *b == 0));
                assert_eq!(total % 512, 0);
                return out;
            }
            out.push((name, mode, (rmaj, rmin), data));
        }
    }

    #[test]
    fn round_trips_every_entry_kind() {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/etc", 0o755).unwrap();
        w.file("etc/hosts", 0o644, 5, &mut &b"hello"[..]).unwrap();
        w.file("etc/empty", 0o600, 0, &mut &b""[..]).unwrap();
        w.symlink("bin", "usr/bin").unwrap();
        w.char_dev("dev/console", 0o600, DevNum { major: 5, minor: 1 })
            .unwrap();
        let buf = w.finish().unwrap();
        let entries = parse(&buf);
        assert_eq!(
            entries,
            vec![
                ("etc".into(), 0o040_755, (0, 0), vec![]),
                ("etc/hosts".into(), 0o100_644, (0, 0), b"hello".to_vec()),
                ("etc/empty".into(), 0o100_600, (0, 0), vec![]),
                ("bin".into(), 0o120_777, (0, 0), b"usr/bin".to_vec()),
                ("dev/console".into(), 0o020_600, (5, 1), vec![]),
            ]
        );
    }

    #[test]
    fn short_file_data_is_an_error() {
        let mut w = CpioWriter::new(Vec::new());
        let err = w.file("a", 0o644, 10, &mut &b"abc"[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn busybox_cpio_reads_it() {
        // An independent implementation (busybox-static is a test dependency) lists the
        // archive with the same names, sizes, kinds and link targets.
        let mut w = CpioWriter::new(Vec::new());
        w.dir("d", 0o755).unwrap();
        w.file("d/f", 0o640, 3, &mut &b"xyz"[..]).unwrap();
        w.symlink("d/l", "f").unwrap();
        let buf = w.finish().unwrap();
        let mut child = std::process::Command::new("busybox")
            .args(["cpio", "-t", "-v"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&buf).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listing = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<Vec<&str>> = listing
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines.len(), 3, "{listing}");
        assert_eq!((lines[0][0], lines[0][5]), ("drwxr-xr-x", "d"));
        assert_eq!(
            (lines[1][0], lines[1][2], lines[1][5]),
            ("-rw-r-----", "3", "d/f")
        );
        assert_eq!(
            (lines[2][0], &lines[2][5..]),
            ("lrwxrwxrwx", &["d/l", "->", "f"][..])
        );
    }
}
