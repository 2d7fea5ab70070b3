//! One case per verdict code and the precedences that matter, on a
//! two-WAN router in OpenMPTCProuter's layout (wan1 10.11.0.1 carries the
//! initial subflow, wan2 10.12.0.1 should join).
use super::facts::*;
use super::*;
use packet::echo::{PmEndpoint, PmLimits};

fn endpoint(id: u8, addr: &str, ifindex: i32, flags: &[&str]) -> PmEndpoint {
    PmEndpoint {
        id: Some(id),
        addr: Some(addr.into()),
        port: None,
        flags: flags.iter().map(|f| f.to_string()).collect(),
        ifindex: Some(ifindex),
    }
}

fn wan(name: &str, index: u32, source: &str, initial: bool) -> Wan {
    Wan {
        interface: name.into(),
        ifindex: Some(index),
        source: Some(source.parse().unwrap()),
        initial,
        tables: vec![if initial { 254 } else { index }],
        join: Some(JoinResult {
            answer: JoinAnswer::SynAckValid { backup: false },
            server_saw: ServerSaw::Intact {
                syn_ack_join: Some(true),
            },
        }),
        plain: Some(PlainAnswer::SynAck),
        error: None,
    }
}

fn sub(local: &str, state: u8, acked: u64, received: u64) -> SubflowRecord {
    SubflowRecord {
        local: Some(local.parse().unwrap()),
        remote: Some("10.99.0.2:6101".parse().unwrap()),
        state: Some(state),
        bytes_acked: Some(acked),
        bytes_received: Some(received),
    }
}

fn mirrored(s: &SubflowRecord) -> SubflowRecord {
    SubflowRecord {
        local: s.remote,
        remote: s.local,
        state: s.state,
        bytes_acked: s.bytes_received,
        bytes_received: s.bytes_acked,
    }
}

/// A clean run: both WANs carried data.
fn clean() -> AggregateInput {
    let client = vec![
        sub("10.11.0.1:40000", 1, 1_600_000, 1_400_000),
        sub("10.12.0.1:40353", 1, 1_000_000, 1_200_000),
    ];
    let server = client.iter().map(mirrored).collect();
    AggregateInput {
        target: "10.99.0.2:6101".into(),
        address: "10.99.0.2".parse().unwrap(),
        wans: vec![
            wan("wan1", 2, "10.11.0.1", true),
            wan("wan2", 3, "10.12.0.1", false),
        ],
        local: PathManager {
            limits: Some(PmLimits {
                subflows: Some(8),
                add_addr_accepted: Some(1),
            }),
            endpoints: vec![
                endpoint(1, "10.11.0.1", 2, &["subflow"]),
                endpoint(2, "10.12.0.1", 3, &["subflow"]),
            ],
        },
        handshake: Handshake {
            verdict: "mptcp_ok".into(),
            summary: "MPTCP v1 works end to end".into(),
            fix: None,
            evidence: vec![],
        },
        connection: Some(Connection {
            local: "10.11.0.1:40000".parse().unwrap(),
            remote: "10.99.0.2:6101".parse().unwrap(),
            mptcp: true,
            token: Some(0x1111),
            subflows_max: Some(8),
            info_subflows: Some(1),
            subflows: client,
            subflow_source: Some("MPTCP_FULL_INFO".into()),
            keys: Some(KeyTokens {
                client: 0x1111,
                server: 0x2222,
            }),
        }),
        server: Some(ServerSide {
            speaks_aggregate: true,
            limits: Some(PmLimits {
                subflows: Some(8),
                add_addr_accepted: Some(8),
            }),
            endpoints: vec![endpoint(1, "10.99.0.2", 1, &["signal"])],
            allow_join_initial_addr_port: Some(true),
            connection: Some(ServerConnection {
                mptcp: true,
                token: Some(0x2222),
                subflows: Some(1),
                subflows_max: Some(8),
            }),
            subflows: server,
            counters: [("MPJoinRejected".to_string(), 0)].into(),
        }),
        data: DataPhase {
            ran: true,
            duration_ms: 1000,
            sent: 2_600_000,
            received: 2_600_000,
            note: None,
        },
        probes_skipped: None,
    }
}

/// wan2 has no subflow (what every failure looks like on the connection).
fn without_second_subflow(mut i: AggregateInput) -> AggregateInput {
    let c = i.connection.as_mut().unwrap();
    c.subflows.truncate(1);
    c.info_subflows = Some(0);
    let s = i.server.as_mut().unwrap();
    s.subflows.truncate(1);
    s.connection.as_mut().unwrap().subflows = Some(0);
    i
}

