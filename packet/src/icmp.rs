//! ICMP and ICMPv6 error messages that quote a packet we sent: time
//! exceeded, destination unreachable, packet too big, parameter problem.
//!
//! [`IcmpMessage::parse`] takes the ICMP message (after the outer IP header)
//! and finds the quoted IP packet, delimited by the RFC 4884 length field when
//! the sender set it, followed by the RFC 4884 extension structure (MPLS label
//! stack, interface information ...). [`parse_icmp_packet`] does the same
//! starting from the whole outer IP packet. [`IcmpMessage::quoted_tcp`] gives
//! the tolerant TCP view of the quote and [`IcmpMessage::quote_kind`] says how
//! much of the original packet the router kept.
use crate::error::{Layer, LenError};
use crate::ip::{internet_checksum, parse_ip_headers, parse_ip_tcp, IpError, IpFields, TcpSegment};
use std::net::IpAddr;
use thiserror::Error;

/// IP protocol numbers of ICMP and ICMPv6.
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ICMPV6: u8 = 58;

/// Bytes of the ICMP header before the quote (type, code, checksum, 4 more).
pub const ICMP_HEADER_LEN: usize = 8;
/// RFC 4884: an original-datagram field followed by extensions is at least
/// this long (shorter quotes are zero-padded to it).
pub const RFC4884_MIN_DATAGRAM: usize = 128;

/// Which ICMP: the one of IPv4 or the one of IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpFamily {
    V4,
    V6,
}

/// The error messages this module decodes, with what their header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// ICMPv4 type 11, ICMPv6 type 3.
    TimeExceeded,
    /// ICMPv4 type 3 (with the next-hop MTU of code 4, RFC 1191, when
    /// non-zero), ICMPv6 type 1.
    DestinationUnreachable { next_hop_mtu: Option<u16> },
    /// ICMPv6 type 2.
    PacketTooBig { mtu: u32 },
    /// ICMPv4 type 12 (pointer: byte 4), ICMPv6 type 4 (pointer: bytes 4..8):
    /// the offset of the offending byte in the quoted packet.
    ParameterProblem { pointer: u32 },
}

/// Why bytes are not an ICMP error message quoting a packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IcmpError {
    /// Shorter than the ICMP header.
    #[error(transparent)]
    Truncated(LenError),
    /// Echo, redirect, neighbour discovery ...: no quote this module reads.
    #[error("{family:?} ICMP type {icmp_type} code {code} is not an error this prober reads")]
    UnsupportedType {
        family: IcmpFamily,
        icmp_type: u8,
        code: u8,
    },
    /// The RFC 4884 length says the original datagram is longer than the
    /// message (`need` is that length, `have` what follows the header).
    #[error("RFC 4884 length runs past the end of the message: {0}")]
    LengthPastEnd(LenError),
    /// The outer packet does not carry ICMP.
    #[error("outer packet carries protocol {protocol}, not ICMP")]
    NotIcmp { protocol: u8 },
    /// The outer IP header is unreadable.
    #[error("outer IP header: {0}")]
    Outer(IpError),
}

/// Why an RFC 4884 extension structure cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExtensionError {
    /// Shorter than the 4-byte extension header.
    #[error(transparent)]
    Truncated(LenError),
    #[error("extension version {version} (only 2 is defined)")]
    BadVersion { version: u8 },
    #[error(
        "extension object at offset {offset} has length {len}, below the 4-byte object header"
    )]
    ObjectTooShort { offset: usize, len: usize },
    /// An object header, or an object by its length, runs past the end.
    #[error(transparent)]
    ObjectPastEnd(LenError),
}

/// One RFC 4884 extension object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionObject<'a> {
    /// 1: MPLS label stack (RFC 4950), 2: interface information (RFC 5837),
    /// 3: interface identification (RFC 8335).
    pub class: u8,
    pub c_type: u8,
    /// The object payload (after its 4-byte header).
    pub payload: &'a [u8],
}

/// One MPLS label stack entry (RFC 4950 / RFC 3032).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MplsEntry {
    pub label: u32,
    pub traffic_class: u8,
    pub bottom_of_stack: bool,
    pub ttl: u8,
}

