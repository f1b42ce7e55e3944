//! IP address management: the pure part. Which subnet a new network gets (one that
//! overlaps no other network nor a route of the host; docker's default pools when none
//! is asked for), and which address to hand out, given the subnet, the gateway, the
//! addresses in use and the last one handed out. Persistence and locking are in
//! [`crate::state`], what other roots hold in [`crate::claims`]; this module only
//! decides.
//!
//! Like docker, allocation goes round-robin from the address after the last one handed
//! out, so an address released by a container that just exited is not given to the next
//! one at once (stale ARP entries and connections then do not hit the wrong container).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::addr::Ipv4Net;
use crate::error::Error;
use crate::state::NetworkRecord;

/// The inputs of one allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pool<'a> {
    /// Name of the network, for error messages.
    pub network: &'a str,
    /// The subnet.
    pub subnet: Ipv4Net,
    /// The gateway (the bridge's address), never handed out.
    pub gateway: Ipv4Addr,
    /// Addresses in use and who holds them.
    pub used: &'a BTreeMap<Ipv4Addr, String>,
    /// The last address handed out, where the next search starts.
    pub last: Option<Ipv4Addr>,
}

impl Pool<'_> {
    /// Validates a requested address (`--ip`) or finds a free one.
    pub(crate) fn allocate(&self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr, Error> {
        match requested {
            Some(ip) => self.check_requested(ip),
            None => self.next_free(),
        }
    }

    fn check_requested(&self, ip: Ipv4Addr) -> Result<Ipv4Addr, Error> {
        if !self.subnet.contains(ip) {
            return Err(Error::AddressOutsideSubnet {
                ip,
                subnet: self.subnet,
                network: self.network.to_string(),
            });
        }
        if !self.subnet.is_host(ip) || ip == self.gateway {
            return Err(Error::AddressReserved {
                ip,
                network: self.network.to_string(),
            });
        }
        if let Some(holder) = self.used.get(&ip) {
            return Err(Error::AddressInUse {
                ip,
                network: self.network.to_string(),
                holder: holder.clone(),
            });
        }
        Ok(ip)
    }

    fn next_free(&self) -> Result<Ipv4Addr, Error> {
        let first = u32::from(self.subnet.network()) + 1;
        let last = u32::from(self.subnet.broadcast()).saturating_sub(1);
        let exhausted = || Error::PoolExhausted {
            network: self.network.to_string(),
            subnet: self.subnet,
        };
        if self.subnet.usable_hosts() == 0 || first > last {
            return Err(exhausted());
        }
        let start = match self.last.map(u32::from) {
            Some(l) if l >= first && l < last => l + 1,
            _ => first,
        };
        // At most one full turn of the pool (bounded by the subnet size).
        let size = u64::from(last - first) + 1;
        let mut candidate = start;
        for _ in 0..size {
            let ip = Ipv4Addr::from(candidate);
            if ip != self.gateway && !self.used.contains_key(&ip) {
                return Ok(ip);
            }
            candidate = if candidate >= last {
                first
            } else {
                candidate + 1
            };
        }
        Err(exhausted())
    }
}