fn set_join(i: &mut AggregateInput, answer: JoinAnswer, saw: ServerSaw, plain: PlainAnswer) {
    i.wans[1].join = Some(JoinResult {
        answer,
        server_saw: saw,
    });
    i.wans[1].plain = Some(plain);
}

fn verdicts(i: &AggregateInput) -> (Vec<String>, String, i32) {
    let v = evaluate(i);
    (
        v.paths.iter().map(|p| p.verdict.clone()).collect(),
        v.summary.verdict,
        v.summary.exit_code,
    )
}

#[test]
fn clean_is_aggregation_ok() {
    let i = clean();
    let v = evaluate(&i);
    assert_eq!(
        verdicts(&i),
        (
            vec!["subflow_ok".into(), "subflow_ok".into()],
            "aggregation_ok".into(),
            0
        )
    );
    assert_eq!(v.summary.carrying, 2);
    assert!(
        v.paths[0].summary.contains("initial subflow"),
        "{}",
        v.paths[0].summary
    );
    assert_eq!(v.paths[1].bytes_sent, 1_000_000);
    assert!(
        v.paths[1]
            .evidence
            .iter()
            .any(|e| e.contains("server: 1.2 MB sent")),
        "{:?}",
        v.paths[1].evidence
    );
    assert!(v.summary.fixes.is_empty());
    assert!(v.notes.is_empty(), "{:?}", v.notes);
}

#[test]
fn stripped_upstream_on_one_isp() {
    let mut i = without_second_subflow(clean());
    set_join(
        &mut i,
        JoinAnswer::SynAckWithoutJoin,
        ServerSaw::Stripped,
        PlainAnswer::SynAck,
    );
    let v = evaluate(&i);
    assert_eq!(
        verdicts(&i),
        (
            vec!["subflow_ok".into(), "join_stripped".into()],
            "aggregation_none".into(),
            1
        )
    );
    assert!(
        v.paths[1].summary.contains("upstream"),
        "{}",
        v.paths[1].summary
    );
    assert!(
        v.summary.summary.starts_with("only wan1 carried data"),
        "{}",
        v.summary.summary
    );
    assert!(
        v.summary.fixes[0].starts_with("wan2: "),
        "{:?}",
        v.summary.fixes
    );
}

#[test]
fn stripped_downstream_is_told_by_the_servers_account() {
    let mut i = without_second_subflow(clean());
    set_join(
        &mut i,
        JoinAnswer::SynAckWithoutJoin,
        ServerSaw::Intact {
            syn_ack_join: Some(true),
        },
        PlainAnswer::SynAck,
    );
    assert!(evaluate(&i).paths[1].summary.contains("downstream"));
}

#[test]
fn dropped_joins_with_the_kernels_join_stuck_in_syn_sent() {
    let mut i = without_second_subflow(clean());
    i.connection
        .as_mut()
        .unwrap()
        .subflows
        .push(sub("10.12.0.1:40353", 2, 0, 0));
    i.connection.as_mut().unwrap().info_subflows = Some(1);
    set_join(
        &mut i,
        JoinAnswer::Silence,
        ServerSaw::NotSeen,
        PlainAnswer::SynAck,
    );
    let v = evaluate(&i);
    assert_eq!(v.paths[1].verdict, "join_dropped");
    assert!(
        v.paths[1]
            .evidence
            .iter()
            .any(|e| e.contains("stuck in SYN-SENT")),
        "{:?}",
        v.paths[1].evidence
    );
    assert_eq!(v.summary.verdict, "aggregation_none");
}

#[test]
fn nothing_answering_is_unreachable_not_dropped() {
    let mut i = without_second_subflow(clean());
    set_join(
        &mut i,
        JoinAnswer::Silence,
        ServerSaw::NotSeen,
        PlainAnswer::Silence,
    );
    assert_eq!(evaluate(&i).paths[1].verdict, "unreachable");
}

#[test]
fn server_limit_zero_is_refused_at_the_third_ack() {
    let mut i = without_second_subflow(clean());
    let s = i.server.as_mut().unwrap();
    s.limits = Some(PmLimits {
        subflows: Some(0),
        add_addr_accepted: Some(8),
    });
    s.connection.as_mut().unwrap().subflows_max = Some(0);
    s.counters.insert("MPJoinRejected".into(), 1);
    let v = evaluate(&i);
    let p = &v.paths[1];
    assert_eq!(p.verdict, "join_refused");
    assert_eq!(
        p.fix.as_deref(),
        Some("on the server: ip mptcp limits set subflows 2 add_addr_accepted 8")
    );
    assert!(p.evidence.iter().any(|e| e.contains("MPJoinRejected = 1")));
    assert!(p.evidence.iter().any(|e| e.contains("third ACK")));
}

