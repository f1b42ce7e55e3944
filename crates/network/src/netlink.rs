//! A small synchronous rtnetlink client: the message types come from
//! `netlink-packet-route`, the socket from rustix.
//!
//! Why not the `rtnetlink` crate: every request here is one message answered by an ack
//! (or a short dump), sent from a process that is about to exit; an async runtime,
//! `futures` and `netlink-proto` would add weight and a runtime per call for nothing.
//! A blocking socket also makes "open the socket inside the container's namespace, on a
//! throw-away thread" trivial: the socket stays bound to the namespace it was created
//! in, whatever thread uses it afterwards (see [`Netlink::open_in`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::{Timeout, set_socket_timeout};
use rustix::net::{RecvFlags, SendFlags, SocketFlags, SocketType, bind, recv, sendto, socket_with};

use crate::addr::{Ipv4Net, MacAddr};
use crate::error::Error;

/// How long to wait for the kernel's answer before giving up.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// An rtnetlink socket bound to one network namespace.
#[derive(Debug)]
pub(crate) struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// What the library needs to know of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkDetails {
    pub index: u32,
    pub name: String,
    /// Whether it is a Linux bridge (`IFLA_INFO_KIND` "bridge").
    pub is_bridge: bool,
    /// The kind as the kernel names it ("veth", "dummy"), when it has one.
    pub kind: Option<String>,
    /// The index of the bridge it is enslaved to.
    pub master: Option<u32>,
    /// `IFLA_IFALIAS` (what `ip link set DEV alias TEXT` sets).
    pub alias: Option<String>,
    /// Administratively up.
    pub up: bool,
}

