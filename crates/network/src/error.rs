//! The crate's error type: every variant names what it concerns (a network, an address,
//! a port, a file, a netlink operation) so the CLI can print it as one clear line.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::addr::Ipv4Net;
use crate::ports::Protocol;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A coarse classification of errors, in the spirit of containerd's errdefs, so the CLI
/// can pick an exit code or a message prefix without matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller passed something malformed (a CIDR, a port spec, a name).
    InvalidInput,
    /// A network (or an attachment) does not exist.
    NotFound,
    /// A name, an address or a port is already taken.
    AlreadyExists,
    /// The request conflicts with the current state (network in use, overlap, pool full).
    FailedPrecondition,
    /// The kernel, a file or the `nft` program failed.
    System,
}

/// What went wrong while managing networks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A network name is not acceptable.
    #[error("invalid network name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A container ID is not acceptable (it is used in file contents and firewall rules).
    #[error("invalid container id {id:?}: expected 1 to 64 characters of [A-Za-z0-9_.-]")]
    InvalidContainerId {
        /// The ID.
        id: String,
    },
    /// A container name or network alias cannot be written into a hosts file.
    #[error(
        "invalid container name or network alias {alias:?}: expected [a-zA-Z0-9][a-zA-Z0-9_.-]*"
    )]
    InvalidAlias {
        /// The name or alias.
        alias: String,
    },
    /// An interface name is not acceptable to the kernel.
    #[error("invalid interface name {name:?}: expected 1 to 15 characters of [A-Za-z0-9_.-]")]
    InvalidInterfaceName {
        /// The name.
        name: String,
    },
    /// A CIDR such as `172.18.0.0/16` could not be parsed.
    #[error("invalid subnet {input:?}: {reason}")]
    InvalidCidr {
        /// The text.
        input: String,
        /// Why.
        reason: &'static str,
    },
    /// An IPv4 address could not be parsed.
    #[error("invalid IPv4 address {input:?}")]
    InvalidAddress {
        /// The text.
        input: String,
    },
    /// A subnet has no room for a gateway and at least one container.
    #[error("subnet {subnet} is too small: a bridge network needs at least a /30")]
    SubnetTooSmall {
        /// The subnet.
        subnet: Ipv4Net,
    },
    /// A subnet overlaps the subnet of an existing network.
    #[error("subnet {subnet} overlaps subnet {other_subnet} of network {other}")]
    SubnetOverlapsNetwork {
        /// The requested subnet.
        subnet: Ipv4Net,
        /// The existing network's name.
        other: String,
        /// Its subnet.
        other_subnet: Ipv4Net,
    },
    /// A subnet overlaps a route of the host (another interface's network).
    #[error("subnet {subnet} overlaps host route {route} (interface {device})")]
    SubnetOverlapsRoute {
        /// The requested subnet.
        subnet: Ipv4Net,
        /// The host route.
        route: Ipv4Net,
        /// The interface of that route.
        device: String,
    },
    /// A gateway is not a usable host address of its subnet.
    #[error("gateway {gateway} is not a usable address of subnet {subnet}")]
    InvalidGateway {
        /// The gateway.
        gateway: Ipv4Addr,
        /// The subnet.
        subnet: Ipv4Net,
    },
    /// A requested address is outside the network's subnet.
    #[error("address {ip} is outside subnet {subnet} of network {network}")]
    AddressOutsideSubnet {
        /// The address.
        ip: Ipv4Addr,
        /// The subnet.
        subnet: Ipv4Net,
        /// The network's name.
        network: String,
    },
    /// A requested address is the subnet's network, broadcast or gateway address.
    #[error(
        "address {ip} is reserved in network {network} (network, broadcast or gateway address)"
    )]
    AddressReserved {
        /// The address.
        ip: Ipv4Addr,
        /// The network's name.
        network: String,
    },
    /// A requested address is already given to another container.
    #[error("address {ip} is already in use in network {network} by container {holder}")]
    AddressInUse {
        /// The address.
        ip: Ipv4Addr,
        /// The network's name.
        network: String,
        /// The container holding it.
        holder: String,
    },
    /// Every address of the subnet is taken.
    #[error("no free address left in subnet {subnet} of network {network}")]
    PoolExhausted {
        /// The network's name.
        network: String,
        /// The subnet.
        subnet: Ipv4Net,
    },
    /// No default pool subnet is free (all overlap networks or host routes).
    #[error(
        "no free subnet in the default pools (172.19-31.0.0/16, 192.168.0.0/16): pass a subnet"
    )]
    NoFreeSubnet,
    /// No network has this name or ID (prefix).
    #[error("network {name} not found")]
    NetworkNotFound {
        /// The name or ID that was looked up.
        name: String,
    },
    /// A network with this name already exists.
    #[error("network with name {name} already exists")]
    NetworkExists {
        /// The name.
        name: String,
    },
    /// An ID prefix matches more than one network.
    #[error("network ID prefix {prefix} is ambiguous")]
    AmbiguousNetwork {
        /// The prefix.
        prefix: String,
    },
    /// A network cannot be removed while containers are attached to it.
    #[error("network {name} has active endpoints: {}", containers.join(", "))]
    NetworkInUse {
        /// The network's name.
        name: String,
        /// The attached containers (names when known, else IDs).
        containers: Vec<String>,
    },
    /// The name belongs to a network mode handled by the caller (`host`, `none`) or
    /// to the default network, which is managed by the library.
    #[error("{name} is a pre-defined network and cannot be {action}")]
    PredefinedNetwork {
        /// The name.
        name: String,
        /// What was attempted ("created", "removed").
        action: &'static str,
    },
    /// The container is already attached to this network.
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached {
        /// The container ID.
        container: String,
        /// The network's name.
        network: String,
    },
    /// A `-p` specification could not be parsed.
    #[error("invalid port specification {spec:?}: {reason}")]
    InvalidPortSpec {
        /// The text.
        spec: String,
        /// Why.
        reason: String,
    },
    /// A host port is already used, by a published port or by a process of the host.
    #[error("cannot publish {host_ip}:{port}/{protocol}: port is already allocated ({holder})")]
    PortInUse {
        /// The host address (0.0.0.0 for all).
        host_ip: Ipv4Addr,
        /// The port.
        port: u16,
        /// The protocol.
        protocol: Protocol,
        /// Who holds it: a container, or the OS error of the bind probe.
        holder: String,
    },
    /// A port was to be published on an address the host does not have.
    #[error("cannot publish on {host_ip}: not an address of this host")]
    HostAddressUnavailable {
        /// The address.
        host_ip: Ipv4Addr,
    },
    /// An option docker only accepts on user-defined networks (`--ip`,
    /// `--network-alias`) was given for the default network.
    #[error("{option} is only supported on user-defined networks, not on {network}")]
    UserDefinedNetworkOnly {
        /// The option.
        option: &'static str,
        /// The default network's name.
        network: String,
    },
    /// A `--add-host` entry could not be parsed.
    #[error("invalid host entry {input:?}: expected HOST:IP")]
    InvalidHostEntry {
        /// The text.
        input: String,
    },
    /// A `--dns` server is not an IP address.
    #[error("invalid DNS server {input:?}")]
    InvalidDns {
        /// The text.
        input: String,
    },
    /// An interface with the default bridge's name exists but cannot be adopted: it is
    /// not a bridge, or it carries another address than the default network's gateway.
    #[error(
        "{what} {bridge} exists {found}: delete it (ip link delete {bridge}) or choose another --default-bridge/--default-subnet"
    )]
    BridgeConflict {
        /// "bridge" or "interface".
        what: &'static str,
        /// Its name.
        bridge: String,
        /// What was found, for example "with address 10.1.0.1/24, not 172.18.0.1/16".
        found: String,
    },
    /// The configuration is unusable (names too long for the kernel, bad characters).
    #[error("invalid network configuration: {reason}")]
    InvalidConfig {
        /// Why.
        reason: String,
    },
    /// A netlink request failed.
    #[error("netlink: cannot {op}: {source}")]
    Netlink {
        /// What was attempted, with the object (for example "create bridge mydocker0").
        op: String,
        /// The kernel's error.
        source: io::Error,
    },
    /// The network namespace of a process could not be opened or entered.
    #[error("cannot enter network namespace {path}: {source}")]
    Netns {
        /// `/proc/PID/ns/net` or the path given.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The `nft` program could not be started.
    #[error("cannot run {program}: {source} (is nftables installed?)")]
    NftSpawn {
        /// The program.
        program: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The `nft` program rejected a ruleset.
    #[error("nft failed ({status}): {stderr}")]
    Nft {
        /// Exit status as text.
        status: String,
        /// What nft printed on stderr.
        stderr: String,
    },
    /// A sysctl could not be written.
    #[error("cannot write sysctl {path}: {source}")]
    Sysctl {
        /// The `/proc/sys` path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file of the state directory or a container file could not be read or written.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted ("read", "write", "lock", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A state file does not hold what this version writes.
    #[error("corrupt network state {path}: {source}")]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. }
            | Error::InvalidContainerId { .. }
            | Error::InvalidAlias { .. }
            | Error::InvalidInterfaceName { .. }
            | Error::InvalidCidr { .. }
            | Error::InvalidAddress { .. }
            | Error::SubnetTooSmall { .. }
            | Error::InvalidGateway { .. }
            | Error::AddressOutsideSubnet { .. }
            | Error::AddressReserved { .. }
            | Error::InvalidPortSpec { .. }
            | Error::InvalidHostEntry { .. }
            | Error::InvalidDns { .. }
            | Error::InvalidConfig { .. }
            | Error::HostAddressUnavailable { .. }
            | Error::UserDefinedNetworkOnly { .. }
            | Error::AmbiguousNetwork { .. } => ErrorKind::InvalidInput,
            Error::NetworkNotFound { .. } => ErrorKind::NotFound,
            Error::NetworkExists { .. }
            | Error::AddressInUse { .. }
            | Error::PortInUse { .. }
            | Error::AlreadyAttached { .. } => ErrorKind::AlreadyExists,
            Error::SubnetOverlapsNetwork { .. }
            | Error::SubnetOverlapsRoute { .. }
            | Error::PoolExhausted { .. }
            | Error::NoFreeSubnet
            | Error::NetworkInUse { .. }
            | Error::BridgeConflict { .. }
            | Error::PredefinedNetwork { .. } => ErrorKind::FailedPrecondition,
            Error::Netlink { .. }
            | Error::Netns { .. }
            | Error::NftSpawn { .. }
            | Error::Nft { .. }
            | Error::Sysctl { .. }
            | Error::Io { .. }
            | Error::CorruptState { .. } => ErrorKind::System,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A failed file operation of [`fsutil`] (atomic record write, state lock), kept as
    /// [`Error::Io`] with fsutil's operation and path.
    pub(crate) fn file(e: fsutil::Error) -> Self {
        Error::Io {
            op: e.op,
            path: e.path,
            source: e.source,
        }
    }

    pub(crate) fn netlink(op: impl Into<String>, source: io::Error) -> Self {
        Error::Netlink {
            op: op.into(),
            source,
        }
    }
}
