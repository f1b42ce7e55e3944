//! NAT, forwarding and port publishing in an nftables table of the library's own
//! (family `ip`, name from [`crate::Config::nft_table`]).
//!
//! The table's rules are fixed; what changes per network and per container lives in
//! named sets and maps:
//!
//! | set / map | holds | used by |
//! |---|---|---|
//! | `bridges` | every bridge of the library | forward filter, masquerade |
//! | `intra` | `bridge . bridge` pairs | forward: traffic inside one network |
//! | `internal` | bridges of `--internal` networks | forward: drop what leaves them |
//! | `nets` | every subnet | masquerade of DNAT'ed traffic between containers |
//! | `masq_nets` | subnets of non-internal networks | masquerade of outbound traffic |
//! | `publish_ip` | `hostip . proto . port : ip . port` | DNAT of ports published on one address |
//! | `publish_any` | `proto . port : ip . port` | DNAT of ports published on every address |
//!
//! Every change is one `nft -f -` transaction that first re-declares the table (adding
//! tables, chains and sets is idempotent, and the base chains are flushed and refilled
//! in the same transaction, atomically), then adds or deletes elements. An element is
//! deleted with `add element` immediately followed by `delete element`, which succeeds
//! whether or not it was there: every removal is idempotent without listing handles,
//! which keeps crash recovery and double `detach` simple. `delete table` removes all.
//!
//! Why nftables rather than iptables: a table of our own is independent of every other
//! table (docker's, firewalld's, the distribution's), one transaction applies or fails
//! as a whole, sets and maps give O(1) updates without rule handles, and `delete table`
//! removes everything. The `nft` program is used rather than a netlink nftables crate:
//! it is the reference implementation of the rule language, and is installed wherever
//! nftables is. Caveat: a packet accepted by this table can still be dropped by another
//! table's chain on the same hook (a `FORWARD` policy of `DROP` set by another tool).
//!
//! Published ports reach the container by DNAT in `prerouting` (traffic from outside and
//! from containers) and in `output` (traffic from the host itself, including
//! `127.0.0.1`), for destinations that are local addresses. Traffic to `127.0.0.1` needs
//! `route_localnet=1` on the bridge (set only on the library's bridges) and is
//! masqueraded to the bridge's address, so the container answers the bridge. This is
//! docker's `userland-proxy=false` mode; its cost is the kernel's NAT path (see the crate
//! documentation for measurements), where a userland proxy copies every byte twice.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::addr::Ipv4Net;
use crate::error::Error;
use crate::ports::{Protocol, PublishedPort};

/// The nftables side of one network.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NetRules<'a> {
    pub bridge: &'a str,
    pub subnet: Ipv4Net,
    pub internal: bool,
}

/// The `nft` program and the table it manages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nft<'a> {
    pub program: &'a Path,
    pub table: &'a str,
}

