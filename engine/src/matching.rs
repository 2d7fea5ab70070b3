//! Which probe a received packet answers: pure (bytes in, match out), so a
//! pcap replays exactly what a live run decided.
//!
//! Keys, strongest first:
//! - a TCP answer from the destination (SYN/ACK, RST) acknowledges our
//!   sequence number + 1 on the reversed 4-tuple;
//! - an ICMP/ICMPv6 error quotes our packet: destination address and port
//!   and sequence number (the sequence number lies in the first 8 TCP
//!   bytes, so even an RFC 792 quote has it); source address and port and
//!   the IPv4 identification / IPv6 flow label break ties. A quote whose
//!   source differs from what we sent is still ours (a NAT in front of us
//!   that failed to translate the quote back, say) and is flagged
//!   `translated`;
//! - when a middlebox rewrote the sequence number, an IPv4 quote still
//!   carries our IP identification, which tells the probes of one flow
//!   apart (`trace` gives each TTL its own).
use packet::icmp::{parse_icmp_packet, QuotedTcp, ReceivedIcmp};
use packet::ip::{parse_ip_headers, parse_ip_tcp, IpError, IpFields, TcpSegment, PROTO_TCP};
use std::net::IpAddr;

/// The fields of a sent probe that answers are matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentProbe {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    /// IPv4 identification (`None` for IPv6).
    pub ip_id: Option<u16>,
    /// IPv6 flow label (`None` for IPv4).
    pub flow_label: Option<u32>,
    /// TTL / hop limit it was sent with.
    pub ttl: u8,
}

impl SentProbe {
    /// Reads the keys from a built packet (IP header first).
    pub fn from_packet(packet: &[u8]) -> Result<Self, IpError> {
        let s = parse_ip_tcp(packet)?;
        let (ip_id, flow_label) = match s.ip {
            IpFields::V4(h) => (Some(h.identification), None),
            IpFields::V6(h) => (None, Some(h.flow_label)),
        };
        Ok(SentProbe {
            src: s.src(),
            dst: s.dst(),
            src_port: s.src_port,
            dst_port: s.dst_port,
            seq: s.seq,
            ip_id,
            flow_label,
            ttl: s.ttl(),
        })
    }
}

/// What the destination answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    SynAck,
    Rst,
    /// Any other TCP segment on the reversed 4-tuple (a lone ACK, say).
    Other,
}

/// A received packet matched to the probe (index into the slice given to
/// [`match_packet`]) it answers.
// A short-lived borrowed view, consumed right after matching: boxing the
// larger variant would only add an allocation per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<'a> {
    Answer {
        probe: usize,
        kind: AnswerKind,
        segment: TcpSegment<'a>,
    },
    Icmp {
        probe: usize,
        icmp: ReceivedIcmp<'a>,
        quote: QuotedTcp<'a>,
        /// The quoted source address or port differs from what we sent.
        translated: bool,
    },
}

impl Match<'_> {
    pub fn probe(&self) -> usize {
        match self {
            Match::Answer { probe, .. } | Match::Icmp { probe, .. } => *probe,
        }
    }
}

/// Matches one received IP packet against the probes sent; `None` when it
/// answers none of them (or cannot be parsed far enough to tell).
pub fn match_packet<'a>(probes: &[SentProbe], packet: &'a [u8]) -> Option<Match<'a>> {
    let headers = parse_ip_headers(packet).ok()?;
    if headers.protocol == PROTO_TCP {
        match_answer(probes, packet)
    } else {
        match_icmp(probes, packet)
    }
}

