//! This host's own side of the verdict (issue 9): the kernel's blackhole
//! detection makes `local_mptcp_disabled` (never a false OK), unless the
//! crafted probes show the path failing; crafted probes that all vanish
//! while the kernel's connection got through are named, never silent.
use packet::verdict::blackhole::{reset_advice, Blackhole};
use packet::verdict::{
    evaluate, ConnectOutcome, KernelConnection, LocalHost, OptionArea, ProbeAnswer, ProbeKind,
    ProbeResult, ServerProbeSeen, ServerReport, VerdictCode, VerdictInput, VersionSource,
};

// Option areas of a Linux SYN/SYN-ACK pair (mss, sackOK, TS, nop, wscale),
// with and without MP_CAPABLE v1.
const V1_SYN: &str = "020405b40402080a0000000100000000010303071e040101";
const PLAIN_SYN: &str = "020405b40402080a000000010000000001030307";
const V1_SYN_ACK: &str = "020405b40402080a0000000200000001010303071e0c010129a6c86981ad933c";
const PLAIN_SYN_ACK: &str = "020405b40402080a000000020000000101030307";

fn area(hex: &str) -> OptionArea {
    OptionArea::from_hex(hex).unwrap()
}

fn local(blackhole: Option<Blackhole>) -> LocalHost {
    LocalHost {
        mptcp_enabled: Some(true),
        mptcp_version: Some(1),
        version_source: VersionSource::Kernel,
        blackhole,
    }
}

fn active() -> Option<Blackhole> {
    Some(Blackhole {
        events: Some(1),
        syn_tx_disabled: Some(2),
        timeout: Some(3600),
    })
}

fn probe(kind: ProbeKind, seq: u32, sent: &str, answer: ProbeAnswer) -> ProbeResult {
    ProbeResult {
        kind,
        seq,
        sent: area(sent),
        answer,
    }
}

fn syn_ack(hex: &str) -> ProbeAnswer {
    ProbeAnswer::SynAck {
        options: area(hex),
        header: None,
    }
}

/// What the echo server said when this host's kernel sent a plain SYN
/// (its blackhole detection kept MP_CAPABLE out) and the crafted v1 and
/// plain probes arrived intact.
fn server(probes: &[(u32, &str, &str)]) -> ServerReport {
    ServerReport {
        syn_seen: Some(area(PLAIN_SYN)),
        syn_ack_sent: Some(area(PLAIN_SYN_ACK)),
        connection_mptcp: Some(false),
        mptcp_enabled: Some(true),
        mptcp_version: Some(1),
        mptcp_listener: Some(true),
        probes: probes
            .iter()
            .map(|(seq, syn, syn_ack)| ServerProbeSeen {
                seq: *seq,
                syn: area(syn),
                syn_ack_sent: Some(area(syn_ack)),
            })
            .collect(),
        probes_queried: !probes.is_empty(),
        ..Default::default()
    }
}

#[test]
fn active_blackhole_with_a_clean_path_is_local_mptcp_disabled() {
    let input = VerdictInput {
        target: "vps:6101".into(),
        local: local(active()),
        // check leaves the blackholed kernel connection out.
        kernel: None,
        probes: vec![
            probe(ProbeKind::V1, 1, V1_SYN, syn_ack(V1_SYN_ACK)),
            probe(ProbeKind::Plain, 3, PLAIN_SYN, syn_ack(PLAIN_SYN_ACK)),
        ],
        server: Some(server(&[
            (1, V1_SYN, V1_SYN_ACK),
            (3, PLAIN_SYN, PLAIN_SYN_ACK),
        ])),
        trace: None,
    };
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::LocalMptcpDisabled, "{v:#?}");
    assert_eq!(v.exit_code(), 1, "never a false OK");
    assert_eq!(v.rule, "local_mptcp_disabled");
    assert!(v.summary.contains("does not use MPTCP for new connections"));
    let evidence = v.evidence.join("\n");
    assert!(evidence.contains("Blackhole = 1, MPCapableSYNTXDisabled = 2"));
    assert!(evidence.contains("kernel connection's SYN without MP_CAPABLE"));
    assert!(evidence.contains("v1 probe (crafted, untouched by the detection) arrived intact"));
    assert_eq!(v.fix.as_deref(), Some(reset_advice(Some(3600)).as_str()));
    assert!(v
        .fix
        .as_deref()
        .unwrap()
        .starts_with("sysctl -w net.mptcp.blackhole_timeout=3600"));
    // The same input without the detection is OK: it is what decides.
    let ok = VerdictInput {
        local: local(None),
        ..input
    };
    assert_eq!(evaluate(&ok).code, VerdictCode::MptcpOk);
}

