//! Names what the path changed between the segment we sent and the same
//! segment seen elsewhere (an ICMP quote, or the server's echo of what
//! arrived), the way tracebox prints it, so output compares line by line.
//!
//! Names are tracebox's: `Layer::Field` with libcrafter's layer and field
//! names (`IP::TTL`, `TCP::WindowsSize`, `TCPOptionMaxSegSize::MaxSegSize`,
//! `TCPOptionMPTCPCapable::Sender's Key`), `-Layer` for a removed option and
//! `+Layer` for an added one, and the bare layer name when an option's
//! payload changed beyond its named fields. The order is tracebox's too:
//! layers by libcrafter protocol id (TCP 0x06, IP 0x0800, IPv6 0x86dd, then
//! the option layers 0x9001...), fields in header order within a layer.
//! Names marked GUESS below are not confirmed by tracebox's sources or tests.
//!
//! Deliberate differences from tracebox:
//! - NOP, EOL and the padding after an EOL are ignored (tracebox compares the
//!   first `TCPOptionPad` layer only, which makes padding changes noise);
//! - options are paired by kind (and MPTCP subtype) in wire order, so the
//!   second SACK or MPTCP option is compared too, not only the first;
//! - "partial" means the seen TCP header is incomplete (an RFC 792 8-byte
//!   quote, say); then fields and options that are not in the quote are not
//!   compared and no option is claimed removed.
use crate::flags::TcpFlags;
use crate::ip::{IpFields, TcpSegment};
use crate::mptcp::{MpCapable, MptcpOption, SUBTYPE_MP_CAPABLE, SUBTYPE_MP_JOIN};
use crate::tcp_opt::{OptionList, TcpOption, KIND_MPTCP};
use std::fmt;

/// What happened to a field or an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// A field (or an option's payload) has another value.
    Modified,
    /// An option we sent is gone (printed `-Layer`).
    Removed,
    /// An option we did not send appeared (printed `+Layer`).
    Added,
}

/// One difference, named as tracebox names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// libcrafter layer name: `IP`, `IPv6`, `TCP`, `TCPOptionMPTCPCapable` ...
    pub layer: &'static str,
    /// libcrafter field name (`TTL`, `Sender's Key` ...); `None` for an
    /// added or removed option, or a change to an option's unnamed payload.
    pub field: Option<&'static str>,
    pub change: Change,
    /// The value we sent (empty for an added option).
    pub sent: String,
    /// The value seen (empty for a removed option).
    pub seen: String,
}

impl Difference {
    /// tracebox's verbose form: `IP::TTL (2 -> 1)`, `-TCPOptionMPTCPCapable <value>`.
    pub fn verbose(&self) -> String {
        match self.change {
            Change::Modified => format!("{self} ({} -> {})", self.sent, self.seen),
            Change::Removed => format!("{self} {}", self.sent),
            Change::Added => format!("{self} {}", self.seen),
        }
    }
}

/// JSON: `{"name": "IP::TTL", "change": "modified", "sent": "2", "seen": "1"}`
/// (`name` is the printed form, `-`/`+` included).
impl serde::Serialize for Difference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Difference", 4)?;
        st.serialize_field("name", &self.to_string())?;
        st.serialize_field("change", &self.change)?;
        st.serialize_field("sent", &self.sent)?;
        st.serialize_field("seen", &self.seen)?;
        st.end()
    }
}

/// `IP::TTL`, `-TCPOptionMPTCPCapable`, `+TCPOptionMaxSegSize`.
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.change {
            Change::Modified => write!(f, "{}", self.layer)?,
            Change::Removed => write!(f, "-{}", self.layer)?,
            Change::Added => write!(f, "+{}", self.layer)?,
        }
        if let Some(field) = self.field {
            write!(f, "::{field}")?;
        }
        Ok(())
    }
}

/// Every difference between two headers, in tracebox's order.
/// JSON: `{"differences": [...], "partial": false}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct HeaderDiff {
    pub differences: Vec<Difference>,
    /// The seen TCP header was incomplete: removals could not be judged.
    pub partial: bool,
}

