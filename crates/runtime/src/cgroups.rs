//! The container's cgroup: its path from `linux.cgroupsPath` (runc's rules), the
//! resources applied (the spec's device rules followed by the devices every container
//! needs), and the spec's `cgroup` mounts turned into bind mounts of the container's own
//! cgroup directories.

use std::path::{Path, PathBuf};

use cgroup::{AnyManager, CgroupFs, CgroupPath, Controller, Layout};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Mount, Spec};

use crate::error::{Error, Result};

/// Where systemd keeps its runtime directory: its absence means systemd does not run.
const SYSTEMD_RUN: &str = "/run/systemd/system";

/// The cgroup path of container `id`: `cgroupsPath` when absolute; relative to the
/// runtime's own cgroup when relative; `<own cgroup>/<id>` when unset (runc's rules).
/// With `systemd` (`--systemd-cgroup`), `slice:prefix:name` becomes
/// `slice/prefix-name.scope`, made directly in cgroupfs; without a running systemd that
/// is an error.
pub fn cgroup_path(spec: &Spec, id: &str, systemd: bool) -> Result<CgroupPath> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty());
    let invalid = |e: cgroup::Error| Error::Config(format!("linux.cgroupsPath: {e}"));
    if systemd {
        if !Path::new(SYSTEMD_RUN).is_dir() {
            return Err(Error::Unsupported(format!(
                "--systemd-cgroup: systemd is not running on this host ({SYSTEMD_RUN} is \
                 missing); use the cgroupfs driver (no --systemd-cgroup)"
            )));
        }
        let path = match given.as_deref().map(|g| g.split(':').collect::<Vec<_>>()) {
            None => format!("system.slice/mydocker-runc-{id}.scope"),
            Some(parts) if parts.len() == 3 => {
                format!("{}/{}-{}.scope", parts[0], parts[1], parts[2])
            }
            Some(_) => {
                return Err(Error::Config(
                    "linux.cgroupsPath must be \"slice:prefix:name\" with --systemd-cgroup".into(),
                ));
            }
        };
        return CgroupPath::new(&path).map_err(invalid);
    }
    match given {
        Some(p) if p.starts_with('/') => CgroupPath::new(&p).map_err(invalid),
        Some(p) => CgroupPath::new(&format!("{}/{p}", own_cgroup())).map_err(invalid),
        None => CgroupPath::new(&format!("{}/{id}", own_cgroup())).map_err(invalid),
    }
}

/// The runtime's own cgroup: the v2 one, else the one of the pids (or cpu) hierarchy.
fn own_cgroup() -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    own_cgroup_in(&text)
}

fn own_cgroup_in(text: &str) -> String {
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _ = parts.next()?;
            Some((parts.next()?, parts.next()?))
        })
        .collect();
    let v1 = |name: &str| {
        lines
            .iter()
            .find(|(ctrls, _)| ctrls.split(',').any(|c| c == name))
            .map(|(_, p)| *p)
    };
    let path = v1("pids")
        .or_else(|| v1("cpu"))
        .or_else(|| lines.iter().find(|(c, _)| c.is_empty()).map(|(_, p)| *p))
        .unwrap_or("/");
    path.trim_end_matches('/').to_string()
}

/// The device rules every container needs, allowed after the spec's own rules (as runc
/// and crun append theirs): creating any node, the standard devices, ptys, tun.
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(5), Some(1), "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]
}

/// The resources to apply: the spec's, with the default device rules (and one for each
/// of `linux.devices`) after the spec's device rules when it has any.
pub fn resources(spec: &Spec) -> LinuxResources {
    let linux = spec.linux().as_ref();
    let mut res = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let Some(rules) = res.devices().clone().filter(|r| !r.is_empty()) else {
        return res;
    };
    let mut all = rules;
    all.extend(default_device_rules());
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .iter()
        .flat_map(|d| d.iter())
    {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(d.typ()));
        r.set_major(Some(d.major()));
        r.set_minor(Some(d.minor()));
        r.set_access(Some("rwm".to_string()));
        all.push(r);
    }
    res.set_devices(Some(all));
    res
}

/// Replaces the spec's `cgroup`/`cgroup2` mounts (which isolate does not perform) by
/// what shows the container its own cgroup: on v2 a bind of its directory; on v1 a
/// tmpfs with a bind of its directory in each hierarchy, named like the hierarchy.
pub fn rewrite_cgroup_mounts(spec: &mut Spec, fs: &CgroupFs, path: &CgroupPath) {
    let Some(mounts) = spec.mounts().clone() else {
        return;
    };
    if !mounts
        .iter()
        .any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
    {
        return;
    }
    let mut out = Vec::with_capacity(mounts.len() + 8);
    for m in mounts {
        if !matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            out.push(m);
            continue;
        }
        let ro = m.options().iter().flatten().any(|o| o == "ro");
        let dest = m.destination().clone();
        if fs.layout() == Layout::V2 {
            if let Some(root) = fs.unified_mount() {
                out.push(bind(root.join(path.as_path()), dest, ro));
            }
            continue;
        }
        let mut tmpfs = Mount::default();
        tmpfs.set_destination(dest.clone());
        tmpfs.set_typ(Some("tmpfs".into()));
        tmpfs.set_source(Some("tmpfs".into()));
        tmpfs.set_options(Some(
            ["nosuid", "nodev", "noexec", "mode=755"]
                .map(String::from)
                .to_vec(),
        ));
        out.push(tmpfs);
        let mut seen: Vec<PathBuf> = Vec::new();
        for c in Controller::ALL {
            let Some(mount) = fs.v1_mount(c) else {
                continue;
            };
            if seen.iter().any(|s| s == mount) {
                continue;
            }
            seen.push(mount.to_path_buf());
            let Some(name) = mount.file_name() else {
                continue;
            };
            out.push(bind(mount.join(path.as_path()), dest.join(name), ro));
        }
    }
    spec.set_mounts(Some(out));
}

