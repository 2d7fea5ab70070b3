//! `mptcp-probe aggregate` end to end, one test per row of
//! `lab::aggregate::AGGREGATE_SCENARIOS`: a router with two WANs in
//! OpenMPTCProuter's layout, the cause switched on, the echo server
//! in-process in the server namespace, the real binary on the router.
//! Each asserts the per-WAN and summary verdicts, and the kernel behaviour
//! the verdicts are designed around, as this kernel shows it:
//! - the in-kernel path manager never adds a join on the WAN of the
//!   initial subflow (clean: one subflow per WAN);
//! - a join whose MP_JOIN was stripped reaches the server as a plain SYN
//!   and the router resets it (its MPRstTx counter moves);
//! - a dropped join stays in SYN-SENT and `MPTCP_INFO` counts it, and
//!   dropped joins do not trip the blackhole detector;
//! - a join over the server's limit gets a SYN/ACK with a valid HMAC and is
//!   refused at the third ACK (the server's MPJoinRejected counter moves);
//! - on a path that drops MP_CAPABLE SYNs no kernel connection is opened,
//!   so the router's blackhole detector is never tripped.
//!
//! Root only (namespaces, iptables); otherwise each test says why it skipped.
use lab::aggregate::{AggOptions, AggOutcome, TwoWan, AGGREGATE_SCENARIOS};
use lab::{Binaries, ServerLaunch};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

fn outcome(name: &str) -> Option<AggOutcome> {
    if let Some(why) = lab::unavailable() {
        println!("skipped aggregate scenario {name}: {why}");
        return None;
    }
    let s = lab::aggregate::find(name).unwrap_or_else(|| panic!("no scenario {name}"));
    let bins = Binaries {
        client: BIN.into(),
        server: ServerLaunch::InProcess,
    };
    let i = AGGREGATE_SCENARIOS
        .iter()
        .position(|x| x.name == name)
        .unwrap_or(99);
    let o = lab::aggregate::run::run(s, &format!("ag{i}"), &bins, &AggOptions::default())
        .expect("lab run");
    assert!(o.mismatches().is_empty(), "{:?}\n{}", o.mismatches(), o.run);
    Some(o)
}

fn wan2(o: &AggOutcome) -> &Value {
    &o.path_lines[1]
}

fn input(o: &AggOutcome) -> &Value {
    &o.summary_line["input"]
}

#[test]
fn agg_clean() {
    let Some(o) = outcome("agg-clean") else {
        return;
    };
    let conn = &input(&o)["connection"];
    let locals: Vec<&str> = conn["subflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local"].as_str().unwrap())
        .collect();
    // One subflow per WAN: no join on the initial subflow's WAN.
    assert_eq!(locals.len(), 2, "{}", o.run);
    assert_eq!(
        locals
            .iter()
            .filter(|l| l.starts_with("10.11.0.1:"))
            .count(),
        1
    );
    assert_eq!(
        locals
            .iter()
            .filter(|l| l.starts_with("10.12.0.1:"))
            .count(),
        1
    );
    for p in &o.path_lines {
        assert_eq!(p["join"]["answer"]["kind"], "syn_ack_valid", "{}", o.run);
        assert_eq!(p["join"]["server_saw"]["kind"], "intact", "{}", o.run);
        assert!(p["bytes_sent"].as_u64().unwrap() > 0);
        assert!(p["bytes_received"].as_u64().unwrap() > 0);
    }
    assert_eq!(o.path_lines[0]["initial"], true);
    // The captured keys are this connection's: both kernels' tokens match.
    assert_eq!(conn["keys"]["client"], conn["token"], "{}", o.run);
    assert_eq!(
        conn["keys"]["server"],
        input(&o)["server"]["connection"]["token"],
        "{}",
        o.run
    );
    assert!(
        o.summary_line["notes"].as_array().unwrap().is_empty(),
        "{}",
        o.run
    );
}

