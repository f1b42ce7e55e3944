//! Docker's defaults for the parts of an OCI runtime spec this crate owns: mounts,
//! masked and read-only paths, namespaces, rlimits. Capabilities and the seccomp profile
//! come from the `caps` and `seccomp` modules; the CLI fills in the rest (see the crate
//! documentation).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Linux, LinuxNamespace, LinuxNamespaceType, Mount, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, Process, Root, Spec,
};

/// Docker's default `$PATH`.
pub const DEFAULT_PATH: &str = crate::init::process::DEFAULT_PATH;

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// The mounts docker gives every container: /proc, /dev (tmpfs), /dev/pts (devpts,
/// newinstance), /sys (read-only), /dev/mqueue, /dev/shm (64 MiB).
///
/// (Docker also mounts /sys/fs/cgroup read-only; the CLI adds it when it wants it, as
/// read-only `bind` mounts of the container's cgroup directories on cgroup v1.)
pub fn docker_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}

/// A read-only or read-write bind mount (volumes, /etc/hosts...).
pub fn bind_mount(source: impl AsRef<Path>, dest: impl AsRef<Path>, readonly: bool) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.as_ref().to_path_buf());
    m.set_typ(Some("bind".into()));
    m.set_source(Some(source.as_ref().to_path_buf()));
    let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
    opts.push(if readonly { "ro" } else { "rw" }.to_string());
    m.set_options(Some(opts));
    m
}

/// A tmpfs mount (`--tmpfs /run`): docker's defaults `rw,nosuid,nodev,noexec`.
pub fn tmpfs_mount(dest: impl AsRef<Path>, extra_options: &[&str]) -> Mount {
    let mut opts = vec!["nosuid", "nodev", "noexec"];
    opts.extend_from_slice(extra_options);
    let mut m = mount("/", "tmpfs", "tmpfs", &opts);
    m.set_destination(dest.as_ref().to_path_buf());
    m
}

/// Docker's masked paths.
pub fn docker_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Docker's read-only paths.
pub fn docker_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// New pid, ipc, uts, mount and network namespaces (docker adds cgroup on cgroup v2).
pub fn docker_namespaces() -> Vec<LinuxNamespace> {
    [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
    ]
    .into_iter()
    .map(|t| {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(t);
        ns
    })
    .collect()
}

/// Docker's (containerd's) default rlimit: nofile 1048576. Clamped by the init to the
/// host's hard limit, with a warning.
pub fn docker_rlimits() -> Vec<PosixRlimit> {
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(1_048_576u64)
        .hard(1_048_576u64)
        .build();
    nofile.into_iter().collect()
}

/// [`docker_rlimits`] as this host can give them, the defaults of a container started
/// here: where the calling thread cannot raise a hard limit (no CAP_SYS_RESOURCE, as root
/// inside many containers and VMs) a default above its own hard limit is lowered to that
/// limit, as podman does, so that defaults never warn. Limits a user asks for explicitly
/// are left to the init, which clamps them with a warning.
pub fn host_default_rlimits() -> Vec<PosixRlimit> {
    let can_raise = rustix::thread::capabilities(None)
        .map(|c| {
            c.effective
                .contains(rustix::thread::CapabilitySet::SYS_RESOURCE)
        })
        .unwrap_or(false);
    let limits = docker_rlimits();
    if can_raise {
        return limits;
    }
    limits
        .into_iter()
        .map(|l| {
            let res = crate::init::process::resource(l.typ());
            match rustix::process::getrlimit(res).maximum {
                Some(max) if l.hard() > max => PosixRlimitBuilder::default()
                    .typ(l.typ())
                    .soft(l.soft().min(max))
                    .hard(max)
                    .build()
                    .unwrap_or(l),
                _ => l,
            }
        })
        .collect()
}

/// A spec with docker's defaults for `rootfs` running `args` as root in `/`, without a
/// terminal, with `PATH` set, and with no capability or seccomp settings (the process
/// keeps root's capabilities until the CLI sets docker's default set).
pub fn docker_spec<S: AsRef<str>>(rootfs: impl AsRef<Path>, args: &[S]) -> Spec {
    let mut spec = Spec::default();
    let mut root = Root::default();
    root.set_path(rootfs.as_ref().to_path_buf());
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    spec.set_hostname(None);
    spec.set_mounts(Some(docker_mounts()));

    let mut process = Process::default();
    process.set_terminal(Some(false));
    process.set_args(Some(args.iter().map(|a| a.as_ref().to_string()).collect()));
    process.set_env(Some(vec![format!("PATH={DEFAULT_PATH}")]));
    process.set_cwd(PathBuf::from("/"));
    process.set_capabilities(None);
    process.set_no_new_privileges(Some(false));
    process.set_rlimits(Some(docker_rlimits()));
    spec.set_process(Some(process));

    let mut linux = Linux::default();
    linux.set_namespaces(Some(docker_namespaces()));
    linux.set_masked_paths(Some(docker_masked_paths()));
    linux.set_readonly_paths(Some(docker_readonly_paths()));
    linux.set_resources(None);
    linux.set_seccomp(None);
    linux.set_devices(None);
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_cgroups_path(None);
    spec.set_linux(Some(linux));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_default_rlimits_are_what_this_host_can_set() {
        let nofile = host_default_rlimits()
            .into_iter()
            .find(|l| l.typ() == PosixRlimitType::RlimitNofile)
            .unwrap();
        let can_raise = rustix::thread::capabilities(None)
            .unwrap()
            .effective
            .contains(rustix::thread::CapabilitySet::SYS_RESOURCE);
        let host = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .unwrap_or(u64::MAX);
        let want = if can_raise {
            1_048_576
        } else {
            host.min(1_048_576)
        };
        assert_eq!((nofile.soft(), nofile.hard()), (want, want));
    }

    #[test]
    fn docker_spec_round_trips_through_json() {
        let spec = docker_spec("/r", &["sh"]);
        let json = serde_json::to_string(&spec).unwrap();
        let back: Spec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
        let mounts = back.mounts().as_ref().unwrap();
        assert_eq!(mounts[0].destination(), Path::new("/proc"));
        assert!(back.process().as_ref().unwrap().capabilities().is_none());
        assert_eq!(
            back.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap()
                .len(),
            5
        );
    }
}
