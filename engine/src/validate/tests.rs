//! Crafted reports and answers: each check refuses what it is for, and a
//! consistent report passes in both option forms, over IPv4 and IPv6,
//! through a dual-stack listener and through a NAT.
use super::*;
use packet::echo::{ConnectionInfo, HostReadiness, OptionSummary, ProbeObservation, ECHO_VERSION};
use packet::json::option_list_json;
use packet::tcp_opt::OptionList;

const V1_SYN: &str = "020405b40402080a0000000100000000010303071e040101";
const PLAIN_SYN_ACK: &str = "020405b40402080a000000020000000101030307";

const CLIENT: &str = "10.1.0.1:40000";
const SERVER: &str = "10.2.0.2:6101";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// IP and TCP headers from `src` to `dst` with the option area `options`
/// (checksums are not checked by the parser).
fn header(src: SocketAddr, dst: SocketAddr, seq: u32, flags: u8, options: &str) -> Vec<u8> {
    let opt = hex::decode(options).unwrap();
    let tcp_len = 20 + opt.len();
    let mut b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = 20 + tcp_len;
            let mut b = vec![
                0x45,
                0,
                (total >> 8) as u8,
                total as u8,
                0,
                1,
                0x40,
                0,
                64,
                6,
                0,
                0,
            ];
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            b
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut b = vec![0x60, 0, 0, 0, 0, tcp_len as u8, 6, 64];
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            b
        }
        _ => panic!("one family"),
    };
    b.extend_from_slice(&src.port().to_be_bytes());
    b.extend_from_slice(&dst.port().to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    let ack: u32 = if flags & 0x10 != 0 { 1001 } else { 0 };
    b.extend_from_slice(&ack.to_be_bytes());
    b.push(((tcp_len / 4) as u8) << 4);
    b.push(flags);
    b.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
    b.extend_from_slice(&opt);
    b
}

/// The options of `area` as the server lists them in the summary form.
fn summary(area: &[u8], flags: u8) -> Vec<EchoOption> {
    let list = OptionList::parse(area, Some(TcpFlags(flags)));
    let mut at = 0;
    list.options
        .iter()
        .map(|o| {
            let raw = &area[at..at + o.buffer_len()];
            at += raw.len();
            EchoOption::Summary(OptionSummary {
                kind: o.kind(),
                len: raw.len(),
                name: "x".into(),
                text: "x".into(),
                hex: hex::encode(raw),
            })
        })
        .collect()
}

fn json_form(area: &[u8], flags: u8) -> Vec<EchoOption> {
    option_list_json(&OptionList::parse(area, Some(TcpFlags(flags))))
        .into_iter()
        .map(EchoOption::Json)
        .collect()
}

/// A segment as the server lists it, options in the summary form.
fn observed(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: u8,
    options: &str,
) -> ObservedSegment {
    let area = hex::decode(options).unwrap();
    ObservedSegment {
        hex: hex::encode(header(src, dst, seq, flags, options)),
        iface: "eth0".into(),
        ts: 1.0,
        src: src.ip().to_string(),
        dst: dst.ip().to_string(),
        sport: src.port(),
        dport: dst.port(),
        flags: TcpFlags(flags).to_string(),
        seq,
        ack: 0,
        window: 64240,
        ttl: 63,
        options: summary(&area, flags),
        mp_capable: None,
    }
}

/// A consistent report of the connection `peer` -> `local`.
fn report_of(peer: &str, local: &str) -> EchoReport {
    let (p, l) = (sa(peer), sa(local));
    let endpoint = |a: SocketAddr| Endpoint {
        addr: a.ip().to_string(),
        port: a.port(),
    };
    EchoReport {
        version: ECHO_VERSION,
        peer: endpoint(p),
        local: endpoint(l),
        syn: Some(observed(p, l, 1000, 0x02, V1_SYN)),
        syn_ack: Some(observed(l, p, 5000, 0x12, PLAIN_SYN_ACK)),
        connection: ConnectionInfo {
            mptcp: false,
            listener_mptcp: true,
            fallback_reason: None,
            info_flags: None,
        },
        readiness: HostReadiness::default(),
        warnings: Vec::new(),
        features: Vec::new(),
    }
}

fn ends(client: &str, server: &str) -> Ends {
    Ends {
        client: sa(client),
        server: sa(server),
    }
}

fn ours() -> Ends {
    ends(CLIENT, SERVER)
}

