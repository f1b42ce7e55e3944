//! Port publishing: parsing `-p`/`--publish` and `-P` the way docker does, and choosing
//! host ports (checking that a fixed one is free by binding it briefly, or letting the
//! kernel pick a random one).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`, as nftables and docker spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Host ports asked for by one `-p` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPort {
    /// Any free port (`-p 80`, `-p 127.0.0.1::80`, `-P`).
    Random,
    /// Exactly this port.
    Fixed(u16),
    /// Any free port of this inclusive range (`-p 8000-8010:80`).
    Range(u16, u16),
}

/// One port to publish, as the user asked for it (before host ports are chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The host address to listen on; `None` means every address of the host.
    pub host_ip: Option<Ipv4Addr>,
    /// The host port(s).
    pub host_port: HostPort,
    /// The container's port.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl PortSpec {
    /// Parses one `-p`/`--publish` value. Accepted forms, as docker's:
    /// `CONTAINERPORT`, `HOSTPORT:CONTAINERPORT`, `HOSTIP:HOSTPORT:CONTAINERPORT`,
    /// `HOSTIP::CONTAINERPORT`, each with an optional `/tcp` or `/udp` suffix, and port
    /// ranges `8000-8001:80-81` (one entry per port). A host range with a single
    /// container port (`8000-8010:80`) publishes one port taken from the range.
    ///
    /// # Errors
    /// [`Error::InvalidPortSpec`] with the reason.
    pub fn parse(spec: &str) -> Result<Vec<PortSpec>, Error> {
        let invalid = |reason: &str| Error::InvalidPortSpec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (rest, protocol) = match spec.rsplit_once('/') {
            Some((rest, proto)) => (rest, parse_protocol(proto).map_err(|r| invalid(&r))?),
            None => (spec, Protocol::Tcp),
        };
        if rest.starts_with('[') || rest.matches(':').count() > 2 {
            return Err(invalid("IPv6 host addresses are not supported"));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (host_ip, host, container) = match parts.as_slice() {
            [c] => (None, "", *c),
            [h, c] => (None, *h, *c),
            [ip, h, c] => {
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| invalid(&format!("{ip:?} is not an IPv4 host address")))?;
                (Some(ip), *h, *c)
            }
            _ => {
                return Err(invalid(
                    "expected [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]",
                ));
            }
        };
        if container.is_empty() {
            return Err(invalid("no container port"));
        }
        let (c_lo, c_hi) =
            parse_range(container).map_err(|r| invalid(&format!("container port: {r}")))?;
        let host_range = if host.is_empty() {
            None
        } else {
            Some(parse_range(host).map_err(|r| invalid(&format!("host port: {r}")))?)
        };
        let one = |host_port, container_port| PortSpec {
            host_ip,
            host_port,
            container_port,
            protocol,
        };
        match host_range {
            None => Ok((c_lo..=c_hi).map(|c| one(HostPort::Random, c)).collect()),
            Some((h_lo, h_hi)) if c_lo == c_hi && h_lo != h_hi => {
                Ok(vec![one(HostPort::Range(h_lo, h_hi), c_lo)])
            }
            Some((h_lo, h_hi)) if h_hi - h_lo == c_hi - c_lo => Ok((0..=(c_hi - c_lo))
                .map(|i| one(HostPort::Fixed(h_lo + i), c_lo + i))
                .collect()),
            Some(_) => Err(invalid(
                "host and container port ranges have different sizes",
            )),
        }
    }

    /// The ports of `-P`: every exposed port of the image (`80/tcp`, `53/udp`, `8080`)
    /// published on a random host port of every address.
    ///
    /// # Errors
    /// [`Error::InvalidPortSpec`] when an exposed port is malformed.
    pub fn publish_all<S: AsRef<str>>(exposed: &[S]) -> Result<Vec<PortSpec>, Error> {
        let mut out = Vec::new();
        for e in exposed {
            let e = e.as_ref();
            let invalid = |reason: String| Error::InvalidPortSpec {
                spec: e.to_string(),
                reason,
            };
            let (port, protocol) = match e.rsplit_once('/') {
                Some((p, proto)) => (p, parse_protocol(proto).map_err(invalid)?),
                None => (e, Protocol::Tcp),
            };
            let (lo, hi) = parse_range(port).map_err(invalid)?;
            out.extend((lo..=hi).map(|container_port| PortSpec {
                host_ip: None,
                host_port: HostPort::Random,
                container_port,
                protocol,
            }));
        }
        Ok(out)
    }
}

impl FromStr for Protocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        parse_protocol(s).map_err(|reason| Error::InvalidPortSpec {
            spec: s.to_string(),
            reason,
        })
    }
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Err("sctp is not supported".to_string()),
        other => Err(format!("unknown protocol {other:?} (expected tcp or udp)")),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a port number"));
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{s} is not a port between 1 and 65535")),
        Ok(p) => Ok(p),
    }
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        None => parse_port(s).map(|p| (p, p)),
        Some((lo, hi)) => {
            let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
            if lo > hi {
                return Err(format!("range {s} ends before it starts"));
            }
            Ok((lo, hi))
        }
    }
}

