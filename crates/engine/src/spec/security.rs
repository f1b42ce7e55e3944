//! Capabilities, seccomp, `no_new_privileges` and device rules.

use crate::error::{Error, Result, invalid};
use crate::options::CreateOptions;
use std::path::Path;

/// The security settings of `--cap-add`, `--cap-drop`, `--privileged` and
/// `--security-opt` (`seccomp=unconfined|PROFILE.json`, `no-new-privileges[=true|false]`).
#[derive(Debug)]
pub struct Security {
    /// The capability sets.
    pub capabilities: oci_spec::runtime::LinuxCapabilities,
    /// The seccomp profile (`None`: unconfined).
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// `no_new_privileges`.
    pub no_new_privileges: bool,
}

/// Resolves the security options.
///
/// # Errors
/// An unknown capability or option, an unreadable or invalid seccomp profile.
pub fn security(opts: &CreateOptions) -> Result<Security> {
    let capabilities = isolate::caps::resolve(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    let mut seccomp_opt: Option<String> = None;
    let mut no_new_privileges = false;
    for opt in &opts.security_opt {
        let (key, value) = opt
            .split_once(['=', ':'])
            .map_or((opt.as_str(), None), |(k, v)| (k, Some(v)));
        match (key, value) {
            ("seccomp", Some(v)) => seccomp_opt = Some(v.to_owned()),
            ("no-new-privileges", None | Some("true")) => no_new_privileges = true,
            ("no-new-privileges", Some("false")) => no_new_privileges = false,
            ("label" | "apparmor", _) => {}
            _ => invalid!("invalid --security-opt: {opt:?}"),
        }
    }
    let Some(arch) = isolate::seccomp::Arch::native() else {
        invalid!("seccomp profiles are not available on this architecture");
    };
    let seccomp = match seccomp_opt.as_deref() {
        Some("unconfined") => None,
        // A privileged container runs without seccomp unless a profile is given.
        None if opts.privileged => None,
        None => Some(isolate::seccomp::docker_default(arch, &capabilities)),
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::os(format!("opening seccomp profile ({path}) failed"), e))?;
            isolate::seccomp::from_docker_json(&bytes, arch, &capabilities)
                .map_err(|e| Error::Invalid(format!("decoding seccomp profile {path}: {e}")))?
        }
    };
    Ok(Security {
        capabilities,
        seccomp,
        no_new_privileges,
    })
}

/// Docker's default device cgroup rules: deny everything, allow `mknod` of any device,
/// and read/write/mknod of the harmless ones (null, zero, full, random, urandom, tty,
/// console, pts, ptmx, tun). Privileged containers may use every device.
pub fn device_rules(privileged: bool) -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let rule = |allow: bool,
                typ: Option<LinuxDeviceType>,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_owned()));
        r
    };
    if privileged {
        return vec![rule(true, Some(LinuxDeviceType::A), None, None, "rwm")];
    }
    let c = Some(LinuxDeviceType::C);
    vec![
        rule(false, Some(LinuxDeviceType::A), None, None, "rwm"),
        rule(true, c, None, None, "m"),
        rule(true, Some(LinuxDeviceType::B), None, None, "m"),
        rule(true, c, Some(1), Some(3), "rwm"),
        rule(true, c, Some(1), Some(5), "rwm"),
        rule(true, c, Some(1), Some(7), "rwm"),
        rule(true, c, Some(1), Some(8), "rwm"),
        rule(true, c, Some(1), Some(9), "rwm"),
        rule(true, c, Some(5), Some(0), "rwm"),
        rule(true, c, Some(5), Some(1), "rwm"),
        rule(true, c, Some(5), Some(2), "rwm"),
        rule(true, c, Some(136), None, "rwm"),
        rule(true, c, Some(10), Some(200), "rwm"),
    ]
}

