//! The two crafted SYNs sent on each WAN: an MP_JOIN SYN naming the live
//! connection (the server's token, a random nonce) and a plain SYN as
//! control, both from the WAN's address to the server's port; then what
//! answered each ([`WanProbes::fold`]) and what that means
//! ([`WanProbes::join_answer`], [`server_saw`]).
//!
//! No third ACK is ever sent: the server keeps a join request for the
//! SYN/ACK it sent, this host's kernel (no socket owns the 4-tuple)
//! answers that SYN/ACK with a RST, and the live connection never gains
//! or loses a subflow because of a probe.
use super::facts::{JoinAnswer, PlainAnswer, ServerSaw};
use super::keys::HandshakeKeys;
use crate::matching::{match_packet, AnswerKind, Match, SentProbe};
use packet::build::{BuildError, ProbeBuilder};
use packet::echo::ProbeObservation;
use packet::ip::{parse_ip_tcp, IpError};
use packet::mptcp::{JoinBody, MpJoin};
use packet::{MptcpOption, OptionList, TcpOption};
use std::net::{IpAddr, SocketAddr};

/// The random numbers of one WAN's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeNonces {
    /// The MP_JOIN nonce (R_A).
    pub nonce: u32,
    /// Sequence numbers of the join and the plain SYN.
    pub seqs: [u32; 2],
    pub ip_ids: [u16; 2],
}

/// Where one WAN's probes go from and to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    pub source: IpAddr,
    /// Source ports of the join and the plain SYN.
    pub ports: [u16; 2],
    /// The server: the only destination a crafted MP_JOIN ever has.
    pub dest: SocketAddr,
    /// The token of the server's key.
    pub token: u32,
    /// The address id the join announces (the WAN's endpoint id).
    pub addr_id: u8,
}

/// Why the probes could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("a built probe does not parse: {0}")]
    Parse(#[from] IpError),
}

/// What came back to one probe: the destination's TCP answer (whole
/// packet) or an ICMP error about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Segment(Vec<u8>),
    Icmp {
        from: IpAddr,
        icmp_type: u8,
        code: u8,
    },
}

/// One WAN's two probes and their answers.
#[derive(Debug, Clone)]
pub struct WanProbes {
    /// The MP_JOIN SYN, then the plain SYN, as sent.
    pub packets: [Vec<u8>; 2],
    pub keys: [SentProbe; 2],
    pub nonce: u32,
    pub token: u32,
    answers: [Option<Answer>; 2],
}

fn linux_options(tsval: u32) -> Vec<TcpOption<'static>> {
    vec![
        TcpOption::Mss(1460),
        TcpOption::SackPermitted,
        TcpOption::Timestamps { tsval, tsecr: 0 },
        TcpOption::Nop,
        TcpOption::WindowScale(7),
    ]
}

