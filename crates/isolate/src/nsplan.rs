//! Which namespaces the init is cloned into, and what the parent does for the others.
//!
//! New namespaces are created by `clone(2)`, except the cgroup namespace, which the init
//! unshares once it is in its cgroup. Namespaces given by path are joined by the init
//! (user first, mount last), except the PID namespace: joining one only applies to the
//! children of the caller, so the parent enters it around the `clone` of the init
//! ([`NamespacePlan::in_pid_namespace`]) and returns to its own right after.
//!
//! With a user namespace given by path, the other new namespaces must belong to it: they
//! are not cloned but unshared by the init after it joined the user namespace (a new PID
//! namespace is refused in that case). A new user namespace gets the spec's uid and gid
//! mappings, written by the parent before the init reads its configuration
//! ([`write_id_maps`]).

use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::error::Error;
use crate::sys;

/// What [`Container::spawn`](crate::Container::spawn) does about the spec's namespaces.
#[derive(Debug)]
pub(crate) struct NamespacePlan {
    /// `CLONE_NEW*` flags of the init's `clone`.
    pub(crate) clone_flags: i32,
    /// The init is cloned into a new user namespace (mappings to write).
    pub(crate) new_user_namespace: bool,
    /// A PID namespace to clone the init into.
    pid_path: Option<PathBuf>,
}

impl NamespacePlan {
    pub(crate) fn new(spec: &Spec) -> Result<Self, Error> {
        let nss = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let mut plan = NamespacePlan {
            clone_flags: 0,
            new_user_namespace: false,
            pid_path: None,
        };
        let (mut user_path, mut new_pid) = (false, false);
        for ns in &nss {
            let t = ns.typ();
            if let Some(path) = ns.path() {
                match t {
                    LinuxNamespaceType::Time => {
                        return Err(Error::Unsupported {
                            what: "joining a time namespace".into(),
                        });
                    }
                    LinuxNamespaceType::Mount => refuse_own_mount_namespace(path)?,
                    LinuxNamespaceType::Pid => plan.pid_path = Some(path.clone()),
                    LinuxNamespaceType::User => user_path = true,
                    _ => {}
                }
                continue;
            }
            plan.clone_flags |= match t {
                LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
                LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
                LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
                LinuxNamespaceType::Pid => {
                    new_pid = true;
                    libc::CLONE_NEWPID
                }
                LinuxNamespaceType::Network => libc::CLONE_NEWNET,
                LinuxNamespaceType::Cgroup => 0,
                LinuxNamespaceType::User => {
                    plan.new_user_namespace = true;
                    libc::CLONE_NEWUSER
                }
                LinuxNamespaceType::Time => {
                    return Err(Error::Unsupported {
                        what: "a new time namespace".into(),
                    });
                }
            };
        }
        if user_path {
            if new_pid {
                return Err(Error::Unsupported {
                    what: "a new PID namespace inside a user namespace given by path".into(),
                });
            }
            // The init unshares them once it is in the user namespace.
            plan.clone_flags = 0;
        }
        if plan.new_user_namespace {
            let linux = spec.linux().as_ref();
            let has = |m: Option<&Vec<LinuxIdMapping>>| m.is_some_and(|m| !m.is_empty());
            if !has(linux.and_then(|l| l.uid_mappings().as_ref()))
                || !has(linux.and_then(|l| l.gid_mappings().as_ref()))
            {
                return Err(Error::InvalidSpec {
                    reason: "a new user namespace needs linux.uidMappings and linux.gidMappings",
                });
            }
        }
        Ok(plan)
    }

    /// Runs `launch` (the `clone` of the init) inside the PID namespace given by path, if
    /// any, and returns the calling process to its own PID namespace afterwards.
    pub(crate) fn in_pid_namespace<T>(
        &self,
        launch: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Some(path) = &self.pid_path else {
            return launch();
        };
        let open = |p: &Path| {
            rustix::fs::open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| Error::path("open namespace", p)(e.into()))
        };
        let own = open(Path::new("/proc/self/ns/pid"))?;
        let target = open(path)?;
        sys::setns(target.as_fd(), libc::CLONE_NEWPID)
            .map_err(Error::path("join the PID namespace", path))?;
        let launched = launch();
        sys::setns(own.as_fd(), libc::CLONE_NEWPID)
            .map_err(Error::sys("return to our own PID namespace"))?;
        launched
    }
}

