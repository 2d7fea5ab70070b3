//! The classic BPF programs of the answer receiver (see [`super::raw`]), as
//! pure functions written with [`netsys::bpf::Program`] and tested with
//! its interpreter: [`answer_filter`] for filters that see whole IP packets
//! (the IPv4 raw sockets), [`tcp_segment_filter`] and [`icmp6_error_filter`]
//! for the IPv6 raw sockets, whose filters see the payload only.
use netsys::bpf::{
    Insn, Program, Target, ALU_AND_K, LDX_B_MSH, LD_B_ABS, LD_B_IND, LD_H_ABS, LD_H_IND,
};

/// Largest packet kept (the filter's accepted length and the receive
/// buffer's size).
pub const SNAPLEN: usize = 65535;

/// Run on the IP header (an IPv4 raw socket's filter sees the packet from
/// its IP header, as an AF_PACKET SOCK_DGRAM socket's does): accept the ICMP and ICMPv6 errors that
/// can quote a probe (destination unreachable, time exceeded, parameter
/// problem, and ICMPv6 packet too big) and TCP segments to one of `ports`
/// (every TCP segment when `ports` is empty). IPv6 extension headers before
/// TCP or ICMPv6 are not followed: our probes and their answers carry none.
/// `None` when there are too many ports for the jumps to reach (100 fit).
pub fn answer_filter(ports: &[u16]) -> Option<Vec<Insn>> {
    use Target::Next;
    let mut p = Program::new();
    let [tcp4, icmp4, v6, tcp6, icmp6, accept, drop] = [(); 7].map(|_| p.label());
    let port_checks = |p: &mut Program| {
        if ports.is_empty() {
            p.ja(accept);
        }
        for (i, &port) in ports.iter().enumerate() {
            let miss = if i + 1 == ports.len() {
                Target::To(drop)
            } else {
                Next
            };
            p.jeq(u32::from(port), accept, miss);
        }
    };
    p.op(LD_B_ABS, 0) // version nibble
        .op(ALU_AND_K, 0xf0)
        .jeq(0x40, Next, v6)
        .op(LD_B_ABS, 9) // IPv4 protocol
        .jeq(1, icmp4, Next)
        .jeq(6, tcp4, drop)
        .place(tcp4)
        .op(LDX_B_MSH, 0) // X = IPv4 header length
        .op(LD_H_IND, 2); // TCP destination port
    port_checks(&mut p);
    p.place(icmp4)
        .op(LDX_B_MSH, 0)
        .op(LD_B_IND, 0) // ICMP type
        .jeq(3, accept, Next)
        .jeq(11, accept, Next)
        .jeq(12, accept, drop)
        .place(v6)
        .jeq(0x60, Next, drop)
        .op(LD_B_ABS, 6) // next header
        .jeq(58, icmp6, Next)
        .jeq(6, tcp6, drop)
        .place(tcp6)
        .op(LD_H_ABS, 40 + 2);
    port_checks(&mut p);
    p.place(icmp6)
        .op(LD_B_ABS, 40) // ICMPv6 type: errors are 1 to 4
        .jeq(1, accept, Next)
        .jeq(2, accept, Next)
        .jeq(3, accept, Next)
        .jeq(4, accept, drop)
        .place(accept)
        .ret(SNAPLEN as u32)
        .place(drop)
        .ret(0);
    p.build().ok()
}

/// Run on a TCP header (an IPv6 raw IPPROTO_TCP socket's filter sees the
/// segment without its IPv6 header): accept segments to one of `ports`
/// (every segment when `ports` is empty). `None` when there are too many
/// ports for the jumps to reach.
pub fn tcp_segment_filter(ports: &[u16]) -> Option<Vec<Insn>> {
    let mut p = Program::new();
    let [accept, drop] = [(); 2].map(|_| p.label());
    p.op(LD_H_ABS, 2); // TCP destination port
    if ports.is_empty() {
        p.ja(accept);
    }
    for (i, &port) in ports.iter().enumerate() {
        let miss = if i + 1 == ports.len() {
            Target::To(drop)
        } else {
            Target::Next
        };
        p.jeq(u32::from(port), accept, miss);
    }
    p.place(accept).ret(SNAPLEN as u32).place(drop).ret(0);
    p.build().ok()
}