impl ExtensionObject<'_> {
    /// The label stack of an MPLS object (class 1, c-type 1); `None` for
    /// other objects or a payload that is not a whole number of entries.
    pub fn mpls_labels(&self) -> Option<Vec<MplsEntry>> {
        if self.class != 1 || self.c_type != 1 || self.payload.len() % 4 != 0 {
            return None;
        }
        Some(
            self.payload
                .chunks_exact(4)
                .map(|e| {
                    let v = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                    MplsEntry {
                        label: v >> 12,
                        traffic_class: ((v >> 9) & 7) as u8,
                        bottom_of_stack: v & 0x100 != 0,
                        ttl: (v & 0xff) as u8,
                    }
                })
                .collect(),
        )
    }
}

/// The RFC 4884 extension structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extensions<'a> {
    pub version: u8,
    pub checksum: u16,
    /// Whether the checksum over the whole structure is right (a zero
    /// checksum means "not computed" and counts as right, RFC 4884 7).
    pub checksum_ok: bool,
    pub objects: Vec<ExtensionObject<'a>>,
}

impl<'a> Extensions<'a> {
    /// Parses the structure in `bytes` (version/checksum header first).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ExtensionError> {
        LenError::check(bytes, "ICMP extension header", Layer::Icmp, 0, 4)
            .map_err(ExtensionError::Truncated)?;
        let version = bytes[0] >> 4;
        if version != 2 {
            return Err(ExtensionError::BadVersion { version });
        }
        let checksum = u16::from_be_bytes([bytes[2], bytes[3]]);
        let mut objects = Vec::new();
        let mut at = 4;
        while at < bytes.len() {
            let rest = &bytes[at..];
            LenError::check(bytes, "ICMP extension object header", Layer::Icmp, at, 4)
                .map_err(ExtensionError::ObjectPastEnd)?;
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if len < 4 {
                return Err(ExtensionError::ObjectTooShort { offset: at, len });
            }
            LenError::check(bytes, "ICMP extension object", Layer::Icmp, at, len)
                .map_err(ExtensionError::ObjectPastEnd)?;
            objects.push(ExtensionObject {
                class: rest[2],
                c_type: rest[3],
                payload: &rest[4..len],
            });
            at += len;
        }
        Ok(Extensions {
            version,
            checksum,
            checksum_ok: checksum == 0 || internet_checksum(bytes) == 0,
            objects,
        })
    }
}

/// How much of the original packet a quote holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteKind {
    /// The whole original IP packet (every byte its IP length announces).
    Full,
    /// The whole TCP header, options included, but not all of the payload.
    FullHeader,
    /// RFC 792: the IP header and exactly the first 8 bytes of TCP.
    Rfc792,
    /// Cut elsewhere inside the TCP header: `tcp_bytes` of it are present.
    Truncated { tcp_bytes: usize },
}

impl QuoteKind {
    /// Options removed by the path can be judged only when the whole TCP
    /// header is there.
    pub fn has_full_header(self) -> bool {
        matches!(self, QuoteKind::Full | QuoteKind::FullHeader)
    }
}

/// An ICMP or ICMPv6 error message quoting a packet. Borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpMessage<'a> {
    pub family: IcmpFamily,
    pub icmp_type: u8,
    pub code: u8,
    pub checksum: u16,
    pub kind: IcmpKind,
    /// The quoted original datagram (padding included, when RFC 4884
    /// padded it; the quoted IP length tells where the packet ends).
    pub quote: &'a [u8],
    /// The RFC 4884 length field converted to bytes (`None` when zero or,
    /// for packet too big, absent).
    pub rfc4884_length: Option<usize>,
    /// The extension structure after the quote, when the length field
    /// announced one (an error in it does not hide the quote).
    pub extensions: Option<Result<Extensions<'a>, ExtensionError>>,
    /// The whole ICMP message (for checksum checks).
    pub message: &'a [u8],
}

