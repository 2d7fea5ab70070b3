//! Which source address and port a probe leaves from.
//!
//! Address: the one the kernel itself would choose for the destination
//! (a connected UDP socket sends nothing; getsockname then reports the
//! route's preferred source), honouring `-i` through SO_BINDTODEVICE so
//! the route lookup is the interface's, unless `--source` fixes it. With
//! `-i` it is always one of that interface's addresses (see
//! [`select_source`]). Every packet of a path then leaves bound to this
//! address (and to `-i`'s device): the crafted SYNs' raw sender, trace's
//! probes, the kernel connection and the echo connection, so policy
//! routing (`ip rule from ADDR table N`) sends them all the same way.
//!
//! Port: [`reserve_port`] binds a TCP socket to port 0 and keeps it bound
//! (not listening) for the life of the probe, so no local connection
//! picks the same port while our crafted SYNs use it. What it does NOT do,
//! verified on kernel 6.18: stop the kernel from answering the
//! destination's SYN/ACK with a RST. A bound, unconnected, non-listening
//! socket is in no lookup table an incoming segment is matched against
//! (only in the bind table), so the SYN/ACK finds no socket and the kernel
//! resets it, as it would for any port. That RST is harmless to the probe
//! (the answer was already received; the server forgets the half-open
//! connection sooner) and is left alone rather than filtered with
//! iptables, which would change the host's firewall.
use super::error::NetError;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The source address the kernel would use to reach `destination`
/// (through `interface` when given), or `source` when the user fixed it.
///
/// With `-i` the address is one of that interface's: the route lookup's
/// choice when it is one, else the first of the interface's addresses
/// (global ones first) from which the destination has a route. The second
/// way is for a multi-WAN router whose WAN table only `ip rule from ADDR`
/// reaches (OpenMPTCProuter's layout without `oif` rules): a lookup bound
/// to the device alone finds no IPv6 route there (IPv4 guesses the
/// destination is on the link), while one from the WAN's address does.
pub fn select_source(
    destination: IpAddr,
    source: Option<IpAddr>,
    interface: Option<&str>,
) -> Result<IpAddr, NetError> {
    if let Some(source) = source {
        if source.is_ipv4() != destination.is_ipv4() {
            return Err(NetError::FamilyMismatch {
                source_addr: source,
                destination,
            });
        }
        return Ok(source);
    }
    let routed = route_source(destination, None, interface);
    let Some(name) = interface else {
        return routed;
    };
    let own = netsys::iface::addresses_of(name).unwrap_or_default();
    match routed {
        Ok(addr) if own.is_empty() || own.contains(&addr) => Ok(addr),
        routed => interface_source(destination, name, &own).ok_or_else(|| match routed {
            Err(e) => e,
            Ok(_) => NetError::io(
                format!("no route to {destination} from an address of {name}"),
                std::io::Error::from(std::io::ErrorKind::NetworkUnreachable),
            ),
        }),
    }
}

/// The first address of the interface (of the destination's family,
/// global before link-local unless the destination is link-local) from
/// which the kernel has a route to `destination` through it.
fn interface_source(destination: IpAddr, name: &str, own: &[IpAddr]) -> Option<IpAddr> {
    let link_local = |a: &IpAddr| match a {
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(v4) => v4.is_link_local(),
    };
    let wants_link_local = link_local(&destination);
    let mut candidates: Vec<IpAddr> = own
        .iter()
        .copied()
        .filter(|a| a.is_ipv4() == destination.is_ipv4())
        .collect();
    // Stable: the kernel's order within each group.
    candidates.sort_by_key(|a| link_local(a) != wants_link_local);
    candidates
        .into_iter()
        .find(|&a| route_source(destination, Some(a), Some(name)).is_ok())
}

/// The local address a connected UDP socket gets (no packet is sent),
/// optionally bound to `bind` and to `interface` first.
fn route_source(
    destination: IpAddr,
    bind: Option<IpAddr>,
    interface: Option<&str>,
) -> Result<IpAddr, NetError> {
    let domain = if destination.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| NetError::io("socket(UDP) for source selection", e))?;
    if let Some(name) = interface {
        bind_device(&socket, name)?;
    }
    if let Some(addr) = bind {
        socket
            .bind(&SockAddr::from(SocketAddr::new(addr, 0)))
            .map_err(|e| NetError::io(format!("bind {addr}"), e))?;
    }
    socket
        .connect(&SockAddr::from(SocketAddr::new(destination, 9)))
        .map_err(|e| NetError::io(format!("no route to {destination}"), e))?;
    let local = socket
        .local_addr()
        .map_err(|e| NetError::io("getsockname", e))?
        .as_socket()
        .ok_or_else(|| NetError::io("getsockname", std::io::Error::other("not an IP address")))?;
    Ok(local.ip())
}

/// SO_BINDTODEVICE with an error that names the interface.
pub fn bind_device(socket: &Socket, name: &str) -> Result<(), NetError> {
    socket
        .bind_device(Some(name.as_bytes()))
        .map_err(|e| NetError::Interface {
            name: name.to_string(),
            source: e,
        })
}

/// A source port held by a bound (not listening) TCP socket; the port is
/// free for other programs again once this is dropped.
#[derive(Debug)]
pub struct ReservedPort {
    pub port: u16,
    _socket: Socket,
}

/// Reserves a free TCP port on `source` (see the module comment for what
/// this does and does not prevent).
pub fn reserve_port(source: IpAddr) -> Result<ReservedPort, NetError> {
    let domain = if source.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| NetError::io("socket(TCP) for the source port", e))?;
    // The address may not be local (a user's --source on another host's
    // behalf is refused by bind); fall back to the wildcard, which still
    // keeps the port from the kernel's own ephemeral allocations.
    let any = match source {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    if socket
        .bind(&SockAddr::from(SocketAddr::new(source, 0)))
        .is_err()
    {
        socket
            .bind(&SockAddr::from(SocketAddr::new(any, 0)))
            .map_err(|e| NetError::io("bind(port 0)", e))?;
    }
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .ok_or_else(|| NetError::io("getsockname", std::io::Error::other("no port")))?;
    Ok(ReservedPort {
        port,
        _socket: socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_source_is_loopback() {
        let dst: IpAddr = "127.0.0.1".parse().unwrap();
        let src = select_source(dst, None, None).unwrap();
        assert!(src.is_loopback());
        let given: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(select_source(dst, Some(given), None).unwrap(), given);
        assert!(select_source(dst, Some("::1".parse().unwrap()), None).is_err());
    }

    #[test]
    fn with_an_interface_the_address_is_the_interfaces() {
        let dst: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            select_source(dst, None, Some("lo")).unwrap(),
            IpAddr::from([127, 0, 0, 1])
        );
        let own = [IpAddr::from([127, 0, 0, 1])];
        assert_eq!(interface_source(dst, "lo", &own), Some(own[0]));
        // No address of the destination's family: none.
        assert_eq!(interface_source("::1".parse().unwrap(), "lo", &own), None);
        assert!(select_source(dst, None, Some("no-such-if0")).is_err());
    }

    #[test]
    fn reserved_ports_differ_while_held() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let a = reserve_port(lo).unwrap();
        let b = reserve_port(lo).unwrap();
        assert_ne!(a.port, 0);
        assert_ne!(a.port, b.port);
    }
}
