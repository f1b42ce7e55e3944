//! The kernel side of a network: its bridge and its nftables elements, set up, adopted,
//! completed and deleted under the bridge's host-wide lock, and the nftables table,
//! deleted under the table's (see [`crate::hostlock`]).
//!
//! A bridge of a network's name may exist already: after a reboot only the records are
//! left, and the bridge is created again; a default bridge left by a deleted root, or in
//! use by another root of this host, is adopted when it is a bridge with the network's
//! gateway (or no address), and what is missing is restored (address, up state,
//! `route_localnet`, nftables elements). Anything else under that name is someone
//! else's: [`Error::BridgeConflict`], and it is left alone. The default bridge is
//! deleted only when no other root's container is on it, and the table only when no
//! bridge it lists is left.

use std::net::Ipv4Addr;

use crate::addr::MacAddr;
use crate::error::Error;
use crate::netlink::Netlink;
use crate::networks::Networks;
use crate::nft::NetRules;
use crate::state::NetworkRecord;
use crate::sys;

impl Networks {
    /// Makes sure the bridge of a network exists, carries its gateway, is up and has
    /// `route_localnet`, with its nftables elements (after a reboot only the records
    /// are left; an address can have been removed by hand). The fast path, a bridge
    /// with nothing missing, is two netlink requests and a sysctl read. The caller
    /// holds the bridge's lock.
    ///
    /// # Errors
    /// [`Error::BridgeConflict`] when the name is taken by something else.
    pub(crate) fn ensure_infra(
        &self,
        record: &NetworkRecord,
        nl: &mut Netlink,
    ) -> Result<u32, Error> {
        match inspect_bridge(
            nl,
            &record.bridge,
            record.gateway,
            record.subnet.prefix_len(),
        )? {
            Existing::Bridge {
                index,
                complete: true,
            } => Ok(index),
            Existing::Bridge { .. } | Existing::Absent => self.setup_infra(record),
        }
    }

    /// Sets up (or completes) a network's bridge and nftables elements, idempotently.
    /// Elements go first, so an existing bridge always has its rules. On failure,
    /// what was made is removed if the bridge did not exist before; an existing bridge
    /// (another root's, or adopted) is left as it was found, with its elements.
    pub(crate) fn setup_infra(&self, record: &NetworkRecord) -> Result<u32, Error> {
        let existed = Netlink::open()?.link_index(&record.bridge)?.is_some();
        let result = self.setup_infra_steps(record);
        if result.is_err() && !existed {
            let _ = self.delete_infra(record);
        }
        result
    }

    fn setup_infra_steps(&self, record: &NetworkRecord) -> Result<u32, Error> {
        let nft = self.nft();
        nft.apply(&nft.add_network_script(&net_rules(record)))?;
        if !record.internal && self.config.manage_ip_forward {
            let path = "/proc/sys/net/ipv4/ip_forward";
            if sys::read_sysctl(path)? != "1" {
                sys::write_sysctl(path, "1")?;
            }
        }
        let mut nl = Netlink::open()?;
        let index = match nl.link_index(&record.bridge)? {
            Some(index) => index,
            None => {
                // docker's MAC scheme applied to the gateway: never a container's MAC.
                nl.create_bridge(&record.bridge, MacAddr::from_ipv4(record.gateway))?;
                nl.link_index(&record.bridge)?.ok_or_else(|| {
                    Error::netlink(
                        format!("find bridge {} after creating it", record.bridge),
                        std::io::Error::from(std::io::ErrorKind::NotFound),
                    )
                })?
            }
        };
        nl.add_address(
            index,
            record.gateway,
            record.subnet.prefix_len(),
            &record.bridge,
        )?;
        // Lets DNAT'ed traffic from 127.0.0.1 be routed to (and answered through) this
        // bridge; set on our bridges only, never globally.
        sys::write_sysctl(&route_localnet_path(&record.bridge), "1")?;
        nl.set_up(index, &format!("bridge {}", record.bridge))?;
        Ok(index)
    }

