//! The privileged half of `check`: three crafted SYNs (v1 MP_CAPABLE, v0
//! MP_CAPABLE with a random key, and a plain SYN as control), each from its
//! own source port, sent together and matched to their answers (SYN/ACK,
//! RST, ICMP error, or silence) within one deadline.
//!
//! The raw I/O (privileges, raw sockets, receive filter, matching, pcap)
//! is `crate::net`. What is here: the plan of the three probes and the
//! folding of matched packets into one [`ProbeAnswer`] each, both pure.
//!
//! When a SYN/ACK answers a crafted SYN, no local socket owns the 4-tuple,
//! so this host's kernel answers it with a RST: harmless (the answer is
//! already recorded; the server forgets the half-open connection sooner).
use crate::net::error::NetError;
use crate::net::matching::{match_packet, AnswerKind, Match, SentProbe};
use crate::net::pcap::PcapRecorder;
use crate::net::raw::{Deadline, RawOptions, RawSockets};
use crate::net::source::{reserve_port, select_source, ReservedPort};
use packet::build::ProbeBuilder;
use packet::mptcp::{MpCapable, MptcpOption};
use packet::verdict::{AnswerHeader, OptionArea, ProbeAnswer, ProbeKind, ProbeResult};
use packet::TcpOption;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

/// The order the probes are sent in.
pub const KINDS: [ProbeKind; 3] = [ProbeKind::V1, ProbeKind::V0, ProbeKind::Plain];

/// MP_CAPABLE flags a Linux host sends: v1 `[H]` (HMAC-SHA256), v0 `[A H]`
/// (checksums required, HMAC-SHA1; what out-of-tree kernels send by default).
const V1_SYN_FLAGS: u8 = 0x01;
const V0_SYN_FLAGS: u8 = 0x81;

/// Random numbers for one run: sequence numbers, IP IDs, the v0 key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonces {
    pub seqs: [u32; 3],
    pub ip_ids: [u16; 3],
    pub v0_key: u64,
    pub tsval: u32,
}

impl Nonces {
    /// From the kernel's random source (getrandom(2)).
    pub fn random() -> Result<Self, NetError> {
        let b: [u8; 32] = netsys::random::array().map_err(|e| NetError::io("getrandom", e))?;
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Ok(Nonces {
            seqs: [u32_at(0), u32_at(4), u32_at(8)],
            ip_ids: [u16_at(12), u16_at(14), u16_at(16)],
            v0_key: u64::from_be_bytes(b[18..26].try_into().unwrap_or([0xa5; 8])),
            tsval: u32_at(26),
        })
    }
}

/// One planned probe.
#[derive(Debug, Clone)]
pub struct PlannedProbe {
    pub kind: ProbeKind,
    pub packet: Vec<u8>,
    pub sent: OptionArea,
    pub keys: SentProbe,
}

/// Why the probes could not be built (a bug, not a path problem).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Build(#[from] packet::build::BuildError),
    #[error("a built probe does not parse: {0}")]
    Parse(#[from] packet::ip::IpError),
}

/// Builds the three SYNs: Linux's usual options (mss, sackOK, TS, nop,
/// wscale) then MP_CAPABLE, so that only option 30 differs between them.
pub fn plan(
    source: IpAddr,
    dest: SocketAddr,
    ports: [u16; 3],
    nonces: &Nonces,
) -> Result<Vec<PlannedProbe>, PlanError> {
    let mut out = Vec::new();
    for (i, kind) in KINDS.into_iter().enumerate() {
        let mut options = vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps {
                tsval: nonces.tsval.wrapping_add(i as u32),
                tsecr: 0,
            },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
        ];
        match kind {
            ProbeKind::V1 => options.push(TcpOption::Mptcp(MptcpOption::MpCapable(
                MpCapable::v1_syn(V1_SYN_FLAGS),
            ))),
            ProbeKind::V0 => options.push(TcpOption::Mptcp(MptcpOption::MpCapable(
                MpCapable::v0_syn(nonces.v0_key, V0_SYN_FLAGS),
            ))),
            ProbeKind::Plain => {}
        }
        let mut builder = ProbeBuilder::new(source, dest.ip(), ports[i], dest.port())
            .seq(nonces.seqs[i])
            .options(options);
        builder.ip_id = nonces.ip_ids[i];
        builder.flow_label = u32::from(nonces.ip_ids[i]) | ((i as u32 + 1) << 16);
        let sent = builder.option_area()?;
        let packet = builder.build()?;
        let keys = SentProbe::from_packet(&packet)?;
        out.push(PlannedProbe {
            kind,
            packet,
            sent: OptionArea(sent),
            keys,
        });
    }
    Ok(out)
}

