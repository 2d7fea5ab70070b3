//! `mptcp-probe check` end to end: the real binary in a client namespace,
//! the echo server in-process in a server namespace (as in
//! lab/tests/server_netns.rs), real kernels, real iptables middleboxes.
//! Root only: without it every test prints why and skips.
use lab::echo_server::InProcessServer;
use lab::netns::{self, Lab, Netns};
use serde_json::Value;
use std::net::IpAddr;
use std::process::Output;
use std::time::Duration;

const PORT: u16 = 6101;
const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

/// The echo server on a thread inside the server namespace; stopped on drop.
fn start_server(ns: &Netns) -> InProcessServer {
    InProcessServer::on_port(ns, PORT).expect("echo server")
}

/// What one run of the binary gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The JSON lines of a `--json` run.
    fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect()
    }

    /// The only JSON line's verdict.
    fn verdict(&self) -> String {
        let lines = self.json();
        assert_eq!(lines.len(), 1, "one line expected: {}", self.stdout);
        lines[0]["verdict"].as_str().unwrap_or("?").to_string()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `mptcp-probe check ...` inside the client namespace (as root).
fn check(ns: &Netns, args: &[&str]) -> Run {
    let out = ns
        .command(BIN)
        .arg("check")
        .args(args)
        .args(["--timeout", "2"])
        .output()
        .expect("run mptcp-probe");
    Run::from(out)
}

fn strip_option_30(router: &Netns) {
    router
        .exec(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            &PORT.to_string(),
            "-j",
            "TCPOPTSTRIP",
            "--strip-options",
            "30",
        ])
        .expect("TCPOPTSTRIP rule");
}

fn skip(name: &str) -> bool {
    netns::skip(name)
}

fn skip_without(name: &str, program: &str) -> bool {
    if netns::have(program) {
        return false;
    }
    println!("skipped {name}: {program} not installed");
    true
}

#[test]
fn clean_path_is_mptcp_ok_with_documented_json() {
    if skip("clean_path_is_mptcp_ok_with_documented_json") {
        return;
    }
    let lab = Lab::direct("ck").unwrap();
    let _srv = start_server(&lab.server);
    let addr = lab.server_addr.to_string();

    let text = check(&lab.client, &[&addr]);
    assert_eq!(text.code, 0, "{text:?}");
    let first = text.stdout.lines().next().unwrap_or_default();
    assert!(first.ends_with(": mptcp_ok"), "{text:?}");
    assert!(
        text.stdout.contains("mptcp 4 capable v1 flags [H]"),
        "options as they arrived, with tcpdump's text: {text:?}"
    );

    let run = check(&lab.client, &["--json", &addr]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.json();
    assert_eq!(lines.len(), 1);
    let v = &lines[0];
    assert_eq!(v["verdict"], "mptcp_ok");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["rule"], "mptcp_ok");
    assert_eq!(v["target"], format!("{addr}:{PORT}"));
    assert_eq!(v["address"], addr);
    assert_eq!(v["port"], PORT);
    assert_eq!(v["interface"], Value::Null);
    assert_eq!(v["echo"], "report");
    assert_eq!(v["privileged"], true, "root sends crafted probes: {run:?}");
    assert!(v["source"].as_str().unwrap().starts_with("10.1.0.1:"));
    assert!(v["summary"].as_str().unwrap().contains("works end to end"));
    assert!(!v["evidence"].as_array().unwrap().is_empty());
    // The engine's input: the kernel connection negotiated MPTCP and the
    // server saw all three crafted probes.
    let input = &v["input"];
    assert_eq!(input["kernel"]["outcome"], "connected");
    assert_eq!(input["kernel"]["is_mptcp"], true);
    assert_eq!(input["kernel"]["syn_retransmissions"], 0);
    assert_eq!(input["local"]["mptcp_version"], 1);
    assert_eq!(input["local"]["version_source"], "kernel");
    let probes = input["probes"].as_array().unwrap();
    let kinds: Vec<&str> = probes.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["v1", "v0", "plain"]);
    for p in probes {
        assert_eq!(p["answer"]["type"], "syn_ack", "{p}");
    }
    assert_eq!(input["server"]["probes_queried"], true);
    assert_eq!(input["server"]["probes"].as_array().unwrap().len(), 3);
    assert!(input["server"]["syn_seen"]
        .as_str()
        .unwrap()
        .contains("1e040101"));
    assert_eq!(v["report"]["version"], 1);
    assert_eq!(v["report"]["connection"]["mptcp"], true);
    assert_eq!(v["answer"]["observations"].as_array().unwrap().len(), 3);
    // The saved input replays to the same verdict.
    let replay: packet::verdict::VerdictInput = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(packet::verdict::evaluate(&replay).code.as_str(), "mptcp_ok");
}