impl<'a> IcmpMessage<'a> {
    /// Parses an ICMP (`V4`) or ICMPv6 (`V6`) message starting at its type byte.
    pub fn parse(family: IcmpFamily, bytes: &'a [u8]) -> Result<Self, IcmpError> {
        LenError::check(bytes, "ICMP header", Layer::Icmp, 0, ICMP_HEADER_LEN)
            .map_err(IcmpError::Truncated)?;
        let (icmp_type, code) = (bytes[0], bytes[1]);
        let checksum = u16::from_be_bytes([bytes[2], bytes[3]]);
        let unsupported = IcmpError::UnsupportedType {
            family,
            icmp_type,
            code,
        };
        // (kind, RFC 4884 length in bytes, from byte 5 in 32-bit words for
        // ICMPv4, byte 4 in 64-bit words for ICMPv6).
        let (kind, length) = match (family, icmp_type) {
            (IcmpFamily::V4, 11) => (IcmpKind::TimeExceeded, usize::from(bytes[5]) * 4),
            (IcmpFamily::V4, 3) => {
                let mtu = u16::from_be_bytes([bytes[6], bytes[7]]);
                let next_hop_mtu = (code == 4 && mtu != 0).then_some(mtu);
                (
                    IcmpKind::DestinationUnreachable { next_hop_mtu },
                    usize::from(bytes[5]) * 4,
                )
            }
            (IcmpFamily::V6, 3) => (IcmpKind::TimeExceeded, usize::from(bytes[4]) * 8),
            (IcmpFamily::V6, 1) => (
                IcmpKind::DestinationUnreachable { next_hop_mtu: None },
                usize::from(bytes[4]) * 8,
            ),
            (IcmpFamily::V6, 2) => {
                let mtu = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                (IcmpKind::PacketTooBig { mtu }, 0)
            }
            (IcmpFamily::V4, 12) => (
                IcmpKind::ParameterProblem {
                    pointer: bytes[4].into(),
                },
                usize::from(bytes[5]) * 4,
            ),
            (IcmpFamily::V6, 4) => (
                IcmpKind::ParameterProblem {
                    pointer: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                },
                0,
            ),
            _ => return Err(unsupported),
        };
        let body = &bytes[ICMP_HEADER_LEN..];
        let (quote, rfc4884_length, extensions) = if length == 0 {
            match legacy_extension(body) {
                Some(ext) => (&body[..RFC4884_MIN_DATAGRAM], None, Some(Ok(ext))),
                None => (body, None, None),
            }
        } else if length > body.len() {
            return Err(IcmpError::LengthPastEnd(LenError {
                what: "original datagram (RFC 4884 length)",
                layer: Layer::Icmp,
                offset: ICMP_HEADER_LEN,
                have: body.len(),
                need: length,
            }));
        } else {
            let rest = &body[length..];
            // A length with nothing after it announces no extension.
            let ext = (!rest.is_empty()).then(|| Extensions::parse(rest));
            (&body[..length], Some(length), ext)
        };
        Ok(IcmpMessage {
            family,
            icmp_type,
            code,
            checksum,
            kind,
            quote,
            rfc4884_length,
            extensions,
            message: bytes,
        })
    }

    /// The quoted TCP header and how much of it the quote holds.
    pub fn quoted(&self) -> Result<QuotedTcp<'a>, IpError> {
        let tcp = parse_ip_tcp(self.quote)?;
        Ok(QuotedTcp {
            kind: classify(&tcp),
            tcp,
        })
    }

    /// The tolerant TCP view of the quoted packet.
    pub fn quoted_tcp(&self) -> Result<TcpSegment<'a>, IpError> {
        parse_ip_tcp(self.quote)
    }

    /// How much of the original packet the quote holds (an error when the
    /// quote is not IP carrying at least 8 bytes of TCP).
    pub fn quote_kind(&self) -> Result<QuoteKind, IpError> {
        self.quoted_tcp().map(|s| classify(&s))
    }

    /// tracebox-style name of the type, e.g. "time exceeded".
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            IcmpKind::TimeExceeded => "time exceeded",
            IcmpKind::DestinationUnreachable { .. } => "destination unreachable",
            IcmpKind::PacketTooBig { .. } => "packet too big",
            IcmpKind::ParameterProblem { .. } => "parameter problem",
        }
    }

    /// The code's name from the IANA registries.
    pub fn code_name(&self) -> &'static str {
        code_name(self.family, self.icmp_type, self.code)
    }
}

/// The TCP segment an ICMP error quotes, with how much of it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedTcp<'a> {
    /// The tolerant view: fields the quote does not hold are `None`.
    pub tcp: TcpSegment<'a>,
    pub kind: QuoteKind,
}

/// Extensions sent without the RFC 4884 length (routers that implemented
/// the MPLS extension of RFC 4950 before RFC 4884 put them at offset 128
/// and leave the length zero). Accepted only when the quoted packet fits in
/// those 128 bytes and the structure has version 2 and a right, non-zero
/// checksum, so a long plain quote is never cut by mistake.
fn legacy_extension(body: &[u8]) -> Option<Extensions<'_>> {
    let rest = body.get(RFC4884_MIN_DATAGRAM..)?;
    let ip_len = match parse_ip_headers(body) {
        Ok(h) => h.end?,
        Err(_) => return None,
    };
    if ip_len > RFC4884_MIN_DATAGRAM {
        return None;
    }
    let ext = Extensions::parse(rest).ok()?;
    (ext.checksum != 0 && ext.checksum_ok).then_some(ext)
}