/// What has come back to each probe so far.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    answers: Vec<Option<ProbeAnswer>>,
}

impl Answers {
    pub fn new(probes: usize) -> Self {
        Answers {
            answers: vec![None; probes],
        }
    }

    /// Folds one received packet in. The destination's own answer (SYN/ACK
    /// or RST) wins over an ICMP error, and the first of those is kept; an
    /// ICMP error is kept until the destination answers. Returns whether
    /// the packet answered one of the probes.
    pub fn fold(&mut self, probes: &[SentProbe], packet: &[u8]) -> bool {
        let Some(m) = match_packet(probes, packet) else {
            return false;
        };
        let slot = match self.answers.get_mut(m.probe()) {
            Some(s) => s,
            None => return false,
        };
        let decided = matches!(slot, Some(a) if a.is_answer());
        match m {
            Match::Answer { kind, segment, .. } if !decided => {
                *slot = match kind {
                    // TTL and window tell a box answering for the server
                    // (nearer, window 0) from the server itself.
                    AnswerKind::SynAck => Some(match segment.window {
                        Some(window) => ProbeAnswer::from_syn_ack(
                            segment.options,
                            AnswerHeader {
                                ttl: segment.ttl(),
                                window,
                            },
                        ),
                        None => ProbeAnswer::from_syn_ack_options(segment.options),
                    }),
                    AnswerKind::Rst => Some(ProbeAnswer::Rst),
                    AnswerKind::Other => return false,
                };
            }
            Match::Icmp { icmp, .. } if slot.is_none() => {
                *slot = Some(ProbeAnswer::Icmp {
                    from: icmp.from,
                    icmp_type: icmp.message.icmp_type,
                    code: icmp.message.code,
                });
            }
            _ => return false,
        }
        true
    }

    /// Every probe has the destination's answer: no need to wait longer.
    pub fn complete(&self) -> bool {
        self.answers
            .iter()
            .all(|a| a.as_ref().is_some_and(ProbeAnswer::is_answer))
    }

    /// The answers, silence where nothing came.
    pub fn finish(self) -> Vec<ProbeAnswer> {
        self.answers
            .into_iter()
            .map(|a| a.unwrap_or(ProbeAnswer::Silence))
            .collect()
    }
}

/// Raw sockets and source ports for one path, opened while CAP_NET_RAW is
/// held (before privileges are dropped).
#[derive(Debug)]
pub struct RawPath {
    pub sockets: RawSockets,
    pub source: IpAddr,
    ports: [ReservedPort; 3],
}

impl RawPath {
    /// Picks the source (the kernel's choice for `dest`, through
    /// `interface`, unless `--source` fixed it), reserves three source
    /// ports and opens the raw sockets.
    pub fn open(
        dest: IpAddr,
        source: Option<IpAddr>,
        interface: Option<&str>,
    ) -> Result<Self, NetError> {
        let source = select_source(dest, source, interface)?;
        let ports = [
            reserve_port(source)?,
            reserve_port(source)?,
            reserve_port(source)?,
        ];
        let sockets = RawSockets::open(&RawOptions {
            interface: interface.map(str::to_string),
            ipv4: dest.is_ipv4(),
            ipv6: dest.is_ipv6(),
            source: Some(source),
            ports: ports.iter().map(|p| p.port).collect(),
        })?;
        Ok(RawPath {
            sockets,
            source,
            ports,
        })
    }

