//! Any bytes as an outer IP packet, an ICMPv4 message and an ICMPv6
//! message: parsing, quote classification, the tolerant TCP view and the
//! diff against a fixed probe must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use packet::diff::diff;
use packet::icmp::{parse_icmp_packet, IcmpFamily, IcmpMessage};
use packet::ip::parse_ip_tcp;

/// A v1 MP_CAPABLE SYN (the probe the quotes are compared with).
const PROBE: &str = "4500004012344000400614820a0000010a0000029c4017d5112233440000\
    0000b002faf011070000020405b40402080a0000000100000000010303071e040181";

fn exercise(message: &IcmpMessage<'_>, probe: &[u8]) {
    let _ = message.type_name();
    let _ = message.code_name();
    let _ = message.quote_kind();
    if let Some(Ok(ext)) = &message.extensions {
        for object in &ext.objects {
            let _ = object.mpls_labels();
        }
    }
    if let Ok(quote) = message.quoted_tcp() {
        let _ = quote.tcp_checksum_ok();
        let _ = quote.ip_checksum_ok();
        if let Ok(sent) = parse_ip_tcp(probe) {
            let d = diff(&sent, &quote);
            let _ = d.to_string();
            let _ = d.verbose();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let probe = hex_decode(PROBE);
    if let Ok(r) = parse_icmp_packet(data) {
        let _ = r.checksum_ok;
        exercise(&r.message, &probe);
    }
    for family in [IcmpFamily::V4, IcmpFamily::V6] {
        if let Ok(m) = IcmpMessage::parse(family, data) {
            exercise(&m, &probe);
        }
    }
    if let Ok(seg) = parse_ip_tcp(data) {
        let _ = seg.tcp_checksum_ok();
        if let Ok(sent) = parse_ip_tcp(&probe) {
            let _ = diff(&sent, &seg).to_string();
            let _ = diff(&seg, &sent).to_string();
        }
    }
});

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect()
}
