//! The content of a container's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`,
//! as docker writes them, and parsing of `--add-host` and `--dns`.
//!
//! Name resolution between containers of a user network uses `/etc/hosts`: every
//! container attached with a hosts file (see [`crate::HostsConfig`]) gets one line per
//! other container of each user network it is on (`IP  name short-id aliases…`), and the
//! library rewrites the hosts file of every attached container whenever a container
//! joins or leaves. Containers on the default `bridge` network do not resolve each
//! other by name, as in docker.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The fallback nameservers docker writes when the host has none usable.
pub const DEFAULT_NAMESERVERS: [Ipv4Addr; 2] =
    [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

const HOSTS_HEADER: &str = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// The address of an `--add-host` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostAddr {
    /// A literal address.
    Ip(IpAddr),
    /// docker's `host-gateway`: the gateway of the container's first network (the
    /// host's address on that bridge).
    HostGateway,
}

/// One `--add-host NAME:IP` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    /// The host name.
    pub name: String,
    /// Its address.
    pub addr: HostAddr,
}

impl HostEntry {
    /// Parses `NAME:IP` or `NAME=IP` (IP may be IPv6, or `host-gateway`).
    ///
    /// # Errors
    /// [`Error::InvalidHostEntry`] when the name is empty or has blanks, or the address
    /// does not parse.
    pub fn parse(input: &str) -> Result<HostEntry, Error> {
        let invalid = || Error::InvalidHostEntry {
            input: input.to_string(),
        };
        let (name, addr) = match input.split_once('=') {
            Some(pair) => pair,
            None => input.split_once(':').ok_or_else(invalid)?,
        };
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '#') {
            return Err(invalid());
        }
        let addr = if addr == "host-gateway" {
            HostAddr::HostGateway
        } else {
            let trimmed = addr.trim_start_matches('[').trim_end_matches(']');
            HostAddr::Ip(trimmed.parse().map_err(|_| invalid())?)
        };
        Ok(HostEntry {
            name: name.to_string(),
            addr,
        })
    }
}

/// Another container of a user network, as it appears in a hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its address on the shared network.
    pub ip: Ipv4Addr,
    /// Its names: container name, short ID, network aliases.
    pub names: Vec<String>,
}

/// What a container's hosts file is made of, apart from its peers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsSpec {
    /// The container's hostname.
    pub hostname: String,
    /// Its domain name (`--domainname`), if any.
    pub domainname: Option<String>,
    /// `--add-host` entries.
    pub extra_hosts: Vec<HostEntry>,
}

/// The hosts file docker writes: localhost and IPv6 lines, `--add-host` entries, the
/// container's own `IP hostname` line (when it has an address), then this library's
/// lines for the other containers of its user networks.
///
/// `gateway` is what `host-gateway` stands for; entries using it are left out when the
/// container has no network.
pub fn hosts_content(
    spec: &HostsSpec,
    own_ip: Option<Ipv4Addr>,
    gateway: Option<Ipv4Addr>,
    peers: &[Peer],
) -> String {
    let mut out = String::from(HOSTS_HEADER);
    for entry in &spec.extra_hosts {
        let addr = match entry.addr {
            HostAddr::Ip(ip) => ip,
            HostAddr::HostGateway => match gateway {
                Some(gw) => IpAddr::V4(gw),
                None => continue,
            },
        };
        let _ = writeln!(out, "{addr}\t{}", entry.name);
    }
    if let Some(ip) = own_ip {
        if !spec.hostname.is_empty() {
            match spec.domainname.as_deref().filter(|d| !d.is_empty()) {
                Some(domain) => {
                    let _ = writeln!(out, "{ip}\t{}.{domain} {}", spec.hostname, spec.hostname);
                }
                None => {
                    let _ = writeln!(out, "{ip}\t{}", spec.hostname);
                }
            }
        }
    }
    for peer in peers {
        if !peer.names.is_empty() {
            let _ = writeln!(out, "{}\t{}", peer.ip, peer.names.join(" "));
        }
    }
    out
}

/// `/etc/hostname`: the hostname and a newline.
pub fn hostname_content(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// DNS settings of a container (`--dns`, `--dns-search`, `--dns-option`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    /// Nameservers; empty means "from the host".
    pub servers: Vec<IpAddr>,
    /// Search domains; empty means "from the host".
    pub search: Vec<String>,
    /// Resolver options; empty means "from the host".
    pub options: Vec<String>,
}

