//! Assembling a trace from what came back: pure (probes, received bytes
//! and timestamps in; hops out), so the unit tests feed it real captures.
//!
//! Diffs, per hop N (the router where probe N's TTL expired):
//! - `tracebox`: the quote against the packet exactly as sent, as tracebox
//!   does; from hop 2 on it therefore names `IP::TTL IP::CheckSum` (IPv6:
//!   `IPv6::HopLimit`), the decrements of the routers before.
//! - `path`: the quote against the packet as router N should have received
//!   it (TTL 1, its checksum): only what the path changed besides the TTL
//!   decrements, which is what a user wants to read.
//!
//! Linux routers quote the packet as it arrived, before their own FORWARD
//! chain, so a router that strips the option shows it present in its own
//! quote and the next hop shows it gone: the hop range is (N, N+1).
use super::plan::TraceProbe;
use crate::matching::{match_packet, AnswerKind, Match, SentProbe};
use packet::diff::{diff, Change, HeaderDiff};
use packet::icmp::{parse_icmp_packet, QuoteKind};
use packet::ip::parse_ip_tcp;
use packet::verdict::{
    HopOption, OptionArea, ProbeAnswer, ProbeKind, ProbeResult, QuoteKind as HopQuote, Trace,
    TraceHop,
};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// `packet` (IPv4 or IPv6, IP header first) with another TTL / hop limit
/// and, for IPv4, the header checksum to match: what a hop that
/// decremented nothing else would pass on.
pub fn with_ttl(packet: &[u8], ttl: u8) -> Vec<u8> {
    let mut p = packet.to_vec();
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0xf) * 4;
            p[8] = ttl;
            p[10] = 0;
            p[11] = 0;
            if let Some(header) = p.get(..ihl) {
                let sum = packet::ip::ipv4_header_checksum(header);
                p[10..12].copy_from_slice(&sum.to_be_bytes());
            }
        }
        Some(6) if p.len() >= 40 => p[7] = ttl,
        _ => {}
    }
    p
}

/// ICMP time exceeded (v4 type 11, v6 type 3).
fn is_time_exceeded(v6: bool, icmp_type: u8) -> bool {
    if v6 {
        icmp_type == 3
    } else {
        icmp_type == 11
    }
}

/// The first packet that answered a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub from: IpAddr,
    pub at: SystemTime,
    /// The whole IP packet received (ICMP error or TCP segment).
    pub packet: Vec<u8>,
    pub what: ResponseKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    Icmp {
        icmp_type: u8,
        code: u8,
        time_exceeded: bool,
        translated: bool,
    },
    Answer(AnswerKind),
}

impl Response {
    /// The destination answered, or a router refused the probe: no higher
    /// TTL can tell more.
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self.what,
            ResponseKind::Icmp {
                time_exceeded: true,
                ..
            }
        )
    }
}

/// Probes sent, and the first response to each.
#[derive(Debug, Clone)]
pub struct TraceState {
    pub probes: Vec<TraceProbe>,
    keys: Vec<SentProbe>,
    pub sent_at: Vec<Option<SystemTime>>,
    pub responses: Vec<Option<Response>>,
}

impl TraceState {
    pub fn new(probes: Vec<TraceProbe>) -> Self {
        let keys = probes.iter().map(|p| p.key).collect();
        let n = probes.len();
        TraceState {
            probes,
            keys,
            sent_at: vec![None; n],
            responses: vec![None; n],
        }
    }

    pub fn mark_sent(&mut self, index: usize, at: SystemTime) {
        if let Some(slot) = self.sent_at.get_mut(index) {
            *slot = Some(at);
        }
    }

