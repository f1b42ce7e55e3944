//! Loading a bundle: `config.json` parsed into the OCI types, paths made absolute
//! (`root.path` and bind sources are relative to the bundle), and the settings this
//! runtime refuses or ignores sorted out before anything is created.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxSeccompAction, Spec};

use crate::error::{Error, Result};

/// A bundle ready to run.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory (absolute, canonical).
    pub dir: PathBuf,
    /// The config, `root.path` absolute, bind sources absolute.
    pub spec: Spec,
    /// The rootfs (absolute, canonical).
    pub rootfs: PathBuf,
}

/// Loads `dir/config.json` and resolves its paths.
pub fn load(dir: &Path) -> Result<Bundle> {
    let dir = dir.canonicalize().map_err(Error::io("open bundle", dir))?;
    let path = dir.join("config.json");
    let data = std::fs::read(&path).map_err(Error::io("read", &path))?;
    let mut spec: Spec = serde_json::from_slice(&data)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .ok_or_else(|| Error::Config("config.json: root is not set".into()))?;
    let rootfs = dir.join(&root);
    let rootfs = rootfs
        .canonicalize()
        .map_err(Error::io("rootfs", &rootfs))?;
    if !rootfs.is_dir() {
        return Err(Error::Config(format!(
            "rootfs {} is not a directory",
            rootfs.display()
        )));
    }
    if let Some(r) = spec.root_mut().as_mut() {
        r.set_path(rootfs.clone());
    }
    if spec.process().is_none() {
        return Err(Error::Config(
            "config.json: process is not set (there is nothing to run)".into(),
        ));
    }
    absolute_bind_sources(&mut spec, &dir);
    Ok(Bundle { dir, spec, rootfs })
}

/// Bind mounts with a relative source name a path relative to the bundle.
fn absolute_bind_sources(spec: &mut Spec, dir: &Path) {
    let Some(mounts) = spec.mounts_mut().as_mut() else {
        return;
    };
    for m in mounts.iter_mut() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if !bind {
            continue;
        }
        if let Some(src) = m.source().clone().filter(|s| s.is_relative()) {
            m.set_source(Some(dir.join(src)));
        }
    }
}

/// What the host offers for the security labels a config may ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lsm {
    /// AppArmor is enabled.
    pub apparmor: bool,
    /// SELinux is enabled.
    pub selinux: bool,
}

impl Lsm {
    /// Reads it from `/sys`.
    pub fn detect() -> Lsm {
        let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y");
        let selinux = Path::new("/sys/fs/selinux/enforce").exists();
        Lsm { apparmor, selinux }
    }
}

/// Refuses what this runtime cannot honour; returns warnings for what it ignores. Labels
/// of a security module the host does not run are ignored with a warning (as runc and
/// crun do); on a host that runs it they are refused, since they cannot be applied.
pub fn check_support(spec: &Spec, lsm: Lsm) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let process = spec.process().as_ref();
    let linux = spec.linux().as_ref();
    let labels = [
        (
            "process.apparmorProfile",
            process.and_then(|p| p.apparmor_profile().clone()),
            lsm.apparmor,
            "AppArmor",
        ),
        (
            "process.selinuxLabel",
            process.and_then(|p| p.selinux_label().clone()),
            lsm.selinux,
            "SELinux",
        ),
        (
            "linux.mountLabel",
            linux.and_then(|l| l.mount_label().clone()),
            lsm.selinux,
            "SELinux",
        ),
    ];
    for (field, value, enabled, module) in labels {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        if enabled {
            return Err(Error::Unsupported(format!(
                "{field} {value:?}: {module} labels are not supported by mydocker-runc"
            )));
        }
        warnings.push(format!(
            "{field} {value:?} ignored: {module} is not enabled on this host"
        ));
    }
    if let Some(seccomp) = linux.and_then(|l| l.seccomp().as_ref()) {
        let notify = seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
            || seccomp
                .syscalls()
                .iter()
                .flatten()
                .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
        if notify || seccomp.listener_path().is_some() {
            return Err(Error::Unsupported(
                "seccomp action SCMP_ACT_NOTIFY (a seccomp agent, listenerPath) is not \
                 supported by mydocker-runc"
                    .into(),
            ));
        }
    }
    if linux.is_some_and(|l| l.intel_rdt().is_some()) {
        warnings.push("linux.intelRdt ignored: not supported by mydocker-runc".into());
    }
    if linux.is_some_and(|l| l.personality().is_some()) {
        warnings.push("linux.personality ignored: not supported by mydocker-runc".into());
    }
    if process.is_some_and(|p| p.scheduler().is_some() || p.io_priority().is_some()) {
        warnings.push(
            "process.scheduler and process.ioPriority ignored: not supported by mydocker-runc"
                .into(),
        );
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxSeccompBuilder, ProcessBuilder};

    #[test]
    fn labels_are_ignored_without_their_module_and_refused_with_it() {
        let mut spec = Spec::default();
        spec.set_process(Some(
            ProcessBuilder::default()
                .apparmor_profile("acme")
                .build()
                .unwrap(),
        ));
        let w = check_support(&spec, Lsm::default()).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("AppArmor"), "{w:?}");
        let err = check_support(
            &spec,
            Lsm {
                apparmor: true,
                selinux: false,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
    }

    #[test]
    fn seccomp_notify_is_refused() {
        let mut spec = Spec::default();
        spec.set_linux(Some(
            LinuxBuilder::default()
                .seccomp(
                    LinuxSeccompBuilder::default()
                        .default_action(LinuxSeccompAction::ScmpActNotify)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        ));
        let err = check_support(&spec, Lsm::default()).unwrap_err();
        assert!(err.to_string().contains("SCMP_ACT_NOTIFY"), "{err}");
    }

    #[test]
    fn paths_are_resolved_against_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let mut spec = Spec::default();
        let mut m = oci_spec::runtime::Mount::default();
        m.set_destination("/data".into());
        m.set_typ(Some("bind".into()));
        m.set_source(Some("data".into()));
        spec.set_mounts(Some(vec![m]));
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec(&spec).unwrap(),
        )
        .unwrap();
        let b = load(dir.path()).unwrap();
        let canon = dir.path().canonicalize().unwrap();
        assert_eq!(b.rootfs, canon.join("rootfs"));
        assert_eq!(
            b.spec.root().as_ref().unwrap().path(),
            &canon.join("rootfs")
        );
        let src = b.spec.mounts().as_ref().unwrap()[0].source().clone();
        assert_eq!(src, Some(canon.join("data")));
        std::fs::write(dir.path().join("config.json"), b"{\"ociVersion\": 1").unwrap();
        assert!(matches!(load(dir.path()), Err(Error::Config(_))));
    }
}
