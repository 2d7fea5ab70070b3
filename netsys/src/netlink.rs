//! A netlink socket talking to the kernel: open, send a request, receive
//! datagrams with a timeout. Building and parsing the messages is the
//! caller's (pure code in `host::netlink`).
//!
//! No bind and no destination address: an unbound netlink socket is bound
//! by the kernel to a free port id at its first send, and a send without
//! an address goes to port id 0, the kernel (netlink(7)).
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read};
use std::time::Duration;

/// `NETLINK_GENERIC`: generic netlink (families such as `mptcp_pm`).
pub const NETLINK_GENERIC: libc::c_int = libc::NETLINK_GENERIC;
/// `NETLINK_ROUTE`: routes, links, addresses (rtnetlink(7)).
pub const NETLINK_ROUTE: libc::c_int = libc::NETLINK_ROUTE;

/// A netlink socket of the calling thread's network namespace (the
/// namespace is fixed when the socket is opened).
#[derive(Debug)]
pub struct NetlinkSocket {
    socket: Socket,
}

impl NetlinkSocket {
    /// Opens a `SOCK_RAW` netlink socket of `protocol` (close-on-exec);
    /// receives wait at most `recv_timeout` (`None`: forever).
    pub fn open(protocol: libc::c_int, recv_timeout: Option<Duration>) -> io::Result<Self> {
        let socket = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW,
            Some(Protocol::from(protocol)),
        )?;
        socket.set_read_timeout(recv_timeout)?;
        Ok(NetlinkSocket { socket })
    }

    /// Sends one datagram (one or more messages) to the kernel.
    pub fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        self.socket.send(datagram)
    }

    /// Receives one datagram into `buf`; `WouldBlock`/`TimedOut` when the
    /// timeout passed. A datagram longer than `buf` is cut short.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.socket).read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NLMSG_NOOP with NLM_F_REQUEST|NLM_F_ACK: every netlink family
    /// answers it with an NLMSG_ERROR carrying error 0.
    fn noop_request(seq: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&16u32.to_ne_bytes());
        m.extend_from_slice(&1u16.to_ne_bytes()); // NLMSG_NOOP
        m.extend_from_slice(&(0x1u16 | 0x4).to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m
    }

    #[test]
    fn the_kernel_acknowledges_a_request() {
        let s = NetlinkSocket::open(NETLINK_GENERIC, Some(Duration::from_secs(2))).unwrap();
        assert_eq!(s.send(&noop_request(77)).unwrap(), 16);
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).unwrap();
        assert!(n >= 20, "answer of {n} bytes");
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 2, "NLMSG_ERROR");
        assert_eq!(u32::from_ne_bytes(buf[8..12].try_into().unwrap()), 77);
        assert_eq!(i32::from_ne_bytes(buf[16..20].try_into().unwrap()), 0);
    }

    #[test]
    fn a_receive_with_nothing_to_read_times_out() {
        let s = NetlinkSocket::open(NETLINK_GENERIC, Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 64];
        let e = s.recv(&mut buf).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{e}"
        );
    }
}
