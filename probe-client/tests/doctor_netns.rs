//! `mptcp-probe doctor` run for real inside fresh network namespaces (root;
//! skipped with a message otherwise): defaults, MPTCP disabled, endpoints
//! and limits, and the kernel's MPTCP blackhole detection tripped by a
//! firewall that drops SYNs carrying option 30.
use lab::netns::{have, skip, Lab, Netns};
use serde_json::Value;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::SocketAddr;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

/// Runs `mptcp-probe doctor [args]` in `ns`: (exit code, stdout).
fn doctor(ns: &Netns, args: &[&str]) -> (i32, String) {
    let out = ns
        .command(BIN)
        .arg("doctor")
        .args(args)
        .output()
        .expect("run mptcp-probe");
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8"),
    )
}

fn doctor_json(ns: &Netns) -> (i32, Value) {
    let (code, text) = doctor(ns, &["--json"]);
    assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
    (code, serde_json::from_str(&text).expect("JSON"))
}

fn finding<'a>(v: &'a Value, check: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding: {v:#}"))
}

fn stdout(out: std::process::Output) -> String {
    String::from_utf8(out.stdout).unwrap()
}

/// `ip mptcp limits show` parsed into (add_addr_accepted, subflows).
fn ip_limits(ns: &Netns) -> (u64, u64) {
    let text = stdout(ns.ip(&["mptcp", "limits", "show"]).unwrap());
    let words: Vec<&str> = text.split_whitespace().collect();
    let get = |name: &str| -> u64 {
        let i = words.iter().position(|w| *w == name).unwrap();
        words[i + 1].parse().unwrap()
    };
    (get("add_addr_accepted"), get("subflows"))
}

#[test]
fn defaults_are_usable_and_reported_as_ip_shows_them() {
    if skip("defaults_are_usable_and_reported_as_ip_shows_them") {
        return;
    }
    let ns = Netns::new("doc").unwrap();
    let (code, v) = doctor_json(&ns);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["usable"], true);
    assert_eq!(v["kernel"]["flavor"], "upstream");
    assert_eq!(v["kernel"]["mptcp_enabled"], true);
    assert_eq!(v["sockets"]["ipv4"], "opened");
    let (add_addr, subflows) = ip_limits(&ns);
    assert_eq!(v["limits"]["add_addr_accepted"], add_addr);
    assert_eq!(v["limits"]["subflows"], subflows);
    assert_eq!(v["endpoints"], Value::Array(Vec::new()));
    let eps = finding(&v, "endpoints");
    assert_eq!(eps["status"], "warn");
    assert!(eps["message"].as_str().unwrap().contains("one path only"));
    // A fresh namespace has made no connection.
    assert_eq!(v["counters"]["MPCapableSYNTX"], 0);
    let (code, text) = doctor(&ns, &[]);
    assert_eq!(code, 0);
    assert!(text.starts_with("MPTCP is usable on this host"), "{text}");
    assert!(text.contains(&format!(
        "limits: add_addr_accepted {add_addr} subflows {subflows}"
    )));
}

#[test]
fn disabled_mptcp_exits_1_with_the_sysctl_fix() {
    if skip("disabled_mptcp_exits_1_with_the_sysctl_fix") {
        return;
    }
    let ns = Netns::new("doc").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let (code, text) = doctor(&ns, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("MPTCP is NOT usable"), "{text}");
    assert!(
        text.contains("fix: sysctl -w net.mptcp.enabled=1"),
        "{text}"
    );
    let (code, v) = doctor_json(&ns);
    assert_eq!(code, 1);
    assert_eq!(v["usable"], false);
    assert_eq!(v["status"], "problem");
    assert_eq!(finding(&v, "sysctl")["status"], "problem");
    // The real test agrees: the kernel refuses the socket.
    let socket = finding(&v, "socket_ipv4");
    assert_eq!(socket["status"], "problem");
    assert!(socket["fix"]
        .as_str()
        .unwrap()
        .starts_with("sysctl -w net.mptcp.enabled=1"));
}

