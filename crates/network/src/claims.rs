//! What an attachment takes from what several roots of one host may share: an address
//! on a bridge and host ports, each chosen under a host-wide lock (see
//! [`crate::hostlock`]) that the caller holds until its own claim is visible to the
//! other roots.
//!
//! Addresses: the host end of every veth is labelled (`IFLA_IFALIAS`) with the
//! address and the container, by [`claim_tag`]. This is how roots sharing a bridge keep
//! out of each other's addresses. The truth is kept in the kernel rather than in a
//! shared file: a claim lives exactly as long as the veth pair, which the kernel
//! deletes with the container's network namespace, so a root deleted with `rm -rf`, a
//! killed monitor or a reboot never leaves a stale claim behind, and there is no second
//! record to keep consistent with the first. Allocation reads the claims of every port
//! of the bridge (whatever root made it) under the bridge's host-wide lock, and that
//! lock is held until the new veth is enslaved with its own label (one
//! `RTM_SETLINK`), so two roots can never pick the same address.
//!
//! Host ports: another root using the same nftables table has its published ports only
//! in the table; they are read from it under the table's host-wide lock, held until the
//! new ports are in it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::error::Error;
use crate::hostlock::HostLock;
use crate::ipam::Pool;
use crate::netlink::Netlink;
use crate::networks::Networks;
use crate::ports::{PortSpec, PublishedPort, choose_host_ports};
use crate::state::{Locked, NetworkRecord};

impl Networks {
    /// Chooses the address of a new endpoint on `record`'s network: `requested`
    /// (`--ip`) if it is free, else the next free one. Taken are the addresses of this
    /// root's records and those claimed on the bridge by any root's containers. Returns
    /// the bridge's host-wide lock with it, to hold until the new veth carries its claim.
    pub(crate) fn claim_address(
        &self,
        record: &NetworkRecord,
        requested: Option<Ipv4Addr>,
    ) -> Result<(Ipv4Addr, HostLock), Error> {
        let lock = self.lock_bridge(&record.bridge)?;
        let mut nl = Netlink::open()?;
        let mut used = claims(&mut nl, &record.bridge)?;
        // A requested address may still be claimed by the veth of a container that has
        // just exited: the kernel deletes that pair with its network namespace, in the
        // background (see `Networks::detach_all_exited`). Wait a little for it.
        if let Some(ip) = requested
            && !record.endpoints.values().any(|e| e.ip == ip)
        {
            for _ in 0..LINGER_POLLS {
                if !used.contains_key(&ip) {
                    break;
                }
                std::thread::sleep(LINGER_POLL);
                used = claims(&mut nl, &record.bridge)?;
            }
        }
        used.extend(record.used_addresses());
        let ip = Pool {
            network: &record.name,
            subnet: record.subnet,
            gateway: record.gateway,
            used: &used,
            last: record.last_allocated,
        }
        .allocate(requested)?;
        Ok((ip, lock))
    }

    /// Chooses host ports for `specs`. Taken are the ports published by this root's
    /// containers (in `locked`) and those in the nftables table (another root's, when
    /// it shares the table); see [`choose_host_ports`] for the rest. When there are
    /// ports to publish, returns the table's host-wide lock with them, to hold until
    /// they are in the table.
    pub(crate) fn claim_ports(
        &self,
        locked: &Locked<'_>,
        specs: &[PortSpec],
    ) -> Result<(Vec<PublishedPort>, Option<HostLock>), Error> {
        let mut taken: Vec<(PublishedPort, String)> = locked
            .networks
            .iter()
            .flat_map(|n| n.endpoints.values())
            .flat_map(|e| {
                let who = e.name.clone().unwrap_or_else(|| e.container_id.clone());
                e.ports.iter().map(move |p| (*p, who.clone()))
            })
            .collect();
        let lock = if specs.is_empty() {
            None
        } else {
            let lock = self.lock_nft()?;
            for (port, ip) in self.nft().published()? {
                let who = format!("at {ip}:{} of another mydocker root", port.container_port);
                taken.push((port, who));
            }
            Some(lock)
        };
        let ports = choose_host_ports(specs, &taken)?;
        Ok((ports, lock))
    }
}

/// The label (`IFLA_IFALIAS`) of the host end of a veth pair: `mydocker ip=A.B.C.D
/// container=ID`, shown by `ip link` as `alias …` (see the module's doc).
pub(crate) fn claim_tag(ip: Ipv4Addr, container_id: &str) -> String {
    format!("{CLAIM_PREFIX}ip={ip} container={container_id}")
}

const CLAIM_PREFIX: &str = "mydocker ";

/// How often and how long a requested address claimed by another veth is polled for:
/// a pair whose namespace is being destroyed goes within milliseconds; a live
/// container's claim is reported after a second.
const LINGER_POLL: std::time::Duration = std::time::Duration::from_millis(20);
const LINGER_POLLS: u32 = 50;

/// Parses a label written by [`claim_tag`]: (address, container ID).
fn parse_claim(alias: &str) -> Option<(Ipv4Addr, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
