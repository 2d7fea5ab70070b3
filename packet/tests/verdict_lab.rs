//! Replays our lab captures through the verdict engine the way the client
//! adapter will: the kernel connection's packets from the client-side
//! capture, the echo server's account from the server-side capture. Input
//! is `packet/tests/data/lab-options.txt` (option area of every TCP packet
//! of `pcap-fixtures/`, with its TCP flags), recorded between network
//! namespaces with real kernels and real iptables middleboxes.
use packet::verdict::{
    evaluate, find_capable, ConnectOutcome, KernelConnection, LocalHost, OptionArea, ServerReport,
    VerdictCode, VerdictInput, VersionSource,
};
use std::collections::BTreeMap;

/// `(tcp flags, option area)` of every packet of one capture, in order.
fn captures() -> BTreeMap<String, Vec<(u8, OptionArea)>> {
    let mut map: BTreeMap<String, Vec<(u8, OptionArea)>> = BTreeMap::new();
    for line in include_str!("data/lab-options.txt").lines() {
        let mut fields = line.split_whitespace();
        let (Some(id), Some(flags)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((file, _frame)) = id.split_once('#') else {
            continue;
        };
        let flags = u8::from_str_radix(flags, 16).expect("flags hex");
        let area = OptionArea::from_hex(fields.next().unwrap_or("")).expect("area hex");
        map.entry(file.to_string()).or_default().push((flags, area));
    }
    map
}

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;

fn first(packets: &[(u8, OptionArea)], flags: u8) -> Option<OptionArea> {
    packets
        .iter()
        .find(|(f, _)| *f == flags)
        .map(|(_, a)| a.clone())
}

/// Builds the input an unprivileged `check` would have for this scenario.
fn scenario_input(
    client: &[(u8, OptionArea)],
    server: Option<&Vec<(u8, OptionArea)>>,
) -> VerdictInput {
    let syns: Vec<&OptionArea> = client
        .iter()
        .filter(|(f, _)| *f == SYN)
        .map(|(_, a)| a)
        .collect();
    // TCP_IS_MPTCP is 1 when the client's third ACK carries MP_CAPABLE.
    let third_ack = client
        .iter()
        .skip_while(|(f, _)| *f != SYN_ACK)
        .nth(1)
        .map(|(_, a)| a.clone());
    let is_mptcp = third_ack.is_some_and(|a| find_capable(a.as_bytes()).is_some());
    VerdictInput {
        target: "lab-server:6101".into(),
        local: LocalHost {
            mptcp_enabled: Some(true),
            mptcp_version: Some(1),
            version_source: VersionSource::Kernel,
            blackhole: None,
        },
        kernel: Some(KernelConnection {
            outcome: ConnectOutcome::Connected,
            is_mptcp: Some(is_mptcp),
            syn_sent: syns.first().map(|a| (*a).clone()),
            syn_retransmissions: Some(u32::try_from(syns.len().saturating_sub(1)).unwrap()),
        }),
        server: server.map(|packets| ServerReport {
            syn_seen: first(packets, SYN),
            syn_ack_sent: first(packets, SYN_ACK),
            connection_mptcp: Some(is_mptcp),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn lab_scenarios_get_their_verdicts() {
    let caps = captures();
    let expected = [
        ("v1-clean", VerdictCode::MptcpOk),
        ("v6-clean", VerdictCode::MptcpOk),
        ("checksum", VerdictCode::MptcpOk),
        ("fastclose", VerdictCode::MptcpOk),
        ("linger0", VerdictCode::MptcpOk),
        // Only a client-side capture: ok, with the arrival unconfirmed.
        ("join", VerdictCode::MptcpOk),
        ("stripped-upstream", VerdictCode::StrippedUpstream),
        ("server-disabled", VerdictCode::ServerMptcpDisabled),
        // Three lost MP_CAPABLE SYNs, then the kernel's fallback SYN.
        ("dropped", VerdictCode::SynDropped),
    ];
    for (name, code) in expected {
        let client = caps
            .get(&format!("{name}.client.pcap"))
            .unwrap_or_else(|| panic!("{name}: no client capture in lab-options.txt"));
        let server = caps.get(&format!("{name}.server.pcap"));
        let input = scenario_input(client, server);
        let v = evaluate(&input);
        assert_eq!(v.code, code, "{name}: {v:#?}");
        if server.is_none() {
            assert!(!v.missing.is_empty(), "{name}: caveat expected: {v:#?}");
        }
    }
}
