//! The probes of one flow of a trace: one SYN per TTL on one constant flow
//! (Paris-style: same addresses, ports and IPv6 flow label, so per-flow
//! load balancers keep every probe on one path), told apart by the
//! sequence number (in every quote, even RFC 792's 8 bytes, and acked+1 by
//! the destination) and, for IPv4, the IP identification. A trace runs
//! three such flows on their own source ports (see [`super::flows`]): the
//! MP_CAPABLE SYNs traced, plain SYNs and the other version's MP_CAPABLE
//! as controls; [`ProbePlan::kind`] says which.
use crate::matching::SentProbe;
use packet::build::{BuildError, ProbeBuilder};
use packet::mptcp::MpCapable;
use packet::verdict::ProbeKind;
use packet::{MptcpOption, TcpOption};
use std::net::IpAddr;

/// MP_CAPABLE flags of our SYNs: v1 `H` (HMAC-SHA256), as Linux sends;
/// v0 `H` plus `A` (checksum required, 0x80), as tracebox and the
/// out-of-tree kernel send.
pub const V1_FLAGS: u8 = 0x01;
pub const V0_FLAGS: u8 = 0x81;

/// Sequence numbers of consecutive TTLs are this far apart, so an
/// acknowledgement (seq + 1) never names the neighbouring probe.
pub const SEQ_STRIDE: u32 = 1 << 16;

/// Everything that fixes a trace's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbePlan {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub max_ttl: u8,
    /// What the SYNs carry: MP_CAPABLE v1 (RFC 8684), v0 (RFC 6824), or
    /// no MPTCP option (the plain control).
    pub kind: ProbeKind,
    /// The v0 sender key (ignored for v1, whose SYN carries none).
    pub v0_key: u64,
    pub base_seq: u32,
    pub base_ip_id: u16,
    /// Constant for the whole trace (IPv6 only).
    pub flow_label: u32,
}

/// One probe: its TTL, the exact bytes sent and its matching keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceProbe {
    pub ttl: u8,
    /// 0 for the first probe of a TTL, 1 for its one retry.
    pub attempt: u8,
    pub packet: Vec<u8>,
    pub key: SentProbe,
    /// The same probe as a router at hop `ttl` should receive it (TTL 1,
    /// header checksum to match): what a quote is compared with to show
    /// only what the path changed besides the TTL decrements.
    pub expected_at_hop: Vec<u8>,
}

impl ProbePlan {
    /// The MP_CAPABLE option our SYNs carry (`None` for plain SYNs).
    pub fn mp_capable(&self) -> Option<MpCapable> {
        match self.kind {
            ProbeKind::V0 => Some(MpCapable::v0_syn(self.v0_key, V0_FLAGS)),
            ProbeKind::V1 => Some(MpCapable::v1_syn(V1_FLAGS)),
            ProbeKind::Plain => None,
        }
    }

    /// Distinct for every (TTL, attempt): 512 slots `SEQ_STRIDE` apart.
    pub fn seq_for(&self, ttl: u8, attempt: u8) -> u32 {
        let slot = u32::from(attempt & 1) * 256 + u32::from(ttl);
        self.base_seq.wrapping_add(slot.wrapping_mul(SEQ_STRIDE))
    }

