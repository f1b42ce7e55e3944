//! [`LayerTar`]: layer tars built in memory, including deliberately malformed entries.

use std::io;

/// Builds layer tars in memory.
pub struct LayerTar {
    b: tar::Builder<Vec<u8>>,
    mtime: u64,
    uid: u64,
    gid: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for LayerTar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerTar").finish_non_exhaustive()
    }
}

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerTar {
    /// An empty tar.
    pub fn new() -> Self {
        LayerTar {
            b: tar::Builder::new(Vec::new()),
            mtime: 1_700_000_000,
            uid: 0,
            gid: 0,
            xattrs: Vec::new(),
        }
    }

    /// Owner of the following entries.
    pub fn owner(&mut self, uid: u64, gid: u64) -> &mut Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Adds an xattr (PAX `SCHILY.xattr.NAME`) to the next entry.
    pub fn xattr(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.xattrs
            .push((format!("SCHILY.xattr.{name}"), value.to_vec()));
        self
    }

    fn header(&mut self, t: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        if !self.xattrs.is_empty() {
            let recs = std::mem::take(&mut self.xattrs);
            let _ = crate::driver::append_pax_for_tests(&mut self.b, &recs);
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(t);
        h.set_mode(mode);
        h.set_uid(self.uid);
        h.set_gid(self.gid);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }

    /// A directory.
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Directory, mode, 0);
        let _ = self.b.append_data(&mut h, path, io::empty());
        self
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, content: &[u8], mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Regular, mode, content.len() as u64);
        let _ = self.b.append_data(&mut h, path, content);
        self
    }

    /// A symlink.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = self.header(tar::EntryType::Symlink, 0o777, 0);
        let _ = self.b.append_link(&mut h, path, target);
        self
    }

    /// A hard link to `target` (a path in the archive).
    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = self.header(tar::EntryType::Link, 0o644, 0);
        let _ = self.b.append_link(&mut h, path, target);
        self
    }

    /// A fifo.
    pub fn fifo(&mut self, path: &str, mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Fifo, mode, 0);
        let _ = self.b.append_data(&mut h, path, io::empty());
        self
    }

    /// A character device.
    pub fn char_dev(&mut self, path: &str, major: u32, minor: u32, mode: u32) -> &mut Self {
        let mut h = self.header(tar::EntryType::Char, mode, 0);
        let _ = h.set_device_major(major);
        let _ = h.set_device_minor(minor);
        let _ = self.b.append_data(&mut h, path, io::empty());
        self
    }

    /// A whiteout deleting `path` (written as `dir/.wh.name`).
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&wh, b"", 0o644)
    }

    /// Marks directory `dir` opaque (`dir/.wh..wh..opq`).
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        let p = if dir.is_empty() {
            ".wh..wh..opq".to_owned()
        } else {
            format!("{dir}/.wh..wh..opq")
        };
        self.file(&p, b"", 0o644)
    }

    /// An entry whose name and link name bytes are written into the ustar header as they
    /// are (no validation: `..`, absolute paths), with `data` as content.
    pub fn raw(
        &mut self,
        t: tar::EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        data: &[u8],
    ) -> &mut Self {
        let mut h = self.header(t, mode, data.len() as u64);
        {
            let old = h.as_old_mut();
            let n = name.len().min(old.name.len());
            old.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(old.linkname.len());
            old.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_cksum();
        let _ = self.b.append(&h, data);
        self
    }

    /// A PAX extended header with these records, applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let recs: Vec<(String, Vec<u8>)> = records
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        let _ = crate::driver::append_pax_for_tests(&mut self.b, &recs);
        self
    }

    /// Finishes the archive and returns its bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        let _ = self.b.finish();
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap_or_default()
    }
}
