//! docker's `--pid`, `--ipc`, `--uts`, `--cgroupns` and `--network container:NAME`: the
//! modes are checked (and a
//! named container resolved to its ID, as docker stores it) at `create`, shape the
//! runtime spec's namespaces and `/dev/shm`, and the donor's namespaces are joined by
//! path at every `start` (it must be running then).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, invalid};
use crate::options::CreateOptions;
use crate::record::{Record, is_alive};

/// The donor of a `container:NAME` mode, if any.
fn donor(mode: Option<&str>) -> Option<&str> {
    mode.and_then(|m| m.strip_prefix("container:"))
}

/// docker's IPC mode of the options: `private` unless `--ipc` says otherwise.
pub(crate) fn ipc_mode(opts: &CreateOptions) -> &str {
    match opts.ipc.as_deref() {
        None | Some("") => "private",
        Some(m) => m,
    }
}

/// Checks `--pid`, `--ipc` and a `container:` network mode (docker's messages) and
/// returns the options with each named container replaced by `container:<id>`; with a
/// container network the hostname is the donor's (docker's too).
pub(crate) fn resolve(engine: &Engine, opts: &CreateOptions) -> Result<CreateOptions> {
    let mut out = opts.clone();
    let containers = Containers::new(&engine.config.root);
    let by_id = |name: &str| -> Result<Record> {
        if name.is_empty() {
            return Err(Error::NoSuchContainer(name.to_owned()));
        }
        containers.resolve(name)
    };
    match opts.pid.as_deref() {
        None | Some("" | "host") => {}
        Some(m) => match donor(Some(m)) {
            Some(name) => out.pid = Some(format!("container:{}", by_id(name)?.id)),
            None => invalid!("--pid: invalid PID mode"),
        },
    }
    match opts.ipc.as_deref() {
        None | Some("" | "none" | "private" | "shareable" | "host") => {}
        Some(m) => match donor(Some(m)) {
            Some(name) => out.ipc = Some(format!("container:{}", by_id(name)?.id)),
            None => invalid!("--ipc: invalid IPC mode"),
        },
    }
    match opts.uts.as_deref() {
        None | Some("") => {}
        Some("host") if opts.hostname.is_some() => {
            invalid!("Conflicting options: hostname and the UTS mode")
        }
        Some("host") => {}
        Some(_) => invalid!("--uts: invalid UTS mode"),
    }
    match opts.cgroupns.as_deref() {
        None | Some("" | "host" | "private") => {}
        Some(m) => invalid!("invalid cgroup namespace mode: {m}"),
    }
    if let Some(name) = donor(opts.network.as_deref()) {
        if opts.hostname.is_some() {
            invalid!("conflicting options: hostname and the network mode");
        }
        if !opts.publish.is_empty() || opts.publish_all || !opts.expose.is_empty() {
            invalid!("conflicting options: port publishing and the container type network mode");
        }
        if !opts.dns.is_empty() || !opts.dns_search.is_empty() || !opts.dns_option.is_empty() {
            invalid!("conflicting options: dns and the network mode");
        }
        if !opts.add_host.is_empty() {
            invalid!("conflicting options: custom host-to-IP mapping and the network mode");
        }
        if opts.ip.is_some() || !opts.network_alias.is_empty() {
            invalid!(
                "conflicting options: --ip and --network-alias need a user network, not the container network mode"
            );
        }
        let rec = by_id(name)?;
        out.network = Some(format!("container:{}", rec.id));
        out.hostname = Some(rec.net.hostname.clone());
    }
    Ok(out)
}

/// Shapes the spec's namespaces and `/dev/shm` to the modes: `host` shares the host's
/// namespace (and, for IPC, its `/dev/shm`), `none` has no `/dev/shm`; a `container:`
/// mode keeps the namespace entry, whose path is set at start.
pub(crate) fn shape_spec(spec: &mut Spec, opts: &CreateOptions) {
    let ipc = ipc_mode(opts);
    if let Some(linux) = spec.linux_mut()
        && let Some(nss) = linux.namespaces_mut()
    {
        nss.retain(|n| match n.typ() {
            LinuxNamespaceType::Pid => opts.pid.as_deref() != Some("host"),
            LinuxNamespaceType::Ipc => ipc != "host",
            LinuxNamespaceType::Uts => opts.uts.as_deref() != Some("host"),
            LinuxNamespaceType::Cgroup => opts.cgroupns.as_deref() != Some("host"),
            _ => true,
        });
        if opts.cgroupns.as_deref() == Some("private")
            && !nss.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup)
        {
            let mut cg = oci_spec::runtime::LinuxNamespace::default();
            cg.set_typ(LinuxNamespaceType::Cgroup);
            nss.push(cg);
        }
    }
    let shm = Path::new("/dev/shm");
    if let Some(mounts) = spec.mounts_mut() {
        match ipc {
            "none" => mounts.retain(|m| m.destination() != shm),
            "host" => {
                for m in mounts.iter_mut().filter(|m| m.destination() == shm) {
                    let mut bind = Mount::default();
                    bind.set_destination(shm.to_path_buf());
                    bind.set_typ(Some("bind".into()));
                    bind.set_source(Some(shm.to_path_buf()));
                    bind.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
                    *m = bind;
                }
            }
            _ => {}
        }
    }
}