/// Checks a gateway for a subnet, or picks the first host address.
pub(crate) fn choose_gateway(
    subnet: Ipv4Net,
    gateway: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, Error> {
    if subnet.usable_hosts() < 2 {
        return Err(Error::SubnetTooSmall { subnet });
    }
    match gateway {
        Some(gw) if subnet.is_host(gw) => Ok(gw),
        Some(gw) => Err(Error::InvalidGateway {
            gateway: gw,
            subnet,
        }),
        None => subnet.first_host().ok_or(Error::SubnetTooSmall { subnet }),
    }
}

/// Checks that `subnet` overlaps neither a network nor a host route (with its device).
pub(crate) fn check_overlap(
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
pub(crate) fn pick_subnet(
    networks: &[NetworkRecord],
    routes: &[(Ipv4Net, String)],
) -> Result<Ipv4Net, Error> {
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

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn pool<'a>(
        subnet: &str,
        used: &'a BTreeMap<Ipv4Addr, String>,
        last: Option<&str>,
    ) -> Pool<'a> {
        let subnet: Ipv4Net = subnet.parse().unwrap();
        Pool {
            network: "n",
            subnet,
            gateway: subnet.first_host().unwrap(),
            used,
            last: last.map(ip),
        }
    }

    #[test]
    fn first_allocation_skips_the_gateway() {
        let used = BTreeMap::new();
        assert_eq!(
            pool("10.0.0.0/24", &used, None).allocate(None).unwrap(),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn round_robin_after_last_and_wraps() {
        let mut used = BTreeMap::new();
        used.insert(ip("10.0.0.2"), "a".to_string());
        let p = pool("10.0.0.0/29", &used, Some("10.0.0.4"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.0.0.5"));
        // After the last usable address (.6) the search wraps to the start, skipping
        // the gateway (.1) and the used .2.
        let p = pool("10.0.0.0/29", &used, Some("10.0.0.6"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.0.0.3"));
    }

    #[test]
    fn exhaustion_is_an_error() {
        let mut used = BTreeMap::new();
        used.insert(ip("10.0.0.2"), "a".to_string());
        let p = pool("10.0.0.0/30", &used, None);
        let err = p.allocate(None).unwrap_err();
        assert!(matches!(err, Error::PoolExhausted { .. }), "{err}");
    }

    #[test]
    fn requested_address_checks() {
        let mut used = BTreeMap::new();
        used.insert(ip("10.0.0.7"), "web".to_string());
        let p = pool("10.0.0.0/24", &used, None);
        assert_eq!(p.allocate(Some(ip("10.0.0.9"))).unwrap(), ip("10.0.0.9"));
        let outside = p.allocate(Some(ip("10.0.1.9"))).unwrap_err();
        assert!(
            matches!(outside, Error::AddressOutsideSubnet { .. }),
            "{outside}"
        );
        for reserved in ["10.0.0.0", "10.0.0.1", "10.0.0.255"] {
            let err = p.allocate(Some(ip(reserved))).unwrap_err();
            assert!(
                matches!(err, Error::AddressReserved { .. }),
                "{reserved}: {err}"
            );
        }
        let taken = p.allocate(Some(ip("10.0.0.7"))).unwrap_err();
        assert!(taken.to_string().contains("by container web"), "{taken}");
    }

    #[test]
    fn every_address_once_until_full() {
        let mut used = BTreeMap::new();
        let subnet = "10.3.0.0/28";
        let mut last = None;
        for i in 0..13 {
            let p = Pool {
                last,
                ..pool(subnet, &used, None)
            };
            let got = p.allocate(None).unwrap();
            assert!(!used.contains_key(&got));
            used.insert(got, format!("c{i}"));
            last = Some(got);
        }
        let p = pool(subnet, &used, None);
        assert!(p.allocate(None).is_err());
    }

    #[test]
    fn gateway_choice() {
        let subnet: Ipv4Net = "10.4.0.0/16".parse().unwrap();
        assert_eq!(choose_gateway(subnet, None).unwrap(), ip("10.4.0.1"));
        assert_eq!(
            choose_gateway(subnet, Some(ip("10.4.9.9"))).unwrap(),
            ip("10.4.9.9")
        );
        assert!(matches!(
            choose_gateway(subnet, Some(ip("10.5.0.1"))),
            Err(Error::InvalidGateway { .. })
        ));
        assert!(matches!(
            choose_gateway(subnet, Some(ip("10.4.255.255"))),
            Err(Error::InvalidGateway { .. })
        ));
        assert!(matches!(
            choose_gateway("10.4.0.0/31".parse().unwrap(), None),
            Err(Error::SubnetTooSmall { .. })
        ));
    }

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
}