impl WanProbes {
    /// Builds both SYNs: the options a Linux SYN carries, then MP_JOIN on
    /// the first, so that only option 30 differs between them.
    pub fn build(spec: &ProbeSpec, n: &ProbeNonces) -> Result<Self, ProbeError> {
        let mut packets: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (i, packet) in packets.iter_mut().enumerate() {
            let mut options = linux_options(n.nonce);
            if i == 0 {
                options.push(TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::syn(
                    false,
                    spec.addr_id,
                    spec.token,
                    n.nonce,
                ))));
            }
            let mut b =
                ProbeBuilder::new(spec.source, spec.dest.ip(), spec.ports[i], spec.dest.port())
                    .seq(n.seqs[i])
                    .options(options);
            b.ip_id = n.ip_ids[i];
            b.flow_label = u32::from(n.ip_ids[i]);
            *packet = b.build()?;
        }
        let keys = [
            SentProbe::from_packet(&packets[0])?,
            SentProbe::from_packet(&packets[1])?,
        ];
        Ok(WanProbes {
            packets,
            keys,
            nonce: n.nonce,
            token: spec.token,
            answers: [None, None],
        })
    }

    /// Folds one received packet in; true when it answered a probe. The
    /// destination's own answer wins over an ICMP error, the first one is
    /// kept.
    pub fn fold(&mut self, packet: &[u8]) -> bool {
        let Some(m) = match_packet(&self.keys, packet) else {
            return false;
        };
        let slot = &mut self.answers[m.probe()];
        let decided = matches!(slot, Some(Answer::Segment(_)));
        match m {
            Match::Answer { kind, .. } if !decided && kind != AnswerKind::Other => {
                *slot = Some(Answer::Segment(packet.to_vec()));
            }
            Match::Icmp { icmp, .. } if slot.is_none() => {
                *slot = Some(Answer::Icmp {
                    from: icmp.from,
                    icmp_type: icmp.message.icmp_type,
                    code: icmp.message.code,
                });
            }
            _ => return false,
        }
        true
    }

    /// Both probes have the destination's answer.
    pub fn complete(&self) -> bool {
        self.answers
            .iter()
            .all(|a| matches!(a, Some(Answer::Segment(_))))
    }

    /// The raw answers (join, plain).
    pub fn answers(&self) -> &[Option<Answer>; 2] {
        &self.answers
    }

    /// What the MP_JOIN SYN's answer means, checked against the keys.
    pub fn join_answer(&self, keys: &HandshakeKeys) -> JoinAnswer {
        classify_join(self.answers[0].as_ref(), self.nonce, keys)
    }

    /// What the plain SYN's answer was.
    pub fn plain_answer(&self) -> PlainAnswer {
        match &self.answers[1] {
            None => PlainAnswer::Silence,
            Some(Answer::Icmp { .. }) => PlainAnswer::Icmp,
            Some(Answer::Segment(p)) => match parse_ip_tcp(p).ok().and_then(|s| s.flags) {
                Some(f) if f.rst() => PlainAnswer::Reset,
                _ => PlainAnswer::SynAck,
            },
        }
    }
}

/// The MP_JOIN of a segment's options, if any.
fn mp_join(options: &[u8], flags: Option<packet::TcpFlags>) -> Option<MpJoin> {
    OptionList::parse(options, flags)
        .options
        .into_iter()
        .find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::MpJoin(j)) => Some(j),
            _ => None,
        })
}

/// The MP_TCPRST reason of a segment's options, if any.
fn tcprst_reason(options: &[u8], flags: Option<packet::TcpFlags>) -> Option<u8> {
    OptionList::parse(options, flags)
        .options
        .into_iter()
        .find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::MpTcpRst(r)) => Some(r.reason),
            _ => None,
        })
}

/// Classifies the answer to an MP_JOIN SYN sent with nonce `our_nonce`.
pub fn classify_join(answer: Option<&Answer>, our_nonce: u32, keys: &HandshakeKeys) -> JoinAnswer {
    let packet = match answer {
        None => return JoinAnswer::Silence,
        Some(Answer::Icmp {
            from,
            icmp_type,
            code,
        }) => {
            return JoinAnswer::Icmp {
                from: *from,
                icmp_type: *icmp_type,
                code: *code,
            }
        }
        Some(Answer::Segment(p)) => p,
    };
    let Ok(s) = parse_ip_tcp(packet) else {
        return JoinAnswer::Silence;
    };
    let flags = s.flags;
    if flags.is_some_and(|f| f.rst()) {
        return JoinAnswer::Reset {
            reason: tcprst_reason(s.options, flags),
        };
    }
    match mp_join(s.options, flags).map(|j| (j.body(), j.flags)) {
        Some((JoinBody::SynAck { hmac, nonce }, f)) => {
            if hmac == keys.synack_hmac(our_nonce, nonce) {
                JoinAnswer::SynAckValid {
                    backup: f & packet::mptcp::JOIN_BACKUP != 0,
                }
            } else {
                JoinAnswer::SynAckBadHmac
            }
        }
        Some(_) => JoinAnswer::SynAckBadHmac,
        None => JoinAnswer::SynAckWithoutJoin,
    }
}

