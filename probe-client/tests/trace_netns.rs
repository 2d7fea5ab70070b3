//! `mptcp-probe trace` end to end: client - r1 - r2 - server namespaces
//! with real kernels, the real binary in the client namespace and the echo
//! server running in-process in the server namespace. Root only: without
//! it every test prints why and skips. Each test builds fresh namespaces,
//! so ICMP rate limits (per destination, in each router) start full and
//! the client namespace's MPTCP blackhole state is its own.
use lab::echo_server::InProcessServer;
use lab::netns::{self, Chain};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");
const PORT: u16 = 6101;

/// The chain and the echo server on a thread inside its server namespace
/// (stopped on drop).
fn lab(tag: &str) -> (Chain, InProcessServer) {
    let chain = Chain::new(tag).expect("namespaces");
    let server = InProcessServer::on_port(&chain.server, PORT).expect("echo server");
    (chain, server)
}

/// Runs the binary in the client namespace.
fn trace(chain: &Chain, args: &[&str]) -> Output {
    let out = chain
        .client
        .command(BIN)
        .args(args)
        .output()
        .expect("run mptcp-probe");
    eprintln!(
        "$ mptcp-probe {}\n{}{}exit {:?}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["type"] == t).collect()
}

/// The hop lines of one flow (`v1`, `v0` or `plain`).
fn flow_hops<'a>(lines: &'a [Value], flow: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["type"] == "hop" && v["flow"] == flow)
        .collect()
}

/// The line of hop `ttl` in tracebox format.
fn tracebox_hop(text: &str, ttl: u8) -> String {
    let prefix = format!("{ttl}: ");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no hop {ttl} in:\n{text}"))
        .to_string()
}

/// Strips option 30 on r1's FORWARD chain (IPv4 or IPv6).
fn strip_on_r1(chain: &Chain, v6: bool) {
    let tool = if v6 { "ip6tables" } else { "iptables" };
    chain
        .r1
        .exec(&[
            tool,
            "-t",
            "mangle",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "6101",
            "-j",
            "TCPOPTSTRIP",
            "--strip-options",
            "30",
        ])
        .expect("TCPOPTSTRIP rule");
}

#[test]
fn clean_path_every_hop_keeps_mp_capable() {
    if netns::skip("clean_path_every_hop_keeps_mp_capable") {
        return;
    }
    let (chain, _server) = lab("trc");
    let dst = chain.server_addr.to_string();
    let out = trace(&chain, &["--json", "trace", &dst, "--timeout", "3"]);
    let lines = json_lines(&out);
    let hops = flow_hops(&lines, "v1");
    assert_eq!(hops.len(), 3, "two routers and the destination");
    assert_eq!(hops[0]["responder"], chain.r1_addr.to_string());
    assert_eq!(hops[1]["responder"], chain.r2_addr.to_string());
    for hop in &hops[..2] {
        assert_eq!(hop["kind"], "time_exceeded");
        assert_eq!(hop["quote"], "full");
        assert_eq!(hop["mp_capable"], "present");
        assert_eq!(hop["diff"]["differences"], Value::Array(vec![]), "{hop}");
    }
    assert_eq!(hops[2]["kind"], "syn_ack");
    assert_eq!(hops[2]["responder"], dst);
    assert_eq!(hops[2]["tracebox"], "", "SYN/ACK kept MP_CAPABLE");
    assert_eq!(hops[2]["mp_capable"], "present");
    // The controls, each on its own flow, after the traced one: as far as
    // the destination, which answers both without MP_CAPABLE.
    assert_eq!(
        of_type(&lines, "hop")[..3],
        hops[..],
        "the traced flow first"
    );
    for control in ["plain", "v0"] {
        let c = flow_hops(&lines, control);
        assert_eq!(c.len(), 3, "{control}: {c:?}");
        assert_eq!(c[1]["responder"], chain.r2_addr.to_string());
        assert_eq!(c[2]["kind"], "syn_ack", "{control}");
        assert_eq!(c[2]["mp_capable"], "absent", "{control}");
    }
    let server = of_type(&lines, "server");
    assert_eq!(server[0]["syn_seen"], true, "echo server saw the probe");
    let verdict = of_type(&lines, "verdict");
    assert_eq!(verdict[0]["verdict"], "mptcp_ok", "{}", verdict[0]);
    assert_eq!(out.status.code(), Some(0));
}

