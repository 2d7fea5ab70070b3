use super::*;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

fn privileged() -> bool {
    let ok = crate::privileges::has_net_raw();
    if !ok {
        eprintln!("skipping: no CAP_NET_RAW");
    }
    ok
}

fn sum16(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An IPv4 UDP packet (UDP checksum 0: none, allowed over IPv4).
fn udp4(src: Ipv4Addr, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let body = udp(40000, dport, payload);
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&((20 + body.len()) as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let check = fold(sum16(&p));
    p[10..12].copy_from_slice(&check.to_be_bytes());
    p.extend_from_slice(&body);
    p
}

/// An IPv6 UDP packet (the UDP checksum is mandatory over IPv6).
fn udp6(src: Ipv6Addr, dst: Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = udp(40000, dport, payload);
    let len = body.len() as u16;
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&u32::from(len).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    pseudo.extend_from_slice(&body);
    let check = fold(sum16(&pseudo));
    body[6..8].copy_from_slice(&check.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[17, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&body);
    p
}

fn sends_from_a_bound_source(source: IpAddr) {
    let rx = UdpSocket::bind(SocketAddr::new(source, 0)).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let sender = RawSender::open(&SenderOptions {
        ipv4: source.is_ipv4(),
        ipv6: source.is_ipv6(),
        source: Some(source),
        device: Some("lo"),
    })
    .unwrap();
    let bound = sender.local_addr(source.is_ipv6()).unwrap().unwrap();
    assert_eq!(bound.ip(), source);
    let packet = match source {
        IpAddr::V4(a) => udp4(a, a, port, b"raw hello"),
        IpAddr::V6(a) => udp6(a, a, port, b"raw hello"),
    };
    let before = SystemTime::now();
    let at = sender.send(&packet).unwrap();
    assert!(at >= before);
    let mut buf = [0u8; 64];
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"raw hello");
    assert_eq!(from, SocketAddr::new(source, 40000));
}

#[test]
fn v4_sender_bound_to_a_source_sends() {
    if privileged() {
        sends_from_a_bound_source(Ipv4Addr::LOCALHOST.into());
    }
}

#[test]
fn v6_sender_bound_to_a_source_sends() {
    if privileged() {
        sends_from_a_bound_source(Ipv6Addr::LOCALHOST.into());
    }
}

#[test]
fn source_must_be_an_address_of_this_host() {
    if !privileged() {
        return;
    }
    // TEST-NET-1: never configured here; binding sends nothing.
    let e = RawSender::open(&SenderOptions {
        ipv4: true,
        source: Some(Ipv4Addr::new(192, 0, 2, 1).into()),
        ..SenderOptions::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable, "{e}");
    assert!(e.to_string().starts_with("bind 192.0.2.1"), "{e}");
}

#[test]
fn packets_go_to_their_family_socket_only() {
    if !privileged() {
        return;
    }
    let sender = RawSender::open(&SenderOptions {
        ipv4: true,
        ..SenderOptions::default()
    })
    .unwrap();
    assert!(sender.local_addr(true).is_none());
    let v6 = udp6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 9, b"");
    assert!(matches!(
        sender.send(&v6),
        Err(SendError::NoSocket { destination }) if destination == IpAddr::from(Ipv6Addr::LOCALHOST)
    ));
    assert!(matches!(sender.send(&[0x20, 0]), Err(SendError::NotIp)));
    assert_eq!(
        sender.send(&v6).unwrap_err().to_string(),
        "no raw socket opened for ::1's family"
    );
}

#[test]
fn destination_from_the_header() {
    let v4 = udp4(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        9,
        b"",
    );
    assert_eq!(destination_of(&v4), Some(Ipv4Addr::new(10, 0, 0, 2).into()));
    let v6 = udp6(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 9, b"");
    assert_eq!(destination_of(&v6), Some(Ipv6Addr::UNSPECIFIED.into()));
    assert_eq!(destination_of(&v4[..19]), None);
    assert_eq!(destination_of(&v6[..39]), None);
    assert_eq!(destination_of(&[]), None);
    assert_eq!(destination_of(&[0x50; 40]), None);
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The reason for the source binding: with one routing table per WAN
/// (`ip rule add from ADDR table N`), only a socket bound to ADDR finds
/// the route. In a namespace of its own, through one end of a veth pair
/// (whose other end answers nothing).
#[test]
fn bound_source_selects_the_policy_routing_table() {
    if !privileged() || !ip(&["-V"]) {
        eprintln!("skipping: needs root and `ip`");
        return;
    }
    let ns = Namespace(format!("netsys-rule-{}", std::process::id()));
    let n = ns.0.as_str();
    for cmd in [
        vec!["netns", "add", n],
        vec![
            "-n", n, "link", "add", "wan1", "type", "veth", "peer", "name", "wan1p",
        ],
        vec!["-n", n, "link", "set", "wan1", "up"],
        vec!["-n", n, "link", "set", "wan1p", "up"],
        vec!["-n", n, "addr", "add", "10.77.0.1/24", "dev", "wan1"],
        vec![
            "-n",
            n,
            "route",
            "add",
            "10.99.0.0/24",
            "dev",
            "wan1",
            "table",
            "100",
        ],
        vec!["-n", n, "rule", "add", "from", "10.77.0.1", "table", "100"],
    ] {
        assert!(ip(&cmd), "ip {cmd:?}");
    }
    let file = std::fs::File::open(format!("/run/netns/{n}")).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Moves only this test thread into the namespace.
            crate::netns::enter_net(&file).unwrap();
            let packet = udp4(
                Ipv4Addr::new(10, 77, 0, 1),
                Ipv4Addr::new(10, 99, 0, 2),
                9,
                b"x",
            );
            let unbound = RawSender::open(&SenderOptions {
                ipv4: true,
                ..SenderOptions::default()
            })
            .unwrap();
            // The main table has no route to 10.99.0.0/24.
            match unbound.send(&packet) {
                Err(SendError::Send { source, .. }) => {
                    assert_eq!(source.raw_os_error(), Some(libc::ENETUNREACH), "{source}")
                }
                other => panic!("unbound send: {other:?}"),
            }
            let bound = RawSender::open(&SenderOptions {
                ipv4: true,
                source: Some(Ipv4Addr::new(10, 77, 0, 1).into()),
                ..SenderOptions::default()
            })
            .unwrap();
            bound.send(&packet).unwrap();
        })
        .join()
        .unwrap();
    });
}
