//! A tolerant, zero-copy view of an IPv4 or IPv6 packet carrying TCP.
//!
//! Captured packets may be cut by the snapshot length and ICMP errors quote
//! only the start of the packet that caused them (RFC 792: the IP header and
//! 8 bytes of TCP). [`parse_ip_tcp`] therefore needs the whole IP header (and
//! IPv6 extension headers) plus the first 8 bytes of TCP (ports and sequence
//! number); every later TCP field is an `Option` that is `None` when the bytes
//! that would hold it are missing, and [`TcpSegment::tcp_missing`] says how
//! much of the TCP header was cut.
//!
//! Checksum helpers live here too, so that a caller can tell a header some
//! router rewrote (and recomputed) from one that was damaged.
use crate::error::{Layer, LenError};
use crate::flags::TcpFlags;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use thiserror::Error;

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IPv6 extension headers walked to find TCP.
pub const EXT_HOP_BY_HOP: u8 = 0;
pub const EXT_ROUTING: u8 = 43;
pub const EXT_FRAGMENT: u8 = 44;
pub const EXT_AUTH: u8 = 51;
pub const EXT_DEST_OPTS: u8 = 60;

/// Bytes of the fixed TCP header (no options).
pub const TCP_HEADER_LEN: usize = 20;
/// Bytes of TCP an RFC 792 quote is guaranteed to hold: ports and sequence number.
pub const TCP_MIN_QUOTE: usize = 8;

/// Why a packet cannot be viewed as IP carrying TCP: what, where (offset from
/// the start of the IP packet), how long.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IpError {
    #[error("empty packet: no IP version nibble")]
    Empty,
    #[error("IP version {version} is neither 4 nor 6")]
    UnknownVersion { version: u8 },
    /// A header ends past the end of the bytes available.
    #[error(transparent)]
    Truncated(#[from] LenError),
    #[error("IPv4 header length of {ihl} words is below the minimum of 5")]
    BadIhl { ihl: u8 },
    /// The packet carries another protocol (UDP, ICMP, ESP, no next header ...).
    #[error("not TCP: next protocol {protocol} at offset {offset}")]
    NotTcp { protocol: u8, offset: usize },
    /// A fragment other than the first holds no TCP header.
    #[error("non-first fragment (fragment offset {fragment_offset} bytes) holds no TCP header")]
    NonFirstFragment { fragment_offset: u32 },
    #[error("TCP data offset of {data_offset} words at offset {offset} is below the minimum of 5")]
    BadDataOffset { data_offset: u8, offset: usize },
}

/// The IPv4 header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Fields {
    /// Header length in 32-bit words.
    pub ihl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub total_length: u16,
    pub identification: u16,
    /// The reserved ("evil") bit, kept so a diff can see it change.
    pub reserved_flag: bool,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units, as on the wire.
    pub fragment_offset: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: u16,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Ipv4Fields {
    /// The 3 flag bits as on the wire (reserved, DF, MF).
    pub fn flags_bits(&self) -> u8 {
        (u8::from(self.reserved_flag) << 2)
            | (u8::from(self.dont_fragment) << 1)
            | u8::from(self.more_fragments)
    }
}

/// The IPv6 header fields, plus what the extension-header walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Fields {
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_length: u16,
    /// Next header of the fixed header (the first extension header, or TCP).
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Bytes of extension headers between the fixed header and TCP.
    pub extensions_len: usize,
    /// Identification of the fragment header, when there is one (a first
    /// fragment: later fragments are an error).
    pub fragment_id: Option<u32>,
}

impl Ipv6Fields {
    pub fn dscp(&self) -> u8 {
        self.traffic_class >> 2
    }
    pub fn ecn(&self) -> u8 {
        self.traffic_class & 3
    }
}

/// The IP layer of a [`TcpSegment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFields {
    V4(Ipv4Fields),
    V6(Ipv6Fields),
}