/// Parses a `--dns` value.
///
/// # Errors
/// [`Error::InvalidDns`] when it is not an IP address.
pub fn parse_dns_server(s: &str) -> Result<IpAddr, Error> {
    s.parse().map_err(|_| Error::InvalidDns {
        input: s.to_string(),
    })
}

/// The container's resolv.conf, as docker builds it from the host's.
///
/// Without `--dns*` options the host's file is kept line by line, minus nameservers the
/// container cannot reach: loopback ones (`127.0.0.0/8`, `::1`, such as a local
/// systemd-resolved or dnsmasq) and IPv6 ones (the networks are IPv4 only). With
/// options, the file is rebuilt with the given servers, search domains and options,
/// taking what was not given from the host. When no nameserver is left, docker's
/// fallback `8.8.8.8` and `8.8.4.4` are written (only into the file: nothing is sent).
pub fn resolv_conf_content(host: &str, dns: &DnsConfig) -> String {
    let usable = |ip: &IpAddr| matches!(ip, IpAddr::V4(v4) if !v4.is_loopback());
    let mut host_servers = Vec::new();
    let mut host_search = Vec::new();
    let mut host_options = Vec::new();
    let mut kept = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                let server = words.next().and_then(|s| s.parse::<IpAddr>().ok());
                if let Some(ip) = server.filter(usable) {
                    host_servers.push(ip);
                    let _ = writeln!(kept, "{line}");
                }
            }
            Some("search") | Some("domain") => {
                host_search = words.map(str::to_string).collect();
                let _ = writeln!(kept, "{line}");
            }
            Some("options") => {
                host_options.extend(words.map(str::to_string));
                let _ = writeln!(kept, "{line}");
            }
            _ => {
                let _ = writeln!(kept, "{line}");
            }
        }
    }
    let customised = !dns.servers.is_empty() || !dns.search.is_empty() || !dns.options.is_empty();
    if !customised {
        if host_servers.is_empty() {
            for ns in DEFAULT_NAMESERVERS {
                let _ = writeln!(kept, "nameserver {ns}");
            }
        }
        return kept;
    }
    let servers: Vec<IpAddr> = if dns.servers.is_empty() {
        if host_servers.is_empty() {
            DEFAULT_NAMESERVERS
                .iter()
                .map(|ip| IpAddr::V4(*ip))
                .collect()
        } else {
            host_servers
        }
    } else {
        dns.servers.clone()
    };
    let search = if dns.search.is_empty() {
        host_search
    } else {
        dns.search.clone()
    };
    let options = if dns.options.is_empty() {
        host_options
    } else {
        dns.options.clone()
    };
    let mut out = String::new();
    // `--dns-search .` means "no search domain", as in docker.
    if !search.is_empty() && search != ["."] {
        let _ = writeln!(out, "search {}", search.join(" "));
    }
    for ns in servers {
        let _ = writeln!(out, "nameserver {ns}");
    }
    if !options.is_empty() {
        let _ = writeln!(out, "options {}", options.join(" "));
    }
    out
}

/// The host's resolv.conf as docker reads it: `/etc/resolv.conf`, or systemd-resolved's
/// upstream list `/run/systemd/resolve/resolv.conf` when the former only points at the
/// local stub `127.0.0.53`. A missing file reads as empty (then the fallback servers
/// are written).
///
/// # Errors
/// [`Error::Io`] when a file exists but cannot be read.
pub fn host_resolv_conf() -> Result<String, Error> {
    let read = |path: &str| match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    };
    let etc = read("/etc/resolv.conf")?.unwrap_or_default();
    let stub_only = etc
        .lines()
        .any(|l| l.split_whitespace().eq(["nameserver", "127.0.0.53"]))
        && !etc.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some("nameserver") && w.next() != Some("127.0.0.53")
        });
    if stub_only {
        if let Some(upstream) = read("/run/systemd/resolve/resolv.conf")? {
            return Ok(upstream);
        }
    }
    Ok(etc)
}