#[test]
fn active_blackhole_without_crafted_probes_is_local_mptcp_disabled() {
    let input = VerdictInput {
        target: "vps:6101".into(),
        local: local(active()),
        kernel: None,
        probes: vec![],
        server: Some(server(&[])),
        trace: None,
    };
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::LocalMptcpDisabled, "{v:#?}");
    assert!(v.missing.iter().any(|m| m.contains("crafted probes")));
}

#[test]
fn a_dropping_path_is_named_first_with_the_detection_in_the_evidence() {
    // The path drops MP_CAPABLE SYNs (what tripped the detection): that
    // is the cause to remove first, and the detection is in the evidence.
    let input = VerdictInput {
        target: "vps:6101".into(),
        local: local(active()),
        kernel: None,
        probes: vec![
            probe(ProbeKind::V1, 1, V1_SYN, ProbeAnswer::Silence),
            probe(ProbeKind::Plain, 3, PLAIN_SYN, syn_ack(PLAIN_SYN_ACK)),
        ],
        server: Some(server(&[(3, PLAIN_SYN, PLAIN_SYN_ACK)])),
        trace: None,
    };
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::SynDropped, "{v:#?}");
    assert!(v
        .evidence
        .iter()
        .any(|e| e.contains("blackhole detection is active")));
}

#[test]
fn crafted_probes_lost_while_the_kernel_got_through_are_named() {
    let silent = vec![
        probe(ProbeKind::V1, 1, V1_SYN, ProbeAnswer::Silence),
        probe(ProbeKind::V0, 2, V1_SYN, ProbeAnswer::Silence),
        probe(ProbeKind::Plain, 3, PLAIN_SYN, ProbeAnswer::Silence),
    ];
    let mut s = server(&[]);
    s.syn_seen = Some(area(V1_SYN));
    s.syn_ack_sent = Some(area(V1_SYN_ACK));
    s.connection_mptcp = Some(true);
    s.probes_queried = true;
    let input = VerdictInput {
        target: "vps:6101".into(),
        local: local(None),
        kernel: Some(KernelConnection {
            outcome: ConnectOutcome::Connected,
            is_mptcp: Some(true),
            syn_sent: None,
            syn_retransmissions: Some(0),
        }),
        probes: silent.clone(),
        server: Some(s),
        trace: None,
    };
    let v = evaluate(&input);
    // The kernel connection and the server's account decide ...
    assert_eq!(v.code, VerdictCode::MptcpOk, "{v:#?}");
    // ... and the output says the probes were lost, not silently.
    assert!(
        v.missing
            .iter()
            .any(|m| m.contains("none of the 3 crafted SYNs")),
        "{v:#?}"
    );
    // Nothing got through at all: no such line (it is `unreachable`).
    let dead = VerdictInput {
        target: "vps:6101".into(),
        local: local(None),
        kernel: Some(KernelConnection {
            outcome: ConnectOutcome::Timeout,
            is_mptcp: None,
            syn_sent: None,
            syn_retransmissions: None,
        }),
        probes: silent,
        server: None,
        trace: None,
    };
    let v = evaluate(&dead);
    assert_eq!(v.code, VerdictCode::Unreachable);
    assert!(!v.missing.iter().any(|m| m.contains("crafted SYNs")));
}

#[test]
fn local_mptcp_disabled_means_no_mptcp_for_new_connections() {
    assert!(VerdictCode::LocalMptcpDisabled
        .meaning()
        .contains("does not use MPTCP for new connections"));
}
