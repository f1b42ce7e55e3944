//! Container networking for mydocker: Linux bridges, veth pairs, IP address management,
//! NAT and port publishing, and the content of `/etc/hosts`, `/etc/resolv.conf` and
//! `/etc/hostname`.
//!
//! # Model
//!
//! A *network* is a Linux bridge with an IPv4 subnet; the bridge holds the gateway
//! address. The default network `bridge` lives on `mydocker0` with `172.18.0.0/16`
//! (both configurable in [`Config`]) and is created on first use; user networks live on
//! `br-<12 hex of the network ID>`, as docker's. Attaching a container creates a veth
//! pair: the host end joins the bridge, the other end is created directly inside the
//! container's network namespace as `eth0` (`eth1`… for further networks), with an
//! address from the network's IPAM, docker's MAC (`02:42:` + the IPv4 address), `lo`
//! up and a default route via the gateway (none on `--internal` networks).
//!
//! Networks and allocations are kept as JSON records under the state directory (the CLI
//! passes `ROOT/networks`), written atomically and durably, and changed under an
//! `flock` (both through the project's `fsutil` crate) so that concurrent `run`s in
//! different processes never get the same address (and under a host-wide lock per
//! bridge, so that neither do the processes of another root sharing the bridge). An
//! endpoint is recorded before its veth and rules exist and forgotten after they are
//! gone, so [`Networks::detach`] is idempotent and [`Networks::recover`] can clean up
//! after a `kill -9`.
//!
//! # Choices
//!
//! - **Netlink**: `netlink-packet-route` message types over a blocking rustix netlink
//!   socket (see the `netlink` module for why not the async `rtnetlink`). Operations
//!   inside a container's namespace use a socket opened by a throw-away thread that
//!   `setns()`'d into it; the caller's threads never change namespace. The container
//!   end of a veth pair is created directly in the container's namespace (by its
//!   namespace fd) under its final name, rather than created in the host, moved and
//!   renamed: one request, and no temporary interface a crash could leave in the host.
//! - **Firewall**: nftables, in a table of the library's own (`mydocker`, family `ip`)
//!   whose fixed rules consult named sets and maps; each change is one atomic `nft -f`
//!   transaction, every removal is idempotent, and `nft delete table ip mydocker` removes
//!   it all. Details and the reasons against iptables are in the `nft` module.
//! - **Published ports from the host's `127.0.0.1`**: DNAT in the `output` hook plus
//!   `route_localnet=1` on the library's bridges only (never `all`), with the source
//!   masqueraded to the bridge address; ports on the host's other addresses and from
//!   other containers use DNAT in `prerouting`. No userland proxy: data stays in the
//!   kernel (see *Measurements*). Like docker without its proxy, a published port holds
//!   no socket: the port is checked free by binding it briefly when published, and a
//!   host process binding it later is not prevented (it then receives no traffic from
//!   outside). A container reaching its *own* published port through a host address
//!   (hairpin to itself) is not supported.
//! - **`net.ipv4.ip_forward`**: outbound traffic and published ports reached from other
//!   networks are routed by the host, so creating a non-internal network sets
//!   `net.ipv4.ip_forward=1` (as docker does) unless [`Config::manage_ip_forward`] is off.
//!   It is never turned back off. Internal networks do not need it.
//! - **Isolation**: containers of one network talk freely (with `br_netfilter` such
//!   bridged traffic crosses the `forward` hook and is explicitly accepted); traffic
//!   between two networks is dropped; nothing reaches a container from outside but
//!   replies and published ports. Another table's `DROP` (for example a `FORWARD` policy
//!   set by another tool) still wins over this table's accepts.
//! - **Name resolution**: through `/etc/hosts`. Every container attached with a hosts
//!   file ([`HostsConfig`]) gets a line per other container of each *user* network it is
//!   on (`IP  name short-id aliases…`); the library rewrites, in place, the hosts file of
//!   every attached container when a container joins or leaves. Containers on the
//!   default network do not resolve each other, as in docker. There is no DNS server.
//! - **Several roots on one host** (`--root`, or a root deleted with `rm -rf` while its
//!   bridge stays in the kernel): they share the default bridge, as two dockerd data
//!   roots would share `docker0`. A root without a default network adopts an existing
//!   bridge of the configured name that carries the configured gateway (or no
//!   address), completes what is missing, and refuses anything else under that name
//!   with one line saying what to do ([`Error::BridgeConflict`]). Addresses on a
//!   bridge are kept apart through the kernel: the host end of every veth is labelled
//!   (`IFLA_IFALIAS`, `ip link` shows `alias mydocker ip=… container=…`), allocation
//!   treats every label on the bridge's ports as taken, and it happens under a
//!   host-wide lock per bridge ([`Config::lock_dir`]); a label vanishes with its veth,
//!   so nothing stale is left by a dead container or a deleted root. Ports published
//!   by another root that uses the same nftables table are read from the table (under
//!   a lock per table), and a removal only ever deletes this container's elements.
//!   The shared bridge, its rules and the table are deleted ([`Networks::purge`]) only
//!   when no other root's container still uses them.
//! - IPv4 only.
//!
//! # Example: what `run` does
//!
//! ```no_run
//! use network::{AttachOptions, Config, HostsConfig, HostsSpec, Netns, Networks, PortSpec};
//!
//! # fn main() -> Result<(), network::Error> {
//! let nets = Networks::new(Config::new("/var/lib/mydocker/networks"))?;
//! // After the container's init exists (pid) and before it is let go:
//! let init_pid: u32 = 4242;
//! let opts = AttachOptions {
//!     name: Some("web".into()),
//!     ports: PortSpec::parse("8080:80")?,
//!     hosts: Some(HostsConfig {
//!         path: "/var/lib/mydocker/containers/abc/hosts".into(),
//!         spec: HostsSpec { hostname: "abc123".into(), ..Default::default() },
//!     }),
//!     ..Default::default()
//! };
//! let att = nets.attach(&Netns::Pid(init_pid), "abc123", "bridge", &opts)?;
//! println!("{} {} {:?}", att.ip, att.mac, att.ports);
//! // When the container exits (or at `rm`), and after a crash of its monitor:
//! nets.detach_all("abc123")?;
//! nets.recover(|id| id != "abc123")?;
//! # Ok(())
//! # }
//! ```
//!
//! # Measurements
//!
//! `cargo run -p mydocker-network --example measure` (root; inside a throw-away network
//! namespace, loopback and the namespace's own veths only; 2 shared cores, dev build,
//! medians):
//!
//! | what | figure |
//! |---|---|
//! | attach, no published port | 13-15 ms (mostly creating the veth pair and the durable record write: fsync of the record, then of the directory) |
//! | detach, no published port | 27-28 ms (mostly the kernel unregistering the veth pair) |
//! | attach / detach with one published port | 29-30 ms / 43-48 ms (one `nft` run each, ~10-20 ms) |
//! | TCP host → container, 127.0.0.1 published port (DNAT) | 90-103% of direct to the container's address |
//! | same through a minimal userland proxy (not used) | 21-57% of direct |
//!
// The handle and the network lifecycle; a network's kernel side; what inspect shows.
mod bridge;
mod info;
mod networks;
// Containers on networks; what they claim from shared pools; their hosts files.
mod claims;
mod endpoint;
mod peers;
// Parsing and choosing: addresses, subnets and addresses to hand out, port specs and
// host ports, file contents.
mod addr;
mod files;
mod ipam;
mod ports;
// State on disk, host-wide locks, and the kernel: netlink, nftables, system calls.
mod hostlock;
mod netlink;
mod nft;
mod state;
mod sys;
// Configuration and errors.
mod config;
mod error;

pub use addr::{Ipv4Net, MacAddr, parse_ipv4};
pub use config::Config;
pub use endpoint::{AttachOptions, Attachment, Detached, Recovered};
pub use error::{Error, ErrorKind, Result};
pub use files::{
    DEFAULT_NAMESERVERS, DnsConfig, HostAddr, HostEntry, HostsSpec, Peer, host_resolv_conf,
    hostname_content, hosts_content, parse_dns_server, resolv_conf_content,
};
pub use info::{ContainerEndpoint, Ipam, IpamConfig, NetworkInfo};
pub use networks::{CreateOptions, Networks};
pub use ports::{HostPort, PortSpec, Protocol, PublishedPort};
pub use state::HostsConfig;
pub use sys::Netns;