#[test]
fn one_line_per_interface() {
    if skip("one_line_per_interface") {
        return;
    }
    let lab = Lab::direct("ci").unwrap();
    let _srv = start_server(&lab.server);
    let addr = lab.server_addr.to_string();
    let run = check(&lab.client, &["--json", "-i", "eth0", "-i", "lo", &addr]);
    let lines = run.json();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert_eq!(lines[0]["interface"], "eth0");
    assert_eq!(lines[0]["verdict"], "mptcp_ok", "{run:?}");
    // Bound to the loopback device, nothing reaches the server.
    assert_eq!(lines[1]["interface"], "lo");
    assert_ne!(lines[1]["verdict"], "mptcp_ok", "{run:?}");
    assert_eq!(run.code, 1, "one interface fails: {run:?}");
}

#[test]
fn stripping_router_is_stripped_upstream() {
    let name = "stripping_router_is_stripped_upstream";
    if skip(name) || skip_without(name, "iptables") {
        return;
    }
    let lab = Lab::routed("cs").unwrap();
    strip_option_30(lab.router.as_ref().unwrap());
    let _srv = start_server(&lab.server);
    let run = check(&lab.client, &["--json", &lab.server_addr.to_string()]);
    assert_eq!(run.verdict(), "stripped_upstream", "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    let v = &run.json()[0];
    let evidence = v["evidence"].to_string();
    assert!(evidence.contains("NOPs"), "{run:?}");
    assert!(v["fix"].as_str().unwrap().contains("option 30"));
}

#[test]
fn stripping_router_behind_nat_is_stripped_upstream() {
    let name = "stripping_router_behind_nat_is_stripped_upstream";
    if skip(name) || skip_without(name, "iptables") {
        return;
    }
    let lab = Lab::routed("cn").unwrap();
    let router = lab.router.as_ref().unwrap();
    strip_option_30(router);
    router
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
        .unwrap();
    let _srv = start_server(&lab.server);
    let run = check(&lab.client, &["--json", &lab.server_addr.to_string()]);
    assert_eq!(run.verdict(), "stripped_upstream", "{run:?}");
    assert_eq!(run.code, 1);
    let v = &run.json()[0];
    // The server saw the router's address: the NAT is real.
    assert_eq!(v["report"]["peer"]["addr"], "10.2.0.254", "{run:?}");
    // And the crafted probes were still found behind it.
    assert_eq!(v["input"]["server"]["probes"].as_array().unwrap().len(), 3);
}

#[test]
fn server_with_mptcp_disabled() {
    if skip("server_with_mptcp_disabled") {
        return;
    }
    let lab = Lab::direct("cd").unwrap();
    lab.server.sysctl("net.mptcp.enabled", "0").unwrap();
    let _srv = start_server(&lab.server);
    let run = check(&lab.client, &["--json", &lab.server_addr.to_string()]);
    assert_eq!(run.verdict(), "server_mptcp_disabled", "{run:?}");
    assert_eq!(run.code, 1);
    assert!(run.json()[0]["fix"]
        .as_str()
        .unwrap()
        .contains("net.mptcp.enabled=1"));
}

#[test]
fn the_echo_server_re_arms_once_mptcp_is_enabled() {
    if skip("the_echo_server_re_arms_once_mptcp_is_enabled") {
        return;
    }
    let lab = Lab::direct("cr").unwrap();
    lab.server.sysctl("net.mptcp.enabled", "0").unwrap();
    let interval = Duration::from_secs(1);
    let _srv = InProcessServer::start(
        &lab.server,
        lab::echo_server::Config {
            ports: vec![PORT],
            rearm_interval: interval,
            ..Default::default()
        },
    )
    .expect("echo server");
    let addr = lab.server_addr.to_string();
    let run = check(&lab.client, &["--json", &addr]);
    assert_eq!(run.verdict(), "server_mptcp_disabled", "{run:?}");
    let v = &run.json()[0];
    let listener = &v["report"]["readiness"]["listener"];
    assert_eq!(listener["mptcp"], false, "{run:?}");
    assert_eq!(listener["rearm"]["status"], "retrying", "{run:?}");
    let evidence = v["evidence"].to_string();
    assert!(evidence.contains("listener is a TCP fallback"), "{run:?}");
    assert!(evidence.contains("disabled now"), "{run:?}");
    let fix = v["fix"].as_str().unwrap();
    assert!(fix.contains("net.mptcp.enabled=1"), "{run:?}");
    assert!(fix.contains("no restart needed"), "{run:?}");

    // The admin enables MPTCP; the same server process re-arms within
    // its interval.
    lab.server.sysctl("net.mptcp.enabled", "1").unwrap();
    std::thread::sleep(interval + Duration::from_millis(700));
    let run = check(&lab.client, &["--json", &addr]);
    assert_eq!(run.verdict(), "mptcp_ok", "{run:?}");
    let v = &run.json()[0];
    assert_eq!(v["report"]["connection"]["listener_mptcp"], true, "{run:?}");
    assert_eq!(
        v["report"]["readiness"]["listener"]["rearm"]["status"], "rearmed",
        "{run:?}"
    );
}

#[test]
fn v0_router_against_v1_server_is_version_mismatch() {
    if skip("v0_router_against_v1_server_is_version_mismatch") {
        return;
    }
    let lab = Lab::direct("cv").unwrap();
    let _srv = start_server(&lab.server);
    let run = check(
        &lab.client,
        &[
            "--json",
            "--mptcp-version",
            "0",
            &lab.server_addr.to_string(),
        ],
    );
    assert_eq!(run.verdict(), "version_mismatch", "{run:?}");
    assert_eq!(run.code, 1);
    let v = &run.json()[0];
    assert_eq!(v["input"]["local"]["version_source"], "user");
    // The v0 probe arrived intact and the server's kernel answered it
    // without MP_CAPABLE: what tracebox shows as -TCPOptionMPTCPCapable.
    assert!(v["evidence"].to_string().contains("v0 probe"), "{run:?}");
}

#[test]
fn ipv6_clean_path_is_mptcp_ok() {
    if skip("ipv6_clean_path_is_mptcp_ok") {
        return;
    }
    let lab = Lab::direct("c6").unwrap();
    let _srv = start_server(&lab.server);
    let run = check(
        &lab.client,
        &["--json", "-6", &lab.server_addr6.to_string()],
    );
    assert_eq!(run.verdict(), "mptcp_ok", "{run:?}");
    assert_eq!(run.code, 0);
    let v = &run.json()[0];
    assert_eq!(v["address"], "fd00:1::2");
    assert_eq!(v["privileged"], true);
    assert_eq!(v["input"]["server"]["probes"].as_array().unwrap().len(), 3);
}

#[test]
fn unprivileged_run_still_judges_from_the_kernel_connection() {
    let name = "unprivileged_run_still_judges_from_the_kernel_connection";
    if skip(name) || skip_without(name, "setpriv") {
        return;
    }
    let lab = Lab::direct("cu").unwrap();
    let _srv = start_server(&lab.server);
    let out = lab
        .client
        .command("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            BIN,
            "check",
            "--json",
            "--timeout",
            "2",
            &lab.server_addr.to_string(),
        ])
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.verdict(), "mptcp_ok", "{run:?}");
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("CAP_NET_RAW"), "{run:?}");
    assert!(run.stderr.contains("setcap cap_net_raw+ep"), "{run:?}");
    let v = &run.json()[0];
    assert_eq!(v["privileged"], false);
    assert!(v["privilege_error"]
        .as_str()
        .unwrap()
        .contains("CAP_NET_RAW"));
    assert!(v["input"]["probes"].as_array().unwrap().is_empty());
}

