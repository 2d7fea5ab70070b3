//! Loopback only, with UDP datagrams to ports of our own; needs
//! CAP_NET_RAW and skips, saying so, without it.
use super::*;
use crate::bpf::{Program, Target, ALU_AND_K, LDX_B_MSH, LD_B_ABS, LD_H_IND};
use std::net::UdpSocket;
use std::time::Instant;

/// IPv4 UDP datagrams to `port` only.
fn udp_to(port: u16) -> Vec<Insn> {
    let mut p = Program::new();
    let drop = p.label();
    p.op(LD_B_ABS, 0)
        .op(ALU_AND_K, 0xf0)
        .jeq(0x40, Target::Next, drop)
        .op(LD_B_ABS, 9)
        .jeq(17, Target::Next, drop)
        .op(LDX_B_MSH, 0)
        .op(LD_H_IND, 2)
        .jeq(u32::from(port), Target::Next, drop)
        .ret(65535)
        .place(drop)
        .ret(0);
    p.build().unwrap_or_default()
}

fn privileged() -> bool {
    let ok = crate::privileges::has_net_raw();
    if !ok {
        eprintln!("skipping: no CAP_NET_RAW");
    }
    ok
}

struct Setup {
    tx: UdpSocket,
    to: std::net::SocketAddr,
    filter: Vec<Insn>,
    lo: u32,
}

fn setup() -> Setup {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    // The receiving socket goes away: the datagrams still cross loopback
    // (and draw ICMP port unreachable, which the filter drops).
    drop(rx);
    Setup {
        tx: UdpSocket::bind("127.0.0.1:0").unwrap(),
        to,
        filter: udp_to(to.port()),
        lo: crate::iface::index_of("lo").unwrap(),
    }
}

fn options(s: &Setup, ignore_outgoing: bool) -> PacketSocketOptions<'_> {
    PacketSocketOptions {
        filter: &s.filter,
        ifindex: Some(s.lo),
        ignore_outgoing,
        recv_buffer: Some(1 << 20),
        read_timeout: Some(Duration::from_millis(100)),
    }
}

/// Every datagram queued within `for_how_long`, with its payload.
fn drain(socket: &PacketSocket, for_how_long: Duration) -> Vec<(Datagram, Vec<u8>)> {
    let end = Instant::now() + for_how_long;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if !socket.wait_readable(left).unwrap() {
            break;
        }
        if let Some(d) = socket.recv(&mut buf).unwrap() {
            got.push((d, buf[..d.len].to_vec()));
        }
    }
    got
}

#[test]
fn receives_filtered_packets_with_kernel_timestamps() {
    if !privileged() {
        return;
    }
    let s = setup();
    let socket = PacketSocket::open(&options(&s, true)).unwrap();
    let before = SystemTime::now();
    s.tx.send_to(b"probe", s.to).unwrap();
    // Another port: filtered out in the kernel.
    s.tx.send_to(b"other", ("127.0.0.1", 9)).unwrap();
    let got = drain(&socket, Duration::from_millis(300));
    assert_eq!(got.len(), 1, "{got:?}");
    let (d, bytes) = &got[0];
    assert_eq!(d.packet_type, PacketType::Host);
    assert_eq!(d.ifindex, s.lo);
    assert_eq!(d.len, 20 + 8 + 5, "the whole IP packet, IP header first");
    assert_eq!(bytes[0] >> 4, 4);
    assert!(bytes.ends_with(b"probe"));
    let ts = d.timestamp.expect("SO_TIMESTAMPNS");
    assert!(ts >= before && ts <= SystemTime::now());
    assert_eq!(socket.interface_name(d.ifindex).unwrap(), "lo");
    let stats = socket.statistics().unwrap();
    assert_eq!(stats.drops, 0);
    assert!(stats.packets >= 1);
    // The counters reset on each read.
    assert_eq!(socket.statistics().unwrap().packets, 0);
}

#[test]
fn outgoing_packets_are_kept_unless_ignored() {
    if !privileged() {
        return;
    }
    let s = setup();
    let keeps = PacketSocket::open(&options(&s, false)).unwrap();
    let ignores = PacketSocket::open(&options(&s, true)).unwrap();
    s.tx.send_to(b"both ways", s.to).unwrap();
    // On loopback each packet is seen leaving and arriving.
    let mut kept: Vec<_> = drain(&keeps, Duration::from_millis(300))
        .into_iter()
        .map(|(d, _)| d.packet_type)
        .collect();
    kept.sort_by_key(|t| *t == PacketType::Host);
    assert_eq!(kept, [PacketType::Outgoing, PacketType::Host]);
    let ignored: Vec<_> = drain(&ignores, Duration::from_millis(300))
        .into_iter()
        .map(|(d, _)| d.packet_type)
        .collect();
    assert_eq!(ignored, [PacketType::Host]);
}

#[test]
fn empty_queue_reads_nothing_and_waits_time_out() {
    if !privileged() {
        return;
    }
    let s = setup();
    let socket = PacketSocket::open(&options(&s, true)).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(socket.recv(&mut buf).unwrap(), None);
    let started = Instant::now();
    assert!(!socket.wait_readable(Duration::from_millis(50)).unwrap());
    assert!(started.elapsed() >= Duration::from_millis(50));
    // The blocking read gives up after the read timeout.
    let started = Instant::now();
    assert_eq!(socket.recv_wait(&mut buf).unwrap(), None);
    assert!(started.elapsed() >= Duration::from_millis(90));
    // A packet arriving while it blocks is returned, cut to the buffer.
    s.tx.send_to(b"0123456789012345678901234567890123456789", s.to)
        .unwrap();
    let mut small = [0u8; 24];
    let d = socket.recv_wait(&mut small).unwrap().expect("a packet");
    assert_eq!(d.len, 24);
}

#[test]
fn a_bad_filter_or_interface_is_an_error() {
    if !privileged() {
        return;
    }
    let s = setup();
    // The kernel's checker refuses a program that does not end in a return.
    let bad = [Insn::new(crate::bpf::LD_IMM, 0, 0, 0)];
    let e = PacketSocket::open(&PacketSocketOptions {
        filter: &bad,
        ..options(&s, true)
    })
    .unwrap_err();
    assert!(e.to_string().starts_with("SO_ATTACH_FILTER"), "{e}");
    let e = PacketSocket::open(&PacketSocketOptions {
        ifindex: Some(u32::MAX >> 1),
        ..options(&s, true)
    })
    .unwrap_err();
    assert!(e.to_string().starts_with("bind(AF_PACKET)"), "{e}");
}

#[test]
fn packet_types_from_their_numbers() {
    assert_eq!(PacketType::from_raw(0), PacketType::Host);
    assert_eq!(PacketType::from_raw(1), PacketType::Broadcast);
    assert_eq!(PacketType::from_raw(2), PacketType::Multicast);
    assert_eq!(PacketType::from_raw(3), PacketType::OtherHost);
    assert_eq!(PacketType::from_raw(4), PacketType::Outgoing);
    assert_eq!(PacketType::from_raw(7), PacketType::Other(7));
    assert_eq!(system_time(-1, 0), None);
    assert_eq!(system_time(1, 5), Some(UNIX_EPOCH + Duration::new(1, 5)));
}