impl HeaderDiff {
    /// Whether a difference with this printed name (`IP::TTL`,
    /// `-TCPOptionMPTCPCapable`) is present.
    pub fn has(&self, name: &str) -> bool {
        self.differences.iter().any(|d| d.to_string() == name)
    }
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }
    /// The names separated by spaces, with values: `IP::TTL (2 -> 1) ...`.
    pub fn verbose(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.partial {
            parts.push("[PARTIAL]".into());
        }
        parts.extend(self.differences.iter().map(Difference::verbose));
        parts.join(" ")
    }
}

/// tracebox's line: `[PARTIAL] IP::TTL IP::CheckSum -TCPOptionMPTCPCapable`
/// (names separated by single spaces, no trailing space).
impl fmt::Display for HeaderDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if self.partial {
            write!(f, "[PARTIAL]")?;
            first = false;
        }
        for d in &self.differences {
            if !first {
                write!(f, " ")?;
            }
            write!(f, "{d}")?;
            first = false;
        }
        Ok(())
    }
}

/// Collects differences with the libcrafter protocol id of their layer, so
/// that a stable sort gives tracebox's order.
struct Collector {
    items: Vec<(u32, Difference)>,
}

impl Collector {
    fn push(&mut self, order: u32, d: Difference) {
        self.items.push((order, d));
    }
    fn field<T: PartialEq + fmt::Display>(
        &mut self,
        order: u32,
        layer: &'static str,
        field: &'static str,
        sent: T,
        seen: T,
    ) {
        if sent != seen {
            self.push(
                order,
                Difference {
                    layer,
                    field: Some(field),
                    change: Change::Modified,
                    sent: sent.to_string(),
                    seen: seen.to_string(),
                },
            );
        }
    }
    /// Compares an optional seen value (missing when the quote is cut).
    fn opt_field<T: PartialEq + fmt::Display>(
        &mut self,
        order: u32,
        layer: &'static str,
        field: &'static str,
        sent: Option<T>,
        seen: Option<T>,
    ) {
        if let (Some(a), Some(b)) = (sent, seen) {
            self.field(order, layer, field, a, b);
        }
    }
}

/// libcrafter protocol ids: the order tracebox prints layers in.
const ORDER_TCP: u32 = 0x06;
const ORDER_IP: u32 = 0x0800;
const ORDER_IPV6: u32 = 0x86dd;