/// A TCP segment inside an IP packet, possibly cut short. Borrowed from the
/// packet buffer; nothing is copied but the fixed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// The bytes given to [`parse_ip_tcp`] (IP header first).
    pub packet: &'a [u8],
    pub ip: IpFields,
    /// Offset of the TCP header in `packet` (IP header, IPv4 options and IPv6
    /// extension headers before it).
    pub tcp_offset: usize,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: Option<u32>,
    /// Header length in 32-bit words (the high nibble of byte 12).
    pub data_offset: Option<u8>,
    /// The 4 reserved bits plus the NS bit below the data offset (byte 12, low nibble).
    pub reserved: Option<u8>,
    pub flags: Option<TcpFlags>,
    pub window: Option<u16>,
    pub checksum: Option<u16>,
    pub urgent: Option<u16>,
    /// The option-area bytes that are present (all of them unless cut).
    pub options: &'a [u8],
    /// Bytes of the TCP header (options included once the data offset is
    /// known, else the fixed 20 bytes) that are missing from `packet`.
    pub tcp_missing: usize,
    /// TCP payload bytes present in `packet` (up to the IP length).
    pub payload: &'a [u8],
    /// TCP payload length the IP length announces; `None` when the data
    /// offset is unknown or the IP length is smaller than the headers.
    pub payload_len: Option<usize>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn need(
    bytes: &[u8],
    what: &'static str,
    layer: Layer,
    offset: usize,
    len: usize,
) -> Result<(), IpError> {
    Ok(LenError::check(bytes, what, layer, offset, len)?)
}

/// Views `bytes` (starting with the IP header) as IPv4 or IPv6 carrying TCP.
///
/// Needs the whole IP header (IPv4 options, IPv6 extension headers) and the
/// first 8 bytes of TCP; tolerates everything after that being cut. The IP
/// length fields are not checked against `bytes.len()` (a snapshot or a
/// quote is shorter, a padded frame longer): `payload` stops at whichever
/// ends first.
pub fn parse_ip_tcp(bytes: &[u8]) -> Result<TcpSegment<'_>, IpError> {
    let h = parse_ip_headers(bytes)?;
    if h.protocol != PROTO_TCP {
        return Err(IpError::NotTcp {
            protocol: h.protocol,
            offset: h.protocol_offset,
        });
    }
    parse_tcp(bytes, h.ip, h.payload_offset, h.end)
}

/// The IP layer of any packet: the fixed header, IPv4 options and IPv6
/// extension headers, and the upper-layer protocol that follows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeaders {
    pub ip: IpFields,
    /// Offset of the upper-layer header (TCP, ICMP ...).
    pub payload_offset: usize,
    /// The upper-layer protocol number.
    pub protocol: u8,
    /// Offset of the byte that names it (IPv4 protocol field, or the next
    /// header field of the fixed header or last extension header).
    pub protocol_offset: usize,
    /// Where the IP length says the packet ends; `None` when it says less
    /// than the headers take (IPv4 total length 0 after segmentation
    /// offload, say).
    pub end: Option<usize>,
}

/// Walks the IP header (and IPv6 extension headers) of `bytes`. Non-first
/// fragments are an error: they hold no upper-layer header.
pub fn parse_ip_headers(bytes: &[u8]) -> Result<IpHeaders, IpError> {
    let first = *bytes.first().ok_or(IpError::Empty)?;
    match first >> 4 {
        4 => parse_v4(bytes),
        6 => parse_v6(bytes),
        version => Err(IpError::UnknownVersion { version }),
    }
}

