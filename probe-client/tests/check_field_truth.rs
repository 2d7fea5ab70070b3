//! `mptcp-probe check` on what issue 9 found in the field, end to end: the
//! real binary in a client namespace of its own (the blackhole detection is
//! per namespace), the echo server in-process, real kernels and iptables.
//! - do no harm: on a path that drops MP_CAPABLE SYNs the crafted probes go
//!   first and no kernel MPTCP connection follows, so the host keeps MPTCP;
//!   a run that could not avoid tripping the detection says so first and
//!   resets it when it may;
//! - the server's account is never lost: an MPTCP connection that fails is
//!   followed by a plain TCP one to the echo server;
//! - `--echo-port`: an echo server that does not watch the port is named.
//!
//! Root only: without it every test prints why and skips.
use lab::echo_server::InProcessServer;
use lab::netns::{self, Lab, Netns};
use serde_json::Value;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::SocketAddr;
use std::time::Duration;

const PORT: u16 = 6101;
const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn line(&self) -> Value {
        let lines: Vec<Value> = self
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect();
        assert_eq!(lines.len(), 1, "one line expected: {self:?}");
        lines.into_iter().next().unwrap_or_default()
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

/// Runs `[prefix...] mptcp-probe check --timeout 2 ARGS` in `ns`.
fn check_with(ns: &Netns, prefix: &[&str], args: &[&str]) -> Run {
    let mut cmd = match prefix.split_first() {
        Some((program, rest)) => {
            let mut c = ns.command(program);
            c.args(rest).arg(BIN);
            c
        }
        None => ns.command(BIN),
    };
    let out = cmd
        .arg("check")
        .args(["--timeout", "2"])
        .args(args)
        .output()
        .expect("run mptcp-probe");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn skip_without(name: &str, programs: &[&str]) -> bool {
    if netns::skip(name) {
        return true;
    }
    for p in programs {
        if !netns::have(p) {
            println!("skipped {name}: {p} not installed");
            return true;
        }
    }
    false
}

/// The router drops forwarded SYNs to the echo port that carry option 30.
fn drop_mptcp_syns(lab: &Lab) {
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
        .expect("drop rule");
}

/// The router drops the server's SYN/ACKs that carry option 30.
fn drop_mptcp_syn_acks(lab: &Lab) {
    lab.router
        .as_ref()
        .unwrap()
        .exec(&[
            "iptables",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--sport",
            "6101",
            "--tcp-flags",
            "SYN,ACK",
            "SYN,ACK",
            "-m",
            "tcp",
            "--tcp-option",
            "30",
            "-j",
            "DROP",
        ])
        .expect("drop rule");
}

fn counter(ns: &Netns, name: &'static str) -> u64 {
    ns.run(move || host::read_mptcp_counters().expect("MPTcpExt counters")[name])
        .unwrap()
}

/// Whether a new MPTCP connection from `ns` still offers MP_CAPABLE: the
/// kernel counts each SYN sent with it (`MPCapableSYNTX`) or without it
/// because the blackhole detection is active (`MPCapableSYNTXDisabled`).
/// The connection goes to a port of the server that nothing listens on
/// and that the router lets through: a RST ends it at once.
fn new_connections_offer_mptcp(ns: &Netns, server: SocketAddr) -> bool {
    ns.run(move || {
        let before = host::read_mptcp_counters().unwrap();
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
        let _ = socket.connect_timeout(&SockAddr::from(server), Duration::from_secs(2));
        let after = host::read_mptcp_counters().unwrap();
        let moved = |k: &str| after[k] - before[k];
        assert_eq!(
            moved("MPCapableSYNTX") + moved("MPCapableSYNTXDisabled"),
            1,
            "one SYN counted"
        );
        moved("MPCapableSYNTX") == 1
    })
    .unwrap()
}

#[test]
fn probes_first_leave_this_host_mptcp_on_a_dropping_path() {
    let name = "probes_first_leave_this_host_mptcp_on_a_dropping_path";
    if skip_without(name, &["iptables"]) {
        return;
    }
    let lab = Lab::routed("hn").unwrap();
    drop_mptcp_syns(&lab);
    let _srv = InProcessServer::on_port(&lab.server, PORT).unwrap();
    let addr = lab.server_addr.to_string();
    let elsewhere = SocketAddr::from((lab.server_addr, PORT + 1));
    assert!(new_connections_offer_mptcp(&lab.client, elsewhere));
    let blackhole = counter(&lab.client, "Blackhole");

    let run = check_with(&lab.client, &[], &["--json", &addr]);
    let v = run.line();
    assert_eq!(v["verdict"], "syn_dropped", "{run:?}");
    assert_eq!(v["direction"], "upstream", "{run:?}");
    // The probes showed the drop: no kernel MPTCP connection was made, the
    // echo server was asked over plain TCP and still saw the probes.
    assert_eq!(v["input"]["kernel"], Value::Null, "{run:?}");
    assert!(
        v["kernel_skipped"]
            .as_str()
            .unwrap()
            .contains("blackhole detection"),
        "{run:?}"
    );
    assert_eq!(v["echo_via"], "plain_tcp", "{run:?}");
    assert_eq!(v["input"]["server"]["probes_queried"], true, "{run:?}");
    assert_eq!(v["blackhole"]["tripped"], false, "{run:?}");
    assert_eq!(v["warnings"], serde_json::json!([]), "{run:?}");

    // The host is as the check found it.
    assert_eq!(counter(&lab.client, "Blackhole"), blackhole);
    assert!(
        new_connections_offer_mptcp(&lab.client, elsewhere),
        "after check, new connections of this namespace must still offer MP_CAPABLE"
    );
}

#[test]
fn a_tripped_detection_is_said_first_and_reset_when_it_may() {
    let name = "a_tripped_detection_is_said_first_and_reset_when_it_may";
    if skip_without(name, &["iptables", "setpriv"]) {
        return;
    }
    let lab = Lab::routed("hr").unwrap();
    drop_mptcp_syns(&lab);
    let _srv = InProcessServer::on_port(&lab.server, PORT).unwrap();
    let addr = lab.server_addr.to_string();
    let elsewhere = SocketAddr::from((lab.server_addr, PORT + 1));

    // Root without CAP_NET_RAW: no probes, so the kernel connection goes
    // first and trips the detection; root may write the sysctl back.
    let root_without_raw = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"];
    let run = check_with(&lab.client, &root_without_raw, &[&addr]);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(
            "warning: the kernel's MPTCP blackhole detection tripped during this check"
        ),
        "{run:?}"
    );
    assert!(
        first.contains("net.mptcp.blackhole_timeout=3600 back"),
        "{run:?}"
    );
    assert!(counter(&lab.client, "Blackhole") >= 1, "{run:?}");
    assert!(
        new_connections_offer_mptcp(&lab.client, elsewhere),
        "the reset must leave MPTCP on: {run:?}"
    );

    // An ordinary user cannot reset it: the command comes first instead.
    let nobody = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
    ];
    let run = check_with(&lab.client, &nobody, &["--json", &addr]);
    let v = run.line();
    assert_eq!(v["blackhole"]["tripped"], true, "{run:?}");
    assert_eq!(v["blackhole"]["reset"]["result"], "failed", "{run:?}");
    let warning = v["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains(
            "sudo sysctl -w net.mptcp.blackhole_timeout=$(sysctl -n net.mptcp.blackhole_timeout)"
        ),
        "{run:?}"
    );
    assert!(!new_connections_offer_mptcp(&lab.client, elsewhere));
    // The command given works.
    lab.client
        .exec(&[
            "sh",
            "-c",
            "sysctl -w net.mptcp.blackhole_timeout=$(sysctl -n net.mptcp.blackhole_timeout)",
        ])
        .unwrap();
    assert!(new_connections_offer_mptcp(&lab.client, elsewhere));
}

