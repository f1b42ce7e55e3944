//! [`Networks`]: the handle on the state directory, and the network lifecycle (create,
//! list, inspect, remove, prune). Attaching containers is in [`crate::endpoint`].

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::addr::{Ipv4Net, MacAddr};
use crate::config::{BRIDGE_ID_LEN, Config};
use crate::error::Error;
use crate::hostlock::{HostLock, bridge_lock_path, nft_lock_path};
use crate::ipam::choose_gateway;
use crate::netlink::Netlink;
use crate::nft::{NetRules, Nft};
use crate::state::{Locked, NetworkRecord, Store};
use crate::sys;

/// Options of `network create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// The subnet (`--subnet`); `None` picks a free /16 from 172.19.0.0 to 172.31.0.0,
    /// then a free /20 of 192.168.0.0/16, like docker's default pools.
    pub subnet: Option<Ipv4Net>,
    /// The gateway (`--gateway`); `None` means the first address of the subnet.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`: no masquerading, no default route in containers, traffic leaving
    /// the bridge is dropped.
    pub internal: bool,
    /// `--label` values.
    pub labels: BTreeMap<String, String>,
}

/// A network as `network inspect` prints it (docker's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInfo {
    /// Name.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Always `local`.
    pub scope: String,
    /// Always `bridge`.
    pub driver: String,
    /// Always false: networks are IPv4 only.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// `--internal`.
    pub internal: bool,
    /// Always false.
    pub attachable: bool,
    /// Attached containers by ID.
    pub containers: BTreeMap<String, ContainerEndpoint>,
    /// Driver options: `com.docker.network.bridge.name` gives the bridge.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// The `IPAM` object of `network inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// Always `default`.
    pub driver: String,
    /// One entry: the IPv4 subnet.
    pub config: Vec<IpamConfig>,
}

/// One `IPAM.Config` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// The subnet.
    pub subnet: Ipv4Net,
    /// The gateway (the bridge's address).
    pub gateway: Ipv4Addr,
}

/// One `Containers` entry of `network inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerEndpoint {
    /// Container name (its ID when it has none).
    #[serde(rename = "Name")]
    pub name: String,
    /// Endpoint ID: sha256 of network and container IDs.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The container's MAC on this network.
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// `IP/prefix`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// Always empty.
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

impl NetworkInfo {
    /// The Linux bridge of the network.
    pub fn bridge(&self) -> &str {
        self.options
            .get(BRIDGE_NAME_OPTION)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The subnet.
    pub fn subnet(&self) -> Option<Ipv4Net> {
        self.ipam.config.first().map(|c| c.subnet)
    }

    /// The gateway.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.ipam.config.first().map(|c| c.gateway)
    }

    /// The short ID `network ls` prints (12 hex digits).
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

pub(crate) fn endpoint_id(network_id: &str, container_id: &str) -> String {
    hex::encode(Sha256::digest(format!("{network_id}/{container_id}")))
}

impl From<&NetworkRecord> for NetworkInfo {
    fn from(r: &NetworkRecord) -> Self {
        let containers = r
            .endpoints
            .values()
            .map(|e| {
                (
                    e.container_id.clone(),
                    ContainerEndpoint {
                        name: e.name.clone().unwrap_or_else(|| e.container_id.clone()),
                        endpoint_id: endpoint_id(&r.id, &e.container_id),
                        mac_address: e.mac.to_string(),
                        ipv4_address: format!("{}/{}", e.ip, r.subnet.prefix_len()),
                        ipv6_address: String::new(),
                    },
                )
            })
            .collect();
        let mut options = BTreeMap::new();
        options.insert(BRIDGE_NAME_OPTION.to_string(), r.bridge.clone());
        NetworkInfo {
            name: r.name.clone(),
            id: r.id.clone(),
            created: r.created.clone(),
            scope: "local".to_string(),
            driver: r.driver.clone(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".to_string(),
                config: vec![IpamConfig {
                    subnet: r.subnet,
                    gateway: r.gateway,
                }],
            },
            internal: r.internal,
            attachable: false,
            containers,
            options,
            labels: r.labels.clone(),
        }
    }
}

/// The networking library's handle: configuration plus state directory. Cheap to
/// create; every method takes the state lock for as long as it needs it, so handles in
/// several processes (or threads) can be used at once.
#[derive(Debug, Clone)]
pub struct Networks {
    pub(crate) config: Config,
    pub(crate) store: Store,
}

impl Networks {
    /// A handle on the networks kept in `config.state_dir`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when a name in `config` is unusable.
    pub fn new(config: Config) -> Result<Networks, Error> {
        config.validate()?;
        let store = Store::new(&config.state_dir);
        Ok(Networks { config, store })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn nft(&self) -> Nft<'_> {
        Nft {
            program: &self.config.nft_program,
            table: &self.config.nft_table,
        }
    }