/// Classifies a quote by what its TCP view holds.
pub fn classify(s: &TcpSegment<'_>) -> QuoteKind {
    if s.is_complete() {
        QuoteKind::Full
    } else if s.has_full_header() {
        QuoteKind::FullHeader
    } else {
        let tcp_bytes = s.packet.len() - s.tcp_offset;
        if tcp_bytes == crate::ip::TCP_MIN_QUOTE {
            QuoteKind::Rfc792
        } else {
            QuoteKind::Truncated { tcp_bytes }
        }
    }
}

/// Code names for the types this module decodes ("code N" is never
/// returned: unknown codes are "unassigned code").
pub fn code_name(family: IcmpFamily, icmp_type: u8, code: u8) -> &'static str {
    match (family, icmp_type, code) {
        (IcmpFamily::V4, 11, 0) | (IcmpFamily::V6, 3, 0) => "TTL exceeded in transit",
        (IcmpFamily::V4, 11, 1) | (IcmpFamily::V6, 3, 1) => "fragment reassembly time exceeded",
        (IcmpFamily::V4, 3, c) => match c {
            0 => "net unreachable",
            1 => "host unreachable",
            2 => "protocol unreachable",
            3 => "port unreachable",
            4 => "fragmentation needed and DF set",
            5 => "source route failed",
            6 => "destination network unknown",
            7 => "destination host unknown",
            8 => "source host isolated",
            9 => "destination network administratively prohibited",
            10 => "destination host administratively prohibited",
            11 => "network unreachable for type of service",
            12 => "host unreachable for type of service",
            13 => "communication administratively prohibited",
            14 => "host precedence violation",
            15 => "precedence cutoff in effect",
            _ => "unassigned code",
        },
        (IcmpFamily::V6, 1, c) => match c {
            0 => "no route to destination",
            1 => "communication with destination administratively prohibited",
            2 => "beyond scope of source address",
            3 => "address unreachable",
            4 => "port unreachable",
            5 => "source address failed ingress/egress policy",
            6 => "reject route to destination",
            7 => "error in source routing header",
            8 => "headers too long",
            _ => "unassigned code",
        },
        (IcmpFamily::V6, 2, 0) => "packet too big",
        (IcmpFamily::V4, 12, 0) => "pointer indicates the error",
        (IcmpFamily::V4, 12, 1) => "missing a required option",
        (IcmpFamily::V4, 12, 2) => "bad length",
        (IcmpFamily::V6, 4, 0) => "erroneous header field encountered",
        (IcmpFamily::V6, 4, 1) => "unrecognized next header type encountered",
        (IcmpFamily::V6, 4, 2) => "unrecognized IPv6 option encountered",
        _ => "unassigned code",
    }
}

/// An ICMP error with the outer IP header that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedIcmp<'a> {
    /// The router (or host) that sent the error.
    pub from: IpAddr,
    pub to: IpAddr,
    /// The outer TTL / hop limit as received.
    pub ttl: u8,
    pub outer: IpFields,
    pub message: IcmpMessage<'a>,
    /// Whether the ICMP checksum is right (ICMPv6 over its pseudo-header);
    /// `None` when the outer IP length says part of the message is missing.
    pub checksum_ok: Option<bool>,
}

/// Parses a whole IP packet carrying an ICMP or ICMPv6 error.
pub fn parse_icmp_packet(packet: &[u8]) -> Result<ReceivedIcmp<'_>, IcmpError> {
    let h = parse_ip_headers(packet).map_err(IcmpError::Outer)?;
    let family = match (h.ip, h.protocol) {
        (IpFields::V4(_), PROTO_ICMP) => IcmpFamily::V4,
        (IpFields::V6(_), PROTO_ICMPV6) => IcmpFamily::V6,
        (_, protocol) => return Err(IcmpError::NotIcmp { protocol }),
    };
    // Stop at the IP length (Ethernet padding is not ICMP); a snapshot may
    // have cut the packet before it.
    let end = h.end.map_or(packet.len(), |e| e.min(packet.len()));
    let bytes = packet.get(h.payload_offset..end).unwrap_or(&[]);
    let message = IcmpMessage::parse(family, bytes)?;
    let (from, to, ttl) = match h.ip {
        IpFields::V4(v) => (IpAddr::V4(v.src), IpAddr::V4(v.dst), v.ttl),
        IpFields::V6(v) => (IpAddr::V6(v.src), IpAddr::V6(v.dst), v.hop_limit),
    };
    let complete = h.end.is_some_and(|e| e <= packet.len());
    let checksum_ok = complete.then(|| match family {
        IcmpFamily::V4 => internet_checksum(bytes) == 0,
        IcmpFamily::V6 => icmpv6_checksum(from, to, bytes) == 0,
    });
    Ok(ReceivedIcmp {
        from,
        to,
        ttl,
        outer: h.ip,
        message,
        checksum_ok,
    })
}