fn bind(source: PathBuf, dest: PathBuf, ro: bool) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest);
    m.set_typ(Some("bind".into()));
    m.set_source(Some(source));
    let mut opts: Vec<String> = ["rbind", "nosuid", "nodev", "noexec"]
        .map(String::from)
        .to_vec();
    if ro {
        opts.push("ro".into());
    }
    m.set_options(Some(opts));
    m
}

/// The manager of an existing container's cgroup.
pub fn manager(path: &str) -> Result<AnyManager> {
    let path =
        CgroupPath::new(path).map_err(|e| Error::Config(format!("cgroup path {path:?}: {e}")))?;
    Ok(CgroupFs::detect()?.manager(&path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxResourcesBuilder};

    #[test]
    fn own_cgroup_prefers_v2_pids_cpu() {
        let hybrid = "9:name=systemd:/\n8:pids:/p\n4:memory:/m/x\n1:cpu:/c\n0::/u\n";
        assert_eq!(own_cgroup_in(hybrid), "/p");
        assert_eq!(own_cgroup_in("1:cpu,cpuacct:/c/\n"), "/c");
        assert_eq!(own_cgroup_in("0::/user.slice/x\n"), "/user.slice/x");
        assert_eq!(own_cgroup_in("0::/\n"), "");
    }

    fn spec_with_path(p: Option<&str>) -> Spec {
        let mut spec = Spec::default();
        let mut linux = LinuxBuilder::default().build().unwrap();
        linux.set_cgroups_path(p.map(PathBuf::from));
        spec.set_linux(Some(linux));
        spec
    }

    #[test]
    fn absolute_paths_are_from_the_root_and_systemd_needs_systemd() {
        let p = cgroup_path(&spec_with_path(Some("/a/b")), "id", false).unwrap();
        assert_eq!(p.as_path(), Path::new("a/b"));
        let rel = cgroup_path(&spec_with_path(Some("x/y")), "id", false).unwrap();
        assert!(rel.as_path().ends_with("x/y"), "{rel}");
        let none = cgroup_path(&spec_with_path(None), "id", false).unwrap();
        assert!(none.as_path().ends_with("id"), "{none}");
        assert!(cgroup_path(&spec_with_path(Some("/../x")), "id", false).is_err());
        if !Path::new(SYSTEMD_RUN).is_dir() {
            let err = cgroup_path(&spec_with_path(Some("s.slice:p:n")), "id", true).unwrap_err();
            assert!(err.to_string().contains("systemd is not running"), "{err}");
        }
    }

    #[test]
    fn default_devices_follow_the_spec_rules() {
        let deny = {
            let mut r = LinuxDeviceCgroup::default();
            r.set_allow(false);
            r.set_access(Some("rwm".into()));
            r
        };
        let mut spec = Spec::default();
        let res = LinuxResourcesBuilder::default()
            .devices(vec![deny.clone()])
            .build()
            .unwrap();
        spec.set_linux(Some(
            LinuxBuilder::default().resources(res).build().unwrap(),
        ));
        let devices = resources(&spec).devices().clone().unwrap();
        assert_eq!(devices[0], deny);
        assert!(devices.len() > 10);
        assert!(devices[1..].iter().all(|d| d.allow()));
        // Without rules the cgroup keeps its parent's.
        let mut bare = Spec::default();
        bare.set_linux(None);
        assert_eq!(resources(&bare).devices(), &None);
    }

    #[test]
    fn cgroup_mounts_become_binds() {
        let mut spec = Spec::default();
        let mut m = Mount::default();
        m.set_destination("/sys/fs/cgroup".into());
        m.set_typ(Some("cgroup".into()));
        m.set_options(Some(vec!["ro".into()]));
        spec.set_mounts(Some(vec![m]));
        let fs = CgroupFs::v1([
            (Controller::Cpu, PathBuf::from("/cg/cpu,cpuacct")),
            (Controller::Cpuacct, PathBuf::from("/cg/cpu,cpuacct")),
            (Controller::Memory, PathBuf::from("/cg/memory")),
        ]);
        let path = CgroupPath::new("/a/c1").unwrap();
        rewrite_cgroup_mounts(&mut spec, &fs, &path);
        let mounts = spec.mounts().clone().unwrap();
        assert_eq!(mounts.len(), 3, "{mounts:?}");
        assert_eq!(mounts[0].typ().as_deref(), Some("tmpfs"));
        assert_eq!(
            mounts[1].source().as_deref(),
            Some(Path::new("/cg/cpu,cpuacct/a/c1"))
        );
        assert_eq!(
            mounts[1].destination(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert!(mounts[2].options().as_ref().unwrap().contains(&"ro".into()));
        let mut v2 = spec.clone();
        let mut m = Mount::default();
        m.set_destination("/sys/fs/cgroup".into());
        m.set_typ(Some("cgroup2".into()));
        v2.set_mounts(Some(vec![m]));
        rewrite_cgroup_mounts(&mut v2, &CgroupFs::v2("/cg2".into()), &path);
        let mounts = v2.mounts().clone().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].source().as_deref(), Some(Path::new("/cg2/a/c1")));
    }
}