    /// Creates a user network and its bridge (`br-<12 hex of the ID>`).
    ///
    /// # Errors
    /// Invalid or taken name, overlapping subnet (with a network or a host route),
    /// invalid gateway, or a kernel / nft failure (then nothing is left behind).
    pub fn create(&self, name: &str, opts: &CreateOptions) -> Result<NetworkInfo, Error> {
        validate_network_name(name)?;
        if name == self.config.default_network || name == "host" || name == "none" {
            return Err(Error::PredefinedNetwork {
                name: name.to_string(),
                action: "created",
            });
        }
        let mut locked = self.store.lock_exclusive()?;
        if locked.networks.iter().any(|n| n.name == name) {
            return Err(Error::NetworkExists {
                name: name.to_string(),
            });
        }
        let id = sys::random_id()?;
        let bridge = format!("{}{}", self.config.bridge_prefix, &id[..BRIDGE_ID_LEN]);
        let _bridge_lock = self.lock_bridge(&bridge)?;
        let record = self.new_record(&locked, id, name, bridge, opts, false, false)?;
        self.install(&mut locked, record)
    }

    /// Creates the default network (`bridge` on `mydocker0`) unless it exists.
    ///
    /// A bridge of the configured name may already exist: left by a root that was
    /// deleted (`rm -rf ROOT` leaves the kernel's objects), or in use by another root
    /// of this host. Like dockerd with an existing `docker0`, it is adopted when it is a
    /// bridge carrying the configured gateway and prefix (or no address at all), and
    /// what is missing is restored: address, up state, `route_localnet`, nftables
    /// elements. Its route does not count as an overlap. Anything else under that name
    /// is refused before anything is changed.
    ///
    /// # Errors
    /// As [`Networks::create`]; [`Error::BridgeConflict`] when the name is taken by
    /// something that cannot be adopted; a default subnet overlapping another host
    /// route says so.
    pub fn ensure_default(&self) -> Result<NetworkInfo, Error> {
        let mut locked = self.store.lock_exclusive()?;
        self.ensure_default_locked(&mut locked)
    }

    pub(crate) fn ensure_default_locked(
        &self,
        locked: &mut Locked<'_>,
    ) -> Result<NetworkInfo, Error> {
        if let Some(n) = locked.networks.iter().find(|n| n.default) {
            return Ok(NetworkInfo::from(n));
        }
        let opts = CreateOptions {
            subnet: Some(self.config.default_subnet),
            gateway: self.config.default_gateway,
            internal: false,
            labels: BTreeMap::new(),
        };
        let gateway = choose_gateway(self.config.default_subnet, self.config.default_gateway)?;
        let bridge = self.config.default_bridge.clone();
        // Held until the bridge is set up: another root adopting or creating the same
        // bridge waits, and then adopts it.
        let _bridge_lock = self.lock_bridge(&bridge)?;
        let adopt = match inspect_bridge(
            &mut Netlink::open()?,
            &bridge,
            gateway,
            self.config.default_subnet.prefix_len(),
        )? {
            Existing::Absent => false,
            Existing::Bridge { .. } => true,
        };
        let id = sys::random_id()?;
        let name = self.config.default_network.clone();
        let record = self.new_record(locked, id, &name, bridge, &opts, true, adopt)?;
        self.install(locked, record)
    }

