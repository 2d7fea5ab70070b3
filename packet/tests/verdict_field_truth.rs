//! The verdict engine on what issue 9 ("field truth") found in the field,
//! fed with option areas from the lab's captures of those scenarios:
//! which way a handshake was lost (`direction`), which kind of box is to
//! blame (`middlebox`), a TCP-terminating proxy named by its signs, a plain
//! TCP echo connection as the control, and a watched service port.
use packet::verdict::{
    evaluate, AnswerHeader, ConnectOutcome, Direction, KernelConnection, LocalHost, MiddleboxKind,
    OptionArea, ProbeAnswer, ProbeKind, ProbeResult, ServerProbeSeen, ServerReport, Translation,
    Verdict, VerdictCode, VerdictInput, VersionSource,
};

fn hex(s: &str) -> OptionArea {
    OptionArea::from_hex(s).expect("test hex")
}

// pcap-fixtures/lab-syn-ack-drop-r1.server.pcap: frame 1 (the v1 probe as
// it arrived), frame 2 (the server's MP_CAPABLE SYN/ACK, which r1 dropped),
// frame 6 (the plain probe) and frame 7 (its SYN/ACK).
const V1_SYN: &str = "020405b40402080a44d868ff00000000010303071e040101";
const V1_SYN_ACK: &str = "020405b40402080ac392739944d868ff0103030a1e0c0101a3a90af600234f1e";
const PLAIN_SYN: &str = "020405b40402080a44d869010000000001030307";
const PLAIN_SYN_ACK: &str = "020405b40402080a65039fd944d869010103030a";
// pcap-fixtures/lab-synproxy-r2.client.pcap frame 2: SYNPROXY's SYN/ACK
// (TTL 63, window 0); lab-synproxy-r2.server.pcap frame 1: the proxy's own
// SYN to the server, echoing a timestamp (TS ecr 0x003a3d9a).
const PROXY_SYN_ACK: &str = "020405b40402080a003a3d9703b723e601030307";
const PROXY_SYN: &str = "020405b40402080a6c7e69f0003a3d9a0103030a";
// The kernel's own SYN as a clean path delivers it (ecr 0, MP_CAPABLE v1).
const KERNEL_SYN: &str = "020405b40402080a6c7e69f0000000000103030a1e040101";
// stripped-upstream.server.pcap#1: TCPOPTSTRIP's NOPs.
const STRIPPED_SYN: &str = "020405b40402080abba48eab000000000103030a01010101";

fn local() -> LocalHost {
    LocalHost {
        mptcp_enabled: Some(true),
        mptcp_version: Some(1),
        version_source: VersionSource::Kernel,
        blackhole: None,
    }
}

fn probe(kind: ProbeKind, seq: u32, sent: &str, answer: ProbeAnswer) -> ProbeResult {
    ProbeResult {
        kind,
        seq,
        sent: hex(sent),
        answer,
    }
}

fn syn_ack(area: &str) -> ProbeAnswer {
    ProbeAnswer::from_syn_ack_options(&hex(area).0)
}