fn match_answer<'a>(probes: &[SentProbe], packet: &'a [u8]) -> Option<Match<'a>> {
    let segment = parse_ip_tcp(packet).ok()?;
    let flags = segment.flags?;
    let reversed = |p: &SentProbe| {
        segment.src() == p.dst
            && segment.dst() == p.src
            && segment.src_port == p.dst_port
            && segment.dst_port == p.src_port
    };
    let acked = |p: &SentProbe| flags.ack() && segment.ack == Some(p.seq.wrapping_add(1));
    let exact = probes.iter().position(|p| reversed(p) && acked(p));
    let probe = exact.or_else(|| {
        // A segment that acknowledges another number answers another SYN:
        // one sent in our name on our port (a spoofer's), or an earlier
        // one. Taking it for our probe's answer would let anyone who can
        // send SYNs from our address write our evidence.
        if flags.ack() {
            return None;
        }
        // No acknowledgement at all (a RST without ACK): believe the
        // 4-tuple only when it names a single probe.
        let mut on_tuple = probes.iter().enumerate().filter(|(_, p)| reversed(p));
        match (on_tuple.next(), on_tuple.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    })?;
    let kind = if flags.rst() {
        AnswerKind::Rst
    } else if flags.is_syn_ack() {
        AnswerKind::SynAck
    } else {
        AnswerKind::Other
    };
    Some(Match::Answer {
        probe,
        kind,
        segment,
    })
}