#[test]
fn a_failed_mptcp_connection_asks_the_echo_server_over_plain_tcp() {
    let name = "a_failed_mptcp_connection_asks_the_echo_server_over_plain_tcp";
    if skip_without(name, &["iptables", "setpriv"]) {
        return;
    }
    let lab = Lab::routed("hp").unwrap();
    drop_mptcp_syn_acks(&lab);
    let _srv = InProcessServer::on_port(&lab.server, PORT).unwrap();
    let addr = lab.server_addr.to_string();

    // Unprivileged: the kernel's MPTCP connection never completes (its
    // SYN/ACKs are dropped); the echo server still gives its account over
    // plain TCP, and that plain connection is the control.
    let nobody = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
    ];
    let run = check_with(&lab.client, &nobody, &["--json", &addr]);
    let v = run.line();
    assert_eq!(v["verdict"], "syn_dropped", "{run:?}");
    assert_eq!(v["echo"], "report", "{run:?}");
    assert_eq!(v["echo_via"], "plain_tcp", "{run:?}");
    assert_eq!(v["input"]["kernel"]["outcome"], "timeout", "{run:?}");
    assert_eq!(v["input"]["server"]["plain_tcp_fallback"], true, "{run:?}");
    assert!(
        v["notes"].to_string().contains("asked over plain TCP"),
        "{run:?}"
    );
    // Without probes the direction stays open, and says what would tell.
    assert_eq!(v["direction"], Value::Null, "{run:?}");
    assert!(v["missing"].to_string().contains("CAP_NET_RAW"), "{run:?}");

    // With the probes: the server saw our SYN intact, its SYN/ACK was lost.
    let run = check_with(&lab.client, &[], &["--json", &addr]);
    let v = run.line();
    assert_eq!(v["verdict"], "syn_dropped", "{run:?}");
    assert_eq!(v["direction"], "downstream", "{run:?}");
    let evidence = v["evidence"].to_string();
    assert!(evidence.contains("arrived at the server intact"), "{run:?}");
    assert!(
        v["summary"].as_str().unwrap().contains("way back"),
        "{run:?}"
    );
}

#[test]
fn an_echo_port_that_does_not_watch_the_service_is_named() {
    let name = "an_echo_port_that_does_not_watch_the_service_is_named";
    if netns::skip(name) {
        return;
    }
    let lab = Lab::direct("hw").unwrap();
    // The echo server on 6101 without --watch; a plain service on 65101.
    let _srv = InProcessServer::on_port(&lab.server, PORT).unwrap();
    let _service = lab::plain_service::PlainService::start(&lab.server, 65101).unwrap();
    let addr = lab.server_addr.to_string();
    let run = check_with(
        &lab.client,
        &[],
        &["--json", "--port", "65101", "--echo-port", "6101", &addr],
    );
    let v = run.line();
    assert_eq!(v["port"], 65101, "{run:?}");
    assert_eq!(v["echo_port"], 6101, "{run:?}");
    assert!(
        v["notes"].to_string().contains("`--watch 65101`"),
        "{run:?}"
    );
    // Probes unseen on an unwatched port are not taken for a proxy.
    assert_ne!(v["middlebox"], "tcp_proxy", "{run:?}");
    assert_eq!(v["input"]["server"]["watched_port"], 65101, "{run:?}");
}
