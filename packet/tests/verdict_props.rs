//! Properties of the verdict engine over arbitrary inputs: total (never
//! panics), deterministic, JSON-replayable, and sound in what it claims.
use packet::verdict::{
    evaluate, find_capable, AnswerHeader, ConnectOutcome, Direction, HopOption, KernelConnection,
    LocalHost, MiddleboxKind, OptionArea, ProbeAnswer, ProbeKind, ProbeResult, QuoteKind,
    ServerProbeSeen, ServerReport, Trace, TraceHop, Translation, VerdictCode, VerdictInput,
    VersionSource,
};
use proptest::prelude::*;
use std::net::IpAddr;

// Real option areas (lab captures and tcpdump's mptcp-v1/v0 pcaps) as seeds.
const SEEDS: [&str; 7] = [
    "020405b40402080a783500da000000000103030a1e040101",
    "020405b40402080a3242b48e783500da0103030a1e0c01015b309c0a6ceb8b9f",
    "020405b40402080abba48eab000000000103030a01010101",
    "020405b40402080a340b0e5ec1ab704b0103030a",
    "020405b40402080affffa1b000000000010303061e0c00819c9eabd1e46a33b2",
    "020405b40402080affffa2ebffffa1b0010303051e0c0081967d2770b6960552",
    "1e040101",
];

fn area() -> impl Strategy<Value = OptionArea> {
    let seed = (0..SEEDS.len()).prop_map(|i| OptionArea::from_hex(SEEDS[i]).unwrap());
    prop_oneof![
        seed.clone(),
        // A seed with a few bytes rewritten or cut short.
        (
            seed,
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
            any::<usize>()
        )
            .prop_map(|(mut a, edits, cut)| {
                for (at, b) in edits {
                    if !a.0.is_empty() {
                        let i = at % a.0.len();
                        a.0[i] = b;
                    }
                }
                let keep = cut % (a.0.len() + 1);
                a.0.truncate(keep.max(a.0.len().saturating_sub(4)));
                a
            }),
        prop::collection::vec(any::<u8>(), 0..44).prop_map(OptionArea),
    ]
}

fn answer() -> impl Strategy<Value = ProbeAnswer> {
    prop_oneof![
        (
            area(),
            prop::option::of((any::<u8>(), prop_oneof![Just(0u16), any::<u16>()]))
        )
            .prop_map(|(options, header)| ProbeAnswer::SynAck {
                options,
                header: header.map(|(ttl, window)| AnswerHeader { ttl, window }),
            }),
        Just(ProbeAnswer::Rst),
        (any::<[u8; 4]>(), any::<u8>(), any::<u8>()).prop_map(|(a, t, c)| ProbeAnswer::Icmp {
            from: IpAddr::from(a),
            icmp_type: t,
            code: c
        }),
        Just(ProbeAnswer::Silence),
    ]
}

fn kind() -> impl Strategy<Value = ProbeKind> {
    prop_oneof![
        Just(ProbeKind::V1),
        Just(ProbeKind::V0),
        Just(ProbeKind::Plain)
    ]
}

fn probe() -> impl Strategy<Value = ProbeResult> {
    (kind(), 0u32..4, area(), answer()).prop_map(|(kind, seq, sent, answer)| ProbeResult {
        kind,
        seq,
        sent,
        answer,
    })
}

fn opt_bool() -> impl Strategy<Value = Option<bool>> {
    prop::option::of(any::<bool>())
}

fn local() -> impl Strategy<Value = LocalHost> {
    (opt_bool(), prop::option::of(0u8..3)).prop_map(|(e, v)| LocalHost {
        mptcp_enabled: e,
        mptcp_version: v,
        version_source: VersionSource::Kernel,
        blackhole: None,
    })
}

fn kernel() -> impl Strategy<Value = KernelConnection> {
    (
        prop_oneof![
            Just(ConnectOutcome::Connected),
            Just(ConnectOutcome::Refused),
            Just(ConnectOutcome::Timeout),
            Just(ConnectOutcome::Unreachable)
        ],
        opt_bool(),
        prop::option::of(area()),
        prop::option::of(0u32..5),
    )
        .prop_map(|(outcome, is_mptcp, syn_sent, r)| KernelConnection {
            outcome,
            is_mptcp,
            syn_sent,
            syn_retransmissions: r,
        })
}

fn server() -> impl Strategy<Value = ServerReport> {
    (
        (
            prop::option::of(area()),
            prop::option::of(area()),
            opt_bool(),
        ),
        (
            opt_bool(),
            prop::option::of(0u8..2),
            opt_bool(),
            any::<bool>(),
        ),
        prop::collection::vec(
            (0u32..4, area(), prop::option::of(area())).prop_map(|(seq, syn, syn_ack_sent)| {
                ServerProbeSeen {
                    seq,
                    syn,
                    syn_ack_sent,
                }
            }),
            0..3,
        ),
        (
            any::<bool>(),
            prop::option::of(1u16..3),
            prop::option::of(any::<u8>()),
            prop::option::of((any::<[u8; 4]>(), any::<[u8; 4]>())),
        ),
    )
        .prop_map(
            |(
                (syn_seen, syn_ack_sent, conn),
                (en, ver, lis, q),
                probes,
                (plain, watched, ttl, translated),
            )| ServerReport {
                syn_seen,
                syn_ack_sent,
                connection_mptcp: conn,
                mptcp_enabled: en,
                mptcp_version: ver,
                mptcp_listener: lis,
                probes,
                probes_queried: q,
                plain_tcp_fallback: plain,
                watched_port: watched,
                syn_seen_ttl: ttl,
                translated: translated.map(|(a, b)| Translation {
                    sent_from: IpAddr::from(a),
                    seen_from: IpAddr::from(b),
                }),
            },
        )
}

