//! [`Networks`]: the handle on the state directory, and the network lifecycle (create,
//! the default network, list, inspect, remove, prune, purge). A network's kernel side
//! (bridge, nftables elements) is in [`crate::bridge`], what `network inspect` shows in
//! [`crate::info`], attaching containers in [`crate::endpoint`].

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use crate::addr::Ipv4Net;
use crate::bridge::{Existing, inspect_bridge};
use crate::config::{BRIDGE_ID_LEN, Config};
use crate::error::Error;
use crate::hostlock::{HostLock, bridge_lock_path, nft_lock_path};
use crate::info::NetworkInfo;
use crate::ipam::{check_overlap, choose_gateway, pick_subnet};
use crate::netlink::Netlink;
use crate::nft::Nft;
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
        let bridge_lock = self.lock_bridge(&bridge)?;
        let installed = self
            .new_record(&locked, id, name, bridge.clone(), opts, false, false)
            .and_then(|record| self.install(&mut locked, record));
        unlock_unless_made(installed, bridge_lock, &bridge)
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
        let bridge_lock = self.lock_bridge(&bridge)?;
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
        let installed = self
            .new_record(locked, id, &name, bridge.clone(), &opts, true, adopt)
            .and_then(|record| self.install(locked, record));
        unlock_unless_made(installed, bridge_lock, &bridge)
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
                if let Err(e) = self.teardown_endpoint(
                    &mut locked,
                    &mut record,
                    &cid,
                    crate::endpoint::VethEnd::Delete,
                ) {
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
}

/// `installed`, after removing the bridge's lock file when setting the network up failed
/// and left no bridge of that name (a refused subnet, say): the host as it was.
fn unlock_unless_made(
    installed: Result<NetworkInfo, Error>,
    lock: crate::hostlock::HostLock,
    bridge: &str,
) -> Result<NetworkInfo, Error> {
    if installed.is_err()
        && Netlink::open()
            .and_then(|mut nl| nl.link_index(bridge))
            .is_ok_and(|index| index.is_none())
    {
        lock.remove();
    }
    installed
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
