//! The container's mounts and namespaces.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Mount};

use crate::error::Result;
use crate::options::{CreateOptions, Volume, tmpfs};

/// Files of the container that are bind-mounted over the image's own.
#[derive(Debug, Clone)]
pub struct EtcFiles {
    /// `/etc/hostname`.
    pub hostname: PathBuf,
    /// `/etc/hosts`.
    pub hosts: PathBuf,
    /// `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
}

impl EtcFiles {
    /// The files kept in a container's directory.
    pub fn in_dir(dir: &Path) -> Self {
        EtcFiles {
            hostname: dir.join("hostname"),
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
        }
    }
}

/// Docker's default mounts, then /etc files, volumes and tmpfs mounts (a later mount on
/// the same destination replaces an earlier one, as docker does for user mounts).
///
/// # Errors
/// An invalid volume or tmpfs specification.
pub fn mounts(opts: &CreateOptions, etc: &EtcFiles) -> Result<Vec<Mount>> {
    let mut mounts = isolate::spec::docker_mounts();
    // The container's own cgroup, read-only, after /sys (docker's order).
    let mut cgroup = Mount::default();
    cgroup.set_destination("/sys/fs/cgroup".into());
    cgroup.set_typ(Some("cgroup".into()));
    cgroup.set_source(Some("cgroup".into()));
    cgroup.set_options(Some(
        ["ro", "nosuid", "noexec", "nodev"]
            .map(String::from)
            .to_vec(),
    ));
    let at = mounts
        .iter()
        .position(|m| m.destination() == Path::new("/sys"))
        .map_or(mounts.len(), |i| i + 1);
    mounts.insert(at, cgroup);
    if opts.privileged {
        // A privileged container gets /sys read-write.
        for m in &mut mounts {
            if m.destination() == Path::new("/sys")
                && let Some(o) = m.options().clone()
            {
                m.set_options(Some(o.into_iter().filter(|o| o != "ro").collect()));
            }
        }
    }
    use isolate::spec::bind_mount;
    let mut user: Vec<Mount> = vec![
        bind_mount(&etc.resolv_conf, "/etc/resolv.conf", false),
        bind_mount(&etc.hostname, "/etc/hostname", false),
        bind_mount(&etc.hosts, "/etc/hosts", false),
    ];
    for v in &opts.volume {
        let Volume {
            source,
            target,
            read_only,
            propagation,
        } = Volume::parse(v)?;
        user.retain(|m| m.destination() != &target);
        let mut m = bind_mount(&source, &target, read_only);
        if let Some(o) = m.options().clone() {
            let o = o.into_iter().map(|o| {
                if o == "rprivate" {
                    propagation.clone()
                } else {
                    o
                }
            });
            m.set_options(Some(o.collect()));
        }
        user.push(m);
    }
    for t in &opts.tmpfs {
        let (target, options) = tmpfs(t)?;
        user.retain(|m| m.destination() != &target);
        let mut m = isolate::spec::tmpfs_mount(&target, &[]);
        m.set_options(Some(options));
        user.push(m);
    }
    if let Some(size) = opts.shm_size {
        for m in &mut mounts {
            if m.destination() == Path::new("/dev/shm")
                && let Some(o) = m.options().clone()
            {
                let o = o.into_iter().filter(|o| !o.starts_with("size="));
                m.set_options(Some(o.chain([format!("size={size}")]).collect()));
            }
        }
    }
    // User mounts over a default destination replace it.
    mounts.retain(|m| !user.iter().any(|u| u.destination() == m.destination()));
    // Parents before children (docker's `sortMounts`): `-v a:/data/sub -v b:/data` and a
    // volume on /etc under the /etc files; equal depths keep their order.
    user.sort_by_key(|m| m.destination().components().count());
    mounts.extend(user);
    Ok(mounts)
}

/// The namespaces of a container: docker's set, without a network namespace for
/// `--network host`, and with a cgroup namespace only on cgroup v2 (docker's default
/// `--cgroupns` is `private` on v2 and `host` on v1).
pub fn namespaces(host_network: bool, cgroup_v2: bool) -> Vec<LinuxNamespace> {
    let mut ns: Vec<LinuxNamespace> = isolate::spec::docker_namespaces();
    ns.retain(|n| n.typ() != LinuxNamespaceType::Network || !host_network);
    if cgroup_v2 && !ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup) {
        let mut cg = LinuxNamespace::default();
        cg.set_typ(LinuxNamespaceType::Cgroup);
        ns.push(cg);
    }
    ns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_include_etc_files_volumes_and_tmpfs() {
        let etc = EtcFiles::in_dir(Path::new("/c"));
        let opts = CreateOptions {
            volume: vec!["/data:/data:ro".into()],
            tmpfs: vec!["/dev/shm:size=1m".into()],
            ..Default::default()
        };
        let m = mounts(&opts, &etc).unwrap();
        let dest: Vec<&Path> = m.iter().map(|m| m.destination().as_path()).collect();
        for d in [
            "/proc",
            "/dev",
            "/sys",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/data",
        ] {
            assert!(dest.contains(&Path::new(d)), "{d} in {dest:?}");
        }
        assert_eq!(
            dest.iter().filter(|d| **d == Path::new("/dev/shm")).count(),
            1
        );
        let data = m
            .iter()
            .find(|m| m.destination() == Path::new("/data"))
            .unwrap();
        assert!(data.options().as_ref().unwrap().contains(&"ro".to_owned()));
    }

    #[test]
    fn namespaces_per_network_and_cgroup_mode() {
        let has = |ns: &[LinuxNamespace], t| ns.iter().any(|n| n.typ() == t);
        let v1 = namespaces(false, false);
        assert!(has(&v1, LinuxNamespaceType::Network) && !has(&v1, LinuxNamespaceType::Cgroup));
        let host = namespaces(true, true);
        assert!(!has(&host, LinuxNamespaceType::Network) && has(&host, LinuxNamespaceType::Cgroup));
        assert!(has(&host, LinuxNamespaceType::Pid) && has(&host, LinuxNamespaceType::Mount));
    }
}
