//! Parsing of OCI mount options (`["rbind", "ro", "nosuid", "mode=755"]`) into what the
//! new mount API wants: per-mount attributes, propagation, and filesystem parameters;
//! and into what `mount(2)` wants (flags and a data string) for the filesystems whose
//! options do not fit `fsconfig` (overlay's long `lowerdir`, aufs's `br`).

use rustix::mount::{MountAttrFlags, MountFlags};

/// Propagation asked for a mount (`private`, `rslave`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Propagation {
    /// `MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED` or `MS_UNBINDABLE`.
    pub(crate) kind: u64,
    /// The `r` variants apply to the whole subtree.
    pub(crate) recursive: bool,
}

impl Propagation {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (recursive, base) = match s.strip_prefix('r') {
            Some(b) if ["private", "slave", "shared", "unbindable"].contains(&b) => (true, b),
            _ => (false, s),
        };
        let kind = match base {
            "private" => libc::MS_PRIVATE,
            "slave" => libc::MS_SLAVE,
            "shared" => libc::MS_SHARED,
            "unbindable" => libc::MS_UNBINDABLE,
            _ => return None,
        };
        Some(Self { kind, recursive })
    }
}

/// A filesystem parameter for `fsconfig`: a bare flag or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FsParam {
    Flag(String),
    Value(String, String),
}

/// Parsed mount options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// `bind` or `rbind` given.
    pub(crate) bind: bool,
    /// `rbind`.
    pub(crate) recursive: bool,
    /// Attributes to set (`MOUNT_ATTR_*`).
    pub(crate) attr_set: MountAttrFlags,
    /// Attributes to clear (`rw` clears `RDONLY`...).
    pub(crate) attr_clr: MountAttrFlags,
    /// Propagation, if any.
    pub(crate) propagation: Option<Propagation>,
    /// Filesystem parameters (`mode=755`, `size=64m`, `newinstance`, superblock flags).
    pub(crate) params: Vec<FsParam>,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            bind: false,
            recursive: false,
            attr_set: MountAttrFlags::empty(),
            attr_clr: MountAttrFlags::empty(),
            propagation: None,
            params: Vec::new(),
        }
    }
}

impl MountOptions {
    pub(crate) fn parse<S: AsRef<str>>(options: &[S]) -> Self {
        let mut o = MountOptions::default();
        for opt in options {
            let opt = opt.as_ref();
            if let Some(p) = Propagation::parse(opt) {
                o.propagation = Some(p);
                continue;
            }
            let set = |o: &mut MountOptions, f: MountAttrFlags| {
                o.attr_set |= f;
                o.attr_clr &= !f;
            };
            let clr = |o: &mut MountOptions, f: MountAttrFlags| {
                o.attr_clr |= f;
                o.attr_set &= !f;
            };
            let atime = |o: &mut MountOptions, f: MountAttrFlags| {
                o.attr_set &= !MountAttrFlags::MOUNT_ATTR__ATIME;
                o.attr_set |= f;
                o.attr_clr |= MountAttrFlags::MOUNT_ATTR__ATIME;
            };
            match opt {
                "bind" => o.bind = true,
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                }
                "ro" => set(&mut o, MountAttrFlags::MOUNT_ATTR_RDONLY),
                "rw" => clr(&mut o, MountAttrFlags::MOUNT_ATTR_RDONLY),
                "nosuid" => set(&mut o, MountAttrFlags::MOUNT_ATTR_NOSUID),
                "suid" => clr(&mut o, MountAttrFlags::MOUNT_ATTR_NOSUID),
                "nodev" => set(&mut o, MountAttrFlags::MOUNT_ATTR_NODEV),
                "dev" => clr(&mut o, MountAttrFlags::MOUNT_ATTR_NODEV),
                "noexec" => set(&mut o, MountAttrFlags::MOUNT_ATTR_NOEXEC),
                "exec" => clr(&mut o, MountAttrFlags::MOUNT_ATTR_NOEXEC),
                "nodiratime" => set(&mut o, MountAttrFlags::MOUNT_ATTR_NODIRATIME),
                "diratime" => clr(&mut o, MountAttrFlags::MOUNT_ATTR_NODIRATIME),
                "nosymfollow" => set(&mut o, MountAttrFlags::MOUNT_ATTR_NOSYMFOLLOW),
                "symfollow" => clr(&mut o, MountAttrFlags::MOUNT_ATTR_NOSYMFOLLOW),
                "noatime" => atime(&mut o, MountAttrFlags::MOUNT_ATTR_NOATIME),
                "strictatime" => atime(&mut o, MountAttrFlags::MOUNT_ATTR_STRICTATIME),
                "relatime" => atime(&mut o, MountAttrFlags::MOUNT_ATTR_RELATIME),
                // Accepted by mount(8) but meaningless here.
                "defaults" | "auto" | "noauto" | "user" | "nouser" | "async" | "atime"
                | "norelatime" | "nostrictatime" | "remount" | "loud" => {}
                "" => {}
                // Superblock flags and filesystem options go to fsconfig.
                other => match other.split_once('=') {
                    Some((k, v)) => o.params.push(FsParam::Value(k.to_string(), v.to_string())),
                    None => o.params.push(FsParam::Flag(other.to_string())),
                },
            }
        }
        o
    }
}

