//! Table-driven tests of the verdict engine, fed with the option areas of
//! real SYN and SYN/ACK packets: our lab captures
//! (`packet/tests/data/lab-options.txt`, recorded by `pcap-fixtures/record.sh`
//! between network namespaces with real kernels and iptables middleboxes)
//! and tcpdump's peer captures (hex hardcoded below, decoded by hand).
use packet::verdict::{
    evaluate, ConnectOutcome, HopOption, KernelConnection, LocalHost, OptionArea, ProbeAnswer,
    ProbeKind, ProbeResult, QuoteKind, ServerProbeSeen, ServerReport, Trace, TraceHop, Verdict,
    VerdictCode, VerdictInput, VersionSource,
};
use std::collections::HashSet;
use std::net::IpAddr;

// tcpdump's tests/mptcp-v1.pcap, frame 1 (SYN) and frame 2 (SYN/ACK): the
// TCP option areas, decoded from the pcap with a throwaway python script.
// Frame 1 ends in `1e040101` (MP_CAPABLE v1, flags H), frame 2 in
// `1e0c0101 29a6c86981ad933c` (v1 with the listener's key).
const TCPDUMP_V1_SYN: &str = "020405b40402080a1baf9ea100000000010303081e040101";
const TCPDUMP_V1_SYN_ACK: &str = "020405b40402080ac337c5931baf9ea1010303081e0c010129a6c86981ad933c";
// tcpdump's tests/mptcp-v0.pcap, frame 1 (SYN): MP_CAPABLE v0, flags A|H,
// key 0x9c9eabd1e46a33b2; frame 2 (SYN/ACK) with key 0x967d2770b6960552.
const TCPDUMP_V0_SYN: &str = "020405b40402080affffa1b000000000010303061e0c00819c9eabd1e46a33b2";
const TCPDUMP_V0_SYN_ACK: &str = "020405b40402080affffa2ebffffa1b0010303051e0c0081967d2770b6960552";

/// Option area of one lab packet, e.g. `lab("v1-clean.client.pcap#1")`.
fn lab(id: &str) -> OptionArea {
    let text = include_str!("data/lab-options.txt");
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("{id} not in lab-options.txt"));
    let hex_area = line.split_whitespace().nth(2).unwrap_or("");
    OptionArea::from_hex(hex_area).expect("lab-options.txt hex")
}

fn hex(s: &str) -> OptionArea {
    OptionArea::from_hex(s).expect("test hex")
}

/// The same area with its MP_CAPABLE replaced by NOPs, as iptables
/// TCPOPTSTRIP does (see the stripped-upstream lab capture).
fn nop_filled(area: &OptionArea) -> OptionArea {
    let c = packet::verdict::find_capable(area.as_bytes()).expect("area has MP_CAPABLE");
    let mut bytes = area.0.clone();
    bytes[c.offset..c.offset + c.len()].fill(1);
    OptionArea(bytes)
}

fn local(version: u8) -> LocalHost {
    LocalHost {
        mptcp_enabled: Some(true),
        mptcp_version: Some(version),
        version_source: VersionSource::Kernel,
        blackhole: None,
    }
}

fn probe(kind: ProbeKind, seq: u32, sent: OptionArea, answer: ProbeAnswer) -> ProbeResult {
    ProbeResult {
        kind,
        seq,
        sent,
        answer,
    }
}

fn syn_ack(area: &OptionArea) -> ProbeAnswer {
    ProbeAnswer::from_syn_ack_options(area.as_bytes())
}

fn seen(seq: u32, syn: OptionArea, syn_ack_sent: Option<OptionArea>) -> ServerProbeSeen {
    ServerProbeSeen {
        seq,
        syn,
        syn_ack_sent,
    }
}

fn server_v1() -> ServerReport {
    ServerReport {
        mptcp_enabled: Some(true),
        mptcp_version: Some(1),
        mptcp_listener: Some(true),
        probes_queried: true,
        ..Default::default()
    }
}

fn connected(is_mptcp: bool) -> KernelConnection {
    KernelConnection {
        outcome: ConnectOutcome::Connected,
        is_mptcp: Some(is_mptcp),
        syn_sent: None,
        syn_retransmissions: Some(0),
    }
}

fn hop(ttl: u8, state: HopOption) -> TraceHop {
    TraceHop {
        ttl,
        responder: Some(IpAddr::from([10, 0, ttl, 1])),
        quote: QuoteKind::Full,
        mp_capable: state,
        rtt_us: Some(100 * u64::from(ttl)),
    }
}

struct Case {
    name: &'static str,
    input: VerdictInput,
    code: VerdictCode,
    /// `(last ttl with the option, first ttl without)`.
    hop: Option<(u8, Option<u8>)>,
    /// Substrings expected in the summary, evidence, missing and fix.
    summary: &'static [&'static str],
    evidence: &'static [&'static str],
    missing: &'static [&'static str],
    fix: &'static [&'static str],
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            input: VerdictInput::default(),
            code: VerdictCode::Inconclusive,
            hop: None,
            summary: &[],
            evidence: &[],
            missing: &[],
            fix: &[],
        }
    }
}