fn parse_v4(b: &[u8]) -> Result<IpHeaders, IpError> {
    need(b, "IPv4 header", Layer::Ipv4, 0, 20)?;
    let ihl = b[0] & 0x0f;
    if ihl < 5 {
        return Err(IpError::BadIhl { ihl });
    }
    let header_len = usize::from(ihl) * 4;
    need(b, "IPv4 header with options", Layer::Ipv4, 0, header_len)?;
    let frag = be16(b, 6);
    let fields = Ipv4Fields {
        ihl,
        dscp: b[1] >> 2,
        ecn: b[1] & 3,
        total_length: be16(b, 2),
        identification: be16(b, 4),
        reserved_flag: frag & 0x8000 != 0,
        dont_fragment: frag & 0x4000 != 0,
        more_fragments: frag & 0x2000 != 0,
        fragment_offset: frag & 0x1fff,
        ttl: b[8],
        protocol: b[9],
        checksum: be16(b, 10),
        src: Ipv4Addr::new(b[12], b[13], b[14], b[15]),
        dst: Ipv4Addr::new(b[16], b[17], b[18], b[19]),
    };
    if fields.fragment_offset != 0 {
        return Err(IpError::NonFirstFragment {
            fragment_offset: u32::from(fields.fragment_offset) * 8,
        });
    }
    let end = usize::from(fields.total_length);
    Ok(IpHeaders {
        ip: IpFields::V4(fields),
        payload_offset: header_len,
        protocol: fields.protocol,
        protocol_offset: 9,
        end: (end >= header_len).then_some(end),
    })
}

fn parse_v6(b: &[u8]) -> Result<IpHeaders, IpError> {
    need(b, "IPv6 header", Layer::Ipv6, 0, 40)?;
    let word = be32(b, 0);
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[at..at + 16]);
        Ipv6Addr::from(a)
    };
    let mut fields = Ipv6Fields {
        traffic_class: ((word >> 20) & 0xff) as u8,
        flow_label: word & 0x000f_ffff,
        payload_length: be16(b, 4),
        next_header: b[6],
        hop_limit: b[7],
        src: addr(8),
        dst: addr(24),
        extensions_len: 0,
        fragment_id: None,
    };
    // Walk the extension headers. Each is at least 8 bytes long, so the walk
    // ends within bytes.len() / 8 steps.
    let mut next = fields.next_header;
    let mut next_at = 6;
    let mut at = 40;
    loop {
        match next {
            EXT_HOP_BY_HOP | EXT_ROUTING | EXT_DEST_OPTS => {
                need(b, "IPv6 extension header", Layer::Ipv6, at, 8)?;
                let len = (usize::from(b[at + 1]) + 1) * 8;
                need(b, "IPv6 extension header", Layer::Ipv6, at, len)?;
                next = b[at];
                next_at = at;
                at += len;
            }
            EXT_AUTH => {
                // RFC 4302: the length counts 32-bit words, minus 2.
                need(b, "IPv6 authentication header", Layer::Ipv6, at, 8)?;
                let len = (usize::from(b[at + 1]) + 2) * 4;
                need(b, "IPv6 authentication header", Layer::Ipv6, at, len)?;
                next = b[at];
                next_at = at;
                at += len;
            }
            EXT_FRAGMENT => {
                need(b, "IPv6 fragment header", Layer::Ipv6, at, 8)?;
                let offset = be16(b, at + 2) >> 3;
                if offset != 0 {
                    return Err(IpError::NonFirstFragment {
                        fragment_offset: u32::from(offset) * 8,
                    });
                }
                fields.fragment_id = Some(be32(b, at + 4));
                next = b[at];
                next_at = at;
                at += 8;
            }
            // TCP, ICMPv6, or anything this walk does not step over
            // (ESP, no next header ...): the upper layer starts here.
            _ => break,
        }
    }
    fields.extensions_len = at - 40;
    let end = 40 + usize::from(fields.payload_length);
    Ok(IpHeaders {
        ip: IpFields::V6(fields),
        payload_offset: at,
        protocol: next,
        protocol_offset: next_at,
        end: (end >= at).then_some(end),
    })
}