#[test]
fn the_connections_own_limit_outweighs_the_configured_one() {
    // Limits lowered after the connection opened: it keeps its own.
    let mut i = without_second_subflow(clean());
    i.local.endpoints.truncate(1);
    i.server.as_mut().unwrap().limits = Some(PmLimits {
        subflows: Some(0),
        add_addr_accepted: Some(8),
    });
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "no_endpoint");
    assert!(p.also.is_empty(), "{:?}", p.also);
    // Without the connection's, the configured limit stands in.
    i.server.as_mut().unwrap().connection = None;
    assert_eq!(evaluate(&i).paths[1].also, vec!["join_refused".to_string()]);
}

#[test]
fn refusal_by_reset_reason_and_by_the_initial_port_sysctl() {
    let mut i = without_second_subflow(clean());
    set_join(
        &mut i,
        JoinAnswer::Reset { reason: Some(3) },
        ServerSaw::Intact { syn_ack_join: None },
        PlainAnswer::SynAck,
    );
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "join_refused");
    assert!(p.summary.contains("reason 3"), "{}", p.summary);
    let mut i = without_second_subflow(clean());
    let s = i.server.as_mut().unwrap();
    s.allow_join_initial_addr_port = Some(false);
    s.endpoints.clear();
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "join_refused");
    assert!(p
        .fix
        .as_deref()
        .unwrap()
        .contains("allow_join_initial_addr_port=1"));
}

#[test]
fn no_endpoint_missing_stale_or_without_the_subflow_flag() {
    let mut i = without_second_subflow(clean());
    i.local.endpoints.truncate(1);
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "no_endpoint");
    assert_eq!(
        p.fix.as_deref(),
        Some("ip mptcp endpoint add 10.12.0.1 dev wan2 subflow")
    );
    assert!(p
        .evidence
        .iter()
        .any(|e| e.contains("path works once the endpoint exists")));
    let mut stale = without_second_subflow(clean());
    stale.local.endpoints[1].addr = Some("10.12.0.77".into());
    let p = &evaluate(&stale).paths[1];
    assert_eq!(p.verdict, "no_endpoint");
    assert!(p.summary.contains("still has 10.12.0.77"), "{}", p.summary);
    assert_eq!(
        p.fix.as_deref(),
        Some("ip mptcp endpoint delete id 2; ip mptcp endpoint add 10.12.0.1 dev wan2 subflow")
    );
    let mut signal = without_second_subflow(clean());
    signal.local.endpoints[1].flags = vec!["signal".into()];
    assert_eq!(evaluate(&signal).paths[1].verdict, "no_endpoint");
}

#[test]
fn router_limit_zero_is_local_limit() {
    let mut i = without_second_subflow(clean());
    i.local.limits = Some(PmLimits {
        subflows: Some(0),
        add_addr_accepted: Some(1),
    });
    i.connection.as_mut().unwrap().subflows_max = Some(0);
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "local_limit");
    assert_eq!(
        p.fix.as_deref(),
        Some("on this router: ip mptcp limits set subflows 1 add_addr_accepted 1")
    );
}

#[test]
fn a_joined_subflow_without_data_is_idle_and_a_backup_says_so() {
    let mut i = clean();
    let c = i.connection.as_mut().unwrap();
    c.subflows[1].bytes_acked = Some(0);
    c.subflows[1].bytes_received = Some(0);
    let s = i.server.as_mut().unwrap();
    s.subflows[1].bytes_acked = Some(0);
    s.subflows[1].bytes_received = Some(0);
    assert_eq!(evaluate(&i).paths[1].verdict, "subflow_idle");
    i.local.endpoints[1].flags.push("backup".into());
    let p = &evaluate(&i).paths[1];
    assert_eq!(
        p.fix.as_deref(),
        Some("ip mptcp endpoint change id 2 nobackup")
    );
    // Without a data phase an unused subflow proves nothing.
    i.data = DataPhase {
        note: Some("the server predates aggregate".into()),
        ..Default::default()
    };
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "inconclusive");
    assert!(
        p.missing.iter().any(|m| m.contains("predates")),
        "{:?}",
        p.missing
    );
}

#[test]
fn a_forged_syn_ack_is_a_middlebox() {
    let mut i = without_second_subflow(clean());
    set_join(
        &mut i,
        JoinAnswer::SynAckBadHmac,
        ServerSaw::NotSeen,
        PlainAnswer::SynAck,
    );
    assert_eq!(evaluate(&i).paths[1].verdict, "join_middlebox");
}

