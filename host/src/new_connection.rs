//! Does this kernel use MPTCP for a new outgoing connection right now?
//!
//! The question the sysctls cannot answer: after MP_CAPABLE SYNs were lost
//! while a plain retry got through, an upstream kernel's blackhole
//! detection sends every new outgoing MPTCP connection without MP_CAPABLE
//! for `net.mptcp.blackhole_timeout` seconds (doubled on each repeat), and
//! nothing but the `MPTcpExt` counters shows it. The kernel decides this in
//! `connect()`, before it looks for a route, so the probe sends nothing:
//! an IPPROTO_MPTCP socket connects to a multicast address, which TCP
//! refuses locally (ENETUNREACH) right after that decision. The socket's
//! `TCP_IS_MPTCP` then reads 0 when the connection fell back at once, and
//! `MPCapableSYNTXDisabled` counts it (verified on kernel 6.18).
//!
//! Side effect: the probe counts as one connection in `MPCapableSYNTX` (or
//! in `MPCapableSYNTXDisabled` while the detection is active).
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

/// Where the probe "connects": all-hosts multicast, which TCP refuses.
const NOWHERE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)), 9);

/// What a new outgoing MPTCP connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewConnection {
    /// `TCP_IS_MPTCP` after the connect (`None`: not readable).
    pub is_mptcp: Option<bool>,
    /// How `MPCapableSYNTXDisabled` moved during the connect (`None`: the
    /// counters could not be read).
    pub syn_tx_disabled: Option<u64>,
}

impl NewConnection {
    /// The blackhole detection kept MP_CAPABLE out of the connection.
    pub fn blackholed(&self) -> bool {
        match self.syn_tx_disabled {
            Some(n) => n > 0,
            None => self.is_mptcp == Some(false),
        }
    }
}

/// Makes the probe in the calling thread's network namespace. An error:
/// no MPTCP socket could be opened (MPTCP disabled or absent), which the
/// caller reports on its own.
pub fn probe() -> io::Result<NewConnection> {
    let counter = || {
        crate::read_mptcp_counters()
            .ok()
            .and_then(|c| c.get("MPCapableSYNTXDisabled").copied())
    };
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP))?;
    let before = counter();
    // Refused before any packet leaves; the outcome does not matter.
    let _ = socket.connect(&NOWHERE.into());
    let after = counter();
    let stream: TcpStream = socket.into();
    Ok(NewConnection {
        is_mptcp: netsys::sockopt::tcp_is_mptcp(&stream).ok(),
        syn_tx_disabled: before.zip(after).map(|(b, a)| a.saturating_sub(b)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackholed_follows_the_counter_then_the_socket() {
        let c = |is_mptcp, syn_tx_disabled| NewConnection {
            is_mptcp,
            syn_tx_disabled,
        };
        assert!(c(Some(false), Some(1)).blackholed());
        assert!(!c(Some(true), Some(0)).blackholed());
        // Another early fallback (no token) is not the detection.
        assert!(!c(Some(false), Some(0)).blackholed());
        assert!(c(Some(false), None).blackholed());
        assert!(!c(None, None).blackholed());
    }

    #[test]
    fn a_probe_sends_nothing_and_reads_the_state() {
        // In the test's own namespace: whatever the state, the probe
        // returns (or says MPTCP sockets are refused) without blocking.
        match probe() {
            Ok(p) => assert!(p.is_mptcp.is_some() || p.syn_tx_disabled.is_some()),
            Err(e) => eprintln!("no MPTCP socket here: {e}"),
        }
    }
}