    /// Takes the host-wide lock of a bridge (see [`crate::hostlock`]).
    pub(crate) fn lock_bridge(&self, bridge: &str) -> Result<HostLock, Error> {
        HostLock::acquire(bridge_lock_path(&self.config.lock_dir, bridge))
    }

    /// Takes the host-wide lock of the nftables table (see [`crate::hostlock`]).
    pub(crate) fn lock_nft(&self) -> Result<HostLock, Error> {
        HostLock::acquire(nft_lock_path(&self.config.lock_dir, &self.config.nft_table))
    }

    /// A new network's record. `adopt`: the bridge exists already (checked by
    /// [`inspect_bridge`]), so its own routes are no overlap.
    #[allow(clippy::too_many_arguments)]
    fn new_record(
        &self,
        locked: &Locked<'_>,
        id: String,
        name: &str,
        bridge: String,
        opts: &CreateOptions,
        default: bool,
        adopt: bool,
    ) -> Result<NetworkRecord, Error> {
        let routes = if self.config.check_host_routes {
            self.host_routes(locked, adopt.then_some(bridge.as_str()))?
        } else {
            Vec::new()
        };
        let subnet = match opts.subnet {
            Some(subnet) => {
                check_overlap(subnet, &locked.networks, &routes)?;
                subnet
            }
            None => pick_subnet(&locked.networks, &routes)?,
        };
        let gateway = choose_gateway(subnet, opts.gateway)?;
        Ok(NetworkRecord {
            id,
            name: name.to_string(),
            created: sys::rfc3339(sys::now_nanos()),
            driver: "bridge".to_string(),
            subnet,
            gateway,
            internal: opts.internal,
            bridge,
            default,
            last_allocated: None,
            labels: opts.labels.clone(),
            endpoints: BTreeMap::new(),
        })
    }

    /// Host routes not on one of our bridges (nor on `adopted`, the bridge being
    /// adopted), with their interface names.
    fn host_routes(
        &self,
        locked: &Locked<'_>,
        adopted: Option<&str>,
    ) -> Result<Vec<(Ipv4Net, String)>, Error> {
        let mut nl = Netlink::open()?;
        let names: HashMap<u32, String> = nl.links()?.into_iter().collect();
        let ours: Vec<&str> = locked
            .networks
            .iter()
            .map(|n| n.bridge.as_str())
            .chain(adopted)
            .collect();
        Ok(nl
            .routes()?
            .into_iter()
            .filter(|r| r.dst.prefix_len() > 0)
            .map(|r| {
                let dev = r
                    .oif
                    .and_then(|i| names.get(&i).cloned())
                    .unwrap_or_else(|| "?".to_string());
                (r.dst, dev)
            })
            .filter(|(_, dev)| !ours.contains(&dev.as_str()))
            .collect())
    }