#[test]
fn a_consistent_report_passes() {
    assert_eq!(report(&report_of(CLIENT, SERVER), &ours()), Ok(()));
    let mut json = report_of(CLIENT, SERVER);
    for (seg, flags) in [(json.syn.as_mut(), 0x02), (json.syn_ack.as_mut(), 0x12)] {
        let seg = seg.unwrap();
        let bytes = hex::decode(&seg.hex).unwrap();
        seg.options = json_form(&bytes[40..], flags);
    }
    assert_eq!(report(&json, &ours()), Ok(()), "the JSON option form");
    let v6 = report_of("[2001:db8:1::1]:40000", "[2001:db8:2::2]:6101");
    assert_eq!(
        report(&v6, &ends("[2001:db8:1::1]:40000", "[2001:db8:2::2]:6101")),
        Ok(())
    );
    // No SYN captured: nothing to check but the ends.
    let mut bare = report_of(CLIENT, SERVER);
    bare.syn = None;
    bare.syn_ack = None;
    assert_eq!(report(&bare, &ours()), Ok(()));
}

#[test]
fn a_dual_stack_listener_and_a_nat_are_not_errors() {
    // The server's dual-stack socket names an IPv4 peer `::ffff:a.b.c.d`.
    let mut mapped = report_of(CLIENT, SERVER);
    mapped.peer.addr = "::ffff:10.1.0.1".into();
    mapped.local.addr = "::ffff:10.2.0.2".into();
    assert_eq!(report(&mapped, &ours()), Ok(()));
    // A NAT rewrote our address and port on the way: nothing to compare.
    let natted = report_of("192.0.2.7:61000", SERVER);
    assert_eq!(report(&natted, &ours()), Ok(()));
    // The server behind a 1:1 NAT sees its private address.
    let cloud = report_of(CLIENT, "172.31.0.5:6101");
    assert_eq!(report(&cloud, &ours()), Ok(()));
}

#[test]
fn another_connections_report_is_refused() {
    // Our address, another port: the report is about someone else's connection.
    let e = report(&report_of("10.1.0.1:40001", SERVER), &ours()).unwrap_err();
    assert!(matches!(e, ReportError::Connection { .. }), "{e}");
    assert!(e.to_string().contains("10.1.0.1:40001"), "{e}");
    let e = report(&report_of(CLIENT, "10.2.0.2:6102"), &ours()).unwrap_err();
    assert!(matches!(e, ReportError::Connection { .. }), "{e}");
}

#[test]
fn a_syn_hex_that_does_not_parse_is_refused() {
    // Today's adapter read this as "arrived without MP_CAPABLE".
    let mut r = report_of(CLIENT, SERVER);
    r.syn.as_mut().unwrap().hex = "zz".into();
    let e = report(&r, &ours()).unwrap_err();
    assert_eq!(
        e,
        ReportError::NotHex {
            segment: "syn".into()
        }
    );
    let mut cut = report_of(CLIENT, SERVER);
    let seg = cut.syn.as_mut().unwrap();
    seg.hex.truncate(seg.hex.len() - 8);
    let e = report(&cut, &ours()).unwrap_err();
    assert!(matches!(e, ReportError::NotHeader { .. }), "{e}");
    let mut empty = report_of(CLIENT, SERVER);
    empty.syn_ack.as_mut().unwrap().hex = String::new();
    assert!(matches!(
        report(&empty, &ours()),
        Err(ReportError::NotHeader { .. })
    ));
}

#[test]
fn listed_options_must_be_those_of_the_hex() {
    // The listing claims MP_CAPABLE; the hex has NOPs in its place.
    let mut r = report_of(CLIENT, SERVER);
    let seg = r.syn.as_mut().unwrap();
    let stripped = "020405b40402080a00000001000000000103030701010101";
    let p = header(sa(CLIENT), sa(SERVER), 1000, 0x02, stripped);
    seg.hex = hex::encode(p);
    let e = report(&r, &ours()).unwrap_err();
    assert!(matches!(e, ReportError::Options { .. }), "{e}");
    // An option left out of the listing.
    let mut short = report_of(CLIENT, SERVER);
    short.syn.as_mut().unwrap().options.pop();
    assert!(matches!(
        report(&short, &ours()),
        Err(ReportError::Options { .. })
    ));
    // A listed option with the right bytes but another kind.
    let mut kind = report_of(CLIENT, SERVER);
    if let EchoOption::Summary(o) = &mut kind.syn.as_mut().unwrap().options[0] {
        o.kind = Some(3);
    }
    assert!(matches!(
        report(&kind, &ours()),
        Err(ReportError::Options { .. })
    ));
    // An entry of length 0 would never advance.
    let mut zero = report_of(CLIENT, SERVER);
    if let EchoOption::Summary(o) = &mut zero.syn.as_mut().unwrap().options[0] {
        o.len = 0;
    }
    assert!(matches!(
        report(&zero, &ours()),
        Err(ReportError::Options { .. })
    ));
}