/// Drops forwarded SYNs carrying option 30 on r1 (what the lab's drop-r1
/// does).
fn drop_option_30_on_r1(chain: &Chain) {
    chain
        .r1
        .exec(&[
            "iptables",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "6101",
            "-m",
            "tcp",
            "--tcp-option",
            "30",
            "-j",
            "DROP",
        ])
        .expect("DROP rule");
}

#[test]
fn a_dropping_router_is_found_by_the_plain_control() {
    if netns::skip("a_dropping_router_is_found_by_the_plain_control") {
        return;
    }
    let (chain, _server) = lab("trd");
    drop_option_30_on_r1(&chain);
    let dst = chain.server_addr.to_string();
    let out = trace(&chain, &["--json", "trace", &dst, "--timeout", "2"]);
    let lines = json_lines(&out);
    let verdict = of_type(&lines, "verdict")[0];
    assert_eq!(verdict["verdict"], "syn_dropped", "{verdict}");
    let range = &verdict["hop_range"];
    assert_eq!(range["last_with"]["ttl"], 1, "{verdict}");
    assert_eq!(range["last_with"]["addr"], chain.r1_addr.to_string());
    assert_eq!(range["first_without"]["ttl"], 2, "{verdict}");
    assert_eq!(range["first_without"]["addr"], chain.r2_addr.to_string());
    assert_eq!(out.status.code(), Some(1));
    // r1 quoted our MP_CAPABLE SYN, then nothing more came back on that
    // flow; the plain one reached the server.
    let v1 = flow_hops(&lines, "v1");
    assert_eq!(v1[0]["mp_capable"], "present");
    assert!(v1[1..].iter().all(|h| h["kind"] == "silent"), "{v1:?}");
    let plain = flow_hops(&lines, "plain");
    assert_eq!(plain.last().unwrap()["kind"], "syn_ack", "{plain:?}");
    assert_eq!(plain.last().unwrap()["responder"], dst);

    // The text names the range, and shows the controls in one line each.
    let out = trace(&chain, &["trace", &dst, "--timeout", "2"]);
    let text = stdout(&out);
    assert!(text.contains("verdict: syn_dropped"), "{text}");
    assert!(
        text.contains(&format!(
            "where: between hop 1 ({}) and hop 2 ({})",
            chain.r1_addr, chain.r2_addr
        )),
        "{text}"
    );
    let control = text
        .lines()
        .find(|l| l.trim_start().starts_with("plain SYN, port "))
        .unwrap_or_else(|| panic!("no plain control line in {text}"));
    assert!(control.ends_with(&format!("3 {dst} SYN/ACK")), "{control}");
    assert!(
        !text.contains("evidence: trace hop 5"),
        "silent hops in one evidence line: {text}"
    );
}

#[test]
fn a_v0_router_without_an_echo_server_sees_v1_work() {
    if netns::skip("a_v0_router_without_an_echo_server_sees_v1_work") {
        return;
    }
    // No echo server: only an MPTCP listener (this kernel speaks v1). The
    // v0 SYNs are answered without MPTCP, the v1 control with a key.
    let chain = Chain::new("trn").expect("namespaces");
    let listening = chain
        .server
        .run(|| {
            let s = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::MPTCP),
            )?;
            s.set_reuse_address(true)?;
            s.bind(&std::net::SocketAddr::from(([0, 0, 0, 0], PORT)).into())?;
            s.listen(16)?;
            Ok::<_, std::io::Error>(s)
        })
        .expect("enter the server namespace")
        .expect("MPTCP listener");
    let dst = chain.server_addr.to_string();
    let args = [
        "--json",
        "trace",
        &dst,
        "--timeout",
        "2",
        "--mptcp-version",
        "0",
    ];
    let out = trace(&chain, &args);
    let lines = json_lines(&out);
    let verdict = of_type(&lines, "verdict")[0];
    assert_eq!(verdict["verdict"], "version_mismatch", "{verdict}");
    assert!(
        verdict["evidence"]
            .to_string()
            .contains("the v1 probe in v1 negotiated MPTCP"),
        "{verdict}"
    );
    let v1 = flow_hops(&lines, "v1");
    assert_eq!(v1.last().unwrap()["mp_capable"], "present", "{v1:?}");
    assert_eq!(out.status.code(), Some(1));
    drop(listening);
}