impl Nft<'_> {
    /// The table, its sets, maps, chains and fixed rules. Idempotent.
    pub(crate) fn skeleton(&self) -> String {
        let t = self.table;
        format!(
            "add table ip {t}
add set ip {t} bridges {{ type ifname; }}
add set ip {t} internal {{ type ifname; }}
add set ip {t} intra {{ type ifname . ifname; }}
add set ip {t} nets {{ type ipv4_addr; flags interval; }}
add set ip {t} masq_nets {{ type ipv4_addr; flags interval; }}
add map ip {t} publish_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add map ip {t} publish_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add chain ip {t} prerouting {{ type nat hook prerouting priority -100; policy accept; }}
add chain ip {t} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {t} postrouting {{ type nat hook postrouting priority 100; policy accept; }}
add chain ip {t} forward {{ type filter hook forward priority 0; policy accept; }}
add chain ip {t} publish
flush chain ip {t} prerouting
flush chain ip {t} output
flush chain ip {t} postrouting
flush chain ip {t} forward
flush chain ip {t} publish
add rule ip {t} prerouting fib daddr type local jump publish
add rule ip {t} output fib daddr type local jump publish
add rule ip {t} publish dnat to ip daddr . meta l4proto . th dport map @publish_ip
add rule ip {t} publish dnat to meta l4proto . th dport map @publish_any
add rule ip {t} forward oifname @bridges ct state established,related accept
add rule ip {t} forward oifname @bridges ct status dnat accept
add rule ip {t} forward iifname . oifname @intra accept
add rule ip {t} forward iifname @bridges oifname @bridges drop
add rule ip {t} forward iifname @internal drop
add rule ip {t} forward iifname @bridges accept
add rule ip {t} forward oifname @bridges drop
add rule ip {t} postrouting ip saddr @masq_nets oifname != @bridges masquerade
add rule ip {t} postrouting ip saddr @nets oifname @bridges ct status dnat masquerade
add rule ip {t} postrouting ip saddr 127.0.0.0/8 oifname @bridges masquerade
"
        )
    }

    fn network_elements(&self, net: &NetRules<'_>) -> Vec<(&'static str, String)> {
        let b = net.bridge;
        let mut v = vec![
            ("bridges", format!("\"{b}\"")),
            ("intra", format!("\"{b}\" . \"{b}\"")),
            ("nets", net.subnet.to_string()),
        ];
        if net.internal {
            v.push(("internal", format!("\"{b}\"")));
        } else {
            v.push(("masq_nets", net.subnet.to_string()));
        }
        v
    }

    /// The transaction that installs a network's elements.
    pub(crate) fn add_network_script(&self, net: &NetRules<'_>) -> String {
        let mut s = self.skeleton();
        for (set, elem) in self.network_elements(net) {
            s.push_str(&format!(
                "add element ip {} {set} {{ {elem} }}\n",
                self.table
            ));
        }
        s
    }

    /// The transaction that removes a network's elements (idempotent).
    pub(crate) fn remove_network_script(&self, net: &NetRules<'_>) -> String {
        let mut s = self.skeleton();
        // Both flavours are removed, so a record that lost track of `internal` still
        // cleans up completely.
        let all = [
            self.network_elements(&NetRules {
                internal: true,
                ..*net
            }),
            self.network_elements(&NetRules {
                internal: false,
                ..*net
            }),
        ];
        let mut seen = Vec::new();
        for (set, elem) in all.into_iter().flatten() {
            if seen.contains(&(set, elem.clone())) {
                continue;
            }
            s.push_str(&format!(
                "add element ip {t} {set} {{ {elem} }}\ndelete element ip {t} {set} {{ {elem} }}\n",
                t = self.table
            ));
            seen.push((set, elem));
        }
        s
    }

    fn port_element(
        port: &PublishedPort,
        container_ip: Ipv4Addr,
    ) -> (&'static str, String, String) {
        let proto = port.protocol.as_str();
        let value = format!("{container_ip} . {}", port.container_port);
        if port.host_ip.is_unspecified() {
            (
                "publish_any",
                format!("{proto} . {}", port.host_port),
                value,
            )
        } else {
            (
                "publish_ip",
                format!("{} . {proto} . {}", port.host_ip, port.host_port),
                value,
            )
        }
    }

    /// The elements that publish ports of a container (no skeleton: see
    /// [`Nft::apply_elements`]).
    pub(crate) fn add_ports_script(
        &self,
        container_ip: Ipv4Addr,
        ports: &[PublishedPort],
    ) -> String {
        let mut s = String::new();
        for p in ports {
            let (map, key, value) = Self::port_element(p, container_ip);
            s.push_str(&format!(
                "add element ip {} {map} {{ {key} : {value} }}\n",
                self.table
            ));
        }
        s
    }

    /// The elements that unpublish ports of a container (idempotent; no skeleton: see
    /// [`Nft::apply_elements`]).
    pub(crate) fn remove_ports_script(
        &self,
        container_ip: Ipv4Addr,
        ports: &[PublishedPort],
    ) -> String {
        let mut s = String::new();
        for p in ports {
            let (map, key, value) = Self::port_element(p, container_ip);
            s.push_str(&format!(
                "add element ip {t} {map} {{ {key} : {value} }}\ndelete element ip {t} {map} {{ {key} }}\n",
                t = self.table
            ));
        }
        s
    }

    /// Runs one transaction.
    pub(crate) fn apply(&self, script: &str) -> Result<(), Error> {
        let spawn_err = |source| Error::NftSpawn {
            program: self.program.to_path_buf(),
            source,
        };
        let mut child = Command::new(self.program)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Nft {
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Runs a transaction that only adds or deletes elements. The fast path skips the
    /// skeleton (re-declaring the table costs about 6 ms per `nft` run); if that fails
    /// (the table was deleted behind our back), `repair` (a script that declares the
    /// table and restores what must be there, such as the network's elements) and the
    /// same elements are applied in one transaction.
    pub(crate) fn apply_elements(&self, elements: &str, repair: &str) -> Result<(), Error> {
        match self.apply(elements) {
            Ok(()) => Ok(()),
            Err(Error::Nft { .. }) => self.apply(&format!("{repair}{elements}")),
            Err(e) => Err(e),
        }
    }

    /// Removes the published ports of a container (idempotent). The fast path is one
    /// transaction of `add` + `delete` per element. When it fails, either the table is
    /// gone (nothing to remove) or a key is now held with another value: another root
    /// sharing the table published that port after ours was removed (a retried
    /// removal). Then only the elements that still map to this container are deleted,
    /// never another root's.
    pub(crate) fn remove_ports(
        &self,
        container_ip: Ipv4Addr,
        ports: &[PublishedPort],
    ) -> Result<(), Error> {
        match self.apply(&self.remove_ports_script(container_ip, ports)) {
            Err(Error::Nft { .. }) => {}
            other => return other,
        }
        let current = self.published()?;
        let mut script = String::new();
        for p in ports {
            let held = current.iter().any(|(q, ip)| {
                *ip == container_ip
                    && q.container_port == p.container_port
                    && q.host_port == p.host_port
                    && q.host_ip == p.host_ip
                    && q.protocol == p.protocol
            });
            if held {
                let (map, key, _) = Self::port_element(p, container_ip);
                script.push_str(&format!(
                    "delete element ip {} {map} {{ {key} }}\n",
                    self.table
                ));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        self.apply(&script)
    }

    /// `nft -j list table`, or `None` when the table does not exist.
    fn list_table(&self) -> Result<Option<serde_json::Value>, Error> {
        let spawn_err = |source| Error::NftSpawn {
            program: self.program.to_path_buf(),
            source,
        };
        let out = Command::new(self.program)
            .args(["-j", "list", "table", "ip", self.table])
            .stdin(Stdio::null())
            .output()
            .map_err(spawn_err)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if stderr.contains("No such file or directory") {
                return Ok(None);
            }
            return Err(Error::Nft {
                status: out.status.to_string(),
                stderr,
            });
        }
        serde_json::from_slice(&out.stdout)
            .map(Some)
            .map_err(|e| Error::Nft {
                status: out.status.to_string(),
                stderr: format!("unreadable JSON from nft -j list table: {e}"),
            })
    }

    /// Every port published in the table, by any root using it: the port (its
    /// `container_port` is the destination's) and the container's address.
    pub(crate) fn published(&self) -> Result<Vec<(PublishedPort, Ipv4Addr)>, Error> {
        let Some(json) = self.list_table()? else {
            return Ok(Vec::new());
        };
        Ok(parse_published(&json))
    }

    /// The bridges listed in the table's `bridges` set, or `None` when the table does
    /// not exist.
    pub(crate) fn bridges(&self) -> Result<Option<Vec<String>>, Error> {
        let Some(json) = self.list_table()? else {
            return Ok(None);
        };
        Ok(Some(
            set_elements(&json, "bridges")
                .iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect(),
        ))
    }

    /// Deletes the whole table (idempotent).
    pub(crate) fn delete_table(&self) -> Result<(), Error> {
        let t = self.table;
        self.apply(&format!("add table ip {t}\ndelete table ip {t}\n"))
    }
}

/// The elements of a set or map of `nft -j list table` output.
fn set_elements<'a>(json: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("set").or_else(|| o.get("map")))
        .filter(|s| s["name"] == name)
        .flat_map(|s| s["elem"].as_array().into_iter().flatten())
        .collect()
}

/// The `publish_ip` and `publish_any` elements of `nft -j list table` output. Protocols
/// come as names or numbers depending on nft's options; anything unexpected is skipped.
fn parse_published(json: &serde_json::Value) -> Vec<(PublishedPort, Ipv4Addr)> {
    use serde_json::Value;
    let proto = |v: &Value| match (v.as_str(), v.as_u64()) {
        (Some("tcp"), _) | (_, Some(6)) => Some(Protocol::Tcp),
        (Some("udp"), _) | (_, Some(17)) => Some(Protocol::Udp),
        _ => None,
    };
    let ip = |v: &Value| v.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok());
    let port = |v: &Value| v.as_u64().and_then(|p| u16::try_from(p).ok());
    let concat = |v: &Value| v["concat"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (map, with_ip) in [("publish_ip", true), ("publish_any", false)] {
        for elem in set_elements(json, map) {
            let (Some(key), Some(value)) = (elem.get(0), elem.get(1)) else {
                continue;
            };
            let (key, value) = (concat(key), concat(value));
            let (host_ip, rest) = if with_ip {
                match key.split_first() {
                    Some((h, rest)) => (ip(h), rest),
                    None => continue,
                }
            } else {
                (Some(Ipv4Addr::UNSPECIFIED), &key[..])
            };
            let parsed = (|| {
                let [p, hp] = rest else { return None };
                let [cip, cp] = &value[..] else { return None };
                Some((
                    PublishedPort {
                        host_ip: host_ip?,
                        host_port: port(hp)?,
                        container_port: port(cp)?,
                        protocol: proto(p)?,
                    },
                    ip(cip)?,
                ))
            })();
            out.extend(parsed);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nft() -> Nft<'static> {
        Nft {
            program: Path::new("nft"),
            table: "tst",
        }
    }

    #[test]
    fn skeleton_declares_everything_in_its_own_table() {
        let s = nft().skeleton();
        assert!(s.starts_with("add table ip tst\n"));
        for line in s.lines() {
            assert!(
                line.contains(" ip tst ") || line == "add table ip tst",
                "line outside the table: {line}"
            );
        }
        // Base chains are flushed before their rules are added again.
        let flush = s.find("flush chain ip tst forward").unwrap();
        let rule = s.find("add rule ip tst forward").unwrap();
        assert!(flush < rule);
    }

    #[test]
    fn network_elements_follow_internal() {
        let net = NetRules {
            bridge: "br-0123456789ab",
            subnet: "10.20.0.0/16".parse().unwrap(),
            internal: false,
        };
        let s = nft().add_network_script(&net);
        assert!(s.contains("add element ip tst bridges { \"br-0123456789ab\" }"));
        assert!(
            s.contains("add element ip tst intra { \"br-0123456789ab\" . \"br-0123456789ab\" }")
        );
        assert!(s.contains("add element ip tst masq_nets { 10.20.0.0/16 }"));
        assert!(!s.contains("add element ip tst internal"));
        let internal = nft().add_network_script(&NetRules {
            internal: true,
            ..net
        });
        assert!(internal.contains("add element ip tst internal { \"br-0123456789ab\" }"));
        assert!(!internal.contains("add element ip tst masq_nets"));
    }

    #[test]
    fn removals_are_add_then_delete() {
        let net = NetRules {
            bridge: "brx",
            subnet: "10.20.0.0/16".parse().unwrap(),
            internal: false,
        };
        let s = nft().remove_network_script(&net);
        for set in ["bridges", "intra", "nets", "masq_nets", "internal"] {
            let add = s.find(&format!("add element ip tst {set} ")).unwrap();
            let del = s.find(&format!("delete element ip tst {set} ")).unwrap();
            assert!(add < del, "{set}");
        }
        let ports = [
            PublishedPort {
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Tcp,
            },
            PublishedPort {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 5353,
                container_port: 53,
                protocol: Protocol::Udp,
            },
        ];
        let ip = Ipv4Addr::new(10, 20, 0, 2);
        let add = nft().add_ports_script(ip, &ports);
        assert!(add.contains("add element ip tst publish_any { tcp . 8080 : 10.20.0.2 . 80 }"));
        assert!(
            add.contains(
                "add element ip tst publish_ip { 127.0.0.1 . udp . 5353 : 10.20.0.2 . 53 }"
            )
        );
        let del = nft().remove_ports_script(ip, &ports);
        assert!(del.contains("delete element ip tst publish_any { tcp . 8080 }"));
        assert!(del.contains("delete element ip tst publish_ip { 127.0.0.1 . udp . 5353 }"));
    }

    #[test]
    fn published_ports_are_read_from_nft_json() {
        // As `nft -j list table` prints them (nftables 1.0.6), with and without -n.
        let json: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "tst", "handle": 1}},
            {"set": {"family": "ip", "name": "bridges", "table": "tst", "type": "ifname",
                     "handle": 2, "elem": ["br0", "mydocker0"]}},
            {"map": {"family": "ip", "name": "publish_ip", "table": "tst",
                     "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 3,
                     "map": "ipv4_addr . inet_service",
                     "elem": [[{"concat": ["127.0.0.1", "udp", 5353]}, {"concat": ["10.0.0.2", 53]}]]}},
            {"map": {"family": "ip", "name": "publish_any", "table": "tst",
                     "type": ["inet_proto", "inet_service"], "handle": 4,
                     "map": "ipv4_addr . inet_service",
                     "elem": [[{"concat": [6, 8080]}, {"concat": ["10.0.0.3", 80]}],
                              [{"concat": ["sctp", 1]}, {"concat": ["10.0.0.3", 1]}]]}}]}"#,
        )
        .unwrap();
        let got = parse_published(&json);
        assert_eq!(
            got,
            vec![
                (
                    PublishedPort {
                        host_ip: Ipv4Addr::LOCALHOST,
                        host_port: 5353,
                        container_port: 53,
                        protocol: Protocol::Udp,
                    },
                    Ipv4Addr::new(10, 0, 0, 2)
                ),
                (
                    PublishedPort {
                        host_ip: Ipv4Addr::UNSPECIFIED,
                        host_port: 8080,
                        container_port: 80,
                        protocol: Protocol::Tcp,
                    },
                    Ipv4Addr::new(10, 0, 0, 3)
                ),
            ]
        );
        let bridges: Vec<&str> = set_elements(&json, "bridges")
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        assert_eq!(bridges, vec!["br0", "mydocker0"]);
    }
}
