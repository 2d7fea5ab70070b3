//! The classic BPF program of the capture socket, as a pure function, and a
//! small interpreter to test it on sample packets without a kernel.
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

/// One classic BPF instruction (the layout of `struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub const LD_B_ABS: u16 = 0x30;
pub const LD_H_ABS: u16 = 0x28;
pub const LD_B_IND: u16 = 0x50;
pub const LD_H_IND: u16 = 0x48;
pub const LDX_B_MSH: u16 = 0xb1;
pub const LDX_IMM: u16 = 0x01;
pub const ALU_RSH_K: u16 = 0x74;
pub const ALU_AND_K: u16 = 0x54;
pub const JMP_JEQ_K: u16 = 0x15;
pub const JMP_JSET_K: u16 = 0x45;
pub const JMP_JA: u16 = 0x05;
pub const RET_K: u16 = 0x06;

/// Bytes of each accepted packet handed to user space: the largest IPv4
/// header (60) plus the largest TCP header (60), with room to spare.
pub const SNAPLEN: u32 = 256;

/// Ports beyond this would make the jump offsets overflow a byte.
pub const MAX_PORTS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Next,
    Label(usize),
}

enum Op {
    Plain(Insn),
    Jump {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Label(usize),
}

const ACCEPT: usize = 0;
const DROP: usize = 1;
const V4: usize = 2;
const V6: usize = 3;
const TCP: usize = 4;
const SYN: usize = 5;
const SYNACK: usize = 6;
const CHECK6: usize = 7;

fn plain(code: u16, k: u32) -> Op {
    Op::Plain(Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    })
}

fn jump(code: u16, k: u32, jt: Target, jf: Target) -> Op {
    Op::Jump { code, k, jt, jf }
}

/// The filter for these ports. `None` when there are more than
/// [`MAX_PORTS`] ports (or none).
pub fn syn_filter(ports: &[u16]) -> Option<Vec<Insn>> {
    use Target::{Label as L, Next};
    if ports.is_empty() || ports.len() > MAX_PORTS {
        return None;
    }
    let mut ops = vec![
        plain(LD_B_ABS, 0),
        plain(ALU_RSH_K, 4),
        jump(JMP_JEQ_K, 4, L(V4), L(CHECK6)),
        Op::Label(CHECK6),
        jump(JMP_JEQ_K, 6, L(V6), L(DROP)),
        Op::Label(V4),
        plain(LD_B_ABS, 9),
        jump(JMP_JEQ_K, 6, Next, L(DROP)),
        plain(LD_H_ABS, 6),
        jump(JMP_JSET_K, 0x1fff, L(DROP), Next),
        plain(LDX_B_MSH, 0),
        jump(JMP_JA, 0, L(TCP), L(TCP)),
        Op::Label(V6),
        plain(LD_B_ABS, 6),
        jump(JMP_JEQ_K, 6, Next, L(DROP)),
        plain(LDX_IMM, 40),
        Op::Label(TCP),
        plain(LD_B_IND, 13),
        // SYN, ACK, RST, FIN; ECN bits may be set on a SYN.
        plain(ALU_AND_K, 0x17),
        jump(JMP_JEQ_K, 0x02, L(SYN), Next),
        jump(JMP_JEQ_K, 0x12, L(SYNACK), L(DROP)),
        Op::Label(SYN),
        plain(LD_H_IND, 2),
    ];
    for &p in ports {
        ops.push(jump(JMP_JEQ_K, u32::from(p), L(ACCEPT), Next));
    }
    ops.push(jump(JMP_JA, 0, L(DROP), L(DROP)));
    ops.push(Op::Label(SYNACK));
    ops.push(plain(LD_H_IND, 0));
    for &p in ports {
        ops.push(jump(JMP_JEQ_K, u32::from(p), L(ACCEPT), Next));
    }
    ops.push(Op::Label(DROP));
    ops.push(plain(RET_K, 0));
    ops.push(Op::Label(ACCEPT));
    ops.push(plain(RET_K, SNAPLEN));
    assemble(&ops)
}

/// Resolves labels into relative jump offsets.
fn assemble(ops: &[Op]) -> Option<Vec<Insn>> {
    let mut labels = std::collections::HashMap::new();
    let mut index = 0usize;
    for op in ops {
        match op {
            Op::Label(l) => {
                labels.insert(*l, index);
            }
            _ => index += 1,
        }
    }
    let mut out = Vec::with_capacity(index);
    for op in ops {
        let here = out.len();
        let rel = |t: Target| -> Option<u32> {
            match t {
                Target::Next => Some(0),
                Target::Label(l) => {
                    let at = *labels.get(&l)?;
                    at.checked_sub(here + 1).and_then(|d| u32::try_from(d).ok())
                }
            }
        };
        match op {
            Op::Label(_) => {}
            Op::Plain(i) => out.push(*i),
            Op::Jump { code, k, jt, jf } if *code == JMP_JA => out.push(Insn {
                code: *code,
                jt: 0,
                jf: 0,
                k: rel(*jt)?,
            }),
            Op::Jump { code, k, jt, jf } => out.push(Insn {
                code: *code,
                jt: u8::try_from(rel(*jt)?).ok()?,
                jf: u8::try_from(rel(*jf)?).ok()?,
                k: *k,
            }),
        }
    }
    Some(out)
}

