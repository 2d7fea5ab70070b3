//! Property tests: every representation the codec can produce round-trips
//! through emit and parse, and arbitrary bytes round-trip through parse and
//! emit (MPTCP options and whole option areas), never panicking.
use packet::json::{option_json, option_list_json};
use packet::mptcp::*;
use packet::{OptionList, TcpFlags};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn capable() -> impl Strategy<Value = MpCapable> {
    (
        0u8..16,
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        any::<u16>(),
        0usize..5,
    )
        .prop_map(|(version, flags, k1, k2, dl, ck, shape)| {
            // v0 has only the 12- and 20-byte forms.
            let shape = if version == 0 { 1 + shape % 2 } else { shape };
            MpCapable::from_fields(
                version,
                flags,
                (shape >= 1).then_some(k1),
                (shape >= 2).then_some(k2),
                (shape >= 3).then_some(dl),
                (shape >= 4).then_some(ck),
            )
            .expect("every field of a shape has the ones before it")
        })
}

fn join() -> impl Strategy<Value = MpJoin> {
    let body = prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(token, nonce)| JoinBody::Syn { token, nonce }),
        (any::<u64>(), any::<u32>()).prop_map(|(hmac, nonce)| JoinBody::SynAck { hmac, nonce }),
        any::<[u8; 20]>().prop_map(|hmac| JoinBody::Ack { hmac }),
    ];
    (0u8..16, any::<u8>(), body)
        .prop_map(|(flags, addr_id, body)| MpJoin::new(flags, addr_id, body))
}

fn dss() -> impl Strategy<Value = Dss> {
    (
        0u8..16,
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u16>(),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(|(reserved, flags, ack, dsn, ssn, dll, checksum)| {
            let width = |wide: bool, v: u64| if wide { v } else { v & 0xffff_ffff };
            Dss::from_parts(
                reserved,
                flags,
                (flags & dss_flag::ACK != 0).then(|| width(flags & dss_flag::ACK64 != 0, ack)),
                (flags & dss_flag::MAP != 0).then(|| DssMapping {
                    dsn: width(flags & dss_flag::DSN64 != 0, dsn),
                    ssn,
                    dll,
                    checksum,
                }),
            )
        })
}

fn ip(v6: bool, a: u32, b: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        IpAddr::V4(Ipv4Addr::from(a))
    }
}

fn add_addr() -> impl Strategy<Value = AddAddr> {
    (
        0usize..3,
        any::<bool>(),
        any::<u32>(),
        any::<u128>(),
        any::<u8>(),
        proptest::option::of(any::<u16>()),
        any::<u64>(),
        0u8..8,
    )
        .prop_map(|(form, v6, a, b, addr_id, port, hmac, bits)| {
            let addr = ip(v6, a, b);
            match form {
                0 => AddAddr::v0(addr_id, addr, port),
                // v1 announcement: E clear, reserved bits anything but the v0 IPVer values.
                1 => {
                    let mut a = AddAddr::v1(addr_id, addr, port, hmac);
                    a.flags = match (bits << 1) & 0x0e {
                        4 | 6 => 0,
                        f => f,
                    };
                    a
                }
                _ => {
                    let mut a = AddAddr::v1_echo(addr_id, addr, port);
                    a.flags = ((bits << 1) & 0x0e) | 1;
                    a
                }
            }
        })
}

