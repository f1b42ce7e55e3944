//! Attaching containers to networks and detaching them: veth pair, address, routes,
//! published ports, hosts files; and recovery of what dead containers left.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::addr::MacAddr;
use crate::config::{IFNAME_MAX, valid_ifname};
use crate::error::Error;
use crate::files::{Peer, hosts_content, write_in_place};
use crate::ipam::Pool;
use crate::netlink::Netlink;
use crate::networks::{Networks, net_rules};
use crate::ports::{PortSpec, PublishedPort, choose_host_ports};
use crate::state::{EndpointRecord, HostsConfig, Locked, NetworkRecord};
use crate::sys::{self, Netns};

/// What `run --network`, `--ip`, `--network-alias`, `-p`, `-P`, `--add-host` ask of one
/// attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// The container's name (`--name`): others on user networks resolve it.
    pub name: Option<String>,
    /// A fixed address (`--ip`), else one is allocated.
    pub ip: Option<Ipv4Addr>,
    /// A fixed MAC (`--mac-address`), else docker's `02:42:` + IP.
    pub mac: Option<MacAddr>,
    /// Extra names on this network (`--network-alias`).
    pub aliases: Vec<String>,
    /// Ports to publish (`-p`, `-P`).
    pub ports: Vec<PortSpec>,
    /// Interface name in the container; default `eth0`, or the next free `ethN` when
    /// connecting a running container to another network.
    pub ifname: Option<String>,
    /// The container's hosts file, kept up to date with its peers.
    pub hosts: Option<HostsConfig>,
}

/// A container's attachment to a network, as set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The container.
    pub container_id: String,
    /// The network's name.
    pub network: String,
    /// The network's ID.
    pub network_id: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The gateway (the bridge's address; no default route on internal networks).
    pub gateway: Ipv4Addr,
    /// The container's MAC.
    pub mac: MacAddr,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The interface inside the container (`eth0`, `eth1`, ...).
    pub ifname: String,
    /// The bridge.
    pub bridge: String,
    /// Whether the network is internal.
    pub internal: bool,
    /// Network aliases.
    pub aliases: Vec<String>,
    /// Published ports with their chosen host ports.
    pub ports: Vec<PublishedPort>,
    /// Non-fatal problems: hosts files of other containers that could not be updated.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// What [`Networks::detach`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detached {
    /// Whether the container was attached (false: nothing to do).
    pub detached: bool,
    /// Non-fatal problems: hosts files of other containers that could not be updated.
    pub warnings: Vec<String>,
}

/// One endpoint cleaned by [`Networks::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The dead container.
    pub container_id: String,
    /// The network it was attached to.
    pub network: String,
    /// Its address, now free again.
    pub ip: Ipv4Addr,
}

fn attachment(record: &NetworkRecord, ep: &EndpointRecord) -> Attachment {
    Attachment {
        container_id: ep.container_id.clone(),
        network: record.name.clone(),
        network_id: record.id.clone(),
        ip: ep.ip,
        prefix_len: record.subnet.prefix_len(),
        gateway: record.gateway,
        mac: ep.mac,
        host_veth: ep.host_veth.clone(),
        ifname: ep.ifname.clone(),
        bridge: record.bridge.clone(),
        internal: record.internal,
        aliases: ep.aliases.clone(),
        ports: ep.ports.clone(),
        warnings: Vec::new(),
    }
}

/// Container IDs go into nft-free places only (state, hosts files), but are still kept
/// to docker's alphabet so they never break a file format.
pub(crate) fn validate_container_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidContainerId { id: id.to_string() })
    }
}

fn validate_alias(alias: &str) -> Result<(), Error> {
    let mut bytes = alias.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && alias.len() <= 255;
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidAlias {
            alias: alias.to_string(),
        })
    }
}

impl Networks {
    /// The host end's name: the prefix and hex digits of sha256(network ID, container
    /// ID), so it is unique per attachment and found again after a crash.
    pub(crate) fn veth_name(&self, network_id: &str, container_id: &str) -> String {
        let prefix = &self.config.veth_prefix;
        let digest = hex::encode(Sha256::digest(format!("{network_id}/{container_id}")));
        let take = (IFNAME_MAX - prefix.len()).min(11);
        format!("{prefix}{}", &digest[..take])
    }

