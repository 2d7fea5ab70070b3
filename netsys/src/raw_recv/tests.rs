use super::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Instant;

#[test]
fn the_rebuilt_ipv6_header_has_every_field_in_place() {
    let head = Ipv6Head {
        flowinfo: 0x0ab1_2345,
        payload_len: 40,
        next_header: 6,
        hop_limit: 61,
        source: "2001:db8::1".parse().unwrap(),
        destination: "2001:db8::2".parse().unwrap(),
    };
    let mut out = [0xa5u8; IPV6_HEADER_LEN];
    head.write(&mut out);
    assert_eq!(&out[..8], &[0x6a, 0xb1, 0x23, 0x45, 0x00, 40, 6, 61][..]);
    assert_eq!(out[0] >> 4, 6, "version");
    assert_eq!(
        u32::from_be_bytes([out[0], out[1], out[2], out[3]]) & 0x0fff_ffff,
        0x0ab1_2345
    );
    assert_eq!(u16::from_be_bytes([out[4], out[5]]), 40);
    assert_eq!((out[6], out[7]), (6, 61));
    assert_eq!(
        Ipv6Addr::from(<[u8; 16]>::try_from(&out[8..24]).unwrap()),
        head.source
    );
    assert_eq!(
        Ipv6Addr::from(<[u8; 16]>::try_from(&out[24..40]).unwrap()),
        head.destination
    );
    let jumbo = Ipv6Head {
        payload_len: 70_000,
        ..head
    };
    jumbo.write(&mut out);
    assert_eq!(u16::from_be_bytes([out[4], out[5]]), 0);
}

fn open(ipv6: bool) -> Option<RawReceiver> {
    match RawReceiver::open(&ReceiverOptions {
        ipv4: !ipv6,
        ipv6,
        ..Default::default()
    }) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            eprintln!("skipping: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// A loopback connection's SYN, read as a whole IP packet. Needs
/// CAP_NET_RAW; skips without it.
fn syn_over_loopback(addr: IpAddr) {
    let Some(rx) = open(addr.is_ipv6()) else {
        return;
    };
    let listener = TcpListener::bind(SocketAddr::new(addr, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let _client = TcpStream::connect((addr, port)).unwrap();
    let mut buf = vec![0u8; 65535 + IPV6_HEADER_LEN];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !rx.wait_readable(Duration::from_millis(100)).unwrap() {
            continue;
        }
        let Some(d) = rx.recv(&mut buf).unwrap() else {
            continue;
        };
        let p = &buf[..d.len];
        let (ip_len, dport_at) = if addr.is_ipv6() {
            (IPV6_HEADER_LEN, IPV6_HEADER_LEN + 2)
        } else {
            (
                usize::from(p[0] & 0x0f) * 4,
                usize::from(p[0] & 0x0f) * 4 + 2,
            )
        };
        if p.len() < ip_len + 14 || u16::from_be_bytes([p[dport_at], p[dport_at + 1]]) != port {
            continue;
        }
        if p[ip_len + 13] & 0x12 != 0x02 {
            continue; // not the SYN
        }
        assert!(d.timestamp.is_some(), "kernel timestamp");
        assert_ne!(d.ifindex, 0, "interface from the packet info");
        match addr {
            IpAddr::V4(_) => {
                assert_eq!(p[0] >> 4, 4);
                assert_eq!(p[9], 6, "TCP");
                assert_eq!(&p[12..16], &Ipv4Addr::LOCALHOST.octets());
            }
            IpAddr::V6(a) => {
                assert_eq!(p[0] >> 4, 6);
                assert_eq!(
                    usize::from(u16::from_be_bytes([p[4], p[5]])),
                    d.len - IPV6_HEADER_LEN,
                    "payload length"
                );
                assert_eq!(p[6], 6, "next header TCP");
                assert_eq!(p[7], 64, "loopback hop limit");
                assert_eq!(&p[8..24], &a.octets(), "source");
                assert_eq!(&p[24..40], &a.octets(), "destination");
            }
        }
        return;
    }
    panic!("no SYN to {addr} port {port} within 5 s");
}

#[test]
fn v4_syn_over_loopback() {
    syn_over_loopback(IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[test]
fn v6_syn_over_loopback() {
    syn_over_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[test]
fn no_packet_socket_among_the_descriptors() {
    let Some(rx) = open(false) else { return };
    let Some(rx6) = open(true) else { return };
    for fd in rx.fds().into_iter().chain(rx6.fds()) {
        let domain = socket2::SockRef::from(&fd).domain().unwrap();
        assert!(
            domain == Domain::IPV4 || domain == Domain::IPV6,
            "{domain:?}: a packet socket would cost an RCU grace period to close"
        );
    }
}