/// Runs a program over a packet the way the kernel does for the
/// instructions [`syn_filter`] uses: the accepted length, 0 for drop. Loads
/// past the end of the packet drop it; an unknown instruction or a jump out
/// of the program gives `None`.
pub fn run(prog: &[Insn], pkt: &[u8]) -> Option<u32> {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut pc = 0usize;
    let load = |off: u64, size: usize| -> Option<u32> {
        let off = usize::try_from(off).ok()?;
        let b = pkt.get(off..off.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
    };
    // Every instruction moves pc forward, so the loop ends.
    while let Some(i) = prog.get(pc) {
        pc += 1;
        match i.code {
            LD_B_ABS => match load(u64::from(i.k), 1) {
                Some(v) => a = v,
                None => return Some(0),
            },
            LD_H_ABS => match load(u64::from(i.k), 2) {
                Some(v) => a = v,
                None => return Some(0),
            },
            LD_B_IND => match load(u64::from(x) + u64::from(i.k), 1) {
                Some(v) => a = v,
                None => return Some(0),
            },
            LD_H_IND => match load(u64::from(x) + u64::from(i.k), 2) {
                Some(v) => a = v,
                None => return Some(0),
            },
            LDX_B_MSH => match load(u64::from(i.k), 1) {
                Some(v) => x = 4 * (v & 0xf),
                None => return Some(0),
            },
            LDX_IMM => x = i.k,
            ALU_RSH_K => a = a.checked_shr(i.k).unwrap_or(0),
            ALU_AND_K => a &= i.k,
            JMP_JA => pc = pc.checked_add(usize::try_from(i.k).ok()?)?,
            JMP_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
            JMP_JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
            RET_K => return Some(i.k),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
        assert_eq!(run(&prog, &v4(40000, 6101, 0x02, &[])), Some(SNAPLEN));
        assert_eq!(run(&prog, &v4(40000, 443, 0xc2, &[])), Some(SNAPLEN));
        assert_eq!(run(&prog, &v4(6101, 40000, 0x12, &[])), Some(SNAPLEN));
        assert_eq!(run(&prog, &v6(40000, 443, 0x02)), Some(SNAPLEN));
        assert_eq!(run(&prog, &v6(443, 40000, 0x12)), Some(SNAPLEN));
        let opts = [2, 4, 5, 0xb4, 30, 4, 0x81, 0x01, 1, 1, 1, 0];
        assert_eq!(run(&prog, &v4(1, 6101, 0x02, &opts)), Some(SNAPLEN));
    }

    #[test]
    fn drops_everything_else() {
        let prog = syn_filter(&[6101]).unwrap();
        // Other ports, wrong direction, not a SYN, RST in it.
        assert_eq!(run(&prog, &v4(40000, 6102, 0x02, &[])), Some(0));
        assert_eq!(run(&prog, &v4(6101, 40000, 0x02, &[])), Some(0));
        assert_eq!(run(&prog, &v4(40000, 6101, 0x12, &[])), Some(0));
        assert_eq!(run(&prog, &v4(40000, 6101, 0x10, &[])), Some(0));
        assert_eq!(run(&prog, &v4(40000, 6101, 0x06, &[])), Some(0));
        assert_eq!(run(&prog, &v6(40000, 6101, 0x18)), Some(0));
        // UDP, a later fragment, another IP version, truncated packets.
        let mut udp = v4(40000, 6101, 0x02, &[]);
        udp[9] = 17;
        assert_eq!(run(&prog, &udp), Some(0));
        let mut frag = v4(40000, 6101, 0x02, &[]);
        frag[7] = 1;
        assert_eq!(run(&prog, &frag), Some(0));
        let mut v5 = v4(40000, 6101, 0x02, &[]);
        v5[0] = 0x55;
        assert_eq!(run(&prog, &v5), Some(0));
        let full = v4(40000, 6101, 0x02, &[]);
        for cut in 0..34 {
            assert_eq!(run(&prog, &full[..cut]), Some(0), "cut {cut}");
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
        assert_eq!(run(&prog, &p), Some(SNAPLEN));
    }

    #[test]
    fn port_limits() {
        assert!(syn_filter(&[]).is_none());
        let many: Vec<u16> = (1..=MAX_PORTS as u16).collect();
        let prog = syn_filter(&many).unwrap();
        assert_eq!(run(&prog, &v4(40000, 100, 0x02, &[])), Some(SNAPLEN));
        assert_eq!(run(&prog, &v4(100, 40000, 0x12, &[])), Some(SNAPLEN));
        assert_eq!(run(&prog, &v4(40000, 101, 0x02, &[])), Some(0));
        let too_many: Vec<u16> = (1..=MAX_PORTS as u16 + 1).collect();
        assert!(syn_filter(&too_many).is_none());
    }
}