/// How the server's capture saw the MP_JOIN SYN (`observations`: what the
/// server returned for the request's joins; `None`: it was not asked).
/// While the server may have lost SYNs (`lost`: its capture's drops and
/// the named SYNs its store evicted), a SYN missing from them is
/// `Unknown`, not `NotSeen`.
pub fn server_saw(
    observations: Option<&[ProbeObservation]>,
    lost: u64,
    probe: &SentProbe,
    token: u32,
    nonce: u32,
) -> ServerSaw {
    let Some(observations) = observations else {
        return ServerSaw::Unknown;
    };
    let source = probe.src.to_string();
    let Some(o) = observations
        .iter()
        .find(|o| o.syn.seq == probe.seq && o.syn.src == source)
    else {
        return if lost > 0 {
            ServerSaw::Unknown
        } else {
            ServerSaw::NotSeen
        };
    };
    let join_of = |hex: &str| {
        let bytes = hex::decode(hex).ok()?;
        let s = parse_ip_tcp(&bytes).ok()?;
        Some(mp_join(s.options, s.flags))
    };
    let Some(arrived) = join_of(&o.syn.hex) else {
        return ServerSaw::Unknown;
    };
    match arrived.map(|j| j.body()) {
        None => ServerSaw::Stripped,
        Some(JoinBody::Syn { token: t, nonce: n }) if t == token && n == nonce => {
            ServerSaw::Intact {
                syn_ack_join: o
                    .syn_ack
                    .as_ref()
                    .and_then(|a| join_of(&a.hex))
                    .map(|j| j.is_some()),
            }
        }
        Some(_) => ServerSaw::Changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::crypto::{self, Version};
    use packet::echo::ObservedSegment;
    use packet::mptcp::MpTcpRst;
    use packet::TcpFlags;

    const KEYS: HandshakeKeys = HandshakeKeys {
        client: 0x1fdb_5df3_28bc_3def,
        server: 0x29a6_c869_81ad_933c,
    };

    fn spec() -> ProbeSpec {
        ProbeSpec {
            source: "10.12.0.1".parse().unwrap(),
            ports: [41000, 41001],
            dest: "10.99.0.2:6101".parse().unwrap(),
            token: KEYS.server_token(),
            addr_id: 2,
        }
    }

    fn nonces() -> ProbeNonces {
        ProbeNonces {
            nonce: 0x1b66_5a18,
            seqs: [1000, 2000],
            ip_ids: [7, 8],
        }
    }

    /// The server's answer to probe `i`, built as its kernel would.
    fn reply(p: &WanProbes, i: usize, flags: u8, options: Vec<TcpOption<'static>>) -> Vec<u8> {
        let k = p.keys[i];
        let mut b = ProbeBuilder::new(k.dst, k.src, k.dst_port, k.src_port)
            .seq(5)
            .flags(TcpFlags(flags))
            .options(options);
        b.ack = k.seq.wrapping_add(1);
        b.build().unwrap()
    }

    fn join_syn_ack(hmac: u64, nonce: u32) -> Vec<TcpOption<'static>> {
        vec![TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::syn_ack(
            false, 0, hmac, nonce,
        )))]
    }

    #[test]
    fn the_join_carries_token_and_nonce_and_only_option_30_differs() {
        let p = WanProbes::build(&spec(), &nonces()).unwrap();
        let j = parse_ip_tcp(&p.packets[0]).unwrap();
        let plain = parse_ip_tcp(&p.packets[1]).unwrap();
        let join = mp_join(j.options, j.flags).unwrap();
        assert_eq!(
            join.body(),
            JoinBody::Syn {
                token: KEYS.server_token(),
                nonce: 0x1b66_5a18
            }
        );
        assert_eq!(join.addr_id, 2);
        assert_eq!(mp_join(plain.options, plain.flags), None);
        assert_eq!(&j.options[..20], &plain.options[..20]);
        assert_eq!((j.src_port, plain.src_port), (41000, 41001));
        assert_eq!(j.dst(), spec().dest.ip());
    }

    #[test]
    fn a_server_syn_ack_verifies_and_a_forged_one_does_not() {
        let mut p = WanProbes::build(&spec(), &nonces()).unwrap();
        let their_nonce = 0x33ab_e9d5;
        let good = crypto::join_synack_hmac(
            Version::V1,
            KEYS.client,
            KEYS.server,
            0x1b66_5a18,
            their_nonce,
        );
        assert!(p.fold(&reply(&p, 0, 0x12, join_syn_ack(good, their_nonce))));
        assert_eq!(
            p.join_answer(&KEYS),
            JoinAnswer::SynAckValid { backup: false }
        );
        let mut forged = WanProbes::build(&spec(), &nonces()).unwrap();
        forged.fold(&reply(
            &forged,
            0,
            0x12,
            join_syn_ack(good ^ 1, their_nonce),
        ));
        assert_eq!(forged.join_answer(&KEYS), JoinAnswer::SynAckBadHmac);
    }

    #[test]
    fn stripped_reset_icmp_and_silence() {
        let mut p = WanProbes::build(&spec(), &nonces()).unwrap();
        assert_eq!(p.join_answer(&KEYS), JoinAnswer::Silence);
        assert_eq!(p.plain_answer(), PlainAnswer::Silence);
        p.fold(&reply(&p, 0, 0x12, vec![TcpOption::Mss(1460)]));
        assert_eq!(p.join_answer(&KEYS), JoinAnswer::SynAckWithoutJoin);
        assert!(!p.complete());
        p.fold(&reply(&p, 1, 0x12, vec![]));
        assert!(p.complete());
        assert_eq!(p.plain_answer(), PlainAnswer::SynAck);
        let mut r = WanProbes::build(&spec(), &nonces()).unwrap();
        r.fold(&reply(
            &r,
            0,
            0x14,
            vec![TcpOption::Mptcp(MptcpOption::MpTcpRst(MpTcpRst::new(0, 3)))],
        ));
        r.fold(&reply(&r, 1, 0x14, vec![]));
        assert_eq!(r.join_answer(&KEYS), JoinAnswer::Reset { reason: Some(3) });
        assert_eq!(r.plain_answer(), PlainAnswer::Reset);
        // A later answer does not replace the first.
        assert!(!r.fold(&reply(&r, 1, 0x12, vec![])));
    }

    fn observed(hex_of: &[u8], seq: u32, src: &str) -> ObservedSegment {
        ObservedSegment {
            hex: hex::encode(hex_of),
            iface: "eth1".into(),
            ts: 1.0,
            src: src.into(),
            dst: "10.99.0.2".into(),
            sport: 41000,
            dport: 6101,
            flags: "S".into(),
            seq,
            ack: 0,
            window: 0,
            ttl: 63,
            options: vec![],
            mp_capable: None,
        }
    }

    #[test]
    fn what_the_server_saw() {
        let p = WanProbes::build(&spec(), &nonces()).unwrap();
        let (k, t, n) = (&p.keys[0], p.token, p.nonce);
        assert_eq!(server_saw(None, 0, k, t, n), ServerSaw::Unknown);
        assert_eq!(server_saw(Some(&[]), 0, k, t, n), ServerSaw::NotSeen);
        // Missing while the server's capture dropped packets: no evidence.
        assert_eq!(server_saw(Some(&[]), 7, k, t, n), ServerSaw::Unknown);
        let intact = ProbeObservation {
            syn: observed(&p.packets[0], 1000, "10.12.0.1"),
            syn_ack: Some(observed(
                &reply(&p, 0, 0x12, join_syn_ack(1, 2)),
                5,
                "10.99.0.2",
            )),
        };
        assert_eq!(
            server_saw(Some(std::slice::from_ref(&intact)), 0, k, t, n),
            ServerSaw::Intact {
                syn_ack_join: Some(true)
            }
        );
        // The plain SYN's bytes under the join's sequence number: stripped.
        let stripped = ProbeObservation {
            syn: observed(&p.packets[1], 1000, "10.12.0.1"),
            syn_ack: None,
        };
        assert_eq!(
            server_saw(Some(&[stripped]), 0, k, t, n),
            ServerSaw::Stripped
        );
        // Another source's SYN with our sequence number is not ours.
        let mut other = intact.clone();
        other.syn.src = "10.11.0.1".into();
        assert_eq!(server_saw(Some(&[other]), 0, k, t, n), ServerSaw::NotSeen);
        assert_eq!(
            server_saw(Some(&[intact]), 0, k, t ^ 1, n),
            ServerSaw::Changed
        );
    }
}