#[test]
fn agg_strip_join() {
    let Some(o) = outcome("agg-strip-join") else {
        return;
    };
    let w = wan2(&o);
    assert_eq!(
        w["join"]["answer"]["kind"], "syn_ack_without_join",
        "{}",
        o.run
    );
    assert_eq!(w["join"]["server_saw"]["kind"], "stripped", "{}", o.run);
    // The router reset the plain SYN/ACK its stripped join got.
    assert!(
        o.router_delta("MPRstTx").unwrap_or(0) >= 1,
        "{:?}",
        o.router_after
    );
    assert_eq!(o.router_delta("MPJoinSynAckRx"), Some(0));
}

#[test]
fn agg_drop_join() {
    let Some(o) = outcome("agg-drop-join") else {
        return;
    };
    let w = wan2(&o);
    assert_eq!(w["join"]["answer"]["kind"], "silence", "{}", o.run);
    assert_eq!(w["plain"], "syn_ack");
    // The kernel's own join is still in SYN-SENT, and MPTCP_INFO counts it.
    let states: Vec<u64> = w["subflows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["state"].as_u64())
        .collect();
    assert_eq!(states, [2], "{}", o.run);
    assert_eq!(input(&o)["connection"]["info_subflows"], 1, "{}", o.run);
    // Dropped joins do not trip the blackhole detector.
    assert_eq!(o.router_after.get("Blackhole"), Some(&0));
}

#[test]
fn agg_server_limit() {
    let Some(o) = outcome("agg-server-limit") else {
        return;
    };
    let w = wan2(&o);
    // Accepted at SYN time, refused at the third ACK.
    assert_eq!(w["join"]["answer"]["kind"], "syn_ack_valid", "{}", o.run);
    let rejected = input(&o)["server"]["counters"]["MPJoinRejected"].as_u64();
    assert!(rejected.unwrap_or(0) >= 1, "{}", o.run);
    assert_eq!(input(&o)["server"]["connection"]["subflows_max"], 0);
}

#[test]
fn agg_no_endpoint() {
    let Some(o) = outcome("agg-no-endpoint") else {
        return;
    };
    let w = wan2(&o);
    assert_eq!(w["join"]["answer"]["kind"], "syn_ack_valid", "{}", o.run);
    assert_eq!(
        w["fix"], "ip mptcp endpoint add 10.12.0.1 dev wan2 subflow",
        "{}",
        o.run
    );
}

#[test]
fn agg_router_limit() {
    let Some(o) = outcome("agg-router-limit") else {
        return;
    };
    assert_eq!(input(&o)["connection"]["subflows_max"], 0, "{}", o.run);
    assert_eq!(
        wan2(&o)["fix"],
        "on this router: ip mptcp limits set subflows 1 add_addr_accepted 1"
    );
}

#[test]
fn agg_drop_capable() {
    let Some(o) = outcome("agg-drop-capable") else {
        return;
    };
    // No kernel MPTCP connection over a path that drops MP_CAPABLE SYNs:
    // the router's kernel sent none, and its blackhole detector is untouched.
    assert_eq!(o.router_delta("MPCapableSYNTX"), Some(0), "{}", o.run);
    assert_eq!(o.router_after.get("Blackhole"), Some(&0));
    assert!(input(&o)["connection"].is_null(), "{}", o.run);
    assert_eq!(o.summary_line["handshake"], "syn_dropped");
    let missing = wan2(&o)["missing"].to_string();
    assert!(missing.contains("an MPTCP connection to join"), "{missing}");
}

/// IPv6, one WAN named with `-i`: the initial subflow is that WAN's, its
/// MP_JOIN probe verifies against keys captured from an IPv6 handshake.
#[test]
fn ipv6_single_wan() {
    if let Some(why) = lab::unavailable() {
        println!("skipped: {why}");
        return;
    }
    let lab = lab::netns::Lab::direct("agv6").expect("lab");
    let _server = lab::echo_server::InProcessServer::on_port(&lab.server, 6101).expect("server");
    let out = lab
        .client
        .command(BIN)
        .args([
            "aggregate",
            "--json",
            "-6",
            "-i",
            "eth0",
            "--duration",
            "0.5",
            "--timeout",
            "1.5",
        ])
        .arg(lab.server_addr6.to_string())
        .output()
        .expect("client");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let path = lines.iter().find(|l| l["type"] == "path").expect(&text);
    assert_eq!(path["interface"], "eth0", "{text}");
    assert_eq!(path["source"], "fd00:1::1", "{text}");
    assert_eq!(path["verdict"], "subflow_ok", "{text}");
    assert_eq!(path["join"]["answer"]["kind"], "syn_ack_valid", "{text}");
    assert_eq!(path["join"]["server_saw"]["kind"], "intact", "{text}");
    let summary = lines.iter().find(|l| l["type"] == "summary").expect(&text);
    assert_eq!(summary["verdict"], "aggregation_ok", "{text}");
    assert_eq!(out.status.code(), Some(0));
}

/// An echo server from before the aggregate exchange: a report without
/// `features`, then nothing. The client must say so and still report what
/// it sees locally.
#[test]
fn an_older_server_gets_a_note_and_the_local_view_stays() {
    if let Some(why) = lab::unavailable() {
        println!("skipped: {why}");
        return;
    }
    let lab = TwoWan::new("agold").expect("lab");
    let server = lab
        .server
        .spawn_thread(|| {
            use socket2::{Domain, Protocol, SockAddr, Socket, Type};
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
            s.set_reuse_address(true).unwrap();
            let addr: std::net::SocketAddr = "0.0.0.0:6101".parse().unwrap();
            s.bind(&SockAddr::from(addr)).unwrap();
            s.listen(4).unwrap();
            let (c, peer) = s.accept().unwrap();
            let c: std::net::TcpStream = c.into();
            let mut hello = String::new();
            BufReader::new(c.try_clone().unwrap())
                .read_line(&mut hello)
                .unwrap();
            let peer = peer.as_socket().unwrap();
            let report = serde_json::json!({
                "type": "report", "version": 1,
                "peer": {"addr": peer.ip().to_string(), "port": peer.port()},
                "local": {"addr": "10.99.0.2", "port": 6101},
                "syn": null, "syn_ack": null,
                "connection": {"mptcp": true, "listener_mptcp": true,
                               "fallback_reason": null, "info_flags": 2},
                "readiness": {"mptcp_enabled": true, "flavor": "upstream", "versions": [1],
                              "limits": {"subflows": 8, "add_addr_accepted": 8},
                              "kernel_release": null, "listener": null},
                "warnings": []
            });
            (&c).write_all(format!("{report}\n").as_bytes()).unwrap();
            // Hold the connection until the client closes it.
            let mut rest = String::new();
            let _ = BufReader::new(c).read_line(&mut rest);
        })
        .expect("server thread");
    std::thread::sleep(Duration::from_millis(200));
    let out = lab
        .router
        .command(BIN)
        .args([
            "aggregate",
            "--json",
            "--duration",
            "0.5",
            "--timeout",
            "1.5",
            "10.99.0.2",
        ])
        .output()
        .expect("client");
    let _ = server.join();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let summary = lines.iter().find(|l| l["type"] == "summary").expect(&text);
    assert_eq!(summary["input"]["data"]["ran"], false, "{text}");
    let note = summary["input"]["data"]["note"]
        .as_str()
        .unwrap_or_default();
    assert!(note.contains("predates the aggregate exchange"), "{text}");
    // The local view is still there: wan2 joined, its data unmeasured.
    let w2 = lines
        .iter()
        .find(|l| l["interface"] == "wan2")
        .expect(&text);
    assert_eq!(w2["verdict"], "inconclusive", "{text}");
    assert_eq!(w2["subflows"][0]["state"], 1, "{text}");
    assert_eq!(summary["verdict"], "inconclusive", "{text}");
    assert_eq!(out.status.code(), Some(1));
}
