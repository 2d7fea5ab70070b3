//! Replay of the lab's recorded captures (pcap-fixtures/lab-*.pcap,
//! recorded by `lab --record pcap-fixtures` during each scenario's
//! `check`): `mptcp-probe analyze` runs the verdict engine on every
//! handshake offline, without root, and must conclude what the scenario
//! table (`lab::SCENARIOS`) says each side can honestly conclude.
use lab::middlebox::Middlebox;
use lab::{Router, SCENARIOS};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

fn fixture(name: &str, side: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../pcap-fixtures")
        .join(format!("lab-{name}.{side}.pcap"))
}

/// A handshake's verdict and the side it was judged from.
type Judged = (Option<String>, Option<String>);

/// (verdict, side it was judged from) per handshake, and the exit code of
/// the text run.
fn analyze(name: &str, side: &str) -> (Vec<Judged>, Option<i32>) {
    let file = fixture(name, side);
    assert!(
        file.is_file(),
        "{} missing: re-record with `sudo target/debug/lab --record pcap-fixtures`",
        file.display()
    );
    let out = Command::new(BIN)
        .args(["analyze", "--json"])
        .arg(&file)
        .output()
        .expect("run mptcp-probe analyze");
    let verdicts = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter_map(|v| v.get("handshake").cloned())
        .map(|h| {
            (
                h["verdict"].as_str().map(String::from),
                h["verdict_detail"]["side"].as_str().map(String::from),
            )
        })
        .collect();
    let text = Command::new(BIN)
        .arg("analyze")
        .arg(&file)
        .output()
        .expect("run mptcp-probe analyze");
    (verdicts, text.status.code())
}

#[test]
fn every_lab_capture_replays_to_the_table() {
    // Recorded for the chain layout only (see `lab::Scenario::layout`).
    for s in SCENARIOS.iter().filter(|s| s.layout == lab::Layout::Chain) {
        for (side, expected) in [("client", s.replay_client), ("server", s.replay_server)] {
            let (got, code) = analyze(s.name, side);
            let want: Vec<Judged> = expected
                .iter()
                .map(|v| (v.map(String::from), v.map(|_| side.to_string())))
                .collect();
            assert_eq!(got, want, "lab-{}.{side}.pcap", s.name);
            let not_ok = expected.iter().flatten().any(|v| *v != "mptcp_ok");
            assert_eq!(code, Some(i32::from(not_ok)), "lab-{}.{side}.pcap", s.name);
        }
    }
}

/// The capture of one side names the cause `check` found with the echo
/// server's help, in the handshake of the kernel's own connection, for
/// every cause a single capture can show: stripping and a disabled server
/// on the server's side, dropped SYNs (retransmissions) on the client's,
/// a working path on both.
/// The verdict of the first handshake (the kernel's own connection).
fn kernel(list: &[Option<&'static str>]) -> Option<&'static str> {
    list.first().copied().flatten()
}

#[test]
fn captures_name_the_cause_check_found() {
    for s in SCENARIOS.iter().filter(|s| s.layout == lab::Layout::Chain) {
        // Causes no single capture shows: check needs the server's account
        // next to its own answers.
        if s.middleboxes == [Middlebox::DropSynAckOption30(Router::R1)] {
            // The client saw its v1 SYN unanswered while the plain probe
            // passed: a drop, but not which way (the server's account
            // tells that); the server answered it with MPTCP and cannot
            // tell either.
            assert_eq!(s.replay_client.first(), Some(&Some("syn_dropped")));
            assert_eq!(s.replay_server.first(), Some(&Some("inconclusive")));
            continue;
        }
        if s.middleboxes == [Middlebox::SynProxy(Router::R2)] {
            // No handshake of ours reaches the server: only the proxy's
            // own, without MP_CAPABLE.
            assert_eq!(s.replay_server, [None], "{}", s.name);
            assert!(!s.replay_client.contains(&Some("mptcp_ok")), "{}", s.name);
            continue;
        }
        match s.check.verdict {
            "mptcp_ok" => {
                assert_eq!(kernel(s.replay_client), Some("mptcp_ok"), "{}", s.name);
                assert_eq!(kernel(s.replay_server), Some("mptcp_ok"), "{}", s.name);
            }
            "stripped_upstream" | "stripped_downstream" | "server_mptcp_disabled" => {
                assert_eq!(kernel(s.replay_server), Some(s.check.verdict), "{}", s.name);
                // The client's capture alone cannot tell these apart.
                assert_eq!(kernel(s.replay_client), Some("inconclusive"), "{}", s.name);
            }
            "syn_dropped" => {
                assert_eq!(kernel(s.replay_client), Some("syn_dropped"), "{}", s.name);
            }
            // The blackhole detection: the kernel's own SYN offers no
            // MPTCP at all, while the crafted v1 probe's handshake works,
            // seen from both sides.
            "local_mptcp_disabled" => {
                assert_eq!(kernel(s.replay_client), None, "{}", s.name);
                assert_eq!(s.replay_client.get(1), Some(&Some("mptcp_ok")));
                assert_eq!(s.replay_server.get(1), Some(&Some("mptcp_ok")));
            }
            // The v0 router: this host's version is not in the capture
            // (the lab's kernel speaks v1; check was told v0 by
            // --mptcp-version), so the capture is a clean one; the crafted
            // v0 SYN is check's own probe, not this host speaking v0.
            "version_mismatch" => {
                assert_eq!(
                    s.replay_client.get(2),
                    Some(&Some("mptcp_ok")),
                    "{}",
                    s.name
                );
                assert_eq!(
                    s.replay_server.get(2),
                    Some(&Some("mptcp_ok")),
                    "{}",
                    s.name
                );
            }
            // A reflecting middlebox: the crafted probes' SYN/ACKs show it
            // in the client's capture; the server sees no handshake at all.
            "echoing_middlebox" => {
                assert_eq!(s.replay_client.get(1), Some(&Some("echoing_middlebox")));
                assert_eq!(s.replay_client.get(2), Some(&Some("echoing_middlebox")));
                assert!(s.replay_server.is_empty(), "{}", s.name);
            }
            other => panic!("{}: no replay rule for {other}", s.name),
        }
    }
}
