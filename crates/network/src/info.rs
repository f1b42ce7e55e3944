//! What `network inspect` and `network ls` show of a network, in docker's shape and
//! with docker's field names, made from its record.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::addr::Ipv4Net;
use crate::state::NetworkRecord;

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

fn endpoint_id(network_id: &str, container_id: &str) -> String {
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