    /// Attaches a container to a network: allocates an address (or checks `--ip`),
    /// creates a veth pair whose host end joins the bridge and whose other end appears
    /// in the container's namespace as `eth0` (or `ethN`), with the address, the MAC,
    /// `lo` up and a default route via the gateway (not on internal networks, nor when
    /// the container already has one); publishes ports; writes the hosts files of the
    /// container and of its peers. The default network is created on first use.
    ///
    /// Call it after the container's init process exists (its namespace is `netns`)
    /// and before it is let go. Nothing is left behind when it fails.
    ///
    /// # Errors
    /// Unknown network, address or port problems (outside the subnet, taken, in use),
    /// already attached, or a kernel / nft failure.
    pub fn attach(
        &self,
        netns: &Netns,
        container_id: &str,
        network: &str,
        opts: &AttachOptions,
    ) -> Result<Attachment, Error> {
        validate_container_id(container_id)?;
        for alias in opts.aliases.iter().chain(&opts.name) {
            validate_alias(alias)?;
        }
        if let Some(name) = &opts.ifname {
            if !valid_ifname(name) {
                return Err(Error::InvalidInterfaceName { name: name.clone() });
            }
        }
        let ns_path = netns.path();
        let ns_fd = netns.open()?;
        if sys::is_own_netns(&ns_fd, &ns_path)? {
            return Err(Error::Netns {
                path: ns_path,
                source: std::io::Error::other(
                    "this is the host's own network namespace, not a container's",
                ),
            });
        }
        let mut cnl = Netlink::open_in(ns_fd.as_fd(), &ns_path)?;

        let mut locked = self.store.lock_exclusive()?;
        let mut record = match locked.find(network) {
            Ok(r) => r.clone(),
            Err(Error::NetworkNotFound { .. }) if network == self.config.default_network => {
                self.ensure_default_locked(&mut locked)?;
                locked.find(network)?.clone()
            }
            Err(e) => return Err(e),
        };
        if record.default {
            let option = if opts.ip.is_some() {
                Some("--ip")
            } else if !opts.aliases.is_empty() {
                Some("--network-alias")
            } else {
                None
            };
            if let Some(option) = option {
                return Err(Error::UserDefinedNetworkOnly {
                    option,
                    network: record.name,
                });
            }
        }
        if record.endpoints.contains_key(container_id) {
            return Err(Error::AlreadyAttached {
                container: container_id.to_string(),
                network: record.name,
            });
        }
        // Other roots of this host may use the same bridge (the default one): their
        // containers' addresses are read from the kernel (see `claims`), under the
        // bridge's host-wide lock, held until our veth carries its own claim.
        let _bridge_lock = self.lock_bridge(&record.bridge)?;
        let mut used = claims(&mut Netlink::open()?, &record.bridge)?;
        used.extend(record.used_addresses());
        let ip = Pool {
            network: &record.name,
            subnet: record.subnet,
            gateway: record.gateway,
            used: &used,
            last: record.last_allocated,
        }
        .allocate(opts.ip)?;
        let mut taken: Vec<(PublishedPort, String)> = locked
            .networks
            .iter()
            .flat_map(|n| n.endpoints.values())
            .flat_map(|e| {
                let who = e.name.clone().unwrap_or_else(|| e.container_id.clone());
                e.ports.iter().map(move |p| (*p, who.clone()))
            })
            .collect();
        // Another root using the same nftables table has its published ports only in
        // the table: they are read from it, under the table's host-wide lock, held
        // until ours are in it.
        let _nft_lock = if opts.ports.is_empty() {
            None
        } else {
            let lock = self.lock_nft()?;
            for (port, ip) in self.nft().published()? {
                let who = format!("at {ip}:{} of another mydocker root", port.container_port);
                taken.push((port, who));
            }
            Some(lock)
        };
        let ports = choose_host_ports(&opts.ports, &taken)?;
        let ifname = match &opts.ifname {
            Some(name) => name.clone(),
            None => next_free_eth(&mut cnl)?,
        };
        let endpoint = EndpointRecord {
            container_id: container_id.to_string(),
            name: opts.name.clone(),
            ip,
            mac: opts.mac.unwrap_or_else(|| MacAddr::from_ipv4(ip)),
            host_veth: self.veth_name(&record.id, container_id),
            ifname,
            aliases: opts.aliases.clone(),
            ports,
            hosts: opts.hosts.clone(),
            attached_at: sys::now_nanos(),
        };
        // Write-ahead: the endpoint is recorded before anything exists in the kernel,
        // so a crash from here on leaves something `recover`/`detach` can clean.
        record
            .endpoints
            .insert(container_id.to_string(), endpoint.clone());
        record.last_allocated = Some(ip);
        locked.save(&record)?;

        let setup = self
            .setup_endpoint(&record, &endpoint, &mut cnl, ns_fd.as_fd())
            .and_then(|()| match &endpoint.hosts {
                Some(h) => write_hosts(&locked.networks, container_id, &h.path, true).map(drop),
                None => Ok(()),
            });
        if let Err(e) = setup {
            let _ = self.teardown_endpoint(&mut locked, &mut record, container_id);
            return Err(e);
        }
        let mut result = attachment(&record, &endpoint);
        result.warnings = rewrite_peers(&locked.networks, &record, container_id);
        Ok(result)
    }