/// A published port as set up: the host port is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The host address (`0.0.0.0` for every address of the host).
    pub host_ip: Ipv4Addr,
    /// The host port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl PublishedPort {
    /// Whether two published ports would catch the same packets.
    pub fn conflicts_with(&self, other: &PublishedPort) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || self.host_ip.is_unspecified()
                || other.host_ip.is_unspecified())
    }
}

impl fmt::Display for PublishedPort {
    /// docker's `ps` form: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.protocol
        )
    }
}

/// Chooses host ports for `specs`. `taken` lists the ports already published (with the
/// container holding each); a fixed port must also be bindable on the host right now.
pub(crate) fn choose_host_ports(
    specs: &[PortSpec],
    taken: &[(PublishedPort, String)],
) -> Result<Vec<PublishedPort>, Error> {
    let mut chosen: Vec<PublishedPort> = Vec::with_capacity(specs.len());
    for spec in specs {
        let host_ip = spec.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let candidate = |port| PublishedPort {
            host_ip,
            host_port: port,
            container_port: spec.container_port,
            protocol: spec.protocol,
        };
        let holder = |p: &PublishedPort| -> Option<String> {
            taken
                .iter()
                .find(|(t, _)| t.conflicts_with(p))
                .map(|(_, who)| format!("published by container {who}"))
                .or_else(|| {
                    chosen
                        .iter()
                        .any(|c| c.conflicts_with(p))
                        .then(|| "published twice by this request".to_string())
                })
        };
        let published = match spec.host_port {
            HostPort::Fixed(port) => {
                let p = candidate(port);
                if let Some(who) = holder(&p) {
                    return Err(port_in_use(&p, who));
                }
                probe(host_ip, port, spec.protocol).map_err(|e| probe_error(&p, e))?;
                p
            }
            HostPort::Range(lo, hi) => {
                let free = (lo..=hi).map(candidate).find(|p| {
                    holder(p).is_none() && probe(host_ip, p.host_port, spec.protocol).is_ok()
                });
                free.ok_or_else(|| Error::PortInUse {
                    host_ip,
                    port: lo,
                    protocol: spec.protocol,
                    holder: format!("no free port in range {lo}-{hi}"),
                })?
            }
            HostPort::Random => {
                // The kernel picks a free ephemeral port; retry a few times if it is one
                // we already published (DNAT does not hold a socket).
                let mut found = None;
                for _ in 0..32 {
                    let port = random_port(host_ip, spec.protocol)
                        .map_err(|e| probe_error(&candidate(0), e))?;
                    let p = candidate(port);
                    if holder(&p).is_none() {
                        found = Some(p);
                        break;
                    }
                }
                found.ok_or_else(|| Error::PortInUse {
                    host_ip,
                    port: 0,
                    protocol: spec.protocol,
                    holder: "no free random port found".to_string(),
                })?
            }
        };
        chosen.push(published);
    }
    Ok(chosen)
}

fn probe_error(p: &PublishedPort, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::AddrNotAvailable {
        Error::HostAddressUnavailable { host_ip: p.host_ip }
    } else {
        port_in_use(p, e.to_string())
    }
}

fn port_in_use(p: &PublishedPort, holder: String) -> Error {
    Error::PortInUse {
        host_ip: p.host_ip,
        port: p.host_port,
        protocol: p.protocol,
        holder,
    }
}

/// Binds the port briefly: fails when a process of the host already listens on it.
fn probe(ip: Ipv4Addr, port: u16, protocol: Protocol) -> std::io::Result<()> {
    let addr = SocketAddrV4::new(ip, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr).map(drop),
        Protocol::Udp => UdpSocket::bind(addr).map(drop),
    }
}