/// The host's device nodes under `dev` that a `--privileged` container gets, as docker
/// (runc's `HostDevices`) lists them: every character and block device, recursively,
/// except the directories of pseudo terminals, shared memory, message queues and file
/// descriptors, `console`, and `ptmx` (the container keeps its own devpts).
pub fn host_devices(dev: &std::path::Path) -> Vec<oci_spec::runtime::LinuxDevice> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = Vec::new();
    let mut stack = vec![dev.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            let ft = m.file_type();
            if ft.is_dir() {
                if !matches!(
                    name.as_str(),
                    "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
                ) {
                    stack.push(e.path());
                }
                continue;
            }
            let typ = if ft.is_char_device() {
                oci_spec::runtime::LinuxDeviceType::C
            } else if ft.is_block_device() {
                oci_spec::runtime::LinuxDeviceType::B
            } else {
                continue;
            };
            if matches!(name.as_str(), "console" | "ptmx") {
                continue;
            }
            let Ok(rel) = e.path().strip_prefix(dev).map(std::path::Path::to_path_buf) else {
                continue;
            };
            out.push(device_node(std::path::Path::new("/dev").join(rel), typ, &m));
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

/// The spec's entry for a host device node of `meta`, made at `path` in the container.
fn device_node(
    path: std::path::PathBuf,
    typ: oci_spec::runtime::LinuxDeviceType,
    meta: &std::fs::Metadata,
) -> oci_spec::runtime::LinuxDevice {
    use std::os::unix::fs::MetadataExt;
    let mut d = oci_spec::runtime::LinuxDevice::default();
    d.set_path(path);
    d.set_typ(typ);
    d.set_major(i64::from(rustix::fs::major(meta.rdev())));
    d.set_minor(i64::from(rustix::fs::minor(meta.rdev())));
    d.set_file_mode(Some(meta.mode() & 0o7777));
    d.set_uid(Some(meta.uid()));
    d.set_gid(Some(meta.gid()));
    d
}

/// The parts of `--device HOST[:CONTAINER][:PERMISSIONS]` (the container path defaults
/// to the host's, the permissions to `rwm`); no file is looked at.
///
/// # Errors
/// A malformed specification.
pub fn device_paths(arg: &str) -> Result<(&str, &str, &str)> {
    let valid_perms =
        |p: &str| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = arg.split(':').collect();
    Ok(match parts[..] {
        [h] => (h, h, "rwm"),
        [h, p] if valid_perms(p) => (h, h, p),
        [h, c] => (h, c, "rwm"),
        [h, c, p] if valid_perms(p) => (h, c, p),
        _ => invalid!("invalid device specification: {arg}"),
    })
}

/// A device node to make in the container and the cgroup rule that allows it.
pub(crate) type UserDevice = (
    oci_spec::runtime::LinuxDevice,
    oci_spec::runtime::LinuxDeviceCgroup,
);

/// One `--device HOST[:CONTAINER][:PERMISSIONS]` (docker's syntax: the container path
/// defaults to the host's, the permissions, a subset of `rwm`, to `rwm`): the nodes to
/// make in the container and the cgroup rules that allow them. A directory gives every
/// device node under it (as docker: recursively, symbolic links and other files skipped),
/// at the same place under the container path; a symbolic link is followed first.
///
/// # Errors
/// docker's messages for a bad format, or a host path that is neither a device node nor
/// a directory holding some.
pub fn user_devices(arg: &str) -> Result<Vec<UserDevice>> {
    let (host, container, perms) = device_paths(arg)?;
    if !container.starts_with('/') {
        invalid!("bad format for path: {container}");
    }
    let gathering = |why: &str| {
        Error::Invalid(format!(
            "error gathering device information while adding custom device \"{host}\": {why}"
        ))
    };
    let meta = std::fs::metadata(host).map_err(|e| {
        gathering(&match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
            _ => e.to_string(),
        })
    })?;
    if let Some(dev) = device_of(Path::new(container), &meta, perms) {
        return Ok(vec![dev]);
    }
    let mut out = Vec::new();
    if meta.is_dir() {
        // The directory as the link (if any) names it, so that the nodes keep their
        // place under it.
        let root = std::fs::canonicalize(host).map_err(|e| gathering(&e.to_string()))?;
        devices_under(&root, Path::new(container), perms, &mut out);
    }
    if out.is_empty() {
        return Err(gathering("not a device node"));
    }
    Ok(out)
}

