//! Every name the library gives to things outside its state directory (bridges, veths,
//! the nftables table) comes from [`Config`], so tests can run side by side under unique
//! names. The defaults are the product's.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::addr::Ipv4Net;
use crate::error::Error;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub(crate) const IFNAME_MAX: usize = 15;
/// Hex digits of the network ID in a user network's bridge name, as docker's `br-<12 hex>`.
pub(crate) const BRIDGE_ID_LEN: usize = 12;
/// The default of [`Config::lock_dir`]: `/run/lock` is the host's standard place for
/// lock files, and vanishes at reboot with the bridges the locks are about.
pub(crate) const DEFAULT_LOCK_DIR: &str = "/run/lock/mydocker";

/// Configuration of the networking library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where networks and allocations are kept (the CLI passes `ROOT/networks`).
    pub state_dir: PathBuf,
    /// Name of the default network (`bridge`).
    pub default_network: String,
    /// Linux bridge of the default network (`mydocker0`).
    pub default_bridge: String,
    /// Subnet of the default network (`172.18.0.0/16`, clear of docker's 172.17).
    pub default_subnet: Ipv4Net,
    /// Gateway of the default network; `None` means the first address of the subnet.
    pub default_gateway: Option<Ipv4Addr>,
    /// Prefix of user networks' bridges, followed by 12 hex digits of the network ID
    /// (`br-`, as docker). At most 3 characters.
    pub bridge_prefix: String,
    /// Prefix of the host ends of veth pairs (`veth`), followed by hex digits derived
    /// from the network and container IDs. At most 8 characters.
    pub veth_prefix: String,
    /// The nftables table (family `ip`) holding every rule of the library (`mydocker`).
    pub nft_table: String,
    /// The `nft` program (`nft`, looked up in `PATH`).
    pub nft_program: PathBuf,
    /// Whether creating a non-internal network sets `net.ipv4.ip_forward=1`, as docker
    /// does (outbound traffic and published ports reached from other networks need
    /// it). Tests that run in the host's namespace turn it off.
    pub manage_ip_forward: bool,
    /// Whether a new subnet is checked against the routes of the host (docker does).
    pub check_host_routes: bool,
    /// Directory of the host-wide lock files (`/run/lock/mydocker`) that serialize the
    /// processes of *every* root on this host which use the same bridge or nftables
    /// table: one lock per bridge (address allocation, creating, adopting or deleting
    /// it) and one per table (choosing published ports). It must be the same for all
    /// roots that may share a bridge, so it is not under the state directory; created
    /// `0755` if missing, and refused unless it is a directory of the calling user that
    /// nobody else can write (a lock planted by another user could block us).
    pub lock_dir: PathBuf,
}

impl Config {
    /// The product's defaults with the given state directory.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Config {
            state_dir: state_dir.into(),
            default_network: "bridge".to_string(),
            default_bridge: "mydocker0".to_string(),
            default_subnet: Ipv4Net::new_const(Ipv4Addr::new(172, 18, 0, 0), 16),
            default_gateway: None,
            bridge_prefix: "br-".to_string(),
            veth_prefix: "veth".to_string(),
            nft_table: "mydocker".to_string(),
            nft_program: PathBuf::from("nft"),
            manage_ip_forward: true,
            check_host_routes: true,
            lock_dir: PathBuf::from(DEFAULT_LOCK_DIR),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::InvalidConfig { reason });
        if !valid_ifname(&self.default_bridge) {
            return bad(format!(
                "default bridge name {:?} must be 1 to {IFNAME_MAX} characters of [A-Za-z0-9_.-]",
                self.default_bridge
            ));
        }
        if self.bridge_prefix.len() + BRIDGE_ID_LEN > IFNAME_MAX
            || !ifname_chars(&self.bridge_prefix)
        {
            return bad(format!(
                "bridge prefix {:?} must be at most {} characters of [A-Za-z0-9_.-]",
                self.bridge_prefix,
                IFNAME_MAX - BRIDGE_ID_LEN
            ));
        }
        if self.veth_prefix.is_empty()
            || self.veth_prefix.len() > 8
            || !ifname_chars(&self.veth_prefix)
        {
            return bad(format!(
                "veth prefix {:?} must be 1 to 8 characters of [A-Za-z0-9_.-]",
                self.veth_prefix
            ));
        }
        let table_ok = !self.nft_table.is_empty()
            && self.nft_table.len() <= 64
            && self
                .nft_table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && self.nft_table.as_bytes()[0].is_ascii_alphabetic();
        if !table_ok {
            return bad(format!(
                "nftables table name {:?} must start with a letter and hold only [A-Za-z0-9_-]",
                self.nft_table
            ));
        }
        if !self.lock_dir.is_absolute() {
            return bad(format!(
                "lock directory {} must be an absolute path",
                self.lock_dir.display()
            ));
        }
        if self.default_subnet.usable_hosts() < 2 {
            return bad(format!(
                "default subnet {} is too small",
                self.default_subnet
            ));
        }
        Ok(())
    }
}

fn ifname_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

pub(crate) fn valid_ifname(s: &str) -> bool {
    !s.is_empty() && s.len() <= IFNAME_MAX && ifname_chars(s) && s != "." && s != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_docker_like() {
        let c = Config::new("/var/lib/mydocker/networks");
        c.validate().unwrap();
        assert_eq!(c.default_subnet.to_string(), "172.18.0.0/16");
        assert_eq!(c.default_bridge, "mydocker0");
        assert_eq!(c.nft_table, "mydocker");
        assert_eq!(c.lock_dir, PathBuf::from("/run/lock/mydocker"));
    }

    #[test]
    fn refuses_names_the_kernel_or_nft_would_refuse() {
        let base = Config::new("/tmp/x");
        let cases: [fn(&mut Config); 7] = [
            (|c: &mut Config| c.default_bridge = "a-very-long-bridge-name".into()),
            (|c: &mut Config| c.default_bridge = "bad name".into()),
            (|c: &mut Config| c.bridge_prefix = "brid-".into()),
            (|c: &mut Config| c.veth_prefix = String::new()),
            (|c: &mut Config| c.nft_table = "1table".into()),
            (|c: &mut Config| c.nft_table = "t\"x".into()),
            (|c: &mut Config| c.lock_dir = "run/lock".into()),
        ];
        for change in cases {
            let mut c = base.clone();
            change(&mut c);
            assert!(
                matches!(c.validate(), Err(Error::InvalidConfig { .. })),
                "{c:?}"
            );
        }
    }
}