    fn setup_endpoint(
        &self,
        record: &NetworkRecord,
        ep: &EndpointRecord,
        cnl: &mut Netlink,
        ns_fd: BorrowedFd<'_>,
    ) -> Result<(), Error> {
        let mut nl = Netlink::open()?;
        let bridge = self.ensure_infra(record, &mut nl)?;
        // A host end left by a crash between recording and cleaning would block the name.
        nl.delete_link(&ep.host_veth)?;
        let tag = claim_tag(ep.ip, &ep.container_id);
        nl.create_veth(&ep.host_veth, bridge, &tag, &ep.ifname, ns_fd, ep.mac)?;
        let index = cnl.link_index(&ep.ifname)?.ok_or_else(|| {
            Error::netlink(
                format!("find {} in the container after creating it", ep.ifname),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })?;
        cnl.add_address(index, ep.ip, record.subnet.prefix_len(), &ep.ifname)?;
        cnl.set_up(index, &ep.ifname)?;
        if let Some(lo) = cnl.link_index("lo")? {
            cnl.set_up(lo, "lo")?;
        }
        if !record.internal && !cnl.routes()?.iter().any(|r| r.dst.prefix_len() == 0) {
            cnl.add_default_route(record.gateway)?;
        }
        if !ep.ports.is_empty() {
            let nft = self.nft();
            nft.apply_elements(
                &nft.add_ports_script(ep.ip, &ep.ports),
                &nft.add_network_script(&net_rules(record)),
            )?;
        }
        Ok(())
    }

    /// Removes an endpoint's published ports and veth, then its record. Idempotent.
    pub(crate) fn teardown_endpoint(
        &self,
        locked: &mut Locked<'_>,
        record: &mut NetworkRecord,
        container_id: &str,
    ) -> Result<Option<EndpointRecord>, Error> {
        let Some(ep) = record.endpoints.get(container_id).cloned() else {
            return Ok(None);
        };
        if !ep.ports.is_empty() {
            self.nft().remove_ports(ep.ip, &ep.ports)?;
        }
        // Deleting the host end deletes the pair: the container loses the interface.
        Netlink::open()?.delete_link(&ep.host_veth)?;
        record.endpoints.remove(container_id);
        locked.save(record)?;
        Ok(Some(ep))
    }

    /// Detaches a container from a network: published ports, veth pair (and so the
    /// container's interface), address allocation; updates hosts files. Idempotent:
    /// detaching twice, from an unknown network, or after the container died is fine.
    ///
    /// # Errors
    /// A kernel or nft failure (the record is kept, so a retry or `recover` cleans up).
    pub fn detach(&self, container_id: &str, network: &str) -> Result<Detached, Error> {
        let mut locked = self.store.lock_exclusive()?;
        let mut record = match locked.find(network) {
            Ok(r) => r.clone(),
            Err(Error::NetworkNotFound { .. }) => return Ok(Detached::default()),
            Err(e) => return Err(e),
        };
        self.detach_locked(&mut locked, &mut record, container_id)
    }

    fn detach_locked(
        &self,
        locked: &mut Locked<'_>,
        record: &mut NetworkRecord,
        container_id: &str,
    ) -> Result<Detached, Error> {
        let Some(ep) = self.teardown_endpoint(locked, record, container_id)? else {
            return Ok(Detached::default());
        };
        let mut warnings = rewrite_peers(&locked.networks, record, container_id);
        // The container itself, if it lives on (network disconnect): its file now lists
        // the peers of its remaining networks, or none.
        if let Some(h) = &ep.hosts {
            let result = if locked
                .networks
                .iter()
                .any(|n| n.endpoints.contains_key(container_id))
            {
                write_hosts(&locked.networks, container_id, &h.path, false)
            } else {
                write_existing(&h.path, &hosts_content(&h.spec, None, None, &[]))
            };
            if let Err(e) = result {
                warnings.push(e.to_string());
            }
        }
        Ok(Detached {
            detached: true,
            warnings,
        })
    }

    /// Detaches a container from every network it is on (at exit or `rm`).
    ///
    /// # Errors
    /// As [`Networks::detach`].
    pub fn detach_all(&self, container_id: &str) -> Result<Detached, Error> {
        let mut locked = self.store.lock_exclusive()?;
        let records: Vec<NetworkRecord> = locked
            .networks
            .iter()
            .filter(|n| n.endpoints.contains_key(container_id))
            .cloned()
            .collect();
        let mut out = Detached::default();
        for mut record in records {
            let d = self.detach_locked(&mut locked, &mut record, container_id)?;
            out.detached |= d.detached;
            out.warnings.extend(d.warnings);
        }
        Ok(out)
    }

    /// Every attachment of a container, in the order they were made (for `inspect`,
    /// `ps` and `port`).
    ///
    /// # Errors
    /// The state cannot be read.
    pub fn attachments(&self, container_id: &str) -> Result<Vec<Attachment>, Error> {
        let locked = self.store.lock_shared()?;
        let mut out: Vec<(u128, Attachment)> = locked
            .networks
            .iter()
            .filter_map(|n| {
                n.endpoints
                    .get(container_id)
                    .map(|e| (e.attached_at, attachment(n, e)))
            })
            .collect();
        out.sort_by_key(|(at, _)| *at);
        Ok(out.into_iter().map(|(_, a)| a).collect())
    }

    /// Cleans up after containers that died without detaching (their monitor was
    /// killed): for every attached container for which `is_alive(id)` is false, removes
    /// published ports, the veth and the address allocation, and updates the hosts files
    /// of its peers. Returns what was cleaned.
    ///
    /// # Errors
    /// A kernel or nft failure (every endpoint is still attempted; the first error is
    /// returned).
    pub fn recover(&self, is_alive: impl Fn(&str) -> bool) -> Result<Vec<Recovered>, Error> {
        let mut locked = self.store.lock_exclusive()?;
        let mut cleaned = Vec::new();
        let mut first_err = None;
        let records = locked.networks.clone();
        for mut record in records {
            let dead: Vec<String> = record
                .endpoints
                .keys()
                .filter(|id| !is_alive(id))
                .cloned()
                .collect();
            for id in dead {
                match self.teardown_endpoint(&mut locked, &mut record, &id) {
                    Ok(Some(ep)) => {
                        let _ = rewrite_peers(&locked.networks, &record, &id);
                        cleaned.push(Recovered {
                            container_id: id,
                            network: record.name.clone(),
                            ip: ep.ip,
                        });
                    }
                    Ok(None) => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        first_err.map_or(Ok(cleaned), Err)
    }

    /// Brings `lo` up in a namespace (for `--network none`, where no attachment does).
    ///
    /// # Errors
    /// The namespace cannot be entered, or the kernel refuses.
    pub fn loopback_up(netns: &Netns) -> Result<(), Error> {
        let path = netns.path();
        let fd = netns.open()?;
        let mut nl = Netlink::open_in(fd.as_fd(), &path)?;
        if let Some(lo) = nl.link_index("lo")? {
            nl.set_up(lo, "lo")?;
        }
        Ok(())
    }
}

/// The label (`IFLA_IFALIAS`) of the host end of a veth pair: `mydocker ip=A.B.C.D
/// container=ID`, shown by `ip link` as `alias …`.
///
/// This is how roots sharing a bridge keep out of each other's addresses. The truth
/// is kept in the kernel rather than in a shared file: a claim lives exactly as long
/// as the veth pair, which the kernel deletes with the container's network namespace,
/// so a root deleted with `rm -rf`, a killed monitor or a reboot never leaves a stale
/// claim behind, and there is no second record to keep consistent with the first.
/// Allocation reads the claims of every port of the bridge (whatever root made it)
/// under the bridge's host-wide lock (see [`crate::hostlock`]), and that lock is held
/// until the new veth is enslaved with its own label (one `RTM_SETLINK`), so two
/// roots can never pick the same address.
pub(crate) fn claim_tag(ip: Ipv4Addr, container_id: &str) -> String {
    format!("{CLAIM_PREFIX}ip={ip} container={container_id}")
}

const CLAIM_PREFIX: &str = "mydocker ";

/// Parses a label written by [`claim_tag`]: (address, container ID).
pub(crate) fn parse_claim(alias: &str) -> Option<(Ipv4Addr, String)> {
    let rest = alias.strip_prefix(CLAIM_PREFIX)?;
    let mut ip = None;
    let mut container = None;
    for field in rest.split_whitespace() {
        if let Some(v) = field.strip_prefix("ip=") {
            ip = v.parse().ok();
        } else if let Some(v) = field.strip_prefix("container=") {
            container = Some(v.to_string());
        }
    }
    Some((ip?, container.unwrap_or_else(|| "?".to_string())))
}

/// The addresses claimed by the ports of a bridge (any root's containers), with the
/// container holding each; empty when the bridge does not exist yet.
fn claims(nl: &mut Netlink, bridge: &str) -> Result<BTreeMap<Ipv4Addr, String>, Error> {
    let Some(index) = nl.link_index(bridge)? else {
        return Ok(BTreeMap::new());
    };
    Ok(nl
        .ports_of(index)?
        .iter()
        .filter_map(|port| port.alias.as_deref().and_then(parse_claim))
        .collect())
}

fn next_free_eth(cnl: &mut Netlink) -> Result<String, Error> {
    let names: BTreeSet<String> = cnl.links()?.into_iter().map(|(_, n)| n).collect();
    (0..1000)
        .map(|i| format!("eth{i}"))
        .find(|n| !names.contains(n))
        .ok_or_else(|| Error::InvalidInterfaceName {
            name: "eth0..eth999 all taken".to_string(),
        })
}

/// The hosts file content of a container from the current state: own line from its
/// first network, peers from each of its user networks.
fn hosts_for(networks: &[NetworkRecord], container_id: &str) -> Option<String> {
    let mut eps: Vec<(&NetworkRecord, &EndpointRecord)> = networks
        .iter()
        .filter_map(|n| n.endpoints.get(container_id).map(|e| (n, e)))
        .collect();
    eps.sort_by_key(|(_, e)| e.attached_at);
    let hosts = eps.iter().rev().find_map(|(_, e)| e.hosts.as_ref())?;
    let (first_net, first_ep) = eps.first()?;
    let mut peers: Vec<Peer> = Vec::new();
    for (net, _) in &eps {
        if net.default {
            continue;
        }
        for (id, other) in &net.endpoints {
            if id == container_id {
                continue;
            }
            let mut names: Vec<String> = other.name.iter().cloned().collect();
            names.push(id[..id.len().min(12)].to_string());
            names.extend(other.aliases.iter().cloned());
            peers.push(Peer {
                ip: other.ip,
                names,
            });
        }
    }
    peers.sort_by(|a, b| a.ip.cmp(&b.ip).then_with(|| a.names.cmp(&b.names)));
    peers.dedup();
    Some(hosts_content(
        &hosts.spec,
        Some(first_ep.ip),
        Some(first_net.gateway),
        &peers,
    ))
}

fn write_hosts(
    networks: &[NetworkRecord],
    container_id: &str,
    path: &Path,
    create: bool,
) -> Result<(), Error> {
    let Some(content) = hosts_for(networks, container_id) else {
        return Ok(());
    };
    if create {
        write_in_place(path, &content)
    } else {
        write_existing(path, &content)
    }
}

/// Writes a peer's file only if it still exists (a removed container's is not recreated).
fn write_existing(path: &Path, content: &str) -> Result<(), Error> {
    if !path.exists() {
        return Ok(());
    }
    write_in_place(path, content)
}

/// Rewrites the hosts files of the containers on `record` other than `changed`.
fn rewrite_peers(networks: &[NetworkRecord], record: &NetworkRecord, changed: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if record.default {
        return warnings;
    }
    for (id, ep) in &record.endpoints {
        if id == changed {
            continue;
        }
        if let Some(h) = &ep.hosts {
            if let Err(e) = write_hosts(networks, id, &h.path, false) {
                warnings.push(e.to_string());
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::files::HostsSpec;

    fn ep(id: &str, name: &str, ip: [u8; 4], at: u128, hosts: Option<&str>) -> EndpointRecord {
        let ip = Ipv4Addr::from(ip);
        EndpointRecord {
            container_id: id.to_string(),
            name: Some(name.to_string()),
            ip,
            mac: MacAddr::from_ipv4(ip),
            host_veth: format!("veth{id}"),
            ifname: "eth0".into(),
            aliases: vec![format!("{name}-alias")],
            ports: vec![],
            hosts: hosts.map(|p| HostsConfig {
                path: PathBuf::from(p),
                spec: HostsSpec {
                    hostname: name.to_string(),
                    ..HostsSpec::default()
                },
            }),
            attached_at: at,
        }
    }

    fn net(name: &str, subnet: &str, default: bool, eps: Vec<EndpointRecord>) -> NetworkRecord {
        let subnet: crate::Ipv4Net = subnet.parse().unwrap();
        NetworkRecord {
            id: format!("{name:0>64}"),
            name: name.into(),
            created: String::new(),
            driver: "bridge".into(),
            subnet,
            gateway: subnet.first_host().unwrap(),
            internal: false,
            bridge: format!("br-{name}"),
            default,
            last_allocated: None,
            labels: BTreeMap::new(),
            endpoints: eps
                .into_iter()
                .map(|e| (e.container_id.clone(), e))
                .collect(),
        }
    }

    #[test]
    fn hosts_list_peers_of_user_networks_only() {
        let a = "aaaaaaaaaaaaaaaa";
        let networks = vec![
            net(
                "bridge",
                "172.18.0.0/16",
                true,
                vec![
                    ep(a, "a", [172, 18, 0, 2], 1, Some("/x")),
                    ep("bbbb", "b", [172, 18, 0, 3], 2, None),
                ],
            ),
            net(
                "front",
                "172.19.0.0/16",
                false,
                vec![
                    ep(a, "a", [172, 19, 0, 2], 3, Some("/x")),
                    ep("cccc", "c", [172, 19, 0, 3], 4, None),
                ],
            ),
        ];
        let content = hosts_for(&networks, a).unwrap();
        // Own line from the first network attached (the default bridge here).
        assert!(content.contains("172.18.0.2\ta\n"), "{content}");
        // A peer of the user network, with name, short ID and alias; none of the
        // default network.
        assert!(
            content.contains("172.19.0.3\tc cccc c-alias\n"),
            "{content}"
        );
        assert!(!content.contains("172.18.0.3"), "{content}");
        assert!(
            hosts_for(&networks, "bbbb").is_none(),
            "no hosts config, no content"
        );
    }

    #[test]
    fn veth_names_fit_and_differ() {
        let n = Networks::new(crate::Config::new("/nonexistent")).unwrap();
        let a = n.veth_name(&"1".repeat(64), "c1");
        let b = n.veth_name(&"1".repeat(64), "c2");
        let c = n.veth_name(&"2".repeat(64), "c1");
        assert!(a.starts_with("veth") && a.len() == 15, "{a}");
        assert!(a != b && a != c);
        assert_eq!(a, n.veth_name(&"1".repeat(64), "c1"));
    }

    #[test]
    fn claim_tags_round_trip() {
        let ip = Ipv4Addr::new(172, 18, 0, 7);
        let tag = claim_tag(ip, &"f".repeat(64));
        assert_eq!(
            tag,
            format!("mydocker ip=172.18.0.7 container={}", "f".repeat(64))
        );
        assert!(tag.len() < 256, "IFALIASZ");
        assert_eq!(parse_claim(&tag), Some((ip, "f".repeat(64))));
        for other in [
            "",
            "uplink to the lab",
            "mydocker ip=nope",
            "mydockerip=1.2.3.4",
        ] {
            assert_eq!(parse_claim(other), None, "{other:?}");
        }
    }

    #[test]
    fn ids_and_aliases_are_checked() {
        validate_container_id(&"f".repeat(64)).unwrap();
        validate_container_id("web_1.x-y").unwrap();
        for bad in ["", "a b", "a\"b", &"f".repeat(65)] {
            assert!(validate_container_id(bad).is_err(), "{bad:?}");
        }
        validate_alias("db").unwrap();
        for bad in ["", "-db", "d b", "d#b"] {
            assert!(validate_alias(bad).is_err(), "{bad:?}");
        }
    }
}