/// What joining the donors gave: the donor's mount namespace to share `/dev/shm` from.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    pub(crate) shm_from: Option<PathBuf>,
}

/// The running donor of a mode, or docker's error.
fn running_donor(
    engine: &Engine,
    id: &str,
    not_running: impl Fn(&str) -> String,
) -> Result<Record> {
    let rec = Containers::new(&engine.config.root).resolve(id)?;
    if !rec.state.status.is_active() || !is_alive(rec.state.pid, rec.state.pid_start) {
        return Err(Error::State(not_running(id)));
    }
    Ok(rec)
}

/// `/proc/PID/ns/KIND` of a running donor container's init.
fn ns_path(donor: &Record, kind: &str) -> PathBuf {
    format!("/proc/{}/ns/{kind}", donor.state.pid).into()
}

/// Points the spec's namespaces of `container:` modes at the donors' (which must be
/// running), and gives a container-network container the donor's /etc files.
pub(crate) fn join(engine: &Engine, rec: &Record, spec: &mut Spec, dir: &Path) -> Result<Joined> {
    let opts = &rec.options;
    let mut joined = Joined::default();
    let mut paths: Vec<(LinuxNamespaceType, PathBuf)> = Vec::new();
    if let Some(id) = donor(Some(rec.net.mode.as_str())) {
        if id == rec.id {
            invalid!("cannot join own network");
        }
        let d = running_donor(engine, id, |id| {
            format!("cannot join network of a non running container: {id}")
        })?;
        paths.push((LinuxNamespaceType::Network, ns_path(&d, "net")));
        // The donor's name and resolver files, each replaced whole (never seen half
        // copied); copied again at every start, so not synced (as `net::write_etc`).
        let donor_dir = Containers::new(&engine.config.root).dir(&d.id);
        for f in ["hostname", "hosts", "resolv.conf"] {
            let from = donor_dir.join(f);
            if from.exists() {
                let bytes = std::fs::read(&from).map_err(|e| Error::io("reading", &from, e))?;
                fsutil::write_atomic_unsynced(&dir.join(f), &bytes)?;
            }
        }
    }
    if let Some(id) = donor(opts.pid.as_deref()) {
        let d = running_donor(engine, id, |id| format!("container {id} is not running"))?;
        paths.push((LinuxNamespaceType::Pid, ns_path(&d, "pid")));
    }
    if let Some(id) = donor(opts.ipc.as_deref()) {
        let d = running_donor(engine, id, |id| format!("container {id} is not running"))?;
        if !matches!(ipc_mode(&d.options), "shareable" | "host")
            && donor(d.options.ipc.as_deref()).is_none()
        {
            invalid!(
                "container {id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
            );
        }
        paths.push((LinuxNamespaceType::Ipc, ns_path(&d, "ipc")));
        joined.shm_from = Some(ns_path(&d, "mnt"));
        if let Some(mounts) = spec.mounts_mut() {
            mounts.retain(|m| m.destination() != Path::new("/dev/shm"));
        }
    }
    if let Some(nss) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
    {
        for (t, path) in paths {
            if let Some(n) = nss.iter_mut().find(|n| n.typ() == t) {
                n.set_path(Some(path));
            }
        }
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_modes_drop_namespaces_and_none_drops_shm() {
        let opts = CreateOptions {
            pid: Some("host".into()),
            ipc: Some("host".into()),
            ..Default::default()
        };
        let mut spec = isolate::spec::docker_spec(Path::new("/r"), &["sh".to_owned()]);
        shape_spec(&mut spec, &opts);
        let nss = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(!nss.iter().any(|n| n.typ() == LinuxNamespaceType::Pid));
        assert!(!nss.iter().any(|n| n.typ() == LinuxNamespaceType::Ipc));
        let shm = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert_eq!(shm.source().as_deref(), Some(Path::new("/dev/shm")));

        let none = CreateOptions {
            ipc: Some("none".into()),
            ..Default::default()
        };
        let mut spec = isolate::spec::docker_spec(Path::new("/r"), &["sh".to_owned()]);
        shape_spec(&mut spec, &none);
        assert!(
            !spec
                .mounts()
                .as_ref()
                .unwrap()
                .iter()
                .any(|m| m.destination() == Path::new("/dev/shm"))
        );
        assert_eq!(ipc_mode(&CreateOptions::default()), "private");
    }
}
