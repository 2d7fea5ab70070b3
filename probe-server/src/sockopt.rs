//! What the kernel says about an accepted socket: MPTCP or not, read with
//! [`netsys::sockopt`].
use netsys::sockopt;
use std::os::fd::AsFd;

/// The kernel's view of one accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MptcpState {
    /// `TCP_IS_MPTCP` read 1: an MPTCP socket that did not fall back.
    pub mptcp: bool,
    /// `mptcpi_flags` of MPTCP_INFO, when the kernel gave it.
    pub info_flags: Option<u32>,
}

/// Reads `TCP_IS_MPTCP` and `MPTCP_INFO` of a connected socket. A kernel
/// without `TCP_IS_MPTCP` (before 5.16) reads as not MPTCP.
pub fn mptcp_state(sock: impl AsFd) -> MptcpState {
    let fd = sock.as_fd();
    MptcpState {
        mptcp: sockopt::tcp_is_mptcp(fd).unwrap_or(false),
        info_flags: sockopt::mptcp_info(fd).ok().and_then(|i| i.flags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::{SocketAddr, TcpListener, TcpStream};

    #[test]
    fn a_plain_tcp_connection_is_not_mptcp_and_has_no_info() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(
            mptcp_state(&accepted),
            MptcpState {
                mptcp: false,
                info_flags: None
            }
        );
    }

    #[test]
    fn an_accepted_mptcp_connection_is_mptcp_with_flags() {
        let Ok(listener) = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)) else {
            println!("skipped: this kernel refuses MPTCP sockets");
            return;
        };
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        listener.bind(&any.into()).unwrap();
        listener.listen(1).unwrap();
        let client = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
        client.connect(&listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let state = mptcp_state(&accepted);
        assert!(state.mptcp);
        // Not fallen back (bit 0 clear).
        assert_eq!(state.info_flags.map(|f| f & 1), Some(0), "{state:?}");
    }
}