fn trace() -> impl Strategy<Value = Trace> {
    let hop = (
        1u8..8,
        prop::option::of(any::<[u8; 4]>()),
        prop_oneof![
            Just(QuoteKind::Full),
            Just(QuoteKind::Partial),
            Just(QuoteKind::None)
        ],
        prop_oneof![
            Just(HopOption::Present),
            Just(HopOption::Absent),
            Just(HopOption::Changed),
            Just(HopOption::Unknown)
        ],
    )
        .prop_map(|(ttl, r, quote, mp_capable)| TraceHop {
            ttl,
            responder: r.map(IpAddr::from),
            quote,
            mp_capable,
            rtt_us: None,
        });
    (kind(), prop::collection::vec(hop, 0..6)).prop_map(|(probe, hops)| Trace {
        probe,
        hops,
        controls: Vec::new(),
    })
}

fn input() -> impl Strategy<Value = VerdictInput> {
    (
        local(),
        prop::option::of(kernel()),
        prop::collection::vec(probe(), 0..4),
        prop::option::of(server()),
        prop::option::of(trace()),
    )
        .prop_map(|(local, kernel, probes, server, trace)| VerdictInput {
            target: String::new(),
            local,
            kernel,
            probes,
            server,
            trace,
        })
}

/// Some handshake really negotiated MPTCP: a SYN/ACK with a 12-byte
/// MP_CAPABLE carrying a key, or a connected kernel socket that reads MPTCP
/// (on this host or the server's side).
fn some_negotiation(input: &VerdictInput) -> bool {
    let synack = input.probes.iter().any(|p| match &p.answer {
        ProbeAnswer::SynAck { options, .. } => {
            find_capable(options.as_bytes()).is_some_and(|c| c.is_valid_syn_ack())
        }
        _ => false,
    });
    let kernel = input.kernel.as_ref().is_some_and(|k| {
        k.outcome == ConnectOutcome::Connected
            && (k.is_mptcp == Some(true)
                || input
                    .server
                    .as_ref()
                    .is_some_and(|s| s.connection_mptcp == Some(true)))
    });
    synack || kernel
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn engine_is_total_deterministic_and_sound(input in input()) {
        let v = evaluate(&input);
        prop_assert_eq!(&v, &evaluate(&input));
        prop_assert!(!v.summary.is_empty());
        prop_assert!(v.evidence.first().is_some_and(|e| e.starts_with("this host")));
        prop_assert_eq!(v.rule.as_str(), v.code.as_str());
        prop_assert_eq!(v.exit_code() == 0, v.code == VerdictCode::MptcpOk);
        if v.hop_range.is_some() {
            prop_assert!(matches!(
                v.code,
                VerdictCode::StrippedUpstream | VerdictCode::OptionModified
            ));
        }
        if v.code == VerdictCode::Inconclusive {
            prop_assert!(!v.missing.is_empty());
        }
        // Rule 1 always wins.
        prop_assert_eq!(
            input.local.mptcp_enabled == Some(false),
            v.code == VerdictCode::LocalMptcpDisabled
        );
        // Never "works" without a handshake that negotiated MPTCP.
        if v.code == VerdictCode::MptcpOk {
            prop_assert!(some_negotiation(&input), "{:#?}", v);
        }
        // A direction only for a loss on the path; the box named fits the
        // verdict.
        if v.direction.is_some() {
            prop_assert!(matches!(
                v.code,
                VerdictCode::SynDropped
                    | VerdictCode::StrippedUpstream
                    | VerdictCode::StrippedDownstream
                    | VerdictCode::OptionModified
            ));
        }
        let expected_boxes: &[MiddleboxKind] = match v.code {
            VerdictCode::StrippedUpstream => &[MiddleboxKind::OptionStripper, MiddleboxKind::TcpProxy],
            VerdictCode::StrippedDownstream => &[MiddleboxKind::OptionStripper],
            VerdictCode::OptionModified => &[MiddleboxKind::OptionRewriter],
            VerdictCode::SynDropped => &[MiddleboxKind::OptionDropper],
            VerdictCode::EchoingMiddlebox => &[MiddleboxKind::OptionReflector],
            _ => &[],
        };
        match v.middlebox {
            Some(m) => prop_assert!(expected_boxes.contains(&m), "{:#?}", v),
            None => prop_assert!(expected_boxes.is_empty(), "{:#?}", v),
        }
        if v.middlebox == Some(MiddleboxKind::TcpProxy) {
            prop_assert_eq!(v.direction, Some(Direction::Upstream));
        }
    }

    #[test]
    fn saved_runs_replay(input in input()) {
        let json = serde_json::to_string(&input).unwrap();
        let back: VerdictInput = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &input);
        prop_assert_eq!(evaluate(&back), evaluate(&input));
    }
}