#[test]
fn endpoints_and_limits_are_reported_exactly() {
    if skip("endpoints_and_limits_are_reported_exactly") {
        return;
    }
    let ns = Netns::new("doc").unwrap();
    ns.ip(&[
        "link", "add", "wan0", "type", "veth", "peer", "name", "wan1",
    ])
    .unwrap();
    // A `signal` endpoint with a port listens on it: the address must exist.
    ns.addr("wan0", "10.5.0.4/24").unwrap();
    ns.ip(&[
        "mptcp",
        "limits",
        "set",
        "subflows",
        "3",
        "add_addr_accepted",
        "1",
    ])
    .unwrap();
    for ep in [
        &["10.5.0.2", "dev", "wan0", "id", "7", "subflow", "backup"][..],
        &["10.5.0.3", "id", "8", "signal"],
        &["10.5.0.4", "port", "7100", "id", "9", "signal"],
        &["10.5.0.5", "id", "10", "subflow", "fullmesh"],
    ] {
        let mut args = vec!["mptcp", "endpoint", "add"];
        args.extend_from_slice(ep);
        ns.ip(&args).unwrap();
    }
    let shown: Vec<String> = stdout(ns.ip(&["mptcp", "endpoint", "show"]).unwrap())
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(shown.len(), 4);
    let (code, v) = doctor_json(&ns);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["limits"]["subflows"], 3);
    assert_eq!(v["limits"]["add_addr_accepted"], 1);
    let lines: Vec<&str> = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert_eq!(
        lines, shown,
        "endpoints as `ip mptcp endpoint show` prints them"
    );
    let eps = finding(&v, "endpoints");
    assert_eq!(eps["status"], "ok");
    assert!(eps["message"]
        .as_str()
        .unwrap()
        .starts_with("4 endpoints, 2 flagged `subflow`"));
    let (_, text) = doctor(&ns, &[]);
    assert!(
        text.contains("limits: add_addr_accepted 1 subflows 3"),
        "{text}"
    );
    assert!(
        text.contains("10.5.0.2 id 7 subflow backup dev wan0: "),
        "{text}"
    );
    assert!(text.contains("backups, used only when the others fail"));
    assert!(text.contains("10.5.0.4 port 7100 id 9 signal: announced to peers"));
}

/// Connects from an MPTCP socket in the calling thread's namespace; the
/// connection itself may fall back to TCP.
fn mptcp_connect(to: SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).expect("MPTCP socket");
    s.connect_timeout(&SockAddr::from(to), Duration::from_secs(15))
        .expect("connect");
}

fn counter(v: &Value, name: &str) -> u64 {
    v["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: {v:#}"))
}

/// A direct lab whose server drops SYNs carrying option 30 (iptables on
/// its INPUT) in front of an MPTCP listener that accepts `accepts`
/// connections, and whose client has made two MPTCP connections through it:
/// the first lost its MP_CAPABLE SYNs (and tripped blackhole detection), the
/// second went out without MP_CAPABLE. `timeout` sets the client's
/// `net.mptcp.blackhole_timeout` first. Fresh namespaces: the blackhole
/// state is per network namespace.
fn tripped_blackhole(
    timeout: Option<&str>,
    accepts: usize,
) -> (Lab, SocketAddr, std::thread::JoinHandle<()>) {
    let lab = Lab::direct("dbh").unwrap();
    if let Some(t) = timeout {
        lab.client.sysctl("net.mptcp.blackhole_timeout", t).unwrap();
    }
    let port = 6199u16;
    let server = SocketAddr::new(lab.server_addr.into(), port);
    let listener = lab
        .server
        .run(move || {
            let l = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP))?;
            l.bind(&SockAddr::from(SocketAddr::new(
                std::net::Ipv4Addr::UNSPECIFIED.into(),
                port,
            )))?;
            l.listen(8)?;
            Ok::<_, std::io::Error>(l)
        })
        .unwrap()
        .unwrap();
    let acceptor = std::thread::spawn(move || {
        for _ in 0..accepts {
            if listener.accept().is_err() {
                break;
            }
        }
    });
    let port_text = port.to_string();
    lab.server
        .exec(&[
            "iptables",
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            &port_text,
            "-m",
            "tcp",
            "--tcp-option",
            "30",
            "-j",
            "DROP",
        ])
        .unwrap();
    // First connection: MP_CAPABLE SYNs dropped, the kernel falls back to a
    // plain SYN, and detection trips. Second: sent without MP_CAPABLE.
    lab.client.run(|| mptcp_connect(server)).unwrap();
    lab.client.run(|| mptcp_connect(server)).unwrap();
    (lab, server, acceptor)
}