    /// Takes in one received packet; returns the index of the probe it
    /// answered first (a second answer to the same probe is ignored).
    pub fn absorb(&mut self, packet: &[u8], at: SystemTime) -> Option<usize> {
        let m = match_packet(&self.keys, packet)?;
        let index = m.probe();
        if self.responses[index].is_some() {
            return None;
        }
        let response = match m {
            Match::Answer { segment, kind, .. } => Response {
                from: segment.src(),
                at,
                packet: packet.to_vec(),
                what: ResponseKind::Answer(kind),
            },
            Match::Icmp {
                icmp, translated, ..
            } => Response {
                from: icmp.from,
                at,
                packet: packet.to_vec(),
                what: ResponseKind::Icmp {
                    icmp_type: icmp.message.icmp_type,
                    code: icmp.message.code,
                    time_exceeded: is_time_exceeded(icmp.from.is_ipv6(), icmp.message.icmp_type),
                    translated,
                },
            },
        };
        self.responses[index] = Some(response);
        Some(index)
    }

    /// Adds a probe (a retry) sent after the first ones; returns its index.
    pub fn add_probe(&mut self, probe: TraceProbe) -> usize {
        self.keys.push(probe.key);
        self.probes.push(probe);
        self.sent_at.push(None);
        self.responses.push(None);
        self.probes.len() - 1
    }

    /// The probe shown for `ttl`: of its attempts, the one answered first;
    /// with no answer, the first attempt.
    fn index_of(&self, ttl: u8) -> Option<usize> {
        let attempts = || {
            self.probes
                .iter()
                .enumerate()
                .filter(move |(_, p)| p.ttl == ttl)
                .map(|(i, _)| i)
        };
        attempts()
            .filter_map(|i| self.responses[i].as_ref().map(|r| (r.at, i)))
            .min()
            .map(|(_, i)| i)
            .or_else(|| attempts().next())
    }

    pub fn max_ttl(&self) -> u8 {
        self.probes.iter().map(|p| p.ttl).max().unwrap_or(0)
    }

    /// The lowest TTL with a terminal response (the destination's hop).
    pub fn destination_ttl(&self) -> Option<u8> {
        self.probes
            .iter()
            .zip(&self.responses)
            .filter(|(_, r)| r.as_ref().is_some_and(Response::is_terminal))
            .map(|(p, _)| p.ttl)
            .min()
    }

    /// The last TTL worth showing: the destination's, else the maximum.
    pub fn last_ttl(&self) -> u8 {
        self.destination_ttl().unwrap_or_else(|| self.max_ttl())
    }

    /// Whether any probe of the hop at `ttl` has been answered.
    pub fn answered(&self, ttl: u8) -> bool {
        self.probes
            .iter()
            .zip(&self.responses)
            .any(|(p, r)| p.ttl == ttl && r.is_some())
    }

    /// Nothing more can arrive that changes the output: the destination
    /// answered and so did every hop before it.
    pub fn complete(&self) -> bool {
        match self.destination_ttl() {
            Some(d) => (1..d).all(|t| self.answered(t)),
            None => false,
        }
    }

    /// TTLs to probe once more: those without any answer that were not
    /// retried yet, below the destination's TTL. Before the destination has
    /// answered, none, unless `second_wave` (half the timeout has passed):
    /// then every silent TTL.
    ///
    /// Why: all probes leave at once, so a queue on the way can lose the
    /// first ones. A router resolving its next hop (ARP/ND) queues packets
    /// and drops the oldest when the queue fills; in the lab that loses the
    /// lowest TTLs that reach the destination, which then looks farther
    /// than it is, or loses them all. One retry of each silent TTL, sent
    /// as soon as the destination has answered (or at half time), recovers
    /// them within the same timeout; a router that never answers costs one
    /// packet more.
    pub fn retry_candidates(&self, second_wave: bool) -> Vec<u8> {
        let below = match self.destination_ttl() {
            Some(d) => d,
            None if second_wave => self.max_ttl().saturating_add(1),
            None => return Vec::new(),
        };
        (1..below)
            .filter(|&t| {
                !self.answered(t) && self.probes.iter().filter(|p| p.ttl == t).count() == 1
            })
            .collect()
    }