    /// Deletes a network's bridge and nftables elements, under the bridge's lock.
    ///
    /// The default bridge may be shared with other roots of this host: it is kept,
    /// with its elements, while any port is still enslaved to it (another root's
    /// containers; ours are gone, since a network with endpoints is never removed),
    /// and an interface of that name that is not an adoptable bridge is not ours to
    /// delete.
    pub(crate) fn teardown_infra(&self, record: &NetworkRecord) -> Result<(), Error> {
        let lock = self.lock_bridge(&record.bridge)?;
        if record.default {
            let mut nl = Netlink::open()?;
            let gateway = (record.gateway, record.subnet.prefix_len());
            match inspect_bridge(&mut nl, &record.bridge, gateway.0, gateway.1) {
                Ok(Existing::Absent) => {}
                Ok(Existing::Bridge { index, .. }) => {
                    if !nl.ports_of(index)?.is_empty() {
                        return Ok(());
                    }
                }
                Err(Error::BridgeConflict { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.delete_infra(record)?;
        lock.remove();
        Ok(())
    }

    fn delete_infra(&self, record: &NetworkRecord) -> Result<(), Error> {
        let mut nl = Netlink::open()?;
        nl.delete_link(&record.bridge)?;
        let nft = self.nft();
        nft.apply(&nft.remove_network_script(&net_rules(record)))
    }

    /// Deletes the nftables table, unless a bridge it lists still exists: then another
    /// root of this host uses the same table (its elements, and its published ports,
    /// stay).
    pub(crate) fn delete_table_unless_shared(&self) -> Result<(), Error> {
        let lock = self.lock_nft()?;
        let nft = self.nft();
        if let Some(bridges) = nft.bridges()? {
            let mut nl = Netlink::open()?;
            for b in bridges {
                if nl.link_index(&b)?.is_some() {
                    return Ok(());
                }
            }
        }
        nft.delete_table()?;
        lock.remove();
        Ok(())
    }
}

/// What exists under the name of a network's bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing.
    Absent,
    /// A bridge that carries the network's gateway with its prefix, or no IPv4
    /// address: ours to use. `complete` when nothing is missing (address, up state,
    /// `route_localnet`).
    Bridge { index: u32, complete: bool },
}

/// Looks at what exists under a bridge's name. A link that is not a bridge, or a
/// bridge with another IPv4 address than `gateway/prefix`, is a conflict: its owner is
/// someone else, and it is left alone.
pub(crate) fn inspect_bridge(
    nl: &mut Netlink,
    bridge: &str,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<Existing, Error> {
    let Some(link) = nl.link(bridge)? else {
        return Ok(Existing::Absent);
    };
    if !link.is_bridge {
        let found = match &link.kind {
            Some(kind) => format!("and is a {kind}, not a bridge"),
            None => "and is not a bridge".to_string(),
        };
        return Err(Error::BridgeConflict {
            what: "interface",
            bridge: bridge.to_string(),
            found,
        });
    }
    let addrs = nl.addresses(link.index)?;
    let others: Vec<String> = addrs
        .iter()
        .filter(|a| **a != (gateway, prefix))
        .map(|(ip, len)| format!("{ip}/{len}"))
        .collect();
    if !others.is_empty() {
        return Err(Error::BridgeConflict {
            what: "bridge",
            bridge: bridge.to_string(),
            found: format!("with address {}, not {gateway}/{prefix}", others.join(", ")),
        });
    }
    let complete = !addrs.is_empty()
        && link.up
        && sys::read_sysctl(&route_localnet_path(bridge)).is_ok_and(|v| v == "1");
    Ok(Existing::Bridge {
        index: link.index,
        complete,
    })
}

fn route_localnet_path(bridge: &str) -> String {
    format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet")
}

pub(crate) fn net_rules(record: &NetworkRecord) -> NetRules<'_> {
    NetRules {
        bridge: &record.bridge,
        subnet: record.subnet,
        internal: record.internal,
    }
}