fn seen(seq: u32, syn: &str, syn_ack_sent: Option<&str>) -> ServerProbeSeen {
    ServerProbeSeen {
        seq,
        syn: hex(syn),
        syn_ack_sent: syn_ack_sent.map(hex),
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

fn kernel(outcome: ConnectOutcome, is_mptcp: Option<bool>) -> KernelConnection {
    KernelConnection {
        outcome,
        is_mptcp,
        syn_sent: None,
        syn_retransmissions: Some(0),
    }
}

fn has(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

fn assert_blames(v: &Verdict, direction: Option<Direction>, middlebox: Option<MiddleboxKind>) {
    assert_eq!(v.direction, direction, "{v:#?}");
    assert_eq!(v.middlebox, middlebox, "{v:#?}");
}

/// lab syn-ack-drop-r1, as check saw it: the probes went first, the v1
/// one met silence, the plain one was answered, the echo server was asked
/// over plain TCP.
fn syn_ack_lost() -> VerdictInput {
    VerdictInput {
        target: "10.2.0.2:6101".into(),
        local: local(),
        kernel: None,
        probes: vec![
            probe(ProbeKind::V1, 1, V1_SYN, ProbeAnswer::Silence),
            probe(ProbeKind::Plain, 3, PLAIN_SYN, syn_ack(PLAIN_SYN_ACK)),
        ],
        server: Some(ServerReport {
            syn_seen: Some(hex(PLAIN_SYN)),
            syn_ack_sent: Some(hex(PLAIN_SYN_ACK)),
            connection_mptcp: Some(false),
            probes: vec![
                seen(1, V1_SYN, Some(V1_SYN_ACK)),
                seen(3, PLAIN_SYN, Some(PLAIN_SYN_ACK)),
            ],
            plain_tcp_fallback: true,
            ..server_v1()
        }),
        trace: None,
    }
}

#[test]
fn a_syn_ack_lost_on_the_way_back_is_named_downstream() {
    let v = evaluate(&syn_ack_lost());
    assert_eq!(v.code, VerdictCode::SynDropped, "{v:#?}");
    assert_blames(
        &v,
        Some(Direction::Downstream),
        Some(MiddleboxKind::OptionDropper),
    );
    assert!(v.summary.contains("on the way back"), "{v:#?}");
    assert!(v.summary.contains("our SYN arrived intact"), "{v:#?}");
    assert!(!v.summary.starts_with("SYNs with MP_CAPABLE"), "{v:#?}");
    assert!(has(&v.evidence, "arrived at the server intact"), "{v:#?}");
    assert!(has(&v.evidence, "this host got no answer"), "{v:#?}");
    assert!(v.fix.as_deref().unwrap().contains("SYN/ACKs"), "{v:#?}");
    // The plain echo connection is listed as what it was.
    assert!(has(&v.evidence, "plain echo connection:"), "{v:#?}");
    assert!(
        has(&v.evidence, "the plain echo connection plain TCP"),
        "{v:#?}"
    );
}

#[test]
fn the_server_account_alone_proves_the_downstream_loss() {
    // trace's situation: one MPTCP probe, no plain control.
    let mut input = syn_ack_lost();
    input.probes.truncate(1);
    if let Some(s) = input.server.as_mut() {
        s.probes.truncate(1);
        s.plain_tcp_fallback = false;
        s.syn_seen = None;
        s.syn_ack_sent = None;
        s.connection_mptcp = None;
    }
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::SynDropped, "{v:#?}");
    assert_eq!(v.direction, Some(Direction::Downstream));
}

#[test]
fn a_syn_the_server_never_saw_is_named_upstream() {
    let mut input = syn_ack_lost();
    if let Some(s) = input.server.as_mut() {
        s.probes.remove(0);
    }
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::SynDropped, "{v:#?}");
    assert_blames(
        &v,
        Some(Direction::Upstream),
        Some(MiddleboxKind::OptionDropper),
    );
    assert!(v.summary.contains("on the way to the server"), "{v:#?}");
}

#[test]
fn unprivileged_a_failed_mptcp_connection_next_to_a_plain_one_is_syn_dropped() {
    // No crafted probes: the kernel's MPTCP connection got no answer, a
    // plain TCP connection to the same echo server got its report.
    let input = VerdictInput {
        target: "10.2.0.2:6101".into(),
        local: local(),
        kernel: Some(kernel(ConnectOutcome::Timeout, None)),
        probes: Vec::new(),
        server: Some(ServerReport {
            syn_seen: Some(hex(PLAIN_SYN)),
            syn_ack_sent: Some(hex(PLAIN_SYN_ACK)),
            connection_mptcp: Some(false),
            probes_queried: false,
            plain_tcp_fallback: true,
            ..server_v1()
        }),
        trace: None,
    };
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::SynDropped, "{v:#?}");
    assert_blames(&v, None, Some(MiddleboxKind::OptionDropper));
    assert!(has(&v.evidence, "kernel connection unanswered"), "{v:#?}");
    assert!(has(&v.missing, "CAP_NET_RAW"), "{v:#?}");
    // The plain connection's SYN is not the kernel connection's: without
    // the flag its missing option would read as stripping.
    let mut misread = input.clone();
    if let Some(s) = misread.server.as_mut() {
        s.plain_tcp_fallback = false;
    }
    let wrong = evaluate(&misread);
    assert_eq!(wrong.code, VerdictCode::StrippedUpstream, "{wrong:#?}");
}

/// lab synproxy-r2 as check saw it.
fn synproxy() -> VerdictInput {
    let proxied = |kind, seq, sent| {
        probe(
            kind,
            seq,
            sent,
            ProbeAnswer::from_syn_ack(&hex(PROXY_SYN_ACK).0, AnswerHeader { ttl: 63, window: 0 }),
        )
    };
    VerdictInput {
        target: "10.2.0.2:6101".into(),
        local: local(),
        kernel: Some(kernel(ConnectOutcome::Connected, Some(false))),
        probes: vec![
            proxied(ProbeKind::V1, 1, V1_SYN),
            proxied(ProbeKind::Plain, 3, PLAIN_SYN),
        ],
        server: Some(ServerReport {
            syn_seen: Some(hex(PROXY_SYN)),
            syn_ack_sent: Some(hex(PLAIN_SYN_ACK)),
            connection_mptcp: Some(false),
            syn_seen_ttl: Some(64),
            ..server_v1()
        }),
        trace: None,
    }
}

