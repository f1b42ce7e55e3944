//! A container's networking as the engine sees it: checking the network options, the
//! container's own /etc/hostname, /etc/hosts and /etc/resolv.conf, and joining its
//! networks when it starts.

use std::path::Path;

use crate::config::Engine;
use crate::error::{Result, invalid};
use crate::options::CreateOptions;
use crate::record::{NetSettings, PortBinding, Record};
use crate::spec::EtcFiles;

/// The network settings a container is created with.
pub(crate) fn settings(
    opts: &CreateOptions,
    hostname: &str,
    image_expose: Vec<String>,
) -> NetSettings {
    let mut expose = image_expose;
    expose.extend(opts.expose.iter().cloned());
    NetSettings {
        mode: opts.network_mode().to_owned(),
        hostname: hostname.to_owned(),
        ip: opts.ip.clone(),
        aliases: opts.network_alias.clone(),
        publish: opts.publish.clone(),
        expose,
        publish_all: opts.publish_all,
        dns: opts.dns.clone(),
        dns_search: opts.dns_search.clone(),
        dns_option: opts.dns_option.clone(),
        add_host: opts.add_host.clone(),
    }
}

/// Checks the network options before anything is created, so a typo fails early.
pub(crate) fn check(net: &NetSettings) -> Result<()> {
    for p in &net.publish {
        network::PortSpec::parse(p)?;
    }
    for h in &net.add_host {
        network::HostEntry::parse(h)?;
    }
    for d in &net.dns {
        network::parse_dns_server(d)?;
    }
    if let Some(ip) = &net.ip {
        network::parse_ipv4(ip)?;
    }
    if matches!(net.mode.as_str(), "none" | "host")
        && (!net.publish.is_empty() || net.publish_all || net.ip.is_some())
    {
        invalid!(
            "conflicting options: port publishing and --ip need a bridge network, not --network {}",
            net.mode
        );
    }
    Ok(())
}

fn write(path: &Path, content: impl AsRef<[u8]>) -> Result<()> {
    Ok(fsutil::write_atomic_unsynced(path, content.as_ref())?)
}

/// Writes /etc/hostname, /etc/resolv.conf and the base /etc/hosts of a container (before
/// it has an address; [`attach`] completes hosts when it joins a network). Rewritten at
/// every start: a restarted container gets a fresh address. The files only matter while
/// the container runs, so they are not synced.
pub(crate) fn write_etc(dir: &Path, net: &NetSettings) -> Result<EtcFiles> {
    let files = EtcFiles::in_dir(dir);
    write(&files.hostname, network::hostname_content(&net.hostname))?;
    if net.mode == "host" {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        write(&files.hosts, hosts)?;
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        write(&files.resolv_conf, resolv)?;
        return Ok(files);
    }
    let dns = network::DnsConfig {
        servers: net
            .dns
            .iter()
            .map(|d| network::parse_dns_server(d))
            .collect::<Result<_, _>>()?,
        search: net.dns_search.clone(),
        options: net.dns_option.clone(),
    };
    let host = network::host_resolv_conf().unwrap_or_default();
    write(
        &files.resolv_conf,
        network::resolv_conf_content(&host, &dns),
    )?;
    write(
        &files.hosts,
        network::hosts_content(&hosts_spec(net)?, None, None, &[]),
    )?;
    Ok(files)
}

pub(crate) fn hosts_spec(net: &NetSettings) -> Result<network::HostsSpec> {
    Ok(network::HostsSpec {
        hostname: net.hostname.clone(),
        domainname: None,
        extra_hosts: net
            .add_host
            .iter()
            .map(|h| network::HostEntry::parse(h))
            .collect::<Result<_, _>>()?,
    })
}

/// Makes sure the container's network exists before the container does: the default
/// network is created (or adopted) on first use, another must exist.
pub(crate) fn ensure_network(engine: &Engine, mode: &str) -> Result<()> {
    if matches!(mode, "none" | "host") || mode.starts_with("container:") {
        return Ok(());
    }
    let nets = engine.networks()?;
    if mode == "bridge" {
        nets.ensure_default()?;
    } else {
        nets.inspect(mode)?;
    }
    Ok(())
}