    /// Saves the record, then sets up nftables and the bridge; undoes all on failure
    /// (but never deletes a bridge that existed before). The caller holds the
    /// bridge's lock.
    fn install(
        &self,
        locked: &mut Locked<'_>,
        record: NetworkRecord,
    ) -> Result<NetworkInfo, Error> {
        locked.save(&record)?;
        if let Err(e) = self.setup_infra(&record) {
            let _ = locked.delete(&record.id);
            return Err(e);
        }
        Ok(NetworkInfo::from(&record))
    }

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
    fn setup_infra(&self, record: &NetworkRecord) -> Result<u32, Error> {
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
    fn teardown_infra(&self, record: &NetworkRecord) -> Result<(), Error> {
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

    /// Every network, oldest first.
    ///
    /// # Errors
    /// The state cannot be read.
    pub fn list(&self) -> Result<Vec<NetworkInfo>, Error> {
        let locked = self.store.lock_shared()?;
        Ok(locked.networks.iter().map(NetworkInfo::from).collect())
    }

    /// One network by name, ID or unique ID prefix.
    ///
    /// # Errors
    /// [`Error::NetworkNotFound`], [`Error::AmbiguousNetwork`].
    pub fn inspect(&self, name_or_id: &str) -> Result<NetworkInfo, Error> {
        let locked = self.store.lock_shared()?;
        locked.find(name_or_id).map(NetworkInfo::from)
    }

    /// Removes a user network: its bridge, its nftables elements, its record.
    ///
    /// # Errors
    /// [`Error::NetworkNotFound`], [`Error::NetworkInUse`] while containers are
    /// attached, [`Error::PredefinedNetwork`] for the default network.
    pub fn remove(&self, name_or_id: &str) -> Result<(), Error> {
        let mut locked = self.store.lock_exclusive()?;
        let record = locked.find(name_or_id)?.clone();
        if record.default {
            return Err(Error::PredefinedNetwork {
                name: record.name,
                action: "removed",
            });
        }
        self.remove_locked(&mut locked, &record)
    }

    fn remove_locked(&self, locked: &mut Locked<'_>, record: &NetworkRecord) -> Result<(), Error> {
        if !record.endpoints.is_empty() {
            return Err(Error::NetworkInUse {
                name: record.name.clone(),
                containers: record
                    .endpoints
                    .values()
                    .map(|e| e.name.clone().unwrap_or_else(|| e.container_id.clone()))
                    .collect(),
            });
        }
        self.teardown_infra(record)?;
        locked.delete(&record.id)
    }

    /// Removes every user network without containers; returns their names.
    ///
    /// # Errors
    /// A kernel or nft failure while removing one (those removed before stay removed).
    pub fn prune(&self) -> Result<Vec<String>, Error> {
        let mut locked = self.store.lock_exclusive()?;
        let unused: Vec<NetworkRecord> = locked
            .networks
            .iter()
            .filter(|n| !n.default && n.endpoints.is_empty())
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for record in unused {
            self.remove_locked(&mut locked, &record)?;
            removed.push(record.name);
        }
        Ok(removed)
    }

    /// Removes everything the library made: endpoints (veths, published ports), every
    /// network including the default one, the nftables table and the records. For
    /// `system reset`-like commands and tests.
    ///
    /// # Errors
    /// A kernel or nft failure (the rest is still attempted; the first error is
    /// returned).
    pub fn purge(&self) -> Result<(), Error> {
        let mut locked = self.store.lock_exclusive()?;
        let mut first_err = None;
        let records = locked.networks.clone();
        for mut record in records {
            let ids: Vec<String> = record.endpoints.keys().cloned().collect();
            for cid in ids {
                if let Err(e) = self.teardown_endpoint(&mut locked, &mut record, &cid) {
                    first_err.get_or_insert(e);
                }
            }
            if let Err(e) = self.remove_locked(&mut locked, &record) {
                first_err.get_or_insert(e);
            }
        }
        if let Err(e) = self.delete_table_unless_shared() {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Deletes the nftables table, unless a bridge it lists still exists: then another
    /// root of this host uses the same table (its elements, and its published ports,
    /// stay).
    fn delete_table_unless_shared(&self) -> Result<(), Error> {
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

/// docker's rule for network names: a letter or digit, then letters, digits, `_.-`.
pub(crate) fn validate_network_name(name: &str) -> Result<(), Error> {
    let invalid = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    let Some(first) = name.bytes().next() else {
        return invalid("empty");
    };
    if !first.is_ascii_alphanumeric() {
        return invalid("must start with a letter or a digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return invalid("only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    }
    if name.len() > 128 {
        return invalid("longer than 128 characters");
    }
    Ok(())
}

fn check_overlap(
    subnet: Ipv4Net,
    networks: &[NetworkRecord],
    routes: &[(Ipv4Net, String)],
) -> Result<(), Error> {
    if let Some(n) = networks.iter().find(|n| n.subnet.overlaps(&subnet)) {
        return Err(Error::SubnetOverlapsNetwork {
            subnet,
            other: n.name.clone(),
            other_subnet: n.subnet,
        });
    }
    if let Some((route, dev)) = routes.iter().find(|(r, _)| r.overlaps(&subnet)) {
        return Err(Error::SubnetOverlapsRoute {
            subnet,
            route: *route,
            device: dev.clone(),
        });
    }
    Ok(())
}

/// docker-like default pools: 172.19-31.0.0/16, then 192.168.X.0/20.
fn pick_subnet(networks: &[NetworkRecord], routes: &[(Ipv4Net, String)]) -> Result<Ipv4Net, Error> {
    let pools = (19..=31u8)
        .map(|b| Ipv4Net::new_const(Ipv4Addr::new(172, b, 0, 0), 16))
        .chain((0..16u8).map(|i| Ipv4Net::new_const(Ipv4Addr::new(192, 168, i * 16, 0), 20)));
    for candidate in pools {
        if check_overlap(candidate, networks, routes).is_ok() {
            return Ok(candidate);
        }
    }
    Err(Error::NoFreeSubnet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, subnet: &str) -> NetworkRecord {
        let subnet: Ipv4Net = subnet.parse().unwrap();
        NetworkRecord {
            id: format!("{name:0>64}"),
            name: name.to_string(),
            created: String::new(),
            driver: "bridge".into(),
            subnet,
            gateway: subnet.first_host().unwrap(),
            internal: false,
            bridge: format!("br-{name}"),
            default: false,
            last_allocated: None,
            labels: BTreeMap::new(),
            endpoints: BTreeMap::new(),
        }
    }

    #[test]
    fn names_like_docker() {
        for ok in ["web", "my_net.1-a", "0net"] {
            validate_network_name(ok).unwrap();
        }
        for bad in ["", "-net", "my net", "net/1", "ünï"] {
            assert!(
                matches!(validate_network_name(bad), Err(Error::InvalidName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn overlap_with_networks_and_routes_is_reported() {
        let nets = vec![rec("front", "172.19.0.0/16")];
        let routes = vec![("192.0.2.0/24".parse().unwrap(), "eth0".to_string())];
        let err = check_overlap("172.19.5.0/24".parse().unwrap(), &nets, &routes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subnet 172.19.5.0/24 overlaps subnet 172.19.0.0/16 of network front"
        );
        let err = check_overlap("192.0.0.0/16".parse().unwrap(), &nets, &routes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subnet 192.0.0.0/16 overlaps host route 192.0.2.0/24 (interface eth0)"
        );
        check_overlap("10.1.0.0/16".parse().unwrap(), &nets, &routes).unwrap();
    }

    #[test]
    fn picks_the_first_free_pool() {
        let nets = vec![rec("a", "172.19.0.0/16"), rec("b", "172.20.0.0/24")];
        let routes = vec![("172.21.3.0/24".parse().unwrap(), "eth1".to_string())];
        assert_eq!(
            pick_subnet(&nets, &routes).unwrap().to_string(),
            "172.22.0.0/16"
        );
        let everything = vec![
            ("0.0.0.0/1".parse().unwrap(), "x".to_string()),
            ("128.0.0.0/1".parse().unwrap(), "y".to_string()),
        ];
        assert!(matches!(
            pick_subnet(&[], &everything),
            Err(Error::NoFreeSubnet)
        ));
    }

    #[test]
    fn inspect_json_has_docker_fields() {
        let r = rec("front", "172.19.0.0/16");
        let json = serde_json::to_value(NetworkInfo::from(&r)).unwrap();
        assert_eq!(json["Name"], "front");
        assert_eq!(json["Driver"], "bridge");
        assert_eq!(json["IPAM"]["Config"][0]["Subnet"], "172.19.0.0/16");
        assert_eq!(json["IPAM"]["Config"][0]["Gateway"], "172.19.0.1");
        assert_eq!(json["Internal"], false);
        assert_eq!(
            json["Options"]["com.docker.network.bridge.name"],
            "br-front"
        );
        assert!(json["Containers"].as_object().unwrap().is_empty());
        assert!(json["Created"].is_string() && json["Id"].is_string());
    }
}