fn match_icmp<'a>(probes: &[SentProbe], packet: &'a [u8]) -> Option<Match<'a>> {
    let icmp = parse_icmp_packet(packet).ok()?;
    let quote = icmp.message.quoted().ok()?;
    let q = &quote.tcp;
    let (quoted_id, quoted_label) = match q.ip {
        IpFields::V4(h) => (Some(h.identification), None),
        IpFields::V6(h) => (None, Some(h.flow_label)),
    };
    // Only errors addressed to the probe's source (after any NAT undid its
    // translation) are ours.
    let to_us = |p: &SentProbe| icmp.to == p.src || q.src() == p.src;
    let same_destination = |p: &SentProbe| q.dst() == p.dst && q.dst_port == p.dst_port;
    let score = |p: &SentProbe| {
        u8::from(q.src() == p.src)
            + u8::from(q.src_port == p.src_port)
            + u8::from(quoted_id.is_some() && quoted_id == p.ip_id)
            + u8::from(quoted_label.is_some() && quoted_label == p.flow_label)
    };
    let best = |pred: &dyn Fn(&SentProbe) -> bool| {
        probes
            .iter()
            .enumerate()
            .filter(|(_, p)| to_us(p) && same_destination(p) && pred(p))
            .max_by_key(|(i, p)| (score(p), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    };
    let probe = best(&|p| p.seq == q.seq).or_else(|| {
        // Sequence number rewritten: the IPv4 identification on our own
        // 4-tuple is the remaining key.
        best(&|p| {
            quoted_id.is_some()
                && quoted_id == p.ip_id
                && q.src() == p.src
                && q.src_port == p.src_port
        })
    })?;
    let p = &probes[probe];
    let translated = q.src() != p.src || q.src_port != p.src_port;
    Some(Match::Icmp {
        probe,
        icmp,
        quote,
        translated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::frames;

    /// (index of frame, probe) for every SYN of a fixture.
    fn syns(frames: &[(std::time::Duration, Vec<u8>)]) -> Vec<(usize, SentProbe)> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, (_, f))| {
                let s = parse_ip_tcp(f).ok()?;
                s.flags?
                    .is_syn_only()
                    .then(|| (i, SentProbe::from_packet(f).unwrap()))
            })
            .collect()
    }

    #[test]
    fn ttl_fixtures_match_quotes_and_answer() {
        for name in [
            "ttl-clean.client.pcap",
            "ttl-stripped.client.pcap",
            "ttl-stripped-v6.client.pcap",
        ] {
            let f = frames(name);
            let sent = syns(&f);
            assert_eq!(sent.len(), 3, "{name}: TTL 1, TTL 2, then TTL 64");
            let probes: Vec<SentProbe> = sent.iter().map(|(_, p)| *p).collect();
            let mut icmp_probes = Vec::new();
            let mut answers = Vec::new();
            for (i, (_, pkt)) in f.iter().enumerate() {
                match match_packet(&probes, pkt) {
                    Some(Match::Icmp {
                        probe,
                        quote,
                        translated,
                        ..
                    }) => {
                        assert!(!translated, "{name}: frame {}", i + 1);
                        assert!(quote.kind.has_full_header(), "{name}: full quote");
                        icmp_probes.push(probe);
                    }
                    Some(Match::Answer { probe, kind, .. }) => answers.push((probe, kind)),
                    None => {}
                }
            }
            // Each router's quote goes to the probe with the TTL that
            // expired there.
            assert_eq!(icmp_probes, vec![0, 1], "{name}");
            assert_eq!(probes[0].ttl, 1);
            assert_eq!(probes[1].ttl, 2);
            assert_eq!(answers.first(), Some(&(2, AnswerKind::SynAck)), "{name}");
            // Later segments of the kernel connection carry other acks and
            // are not answers to the SYN.
            assert!(answers.iter().all(|(p, _)| *p == 2), "{name}");
        }
    }

    #[test]
    fn quote_matches_by_seq_on_one_flow() {
        // Paris-style: the same 4-tuple for every TTL, told apart by seq.
        let f = frames("ttl-stripped.client.pcap");
        let sent = syns(&f);
        let template = sent[1].1;
        let decoy = SentProbe {
            seq: template.seq.wrapping_add(0x10000),
            ttl: 3,
            ip_id: template.ip_id.map(|i| i.wrapping_add(1)),
            ..template
        };
        let probes = [decoy, template];
        let icmp = &f[3].1; // router 2's quote of the TTL 2 SYN
        match match_packet(&probes, icmp) {
            Some(Match::Icmp { probe, icmp, .. }) => {
                assert_eq!(probe, 1);
                assert_eq!(icmp.from, "10.5.0.2".parse::<IpAddr>().unwrap());
            }
            other => panic!("{other:?}"),
        }
        // Sequence number rewritten on the way: the IP ID still finds it.
        let rewritten = SentProbe { seq: 1, ..template };
        let probes = [decoy, rewritten];
        assert_eq!(match_packet(&probes, icmp).map(|m| m.probe()), Some(1));
        // Neither seq nor IP ID: not ours.
        let stranger = SentProbe {
            seq: 1,
            ip_id: Some(7),
            ..template
        };
        assert_eq!(match_packet(&[stranger], icmp), None);
    }

    #[test]
    fn an_answer_to_another_syn_on_our_port_is_not_ours() {
        // The SYN/ACK to the TTL-64 probe, and the same SYN/ACK acking a
        // number we never sent (the answer to a SYN spoofed in our name
        // on our port): only the first is our probe's answer.
        let f = frames("ttl-clean.client.pcap");
        let sent = syns(&f);
        let probe = sent[2].1;
        let (at, answer) = f
            .iter()
            .map(|(_, p)| p)
            .enumerate()
            .find(|(_, p)| matches!(match_packet(&[probe], p), Some(Match::Answer { .. })))
            .expect("the fixture holds the SYN/ACK");
        let seg = parse_ip_tcp(answer).unwrap();
        assert_eq!(seg.ack, Some(probe.seq.wrapping_add(1)), "frame {at}");
        let spoofed = SentProbe {
            seq: probe.seq.wrapping_add(0x1000),
            ..probe
        };
        assert_eq!(match_packet(&[spoofed], answer), None);
    }

    #[test]
    fn other_destination_is_not_ours() {
        let f = frames("ttl-clean.client.pcap");
        let sent = syns(&f);
        let other = SentProbe {
            dst_port: 80,
            ..sent[0].1
        };
        assert_eq!(match_packet(&[other], &f[1].1), None);
    }

    #[test]
    fn no_truncation_panics() {
        let f = frames("ttl-stripped-v6.client.pcap");
        let probes: Vec<SentProbe> = syns(&f).iter().map(|(_, p)| *p).collect();
        for (_, pkt) in &f {
            for cut in 0..pkt.len() {
                let _ = match_packet(&probes, &pkt[..cut]);
            }
        }
    }
}