    /// Sends the three probes and waits (until every probe is answered or
    /// `deadline`) for their answers.
    pub fn run<W: Write>(
        &self,
        dest: SocketAddr,
        deadline: &Deadline,
        mut recorder: Option<&mut PcapRecorder<W>>,
    ) -> Result<Vec<ProbeResult>, NetError> {
        let nonces = Nonces::random()?;
        let ports = [self.ports[0].port, self.ports[1].port, self.ports[2].port];
        let planned = plan(self.source, dest, ports, &nonces)
            .map_err(|e| NetError::io("building the probes", std::io::Error::other(e)))?;
        for p in &planned {
            let at = self.sockets.send(&p.packet)?;
            if let Some(r) = recorder.as_deref_mut() {
                r.record(at, &p.packet)?;
            }
        }
        let keys: Vec<SentProbe> = planned.iter().map(|p| p.keys).collect();
        let mut answers = Answers::new(planned.len());
        while !answers.complete() {
            let Some(received) = self.sockets.recv_until(deadline)? else {
                break;
            };
            if answers.fold(&keys, &received.packet) {
                if let Some(r) = recorder.as_deref_mut() {
                    r.record(received.timestamp, &received.packet)?;
                }
            }
        }
        Ok(planned
            .into_iter()
            .zip(answers.finish())
            .map(|(p, answer)| ProbeResult {
                kind: p.kind,
                seq: p.keys.seq,
                sent: p.sent,
                answer,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::verdict::find_capable;
    use packet::TcpFlags;

    fn nonces() -> Nonces {
        Nonces {
            seqs: [100, 200, 300],
            ip_ids: [1, 2, 3],
            v0_key: 0x0123_4567_89ab_cdef,
            tsval: 7,
        }
    }

    fn dest() -> SocketAddr {
        "10.2.0.2:6101".parse().unwrap()
    }
    fn src() -> IpAddr {
        "10.1.0.1".parse().unwrap()
    }

    #[test]
    fn plan_differs_only_in_option_30() {
        let p = plan(src(), dest(), [40001, 40002, 40003], &nonces()).unwrap();
        assert_eq!(p.len(), 3);
        let v1 = find_capable(p[0].sent.as_bytes()).unwrap();
        assert_eq!((v1.version, v1.len(), v1.flags), (1, 4, Some(0x01)));
        let v0 = find_capable(p[1].sent.as_bytes()).unwrap();
        assert_eq!((v0.version, v0.len()), (0, 12));
        assert_eq!(v0.sender_key, Some(0x0123_4567_89ab_cdef));
        assert!(find_capable(p[2].sent.as_bytes()).is_none());
        for (i, probe) in p.iter().enumerate() {
            assert_eq!(probe.keys.src_port, 40001 + i as u16);
            assert_eq!(probe.keys.seq, nonces().seqs[i]);
            // The first 20 bytes (mss, sackOK, TS, nop, wscale) are Linux's.
            assert_eq!(&probe.sent.as_bytes()[..4], &[2, 4, 0x05, 0xb4]);
        }
    }

    /// The server's answer to a planned probe, built as its kernel would.
    fn reply(to: &PlannedProbe, flags: u8, options: Vec<TcpOption<'static>>) -> Vec<u8> {
        let mut b = ProbeBuilder::new(to.keys.dst, to.keys.src, to.keys.dst_port, to.keys.src_port)
            .seq(9999)
            .flags(TcpFlags(flags))
            .options(options);
        b.ack = to.keys.seq.wrapping_add(1);
        b.build().unwrap()
    }

    #[test]
    fn answers_are_matched_and_folded() {
        let p = plan(src(), dest(), [40001, 40002, 40003], &nonces()).unwrap();
        let keys: Vec<SentProbe> = p.iter().map(|x| x.keys).collect();
        let mut a = Answers::new(3);
        let syn_ack_v1 = reply(
            &p[0],
            0x12,
            vec![
                TcpOption::Mss(1460),
                TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable::v1_syn_ack(42, 0x01))),
            ],
        );
        assert!(a.fold(&keys, &syn_ack_v1));
        assert!(!a.complete());
        // A second SYN/ACK (retransmission) does not replace the first.
        assert!(!a.fold(&keys, &reply(&p[0], 0x12, vec![])));
        assert!(a.fold(&keys, &reply(&p[1], 0x12, vec![TcpOption::Mss(1460)])));
        assert!(a.fold(&keys, &reply(&p[2], 0x14, vec![])));
        assert!(a.complete());
        // Unrelated traffic is ignored.
        let mut other = p[0].clone();
        other.keys.src_port = 1;
        assert!(!a.fold(&keys, &reply(&other, 0x12, vec![])));
        let done = a.finish();
        match &done[0] {
            ProbeAnswer::SynAck { options, header } => {
                let c = find_capable(options.as_bytes()).unwrap();
                assert_eq!(c.sender_key, Some(42));
                // The builder's defaults: TTL 64, window 64240.
                assert_eq!(
                    *header,
                    Some(AnswerHeader {
                        ttl: 64,
                        window: 64240
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&done[1], ProbeAnswer::SynAck { options, .. } if find_capable(options.as_bytes()).is_none())
        );
        assert_eq!(done[2], ProbeAnswer::Rst);
    }

    #[test]
    fn unanswered_probes_are_silence() {
        let a = Answers::new(2);
        assert_eq!(a.finish(), vec![ProbeAnswer::Silence, ProbeAnswer::Silence]);
    }

    #[test]
    fn nonces_are_random() {
        let a = Nonces::random().unwrap();
        let b = Nonces::random().unwrap();
        assert_ne!(a, b);
    }
}
