//! IPv4 subnets (`Ipv4Net`) and Ethernet addresses (`MacAddr`), parsed once and passed as
//! types everywhere after that.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// An IPv4 subnet in CIDR notation, always normalised (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Net {
    /// A subnet from an address and a prefix length; host bits of `addr` are cleared.
    ///
    /// # Errors
    /// [`Error::InvalidCidr`] when `prefix_len` is above 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, Error> {
        if prefix_len > 32 {
            return Err(Error::InvalidCidr {
                input: format!("{addr}/{prefix_len}"),
                reason: "prefix length must be between 0 and 32",
            });
        }
        Ok(Ipv4Net {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix_len)),
            prefix_len,
        })
    }

    /// A subnet from constant parts: host bits are cleared, a prefix length above 32 is
    /// taken as 32. For constants known to be right; parse user input with `FromStr`.
    pub(crate) const fn new_const(addr: Ipv4Addr, prefix_len: u8) -> Self {
        let prefix_len = if prefix_len > 32 { 32 } else { prefix_len };
        let mask = if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - prefix_len as u32)
        };
        Ipv4Net {
            network: Ipv4Addr::from_bits(addr.to_bits() & mask),
            prefix_len,
        }
    }

    /// The network address (first address of the subnet).
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The broadcast address (last address of the subnet).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix_len))
    }

    /// Whether `ip` lies inside the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix_len) == u32::from(self.network)
    }

    /// Whether two subnets share at least one address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let shorter = self.prefix_len.min(other.prefix_len);
        u32::from(self.network) & mask(shorter) == u32::from(other.network) & mask(shorter)
    }

    /// Number of addresses usable by hosts: everything but the network and broadcast
    /// addresses (a /31 or /32 has none in this model).
    pub fn usable_hosts(&self) -> u64 {
        let size = 1u64 << (32 - u32::from(self.prefix_len));
        size.saturating_sub(2)
    }

    /// The first usable host address (network + 1), the conventional gateway.
    pub fn first_host(&self) -> Option<Ipv4Addr> {
        (self.usable_hosts() > 0).then(|| Ipv4Addr::from(u32::from(self.network) + 1))
    }

    /// Whether `ip` is a usable host address of the subnet (inside it, and neither the
    /// network nor the broadcast address).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.broadcast() && self.usable_hosts() > 0
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Net {
    type Err = Error;

    /// Parses `A.B.C.D/N`. Host bits must be zero, as docker requires
    /// (`172.18.0.1/16` is refused: say `172.18.0.0/16`).
    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidCidr {
            input: s.to_string(),
            reason,
        };
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| invalid("expected ADDRESS/PREFIX, such as 172.20.0.0/16"))?;
        if addr.contains(':') {
            return Err(invalid("IPv6 subnets are not supported"));
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid("not an IPv4 address"))?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 2 {
            return Err(invalid("prefix length must be a number between 0 and 32"));
        }
        let len: u8 = len
            .parse()
            .map_err(|_| invalid("prefix length must be a number between 0 and 32"))?;
        let net = Ipv4Net::new(addr, len)
            .map_err(|_| invalid("prefix length must be between 0 and 32"))?;
        if net.network != addr {
            return Err(invalid("host bits are set; use the network address"));
        }
        Ok(net)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ethernet (MAC) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The address docker derives from an IPv4 address: `02:42:` followed by the four
    /// bytes of the address (locally administered, unicast).
    pub fn from_ipv4(ip: Ipv4Addr) -> Self {
        let o = ip.octets();
        MacAddr([0x02, 0x42, o[0], o[1], o[2], o[3]])
    }

    /// The six bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-`); refuses multicast addresses, which
    /// cannot be an interface's address.
    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidAddress {
            input: s.to_string(),
        };
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(invalid)?;
            if part.len() != 2 {
                return Err(invalid());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
        }
        if parts.next().is_some() || out[0] & 1 == 1 {
            return Err(invalid());
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses an IPv4 address with this crate's error.
///
/// # Errors
/// [`Error::InvalidAddress`] when `s` is not a dotted-quad IPv4 address.
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, Error> {
    s.parse().map_err(|_| Error::InvalidAddress {
        input: s.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_cidr() {
        let n = net("172.18.0.0/16");
        assert_eq!(n.network(), Ipv4Addr::new(172, 18, 0, 0));
        assert_eq!(n.prefix_len(), 16);
        assert_eq!(n.broadcast(), Ipv4Addr::new(172, 18, 255, 255));
        assert_eq!(n.to_string(), "172.18.0.0/16");
        assert_eq!(n.first_host(), Some(Ipv4Addr::new(172, 18, 0, 1)));
        assert_eq!(n.usable_hosts(), 65534);
        assert_eq!(net("0.0.0.0/0").broadcast(), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn refuses_bad_cidrs() {
        for bad in [
            "172.18.0.0",
            "172.18.0.0/33",
            "172.18.0.0/",
            "172.18.0.0/+8",
            "172.18.0.1/16",
            "172.18.0/16",
            "fd00::/64",
            "hello/8",
        ] {
            let err = bad.parse::<Ipv4Net>().unwrap_err();
            assert!(matches!(err, Error::InvalidCidr { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        let a = net("10.0.0.0/8");
        let b = net("10.200.0.0/16");
        let c = net("11.0.0.0/8");
        let d = net("10.200.1.0/24");
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(b.overlaps(&d) && d.overlaps(&b));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        assert!(!net("192.168.1.0/24").overlaps(&net("192.168.2.0/24")));
        assert!(net("192.168.1.0/24").overlaps(&net("192.168.1.128/25")));
        assert!(net("0.0.0.0/0").overlaps(&c));
    }

    #[test]
    fn host_addresses() {
        let n = net("10.1.2.0/30");
        assert_eq!(n.usable_hosts(), 2);
        assert!(!n.is_host(Ipv4Addr::new(10, 1, 2, 0)));
        assert!(n.is_host(Ipv4Addr::new(10, 1, 2, 1)));
        assert!(n.is_host(Ipv4Addr::new(10, 1, 2, 2)));
        assert!(!n.is_host(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(!n.is_host(Ipv4Addr::new(10, 1, 2, 4)));
        assert_eq!(net("10.1.2.0/31").first_host(), None);
    }

    #[test]
    fn mac_from_ip_and_parse() {
        let mac = MacAddr::from_ipv4(Ipv4Addr::new(172, 18, 0, 2));
        assert_eq!(mac.to_string(), "02:42:ac:12:00:02");
        assert_eq!("02:42:ac:12:00:02".parse::<MacAddr>().unwrap(), mac);
        assert!(
            "01:00:5e:00:00:01".parse::<MacAddr>().is_err(),
            "multicast refused"
        );
        assert!("02:42:ac:12:00".parse::<MacAddr>().is_err());
        assert!("02:42:ac:12:00:02:03".parse::<MacAddr>().is_err());
        assert!("zz:42:ac:12:00:02".parse::<MacAddr>().is_err());
    }

    #[test]
    fn serde_round_trip() {
        let n = net("10.9.0.0/24");
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"10.9.0.0/24\"");
        assert_eq!(serde_json::from_str::<Ipv4Net>(&json).unwrap(), n);
    }
}