struct Hex16(u16);
impl fmt::Display for Hex16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}
impl PartialEq for Hex16 {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// Compares the segment we sent with the one seen elsewhere.
pub fn diff(sent: &TcpSegment<'_>, seen: &TcpSegment<'_>) -> HeaderDiff {
    let mut c = Collector { items: Vec::new() };
    let partial = !seen.has_full_header();
    compare_ip(&mut c, sent, seen);
    compare_tcp(&mut c, sent, seen);
    compare_options(&mut c, sent, seen, partial);
    c.items.sort_by_key(|(order, _)| *order);
    HeaderDiff {
        differences: c.items.into_iter().map(|(_, d)| d).collect(),
        partial,
    }
}

fn compare_ip(c: &mut Collector, sent: &TcpSegment<'_>, seen: &TcpSegment<'_>) {
    match (sent.ip, seen.ip) {
        (IpFields::V4(a), IpFields::V4(b)) => {
            let l = "IP";
            let o = ORDER_IP;
            c.field(o, l, "HeaderLength", a.ihl, b.ihl);
            c.field(o, l, "DiffServicesCP", a.dscp, b.dscp);
            c.field(o, l, "ExpCongestionNot", a.ecn, b.ecn);
            c.field(o, l, "TotalLength", a.total_length, b.total_length);
            c.field(
                o,
                l,
                "Identification",
                Hex16(a.identification),
                Hex16(b.identification),
            );
            c.field(o, l, "Flags", a.flags_bits(), b.flags_bits());
            c.field(o, l, "FragmentOffset", a.fragment_offset, b.fragment_offset);
            c.field(o, l, "TTL", a.ttl, b.ttl);
            c.field(o, l, "Protocol", a.protocol, b.protocol);
            c.field(o, l, "CheckSum", Hex16(a.checksum), Hex16(b.checksum));
            c.field(o, l, "SourceIP", a.src, b.src);
            c.field(o, l, "DestinationIP", a.dst, b.dst);
        }
        (IpFields::V6(a), IpFields::V6(b)) => {
            let l = "IPv6";
            let o = ORDER_IPV6;
            c.field(o, l, "TrafficClass", a.traffic_class, b.traffic_class);
            c.field(o, l, "FlowLabel", a.flow_label, b.flow_label);
            c.field(o, l, "PayloadLength", a.payload_length, b.payload_length);
            c.field(o, l, "NextHeader", a.next_header, b.next_header);
            c.field(o, l, "HopLimit", a.hop_limit, b.hop_limit);
            c.field(o, l, "SourceIP", a.src, b.src);
            c.field(o, l, "DestinationIP", a.dst, b.dst);
        }
        // A translator (NAT64) changed the family: the whole layer differs.
        (a, b) => {
            let (name_a, order_a) = ip_layer(&a);
            let (name_b, order_b) = ip_layer(&b);
            let whole = |layer, change, sent: String, seen: String| Difference {
                layer,
                field: None,
                change,
                sent,
                seen,
            };
            c.push(
                order_a,
                whole(
                    name_a,
                    Change::Removed,
                    sent.src().to_string(),
                    String::new(),
                ),
            );
            c.push(
                order_b,
                whole(name_b, Change::Added, String::new(), seen.src().to_string()),
            );
        }
    }
}

fn ip_layer(ip: &IpFields) -> (&'static str, u32) {
    match ip {
        IpFields::V4(_) => ("IP", ORDER_IP),
        IpFields::V6(_) => ("IPv6", ORDER_IPV6),
    }
}

fn compare_tcp(c: &mut Collector, a: &TcpSegment<'_>, b: &TcpSegment<'_>) {
    let (l, o) = ("TCP", ORDER_TCP);
    c.field(o, l, "SrcPort", a.src_port, b.src_port);
    c.field(o, l, "DstPort", a.dst_port, b.dst_port);
    c.field(o, l, "SeqNumber", a.seq, b.seq);
    c.opt_field(o, l, "AckNumber", a.ack, b.ack);
    c.opt_field(o, l, "DataOffset", a.data_offset, b.data_offset);
    c.opt_field(o, l, "Reserved", a.reserved, b.reserved);
    c.opt_field(
        o,
        l,
        "Flags",
        a.flags.map(FlagsText),
        b.flags.map(FlagsText),
    );
    c.opt_field(o, l, "WindowsSize", a.window, b.window);
    c.opt_field(
        o,
        l,
        "CheckSum",
        a.checksum.map(Hex16),
        b.checksum.map(Hex16),
    );
    c.opt_field(o, l, "UrgPointer", a.urgent, b.urgent);
}

#[derive(PartialEq)]
struct FlagsText(TcpFlags);
impl fmt::Display for FlagsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which libcrafter layer an option is, for naming and ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OptionClass {
    name: &'static str,
    order: u32,
    /// Kind byte, and for MPTCP the subtype (pairs options of one class).
    key: (u8, Option<u8>),
}

fn class_of(option: &TcpOption<'_>) -> Option<OptionClass> {
    let kind = option.kind()?;
    let (name, order, subtype) = match kind {
        0 | 1 => return None, // EOL / NOP: padding, ignored
        2 => ("TCPOptionMaxSegSize", 0x9001, None),
        8 => ("TCPOptionTimestamp", 0x9002, None),
        4 => ("TCPOptionSACKPermitted", 0x9004, None),
        5 => ("TCPOptionSACK", 0x9005, None),
        3 => ("TCPOptionWindowScale", 0x9008, None),
        KIND_MPTCP => {
            let subtype = mptcp_subtype(option);
            match subtype {
                Some(SUBTYPE_MP_CAPABLE) => ("TCPOptionMPTCPCapable", 0x9007, subtype),
                Some(SUBTYPE_MP_JOIN) => ("TCPOptionMPTCPJoin", 0x9009, subtype),
                _ => ("TCPOptionMPTCP", 0x9006, subtype),
            }
        }
        // GUESS: libcrafter has a TCPOptionFastOpen layer; its protocol id
        // (and so its place in the order) is not confirmed.
        34 => ("TCPOptionFastOpen", 0x900a, None),
        // GUESS: libcrafter has no MD5 layer; named in its style.
        19 => ("TCPOptionMD5", 0x9100, None),
        // GUESS: unknown kinds as libcrafter's generic "TCPOption" layer.
        _ => ("TCPOption", 0x9101, None),
    };
    Some(OptionClass {
        name,
        order,
        key: (kind, subtype),
    })
}

/// The subtype nibble of an MPTCP option, whatever the decoder made of it.
fn mptcp_subtype(option: &TcpOption<'_>) -> Option<u8> {
    let mut raw = [0u8; 40];
    let len = option.buffer_len();
    if len > raw.len() || len < 3 {
        return None;
    }
    option.emit(&mut raw);
    Some(raw[2] >> 4)
}

/// The MP_CAPABLE fields of an MPTCP option: from the codec's decoding when
/// it made one, else read from the raw bytes (an option the codec marked
/// invalid for its flags still has a version and a key worth comparing).
fn mp_capable_of(option: &TcpOption<'_>) -> Option<MpCapable> {
    let TcpOption::Mptcp(m) = option else {
        return None;
    };
    if let MptcpOption::MpCapable(c) = m {
        return Some(*c);
    }
    let mut raw = [0u8; 40];
    let len = option.buffer_len();
    if len > raw.len() || len < 4 {
        return None;
    }
    option.emit(&mut raw);
    let raw = &raw[..len];
    if raw[2] >> 4 != SUBTYPE_MP_CAPABLE {
        return None;
    }
    let u64_at = |at: usize| {
        raw.get(at..at + 8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let u16_at = |at: usize| {
        raw.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    // Each field needs the ones before it, as `from_fields` wants.
    MpCapable::from_fields(
        raw[2] & 0x0f,
        raw[3],
        if len >= 12 { u64_at(4) } else { None },
        if len >= 20 { u64_at(12) } else { None },
        if len >= 22 { u16_at(20) } else { None },
        if len >= 24 { u16_at(22) } else { None },
    )
}

/// The options of a segment with their class, padding left out. A framing
/// error ends the list (a cut quote ends inside an option).
fn classified<'a>(seg: &TcpSegment<'a>) -> Vec<(OptionClass, TcpOption<'a>)> {
    OptionList::parse(seg.options, seg.flags)
        .options
        .into_iter()
        .filter_map(|o| class_of(&o).map(|c| (c, o)))
        .collect()
}

fn compare_options(c: &mut Collector, sent: &TcpSegment<'_>, seen: &TcpSegment<'_>, partial: bool) {
    let a = classified(sent);
    let b = classified(seen);
    // Pair the n-th option of each class in `a` with the n-th of that class in `b`.
    let mut used = vec![false; b.len()];
    for (class, option) in &a {
        let partner = b
            .iter()
            .enumerate()
            .find(|(i, (k, _))| !used[*i] && k.key == class.key);
        match partner {
            Some((i, (_, seen_option))) => {
                used[i] = true;
                compare_option(c, *class, option, seen_option);
            }
            None if !partial => c.push(
                class.order,
                Difference {
                    layer: class.name,
                    field: None,
                    change: Change::Removed,
                    sent: option_text(option),
                    seen: String::new(),
                },
            ),
            None => {}
        }
    }
    for (i, (class, option)) in b.iter().enumerate() {
        if !used[i] {
            c.push(
                class.order,
                Difference {
                    layer: class.name,
                    field: None,
                    change: Change::Added,
                    sent: String::new(),
                    seen: option_text(option),
                },
            );
        }
    }
}

fn option_text(option: &TcpOption<'_>) -> String {
    let mut raw = vec![0u8; option.buffer_len()];
    option.emit(&mut raw);
    hex::encode(raw)
}

fn compare_option(c: &mut Collector, class: OptionClass, a: &TcpOption<'_>, b: &TcpOption<'_>) {
    let (l, o) = (class.name, class.order);
    let before = c.items.len();
    match (a, b) {
        (TcpOption::Mss(x), TcpOption::Mss(y)) => c.field(o, l, "MaxSegSize", x, y),
        (TcpOption::WindowScale(x), TcpOption::WindowScale(y)) => c.field(o, l, "Shift", x, y),
        (
            TcpOption::Timestamps { tsval, tsecr },
            TcpOption::Timestamps {
                tsval: v2,
                tsecr: e2,
            },
        ) => {
            c.field(o, l, "Value", tsval, v2);
            c.field(o, l, "EchoReply", tsecr, e2);
        }
        _ => {
            if let (Some(x), Some(y)) = (mp_capable_of(a), mp_capable_of(b)) {
                compare_mp_capable(c, class, a, b, x, y);
            }
        }
    }
    // Anything else that differs (a SACK block, a cookie, an MP_CAPABLE
    // receiver key, a length) shows as the layer name alone, as tracebox
    // prints a payload change.
    if c.items.len() == before && a != b && option_text(a) != option_text(b) {
        c.push(
            o,
            Difference {
                layer: l,
                field: None,
                change: Change::Modified,
                sent: option_text(a),
                seen: option_text(b),
            },
        );
    }
}

fn compare_mp_capable(
    c: &mut Collector,
    class: OptionClass,
    a: &TcpOption<'_>,
    b: &TcpOption<'_>,
    x: MpCapable,
    y: MpCapable,
) {
    let (l, o) = (class.name, class.order);
    // GUESS: libcrafter's MPTCP layers start with Kind/Length/Subtype
    // fields; a length change is named after that Length field.
    c.field(o, l, "Length", a.buffer_len(), b.buffer_len());
    c.field(o, l, "Version", x.version, y.version);
    // libcrafter splits the flags byte: Checksum (A), Flags (B..G), Crypto (H).
    c.field(o, l, "Checksum", x.flags >> 7, y.flags >> 7);
    c.field(o, l, "Flags", (x.flags >> 1) & 0x3f, (y.flags >> 1) & 0x3f);
    c.field(o, l, "Crypto", x.flags & 1, y.flags & 1);
    if let (Some(k1), Some(k2)) = (x.sender_key(), y.sender_key()) {
        c.field(o, l, "Sender's Key", KeyText(k1), KeyText(k2));
    }
}

#[derive(PartialEq)]
struct KeyText(u64);
impl fmt::Display for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::ProbeBuilder;
    use crate::ip::parse_ip_tcp;

    /// MP_CAPABLE v0 SYN (12 bytes): version 0, flags A+H, key 0x0102..08.
    const MPC_V0: [u8; 10] = [0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8];
    /// MP_CAPABLE v1 SYN (4 bytes): version 1, flags A+H.
    const MPC_V1: [u8; 2] = [0x01, 0x81];

    fn probe(options: Vec<TcpOption<'static>>) -> ProbeBuilder<'static> {
        let mut b = ProbeBuilder::new(
            "10.0.0.1".parse().unwrap(),
            "10.0.9.9".parse().unwrap(),
            40000,
            6101,
        )
        .seq(1000)
        .options(options);
        b.ip_id = 7;
        b
    }

    fn syn_options(mpc: &'static [u8]) -> Vec<TcpOption<'static>> {
        vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps { tsval: 1, tsecr: 0 },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
            TcpOption::Unknown {
                kind: KIND_MPTCP,
                data: mpc,
            },
        ]
    }

    fn diff_of(sent: &ProbeBuilder<'_>, seen: &[u8]) -> HeaderDiff {
        let sent = sent.build().unwrap();
        diff(&parse_ip_tcp(&sent).unwrap(), &parse_ip_tcp(seen).unwrap())
    }

    #[test]
    fn identical_headers_have_no_difference() {
        let b = probe(syn_options(&MPC_V1));
        let d = diff_of(&b, &b.build().unwrap());
        assert!(d.is_empty() && !d.partial);
        assert_eq!(d.to_string(), "");
    }

    #[test]
    fn ttl_decrement_as_in_tracebox_basic_lab() {
        // tracebox tests/labs/BASIC.out, hop 2: "IP::TTL IP::CheckSum".
        let sent = probe(syn_options(&MPC_V1)).ttl(2);
        let seen = sent.clone().ttl(1).build().unwrap();
        let d = diff_of(&sent, &seen);
        assert_eq!(d.to_string(), "IP::TTL IP::CheckSum");
        assert_eq!(d.differences[0].sent, "2");
        assert_eq!(d.differences[0].seen, "1");
        assert!(d.verbose().starts_with("IP::TTL (2 -> 1) IP::CheckSum (0x"));
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json["differences"][0],
            serde_json::json!({"name": "IP::TTL", "change": "modified", "sent": "2", "seen": "1"})
        );
        assert_eq!(json["partial"], false);
    }

    #[test]
    fn mss_and_window_rewrites_in_tracebox_order() {
        // tracebox tests/labs/MSS.out hop 2 and WIN.out hop 2: TCP fields
        // first, then IP, then option layers.
        let sent = probe(syn_options(&MPC_V1)).ttl(2);
        let mut seen = sent.clone().ttl(1);
        seen.options[0] = TcpOption::Mss(1380);
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(
            d.to_string(),
            "TCP::CheckSum IP::TTL IP::CheckSum TCPOptionMaxSegSize::MaxSegSize"
        );
        let mut seen = sent.clone().ttl(1);
        seen.window = 1000;
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(
            d.to_string(),
            "TCP::WindowsSize TCP::CheckSum IP::TTL IP::CheckSum"
        );
    }

    #[test]
    fn ecn_and_ipid_as_in_tracebox_labs() {
        // ECN.out hop 1 and IPID.out hop 1.
        let sent = probe(vec![]);
        let mut seen = sent.clone();
        seen.ecn = 1;
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(d.to_string(), "IP::ExpCongestionNot IP::CheckSum");
        let mut seen = sent.clone();
        seen.ip_id = 8;
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(d.to_string(), "IP::Identification IP::CheckSum");
        assert_eq!(d.differences[0].sent, "0x0007");
    }

    #[test]
    fn mp_capable_replaced_by_nops_is_removed() {
        // What iptables TCPOPTSTRIP does: the 4 option bytes become NOPs,
        // the TCP checksum is fixed, the data offset stays.
        let sent = probe(syn_options(&MPC_V1));
        let mut seen = sent.clone();
        seen.options.pop();
        seen.options.extend(std::iter::repeat_n(TcpOption::Nop, 4));
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(d.to_string(), "TCP::CheckSum -TCPOptionMPTCPCapable");
        assert_eq!(d.differences[1].sent, "1e040181");
        // Removed outright (data offset shrinks) is named the same way.
        let mut seen = sent.clone();
        seen.options.pop();
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(
            d.to_string(),
            "TCP::DataOffset TCP::CheckSum IP::TotalLength IP::CheckSum -TCPOptionMPTCPCapable"
        );
    }

    #[test]
    fn added_option_and_mp_capable_fields() {
        let sent = probe(syn_options(&MPC_V0));
        // Key rewritten.
        let mut seen = sent.clone();
        static OTHER_KEY: [u8; 10] = [0x00, 0x81, 9, 9, 9, 9, 9, 9, 9, 9];
        *seen.options.last_mut().unwrap() = TcpOption::Unknown {
            kind: KIND_MPTCP,
            data: &OTHER_KEY,
        };
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(
            d.to_string(),
            "TCP::CheckSum TCPOptionMPTCPCapable::Sender's Key"
        );
        assert_eq!(d.differences[1].sent, "0102030405060708");
        // Version and checksum flag rewritten (and so the length).
        static V1_NO_CSUM: [u8; 2] = [0x01, 0x01];
        *seen.options.last_mut().unwrap() = TcpOption::Unknown {
            kind: KIND_MPTCP,
            data: &V1_NO_CSUM,
        };
        let d = diff_of(&sent, &seen.build().unwrap());
        assert!(d.has("TCPOptionMPTCPCapable::Length"), "{d}");
        assert!(d.has("TCPOptionMPTCPCapable::Version"), "{d}");
        assert!(d.has("TCPOptionMPTCPCapable::Checksum"), "{d}");
        assert!(!d.has("TCPOptionMPTCPCapable::Sender's Key"), "{d}");
        // An option appears.
        let sent = probe(vec![TcpOption::Mss(1460)]);
        let mut seen = sent.clone();
        seen.options.push(TcpOption::WindowScale(2));
        let d = diff_of(&sent, &seen.build().unwrap());
        assert!(d.has("+TCPOptionWindowScale"), "{d}");
        assert!(d.has("TCP::DataOffset"), "{d}");
    }

    #[test]
    fn partial_quote_claims_no_removal() {
        let sent = probe(syn_options(&MPC_V1)).ttl(2);
        let seen = sent.clone().ttl(1).build().unwrap();
        // RFC 792: IP header + 8 bytes of TCP.
        let d = diff_of(&sent, &seen[..28]);
        assert!(d.partial);
        assert_eq!(d.to_string(), "[PARTIAL] IP::TTL IP::CheckSum");
        // Cut inside the options: the MSS is still compared, nothing removed.
        let mut changed = sent.clone().ttl(1);
        changed.options[0] = TcpOption::Mss(1400);
        let seen = changed.build().unwrap();
        let d = diff_of(&sent, &seen[..46]);
        assert_eq!(
            d.to_string(),
            "[PARTIAL] TCP::CheckSum IP::TTL IP::CheckSum TCPOptionMaxSegSize::MaxSegSize"
        );
    }

    #[test]
    fn kernel_quote_of_the_expiring_hop_shows_no_change() {
        // A Linux router quotes the packet as it arrived (TTL not yet
        // decremented), so the quote of hop 1 equals what was sent.
        let sent = hex::decode(crate::icmp::tests::SENT_V4).unwrap();
        let icmp = hex::decode(crate::icmp::tests::KERNEL_TE_V4).unwrap();
        let r = crate::icmp::parse_icmp_packet(&icmp).unwrap();
        let d = diff(
            &parse_ip_tcp(&sent).unwrap(),
            &r.message.quoted_tcp().unwrap(),
        );
        assert!(d.is_empty(), "{d}");
        assert!(!d.partial);
    }

    /// The probe of tests/kernel_icmp.rs with source port `sport`.
    fn lab_probe(src: &str, dst: &str, sport: u16, ttl: u8) -> Vec<u8> {
        let mut b = ProbeBuilder::new(src.parse().unwrap(), dst.parse().unwrap(), sport, 6101)
            .ttl(ttl)
            .seq(0x1122_3344 + u32::from(sport))
            .options(syn_options(&MPC_V1));
        b.ip_id = sport;
        b.flow_label = 0xabcde;
        b.build().unwrap()
    }

    #[test]
    fn kernel_quote_of_the_second_hop() {
        use crate::icmp::tests::{
            KERNEL_TE_V4_HOP2, KERNEL_TE_V4_HOP2_STRIPPED, KERNEL_TE_V6_HOP2,
        };
        let cases = [
            (
                lab_probe("10.91.1.1", "10.91.3.2", 40002, 2),
                KERNEL_TE_V4_HOP2,
                "IP::TTL IP::CheckSum",
            ),
            (
                lab_probe("fd91:1::1", "fd91:3::2", 40005, 2),
                KERNEL_TE_V6_HOP2,
                "IPv6::HopLimit",
            ),
            (
                lab_probe("10.91.1.1", "10.91.3.2", 40012, 2),
                KERNEL_TE_V4_HOP2_STRIPPED,
                "TCP::CheckSum IP::TTL IP::CheckSum -TCPOptionMPTCPCapable",
            ),
        ];
        for (sent, icmp, expect) in cases {
            let icmp = hex::decode(icmp).unwrap();
            let r = crate::icmp::parse_icmp_packet(&icmp).unwrap();
            let sent = parse_ip_tcp(&sent).unwrap();
            let d = diff(&sent, &r.message.quoted_tcp().unwrap());
            assert_eq!(d.to_string(), expect);
            // Every cut of the ICMP packet: an error or a diff, never a
            // panic, and a cut quote never claims a removed option.
            for cut in 0..icmp.len() {
                let Ok(r) = crate::icmp::parse_icmp_packet(&icmp[..cut]) else {
                    continue;
                };
                if let Ok(q) = r.message.quoted_tcp() {
                    let d = diff(&sent, &q);
                    assert!(
                        !d.differences.iter().any(|x| x.change == Change::Removed),
                        "cut {cut}: {d}"
                    );
                }
            }
        }
    }

    #[test]
    fn ipv6_fields_and_family_change() {
        let src6 = "fd00::1".parse().unwrap();
        let dst6 = "fd00::2".parse().unwrap();
        let mut sent = ProbeBuilder::new(src6, dst6, 1, 2);
        sent.flow_label = 5;
        let mut seen = sent.clone().ttl(63);
        seen.flow_label = 6;
        let d = diff_of(&sent, &seen.build().unwrap());
        assert_eq!(d.to_string(), "IPv6::FlowLabel IPv6::HopLimit");
        let v4 = probe(vec![]).build().unwrap();
        let d = diff_of(&sent, &v4);
        assert!(d.has("-IPv6") && d.has("+IP"), "{d}");
    }
}
