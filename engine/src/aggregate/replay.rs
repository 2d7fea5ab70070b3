//! Replays of recorded aggregate runs (`lab --record pcap-fixtures
//! agg-clean agg-strip-join`): the client's `--write` capture and its
//! `--json` lines. From the capture's bytes alone the keys are found again,
//! the server's token matches the one the MP_JOIN probes carried, and each
//! probe's answer classifies as it did live; the recorded input replays
//! through the rules to the recorded verdicts.
use super::join::{classify_join, Answer};
use super::keys::capture_keys;
use super::{evaluate, AggregateInput, JoinAnswer};
use crate::fixtures;
use packet::ip::parse_ip_tcp;
use packet::mptcp::JoinBody;
use packet::{MptcpOption, OptionList, TcpOption};
use serde_json::Value;

fn lines(name: &str) -> Vec<Value> {
    String::from_utf8(fixtures::bytes(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn join_syn(packet: &[u8]) -> Option<(u32, u32)> {
    let s = parse_ip_tcp(packet).ok()?;
    if !s.flags?.is_syn_only() {
        return None;
    }
    OptionList::parse(s.options, s.flags)
        .options
        .into_iter()
        .find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::MpJoin(j)) => match j.body() {
                JoinBody::Syn { token, nonce } => Some((token, nonce)),
                _ => None,
            },
            _ => None,
        })
}

/// Every recorded MP_JOIN probe: its source, token, and the answer it got
/// classified with the keys found in the same capture.
fn replay_capture(run: &str) -> (AggregateInput, Vec<(String, u32, JoinAnswer)>) {
    let all = lines(&format!("lab-{run}.aggregate.json"));
    let summary = all.iter().find(|l| l["type"] == "summary").unwrap();
    let input: AggregateInput = serde_json::from_value(summary["input"].clone()).unwrap();
    let frames = fixtures::frames(&format!("lab-{run}.client.pcap"));
    let conn = input.connection.as_ref().unwrap();
    let keys = capture_keys(
        frames.iter().map(|(_, p)| p.as_slice()),
        conn.local,
        conn.remote,
    )
    .unwrap();
    let mut probes = Vec::new();
    for (_, p) in &frames {
        let Some((token, nonce)) = join_syn(p) else {
            continue;
        };
        let syn = parse_ip_tcp(p).unwrap();
        let answer = frames.iter().map(|(_, a)| a).find(|a| {
            parse_ip_tcp(a).is_ok_and(|s| {
                s.src() == syn.dst()
                    && s.dst_port == syn.src_port
                    && s.ack == Some(syn.seq.wrapping_add(1))
            })
        });
        let answer = answer.map(|a| Answer::Segment(a.clone()));
        probes.push((
            syn.src().to_string(),
            token,
            classify_join(answer.as_ref(), nonce, &keys),
        ));
    }
    let tokens = conn.keys.unwrap();
    assert_eq!(keys.client_token(), tokens.client);
    assert_eq!(keys.server_token(), tokens.server);
    (input, probes)
}

fn recorded_verdicts(run: &str) -> (Vec<String>, String) {
    let all = lines(&format!("lab-{run}.aggregate.json"));
    let paths = all
        .iter()
        .filter(|l| l["type"] == "path")
        .map(|l| l["verdict"].as_str().unwrap().to_string())
        .collect();
    let summary = all.iter().find(|l| l["type"] == "summary").unwrap();
    (paths, summary["verdict"].as_str().unwrap().to_string())
}

#[test]
fn clean_run_replays_from_its_capture_and_its_input() {
    let (input, probes) = replay_capture("agg-clean");
    assert_eq!(probes.len(), 2, "one MP_JOIN probe per WAN");
    let server_token = input.connection.as_ref().unwrap().keys.unwrap().server;
    for (source, token, answer) in &probes {
        assert_eq!(*token, server_token, "{source}");
        assert_eq!(
            *answer,
            JoinAnswer::SynAckValid { backup: false },
            "{source}"
        );
        let wan = input
            .wans
            .iter()
            .find(|w| w.source.map(|s| s.to_string()).as_ref() == Some(source))
            .unwrap();
        assert_eq!(wan.join.unwrap().answer, *answer);
    }
    let v = evaluate(&input);
    let (paths, summary) = recorded_verdicts("agg-clean");
    assert_eq!(
        v.paths
            .iter()
            .map(|p| p.verdict.clone())
            .collect::<Vec<_>>(),
        paths
    );
    assert_eq!(paths, ["subflow_ok", "subflow_ok"]);
    assert_eq!(v.summary.verdict, summary);
    assert_eq!(summary, "aggregation_ok");
}

#[test]
fn stripped_run_replays_its_plain_syn_ack() {
    let (input, probes) = replay_capture("agg-strip-join");
    let wan2 = probes.iter().find(|(s, _, _)| s == "10.12.0.1").unwrap();
    assert_eq!(wan2.2, JoinAnswer::SynAckWithoutJoin);
    let wan1 = probes.iter().find(|(s, _, _)| s == "10.11.0.1").unwrap();
    assert_eq!(wan1.2, JoinAnswer::SynAckValid { backup: false });
    let v = evaluate(&input);
    let (paths, summary) = recorded_verdicts("agg-strip-join");
    assert_eq!(paths, ["subflow_ok", "join_stripped"]);
    assert_eq!(
        v.paths
            .iter()
            .map(|p| p.verdict.clone())
            .collect::<Vec<_>>(),
        paths
    );
    assert_eq!(
        (v.summary.verdict.as_str(), summary.as_str()),
        ("aggregation_none", "aggregation_none")
    );
}