#[test]
fn blackhole_is_reported_with_a_reset_that_works() {
    if skip("blackhole_is_reported_with_a_reset_that_works") {
        return;
    }
    if !have("iptables") {
        println!("skipped blackhole_is_reported_with_a_reset_that_works: no iptables");
        return;
    }
    let (lab, server, acceptor) = tripped_blackhole(None, 3);
    let timeout = stdout(
        lab.client
            .exec(&["sysctl", "-n", "net.mptcp.blackhole_timeout"])
            .unwrap(),
    )
    .trim()
    .to_string();
    assert_ne!(timeout, "0", "blackhole detection is on by default");
    // Issue 9: while the detection is active, new connections get no
    // MPTCP, so MPTCP is not usable here (it was "usable", exit 0, before).
    let (code, v) = doctor_json(&lab.client);
    assert_eq!(code, 1, "new connections get no MPTCP: {v:#}");
    assert_eq!(v["usable"], false);
    assert_eq!(v["new_connection"]["blackholed"], true, "{v:#}");
    // Counted once per connection, not per SYN (three MP_CAPABLE SYNs);
    // read before doctor's own probe connection.
    assert_eq!(counter(&v, "MPCapableSYNTX"), 1);
    assert_eq!(counter(&v, "Blackhole"), 1);
    assert_eq!(counter(&v, "MPCapableSYNTXDrop"), 1);
    assert_eq!(counter(&v, "MPCapableSYNTXDisabled"), 1);
    let b = finding(&v, "blackhole");
    assert_eq!(b["status"], "problem");
    let message = b["message"].as_str().unwrap();
    assert!(message.contains("disabled MPTCP for new outgoing connections"));
    assert!(message.contains("aggregation stops"));
    assert!(message.contains("active NOW"), "{message}");
    let fix = b["fix"].as_str().unwrap();
    let reset = format!("sysctl -w net.mptcp.blackhole_timeout={timeout}");
    assert!(fix.starts_with(&reset), "{fix}");
    assert_eq!(finding(&v, "syn_drops")["status"], "warn");
    let (code, text) = doctor(&lab.client, &[]);
    assert_eq!(code, 1);
    assert!(text.contains("[problem] Blackhole = 1"), "{text}");
    assert!(text.contains(&format!("fix: {reset}")), "{text}");

    // The advice works: with the firewall gone, writing the sysctl (its
    // current value) re-enables MPTCP at once for the next connection.
    lab.server.exec(&["iptables", "-F", "INPUT"]).unwrap();
    // doctor's own probes (sending nothing) counted while it was active.
    let disabled_before = netstat(&lab.client, "MPCapableSYNTXDisabled");
    let (argv0, rest) = reset.split_once(' ').unwrap();
    let mut args = vec![argv0];
    args.extend(rest.split(' '));
    lab.client.exec(&args).unwrap();
    lab.client.run(|| mptcp_connect(server)).unwrap();
    let (code, v) = doctor_json(&lab.client);
    assert_eq!(
        counter(&v, "MPCapableSYNTXDisabled"),
        disabled_before,
        "not disabled again"
    );
    assert_eq!(counter(&v, "MPCapableSYNTX"), 2);
    assert_eq!(counter(&v, "MPCapableSYNACKRX"), 1, "answered as MPTCP");
    assert_eq!(code, 0, "usable again: {v:#}");
    assert_eq!(v["new_connection"]["blackholed"], false, "{v:#}");
    assert_eq!(finding(&v, "blackhole")["status"], "ok");
    acceptor.join().unwrap();
}

/// The namespace's `MPTcpExt` counter `name`, read directly.
fn netstat(ns: &Netns, name: &str) -> u64 {
    ns.run(|| host::read_mptcp_counters().expect("MPTcpExt"))
        .unwrap()
        .get(name)
        .copied()
        .unwrap_or(0)
}

#[test]
fn blackhole_expires_after_the_timeout() {
    if skip("blackhole_expires_after_the_timeout") {
        return;
    }
    if !have("iptables") {
        println!("skipped blackhole_expires_after_the_timeout: no iptables");
        return;
    }
    // The other way out the advice names: waiting. With a 1 s period, the
    // third connection (firewall gone, nothing written) is MPTCP again once
    // the period is over.
    let (lab, server, acceptor) = tripped_blackhole(Some("1"), 3);
    let (_, v) = doctor_json(&lab.client);
    assert_eq!(counter(&v, "MPCapableSYNTXDisabled"), 1);
    assert!(finding(&v, "blackhole")["message"]
        .as_str()
        .unwrap()
        .contains("net.mptcp.blackhole_timeout = 1 s"));
    lab.server.exec(&["iptables", "-F", "INPUT"]).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // doctor's own probe (sending nothing) may have counted while active.
    let disabled_before = netstat(&lab.client, "MPCapableSYNTXDisabled");
    lab.client.run(|| mptcp_connect(server)).unwrap();
    let (code, v) = doctor_json(&lab.client);
    assert_eq!(
        counter(&v, "MPCapableSYNTXDisabled"),
        disabled_before,
        "period over"
    );
    assert_eq!(counter(&v, "MPCapableSYNACKRX"), 1, "answered as MPTCP");
    // And doctor says so: history only, MPTCP usable.
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(finding(&v, "blackhole")["status"], "ok");
    acceptor.join().unwrap();
}

/// A VPS as OpenMPTCProuter sets it up (a `signal` endpoint, no `subflow`
/// one) gets no router advice about endpoints.
#[test]
fn a_server_host_gets_no_client_endpoint_advice() {
    if skip("a_server_host_gets_no_client_endpoint_advice") {
        return;
    }
    let ns = Netns::new("dsv").unwrap();
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ])
    .unwrap();
    ns.addr("eth0", "10.7.0.1/24").unwrap();
    ns.ip(&[
        "mptcp", "endpoint", "add", "10.7.0.1", "dev", "eth0", "signal",
    ])
    .unwrap();
    let (code, v) = doctor_json(&ns);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["role"], "server");
    let e = finding(&v, "endpoints");
    assert_eq!(e["status"], "ok", "{v:#}");
    assert!(e["message"].as_str().unwrap().contains("as a server"));
    assert_eq!(e["fix"], Value::Null);
    // Without endpoints at all, the role is given.
    let bare = Netns::new("dsw").unwrap();
    let (_, v) = doctor(&bare, &["--json", "--role", "server"]);
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["role"], "server");
    assert_eq!(finding(&v, "endpoints")["status"], "ok", "{v:#}");
    let (_, v) = doctor(&bare, &["--json"]);
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(finding(&v, "endpoints")["status"], "warn");
}