#[test]
fn tracebox_blocks_are_labelled_with_their_interface() {
    if netns::skip("tracebox_blocks_are_labelled_with_their_interface") {
        return;
    }
    let (chain, _server) = lab("trl");
    // A second uplink: client eth1 (10.8.0.1) to r1, a default route of
    // its own there, and the way back on r2.
    netns::veth(&chain.client, "eth1", &chain.r1, "eth2").unwrap();
    chain.client.addr("eth1", "10.8.0.1/24").unwrap();
    chain.r1.addr("eth2", "10.8.0.254/24").unwrap();
    chain
        .client
        .ip(&[
            "route",
            "add",
            "default",
            "via",
            "10.8.0.254",
            "dev",
            "eth1",
            "metric",
            "200",
        ])
        .unwrap();
    chain.r2.route("10.8.0.0/24", "10.5.0.1").unwrap();
    let dst = chain.server_addr.to_string();
    let args = [
        "trace",
        &dst,
        "--timeout",
        "3",
        "-i",
        "eth0",
        "-i",
        "eth1",
        "--format",
        "tracebox",
    ];
    let out = trace(&chain, &args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    for name in ["eth0", "eth1"] {
        let at = lines
            .iter()
            .position(|l| *l == format!("interface {name}:"))
            .unwrap_or_else(|| panic!("no label for {name} in {text}"));
        assert!(lines[at + 1].starts_with("tracebox to "), "{text}");
        // The header, the `# interface` note, then hops 1 to 3.
        assert!(
            lines[at + 2].starts_with(&format!("# interface {name},")),
            "{text}"
        );
        assert!(lines[at + 5].starts_with(&format!("3: {dst} ")), "{text}");
    }
    // One interface: tracebox's lines alone, no label.
    let out = trace(
        &chain,
        &["trace", &dst, "--timeout", "3", "--format", "tracebox"],
    );
    assert!(stdout(&out).starts_with("tracebox to "));
}

#[test]
fn stripping_router_is_named_v4() {
    if netns::skip("stripping_router_is_named_v4") {
        return;
    }
    if !netns::have("iptables") {
        println!("skipped stripping_router_is_named_v4: iptables not installed");
        return;
    }
    let (chain, _server) = lab("trs4");
    strip_on_r1(&chain, false);
    let dst = chain.server_addr.to_string();
    let out = trace(
        &chain,
        &["trace", &dst, "--timeout", "3", "--format", "tracebox"],
    );
    let text = stdout(&out);
    assert!(text.starts_with(&format!("tracebox to {dst} ({dst}): 30 hops max\n")));
    let hop1 = tracebox_hop(&text, 1);
    let hop2 = tracebox_hop(&text, 2);
    assert!(
        hop1.starts_with(&format!("1: {} ", chain.r1_addr)),
        "{hop1}"
    );
    assert!(
        !hop1.contains("MPTCP"),
        "r1 quotes before it strips: {hop1}"
    );
    assert!(
        hop2.starts_with(&format!("2: {} ", chain.r2_addr)),
        "{hop2}"
    );
    assert!(hop2.contains("IP::TTL IP::CheckSum"), "{hop2}");
    assert!(hop2.ends_with("-TCPOptionMPTCPCapable"), "{hop2}");
    assert!(tracebox_hop(&text, 3).ends_with("-TCPOptionMPTCPCapable"));
    assert_eq!(out.status.code(), Some(1));

    let out = trace(&chain, &["--json", "trace", &dst, "--timeout", "3"]);
    let lines = json_lines(&out);
    let verdict = of_type(&lines, "verdict")[0];
    assert_eq!(verdict["verdict"], "stripped_upstream", "{verdict}");
    assert_eq!(verdict["hop_range"]["last_with"]["ttl"], 1);
    assert_eq!(verdict["hop_range"]["first_without"]["ttl"], 2);
    assert_eq!(
        verdict["hop_range"]["last_with"]["addr"],
        chain.r1_addr.to_string()
    );
    assert_eq!(verdict["exit_code"], 1);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn stripping_router_is_named_v6() {
    if netns::skip("stripping_router_is_named_v6") {
        return;
    }
    if !netns::have("ip6tables") {
        println!("skipped stripping_router_is_named_v6: ip6tables not installed");
        return;
    }
    let (chain, _server) = lab("trs6");
    strip_on_r1(&chain, true);
    let dst = chain.server_addr6.to_string();
    let out = trace(
        &chain,
        &["trace", &dst, "--timeout", "3", "--format", "tracebox"],
    );
    let text = stdout(&out);
    let hop2 = tracebox_hop(&text, 2);
    assert!(
        hop2.starts_with(&format!("2: {} ", chain.r2_addr6)),
        "{hop2}"
    );
    assert!(hop2.contains("IPv6::HopLimit"), "{hop2}");
    assert!(hop2.ends_with("-TCPOptionMPTCPCapable"), "{hop2}");
    assert!(!tracebox_hop(&text, 1).contains("MPTCP"));
    assert!(text.contains("verdict: stripped_upstream"), "{text}");
    assert!(
        text.contains(&format!(
            "between hop 1 ({}) and hop 2 ({})",
            chain.r1_addr6, chain.r2_addr6
        )),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn silent_router_is_a_star_and_the_trace_still_ends() {
    if netns::skip("silent_router_is_a_star_and_the_trace_still_ends") {
        return;
    }
    if !netns::have("iptables") {
        println!("skipped silent_router_is_a_star_and_the_trace_still_ends: no iptables");
        return;
    }
    let (chain, _server) = lab("trq");
    chain
        .r2
        .exec(&[
            "iptables",
            "-A",
            "OUTPUT",
            "-p",
            "icmp",
            "--icmp-type",
            "time-exceeded",
            "-j",
            "DROP",
        ])
        .expect("silence r2");
    let dst = chain.server_addr.to_string();
    let out = trace(
        &chain,
        &["trace", &dst, "--timeout", "2", "--format", "tracebox"],
    );
    let text = stdout(&out);
    assert_eq!(tracebox_hop(&text, 2), "2: *");
    assert!(tracebox_hop(&text, 3).starts_with(&format!("3: {dst} ")));
    assert!(!text.contains("\n4: "), "nothing after the destination");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn v0_probe_against_v1_server_is_a_version_mismatch() {
    if netns::skip("v0_probe_against_v1_server_is_a_version_mismatch") {
        return;
    }
    let (chain, _server) = lab("trv0");
    let dst = chain.server_addr.to_string();
    let args = [
        "trace",
        &dst,
        "--timeout",
        "3",
        "--format",
        "tracebox",
        "--mptcp-version",
        "0",
    ];
    let out = trace(&chain, &args);
    let text = stdout(&out);
    // What tracebox shows on the last hop, for the reason it never names.
    assert!(tracebox_hop(&text, 3).ends_with("-TCPOptionMPTCPCapable"));
    assert!(
        !tracebox_hop(&text, 2).contains("MPTCP"),
        "the path kept it"
    );
    assert!(text.contains("verdict: version_mismatch"), "{text}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn without_cap_net_raw_the_error_names_setcap() {
    if netns::skip("without_cap_net_raw_the_error_names_setcap") {
        return;
    }
    if !netns::have("setpriv") {
        println!("skipped without_cap_net_raw_the_error_names_setcap: no setpriv");
        return;
    }
    let (chain, _server) = lab("trn");
    let dst = chain.server_addr.to_string();
    let out = chain
        .client
        .command("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            BIN,
            "trace",
            &dst,
        ])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sudo setcap cap_net_raw+ep $(command -v mptcp-probe)"),
        "{err}"
    );
    assert!(err.contains("CAP_NET_RAW"), "{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty(), "no trace output without privileges");
}

#[test]
fn write_records_probes_and_answers_for_analyze() {
    if netns::skip("write_records_probes_and_answers_for_analyze") {
        return;
    }
    let (chain, _server) = lab("trw");
    let dst = chain.server_addr.to_string();
    let dir = std::env::temp_dir().join(format!("mptcp-probe-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("trace.pcap");
    let path = file.to_str().unwrap();
    let out = trace(
        &chain,
        &["trace", &dst, "--timeout", "3", "-m", "5", "--write", path],
    );
    assert_eq!(out.status.code(), Some(0));
    // Every probe (5), both routers' ICMP errors and the SYN/ACK.
    let data = std::fs::read(&file).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&data[..]).unwrap();
    assert_eq!(u32::from(reader.header().datalink), 101, "LINKTYPE_RAW");
    let (mut syns, mut icmp, mut syn_acks) = (0, 0, 0);
    let mut flows = std::collections::HashSet::new();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        let ip = &p.data[..];
        match ip[9] {
            1 => icmp += 1,
            6 if ip[33] & 0x12 == 0x02 => {
                syns += 1;
                // Paris-style: addresses and ports identical on every TTL.
                flows.insert(ip[12..24].to_vec());
            }
            6 if ip[33] & 0x12 == 0x12 => syn_acks += 1,
            _ => {}
        }
    }
    // Five probes of the traced flow, then TTL 1 to 3 (the destination's)
    // of each control flow, plus at most one retry per flow for each TTL
    // below the destination (1 and 2) whose answer had not come when the
    // retry was due (a loaded machine): 11 to 17, never a probe per packet.
    assert!((11..=17).contains(&syns), "{syns} SYNs");
    assert_eq!(icmp, 6, "both routers quote each of the three flows");
    assert_eq!(flows.len(), 3, "one constant flow for every TTL, per kind");
    // Probes 4 and 5 reach the server too; what it answers them (before our
    // kernel resets the half-open connection) may or may not be recorded.
    assert!(syn_acks >= 1);
    let analyzed = std::process::Command::new(BIN)
        .args(["analyze", path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&analyzed.stdout);
    // 0 or 1 is analyze's verdict on the handshakes it found (a trace's
    // SYNs never complete one); 2 would be a file it cannot read.
    assert_ne!(analyzed.status.code(), Some(2), "{text}");
    assert_eq!(text.matches("Flags [S],").count(), syns, "{text}");
    assert!(text.contains("mptcp 4 capable v1"), "{text}");
    assert!(text.contains("Flags [S.]"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stripping_after_a_nat_is_placed_before_the_server() {
    if netns::skip("stripping_after_a_nat_is_placed_before_the_server") {
        return;
    }
    if !netns::have("iptables") {
        println!("skipped stripping_after_a_nat_is_placed_before_the_server: no iptables");
        return;
    }
    let (chain, _server) = lab("trnat");
    // r1 is the client's NAT (its CPE); r2 strips option 30 on FORWARD.
    chain
        .r1
        .exec(&[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "eth1",
            "-j",
            "MASQUERADE",
        ])
        .expect("MASQUERADE");
    chain
        .r2
        .exec(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "6101",
            "-j",
            "TCPOPTSTRIP",
            "--strip-options",
            "30",
        ])
        .expect("TCPOPTSTRIP rule");
    let dst = chain.server_addr.to_string();
    let out = trace(&chain, &["--json", "trace", &dst, "--timeout", "3"]);
    let lines = json_lines(&out);
    let hops = flow_hops(&lines, "v1");
    assert_eq!(hops.len(), 3);
    for hop in &hops[..2] {
        // The NAT translated router 2's quote back to our own addresses.
        assert_eq!(hop["translated"], false, "{hop}");
        assert_eq!(hop["mp_capable"], "present", "{hop}");
    }
    assert_eq!(hops[2]["tracebox"], "-TCPOptionMPTCPCapable");
    assert_eq!(hops[2]["mp_capable"], "absent");
    let server = of_type(&lines, "server")[0];
    assert_eq!(server["syn_seen"], true, "{server}");
    assert_eq!(
        server["mp_capable"], "MP_CAPABLE did NOT arrive",
        "{server}"
    );
    let verdict = of_type(&lines, "verdict")[0];
    assert_eq!(verdict["verdict"], "stripped_upstream", "{verdict}");
    assert_eq!(verdict["hop_range"]["last_with"]["ttl"], 2, "{verdict}");
    assert_eq!(
        verdict["hop_range"]["first_without"],
        Value::Null,
        "{verdict}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_rejecting_router_ends_the_trace() {
    if netns::skip("a_rejecting_router_ends_the_trace") {
        return;
    }
    if !netns::have("iptables") {
        println!("skipped a_rejecting_router_ends_the_trace: no iptables");
        return;
    }
    let (chain, _server) = lab("trrej");
    chain
        .r2
        .exec(&[
            "iptables",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "6101",
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-admin-prohibited",
        ])
        .expect("REJECT rule");
    let dst = chain.server_addr.to_string();
    let out = trace(&chain, &["trace", &dst, "--timeout", "3"]);
    let text = stdout(&out);
    // TTL 2 expires at r2 before its FORWARD chain; TTL 3 is rejected there.
    let hop3 = text
        .lines()
        .find(|l| l.starts_with("  3  "))
        .unwrap_or_else(|| panic!("no hop 3:\n{text}"));
    assert!(hop3.contains(&chain.r2_addr.to_string()), "{hop3}");
    assert!(hop3.contains("administratively prohibited"), "{hop3}");
    assert!(!text.contains("\n  4  "), "the trace ends at the refusal");
    assert!(text.contains("verdict: unreachable"), "{text}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn interface_and_source_are_honoured() {
    if netns::skip("interface_and_source_are_honoured") {
        return;
    }
    let (chain, _server) = lab("tri");
    let dst = chain.server_addr.to_string();
    let src = chain.client_addr.to_string();
    let args = [
        "trace",
        &dst,
        "--timeout",
        "3",
        "-i",
        "eth0",
        "--source",
        &src,
        "--format",
        "tracebox",
    ];
    let out = trace(&chain, &args);
    assert_eq!(out.status.code(), Some(0));
    assert!(tracebox_hop(&stdout(&out), 3).starts_with(&format!("3: {dst} ")));

    let dst6 = chain.server_addr6.to_string();
    let args6 = ["trace", "-6", &dst6, "--timeout", "3", "-i", "eth0"];
    let out = trace(&chain, &args6);
    assert_eq!(out.status.code(), Some(0));
    // IPv6 with its port in brackets (issue 9), as everywhere.
    assert!(stdout(&out).contains(&format!("from [{}]:", chain.client_addr6)));

    let out = trace(&chain, &["trace", &dst, "-i", "nosuch0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such interface nosuch0"), "{err}");
    assert_eq!(out.status.code(), Some(2));

    let out = trace(&chain, &["trace", &dst, "--source", "fd00:1::1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("different IP families"), "{err}");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn probes_lost_in_a_neighbour_queue_are_retried() {
    if netns::skip("probes_lost_in_a_neighbour_queue_are_retried") {
        return;
    }
    let (chain, _server) = lab("trarp");
    // r2 has to resolve the server's MAC while the probes arrive, and the
    // server ignores its first ARP request: r2 keeps only the newest packet
    // queued (the queue drops the oldest when full), so at first only
    // TTL 30 reaches the server and the destination looks 30 hops away.
    chain
        .r2
        .sysctl("net.ipv4.neigh.eth1.unres_qlen_bytes", "1")
        .expect("sysctl");
    chain
        .server
        .sysctl("net.ipv4.conf.eth0.arp_ignore", "8")
        .expect("sysctl");
    let dst = chain.server_addr.to_string();
    let child = chain
        .client
        .command(BIN)
        .args(["--json", "trace", &dst, "--timeout", "4", "--write"])
        .arg(std::env::temp_dir().join(format!("trarp-{}.pcap", std::process::id())))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run mptcp-probe");
    // r2 asks again after a second (retrans_time); answer that one.
    std::thread::sleep(Duration::from_millis(300));
    chain
        .server
        .sysctl("net.ipv4.conf.eth0.arp_ignore", "0")
        .expect("sysctl");
    let out = child.wait_with_output().expect("wait");
    let pcap = std::env::temp_dir().join(format!("trarp-{}.pcap", std::process::id()));
    let data = std::fs::read(&pcap).unwrap_or_default();
    let _ = std::fs::remove_file(&pcap);
    eprintln!("{}", stdout(&out));
    let lines = json_lines(&out);
    let hops = flow_hops(&lines, "v1");
    assert_eq!(hops.len(), 3, "the retry of TTL 3 finds the destination");
    assert_eq!(hops[2]["kind"], "syn_ack");
    assert_eq!(out.status.code(), Some(0));
    // The retries are in the capture: more SYNs than the 30 first probes.
    let mut reader = pcap_file::pcap::PcapReader::new(&data[..]).unwrap();
    let mut syns = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        if p.data[9] == 6 && p.data[33] & 0x12 == 0x02 {
            syns += 1;
        }
    }
    assert!(
        syns > 30,
        "{syns} SYNs: no retry was needed, the queue lost nothing"
    );
}

#[test]
fn file_capability_lets_an_unprivileged_user_trace() {
    let name = "file_capability_lets_an_unprivileged_user_trace";
    if netns::skip(name) {
        return;
    }
    if !netns::have("setcap") || !netns::have("setpriv") {
        println!("skipped {name}: setcap or setpriv missing");
        return;
    }
    let (chain, _server) = lab("trcap");
    // A copy that `nobody` can run, with cap_net_raw+ep as `setcap` gives it.
    let dir = std::env::temp_dir().join(format!("trcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("mptcp-probe");
    std::fs::copy(BIN, &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let set = std::process::Command::new("setcap")
        .args(["cap_net_raw+ep", bin.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(set.success());
    let dst = chain.server_addr.to_string();
    let out = chain
        .client
        .command("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&bin)
        .args(["trace", &dst, "--timeout", "3", "--format", "tracebox"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = stdout(&out);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    assert!(tracebox_hop(&text, 3).starts_with(&format!("3: {dst} ")));
}

/// Spends the ICMP rate-limit buckets that r1 and r2 keep for the client
/// (Linux: a burst of 6, then one error per second): datagrams that expire
/// at each router, more than a burst's worth.
fn spend_icmp_buckets(chain: &Chain) {
    let server = std::net::SocketAddr::from((chain.server_addr, 9));
    chain
        .client
        .run(move || {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("UDP socket");
            for ttl in [1, 2] {
                socket.set_ttl(ttl).expect("IP_TTL");
                for _ in 0..10 {
                    socket.send_to(b"spend", server).expect("send");
                }
            }
        })
        .expect("client namespace");
    // Let the last time-exceeded errors arrive before the first trace.
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn back_to_back_traces_keep_every_hop() {
    if netns::skip("back_to_back_traces_keep_every_hop") {
        return;
    }
    let (chain, _server) = lab("trbb");
    spend_icmp_buckets(&chain);
    let dst = chain.server_addr.to_string();
    // Three traces, each started as the previous one ends: every one finds
    // the routers' buckets empty and gets its hops from the retries.
    for run in 1..=3 {
        let out = trace(&chain, &["--json", "trace", &dst, "--timeout", "3"]);
        let lines = json_lines(&out);
        // The traced flow's hops (it comes first); the controls share the
        // routers' buckets and may go without.
        let all = of_type(&lines, "hop");
        let traced = all.first().map(|h| h["flow"].clone());
        let hops: Vec<_> = all
            .into_iter()
            .filter(|h| Some(&h["flow"]) == traced.as_ref())
            .collect();
        assert_eq!(hops.len(), 3, "run {run}: two routers and the destination");
        assert_eq!(hops[0]["responder"], chain.r1_addr.to_string(), "run {run}");
        assert_eq!(hops[1]["responder"], chain.r2_addr.to_string(), "run {run}");
        for hop in &hops[..2] {
            assert_eq!(hop["kind"], "time_exceeded", "run {run}: {hop}");
        }
        assert_eq!(hops[2]["kind"], "syn_ack", "run {run}");
        assert_eq!(out.status.code(), Some(0), "run {run}");
    }
}