/// Joins the container's network(s): `none` gets `lo` up, `host` nothing, a bridge
/// network a veth with an address, its hosts file and published ports.
pub(crate) fn attach(
    engine: &Engine,
    rec: &Record,
    pid: u32,
    dir: &Path,
) -> Result<Vec<PortBinding>> {
    let netns = network::Netns::Pid(pid);
    match rec.net.mode.as_str() {
        // The donor's network namespace, joined by the init.
        m if m.starts_with("container:") => return Ok(Vec::new()),
        "host" => return Ok(Vec::new()),
        "none" => {
            network::Networks::loopback_up(&netns)?;
            return Ok(Vec::new());
        }
        _ => {}
    }
    let nets = engine.networks()?;
    let mut ports = Vec::new();
    for p in &rec.net.publish {
        ports.extend(network::PortSpec::parse(p)?);
    }
    if rec.net.publish_all {
        ports.extend(network::PortSpec::publish_all(&rec.net.expose)?);
    }
    let opts = network::AttachOptions {
        name: Some(rec.name.clone()),
        ip: rec.net.ip.as_deref().map(network::parse_ipv4).transpose()?,
        aliases: rec.net.aliases.clone(),
        ports,
        hosts: Some(network::HostsConfig {
            path: dir.join("hosts"),
            spec: hosts_spec(&rec.net)?,
        }),
        ..Default::default()
    };
    let att = nets.attach(&netns, &rec.id, &rec.net.mode, &opts)?;
    for w in &att.warnings {
        engine.warn(w);
    }
    Ok(att
        .ports
        .iter()
        .map(|p| PortBinding {
            host_ip: p.host_ip.to_string(),
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p.protocol.to_string(),
        })
        .collect())
}

/// Leaves every network the container joined (endpoints, addresses, published ports).
pub(crate) fn detach(engine: &Engine, rec: &Record) {
    if !rec.on_bridge() {
        return;
    }
    // Once its processes are gone, so is its network namespace, and with it (in the
    // kernel's background cleanup) the veth pairs: not deleted one by one here.
    let exited = !crate::record::is_alive(rec.state.pid, rec.state.pid_start);
    let detached = engine.networks().and_then(|n| {
        Ok(if exited {
            n.detach_all_exited(&rec.id)?
        } else {
            n.detach_all(&rec.id)?
        })
    });
    match detached {
        Ok(d) => d.warnings.iter().for_each(|w| engine.warn(w)),
        Err(e) => engine.warn(format_args!(
            "detaching the networks of {}: {e}",
            rec.short_id()
        )),
    }
}

impl Engine {
    /// `network connect`: a running container joins another network.
    ///
    /// # Errors
    /// No such container or network, not running, a host/none network mode, an invalid
    /// address.
    pub fn connect(
        &self,
        container: &str,
        network: &str,
        ip: Option<&str>,
        aliases: &[String],
    ) -> Result<()> {
        let containers = crate::containers::Containers::new(&self.config.root);
        let rec = containers.resolve(container)?;
        let _lock = containers.lock(&rec.id)?;
        if rec.state.status != crate::record::Status::Running
            || !crate::record::is_alive(rec.state.pid, rec.state.pid_start)
        {
            crate::error::state!("container {} is not running", rec.name);
        }
        if !rec.on_bridge() {
            crate::error::state!(
                "container {} is in the {} network mode and cannot be connected to other networks",
                rec.name,
                rec.net.mode
            );
        }
        let opts = network::AttachOptions {
            name: Some(rec.name.clone()),
            ip: ip.map(network::parse_ipv4).transpose()?,
            aliases: aliases.to_vec(),
            hosts: Some(network::HostsConfig {
                path: containers.dir(&rec.id).join("hosts"),
                spec: hosts_spec(&rec.net)?,
            }),
            ..Default::default()
        };
        let att = self.networks()?.attach(
            &network::Netns::Pid(rec.state.pid),
            &rec.id,
            network,
            &opts,
        )?;
        for w in &att.warnings {
            self.warn(w);
        }
        Ok(())
    }

    /// `network disconnect`: the container leaves the network (`force`: no error when it
    /// was not connected).
    ///
    /// # Errors
    /// No such container or network; not connected without `force`.
    pub fn disconnect(&self, container: &str, network: &str, force: bool) -> Result<()> {
        let containers = crate::containers::Containers::new(&self.config.root);
        let rec = containers.resolve(container)?;
        let _lock = containers.lock(&rec.id)?;
        let nets = self.networks()?;
        let net = nets.inspect(network)?;
        let detached = nets.detach(&rec.id, &net.name)?;
        if !detached.detached && !force {
            crate::error::state!(
                "container {} is not connected to network {}",
                rec.name,
                net.name
            );
        }
        Ok(())
    }
}