fn base_cases() -> Vec<Case> {
    let v1_syn = lab("v1-clean.client.pcap#1");
    let v1_syn_ack = lab("v1-clean.client.pcap#2");
    let v0_syn = hex(TCPDUMP_V0_SYN);
    let plain_syn = lab("tcp-plain.client.pcap#1");
    let plain_syn_ack = lab("tcp-plain.client.pcap#2");
    let router = IpAddr::from([192, 0, 2, 1]);
    vec![
        Case {
            name: "v1 clean: kernel connection and all probes (lab v1-clean)",
            input: VerdictInput {
                target: "vps.example:6101".into(),
                local: local(1),
                kernel: Some(connected(true)),
                probes: vec![
                    probe(ProbeKind::V1, 100, v1_syn.clone(), syn_ack(&v1_syn_ack)),
                    probe(
                        ProbeKind::V0,
                        200,
                        v0_syn.clone(),
                        syn_ack(&lab("tcp-plain.client.pcap#2")),
                    ),
                    probe(
                        ProbeKind::Plain,
                        300,
                        plain_syn.clone(),
                        syn_ack(&plain_syn_ack),
                    ),
                ],
                server: Some(ServerReport {
                    syn_seen: Some(lab("v1-clean.server.pcap#1")),
                    syn_ack_sent: Some(lab("v1-clean.server.pcap#2")),
                    connection_mptcp: Some(true),
                    probes: vec![
                        seen(100, v1_syn.clone(), Some(v1_syn_ack.clone())),
                        seen(200, v0_syn.clone(), Some(plain_syn_ack.clone())),
                        seen(300, plain_syn.clone(), Some(plain_syn_ack.clone())),
                    ],
                    ..server_v1()
                }),
                trace: None,
            },
            code: VerdictCode::MptcpOk,
            summary: &["MPTCP v1 works end to end to vps.example:6101", "intact"],
            evidence: &["v0 probe in v0 was ignored: expected"],
            ..Default::default()
        },
        Case {
            name: "unprivileged only: kernel MPTCP connection and the echo report",
            input: VerdictInput {
                local: local(1),
                kernel: Some(connected(true)),
                server: Some(ServerReport {
                    syn_seen: Some(lab("v1-clean.server.pcap#1")),
                    syn_ack_sent: Some(lab("v1-clean.server.pcap#2")),
                    connection_mptcp: Some(true),
                    probes_queried: false,
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::MptcpOk,
            summary: &["kernel connection negotiated MPTCP"],
            ..Default::default()
        },
        Case {
            name: "tcpdump peer v1 handshake, no echo server: ok, arrival unconfirmed",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    1,
                    hex(TCPDUMP_V1_SYN),
                    syn_ack(&hex(TCPDUMP_V1_SYN_ACK)),
                )],
                ..Default::default()
            },
            code: VerdictCode::MptcpOk,
            evidence: &["key 0x29a6c86981ad933c"],
            missing: &["not confirmed"],
            ..Default::default()
        },
        Case {
            name: "stripped upstream: lab capture, server shows 01 01 01 01 NOPs",
            input: VerdictInput {
                local: local(1),
                kernel: Some(KernelConnection {
                    syn_sent: Some(lab("stripped-upstream.client.pcap#1")),
                    ..connected(false)
                }),
                server: Some(ServerReport {
                    syn_seen: Some(lab("stripped-upstream.server.pcap#1")),
                    syn_ack_sent: Some(lab("stripped-upstream.server.pcap#2")),
                    connection_mptcp: Some(false),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::StrippedUpstream,
            evidence: &[
                "replaced by NOPs",
                "arrived without MP_CAPABLE (NOPs in its place)",
            ],
            missing: &["trace"],
            fix: &["tunnel"],
            ..Default::default()
        },
        Case {
            name: "stripped upstream, NOP-filled, kernel SYN bytes unknown",
            input: VerdictInput {
                local: local(1),
                kernel: Some(connected(false)),
                server: Some(ServerReport {
                    syn_seen: Some(lab("stripped-upstream.server.pcap#1")),
                    syn_ack_sent: Some(lab("stripped-upstream.server.pcap#2")),
                    connection_mptcp: Some(false),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::StrippedUpstream,
            evidence: &["replaced by NOPs"],
            ..Default::default()
        },
        Case {
            name: "stripped at hop 3 of 5, no echo server: trace gives range (2,3)",
            input: VerdictInput {
                local: local(1),
                probes: vec![
                    probe(
                        ProbeKind::V1,
                        7,
                        lab("stripped-upstream.client.pcap#1"),
                        syn_ack(&lab("stripped-upstream.client.pcap#2")),
                    ),
                    probe(
                        ProbeKind::Plain,
                        8,
                        plain_syn.clone(),
                        syn_ack(&plain_syn_ack),
                    ),
                ],
                trace: Some(Trace {
                    probe: ProbeKind::V1,
                    controls: Vec::new(),
                    hops: vec![
                        hop(1, HopOption::Present),
                        hop(2, HopOption::Present),
                        hop(3, HopOption::Absent),
                        hop(4, HopOption::Absent),
                        hop(5, HopOption::Absent),
                    ],
                }),
                ..Default::default()
            },
            code: VerdictCode::StrippedUpstream,
            hop: Some((2, Some(3))),
            summary: &["between hop 2 (10.0.2.1) and hop 3 (10.0.3.1)"],
            missing: &["echo server"],
            ..Default::default()
        },
        Case {
            name: "stripped upstream seen by server; trace quotes it up to hop 2, rest silent",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    7,
                    v1_syn.clone(),
                    syn_ack(&lab("stripped-upstream.client.pcap#2")),
                )],
                server: Some(ServerReport {
                    probes: vec![seen(7, nop_filled(&v1_syn), None)],
                    ..server_v1()
                }),
                trace: Some(Trace {
                    probe: ProbeKind::V1,
                    controls: Vec::new(),
                    hops: vec![
                        hop(1, HopOption::Present),
                        hop(2, HopOption::Present),
                        TraceHop {
                            ttl: 3,
                            responder: None,
                            quote: QuoteKind::None,
                            mp_capable: HopOption::Unknown,
                            rtt_us: None,
                        },
                    ],
                }),
                ..Default::default()
            },
            code: VerdictCode::StrippedUpstream,
            hop: Some((2, None)),
            summary: &["between hop 2 (10.0.2.1) and the server"],
            ..Default::default()
        },
        Case {
            name: "stripped downstream: server sent MP_CAPABLE, SYN/ACK arrives with NOPs",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    9,
                    v1_syn.clone(),
                    syn_ack(&nop_filled(&v1_syn_ack)),
                )],
                server: Some(ServerReport {
                    probes: vec![seen(9, v1_syn.clone(), Some(v1_syn_ack.clone()))],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::StrippedDownstream,
            evidence: &["server sent MP_CAPABLE in its SYN/ACK to the v1 probe"],
            ..Default::default()
        },
        Case {
            name: "option modified: H flag cleared on the way",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    11,
                    v1_syn.clone(),
                    syn_ack(&plain_syn_ack),
                )],
                server: Some(ServerReport {
                    // The lab SYN with the MP_CAPABLE flags byte 0x01 -> 0x00.
                    probes: vec![seen(
                        11,
                        hex("020405b40402080a783500da000000000103030a1e040100"),
                        Some(plain_syn_ack.clone()),
                    )],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::OptionModified,
            evidence: &["changed on the way (flags)", "1e040101", "1e040100"],
            ..Default::default()
        },
        Case {
            name: "option modified, located by a trace",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    12,
                    v1_syn.clone(),
                    syn_ack(&plain_syn_ack),
                )],
                trace: Some(Trace {
                    probe: ProbeKind::V1,
                    controls: Vec::new(),
                    hops: vec![hop(1, HopOption::Present), hop(2, HopOption::Changed)],
                }),
                ..Default::default()
            },
            code: VerdictCode::OptionModified,
            hop: Some((1, Some(2))),
            ..Default::default()
        },
        Case {
            name: "MPTCP SYNs unanswered while the plain SYN is answered",
            input: VerdictInput {
                local: local(1),
                probes: vec![
                    probe(ProbeKind::V1, 21, v1_syn.clone(), ProbeAnswer::Silence),
                    probe(ProbeKind::V0, 22, v0_syn.clone(), ProbeAnswer::Silence),
                    probe(
                        ProbeKind::Plain,
                        23,
                        plain_syn.clone(),
                        syn_ack(&plain_syn_ack),
                    ),
                ],
                server: Some(ServerReport {
                    probes: vec![seen(23, plain_syn.clone(), Some(plain_syn_ack.clone()))],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::SynDropped,
            evidence: &["v1 probe unanswered", "did not see the MPTCP SYNs"],
            ..Default::default()
        },
        Case {
            name: "kernel fell back after lost MP_CAPABLE SYNs (lab dropped): not stripping",
            input: VerdictInput {
                local: local(1),
                kernel: Some(KernelConnection {
                    syn_sent: Some(lab("dropped.client.pcap#1")),
                    syn_retransmissions: Some(3),
                    ..connected(false)
                }),
                server: Some(ServerReport {
                    syn_seen: Some(lab("dropped.server.pcap#1")),
                    syn_ack_sent: Some(lab("dropped.server.pcap#2")),
                    connection_mptcp: Some(false),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::SynDropped,
            evidence: &["3 SYN retransmissions"],
            ..Default::default()
        },
        Case {
            name: "reflection: the v0 SYN/ACK carries our own random key",
            input: VerdictInput {
                local: local(0),
                probes: vec![
                    // The box answers with our SYN's options (tcpdump v0 frame 1).
                    probe(ProbeKind::V0, 31, v0_syn.clone(), syn_ack(&v0_syn)),
                    probe(
                        ProbeKind::Plain,
                        33,
                        plain_syn.clone(),
                        syn_ack(&plain_syn_ack),
                    ),
                ],
                ..Default::default()
            },
            code: VerdictCode::EchoingMiddlebox,
            evidence: &["our own random key 0x9c9eabd1e46a33b2"],
            ..Default::default()
        },
        Case {
            name: "reflection: v1 MP_CAPABLE on the SYN/ACK without a key",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    41,
                    v1_syn.clone(),
                    // The lab SYN/ACK with the 4-byte SYN option in place of the key.
                    syn_ack(&hex("020405b40402080a3242b48e783500da0103030a1e040101")),
                )],
                ..Default::default()
            },
            code: VerdictCode::EchoingMiddlebox,
            evidence: &["without a key"],
            ..Default::default()
        },
        Case {
            name: "reflection: server says it sent no MP_CAPABLE, client got one",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    51,
                    v1_syn.clone(),
                    syn_ack(&v1_syn_ack),
                )],
                server: Some(ServerReport {
                    probes: vec![seen(51, v1_syn.clone(), Some(plain_syn_ack.clone()))],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::EchoingMiddlebox,
            evidence: &["server sent its SYN/ACK to the v1 probe without MP_CAPABLE"],
            ..Default::default()
        },
        Case {
            name: "reflection: the plain probe's SYN/ACK carries MP_CAPABLE",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::Plain,
                    52,
                    plain_syn.clone(),
                    syn_ack(&v1_syn_ack),
                )],
                ..Default::default()
            },
            code: VerdictCode::EchoingMiddlebox,
            ..Default::default()
        },
        Case {
            name: "v0 router, v1-only server: v1 works, v0 ignored => version mismatch",
            input: VerdictInput {
                local: local(0),
                probes: vec![
                    probe(ProbeKind::V1, 61, v1_syn.clone(), syn_ack(&v1_syn_ack)),
                    probe(ProbeKind::V0, 62, v0_syn.clone(), syn_ack(&plain_syn_ack)),
                    probe(
                        ProbeKind::Plain,
                        63,
                        plain_syn.clone(),
                        syn_ack(&plain_syn_ack),
                    ),
                ],
                server: Some(ServerReport {
                    probes: vec![
                        seen(61, v1_syn.clone(), Some(v1_syn_ack.clone())),
                        seen(62, v0_syn.clone(), Some(plain_syn_ack.clone())),
                    ],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::VersionMismatch,
            summary: &["this host speaks v0", "speaks only v1"],
            fix: &["net.mptcp.mptcp_version", "upgrade the router kernel"],
            ..Default::default()
        },
        Case {
            name: "same path, v1 router: v0 being ignored is expected => ok",
            input: VerdictInput {
                local: local(1),
                probes: vec![
                    probe(ProbeKind::V1, 61, v1_syn.clone(), syn_ack(&v1_syn_ack)),
                    probe(ProbeKind::V0, 62, v0_syn.clone(), syn_ack(&plain_syn_ack)),
                    probe(
                        ProbeKind::Plain,
                        63,
                        plain_syn.clone(),
                        syn_ack(&plain_syn_ack),
                    ),
                ],
                server: Some(ServerReport {
                    probes: vec![
                        seen(61, v1_syn.clone(), Some(v1_syn_ack.clone())),
                        seen(62, v0_syn.clone(), Some(plain_syn_ack.clone())),
                    ],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::MptcpOk,
            evidence: &["v0 probe in v0 was ignored: expected, this host speaks v1"],
            ..Default::default()
        },
        Case {
            name: "v0 router, no raw probes: the server reports v1 only",
            input: VerdictInput {
                local: LocalHost {
                    mptcp_enabled: Some(true),
                    mptcp_version: Some(0),
                    version_source: VersionSource::User,
                    blackhole: None,
                },
                kernel: Some(KernelConnection {
                    outcome: ConnectOutcome::Connected,
                    is_mptcp: None,
                    syn_sent: None,
                    syn_retransmissions: None,
                }),
                server: Some(ServerReport {
                    syn_seen: Some(v0_syn.clone()),
                    syn_ack_sent: Some(plain_syn_ack.clone()),
                    connection_mptcp: Some(false),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::VersionMismatch,
            evidence: &[
                "given by --mptcp-version",
                "the server reports it speaks v1",
            ],
            ..Default::default()
        },
        Case {
            name: "v0 server (tcpdump v0 peer), v1 router: v0 works, v1 ignored",
            input: VerdictInput {
                local: local(1),
                probes: vec![
                    probe(
                        ProbeKind::V1,
                        71,
                        hex(TCPDUMP_V1_SYN),
                        syn_ack(&plain_syn_ack),
                    ),
                    probe(
                        ProbeKind::V0,
                        72,
                        v0_syn.clone(),
                        syn_ack(&hex(TCPDUMP_V0_SYN_ACK)),
                    ),
                ],
                ..Default::default()
            },
            code: VerdictCode::VersionMismatch,
            fix: &["out-of-tree -mptcp kernel speaking v0"],
            ..Default::default()
        },
        Case {
            name: "server disabled: lab capture with net.mptcp.enabled=0",
            input: VerdictInput {
                local: local(1),
                kernel: Some(KernelConnection {
                    syn_sent: Some(lab("server-disabled.client.pcap#1")),
                    ..connected(false)
                }),
                server: Some(ServerReport {
                    syn_seen: Some(lab("server-disabled.server.pcap#1")),
                    syn_ack_sent: Some(lab("server-disabled.server.pcap#2")),
                    connection_mptcp: Some(false),
                    mptcp_enabled: Some(false),
                    mptcp_listener: Some(false),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::ServerMptcpDisabled,
            summary: &["net.mptcp.enabled=0"],
            fix: &["sysctl -w net.mptcp.enabled=1", "mptcpize run"],
            ..Default::default()
        },
        Case {
            name: "server enabled but a plain TCP listener on the port",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(
                    ProbeKind::V1,
                    81,
                    v1_syn.clone(),
                    syn_ack(&plain_syn_ack),
                )],
                server: Some(ServerReport {
                    mptcp_listener: Some(false),
                    probes: vec![seen(81, v1_syn.clone(), Some(plain_syn_ack.clone()))],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::ServerMptcpDisabled,
            summary: &["plain TCP listener"],
            ..Default::default()
        },
        Case {
            name: "this host cannot open MPTCP sockets",
            input: VerdictInput {
                local: LocalHost {
                    mptcp_enabled: Some(false),
                    mptcp_version: Some(1),
                    version_source: VersionSource::Kernel,
                    blackhole: None,
                },
                kernel: Some(connected(false)),
                server: Some(ServerReport {
                    syn_seen: Some(plain_syn.clone()),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::LocalMptcpDisabled,
            fix: &["net.mptcp.enabled=1"],
            evidence: &["MPTCP disabled"],
            ..Default::default()
        },
        Case {
            name: "ICMP unreachable only",
            input: VerdictInput {
                local: local(1),
                probes: [ProbeKind::V1, ProbeKind::V0, ProbeKind::Plain]
                    .into_iter()
                    .zip([v1_syn.clone(), v0_syn.clone(), plain_syn.clone()])
                    .map(|(kind, sent)| {
                        probe(
                            kind,
                            90,
                            sent,
                            ProbeAnswer::Icmp {
                                from: router,
                                icmp_type: 3,
                                code: 1,
                            },
                        )
                    })
                    .collect(),
                ..Default::default()
            },
            code: VerdictCode::Unreachable,
            summary: &["only by ICMP errors"],
            evidence: &["ICMP type 3 code 1 from 192.0.2.1"],
            ..Default::default()
        },
        Case {
            name: "kernel connection timed out, nothing else",
            input: VerdictInput {
                local: local(1),
                kernel: Some(KernelConnection {
                    outcome: ConnectOutcome::Timeout,
                    is_mptcp: None,
                    syn_sent: None,
                    syn_retransmissions: Some(6),
                }),
                ..Default::default()
            },
            code: VerdictCode::Unreachable,
            summary: &["no SYN was answered"],
            ..Default::default()
        },
        Case {
            name: "no echo server, plain SYN/ACK: inconclusive, says what is missing",
            input: VerdictInput {
                local: local(1),
                probes: vec![
                    probe(
                        ProbeKind::V1,
                        95,
                        lab("server-disabled.client.pcap#1"),
                        syn_ack(&lab("server-disabled.client.pcap#2")),
                    ),
                    probe(
                        ProbeKind::Plain,
                        96,
                        plain_syn.clone(),
                        syn_ack(&plain_syn_ack),
                    ),
                ],
                ..Default::default()
            },
            code: VerdictCode::Inconclusive,
            summary: &["answered without MP_CAPABLE", "server without MPTCP"],
            missing: &["echo server", "trace"],
            ..Default::default()
        },
        Case {
            name: "nothing ran at all",
            input: VerdictInput {
                local: LocalHost::default(),
                ..Default::default()
            },
            code: VerdictCode::Inconclusive,
            missing: &[
                "CAP_NET_RAW",
                "--mptcp-version",
                "neither a kernel connection",
            ],
            ..Default::default()
        },
    ]
}

fn cases() -> Vec<Case> {
    let mut all = base_cases();
    all.extend(precedence_cases());
    all
}

/// Cases where two rules could apply, or a rule must not: they pin the order.
fn precedence_cases() -> Vec<Case> {
    let v1_syn = lab("v1-clean.client.pcap#1");
    let v1_syn_ack = lab("v1-clean.client.pcap#2");
    let plain_syn = lab("tcp-plain.client.pcap#1");
    let plain_syn_ack = lab("tcp-plain.client.pcap#2");
    vec![
        Case {
            name: "every SYN refused: nothing listens",
            input: VerdictInput {
                local: local(1),
                kernel: Some(KernelConnection {
                    outcome: ConnectOutcome::Refused,
                    is_mptcp: None,
                    syn_sent: None,
                    syn_retransmissions: Some(0),
                }),
                probes: vec![
                    probe(ProbeKind::V1, 1, v1_syn.clone(), ProbeAnswer::Rst),
                    probe(ProbeKind::Plain, 2, plain_syn.clone(), ProbeAnswer::Rst),
                ],
                ..Default::default()
            },
            code: VerdictCode::Unreachable,
            summary: &["refuses connections"],
            ..Default::default()
        },
        Case {
            name: "MPTCP SYN reset while the plain SYN gets a SYN/ACK",
            input: VerdictInput {
                local: local(1),
                probes: vec![
                    probe(ProbeKind::V1, 1, v1_syn.clone(), ProbeAnswer::Rst),
                    probe(ProbeKind::Plain, 2, plain_syn.clone(), syn_ack(&plain_syn_ack)),
                ],
                ..Default::default()
            },
            code: VerdictCode::SynDropped,
            ..Default::default()
        },
        Case {
            name: "only a v1 SYN, unanswered: unreachable, asks for the control",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(ProbeKind::V1, 1, v1_syn.clone(), ProbeAnswer::Silence)],
                ..Default::default()
            },
            code: VerdictCode::Unreachable,
            missing: &["plain SYN as control"],
            ..Default::default()
        },
        Case {
            name: "local MPTCP disabled wins over a stripping path, which stays in the evidence",
            input: VerdictInput {
                local: LocalHost {
                    mptcp_enabled: Some(false),
                    ..local(1)
                },
                probes: vec![probe(
                    ProbeKind::V1,
                    3,
                    v1_syn.clone(),
                    syn_ack(&lab("stripped-upstream.client.pcap#2")),
                )],
                server: Some(ServerReport {
                    probes: vec![seen(3, lab("stripped-upstream.server.pcap#1"), None)],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::LocalMptcpDisabled,
            evidence: &["v1 probe: sent MP_CAPABLE v1 len 4 flags 0x01; arrived without MP_CAPABLE"],
            ..Default::default()
        },
        Case {
            name: "the server saw the option intact: a trace claiming removal is not believed",
            input: VerdictInput {
                local: local(1),
                probes: vec![probe(ProbeKind::V1, 4, v1_syn.clone(), syn_ack(&plain_syn_ack))],
                server: Some(ServerReport {
                    mptcp_enabled: Some(false),
                    probes: vec![seen(4, v1_syn.clone(), Some(plain_syn_ack.clone()))],
                    ..server_v1()
                }),
                trace: Some(Trace {
                    probe: ProbeKind::V1,
                    controls: Vec::new(),
                    hops: vec![hop(1, HopOption::Present), hop(2, HopOption::Absent)],
                }),
                ..Default::default()
            },
            code: VerdictCode::ServerMptcpDisabled,
            ..Default::default()
        },
        Case {
            name: "kernel says MPTCP but the server sent none and is plain TCP: something answered for it",
            input: VerdictInput {
                local: local(1),
                kernel: Some(connected(true)),
                server: Some(ServerReport {
                    syn_seen: Some(v1_syn.clone()),
                    syn_ack_sent: Some(plain_syn_ack.clone()),
                    connection_mptcp: Some(false),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::EchoingMiddlebox,
            evidence: &["something on the path answered for it"],
            ..Default::default()
        },
        Case {
            name: "reflection beats ok: a valid-looking v1 SYN/ACK the server never sent",
            input: VerdictInput {
                local: local(1),
                kernel: Some(connected(true)),
                probes: vec![probe(ProbeKind::V1, 5, v1_syn.clone(), syn_ack(&v1_syn_ack))],
                server: Some(ServerReport {
                    syn_seen: Some(v1_syn.clone()),
                    syn_ack_sent: Some(v1_syn_ack.clone()),
                    connection_mptcp: Some(true),
                    probes: vec![seen(5, v1_syn.clone(), Some(plain_syn_ack.clone()))],
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::EchoingMiddlebox,
            ..Default::default()
        },
        Case {
            name: "server report without the SYN capture: inconclusive, says so",
            input: VerdictInput {
                local: local(1),
                kernel: Some(connected(false)),
                server: Some(ServerReport {
                    connection_mptcp: Some(false),
                    ..server_v1()
                }),
                ..Default::default()
            },
            code: VerdictCode::Inconclusive,
            missing: &["capture of this connection's SYN", "CAP_NET_RAW"],
            ..Default::default()
        },
    ]
}

fn check(case: &Case, v: &Verdict) {
    let name = case.name;
    assert_eq!(v.code, case.code, "{name}: {v:#?}");
    assert_eq!(v.hop_range.map(|r| r.ttls()), case.hop, "{name}: {v:#?}");
    for s in case.summary {
        assert!(v.summary.contains(s), "{name}: summary lacks {s:?}: {v:#?}");
    }
    for s in case.evidence {
        assert!(
            v.evidence.iter().any(|e| e.contains(s)),
            "{name}: evidence lacks {s:?}: {v:#?}"
        );
    }
    for s in case.missing {
        assert!(
            v.missing.iter().any(|e| e.contains(s)),
            "{name}: missing lacks {s:?}: {v:#?}"
        );
    }
    for s in case.fix {
        assert!(
            v.fix.as_deref().is_some_and(|f| f.contains(s)),
            "{name}: fix lacks {s:?}: {v:#?}"
        );
    }
}

#[test]
fn every_case_gets_its_verdict() {
    for case in cases() {
        check(&case, &evaluate(&case.input));
    }
}

#[test]
fn every_code_is_covered_has_a_summary_and_the_right_exit_code() {
    let mut covered = HashSet::new();
    for case in cases() {
        let v = evaluate(&case.input);
        assert!(!v.summary.trim().is_empty(), "{}", case.name);
        assert!(!v.evidence.is_empty(), "{}", case.name);
        assert_eq!(v.rule, v.code.as_str(), "{}", case.name);
        let expected_exit = if v.code == VerdictCode::MptcpOk { 0 } else { 1 };
        assert_eq!(v.exit_code(), expected_exit, "{}", case.name);
        covered.insert(v.code);
    }
    for code in VerdictCode::ALL {
        assert!(covered.contains(&code), "no case for {code}");
        assert!(!code.meaning().is_empty());
        // JSON spelling is the DESIGN code.
        assert_eq!(
            serde_json::to_string(&code).unwrap(),
            format!("\"{}\"", code.as_str())
        );
    }
}

#[test]
fn saved_runs_replay_identically() {
    for case in cases() {
        let json = serde_json::to_string_pretty(&case.input).unwrap();
        let back: VerdictInput = serde_json::from_str(&json).unwrap();
        assert_eq!(back, case.input, "{}", case.name);
        assert_eq!(evaluate(&back), evaluate(&case.input), "{}", case.name);
        // The verdict itself round-trips too, under the `verdict` field.
        let v = evaluate(&case.input);
        let vj = serde_json::to_value(&v).unwrap();
        assert_eq!(vj["verdict"], v.code.as_str());
        let v_back: Verdict = serde_json::from_value(vj).unwrap();
        assert_eq!(v_back, v);
    }
}

#[test]
fn saved_run_format_is_hex_and_snake_case() {
    let input = VerdictInput {
        local: local(1),
        probes: vec![probe(
            ProbeKind::V1,
            5,
            hex(TCPDUMP_V1_SYN),
            ProbeAnswer::Icmp {
                from: IpAddr::from([192, 0, 2, 1]),
                icmp_type: 11,
                code: 0,
            },
        )],
        ..Default::default()
    };
    let v = serde_json::to_value(&input).unwrap();
    assert_eq!(v["probes"][0]["sent"], TCPDUMP_V1_SYN);
    assert_eq!(v["probes"][0]["kind"], "v1");
    assert_eq!(v["probes"][0]["answer"]["type"], "icmp");
    assert_eq!(v["probes"][0]["answer"]["from"], "192.0.2.1");
    assert_eq!(v["local"]["version_source"], "kernel");
    // Bad hex in a saved run is an error, not a panic.
    let mut bad = v.clone();
    bad["probes"][0]["sent"] = "1e0".into();
    assert!(serde_json::from_value::<VerdictInput>(bad).is_err());
}

#[test]
fn truncated_and_garbled_areas_never_panic() {
    let areas = [
        hex(TCPDUMP_V1_SYN),
        hex(TCPDUMP_V1_SYN_ACK),
        hex(TCPDUMP_V0_SYN),
        hex(TCPDUMP_V0_SYN_ACK),
        lab("v1-clean.client.pcap#2"),
        lab("stripped-upstream.server.pcap#1"),
    ];
    for area in &areas {
        for end in 0..=area.0.len() {
            let cut = OptionArea(area.0[..end].to_vec());
            for (sent, answer, arrived) in
                [(area, &cut, area), (&cut, area, area), (area, area, &cut)]
            {
                let input = VerdictInput {
                    local: local(1),
                    kernel: Some(KernelConnection {
                        syn_sent: Some(sent.clone()),
                        ..connected(false)
                    }),
                    probes: vec![probe(ProbeKind::V1, 1, sent.clone(), syn_ack(answer))],
                    server: Some(ServerReport {
                        syn_seen: Some(arrived.clone()),
                        syn_ack_sent: Some(answer.clone()),
                        probes: vec![seen(1, arrived.clone(), Some(answer.clone()))],
                        ..server_v1()
                    }),
                    ..Default::default()
                };
                let v = evaluate(&input);
                assert!(!v.summary.is_empty());
            }
        }
    }
}

#[test]
#[ignore = "prints every case's verdict for review: cargo test -- --ignored --nocapture"]
fn print_verdicts() {
    for case in cases() {
        let v = evaluate(&case.input);
        println!(
            "== {}\n{}\n",
            case.name,
            serde_json::to_string_pretty(&v).unwrap()
        );
    }
}

/// The server line of the evidence prints only what the server said: a
/// trace makes no kernel connection, so "this connection" is left out rather
/// than shown as a `?`.
#[test]
fn server_evidence_names_only_what_the_server_said() {
    let server_line = |server: ServerReport| {
        let input = VerdictInput {
            local: local(1),
            server: Some(server),
            ..Default::default()
        };
        evaluate(&input)
            .evidence
            .into_iter()
            .find(|l| l.starts_with("server: "))
            .expect("a server line")
    };
    assert_eq!(
        server_line(server_v1()),
        "server: net.mptcp.enabled=1, version v1, listener MPTCP"
    );
    let with_connection = ServerReport {
        connection_mptcp: Some(false),
        ..server_v1()
    };
    assert_eq!(
        server_line(with_connection),
        "server: net.mptcp.enabled=1, version v1, listener MPTCP, this connection plain TCP"
    );
    assert_eq!(
        server_line(ServerReport::default()),
        "server: said nothing about its MPTCP state"
    );
}

/// A trace whose MP_CAPABLE flow stops answering after one hop while its
/// plain control (own flow) goes on to the server: `syn_dropped`, located
/// between the last hop that quoted our option and the first that answered
/// only the plain SYN.
#[test]
fn a_trace_with_a_plain_control_locates_the_drop() {
    let v1_syn = lab("v1-clean.client.pcap#1");
    let plain_syn = lab("tcp-plain.client.pcap#1");
    let plain_syn_ack = lab("tcp-plain.client.pcap#2");
    let silent = |ttl: u8| TraceHop {
        responder: None,
        quote: QuoteKind::None,
        mp_capable: HopOption::Unknown,
        ..hop(ttl, HopOption::Unknown)
    };
    let destination = |ttl: u8| TraceHop {
        quote: QuoteKind::None,
        mp_capable: HopOption::Unknown,
        ..hop(ttl, HopOption::Unknown)
    };
    let plain_hop = |ttl: u8| hop(ttl, HopOption::Unknown);
    let input = |main: Vec<TraceHop>, plain: Vec<TraceHop>, with_control: bool| VerdictInput {
        target: "10.2.0.2".into(),
        local: local(1),
        probes: vec![
            probe(ProbeKind::V1, 1, v1_syn.clone(), ProbeAnswer::Silence),
            probe(
                ProbeKind::Plain,
                2,
                plain_syn.clone(),
                syn_ack(&plain_syn_ack),
            ),
        ],
        trace: Some(Trace {
            probe: ProbeKind::V1,
            hops: main,
            controls: if with_control {
                vec![Trace {
                    probe: ProbeKind::Plain,
                    hops: plain,
                    controls: Vec::new(),
                }]
            } else {
                Vec::new()
            },
        }),
        ..Default::default()
    };
    // r1 (hop 1) drops: its own quote still holds the option, r2 (hop 2)
    // answered only the plain SYN.
    let main = vec![hop(1, HopOption::Present), silent(2), silent(3), silent(4)];
    let plain = vec![plain_hop(1), plain_hop(2), destination(3)];
    let v = evaluate(&input(main.clone(), plain.clone(), true));
    assert_eq!(v.code, VerdictCode::SynDropped, "{v:#?}");
    assert_eq!(v.hop_range.map(|r| r.ttls()), Some((1, Some(2))), "{v:#?}");
    assert!(v.summary.contains("between hop 1"), "{}", v.summary);
    assert!(
        v.evidence.iter().any(|e| e.contains("likely culprit")),
        "{v:#?}"
    );
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("trace hops 2..4 *: no answer")),
        "silent hops in one line: {v:#?}"
    );
    // The last router drops: the server is the first place ours missed.
    let main = vec![
        hop(1, HopOption::Present),
        hop(2, HopOption::Present),
        silent(3),
    ];
    let v = evaluate(&input(main, plain.clone(), true));
    assert_eq!(v.hop_range.map(|r| r.ttls()), Some((2, None)), "{v:#?}");
    // Without the control's hops the drop is still seen, but not placed.
    let main = vec![hop(1, HopOption::Present), silent(2)];
    let v = evaluate(&input(main, plain, false));
    assert_eq!(v.code, VerdictCode::SynDropped);
    assert_eq!(v.hop_range, None);
}