#[test]
fn a_failed_handshake_is_the_initial_wans_and_the_summarys_verdict() {
    let mut i = clean();
    i.connection = None;
    i.server = None;
    i.data = DataPhase::default();
    i.handshake = Handshake {
        verdict: "syn_dropped".into(),
        summary: "SYNs with MP_CAPABLE are dropped".into(),
        fix: Some("ask the ISP".into()),
        evidence: vec!["v1 probe: no answer".into()],
    };
    for w in &mut i.wans {
        w.join = None;
        w.plain = None;
    }
    i.probes_skipped = Some("no MPTCP connection to join".into());
    let v = evaluate(&i);
    assert_eq!(v.paths[0].verdict, "syn_dropped");
    assert_eq!(v.paths[0].rule, "handshake");
    assert_eq!(v.paths[1].verdict, "inconclusive");
    assert_eq!(v.summary.verdict, "syn_dropped");
    assert_eq!(v.summary.exit_code, 1);
    assert_eq!(v.summary.fixes[0], "ask the ISP");
}

#[test]
fn path_defects_win_over_configuration_and_the_rest_stays_in_also() {
    let mut i = without_second_subflow(clean());
    i.local.endpoints.truncate(1);
    set_join(
        &mut i,
        JoinAnswer::SynAckWithoutJoin,
        ServerSaw::Stripped,
        PlainAnswer::SynAck,
    );
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "join_stripped");
    assert_eq!(p.also, vec!["no_endpoint".to_string()]);
    // The real subflow's data wins over a probe anomaly.
    let mut i = clean();
    set_join(
        &mut i,
        JoinAnswer::SynAckWithoutJoin,
        ServerSaw::Stripped,
        PlainAnswer::SynAck,
    );
    let p = &evaluate(&i).paths[1];
    assert_eq!(p.verdict, "subflow_ok");
    assert_eq!(p.also, vec!["join_stripped".to_string()]);
}

#[test]
fn three_wans_two_carrying_is_partial() {
    let mut i = clean();
    let mut w3 = wan("wan3", 4, "10.13.0.1", false);
    w3.join = Some(JoinResult {
        answer: JoinAnswer::Silence,
        server_saw: ServerSaw::NotSeen,
    });
    i.wans.push(w3);
    i.local
        .endpoints
        .push(endpoint(3, "10.13.0.1", 4, &["subflow"]));
    let (paths, summary, exit) = verdicts(&i);
    assert_eq!(paths[2], "join_dropped");
    assert_eq!((summary.as_str(), exit), ("aggregation_partial", 1));
}

#[test]
fn without_probes_or_server_account_the_cause_is_missing() {
    let mut i = without_second_subflow(clean());
    i.wans[1].join = None;
    i.wans[1].plain = None;
    i.probes_skipped = Some("crafted probes need CAP_NET_RAW".into());
    i.server.as_mut().unwrap().speaks_aggregate = false;
    i.server.as_mut().unwrap().connection = None;
    let v = evaluate(&i);
    let p = &v.paths[1];
    assert_eq!(p.verdict, "inconclusive");
    assert!(
        p.missing.iter().any(|m| m.contains("CAP_NET_RAW")),
        "{:?}",
        p.missing
    );
    assert_eq!(v.summary.verdict, "inconclusive");
}

#[test]
fn a_token_that_does_not_match_the_keys_is_noted() {
    let mut i = clean();
    i.server
        .as_mut()
        .unwrap()
        .connection
        .as_mut()
        .unwrap()
        .token = Some(0x9999);
    let v = evaluate(&i);
    assert_eq!(v.notes.len(), 1);
    assert!(v.notes[0].contains("rewritten"), "{}", v.notes[0]);
}

#[test]
fn the_input_round_trips_through_json() {
    let mut i = without_second_subflow(clean());
    set_join(
        &mut i,
        JoinAnswer::Icmp {
            from: "10.12.0.254".parse().unwrap(),
            icmp_type: 3,
            code: 13,
        },
        ServerSaw::NotSeen,
        PlainAnswer::SynAck,
    );
    let text = serde_json_roundtrip(&i);
    assert_eq!(evaluate(&text), evaluate(&i));
    assert_eq!(evaluate(&i).paths[1].verdict, "join_dropped");
}

fn serde_json_roundtrip(i: &AggregateInput) -> AggregateInput {
    let s = serde_json::to_string(i).unwrap();
    assert!(s.contains(r#""kind":"icmp""#), "{s}");
    serde_json::from_str(&s).unwrap()
}