fn parse_tcp(
    b: &[u8],
    ip: IpFields,
    t: usize,
    ip_end: Option<usize>,
) -> Result<TcpSegment<'_>, IpError> {
    need(
        b,
        "TCP header (ports and sequence number)",
        Layer::Tcp,
        t,
        TCP_MIN_QUOTE,
    )?;
    let tcp = &b[t..];
    let get16 = |at: usize| (tcp.len() >= at + 2).then(|| be16(tcp, at));
    let data_offset = tcp.get(12).map(|v| v >> 4);
    if let Some(d) = data_offset {
        if d < 5 {
            return Err(IpError::BadDataOffset {
                data_offset: d,
                offset: t + 12,
            });
        }
    }
    let header_len = data_offset.map_or(TCP_HEADER_LEN, |d| usize::from(d) * 4);
    let present_header = tcp.len().min(header_len);
    let options = if present_header > TCP_HEADER_LEN {
        &tcp[TCP_HEADER_LEN..present_header]
    } else {
        &[][..]
    };
    // The payload ends where the IP length says, or where the bytes end.
    let payload_end = ip_end.map_or(b.len(), |e| e.min(b.len()));
    let payload_start = t + header_len;
    let payload = if data_offset.is_some() && payload_end > payload_start {
        &b[payload_start..payload_end]
    } else {
        &[][..]
    };
    let payload_len = match (data_offset, ip_end) {
        (Some(_), Some(end)) => end.checked_sub(payload_start),
        _ => None,
    };
    Ok(TcpSegment {
        packet: b,
        ip,
        tcp_offset: t,
        src_port: be16(tcp, 0),
        dst_port: be16(tcp, 2),
        seq: be32(tcp, 4),
        ack: (tcp.len() >= 12).then(|| be32(tcp, 8)),
        data_offset,
        reserved: tcp.get(12).map(|v| v & 0x0f),
        flags: tcp.get(13).map(|&f| TcpFlags(f)),
        window: get16(14),
        checksum: get16(16),
        urgent: get16(18),
        options,
        tcp_missing: header_len - present_header,
        payload,
        payload_len,
    })
}

impl<'a> TcpSegment<'a> {
    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self.ip {
            IpFields::V4(_) => 4,
            IpFields::V6(_) => 6,
        }
    }
    pub fn src(&self) -> IpAddr {
        match self.ip {
            IpFields::V4(h) => h.src.into(),
            IpFields::V6(h) => h.src.into(),
        }
    }
    pub fn dst(&self) -> IpAddr {
        match self.ip {
            IpFields::V4(h) => h.dst.into(),
            IpFields::V6(h) => h.dst.into(),
        }
    }
    /// IPv4 TTL or IPv6 hop limit.
    pub fn ttl(&self) -> u8 {
        match self.ip {
            IpFields::V4(h) => h.ttl,
            IpFields::V6(h) => h.hop_limit,
        }
    }
    /// The IP header bytes (IPv4 options and IPv6 extension headers included).
    pub fn ip_header(&self) -> &'a [u8] {
        &self.packet[..self.tcp_offset]
    }
    /// The TCP header bytes that are present (options included).
    pub fn tcp_header(&self) -> &'a [u8] {
        let len = self
            .data_offset
            .map_or(TCP_HEADER_LEN, |d| usize::from(d) * 4);
        let tcp = &self.packet[self.tcp_offset..];
        &tcp[..tcp.len().min(len)]
    }
    /// The TCP header was cut somewhere (in the fixed part or the options).
    pub fn is_truncated(&self) -> bool {
        self.tcp_missing > 0
    }
    /// The whole TCP header, options included, is present.
    pub fn has_full_header(&self) -> bool {
        self.data_offset.is_some() && self.tcp_missing == 0
    }
    /// The whole segment (header and every payload byte the IP length
    /// announces) is present, so the TCP checksum can be verified.
    pub fn is_complete(&self) -> bool {
        self.has_full_header() && self.payload_len == Some(self.payload.len())
    }
    /// The whole TCP segment bytes, when complete.
    pub fn tcp_bytes(&self) -> Option<&'a [u8]> {
        self.is_complete().then(|| {
            let end = self.tcp_offset + self.tcp_header().len() + self.payload.len();
            &self.packet[self.tcp_offset..end]
        })
    }
    /// Whether the IPv4 header checksum is right (`None` for IPv6, which has none).
    pub fn ip_checksum_ok(&self) -> Option<bool> {
        match self.ip {
            IpFields::V4(_) => Some(ipv4_checksum_ok(self.ip_header())),
            IpFields::V6(_) => None,
        }
    }
    /// Whether the TCP checksum is right; `None` when part of the segment is missing.
    pub fn tcp_checksum_ok(&self) -> Option<bool> {
        self.tcp_bytes()
            .map(|seg| tcp_checksum(self.src(), self.dst(), seg) == 0)
    }
}