#[test]
fn a_syn_proxy_is_named_with_its_signs() {
    let v = evaluate(&synproxy());
    assert_eq!(v.code, VerdictCode::StrippedUpstream, "{v:#?}");
    assert_eq!(v.rule, "stripped_upstream");
    assert_blames(&v, Some(Direction::Upstream), Some(MiddleboxKind::TcpProxy));
    assert!(v.summary.contains("TCP proxy"), "{v:#?}");
    assert!(has(
        &v.evidence,
        "none of the 2 crafted SYNs reached the server"
    ));
    assert!(has(&v.evidence, "echoes a timestamp (TS ecr 3816858)"));
    assert!(has(&v.evidence, "window of 0"));
    assert!(v.fix.as_deref().unwrap().contains("terminates TCP"));
}

#[test]
fn each_decisive_sign_names_the_proxy_alone() {
    // Unprivileged: no probes, only the SYN the server saw.
    let mut only_ts = synproxy();
    only_ts.probes.clear();
    if let Some(s) = only_ts.server.as_mut() {
        s.probes_queried = false;
    }
    let v = evaluate(&only_ts);
    assert_eq!(v.middlebox, Some(MiddleboxKind::TcpProxy), "{v:#?}");
    // The probes unseen though answered, with an ordinary SYN at the
    // server (a relay that builds a fresh SYN).
    let mut only_probes = synproxy();
    if let Some(s) = only_probes.server.as_mut() {
        s.syn_seen = Some(hex(STRIPPED_SYN));
    }
    let v = evaluate(&only_probes);
    assert_eq!(v.middlebox, Some(MiddleboxKind::TcpProxy), "{v:#?}");
}

#[test]
fn supporting_signs_alone_do_not_name_a_proxy() {
    // TCPOPTSTRIP behind a NAT: the probes reach the server (so no proxy),
    // the address changed, the answers came from nearer than the server.
    let stripped_answer =
        ProbeAnswer::from_syn_ack(&hex(PLAIN_SYN_ACK).0, AnswerHeader { ttl: 64, window: 0 });
    let input = VerdictInput {
        target: "10.2.0.2:6101".into(),
        local: local(),
        kernel: Some(kernel(ConnectOutcome::Connected, Some(false))),
        probes: vec![probe(ProbeKind::V1, 1, V1_SYN, stripped_answer)],
        server: Some(ServerReport {
            syn_seen: Some(hex(STRIPPED_SYN)),
            probes: vec![seen(1, STRIPPED_SYN, Some(PLAIN_SYN_ACK))],
            syn_seen_ttl: Some(62),
            translated: Some(Translation {
                sent_from: [10, 1, 0, 1].into(),
                seen_from: [10, 2, 0, 254].into(),
            }),
            ..server_v1()
        }),
        trace: None,
    };
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::StrippedUpstream, "{v:#?}");
    assert_blames(
        &v,
        Some(Direction::Upstream),
        Some(MiddleboxKind::OptionStripper),
    );
    assert!(!v.summary.contains("proxy"), "{v:#?}");
}

#[test]
fn probes_unseen_on_a_watched_port_are_no_proxy_sign() {
    // With --echo-port, an echo server that does not watch the port sees
    // no probe at all: that says nothing about the path.
    let mut input = synproxy();
    input.kernel = Some(kernel(ConnectOutcome::Connected, Some(false)));
    if let Some(s) = input.server.as_mut() {
        s.watched_port = Some(65101);
        s.syn_seen = Some(hex(KERNEL_SYN));
    }
    let v = evaluate(&input);
    assert_ne!(v.middlebox, Some(MiddleboxKind::TcpProxy), "{v:#?}");
}

/// lab plain-service: probes to 65101, which a plain TCP service owns and
/// the echo server on 6101 watches.
fn watched_plain_service() -> VerdictInput {
    VerdictInput {
        target: "10.2.0.2:65101".into(),
        local: local(),
        kernel: Some(kernel(ConnectOutcome::Connected, Some(false))),
        probes: vec![
            probe(ProbeKind::V1, 1, V1_SYN, syn_ack(PLAIN_SYN_ACK)),
            probe(ProbeKind::Plain, 3, PLAIN_SYN, syn_ack(PLAIN_SYN_ACK)),
        ],
        server: Some(ServerReport {
            // The echo connection's own SYN (to 6101, MPTCP listener).
            syn_seen: Some(hex(PLAIN_SYN)),
            connection_mptcp: Some(false),
            probes: vec![
                seen(1, V1_SYN, Some(PLAIN_SYN_ACK)),
                seen(3, PLAIN_SYN, Some(PLAIN_SYN_ACK)),
            ],
            watched_port: Some(65101),
            ..server_v1()
        }),
        trace: None,
    }
}