/// The node and cgroup rule of a device whose metadata is `meta`, to appear at `path`;
/// `None` when it is not a character or block device.
fn device_of(path: &Path, meta: &std::fs::Metadata, perms: &str) -> Option<UserDevice> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    use std::os::unix::fs::FileTypeExt;
    let typ = if meta.file_type().is_char_device() {
        LinuxDeviceType::C
    } else if meta.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let node = device_node(path.to_path_buf(), typ, meta);
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true);
    rule.set_typ(Some(typ));
    rule.set_major(Some(node.major()));
    rule.set_minor(Some(node.minor()));
    rule.set_access(Some(perms.to_owned()));
    Some((node, rule))
}

/// Every device node under host directory `dir` (symbolic links not followed), placed
/// under `target`; entries that cannot be read are skipped, as docker's walk does.
fn devices_under(dir: &Path, target: &Path, perms: &str, out: &mut Vec<UserDevice>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let at = target.join(e.file_name());
        if meta.is_dir() {
            devices_under(&e.path(), &at, perms, out);
        } else if let Some(dev) = device_of(&at, &meta, perms) {
            out.push(dev);
        }
    }
}

/// One `--device-cgroup-rule` (docker's syntax `TYPE MAJOR:MINOR PERMISSIONS`, `a`, `b`
/// or `c`, numbers or `*`, a subset of `rwm`) as an allow rule.
///
/// # Errors
/// docker's message for a malformed rule.
pub fn device_cgroup_rule(arg: &str) -> Result<oci_spec::runtime::LinuxDeviceCgroup> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let bad = || Error::Invalid(format!("invalid device cgroup format '{arg}'"));
    let fields: Vec<&str> = arg.split_whitespace().collect();
    let [typ, numbers, perms] = fields[..] else {
        return Err(bad());
    };
    let typ = match typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |n: &str| -> Result<Option<i64>> {
        match n {
            "*" => Ok(None),
            n => n.parse().map(Some).map_err(|_| bad()),
        }
    };
    if perms.is_empty() || perms.len() > 3 || !perms.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true);
    rule.set_typ(Some(typ));
    rule.set_major(number(major)?);
    rule.set_minor(number(minor)?);
    rule.set_access(Some(perms.to_owned()));
    Ok(rule)
}

#[cfg(test)]
mod host_device_tests {
    #[test]
    fn host_devices_are_the_nodes_of_dev() {
        let devs = super::host_devices(std::path::Path::new("/dev"));
        let null = devs
            .iter()
            .find(|d| d.path() == std::path::Path::new("/dev/null"))
            .expect("/dev/null is listed");
        assert_eq!((null.major(), null.minor()), (1, 3));
        assert!(devs.iter().all(|d| !d.path().starts_with("/dev/pts")));
        assert!(
            !devs
                .iter()
                .any(|d| d.path() == std::path::Path::new("/dev/ptmx"))
        );
    }

    #[test]
    fn device_cgroup_rules_as_docker_writes_them() {
        let r = super::device_cgroup_rule("c 42:* rmw").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(42), None));
        assert_eq!(r.access().as_deref(), Some("rmw"));
        for bad in ["c 42 rwm", "x 1:3 r", "c 1:3 rwx", "c a:3 r", "c 1:3"] {
            let e = super::device_cgroup_rule(bad).unwrap_err().to_string();
            assert_eq!(e, format!("invalid device cgroup format '{bad}'"));
        }
    }
}