/// Run on an ICMPv6 header (an IPv6 raw IPPROTO_ICMPV6 socket's filter
/// sees the message without its IPv6 header): accept the errors that can
/// quote a probe (types 1 to 4), not neighbour discovery or echoes.
pub fn icmp6_error_filter() -> Vec<Insn> {
    use Target::Next;
    let mut p = Program::new();
    let [accept, drop] = [(); 2].map(|_| p.label());
    p.op(LD_B_ABS, 0)
        .jeq(1, accept, Next)
        .jeq(2, accept, Next)
        .jeq(3, accept, Next)
        .jeq(4, accept, drop)
        .place(accept)
        .ret(SNAPLEN as u32)
        .place(drop)
        .ret(0);
    // Fixed and short: every jump reaches.
    p.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsys::bpf::run;

    fn filter(ports: &[u16]) -> Vec<Insn> {
        answer_filter(ports).unwrap_or_default()
    }

    fn tcp4(dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    fn tcp6(dport: u16, next: u8) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[6] = next;
        p[42..44].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn filter_keeps_icmp_and_our_ports() {
        for ports in [vec![40000u16], vec![40000, 40001, 40002]] {
            let f = filter(&ports);
            for &port in &ports {
                assert_ne!(run(&f, &tcp4(port)), 0);
                assert_ne!(run(&f, &tcp6(port, 6)), 0);
            }
            assert_eq!(run(&f, &tcp4(22)), 0);
            assert_eq!(run(&f, &tcp6(22, 6)), 0);
            for (icmp_type, wanted) in [(3u8, true), (11, true), (12, true), (0, false), (8, false)]
            {
                let mut icmp = tcp4(0);
                icmp[9] = 1;
                icmp[20] = icmp_type;
                assert_eq!(run(&f, &icmp) != 0, wanted, "ICMP type {icmp_type}");
            }
            for (icmp_type, wanted) in [
                (1u8, true),
                (2, true),
                (3, true),
                (4, true),
                (128, false),
                (135, false),
            ] {
                let mut icmp6 = tcp6(0, 58);
                icmp6[40] = icmp_type;
                assert_eq!(run(&f, &icmp6) != 0, wanted, "ICMPv6 type {icmp_type}");
            }
            assert_eq!(run(&f, &tcp6(40000, 17)), 0, "UDP");
            let mut udp = tcp4(40000);
            udp[9] = 17;
            assert_eq!(run(&f, &udp), 0);
            // IPv4 with options: the port moves with the IHL.
            let mut opts = vec![0u8; 44];
            opts[0] = 0x46;
            opts[9] = 6;
            opts[26..28].copy_from_slice(&ports[0].to_be_bytes());
            assert_ne!(run(&f, &opts), 0);
            assert_eq!(run(&f, &[0x20, 0, 0]), 0, "neither version");
        }
        let all = filter(&[]);
        assert_ne!(run(&all, &tcp4(22)), 0);
        assert_ne!(run(&all, &tcp6(22, 6)), 0);
    }

    #[test]
    fn ipv6_payload_filters_see_the_transport_header_first() {
        let segment = |dport: u16| {
            let mut t = vec![0u8; 20];
            t[2..4].copy_from_slice(&dport.to_be_bytes());
            t
        };
        let f = tcp_segment_filter(&[40000, 40001]).unwrap();
        assert_ne!(run(&f, &segment(40000)), 0);
        assert_ne!(run(&f, &segment(40001)), 0);
        assert_eq!(run(&f, &segment(22)), 0);
        assert_eq!(run(&f, &[0x9c]), 0, "too short to hold a port");
        let all = tcp_segment_filter(&[]).unwrap();
        assert_ne!(run(&all, &segment(22)), 0);
        assert!(tcp_segment_filter(&(1..=300).collect::<Vec<u16>>()).is_none());
        let icmp = icmp6_error_filter();
        for (icmp_type, wanted) in [
            (1u8, true),
            (3, true),
            (4, true),
            (128, false),
            (135, false),
        ] {
            assert_eq!(
                run(&icmp, &[icmp_type, 0, 0, 0]) != 0,
                wanted,
                "type {icmp_type}"
            );
        }
    }

    #[test]
    fn too_many_ports_is_refused_not_mis_jumped() {
        let many: Vec<u16> = (1..=100).collect();
        let f = filter(&many);
        assert_ne!(run(&f, &tcp4(100)), 0);
        assert_eq!(run(&f, &tcp4(101)), 0);
        let too_many: Vec<u16> = (1..=300).collect();
        assert!(answer_filter(&too_many).is_none());
    }

    #[test]
    fn filter_accepts_real_fixture_packets() {
        let mut seen = 0;
        for (_, ip) in crate::net::matching::fixtures::frames("ttl-stripped.client.pcap") {
            let ip = &ip[..];
            if ip[9] == 1 {
                // The ICMP errors for our client port.
                assert_ne!(run(&filter(&[55348]), ip), 0);
                seen += 1;
            } else if ip[9] == 6 {
                let dport = u16::from_be_bytes([ip[22], ip[23]]);
                let want = run(&filter(&[55356]), ip) != 0;
                assert_eq!(want, dport == 55356);
            }
        }
        assert_eq!(seen, 2);
    }
}
