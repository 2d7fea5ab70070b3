//! Builds complete IPv4 or IPv6 + TCP probe segments (SYN by default) with
//! any list of TCP options and correct checksums, ready for a raw socket.
use crate::flags::TcpFlags;
use crate::ip::{ipv4_header_checksum, tcp_checksum_for, PROTO_TCP, TCP_HEADER_LEN};
use crate::tcp_opt::TcpOption;
use std::net::IpAddr;
use thiserror::Error;

/// Longest TCP option area (data offset 15 words, minus the fixed header).
pub const MAX_OPTION_AREA: usize = 40;

/// How the option area is filled up to a multiple of 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptionPadding {
    /// An EOL followed by zero bytes (what RFC 9293 asks for).
    #[default]
    Eol,
    /// NOP bytes after the last option.
    Nop,
}

/// Why a probe cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    #[error("source {src} and destination {dst} are of different IP families")]
    FamilyMismatch { src: IpAddr, dst: IpAddr },
    #[error("TCP options take {len} bytes with padding, more than the {MAX_OPTION_AREA} a header can hold")]
    OptionsTooLong { len: usize },
    #[error("{field} {value} is out of range (maximum {max})")]
    OutOfRange {
        field: &'static str,
        value: u32,
        max: u32,
    },
    #[error("packet of {len} bytes exceeds the IP length field")]
    TooLong { len: usize },
}

/// Every header field of a probe. Build with [`ProbeBuilder::new`], adjust
/// the public fields (or the chaining helpers), then [`ProbeBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeBuilder<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (unused for IPv6).
    pub ip_id: u16,
    /// 6-bit DSCP (IPv4 TOS / IPv6 traffic class, high bits).
    pub dscp: u8,
    /// 2-bit ECN codepoint.
    pub ecn: u8,
    /// IPv4 DF bit (unused for IPv6).
    pub dont_fragment: bool,
    /// 20-bit IPv6 flow label (unused for IPv4).
    pub flow_label: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: Vec<TcpOption<'a>>,
    pub padding: OptionPadding,
    pub payload: &'a [u8],
}