fn random_port(ip: Ipv4Addr, protocol: Protocol) -> std::io::Result<u16> {
    let addr = SocketAddrV4::new(ip, 0);
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr().map(|a| a.port()),
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr().map(|a| a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortSpec {
        let v = PortSpec::parse(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v[0]
    }

    #[test]
    fn parses_docker_forms() {
        assert_eq!(
            one("80"),
            PortSpec {
                host_ip: None,
                host_port: HostPort::Random,
                container_port: 80,
                protocol: Protocol::Tcp
            }
        );
        assert_eq!(one("8080:80").host_port, HostPort::Fixed(8080));
        let s = one("127.0.0.1:8080:80/udp");
        assert_eq!(s.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(s.host_port, HostPort::Fixed(8080));
        assert_eq!(s.protocol, Protocol::Udp);
        let s = one("127.0.0.1::80");
        assert_eq!(s.host_port, HostPort::Random);
        assert_eq!(one("53/UDP").protocol, Protocol::Udp);
        assert_eq!(one("8000-8010:80").host_port, HostPort::Range(8000, 8010));
    }

    #[test]
    fn expands_ranges() {
        let v = PortSpec::parse("8000-8002:80-82").unwrap();
        let pairs: Vec<(HostPort, u16)> =
            v.iter().map(|s| (s.host_port, s.container_port)).collect();
        assert_eq!(
            pairs,
            vec![
                (HostPort::Fixed(8000), 80),
                (HostPort::Fixed(8001), 81),
                (HostPort::Fixed(8002), 82)
            ]
        );
        assert_eq!(PortSpec::parse("80-81").unwrap().len(), 2);
    }

    #[test]
    fn refuses_bad_specs_with_reasons() {
        let cases = [
            ("", "no container port"),
            ("8080:", "no container port"),
            ("http", "not a port number"),
            ("0", "between 1 and 65535"),
            ("70000", "between 1 and 65535"),
            ("80/sctp", "sctp is not supported"),
            ("80/icmp", "unknown protocol"),
            ("1.2.3:80:80", "not an IPv4 host address"),
            ("[::1]:80:80", "IPv6"),
            ("8000-8002:80-81", "different sizes"),
            ("90-80", "ends before it starts"),
            ("a:b:c:d", "IPv6"),
        ];
        for (spec, want) in cases {
            let err = PortSpec::parse(spec).unwrap_err().to_string();
            assert!(err.contains(want), "{spec:?}: {err}");
        }
    }

    #[test]
    fn publish_all_reads_exposed_ports() {
        let v = PortSpec::publish_all(&["80/tcp", "53/udp", "9000"]).unwrap();
        assert_eq!(v.len(), 3);
        assert!(
            v.iter()
                .all(|s| s.host_port == HostPort::Random && s.host_ip.is_none())
        );
        assert_eq!(v[1].protocol, Protocol::Udp);
        assert!(PortSpec::publish_all(&["x/tcp"]).is_err());
    }

    #[test]
    fn conflicts() {
        let p = |ip: [u8; 4], port, protocol| PublishedPort {
            host_ip: Ipv4Addr::from(ip),
            host_port: port,
            container_port: 80,
            protocol,
        };
        assert!(p([0, 0, 0, 0], 80, Protocol::Tcp).conflicts_with(&p(
            [127, 0, 0, 1],
            80,
            Protocol::Tcp
        )));
        assert!(!p([127, 0, 0, 2], 80, Protocol::Tcp).conflicts_with(&p(
            [127, 0, 0, 1],
            80,
            Protocol::Tcp
        )));
        assert!(!p([0, 0, 0, 0], 80, Protocol::Udp).conflicts_with(&p(
            [0, 0, 0, 0],
            80,
            Protocol::Tcp
        )));
        assert_eq!(
            p([0, 0, 0, 0], 8080, Protocol::Tcp).to_string(),
            "0.0.0.0:8080->80/tcp"
        );
    }

    #[test]
    fn fixed_port_in_use_by_a_host_process_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = one(&format!("127.0.0.1:{port}:80"));
        let err = choose_host_ports(&[spec], &[]).unwrap_err();
        assert!(
            matches!(err, Error::PortInUse { port: p, .. } if p == port),
            "{err}"
        );
        drop(listener);
        let ok = choose_host_ports(&[spec], &[]).unwrap();
        assert_eq!(ok[0].host_port, port);
    }

    #[test]
    #[allow(clippy::print_stderr)] // `skipped: <reason>` where it cannot run
    fn an_address_the_host_lacks_is_its_own_error() {
        // 198.51.100.0/24 is TEST-NET-2: normally never an address of this host. Only
        // bind() is attempted; nothing is sent. Where binding a foreign address works
        // anyway, the error cannot happen: say so rather than fail or pass.
        let nonlocal = std::fs::read_to_string("/proc/sys/net/ipv4/ip_nonlocal_bind")
            .is_ok_and(|v| v.trim() != "0");
        if nonlocal || TcpListener::bind("198.51.100.55:0").is_ok() {
            eprintln!(
                "skipped: this host can bind 198.51.100.55 (an address of its own, or \
                 net.ipv4.ip_nonlocal_bind=1)"
            );
            return;
        }
        for spec in ["198.51.100.55:8080:80", "198.51.100.55::80"] {
            let err = choose_host_ports(&[one(spec)], &[]).unwrap_err();
            assert_eq!(
                err.to_string(),
                "cannot publish on 198.51.100.55: not an address of this host"
            );
        }
    }

    #[test]
    fn ports_published_by_containers_are_refused_and_random_avoids_them() {
        let free = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let taken = vec![(
            PublishedPort {
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: free,
                container_port: 80,
                protocol: Protocol::Tcp,
            },
            "web".to_string(),
        )];
        let err = choose_host_ports(&[one(&format!("127.0.0.1:{free}:80"))], &taken).unwrap_err();
        assert!(
            err.to_string().contains("published by container web"),
            "{err}"
        );
        let twice = [
            one(&format!("127.0.0.1:{free}:80")),
            one(&format!("127.0.0.1:{free}:81")),
        ];
        let err = choose_host_ports(&twice, &[]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let random = choose_host_ports(&[one("127.0.0.1::80")], &taken).unwrap();
        assert_ne!(random[0].host_port, free);
        assert_ne!(random[0].host_port, 0);
    }
}