/// Rewrites a file in place (same inode), as it is usually bind-mounted into the
/// container: overwrite, then cut to the new length.
pub(crate) fn write_in_place(path: &Path, content: &str) -> Result<(), Error> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    f.write_all(content.as_bytes())
        .and_then(|()| f.set_len(content.len() as u64))
        .map_err(|e| Error::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_like_docker() {
        let spec = HostsSpec {
            hostname: "abc123def456".into(),
            domainname: None,
            extra_hosts: vec![
                HostEntry::parse("db:10.1.2.3").unwrap(),
                HostEntry::parse("gw:host-gateway").unwrap(),
                HostEntry::parse("v6=::1").unwrap(),
            ],
        };
        let peers = [Peer {
            ip: Ipv4Addr::new(172, 20, 0, 3),
            names: vec!["web".into(), "0123456789ab".into(), "www".into()],
        }];
        let got = hosts_content(
            &spec,
            Some(Ipv4Addr::new(172, 20, 0, 2)),
            Some(Ipv4Addr::new(172, 20, 0, 1)),
            &peers,
        );
        let want = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
10.1.2.3\tdb
172.20.0.1\tgw
::1\tv6
172.20.0.2\tabc123def456
172.20.0.3\tweb 0123456789ab www
";
        assert_eq!(got, want);
    }

    #[test]
    fn hosts_without_network_and_with_domain() {
        let spec = HostsSpec {
            hostname: "box".into(),
            domainname: Some("example.test".into()),
            extra_hosts: vec![HostEntry::parse("gw:host-gateway").unwrap()],
        };
        let none = hosts_content(&spec, None, None, &[]);
        assert_eq!(
            none, HOSTS_HEADER,
            "no own line and no host-gateway entry without a network"
        );
        let with = hosts_content(&spec, Some(Ipv4Addr::new(10, 0, 0, 2)), None, &[]);
        assert!(with.ends_with("10.0.0.2\tbox.example.test box\n"), "{with}");
    }

    #[test]
    fn add_host_parsing() {
        assert_eq!(
            HostEntry::parse("a:[::2]").unwrap().addr,
            HostAddr::Ip("::2".parse().unwrap())
        );
        assert_eq!(
            HostEntry::parse("a:fe80::1").unwrap().addr,
            HostAddr::Ip("fe80::1".parse().unwrap())
        );
        for bad in ["nohost", ":1.2.3.4", "a:notanip", "a b:1.2.3.4", "a:"] {
            assert!(
                matches!(HostEntry::parse(bad), Err(Error::InvalidHostEntry { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn resolv_filters_loopback_and_ipv6_nameservers() {
        let host = "# from dhcp\nsearch corp.test\nnameserver 127.0.0.53\nnameserver ::1\nnameserver fd00::1\nnameserver 10.0.0.53\noptions edns0\n";
        let got = resolv_conf_content(host, &DnsConfig::default());
        assert_eq!(
            got,
            "# from dhcp\nsearch corp.test\nnameserver 10.0.0.53\noptions edns0\n"
        );
    }

    #[test]
    fn resolv_falls_back_to_public_servers_in_content_only() {
        let got = resolv_conf_content(
            "nameserver 127.0.0.1\nsearch x.test\n",
            &DnsConfig::default(),
        );
        assert_eq!(
            got,
            "search x.test\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf_content("", &DnsConfig::default()),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn resolv_with_dns_options() {
        let dns = DnsConfig {
            servers: vec![
                parse_dns_server("1.1.1.1").unwrap(),
                parse_dns_server("9.9.9.9").unwrap(),
            ],
            search: vec![],
            options: vec!["ndots:2".into()],
        };
        let got = resolv_conf_content(
            "search corp.test\nnameserver 10.0.0.53\noptions edns0\n",
            &dns,
        );
        assert_eq!(
            got,
            "search corp.test\nnameserver 1.1.1.1\nnameserver 9.9.9.9\noptions ndots:2\n"
        );
        let dot = DnsConfig {
            search: vec![".".into()],
            ..DnsConfig::default()
        };
        assert_eq!(
            resolv_conf_content("search corp.test\nnameserver 10.0.0.53\n", &dot),
            "nameserver 10.0.0.53\n"
        );
        assert!(matches!(
            parse_dns_server("dns.test"),
            Err(Error::InvalidDns { .. })
        ));
    }

    #[test]
    fn hostname_file() {
        assert_eq!(hostname_content("web"), "web\n");
    }

    #[test]
    fn in_place_write_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "a much longer original content\n").unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();
        write_in_place(&path, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
    }
}