/// Adds `bytes` as big-endian 16-bit words (odd length: last byte padded
/// with zero) to a 32-bit one's complement accumulator.
fn sum_words(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// RFC 1071 Internet checksum of `bytes`. Over a header whose checksum
/// field holds the right value the result is 0.
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    fold(sum_words(0, bytes))
}

/// The IPv4 header checksum to store in bytes 10..12 of `header` (its
/// current value there is skipped).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let head = &header[..header.len().min(10)];
    let tail = header.get(12..).unwrap_or(&[]);
    fold(sum_words(sum_words(0, head), tail))
}

/// Whether an IPv4 header (options included) carries a correct checksum.
pub fn ipv4_checksum_ok(header: &[u8]) -> bool {
    header.len() >= 20 && internet_checksum(header) == 0
}

/// One's complement sum of the TCP pseudo-header (RFC 793 for IPv4, RFC 8200
/// section 8.1 for IPv6). Mixed families are summed as given.
fn pseudo_header_sum(src: IpAddr, dst: IpAddr, tcp_len: usize) -> u32 {
    let mut acc = 0;
    for addr in [src, dst] {
        acc = match addr {
            IpAddr::V4(a) => sum_words(acc, &a.octets()),
            IpAddr::V6(a) => sum_words(acc, &a.octets()),
        };
    }
    let len = tcp_len as u32;
    acc = sum_words(acc, &len.to_be_bytes());
    sum_words(acc, &[0, PROTO_TCP])
}

/// The Internet checksum of `segment` (TCP header and payload) with the
/// pseudo-header. Over a segment whose checksum field is right the result
/// is 0; over one whose field holds zero it is the value to store.
pub fn tcp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    fold(sum_words(
        pseudo_header_sum(src, dst, segment.len()),
        segment,
    ))
}

/// The value to store in the checksum field of `segment` (whatever its bytes
/// 16..18 hold now are skipped).
pub fn tcp_checksum_for(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let acc = pseudo_header_sum(src, dst, segment.len());
    let head = &segment[..segment.len().min(16)];
    let tail = segment.get(18..).unwrap_or(&[]);
    fold(sum_words(sum_words(acc, head), tail))
}

/// A (sender, receiver) pair of endpoints as one byte string: hashed in
/// one go (a tuple of two `SocketAddr`s is hashed field by field, a cost
/// on every packet of a capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PairKey([u8; 36]);

