//! Socket options read from real loopback connections of this kernel.
#![forbid(unsafe_code)]
use netsys::sockopt::{mptcp_info, tcp_info, tcp_is_mptcp, MPTCP_INFO_FLAG_FALLBACK};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, TcpListener, TcpStream};

fn mptcp_socket() -> std::io::Result<Socket> {
    Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP))
}

#[test]
fn an_mptcp_loopback_connection_reads_as_mptcp_with_its_info() {
    let listener = match mptcp_socket() {
        Ok(s) => s,
        Err(e) => {
            println!("skipped: this kernel refuses MPTCP sockets: {e}");
            return;
        }
    };
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(4).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = mptcp_socket().unwrap();
    client.connect(&addr).unwrap();
    let (server, _) = listener.accept().unwrap();

    for (side, sock) in [("client", &client), ("server", &server)] {
        assert!(tcp_is_mptcp(sock).unwrap(), "{side}: TCP_IS_MPTCP");
        let info = mptcp_info(sock).unwrap();
        assert!(info.len >= 40, "{side}: MPTCP_INFO of {} bytes", info.len);
        // No join on loopback without endpoints: no extra subflow.
        assert_eq!(info.subflows, Some(0), "{side}: {info:?}");
        assert_eq!(
            info.flags.map(|f| f & MPTCP_INFO_FLAG_FALLBACK),
            Some(0),
            "{side}"
        );
        assert_ne!(info.token, Some(0), "{side}: a connection has a token");
        if info.len >= 81 {
            assert_eq!(info.subflows_total, Some(1), "{side}: {info:?}");
        }
        // TCP_INFO on an MPTCP socket is the first subflow's.
        let tcp = tcp_info(sock).unwrap();
        assert_eq!(tcp.state, Some(1), "{side}: TCP_ESTABLISHED");
    }
}

#[test]
fn a_plain_tcp_connection_reads_as_not_mptcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    match tcp_is_mptcp(&stream) {
        Ok(v) => assert!(!v),
        Err(e) => {
            // Kernels before 5.16 have no TCP_IS_MPTCP.
            assert_eq!(e.raw_os_error(), Some(libc::ENOPROTOOPT), "{e}");
        }
    }
    assert!(mptcp_info(&stream).is_err(), "no MPTCP_INFO on plain TCP");
    // A clean handshake: no retransmission, and the neighbouring fields
    // set (so the offsets land on the right fields).
    let info = tcp_info(&stream).unwrap();
    assert!(info.len >= 104, "kernel gave {} bytes", info.len);
    assert_eq!(info.total_retrans, Some(0));
    assert!(info.rto_us.unwrap() > 0);
    assert!(info.snd_mss.unwrap() > 0);
}
