//! Keeping containers' hosts files in step with the state: a container on a user
//! network lists every other container of that network (name, short ID, aliases), and
//! its file is rewritten in place (it is bind-mounted) whenever a peer joins or leaves.
//! The content itself is made by [`crate::files`].

use std::path::Path;

use crate::error::Error;
use crate::files::{Peer, hosts_content, write_in_place};
use crate::state::{EndpointRecord, NetworkRecord};

/// The hosts file content of a container from the current state: own line from its
/// first network, peers from each of its user networks.
fn hosts_for(networks: &[NetworkRecord], container_id: &str) -> Option<String> {
    let mut eps: Vec<(&NetworkRecord, &EndpointRecord)> = networks
        .iter()
        .filter_map(|n| n.endpoints.get(container_id).map(|e| (n, e)))
        .collect();
    eps.sort_by_key(|(_, e)| e.attached_at);
    let hosts = eps.iter().rev().find_map(|(_, e)| e.hosts.as_ref())?;
    let (first_net, first_ep) = eps.first()?;
    let mut peers: Vec<Peer> = Vec::new();
    for (net, _) in &eps {
        if net.default {
            continue;
        }
        for (id, other) in &net.endpoints {
            if id == container_id {
                continue;
            }
            let mut names: Vec<String> = other.name.iter().cloned().collect();
            names.push(id[..id.len().min(12)].to_string());
            names.extend(other.aliases.iter().cloned());
            peers.push(Peer {
                ip: other.ip,
                names,
            });
        }
    }
    peers.sort_by(|a, b| a.ip.cmp(&b.ip).then_with(|| a.names.cmp(&b.names)));
    peers.dedup();
    Some(hosts_content(
        &hosts.spec,
        Some(first_ep.ip),
        Some(first_net.gateway),
        &peers,
    ))
}

pub(crate) fn write_hosts(
    networks: &[NetworkRecord],
    container_id: &str,
    path: &Path,
    create: bool,
) -> Result<(), Error> {
    let Some(content) = hosts_for(networks, container_id) else {
        return Ok(());
    };
    if create {
        write_in_place(path, &content)
    } else {
        write_existing(path, &content)
    }
}

/// Writes a peer's file only if it still exists (a removed container's is not recreated).
pub(crate) fn write_existing(path: &Path, content: &str) -> Result<(), Error> {
    if !path.exists() {
        return Ok(());
    }
    write_in_place(path, content)
}

/// Rewrites the hosts files of the containers on `record` other than `changed`.
pub(crate) fn rewrite_peers(
    networks: &[NetworkRecord],
    record: &NetworkRecord,
    changed: &str,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if record.default {
        return warnings;
    }
    for (id, ep) in &record.endpoints {
        if id == changed {
            continue;
        }
        if let Some(h) = &ep.hosts {
            if let Err(e) = write_hosts(networks, id, &h.path, false) {
                warnings.push(e.to_string());
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;
    use std::path::PathBuf;

    use super::*;
    use crate::addr::MacAddr;
    use crate::files::HostsSpec;
    use crate::state::HostsConfig;

    fn ep(id: &str, name: &str, ip: [u8; 4], at: u128, hosts: Option<&str>) -> EndpointRecord {
        let ip = Ipv4Addr::from(ip);
        EndpointRecord {
            container_id: id.to_string(),
            name: Some(name.to_string()),
            ip,
            mac: MacAddr::from_ipv4(ip),
            host_veth: format!("veth{id}"),
            ifname: "eth0".into(),
            aliases: vec![format!("{name}-alias")],
            ports: vec![],
            hosts: hosts.map(|p| HostsConfig {
                path: PathBuf::from(p),
                spec: HostsSpec {
                    hostname: name.to_string(),
                    ..HostsSpec::default()
                },
            }),
            attached_at: at,
        }
    }

    fn net(name: &str, subnet: &str, default: bool, eps: Vec<EndpointRecord>) -> NetworkRecord {
        let subnet: crate::Ipv4Net = subnet.parse().unwrap();
        NetworkRecord {
            id: format!("{name:0>64}"),
            name: name.into(),
            created: String::new(),
            driver: "bridge".into(),
            subnet,
            gateway: subnet.first_host().unwrap(),
            internal: false,
            bridge: format!("br-{name}"),
            default,
            last_allocated: None,
            labels: BTreeMap::new(),
            endpoints: eps
                .into_iter()
                .map(|e| (e.container_id.clone(), e))
                .collect(),
        }
    }

    #[test]
    fn hosts_list_peers_of_user_networks_only() {
        let a = "aaaaaaaaaaaaaaaa";
        let networks = vec![
            net(
                "bridge",
                "172.18.0.0/16",
                true,
                vec![
                    ep(a, "a", [172, 18, 0, 2], 1, Some("/x")),
                    ep("bbbb", "b", [172, 18, 0, 3], 2, None),
                ],
            ),
            net(
                "front",
                "172.19.0.0/16",
                false,
                vec![
                    ep(a, "a", [172, 19, 0, 2], 3, Some("/x")),
                    ep("cccc", "c", [172, 19, 0, 3], 4, None),
                ],
            ),
        ];
        let content = hosts_for(&networks, a).unwrap();
        // Own line from the first network attached (the default bridge here).
        assert!(content.contains("172.18.0.2\ta\n"), "{content}");
        // A peer of the user network, with name, short ID and alias; none of the
        // default network.
        assert!(
            content.contains("172.19.0.3\tc cccc c-alias\n"),
            "{content}"
        );
        assert!(!content.contains("172.18.0.3"), "{content}");
        assert!(
            hosts_for(&networks, "bbbb").is_none(),
            "no hosts config, no content"
        );
    }
}
