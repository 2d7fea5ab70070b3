//! Builder -> parser round trip for arbitrary field values.
use packet::build::{OptionPadding, ProbeBuilder};
use packet::ip::{parse_ip_tcp, IpFields};
use packet::{OptionList, TcpFlags, TcpOption};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn option() -> impl Strategy<Value = TcpOption<'static>> {
    prop_oneof![
        Just(TcpOption::Nop),
        any::<u16>().prop_map(TcpOption::Mss),
        any::<u8>().prop_map(TcpOption::WindowScale),
        Just(TcpOption::SackPermitted),
        (any::<u32>(), any::<u32>())
            .prop_map(|(tsval, tsecr)| TcpOption::Timestamps { tsval, tsecr }),
    ]
}

proptest! {
    #[test]
    fn build_then_parse(
        v6 in any::<bool>(),
        src4 in any::<u32>(), dst4 in any::<u32>(),
        src6 in any::<u128>(), dst6 in any::<u128>(),
        ttl in any::<u8>(), ip_id in any::<u16>(), dscp in 0u8..64, ecn in 0u8..4,
        df in any::<bool>(), flow_label in 0u32..0x10_0000,
        ports in any::<(u16, u16)>(), seq in any::<u32>(), ack in any::<u32>(),
        flags in any::<u8>(), window in any::<u16>(), urgent in any::<u16>(),
        options in proptest::collection::vec(option(), 0..4),
        nop_padding in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (Ipv6Addr::from(src6).into(), Ipv6Addr::from(dst6).into())
        } else {
            (Ipv4Addr::from(src4).into(), Ipv4Addr::from(dst4).into())
        };
        let mut b = ProbeBuilder::new(src, dst, ports.0, ports.1);
        b.ttl = ttl;
        b.ip_id = ip_id;
        b.dscp = dscp;
        b.ecn = ecn;
        b.dont_fragment = df;
        b.flow_label = flow_label;
        b.seq = seq;
        b.ack = ack;
        b.flags = TcpFlags(flags);
        b.window = window;
        b.urgent = urgent;
        b.options = options.clone();
        b.padding = if nop_padding { OptionPadding::Nop } else { OptionPadding::Eol };
        b.payload = &payload;
        let bytes = b.build().unwrap();
        let s = parse_ip_tcp(&bytes).unwrap();
        prop_assert_eq!((s.src(), s.dst(), s.ttl()), (src, dst, ttl));
        match s.ip {
            IpFields::V4(h) => {
                prop_assert!(!v6);
                prop_assert_eq!((h.identification, h.dscp, h.ecn, h.dont_fragment), (ip_id, dscp, ecn, df));
                prop_assert_eq!(usize::from(h.total_length), bytes.len());
            }
            IpFields::V6(h) => {
                prop_assert!(v6);
                prop_assert_eq!((h.flow_label, h.dscp(), h.ecn()), (flow_label, dscp, ecn));
                prop_assert_eq!(usize::from(h.payload_length) + 40, bytes.len());
            }
        }
        prop_assert_eq!((s.src_port, s.dst_port, s.seq), (ports.0, ports.1, seq));
        prop_assert_eq!((s.ack, s.flags, s.window, s.urgent), (Some(ack), Some(TcpFlags(flags)), Some(window), Some(urgent)));
        prop_assert_eq!(s.payload, &payload[..]);
        prop_assert_eq!(s.ip_checksum_ok(), if v6 { None } else { Some(true) });
        prop_assert_eq!(s.tcp_checksum_ok(), Some(true));
        // The options come back in order, followed only by padding.
        let list = OptionList::parse(s.options, s.flags);
        prop_assert!(list.error.is_none());
        prop_assert_eq!(&list.options[..options.len()], &options[..]);
        for pad in &list.options[options.len()..] {
            prop_assert!(matches!(pad, TcpOption::Nop | TcpOption::Eol | TcpOption::Padding(_)));
        }
        // Every cut is an error or a view that knows it is cut.
        for cut in 0..bytes.len() {
            if let Ok(t) = parse_ip_tcp(&bytes[..cut]) {
                prop_assert!(t.tcp_checksum_ok().is_none());
            }
        }
    }
}