impl MountOptions {
    /// The `mount(2)` form: per-mount attributes become `MS_*` flags, and so do the
    /// superblock flag words (`sync`, `dirsync`, `lazytime`, `silent`, `mand`); every
    /// other parameter is an item of the data string, in the order given.
    pub(crate) fn legacy(&self) -> (MountFlags, Vec<String>) {
        let attrs = [
            (MountAttrFlags::MOUNT_ATTR_RDONLY, MountFlags::RDONLY),
            (MountAttrFlags::MOUNT_ATTR_NOSUID, MountFlags::NOSUID),
            (MountAttrFlags::MOUNT_ATTR_NODEV, MountFlags::NODEV),
            (MountAttrFlags::MOUNT_ATTR_NOEXEC, MountFlags::NOEXEC),
            (
                MountAttrFlags::MOUNT_ATTR_NODIRATIME,
                MountFlags::NODIRATIME,
            ),
            (
                MountAttrFlags::MOUNT_ATTR_NOSYMFOLLOW,
                MountFlags::NOSYMFOLLOW,
            ),
        ];
        let mut flags = MountFlags::empty();
        for (attr, flag) in attrs {
            if self.attr_set.contains(attr) {
                flags |= flag;
            }
        }
        // RELATIME is 0 among the attributes: the kernel's default for mount(2) too.
        let atime = self.attr_set & MountAttrFlags::MOUNT_ATTR__ATIME;
        if atime == MountAttrFlags::MOUNT_ATTR_NOATIME {
            flags |= MountFlags::NOATIME;
        } else if atime == MountAttrFlags::MOUNT_ATTR_STRICTATIME {
            flags |= MountFlags::STRICTATIME;
        }
        let mut data = Vec::new();
        for p in &self.params {
            match p {
                FsParam::Flag(k) => match k.as_str() {
                    "sync" => flags |= MountFlags::SYNCHRONOUS,
                    "dirsync" => flags |= MountFlags::DIRSYNC,
                    "lazytime" => flags |= MountFlags::LAZYTIME,
                    "silent" => flags |= MountFlags::SILENT,
                    "mand" => flags |= MountFlags::PERMIT_MANDATORY_FILE_LOCKING,
                    _ => data.push(k.clone()),
                },
                FsParam::Value(k, v) => data.push(format!("{k}={v}")),
            }
        }
        (flags, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_dev_mount() {
        let o = MountOptions::parse(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert!(!o.bind);
        assert!(o.attr_set.contains(MountAttrFlags::MOUNT_ATTR_NOSUID));
        assert!(o.attr_set.contains(MountAttrFlags::MOUNT_ATTR_STRICTATIME));
        assert!(o.attr_clr.contains(MountAttrFlags::MOUNT_ATTR__ATIME));
        assert_eq!(
            o.params,
            vec![
                FsParam::Value("mode".into(), "755".into()),
                FsParam::Value("size".into(), "65536k".into())
            ]
        );
    }

    #[test]
    fn bind_options_and_overrides() {
        let o = MountOptions::parse(&["rbind", "ro", "rprivate", "rw", "nodev"]);
        assert!(o.bind && o.recursive);
        assert!(!o.attr_set.contains(MountAttrFlags::MOUNT_ATTR_RDONLY));
        assert!(o.attr_clr.contains(MountAttrFlags::MOUNT_ATTR_RDONLY));
        assert!(o.attr_set.contains(MountAttrFlags::MOUNT_ATTR_NODEV));
        assert_eq!(
            o.propagation,
            Some(Propagation {
                kind: libc::MS_PRIVATE,
                recursive: true
            })
        );
        assert!(o.params.is_empty());
    }

    #[test]
    fn devpts_flags_become_params() {
        let o = MountOptions::parse(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.params[0], FsParam::Flag("newinstance".into()));
        assert_eq!(o.params.len(), 4);
        assert!(o.attr_set.contains(MountAttrFlags::MOUNT_ATTR_NOEXEC));
    }

    #[test]
    fn propagation_words() {
        assert!(!Propagation::parse("slave").unwrap().recursive);
        assert_eq!(Propagation::parse("rshared").unwrap().kind, libc::MS_SHARED);
        assert!(Propagation::parse("ro").is_none());
        assert!(Propagation::parse("rbind").is_none());
    }

    #[test]
    fn legacy_form_of_overlay_and_aufs_options() {
        let o = MountOptions::parse(&[
            "lowerdir=/l/2:/l/1",
            "upperdir=/u",
            "workdir=/w",
            "index=off",
            "volatile",
            "ro",
            "nodev",
            "noatime",
            "sync",
        ]);
        let (flags, data) = o.legacy();
        assert_eq!(
            flags,
            MountFlags::RDONLY | MountFlags::NODEV | MountFlags::NOATIME | MountFlags::SYNCHRONOUS
        );
        assert_eq!(
            data,
            [
                "lowerdir=/l/2:/l/1",
                "upperdir=/u",
                "workdir=/w",
                "index=off",
                "volatile"
            ]
        );
        let (flags, data) =
            MountOptions::parse(&["br=/rw=rw:/ro=ro+wh", "rw", "relatime"]).legacy();
        assert!(flags.is_empty());
        assert_eq!(data, ["br=/rw=rw:/ro=ro+wh"]);
    }
}
