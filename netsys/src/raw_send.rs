//! Sending whole, already built IP packets through the routing table.
//!
//! `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)` implies IP_HDRINCL (set again
//! explicitly), and `socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)` implies
//! IPV6_HDRINCL since Linux 4.5: the packet leaves exactly as built (the
//! IPv4 kernel fills in only the total length and header checksum, which a
//! builder sets right anyway, and an IP ID of 0, which we never use).
//!
//! Both go through the normal route lookup, so the device binding
//! (SO_BINDTODEVICE) and policy routing apply; AF_PACKET would need a
//! neighbour (ARP/ND) lookup of our own. Policy routing: on a router with
//! one table per WAN (`ip rule add from ADDR table N`), the lookup matches
//! `from ADDR` only when the socket is bound to ADDR; the source address in
//! a header we built is not consulted. Hence [`SenderOptions::source`].
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

/// What to open.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderOptions<'a> {
    /// Open the IPv4 socket.
    pub ipv4: bool,
    /// Open the IPv6 socket.
    pub ipv6: bool,
    /// Bind the socket of this address's family to it (must be an address
    /// of this host). The other family's socket stays unbound.
    pub source: Option<IpAddr>,
    /// Send through this interface only (SO_BINDTODEVICE).
    pub device: Option<&'a str>,
}

/// Why a packet was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("not an IP packet")]
    NotIp,
    #[error("no raw socket opened for {destination}'s family")]
    NoSocket { destination: IpAddr },
    #[error("sendto {destination}: {source}")]
    Send {
        destination: IpAddr,
        #[source]
        source: io::Error,
    },
}

/// Raw IPv4 and/or IPv6 sockets for whole packets.
#[derive(Debug)]
pub struct RawSender {
    v4: Option<Socket>,
    v6: Option<Socket>,
}

fn context(what: &str) -> impl Fn(io::Error) -> io::Error + '_ {
    // The kind is kept: callers tell a missing privilege by it.
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn open_one(domain: Domain, source: Option<IpAddr>, device: Option<&str>) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))
        .map_err(context("socket(SOCK_RAW, IPPROTO_RAW)"))?;
    if domain == Domain::IPV4 {
        socket
            .set_header_included_v4(true)
            .map_err(context("IP_HDRINCL"))?;
    }
    if let Some(name) = device {
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(context(&format!("SO_BINDTODEVICE {name}")))?;
    }
    if let Some(addr) = source {
        socket
            .bind(&SockAddr::from(SocketAddr::new(addr, 0)))
            .map_err(context(&format!("bind {addr}")))?;
    }
    Ok(socket)
}

impl RawSender {
    /// Opens the sockets asked for, in the calling thread's network
    /// namespace. Needs CAP_NET_RAW (an error of kind `PermissionDenied`
    /// without it).
    pub fn open(options: &SenderOptions<'_>) -> io::Result<Self> {
        let source_of = |v4: bool| options.source.filter(|s| s.is_ipv4() == v4);
        let v4 = options
            .ipv4
            .then(|| open_one(Domain::IPV4, source_of(true), options.device))
            .transpose()?;
        let v6 = options
            .ipv6
            .then(|| open_one(Domain::IPV6, source_of(false), options.device))
            .transpose()?;
        Ok(RawSender { v4, v6 })
    }

    /// Sends one whole IP packet (IPv4 or IPv6 by its version nibble) to
    /// the destination in its header. Returns the time taken just before
    /// the send: on veth paths the answer can be timestamped before
    /// `sendto` even returns, so a later reading could make a round trip
    /// negative; this one errs by the send call's duration at most.
    pub fn send(&self, packet: &[u8]) -> Result<SystemTime, SendError> {
        let destination = destination_of(packet).ok_or(SendError::NotIp)?;
        let socket = match destination {
            IpAddr::V4(_) => self.v4.as_ref(),
            IpAddr::V6(_) => self.v6.as_ref(),
        }
        .ok_or(SendError::NoSocket { destination })?;
        let at = SystemTime::now();
        socket
            .send_to(packet, &SockAddr::from(SocketAddr::new(destination, 0)))
            .map_err(|source| SendError::Send {
                destination,
                source,
            })?;
        Ok(at)
    }

    /// The address a family's socket is bound to (`None`: not opened).
    pub fn local_addr(&self, ipv6: bool) -> Option<io::Result<SocketAddr>> {
        let socket = if ipv6 { &self.v6 } else { &self.v4 };
        socket.as_ref().map(|s| {
            s.local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("not an IP socket address"))
        })
    }
}

/// The destination address in an IP packet's header.
pub fn destination_of(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 => {
            let b: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
