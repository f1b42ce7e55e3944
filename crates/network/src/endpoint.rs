//! Attaching containers to networks and detaching them: veth pair, address, routes,
//! published ports, hosts files; and recovery of what dead containers left. The
//! address and host ports are chosen in [`crate::claims`], the hosts files are kept in
//! step in [`crate::peers`].

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::addr::MacAddr;
use crate::bridge::net_rules;
use crate::claims::claim_tag;
use crate::config::{IFNAME_MAX, valid_ifname};
use crate::error::Error;
use crate::files::hosts_content;
use crate::netlink::Netlink;
use crate::networks::Networks;
use crate::peers::{rewrite_peers, write_existing, write_hosts};
use crate::ports::{PortSpec, PublishedPort};
use crate::state::{EndpointRecord, HostsConfig, Locked, NetworkRecord};
use crate::sys::{self, Netns};

/// What tearing an endpoint down does with its veth pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VethEnd {
    /// Delete it now (the container may live on).
    Delete,
    /// Leave it to the kernel, which deletes it with the container's (gone) network
    /// namespace.
    WithNamespace,
}

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

/// Checks what an attachment writes into files and interface names.
fn validate_attach(container_id: &str, opts: &AttachOptions) -> Result<(), Error> {
    validate_container_id(container_id)?;
    for alias in opts.aliases.iter().chain(&opts.name) {
        validate_alias(alias)?;
    }
    if let Some(name) = &opts.ifname {
        if !valid_ifname(name) {
            return Err(Error::InvalidInterfaceName { name: name.clone() });
        }
    }
    Ok(())
}

/// Opens a container's network namespace, refusing the host's own.
fn open_container_netns(netns: &Netns) -> Result<(OwnedFd, PathBuf), Error> {
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
    Ok((ns_fd, ns_path))
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
        validate_attach(container_id, opts)?;
        let (ns_fd, ns_path) = open_container_netns(netns)?;
        let mut cnl = Netlink::open_in(ns_fd.as_fd(), &ns_path)?;

        let mut locked = self.store.lock_exclusive()?;
        let mut record = self.attach_target(&mut locked, container_id, network, opts)?;
        // Other roots of this host may use the same bridge (the default one) or table:
        // both claims are made under host-wide locks, held until ours are visible.
        let (ip, _bridge_lock) = self.claim_address(&record, opts.ip)?;
        let (ports, _nft_lock) = self.claim_ports(&locked, &opts.ports)?;
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
            let _ = self.teardown_endpoint(&mut locked, &mut record, container_id, VethEnd::Delete);
            return Err(e);
        }
        let mut result = attachment(&record, &endpoint);
        result.warnings = rewrite_peers(&locked.networks, &record, container_id);
        Ok(result)
    }

    /// The network a container is to be attached to (the default one is created on
    /// first use), refusing what it cannot take: `--ip` and `--network-alias` on the
    /// default network, a container attached already.
    fn attach_target(
        &self,
        locked: &mut Locked<'_>,
        container_id: &str,
        network: &str,
        opts: &AttachOptions,
    ) -> Result<NetworkRecord, Error> {
        let record = match locked.find(network) {
            Ok(r) => r.clone(),
            Err(Error::NetworkNotFound { .. }) if network == self.config.default_network => {
                self.ensure_default_locked(locked)?;
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
        Ok(record)
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
        veth: VethEnd,
    ) -> Result<Option<EndpointRecord>, Error> {
        let Some(ep) = record.endpoints.get(container_id).cloned() else {
            return Ok(None);
        };
        if !ep.ports.is_empty() {
            self.nft().remove_ports(ep.ip, &ep.ports)?;
        }
        if veth == VethEnd::Delete {
            // Deleting the host end deletes the pair: the container loses the interface.
            Netlink::open()?.delete_link(&ep.host_veth)?;
        }
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
        self.detach_locked(&mut locked, &mut record, container_id, VethEnd::Delete)
    }

    fn detach_locked(
        &self,
        locked: &mut Locked<'_>,
        record: &mut NetworkRecord,
        container_id: &str,
        veth: VethEnd,
    ) -> Result<Detached, Error> {
        let Some(ep) = self.teardown_endpoint(locked, record, container_id, veth)? else {
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
        self.detach_all_with(container_id, VethEnd::Delete)
    }

    /// As [`Networks::detach_all`], for a container whose network namespace is gone
    /// (every process of it has exited): its veth pairs are not deleted here, since
    /// the kernel deletes them with the namespace, in the background. Deleting one
    /// synchronously waits for an RCU grace period, tens of milliseconds that every
    /// `run --rm` on a bridge would otherwise spend at exit. Until the kernel is done
    /// (milliseconds), the pair's address claim stays visible, so a new endpoint
    /// takes another address meanwhile, or waits for a requested one (see
    /// [`Networks::attach`]).
    ///
    /// # Errors
    /// As [`Networks::detach`].
    pub fn detach_all_exited(&self, container_id: &str) -> Result<Detached, Error> {
        self.detach_all_with(container_id, VethEnd::WithNamespace)
    }

    fn detach_all_with(&self, container_id: &str, veth: VethEnd) -> Result<Detached, Error> {
        let mut locked = self.store.lock_exclusive()?;
        let records: Vec<NetworkRecord> = locked
            .networks
            .iter()
            .filter(|n| n.endpoints.contains_key(container_id))
            .cloned()
            .collect();
        let mut out = Detached::default();
        for mut record in records {
            let d = self.detach_locked(&mut locked, &mut record, container_id, veth)?;
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
                match self.teardown_endpoint(&mut locked, &mut record, &id, VethEnd::Delete) {
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

fn next_free_eth(cnl: &mut Netlink) -> Result<String, Error> {
    let names: BTreeSet<String> = cnl.links()?.into_iter().map(|(_, n)| n).collect();
    (0..1000)
        .map(|i| format!("eth{i}"))
        .find(|n| !names.contains(n))
        .ok_or_else(|| Error::InvalidInterfaceName {
            name: "eth0..eth999 all taken".to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