/// Joining the mount namespace we are in would mount and `pivot_root` on the host.
fn refuse_own_mount_namespace(path: &Path) -> Result<(), Error> {
    let theirs = std::fs::metadata(path).map_err(Error::path("stat namespace", path))?;
    let ours = std::fs::metadata("/proc/self/ns/mnt")
        .map_err(Error::path("stat namespace", "/proc/self/ns/mnt"))?;
    if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
        return Err(Error::InvalidSpec {
            reason: "the mount namespace given by path is the runtime's own (the host's)",
        });
    }
    Ok(())
}

/// Writes the spec's `uidMappings` and `gidMappings` for the new user namespace of `pid`.
pub(crate) fn write_id_maps(pid: i32, spec: &Spec) -> io::Result<()> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    for (file, maps) in [
        ("uid_map", linux.uid_mappings()),
        ("gid_map", linux.gid_mappings()),
    ] {
        let text = map_text(maps.as_deref().unwrap_or_default());
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text)
            .map_err(|e| io::Error::new(e.kind(), format!("write {path}: {e}")))?;
    }
    Ok(())
}

/// The kernel's `ID-inside ID-outside length` lines.
fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxIdMappingBuilder, LinuxNamespaceBuilder};

    fn spec_with(nss: &[(LinuxNamespaceType, Option<&str>)]) -> Spec {
        let mut spec = Spec::default();
        let list = nss
            .iter()
            .map(|(t, p)| {
                let mut b = LinuxNamespaceBuilder::default().typ(*t);
                if let Some(p) = p {
                    b = b.path(*p);
                }
                b.build().unwrap()
            })
            .collect();
        spec.linux_mut()
            .get_or_insert_with(Default::default)
            .set_namespaces(Some(list));
        spec
    }

    #[test]
    fn flags_paths_and_refusals() {
        use LinuxNamespaceType::*;
        let plan =
            NamespacePlan::new(&spec_with(&[(Mount, None), (Pid, None), (Cgroup, None)])).unwrap();
        assert_eq!(plan.clone_flags, libc::CLONE_NEWNS | libc::CLONE_NEWPID);
        assert!(!plan.new_user_namespace);
        // Without a mount namespace the init only chroots.
        let plan = NamespacePlan::new(&spec_with(&[(Pid, None)])).unwrap();
        assert_eq!(plan.clone_flags, libc::CLONE_NEWPID);
        let err =
            NamespacePlan::new(&spec_with(&[(Mount, Some("/proc/self/ns/mnt"))])).unwrap_err();
        assert!(err.to_string().contains("host"), "{err}");
        let err = NamespacePlan::new(&spec_with(&[(Mount, None), (Time, None)])).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        let err = NamespacePlan::new(&spec_with(&[(Mount, None), (User, None)])).unwrap_err();
        assert!(err.to_string().contains("uidMappings"), "{err}");
        let plan = NamespacePlan::new(&spec_with(&[
            (Mount, None),
            (User, Some("/proc/1/ns/user")),
            (Network, None),
        ]))
        .unwrap();
        assert_eq!(
            plan.clone_flags, 0,
            "unshared by the init after joining the user ns"
        );
        let err = NamespacePlan::new(&spec_with(&[
            (Mount, None),
            (User, Some("/proc/1/ns/user")),
            (Pid, None),
        ]))
        .unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    }

    #[test]
    fn id_maps_are_kernel_lines() {
        let m = |c, h, s| {
            LinuxIdMappingBuilder::default()
                .container_id(c)
                .host_id(h)
                .size(s)
                .build()
                .unwrap()
        };
        assert_eq!(
            map_text(&[m(0u32, 1000u32, 2000u32), m(5000, 9000, 1)]),
            "0 1000 2000\n5000 9000 1\n"
        );
    }
}