#[test]
fn a_tcp_server_that_is_not_an_echo_server_is_inconclusive() {
    if skip("a_tcp_server_that_is_not_an_echo_server_is_inconclusive") {
        return;
    }
    let lab = Lab::direct("cx").unwrap();
    let addr = lab.server_addr;
    // A plain TCP listener that accepts and says nothing.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let listener = lab
        .server
        .spawn_thread(move || {
            let l = std::net::TcpListener::bind((IpAddr::from(addr), PORT)).unwrap();
            l.set_nonblocking(true).unwrap();
            let _ = ready_tx.send(());
            let mut held = Vec::new();
            while stop_rx.try_recv().is_err() {
                if let Ok((c, _)) = l.accept() {
                    held.push(c);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let run = check(&lab.client, &["--json", &addr.to_string()]);
    let _ = stop_tx.send(());
    let _ = listener.join();
    assert_eq!(run.verdict(), "inconclusive", "{run:?}");
    assert_eq!(run.code, 1);
    let v = &run.json()[0];
    assert_eq!(v["echo"], "not_echo");
    assert!(v["echo_detail"].as_str().unwrap().contains("no answer"));
    assert!(
        v["missing"].to_string().contains("echo server"),
        "says what is missing: {run:?}"
    );
    // The crafted probes still ran (tracebox's situation): the SYN/ACKs
    // came back without MP_CAPABLE.
    assert_eq!(v["input"]["probes"].as_array().unwrap().len(), 3);
}

#[test]
fn nothing_listening_is_unreachable() {
    if skip("nothing_listening_is_unreachable") {
        return;
    }
    let lab = Lab::direct("cr").unwrap();
    let run = check(&lab.client, &["--json", &lab.server_addr.to_string()]);
    assert_eq!(run.verdict(), "unreachable", "{run:?}");
    assert_eq!(run.code, 1);
    let v = &run.json()[0];
    assert_eq!(v["echo"], "not_connected");
    assert_eq!(v["input"]["kernel"]["outcome"], "refused");
    assert!(v["summary"].as_str().unwrap().contains("RST"));
}

#[test]
fn address_of_the_wrong_family_is_an_error() {
    if skip("address_of_the_wrong_family_is_an_error") {
        return;
    }
    let lab = Lab::direct("ce").unwrap();
    let run = check(&lab.client, &["--json", "-6", &lab.server_addr.to_string()]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.verdict(), "error");
}

#[test]
fn router_dropping_mptcp_syns_is_syn_dropped() {
    let name = "router_dropping_mptcp_syns_is_syn_dropped";
    if skip(name) || skip_without(name, "iptables") || skip_without(name, "setpriv") {
        return;
    }
    // A fresh client namespace: the drops trip its blackhole detection.
    let lab = Lab::routed("cp").unwrap();
    lab.router
        .as_ref()
        .unwrap()
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
        .unwrap();
    let _srv = start_server(&lab.server);
    let addr = lab.server_addr.to_string();

    // Unprivileged: only the kernel connection, which gets through late,
    // without MP_CAPABLE, after retransmitting its MP_CAPABLE SYN.
    let out = lab
        .client
        .command("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            BIN,
            "check",
            "--json",
            "--timeout",
            "2",
            &addr,
        ])
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.verdict(), "syn_dropped", "{run:?}");
    assert_eq!(run.code, 1);
    let v = &run.json()[0];
    assert!(
        v["input"]["kernel"]["syn_retransmissions"]
            .as_u64()
            .unwrap()
            >= 2,
        "{run:?}"
    );
    assert_eq!(v["input"]["kernel"]["is_mptcp"], false);

    // Now the kernel's blackhole detection keeps MP_CAPABLE out of its own
    // SYNs: the kernel connection proves nothing, it is left out with a
    // note, and the crafted probes (silence for MPTCP, an answer for the
    // plain control) still find the cause.
    let run = check(&lab.client, &["--json", &addr]);
    assert_eq!(run.verdict(), "syn_dropped", "{run:?}");
    let v = &run.json()[0];
    assert_eq!(v["input"]["kernel"], Value::Null, "{run:?}");
    assert!(v["notes"].to_string().contains("blackhole"), "{run:?}");
    let probes = v["input"]["probes"].as_array().unwrap();
    assert_eq!(probes[0]["answer"]["type"], "silence");
    assert_eq!(probes[2]["answer"]["type"], "syn_ack");
}

#[test]
fn local_mptcp_disabled_still_gets_the_report() {
    if skip("local_mptcp_disabled_still_gets_the_report") {
        return;
    }
    let lab = Lab::direct("cl").unwrap();
    lab.client.sysctl("net.mptcp.enabled", "0").unwrap();
    let _srv = start_server(&lab.server);
    let run = check(&lab.client, &["--json", &lab.server_addr.to_string()]);
    assert_eq!(run.verdict(), "local_mptcp_disabled", "{run:?}");
    assert_eq!(run.code, 1);
    let v = &run.json()[0];
    assert_eq!(v["input"]["local"]["mptcp_enabled"], false);
    // Connected with plain TCP instead, and the echo server answered.
    assert_eq!(v["echo"], "report", "{run:?}");
    assert_eq!(v["input"]["kernel"]["outcome"], "connected");
    assert!(v["fix"].as_str().unwrap().contains("net.mptcp.enabled=1"));
    assert!(v["notes"].to_string().contains("IPPROTO_MPTCP"), "{run:?}");
}

#[test]
fn write_records_every_probe_and_answer() {
    if skip("write_records_every_probe_and_answer") {
        return;
    }
    let lab = Lab::direct("cw").unwrap();
    let _srv = start_server(&lab.server);
    let dir = std::env::temp_dir().join(format!("mpp-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("check.pcap");
    let run = check(
        &lab.client,
        &[
            "--write",
            file.to_str().unwrap(),
            &lab.server_addr.to_string(),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let bytes = std::fs::read(&file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut syns = 0;
    let mut syn_acks = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        let seg = packet::ip::parse_ip_tcp(&p.data).unwrap();
        match seg.flags.map(|f| f.0 & 0x12) {
            Some(0x02) => syns += 1,
            Some(0x12) => syn_acks += 1,
            _ => {}
        }
    }
    assert_eq!((syns, syn_acks), (3, 3), "three probes, three answers");
}

#[test]
fn analyze_agrees_with_checks_own_capture() {
    if skip("analyze_agrees_with_checks_own_capture") {
        return;
    }
    // On a direct link (one capture point sees what both ends see) and
    // through a router (the client's view only).
    for (tag, routed) in [("cad", false), ("car", true)] {
        let lab = if routed {
            Lab::routed(tag)
        } else {
            Lab::direct(tag)
        }
        .unwrap();
        let _srv = start_server(&lab.server);
        let dir = std::env::temp_dir().join(format!("mpp-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("check.pcap");
        let path = file.to_str().unwrap();
        let run = check(
            &lab.client,
            &["--write", path, &lab.server_addr.to_string()],
        );
        assert_eq!(run.code, 0, "{run:?}");
        let out = std::process::Command::new(BIN)
            .args(["analyze", path])
            .output()
            .unwrap();
        let json = std::process::Command::new(BIN)
            .args(["analyze", "--json", path])
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "check said mptcp_ok: {text}");
        assert!(!text.contains("version_mismatch"), "{text}");
        assert!(
            text.contains("check's crafted v0 MP_CAPABLE SYN (a random key"),
            "{text}"
        );
        assert!(
            text.contains("check's crafted plain SYN (the control)"),
            "{text}"
        );
        // Only what the capture shows.
        assert!(!text.contains("net.mptcp.enabled"), "{text}");
        assert!(!text.contains("CAP_NET_RAW"), "{text}");
        let verdicts: Vec<Value> = String::from_utf8_lossy(&json.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|v| v.get("handshake").cloned())
            .filter(|h| !h["verdict"].is_null())
            .collect();
        assert_eq!(verdicts.len(), 2, "the v1 and v0 probes: {text}");
        for h in &verdicts {
            assert_eq!(h["verdict"], "mptcp_ok", "{h}");
            assert_eq!(h["check_run"]["id"], 1, "{h}");
        }
    }
}

#[test]
fn setcap_binary_sends_probes_as_an_ordinary_user() {
    let name = "setcap_binary_sends_probes_as_an_ordinary_user";
    if skip(name) || skip_without(name, "setcap") || skip_without(name, "setpriv") {
        return;
    }
    // A copy of the binary with the file capability the fix recommends.
    let dir = std::env::temp_dir().join(format!("mpp-check-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("mptcp-probe");
    std::fs::copy(BIN, &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let capped = netns::host_cmd(&["setcap", "cap_net_raw+ep", bin.to_str().unwrap()]);
    if let Err(e) = capped {
        let _ = std::fs::remove_dir_all(&dir);
        println!("skipped {name}: file capabilities unavailable here: {e}");
        return;
    }
    let lab = Lab::direct("cc").unwrap();
    let _srv = start_server(&lab.server);
    let out = lab
        .client
        .command("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&bin)
        .args([
            "check",
            "--json",
            "--mptcp-version",
            "0",
            "--timeout",
            "2",
            &lab.server_addr.to_string(),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let run = Run::from(out);
    // Crafted probes ran (the v0 verdict needs them) without root.
    assert_eq!(run.verdict(), "version_mismatch", "{run:?}");
    let v = &run.json()[0];
    assert_eq!(v["privileged"], true, "{run:?}");
    assert_eq!(v["privilege_error"], Value::Null);
    assert!(!run.stderr.contains("CAP_NET_RAW"), "{run:?}");
}

/// The client namespace's `MPTcpExt` counter `name`.
fn netstat_counter(ns: &Netns, name: &str) -> u64 {
    ns.run(|| host::read_mptcp_counters().expect("MPTcpExt"))
        .unwrap()
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// Trips the client namespace's blackhole detection: MPTCP connections to
/// `server` through a router dropping SYNs with option 30, until the
/// kernel has fallen back once (`Blackhole` > 0).
fn trip_blackhole(lab: &Lab, server: std::net::SocketAddr) {
    let router = lab.router.as_ref().unwrap();
    let port = server.port().to_string();
    router
        .exec(&[
            "iptables",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            &port,
            "-m",
            "tcp",
            "--tcp-option",
            "30",
            "-j",
            "DROP",
        ])
        .unwrap();
    for _ in 0..3 {
        lab.client
            .run(move || {
                use socket2::{Domain, Protocol, SockAddr, Socket, Type};
                let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
                let _ = s.connect_timeout(&SockAddr::from(server), Duration::from_secs(10));
            })
            .unwrap();
        if netstat_counter(&lab.client, "Blackhole") > 0 {
            break;
        }
    }
    assert!(
        netstat_counter(&lab.client, "Blackhole") > 0,
        "detection tripped"
    );
    // The path is clean again: only the host's state is left.
    router.exec(&["iptables", "-F", "FORWARD"]).unwrap();
}

#[test]
fn active_blackhole_is_local_mptcp_disabled_with_one_reset_that_works() {
    let name = "active_blackhole_is_local_mptcp_disabled_with_one_reset_that_works";
    if skip(name) || skip_without(name, "iptables") || skip_without(name, "setpriv") {
        return;
    }
    // Its own client namespace: the detection is per namespace.
    let lab = Lab::routed("cb").unwrap();
    let _srv = start_server(&lab.server);
    let addr = lab.server_addr.to_string();
    trip_blackhole(
        &lab,
        std::net::SocketAddr::new(lab.server_addr.into(), PORT),
    );

    // The crafted probes pass (the path is clean), but this host's kernel
    // sends new connections without MP_CAPABLE: not OK, exit 1.
    let run = check(&lab.client, &["--json", &addr]);
    assert_eq!(run.verdict(), "local_mptcp_disabled", "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    let v = &run.json()[0];
    let evidence = v["evidence"].to_string();
    assert!(
        evidence.contains("Blackhole = 1"),
        "counter values: {run:?}"
    );
    assert!(
        evidence.contains("SYN without MP_CAPABLE"),
        "the kernel's SYN without the option: {run:?}"
    );
    assert!(
        evidence.contains("v1 probe (crafted, untouched by the detection) arrived intact"),
        "next to the crafted probe that passed: {run:?}"
    );
    assert!(v["input"]["local"]["blackhole"].is_object(), "{run:?}");
    let check_fix = v["fix"].as_str().unwrap().to_string();
    let timeout = stdout_of(
        lab.client
            .exec(&["sysctl", "-n", "net.mptcp.blackhole_timeout"])
            .unwrap(),
    );
    let reset = format!("sysctl -w net.mptcp.blackhole_timeout={}", timeout.trim());
    assert!(check_fix.starts_with(&reset), "{check_fix}");

    // Without CAP_NET_RAW the kernel connection is all there is: the same.
    let out = lab
        .client
        .command("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
        .args(["check", "--json", "--timeout", "2", &addr])
        .output()
        .unwrap();
    let unprivileged = Run::from(out);
    assert_eq!(
        unprivileged.verdict(),
        "local_mptcp_disabled",
        "{unprivileged:?}"
    );
    assert_eq!(unprivileged.code, 1);

    // doctor agrees, with the same advice.
    let out = lab
        .client
        .command(BIN)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let doctor = Run::from(out);
    assert_eq!(doctor.code, 1, "{doctor:?}");
    let d = &doctor.json()[0];
    assert_eq!(d["usable"], false, "{doctor:?}");
    assert_eq!(d["new_connection"]["blackholed"], true, "{doctor:?}");
    let finding = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "blackhole")
        .unwrap_or_else(|| panic!("no blackhole finding: {doctor:?}"));
    assert_eq!(finding["status"], "problem");
    assert_eq!(finding["fix"].as_str().unwrap(), check_fix, "one advice");

    // The advice works on this kernel: after it, check is OK again.
    let argv: Vec<&str> = reset.split(' ').collect();
    lab.client.exec(&argv).unwrap();
    let run = check(&lab.client, &["--json", &addr]);
    assert_eq!(run.verdict(), "mptcp_ok", "{run:?}");
    assert_eq!(run.code, 0);
}

/// A check whose crafted probes all vanish while its kernel connection
/// gets through says so, instead of a verdict that silently ignores them.
/// Here policy routing sends them another way than the kernel's SYN (the
/// issue's multi-WAN case): the raw sockets belong to root, the kernel
/// connection to the user check switches to, and `ip rule uidrange` sends
/// root's packets to a gateway that does not exist (ARP fails, silently).
#[test]
fn lost_crafted_probes_are_named() {
    let name = "lost_crafted_probes_are_named";
    if skip(name) {
        return;
    }
    let lab = Lab::direct("cq").unwrap();
    let _srv = start_server(&lab.server);
    lab.client
        .ip(&[
            "route",
            "add",
            "default",
            "via",
            "10.1.0.99",
            "dev",
            "eth0",
            "table",
            "200",
        ])
        .unwrap();
    lab.client
        .ip(&[
            "rule", "add", "uidrange", "0-0", "table", "200", "priority", "100",
        ])
        .unwrap();
    let out = lab
        .client
        .command(BIN)
        .args([
            "check",
            "--json",
            "--timeout",
            "1",
            &lab.server_addr.to_string(),
        ])
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .output()
        .unwrap();
    let run = Run::from(out);
    let v = &run.json()[0];
    let probes = v["input"]["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 3, "{run:?}");
    assert!(
        probes.iter().all(|p| p["answer"]["type"] == "silence"),
        "{run:?}"
    );
    assert_eq!(v["input"]["kernel"]["outcome"], "connected", "{run:?}");
    // The kernel connection decides, and the output says why it alone.
    assert_eq!(run.verdict(), "mptcp_ok", "{run:?}");
    let missing = v["missing"].to_string();
    assert!(missing.contains("none of the 3 crafted SYNs"), "{run:?}");
}

fn stdout_of(out: std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Without CAP_NET_RAW the note and its fix are printed once per run, not
/// once on stderr and again under every interface.
#[test]
fn the_missing_privilege_is_said_once() {
    let name = "the_missing_privilege_is_said_once";
    if skip(name) || skip_without(name, "setpriv") {
        return;
    }
    let lab = Lab::direct("c1").unwrap();
    let _srv = start_server(&lab.server);
    let out = lab
        .client
        .command("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
        .args(["check", "--timeout", "1", "-i", "eth0", "-i", "lo"])
        .arg(lab.server_addr.to_string())
        .output()
        .unwrap();
    let run = Run::from(out);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(all.matches("CAP_NET_RAW").count(), 1, "{run:?}");
    assert_eq!(all.matches("setcap cap_net_raw+ep").count(), 1, "{run:?}");
    assert!(run.stdout.contains("via eth0: mptcp_ok"), "{run:?}");
}

/// On OpenMPTCProuter's router layout (a WAN table reached only by `ip -6
/// rule from`), an unprivileged `check -i wanB` (the kernel connection
/// alone) leaves from wanB's address too, so policy routing takes it out
/// of wanB, where the ISP strips the option. Before, bound to the device
/// alone, it found no IPv6 route at all (`unreachable`).
#[test]
fn unprivileged_check_on_a_policy_routed_wan_uses_its_address() {
    let name = "unprivileged_check_on_a_policy_routed_wan_uses_its_address";
    if skip(name) || skip_without(name, "ip6tables") || skip_without(name, "setpriv") {
        return;
    }
    let lab = lab::two_wan::TwoWan::new("cw6", false).unwrap();
    lab.r1
        .exec(&[
            "ip6tables",
            "-w",
            "-t",
            "mangle",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "6101",
            "--tcp-flags",
            "SYN,ACK",
            "SYN",
            "-j",
            "TCPOPTSTRIP",
            "--strip-options",
            "30",
        ])
        .unwrap();
    let topo_settle = std::time::Instant::now();
    for ns in lab.all() {
        while !ns
            .ip(&["-6", "addr", "show", "tentative"])
            .unwrap()
            .stdout
            .is_empty()
        {
            assert!(topo_settle.elapsed() < Duration::from_secs(10), "DAD");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _srv = start_server(&lab.server);
    let out = lab
        .client
        .command("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
        .args([
            "check",
            "--json",
            "-6",
            "--timeout",
            "2",
            "-i",
            "wanA",
            "-i",
            "wanB",
        ])
        .arg(lab.server_addr6.to_string())
        .output()
        .unwrap();
    let run = Run::from(out);
    let lines = run.json();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert_eq!(lines[0]["verdict"], "mptcp_ok", "{run:?}");
    assert_eq!(lines[1]["verdict"], "stripped_upstream", "{run:?}");
    assert!(
        lines[1]["source"]
            .as_str()
            .unwrap()
            .starts_with("[fd20:1::2]:"),
        "{run:?}"
    );
}