    /// The probe that reached the destination (or the highest TTL sent).
    pub fn final_probe(&self) -> Option<&TraceProbe> {
        self.index_of(self.last_ttl()).map(|i| &self.probes[i])
    }

    /// Sequence numbers worth asking the echo server about: the probe the
    /// destination answered first (the echo client checks that one), then
    /// every other probe that could have reached it (from the
    /// destination's TTL up; every probe while no destination answered).
    pub fn query_seqs(&self) -> Vec<u32> {
        let from = self.destination_ttl().unwrap_or(1);
        let first = self.final_probe().map(|p| p.key.seq);
        first
            .into_iter()
            .chain(
                self.probes
                    .iter()
                    .filter(|p| p.ttl >= from && Some(p.key.seq) != first)
                    .map(|p| p.key.seq),
            )
            .collect()
    }

    /// The hop at `ttl`, assembled.
    pub fn hop(&self, ttl: u8) -> Hop {
        let silent = Hop {
            ttl,
            responder: None,
            rtt: None,
            detail: HopDetail::Silent,
        };
        let Some(i) = self.index_of(ttl) else {
            return silent;
        };
        let Some(r) = &self.responses[i] else {
            return silent;
        };
        let probe = &self.probes[i];
        let rtt = self.sent_at[i].and_then(|s| r.at.duration_since(s).ok());
        let detail = match r.what {
            ResponseKind::Icmp {
                icmp_type,
                code,
                time_exceeded,
                translated,
            } => quote_detail(probe, &r.packet, icmp_type, code, time_exceeded, translated)
                .unwrap_or(HopDetail::Silent),
            ResponseKind::Answer(kind) => {
                destination_detail(probe, &r.packet, kind).unwrap_or(HopDetail::Silent)
            }
        };
        Hop {
            ttl,
            responder: Some(r.from),
            rtt,
            detail,
        }
    }

    /// Hops 1 to [`Self::last_ttl`].
    pub fn hops(&self) -> Vec<Hop> {
        (1..=self.last_ttl()).map(|t| self.hop(t)).collect()
    }

    /// The `Trace` the verdict engine reads: every hop before the
    /// destination (the destination's own answer goes in as a probe).
    pub fn verdict_trace(&self, kind: ProbeKind) -> Trace {
        let stop = self.destination_ttl().unwrap_or(self.max_ttl() + 1);
        let hops = self
            .hops()
            .into_iter()
            .filter(|h| h.ttl < stop)
            .map(|h| h.verdict_hop())
            .collect();
        Trace {
            probe: kind,
            hops,
            controls: Vec::new(),
        }
    }

    /// A control flow's `Trace`: every hop up to and including the
    /// destination's (unquoted: `quote` none, its address as responder),
    /// so the engine sees how far the control got.
    pub fn control_trace(&self, kind: ProbeKind) -> Trace {
        Trace {
            probe: kind,
            hops: self.hops().iter().map(Hop::verdict_hop).collect(),
            controls: Vec::new(),
        }
    }

    /// The final probe and its answer, as the verdict engine's probe.
    pub fn verdict_probe(&self, kind: ProbeKind) -> Option<ProbeResult> {
        let i = self.index_of(self.last_ttl())?;
        let probe = &self.probes[i];
        let sent = parse_ip_tcp(&probe.packet).ok()?;
        let answer = match &self.responses[i] {
            None => ProbeAnswer::Silence,
            Some(r) => match r.what {
                ResponseKind::Answer(AnswerKind::Rst) => ProbeAnswer::Rst,
                // A bare ACK: the server acknowledges a SYN of this flow
                // it already answered (it sits in SYN_RECV), so its
                // SYN/ACK never came back. Not a handshake answer.
                ResponseKind::Answer(AnswerKind::Other) => ProbeAnswer::Silence,
                ResponseKind::Answer(_) => {
                    let area = parse_ip_tcp(&r.packet)
                        .map(|s| s.options.to_vec())
                        .unwrap_or_default();
                    ProbeAnswer::from_syn_ack_options(&area)
                }
                ResponseKind::Icmp {
                    icmp_type, code, ..
                } => ProbeAnswer::Icmp {
                    from: r.from,
                    icmp_type,
                    code,
                },
            },
        };
        Some(ProbeResult {
            kind,
            seq: probe.key.seq,
            sent: OptionArea::new(sent.options),
            answer,
        })
    }
}