impl PairKey {
    pub fn new(a: SocketAddr, b: SocketAddr) -> Self {
        let mut k = [0u8; 36];
        for (at, addr) in [(0, a), (18, b)] {
            let ip = match addr.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            k[at..at + 16].copy_from_slice(&ip.octets());
            k[at + 16..at + 18].copy_from_slice(&addr.port().to_be_bytes());
        }
        PairKey(k)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// IPv4 SYN 10.0.0.1:40000 > 10.0.0.2:6101, TTL 64, ID 0x1234, DF, seq
    /// 0x11223344, window 64240, options MSS 1460, SACK permitted, TS 1/0,
    /// NOP, wscale 7, MP_CAPABLE v1 (flags 0x81). Checksums computed by an
    /// independent Python script (sum of 16-bit words, RFC 1071).
    pub(crate) const SYN_V4: &str = "4500004012344000400614820a0000010a0000029c4017d5112233440000\
        0000b002faf011070000020405b40402080a0000000100000000010303071e040181";
    /// IPv6 SYN fd00::1:40001 > fd00::2:6101, traffic class 0x2e, flow label
    /// 0xabcde, hop limit 63, one hop-by-hop header (PadN), same options.
    pub(crate) const SYN_V6: &str = "62eabcde0034003ffd000000000000000000000000000001fd00000000\
        000000000000000000000206000104000000009c4117d5deadbeef00000000b002fd20cf9c0000020405b4\
        0402080a0000000100000000010303071e040181";

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn ipv4_syn_fields() {
        let b = hex(SYN_V4);
        let s = parse_ip_tcp(&b).unwrap();
        let IpFields::V4(h) = s.ip else {
            panic!("not v4")
        };
        assert_eq!(h.ttl, 64);
        assert_eq!(h.identification, 0x1234);
        assert!(h.dont_fragment && !h.more_fragments);
        assert_eq!(h.total_length, 64);
        assert_eq!(h.checksum, 0x1482);
        assert_eq!(s.src(), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((s.src_port, s.dst_port, s.seq), (40000, 6101, 0x11223344));
        assert_eq!(s.ack, Some(0));
        assert_eq!(s.data_offset, Some(11));
        assert_eq!(s.flags, Some(TcpFlags(0x02)));
        assert_eq!(s.window, Some(64240));
        assert_eq!(s.options.len(), 24);
        assert_eq!(s.tcp_missing, 0);
        assert_eq!(s.payload_len, Some(0));
        assert!(s.is_complete());
        assert_eq!(s.ip_checksum_ok(), Some(true));
        assert_eq!(s.tcp_checksum_ok(), Some(true));
    }

    #[test]
    fn ipv6_syn_walks_hop_by_hop() {
        let b = hex(SYN_V6);
        let s = parse_ip_tcp(&b).unwrap();
        let IpFields::V6(h) = s.ip else {
            panic!("not v6")
        };
        assert_eq!(h.traffic_class, 0x2e);
        assert_eq!(h.flow_label, 0xabcde);
        assert_eq!(h.hop_limit, 63);
        assert_eq!(h.extensions_len, 8);
        assert_eq!(s.tcp_offset, 48);
        assert_eq!(s.seq, 0xdeadbeef);
        assert_eq!(s.options.len(), 24);
        assert_eq!(s.ip_checksum_ok(), None);
        assert_eq!(s.tcp_checksum_ok(), Some(true));
    }

    #[test]
    fn one_flipped_bit_breaks_checksums() {
        let mut b = hex(SYN_V4);
        b[8] = 63; // TTL rewritten without fixing the checksum
        b[40] ^= 1; // the MSS option changed
        let s = parse_ip_tcp(&b).unwrap();
        assert_eq!(s.ip_checksum_ok(), Some(false));
        assert_eq!(s.tcp_checksum_ok(), Some(false));
        let (src, dst) = (s.src(), s.dst());
        // The helpers give the values that would fix them.
        let fix = ipv4_header_checksum(&b[..20]);
        b[10..12].copy_from_slice(&fix.to_be_bytes());
        let fix = tcp_checksum_for(src, dst, &b[20..]);
        b[36..38].copy_from_slice(&fix.to_be_bytes());
        let s = parse_ip_tcp(&b).unwrap();
        assert_eq!(s.ip_checksum_ok(), Some(true));
        assert_eq!(s.tcp_checksum_ok(), Some(true));
    }

    #[test]
    fn partial_quote_keeps_ports_and_seq() {
        let b = hex(SYN_V4);
        let s = parse_ip_tcp(&b[..28]).unwrap();
        assert_eq!((s.src_port, s.dst_port, s.seq), (40000, 6101, 0x11223344));
        assert_eq!(s.ack, None);
        assert_eq!(s.flags, None);
        assert_eq!(s.data_offset, None);
        assert_eq!(s.tcp_missing, 12);
        assert!(s.is_truncated() && !s.has_full_header());
        assert_eq!(s.tcp_checksum_ok(), None);
        // Cut inside the options: data offset known, 44 - 30 bytes missing.
        let s = parse_ip_tcp(&b[..50]).unwrap();
        assert_eq!(s.data_offset, Some(11));
        assert_eq!(s.options.len(), 10);
        assert_eq!(s.tcp_missing, 14);
    }

    #[test]
    fn every_truncation_is_an_error_or_a_tolerant_view() {
        for fixture in [SYN_V4, SYN_V6] {
            let b = hex(fixture);
            let tcp = if b[0] >> 4 == 4 { 20 } else { 48 };
            for cut in 0..b.len() {
                match parse_ip_tcp(&b[..cut]) {
                    Ok(s) => {
                        assert!(cut >= tcp + TCP_MIN_QUOTE, "cut {cut}");
                        // Until byte 12 (data offset) is there, only the
                        // fixed header is known to be missing.
                        let expect = if cut > tcp + 12 {
                            b.len() - cut
                        } else {
                            tcp + TCP_HEADER_LEN - cut
                        };
                        assert_eq!(s.tcp_missing, expect, "cut {cut}");
                    }
                    Err(e) => assert!(cut < tcp + TCP_MIN_QUOTE, "cut {cut}: {e}"),
                }
            }
        }
    }

    #[test]
    fn typed_errors() {
        let mut b = hex(SYN_V4);
        b[9] = 17;
        assert_eq!(
            parse_ip_tcp(&b),
            Err(IpError::NotTcp {
                protocol: 17,
                offset: 9
            })
        );
        let mut b = hex(SYN_V4);
        b[6] = 0x20;
        b[7] = 0x03; // MF, offset 3*8
        assert_eq!(
            parse_ip_tcp(&b),
            Err(IpError::NonFirstFragment {
                fragment_offset: 24
            })
        );
        let mut b = hex(SYN_V4);
        b[0] = 0x44;
        assert_eq!(parse_ip_tcp(&b), Err(IpError::BadIhl { ihl: 4 }));
        let mut b = hex(SYN_V4);
        b[32] = 0x40;
        assert_eq!(
            parse_ip_tcp(&b),
            Err(IpError::BadDataOffset {
                data_offset: 4,
                offset: 32
            })
        );
        assert_eq!(parse_ip_tcp(&[]), Err(IpError::Empty));
        let e = parse_ip_tcp(&hex(SYN_V4)[..12]).unwrap_err();
        assert_eq!(
            e,
            IpError::Truncated(LenError {
                what: "IPv4 header",
                layer: Layer::Ipv4,
                offset: 0,
                have: 12,
                need: 20
            })
        );
        assert_eq!(e.to_string(), "IPv4 header: 12 bytes at offset 0, need 20");
        let b = hex(SYN_V6);
        assert!(matches!(
            parse_ip_tcp(&b[..44]),
            Err(IpError::Truncated(LenError {
                layer: Layer::Ipv6,
                offset: 40,
                have: 4,
                need: 8,
                ..
            }))
        ));
        assert_eq!(
            parse_ip_tcp(&[0x50]),
            Err(IpError::UnknownVersion { version: 5 })
        );
        // IPv6: hop-by-hop says UDP follows.
        let mut b = hex(SYN_V6);
        b[40] = 17;
        assert_eq!(
            parse_ip_tcp(&b),
            Err(IpError::NotTcp {
                protocol: 17,
                offset: 40
            })
        );
        // IPv6: a fragment header with a non-zero offset instead.
        let mut b = hex(SYN_V6);
        b[6] = EXT_FRAGMENT;
        b[40..48].copy_from_slice(&[6, 0, 0x00, 0x10, 0, 0, 0, 1]);
        assert_eq!(
            parse_ip_tcp(&b),
            Err(IpError::NonFirstFragment {
                fragment_offset: 16
            })
        );
        // The first fragment is fine and its id is kept.
        b[43] = 0x01; // offset 0, M flag
        let s = parse_ip_tcp(&b).unwrap();
        let IpFields::V6(h) = s.ip else { panic!() };
        assert_eq!(h.fragment_id, Some(1));
    }

    #[test]
    fn ip_length_bounds_the_payload() {
        // A frame padded past the IP length (Ethernet minimum): the padding
        // is not payload.
        let mut b = hex(SYN_V4);
        b.extend_from_slice(&[0; 6]);
        let s = parse_ip_tcp(&b).unwrap();
        assert!(s.payload.is_empty());
        assert_eq!(s.tcp_checksum_ok(), Some(true));
    }
}