impl LinkDetails {
    fn from_message(l: &LinkMessage) -> Option<LinkDetails> {
        let mut d = LinkDetails {
            index: l.header.index,
            name: String::new(),
            is_bridge: false,
            kind: None,
            master: None,
            alias: None,
            up: l.header.flags.contains(LinkFlags::Up),
        };
        let mut named = false;
        for a in &l.attributes {
            match a {
                LinkAttribute::IfName(n) => {
                    d.name = n.clone();
                    named = true;
                }
                LinkAttribute::Controller(m) => d.master = Some(*m),
                LinkAttribute::IfAlias(text) => d.alias = Some(text.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            d.is_bridge = *kind == InfoKind::Bridge;
                            d.kind = Some(kind.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        named.then_some(d)
    }
}

/// A route of the main IPv4 table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub dst: Ipv4Net,
    pub oif: Option<u32>,
    pub gateway: Option<Ipv4Addr>,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Netlink, Error> {
        let open = || -> io::Result<Netlink> {
            let fd = socket_with(
                rustix::net::AddressFamily::NETLINK,
                SocketType::RAW,
                SocketFlags::CLOEXEC,
                None,
            )?;
            bind(&fd, &SocketAddrNetlink::new(0, 0))?;
            set_socket_timeout(&fd, Timeout::Recv, Some(RECV_TIMEOUT))?;
            Ok(Netlink { fd, seq: 0 })
        };
        open().map_err(|e| Error::netlink("open a netlink socket", e))
    }

    /// A socket in the network namespace `ns`, created on a throw-away thread that
    /// entered it; the calling thread's namespace is untouched.
    pub(crate) fn open_in(ns: BorrowedFd<'_>, path: &Path) -> Result<Netlink, Error> {
        crate::sys::in_netns(ns, path, Netlink::open)
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        sendto(
            &self.fd,
            &buf,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )?;

        let mut replies = Vec::new();
        // Bounded: every datagram is waited for at most RECV_TIMEOUT, and a dump of a
        // namespace's links or routes is far shorter than this many datagrams.
        for _ in 0..100_000 {
            let (_, len) = recv(
                &self.fd,
                &mut [0u8; 0][..],
                RecvFlags::PEEK | RecvFlags::TRUNC,
            )?;
            let mut data = vec![0u8; len.max(16)];
            let (n, _) = recv(&self.fd, &mut data[..], RecvFlags::empty())?;
            data.truncate(n);
            let mut offset = 0;
            while offset + 16 <= data.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let msg_len = msg.header.length as usize;
                if msg_len < 16 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "netlink message too short",
                    ));
                }
                offset += (msg_len + 3) & !3;
                if msg.header.sequence_number != seq {
                    continue; // a late answer to an earlier, timed-out request
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(_) => Err(e.to_io()),
                        };
                    }
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "netlink answer never ended",
        ))
    }

    /// The index of a link, or `None` when there is no such link.
    pub(crate) fn link_index(&mut self, name: &str) -> Result<Option<u32>, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc_errno::ENODEV) => Ok(None),
            Err(e) => Err(Error::netlink(format!("look up link {name}"), e)),
        }
    }

    /// One link by name, or `None` when there is no such link.
    pub(crate) fn link(&mut self, name: &str) -> Result<Option<LinkDetails>, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => LinkDetails::from_message(l),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc_errno::ENODEV) => Ok(None),
            Err(e) => Err(Error::netlink(format!("look up link {name}"), e)),
        }
    }

    /// The links enslaved to the bridge of index `bridge` (its ports).
    pub(crate) fn ports_of(&mut self, bridge: u32) -> Result<Vec<LinkDetails>, Error> {
        let replies = self
            .request(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| Error::netlink("list links", e))?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => LinkDetails::from_message(l),
                _ => None,
            })
            .filter(|l| l.master == Some(bridge))
            .collect())
    }

    /// The IPv4 addresses of a link, with their prefix lengths.
    pub(crate) fn addresses(&mut self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>, Error> {
        let mut query = AddressMessage::default();
        query.header.family = AddressFamily::Inet;
        let replies = self
            .request(RouteNetlinkMessage::GetAddress(query), NLM_F_DUMP)
            .map_err(|e| Error::netlink("list addresses", e))?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a)
                    if a.header.index == index && a.header.family == AddressFamily::Inet =>
                {
                    let local = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                        _ => None,
                    });
                    let address = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                        _ => None,
                    });
                    local.or(address).map(|ip| (ip, a.header.prefix_len))
                }
                _ => None,
            })
            .collect())
    }

    /// Every link of the namespace: (index, name).
    pub(crate) fn links(&mut self) -> Result<Vec<(u32, String)>, Error> {
        let replies = self
            .request(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| Error::netlink("list links", e))?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => {
                    let name = l.attributes.iter().find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    })?;
                    Some((l.header.index, name))
                }
                _ => None,
            })
            .collect())
    }

    /// Creates a Linux bridge (down, no IP address) with a fixed MAC. A bridge whose MAC
    /// was not set takes the lowest MAC of its ports, so it would change as containers
    /// come and go, and containers' ARP entries for the gateway would go stale.
    pub(crate) fn create_bridge(&mut self, name: &str, mac: MacAddr) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::Address(mac.octets().to_vec()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|e| Error::netlink(format!("create bridge {name}"), e))
    }

    /// Creates a veth pair: `host` in this namespace, up, enslaved to the bridge
    /// `master` and labelled with `alias` (`IFLA_IFALIAS`); `peer` directly in the
    /// namespace `peer_ns` with the MAC `peer_mac` (so no temporary name ever shows in
    /// the host, and a crash cannot leave the peer behind in it).
    ///
    /// The kernel does not take an alias when creating a link, so the host end is
    /// created down and unattached, then labelled, enslaved and set up by one
    /// `RTM_SETLINK`: a port of the bridge never lacks its label.
    pub(crate) fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        alias: &str,
        peer: &str,
        peer_ns: BorrowedFd<'_>,
        peer_mac: MacAddr,
    ) -> Result<(), Error> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::Address(peer_mac.octets().to_vec()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|e| Error::netlink(format!("create veth pair {host} / {peer}"), e))?;
        let index = self.link_index(host)?.ok_or_else(|| {
            Error::netlink(
                format!("find {host} after creating it"),
                io::Error::from(io::ErrorKind::NotFound),
            )
        })?;
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_string()));
        msg.attributes.push(LinkAttribute::Controller(master));
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .map(drop)
            .map_err(|e| Error::netlink(format!("attach {host} to its bridge"), e))
    }

    /// Brings a link up.
    pub(crate) fn set_up(&mut self, index: u32, what: &str) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .map(drop)
            .map_err(|e| Error::netlink(format!("set {what} up"), e))
    }

    /// Deletes a link by name; a missing link is not an error.
    pub(crate) fn delete_link(&mut self, name: &str) -> Result<bool, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc_errno::ENODEV) => Ok(false),
            Err(e) => Err(Error::netlink(format!("delete link {name}"), e)),
        }
    }

    /// Adds an IPv4 address with its prefix and broadcast; an identical address already
    /// there is not an error.
    pub(crate) fn add_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
        what: &str,
    ) -> Result<(), Error> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix_len;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        if prefix_len < 31 {
            let net = Ipv4Net::new(ip, prefix_len).map_err(|_| {
                Error::netlink(
                    format!("add address {ip}/{prefix_len} to {what}"),
                    io::Error::from(io::ErrorKind::InvalidInput),
                )
            })?;
            msg.attributes
                .push(AddressAttribute::Broadcast(net.broadcast()));
        }
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc_errno::EEXIST) => Ok(()),
            Err(e) => Err(Error::netlink(
                format!("add address {ip}/{prefix_len} to {what}"),
                e,
            )),
        }
    }

    /// Adds the default route via `gateway`.
    pub(crate) fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), Error> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
        .map_err(|e| Error::netlink(format!("add default route via {gateway}"), e))
    }

    /// The unicast routes of the main IPv4 table.
    pub(crate) fn routes(&mut self) -> Result<Vec<Route>, Error> {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet;
        let replies = self
            .request(RouteNetlinkMessage::GetRoute(query), NLM_F_DUMP)
            .map_err(|e| Error::netlink("list routes", e))?;
        let mut out = Vec::new();
        for reply in replies {
            let RouteNetlinkMessage::NewRoute(r) = reply else {
                continue;
            };
            let table = r
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(r.header.table));
            if table != u32::from(RouteHeader::RT_TABLE_MAIN) || r.header.kind != RouteType::Unicast
            {
                continue;
            }
            let dst = r
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                    _ => None,
                })
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            let Ok(dst) = Ipv4Net::new(dst, r.header.destination_prefix_length) else {
                continue;
            };
            let oif = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            });
            let gateway = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Gateway(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            out.push(Route { dst, oif, gateway });
        }
        Ok(out)
    }
}

/// The few errno values compared against (kept here rather than pulling `libc`).
mod libc_errno {
    pub(super) const EEXIST: i32 = 17;
    pub(super) const ENODEV: i32 = 19;
}