/// Options that borrow their data are built from owned parts in the test.
#[derive(Debug, Clone)]
enum Owned {
    Static(MptcpOption<'static>),
    RemoveAddr(u8, Vec<u8>),
    Unknown(u8, Vec<u8>),
}

fn any_option() -> impl Strategy<Value = Owned> {
    prop_oneof![
        capable().prop_map(|c| Owned::Static(MptcpOption::MpCapable(c))),
        join().prop_map(|j| Owned::Static(MptcpOption::MpJoin(j))),
        dss().prop_map(|d| Owned::Static(MptcpOption::Dss(d))),
        add_addr().prop_map(|a| Owned::Static(MptcpOption::AddAddr(a))),
        (0u8..16, proptest::collection::vec(any::<u8>(), 1..40))
            .prop_map(|(r, ids)| Owned::RemoveAddr(r, ids)),
        (0u8..16, proptest::option::of(any::<u8>())).prop_map(|(flags, addr_id)| Owned::Static(
            MptcpOption::MpPrio(MpPrio { flags, addr_id })
        )),
        (0u16..4096, any::<u64>()).prop_map(|(reserved, dsn)| Owned::Static(MptcpOption::MpFail(
            MpFail { reserved, dsn }
        ))),
        (0u16..4096, any::<u64>()).prop_map(|(reserved, receiver_key)| {
            Owned::Static(MptcpOption::MpFastclose(MpFastclose {
                reserved,
                receiver_key,
            }))
        }),
        (0u8..16, any::<u8>()).prop_map(|(f, r)| Owned::Static(MptcpOption::MpTcpRst(MpTcpRst {
            flags: f,
            reason: r
        }))),
        (9u8..16, proptest::collection::vec(any::<u8>(), 0..30))
            .prop_map(|(s, d)| Owned::Unknown(s, d)),
    ]
}

fn roundtrip(opt: &MptcpOption<'_>, flags: u8) {
    let mut buf = vec![0xa5u8; opt.buffer_len() + 8];
    let n = opt.emit(&mut buf);
    assert_eq!(n, opt.buffer_len());
    assert!(buf[n..].iter().all(|&b| b == 0xa5));
    let wire = &buf[..n];
    assert_eq!(usize::from(wire[1]), n);
    let back = MptcpOption::parse(wire, None);
    assert_eq!(&back, opt, "bytes {}", hex::encode(wire));
    match MptcpOption::parse(wire, Some(TcpFlags(flags))) {
        MptcpOption::Invalid {
            error: MptcpError::FlagMismatch { .. },
            raw,
        } => assert_eq!(raw, wire),
        other => assert_eq!(&other, opt),
    }
    let _ = (back.to_string(), back.subtype_name());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_repr_roundtrips(owned in any_option(), flags in any::<u8>()) {
        match owned {
            Owned::Static(o) => roundtrip(&o, flags),
            Owned::RemoveAddr(reserved, ids) => {
                roundtrip(&MptcpOption::RemoveAddr(RemoveAddr { reserved, addr_ids: &ids }), flags)
            }
            Owned::Unknown(subtype, mut data) => {
                data.insert(0, subtype << 4);
                roundtrip(&MptcpOption::Unknown { subtype, data: &data }, flags)
            }
        }
    }

    #[test]
    fn arbitrary_mptcp_bytes_reemit_identically(body in proptest::collection::vec(any::<u8>(), 0..38), flags in proptest::option::of(any::<u8>())) {
        let mut raw = vec![30u8, (body.len() + 2) as u8];
        raw.extend_from_slice(&body);
        let opt = MptcpOption::parse(&raw, flags.map(TcpFlags));
        prop_assert_eq!(opt.buffer_len(), raw.len());
        prop_assert_eq!(opt.to_bytes(), raw.clone());
        let _ = (opt.to_string(), format!("{opt:#}"));
    }

    #[test]
    fn arbitrary_areas_reemit_identically(area in proptest::collection::vec(any::<u8>(), 0..60), flags in proptest::option::of(any::<u8>())) {
        let list = OptionList::parse(&area, flags.map(TcpFlags));
        prop_assert_eq!(list.to_bytes(), area.clone());
        let _ = (list.to_string(), list.tcpdump_items(), option_list_json(&list));
        for o in &list.options {
            let _ = (o.to_string(), option_json(o));
        }
    }

    /// Areas built from MPTCP-looking options (kind 30 with plausible lengths)
    /// reach the subtype decoders far more often than uniform bytes.
    #[test]
    fn mptcp_heavy_areas_reemit_identically(
        parts in proptest::collection::vec((0u8..16, 0u8..16, proptest::collection::vec(any::<u8>(), 0..30)), 0..4),
        flags in any::<u8>(),
    ) {
        let mut area = Vec::new();
        for (subtype, low, body) in parts {
            area.extend_from_slice(&[30, (body.len() + 3) as u8, (subtype << 4) | low]);
            area.extend_from_slice(&body);
        }
        let list = OptionList::parse(&area, Some(TcpFlags(flags)));
        prop_assert!(list.error.is_none());
        prop_assert_eq!(list.to_bytes(), area.clone());
        let _ = (list.to_string(), option_list_json(&list));
    }
}