#[test]
fn listed_fields_must_be_those_of_the_hex() {
    let mut r = report_of(CLIENT, SERVER);
    r.syn.as_mut().unwrap().seq = 7;
    let e = report(&r, &ours()).unwrap_err();
    assert!(matches!(&e, ReportError::Field { field: "seq", .. }), "{e}");
    let mut r = report_of(CLIENT, SERVER);
    r.syn.as_mut().unwrap().src = "\u{1b}[2J".into();
    let e = report(&r, &ours()).unwrap_err();
    assert!(matches!(&e, ReportError::Field { field: "src", .. }), "{e}");
    assert!(!e.to_string().contains('\u{1b}'), "quoted: {e}");
    let mut r = report_of(CLIENT, SERVER);
    r.syn_ack.as_mut().unwrap().dport = 1;
    assert!(matches!(
        report(&r, &ours()),
        Err(ReportError::Field { field: "dport", .. })
    ));
}

#[test]
fn segments_must_go_the_connections_way() {
    // Someone else's SYN, listed consistently, in this connection's report.
    let mut r = report_of(CLIENT, SERVER);
    r.syn = Some(observed(
        sa("10.9.9.9:40000"),
        sa(SERVER),
        1000,
        0x02,
        V1_SYN,
    ));
    let e = report(&r, &ours()).unwrap_err();
    assert!(matches!(e, ReportError::Direction { .. }), "{e}");
    // A SYN/ACK in the SYN's place.
    let mut r = report_of(CLIENT, SERVER);
    r.syn = Some(observed(sa(CLIENT), sa(SERVER), 1000, 0x12, PLAIN_SYN_ACK));
    assert!(matches!(
        report(&r, &ours()),
        Err(ReportError::Direction { .. })
    ));
    // The SYN/ACK going the SYN's way.
    let mut r = report_of(CLIENT, SERVER);
    r.syn_ack = Some(observed(sa(CLIENT), sa(SERVER), 5000, 0x12, PLAIN_SYN_ACK));
    assert!(matches!(
        report(&r, &ours()),
        Err(ReportError::Direction { .. })
    ));
    let mut r = report_of(CLIENT, SERVER);
    r.peer.addr = "not an address".into();
    assert!(matches!(
        report(&r, &ours()),
        Err(ReportError::Address { which: "peer", .. })
    ));
}

fn observation(from: &str, seq: u32) -> ProbeObservation {
    let (src, dst) = (sa(from), sa(SERVER));
    ProbeObservation {
        syn: observed(src, dst, seq, 0x02, V1_SYN),
        syn_ack: Some(observed(dst, src, 9, 0x12, PLAIN_SYN_ACK)),
    }
}

fn answer_of(observations: Vec<ProbeObservation>) -> ProbeAnswer {
    ProbeAnswer {
        version: ECHO_VERSION,
        observations,
        capture_drops: 0,
        displaced: 0,
        warnings: Vec::new(),
    }
}

#[test]
fn answers_hold_only_what_was_asked_from_this_address() {
    let peer = Endpoint {
        addr: "10.1.0.1".into(),
        port: 40000,
    };
    let good = answer_of(vec![
        observation("10.1.0.1:50001", 11),
        observation("10.1.0.1:50002", 12),
    ]);
    assert_eq!(answer(&good, &peer, &[11, 12, 13]), Ok(()));
    assert_eq!(answer(&answer_of(Vec::new()), &peer, &[11]), Ok(()));
    assert_eq!(
        answer(&good, &peer, &[11]),
        Err(ReportError::Unasked { seq: 12 })
    );
    let stranger = answer_of(vec![observation("10.7.0.7:50001", 11)]);
    assert!(matches!(
        answer(&stranger, &peer, &[11]),
        Err(ReportError::Stranger { seq: 11, .. })
    ));
    let mut bad_hex = observation("10.1.0.1:50001", 11);
    bad_hex.syn.hex = "0x".into();
    assert!(matches!(
        answer(&answer_of(vec![bad_hex]), &peer, &[11]),
        Err(ReportError::NotHex { .. })
    ));
    let mut wrong_way = observation("10.1.0.1:50001", 11);
    wrong_way.syn_ack = Some(observed(
        sa(SERVER),
        sa("10.1.0.1:50009"),
        9,
        0x12,
        PLAIN_SYN_ACK,
    ));
    assert!(matches!(
        answer(&answer_of(vec![wrong_way]), &peer, &[11]),
        Err(ReportError::Direction { .. })
    ));
}