pub fn probe_kind(version: u8) -> ProbeKind {
    if version == 0 {
        ProbeKind::V0
    } else {
        ProbeKind::V1
    }
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub ttl: u8,
    pub responder: Option<IpAddr>,
    pub rtt: Option<Duration>,
    pub detail: HopDetail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopDetail {
    Silent,
    /// A router's ICMP error quoting our probe.
    Quote {
        icmp_type: u8,
        code: u8,
        time_exceeded: bool,
        quote: QuoteKind,
        /// Against the packet as sent (tracebox's comparison).
        tracebox: HeaderDiff,
        /// Against the packet as this hop should have received it.
        path: HeaderDiff,
        mp_capable: HopOption,
        /// The quoted source address or port is not ours (a NAT).
        translated: bool,
    },
    /// The destination's TCP answer.
    Destination {
        kind: AnswerKind,
        /// The answer's option area.
        options: Vec<u8>,
        /// Options we sent that the answer lacks (`-Layer`) or that it
        /// added (`+Layer`), as tracebox names them.
        tracebox: HeaderDiff,
    },
}

impl Hop {
    pub fn verdict_hop(&self) -> TraceHop {
        let (quote, mp_capable) = match &self.detail {
            HopDetail::Quote {
                quote, mp_capable, ..
            } => (
                if quote.has_full_header() {
                    HopQuote::Full
                } else {
                    HopQuote::Partial
                },
                *mp_capable,
            ),
            _ => (HopQuote::None, HopOption::Unknown),
        };
        TraceHop {
            ttl: self.ttl,
            responder: self.responder,
            quote,
            mp_capable,
            rtt_us: self.rtt.map(|d| d.as_micros() as u64),
        }
    }
}

fn quote_detail(
    probe: &TraceProbe,
    packet: &[u8],
    icmp_type: u8,
    code: u8,
    time_exceeded: bool,
    translated: bool,
) -> Option<HopDetail> {
    let icmp = parse_icmp_packet(packet).ok()?;
    let quoted = icmp.message.quoted().ok()?;
    let sent = parse_ip_tcp(&probe.packet).ok()?;
    let expected = parse_ip_tcp(&probe.expected_at_hop).ok()?;
    let tracebox = diff(&sent, &quoted.tcp);
    let path = diff(&expected, &quoted.tcp);
    let hop_quote = if quoted.kind.has_full_header() {
        HopQuote::Full
    } else {
        HopQuote::Partial
    };
    let mp_capable = HopOption::from_quote(sent.options, hop_quote, quoted.tcp.options);
    Some(HopDetail::Quote {
        icmp_type,
        code,
        time_exceeded,
        quote: quoted.kind,
        tracebox,
        path,
        mp_capable,
        translated,
    })
}

fn destination_detail(probe: &TraceProbe, packet: &[u8], kind: AnswerKind) -> Option<HopDetail> {
    let sent = parse_ip_tcp(&probe.packet).ok()?;
    let answer = parse_ip_tcp(packet).ok()?;
    let all = diff(&sent, &answer);
    let tracebox = HeaderDiff {
        differences: all
            .differences
            .into_iter()
            .filter(|d| {
                matches!(d.change, Change::Removed | Change::Added)
                    && d.layer.starts_with("TCPOption")
            })
            .collect(),
        partial: false,
    };
    Some(HopDetail::Destination {
        kind,
        options: answer.options.to_vec(),
        tracebox,
    })
}

#[cfg(any(test, feature = "fixtures"))]
pub mod test_support {
    //! Traces replayed from the lab captures in `pcap-fixtures/`.
    use super::*;
    use crate::fixtures::frames;

    /// A trace replayed from a lab capture: the capture's SYNs (TTL 1, 2
    /// and the kernel's TTL 64 connection) stand in for our probes, each
    /// "expected at hop" rebuilt by setting TTL 1 and fixing the checksum.
    pub fn replay(name: &str) -> TraceState {
        let f = frames(name);
        let mut probes = Vec::new();
        let mut sent_at = Vec::new();
        for (ts, pkt) in &f {
            let Ok(s) = parse_ip_tcp(pkt) else { continue };
            if !s.flags.is_some_and(|f| f.is_syn_only()) {
                continue;
            }
            let expected = with_ttl(pkt, 1);
            let key = SentProbe::from_packet(pkt).unwrap();
            // The capture's third SYN had TTL 64: renumber it as hop 3,
            // where the destination answers.
            let ttl = (probes.len() + 1) as u8;
            probes.push(TraceProbe {
                ttl,
                attempt: 0,
                packet: pkt.clone(),
                key,
                expected_at_hop: expected,
            });
            sent_at.push(std::time::UNIX_EPOCH + *ts);
        }
        let mut state = TraceState::new(probes);
        for (i, at) in sent_at.into_iter().enumerate() {
            state.mark_sent(i, at);
        }
        for (ts, pkt) in &f {
            state.absorb(pkt, std::time::UNIX_EPOCH + *ts);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::frames;

    use super::test_support::replay;

    fn mpc(h: &Hop) -> HopOption {
        match &h.detail {
            HopDetail::Quote { mp_capable, .. } => *mp_capable,
            other => panic!("hop {} is {other:?}", h.ttl),
        }
    }

    #[test]
    fn stripped_v4_names_the_range() {
        let s = replay("ttl-stripped.client.pcap");
        assert_eq!(s.destination_ttl(), Some(3));
        assert!(s.complete());
        let hops = s.hops();
        assert_eq!(hops.len(), 3);
        assert_eq!(hops[0].responder, Some("10.1.0.1".parse().unwrap()));
        assert_eq!(hops[1].responder, Some("10.5.0.2".parse().unwrap()));
        assert_eq!(mpc(&hops[0]), HopOption::Present);
        assert_eq!(mpc(&hops[1]), HopOption::Absent);
        match &hops[1].detail {
            HopDetail::Quote { tracebox, path, .. } => {
                assert!(tracebox.has("-TCPOptionMPTCPCapable"));
                assert!(tracebox.has("IP::TTL"), "sent with TTL 2, quoted with 1");
                assert!(path.has("-TCPOptionMPTCPCapable"));
                assert!(!path.has("IP::TTL"), "TTL decrement expected");
                assert!(!path.has("IP::CheckSum"));
                assert!(path.has("TCP::CheckSum"), "TCPOPTSTRIP fixed the checksum");
            }
            other => panic!("{other:?}"),
        }
        match &hops[0].detail {
            HopDetail::Quote { tracebox, path, .. } => {
                assert!(tracebox.is_empty(), "hop 1 quotes what we sent: {tracebox}");
                assert!(path.is_empty());
            }
            other => panic!("{other:?}"),
        }
        // The SYN/ACK lacks MP_CAPABLE (and the TS option the kernel's SYN
        // had is still there).
        match &hops[2].detail {
            HopDetail::Destination { kind, tracebox, .. } => {
                assert_eq!(*kind, AnswerKind::SynAck);
                assert_eq!(tracebox.to_string(), "-TCPOptionMPTCPCapable");
            }
            other => panic!("{other:?}"),
        }
        // RTTs from the capture's own timestamps, never negative.
        assert!(hops.iter().all(|h| h.rtt.is_some()));
        let trace = s.verdict_trace(ProbeKind::V1);
        assert_eq!(trace.hops.len(), 2);
        assert_eq!(trace.hops[1].mp_capable, HopOption::Absent);
    }

    #[test]
    fn stripped_v6_and_clean() {
        let s = replay("ttl-stripped-v6.client.pcap");
        let hops = s.hops();
        assert_eq!(mpc(&hops[0]), HopOption::Present);
        assert_eq!(mpc(&hops[1]), HopOption::Absent);
        match &hops[1].detail {
            HopDetail::Quote { tracebox, path, .. } => {
                assert!(tracebox.has("IPv6::HopLimit"));
                assert!(!path.has("IPv6::HopLimit"));
                assert!(path.has("-TCPOptionMPTCPCapable"));
            }
            other => panic!("{other:?}"),
        }
        let c = replay("ttl-clean.client.pcap");
        let hops = c.hops();
        assert_eq!(mpc(&hops[0]), HopOption::Present);
        assert_eq!(mpc(&hops[1]), HopOption::Present);
        match &hops[2].detail {
            HopDetail::Destination { tracebox, .. } => assert!(tracebox.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verdict_from_a_replayed_trace() {
        use packet::verdict::{evaluate, VerdictCode, VerdictInput};
        let s = replay("ttl-stripped.client.pcap");
        let input = VerdictInput {
            target: "10.2.0.2".into(),
            probes: s.verdict_probe(ProbeKind::V1).into_iter().collect(),
            trace: Some(s.verdict_trace(ProbeKind::V1)),
            ..Default::default()
        };
        let v = evaluate(&input);
        assert_eq!(v.code, VerdictCode::StrippedUpstream, "{v:?}");
        assert_eq!(v.hop_range.unwrap().ttls(), (1, Some(2)));
        let c = replay("ttl-clean.client.pcap");
        let input = VerdictInput {
            target: "10.2.0.2".into(),
            probes: c.verdict_probe(ProbeKind::V1).into_iter().collect(),
            trace: Some(c.verdict_trace(ProbeKind::V1)),
            ..Default::default()
        };
        assert_ne!(evaluate(&input).code, VerdictCode::StrippedUpstream);
    }

    #[test]
    fn rfc792_quote_is_partial_and_unknown() {
        let s = replay("ttl-stripped.client.pcap");
        let f = frames("ttl-stripped.client.pcap");
        // Router 2's error cut to RFC 792's quote: the IP header and the
        // first 8 TCP bytes (ports and sequence number).
        let mut icmp = f[3].1[..20 + 8 + 20 + 8].to_vec();
        let len = icmp.len() as u16;
        icmp[2..4].copy_from_slice(&len.to_be_bytes());
        let mut partial = TraceState::new(s.probes.clone());
        assert_eq!(
            partial.absorb(&icmp, std::time::UNIX_EPOCH + f[3].0),
            Some(1)
        );
        let hop = partial.hop(2);
        match &hop.detail {
            HopDetail::Quote {
                quote,
                mp_capable,
                tracebox,
                path,
                ..
            } => {
                assert_eq!(*quote, QuoteKind::Rfc792);
                assert_eq!(*mp_capable, HopOption::Unknown);
                assert!(tracebox.partial);
                assert_eq!(tracebox.to_string(), "[PARTIAL] IP::TTL IP::CheckSum");
                assert_eq!(path.to_string(), "[PARTIAL]", "nothing but the cut");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(hop.verdict_hop().quote, HopQuote::Partial);
    }

    #[test]
    fn a_lost_first_probe_is_retried_and_found() {
        let s = replay("ttl-stripped.client.pcap");
        let f = frames("ttl-stripped.client.pcap");
        // TTL 2's first probe was lost (another sequence number, never
        // answered); the capture's TTL 2 SYN stands for its retry.
        let mut probes = s.probes.clone();
        let real_ttl2 = probes[1].clone();
        probes[1].key.seq = probes[1].key.seq.wrapping_add(12345);
        probes[1].key.ip_id = Some(1);
        let mut state = TraceState::new(probes);
        let at = |i: usize| std::time::UNIX_EPOCH + f[i].0;
        state.absorb(&f[1].1, at(1));
        assert!(
            state.retry_candidates(false).is_empty(),
            "no destination yet"
        );
        state.absorb(&f[3].1, at(3));
        assert!(!state.answered(2), "router 2 quoted the other seq");
        state.absorb(&f[5].1, at(5));
        assert_eq!(state.destination_ttl(), Some(3));
        assert!(!state.complete());
        assert_eq!(state.retry_candidates(false), vec![2]);
        assert_eq!(state.retry_candidates(true), vec![2]);
        let retry = state.add_probe(TraceProbe {
            attempt: 1,
            ..real_ttl2
        });
        state.mark_sent(retry, at(2));
        assert!(state.retry_candidates(true).is_empty(), "one retry per TTL");
        assert_eq!(state.absorb(&f[3].1, at(3)), Some(retry));
        assert!(state.complete());
        let hop = state.hop(2);
        assert_eq!(hop.responder, Some("10.5.0.2".parse().unwrap()));
        assert!(hop.rtt.is_some(), "RTT from the retry's own send time");
        assert_eq!(state.final_probe().unwrap().ttl, 3);
    }

    #[test]
    fn the_echo_server_is_asked_about_probes_that_could_reach_it() {
        let s = replay("ttl-stripped.client.pcap");
        let seq = |i: usize| s.probes[i].key.seq;
        assert_eq!(s.query_seqs(), vec![seq(2)], "only the destination's");
        let mut silent = TraceState::new(s.probes.clone());
        assert_eq!(
            silent.query_seqs(),
            vec![seq(2), seq(0), seq(1)],
            "no destination: the highest TTL first, then all"
        );
        let f = frames("ttl-stripped.client.pcap");
        silent.absorb(&f[3].1, std::time::UNIX_EPOCH + f[3].0);
        assert_eq!(silent.query_seqs(), vec![seq(2), seq(0), seq(1)]);
    }

    #[test]
    fn a_bare_ack_from_the_destination_is_no_handshake_answer() {
        let s = replay("ttl-stripped.client.pcap");
        let mut state = TraceState::new(s.probes.clone());
        let key = s.probes[2].key;
        let mut ack =
            packet::build::ProbeBuilder::new(key.dst, key.src, key.dst_port, key.src_port)
                .seq(7)
                .flags(packet::TcpFlags(0x10));
        ack.ack = key.seq.wrapping_add(1);
        state.absorb(&ack.build().unwrap(), std::time::UNIX_EPOCH);
        assert_eq!(state.destination_ttl(), Some(3));
        assert_eq!(
            state.verdict_probe(ProbeKind::V1).unwrap().answer,
            ProbeAnswer::Silence,
            "the SYN/ACK this ACK stands for never arrived"
        );
    }

    #[test]
    fn silent_hops_and_no_destination() {
        let s = replay("ttl-stripped.client.pcap");
        let mut partial = TraceState::new(s.probes.clone());
        // Only router 2 answered.
        let f = frames("ttl-stripped.client.pcap");
        partial.absorb(&f[3].1, std::time::UNIX_EPOCH + f[3].0);
        assert_eq!(partial.destination_ttl(), None);
        assert!(!partial.complete());
        assert!(partial.retry_candidates(false).is_empty());
        assert_eq!(
            partial.retry_candidates(true),
            vec![1, 3],
            "every silent TTL"
        );
        let hops = partial.hops();
        assert_eq!(hops.len(), 3);
        assert_eq!(hops[0].detail, HopDetail::Silent);
        assert!(hops[1].rtt.is_none(), "never marked sent: no RTT");
        let trace = partial.verdict_trace(ProbeKind::V1);
        assert_eq!(trace.hops.len(), 3);
        assert_eq!(trace.hops[0].quote, HopQuote::None);
        assert_eq!(
            partial.verdict_probe(ProbeKind::V1).unwrap().answer,
            ProbeAnswer::Silence
        );
    }
}