    fn builder(&self, ttl: u8, attempt: u8) -> ProbeBuilder<'static> {
        let mut b = ProbeBuilder::new(self.src, self.dst, self.src_port, self.dst_port)
            .ttl(ttl)
            .seq(self.seq_for(ttl, attempt));
        let slot = u16::from(attempt & 1) * 256 + u16::from(ttl);
        b.ip_id = self.base_ip_id.wrapping_add(slot);
        b.flow_label = self.flow_label & 0xf_ffff;
        // A Linux-like SYN (MSS, SACK permitted, window scale) so the
        // destination answers as it would a real client; no timestamps, so
        // every probe differs only where we mean it to.
        b.options = vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Nop,
            TcpOption::WindowScale(7),
            // Two NOPs align MP_CAPABLE to a word and end the area on one,
            // so no padding follows it (nor the plain SYN's last option).
            TcpOption::Nop,
            TcpOption::Nop,
        ];
        if let Some(mpc) = self.mp_capable() {
            b.options
                .push(TcpOption::Mptcp(MptcpOption::MpCapable(mpc)));
        }
        b
    }

    /// The probe for `ttl`; `attempt` 1 is its retry (other sequence
    /// number and IP ID, same flow).
    pub fn probe(&self, ttl: u8, attempt: u8) -> Result<TraceProbe, BuildError> {
        let b = self.builder(ttl, attempt);
        let packet = b.build()?;
        let expected_at_hop = b.clone().ttl(1).build()?;
        let key = SentProbe::from_packet(&packet)
            .map_err(|_| BuildError::TooLong { len: packet.len() })?;
        Ok(TraceProbe {
            ttl,
            attempt: attempt & 1,
            packet,
            key,
            expected_at_hop,
        })
    }

    /// First probes for TTL 1 to `max_ttl`, in TTL order.
    pub fn build(&self) -> Result<Vec<TraceProbe>, BuildError> {
        (1..=self.max_ttl.max(1))
            .map(|ttl| self.probe(ttl, 0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::ip::parse_ip_tcp;

    fn hops_with_ttl(packet: &[u8]) -> Vec<u8> {
        crate::trace::state::with_ttl(packet, 1)
    }

    fn plan(dst: &str, kind: ProbeKind) -> ProbePlan {
        let dst: IpAddr = dst.parse().unwrap();
        let src: IpAddr = if dst.is_ipv4() {
            "10.1.0.2".parse().unwrap()
        } else {
            "fd00:1::2".parse().unwrap()
        };
        ProbePlan {
            src,
            dst,
            src_port: 40000,
            dst_port: 6101,
            max_ttl: 30,
            kind,
            v0_key: 0x0102_0304_0506_0708,
            base_seq: 0xffff_0000,
            base_ip_id: 0xfff0,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn one_flow_distinct_keys() {
        for dst in ["10.2.0.2", "fd00:2::2"] {
            let probes = plan(dst, ProbeKind::V1).build().unwrap();
            assert_eq!(probes.len(), 30);
            let mut seqs: Vec<u32> = probes.iter().map(|p| p.key.seq).collect();
            seqs.sort();
            seqs.dedup();
            assert_eq!(seqs.len(), 30, "distinct seqs even across wrap-around");
            for (i, p) in probes.iter().enumerate() {
                assert_eq!(p.ttl as usize, i + 1);
                assert_eq!(p.key.ttl, p.ttl);
                let s = parse_ip_tcp(&p.packet).unwrap();
                assert_eq!((s.src_port, s.dst_port), (40000, 6101));
                assert_eq!(s.tcp_checksum_ok(), Some(true));
                assert_eq!(&s.options[s.options.len() - 4..], &[0x1e, 4, 0x01, 0x01]);
                let e = parse_ip_tcp(&p.expected_at_hop).unwrap();
                assert_eq!(e.ttl(), 1);
                assert!(e.ip_checksum_ok().unwrap_or(true));
                assert_eq!(hops_with_ttl(&p.packet), p.expected_at_hop);
                if dst.contains(':') {
                    assert_eq!(p.key.flow_label, Some(0x12345));
                } else {
                    assert_eq!(p.key.ip_id, Some(0xfff0u16.wrapping_add(p.ttl.into())));
                }
            }
        }
    }

    #[test]
    fn retries_have_their_own_keys() {
        for dst in ["10.2.0.2", "fd00:2::2"] {
            let p = plan(dst, ProbeKind::V1);
            let mut seqs: Vec<u32> = Vec::new();
            for ttl in 1..=255u8 {
                for attempt in 0..2 {
                    let probe = p.probe(ttl, attempt).unwrap();
                    assert_eq!((probe.ttl, probe.attempt), (ttl, attempt));
                    seqs.push(probe.key.seq);
                }
            }
            let n = seqs.len();
            seqs.sort();
            seqs.dedup();
            assert_eq!(seqs.len(), n, "every (TTL, attempt) has its own seq");
            let a = p.probe(7, 0).unwrap().key;
            let b = p.probe(7, 1).unwrap().key;
            assert_eq!((a.src_port, a.dst_port), (b.src_port, b.dst_port));
            assert_eq!(a.flow_label, b.flow_label);
            if dst.contains('.') {
                assert_ne!(a.ip_id, b.ip_id);
            }
        }
    }

    #[test]
    fn v0_carries_the_key() {
        let probes = plan("10.2.0.2", ProbeKind::V0).build().unwrap();
        let s = parse_ip_tcp(&probes[0].packet).unwrap();
        let opt = &s.options[s.options.len() - 12..];
        assert_eq!(&opt[..4], &[0x1e, 12, 0x00, 0x81]);
        assert_eq!(&opt[4..], &0x0102_0304_0506_0708u64.to_be_bytes());
    }

    #[test]
    fn plain_syns_carry_the_same_options_without_mptcp() {
        for dst in ["10.2.0.2", "fd00:2::2"] {
            let plain = plan(dst, ProbeKind::Plain).probe(3, 0).unwrap();
            let v1 = plan(dst, ProbeKind::V1).probe(3, 0).unwrap();
            let p = parse_ip_tcp(&plain.packet).unwrap();
            let m = parse_ip_tcp(&v1.packet).unwrap();
            assert_eq!(p.options, &m.options[..p.options.len()], "same prefix");
            assert_eq!(p.options.len() % 4, 0, "no padding");
            assert!(packet::verdict::find_capable(p.options).is_none());
            assert_eq!(p.tcp_checksum_ok(), Some(true));
            assert_eq!(plain.key.seq, v1.key.seq, "same plan, same seq");
        }
    }
}