impl<'a> ProbeBuilder<'a> {
    /// A SYN with no options: TTL 64, DF set, window 64240, everything else 0.
    pub fn new(src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16) -> Self {
        ProbeBuilder {
            src,
            dst,
            ttl: 64,
            ip_id: 0,
            dscp: 0,
            ecn: 0,
            dont_fragment: true,
            flow_label: 0,
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
            window: 64240,
            urgent: 0,
            options: Vec::new(),
            padding: OptionPadding::Eol,
            payload: &[],
        }
    }

    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }
    pub fn flags(mut self, flags: TcpFlags) -> Self {
        self.flags = flags;
        self
    }
    pub fn options(mut self, options: Vec<TcpOption<'a>>) -> Self {
        self.options = options;
        self
    }

    /// The option area with its padding, or why it does not fit.
    pub fn option_area(&self) -> Result<Vec<u8>, BuildError> {
        let raw: usize = self.options.iter().map(TcpOption::buffer_len).sum();
        let padded = raw.div_ceil(4) * 4;
        // Checked before emitting: an option longer than the area (so also
        // any whose length byte would overflow) never reaches `emit`.
        if padded > MAX_OPTION_AREA {
            return Err(BuildError::OptionsTooLong { len: padded });
        }
        let fill = match self.padding {
            OptionPadding::Eol => 0,
            OptionPadding::Nop => 1,
        };
        let mut area = vec![fill; padded];
        let mut at = 0;
        for option in &self.options {
            at += option.emit(&mut area[at..]);
        }
        Ok(area)
    }

    fn check(&self) -> Result<(), BuildError> {
        let range = |field, value: u32, max| {
            if value > max {
                Err(BuildError::OutOfRange { field, value, max })
            } else {
                Ok(())
            }
        };
        range("DSCP", self.dscp.into(), 63)?;
        range("ECN", self.ecn.into(), 3)?;
        range("flow label", self.flow_label, 0xf_ffff)?;
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(BuildError::FamilyMismatch {
                src: self.src,
                dst: self.dst,
            });
        }
        Ok(())
    }

    /// The whole packet, IP header first, with correct checksums.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        self.check()?;
        let area = self.option_area()?;
        let tcp_len = TCP_HEADER_LEN + area.len() + self.payload.len();
        let mut tcp = Vec::with_capacity(tcp_len);
        tcp.extend_from_slice(&self.src_port.to_be_bytes());
        tcp.extend_from_slice(&self.dst_port.to_be_bytes());
        tcp.extend_from_slice(&self.seq.to_be_bytes());
        tcp.extend_from_slice(&self.ack.to_be_bytes());
        tcp.push((((TCP_HEADER_LEN + area.len()) / 4) as u8) << 4);
        tcp.push(self.flags.0);
        tcp.extend_from_slice(&self.window.to_be_bytes());
        tcp.extend_from_slice(&[0, 0]); // checksum, filled below
        tcp.extend_from_slice(&self.urgent.to_be_bytes());
        tcp.extend_from_slice(&area);
        tcp.extend_from_slice(self.payload);
        let sum = tcp_checksum_for(self.src, self.dst, &tcp);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());

        let tos = (self.dscp << 2) | self.ecn;
        let mut packet = match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let total = u16::try_from(20 + tcp_len)
                    .map_err(|_| BuildError::TooLong { len: 20 + tcp_len })?;
                let mut h = Vec::with_capacity(20 + tcp_len);
                h.extend_from_slice(&[0x45, tos]);
                h.extend_from_slice(&total.to_be_bytes());
                h.extend_from_slice(&self.ip_id.to_be_bytes());
                h.extend_from_slice(&if self.dont_fragment {
                    [0x40, 0]
                } else {
                    [0, 0]
                });
                h.extend_from_slice(&[self.ttl, PROTO_TCP, 0, 0]);
                h.extend_from_slice(&src.octets());
                h.extend_from_slice(&dst.octets());
                let sum = ipv4_header_checksum(&h);
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                h
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let payload = u16::try_from(tcp_len)
                    .map_err(|_| BuildError::TooLong { len: 40 + tcp_len })?;
                let word = (6u32 << 28) | (u32::from(tos) << 20) | self.flow_label;
                let mut h = Vec::with_capacity(40 + tcp_len);
                h.extend_from_slice(&word.to_be_bytes());
                h.extend_from_slice(&payload.to_be_bytes());
                h.extend_from_slice(&[PROTO_TCP, self.ttl]);
                h.extend_from_slice(&src.octets());
                h.extend_from_slice(&dst.octets());
                h
            }
            // Ruled out by check().
            _ => {
                return Err(BuildError::FamilyMismatch {
                    src: self.src,
                    dst: self.dst,
                })
            }
        };
        packet.extend_from_slice(&tcp);
        Ok(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{parse_ip_tcp, IpFields};
    use crate::tcp_opt::OptionList;

    fn syn_options() -> Vec<TcpOption<'static>> {
        vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps { tsval: 1, tsecr: 0 },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
        ]
    }

    /// Sums 16-bit words the slow, obvious way (independent of ip.rs).
    fn ones_sum(bytes: &[u8]) -> u16 {
        let mut v = bytes.to_vec();
        if v.len() % 2 == 1 {
            v.push(0);
        }
        let mut s: u64 = v
            .chunks(2)
            .map(|c| u64::from(c[0]) * 256 + u64::from(c[1]))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn ipv4_syn_matches_the_reference_bytes() {
        // The same SYN as ip::tests::SYN_V4, whose bytes a Python script
        // built; the MP_CAPABLE option is given raw (the codec is elsewhere).
        let mut options = syn_options();
        options.push(TcpOption::Unknown {
            kind: 30,
            data: &[0x01, 0x81],
        });
        let mut b = ProbeBuilder::new(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            40000,
            6101,
        )
        .seq(0x11223344)
        .options(options);
        b.ip_id = 0x1234;
        let packet = b.build().unwrap();
        assert_eq!(hex::encode(&packet), crate::ip::tests::SYN_V4);
    }

    #[test]
    fn ipv6_syn_checksum_verified_independently() {
        let src: IpAddr = "fd00::1".parse().unwrap();
        let dst: IpAddr = "fd00::2".parse().unwrap();
        let mut b = ProbeBuilder::new(src, dst, 1, 2).options(syn_options());
        b.flow_label = 0xfffff;
        b.dscp = 63;
        b.ecn = 3;
        b.payload = b"odd";
        let p = b.build().unwrap();
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&p[8..40]);
        pseudo.extend_from_slice(&((p.len() - 40) as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 6]);
        pseudo.extend_from_slice(&p[40..]);
        assert_eq!(ones_sum(&pseudo), 0xffff);
        let s = parse_ip_tcp(&p).unwrap();
        let IpFields::V6(h) = s.ip else { panic!() };
        assert_eq!((h.flow_label, h.traffic_class), (0xfffff, 0xff));
        assert_eq!(s.payload, b"odd");
        assert_eq!(s.tcp_checksum_ok(), Some(true));
    }

    #[test]
    fn padding_choices() {
        let src: IpAddr = "10.0.0.1".parse().unwrap();
        let mut b = ProbeBuilder::new(src, src, 1, 2).options(vec![TcpOption::WindowScale(7)]);
        assert_eq!(b.option_area().unwrap(), [3, 3, 7, 0]);
        b.padding = OptionPadding::Nop;
        assert_eq!(b.option_area().unwrap(), [3, 3, 7, 1]);
        let p = b.build().unwrap();
        assert_eq!(ones_sum(&p[..20]), 0xffff);
        let s = parse_ip_tcp(&p).unwrap();
        let list = OptionList::parse(s.options, s.flags);
        assert_eq!(list.options, [TcpOption::WindowScale(7), TcpOption::Nop]);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert!(matches!(
            ProbeBuilder::new(v4, v6, 1, 2).build(),
            Err(BuildError::FamilyMismatch { .. })
        ));
        let big = [0u8; 60];
        let b = ProbeBuilder::new(v4, v4, 1, 2).options(vec![TcpOption::Unknown {
            kind: 99,
            data: &big,
        }]);
        assert_eq!(b.build(), Err(BuildError::OptionsTooLong { len: 64 }));
        let mut b = ProbeBuilder::new(v6, v6, 1, 2);
        b.flow_label = 0x10_0000;
        assert!(matches!(b.build(), Err(BuildError::OutOfRange { .. })));
        let mut b = ProbeBuilder::new(v4, v4, 1, 2);
        b.dscp = 64;
        assert!(matches!(b.build(), Err(BuildError::OutOfRange { .. })));
    }
}