#[test]
fn a_watched_plain_service_gets_its_own_fix() {
    let v = evaluate(&watched_plain_service());
    assert_eq!(v.code, VerdictCode::ServerMptcpDisabled, "{v:#?}");
    assert_blames(&v, None, None);
    assert!(
        v.summary
            .contains("the service on port 65101 does not listen with MPTCP"),
        "{v:#?}"
    );
    let fix = v.fix.as_deref().unwrap();
    assert!(
        fix.starts_with(
            "the service on port 65101 does not listen with MPTCP: start it with mptcpize"
        ),
        "{fix}"
    );
    assert!(fix.contains("IPPROTO_MPTCP"), "{fix}");
    assert!(
        has(&v.evidence, "echo listener MPTCP, port 65101 watched"),
        "{v:#?}"
    );
    // The echo connection's SYN (no MP_CAPABLE) is not the kernel
    // connection's: no stripping is read into it.
    assert!(!has(
        &v.evidence,
        "kernel connection: sent MP_CAPABLE v1; arrived"
    ));
}

#[test]
fn a_watched_port_on_a_server_with_mptcp_off_gets_the_sysctl_fix() {
    let mut input = watched_plain_service();
    if let Some(s) = input.server.as_mut() {
        s.mptcp_enabled = Some(false);
    }
    let v = evaluate(&input);
    assert_eq!(v.code, VerdictCode::ServerMptcpDisabled, "{v:#?}");
    assert!(v.fix.as_deref().unwrap().contains("net.mptcp.enabled=1"));
}

#[test]
fn the_echo_listener_is_not_the_watched_service_listener() {
    // Without the probes' account the echo server's plain listener says
    // nothing about the watched port.
    let mut input = watched_plain_service();
    input.probes.clear();
    if let Some(s) = input.server.as_mut() {
        s.probes.clear();
        s.probes_queried = false;
        s.mptcp_listener = Some(false);
    }
    let v = evaluate(&input);
    assert_ne!(v.code, VerdictCode::ServerMptcpDisabled, "{v:#?}");
}

#[test]
fn direction_and_middlebox_are_always_in_the_json() {
    let v = evaluate(&syn_ack_lost());
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["direction"], "downstream");
    assert_eq!(json["middlebox"], "option_dropper");
    let ok = evaluate(&VerdictInput::default());
    let json = serde_json::to_value(&ok).unwrap();
    assert!(json.as_object().unwrap().contains_key("direction"));
    assert_eq!(json["direction"], serde_json::Value::Null);
    assert_eq!(json["middlebox"], serde_json::Value::Null);
    // Older saved verdicts without the fields still read.
    let mut old = serde_json::to_value(&v).unwrap();
    old.as_object_mut().unwrap().remove("direction");
    old.as_object_mut().unwrap().remove("middlebox");
    let back: Verdict = serde_json::from_value(old).unwrap();
    assert_eq!(back.direction, None);
    for (m, text) in [
        (MiddleboxKind::TcpProxy, "tcp_proxy"),
        (MiddleboxKind::OptionStripper, "option_stripper"),
        (MiddleboxKind::OptionReflector, "option_reflector"),
        (MiddleboxKind::OptionRewriter, "option_rewriter"),
        (MiddleboxKind::OptionDropper, "option_dropper"),
    ] {
        assert_eq!(serde_json::to_value(m).unwrap(), text);
        assert_eq!(m.as_str(), text);
    }
}

#[test]
fn saved_runs_with_the_new_fields_replay() {
    for input in [syn_ack_lost(), synproxy(), watched_plain_service()] {
        let json = serde_json::to_string(&input).unwrap();
        let back: VerdictInput = serde_json::from_str(&json).unwrap();
        assert_eq!(back, input);
        assert_eq!(evaluate(&back), evaluate(&input));
    }
    // A saved run from before these fields still reads.
    let old = r#"{"local":{"mptcp_enabled":true,"mptcp_version":1},
        "probes":[{"kind":"v1","seq":1,"sent":"1e040101","answer":{"type":"syn_ack","options":""}}],
        "server":{"syn_seen":null,"syn_ack_sent":null,"connection_mptcp":null,
                  "mptcp_enabled":true,"mptcp_version":1,"mptcp_listener":true}}"#;
    let input: VerdictInput = serde_json::from_str(old).unwrap();
    assert_eq!(input.probes[0].answer.header(), None);
    assert!(!input.server.as_ref().unwrap().plain_tcp_fallback);
}