/// Internet checksum of an ICMPv6 message with its pseudo-header (0 when
/// the stored checksum is right).
pub fn icmpv6_checksum(src: IpAddr, dst: IpAddr, message: &[u8]) -> u16 {
    let mut buf = Vec::with_capacity(40 + message.len());
    for a in [src, dst] {
        match a {
            IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
            IpAddr::V4(a) => buf.extend_from_slice(&a.to_ipv6_mapped().octets()),
        }
    }
    buf.extend_from_slice(&(message.len() as u32).to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, PROTO_ICMPV6]);
    buf.extend_from_slice(message);
    internet_checksum(&buf)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What we sent: IPv4 SYN 10.91.1.1:40000 > 10.91.2.2:6101, TTL 1, ID
    /// 0x1234, DF, options MSS, SACK permitted, TS, NOP, wscale 7, MP_CAPABLE v1.
    pub(crate) const SENT_V4: &str = "450000401234400001064fcc0a5b01010a5b02029c4017d511223344\
        00000000b002faf00d510000020405b40402080a0000000100000000010303071e040181";
    /// Captured in a namespace lab (Linux 6.18 router 10.91.1.2): ICMP time
    /// exceeded in transit for SENT_V4. Outer IPv4 header (TOS 0xc0, TTL 64,
    /// proto 1), then type 11, code 0, checksum 0x0ceb, 4 unused zero bytes,
    /// then the whole original packet (its TTL still 1: Linux quotes the
    /// packet as it arrived, before the decrement).
    pub(crate) const KERNEL_TE_V4: &str =
        "45c0005c69e400004001f9440a5b01020a5b01010b000ceb00000000\
        450000401234400001064fcc0a5b01010a5b02029c4017d51122334400000000b002faf00d5100000204\
        05b40402080a0000000100000000010303071e040181";
    /// The IPv6 twin: SYN fd91:1::1 > fd91:2::2, flow label 0xabcde, hop limit 1.
    pub(crate) const SENT_V6: &str = "600abcde002c0601fd910001000000000000000000000001fd9100020000\
        000000000000000000029c4017d51122334400000000b002faf029e00000020405b40402080a000000010000\
        0000010303071e040181";
    /// Captured: ICMPv6 time exceeded from fd91:1::2 (type 3, code 0,
    /// checksum 0xde5c, 4 unused bytes) quoting SENT_V6 whole.
    pub(crate) const KERNEL_TE_V6: &str =
        "600b0d01005c3a40fd910001000000000000000000000002fd910001\
        0000000000000000000000010300de5c00000000600abcde002c0601fd91000100000000000000000000000\
        1fd9100020000000000000000000000029c4017d51122334400000000b002faf029e00000020405b40402080a\
        0000000100000000010303071e040181";
    /// Captured in the two-router lab of tests/kernel_icmp.rs: router 2
    /// (10.91.2.2, outer TTL 63 after router 1) quotes a probe sent with TTL 2
    /// (source port 40002, IP ID 40002): the quote shows TTL 1 and the
    /// checksum router 1 recomputed (0xc4bd).
    pub(crate) const KERNEL_TE_V4_HOP2: &str = "45c0005c024f00003f0160da0a5b02020a5b01010b000deb\
        00000000450000409c4240000106c4bd0a5b01010a5b03029c4217d51122cf8600000000b002faf0700c\
        0000020405b40402080a0000000100000000010303071e040181";
    /// The same lab with `iptables -t mangle -A FORWARD -p tcp --dport 6101
    /// -j TCPOPTSTRIP --strip-options 30` on router 1: router 2 quotes the
    /// TTL-2 probe (source port 40012) with MP_CAPABLE replaced by four NOPs
    /// (`01010101` at the end) and the TCP checksum fixed up (0x8d7b).
    pub(crate) const KERNEL_TE_V4_HOP2_STRIPPED: &str = "45c0005c818300003f01e1a50a5b02020a5b0101\
        0b000deb00000000450000409c4c40000106c4b30a5b01010a5b03029c4c17d51122cf9000000000b002\
        faf08d7b0000020405b40402080a00000001000000000103030701010101";
    /// The IPv6 twin: router 2 (fd91:2::2) quotes a hop-limit-2 probe
    /// (source port 40005) whose hop limit now reads 1.
    pub(crate) const KERNEL_TE_V6_HOP2: &str = "600a6ca6005c3a3ffd9100020000000000000000000000\
        02fd9100010000000000000000000000010300de5b00000000600abcde002c0601fd910001000000000000\
        000000000001fd9100030000000000000000000000029c4517d51122cf8900000000b002faf08d94000002\
        0405b40402080a0000000100000000010303071e040181";
    /// Built byte by byte (checksum by an independent script): ICMPv4 type
    /// 3 code 4 (fragmentation needed), checksum 0xff07, unused 0x0000,
    /// next-hop MTU 0x0578 (1400), then an RFC 792 quote: the 20-byte IP
    /// header of SENT_V4 and the first 8 bytes of TCP.
    const UNREACH_V4: &str =
        "0304ff0700000578450000401234400001064fcc0a5b01010a5b02029c4017d511223344";
    /// ICMPv4 time exceeded with RFC 4884: byte 5 = 32 (x4 = 128 bytes of
    /// original datagram: SENT_V4 and 64 zero bytes of padding), then the
    /// extension structure: 0x20 (version 2), 0x00, checksum 0xddf4; one
    /// object: length 8, class 1 (MPLS), c-type 1, entry label 16, TC 0,
    /// S=1, TTL 1 (0x00010101).
    fn te_rfc4884_v4() -> Vec<u8> {
        let mut m = hex("0b000ccb00200000");
        m.extend(hex(SENT_V4));
        m.resize(8 + 128, 0);
        m.extend(hex("2000ddf40008010100010101"));
        m
    }

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn kernel_time_exceeded_v4_is_a_full_quote() {
        let b = hex(KERNEL_TE_V4);
        let r = parse_icmp_packet(&b).unwrap();
        assert_eq!(r.from, "10.91.1.2".parse::<IpAddr>().unwrap());
        assert_eq!(r.ttl, 64);
        assert_eq!(r.checksum_ok, Some(true));
        let m = &r.message;
        assert_eq!(
            (m.icmp_type, m.code, m.kind),
            (11, 0, IcmpKind::TimeExceeded)
        );
        assert_eq!(m.type_name(), "time exceeded");
        assert_eq!(m.code_name(), "TTL exceeded in transit");
        assert_eq!(m.quote, &hex(SENT_V4)[..]);
        assert_eq!(m.rfc4884_length, None);
        assert!(m.extensions.is_none());
        assert_eq!(m.quote_kind(), Ok(QuoteKind::Full));
        let q = m.quoted_tcp().unwrap();
        assert_eq!(q.seq, 0x11223344);
        assert_eq!(q.tcp_checksum_ok(), Some(true));
    }

    #[test]
    fn kernel_time_exceeded_v6_is_a_full_quote() {
        let b = hex(KERNEL_TE_V6);
        let r = parse_icmp_packet(&b).unwrap();
        assert_eq!(r.from, "fd91:1::2".parse::<IpAddr>().unwrap());
        assert_eq!(r.checksum_ok, Some(true));
        assert_eq!(r.message.family, IcmpFamily::V6);
        assert_eq!(r.message.kind, IcmpKind::TimeExceeded);
        assert_eq!(r.message.quote, &hex(SENT_V6)[..]);
        assert_eq!(r.message.quote_kind(), Ok(QuoteKind::Full));
        // One changed byte in the quote breaks the ICMPv6 checksum.
        let mut bad = b.clone();
        bad[100] ^= 0x10;
        assert_eq!(parse_icmp_packet(&bad).unwrap().checksum_ok, Some(false));
    }

    #[test]
    fn rfc792_quote_with_next_hop_mtu() {
        let b = hex(UNREACH_V4);
        let m = IcmpMessage::parse(IcmpFamily::V4, &b).unwrap();
        assert_eq!(
            m.kind,
            IcmpKind::DestinationUnreachable {
                next_hop_mtu: Some(1400)
            }
        );
        assert_eq!(m.code_name(), "fragmentation needed and DF set");
        assert_eq!(internet_checksum(&b), 0);
        assert_eq!(m.quote_kind(), Ok(QuoteKind::Rfc792));
        let q = m.quoted_tcp().unwrap();
        assert_eq!((q.src_port, q.dst_port, q.seq), (40000, 6101, 0x11223344));
        assert_eq!(q.flags, None);
        assert!(!m.quote_kind().unwrap().has_full_header());
    }

    #[test]
    fn rfc4884_extension_with_mpls_label() {
        let b = te_rfc4884_v4();
        assert_eq!(internet_checksum(&b), 0, "fixture checksum");
        let m = IcmpMessage::parse(IcmpFamily::V4, &b).unwrap();
        assert_eq!(m.rfc4884_length, Some(128));
        assert_eq!(m.quote.len(), 128);
        // The zero padding is not part of the quoted packet.
        assert_eq!(m.quote_kind(), Ok(QuoteKind::Full));
        let ext = m.extensions.clone().unwrap().unwrap();
        assert_eq!(
            (ext.version, ext.checksum, ext.checksum_ok),
            (2, 0xddf4, true)
        );
        assert_eq!(ext.objects.len(), 1);
        assert_eq!((ext.objects[0].class, ext.objects[0].c_type), (1, 1));
        assert_eq!(
            ext.objects[0].mpls_labels(),
            Some(vec![MplsEntry {
                label: 16,
                traffic_class: 0,
                bottom_of_stack: true,
                ttl: 1
            }])
        );
    }

    #[test]
    fn rfc4884_errors_are_typed() {
        let base = te_rfc4884_v4();
        let ext_at = 8 + 128;
        fn ext(m: &[u8]) -> Result<Extensions<'_>, ExtensionError> {
            IcmpMessage::parse(IcmpFamily::V4, m)
                .unwrap()
                .extensions
                .unwrap()
        }
        let mut b = base.clone();
        b[ext_at] = 0x10;
        assert_eq!(ext(&b), Err(ExtensionError::BadVersion { version: 1 }));
        let mut b = base.clone();
        b[ext_at + 5] = 2; // object length 2
        assert_eq!(
            ext(&b),
            Err(ExtensionError::ObjectTooShort { offset: 4, len: 2 })
        );
        let mut b = base.clone();
        b[ext_at + 5] = 12;
        assert_eq!(
            ext(&b),
            Err(ExtensionError::ObjectPastEnd(LenError {
                what: "ICMP extension object",
                layer: Layer::Icmp,
                offset: 4,
                have: 8,
                need: 12
            }))
        );
        assert_eq!(
            ext(&b).unwrap_err().to_string(),
            "ICMP extension object: 8 bytes at offset 4, need 12"
        );
        let mut b = base.clone();
        b[ext_at + 11] = 2; // payload changed, checksum not
        assert!(!ext(&b).unwrap().checksum_ok);
        let mut b = base.clone();
        b[5] = 60; // 240 bytes: past the end
        assert_eq!(
            IcmpMessage::parse(IcmpFamily::V4, &b),
            Err(IcmpError::LengthPastEnd(LenError {
                what: "original datagram (RFC 4884 length)",
                layer: Layer::Icmp,
                offset: 8,
                have: 140,
                need: 240
            }))
        );
    }

    #[test]
    fn icmpv6_forms() {
        let sent = hex(SENT_V6);
        // Packet too big, MTU 1280, partial quote of 48 bytes (IPv6 header + 8).
        let mut m = hex("020000000000050000");
        m.truncate(8);
        m.extend_from_slice(&sent[..48]);
        let msg = IcmpMessage::parse(IcmpFamily::V6, &m).unwrap();
        assert_eq!(msg.kind, IcmpKind::PacketTooBig { mtu: 1280 });
        assert_eq!(msg.quote_kind(), Ok(QuoteKind::Rfc792));
        // Destination unreachable code 4 with an RFC 4884 length of 16 x 8
        // = 128 bytes and an empty-object extension (header only).
        let mut m = hex("0104000010000000");
        m.extend_from_slice(&sent);
        m.resize(8 + 128, 0);
        m.extend_from_slice(&[0x20, 0, 0, 0]);
        let msg = IcmpMessage::parse(IcmpFamily::V6, &m).unwrap();
        assert_eq!(msg.code_name(), "port unreachable");
        assert_eq!(msg.rfc4884_length, Some(128));
        assert_eq!(msg.extensions.unwrap().unwrap().objects, vec![]);
        // A quote cut inside the options.
        let mut m = hex("0300000000000000");
        m.extend_from_slice(&sent[..70]);
        let msg = IcmpMessage::parse(IcmpFamily::V6, &m).unwrap();
        assert_eq!(msg.quote_kind(), Ok(QuoteKind::Truncated { tcp_bytes: 30 }));
        // Echo request: not an error message.
        assert!(matches!(
            IcmpMessage::parse(IcmpFamily::V6, &hex("8000000000000000")),
            Err(IcmpError::UnsupportedType { icmp_type: 128, .. })
        ));
    }

    #[test]
    fn legacy_extension_without_length() {
        // The RFC 4884 fixture with its length byte cleared: a pre-RFC 4884
        // MPLS router. The quote (64 bytes) fits in 128, the extension's
        // checksum is right: it is found anyway.
        let mut b = te_rfc4884_v4();
        b[5] = 0;
        let m = IcmpMessage::parse(IcmpFamily::V4, &b).unwrap();
        assert_eq!(m.rfc4884_length, None);
        assert_eq!(m.quote.len(), 128);
        let ext = m.extensions.clone().unwrap().unwrap();
        assert_eq!(ext.objects[0].class, 1);
        let q = m.quoted().unwrap();
        assert_eq!(q.kind, QuoteKind::Full);
        assert_eq!(q.tcp.seq, 0x11223344);
        // Damage the extension checksum: no extension, the body stays whole.
        b[8 + 128 + 3] ^= 1;
        let m = IcmpMessage::parse(IcmpFamily::V4, &b).unwrap();
        assert!(m.extensions.is_none());
        assert_eq!(m.quote.len(), b.len() - 8);
    }

    #[test]
    fn parameter_problem() {
        // ICMPv4 type 12 code 0, pointer 9 (the protocol byte), RFC 792 quote.
        let mut m = hex("0c00000009000000");
        m.extend_from_slice(&hex(SENT_V4)[..28]);
        let msg = IcmpMessage::parse(IcmpFamily::V4, &m).unwrap();
        assert_eq!(msg.kind, IcmpKind::ParameterProblem { pointer: 9 });
        assert_eq!(msg.code_name(), "pointer indicates the error");
        assert_eq!(msg.quoted().unwrap().kind, QuoteKind::Rfc792);
        // ICMPv6 type 4 code 1, pointer 6 (next header).
        let mut m = hex("0401000000000006");
        m.extend_from_slice(&hex(SENT_V6));
        let msg = IcmpMessage::parse(IcmpFamily::V6, &m).unwrap();
        assert_eq!(msg.kind, IcmpKind::ParameterProblem { pointer: 6 });
        assert_eq!(msg.quoted().unwrap().kind, QuoteKind::Full);
    }

    #[test]
    fn outer_packet_must_be_icmp() {
        let b = hex(SENT_V4);
        assert_eq!(
            parse_icmp_packet(&b),
            Err(IcmpError::NotIcmp { protocol: 6 })
        );
    }

    #[test]
    fn every_truncation_of_every_fixture_never_panics() {
        let whole = [
            hex(KERNEL_TE_V4),
            hex(KERNEL_TE_V6),
            hex(KERNEL_TE_V4_HOP2),
            hex(KERNEL_TE_V6_HOP2),
            hex(KERNEL_TE_V4_HOP2_STRIPPED),
        ];
        for b in &whole {
            for cut in 0..b.len() {
                if let Ok(r) = parse_icmp_packet(&b[..cut]) {
                    // A cut packet is never taken for a complete one.
                    assert_eq!(r.checksum_ok, None);
                    assert_ne!(r.message.quote_kind(), Ok(QuoteKind::Full));
                }
            }
        }
        let messages = [hex(UNREACH_V4), te_rfc4884_v4()];
        for b in &messages {
            for cut in 0..b.len() {
                if let Ok(m) = IcmpMessage::parse(IcmpFamily::V4, &b[..cut]) {
                    let _ = m.quote_kind();
                    let _ = m.quoted_tcp();
                }
            }
        }
        // Below 8 bytes there is no ICMP header at all.
        for cut in 0..8 {
            assert!(matches!(
                IcmpMessage::parse(IcmpFamily::V4, &hex(UNREACH_V4)[..cut]),
                Err(IcmpError::Truncated(LenError {
                    layer: Layer::Icmp,
                    need: 8,
                    ..
                }))
            ));
        }
    }
}
