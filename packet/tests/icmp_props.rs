//! Arbitrary bytes and arbitrary single-byte corruptions of a real ICMP
//! quote: parsing, classification and the diff return, never panic, and
//! every corrupted byte of a quote shows in the diff.
use packet::diff::diff;
use packet::icmp::{parse_icmp_packet, IcmpFamily, IcmpMessage};
use proptest::prelude::*;

/// Router 2 of the namespace lab quoting a TTL-2 SYN (see src/icmp.rs).
const KERNEL_TE_V4_HOP2: &str = "45c0005c024f00003f0160da0a5b02020a5b01010b000deb00000000\
    450000409c4240000106c4bd0a5b01010a5b03029c4217d51122cf8600000000b002faf0700c00000204\
    05b40402080a0000000100000000010303071e040181";

fn exercise(m: &IcmpMessage<'_>) {
    let _ = (m.type_name(), m.code_name(), m.quote_kind());
    if let Ok(q) = m.quoted() {
        let _ = (q.tcp.tcp_checksum_ok(), q.tcp.ip_checksum_ok());
        let _ = diff(&q.tcp, &q.tcp).to_string();
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = parse_icmp_packet(&data) {
            exercise(&r.message);
        }
        for family in [IcmpFamily::V4, IcmpFamily::V6] {
            if let Ok(m) = IcmpMessage::parse(family, &data) {
                exercise(&m);
            }
        }
    }

}

/// Exhaustive: every value of every byte of the quoted headers.
#[test]
fn every_corrupted_quote_byte_shows() {
    let original = hex::decode(KERNEL_TE_V4_HOP2).unwrap();
    let good = parse_icmp_packet(&original).unwrap();
    let sent = good.message.quoted_tcp().unwrap();
    for at in 28..original.len() {
        for value in 0..=255u8 {
            let mut icmp = original.clone();
            icmp[at] = value;
            let Ok(r) = parse_icmp_packet(&icmp) else {
                continue;
            };
            let Ok(q) = r.message.quoted_tcp() else {
                continue;
            };
            let d = diff(&sent, &q);
            // Every byte of the quoted headers belongs to a compared field
            // or option (this probe has no padding), so a changed byte
            // always shows, and an unchanged one never does.
            assert_eq!(
                d.is_empty(),
                value == original[at],
                "byte {at} = {value}: {d}"
            );
            let _ = d.verbose();
        }
    }
}
