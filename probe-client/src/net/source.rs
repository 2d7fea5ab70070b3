//! Which source address and port a probe leaves from.
//!
//! Address: the one the kernel itself would choose for the destination
//! (a connected UDP socket sends nothing; getsockname then reports the
//! route's preferred source), honouring `-i` through SO_BINDTODEVICE so
//! the route lookup is the interface's, unless `--source` fixes it.
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
    fn reserved_ports_differ_while_held() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let a = reserve_port(lo).unwrap();
        let b = reserve_port(lo).unwrap();
        assert_ne!(a.port, 0);
        assert_ne!(a.port, b.port);
    }
}
