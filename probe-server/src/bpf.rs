//! The classic BPF program of the capture socket, as a pure function
//! written with [`netsys::bpf::Program`] and tested with its interpreter.
//!
//! The socket is `AF_PACKET`/`SOCK_DGRAM`, so the program sees each packet
//! from its IP header on. It accepts:
//! - a SYN (SYN set; ACK, RST, FIN clear) whose destination port is one of
//!   the ports, and
//! - a SYN/ACK whose source port is one of the ports,
//!
//! over IPv4 (unfragmented or first fragment) and IPv6 (TCP as the first
//! next header: SYNs with extension headers are not captured). Everything
//! else is dropped in the kernel, so a flood of other traffic costs nothing.
use netsys::bpf::{
    Insn, Program, Target, ALU_AND_K, ALU_RSH_K, LDX_B_MSH, LDX_IMM, LD_B_ABS, LD_B_IND, LD_H_ABS,
    LD_H_IND,
};

/// Bytes of each accepted packet handed to user space: the largest IPv4
/// header (60) plus the largest TCP header (60), with room to spare.
pub const SNAPLEN: u32 = 256;

/// Ports beyond this would make the jump offsets overflow a byte.
pub const MAX_PORTS: usize = 100;

/// The filter for these ports. `None` when there are more than
/// [`MAX_PORTS`] ports (or none).
pub fn syn_filter(ports: &[u16]) -> Option<Vec<Insn>> {
    use Target::Next;
    if ports.is_empty() || ports.len() > MAX_PORTS {
        return None;
    }
    let mut p = Program::new();
    let [accept, drop, v4, v6, tcp, syn, synack, check6] = [(); 8].map(|_| p.label());
    p.op(LD_B_ABS, 0)
        .op(ALU_RSH_K, 4)
        .jeq(4, v4, check6)
        .place(check6)
        .jeq(6, v6, drop)
        .place(v4)
        .op(LD_B_ABS, 9)
        .jeq(6, Next, drop)
        .op(LD_H_ABS, 6)
        // A later fragment: no TCP header in it.
        .jset(0x1fff, drop, Next)
        .op(LDX_B_MSH, 0)
        .ja(tcp)
        .place(v6)
        .op(LD_B_ABS, 6)
        .jeq(6, Next, drop)
        .op(LDX_IMM, 40)
        .place(tcp)
        .op(LD_B_IND, 13)
        // SYN, ACK, RST, FIN; ECN bits may be set on a SYN.
        .op(ALU_AND_K, 0x17)
        .jeq(0x02, syn, Next)
        .jeq(0x12, synack, drop)
        .place(syn)
        .op(LD_H_IND, 2);
    for &port in ports {
        p.jeq(u32::from(port), accept, Next);
    }
    p.ja(drop).place(synack).op(LD_H_IND, 0);
    for &port in ports {
        p.jeq(u32::from(port), accept, Next);
    }
    p.place(drop).ret(0).place(accept).ret(SNAPLEN);
    p.build().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use netsys::bpf::run;

    /// An IPv4 + TCP header (20 + 20 + `opts`) with the given flags.
    pub fn v4(sport: u16, dport: u16, flags: u8, opts: &[u8]) -> Vec<u8> {
        let tcp_len = 20 + opts.len();
        let mut p = vec![0u8; 20 + tcp_len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&1234u32.to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..].copy_from_slice(opts);
        p
    }

    pub fn v6(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&20u16.to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[23] = 1;
        p[39] = 2;
        let t = &mut p[40..];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        p
    }

    #[test]
    fn accepts_syns_to_ports_and_synacks_from_them() {
        let prog = syn_filter(&[6101, 443]).unwrap();
        assert_eq!(run(&prog, &v4(40000, 6101, 0x02, &[])), SNAPLEN);
        assert_eq!(run(&prog, &v4(40000, 443, 0xc2, &[])), SNAPLEN);
        assert_eq!(run(&prog, &v4(6101, 40000, 0x12, &[])), SNAPLEN);
        assert_eq!(run(&prog, &v6(40000, 443, 0x02)), SNAPLEN);
        assert_eq!(run(&prog, &v6(443, 40000, 0x12)), SNAPLEN);
        let opts = [2, 4, 5, 0xb4, 30, 4, 0x81, 0x01, 1, 1, 1, 0];
        assert_eq!(run(&prog, &v4(1, 6101, 0x02, &opts)), SNAPLEN);
    }

    #[test]
    fn drops_everything_else() {
        let prog = syn_filter(&[6101]).unwrap();
        // Other ports, wrong direction, not a SYN, RST in it.
        assert_eq!(run(&prog, &v4(40000, 6102, 0x02, &[])), 0);
        assert_eq!(run(&prog, &v4(6101, 40000, 0x02, &[])), 0);
        assert_eq!(run(&prog, &v4(40000, 6101, 0x12, &[])), 0);
        assert_eq!(run(&prog, &v4(40000, 6101, 0x10, &[])), 0);
        assert_eq!(run(&prog, &v4(40000, 6101, 0x06, &[])), 0);
        assert_eq!(run(&prog, &v6(40000, 6101, 0x18)), 0);
        // UDP, a later fragment, another IP version, truncated packets.
        let mut udp = v4(40000, 6101, 0x02, &[]);
        udp[9] = 17;
        assert_eq!(run(&prog, &udp), 0);
        let mut frag = v4(40000, 6101, 0x02, &[]);
        frag[7] = 1;
        assert_eq!(run(&prog, &frag), 0);
        let mut v5 = v4(40000, 6101, 0x02, &[]);
        v5[0] = 0x55;
        assert_eq!(run(&prog, &v5), 0);
        let full = v4(40000, 6101, 0x02, &[]);
        for cut in 0..34 {
            assert_eq!(run(&prog, &full[..cut]), 0, "cut {cut}");
        }
    }

    #[test]
    fn honours_the_ipv4_header_length() {
        let prog = syn_filter(&[6101]).unwrap();
        let base = v4(40000, 6101, 0x02, &[]);
        // 24-byte IP header (one option word): the TCP header moves.
        let mut p = base[..20].to_vec();
        p[0] = 0x46;
        p.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(&base[20..]);
        assert_eq!(run(&prog, &p), SNAPLEN);
    }

    #[test]
    fn port_limits() {
        assert!(syn_filter(&[]).is_none());
        let many: Vec<u16> = (1..=MAX_PORTS as u16).collect();
        let prog = syn_filter(&many).unwrap();
        assert_eq!(run(&prog, &v4(40000, 100, 0x02, &[])), SNAPLEN);
        assert_eq!(run(&prog, &v4(100, 40000, 0x12, &[])), SNAPLEN);
        assert_eq!(run(&prog, &v4(40000, 101, 0x02, &[])), 0);
        let too_many: Vec<u16> = (1..=MAX_PORTS as u16 + 1).collect();
        assert!(syn_filter(&too_many).is_none());
    }
}
